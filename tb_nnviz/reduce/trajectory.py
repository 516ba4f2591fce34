"""The numpy reference of trajectory points: statistics, traces and a sketch.

Each field has exactly one definition here. The fast backends (``numba_ops``,
``tf_ops``, ``torch_ops``, behind one contract: ``tb_nnviz.reduce.backends``)
reduce the raw sums of :data:`RAW_FIELDS` where the tensors live and finish
them with :func:`finish_points`, and tests/test_backends.py holds every one
equal to :func:`trajectory_point`.

>>> plan = TrajectoryPlan("w", (3, 4), num_traces=2, sketch_dim=4)
>>> point = trajectory_point(np.ones((3, 4)), None, plan)
>>> point.shape == (len(STAT_FIELDS) + 2 + 4,)
True
>>> bool(point[STAT_FIELDS.index("norm")] == np.sqrt(12))
True
"""

import math
import zlib

import numpy as np

from tb_nnviz.format.layouts import QUANTILES, SKETCH_SCHEME, STAT_FIELDS  # noqa: F401  (the reference's names)
from tb_nnviz.reduce.grids import CHUNK_ELEMENTS, TensorError, check_name

#: Default number of single parameters traced per tensor.
DEFAULT_NUM_TRACES = 16
#: Default dimension k of the linear sketch (bucket ``j mod k``, random signs).
#: On the digits MLP, k = 256 kept |r| >= 0.9967 between sketched and exact
#: principal coordinates for all 30 seeds tried; k = 128 fell below 0.995 for
#: 27% of them, because a bucket then collects one unit of each 64-wide layer
#: (docs/format.md).
DEFAULT_SKETCH_DIM = 256
#: Quantiles of tensors larger than this are taken over a fixed, seeded sample
#: of this many entries (with replacement). 2,048 values put a quantile within
#: about +-1 percentile rank of the exact one (standard error sqrt(p(1-p)/n)),
#: plenty for a distribution band, and keep the sort a small fraction of a
#: logged step on models with hundreds of weights (BENCHMARKS.md).
DEFAULT_QUANTILE_SAMPLE = 2048


def _seed(name, seed, stream):
    return [int(seed), zlib.crc32(name.encode("utf-8")), stream]


def sketch_flips(name, seed, size):
    """uint8 ``[size]``: 1 where the CountSketch sign of a flat entry is -1, seeded by name and seed.

    >>> sketch_flips("w", 0, 6).tolist()
    [0, 0, 0, 1, 0, 0]
    """
    rng = np.random.default_rng(_seed(name, seed, 3))
    return (rng.random(int(size)) >= 0.5).view(np.uint8)


