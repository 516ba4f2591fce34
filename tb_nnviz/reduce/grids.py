"""The numpy reference of every reduction tb_nnviz logs.

Each reduction has exactly one definition here (and in ``trajectory`` and
``spectrum``). The fast backends compute the same numbers behind one contract
(``numpy_ops`` documents it, ``backends.choose`` picks one): ``numba_ops``
(one-pass CPU kernels), ``tf_ops`` (TensorFlow, also under ``tb_nnviz.summary``)
and ``torch_ops`` (PyTorch); tests/test_backends.py holds each equal to this
reference.

Heatmap: any tensor of rank >= 1 becomes one 2-D grid, block-pooled to fit a
cell budget.

>>> planes, content = heatmap(np.arange(6.0).reshape(2, 3))
>>> planes.shape, content["layout"]["kind"], content["planes"]
((1, 2, 3), 'matrix', ['value'])
>>> planes, content = heatmap(np.ones((300, 300)), max_cells=100)
>>> planes.shape, content["pool"], content["planes"]
((2, 10, 10), [30, 30], ['mean', 'absmax'])

Trajectory points are defined in :mod:`tb_nnviz.reduce.trajectory`.
"""

import math

import numpy as np

#: Default cell budget of one heatmap (256 x 256); larger grids are pooled.
DEFAULT_MAX_CELLS = 256 * 256
#: Elements converted to float64 at a time by the numpy reductions. Tensors up
#: to this size take one pass with exactly the unchunked arithmetic; larger ones
#: are reduced chunk by chunk, so memory stays O(chunk) beyond the tensor itself
#: (a 100M-element float32 tensor needs ~0.1 GiB of temporaries, not ~6 GiB).
#: Chunked sums round differently in the last bits; counts, min, max, traces,
#: quantiles and absmax are exact either way.
CHUNK_ELEMENTS = 2**22
#: Unit axes (channels, rows or columns of a matrix) of at most this many
#: entries are never pooled: 10 classes, 3 RGB inputs and 64 channels stay
#: whole and the budget is spent on the other axis (see :func:`heatmap_pool`).
SMALL_AXIS = 64
#: A tensor whose unit axes are all small is drawn unpooled while its grid is
#: at most this many times its cell budget (and within the hard cap).
SMALL_TENSOR_FACTOR = 32
#: A heatmap chosen to be drawn at full resolution (the loggers' and the
#: Writer's ``full_resolution``) is unpooled up to this many cells (16 MiB of
#: float32 per logged step): every kernel of ResNet-50 and its 2048x1000
#: classifier; only a larger tensor (a 50k-token embedding) is pooled, to it.
FULL_RESOLUTION_CELLS = 2**22
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
    tb_nnviz.reduce.grids.TensorError: tensor name must be a non-empty string, got ''
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
    tb_nnviz.reduce.grids.TensorError: tensor 'flag' has dtype bool; only real numbers (float, int) can be logged
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


def heatmap_tile(shape, layout):
    """``(th, tw)``: the grid extent of one kernel tile, ``(1, 1)`` outside conv layouts.

    A conv grid is ``(in * th, out * tw)``: one tile per (in, out) channel pair.

    >>> heatmap_tile((3, 3, 256, 256), grid_layout((3, 3, 256, 256)))
    (3, 3)
    >>> heatmap_tile((64, 3, 7, 7), grid_layout((64, 3, 7, 7), "conv_first"))
    (7, 7)
    >>> heatmap_tile((2048, 10), grid_layout((2048, 10)))
    (1, 1)
    """
    if layout["kind"] not in ("conv", "conv_first"):
        return 1, 1
    return (math.prod(shape[a] for a in layout["rows"][1:]),
            math.prod(shape[a] for a in layout["cols"][1:]))


