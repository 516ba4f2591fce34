"""The numpy reference of every reduction tb_nnviz logs.

Each reduction has exactly one definition here; ``tb_nnviz.summary`` computes
the same thing with TensorFlow ops, and the tests hold the two equal.

Heatmap: any tensor of rank >= 1 becomes one 2-D grid, block-pooled to fit a
cell budget.

>>> planes, content = heatmap(np.arange(6.0).reshape(2, 3))
>>> planes.shape, content["layout"]["kind"], content["planes"]
((1, 2, 3), 'matrix', ['value'])
>>> planes, content = heatmap(np.ones((300, 300)), max_cells=100)
>>> planes.shape, content["pool"], content["planes"]
((2, 10, 10), [30, 30], ['mean', 'absmax'])

Trajectory point: statistics, single-parameter traces and a linear sketch.

>>> plan = TrajectoryPlan("w", (3, 4), num_traces=2, sketch_dim=4)
>>> point = trajectory_point(np.ones((3, 4)), None, plan)
>>> point.shape == (len(STAT_FIELDS) + 2 + 4,)
True
>>> bool(point[STAT_FIELDS.index("norm")] == np.sqrt(12))
True
"""

import math
import typing
import zlib

import numpy as np

#: Default cell budget of one heatmap (256 x 256); larger grids are pooled.
DEFAULT_MAX_CELLS = 256 * 256
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
#: Elements converted to float64 at a time by the numpy reductions. Tensors up
#: to this size take one pass with exactly the unchunked arithmetic; larger ones
#: are reduced chunk by chunk, so memory stays O(chunk) beyond the tensor itself
#: (a 100M-element float32 tensor needs ~0.1 GiB of temporaries, not ~6 GiB).
#: Chunked sums round differently in the last bits; counts, min, max, traces,
#: quantiles and absmax are exact either way.
CHUNK_ELEMENTS = 2**22
#: Quantile levels recorded in every trajectory point.
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
#: Named statistics at the start of every trajectory point, in order.
STAT_FIELDS = (
    "norm",
    "update_norm",
    "update_ratio",
    "mean",
    "std",
    "min",
    "max",
    "q05",
    "q25",
    "q50",
    "q75",
    "q95",
    "zero_fraction",
    "nan_count",
    "inf_count",
    "unchanged_unit_fraction",
    # Appended for gradients (NaN where a writer logged none): the gradient's
    # L2 norm at the step, taken before the optimizer applied it, and its
    # ratio to the weight's norm.
    "grad_norm",
    "grad_ratio",
)
#: Layout names accepted by :func:`grid_layout` (besides ``"split:K"``).
LAYOUTS = ("auto", "vector", "matrix", "conv", "transposed", "conv_first")


class TensorError(ValueError):
    """A tensor that cannot be logged; the message names the tensor."""


def check_name(name):
    """Raises ``TensorError`` unless ``name`` can be a TensorBoard tag.

    >>> check_name("dense/kernel")
    >>> check_name("")
    Traceback (most recent call last):
    ...
    tb_nnviz.reduce.TensorError: tensor name must be a non-empty string, got ''
    """
    if not isinstance(name, str) or not name:
        raise TensorError("tensor name must be a non-empty string, got %r" % (name,))
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise TensorError("tensor name %r contains control characters" % name)
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: event files hold UTF-8 tags
        raise TensorError("tensor name %r is not valid Unicode (not encodable as UTF-8)" % name) from None


def check_tensor(name, value):
    """Returns ``value`` as a numeric ndarray, or raises ``TensorError`` naming it.

    Floating types of any width (including bfloat16) and integers are accepted;
    bool, complex, string and object arrays, scalars and empty tensors are not.

    >>> check_tensor("b", [1.0, 2.0]).shape
    (2,)
    >>> check_tensor("flag", np.array([True]))
    Traceback (most recent call last):
    ...
    tb_nnviz.reduce.TensorError: tensor 'flag' has dtype bool; only real numbers (float, int) can be logged
    """
    check_name(name)
    x = np.asarray(value)
    if not _is_real_numeric(x.dtype):
        raise TensorError(
            "tensor %r has dtype %s; only real numbers (float, int) can be logged"
            % (name, x.dtype)
        )
    if x.ndim == 0:
        raise TensorError(
            "tensor %r is a scalar (rank 0); heatmaps and trajectories need rank >= 1 "
            "(log scalars with tf.summary.scalar)" % name
        )
    if x.size == 0:
        raise TensorError("tensor %r is empty (shape %s)" % (name, list(x.shape)))
    return x


