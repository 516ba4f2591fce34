"""One run's diagnosis: every rule over every piece of evidence, one finding
per cause, consequences nested under their cause, and notes on what could
not be judged. ``tb_nnviz.serve.plugin``'s findings route calls ``diagnose``.

>>> found = diagnose([], curves=None)
>>> list(found), found.notes[:1]
([], ['no trajectories of kernels: the weight rules did not run'])
"""

import numpy as np

from tb_nnviz.diagnose import causes, findings, loss_findings, loss_trends, rates, setup_findings, spectral

#: A cause, and the kinds that, beside it, are its consequences (listed under
#: it in ``consequences``, each with ``caused_by``, instead of beside it).
_WEIGHTS = {"lr_too_high", "lr_too_low", "early_explosion", "vanishing_updates", "dead_units", "saturated_units",
            "updates_stopped", "exploding_weights", "underfitting", "loss_plateau", "alpha_low", "alpha_high"}
CONSEQUENCES = {
    "symmetric_units": _WEIGHTS,
    "unnormalized_inputs": _WEIGHTS | {"nonfinite", "loss_diverged", "loss_rising"},
    "poor_initialization": _WEIGHTS | {"nonfinite", "loss_diverged", "loss_rising"},
    "weights_shrinking": _WEIGHTS,
    "gradients_accumulating": _WEIGHTS | {"nonfinite", "loss_diverged", "loss_rising"},
    "double_softmax": {"underfitting", "loss_plateau", "vanishing_updates", "lr_too_low", "updates_stopped"},
    "missing_nonlinearity": {"underfitting", "loss_plateau", "alpha_low", "alpha_high"},
    "lr_too_high": {"early_explosion", "dead_units", "saturated_units", "updates_stopped", "vanishing_updates",
                    "underfitting", "loss_plateau", "alpha_low", "alpha_high"},
    "early_explosion": {"dead_units", "saturated_units", "updates_stopped", "vanishing_updates", "lr_too_low",
                        "underfitting", "loss_plateau", "alpha_low", "alpha_high"},
    "nonfinite": {"vanishing_updates", "dead_units", "updates_stopped", "underfitting", "loss_plateau", "lr_too_low"},
    "loss_diverged": {"vanishing_updates", "dead_units", "updates_stopped", "underfitting", "loss_plateau"},
    "saturated_units": {"vanishing_updates", "updates_stopped", "lr_too_low", "underfitting", "loss_plateau"},
    "dead_units": {"updates_stopped", "lr_too_low", "underfitting", "loss_plateau"},
    "vanishing_updates": {"updates_stopped", "underfitting", "loss_plateau"},
    "lr_too_low": {"updates_stopped", "underfitting", "loss_plateau", "alpha_high"},
}
#: Causes in the order they adopt consequences (the most specific first).
PRIORITY = tuple(CONSEQUENCES)


class Findings(list):
    """The findings, with ``notes``: what the rules could not judge and why."""

    def __init__(self, found=(), notes=()):
        super().__init__(found)
        self.notes = list(notes)


def diagnose(tensors, alpha_series=(), curves=None, activations=(), run_info=None):
    """Every finding of one run, ordered (``findings.ordered``), as a ``Findings``.

    ``tensors``: ``TensorSeries``; ``alpha_series``: ``spectral.AlphaSeries``;
    ``curves``: ``loss_findings.Curves`` or None; ``activations``:
    ``evidence.ActivationSeries``; ``run_info``: ``evidence.RunInfo`` or None.
    """
    # Network order, names breaking ties: every rule then lists layers in the same order,
    # whichever order the data provider listed the tags in (it differs between loaders).
    tensors = rates.in_network_order(sorted(tensors, key=lambda t: t.name))
    notes = []
    kernels = causes.kernels_of(tensors)
    if not kernels:
        notes.append("no trajectories of kernels: the weight rules did not run")
    elif max(len(k.steps) for k in kernels) < causes.MIN_POINTS:
        notes.append("fewer than %d logged points: updates_stopped, exploding_weights and the trend rules cannot "
                     "judge yet" % causes.MIN_POINTS)
    found = list(findings.evaluate(tensors))
    symmetric = causes.symmetric_units(tensors)
    found += symmetric + causes.poor_initialization(tensors)
    if activations:  # measured on the outputs: the weights' exact zeros are only a proxy
        found = [f for f in found if f["kind"] != "dead_units"]
    else:
        found = _merge(found, "dead_units")
    extra, why = setup_findings.activation_units(activations)
    found += extra
    notes += why
    if not any(f["kind"] == "lr_too_high" for f in found):
        found += causes.early_explosion(tensors, symmetric=bool(symmetric))
    found += causes.gradients_accumulating(tensors)
    if kernels and not any("grad_norm" in k.stats for k in kernels):
        notes.append("gradients_accumulating: no gradient norms logged, not checked")
    found += causes.weights_shrinking(tensors, run_info)
    for rule in (setup_findings.missing_nonlinearity, setup_findings.double_softmax,
                 setup_findings.unnormalized_inputs):
        extra, why = rule(run_info)
        found += extra
        notes += why
    found = spectral.with_alpha_findings(found, alpha_series)
    if curves is None or curves.train_loss is None:
        notes.append("no training loss scalar found: the loss rules did not run")
    else:
        found = loss_findings.with_loss_findings(found, curves, tensors)
        short = [name for name, curve in (("underfitting", curves.train_loss), ("overfitting", curves.val_loss))
                 if curve is not None and len(curve.steps) < loss_findings.MIN_POINTS]
        if short:
            unit = "epochs" if curves.unit == "epoch" else "steps"
            notes.append("%s: fewer than %d logged loss points (%s), not judged"
                         % (", ".join(short), loss_findings.MIN_POINTS, unit))
        if curves.unit == "step" and not any(f["kind"] == "loss_diverged" for f in found):
            trends = loss_trends.evaluate(curves, loss_findings.late_pace(tensors))
            # Without accuracy the smoothed trend rules judge a per-step loss, when it is long enough for them.
            if trends or (curves.train_accuracy is None and loss_trends.judges(curves)):
                found = [f for f in found if f["kind"] != "underfitting"]
            elif not loss_trends.judges(curves):
                notes.append("loss_plateau, loss_rising: fewer than %d per-step loss points, not judged"
                             % (3 * loss_trends.PLATEAU_MIN_POINTS))
            found += trends
    found = setup_findings.with_lr_setting(found, run_info)
    position = {t.name: i for i, t in enumerate(tensors)}
    found.sort(key=lambda f: position.get((f.get("tensors") or [None])[0], len(position)))
    return Findings(findings.ordered(nest(found)), notes)


