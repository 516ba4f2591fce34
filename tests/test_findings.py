"""findings.evaluate on synthetic series: each rule fires on its pathology, and
healthy runs, biases, tiny and frozen tensors stay silent."""

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tb_nnviz.diagnose import findings
from tb_nnviz.diagnose.findings import TensorSeries


def tensor(name, rate=1e-3, shape=(64, 64), steps=None, norm=8.0, order=None, seed=0, **fields):
    """A tensor whose update/weight ratio per step is ``rate`` (scalar or per point).

    ``norm`` is a scalar or per-point array; extra ``fields`` are per-point arrays.
    """
    steps = np.arange(0, 400, 10) if steps is None else np.asarray(steps)
    n = len(steps)
    rng = np.random.default_rng(seed)
    norm = np.broadcast_to(np.asarray(norm, np.float64), (n,)).copy()
    rate = np.broadcast_to(np.asarray(rate, np.float64), (n,)) * rng.uniform(0.8, 1.25, n)
    gap = np.r_[np.nan, np.diff(steps)]
    update = norm * rate * gap  # NaN at the first point, as the writers log it
    stats = {"norm": norm, "update_norm": update, "update_ratio": update / norm,
             "nan_count": np.zeros(n), "inf_count": np.zeros(n)}
    stats.update({k: np.asarray(v, np.float64) for k, v in fields.items()})
    return TensorSeries(name, tuple(shape), steps, stats, order)


def mlp(rates=(1e-3, 1e-3, 1e-3), **kwargs):
    """Kernels and biases of dense_1.. with the given per-step ratios; biases start at 0."""
    out = []
    for i, rate in enumerate(rates, 1):
        out.append(tensor("mlp/dense_%d/kernel" % i, rate, seed=i, **kwargs))
        steps = kwargs.get("steps", np.arange(0, 400, 10))
        bias_norm = np.linspace(0.0, 0.5, len(steps))  # grows from 0: huge early ratios
        bias = tensor(
            "mlp/dense_%d/bias" % i, 1e-3, shape=(64,), steps=steps, norm=np.maximum(bias_norm, 1e-3), seed=10 + i
        )
        bias.stats["update_norm"][1:] = np.diff(bias_norm) + 1e-4
        bias.stats["norm"][0] = 0.0
        out.append(bias)
    return out


def unchanged(n, start, fraction):
    """An unchanged_unit_fraction series: NaN at the first point, ``fraction`` from ``start``."""
    u = np.zeros(n)
    u[0] = np.nan
    u[start:] = fraction
    return u


def kinds(found, severity="info"):
    return [(f["kind"], f["severity"], f["layer"]) for f in findings.at_least(found, severity)]


# -- healthy runs ------------------------------------------------------------


@pytest.mark.parametrize("every", [1, 5, 20, 100])
def test_a_healthy_run_is_silent_at_any_logging_interval(every):
    steps = np.arange(0, 4000 if every >= 20 else 400, every)
    # Ratios falling from 5e-3 to 5e-4 per step, as the healthy digits MLP measured.
    rate = np.geomspace(5e-3, 5e-4, len(steps))
    assert findings.evaluate(mlp((rate, rate * 1.5, rate * 0.7), steps=steps)) == []


def test_biases_and_tiny_tensors_do_not_raise_ratio_alarms():
    run = mlp()
    # A bias moving 50% per step and a 3x3 kernel moving 100%: neither is a kernel to judge by.
    run.append(tensor("mlp/scale/bias", 0.5, shape=(64,)))
    run.append(tensor("mlp/tiny/kernel", 1.0, shape=(3, 3)))
    run.append(tensor("mlp/gate/kernel", 1e-9, shape=(4, 4)))
    assert findings.evaluate(run) == []


def test_frozen_kernels_are_only_noted():
    """A frozen backbone beside a training head may be deliberate: one info, not a warning.

    A kernel that never changes may also get no gradient at all (units dead from
    the start), so it is said, once for the run.
    """
    run = [tensor("backbone/conv_%d/kernel" % i, 0.0, shape=(3, 3, 16, 16), seed=i,
                  unchanged_unit_fraction=unchanged(40, 1, 1.0)) for i in range(3)] + mlp()
    found = findings.evaluate(run)
    assert kinds(found) == [("updates_stopped", "info", "backbone/conv_0")]
    assert found[0]["evidence"]["layers"] == ["backbone/conv_0", "backbone/conv_1", "backbone/conv_2"]
    assert "3 layers (first: backbone/conv_0) never changed" in found[0]["message"]
    assert found[0]["step"] == 10