def _is_real_numeric(dtype):
    if dtype.kind in "fiu":
        return True
    # ml_dtypes' bfloat16 / float8 types (as TensorFlow hands them out) have kind "V".
    return dtype.kind == "V" and dtype.name.startswith(("bfloat16", "float8"))


# ---------------------------------------------------------------------------
# Heatmaps


def grid_layout(shape, layout="auto"):
    """How a tensor of ``shape`` is laid onto a 2-D grid.

    Returns ``{"kind", "rows", "cols"}``: the grid is
    ``x.transpose(rows + cols).reshape(prod(rows dims), prod(cols dims))``, so a
    row index is the mixed-radix number of the ``rows`` axes (first = major).

    - ``vector`` (rank 1): one row, ``1 x n``.
    - ``matrix`` (rank 2): as is, ``(in, out)``.
    - ``conv`` (rank >= 3, the last two axes are in- and out-channels): a tile per
      (in, out) pair; a tile is the spatial kernel with its last spatial axis
      across, so Conv2D ``(kh, kw, in, out)`` -> ``(in*kh, out*kw)``, Conv1D
      ``(kw, in, out)`` -> ``(in, out*kw)``, Conv3D ``(kd, kh, kw, in, out)`` ->
      ``(in*kd*kh, out*kw)``.
    - ``split:K``: the first K axes down, the rest across (attention kernels:
      query ``(d, heads, dk)`` is ``split:1``, output ``(heads, dv, d)`` ``split:2``).
    - ``transposed`` (rank 2): PyTorch's ``(out, in)`` drawn as ``(in, out)``,
      the way ``matrix`` draws a Keras kernel.
    - ``conv_first`` (rank >= 3, channels first, PyTorch's ``(out, in, *spatial)``):
      the same tiles as ``conv`` draws for the Keras kernel, e.g. Conv2d
      ``(out, in, kh, kw)`` -> ``(in*kh, out*kw)``.

    ``auto`` picks vector, matrix or conv by rank.

    >>> grid_layout((3, 3, 8, 16))
    {'kind': 'conv', 'rows': [2, 0], 'cols': [3, 1]}
    >>> grid_layout((64, 4, 16), "split:1")
    {'kind': 'split', 'rows': [0], 'cols': [1, 2]}
    >>> grid_layout((16, 8, 3, 3), "conv_first")
    {'kind': 'conv_first', 'rows': [1, 2], 'cols': [0, 3]}
    """
    rank = len(shape)
    if rank == 0:
        raise TensorError("a scalar (rank 0) has no grid layout")
    if not isinstance(layout, str):
        raise TensorError("layout must be a string, got %r" % (layout,))
    kind = layout
    if kind == "auto":
        kind = {1: "vector", 2: "matrix"}.get(rank, "conv")
    if kind == "vector" and rank == 1:
        return {"kind": kind, "rows": [], "cols": [0]}
    if kind == "matrix" and rank == 2:
        return {"kind": kind, "rows": [0], "cols": [1]}
    if kind == "conv" and rank >= 3:
        spatial = list(range(rank - 2))
        return {"kind": kind, "rows": [rank - 2] + spatial[:-1], "cols": [rank - 1, spatial[-1]]}
    if kind == "transposed" and rank == 2:
        return {"kind": kind, "rows": [1], "cols": [0]}
    if kind == "conv_first" and rank >= 3:
        spatial = list(range(2, rank))
        return {"kind": kind, "rows": [1] + spatial[:-1], "cols": [0, spatial[-1]]}
    if kind.startswith("split:"):
        try:
            k = int(kind[len("split:") :])
        except ValueError:
            k = -1
        if 0 <= k <= rank:
            return {"kind": "split", "rows": list(range(k)), "cols": list(range(k, rank))}
    raise TensorError(
        "layout %r does not fit a tensor of shape %s; use one of %s or 'split:K' "
        "with 0 <= K <= %d" % (layout, list(shape), ", ".join(LAYOUTS), rank)
    )


