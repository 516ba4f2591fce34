"""Heatmaps of a tensor held in blocks (shards): each block's partial grid, merged into the whole one.

A block is the box ``offset .. offset + local_shape`` of the whole tensor (a
rank's shard under FSDP2 or tensor parallelism). Laid onto the whole
tensor's heatmap grid (``grids.to_grid``), the block's rows land on grid rows
that grow with the block's own row-major order (a row index is a mixed-radix
number of the row axes; so is a column index), so its pooled cells are
segment reductions of the block's own grid (``np.ufunc.reduceat``) over the
runs of rows and columns that share a cell. A block's partial holds, over
the box of cells it reaches (:func:`cell_box`), the sum of its entries in
each cell and, for a pooled heatmap, their signed absmax (the value of
largest magnitude, ``+m`` when both ``+m`` and ``-m`` occur, NaN with a NaN);
cells of the box it does not reach hold 0, which neither changes a sum nor
wins an absmax. :func:`merge` adds the sums, combines the absmaxes, and
divides each cell's sum by its entry count (known from the grid), which is
``grids.heatmap_planes`` of the whole tensor up to the order of the float64
additions.

>>> from tb_nnviz.reduce import grids
>>> x = np.arange(35.0).reshape(7, 5) - 17
>>> content = grids.heatmap_content("w", x.shape, "float64", max_cells=6)
>>> content["pool"], content["planes"]
([3, 3], ['mean', 'absmax'])
>>> parts = [(cell_box(x.shape, o, b.shape, content), block_planes(b, o, x.shape, content))
...          for o, b in [((0, 0), x[:4]), ((4, 0), x[4:])]]  # rows 0..3 and 4..6: cells 0..1 and 1..2
>>> [box for box, _ in parts]
[(0, 2, 0, 2), (1, 3, 0, 2)]
>>> np.array_equal(merge(parts, content), grids.heatmap_planes(x, content))
True
"""

import math

import numpy as np

from tb_nnviz.reduce import numba_ops


def _grid_index(axes, shape, offset, local_shape):
    """int64 whole-grid indices (mixed radix over ``axes``, the first major) of the block's rows (or columns)."""
    idx = np.zeros(1, np.int64)
    for a in axes:
        idx = (idx[:, None] * shape[a] + (offset[a] + np.arange(local_shape[a], dtype=np.int64))).reshape(-1)
    return idx


def _corner(axes, shape, at):
    index = 0
    for a in axes:
        index = index * shape[a] + at[a]
    return index


def planes_count(content):
    """Planes a block's partial holds: 1 (the sum; the value of an unpooled grid) or 2 (and the absmax)."""
    return 1 if tuple(content["pool"]) == (1, 1) else 2


