"""What is wrong with a training run, which layer, from which step: pure rules.

Series in, findings out. ``evaluate`` takes every tensor's trajectory
statistics (looked up by field name, as ``tb_nnviz.format.layouts.STAT_FIELDS`` names them)
and returns a list of findings, each a JSON-ready dict::

    {"kind": "updates_stopped", "severity": "warning", "layer": "mlp/dense_2",
     "tensors": ["mlp/dense_2/kernel", "mlp/dense_2/bias"], "step": 185,
     "message": "...one sentence with the numbers...", "evidence": {...}}

A healthy run gets no ``warning`` or ``error``:

>>> steps = np.arange(0, 200, 10)
>>> norm = np.full(20, 8.0)
>>> update = np.r_[np.nan, np.full(19, 8.0 * 1e-3 * 10)]  # 1e-3 of |W| per step
>>> healthy = [TensorSeries("mlp/dense_%d/kernel" % i, (64, 64), steps,
...            {"norm": norm, "update_norm": update}) for i in (1, 2)]
>>> evaluate(healthy)
[]

and one whose first layer has stopped while the second still moves gets one:

>>> stopped = healthy[0]._replace(stats={"norm": norm, "update_norm": np.r_[update[:10], np.zeros(10)]})
>>> [(f["kind"], f["severity"], f["layer"], f["step"]) for f in evaluate([stopped, healthy[1]])]
[('updates_stopped', 'warning', 'mlp/dense_1', 100)]

The thresholds below come from measured runs (docs/findings.md has the
data): a learning-rate sweep of the digits models logged at every step and
every 5 and 20 steps, the demo's runs and MobileNetV2. Steps are taken to
count optimizer updates, as the Keras callback logs them; ratios logged
every ``g`` steps are divided by ``g`` (the net movement per step, a lower
bound of the mean step when updates do not all point the same way).
"""

import math

import numpy as np

from tb_nnviz.diagnose import rates
from tb_nnviz.diagnose.rates import TensorSeries  # noqa: F401  (the input type, named here for callers)
from tb_nnviz.format import metadata

#: Severities, most severe first.
SEVERITIES = ("error", "warning", "info")
#: Kinds by causal rank: a cause before its consequences. Findings of one
#: severity are listed in this order (each kind's steps in their own unit:
#: the loss kinds count epochs, the others steps), so the learning rate that
#: is too high comes before the layers that stopped and the run that
#: under-fits because of it. Settings to change; what they do to the weights
#: and the loss; layers that stop learning; the spectra; the run's outcome.
CAUSAL_ORDER = (
    "symmetric_units", "unnormalized_inputs", "missing_nonlinearity", "double_softmax",
    "weights_shrinking", "gradients_accumulating",
    "lr_too_high", "early_explosion", "lr_too_low", "vanishing_updates",
    "exploding_weights", "nonfinite", "loss_diverged",
    "dead_units", "saturated_units", "updates_stopped",
    "alpha_low", "alpha_high",
    "loss_rising", "loss_plateau", "underfitting", "overfitting",
)

