"""A per-step training loss (a PyTorch loop's ``loss`` scalar) judged on
smoothed values: ``loss_plateau`` (it stays near where it started) and
``loss_rising`` (it ends well above its best). One noisy batch is no trend:
medians over windows of ``WINDOW`` points.

>>> steps = np.arange(300)
>>> flat = loss_findings.Curves("r", loss_findings.Curve(steps, 2.3 + 0.01 * np.sin(steps)), unit="step")
>>> [f["kind"] for f in evaluate(flat)]
['loss_plateau']
"""

import numpy as np

from tb_nnviz.diagnose import findings, loss_findings

#: Points per smoothing window (median).
WINDOW = 10
#: loss_plateau: the median of the last third is still at least this fraction
#: of the first window's (the rule ``underfitting`` applies to epoch losses
#: without accuracy: it learned almost nothing) ...
PLATEAU_FRACTION = loss_findings.FAR_FROM_FLOOR
#: ... over at least this many points in the last third (a healthy run's first
#: 30-50 batches can sit at the initial loss; the corpus's healthy MLPs are at
#: 45-70% of it by step 100).
PLATEAU_MIN_POINTS = 50
#: loss_rising: the last third's median at least this many times the lowest
#: smoothed value before it, and above the first window's.
RISING_FACTOR = 1.5


def _smoothed(values):
    n = len(values) // WINDOW
    return np.array([np.median(values[i * WINDOW:(i + 1) * WINDOW]) for i in range(n)])


def judges(curves):
    """Whether ``evaluate`` can judge ``curves``: a per-step training loss of at
    least ``3 * PLATEAU_MIN_POINTS`` finite points."""
    train = loss_findings._finite(curves.train_loss)
    return curves.unit == "step" and train is not None and len(train.values) // 3 >= PLATEAU_MIN_POINTS


def evaluate(curves, pace=None):
    """``loss_plateau`` / ``loss_rising`` of a per-step loss without accuracy
    (with accuracy, or per epoch, ``loss_findings.underfitting`` judges). With the
    kernels' ``loss_findings.Pace``, a plateau while some kernel moves at least
    ``loss_findings.THRASHING_RATIO`` of its norm per step is caused by steps too
    large to make progress: ``lr_too_high`` comes with it."""
    train = loss_findings._finite(curves.train_loss)
    if curves.unit != "step" or train is None:
        return []
    loss, steps = train.values, train.steps
    third = len(loss) // 3
    if third < PLATEAU_MIN_POINTS:
        return []
    smooth = _smoothed(loss)
    first, late = float(smooth[0]), float(np.median(loss[-third:]))
    if first <= 0:
        return []
    best = float(np.min(smooth[: max(1, len(smooth) - third // WINDOW)]))
    if late >= RISING_FACTOR * best and late > first:
        message = (
            "The training loss (smoothed over %d steps) fell to %s and then rose to %s over the last third of the "
            "run (%s at the start): the updates make the model worse"
        ) % (WINDOW, findings.fmt(best), findings.fmt(late), findings.fmt(first))
        return [loss_findings._loss_finding("loss_rising", "warning", int(steps[-third]), message, curves, {
            "lowest": best, "late": late, "first": first, "threshold": RISING_FACTOR},
            "look for gradients that accumulate (zero_grad), a loss with the wrong sign, or a learning rate that is "
            "too high")]
    if curves.train_accuracy is not None or late < PLATEAU_FRACTION * first:
        return []
    message = (
        "The training loss (median %s over the last %d steps) is still %.0f%% of where it started (%s): the model "
        "has learned almost nothing"
    ) % (findings.fmt(late), int(steps[-1] - steps[-third]), 100 * late / first, findings.fmt(first))
    plateau = loss_findings._loss_finding("loss_plateau", "warning", int(steps[-third]), message, curves, {
        "late": late, "first": first, "threshold": PLATEAU_FRACTION}, "check the learning rate, the labels and the "
        "model's output")
    if pace is None or not pace.fastest >= loss_findings.THRASHING_RATIO:
        return [plateau]
    message = (
        "The training loss stays at %.0f%% of where it started while the weights move up to %s of their norm per "
        "step (healthy: about 0.1%%; the median layer %s): steps too large to make progress, the weights bounce "
        "instead of descending"
    ) % (100 * late / first, findings.fmt(pace.fastest), findings.fmt(pace.median))
    return [findings.finding("lr_too_high", "warning", "", [], int(steps[-third]), message, {
        "fastest_update_ratio_per_step": pace.fastest, "update_ratio_per_step": pace.median,
        "source": "loss plateau", "threshold": loss_findings.THRASHING_RATIO},
        "lower the learning rate (try 10x lower) or clip gradients"), plateau]
