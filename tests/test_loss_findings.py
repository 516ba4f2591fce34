"""loss_findings' rules on synthetic loss curves: each kind fires on its
shape, names its epoch and the Scalars run, and healthy or short curves stay silent."""

import json

import numpy as np
import pytest

from tb_nnviz.diagnose import findings
from tb_nnviz.diagnose import loss_findings as lf
from tb_nnviz.diagnose.loss_findings import Curve, Curves

EPOCHS = np.arange(30)
FALLING = 2.0 * 0.85 ** EPOCHS  # a training loss that keeps falling


def curves(train=FALLING, val=None, acc=None, epochs=EPOCHS):
    return Curves("r/train", Curve(epochs, np.asarray(train, float)),
                  None if val is None else Curve(epochs, np.asarray(val, float)),
                  None if acc is None else Curve(epochs, np.asarray(acc, float)),
                  validation_run=None if val is None else "r/validation")


def kinds(found):
    return [(f["kind"], f["severity"], f["step"]) for f in found]


def test_healthy_curves_are_silent():
    val = 0.3 + 1.5 * 0.8 ** EPOCHS  # flattens, never rises
    acc = 1 - 0.9 * 0.8 ** EPOCHS
    assert lf.evaluate(curves(val=val, acc=acc), pace=lf.Pace(2e-3, 4e-3)) == []


def test_noisy_healthy_validation_loss_is_silent():
    """A spike at the end is not a sustained rise (Adam 1e-2 on digits jumps 70% for an epoch)."""
    rng = np.random.default_rng(0)
    val = (0.1 + 0.5 * 0.8 ** EPOCHS) * (1 + 0.05 * rng.standard_normal(30))
    val[-1] *= 1.7
    assert lf.evaluate(curves(val=val)) == []


@pytest.mark.parametrize("rise, best, severity", [
    (0.15, 20, "info"),  # a mild rise over the last third
    (0.15, 10, "warning"),  # the same rise over the last two thirds: most of the run made it worse
    (0.4, 20, "warning"),
])
def test_overfitting_names_the_best_epoch_and_both_losses(rise, best, severity):
    val = np.r_[np.linspace(1.0, 0.4, best + 1), 0.4 * (1 + rise * np.linspace(0.1, 1, 29 - best) ** 0.2)]
    found = lf.evaluate(curves(val=val), pace=lf.Pace(3e-3, 5e-3))
    assert kinds(found) == [("overfitting", severity, best)]
    ev = found[0]["evidence"]
    assert ev["val_loss_at_min"] == 0.4 and ev["val_loss_end"] > 0.4 * (1 + rise * 0.9)
    assert ev["train_loss_at_min"] == pytest.approx(FALLING[best], rel=1e-3)
    assert ev["train_loss_end"] < ev["train_loss_at_min"]
    assert ev["scalars_run"] == "r/train" and ev["validation_run"] == "r/validation"
    assert "epoch %d" % best in found[0]["message"] and "still move" in found[0]["message"]
    json.dumps(found, allow_nan=False)


def test_no_overfitting_when_the_training_loss_rises_too():
    """Both losses rising is not over-fitting (a diverging or unstable run)."""
    loss = np.r_[np.linspace(2, 0.5, 15), np.linspace(0.5, 0.9, 15)]
    assert [f["kind"] for f in lf.evaluate(curves(train=loss, val=loss + 0.1))] == []


def test_no_overfitting_without_validation_or_with_few_epochs():
    val = np.r_[np.linspace(1.0, 0.4, 11), np.linspace(0.45, 0.8, 19)]
    assert lf.evaluate(curves(val=None)) == []
    short = np.arange(4)
    assert lf.evaluate(curves(train=FALLING[:4], val=[1.0, 0.5, 0.8, 0.9], epochs=short)) == []
    # The minimum too close to the end: not yet a sustained stretch.
    late = np.r_[np.linspace(1.0, 0.4, 28), 0.6, 0.7]
    assert lf.evaluate(curves(val=late)) == []
    assert kinds(lf.evaluate(curves(val=val)))[0][0] == "overfitting"


@pytest.mark.parametrize("pace, verdict, words", [
    ((3e-6, 5e-6), "stuck", "barely move"), ((0.0, 0.0), "stuck", "do not move at all"),
    ((8.4e-8, 1e-6), "stuck", "most weights barely move (8.4e-08 of their norm per step)"),
    # The demo's lr_too_high: the median kernel exactly 0, the fastest 5.2e-12.
    ((0.0, 5.2e-12), "stuck", "most weights do not move at all (the fastest layer moves 5.2e-12 of its norm per step)"),
    ((0.05, 0.2), "thrashing", "lower the learning rate"),
    ((5e-7, 0.25), "thrashing", "up to 0.25"),  # one layer flails while saturated ones sit still
    ((2e-3, 5e-3), "capacity", "too small"), (None, None, "capacity"),
])
def test_underfitting_says_stuck_or_thrashing_from_the_update_ratio(pace, verdict, words):
    loss = np.r_[np.linspace(2.3, 1.9, 10), np.full(20, 1.9)]
    found = lf.evaluate(curves(train=loss, acc=np.full(30, 0.3)), pace=pace and lf.Pace(*pace))
    # From epoch 9 on the loss is flat: the plateau's start, not the window's.
    assert kinds(found) == [("underfitting", "warning", 9)]
    assert found[0]["evidence"]["verdict"] == verdict
    assert found[0]["evidence"]["train_accuracy_end"] == 0.3
    assert words in found[0]["message"]
    assert "(0 of" not in found[0]["message"]