def grid_shape(shape, layout):
    """``(rows, cols)`` of the unpooled grid of a tensor laid out by ``layout``."""
    rows = math.prod(shape[a] for a in layout["rows"])
    cols = math.prod(shape[a] for a in layout["cols"])
    return rows, cols


def to_grid(x, layout):
    """Lays ``x`` onto its 2-D grid (see :func:`grid_layout`)."""
    return np.transpose(x, layout["rows"] + layout["cols"]).reshape(
        grid_shape(x.shape, layout)
    )


def pool_factors(rows, cols, max_cells=DEFAULT_MAX_CELLS):
    """Block size ``(br, bc)`` so that the pooled grid has at most ``max_cells`` cells.

    Blocks are as square as the grid allows; ``(1, 1)`` when the grid fits.

    >>> pool_factors(50000, 512, 65536)
    (20, 20)
    >>> pool_factors(1, 1000000, 65536)
    (1, 16)
    """
    if max_cells < 1:
        raise TensorError("max_cells must be >= 1, got %r" % (max_cells,))
    if rows * cols <= max_cells:
        return 1, 1
    side = math.ceil(math.sqrt(rows * cols / max_cells))
    br, bc = min(side, rows), min(side, cols)
    while math.ceil(rows / br) * math.ceil(cols / bc) > max_cells:
        if br < rows and (bc >= cols or math.ceil(rows / br) >= math.ceil(cols / bc)):
            br += 1
        else:
            bc = max(bc + 1, math.ceil(cols / (max_cells // math.ceil(rows / br))))
    return br, bc


def pool(grid, br, bc):
    """Block-pools a 2-D grid: ``(mean, absmax)`` of each ``br x bc`` block.

    Edge blocks may be smaller; their mean is over the cells they have.
    ``absmax`` is the value of largest magnitude (``+m`` when both ``+m`` and
    ``-m`` occur), NaN when the block holds a NaN, so one outlier stays visible.

    >>> mean, absmax = pool(np.array([[1.0, -5.0, 2.0]]), 1, 2)
    >>> mean.tolist(), absmax.tolist()
    ([[-2.0, 2.0]], [[-5.0, 2.0]])
    """
    rows, cols = grid.shape
    r, c = math.ceil(rows / br), math.ceil(cols / bc)
    padded = np.zeros((r * br, c * bc), np.float64)
    padded[:rows, :cols] = grid
    blocks = padded.reshape(r, br, c, bc)
    row_counts = np.minimum(br, rows - br * np.arange(r))
    col_counts = np.minimum(bc, cols - bc * np.arange(c))
    with np.errstate(invalid="ignore"):  # +Inf and -Inf in one block give NaN
        mean = blocks.sum(axis=(1, 3)) / np.outer(row_counts, col_counts)
    magnitude = np.abs(blocks).max(axis=(1, 3))
    has_positive = (blocks == magnitude[:, None, :, None]).any(axis=(1, 3))
    absmax = np.where(has_positive, magnitude, -magnitude)
    return mean, absmax


def heatmap_content(name, shape, dtype, layout="auto", max_cells=DEFAULT_MAX_CELLS, gates=None,
                    index=None):
    """The metadata content of a heatmap: everything a reader needs to draw it.

    ``gates`` names equal column blocks (e.g. ``["i", "f", "c", "o"]`` for an
    LSTM kernel) so the tab can tell them apart; ``index`` is the tensor's
    position in network order, when the writer knows it.
    """
    lay = grid_layout(tuple(shape), layout)
    rows, cols = grid_shape(shape, lay)
    br, bc = pool_factors(rows, cols, max_cells)
    if gates is not None:
        gates = [str(g) for g in gates]
        if not gates or cols % len(gates):
            raise TensorError(
                "tensor %r: %d columns cannot be split into gates %r" % (name, cols, gates)
            )
    content = {
        "kind": "heatmap",
        "name": name,
        "shape": [int(d) for d in shape],
        "dtype": str(dtype),
        "layout": lay,
        "grid": [rows, cols],
        "pool": [br, bc],
        "planes": ["value"] if (br, bc) == (1, 1) else ["mean", "absmax"],
        "gates": gates,
    }
    if index is not None:
        content["index"] = int(index)
    return content


def heatmap_planes(x, content):
    """The float32 array ``(planes, rows, cols)`` stored for tensor ``x``.

    Pooling runs over tiles of whole blocks of about ``CHUNK_ELEMENTS`` cells
    each (blocks never straddle tiles, so the result equals ``pool`` of the
    whole grid); only one tile at a time is held in float64.
    """
    grid = to_grid(x, content["layout"])
    br, bc = content["pool"]
    if (br, bc) == (1, 1):
        return grid.astype(np.float32)[None]
    rows, cols = grid.shape
    r, c = math.ceil(rows / br), math.ceil(cols / bc)
    blocks = max(1, CHUNK_ELEMENTS // (br * bc))  # blocks per tile
    tc = min(c, blocks)
    tr = max(1, blocks // tc)
    out = np.empty((2, r, c), np.float32)
    for i in range(0, r, tr):
        for j in range(0, c, tc):
            tile = grid[i * br : (i + tr) * br, j * bc : (j + tc) * bc]
            mean, absmax = pool(tile.astype(np.float64), br, bc)
            out[0, i : i + tr, j : j + tc] = mean
            out[1, i : i + tr, j : j + tc] = absmax
    return out


def heatmap(x, name="x", layout="auto", max_cells=DEFAULT_MAX_CELLS, gates=None):
    """Returns ``(planes, content)`` for tensor ``x``; see the module docstring."""
    x = check_tensor(name, x)
    content = heatmap_content(name, x.shape, x.dtype, layout, max_cells, gates)
    return heatmap_planes(x, content), content


def heatmap_cap(grids, max_cells=DEFAULT_MAX_CELLS, max_total_cells=None):
    """The cell budget of each tensor so that one heatmap step of all ``grids`` fits ``max_total_cells``.

    ``grids`` are the ``(rows, cols)`` of each tensor's unpooled grid. A pooled
    heatmap stores two planes (mean and absmax), so it costs twice its cells.
    Every tensor gets the same cap ``c <= max_cells``, the largest for which
    the stored values add up to at most ``max_total_cells``: small tensors stay
    exact, large ones are pooled harder. With more tensors than the budget can
    hold at one cell each, every tensor gets one cell.

    >>> heatmap_cap([(64, 64), (1, 64), (1000, 1000)], 65536, 10000)
    3968
    >>> heatmap_cap([(4, 4)], 65536, None)
    65536
    """
    if max_total_cells is None:
        return int(max_cells)
    if int(max_total_cells) < 1:
        raise TensorError("max_total_cells must be >= 1 or None, got %r" % (max_total_cells,))

    def cost(cap):
        total = 0
        for rows, cols in grids:
            if rows * cols <= cap:
                total += rows * cols
            else:
                br, bc = pool_factors(rows, cols, cap)
                total += 2 * math.ceil(rows / br) * math.ceil(cols / bc)
        return total

    lo, hi = 1, int(max_cells)
    if cost(hi) <= max_total_cells:
        return hi
    while lo < hi:  # the largest cap that fits
        mid = (lo + hi + 1) // 2
        if cost(mid) <= max_total_cells:
            lo = mid
        else:
            hi = mid - 1
    return lo


# ---------------------------------------------------------------------------
# Trajectories


def _seed(name, seed, stream):
    return [int(seed), zlib.crc32(name.encode("utf-8")), stream]


class TrajectoryPlan:
    """The fixed, seeded choices behind the trajectory points of one tensor.

    Built once per tensor from its name, shape and options; deterministic, so
    the numpy and TensorFlow paths (and every process) pick the same traces,
    quantile sample and sketch signs.

    Attributes:
      traces: flat indices of the traced parameters (sorted int64 array).
      sample: flat indices the quantiles are taken over, or None for all.
      unit_axis: the axis whose slices are the tensor's output units (default
        -1: a Keras kernel ``(in, out)`` or conv kernel ``(..., in, out)``;
        PyTorch's ``(out, in, ...)`` is 0), normalised to ``0..rank-1``.
      signs: the CountSketch signs, a bool array of the tensor's size
        (True = +1), made on first use.

    >>> plan = TrajectoryPlan("w", (3, 4), num_traces=2, sketch_dim=4)
    >>> plan.traces.tolist(), plan.unit_axis, plan.signs.shape
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
        self._signs = None

    @property
    def signs(self):
        """CountSketch signs of the flat entries (True = +1), seeded by name and seed."""
        if self._signs is None:
            rng = np.random.default_rng(_seed(self.name, self.seed, 3))
            self._signs = rng.random(self.size) < 0.5
        return self._signs

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


class PointLayout(typing.NamedTuple):
    """Where the parts of a stored trajectory point lie (see :func:`point_layout`)."""

    #: Each statistic's column, by field name (``{"norm": 0, ...}``).
    fields: dict
    #: Columns of the traced parameters' values.
    traces: slice
    #: Columns of the sketch.
    sketch: slice
    #: Length of the point.
    length: int


def point_layout(content):
    """The ``PointLayout`` of points logged with trajectory metadata ``content``
    (``TrajectoryPlan.content``, of this or an older version): the named
    statistics, then the traces, then the sketch. Readers look columns up
    here, by name, never by position.

    >>> plan = TrajectoryPlan("w", (3, 4), num_traces=2, sketch_dim=4)
    >>> layout = point_layout(plan.content("float32"))
    >>> layout.fields["norm"], layout.traces.stop - layout.traces.start, layout.length == plan.length
    (0, 2, True)
    """
    fields = list(content["fields"])
    traces_end = len(fields) + len(content["traces"])
    end = traces_end + int(content["sketch_dim"])
    return PointLayout(
        {name: i for i, name in enumerate(fields)},
        slice(len(fields), traces_end),
        slice(traces_end, end),
        end,
    )


#: Name of the sketch definition below, recorded in the trajectory content.
SKETCH_SCHEME = "countsketch-mod-k"


def sketch(flat, plan, start=0):
    """CountSketch of a flat float64 vector: ``s[b] = sum of sign_j * x_j over j = b mod k``.

    ``flat`` holds the entries with flat indices ``start, start+1, ...`` (a chunk
    of the tensor; the chunks' sketches add up to the tensor's). Entry ``j``
    goes to bucket ``j mod k`` with the seeded random sign ``plan.signs[j]``:
    the buckets need no hashing (contiguous entries land in distinct buckets,
    so a sketch is a reshape and a sum on any device), and the independent
    signs make it a CountSketch of the whole vector. Linear in ``flat``, so the
    sketches of all of a model's tensors add up to a sketch of the whole
    parameter vector; PCA over sketched steps approximates PCA over the full
    snapshots.

    >>> plan = TrajectoryPlan("w", (5,), sketch_dim=2)
    >>> signs = np.where(plan.signs, 1.0, -1.0)
    >>> s = sketch(np.arange(5.0), plan)
    >>> bool(s[0] == 0 * signs[0] + 2 * signs[2] + 4 * signs[4])
    True
    """
    k = plan.sketch_dim
    signed = np.where(plan.signs[start : start + flat.size], flat, -flat)
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
    the writer has no gradients (their fields are then NaN). Every writer runs this same finishing step on the host, so the statistics
    are defined once.
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