#: Ratio rules (lr_too_high, lr_too_low, vanishing_updates, exploding_weights)
#: read only tensors of rank >= 2 with at least this many entries: kernels,
#: not biases or normalisation scales. A bias starts at 0, so its first
#: updates are 100% of its norm in every healthy run (measured: ratio 1.0 at
#: the first point of every demo run), and a handful of entries make a noisy norm.
MIN_SIZE = 64
#: Per-step update/weight ratio of the healthy band's centre (CS231n, "Neural
#: Networks Part 3": about 1e-3).
HEALTHY_RATIO = 1e-3
#: lr_too_high: the median kernel moves at least this fraction of its norm per
#: step ... Measured at every step: Adam 0.03 and SGD 0.5 train to 97% on digits and
#: peak at 0.19 and 0.10; Adam 0.3 and 1.0 reach chance only, at 1.9 and 6.2.
HIGH_RATIO = 0.3
#: ... over intervals covering at least this many optimizer steps (Adam's
#: first step moves every weight by the learning rate whatever the gradient).
HIGH_MIN_STEPS = 3
#: lr_too_high, sustained: the median kernel's rate per step, over the run
#: (median), is at least this: weights replaced every ~10 steps. Every run of
#: the sweep that trained stayed at or below 0.022 (SGD 0.5, logged every step).
SUSTAINED_HIGH_RATIO = 0.1
#: lr_too_low: even the fastest-moving kernel moves less than this per step in
#: the first half of the run (median): a warning. Adam 1e-6 measured 4e-6.
LOW_RATIO = 1e-5
#: ... less than this: info (slow; fine when fine-tuning a trained model).
#: Adam 1e-5 and SGD 1e-3 (12-13% after 8 epochs) measured 4e-5 and 6e-5;
#: Adam 1e-4 and SGD 1e-2 (70%) 4e-4 and 5e-4.
SLOW_RATIO = 1e-4
#: vanishing_updates: the first third of the kernels (network order) moves at
#: least this many times less than the last third (medians over the run).
VANISHING_FACTOR = 100.0
#: exploding_weights: a kernel's norm grew at least this many times since its
#: first logged value ... (healthy runs measured: at most 2.8x; lr_too_high 40x,
#: then flat) ...
EXPLODING_GROWTH = 10.0
#: ... and at least this many times over the last half of the run: still growing,
#: faster than linearly (a kernel growing linearly from 0, such as a
#: zero-initialised one, doubles over its last half; a random walk grows 1.4x).
EXPLODING_RECENT_GROWTH = 4.0
#: ... or, from a non-zero first point, at least this many times (three orders of
#: magnitude), whether or not it still grows: weights that blew up in a few steps
#: and then stopped (their units died, SGD at lr 5 on x50 inputs: 2e8x within 10
#: steps, then exactly still) have exploded too. Healthy runs: at most 5.6x; the
#: demo's lr_too_high 16-40x.
EXPLODED_GROWTH = 1e3
#: updates_stopped: a tensor's update norm is exactly 0 at this many trailing
#: points (and it moved before).
STOPPED_POINTS = 3
#: updates_stopped: a layer that moved less than this fraction of its norm per
#: step (median) before it stopped had steps near float32's resolution
#: (2^-24 of a weight), so its updates most likely round away rather than its
#: units dying. A ResNet-18 BatchNorm scale under SGD 1e-7 measured 1e-7.
ROUNDING_RATIO = 1e-6
#: dead_units: the fraction of a kernel's output units that did not change at
#: all, at every one of the trailing points (at least ``STOPPED_POINTS``).
DEAD_FRACTION = 0.25
#: ... at least this fraction: a warning, below it: info.
DEAD_WARNING_FRACTION = 0.5
#: ... and at least this many units (one unit of a 10-unit output is 10%).
DEAD_MIN_UNITS = 2


def evaluate(tensors):
    """Every finding of one run's ``tensors`` (an iterable of ``TensorSeries``).

    In ``ordered``'s order, findings of one kind and step in network order.
    Tensors without ``order`` follow the others in the order given.
    """
    tensors = rates.in_network_order(tensors)
    found, cut = _nonfinite(tensors)
    # After the first NaN/Inf every later update is garbage: read up to it only.
    views = [rates.TensorView(t, cut, MIN_SIZE) for t in tensors]
    views = [v for v in views if len(v.steps)]
    stopped = _updates_stopped(views)
    found += stopped
    since = {}
    for f in stopped:
        since.update(f["evidence"]["stopped_since"])
    found += _never_moved(views)
    found += _dead_units([v for v in views if v.name not in since])
    # Ratio rules read kernels that train: not frozen ones, and stopped ones
    # only until they stopped (their zeros are a finding of their own, not a
    # slow learning rate).
    def until(t):
        ends = [end for end in (cut, since.get(t.name)) if end is not None]
        return min(ends) if ends else None

    kernels = [rates.TensorView(t, until(t), MIN_SIZE) for t in tensors]
    kernels = [v for v in kernels if v.is_kernel and v.moved and len(v.steps)]
    high = _lr_too_high(kernels)
    found += high
    # An embedding table moves only the rows of the tokens in each batch: slow by design.
    found += _vanishing_updates([k for k in kernels if not k.is_embedding])
    if not high:
        found += _lr_too_low(kernels)
    # Up to the first NaN/Inf, not to where a layer stopped: weights that exploded and then died stay exploded.
    found += _exploding_weights([v for v in views if v.is_kernel and v.moved])
    position = {t.name: i for i, t in enumerate(tensors)}
    found.sort(key=lambda f: position.get(f["tensors"][0], 0))
    return ordered(found)


