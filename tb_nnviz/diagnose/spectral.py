"""Spectral metrics of logged eigenvalues, with WeightWatcher 0.7.7's definitions: pure.

Eigenvalues in (as ``tb_nnviz.reduce.spectrum`` logs them: ``[slices, evals]``), metrics
out. The empirical spectral density (ESD) of a tensor is the pooled
eigenvalues of all its matrices, normalised as WeightWatcher does by default
(``conv2d_norm=True``: a Conv2D kernel's are halved). Then, as in
``WeightWatcher.analyze()`` with its defaults:

- ``alpha``: exponent of a power law fitted to the ESD's tail, by maximum
  likelihood for each candidate ``xmin`` (every eigenvalue above 1e-5), the
  ``xmin`` with the smallest Kolmogorov-Smirnov distance chosen (Clauset,
  Shalizi and Newman 2009); WeightWatcher's own fit (``pl_package="ww"``, its
  default), including its small-sample variant below 20 eigenvalues;
- ``num_tail``: eigenvalues >= ``xmin`` (WeightWatcher's ``num_pl_spikes``);
- ``spectral_norm``: the largest eigenvalue; ``log_norm``: log10 of their sum
  (the squared Frobenius norm); ``stable_rank``: sum / largest;
  ``alpha_weighted``: alpha * log10(spectral_norm).

A tensor with fewer than ``MIN_EVALS`` eigenvalues gets no alpha
(WeightWatcher skips such layers); norms are given for any.

Why not the ``powerlaw`` package: WeightWatcher 0.7.7 uses it only when asked
(``pl_package="powerlaw"``, which also fails with powerlaw 2.0: its ``Fit``
no longer takes the ``distribution`` argument WeightWatcher passes); its
default is its own ``WW_powerlaw.WWFit``, a few lines of numpy, reproduced
here and tested equal to it. ``powerlaw.Fit`` chooses ``xmin`` differently
and gave alphas up to 6 lower on the demo's spectra (``lr_too_low``'s first
kernel: 2.16 against WeightWatcher's 8.37; ``healthy``'s second: 2.73
against 3.21), far outside the 0.05 this module is held to.

>>> rng = np.random.default_rng(0)
>>> w = rng.standard_t(3, size=(400, 200)) / 20  # heavy-tailed entries
>>> evals = (np.linalg.svd(w, compute_uv=False) ** 2)[None]
>>> m = metrics(evals, {"treatment": "matrix", "shape": [400, 200]})
>>> round(m["alpha"], 2), m["num_tail"], round(m["stable_rank"], 1)
(5.78, 18, 46.2)
"""

import math
import typing

import numpy as np

from tb_nnviz.diagnose import findings

#: Fewer pooled eigenvalues than this: no power-law fit (WeightWatcher's
#: ``min_evals``, below which it skips a layer).
MIN_EVALS = 8
#: Only eigenvalues above this take part in the fit (WeightWatcher's ``EVALS_THRESH``).
EVALS_THRESH = 1e-5
#: Below this many fitted eigenvalues WeightWatcher switches to its small-sample fit.
SMALL_N = 20
#: Metric names, in the order the route returns them.
METRICS = ("alpha", "alpha_weighted", "stable_rank", "spectral_norm", "log_norm", "num_tail", "xmin", "D")


def esd(evals, content):
    """The pooled, normalised eigenvalues of one logged step, sorted ascending (float64).

    ``content`` is the spectrum's metadata content; a rank-4 conv kernel's
    eigenvalues are halved (WeightWatcher's default ``conv2d_norm``: each
    ``in x out`` slice scaled by sqrt(1/2)).

    >>> esd(np.array([[4.0, 2.0], [1.0, 0.0]]), {"treatment": "conv", "shape": [1, 2, 2, 3]}).tolist()
    [0.0, 0.5, 1.0, 2.0]
    """
    values = np.sort(np.asarray(evals, np.float64).reshape(-1))
    if content.get("treatment") == "conv" and len(content.get("shape", ())) == 4:
        values = values * 0.5
    return values


def fit_power_law(values):
    """``(alpha, xmin, D)`` of WeightWatcher's power-law fit of ``values``
    (sorted ascending), or ``(nan, nan, nan)`` when it cannot be fitted.

    >>> alpha, xmin, d = fit_power_law(np.sort(1 + np.random.default_rng(1).pareto(2.0, 500)))
    >>> round(alpha, 1)
    3.0
    """
    data = np.asarray(values, np.float64)
    data = data[data > EVALS_THRESH]
    if len(data) < 2 or not np.isfinite(data).all():
        return math.nan, math.nan, math.nan
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if len(data) < SMALL_N:
            return _fit_small(data)
        return _fit_standard(data)


#: ``_fit_standard`` computes every candidate xmin at once up to this many
#: eigenvalues (a square of that many float64s); above, one xmin at a time.
#: Measured: 64 eigenvalues 0.6 ms against 1.7 ms; 512 even; 1,024 slower.
_FIT_AT_ONCE = 512