def test_no_underfitting_when_accurate_or_near_the_floor_or_still_improving():
    flat = np.r_[np.linspace(2.3, 0.05, 10), np.full(20, 0.05)]
    assert lf.evaluate(curves(train=flat, acc=np.full(30, 0.99))) == []  # converged, accurate
    assert lf.evaluate(curves(train=flat)) == []  # no accuracy: far below its first value
    high = np.r_[np.linspace(2.3, 2.2, 10), np.full(20, 2.2)]
    assert kinds(lf.evaluate(curves(train=high)))[0][0] == "underfitting"  # no accuracy, hardly moved
    # No accuracy, 17% below its first value: perhaps a noise floor reached in epoch 1, so no alarm.
    noisy = np.r_[1.2, np.full(29, 1.0)]
    assert lf.evaluate(curves(train=noisy)) == []
    slow = 2.3 * 0.99 ** EPOCHS  # 1% per epoch: slow, but still learning
    assert lf.evaluate(curves(train=slow, acc=np.full(30, 0.2))) == []


def test_loss_diverged_on_nan_links_the_weights_nonfinite():
    loss = np.r_[2.3, 1.5, 1.2, np.full(5, np.nan)]
    nonfinite = {"kind": "nonfinite", "severity": "error", "layer": "mlp/dense_1", "step": 95}
    found = lf.evaluate(curves(train=loss, val=loss, epochs=np.arange(8)), [nonfinite])
    assert kinds(found) == [("loss_diverged", "error", 3)]
    assert found[0]["evidence"]["nonfinite_step"] == 95 and "mlp/dense_1" in found[0]["message"]
    assert found[0]["evidence"]["loss"] is None
    json.dumps(found, allow_nan=False)


def test_loss_diverged_when_the_first_epoch_is_already_nan():
    found = lf.evaluate(curves(train=[np.nan], epochs=np.arange(1)))
    assert kinds(found) == [("loss_diverged", "error", 0)]


def test_loss_diverged_on_growth_by_orders_of_magnitude_but_not_on_a_spike_near_zero():
    loss = np.r_[2.3, 1.0, 0.8, 5.0, 90.0, 3e3, 1e5]
    found = lf.evaluate(curves(train=loss, epochs=np.arange(7)))
    assert kinds(found) == [("loss_diverged", "error", 4)]
    assert found[0]["evidence"]["lowest_before"] == 0.8
    # From 1e-4 to 0.05 is 500x, but below where training started: a spike, not a divergence.
    spike = np.r_[np.geomspace(2.3, 1e-4, 20), 0.05, np.full(9, 1e-4)]
    assert [f["kind"] for f in lf.evaluate(curves(train=spike))] == []


def test_with_loss_findings_merges_by_severity_and_reads_the_update_ratios():
    steps = np.arange(0, 200, 10)
    kernel = lf.rates.TensorSeries("mlp/dense_1/kernel", (64, 64), steps,
                                   {"norm": np.full(20, 8.0), "update_norm": np.r_[np.nan, np.full(19, 8e-6)]})
    loss = np.r_[np.linspace(2.3, 2.2, 10), np.full(20, 2.2)]
    weight = [{"kind": "lr_too_low", "severity": "warning", "layer": "mlp/dense_1", "step": 10}]
    merged = lf.with_loss_findings(weight, curves(train=loss, acc=np.full(30, 0.1)), [kernel])
    # The cause first, though underfitting's epoch 6 is a smaller number than step 10.
    assert [(f["kind"], f["step"]) for f in merged] == [("lr_too_low", 10), ("underfitting", 6)]
    under = merged[1]
    assert under["evidence"]["verdict"] == "stuck" and "raise the learning rate" in under["message"]
    assert under["evidence"]["update_ratio_per_step"] == pytest.approx(1e-7)
    assert under["evidence"]["fastest_update_ratio_per_step"] == pytest.approx(1e-7)

    assert lf.with_loss_findings(weight, Curves("r/train"), [kernel]) is weight


def test_stuck_after_a_too_high_learning_rate_says_lower_it():
    loss = np.r_[88.9, np.full(19, 2.4)]  # the demo's lr_too_high: one epoch down, then dead units
    high = [{"kind": "lr_too_high", "severity": "warning", "layer": "mlp/dense_2", "step": 5}]
    found = lf.evaluate(curves(train=loss, acc=np.full(20, 0.1), epochs=np.arange(20)), high, lf.Pace(0.0, 0.0))
    assert kinds(found) == [("underfitting", "warning", 1)]
    assert "lower the learning rate" in found[0]["message"] and "raise" not in found[0]["message"]