def ordered(found):
    """``found`` sorted by severity, then causal rank (``CAUSAL_ORDER``), then
    step; stable, so findings that tie keep their order.

    >>> [f["kind"] for f in ordered([
    ...     {"kind": "underfitting", "severity": "warning", "step": 1},
    ...     {"kind": "updates_stopped", "severity": "warning", "step": 165},
    ...     {"kind": "alpha_low", "severity": "info", "step": 45},
    ...     {"kind": "lr_too_high", "severity": "warning", "step": 5}])]
    ['lr_too_high', 'updates_stopped', 'underfitting', 'alpha_low']
    """
    def key(f):
        kind = f.get("kind")
        rank = CAUSAL_ORDER.index(kind) if kind in CAUSAL_ORDER else len(CAUSAL_ORDER)
        return SEVERITIES.index(f["severity"]), rank, f["step"]

    return sorted(found, key=key)


def at_least(findings, severity):
    """The findings at or above ``severity`` (``error``, ``warning``, ``info``).

    >>> at_least([{"severity": "info"}, {"severity": "error"}], "warning")
    [{'severity': 'error'}]
    """
    if severity not in SEVERITIES:
        raise ValueError("severity must be one of %s, got %r" % (", ".join(SEVERITIES), severity))
    rank = SEVERITIES.index(severity)
    return [f for f in findings if SEVERITIES.index(f["severity"]) <= rank]


# -- the rules ------------------------------------------------------------------


def _nonfinite(tensors):
    """``([finding] or [], first step with NaN/Inf or None)``."""
    first, hits = None, []
    for t in tensors:
        with rates.quiet():
            bad = np.nan_to_num(_column(t, "nan_count") + _column(t, "inf_count"), nan=0.0) > 0
        norm = t.stats.get("norm")
        if norm is not None:  # the norm is NaN/Inf exactly when an entry is
            bad |= ~np.isfinite(np.asarray(norm, np.float64))
        if bad.any():
            step = int(t.steps[np.argmax(bad)])
            hits.append((step, t))
            first = step if first is None else min(first, step)
    if first is None:
        return [], None
    at_first = [t for step, t in hits if step == first]
    lead = at_first[0]
    i = int(np.searchsorted(lead.steps, first))
    nan = int(np.nan_to_num(_column(lead, "nan_count")[i]))
    inf = int(np.nan_to_num(_column(lead, "inf_count")[i]))
    counts = " and ".join("{:,} {}".format(n, what) for n, what in ((nan, "NaN"), (inf, "Inf")) if n)
    counts = counts + " values" if counts else "non-finite values"
    others = len(at_first) - 1
    message = "%s holds %s at step %d%s; training diverged here" % (
        lead.name, counts, first,
        " (and %d more tensor%s at that step)" % (others, "s" * (others > 1)) if others else "",
    )
    return [finding(
        "nonfinite", "error", lead.layer, [t.name for t in at_first], first, message,
        {"nan_count": nan, "inf_count": inf, "tensors_at_step": len(at_first), "tensors_later": len(hits)},
        "lower the learning rate, clip gradients or look for a log/division of zero", ": ",
    )], first


