"""What the loss curves say about a run: over-fitting, under-fitting, divergence.

Pure rules, curves in, findings out, in the same shape as ``findings.evaluate``'s.
``evaluate`` takes a run's ``Curves`` (the built-in scalars Keras' TensorBoard
callback writes, per epoch) and returns its loss findings. A run whose
validation loss turns up while the training loss keeps falling over-fits:

>>> epochs = np.arange(30)
>>> train = 2.0 * 0.8 ** epochs
>>> val = 0.5 + 0.002 * (epochs - 10) ** 2  # lowest at epoch 10, then rising
>>> found = evaluate(Curves("run/train", Curve(epochs, train), Curve(epochs, val)))
>>> [(f["kind"], f["severity"], f["step"], f["evidence"]["scalars_run"]) for f in found]
[('overfitting', 'warning', 10, 'run/train')]

A healthy run, whose validation loss flattens, and a run without validation
data say nothing:

>>> evaluate(Curves("run/train", Curve(epochs, train), Curve(epochs, 0.5 + 0.5 * 0.8 ** epochs)))
[]
>>> evaluate(Curves("run/train", Curve(epochs, train)))
[]

Steps are the scalars' own (epochs, for Keras' ``epoch_loss``); the weight
findings' steps count batches. The thresholds come from measured runs
(docs/findings.md, "Loss curves").
"""

import typing

import numpy as np

from tb_nnviz.diagnose import findings, rates

#: Rules read curves with at least this many finite points: fewer epochs
#: cannot tell a trend from noise (and the demo's test runs 3).
MIN_POINTS = 5
#: overfitting: the validation loss stays at least this fraction above its
#: minimum at each of the last ``OVERFIT_EPOCHS`` points (info). Measured:
#: healthy digits runs of 20 epochs never rose after their minimum; the
#: seed's MLP trained 60 epochs rose 11% (a mild over-fit); wide MLPs on
#: 100-150 digits 13-33%.
OVERFIT_RISE = 0.10
#: ... the minimum lies at least this many epochs before the end ...
OVERFIT_EPOCHS = 3
#: ... and the training loss fell at least this fraction after the minimum.
OVERFIT_TRAIN_FALL = 0.10
#: overfitting is a warning (not info) when the rise is at least this
#: fraction: the model at the end is clearly worse than its best checkpoint.
OVERFIT_WARNING_RISE = 0.25
#: ... or when the run went on past its best point for at least this fraction of
#: its points (and twice ``OVERFIT_EPOCHS``): most of the training made the model
#: worse (the corpus's 512-512 MLP on 150 digits: best at epoch 10 of 40, 15% above).
OVERFIT_LONG = 0.5
#: Points averaged for "the end" of a curve (epoch losses are noisy).
END_POINTS = 2
#: underfitting: over the last third of the run (at least ``PLATEAU_POINTS``
#: points) the training loss improved on its earlier best by less than this fraction ...
PLATEAU_IMPROVEMENT = 0.02
PLATEAU_POINTS = 3
#: ... while it is still far from its floor: the training accuracy, where
#: logged, stays below this ...
LOW_ACCURACY = 0.6
#: ... and, without accuracy, the loss is still above this fraction of its
#: first value: it learned almost nothing. Without accuracy the floor is
#: unknown (a regression on noisy targets can converge in its first epoch to
#: a floor near its first epoch's mean), so only a loss that hardly moved counts.
FAR_FROM_FLOOR = 0.9
#: loss_diverged: the training loss grows to at least this many times its
#: lowest value so far, and above its first value (orders of magnitude).
DIVERGED_GROWTH = 100.0
#: Median per-step update ratio of the kernels over the second half of the
#: run below which an under-fitting model is "stuck" (``findings.SLOW_RATIO``) ...
STUCK_RATIO = findings.SLOW_RATIO
#: ... and the fastest kernel's, at or above which it is "thrashing" (the tab
#: marks ratios above 1e-2 "large").
THRASHING_RATIO = 1e-2


class Curve(typing.NamedTuple):
    """One scalar series: sorted unique ``steps`` and their ``values``."""

    steps: np.ndarray
    values: np.ndarray


class Pace(typing.NamedTuple):
    """How fast the kernels move late in a run, per optimizer step: the median
    over kernels and the fastest kernel (each kernel's median over the second
    half of its points)."""

    median: float
    fastest: float


