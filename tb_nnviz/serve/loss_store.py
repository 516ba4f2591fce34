"""A run's built-in loss and accuracy scalars, read through TensorBoard's data provider.

``keras.callbacks.TensorBoard(log_dir)`` writes ``epoch_loss`` and
``epoch_<metric>`` into ``<log_dir>/train`` and ``<log_dir>/validation``;
``NNVizCallback(log_dir)`` writes into ``<log_dir>/train`` too. ``read_curves``
reads the training curves of a run and the validation curves of its sibling:

>>> validation_sibling("demo/overfit/train"), validation_sibling("train"), validation_sibling("run1")
('demo/overfit/validation', 'validation', None)
"""

import numpy as np
from tensorboard.data import provider

from tb_nnviz.diagnose import loss_findings

#: The plugin name of TensorBoard's scalars (``tf.summary.scalar`` and Keras').
SCALARS = "scalars"
#: Loss tags, preferred first: Keras' per-epoch loss, then a plain ``loss``.
LOSS_TAGS = ("epoch_loss", "loss")
#: Keras' names for accuracy metrics end in one of these (``epoch_accuracy``,
#: ``epoch_sparse_categorical_accuracy``, ``epoch_acc``, ...).
ACCURACY_SUFFIXES = ("accuracy", "acc")
#: ``downsample`` asking for every stored point.
_ALL = 10**6


def validation_sibling(run):
    """The run Keras writes validation scalars into beside ``run``, or None."""
    head, _, last = run.rpartition("/")
    if last != "train":
        return None
    return head + "/validation" if head else "validation"


def read_curves(data_provider, ctx, eid, run):
    """``loss_findings.Curves`` of ``run`` and its validation sibling.

    Curves the log does not have are None; a run without scalars gives a
    ``Curves`` with no curves at all.
    """
    sibling = validation_sibling(run)
    runs = [run] + ([sibling] if sibling else [])
    listing = data_provider.list_scalars(
        ctx, experiment_id=eid, plugin_name=SCALARS, run_tag_filter=provider.RunTagFilter(runs=runs)
    )
    wanted = {}
    for r in runs:
        tags = listing.get(r, {})
        loss = next((t for t in LOSS_TAGS if t in tags), None)
        accuracy = next((t for t in sorted(tags) if t.startswith("epoch_") and t.endswith(ACCURACY_SUFFIXES)), None)
        wanted[r] = (loss, accuracy)
    tags = sorted({t for pair in wanted.values() for t in pair if t})
    data = {}
    if tags:
        data = data_provider.read_scalars(
            ctx, experiment_id=eid, plugin_name=SCALARS, downsample=_ALL,
            run_tag_filter=provider.RunTagFilter(runs=runs, tags=tags),
        )

    def curve(r, tag):
        points = data.get(r, {}).get(tag) if tag else None
        if not points:
            return None
        by_step = {p.step: p.value for p in points}  # the last value of a repeated step
        steps = np.array(sorted(by_step), np.int64)
        return loss_findings.Curve(steps, np.array([by_step[s] for s in steps], np.float64))

    train_loss, train_acc = wanted[run]
    val_loss, val_acc = wanted.get(sibling, (None, None))
    return loss_findings.Curves(
        run, curve(run, train_loss), curve(sibling, val_loss), curve(run, train_acc), curve(sibling, val_acc),
        sibling if sibling in listing else None, "epoch" if train_loss in (None, "epoch_loss") else "step",
    )