def _updates_stopped(views):
    """Layers whose updates became exactly 0 (after moving) to the end of the run."""
    stops = {}
    for v in views:
        if len(v.update) < STOPPED_POINTS + 1:
            continue
        moving = np.nan_to_num(v.update, nan=0.0) > 0
        if not moving.any():
            continue  # frozen from the start: deliberate, not stopped
        trailing = len(moving) - 1 - int(np.flatnonzero(moving)[-1])
        zeros = v.update[len(v.update) - trailing :] == 0
        if trailing >= STOPPED_POINTS and zeros.all():
            stops[v.name] = int(v.steps[len(v.steps) - trailing])
    if not stops:
        return []
    by_layer = {}
    for v in views:
        by_layer.setdefault(v.layer, []).append(v)
    everything = len(stops) == len(views) or all(
        v.name in stops or not (np.nan_to_num(v.update, nan=0.0) > 0).any() for v in views
    )
    # The last step each tensor moved at (None: never moved), to tell whether
    # other layers still moved after a layer stopped.
    last_moved = {}
    for v in views:
        moved = np.flatnonzero(np.nan_to_num(v.update, nan=0.0) > 0)
        last_moved[v.name] = int(v.steps[moved[-1]]) if len(moved) else None
    found = []
    for layer, members in by_layer.items():
        stopped = [v for v in members if v.name in stops]
        # A tiny tensor (a converged bias under SGD) can round its updates
        # to 0 on its own: it counts only when its whole layer stopped.
        if not stopped or (len(stopped) < len(members) and all(v.size < MIN_SIZE for v in stopped)):
            continue
        step = min(stops[v.name] for v in stopped)
        last = int(max(v.steps[-1] for v in stopped))
        names = [v.name for v in stopped]
        # Other layers' kernels (rank >= 2) where there are any: a bias or a norm's scale drifting on
        # by rounding does not make its layer "still moving".
        other = [v for v in views if v.layer != layer]
        other = [v for v in other if len(v.shape) >= 2] or other
        others = [last_moved[v.name] for v in other if last_moved[v.name] is not None]
        moving_after = any(moved > step for moved in others)
        if moving_after:
            context = " while other layers were still moving"
        elif others and all(stops.get(v.name) == step for v in other):
            context = ", as every other layer did"
        elif others:
            context = ", after every other layer had stopped"
        else:
            context = ""
        before, gradient = _before_stopping(stopped, stops)
        rounding = gradient or (before is not None and before < ROUNDING_RATIO)
        head = "%s stopped changing at step %d (update norm exactly 0 through step %d)" % (said(layer), step, last)
        advice = None
        if everything:
            severity = "info"
            message = (
                "%s and every other tensor stopped changing at step %d (update norm exactly 0 through step %d): "
                "training converged, or the learning rate reached 0."
            ) % (said(layer), step, last)
        elif rounding:
            severity = "warning"
            if gradient:
                why = "its gradient is not zero (|g| %s at step %d), so its units are not dead" % (
                    fmt(gradient[1]), gradient[0])
            else:
                why = "it moved only %s of its norm per step before" % fmt(before)
            message = "%s%s, but %s: each step is below the weights' floating-point resolution and rounds away" % (
                head, context, why)
            advice = "raise the learning rate (with mixed precision, keep float32 master weights)"
        else:
            severity = "warning"
            message = "%s%s: its units are likely dead (ReLU) or saturated" % (head, context)
            advice = "lower the learning rate or try LeakyReLU, or check that the layer is meant to train"
        found.append(finding("updates_stopped", severity, layer, names, step, message, {
            "stopped_since": {v.name: stops[v.name] for v in stopped},
            "last_step": last,
            "all_stopped": everything,
            "others_moving_after": moving_after,
            "ratio_per_step_before": before,
            "rounding": bool(rounding) and not everything,
        }, advice))
    return found


def _before_stopping(stopped, stops):
    """``(median per-step ratio before stopping, (step, grad norm) or None)`` of a layer's stopped tensors.

    The ratio is over the layer's kernels (``TensorView.is_kernel``) when it has any.
    The gradient is the largest finite, non-zero ``grad_norm`` logged at or
    after the stop (None when none was logged, or every one is 0).
    """
    rates_before, gradient = [], None
    large = [v for v in stopped if v.is_kernel]  # a bias starting at 0 has huge early ratios
    for v in stopped:
        moving = (v.steps < stops[v.name]) & np.isfinite(v.rate) & (v.rate > 0)
        if v in large or not large:
            rates_before.extend(v.rate[moving])
        grads = v.stats.get("grad_norm")
        if grads is not None:
            after = (v.steps >= stops[v.name]) & np.isfinite(grads) & (grads > 0)
            for step, g in zip(v.steps[after], grads[after]):
                if gradient is None or g > gradient[1]:
                    gradient = (int(step), float(g))
    before = float(np.median(rates_before)) if rates_before else None
    return before, gradient


