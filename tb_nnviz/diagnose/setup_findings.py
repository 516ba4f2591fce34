"""Findings from the run's set-up (``evidence.RunInfo``) and its activations
(``evidence.ActivationSeries``): a model without non-linearity, a softmax
before a loss that applies it, inputs far from unit scale, dead and saturated
units. Pure; each rule returns ``(findings, notes)``, a note saying what it could
not judge for lack of evidence.

>>> info = RunInfo(structure=({"name": "0", "type": "Linear"}, {"name": "1", "type": "Linear"}))
>>> [f["kind"] for f in missing_nonlinearity(info)[0]]
['missing_nonlinearity']
"""

import numpy as np

from tb_nnviz.diagnose import findings
from tb_nnviz.diagnose.evidence import RunInfo  # noqa: F401  (the input type, named here for callers)

#: Module types that compute an affine map of their input.
LINEAR_TYPES = ("Linear", "Dense", "Conv1d", "Conv2d", "Conv3d", "Conv1D", "Conv2D", "Conv3D", "LazyLinear",
                "Bilinear", "EinsumDense")
#: Activation kinds that are not non-linear.
LINEAR_KINDS = ("linear", None, "")
#: unnormalized_inputs: the input's standard deviation at least this (inputs
#: standardised to unit variance, LeCun et al., "Efficient BackProp", 1998;
#: pixels in [0, 1] measure 0.37 on digits, raw 0-255 pixels ~ 80) ...
INPUT_STD = 10.0
#: ... or its largest magnitude at least this.
INPUT_ABS_MAX = 100.0
#: dead_units: a ReLU-family layer with at least this fraction of units 0 for
#: every sample of the batch (SageMaker Debugger's DeadRelu: threshold_layer 50%) ...
DEAD_FRACTION = 0.5
#: ... at each of the last this many logged points (one batch is not a trend).
PERSIST_POINTS = 3
#: saturated_units: a sigmoid/tanh layer with at least this fraction of entries in
#: the flat tails (SageMaker Debugger's SaturatedActivation: threshold_layer 50%).
SATURATED_FRACTION = 0.5
RELU_KINDS = ("relu", "leaky_relu", "elu", "gelu", "silu")
#: The learning rates that train, per optimizer family (class names lowercased, as
#: torch and Keras name them): ``(classes, lowest, highest)``. A configured peak rate
#: outside is evidence of its own that ``lr_too_high`` / ``lr_too_low`` is a cause,
#: whatever else the run shows (docs/findings.md, "Independent causes"). Measured on
#: the digits MLP: SGD trains at 0.01-0.5 (1e-3 reaches 13%, 2.0 and 3.0 chance);
#: Adam at 1e-4 to 0.1 (1e-5 reaches 12%, 0.3 and 1.0 chance). Ranges: SGD's ImageNet
#: 0.1 at batch 256 and fine-tuning 1e-3; Adam's 1e-3 default, LLM fine-tuning 1e-5 to 1e-6.
LR_RANGES = (
    (("sgd",), 1e-4, 1.0),
    (("adam", "adamw", "adamax", "nadam", "radam", "rmsprop", "lion"), 1e-6, 0.1),
    (("adagrad",), 1e-4, 1.0),
)
#: The kinds that read steps too large for the model (the learning rate's, or an explosion within one
#: logged interval): a configured rate above its range makes them causes of their own.
LR_HIGH_KINDS = ("lr_too_high", "early_explosion")
#: Adaptive optimizers: each weight's step is about the learning rate whatever the gradient's
#: size (Adam, RMSprop and Adagrad divide by the gradient's running scale; Lion takes its sign).
ADAPTIVE = ("adam", "adamw", "adamax", "nadam", "radam", "rmsprop", "lion", "adagrad")


def _types(info):
    return [(m.get("type") or "", m.get("activation")) for m in info.structure if isinstance(m, dict)]


def missing_nonlinearity(info):
    """At least two affine layers and no activation anywhere in the model."""
    if info is None or not info.structure:
        return [], ["missing_nonlinearity: no model structure logged (run information), not checked"]
    types = _types(info)
    linear = [i for i, (t, _) in enumerate(types) if t in LINEAR_TYPES]
    activations = [i for i, (t, a) in enumerate(types) if a not in LINEAR_KINDS or (
        t not in LINEAR_TYPES and t not in ("Flatten", "Dropout", "Identity", "Unflatten", "Reshape", "InputLayer"))]
    if len(linear) < 2 or activations:
        return [], []
    names = [info.structure[i].get("name") for i in linear]
    message = (
        "The model's %d affine layers (%s) have no non-linearity between them: together they compute one linear "
        "map, whatever their depth"
    ) % (len(linear), ", ".join(str(n) for n in names))
    return [findings.finding("missing_nonlinearity", "warning", str(names[0]), [], 0, message,
                             {"layers": names}, "add an activation (ReLU, GELU) after each hidden layer")], []