def _merge(found, kind):
    """The ``kind`` findings of several layers as one (the first, listing them all)."""
    same = [f for f in found if f["kind"] == kind]
    if len(same) < 2:
        return found
    lead = dict(max(same, key=lambda f: findings.SEVERITIES.index(f["severity"]) * -1))
    layers = [f["layer"] for f in same]
    lead["tensors"] = [t for f in same for t in f["tensors"]]
    others = ", ".join(layer for layer in layers if layer != lead["layer"])
    lead = findings.retold(lead, "%s (and the same in %s)" % (findings.seen(lead), others), lead.get("advice"))
    lead["evidence"] = dict(lead["evidence"], layers=layers)
    return [lead if f is same[0] else f for f in found if f["kind"] != kind or f is same[0]]


def nest(found):
    """``found`` with each consequence moved under its cause (``consequences``,
    and ``caused_by`` on it). A cause adopts only at warning or error, and
    never a finding with evidence of being a cause of its own, or that it
    cannot explain (``evidence.own_cause``, ``evidence.unexplained_by``:
    ``setup_findings.with_lr_setting``). A
    consequence's advice defers to its cause: its message keeps what was
    seen and says to fix the cause first, so the advice under one cause
    never contradicts itself.

    >>> top = nest([{"kind": "unnormalized_inputs", "severity": "error", "step": 1, "message": "x; scale x.",
    ...              "advice": "scale x"},
    ...             {"kind": "updates_stopped", "severity": "warning", "step": 30,
    ...              "message": "d stopped; raise the lr.", "advice": "raise the lr"}])
    >>> [(c["caused_by"], c["message"]) for c in top[0]["consequences"]]
    [('unnormalized_inputs', 'd stopped; this follows from unnormalized_inputs above: fix that first.')]
    """
    causes_here = sorted((f for f in found if f["kind"] in CONSEQUENCES and f["severity"] in ("error", "warning")),
                         key=lambda c: PRIORITY.index(c["kind"]))
    parent = {id(f): _cause_of(f, causes_here) for f in found}
    top, adopted = [], {}
    for f in found:
        root = parent[id(f)]
        while root is not None and parent[id(root)] is not None:
            root = parent[id(root)]  # a cause adopted by another cause brings its consequences along
        if root is None:
            top.append(f)
        else:
            adopted.setdefault(id(root), []).append(dict(_deferring(f, root), caused_by=root["kind"]))
    for f in top:
        if id(f) in adopted:
            f["consequences"] = findings.ordered(adopted[id(f)])
    return top


def _deferring(f, cause):
    """Consequence ``f`` whose advice is to fix ``cause`` first (its own could contradict the cause's)."""
    if "message" not in f:
        return dict(f)
    return findings.retold(f, findings.seen(f), "this follows from %s above: fix that first" % cause["kind"])


def _cause_of(f, causes_here):
    """The first of ``causes_here`` (in ``PRIORITY`` order) that explains ``f``, or None: one
    that lists its kind, unless ``f``'s evidence says it is a cause of its own (``own_cause``)
    or names that cause among those that cannot explain it (``unexplained_by``)."""
    evidence = f.get("evidence") or {}
    if evidence.get("own_cause"):
        return None
    rank = PRIORITY.index(f["kind"]) if f["kind"] in PRIORITY else len(PRIORITY)
    return next((c for c in causes_here if c is not f and PRIORITY.index(c["kind"]) < rank
                 and f["kind"] in CONSEQUENCES[c["kind"]] and c["kind"] not in evidence.get("unexplained_by", ())),
                None)


def finite(x):
    return bool(np.isfinite(x))
