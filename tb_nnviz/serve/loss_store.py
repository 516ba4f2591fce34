"""A run's loss and accuracy scalars, read through TensorBoard's data provider.

The frameworks write the loss under different tags and in different places;
``read_curves`` finds it wherever they put it (docs/findings.md, "Loss curves"):

- ``keras.callbacks.TensorBoard(log_dir)`` writes ``epoch_loss`` and
  ``epoch_<metric>`` per epoch into ``<log_dir>/train`` and
  ``<log_dir>/validation`` (``NNVizCallback(log_dir)`` writes into
  ``<log_dir>/train`` too): the validation curves are read from that sibling;
- Hugging Face ``Trainer`` writes ``train/loss`` every ``logging_steps``
  optimizer steps and ``eval/loss`` at each evaluation, into one run;
- Lightning and hand-written loops name a split and ``loss`` in either order:
  ``train_loss``, ``val_loss``, ``train/loss``, ``loss/train``, ``Loss/val``,
  Lightning's ``train_loss_step`` / ``train_loss_epoch``, ...; a plain ``loss``.

>>> validation_sibling("demo/overfit/train"), validation_sibling("train"), validation_sibling("run1")
('demo/overfit/validation', 'validation', None)
>>> [split_of(t) for t in ("train/loss", "Loss/val", "val_loss_epoch", "eval/loss", "train/train_loss")]
[('train', 0), ('validation', 0), ('validation', 1), ('validation', 0), None]

Any other name is given explicitly: ``read_curves(..., loss_tags=("mse", "val_mse"))``,
``tb-nnviz report --loss-tag mse,val_mse``, or, for the tab and the report
alike, the environment variable ``TB_NNVIZ_LOSS_TAGS=mse,val_mse`` of the
process that serves (``parse_loss_tags`` reads it).
"""

import contextlib
import contextvars
import os
import re

import numpy as np
from tensorboard.data import provider

from tb_nnviz.diagnose import loss_findings
from tb_nnviz.serve.store import restarted

#: The plugin name of TensorBoard's scalars (``tf.summary.scalar`` and Keras').
SCALARS = "scalars"
#: Keras' loss tags, preferred first: its per-epoch loss, then a plain
#: ``loss``. Preferred to every other name; their validation curve is looked
#: for in the run, then (Keras' layout) in the validation sibling.
KERAS_LOSS_TAGS = ("epoch_loss", "loss")
#: Kept for 0.2's name.
LOSS_TAGS = KERAS_LOSS_TAGS
#: Keras' names for accuracy metrics end in one of these (``epoch_accuracy``,
#: ``epoch_sparse_categorical_accuracy``, ``epoch_acc``, ...).
ACCURACY_SUFFIXES = ("accuracy", "acc")
#: Words naming the training and the validation split in a tag (any case).
SPLIT_WORDS = {"train": ("train", "training"), "validation": ("val", "valid", "validation", "eval")}
#: What may follow "split + metric" (Lightning's ``on_step`` / ``on_epoch``
#: names), preferred first: the plain name, then per epoch, then per step.
SUFFIXES = ("", "epoch", "step")
#: The environment variable naming the loss tags for every reader in the
#: process (the tab's server and ``tb-nnviz report``): ``TRAIN[,VALIDATION]``.
ENVIRONMENT = "TB_NNVIZ_LOSS_TAGS"
#: ``downsample`` asking for every stored point.
_ALL = 10**6
_WORDS = re.compile(r"[/_.\- ]+")
#: Tags given by ``given_loss_tags`` (the report's ``loss_tags=``) for this context.
_GIVEN = contextvars.ContextVar("tb_nnviz_loss_tags", default=None)


def validation_sibling(run):
    """The run Keras writes validation scalars into beside ``run``, or None."""
    head, _, last = run.rpartition("/")
    if last != "train":
        return None
    return head + "/validation" if head else "validation"


def split_of(tag, metrics=("loss",)):
    """``(split, rank)`` of a tag naming a split and one of ``metrics`` (in
    either order, joined by ``/``, ``_``, ``.``, ``-``; any case; optionally
    ``_epoch`` / ``_step`` after), else None. ``split`` is ``"train"`` or
    ``"validation"``; ``rank`` the suffix's place in ``SUFFIXES``."""
    words = [w for w in _WORDS.split(tag.lower()) if w]
    rank = 0
    if len(words) == 3 and words[2] in SUFFIXES:
        rank = SUFFIXES.index(words.pop())
    if len(words) != 2:
        return None
    other = words[1] if words[0] in metrics else words[0] if words[1] in metrics else None
    split = next((s for s, names in SPLIT_WORDS.items() if other in names), None)
    return (split, rank) if split else None