def heatmap_pool(shape, layout, max_cells=DEFAULT_MAX_CELLS, limit=DEFAULT_MAX_CELLS,
                 small_axis=SMALL_AXIS):
    """Block size ``(br, bc)`` of a heatmap: whole tiles, small axes kept.

    The grid's units are its (in, out) channel pairs, each a ``th x tw`` tile
    (:func:`heatmap_tile`; a matrix's units are its cells). Rules:

    - a grid of at most ``max_cells`` cells is not pooled;
    - nor is one whose unit axes are all at most ``small_axis`` while it has
      at most ``min(limit, SMALL_TENSOR_FACTOR * max_cells)`` cells (a 7x7
      RGB stem, a 3x3x64x64 kernel, a 64x10 classifier);
    - otherwise blocks are whole tiles, ``(a * th, b * tw)``: each cell is the
      mean (and absmax) of ``a x b`` channel pairs; ``a = 1`` (``b = 1``) when
      the in- (out-) axis has at most ``small_axis`` units, the other axis
      taking the budget (so a 2048x10 classifier keeps its 10 columns), else
      ``(a, b) = pool_factors(units, max_cells)``;
    - ``limit`` (at least ``max_cells``) is the hard cap: when the kept axes
      alone exceed it, they are pooled too.

    >>> lay = grid_layout((3, 3, 256, 256))
    >>> heatmap_pool((3, 3, 256, 256), lay, 1225)
    (24, 24)
    >>> heatmap_pool((2048, 10), grid_layout((2048, 10)), 600)
    (35, 1)
    >>> heatmap_pool((64, 3, 7, 7), grid_layout((64, 3, 7, 7), "conv_first"), 2500)
    (1, 1)
    """
    if max_cells < 1:
        raise TensorError("max_cells must be >= 1, got %r" % (max_cells,))
    rows, cols = grid_shape(shape, layout)
    if rows * cols <= max_cells:
        return 1, 1
    limit = max(limit, max_cells)
    th, tw = heatmap_tile(shape, layout)
    nr, nc = rows // th, cols // tw
    keep_r, keep_c = nr <= small_axis, nc <= small_axis
    if keep_r and keep_c and rows * cols <= min(limit, SMALL_TENSOR_FACTOR * max_cells):
        return 1, 1
    if keep_r and keep_c:
        a, b = 1, 1
    elif keep_r:
        a, b = 1, math.ceil(nc / max(1, max_cells // nr))
    elif keep_c:
        a, b = math.ceil(nr / max(1, max_cells // nc)), 1
    else:
        a, b = pool_factors(nr, nc, max_cells)
    if math.ceil(nr / a) * math.ceil(nc / b) > limit:
        a, b = pool_factors(nr, nc, limit)
    return a * th, b * tw


def heatmap_content(name, shape, dtype, layout="auto", max_cells=DEFAULT_MAX_CELLS, gates=None,
                    index=None, limit=None, small_axis=SMALL_AXIS):
    """The metadata content of a heatmap: everything a reader needs to draw it.

    ``gates`` names equal column blocks (e.g. ``["i", "f", "c", "o"]`` for an
    LSTM kernel) so the tab can tell them apart; ``index`` is the tensor's
    position in network order, when the writer knows it. Pooling follows
    :func:`heatmap_pool` (``max_cells`` the budget, ``limit`` the hard cap,
    by default ``max_cells``: see :func:`heatmap_cells` for the model-wide budget);
    a pooled heatmap's content also holds ``"pool_tiles": [a, b]``, its block
    in tiles (``pool == [a * th, b * tw]``), which marks tile-aligned pooling
    (logs written before it lack the field; their blocks may cut tiles).
    """
    shape = tuple(int(d) for d in shape)
    lay = grid_layout(shape, layout)
    rows, cols = grid_shape(shape, lay)
    limit = max_cells if limit is None else max(int(limit), 1)
    br, bc = heatmap_pool(shape, lay, max_cells, limit, small_axis)
    if gates is not None:
        gates = [str(g) for g in gates]
        if not gates or cols % len(gates):
            raise TensorError(
                "tensor %r: %d columns cannot be split into gates %r" % (name, cols, gates)
            )
    content = {
        "kind": "heatmap",
        "name": name,
        "shape": list(shape),
        "dtype": str(dtype),
        "layout": lay,
        "grid": [rows, cols],
        "pool": [br, bc],
        "planes": ["value"] if (br, bc) == (1, 1) else ["mean", "absmax"],
        "gates": gates,
    }
    if (br, bc) != (1, 1):
        th, tw = heatmap_tile(shape, lay)
        content["pool_tiles"] = [br // th, bc // tw]
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


def heatmap_cells(shape, layout, cap, max_cells=DEFAULT_MAX_CELLS):
    """The cell budget to give ``heatmap_content`` for one tensor under a model-wide ``cap``.

    ``cap`` (from :func:`heatmap_cap`), except for a tensor :func:`heatmap_pool`
    draws unpooled beyond it (small unit axes only, at most ``max_cells`` and
    ``SMALL_TENSOR_FACTOR * cap`` cells): its grid size.

    >>> lay = grid_layout((64, 3, 7, 7), "conv_first")
    >>> heatmap_cells((64, 3, 7, 7), lay, 2500), heatmap_cells((3, 3, 256, 256), grid_layout((3, 3, 256, 256)), 2500)
    (9408, 2500)
    """
    if heatmap_pool(shape, layout, cap, max_cells) == (1, 1):
        return max(int(cap), math.prod(grid_shape(shape, layout)))
    return int(cap)


def full_resolution_cells(shape, layout, max_cells=DEFAULT_MAX_CELLS):
    """The cell budget of a tensor drawn at full resolution: its whole grid, up to
    ``FULL_RESOLUTION_CELLS`` (and at least ``max_cells``).

    >>> lay = grid_layout((3, 3, 256, 256))
    >>> cells = full_resolution_cells((3, 3, 256, 256), lay)
    >>> cells, heatmap_content("w", (3, 3, 256, 256), "float32", "conv", cells)["pool"]
    (589824, [1, 1])
    """
    return max(int(max_cells), min(math.prod(grid_shape(shape, layout)), FULL_RESOLUTION_CELLS))


def heatmap_cap(grids, max_cells=DEFAULT_MAX_CELLS, max_total_cells=None):
    """The cell budget of each tensor so that one heatmap step of all ``grids`` fits ``max_total_cells``.

    ``grids`` are each tensor's ``(shape, layout)`` (layout as
    :func:`grid_layout` returns it), pooled as :func:`heatmap_pool` pools it
    with ``max_cells`` as the hard cap; a bare ``(rows, cols)`` stands for a
    matrix of that shape. A pooled heatmap stores two planes (mean and
    absmax), so it costs twice its cells. Every tensor gets the same cap
    ``c <= max_cells``, the largest for which the stored values add up to at
    most ``max_total_cells``: small tensors stay exact, large ones are pooled
    harder. With more tensors than the budget can hold at one cell each (or
    kept small axes alone over it), every tensor gets one cell.

    >>> heatmap_cap([(64, 64), (1, 64), (1000, 1000)], 65536, 10000)
    3086
    >>> heatmap_cap([(4, 4)], 65536, None)
    65536
    """
    if max_total_cells is None:
        return int(max_cells)
    if int(max_total_cells) < 1:
        raise TensorError("max_total_cells must be >= 1 or None, got %r" % (max_total_cells,))

    def cost(cap):
        total = 0
        for shape, layout in specs:
            rows, cols = grid_shape(shape, layout)
            br, bc = heatmap_pool(shape, layout, cap, max_cells)
            cells = math.ceil(rows / br) * math.ceil(cols / bc)
            total += cells if (br, bc) == (1, 1) else 2 * cells
        return total

    specs = [g if isinstance(g[1], dict) else ((int(g[0]), int(g[1])), grid_layout((1, 1)))
             for g in grids]

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
