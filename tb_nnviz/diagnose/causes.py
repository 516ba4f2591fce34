"""Causes the update ratios alone misread: symmetric and badly scaled starts, early explosions,
gradients that pile up, weights that weight decay shrinks away. Pure rules over
``rates.TensorSeries`` (and the optional ``evidence.RunInfo``).

A start where every entry of two consecutive kernels is equal (all 0, or one
constant) leaves every unit of the layer between them identical:

>>> steps = np.arange(0, 60, 10)
>>> zero = {"norm": np.zeros(6), "update_norm": np.r_[np.nan, np.zeros(5)], "std": np.zeros(6)}
>>> ts = [rates.TensorSeries("d%d/kernel" % i, (64, 64), steps, zero, i) for i in (1, 2)]
>>> [(f["kind"], f["severity"], f["layer"]) for f in symmetric_units(ts)]
[('symmetric_units', 'error', 'd1')]

Thresholds and their sources: docs/findings.md.
"""

import numpy as np

from tb_nnviz.diagnose import findings, rates

#: symmetric_units: a kernel's entries are equal when their spread (max - min,
#: or the standard deviation) is at most this fraction of their magnitude
#: (float32 resolves 2^-24 ~ 6e-8 of a value: a random init is never this flat).
EQUAL_SPREAD = 1e-6
#: early_explosion: the median kernel's norm grew at least this many times over
#: one logged interval (weights replaced within a few steps). Measured on the
#: corpus's healthy runs: at most 1.25x over any interval (an LSTM under Adam
#: 1e-2); the demo's lr_too_high 16-40x in the first steps.
EXPLOSION_GROWTH = 2.0
#: gradients_accumulating: the median kernel's logged gradient norm grew at
#: least this many times (median of the last quarter against the first) ...
ACCUMULATING_GROWTH = 3.0
#: The start the growth is measured from: the median of this many first points.
ACCUMULATING_START_POINTS = 3
#: ... rising steadily (Spearman rank correlation with the step at least this) ...
ACCUMULATING_TREND = 0.8
#: ... while the median kernel's weight norm grew at least this many times
#: (a gradient that is the sum of every past gradient moves weights linearly or faster).
ACCUMULATING_WEIGHT_GROWTH = 3.0
#: weights_shrinking: the median kernel's norm fell to at most this fraction of its
#: first value (an order of magnitude). Healthy runs of the corpus: at least 0.9.
SHRINK_FRACTION = 0.1
#: Rules that compare a start with an end need at least this many points.
MIN_POINTS = 4
#: poor_initialization: a kernel's initial standard deviation, in units of
#: 1/sqrt(fan_in) (LeCun: 1; He: 1.41; Glorot: 0.2-1.4 as fan_out/fan_in runs from
#: 25 to 1/25; PyTorch's default: 0.58; BERT's 0.02 at width 768: 0.55), is out of
#: range at or above this ... (the corpus's broken starts: 5.9 and 22 by their quartiles;
#: defaults at most 3.5; a tanh or sigmoid layer saturates and a ReLU stack's
#: activations grow by about this factor per layer) ...
INIT_HIGH = 5.0
#: ... or at or below this (a signal shrinking 20x per layer vanishes within a few layers;
#: GPT-2's scaled residual projections: 0.11) ...
INIT_LOW = 0.05
#: ... in at least this fraction of the kernels (one special layer, such as a zero
#: or small output head, is a choice, not a mistake) ...
INIT_FRACTION = 0.5
#: ... of at least this many kernels (a shallow model tolerates a scale a deep one does not).
INIT_MIN_KERNELS = 2


def kernels_of(tensors):
    """``TensorView``s of the kernels (rank >= 2, ``findings.MIN_SIZE`` entries) in network order."""
    views = [rates.TensorView(t, None, findings.MIN_SIZE) for t in rates.in_network_order(tensors)]
    return [v for v in views if v.is_kernel and len(v.steps)]