def parse_loss_tags(text):
    """``(train, validation or None)`` from ``"TRAIN[,VALIDATION]"``; None for
    an empty or missing text.

    >>> parse_loss_tags("mse"), parse_loss_tags(" mse , val_mse "), parse_loss_tags("")
    (('mse', None), ('mse', 'val_mse'), None)
    """
    if not text or not text.strip():
        return None
    parts = [p.strip() for p in text.split(",")]
    if len(parts) > 2 or not parts[0]:
        raise ValueError("loss tags %r: expected TRAIN or TRAIN,VALIDATION" % text)
    return parts[0], (parts[1] if len(parts) == 2 and parts[1] else None)


def normal_loss_tags(tags):
    """``(train, validation or None)`` from ``"TRAIN[,VALIDATION]"`` or a
    ``(train,)`` / ``(train, validation)`` sequence; None for None or "".
    Raises ValueError for anything else."""
    if tags is None or isinstance(tags, str):
        return parse_loss_tags(tags)
    tags = tuple(tags)
    if not 1 <= len(tags) <= 2 or not all(isinstance(t, (str, type(None))) for t in tags) or not tags[0]:
        raise ValueError("loss tags %r: expected (train,) or (train, validation)" % (tags,))
    return tags[0], (tags[1] if len(tags) == 2 and tags[1] else None)


@contextlib.contextmanager
def given_loss_tags(tags):
    """Within the block, ``read_curves`` reads ``tags`` (see
    ``normal_loss_tags``; None: those in force outside) unless called with its
    own. ``tb_nnviz.serve.report.load`` passes its ``loss_tags`` this way.
    Raises ValueError on entry for malformed tags."""
    tags = normal_loss_tags(tags)
    if tags is None:
        yield
        return
    token = _GIVEN.set(tags)
    try:
        yield
    finally:
        _GIVEN.reset(token)


def configured_loss_tags():
    """The loss tags in force: ``given_loss_tags``'s, else the environment's
    (``TB_NNVIZ_LOSS_TAGS``; malformed: ignored), else None (found by name)."""
    given = _GIVEN.get()
    if given is not None:
        return given
    try:
        return parse_loss_tags(os.environ.get(ENVIRONMENT))
    except ValueError:
        return None


def _by_name(tags, split, metrics):
    """The preferred tag among ``tags`` naming ``split``'s ``metrics``, or None."""
    ranked = sorted((found[1], t) for t in tags for found in [split_of(t, metrics)] if found and found[0] == split)
    return ranked[0][1] if ranked else None


def _keras_accuracy(tags):
    return next((t for t in sorted(tags) if t.startswith("epoch_") and t.endswith(ACCURACY_SUFFIXES)), None)


def choose_tags(run_tags, sibling_tags=(), loss_tags=None):
    """Which scalars to read: ``{"train_loss": tag, "val_loss": (where, tag), ...}``.

    ``run_tags``: the run's scalar tags; ``sibling_tags``: its Keras
    validation sibling's. ``where`` is ``"run"`` or ``"sibling"``; missing
    curves are None. ``loss_tags``: ``(train, validation or None)`` read
    instead of the names (the validation tag in the run, else in the sibling;
    a validation tag equal to the training one only in the sibling).

    >>> choose_tags({"train/loss", "eval/loss", "train/epoch"})["val_loss"]
    ('run', 'eval/loss')
    >>> choose_tags({"epoch_loss", "epoch_accuracy"}, {"epoch_loss"})["val_loss"]
    ('sibling', 'epoch_loss')
    >>> choose_tags({"mse", "val_mse", "loss"}, loss_tags=("mse", "val_mse"))["train_loss"]
    'mse'
    """
    run_tags, sibling_tags = set(run_tags), set(sibling_tags)

    def in_sibling(tag):
        return ("sibling", tag) if tag is not None and tag in sibling_tags else None

    def where(tag, train):
        """The run's ``tag``, else the sibling's; a tag named like the
        training one is the sibling's (Keras' layout: one name, two runs)."""
        return ("run", tag) if tag in run_tags and tag != train else in_sibling(tag)

    accuracies = ("acc", "accuracy")
    if loss_tags is not None:
        train, val = loss_tags
        return {
            "train_loss": train if train in run_tags else None,
            "val_loss": where(val, train) if val else None,
            "train_accuracy": _keras_accuracy(run_tags) or _by_name(run_tags, "train", accuracies),
            "val_accuracy": None,
        }
    train = next((t for t in KERAS_LOSS_TAGS if t in run_tags), None) or _by_name(run_tags, "train", ("loss",))
    val = _by_name(run_tags, "validation", ("loss",))
    val = ("run", val) if val else in_sibling(next((t for t in KERAS_LOSS_TAGS if t in sibling_tags), None))
    train_acc = _keras_accuracy(run_tags) or _by_name(run_tags, "train", accuracies)
    val_acc = _by_name(run_tags, "validation", accuracies)
    val_acc = ("run", val_acc) if val_acc else in_sibling(_keras_accuracy(sibling_tags))
    return {"train_loss": train, "val_loss": val, "train_accuracy": train_acc, "val_accuracy": val_acc}