class Curves(typing.NamedTuple):
    """A run's loss (and accuracy) curves. ``run`` is where the training
    scalars live (the run the Scalars tab should show); any curve may be None.
    ``tb_nnviz.serve.loss_store.read_curves`` finds them under the names Keras,
    Hugging Face Trainer, Lightning and PyTorch loops write (docs/findings.md)."""

    run: str
    train_loss: typing.Optional[Curve] = None
    val_loss: typing.Optional[Curve] = None
    train_accuracy: typing.Optional[Curve] = None
    val_accuracy: typing.Optional[Curve] = None
    validation_run: typing.Optional[str] = None
    #: What the loss curve's steps count: "epoch" (Keras' ``epoch_loss``) or
    #: "step" (a plain ``loss`` scalar, as a PyTorch loop writes it per step;
    #: Trainer's ``train/loss`` and Lightning's, at the global step).
    unit: str = "epoch"
    #: The scalar tags the training and validation losses were read from (None: not read).
    loss_tag: typing.Optional[str] = None
    val_loss_tag: typing.Optional[str] = None


def evaluate(curves, weight_findings=(), pace=None):
    """The loss findings of one run.

    Args:
      curves: a ``Curves``.
      weight_findings: the run's other findings; a ``nonfinite`` one is named
        by ``loss_diverged`` (the weights followed the loss).
      pace: how fast the kernels move late in the run (a ``Pace``, from
        ``late_pace``), or None when unknown.

    >>> evaluate(Curves("r", Curve(np.arange(6), np.array([2.3, 1.0, np.nan, np.nan, np.nan, np.nan]))))[0]["kind"]
    'loss_diverged'
    """
    if curves.train_loss is None or not len(curves.train_loss.steps):
        return []
    diverged = _loss_diverged(curves, weight_findings)
    if diverged:  # after a divergence the other curves say nothing more
        return diverged
    found = _overfitting(curves, pace) + _underfitting(curves, pace, weight_findings)
    return found


def with_loss_findings(found, curves, tensors=()):
    """``found`` (the run's weight and alpha findings) with the loss findings
    of ``curves`` added, in ``findings.ordered``'s order: a loss finding
    follows the weight findings of its severity that may explain it.
    ``tensors``: the run's ``TensorSeries``, for the update ratios.

    >>> with_loss_findings([{"kind": "lr_too_low", "severity": "warning", "step": 5}], Curves("r"))
    [{'kind': 'lr_too_low', 'severity': 'warning', 'step': 5}]
    """
    extra = evaluate(curves, found, late_pace(tensors) if curves.train_loss is not None else None)
    if not extra:
        return found
    return findings.ordered(found + extra)