def test_findings_are_strict_json_with_every_field():
    run = mlp((1e-3, 1e-3, 1e-3))
    run[0].stats["nan_count"][20:] = 3
    found = findings.evaluate(run)
    assert found
    for f in found:
        assert set(f) == {"kind", "severity", "layer", "tensors", "step", "message", "evidence", "advice"}
        json.dumps(f, allow_nan=False)


# -- nonfinite ----------------------------------------------------------------


def test_nonfinite_names_the_first_step_and_the_first_tensor_in_network_order():
    run = mlp()
    # Given out of order: dense_3 is listed first but comes last in the network.
    run = [t._replace(order=i) for i, t in enumerate(run)][::-1]
    for t in run:
        if "kernel" in t.name and "dense_1" not in t.name:
            t.stats["nan_count"][25:] = 7
    run[-1].stats["inf_count"][30:] = 1  # dense_1/kernel, later
    found = findings.evaluate(run)
    assert kinds(found)[0] == ("nonfinite", "error", "mlp/dense_2")
    f = found[0]
    assert f["step"] == 250 and f["tensors"] == ["mlp/dense_2/kernel", "mlp/dense_3/kernel"]
    assert "7 NaN" in f["message"] and "step 250" in f["message"]
    assert f["evidence"]["tensors_later"] == 3


def test_nonfinite_from_the_norm_alone_and_nothing_read_past_it():
    run = mlp()
    k = run[0]
    k.stats["norm"][20:] = np.nan
    k.stats["update_norm"][20:] = np.inf
    for t in run:  # after the NaN, everything explodes: not read
        t.stats["norm"][21:] *= np.geomspace(1, 1e6, len(t.steps) - 21)
    found = findings.evaluate(run)
    assert kinds(found) == [("nonfinite", "error", "mlp/dense_1")]
    assert found[0]["step"] == 200


# -- updates_stopped -------------------------------------------------------------


def test_a_layer_whose_updates_become_zero_is_stopped():
    run = mlp()
    for t in run[:2]:  # dense_1 kernel and bias
        t.stats["update_norm"][15:] = 0.0
    found = findings.evaluate(run)
    assert kinds(found) == [("updates_stopped", "warning", "mlp/dense_1")]
    assert found[0]["step"] == 150
    assert found[0]["tensors"] == ["mlp/dense_1/kernel", "mlp/dense_1/bias"]
    assert "step 150" in found[0]["message"] and "likely dead" in found[0]["message"]


def test_a_stopped_layer_that_still_has_a_gradient_rounds_its_updates_away():
    """ResNet-18 under SGD 1e-7: a BatchNorm scale near 1.0 stops while its gradient is ~0.5.
    Not dead units: the steps are below float32's resolution; the advice is the opposite."""
    run = mlp()
    n = len(run[0].steps)
    for t in run[:2]:
        t.stats["update_norm"][15:] = 0.0
        t.stats["grad_norm"] = np.full(n, 0.46)
    (f,) = findings.evaluate(run)
    assert (f["kind"], f["severity"], f["layer"]) == ("updates_stopped", "warning", "mlp/dense_1")
    assert "gradient is not zero" in f["message"] and "raise the learning rate" in f["message"]
    assert "dead" not in f["message"].replace("not dead", "") and "lower the learning rate" not in f["message"]
    assert f["evidence"]["rounding"] is True


def test_a_layer_that_stopped_after_tiny_steps_rounds_them_away():
    """No gradients logged (Keras): steps of 1e-7 of the norm before stopping say the same."""
    run = mlp((1e-7, 1e-3, 1e-3))
    for t in run[:2]:
        t.stats["update_norm"][15:] = 0.0
    stopped = [f for f in findings.evaluate(run) if f["kind"] == "updates_stopped"]
    assert [f["layer"] for f in stopped] == ["mlp/dense_1"]
    assert "1e-07 of its norm per step" in stopped[0]["message"] and "rounds away" in stopped[0]["message"]