class TrajectoryPlan:
    """The fixed, seeded choices behind the trajectory points of one tensor.

    Built once per tensor from its name, shape and options; deterministic, so
    the reference, every backend (and every process) pick the same traces,
    quantile sample and sketch signs.

    Attributes:
      traces: flat indices of the traced parameters (sorted int64 array).
      sample: flat indices the quantiles are taken over, or None for all.
      unit_axis: the axis whose slices are the tensor's output units (default
        -1: a Keras kernel ``(in, out)`` or conv kernel ``(..., in, out)``;
        PyTorch's ``(out, in, ...)`` is 0), normalised to ``0..rank-1``.
      flips: the CountSketch signs, uint8 of the tensor's size, 1 where the
        sign is -1 (:func:`sketch_flips`), made on first use and kept.
        ``group.TrajectoryGroup`` makes its own stack without keeping them here.

    >>> plan = TrajectoryPlan("w", (3, 4), num_traces=2, sketch_dim=4)
    >>> plan.traces.tolist(), plan.unit_axis, plan.flips.shape
    ([0, 5], 1, (12,))
    """

    def __init__(
        self,
        name,
        shape,
        num_traces=DEFAULT_NUM_TRACES,
        sketch_dim=DEFAULT_SKETCH_DIM,
        seed=0,
        quantile_sample=DEFAULT_QUANTILE_SAMPLE,
        unit_axis=-1,
    ):
        check_name(name)
        if int(num_traces) < 0:
            raise TensorError("num_traces must be >= 0, got %r" % (num_traces,))
        if int(sketch_dim) < 1:
            raise TensorError("sketch_dim must be >= 1, got %r" % (sketch_dim,))
        self.name = name
        self.shape = tuple(int(d) for d in shape)
        self.size = math.prod(self.shape)
        rank = len(self.shape)
        if not -rank <= int(unit_axis) < rank:
            raise TensorError(
                "tensor %r: unit_axis %r is not an axis of shape %s" % (name, unit_axis, list(self.shape))
            )
        self.unit_axis = int(unit_axis) % rank
        self.sketch_dim = int(sketch_dim)
        self.seed = int(seed)
        rng = np.random.default_rng(_seed(name, seed, 1))
        count = min(self.size, int(num_traces))
        self.traces = np.sort(rng.choice(self.size, size=count, replace=False)).astype(np.int64)
        self.sample = None
        if self.size > quantile_sample:
            rng = np.random.default_rng(_seed(name, seed, 2))
            self.sample = np.sort(rng.integers(0, self.size, quantile_sample))
        self._flips = None

    @property
    def flips(self):
        """uint8 of the tensor's size, 1 where the sketch sign is -1 (:func:`sketch_flips`)."""
        if self._flips is None:
            self._flips = sketch_flips(self.name, self.seed, self.size)
        return self._flips

    @property
    def units(self):
        """``(outer, units, inner)``: the flat tensor seen as ``x.reshape(outer, units, inner)``."""
        a = self.unit_axis
        return math.prod(self.shape[:a]), self.shape[a], math.prod(self.shape[a + 1 :])

    @property
    def length(self):
        """Length of one trajectory point vector."""
        return len(STAT_FIELDS) + len(self.traces) + self.sketch_dim

    def content(self, dtype, index=None):
        """The metadata content: field order, trace indices, sketch parameters.

        ``index`` is the tensor's position in network order, when the writer knows it.
        """
        content = {
            "kind": "trajectory",
            "name": self.name,
            "shape": list(self.shape),
            "dtype": str(dtype),
            "fields": list(STAT_FIELDS),
            "quantiles": list(QUANTILES),
            "traces": self.traces.tolist(),
            "sketch_dim": self.sketch_dim,
            "sketch": SKETCH_SCHEME,
            "seed": self.seed,
            "unit_axis": self.unit_axis,
        }
        if index is not None:
            content["index"] = int(index)
        return content


def sketch(flat, plan, start=0):
    """CountSketch of a flat float64 vector: ``s[b] = sum of sign_j * x_j over j = b mod k``.

    ``flat`` holds the entries with flat indices ``start, start+1, ...`` (a chunk
    of the tensor; the chunks' sketches add up to the tensor's). Entry ``j``
    goes to bucket ``j mod k`` with the seeded random sign ``-1`` where ``plan.flips[j]``:
    the buckets need no hashing (contiguous entries land in distinct buckets,
    so a sketch is a reshape and a sum on any device), and the independent
    signs make it a CountSketch of the whole vector. Linear in ``flat``, so the
    sketches of all of a model's tensors add up to a sketch of the whole
    parameter vector; PCA over sketched steps approximates PCA over the full
    snapshots.

    >>> plan = TrajectoryPlan("w", (5,), sketch_dim=2)
    >>> signs = np.where(plan.flips, -1.0, 1.0)
    >>> s = sketch(np.arange(5.0), plan)
    >>> bool(s[0] == 0 * signs[0] + 2 * signs[2] + 4 * signs[4])
    True
    """
    k = plan.sketch_dim
    signed = np.where(plan.flips[start : start + flat.size], -flat, flat)
    return np.bincount((start + np.arange(flat.size)) % k, weights=signed, minlength=k)


