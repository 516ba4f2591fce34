"""The causes the update ratios alone misread, the set-up and activation rules,
the per-step loss trends and how ``compose.diagnose`` puts them together."""

import numpy as np

from tb_nnviz.diagnose import causes, compose, findings, loss_findings, loss_trends, setup_findings
from tb_nnviz.diagnose.evidence import ActivationSeries, RunInfo
from tb_nnviz.diagnose.rates import TensorSeries

STEPS = np.arange(0, 310, 10)
N = len(STEPS)


def kernel(i, norm, update=None, **extra):
    norm = np.asarray(norm, np.float64) * np.ones(N)
    update = np.r_[np.nan, np.full(N - 1, 1e-3 * 10 * norm[1:].mean())] if update is None else update
    stats = dict(norm=norm, update_norm=update, std=norm / 64, min=-norm / 32, max=norm / 32, **extra)
    return TensorSeries("m/dense_%d/kernel" % i, (64, 64), STEPS, stats, i)


def healthy(**extra):
    return [kernel(i, np.linspace(4.6, 7.0, N), **extra) for i in (1, 2, 3)]


def kinds(found):
    return [(f["kind"], f["severity"]) for f in found]


def test_healthy_run_has_no_alarm_at_any_logged_step():
    grads = {"grad_norm": np.r_[np.nan, 0.5 + 0.1 * np.sin(np.arange(N - 1))]}
    loss = 2.3 * np.exp(-np.arange(301) / 80) + 0.05 * np.random.default_rng(0).random(301)
    for end in range(2, N + 1):
        cut = [t._replace(steps=t.steps[:end], stats={k: v[:end] for k, v in t.stats.items()})
               for t in healthy(**grads)]
        curves = loss_findings.Curves("r", loss_findings.Curve(np.arange(STEPS[end - 1] + 1),
                                                               loss[: STEPS[end - 1] + 1]), unit="step")
        found = compose.diagnose(cut, curves=curves)
        assert not [f for f in found if f["severity"] != "info"], (end, kinds(found))


def test_symmetric_units_zero_and_constant_starts_but_not_one_zero_layer():
    zero = [kernel(i, 0.0, np.r_[np.nan, np.zeros(N - 1)]) for i in (1, 2, 3)]
    assert kinds(causes.symmetric_units(zero)) == [("symmetric_units", "error")]
    const = [t._replace(stats=dict(t.stats, std=np.zeros(N), min=np.full(N, 0.05), max=np.full(N, 0.05)))
             for t in healthy()]
    assert kinds(causes.symmetric_units(const)) == [("symmetric_units", "error")]
    lora = healthy()
    lora[1] = zero[1]  # one zero-initialised layer after a random one: its units differ
    assert causes.symmetric_units(lora) == []
    found = compose.diagnose(zero)  # no "learning rate too high" from a ratio over a zero norm
    assert [f["kind"] for f in found] == ["symmetric_units"]


def test_early_explosion_inside_one_interval():
    norm = np.r_[6.8, np.full(N - 1, 16.8)]
    ts = [kernel(i, norm) for i in (1, 2, 3)]
    (f,) = causes.early_explosion(ts)
    assert (f["kind"], f["step"]) == ("early_explosion", 10)
    assert causes.early_explosion(healthy()) == []
    lstm = [kernel(i, np.r_[4.6, 5.8, np.linspace(6, 11, N - 2)]) for i in (1, 2)]  # 1.25x: healthy
    assert causes.early_explosion(lstm) == []


def test_gradients_accumulating_needs_steady_growth_and_growing_weights():
    grads = np.r_[np.nan, np.linspace(5, 30, N - 1)]
    acc = [kernel(i, np.linspace(4.6, 44, N), grad_norm=grads) for i in (1, 2, 3)]
    assert kinds(causes.gradients_accumulating(acc)) == [("gradients_accumulating", "error")]
    flat = [kernel(i, np.linspace(4.6, 44, N), grad_norm=np.r_[np.nan, np.full(N - 1, 0.5)]) for i in (1, 2)]
    assert causes.gradients_accumulating(flat) == []
    rising_grads_only = healthy(grad_norm=grads)  # weights 1.5x: not accumulation
    assert causes.gradients_accumulating(rising_grads_only) == []