def late_pace(tensors):
    """The ``Pace`` of the kernels among ``tensors`` (``TensorSeries``): each
    kernel's median update ratio per step over the second half of its points;
    None without kernels.

    >>> t = rates.TensorSeries("d/kernel", (8, 8), np.arange(0, 50, 10),
    ...                        {"norm": np.full(5, 2.0), "update_norm": np.r_[np.nan, np.full(4, 0.02)]})
    >>> late_pace([t])
    Pace(median=0.001, fastest=0.001)
    """
    per_kernel = []
    for t in tensors:
        v = rates.TensorView(t, None, findings.MIN_SIZE)
        r = v.rate[len(v.rate) // 2 :]
        r = r[np.isfinite(r)]
        if v.is_kernel and len(r):
            per_kernel.append(float(np.median(r)))
    return Pace(float(np.median(per_kernel)), float(np.max(per_kernel))) if per_kernel else None


# -- the rules ------------------------------------------------------------------


def _loss_diverged(curves, weight_findings):
    steps, loss = curves.train_loss
    loss = np.asarray(loss, np.float64)
    bad = ~np.isfinite(loss)
    with rates.quiet():
        best = np.fmin.accumulate(np.where(bad, np.nan, loss))
        # Far above the lowest loss so far, and above where training started:
        # a loss near 0 that spikes back towards its start has not diverged.
        # Ratios mean nothing for losses that can be <= 0 (a log-likelihood): only
        # a positive lowest value can be grown from.
        before = np.r_[np.inf, best[:-1]]
        grown = (before > 0) & (loss >= DIVERGED_GROWTH * before) & (loss > np.nanmax(best[:1]))
    hit = bad | grown
    if not hit.any():
        return []
    i = int(np.argmax(hit))
    step = int(steps[i])
    before = float(best[i - 1]) if i and np.isfinite(best[i - 1]) else None
    if bad[i]:
        what = "became %s at %s %d" % ("NaN" if np.isnan(loss[i]) else "infinite", curves.unit, step)
    else:
        what = "grew to %s at %s %d, %sx its lowest value before (%s)" % (
            findings.fmt(loss[i]), curves.unit, step, findings.fmt(loss[i] / before), findings.fmt(before))
    nonfinite = next((f for f in weight_findings if f["kind"] == "nonfinite"), None)
    followed = ""
    if nonfinite is not None:
        followed = "; the weights followed (NaN/Inf in %s from step %d)" % (nonfinite["layer"], nonfinite["step"])
    message = "The training loss %s%s: training diverged" % (what, followed)
    return [_loss_finding("loss_diverged", "error", step, message, curves, {
        "loss": None if bad[i] else float(loss[i]),
        "lowest_before": before,
        "first_loss": float(loss[0]) if np.isfinite(loss[0]) else None,
        "nonfinite_step": nonfinite["step"] if nonfinite else None,
        "threshold": DIVERGED_GROWTH,
    }, "lower the learning rate, clip gradients or look for a log/division of zero")]


def _overfitting(curves, pace):
    val = _finite(curves.val_loss)
    train = _finite(curves.train_loss)
    if val is None or train is None or len(val.steps) < MIN_POINTS:
        return []
    i = int(np.argmin(val.values))
    if len(val.steps) - 1 - i < OVERFIT_EPOCHS:
        return []
    low, end = float(val.values[i]), float(np.mean(val.values[-END_POINTS:]))
    if low <= 0:
        return []  # a rise "by 10%" needs a positive loss
    # Sustained: every one of the last OVERFIT_EPOCHS points is above the
    # minimum by the margin (a noisy run's single spike is not a trend).
    lowest_late = float(np.min(val.values[-OVERFIT_EPOCHS:]))
    rise = lowest_late / low - 1
    step = int(val.steps[i])
    at_min = _value_at(train, step)
    train_end = float(np.mean(train.values[-END_POINTS:]))
    if at_min is None or not (rise >= OVERFIT_RISE and at_min - train_end >= OVERFIT_TRAIN_FALL * abs(at_min)):
        return []
    past = len(val.steps) - 1 - i  # points after the best one
    long = past >= max(2 * OVERFIT_EPOCHS, OVERFIT_LONG * len(val.steps))
    severity = "warning" if rise >= OVERFIT_WARNING_RISE or long else "info"
    moving = ""
    if pace is not None and pace.median >= STUCK_RATIO:
        moving = ", and the weights still move (%s of their norm per step)" % findings.fmt(pace.median)
    unit = curves.unit
    message = (
        "The validation loss was lowest at %s %d (%s) and stayed at least %.0f%% higher over the last %d %ss "
        "(%s at the end) while the training loss kept falling (%s to %s)%s: the model over-fits"
    ) % (
        unit, step, findings.fmt(low), 100 * rise, OVERFIT_EPOCHS, unit, findings.fmt(end), findings.fmt(at_min),
        findings.fmt(train_end), moving)
    return [_loss_finding("overfitting", severity, step, message, curves, {
        "val_loss_at_min": low, "val_loss_end": end, "train_loss_at_min": at_min, "train_loss_end": train_end,
        "rise": rise, "val_loss_lowest_late": lowest_late, "last_step": int(val.steps[-1]), "points_past_best": past,
        "update_ratio_per_step": pace.median if pace else None,
        "threshold": OVERFIT_RISE,
    }, "keep the %s-%d weights (early stopping), or add regularisation or data" % (unit, step))]


def _underfitting(curves, pace, weight_findings=()):
    train = _finite(curves.train_loss)
    if train is None or len(train.steps) < MIN_POINTS:
        return []
    loss = train.values
    window = max(PLATEAU_POINTS, len(loss) // 3)
    earlier = float(np.min(loss[:-window]))
    recent = float(np.min(loss[-window:]))
    if earlier <= 0 or loss[0] <= 0:
        return []  # "far from its floor" and relative gains need a positive loss
    improvement = (earlier - recent) / earlier
    if improvement >= PLATEAU_IMPROVEMENT:
        return []
    accuracy = _finite(curves.train_accuracy)
    end_accuracy = float(np.mean(accuracy.values[-END_POINTS:])) if accuracy is not None else None
    if end_accuracy is not None:
        far = end_accuracy < LOW_ACCURACY
        how_far = "the training accuracy stays at %.0f%%" % (100 * end_accuracy)
    else:
        far = recent > FAR_FROM_FLOOR * loss[0]
        how_far = "still %.0f%% of its first value" % (100 * recent / loss[0])
    if not far:
        return []
    # The plateau starts where the loss first came within the plateau's gain of
    # its late level (a loss that fell in epoch 1 and sat still after has not
    # improved since epoch 1, whatever the window looked at).
    step = int(train.steps[np.argmax(loss <= recent * (1 + PLATEAU_IMPROVEMENT))])
    blown = any(f.get("kind") == "lr_too_high" for f in weight_findings)
    # Thrashing first: one layer flailing while saturated ones sit still (SGD
    # at 3.0 on a tanh MLP: output 0.25 per step, median 5e-7) is a learning
    # rate that is too high, not too low.
    if pace is None:
        verdict, why, advice, joint = None, None, "check the learning rate and the model's capacity", "; "
    elif pace.fastest >= THRASHING_RATIO:
        verdict, advice, joint = "thrashing", "lower the learning rate", ": "
        why = "the weights move a lot (up to %s of their norm per step) without progress" % findings.fmt(pace.fastest)
    elif pace.median < STUCK_RATIO:
        if pace.fastest == 0:
            how = "the weights do not move at all"
        elif pace.median == 0:  # "%.2g" would print the median as "0"
            how = "most weights do not move at all (the fastest layer moves %s of its norm per step)" % (
                findings.fmt(pace.fastest))
        else:
            how = "most weights barely move (%s of their norm per step)" % findings.fmt(pace.median)
        if blown:  # stopped after the large early steps: dead or saturated units, not a slow optimiser
            why = "%s since the large early steps that lr_too_high reports left the units dead or saturated" % how
            advice, joint = "lower the learning rate", ": "
        else:
            why = "%s: the optimiser is not moving the model" % how
            advice, joint = "raise the learning rate, or look for dead or saturated units", "; "
        verdict = "stuck"
    else:
        verdict, advice, joint = "capacity", None, ""
        why = (
            "the weights move at a normal pace (%s of their norm per step): the model may be too small or too "
            "regularised for the task" % findings.fmt(pace.median)
        )
    gain = "no lower than before" if improvement < 5e-4 else "only %.1f%% lower than before" % (100 * improvement)
    message = "The training loss has not improved since %s %d (%s, %s) while %s: the model under-fits%s" % (
        curves.unit, step, findings.fmt(recent), gain, how_far, "; " + why if why else "")
    if advice is None:
        message += "."
    return [_loss_finding("underfitting", "warning", step, message, curves, {
        "train_loss_end": float(np.mean(loss[-END_POINTS:])), "first_loss": float(loss[0]),
        "improvement": improvement, "train_accuracy_end": end_accuracy,
        "update_ratio_per_step": pace.median if pace else None,
        "fastest_update_ratio_per_step": pace.fastest if pace else None,
        "verdict": verdict, "threshold": PLATEAU_IMPROVEMENT,
    }, advice, joint)]


# -- helpers --------------------------------------------------------------------


def _finite(curve):
    """``curve`` without its non-finite points, or None when fewer than 2 remain."""
    if curve is None:
        return None
    values = np.asarray(curve.values, np.float64)
    ok = np.isfinite(values)
    if ok.sum() < 2:
        return None
    return Curve(np.asarray(curve.steps, np.int64)[ok], values[ok])


def _value_at(curve, step):
    i = int(np.searchsorted(curve.steps, step))
    return float(curve.values[i]) if i < len(curve.steps) and curve.steps[i] == step else None


def _loss_finding(kind, severity, step, message, curves, evidence, advice=None, joint="; "):
    """A finding of the run as a whole (``layer`` None); ``evidence.scalars_run``
    names the run whose loss the Scalars tab shows, ``evidence.loss_tag`` (and
    ``val_loss_tag``) the tags read."""
    evidence = dict(evidence, scalars_run=curves.run, validation_run=curves.validation_run, step_unit=curves.unit,
                    loss_tag=curves.loss_tag, val_loss_tag=curves.val_loss_tag)
    return findings.finding(kind, severity, None, [], step, message, evidence, advice, joint)