def test_a_stopped_layer_with_a_zero_gradient_is_dead():
    run = mlp()
    n = len(run[0].steps)
    for t in run[:2]:
        t.stats["update_norm"][15:] = 0.0
        t.stats["grad_norm"] = np.where(np.arange(n) >= 15, 0.0, 0.3)
    (f,) = findings.evaluate(run)
    assert "likely dead" in f["message"] and f["evidence"]["rounding"] is False


def test_a_short_pause_or_a_lone_tiny_tensor_is_not_stopped():
    run = mlp()
    run[0].stats["update_norm"][10:20] = 0.0  # paused, moves again
    run[2].stats["update_norm"][-findings.STOPPED_POINTS + 1 :] = 0.0  # too short
    run.append(tensor("mlp/dense_3/scale", 1e-3, shape=(8,)))
    run[-1].stats["update_norm"][20:] = 0.0  # a converged 8-entry tensor in a moving layer
    assert findings.evaluate(run) == []


def test_layers_that_stopped_together_say_so():
    """Every kernel stops at the same step (the biases drift on): no layer stopped
    "after every other layer had stopped", they stopped together."""
    run = mlp((1e-3, 1e-3)) + [tensor("mlp/output/kernel", shape=(64, 10), seed=5),
                               tensor("mlp/output/bias", shape=(10,), seed=6)]
    for t in run:
        if t.name.endswith("kernel"):
            t.stats["update_norm"][17:] = 0.0
    found = [f for f in findings.evaluate(run) if f["kind"] == "updates_stopped"]
    assert sorted(f["layer"] for f in found) == ["mlp/dense_1", "mlp/dense_2", "mlp/output"]
    for f in found:
        assert ", as every other layer did" in f["message"] and "after every other" not in f["message"], f["message"]


def test_only_a_layer_that_stopped_while_others_moved_says_so():
    """The demo's lr_too_high: dense_1, dense_2 and output's kernel stop one after
    another, output's 10-entry bias keeps moving; the last layer to stop stopped
    after the others, not while they moved."""
    run = mlp((1e-3, 1e-3)) + [tensor("mlp/output/kernel", shape=(64, 10), seed=5),
                               tensor("mlp/output/bias", shape=(10,), seed=6)]
    for t, zero_from in zip(run, (17, 16, 18, 17, 21)):  # kernel and bias of dense_1, dense_2; output's kernel
        t.stats["update_norm"][zero_from:] = 0.0
    found = findings.evaluate(run)
    by_layer = {f["layer"]: f for f in found}
    assert [(f["kind"], f["severity"], f["layer"], f["step"]) for f in found] == [
        ("updates_stopped", "warning", "mlp/dense_1", 160),
        ("updates_stopped", "warning", "mlp/dense_2", 170),
        ("updates_stopped", "warning", "mlp/output", 210),
    ]
    for layer in ("mlp/dense_1", "mlp/dense_2"):
        assert "while other layers were still moving" in by_layer[layer]["message"]
        assert by_layer[layer]["evidence"]["others_moving_after"] is True
    last = by_layer["mlp/output"]
    assert "still moving" not in last["message"] and "after every other layer had stopped" in last["message"]
    assert last["evidence"]["others_moving_after"] is False and last["tensors"] == ["mlp/output/kernel"]


def test_everything_stopping_is_only_info():
    run = mlp()
    for t in run:
        t.stats["update_norm"][30:] = 0.0
    found = findings.evaluate(run)
    assert {(k, s) for k, s, _ in kinds(found)} == {("updates_stopped", "info")}


# -- dead_units ---------------------------------------------------------------------


@pytest.mark.parametrize("fraction, severity", [(0.75, "warning"), (0.3, "info"), (0.1, None)])
def test_dead_units_by_fraction(fraction, severity):
    run = mlp()
    run[2] = run[2]._replace(stats=dict(run[2].stats, unchanged_unit_fraction=unchanged(40, 20, fraction)))
    found = findings.evaluate(run)
    if severity is None:
        assert found == []
        return
    assert kinds(found) == [("dead_units", severity, "mlp/dense_2")]
    assert found[0]["step"] == 200
    assert found[0]["evidence"]["dead_units"] == round(fraction * 64)
    assert "%d of mlp/dense_2's 64 units" % round(fraction * 64) in found[0]["message"]