def _dead_units(views):
    """Layers where a fraction of the output units stopped changing for good."""
    found = []
    done = set()
    for v in views:
        u = v.stats.get("unchanged_unit_fraction")
        if u is None or not v.is_kernel or not v.moved or v.layer in done:
            continue
        u = np.asarray(u, np.float64)
        units = v.units
        ok = (u >= 0) & (u <= 1)  # a fraction; NaN at the first point
        if ok.sum() < STOPPED_POINTS:
            continue
        tail = u[ok]
        steps = v.steps[ok]
        # The dead fraction must hold at every trailing point: take the
        # smallest over the trailing run where it stays at or above the bar.
        above = tail >= DEAD_FRACTION
        if not above[-1]:
            continue
        start = len(above) - (int(np.argmin(above[::-1])) if not above.all() else len(above))
        run = tail[start:]
        if len(run) < STOPPED_POINTS:
            continue
        fraction = float(run.min())
        count = int(round(fraction * units))
        if count < DEAD_MIN_UNITS:
            continue
        done.add(v.layer)
        severity = "warning" if fraction >= DEAD_WARNING_FRACTION else "info"
        step = int(steps[start])
        message = (
            "%d of %s's %d units (%.0f%%) have not changed since step %d: they no longer learn (dead ReLUs or "
            "saturated units)"
        ) % (count, said(v.layer), units, 100 * fraction, step)
        found.append(finding("dead_units", severity, v.layer, [v.name], step, message, {
            "units": units, "dead_units": count, "dead_fraction": fraction,
            "latest_fraction": float(tail[-1]), "points": len(run),
        }, "lower the learning rate, try LeakyReLU/GELU or a better initialisation"))
    return found


def _lr_too_high(kernels):
    """Most kernels move by a large part of their own norm per step: a burst
    early on, or a lasting pace."""
    if not kernels:
        return []
    steps, matrix = rates.aligned(kernels, "jump")
    with rates.quiet():
        median = np.nanmedian(matrix, axis=0)
        gaps = np.nan_to_num(np.nanmax(rates.aligned(kernels, "gap")[1], axis=0), nan=0.0)
    high = median >= HIGH_RATIO
    covered = float(np.sum(gaps[high]))
    if covered >= HIGH_MIN_STEPS:
        first = int(np.argmax(high))
        column = matrix[:, first]
        when = "From step %d to %d" % (int(steps[first] - gaps[first]), int(steps[first]))
    else:
        steps, matrix = rates.aligned(kernels, "rate")
        with rates.quiet():
            median = np.nanmedian(matrix, axis=0)
            typical = np.nanmedian(median)
        if not (np.isfinite(median).sum() >= STOPPED_POINTS and typical >= SUSTAINED_HIGH_RATIO):
            return []
        first = int(np.argmax(median >= SUSTAINED_HIGH_RATIO))
        median[first] = typical  # the message and evidence give the run's median
        with rates.quiet():
            column = np.nanmedian(matrix, axis=1)
        when = "From step %d on" % int(steps[first])
    lead = kernels[int(np.nanargmax(np.where(np.isfinite(column), column, -np.inf)))]
    names = [k.name for k, r in zip(kernels, column) if r >= HIGH_RATIO] or [lead.name]
    message = "%s the median layer's weights moved %s their norm per step (healthy: about %.2g%%), most in %s" % (
        when, _pct(median[first]), 100 * HEALTHY_RATIO, said(lead.layer))
    return [finding("lr_too_high", "warning", lead.layer, names, int(steps[first]), message, {
        "median_ratio_per_step": float(median[first]), "steps_above": covered,
        "threshold": HIGH_RATIO if covered >= HIGH_MIN_STEPS else SUSTAINED_HIGH_RATIO,
        "ratio_per_step": _by_name(kernels, column),
    }, "lower the learning rate (try 10x lower) or add warmup", ": ")]