def step_unit(tag):
    """What a loss tag's steps count: ``"epoch"`` for Keras' ``epoch_*`` scalars
    (and when there is no loss), ``"step"`` for the others (Trainer and
    Lightning log at the global step, a PyTorch loop per optimizer step)."""
    return "epoch" if tag is None or tag.startswith("epoch_") else "step"


def _listing(data_provider, ctx, eid, run):
    """``list_scalars`` of ``run`` and its validation sibling."""
    sibling = validation_sibling(run)
    runs = [run] + ([sibling] if sibling else [])
    return data_provider.list_scalars(ctx, experiment_id=eid, plugin_name=SCALARS,
                                      run_tag_filter=provider.RunTagFilter(runs=runs))


def stamp(data_provider, ctx, eid, run):
    """What stays equal while ``read_curves`` of ``run`` would read the same: every scalar
    tag of ``run`` and of its validation sibling with its latest step and wall time."""
    return tuple(sorted((r, tag, s.max_step, s.max_wall_time)
                        for r, tags in _listing(data_provider, ctx, eid, run).items() for tag, s in tags.items()))


def read_curves(data_provider, ctx, eid, run, loss_tags=None):
    """``loss_findings.Curves`` of ``run`` (and of its Keras validation sibling).

    ``loss_tags``: ``(train, validation or None)`` or ``"TRAIN[,VALIDATION]"``
    to read instead of the names ``choose_tags`` knows; None: those in force
    (``configured_loss_tags``). Curves the log does not have are None; a run
    without scalars gives a ``Curves`` with no curves at all.
    """
    loss_tags = normal_loss_tags(loss_tags) if loss_tags is not None else configured_loss_tags()
    sibling = validation_sibling(run)
    listing = _listing(data_provider, ctx, eid, run)
    chosen = choose_tags(listing.get(run, {}), listing.get(sibling, {}) if sibling else (), loss_tags)
    # (where, tag) of each curve: the training ones are always the run's.
    located = {k: (("run", v) if isinstance(v, str) else v) for k, v in chosen.items()}
    names = {"run": run, "sibling": sibling}
    wanted = {(names[loc[0]], loc[1]) for loc in located.values() if loc}
    data = {}
    if wanted:
        data = data_provider.read_scalars(
            ctx, experiment_id=eid, plugin_name=SCALARS, downsample=_ALL,
            run_tag_filter=provider.RunTagFilter(runs=sorted({r for r, _ in wanted}),
                                                 tags=sorted({t for _, t in wanted})),
        )

    def curve(key):
        if not located[key]:
            return None
        w, tag = located[key]
        points = data.get(names[w], {}).get(tag)
        if not points:
            return None
        by_step = {p.step: p.value for p in restarted(points)}  # a restart's steps replace the old run's
        steps = np.array(sorted(by_step), np.int64)
        return loss_findings.Curve(steps, np.array([by_step[s] for s in steps], np.float64))

    val_where = located["val_loss"][0] if located["val_loss"] else None
    validation_run = names[val_where] if val_where else (sibling if sibling in listing else None)
    return loss_findings.Curves(
        run, curve("train_loss"), curve("val_loss"), curve("train_accuracy"), curve("val_accuracy"),
        validation_run, step_unit(chosen["train_loss"]),
        loss_tag=chosen["train_loss"], val_loss_tag=located["val_loss"][1] if located["val_loss"] else None,
    )