def test_weights_shrinking_explains_large_ratios():
    norm = 4.6 * 0.5 ** np.arange(N)
    ts = [kernel(i, norm, np.r_[np.nan, norm[1:]]) for i in (1, 2, 3)]
    info = RunInfo(optimizer={"class": "AdamW", "lr": 1e-3, "weight_decay": 100.0})
    found = compose.diagnose(ts, run_info=info)
    assert [f["kind"] for f in found] == ["weights_shrinking"]
    assert "weight decay 1e+02" in found[0]["message"]
    assert {c["kind"] for c in found[0].get("consequences", [])} <= compose.CONSEQUENCES["weights_shrinking"]
    assert causes.weights_shrinking(healthy()) == []


def test_setup_rules_and_their_notes():
    linear = RunInfo(framework="torch", structure=({"name": "0", "type": "Flatten"}, {"name": "1", "type": "Linear"},
                                                   {"name": "2", "type": "Linear"}))
    assert kinds(setup_findings.missing_nonlinearity(linear)[0]) == [("missing_nonlinearity", "warning")]
    relu = linear._replace(structure=linear.structure[:2] + ({"name": "r", "type": "ReLU", "activation": "relu"},)
                           + linear.structure[2:])
    assert setup_findings.missing_nonlinearity(relu) == ([], [])
    soft = relu._replace(structure=relu.structure + ({"name": "s", "type": "Softmax", "activation": "softmax"},))
    assert kinds(setup_findings.double_softmax(soft)[0]) == [("double_softmax", "warning")]
    keras = RunInfo(framework="keras", structure=({"name": "out", "type": "Dense", "activation": "softmax"},),
                    loss={"class": "SparseCategoricalCrossentropy", "from_logits": True})
    assert kinds(setup_findings.double_softmax(keras)[0]) == [("double_softmax", "warning")]
    assert setup_findings.double_softmax(keras._replace(loss={"from_logits": False}))[0] == []
    raw = RunInfo(input={"std": 90.0, "min": 0.0, "max": 255.0, "mean": 70.0, "step": 1})
    assert kinds(setup_findings.unnormalized_inputs(raw)[0]) == [("unnormalized_inputs", "error")]
    assert setup_findings.unnormalized_inputs(RunInfo(input={"std": 0.37, "min": 0, "max": 1}))[0] == []
    found, notes = setup_findings.unnormalized_inputs(None)
    assert found == [] and "not checked" in notes[0]


def test_dead_and_saturated_units_from_activations_persist():
    steps = np.arange(0, 100, 10)
    dead = ActivationSeries("m/relu_1", "relu", steps, {"dead_fraction": np.r_[np.zeros(5), np.full(5, 0.9)]}, 1)
    once = ActivationSeries("m/relu_2", "relu", steps, {"dead_fraction": np.r_[np.zeros(9), 0.9]}, 2)
    sat = ActivationSeries("m/tanh", "tanh", steps, {"saturated_fraction": np.full(10, 0.8)}, 3)
    found, notes = setup_findings.activation_units([dead, once, sat])
    assert kinds(found) == [("dead_units", "warning"), ("saturated_units", "warning")]
    assert found[0]["tensors"] == ["m/relu_1"] and found[0]["step"] == 50
    assert setup_findings.activation_units([])[1]


def test_loss_trends_smoothed_and_noise_is_not_a_cause():
    steps = np.arange(300)
    noisy = 2.3 * np.exp(-steps / 60) + 0.1
    noisy[150] = 40.0  # one bad batch
    assert loss_trends.evaluate(loss_findings.Curves("r", loss_findings.Curve(steps, noisy), unit="step")) == []
    rising = np.r_[np.linspace(2.3, 0.8, 100), np.linspace(0.8, 3.0, 200)]
    (f,) = loss_trends.evaluate(loss_findings.Curves("r", loss_findings.Curve(steps, rising), unit="step"))
    assert f["kind"] == "loss_rising"
    short = loss_findings.Curves("r", loss_findings.Curve(steps[:100], np.full(100, 2.3)), unit="step")
    assert loss_trends.evaluate(short) == []  # too few points to call a plateau