def _gradient_max(v):
    """The largest logged gradient norm of ``v`` after its first point (0 when none was logged)."""
    g = v.stats.get("grad_norm", np.array([]))[1:]
    g = g[np.isfinite(g)]
    return float(g.max()) if g.size else 0.0


def _never_moved(views):
    """Kernels that never changed while the rest of the model trained: a warning when they
    had gradients (the optimizer was not given them), else an info (frozen on purpose, or
    no gradient reaches them)."""
    if not any(v.moved for v in views):
        return []
    still = [v for v in views if v.is_kernel and not v.moved and np.sum(v.update == 0) >= STOPPED_POINTS]
    if not still:
        return []
    graded = [v for v in still if _gradient_max(v) > 0]
    if graded:
        lead = graded[0]
        layers = list(dict.fromkeys(v.layer for v in graded))
        what = said(lead.layer) if len(layers) == 1 else "%d layers (first: %s)" % (len(layers), said(lead.layer))
        message = (
            "%s never changed (update norm exactly 0 from step %d to %d) although it had gradients (norm up to %s) "
            "while other layers trained: the optimizer does not update it"
        ) % (what, int(lead.steps[1]), int(lead.steps[-1]), fmt(_gradient_max(lead)))
        return [finding("updates_stopped", "warning", lead.layer, [v.name for v in graded], int(lead.steps[1]),
                        message, {"layers": layers, "never_moved": True, "gradient_norm_max": _gradient_max(lead)},
                        "build the optimizer from all of the model's parameters (model.parameters()), or freeze the "
                        "layer (requires_grad=False, trainable=False) if that is the intent")]
    lead = still[0]
    layers = list(dict.fromkeys(v.layer for v in still))
    what = said(lead.layer) if len(layers) == 1 else "%d layers (first: %s)" % (len(layers), said(lead.layer))
    start, end = int(lead.steps[1]), int(lead.steps[-1])
    message = (
        "%s never changed (update norm exactly 0 from step %d to %d) while other layers trained: frozen on "
        "purpose, or it gets no gradient (units dead from the start, or not connected to the loss)."
    ) % (what, start, end)
    return [finding("updates_stopped", "info", lead.layer, [v.name for v in still], start, message, {
        "layers": layers, "never_moved": True,
    })]


