"""The backend contract (``tb_nnviz.reduce.numpy_ops``) as one-pass numba kernels over CPU float32/float64 arrays.

The TensorFlow and torch ops (``tf_ops``, ``torch_ops``) make a dozen or
more op-at-a-time passes over each tensor, each op a call into an executor;
on a CPU shared with other work, where the cache is not the logger's alone,
each pass goes back to memory. These kernels read a float32 or float64
tensor once, in blocks of :data:`BLOCK` entries that stay in the L1/L2 cache
while the sums, the update's per-unit norms, the sketch and the copy kept
for the next step are taken from them; a pooled heatmap is one pass over
the tensor's grid. They compute ``trajectory.RAW_FIELDS``, the sketch and
``grids.heatmap_planes`` as the numpy reference defines them, with float64
accumulators; only the order of the additions differs (tests/test_backends.py
holds them equal). Eigenvalues have no kernel: numpy's ``eigvalsh`` of the
float64 Gram matrix, as the framework ops compute them.

``tb_nnviz.reduce.backends.choose`` picks these kernels for CPU
float32/float64 weights when numba is installed (the ``tf``, ``torch`` and
``demo`` extras bring it); other devices and dtypes take the framework's
ops. Numba compiles them on first use and caches the machine code (about
3 s, once).

>>> from tb_nnviz.reduce import trajectory
>>> from tb_nnviz.reduce.group import TrajectoryGroup
>>> xs = np.arange(24, dtype=np.float32).reshape(2, 12)
>>> group = TrajectoryGroup([trajectory.TrajectoryPlan(n, (3, 4), sketch_dim=4) for n in "ab"])
>>> raw, sample, traces, sk = raw_points(xs, None, group, constants(group))
>>> want = trajectory.raw_point(xs[1].reshape(3, 4), None, group.plans[1])
>>> bool(np.allclose(raw[1], want[0]) and np.allclose(sk[1], want[3]))
True
"""

import numpy as np

from tb_nnviz.reduce import grids
from tb_nnviz.reduce.trajectory import RAW_FIELDS

try:
    import numba
except ImportError:  # the framework ops do the work
    numba = None

#: Entries per block: 64 KiB of float64, so a block and its neighbours stay in
#: L1/L2 through the kernel's few sweeps over it.
BLOCK = 2**13
#: Floating dtypes the kernels take; other tensors go the framework's way.
DTYPES = (np.float32, np.float64)


def usable(dtype):
    """Whether the kernels take arrays of ``dtype`` (a numpy dtype or its name) here: numba is installed.

    >>> usable("float32") == (numba is not None), usable("float16"), usable("bfloat16")
    (True, False, False)
    """
    try:
        dtype = np.dtype(dtype)
    except TypeError:  # a name numpy does not know (bfloat16 without ml_dtypes)
        return False
    return numba is not None and dtype in DTYPES


def constants(group, device=None):
    """``{"traces", "sample", "flips"}`` of ``group``: its numpy arrays, used in place."""
    return {"traces": group.traces, "sample": group.sample, "flips": group.flips}


def heatmap_planes(xs, content, work=None):
    """``grids.heatmap_planes`` of each of the G arrays ``xs`` (a :func:`usable` dtype): float32 ``[G, P, R, C]``.

    The grid is ``grids.to_grid`` (a view where the layout allows); a pooled
    heatmap's blocks are reduced in one pass over it.

    >>> x = np.arange(12.0).reshape(3, 4)
    >>> content = grids.heatmap_content("w", x.shape, x.dtype, max_cells=4)
    >>> np.array_equal(heatmap_planes([x], content)[0], grids.heatmap_planes(x, content))
    True
    """
    return np.stack([_heatmap_planes(np.asarray(x).reshape(content["shape"]), content) for x in xs])