def test_a_too_high_learning_rate_comes_before_what_it_caused():
    """The demo's lr_too_high: the cause, then the layers that stopped, then the
    under-fitting run, then the infos; whatever their steps (epochs or batches)."""
    weight = [
        {"kind": "alpha_low", "severity": "info", "layer": "mlp/dense_1", "step": 45},
        {"kind": "updates_stopped", "severity": "warning", "layer": "mlp/dense_1", "step": 165},
        {"kind": "lr_too_high", "severity": "warning", "layer": "mlp/dense_2", "step": 5},
        {"kind": "updates_stopped", "severity": "warning", "layer": "mlp/dense_2", "step": 170},
        {"kind": "nonfinite", "severity": "error", "layer": "mlp/dense_2", "step": 900},
    ]
    loss = np.r_[88.9, np.full(19, 2.4)]
    merged = lf.with_loss_findings(weight, curves(train=loss, acc=np.full(20, 0.1), epochs=np.arange(20)))
    assert [(f["kind"], f["layer"]) for f in merged] == [
        ("nonfinite", "mlp/dense_2"), ("lr_too_high", "mlp/dense_2"),
        ("updates_stopped", "mlp/dense_1"), ("updates_stopped", "mlp/dense_2"),
        ("underfitting", None), ("alpha_low", "mlp/dense_1"),
    ]


def test_every_loss_finding_is_a_run_finding_with_the_common_fields():
    loss = np.r_[2.3, np.full(4, np.inf)]
    (f,) = lf.evaluate(curves(train=loss, epochs=np.arange(5)))
    assert set(f) == {"kind", "severity", "layer", "tensors", "step", "message", "evidence", "advice"}
    assert f["layer"] is None and f["tensors"] == [] and f["severity"] in findings.SEVERITIES
    assert "infinite" in f["message"]


def test_losses_that_can_be_negative_raise_no_false_alarm():
    """A negative log-likelihood falls below 0: ratios mean nothing there, and no rule fires on them."""
    train = 1.0 - 0.2 * EPOCHS  # from 1 to -4.8, falling steadily
    val = np.r_[np.linspace(1.0, -2.0, 11), np.linspace(-1.9, -1.0, 19)]
    found = lf.evaluate(curves(train=train, val=val))
    assert [f["kind"] for f in found] == []
    spiky = np.r_[-0.5, -1.0, -2.0, 0.3, np.full(26, -2.0)]
    assert lf.evaluate(curves(train=spiky)) == []


@pytest.mark.parametrize("values", [[], [np.nan] * 8, [np.inf, 1.0, 2.0], [0.0] * 8, [1e308, -1e308, 0.0, 5.0, 1e-300]])
def test_odd_curves_give_strict_json_and_no_error(values):
    steps = np.arange(len(values))
    found = lf.evaluate(
        curves(train=values, val=values, acc=values, epochs=steps), pace=lf.Pace(float("nan"), float("nan"))
    )
    json.dumps(found, allow_nan=False)


def test_a_per_step_loss_scalar_is_read_and_reported_in_steps(tmp_path):
    """A PyTorch loop writes `loss` per optimizer step (SummaryWriter.add_scalar): the findings
    say "step", not "epoch" (a cold trial's lr=5 ResNet-18 read "diverged at epoch 2")."""
    from tensorboard.compat.proto import event_pb2, summary_pb2

    from tb_nnviz.log.event_file import EventFile
    from tb_nnviz.serve import loss_store
    from tests.providers import CTX, python_provider

    out = EventFile(str(tmp_path / "run"))
    for step, value in enumerate([2.3, 2.1, 2.0, 2.2, float("nan"), float("nan")]):
        summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="loss", simple_value=value)])
        out.add_event(event_pb2.Event(step=step * 20, wall_time=1.0 + step, summary=summary))
    out.close()
    curves = loss_store.read_curves(python_provider(tmp_path), CTX, "", "run")
    assert curves.unit == "step" and list(curves.train_loss.steps) == [0, 20, 40, 60, 80, 100]
    (found,) = lf.evaluate(curves)
    assert found["kind"] == "loss_diverged" and found["step"] == 80
    assert "became NaN at step 80" in found["message"] and "epoch" not in found["message"]
    assert found["evidence"]["step_unit"] == "step"


def test_too_short_loss_curves_are_noted_not_passed_over():
    """Three epochs of loss are too few for under- or over-fitting: the run's notes say so (a cold
    trial's 3-epoch Keras run got neither finding nor a word about it)."""
    from tb_nnviz.diagnose import compose

    short = compose.diagnose([], curves=curves([2.4, 2.3, 2.3], val=[2.4, 2.4, 2.5], epochs=np.arange(3)))
    assert [n for n in short.notes if n.startswith("underfitting, overfitting: fewer than 5 logged loss points")]
    long = compose.diagnose([], curves=curves([2.4, 2.3, 2.3, 2.3, 2.3, 2.3], val=[2.4] * 6, epochs=np.arange(6)))
    assert not [n for n in long.notes if "logged loss points" in n], long.notes