def quantiles(values, levels=QUANTILES):
    """Linear-interpolated quantiles over the finite entries of ``values`` (NaN if none).

    ``values`` is 1-D, or 2-D for the quantiles of each row.

    >>> quantiles(np.array([3.0, np.nan, 1.0, 2.0]), (0.0, 0.5, 1.0)).tolist()
    [1.0, 2.0, 3.0]
    >>> quantiles(np.array([[1.0, 2.0], [np.inf, np.nan]]), (0.5,)).tolist()
    [[1.5], [nan]]
    """
    values = np.asarray(values, np.float64)
    rows = np.atleast_2d(values)
    finite = np.isfinite(rows)
    ordered = np.sort(np.where(finite, rows, np.inf), axis=1)  # non-finite last
    m = finite.sum(axis=1, keepdims=True)
    pos = np.asarray(levels, np.float64)[None, :] * (m - 1)
    last = np.maximum(m - 1, 0)
    lo = np.clip(np.floor(pos).astype(np.int64), 0, last)
    hi = np.minimum(lo + 1, last)
    v_lo = np.take_along_axis(ordered, lo, axis=1)
    v_hi = np.take_along_axis(ordered, hi, axis=1)
    with np.errstate(invalid="ignore"):
        q = np.where(m > 0, v_lo + (v_hi - v_lo) * (pos - lo), np.nan)
    return q if values.ndim == 2 else q[0]


#: The sums and counts a writer reduces where the tensor lives, in order;
#: :func:`finish_points` turns them (with the sample, traces and sketch) into
#: a trajectory point on the host. ``min``/``max`` are over finite entries
#: (+Inf/-Inf when there is none); ``moved_units`` counts the output units
#: with a non-zero update; the update sums are 0 without a previous value.
RAW_FIELDS = (
    "sum",
    "sumsq",
    "update_sumsq",
    "centred_sumsq",
    "min",
    "max",
    "nan_count",
    "finite_count",
    "zero_count",
    "moved_units",
)


def trajectory_point(x, previous, plan, gradient=None):
    """One trajectory point: ``STAT_FIELDS``, then trace values, then the sketch.

    ``previous`` is the value at the previous logged step, or None at the first
    (update norm, ratio and unchanged unit fraction are then NaN). Norm, mean
    and std include every entry (a NaN makes them NaN); min, max and quantiles
    are over finite entries. ``update_ratio = update_norm / norm`` (NaN when
    the norm is 0). ``unchanged_unit_fraction`` is the fraction of the slices
    along ``plan.unit_axis`` (output units) in which ``x - previous`` is exactly
    0 everywhere (computed in float64, so exact for every float input; an entry
    that is NaN or Inf in either counts as changed). ``gradient`` is the
    tensor's gradient at this step (same shape), or None (``grad_norm`` and
    ``grad_ratio`` are then NaN).
    """
    with np.errstate(invalid="ignore", over="ignore"):  # NaN/Inf are results here
        raw, sample, traces, sk = raw_point(x, previous, plan)
        grad = None if gradient is None else np.array([grad_sumsq(gradient)])
        return finish_points(raw[None], sample[None], traces[None], sk[None], plan,
                             previous is not None, grad)[0]


def grad_sumsq(gradient):
    """The sum of squares of ``gradient`` in float64 (``grad_norm`` squared).

    >>> grad_sumsq(np.array([3.0, 4.0], np.float16))
    25.0
    """
    flat = np.asarray(gradient).reshape(-1)
    return float(sum(np.dot(chunk, chunk) for _, chunk in _chunks(flat)))


def _chunks(flat):
    """``(start, float64 chunk)`` of a flat array, ``CHUNK_ELEMENTS`` at a time."""
    for start in range(0, flat.size, CHUNK_ELEMENTS):
        yield start, flat[start : start + CHUNK_ELEMENTS].astype(np.float64)