def _heatmap_planes(x, content):
    grid = grids.to_grid(x, content["layout"])
    br, bc = content["pool"]
    if (br, bc) == (1, 1):
        return grid.astype(np.float32)[None]
    rows, cols = grid.shape
    r, c = -(-rows // br), -(-cols // bc)
    sums, absmax = np.empty((r, c)), np.empty((r, c))
    # The whole grid is one block whose cells start every br rows and bc columns.
    block_pool(grid, np.arange(0, rows, br), np.arange(r), np.arange(0, cols, bc), np.arange(c), sums, absmax)
    counts = np.outer(np.minimum(br, rows - br * np.arange(r)), np.minimum(bc, cols - bc * np.arange(c)))
    return np.stack([sums / counts, absmax]).astype(np.float32)


def raw_points(xs, previous, group, constants, work=None, keep=None):
    """``(raw, sample, traces, sketch)``, float64 ``[G, ...]``, of the G arrays ``xs``
    (one shape, a :func:`usable` dtype), one pass over each.

    ``previous`` and ``keep`` are G arrays or None; ``keep`` may be
    ``previous`` itself (each block is copied after its update is taken).
    """
    xs = [np.asarray(x).reshape(-1) for x in xs]
    raw = np.empty((len(xs), len(RAW_FIELDS)))
    sk = np.empty((len(xs), group.sketch_dim))
    for i, x in enumerate(xs):
        raw[i], sk[i] = _raw_point(x, None if previous is None else previous[i].reshape(-1),
                                   None if keep is None else keep[i].reshape(-1), constants["flips"][i],
                                   group.units, group.sketch_dim)
    sample = constants["sample"]
    values = np.stack(xs) if sample is None else np.stack([x[s] for x, s in zip(xs, sample)])
    picked = np.stack([x[t] for x, t in zip(xs, constants["traces"])])
    return raw, values.astype(np.float64), picked.astype(np.float64), sk


def _raw_point(x, previous, keep, flips, units, sketch_dim):
    """``(RAW_FIELDS values, sketch)`` (float64) of flat ``x``: ``trajectory.raw_point`` without the sample and traces.

    ``previous`` (flat) holds the values at the previous point, or is None;
    ``keep`` (flat, may be ``previous``) receives a copy of ``x``, or is None.
    ``flips`` is uint8, 1 where the sketch sign is -1; ``units`` is
    ``TrajectoryPlan.units``.
    """
    n = x.size
    _, count, inner = units
    raw = np.zeros(len(RAW_FIELDS))
    sk = np.zeros(sketch_dim)
    unit_sq = np.zeros(count)
    unit_ch = np.zeros(count)
    has_prev, has_keep = previous is not None, keep is not None
    _sweep(x, previous if has_prev else x[:0], keep if has_keep else x[:0], has_prev, has_keep,
           flips, inner, count, BLOCK, raw, sk, unit_sq, unit_ch)
    if np.isfinite(raw[1]):
        # No NaN or Inf (one would make the sum of squares NaN or Inf): numpy's
        # vectorised extremes are exact, and every entry is finite.
        raw[4], raw[5], raw[6], raw[7] = x.min(), x.max(), 0.0, n
    else:
        _masked_extremes(x, raw)
    mean_sq = raw[0] * raw[0] / n
    if np.isfinite(raw[1]) and mean_sq <= raw[1] / 2:
        # As torch_ops: at most one bit lost to cancellation, no second pass.
        raw[3] = raw[1] - mean_sq
    else:
        raw[3] = _centred_sumsq(x, raw[0] / n)
    if has_prev:
        raw[2] = unit_sq.sum()
        raw[9] = np.count_nonzero(unit_ch)
    return raw, sk


def block_pool(grid, row_starts, row_cells, col_starts, col_cells, sums, absmax):
    """Fills ``sums`` and ``absmax`` (float64 ``[r, c]``) with the sum and signed absmax of a block's
    entries in each heatmap cell it reaches (``tb_nnviz.reduce.blocks.block_planes``), one pass over ``grid``.

    ``grid`` is the block's own 2-D grid (a :func:`usable` dtype); its rows
    ``row_starts[k]`` up to the next start fall in cell row ``row_cells[k]``,
    its columns likewise; cells it does not reach are left as they are.

    >>> grid = np.array([[1.0, -5.0, 2.0], [np.nan, 0.0, 1.0]])
    >>> sums, absmax = np.zeros((2, 2)), np.zeros((2, 2))
    >>> block_pool(grid, np.array([0, 1]), np.array([0, 1]), np.array([0, 2]), np.array([1, 0]), sums, absmax)
    >>> sums.tolist(), absmax.tolist()
    ([[2.0, -4.0], [1.0, nan]], [[2.0, -5.0], [1.0, nan]])
    """
    if not grid.flags.c_contiguous and grid.T.flags.c_contiguous:
        # A transposed layout (PyTorch's Linear): the cells of the grid are the
        # transposed cells of the tensor, which is read in its own order.
        _block_pool(grid.T, col_starts, col_cells, row_starts, row_cells, sums.T, absmax.T)
    else:
        _block_pool(np.ascontiguousarray(grid), row_starts, row_cells, col_starts, col_cells, sums, absmax)


def grad_sumsq(gradients, work=None):
    """Float64 ``[G]`` sums of squares of ``gradients`` (arrays of a :func:`usable` dtype, or None -> NaN)."""
    return np.array([np.nan if g is None else _sumsq(np.asarray(g).reshape(-1)) for g in gradients], np.float64)


def eigenvalues(xs, content):
    """float32 ``[G, slices, evals]``: ``spectrum.eigenvalues`` of each of the G arrays ``xs``.

    ``content`` is the (not skipped) spectrum content; the eigenvalues of
    the smaller float64 Gram matrix by ``np.linalg.eigvalsh``, as
    ``tf_ops.eigenvalues``; a matrix holding NaN or +/-Inf gets NaN.
    """
    (rows, cols), evals = content["matrix"], content["evals"]
    perm = [0] + [1 + a for a in content["perm"]]
    w = np.transpose(np.asarray(xs), perm).reshape(-1, rows, cols).astype(np.float64)
    finite = np.isfinite(w).all(axis=(1, 2))
    w = np.where(finite[:, None, None], w, 0.0)
    gram = w.transpose(0, 2, 1) @ w if rows >= cols else w @ w.transpose(0, 2, 1)
    values = np.maximum(np.linalg.eigvalsh(gram)[:, ::-1], 0.0)  # largest first
    values = np.where(finite[:, None], values, np.nan)
    return values.reshape(-1, content["slices"], evals).astype(np.float32)


# The kernels. Compiled on first call, then loaded from numba's cache.
# Reassociation lets LLVM vectorise the float64 sums (the order of the
# additions is the only difference from the reference); NaN and Inf keep
# their IEEE meaning, which the counts and the update's "changed" rely on.
_jit = numba.njit(nogil=True, cache=True, fastmath={"reassoc", "contract"}) if numba else (lambda f: None)


@_jit
def _sums(x):
    s = 0.0
    ss = 0.0
    z = 0.0
    for j in range(x.size):
        v = np.float64(x[j])
        s += v
        ss += v * v
        z += 1.0 if v == 0.0 else 0.0
    return s, ss, z


@_jit
def _sumsq(x):
    ss = 0.0
    for j in range(x.size):
        v = np.float64(x[j])
        ss += v * v
    return ss


@_jit
def _delta(x, p):
    d2 = 0.0
    c = 0.0
    for j in range(x.size):
        d = np.float64(x[j]) - np.float64(p[j])
        d2 += d * d
        c += 1.0 if d != 0.0 else 0.0  # NaN != 0: an entry NaN or Inf in either counts as changed
    return d2, c


@_jit
def _delta_rows(x, p, first, unit_sq, unit_ch):
    # Units of one entry each (inner == 1): entry j of x is unit first + j (mod units).
    u = first
    units = unit_sq.size
    j = 0
    while j < x.size:
        m = min(units - u, x.size - j)
        xs, ps, sq, ch = x[j : j + m], p[j : j + m], unit_sq[u : u + m], unit_ch[u : u + m]
        for i in range(m):
            d = np.float64(xs[i]) - np.float64(ps[i])
            sq[i] += d * d
            ch[i] += 1.0 if d != 0.0 else 0.0
        j += m
        u = 0


@_jit
def _copy(dst, src):
    for j in range(src.size):
        dst[j] = src[j]


@_jit
def _sketch_rows(x, flips, sk):
    # x starts at a multiple of k: its rows of k entries go to buckets 0..k-1.
    k = sk.size
    for r in range(0, x.size, k):
        xs, fs = x[r : r + k], flips[r : r + k]
        for c in range(xs.size):
            sk[c] += np.float64(xs[c]) * (1.0 - 2.0 * np.float64(fs[c]))


@_jit
def _sweep(x, prev, keep, has_prev, has_keep, flips, inner, units, block, raw, sk, unit_sq, unit_ch):
    n, k = x.size, sk.size
    block = max(1, block // k) * k  # whole rows of the sketch
    a = 0
    while a < n:
        b = min(n, a + block)
        xb = x[a:b]
        _sketch_rows(xb, flips[a:b], sk)
        s, ss, z = _sums(xb)
        raw[0] += s
        raw[1] += ss
        raw[8] += z
        if has_prev:
            if inner == 1:
                _delta_rows(xb, prev[a:b], a % units, unit_sq, unit_ch)
            else:
                j0 = a
                while j0 < b:
                    j1 = min(b, (j0 // inner + 1) * inner)
                    d2, c = _delta(x[j0:j1], prev[j0:j1])
                    u = (j0 // inner) % units
                    unit_sq[u] += d2
                    unit_ch[u] += c
                    j0 = j1
        if has_keep:  # after the update: keep may be prev itself
            _copy(keep[a:b], xb)
        a = b


@_jit
def _masked_extremes(x, raw):
    lo, hi, nans, finite = np.inf, -np.inf, 0.0, 0.0
    for j in range(x.size):
        v = np.float64(x[j])
        if np.isfinite(v):
            lo = min(lo, v)
            hi = max(hi, v)
            finite += 1.0
        elif v != v:
            nans += 1.0
    raw[4], raw[5], raw[6], raw[7] = lo, hi, nans, finite


@_jit
def _centred_sumsq(x, mean):
    c = 0.0
    for j in range(x.size):
        d = np.float64(x[j]) - mean
        c += d * d
    return c


@_jit
def _block_pool(grid, rs, rcell, cs, ccell, sums, absmax):
    # grids.pool over the runs of rows and columns that share a cell: each cell's sum, and its value of largest
    # magnitude (+m on a tie), NaN where it holds a NaN. The reference pads edge blocks with zeros, which
    # changes neither.
    rows, cols = grid.shape
    nc = cs.size
    total = np.empty(nc)
    hi = np.empty(nc)
    lo = np.empty(nc)
    nans = np.empty(nc)
    for k in range(rs.size):
        total[:] = 0.0
        hi[:] = -np.inf
        lo[:] = np.inf
        nans[:] = 0.0
        last = rs[k + 1] if k + 1 < rs.size else rows
        for i in range(rs[k], last):
            row = grid[i]
            for m in range(nc):
                part = row[cs[m] : (cs[m + 1] if m + 1 < nc else cols)]
                s, h, low, n = 0.0, hi[m], lo[m], 0.0
                for j in range(part.size):
                    v = np.float64(part[j])
                    s += v
                    h = max(h, v)
                    low = min(low, v)
                    n += 1.0 if v != v else 0.0
                total[m] += s
                hi[m], lo[m] = h, low
                nans[m] += n
        r = rcell[k]
        for m in range(nc):
            c = ccell[m]
            sums[r, c] = total[m]
            if nans[m] > 0:
                absmax[r, c] = np.nan
            else:
                absmax[r, c] = hi[m] if hi[m] >= -lo[m] else lo[m]