def test_dead_units_need_a_lasting_fraction_and_two_units():
    run = mlp()
    u = unchanged(40, 10, 0.5)
    u[-1] = 0.0  # they moved again at the end
    run[0] = run[0]._replace(stats=dict(run[0].stats, unchanged_unit_fraction=u))
    out = tensor("mlp/output/kernel", 1e-3, shape=(64, 10), unchanged_unit_fraction=unchanged(40, 5, 0.1))
    assert findings.evaluate(run + [out]) == []  # 1 of 10 output units is not "units"


def test_dead_units_are_skipped_without_the_field():
    """Old logs have no unchanged_unit_fraction: the rule stays silent."""
    run = mlp()
    assert all("unchanged_unit_fraction" not in t.stats for t in run)
    assert findings.evaluate(run) == []


# -- learning rate ---------------------------------------------------------------------


def test_lr_too_high_when_most_kernels_move_like_their_own_norm():
    steps = np.arange(0, 200, 5)
    rate = np.r_[np.full(4, 0.8), np.full(len(steps) - 4, 2e-3)]
    found = findings.evaluate(mlp((rate, rate * 2, rate), steps=steps))
    assert kinds(found) == [("lr_too_high", "warning", "mlp/dense_2")]
    assert found[0]["step"] == 5
    assert found[0]["evidence"]["median_ratio_per_step"] > findings.HIGH_RATIO


def test_lr_too_high_needs_the_median_layer_and_more_than_adams_first_step():
    steps = np.arange(0, 200, 1)
    one_layer = np.r_[np.full(20, 0.9), np.full(len(steps) - 20, 2e-3)]
    assert findings.evaluate(mlp((one_layer, 1e-3, 1e-3), steps=steps)) == []
    first_step = np.r_[np.nan, 0.9, np.full(len(steps) - 2, 3e-3)]
    assert findings.evaluate(mlp((first_step, first_step, first_step), steps=steps)) == []


def test_lr_too_high_when_the_pace_stays_far_too_high():
    """No early burst, but weights replaced every few steps for the whole run."""
    steps = np.arange(0, 2000, 20)
    found = findings.evaluate(mlp((0.2, 0.25, 0.15), steps=steps))
    assert kinds(found) == [("lr_too_high", "warning", "mlp/dense_2")]
    assert found[0]["evidence"]["threshold"] == findings.SUSTAINED_HIGH_RATIO
    assert "From step 20 on" in found[0]["message"]
    assert findings.evaluate(mlp((0.03, 0.03, 0.03), steps=steps)) == []  # SGD 0.5 on digits: 0.022


@pytest.mark.parametrize("rate, severity", [(4e-6, "warning"), (4e-5, "info"), (4e-4, None)])
def test_lr_too_low_by_the_fastest_kernel(rate, severity):
    found = findings.evaluate(mlp((rate, rate * 1.5, rate)))
    if severity is None:
        assert found == []
        return
    assert kinds(found) == [("lr_too_low", severity, "mlp/dense_2")]
    assert "mlp/dense_2" in found[0]["message"]


def test_a_converged_run_is_not_too_slow():
    """Ratios that fall late in training are convergence, not a low learning rate."""
    steps = np.arange(0, 4000, 20)
    rate = np.r_[np.full(100, 3e-3), np.full(100, 3e-7)]
    assert findings.evaluate(mlp((rate, rate, rate), steps=steps)) == []


# -- vanishing_updates ---------------------------------------------------------------


def test_vanishing_updates_name_the_earliest_layer_in_network_order():
    rates = [1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 3e-3]
    # Listed in reverse; ``order`` gives the network order.
    run = [tensor("deep/sigmoid_%d/kernel" % i, r, shape=(32, 32), order=i, seed=i) for i, r in enumerate(rates)][::-1]
    found = findings.evaluate(run)
    assert kinds(found) == [("vanishing_updates", "warning", "deep/sigmoid_0")]
    assert found[0]["evidence"]["factor"] > 1000
    assert "deep/sigmoid_0" in found[0]["message"] and "deep/sigmoid_5" in found[0]["message"]


