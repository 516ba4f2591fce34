"""One tensor's logged trajectory as per-step rates, for rules that compare tensors.

``TensorSeries`` is what a reader hands over (statistics by field name);
``TensorView`` derives the update/weight ratio per optimizer step from it:

>>> t = TensorSeries("mlp/dense_1/kernel", (64, 64), np.array([0, 10, 30]),
...                  {"norm": np.array([8.0, 8.0, 8.0]), "update_norm": np.array([np.nan, 0.08, 0.16])})
>>> t.layer, TensorView(t).rate.tolist()[1:]
('mlp/dense_1', [0.001, 0.001])
"""

import contextlib
import math
import typing
import warnings

import numpy as np


class TensorSeries(typing.NamedTuple):
    """The trajectory statistics of one tensor of a run.

    ``stats`` maps field names (``norm``, ``update_norm``, ...,
    ``unchanged_unit_fraction``) to float arrays aligned with ``steps``
    (sorted, unique); a field may be absent. ``order`` is the tensor's position
    in network order (the writers' ``index``), or None. ``unit_axis`` is the
    axis of the output units (-1 for Keras' ``(in, out)``, 0 for PyTorch's).
    ``description`` is the writer's text for the tensor (``Embedding(30000,
    256) weight``, ``Dense kernel``), or "".
    """

    name: str
    shape: tuple
    steps: np.ndarray
    stats: dict
    order: typing.Optional[int] = None
    unit_axis: int = -1
    description: str = ""

    @property
    def is_embedding(self):
        """Whether this is an embedding table (rows updated only for the tokens in a batch).

        >>> TensorSeries("emb/weight", (9, 4), np.arange(2), {}, description="Embedding(9, 4) weight").is_embedding
        True
        """
        return self.description.startswith(("Embedding", "EmbeddingBag")) or self.name.endswith("/embeddings")

    @property
    def layer(self):
        """The name without its last component: ``mlp/dense_1/kernel`` -> ``mlp/dense_1``."""
        return self.name.rpartition("/")[0] or self.name


class TensorView:
    """One tensor's series up to (not including) step ``cut``, with derived ratios.

    ``rate``: update norm / norm per step of the gap (NaN at the first point);
    ``jump``: update norm / the previous point's norm per step (it does not
    saturate at ~1 when an update dwarfs the weights it replaced); ``gap``:
    steps since the previous point. ``is_kernel``: rank >= 2 and at least
    ``min_size`` entries; ``units``: the size of the unit axis (the last one
    when ``unit_axis`` is not a valid axis); ``moved``: some update was > 0.
    """

    def __init__(self, tensor, cut=None, min_size=64):
        keep = slice(None) if cut is None else slice(0, int(np.searchsorted(tensor.steps, cut)))
        self.name, self.layer, self.shape = tensor.name, tensor.layer, tuple(tensor.shape)
        self.is_embedding = tensor.is_embedding
        self.description = tensor.description
        self.size = math.prod(self.shape)
        self.steps = np.asarray(tensor.steps, np.int64)[keep]
        self.stats = {k: np.asarray(v, np.float64)[keep] for k, v in tensor.stats.items()}
        self.norm = self.stats.get("norm", np.full(len(self.steps), np.nan))
        self.update = self.stats.get("update_norm", np.full(len(self.steps), np.nan))
        gap = np.r_[np.nan, np.diff(self.steps)].astype(np.float64)
        gap[gap <= 0] = np.nan
        previous = np.r_[np.nan, self.norm[:-1]]
        previous[previous == 0] = np.nan  # from an all-zero start: no ratio (symmetric_units says why)
        with quiet():
            self.rate = self.update / np.where(self.norm == 0, np.nan, self.norm) / gap
            self.jump = self.update / previous / gap
        self.gap = gap
        self.is_kernel = len(self.shape) >= 2 and self.size >= min_size
        valid = is_int(tensor.unit_axis) and -len(self.shape) <= tensor.unit_axis < len(self.shape)
        axis = tensor.unit_axis if valid else -1
        self.units = self.shape[axis] if self.shape else 1
        self.moved = bool((np.nan_to_num(self.update, nan=0.0) > 0).any())


def in_network_order(tensors):
    """``tensors`` sorted by their integer ``order``; those without one (or
    with a malformed one) follow in the order given."""
    tensors = list(tensors)
    keyed = [(not is_int(t.order), t.order if is_int(t.order) else 0, i, t) for i, t in enumerate(tensors)]
    return [t for *_, t in sorted(keyed, key=lambda x: x[:3])]


def is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def aligned(views, attr):
    """``(steps, matrix)``: ``attr`` of each view at the steps all of them logged."""
    common = views[0].steps
    for v in views[1:]:
        common = np.intersect1d(common, v.steps)
    rows = [getattr(v, attr)[np.searchsorted(v.steps, common)] for v in views]
    matrix = np.array(rows).reshape(len(views), len(common))
    return common, matrix


@contextlib.contextmanager
def quiet():
    """NaN is an expected value here (first points, zero norms): no warnings about it."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nanmedian of an all-NaN column
        yield