def double_softmax(info):
    """Softmax as the model's last step before a loss that applies it again
    (Keras: ``from_logits=True`` on a softmax output; PyTorch: a ``Softmax``
    module last, as ``CrossEntropyLoss`` applies log-softmax itself)."""
    if info is None or not info.structure:
        return [], ["double_softmax: no model structure logged (run information), not checked"]
    last = info.structure[-1] if isinstance(info.structure[-1], dict) else {}
    softmax_last = last.get("type") == "Softmax" or last.get("activation") == "softmax"
    if not softmax_last:
        return [], []
    loss = info.loss or {}
    if info.framework == "keras" or loss:
        if loss.get("from_logits") is not True:
            return [], []
        why = "%s(from_logits=True) applies softmax again" % (loss.get("class") or "the loss")
    else:
        why = "CrossEntropyLoss applies log-softmax itself (NLLLoss expects log_softmax)"
    if info.framework == "keras" and info.backend == "tensorflow":
        # Keras' TensorFlow backend takes the softmax's input as the logits (and warns): no harm here.
        message = (
            "The model ends in a softmax (%s) and %s; Keras' TensorFlow backend notices and uses the softmax's "
            "input as the logits, so this run trains as intended, but under the JAX or torch backend the "
            "probabilities would be squashed twice"
        ) % (last.get("name"), why)
        severity, advice, joint = "info", "drop the softmax, or compile with from_logits=False", ": "
    else:
        message = (
            "The model ends in a softmax (%s) and %s: the probabilities are squashed twice, the gradients shrink "
            "and the loss cannot approach 0"
        ) % (last.get("name"), why)
        severity, advice, joint = "warning", "output logits (drop the softmax) or use a loss on probabilities", "; "
    return [findings.finding("double_softmax", severity, str(last.get("name")), [], 0, message,
                             {"last_module": last.get("type"), "loss": loss or None}, advice, joint)], []


def unnormalized_inputs(info):
    """The model's input far from unit scale at its first logged step."""
    stats = (info.input if info is not None else None) or {}
    std, lo, hi = (stats.get(k) for k in ("std", "min", "max"))
    if not isinstance(std, (int, float)):
        return [], ["unnormalized_inputs: no input statistics logged, not checked"]
    biggest = max(abs(v) for v in (lo, hi) if isinstance(v, (int, float))) if any(
        isinstance(v, (int, float)) for v in (lo, hi)) else 0.0
    if not (std >= INPUT_STD or biggest >= INPUT_ABS_MAX):
        return [], []
    message = (
        "The model's input has a standard deviation of %s and values up to %s (at step %s): far from unit scale, so "
        "the first layer's pre-activations and gradients are huge"
    ) % (findings.fmt(std), findings.fmt(biggest), stats.get("step", 0))
    advice = "standardise the inputs (subtract the mean, divide by the standard deviation, or scale pixels to [0, 1])"
    return [findings.finding("unnormalized_inputs", "error", "input", [], int(stats.get("step") or 0), message, {
        "std": std, "abs_max": biggest, "mean": stats.get("mean"), "threshold": INPUT_STD}, advice)], []


def _persistent(a, field, level):
    """``(smallest value, first step)`` of the trailing run of ``a``'s logged ``field`` at or
    above ``level``, when it covers at least the last ``PERSIST_POINTS`` points; else None."""
    values = np.asarray(a.fields.get(field, ()), np.float64)
    ok = np.isfinite(values)
    values, steps = values[ok], np.asarray(a.steps)[ok]
    if len(values) < PERSIST_POINTS or not (values[-PERSIST_POINTS:] >= level).all():
        return None
    above = values >= level
    start = len(above) - (int(np.argmin(above[::-1])) if not above.all() else len(above))
    return float(np.min(values[start:])), int(steps[start])


def activation_units(series):
    """``dead_units`` (ReLU family) and ``saturated_units`` (sigmoid/tanh), one finding
    per kind listing every layer; ``series``: the run's ``ActivationSeries``. Its
    ``step`` is the first logged step from which some layer stayed past the level,
    and the message gives each layer's."""
    if not series:
        return [], ["dead_units, saturated_units: no activation statistics logged; read from the weights only"]
    found = []
    for kind, kinds, field, level, what, advice in (
        ("dead_units", RELU_KINDS, "dead_fraction", DEAD_FRACTION, "output 0 for every sample (dead)",
         "lower the learning rate, use LeakyReLU/GELU, He initialisation or a non-negative bias init"),
        ("saturated_units", ("sigmoid", "tanh"), "saturated_fraction", SATURATED_FRACTION,
         "in the flat tails of the activation (saturated)",
         "use smaller initial weights (Glorot), normalisation before the activation, or ReLU-family activations"),
    ):
        hits = [(got, a) for a in series if a.kind in kinds for got in [_persistent(a, field, level)] if got]
        if not hits:
            continue
        step = min(since for (_, since), _ in hits)
        last = max(int(np.asarray(a.steps)[-1]) for _, a in hits)
        layers = ", ".join("%s %.0f%% from step %d" % (findings.said(a.layer), 100 * f, since)
                           for (f, since), a in hits)
        message = "From step %d, %d layer%s had at least %.0f%% of units %s at every logged step through step %d (%s)"
        message %= (step, len(hits), "s" * (len(hits) > 1), 100 * level, what, last, layers)
        evidence = {"fraction": {a.layer: f for (f, _), a in hits}, "since": {a.layer: s for (_, s), a in hits},
                    "threshold": level, "source": "activations"}
        found.append(findings.finding(kind, "warning", hits[0][1].layer, [a.layer for _, a in hits], step, message,
                                      evidence, advice, ": "))
    return found, []