def _flat_at_start(v):
    """Whether every entry of ``v`` was equal at its first logged point."""
    norm = v.norm[0] if len(v.norm) else np.nan
    if norm == 0:
        return True
    if not np.isfinite(norm):
        return False
    scale = norm / np.sqrt(max(v.size, 1))  # the entries' root mean square
    lo, hi, std = (v.stats.get(k, [np.nan])[0] for k in ("min", "max", "std"))
    if np.isfinite(lo) and np.isfinite(hi):
        return hi - lo <= EQUAL_SPREAD * scale
    return bool(np.isfinite(std) and std <= EQUAL_SPREAD * scale)


def symmetric_units(tensors):
    """Two consecutive kernels (network order) both start with all entries equal:
    every unit between them computes the same function and gets the same
    gradient, so they stay identical (one zero-initialised layer after a random
    one, as LoRA's B matrix, is not symmetric and is not reported)."""
    kernels = kernels_of(tensors)
    flat = [_flat_at_start(k) for k in kernels]
    hits = [kernels[i] for i in range(len(kernels)) if flat[i] and (
        (i + 1 < len(kernels) and flat[i + 1]) or (i > 0 and flat[i - 1]))]
    if not hits:
        return []
    lead = hits[0]
    zero = all(k.norm[0] == 0 for k in hits)
    what = "0" if zero else "one constant"
    layers = list(dict.fromkeys(k.layer for k in hits))
    message = (
        "%s started with every weight equal (%s)%s: every unit of a layer then computes the same function and gets "
        "the same gradient, so the units stay identical and the layer is as good as one unit"
    ) % (", ".join(map(findings.said, layers)), what, " at step %d" % int(lead.steps[0]))
    return [findings.finding("symmetric_units", "error", lead.layer, [k.name for k in hits], int(lead.steps[0]),
                             message, {"layers": layers, "all_zero": zero, "threshold": EQUAL_SPREAD},
                             "initialise randomly (He/Glorot), not with zeros or a constant")]


def init_scale(v):
    """A kernel's first logged standard deviation times sqrt(fan_in) (fan_in: its
    entries per output unit), or NaN when unknown or all zero (``symmetric_units``' case)."""
    first = {k: v.stats[k][0] for k in ("std", "q25", "q75") if k in v.stats and len(v.stats[k])}
    # Robust where the quartiles are logged: (q75 - q25) / 1.349 is a Gaussian's std, and a
    # heavy-tailed start (a Cauchy layer) is not called badly scaled for its few huge entries.
    iqr = first.get("q75", np.nan) - first.get("q25", np.nan)
    std = iqr / 1.349 if np.isfinite(iqr) and iqr > 0 else first.get("std", np.nan)
    if not np.isfinite(std) and len(v.norm):
        std = v.norm[0] / np.sqrt(max(v.size, 1))  # no mean: the root mean square
    if not (np.isfinite(std) and std > 0):
        return np.nan
    fan_in = v.size / max(v.units, 1)
    if "depthwise" in (v.description + v.name).lower() and len(v.shape) == 4 and v.shape[-1] < v.shape[-2]:
        fan_in = v.shape[0] * v.shape[1]  # Keras' (kh, kw, channels, multiplier): one channel per output
    return float(std * np.sqrt(fan_in))