def test_consequences_nest_under_their_cause_and_notes_say_what_did_not_run():
    found = compose.nest([
        {"kind": "lr_too_high", "severity": "warning", "step": 5},
        {"kind": "vanishing_updates", "severity": "warning", "step": 5},
        {"kind": "dead_units", "severity": "warning", "step": 9},
        {"kind": "loss_diverged", "severity": "error", "step": 3},
    ])
    assert [f["kind"] for f in found] == ["lr_too_high", "loss_diverged"]
    assert [(c["kind"], c["caused_by"]) for c in found[0]["consequences"]] == [
        ("vanishing_updates", "lr_too_high"), ("dead_units", "lr_too_high")]
    notes = compose.diagnose(healthy()).notes
    assert any("loss" in n for n in notes) and any("gradient" in n for n in notes)


def _start(name, w, unit_axis, description=""):
    """A tensor's series holding only its initial values ``w`` (step 0) and a later point."""
    w = np.asarray(w, np.float64)
    norm = np.full(2, np.linalg.norm(w))
    stats = {"norm": norm, "std": np.full(2, w.std()), "update_norm": np.array([np.nan, 1e-3 * norm[0]])}
    return TensorSeries(name, tuple(w.shape), np.array([0, 10]), stats, None, unit_axis, description)


def test_poor_initialization_scales_by_fan_in_and_passes_real_models_defaults():
    import torch
    import torchvision

    def torch_series(model):
        return [_start(n.replace(".", "/"), p.detach().numpy(), 0) for n, p in model.named_parameters()]

    torch.manual_seed(0)
    # The frameworks' default initialisers on real architectures: never a finding.
    encoder = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(64, 4, batch_first=True), 2)
    for model in (torchvision.models.resnet18(), encoder):
        assert causes.poor_initialization(torch_series(model)) == [], type(model).__name__
    import keras

    mobilenet = keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3))
    keras_series = [_start(w.path, w.numpy(), -1, "%s %s" % (type(layer).__name__, w.name))
                    for layer in mobilenet.layers for w in layer.weights]
    assert causes.poor_initialization(keras_series) == []
    # 30x and 1/100 of PyTorch's default scale on an MLP: large and small.
    mlp = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 128), torch.nn.ReLU(),
                              torch.nn.Linear(128, 10))
    for factor, direction in ((30.0, "large"), (0.01, "small")):
        scaled = [s._replace(stats=dict(s.stats, norm=s.stats["norm"] * factor, std=s.stats["std"] * factor))
                  for s in torch_series(mlp)]
        found = causes.poor_initialization(scaled)
        assert kinds(found) == [("poor_initialization", "warning")] and found[0]["evidence"]["direction"] == direction
        assert found[0]["tensors"] == ["0/weight", "2/weight", "4/weight"]
    # One small output head among default layers is a choice, not a mistake.
    head = torch_series(mlp)
    head[-2] = head[-2]._replace(stats=dict(head[-2].stats, std=head[-2].stats["std"] * 1e-3))
    assert causes.poor_initialization(head) == []


def test_a_layer_with_gradients_that_never_moves_is_not_optimized():
    """The optimizer built from some parameters only: the others get gradients and never move
    (a warning); without gradients they may be frozen on purpose (an info)."""
    still = np.r_[np.nan, np.zeros(N - 1)]
    grads = {"grad_norm": np.r_[np.nan, np.full(N - 1, 0.3)]}
    moving = healthy(**grads)[1:]
    for extra, severity in ((grads, "warning"), ({"grad_norm": np.full(N, np.nan)}, "info")):
        frozen = kernel(1, 4.6, update=still, **extra)
        found = [f for f in compose.diagnose([frozen] + moving) if f["kind"] == "updates_stopped"]
        assert kinds(found) == [("updates_stopped", severity)], kinds(found)
        assert found[0]["tensors"] == ["m/dense_1/kernel"]