def _fit_standard(data):
    """``WW_powerlaw.WWFit.fit_power_law_standard``: the plain MLE at every
    candidate xmin, the one with the smallest KS distance. Up to
    ``_FIT_AT_ONCE`` eigenvalues as one 2-D computation (the alpha findings
    fit every logged step of every layer); above, a loop like WeightWatcher's:
    it outran a blocked 2-D version (0.27 s against 0.98 s for 4,608
    eigenvalues)."""
    n_all = len(data)
    if n_all <= _FIT_AT_ONCE:
        return _fit_standard_at_once(data)
    log_data = np.log(data)
    alphas, ds = np.zeros(n_all - 1), np.ones(n_all - 1)
    for i in range(n_all - 1):
        n = float(n_all - i)
        alphas[i] = alpha = 1 + n / (np.sum(log_data[i:]) - n * log_data[i])
        if alpha > 1:
            ds[i] = np.max(np.abs(1 - (data[i:] / data[i]) ** (-alpha + 1) - np.arange(n) / n))
    best = int(np.argmin(ds))
    return float(alphas[best]), float(data[best]), float(ds[best])


def _fit_standard_at_once(data):
    """``_fit_standard`` with every candidate xmin in one 2-D computation
    (equal up to rounding: the tail sums are a cumulative sum)."""
    n_all = len(data)
    log_data = np.log(data)
    n = n_all - np.arange(n_all - 1, dtype=np.float64)
    tail_sums = np.cumsum(log_data[::-1])[::-1][:-1]  # sum(log_data[i:]) for each i
    alphas = 1 + n / (tail_sums - n * log_data[:-1])
    ds = np.ones(n_all - 1)
    rows = np.flatnonzero(alphas > 1)
    if len(rows):
        j = np.arange(n_all)
        gap = np.abs(1 - (data / data[rows, None]) ** (1 - alphas[rows, None]) - (j - rows[:, None]) / n[rows, None])
        gap[j < rows[:, None]] = 0  # only the tail from each xmin on
        ds[rows] = gap.max(axis=1)
    best = int(np.argmin(ds))
    return float(alphas[best]), float(data[best]), float(ds[best])


def _fit_small(data, k_min=8):
    """``WW_powerlaw.WWFit.fit_powerlaw_smallN`` as WeightWatcher 0.7.7 runs
    it: bias-corrected MLE at every xmin leaving a tail of at least ``k_min``;
    its own choice of xmin (KS distance minus 0.868 / sqrt(tail size)) is then
    overridden by ``WWFit.__init__``, which takes the smallest KS distance, so
    that is what is done here too."""
    n_all = len(data)
    log_data = np.log(data)
    alphas, ds = np.zeros(n_all - 1), np.ones(n_all - 1)
    fitted = False
    for i in range(n_all - 1):
        n = float(n_all - i)
        s = np.sum(log_data[i:]) - n * log_data[i]
        if n < k_min or s <= 1e-12:
            continue
        alphas[i] = alpha = 1.0 + (n - 1.0) / s
        if alpha <= 1.0:
            continue
        ds[i] = np.max(np.abs(np.arange(n_all - i) / n - (1.0 - (data[i:] / data[i]) ** (1.0 - alpha))))
        fitted = True
    if not fitted:  # WeightWatcher then fits the whole sample, or gives up
        s = np.sum(log_data) - n_all * log_data[0]
        if s <= 1e-12:
            return math.nan, math.nan, math.nan
        alphas[0] = alpha = 1.0 + (n_all - 1.0) / s
        ds[0] = np.max(np.abs(np.arange(n_all) / n_all - (1.0 - (data / data[0]) ** (1.0 - alpha))))
    best = int(np.argmin(ds))
    return float(alphas[best]), float(data[best]), float(ds[best])


def metrics(evals, content):
    """The metrics of one logged step: ``{name: float or None}`` for ``METRICS``
    plus ``num_evals``; None where undefined (non-finite eigenvalues, a zero
    matrix, no fit).

    >>> metrics(np.array([[4.0, 1.0]]), {"treatment": "matrix", "shape": [2, 2]})["stable_rank"]
    1.25
    """
    values = esd(evals, content)
    out = dict.fromkeys(METRICS)
    out["num_evals"] = int(len(values))
    if not len(values) or not np.isfinite(values).all():
        return out
    total, top = float(values.sum()), float(values[-1])
    if top > 0 and total > 0:  # eigenvalues of W^T W are >= 0; a damaged log may hold others
        out.update(spectral_norm=top, log_norm=math.log10(total), stable_rank=total / top)
    if len(values) >= MIN_EVALS:
        alpha, xmin, d = fit_power_law(values)
        if math.isfinite(alpha):
            out.update(alpha=alpha, xmin=xmin, D=d, num_tail=int(np.sum(values >= xmin)))
            if top > 0:
                out["alpha_weighted"] = alpha * math.log10(top)
    return {k: (v if not isinstance(v, float) or math.isfinite(v) else None) for k, v in out.items()}


# -- findings -------------------------------------------------------------------