def poor_initialization(tensors):
    """Most kernels start far from the scale that keeps a layer's output on the scale of
    its input (He/Glorot/LeCun: std ~ 1/sqrt(fan_in)): activations then grow, saturate or
    vanish layer by layer before training has a chance. Judged at step 0 only (a resumed
    run's first point is not an initialisation), embeddings left out (N(0, 1) is theirs)."""
    kernels = [k for k in kernels_of(tensors) if not k.is_embedding and k.steps[0] == 0]
    scales = [(init_scale(k), k) for k in kernels]
    scales = [(r, k) for r, k in scales if np.isfinite(r)]
    if len(scales) < INIT_MIN_KERNELS:
        return []
    for direction, test, bound in (("large", lambda r: r >= INIT_HIGH, INIT_HIGH),
                                   ("small", lambda r: r <= INIT_LOW, INIT_LOW)):
        hits = [(r, k) for r, k in scales if test(r)]
        if len(hits) < max(INIT_MIN_KERNELS, INIT_FRACTION * len(scales)):
            continue
        median = float(np.median([r for r, _ in hits]))
        lead = max(hits, key=lambda h: h[0] if direction == "large" else -h[0])[1]
        effect = ("activations grow about that much per layer (tanh and sigmoid saturate, ReLU outputs and the "
                  "first updates explode)" if direction == "large" else
                  "the signal and its gradients shrink about that much per layer and vanish in a deep model")
        message = (
            "%d of %d layers start with weights %sx the scale 1/sqrt(fan_in) (median; %s: %sx), where He, Glorot and "
            "the frameworks' defaults start between about 0.2x and 1.4x: %s"
        ) % (len(hits), len(scales), findings.fmt(median), findings.said(lead.layer), findings.fmt(init_scale(lead)),
             effect)
        return [findings.finding("poor_initialization", "warning", lead.layer, [k.name for _, k in hits], 0,
                                 message, {"scale": {k.name: r for r, k in hits}, "direction": direction,
                                           "threshold": bound},
                                 "use the default initialiser (Glorot in Keras, Kaiming-uniform in PyTorch) or He "
                                 "for ReLU")]
    return []


def early_explosion(tensors, symmetric=False):
    """The median kernel's norm grew ``EXPLOSION_GROWTH`` times or more within one
    logged interval: steps that replace the weights, averaged away in the
    per-step ratios when points are logged every 10-20 steps."""
    kernels = [k for k in kernels_of(tensors) if k.moved]
    if symmetric or not kernels:
        return []
    steps, norms = rates.aligned(kernels, "norm")
    if norms.shape[1] < 2:
        return []
    with rates.quiet():
        growth = norms[:, 1:] / norms[:, :-1]
        growth[~(norms[:, :-1] > 0)] = np.nan  # from 0: a symmetric start, not an explosion
        median = np.nanmedian(growth, axis=0)
    hit = np.flatnonzero(median >= EXPLOSION_GROWTH)
    if not len(hit):
        return []
    i = int(hit[0])
    column = growth[:, i]
    lead = kernels[int(np.nanargmax(np.where(np.isfinite(column), column, -np.inf)))]
    names = [k.name for k, g in zip(kernels, column) if g >= EXPLOSION_GROWTH]
    message = (
        "Between steps %d and %d the median layer's weight norm grew %sx (%s: %sx): an explosion inside one logged "
        "interval, which the per-step ratios average away"
    ) % (int(steps[i]), int(steps[i + 1]), findings.fmt(median[i]), findings.said(lead.layer),
         findings.fmt(np.nanmax(column)))
    return [findings.finding("early_explosion", "warning", lead.layer, names, int(steps[i + 1]), message, {
        "median_growth": float(median[i]), "growth": {k.name: float(g) for k, g in zip(kernels, column)},
        "threshold": EXPLOSION_GROWTH}, "lower the learning rate or add warmup and gradient clipping")]


def _spearman(x, y):
    rx, ry = np.argsort(np.argsort(x)), np.argsort(np.argsort(y))
    if np.std(rx) == 0 or np.std(ry) == 0:
        return 0.0
    return float(np.corrcoef(rx, ry)[0, 1])