def test_double_softmax_is_harmless_under_keras_tensorflow():
    """Keras' TensorFlow backend uses a softmax's input as the logits when from_logits=True:
    an info there, a warning under the JAX and torch backends (and without a backend named)."""
    structure = ({"name": "m/dense", "type": "Dense", "activation": "relu"},
                 {"name": "m/out", "type": "Dense", "activation": "softmax"})
    loss = {"class": "SparseCategoricalCrossentropy", "from_logits": True}
    for backend, severity in (("tensorflow", "info"), ("torch", "warning"), ("jax", "warning"), (None, "warning")):
        found, _ = setup_findings.double_softmax(RunInfo("keras", structure, loss=loss, backend=backend))
        assert kinds(found) == [("double_softmax", severity)], backend
    assert "trains as intended" in setup_findings.double_softmax(
        RunInfo("keras", structure, loss=loss, backend="tensorflow"))[0][0]["message"]


def test_gradients_accumulating_with_sgd_whose_gradient_settles():
    """SGD without zero_grad: the gradient grows fastest at first, then sits at one value as
    units die; the weights grow 100-fold. Measured from the first points, not the first quarter."""
    g = np.r_[np.nan, np.linspace(2, 30, 10), np.full(N - 11, 32.7)]
    ts = [kernel(i, np.linspace(4.6, 600, N), grad_norm=g) for i in (1, 2, 3)]
    assert kinds(causes.gradients_accumulating(ts)) == [("gradients_accumulating", "error")]


def _blown_up_run():
    """Kernels that move 2x their norm per step over the first intervals, then stop (dead units)."""
    norm = np.r_[4.6, np.full(N - 1, 9e8)]
    update = np.r_[np.nan, 9e8, 9e8, 9e8, np.zeros(N - 4)]
    return [kernel(i, norm, update) for i in (1, 2, 3)]


X50 = {"std": 19.0, "min": 0.0, "max": 50.0, "mean": 15.0, "step": 1}


def test_an_lr_far_out_of_its_optimizers_range_stays_a_cause_beside_unnormalized_inputs():
    """SGD at lr 5 on inputs x50: the lr is a cause of its own, not a consequence of the inputs."""
    for lr, own in ((5.0, True), (0.05, False)):
        info = RunInfo(framework="torch", optimizer={"class": "SGD", "lr": lr, "param_groups": [{"lr": lr}]},
                       lr=((0, lr),), input=X50)
        top = compose.diagnose(_blown_up_run(), run_info=info)
        assert top[0]["kind"] == "unnormalized_inputs"
        nested = {c["kind"] for c in top[0]["consequences"]}
        assert ("lr_too_high" in [f["kind"] for f in top]) is own and ("lr_too_high" in nested) is not own
        if own:
            (high,) = [f for f in top if f["kind"] == "lr_too_high"]
            assert high["evidence"]["configured_lr"] == 5.0 and high["evidence"]["own_cause"]
            assert "learning rate, 5, is itself above SGD's usual range" in high["message"]
            assert high["message"].endswith(high["advice"] + ".") and "lower the learning rate" in high["advice"]
    # Adam's steps are about its rate whatever the gradient's size: large inputs cannot explain them.
    adam = RunInfo(framework="torch", optimizer={"class": "Adam", "lr": 0.01}, input=X50)
    top = compose.diagnose(_blown_up_run(), run_info=adam)
    assert [f["kind"] for f in top] == ["unnormalized_inputs", "lr_too_high"]
    assert top[1]["evidence"]["unexplained_by"] == ["unnormalized_inputs"] and "own_cause" not in top[1]["evidence"]
    # Adam's range ends lower: 0.3 is out of it, 1e-3 is not; unknown optimizers are not judged.
    assert setup_findings.lr_setting(RunInfo(optimizer={"class": "Adam", "lr": 0.3}))[0] == 0.3
    assert "own_cause" not in setup_findings.with_lr_setting(top[1:], adam)[0]["evidence"]
    assert setup_findings.lr_setting(RunInfo(optimizer={"class": "LBFGS", "lr": 1.0})) is None
    # The peak of a schedule counts (a warmup to 3.0 with SGD is out of range).
    warmup = RunInfo(optimizer={"class": "SGD", "lr": 0.01}, lr=((0, 0.01), (50, 3.0)))
    assert setup_findings.lr_setting(warmup)[0] == 3.0
    # An explosion within one logged interval reads the same too-large steps.
    (boom,) = causes.early_explosion([kernel(i, np.r_[6.8, np.full(N - 1, 16.8)]) for i in (1, 2, 3)])
    (marked,) = setup_findings.with_lr_setting([boom], RunInfo(optimizer={"class": "SGD", "lr": 3.0}))
    assert marked["evidence"]["own_cause"] and marked["message"].endswith("; " + boom["advice"] + ".")
    # SGD's momentum multiplies its step: 0.5 with momentum 0.9 moves as 5.
    assert setup_findings.lr_setting(RunInfo(optimizer={"class": "SGD", "lr": 0.5, "momentum": 0.9}))[1] == 5.0