#: alpha_low: the latest alpha of a layer below this. Martin & Mahoney (JMLR
#: 2021; Nature Communications 2021) find the alphas of well-trained layers
#: between about 2 and 6; WeightWatcher labels a layer below 2 "over-trained".
ALPHA_LOW = 2.0
#: alpha_high: the latest alpha above this ("under-trained" in WeightWatcher).
ALPHA_HIGH = 6.0
#: The alpha findings read only tensors with at least this many pooled
#: eigenvalues: with fewer, the KS-chosen tail holds a handful of values and
#: alpha swings by whole units between neighbouring steps (the digits MLP's
#: 10-unit output layer: 10 eigenvalues, WeightWatcher's small-sample fit).
MIN_FINDING_EVALS = 50


class AlphaSeries(typing.NamedTuple):
    """One tensor's alpha over its logged spectrum steps (None where undefined)."""

    name: str
    order: typing.Optional[int]
    steps: np.ndarray
    alpha: list
    num_evals: list
    num_tail: list


def alpha_findings(series, blown=False):
    """``alpha_low`` and ``alpha_high`` findings of ``AlphaSeries`` (one per
    tensor at most): its latest alpha is outside [ALPHA_LOW, ALPHA_HIGH]; the
    step is where that last began. Tensors with fewer than
    ``MIN_FINDING_EVALS`` eigenvalues are never reported. ``blown``: the run
    has an ``lr_too_high`` finding; a low alpha then comes from the too-large
    steps rather than from training too long, so it is reported as ``info``
    pointing at that cause.

    >>> s = AlphaSeries("mlp/dense_1/kernel", 0, np.array([0, 10, 20]), [3.1, 1.9, 1.7], [256] * 3, [40] * 3)
    >>> [(f["kind"], f["severity"], f["layer"], f["step"]) for f in alpha_findings([s])]
    [('alpha_low', 'info', 'mlp/dense_1', 10)]
    """
    found = []
    for t in series:
        alpha = np.array([np.nan if a is None else a for a in t.alpha], np.float64)
        ok = np.flatnonzero(np.isfinite(alpha))
        if not len(ok) or (t.num_evals[ok[-1]] or 0) < MIN_FINDING_EVALS:
            continue
        values, steps = alpha[ok], np.asarray(t.steps)[ok]
        latest = values[-1]
        if latest < ALPHA_LOW:
            # Never a warning: WeightWatcher's band was measured on trained models' large layers
            # (hundreds of eigenvalues); on the corpus's healthy runs a 64x64 layer reads 1.6-1.9.
            outside, kind, severity = values < ALPHA_LOW, "alpha_low", "info"
        elif latest > ALPHA_HIGH:
            outside, kind, severity = values > ALPHA_HIGH, "alpha_high", "info"
        else:
            continue
        start = len(outside) - int(np.argmin(outside[::-1])) if not outside.all() else 0
        layer = t.name.rpartition("/")[0] or t.name
        step, last = int(steps[start]), int(steps[-1])
        tail = t.num_tail[ok[-1]]
        if kind == "alpha_low" and blown:
            severity = "info"
            message = (
                "%s's eigenvalue spectrum has a power-law exponent alpha of %.2f at step %d (below %g since step "
                "%d; %s of its %d eigenvalues in the fitted tail): here it follows the too-large steps that "
                "lr_too_high reports, not long training"
            ) % (
                findings.said(layer), latest, last, ALPHA_LOW, step, tail, t.num_evals[ok[-1]])
            advice = "lower the learning rate"
        elif kind == "alpha_low":
            message = (
                "%s's eigenvalue spectrum has a power-law exponent alpha of %.2f at step %d (below %g since step "
                "%d; %s of its %d eigenvalues in the fitted tail): WeightWatcher reads alpha < 2 as over-trained, "
                "but a spectrum this small cannot say so on its own"
            ) % (
                findings.said(layer), latest, last, ALPHA_LOW, step, tail, t.num_evals[ok[-1]])
            advice = "compare the validation loss before adding regularisation"
        else:
            message = (
                "%s's eigenvalue spectrum has a power-law exponent alpha of %.2f at step %d (above %g since step "
                "%d; %s of its %d eigenvalues in the fitted tail): WeightWatcher reads alpha > 6 as under-trained, "
                "weights still close to random"
            ) % (
                findings.said(layer), latest, last, ALPHA_HIGH, step, tail, t.num_evals[ok[-1]])
            advice = "train longer or with a larger learning rate, or the layer may have more units than the task needs"
        found.append(findings.finding(kind, severity, layer, [t.name], step, message, {
            "alpha": float(latest), "threshold": ALPHA_LOW if kind == "alpha_low" else ALPHA_HIGH,
            "num_evals": t.num_evals[ok[-1]], "num_tail": tail, "last_step": last,
        }, advice))
    return found


def with_alpha_findings(found, series):
    """``found`` (``findings.evaluate``'s list) with the alpha findings of
    ``series`` added, in its order (``findings.ordered``)."""
    extra = alpha_findings(series, blown=any(f.get("kind") == "lr_too_high" for f in found))
    if not extra:
        return found
    return findings.ordered(found + extra)