@pytest.mark.parametrize("name, description", [("emb/weight", "Embedding(30000, 256) weight"),
                                               ("model/embedding/embeddings", "Embedding embeddings")])
def test_an_embedding_table_is_slow_by_design_not_vanishing(name, description):
    """An Embedding moves only the rows of the tokens in a batch (a PyTorch LSTM model that learned:
    its embedding 6e-5 per step, the LSTM and head ~1e-2): no vanishing_updates for it."""
    def run(describe):
        return [TensorSeries(name, (30000, 256), *tensor("x", 6e-5, seed=1)[2:4], order=0,
                             description=description if describe else ""),
                tensor("lstm/weight_ih_l0", 2e-3, shape=(1024, 256), order=1, seed=2),
                tensor("head/weight", 1e-2, shape=(10, 256), order=2, seed=3)]
    assert findings.evaluate(run(True)) == []
    plain = run(False)
    if name.endswith("/embeddings"):  # Keras names the table "embeddings": known without a description
        assert findings.evaluate(plain) == []
    else:
        assert kinds(findings.evaluate(plain), "warning") == [("vanishing_updates", "warning", "emb")]


def test_no_vanishing_when_late_layers_are_the_slow_ones_or_the_gap_is_small():
    rates = [1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 3e-3]
    run = [tensor("deep/d_%d/kernel" % i, r, shape=(32, 32), order=len(rates) - i, seed=i) for i, r in enumerate(rates)]
    assert kinds(findings.evaluate(run), "warning") == []
    run = [tensor("deep/d_%d/kernel" % i, 1e-3 * 3**i, shape=(32, 32), order=i) for i in range(4)]
    assert findings.evaluate(run) == []  # 27x from first to last: spread, not vanishing


# -- exploding_weights ---------------------------------------------------------------------


def test_exploding_weights_when_the_norm_keeps_growing_fast():
    steps = np.arange(0, 400, 10)
    norm = 8.0 * np.exp(steps / 60.0)
    found = findings.evaluate(mlp((1e-3, 1e-3, 1e-3)) + [tensor("mlp/out/kernel", 1e-2, shape=(64, 10), norm=norm)])
    assert ("exploding_weights", "error", "mlp/out") in kinds(found)
    f = [f for f in found if f["kind"] == "exploding_weights"][0]
    assert f["evidence"]["growth"]["mlp/out/kernel"] > 100
    assert f["step"] == steps[np.argmax(norm >= 80.0)]


@pytest.mark.parametrize("shape", ["jump_then_flat", "linear_from_zero", "slow_drift"])
def test_growth_that_stops_or_is_linear_is_not_exploding(shape):
    steps = np.arange(0, 400, 10)
    norm = {
        "jump_then_flat": np.r_[8.0, np.full(len(steps) - 1, 300.0)],
        "linear_from_zero": np.r_[0.0, 1e-3 + steps[1:] / 100.0],
        "slow_drift": 8.0 * (1 + steps / 400.0),
    }[shape]
    found = findings.evaluate(mlp() + [tensor("mlp/out/kernel", 1e-3, shape=(64, 10), norm=norm)])
    assert "exploding_weights" not in [f["kind"] for f in found]


def test_weights_that_exploded_and_then_died_are_exploding():
    """SGD at lr 5 on x50 inputs: every kernel 2e8x larger within 10 steps, then exactly still (dead
    ReLUs) and NaN at the end: no longer growing, read only up to the stop and the NaN, yet exploded."""
    steps = np.arange(0, 310, 10)
    n = len(steps)
    run = []
    for i, size in enumerate((9.6e8, 1.5e9, 2.3e8), 1):
        norm = np.r_[4.6, np.full(n - 2, size), np.nan]
        update = np.r_[np.nan, size, 4e4, np.zeros(n - 3)]
        run.append(TensorSeries("m/%d/kernel" % i, (64, 64), steps, {"norm": norm, "update_norm": update}, i))
    found = findings.evaluate(run)
    (f,) = [f for f in found if f["kind"] == "exploding_weights"]
    assert f["step"] == 10 and f["layer"] == "m/2" and len(f["tensors"]) == 3
    assert "step 10" in f["message"] and f["evidence"]["growth"]["m/2/kernel"] > 1e8
    assert {"lr_too_high", "updates_stopped", "nonfinite"} <= {g["kind"] for g in found}