def test_advice_under_one_cause_never_contradicts_itself():
    """Consequences keep what was seen and defer to their cause's fix, whatever their own advice was."""
    info = RunInfo(framework="torch", optimizer={"class": "SGD", "lr": 0.05}, input=X50)
    top = compose.diagnose(_blown_up_run(), run_info=info)
    cause = top[0]
    alone = compose.diagnose(_blown_up_run())  # the same run's findings without a cause to defer to
    said = {(f["kind"], f["layer"]): findings.seen(f) for g in alone for f in [g] + g.get("consequences", [])}
    for c in cause["consequences"]:
        assert c["caused_by"] == "unnormalized_inputs"
        assert c["advice"] == "this follows from unnormalized_inputs above: fix that first"
        assert c["message"] == "%s; %s." % (findings.seen(c), c["advice"])
        assert "the learning rate" not in c["advice"]
        if (c["kind"], c["layer"]) in said:
            assert findings.seen(c) == said[c["kind"], c["layer"]]  # what was seen is kept
    lower = findings.finding("lr_too_high", "warning", "d", [], 5, "d moves 2x per step", {}, "lower the lr", ": ")
    raise_ = findings.finding("lr_too_low", "warning", "e", [], 5, "e moves 1e-7 per step", {}, "raise the lr")
    (top,) = compose.nest([cause, lower, raise_])
    assert [c["message"] for c in top["consequences"]] == [
        "d moves 2x per step; this follows from unnormalized_inputs above: fix that first.",
        "e moves 1e-7 per step; this follows from unnormalized_inputs above: fix that first."]


def test_a_consequence_of_an_adopted_cause_is_not_lost():
    """double_softmax adopts lr_too_low, whose own consequence alpha_high it does not list: it comes along."""
    found = [{"kind": k, "severity": s, "step": 1} for k, s in (
        ("double_softmax", "warning"), ("lr_too_low", "warning"), ("alpha_high", "info"))]
    (top,) = compose.nest(found)
    assert sorted(c["kind"] for c in top["consequences"]) == ["alpha_high", "lr_too_low"]


def test_step_and_message_agree_on_when_units_died():
    steps = np.arange(0, 100, 10)
    early = ActivationSeries("m/relu_1", "relu", steps, {"dead_fraction": np.r_[np.zeros(3), np.full(7, 0.9)]}, 1)
    late = ActivationSeries("m/relu_2", "relu", steps, {"dead_fraction": np.r_[np.zeros(6), np.full(4, 0.8)]}, 2)
    (f,), _ = setup_findings.activation_units([late, early])
    assert f["step"] == 30 and f["message"].startswith("From step 30, 2 layers")
    assert "m/relu_1 90% from step 30" in f["message"] and "m/relu_2 80% from step 60" in f["message"]
    assert f["evidence"]["since"] == {"m/relu_1": 30, "m/relu_2": 60}