def cell_box(shape, offset, local_shape, content):
    """``(r0, r1, c0, c1)``: the (pooled) heatmap cells ``r0 <= row < r1``, ``c0 <= col < c1`` that
    the block ``offset .. offset + local_shape`` of a tensor of ``shape`` reaches; ``(0, 0, 0, 0)`` for
    an empty block. Computed from the block's two corners (no data), so every rank knows every box.

    >>> from tb_nnviz.reduce import grids
    >>> content = grids.heatmap_content("w", (7, 5), "float32", max_cells=6)
    >>> cell_box((7, 5), (4, 0), (3, 5), content), cell_box((7, 5), (7, 0), (0, 5), content)
    ((1, 3, 0, 2), (0, 0, 0, 0))
    """
    if math.prod(local_shape) == 0:
        return 0, 0, 0, 0
    lay, (br, bc) = content["layout"], content["pool"]
    last = [o + n - 1 for o, n in zip(offset, local_shape)]
    return (_corner(lay["rows"], shape, offset) // br, _corner(lay["rows"], shape, last) // br + 1,
            _corner(lay["cols"], shape, offset) // bc, _corner(lay["cols"], shape, last) // bc + 1)


def box_size(box, content):
    """Values of a block's partial over ``box`` (:func:`cell_box`): planes x cells."""
    r0, r1, c0, c1 = box
    return planes_count(content) * (r1 - r0) * (c1 - c0)


def block_planes(x, offset, shape, content, fast=True):
    """The float64 partial ``[P, r1 - r0, c1 - c0]`` of block ``x`` (at ``offset`` of a tensor of ``shape``)
    over its :func:`cell_box`: per cell the sum of the block's entries (an unpooled grid: the entry)
    and, when pooled, their signed absmax; 0 where the block has no entry.

    ``x`` is a numpy array of the block's shape (float32 or float64; NaN and
    +/-Inf allowed). With ``fast`` (default) and numba installed, a pooled
    grid is reduced by one pass of ``numba_ops.block_pool``, else by numpy's
    segment reductions (``reduceat``, 5-10x slower). Memory: the block's grid
    (a copy when its layout reorders it beyond a transpose), O(block).
    """
    x = np.asarray(x)
    shape = tuple(shape)
    box = cell_box(shape, offset, x.shape, content)
    out = np.zeros([planes_count(content), box[1] - box[0], box[3] - box[2]])
    if not x.size:
        return out
    lay, (br, bc) = content["layout"], content["pool"]
    rows = _grid_index(lay["rows"], shape, offset, x.shape)
    cols = _grid_index(lay["cols"], shape, offset, x.shape)
    grid = np.transpose(x, lay["rows"] + lay["cols"]).reshape(rows.size, cols.size)
    if (br, bc) == (1, 1):
        out[0][np.ix_(rows - box[0], cols - box[2])] = grid
        return out
    ri, ci = rows // br, cols // bc
    rs = np.flatnonzero(np.r_[True, ri[1:] != ri[:-1]])  # the first row of each run in one cell row
    cs = np.flatnonzero(np.r_[True, ci[1:] != ci[:-1]])
    if fast and numba_ops.usable(grid.dtype):
        numba_ops.block_pool(grid, rs, ri[rs] - box[0], cs, ci[cs] - box[2], out[0], out[1])
        return out
    at = np.ix_(ri[rs] - box[0], ci[cs] - box[2])
    with np.errstate(invalid="ignore", over="ignore"):  # +Inf and -Inf in one cell give NaN
        out[0][at] = np.add.reduceat(np.add.reduceat(grid, rs, axis=0, dtype=np.float64), cs, axis=1)
    high = np.maximum.reduceat(np.maximum.reduceat(grid, rs, axis=0), cs, axis=1)
    low = np.minimum.reduceat(np.minimum.reduceat(grid, rs, axis=0), cs, axis=1)
    out[1][at] = np.where(high >= -low, high, low)  # NaN in a cell: both NaN
    return out


def merge_absmax(a, b):
    """The signed absmax of two signed absmaxes (elementwise): ``+m`` when either is ``+m``, NaN with a NaN.

    >>> merge_absmax(np.array([-3.0, 3.0, 0.0, np.nan]), np.array([3.0, -3.0, -2.0, 1.0])).tolist()
    [3.0, 3.0, -2.0, nan]
    """
    m = np.maximum(np.abs(a), np.abs(b))
    return np.where((a == m) | (b == m), m, -m)


def _meet(a, b):
    """Whether boxes ``(r0, r1, c0, c1)`` ``a`` and ``b`` share a cell."""
    return max(a[0], b[0]) < min(a[1], b[1]) and max(a[2], b[2]) < min(a[3], b[3])


def merge(parts, content):
    """The float32 planes ``[P, R, C]`` of the whole tensor (``grids.heatmap_planes``) from the
    ``(box, planes)`` of its blocks (:func:`cell_box`, :func:`block_planes`); every entry of the
    tensor in exactly one block (a replicated copy counted once)."""
    (rows, cols), (br, bc) = content["grid"], content["pool"]
    r, c = -(-rows // br), -(-cols // bc)
    total = np.zeros((r, c))
    absmax = np.zeros((r, c)) if planes_count(content) == 2 else None
    seen = []
    with np.errstate(invalid="ignore", over="ignore"):
        for box, planes in parts:
            r0, r1, c0, c1 = box
            if r1 <= r0 or c1 <= c0:
                continue
            # Blocks' boxes overlap only where a cell straddles two blocks: the box is copied in whole,
            # then the cells it shares with earlier boxes get their earlier values merged back.
            shared = [(max(r0, a0), min(r1, a1), max(c0, b0), min(c1, b1)) for a0, a1, b0, b1 in seen]
            shared = [(a0, a1, b0, b1) for a0, a1, b0, b1 in shared if a0 < a1 and b0 < b1]
            if any(_meet(x, y) for k, x in enumerate(shared) for y in shared[:k]):  # a cell of 3+ blocks
                shared = [box]
            kept = [(sh, total[sh[0] : sh[1], sh[2] : sh[3]].copy(),
                     None if absmax is None else absmax[sh[0] : sh[1], sh[2] : sh[3]].copy()) for sh in shared]
            total[r0:r1, c0:c1] = planes[0]
            if absmax is not None:
                absmax[r0:r1, c0:c1] = planes[1]
            for (a0, a1, b0, b1), t, a in kept:
                total[a0:a1, b0:b1] += t
                if absmax is not None:
                    absmax[a0:a1, b0:b1] = merge_absmax(absmax[a0:a1, b0:b1], a)
            seen.append(box)
        if absmax is None:
            return total.astype(np.float32)[None]
        counts = np.outer(np.minimum(br, rows - br * np.arange(r)), np.minimum(bc, cols - bc * np.arange(c)))
        return np.stack([total / counts, absmax]).astype(np.float32)