# -- ordering and helpers ----------------------------------------------------------------------


def test_findings_are_sorted_by_severity_then_step():
    run = mlp((4e-6, 4e-6, 4e-6))
    run[4].stats["nan_count"][30:] = 1
    run[2].stats["update_norm"][10:] = 0.0
    run[3].stats["update_norm"][10:] = 0.0
    found = findings.evaluate(run)
    severities = [findings.SEVERITIES.index(f["severity"]) for f in found]
    assert severities == sorted(severities) and found[0]["kind"] == "nonfinite"


def test_causes_come_before_their_consequences_whatever_their_steps():
    """Severity, then causal rank, then step: an updates_stopped or an underfitting
    with a smaller step number (epochs, for the loss kinds) never precedes its cause."""
    rng = np.random.default_rng(0)
    found = [{"kind": k, "severity": "warning", "step": int(s)}
             for k, s in zip(findings.CAUSAL_ORDER[::-1], rng.integers(0, 100, len(findings.CAUSAL_ORDER)))]
    found += [{"kind": "from_a_newer_version", "severity": "warning", "step": 0},
              {"kind": "updates_stopped", "severity": "warning", "step": -1},
              {"kind": "alpha_low", "severity": "info", "step": 0},
              {"kind": "exploding_weights", "severity": "error", "step": 10**6}]
    kinds_in_order = [f["kind"] for f in findings.ordered(found)]
    causal = [k for k in findings.CAUSAL_ORDER for _ in range(1 + (k == "updates_stopped"))]
    assert kinds_in_order == ["exploding_weights"] + causal + ["from_a_newer_version", "alpha_low"]
    stopped = [f["step"] for f in findings.ordered(found) if f["kind"] == "updates_stopped"]
    assert stopped == sorted(stopped)


def test_at_least_rejects_an_unknown_severity():
    with pytest.raises(ValueError, match="'fatal'"):
        findings.at_least([], "fatal")


# -- whatever a log holds ------------------------------------------------------------------------

values = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, 1e-300, -1.0, 1e308]))


@st.composite
def garbage_tensor(draw, i):
    n = draw(st.integers(0, 6))
    steps = np.array(sorted(draw(st.sets(st.integers(0, 10**6), min_size=n, max_size=n))), np.int64)
    fields = draw(
        st.sets(st.sampled_from(["norm", "update_norm", "nan_count", "inf_count", "unchanged_unit_fraction"]))
    )
    stats = {f: np.array(draw(st.lists(values, min_size=n, max_size=n)), np.float64) for f in fields}
    shape = tuple(draw(st.lists(st.integers(1, 70), max_size=4)))
    order = draw(st.one_of(st.none(), st.integers(-3, 3), st.just("x"), st.just(True)))
    axis = draw(st.one_of(st.integers(-6, 6), st.none()))
    return TensorSeries("t%d/%s" % (i, draw(st.sampled_from(["kernel", "bias"]))), shape, steps, stats, order, axis)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 5).flatmap(lambda k: st.tuples(*[garbage_tensor(i) for i in range(k)])))
def test_any_series_gives_strict_json_findings_and_never_raises(tensors):
    found = findings.evaluate(list(tensors))
    text = json.dumps(found, allow_nan=False)
    assert all(f["severity"] in findings.SEVERITIES for f in json.loads(text))


def test_kernels_stopping_together_do_not_say_others_still_moved():
    """Three layers' kernels stop at one step while their small biases round on (a cold trial's SGD lr 5
    Keras run): no layer stopped 'while other layers were still moving'."""
    run = mlp((1e-3, 1e-3, 1e-3))
    for t in run:
        if t.name.endswith("kernel"):
            t.stats["update_norm"][4:] = 0.0
    found = [f for f in findings.evaluate(run) if f["kind"] == "updates_stopped"]
    assert len(found) == 3, found
    assert not [f for f in found if "still moving" in f["message"]], [f["message"] for f in found]