def raw_point(x, previous, plan):
    """``(RAW_FIELDS values, sample, traces, sketch)`` of ``x``, all float64.

    Two passes of float64 chunks: sums, counts, extremes and the sketch, then
    the centred sum of squares (std). One chunk = the unchunked arithmetic.
    """
    flat_x = np.asarray(x).reshape(-1)
    prev = None if previous is None else np.asarray(previous).reshape(-1)
    total = sq = dsq = 0.0
    zeros = nans = finite_count = 0
    lo, hi = math.inf, -math.inf
    sk = np.zeros(plan.sketch_dim)
    outer, units, inner = plan.units
    changed = np.zeros(units, bool)
    for start, flat in _chunks(flat_x):
        total += flat.sum()
        sq += np.dot(flat, flat)
        if prev is not None:
            delta = flat - prev[start : start + flat.size].astype(np.float64)
            dsq += np.dot(delta, delta)
            moved = start + np.flatnonzero(delta != 0)
            changed[(moved // inner) % units] = True
        finite = np.isfinite(flat)
        count = int(finite.sum())
        if count:
            f = flat[finite] if count < flat.size else flat
            lo, hi = min(lo, f.min()), max(hi, f.max())
        finite_count += count
        nans += int(np.isnan(flat).sum())
        zeros += int((flat == 0).sum())
        sk += sketch(flat, plan, start)
    mean = total / flat_x.size
    csq = 0.0
    for _, flat in _chunks(flat_x):
        centred = flat - mean
        csq += np.dot(centred, centred)
    raw = [total, sq, dsq, csq, lo, hi, nans, finite_count, zeros, changed.sum()]
    sample = flat_x if plan.sample is None else flat_x[plan.sample]
    return (
        np.asarray(raw, np.float64),
        sample.astype(np.float64),
        flat_x[plan.traces].astype(np.float64),
        sk,
    )


def finish_points(raw, sample, traces, sketches, plan, has_previous, grad_sumsq=None):
    """Trajectory points ``[G, plan.length]`` from G tensors' reductions.

    ``raw`` is ``[G, len(RAW_FIELDS)]``, ``sample`` ``[G, S]`` (the values at
    ``plan.sample``, or every value), ``traces`` ``[G, num_traces]``,
    ``sketches`` ``[G, k]``; ``plan`` is any of the G tensors' plans (they share
    size and units); ``has_previous`` says whether the update sums are real;
    ``grad_sumsq`` is ``[G]``, each gradient's sum of squares, or None when
    the writer has no gradients (their fields are then NaN). Every writer
    runs this same finishing step on the host, so the statistics are defined once.
    """
    r = {f: np.asarray(raw, np.float64)[:, i] for i, f in enumerate(RAW_FIELDS)}
    n = plan.size
    nan = np.full(len(r["sum"]), np.nan)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        norm = np.sqrt(r["sumsq"])
        update_norm = ratio = unchanged = nan
        if has_previous:
            update_norm = np.sqrt(r["update_sumsq"])
            ratio = np.where(norm > 0, update_norm / norm, np.nan)
            unchanged = 1.0 - r["moved_units"] / plan.units[1]
        some = r["finite_count"] > 0
        stats = [
            norm,
            update_norm,
            ratio,
            r["sum"] / n,
            np.sqrt(r["centred_sumsq"] / n),
            np.where(some, r["min"], np.nan),
            np.where(some, r["max"], np.nan),
        ]
        stats = np.stack(stats, axis=1)
        tail = np.stack(
            [r["zero_count"] / n, r["nan_count"], n - r["finite_count"] - r["nan_count"], unchanged],
            axis=1,
        )
        grad_norm = grad_ratio = nan
        if grad_sumsq is not None:
            grad_norm = np.sqrt(np.asarray(grad_sumsq, np.float64).reshape(-1))
            grad_ratio = np.where(norm > 0, grad_norm / norm, np.nan)
        grads = np.stack([grad_norm, grad_ratio], axis=1)
    return np.concatenate(
        [stats, quantiles(sample), tail, grads, np.asarray(traces, np.float64), sketches], axis=1
    )