def _lr_too_low(kernels):
    """Even the fastest-moving kernel moves far less than ~1e-3 per step early on."""
    speeds = []
    for k in kernels:
        r = k.rate[: max(1, len(k.rate) // 2 + 1)]
        r = r[np.isfinite(r)]
        if len(r) >= STOPPED_POINTS:
            speeds.append((float(np.median(r)), k))
    if not speeds:
        return []
    fastest, lead = max(speeds, key=lambda x: x[0])
    if fastest >= SLOW_RATIO:
        return []
    severity = "warning" if fastest < LOW_RATIO else "info"
    step = int(lead.steps[1]) if len(lead.steps) > 1 else int(lead.steps[0])
    message = (
        "Even the fastest-moving layer, {}, moves only {} of its weights' norm per step in the first half of "
        "the run, about {:,}x below the ~{} rule of thumb"
    ).format(
        said(lead.layer), fmt(fastest), _round_factor(HEALTHY_RATIO / max(fastest, 1e-300)), fmt(HEALTHY_RATIO))
    return [finding("lr_too_low", severity, lead.layer, [k.name for _, k in speeds], step, message, {
        "fastest_ratio_per_step": fastest,
        "ratio_per_step": {k.name: r for r, k in speeds},
        "threshold": LOW_RATIO if severity == "warning" else SLOW_RATIO,
    }, "raise the learning rate (unless you are fine-tuning on purpose)", ": ")]


def _vanishing_updates(kernels):
    """Early kernels move orders of magnitude less than late ones."""
    rated = []
    for k in kernels:
        r = k.rate[np.isfinite(k.rate)]
        if len(r):
            rated.append((float(np.median(r)), k))
    if len(rated) < 3:
        return []
    third = max(1, len(rated) // 3)
    early, late = rated[:third], rated[-third:]
    early_ratio = float(np.median([r for r, _ in early]))
    late_ratio = float(np.median([r for r, _ in late]))
    if not (late_ratio > 0 and early_ratio * VANISHING_FACTOR <= late_ratio):
        return []
    slowest, lead = min(early, key=lambda x: x[0])
    fastest, top = max(late, key=lambda x: x[0])
    factor = late_ratio / max(early_ratio, 1e-300)
    # From which step: the first point where the early/late gap already holds.
    steps, matrix = rates.aligned([k for _, k in early + late], "rate")
    step = int(lead.steps[1]) if len(lead.steps) > 1 else int(lead.steps[0])
    if len(steps):
        with rates.quiet():
            gap = np.nanmedian(matrix[len(early):], axis=0) / np.nanmedian(matrix[: len(early)], axis=0)
        hit = np.flatnonzero(gap >= VANISHING_FACTOR)
        if len(hit):
            step = int(steps[hit[0]])
    message = (
        "From step {} the first layers update about {:,}x less than the last ({}: {} of its weights' norm per "
        "step, {}: {}): gradients vanish on the way back"
    ).format(step, _round_factor(factor), said(lead.layer), fmt(slowest), said(top.layer), fmt(fastest))
    return [finding("vanishing_updates", "warning", lead.layer, [k.name for _, k in early], step, message, {
        "early_ratio_per_step": early_ratio, "late_ratio_per_step": late_ratio, "factor": factor,
        "ratio_per_step": {k.name: r for r, k in rated},
    }, "use ReLU-family activations, He/Glorot initialisation, normalisation or residual connections (ignore if "
       "early layers get a lower learning rate on purpose)")]


def _exploding_weights(kernels):
    """Kernels whose norm grew many times and is still growing at the end, or
    grew by orders of magnitude (``EXPLODED_GROWTH``) and stayed there.

    ``kernels``: read up to the first NaN/Inf only, not cut where their updates
    stopped: a layer that exploded and then died keeps its exploded norm."""
    hits = []
    for k in kernels:
        hit = _explosion(k)
        if hit is not None:
            hits.append(hit + (k,))
    if not hits:
        return []
    growth, recent, _, base, lead = max(hits, key=lambda h: h[0])
    step = min(h[2] for h in hits)
    if recent >= EXPLODING_RECENT_GROWTH:
        how = "and %sx over the last half of the run, still rising at step %d" % (fmt(recent), int(lead.steps[-1]))
    else:
        how = "and stayed there through step %d (it exploded, then stopped growing)" % int(lead.steps[-1])
    message = "%s's weight norm grew %sx since step %d (past %gx at step %d) %s" % (
        said(lead.layer), fmt(growth), base, EXPLODING_GROWTH, step, how)
    return [finding("exploding_weights", "error", lead.layer, [h[4].name for h in hits], step, message, {
        "growth": {h[4].name: float(h[0]) for h in hits},
        "recent_growth": {h[4].name: float(h[1]) for h in hits},
        "threshold": EXPLODING_GROWTH,
    }, "lower the learning rate, add weight decay or gradient clipping, or normalise the inputs", ": ")]


def _explosion(k):
    """``(growth, recent growth, step past EXPLODING_GROWTH, first step)`` of kernel ``k``, or None.

    >>> k = rates.TensorView(TensorSeries("d/kernel", (8, 8), np.arange(0, 40, 10),
    ...                      {"norm": np.array([4.6, 9.6e8, 9.6e8, np.nan]), "update_norm": np.ones(4)}))
    >>> [float("%.2g" % x) for x in _explosion(k)]
    [210000000.0, 1.0, 10.0, 0.0]
    """
    norm = k.norm
    ok = np.flatnonzero(np.isfinite(norm) & (norm > 0))
    if len(ok) < 2:
        return None
    first, last = norm[ok[0]], norm[ok[-1]]
    growth, recent = last / first, last / norm[ok[len(ok) // 2]]
    still = len(ok) >= 4 and recent >= EXPLODING_RECENT_GROWTH
    # From a zero start (ok[0] > 0) the first non-zero norm is one step's size: no scale to grow from.
    exploded = ok[0] == 0 and growth >= EXPLODED_GROWTH
    if not (growth >= EXPLODING_GROWTH and (still or exploded)):
        return None
    past = ok[norm[ok] >= first * EXPLODING_GROWTH]
    return growth, recent, int(k.steps[past[0]]), int(k.steps[ok[0]])


# -- helpers --------------------------------------------------------------------


def _column(tensor, field):
    values = tensor.stats.get(field)
    if values is None:
        return np.zeros(len(tensor.steps))
    return np.asarray(values, np.float64)


def _by_name(views, values):
    return {v.name: (float(x) if np.isfinite(x) else None) for v, x in zip(views, values)}


def fmt(x):
    """A short number for a message: ``fmt(0.00123)`` -> ``'0.0012'``, ``fmt(4.1e-06)`` -> ``'4.1e-06'``."""
    return "%.2g" % x


def said(layer):
    """A layer as a message names it; a bare index (a torch ``Sequential``'s child) reads as a layer.

    >>> said("dense_1"), said("2"), said("features/3")
    ('dense_1', 'layer 2', 'features/3')
    """
    layer = str(layer)
    return "layer " + layer if layer[:1].isdigit() else layer


def _pct(x):
    """A ratio for "moved ... their norm".

    ``0.001`` -> ``'0.1% of'``, ``0.42`` -> ``'42% of'``, ``15.3`` -> ``'15 times'``.
    """
    if x >= 1:
        return "%.2g times" % x
    return ("%.2g%% of" if 100 * x < 10 else "%.0f%% of") % (100 * x)


def _round_factor(x):
    """A factor rounded to one significant digit, at least 1: 37 -> 40."""
    if not (x > 1):
        return 1
    digits = 10 ** math.floor(math.log10(x))
    return int(round(x / digits) * digits)


def finding(kind, severity, layer, tensors, step, message, evidence, advice=None, joint="; "):
    """One finding as every rule returns it (docs/findings.md): ``evidence`` is
    made strict JSON (floats to 4 significant digits, NaN/Inf as None).

    >>> finding("nan", "error", "dense", ["dense/kernel"], 3, "...", {"max": float("inf")})["evidence"]
    {'max': None}

    ``advice``, what to try, ends the message after ``message`` (what was seen) and
    ``joint``, and is kept as ``advice`` too (None: the message advises nothing), so
    a cause can replace it (``compose.nest``).

    >>> f = finding("lr_too_low", "warning", "d", [], 5, "d moves 1e-6 per step", {}, "raise the lr", ": ")
    >>> f["message"], f["advice"], seen(f)
    ('d moves 1e-6 per step: raise the lr.', 'raise the lr', 'd moves 1e-6 per step')
    """
    return {
        "kind": kind,
        "severity": severity,
        "layer": layer,
        "tensors": list(tensors),
        "step": int(step),
        "message": message if advice is None else "%s%s%s." % (message, joint, advice),
        "evidence": metadata.json_value(evidence, digits=4),
        "advice": advice,
    }


def retold(f, seen_text, advice):
    """A copy of finding ``f`` whose message says ``seen_text``, then ``advice`` (None: none).

    >>> retold({"kind": "k", "message": "old.", "advice": "old"}, "x moved", "fix y first")["message"]
    'x moved; fix y first.'
    """
    return dict(f, message="%s; %s." % (seen_text, advice) if advice else seen_text + ".", advice=advice or None)


def seen(f):
    """What finding ``f``'s message says was seen: the message without its ``advice`` and the
    punctuation before it (the whole message, without its final full stop, when it gives none)."""
    message, advice = f["message"].rstrip("."), f.get("advice")
    if advice and message.endswith(advice):
        message = message[: len(message) - len(advice)].rstrip(" :;,")
    return message