def gradients_accumulating(tensors):
    """The logged gradient norms rise steadily and the weights grow with them:
    gradients added to the previous ones (``zero_grad`` forgotten)."""
    per = []
    for k in kernels_of(tensors):
        g = k.stats.get("grad_norm")
        if g is None:
            continue
        ok = np.isfinite(g) & (g > 0) & np.isfinite(k.norm)
        if ok.sum() < 2 * MIN_POINTS or not (k.norm[0] > 0):
            continue
        gs, steps = g[ok], k.steps[ok]
        q = max(1, len(gs) // 4)
        # From the first few points: a gradient that piles up grows fastest early (then SGD's
        # can settle at one value as the units die), so a first quarter's median hides it.
        growth = float(np.median(gs[-q:]) / np.median(gs[: min(q, ACCUMULATING_START_POINTS)]))
        per.append((growth, _spearman(steps, gs), float(k.norm[ok][-1] / k.norm[0]), k))
    if not per:
        return []
    growth = float(np.median([p[0] for p in per]))
    trend = float(np.median([p[1] for p in per]))
    weights = float(np.median([p[2] for p in per]))
    if not (growth >= ACCUMULATING_GROWTH and trend >= ACCUMULATING_TREND and weights >= ACCUMULATING_WEIGHT_GROWTH):
        return []
    lead = max(per, key=lambda p: p[0])[3]
    message = (
        "From step %d the gradient norms rose steadily, %sx over the run (median layer; %s: %sx), while the weight "
        "norms grew %sx: each step's gradient is added to the previous ones"
    ) % (int(lead.steps[1]), findings.fmt(growth), findings.said(lead.layer), findings.fmt(max(p[0] for p in per)),
         findings.fmt(weights))
    return [findings.finding("gradients_accumulating", "error", lead.layer, [p[3].name for p in per],
                             int(lead.steps[1]), message, {
                                 "gradient_growth": growth, "trend": trend, "weight_growth": weights,
                                 "threshold": ACCUMULATING_GROWTH},
                             "call optimizer.zero_grad() (or model.zero_grad()) every step, or divide by the steps "
                             "when accumulating on purpose")]


def weight_decay_of(run_info):
    """The optimizer's weight decay (largest over its parameter groups), or None."""
    opt = (run_info.optimizer if run_info is not None else None) or {}
    values = [opt.get("weight_decay")] + [g.get("weight_decay") for g in opt.get("param_groups") or ()
                                          if isinstance(g, dict)]
    values = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return max(values) if values else None


def weights_shrinking(tensors, run_info=None):
    """The median kernel's norm fell by an order of magnitude or more: weight
    decay (or a shrinking regulariser) outweighs the gradients. Its update
    ratios are then large only because the norm is small."""
    per = []
    for k in kernels_of(tensors):
        ok = np.flatnonzero(np.isfinite(k.norm) & (k.norm > 0))
        if len(ok) >= MIN_POINTS:
            per.append((float(k.norm[ok[-1]] / k.norm[ok[0]]), k, ok))
    if not per:
        return []
    fraction = float(np.median([p[0] for p in per]))
    if fraction > SHRINK_FRACTION:
        return []
    lead = min(per, key=lambda p: p[0])[1]
    decay = weight_decay_of(run_info)
    lr = (run_info.optimizer or {}).get("lr") if run_info is not None else None
    why = ("weight decay %s%s" % (findings.fmt(decay), " with lr %s" % findings.fmt(lr) if lr else "")
           if decay else "weight decay or another shrinking term")
    shrink = [p[1] for p in per if p[0] <= SHRINK_FRACTION]
    first = min(int(k.steps[np.argmax(k.norm <= k.norm[0] * SHRINK_FRACTION)]) for k in shrink)
    message = (
        "The weights shrank to %s of their first norm (median layer; %s: %s; below %s of it from step %d): %s "
        "pulls them to 0 faster than the gradients push; the large update ratios come from the small norms, not a "
        "high learning rate"
    ) % (findings.fmt(fraction), findings.said(lead.layer), findings.fmt(min(p[0] for p in per)),
         findings.fmt(SHRINK_FRACTION), first, why)
    return [findings.finding("weights_shrinking", "error", lead.layer, [k.name for k in shrink], first, message, {
        "norm_fraction": fraction, "weight_decay": decay, "threshold": SHRINK_FRACTION},
        "lower the weight decay (AdamW: 1e-4 to 0.1)")]
