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
        "map, whatever their depth; add an activation (ReLU, GELU) after each hidden layer."
    ) % (len(linear), ", ".join(str(n) for n in names))
    return [findings.finding("missing_nonlinearity", "warning", str(names[0]), [], 0, message,
                             {"layers": names})], []


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
            "probabilities would be squashed twice: drop the softmax, or compile with from_logits=False."
        ) % (last.get("name"), why)
        severity = "info"
    else:
        message = (
            "The model ends in a softmax (%s) and %s: the probabilities are squashed twice, the gradients shrink "
            "and the loss cannot approach 0; output logits (drop the softmax) or use a loss on probabilities."
        ) % (last.get("name"), why)
        severity = "warning"
    return [findings.finding("double_softmax", severity, str(last.get("name")), [], 0, message,
                             {"last_module": last.get("type"), "loss": loss or None})], []


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
        "the first layer's pre-activations and gradients are huge; standardise the inputs (subtract the mean, "
        "divide by the standard deviation, or scale pixels to [0, 1])."
    ) % (findings.fmt(std), findings.fmt(biggest), stats.get("step", 0))
    return [findings.finding("unnormalized_inputs", "error", "input", [], int(stats.get("step") or 0), message, {
        "std": std, "abs_max": biggest, "mean": stats.get("mean"), "threshold": INPUT_STD})], []


def _persistent(a, field, level):
    values = np.asarray(a.fields.get(field, ()), np.float64)
    values = values[np.isfinite(values)]
    if len(values) < PERSIST_POINTS or not (values[-PERSIST_POINTS:] >= level).all():
        return None
    above = values >= level
    start = len(above) - (int(np.argmin(above[::-1])) if not above.all() else len(above))
    return float(np.min(values[-PERSIST_POINTS:])), start


def activation_units(series):
    """``dead_units`` (ReLU family) and ``saturated_units`` (sigmoid/tanh), one finding
    per kind listing every layer; ``series``: the run's ``ActivationSeries``."""
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
        hits = []
        for a in series:
            if a.kind in kinds:
                got = _persistent(a, field, level)
                if got is not None:
                    hits.append((got[0], int(a.steps[np.flatnonzero(np.isfinite(
                        np.asarray(a.fields[field], np.float64)))[got[1]]]), a))
        if not hits:
            continue
        layers = ", ".join("%s %.0f%%" % (findings.said(a.layer), 100 * f) for f, _, a in hits)
        lead = hits[0][2]
        message = "%d layer%s with at least %.0f%% of units %s at each of the last %d logged steps (%s): %s." % (
            len(hits), "s" * (len(hits) > 1), 100 * level, what, PERSIST_POINTS, layers, advice)
        found.append(findings.finding(kind, "warning", lead.layer, [a.layer for _, _, a in hits],
                                      min(s for _, s, _ in hits), message, {
                                          "fraction": {a.layer: f for f, _, a in hits}, "threshold": level,
                                          "source": "activations"}))
    return found, []