def lr_setting(info):
    """``(peak lr, effective lr, optimizer class, (lowest, highest))`` of the run's configured
    learning rate against its optimizer's range in ``LR_RANGES``; None when either is unknown.
    SGD's effective rate is ``lr / (1 - momentum)``, the heavy ball's step per unit gradient
    once it rolls (0.5 with momentum 0.9 moves as 5 without); other optimizers' is their lr.

    >>> lr_setting(RunInfo(optimizer={"class": "SGD", "lr": 5.0}))
    (5.0, 5.0, 'SGD', (0.0001, 1.0))
    >>> lr_setting(RunInfo(optimizer={"class": "SGD", "lr": 0.5, "momentum": 0.9}))[:2]
    (0.5, 5.0)
    """
    opt = info.optimizer if info is not None and isinstance(info.optimizer, dict) else {}
    cls = str(opt.get("class") or "")
    row = next(((names, lo, hi) for names, lo, hi in LR_RANGES if cls.lower() in names), None)
    groups = opt.get("param_groups") if isinstance(opt.get("param_groups"), (list, tuple)) else ()
    values = [opt.get("lr")] + [g.get("lr") for g in groups if isinstance(g, dict)]
    values += [p[1] for p in (info.lr if info is not None else ()) if len(p) == 2]
    values = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0]
    if row is None or not values:
        return None
    # To 6 significant digits: Keras keeps its rate in float32 (1e-6 reads 9.99999997e-07 there).
    peak = float("%.6g" % max(values))
    return peak, float("%.6g" % (peak * _momentum_gain(opt) if "sgd" in row[0] else peak)), cls, row[1:]


def _momentum_gain(opt):
    """How many times SGD's step per unit gradient its momentum ``m`` makes it once rolling:
    ``(1 - dampening) / (1 - m)`` (torch's dampening; 1 without momentum or when malformed).

    >>> _momentum_gain({"momentum": 0.9}), _momentum_gain({"momentum": "fast"})
    (10.0, 1.0)
    """
    try:
        m, damp = float(opt.get("momentum") or 0.0), float(opt.get("dampening") or 0.0)
    except (TypeError, ValueError):
        return 1.0
    return round((1 - damp) / (1 - m), 9) if 0 <= m < 1 and 0 <= damp <= 1 else 1.0


def with_lr_setting(found, info):
    """``found`` with what the optimizer's setting says about its learning-rate findings.

    ``LR_HIGH_KINDS`` / ``lr_too_low`` become causes of their own (``evidence.own_cause``, and
    said in the message) when the configured peak rate is itself outside its optimizer's range
    in the same direction: no other cause explains them away. Under an adaptive optimizer
    (``ADAPTIVE``) large steps are not explained by unnormalised inputs
    (``evidence.unexplained_by``): it scales each weight's step to about its rate, whatever
    the gradient's size.

    >>> high = findings.finding("lr_too_high", "warning", "d", [], 5, "d moved 2x", {}, "lower it", ": ")
    >>> [f["evidence"] for f in with_lr_setting([high], RunInfo(optimizer={"class": "Adam", "lr": 0.01}))]
    [{'unexplained_by': ['unnormalized_inputs']}]
    """
    setting = lr_setting(info)
    adaptive = setting is not None and setting[2].lower() in ADAPTIVE
    out = []
    for f in found:
        why = _out_of_range(f["kind"], setting) if setting is not None else None
        if why:
            f = findings.retold(f, "%s; %s" % (findings.seen(f), why), f.get("advice"))
            f["evidence"] = dict(f["evidence"], own_cause=why, configured_lr=setting[0], effective_lr=setting[1],
                                 lr_range=list(setting[3]))
        elif adaptive and f["kind"] in LR_HIGH_KINDS:
            f = dict(f, evidence=dict(f["evidence"], unexplained_by=["unnormalized_inputs"]))
        out.append(f)
    return out


def _out_of_range(kind, setting):
    """Why a finding of ``kind`` is a cause of its own under ``lr_setting``'s ``setting``, or None."""
    lr, effective, cls, (lo, hi) = setting
    high = kind in LR_HIGH_KINDS
    if not ((high and effective > hi) or (kind == "lr_too_low" and effective < lo)):
        return None
    rate = findings.fmt(lr) if effective == lr else "%s (with its momentum, %s)" % (
        findings.fmt(lr), findings.fmt(effective))
    return "the optimizer's learning rate, %s, is itself %s %s's usual range (%s to %s)" % (
        rate, "above" if high else "below", cls, findings.fmt(lo), findings.fmt(hi))
