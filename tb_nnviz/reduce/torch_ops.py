"""The backend contract (``tb_nnviz.reduce.numpy_ops``) as PyTorch ops over stacks of same-shaped tensors.

The PyTorch twin of ``tb_nnviz.reduce.tf_ops``: every function takes G
same-shaped tensors on one device (a stack ``[G, *shape]`` or the parameters
themselves) and stays there. Trajectory points go through :func:`pieces` of
about :data:`PIECE` entries: small tensors several to a piece, large ones a
run of whole unit slices at a time. A piece costs a fixed number of ops
(copies and norms are ``torch._foreach_*`` calls over its tensors) and stays
in cache through its dozen passes; only the traces and the quantile sample
are gathered tensor by tensor (ResNet-18: 62 parameters, 17 shape groups).
Only small results (raw sums, the quantile sample, traces, sketches, pooled
heatmaps, eigenvalues) leave the device; ``trajectory.finish_points``
finishes on the host. The numpy reference (``grids``, ``trajectory``,
``spectrum``) stays the definition; tests/test_backends.py holds these ops
equal to it.

>>> import numpy as np, torch
>>> from tb_nnviz.reduce import trajectory
>>> from tb_nnviz.reduce.group import TrajectoryGroup
>>> xs = np.arange(24.0).reshape(2, 3, 4)
>>> group = TrajectoryGroup([trajectory.TrajectoryPlan(n, (3, 4)) for n in ("a", "b")])
>>> parts = [t.numpy() for t in raw_points(torch.tensor(xs), None, group, constants(group, "cpu"))]
>>> points = trajectory.finish_points(*parts, group.plan, False)
>>> np.allclose(points[1], trajectory.trajectory_point(xs[1], None, group.plans[1]), equal_nan=True)
True
"""

import math

import numpy as np
import torch

F64 = torch.float64


def constants(group, device=None):
    """``{"traces", "sample", "flips"}`` of a ``group.TrajectoryGroup`` as tensors on ``device`` (None: the CPU).

    ``traces`` and ``sample`` (None: every value) are int64 ``[G, m]``;
    ``flips`` uint8 ``[G, n]``, 1 where the CountSketch sign is -1 (1 byte per
    parameter; on the CPU it shares the group's array).
    """
    as_tensor = lambda a: None if a is None else torch.as_tensor(a, device=device)  # noqa: E731
    return {"traces": as_tensor(group.traces), "sample": as_tensor(group.sample), "flips": as_tensor(group.flips)}


def heatmap_planes(xs, content, work=None):
    """``grids.heatmap_planes`` of each tensor in ``xs``: float32 ``[G, P, R, C]``.

    ``xs`` is a stack ``[G, *shape]`` or a list of G tensors of one shape (the
    parameters themselves: nothing is stacked in between). ``content`` is the
    heatmap content shared by the group (layout and pooling depend only on
    shape, layout and cell budget). Stays on ``xs``' device; ``work`` (a
    :class:`Workspace`) holds the float64 grid of a pooled heatmap.
    """
    lay = content["layout"]
    rows, cols = content["grid"]
    br, bc = content["pool"]
    perm = [a for a in lay["rows"] + lay["cols"]]
    if (br, bc) == (1, 1):
        return torch.stack([t.permute(perm).reshape(rows, cols) for t in xs]).to(torch.float32)[:, None]
    g, r, c = len(xs), -(-rows // br), -(-cols // bc)
    work = work or Workspace(xs[0].device)
    # The grid, zero-padded to whole blocks: one converting copy of each tensor.
    grid = work.take("grid", (g, r * br, c * bc), F64)
    grid[:, rows:].zero_()
    grid[:, :, cols:].zero_()
    for row, t in zip(grid, xs):
        row[:rows, :cols].view([t.shape[p] for p in perm]).copy_(t.permute(perm))
    mean, absmax = pool(grid, br, bc, rows, cols)
    return torch.stack([mean, absmax], dim=1).to(torch.float32)


def pool(grid, br, bc, rows=None, cols=None):
    """``grids.pool`` of each grid in the float64 stack ``[G, rows, cols]``.

    ``grid`` may already be zero-padded to whole blocks; ``rows`` and ``cols``
    are then the unpadded sizes. The signed absmax is whichever of the block's
    max and min is larger in magnitude (the max on a tie), as in
    ``tf_ops.pool``; the zero padding of edge blocks changes neither (the
    reference pads with zeros too). Each reduction runs over the block rows
    first (whole grid rows at a time, vectorised along them), then over the
    short runs of ``bc`` columns left.
    """
    rows, cols = rows or grid.shape[1], cols or grid.shape[2]
    r, c = -(-rows // br), -(-cols // bc)
    if grid.shape[1:] != (r * br, c * bc):
        grid = torch.nn.functional.pad(grid, (0, c * bc - cols, 0, r * br - rows))
    strips = grid.reshape(-1, r, br, c * bc)
    row_counts = np.minimum(br, rows - br * np.arange(r))
    col_counts = np.minimum(bc, cols - bc * np.arange(c))
    counts = torch.as_tensor(np.outer(row_counts, col_counts), dtype=F64, device=grid.device)

    def blocks(reduce_fn):
        return reduce_fn(reduce_fn(strips, dim=2).view(-1, r, c, bc), dim=3)

    mean = blocks(torch.sum) / counts
    hi, lo = blocks(torch.amax), blocks(torch.amin)
    absmax = torch.where(hi >= -lo, hi, lo)
    # amax propagates NaN, so a block holding one has a NaN maximum.
    return mean, torch.where(hi.isnan(), hi, absmax)


#: Entries reduced at a time. A float64 piece of 2 MiB and its temporaries stay
#: in the CPU's cache through the dozen passes made over them, so the
#: parameters are read from memory about once; on ResNet-18 that halves the
#: cost of the same ops run over whole stacks. Tensors smaller than this are
#: reduced several at a time, larger ones a run of whole unit slices at a time.
PIECE = 2**18


class Workspace:
    """Reusable buffers on one device for the reductions' temporaries.

    A fresh CPU allocation costs page faults, so the pieces' float64 copies
    (:data:`PIECE` entries each) and the pooled heatmaps' grid live here
    between steps, each as large as the largest use needs.

    >>> work = Workspace("cpu")
    >>> work.take("a", (2, 3), torch.float64).shape, work.nbytes
    (torch.Size([2, 3]), 48)
    """

    def __init__(self, device):
        self.device = torch.device(device)
        self._buffers = {}

    def take(self, key, shape, dtype):
        """A ``shape`` view of buffer ``key`` (grown when too small); its contents are undefined."""
        numel = math.prod(shape)
        buf = self._buffers.get(key)
        if buf is None or buf.numel() < numel or buf.dtype != dtype:
            buf = self._buffers[key] = torch.empty(numel, dtype=dtype, device=self.device)
        return buf[:numel].view(shape)

    @property
    def nbytes(self):
        return sum(b.numel() * b.element_size() for b in self._buffers.values())


def pieces(count, units):
    """``(rows, start, stop)``: G = ``count`` tensors of ``units`` = ``(outer, units, inner)``
    in pieces of about :data:`PIECE` entries: ``rows`` (a slice of tensors) from flat
    entry ``start`` to ``stop``. A piece holds whole tensors, or whole unit slices
    of one tensor (``inner`` entries when ``outer`` is 1, else ``units * inner``).

    >>> list(pieces(3, (1, 4, 2)))
    [(slice(0, 3, None), 0, 8)]
    >>> [p[1:] for p in pieces(1, (1, 3, PIECE // 2))]
    [(0, 262144), (262144, 393216)]
    """
    outer, units, inner = units
    n = outer * units * inner
    if n <= PIECE:
        per = PIECE // n
        for i in range(0, count, per):
            yield slice(i, min(count, i + per)), 0, n
        return
    span = inner if outer == 1 else units * inner
    step = max(1, PIECE // span) * span
    for i in range(count):
        for a in range(0, n, step):
            yield slice(i, i + 1), a, min(n, a + step)


def _load(work, key, sources, a, b):
    """Float64 ``[len(sources), b - a]`` in buffer ``key`` of ``work``: entries ``a:b`` of each flat source."""
    piece = work.take(key, (len(sources), b - a), F64)
    whole = a == 0 and b == sources[0].numel()
    torch._foreach_copy_(list(piece), sources if whole else [t[a:b] for t in sources])
    return piece


def _sumsq(rows):
    """Float64 ``[G]`` sums of squares of the float64 rows ``rows`` ``[G, n]``."""
    return torch.stack(torch._foreach_norm(list(rows))).square()


def raw_points(xs, previous, group, constants, work=None, keep=None):
    """``trajectory.raw_point`` of each of the G tensors ``xs`` (a stack ``[G, *shape]`` or a list).

    Returns float64 tensors ``(raw [G, len(RAW_FIELDS)], sample [G, S],
    traces [G, m], sketch [G, k])`` on ``xs``' device; ``constants`` is
    :func:`constants` of ``group`` on that device. ``previous`` holds the
    G tensors at the previous logged step (any dtype, flat or not) or is
    None (update sums 0). ``keep`` (optional, G flat tensors, may be
    ``previous`` itself) receives a copy of ``xs``, piece by piece as it is
    read. ``work`` (a :class:`Workspace`) holds the temporaries; ``xs`` is not
    changed.

    The tensors go through in :func:`pieces`: each piece is copied to
    float64 once, then summed, squared, counted (zeros as a float sum of
    ``x == 0``: reductions over bool are several times slower on CPU),
    subtracted from the previous values (the norms of the update's unit
    slices give both its sum of squares and the units it moves) and
    sign-flipped in place for the sketch, while it is in cache. Each piece's
    results are gathered per tensor at the end. NaN and Inf, rare, cost a
    second, masked pass for the extremes and counts.
    """
    xs = [t.reshape(-1) for t in xs]
    prevs = None if previous is None else [t.reshape(-1) for t in previous]
    keeps = None if keep is None else [t.reshape(-1) for t in keep]
    flips, traces, sample = constants["flips"], constants["traces"], constants["sample"]
    g, n, k = len(xs), group.size, group.sketch_dim
    outer, units, inner = group.units
    device = xs[0].device
    work = work or Workspace(device)
    # Squares of float16/bfloat16/float32 differences never underflow in
    # float64; for float64 tensors the changed entries are counted as well.
    count_changes = xs[0].dtype == F64
    spans = list(pieces(g, group.units))
    stats, unit_sq, unit_changed, sketches = [], [], [], []
    for rows, a, b in spans:
        piece = _load(work, "x", xs[rows], a, b)
        tmp = work.take("tmp", piece.shape, F64)
        stats.append(torch.stack([piece.sum(dim=1), _sumsq(piece), torch.eq(piece, 0, out=tmp).sum(dim=1),
                                  piece.amin(dim=1), piece.amax(dim=1)], dim=1))
        if prevs is not None:
            delta = torch.sub(piece, _load(work, "tmp", prevs[rows], a, b), out=tmp)
            view = delta.view(len(piece), -1, inner) if outer == 1 else delta.view(len(piece), -1, units, inner)
            dims = 2 if outer == 1 else (1, 3)
            # A unit moved unless its slice's update norm is exactly 0 (NaN and Inf count as moved).
            unit_sq.append(torch.linalg.vector_norm(view, dim=dims).square())
            if count_changes:
                unit_changed.append(torch.ne(view, 0, out=tmp.view(view.shape)).sum(dim=dims).to(F64))
        if keeps is not None:
            torch._foreach_copy_([t[a:b] for t in keeps[rows]], [t[a:b] for t in xs[rows]])
        sketches.append(torch.roll(sketch(piece, flips[rows, a:b], k, work), a % k, dims=1))
    owner = torch.as_tensor(np.concatenate([np.arange(r.start, r.stop) for r, _, _ in spans]), device=device)
    stats = torch.cat(stats)
    total, sumsq, zero_count = torch.zeros((g, 3), dtype=F64, device=device).index_add_(0, owner, stats[:, :3]).T
    sk = torch.zeros((g, k), dtype=F64, device=device).index_add_(0, owner, torch.cat(sketches))
    if bool(torch.isfinite(sumsq).all()):
        # No NaN or Inf (one would make a sum of squares NaN or Inf): the extremes need no masks.
        lo = torch.full((g,), float("inf"), dtype=F64, device=device).scatter_reduce_(0, owner, stats[:, 3], "amin")
        hi = torch.full((g,), float("-inf"), dtype=F64, device=device).scatter_reduce_(0, owner, stats[:, 4], "amax")
        nan_count, finite_count = torch.zeros_like(total), torch.full_like(total, float(n))
    else:
        lo, hi, nan_count, finite_count = _masked_extremes(xs, spans, owner, work)
    mean_sq = total * total / n  # n * mean**2
    if bool(torch.isfinite(sumsq).all() and (mean_sq <= sumsq / 2).all()):
        # sum((x - mean)^2) = sumsq - n * mean^2 loses at most one bit to
        # cancellation when the mean carries at most half of the sum of squares
        # (weights are centred near 0), so it needs no second pass.
        centred_sumsq = sumsq - mean_sq
    else:
        means = (total / n)[:, None]
        centred_sumsq = torch.zeros_like(total).index_add_(0, owner, torch.cat([
            _sumsq(_load(work, "x", xs[rows], a, b).sub_(means[rows])) for rows, a, b in spans]))
    if prevs is None:
        update_sumsq = moved = torch.zeros_like(total)
    else:
        unit_sq = _per_unit(unit_sq, owner, g, group.units)
        update_sumsq = unit_sq.sum(dim=1)
        changed = _per_unit(unit_changed, owner, g, group.units) if count_changes else unit_sq
        moved = (changed != 0).sum(dim=1).to(F64)
    raw = torch.stack([total, sumsq, update_sumsq, centred_sumsq, lo, hi, nan_count,
                       finite_count, zero_count, moved], dim=1)
    if sample is None:
        sample = torch.stack(xs).to(F64)
    else:
        sample = torch.stack([t[i] for t, i in zip(xs, sample)]).to(F64)
    traces = torch.stack([t[i] for t, i in zip(xs, traces)]).to(F64)
    return raw, sample, traces, sk


def _per_unit(parts, owner, g, units):
    """``[G, units]`` from the pieces' per-unit results (``[rows, units covered]`` each)."""
    outer, units, _ = units
    if outer == 1:  # the pieces cover consecutive units, tensor after tensor
        return torch.cat([p.reshape(-1) for p in parts]).view(g, units)
    return torch.zeros((g, units), dtype=F64, device=owner.device).index_add_(0, owner, torch.cat(parts))


def _masked_extremes(xs, spans, owner, work):
    """``(min, max, nan_count, finite_count)`` ``[G]`` over the finite entries, for tensors holding NaN or Inf;
    ``spans`` are the :func:`pieces` they were read in."""
    parts = []
    for rows, a, b in spans:
        piece = _load(work, "x", xs[rows], a, b)
        finite = torch.isfinite(piece)
        parts.append(torch.stack([torch.where(finite, piece, float("inf")).amin(dim=1),
                                  torch.where(finite, piece, float("-inf")).amax(dim=1),
                                  piece.isnan().sum(dim=1).to(F64), finite.sum(dim=1).to(F64)], dim=1))
    parts = torch.cat(parts)
    g = len(xs)
    full = lambda v: torch.full((g,), v, dtype=F64, device=owner.device)  # noqa: E731
    return (full(float("inf")).scatter_reduce_(0, owner, parts[:, 0], "amin"),
            full(float("-inf")).scatter_reduce_(0, owner, parts[:, 1], "amax"),
            full(0.0).index_add_(0, owner, parts[:, 2]), full(0.0).index_add_(0, owner, parts[:, 3]))


def sketch(flat, flips, sketch_dim, work=None):
    """``trajectory.sketch`` of each row of float64 ``flat`` ``[G, n]``; negates its entries in place.

    ``flips`` (uint8 ``[G, n]``, 1 where the sign is -1) becomes the sign bit
    of an int64 XOR-ed into the values: exact for every value, NaN and Inf
    included, as ``np.where(flips, -x, x)``, and several times faster on CPU
    than a ``torch.where``. Bucket ``j mod k``: the whole rows of k entries
    are a reshape and a sum; the last partial row adds to the first buckets.
    """
    g, n = flat.shape
    bits = (work or Workspace(flat.device)).take("bits", (g, n), torch.int64)
    bits.copy_(flips)
    flat.view(torch.int64).bitwise_xor_(bits.bitwise_left_shift_(63))
    whole = n // sketch_dim * sketch_dim
    if whole:
        sk = flat[:, :whole].reshape(g, -1, sketch_dim).sum(dim=1)
    else:
        sk = torch.zeros((g, sketch_dim), dtype=F64, device=flat.device)
    if whole < n:
        sk[:, : n - whole] += flat[:, whole:]
    return sk


def grad_sumsq(gradients, work=None):
    """Float64 ``[G]`` sums of squares of ``gradients`` (tensors or None -> NaN), on the gradients' device.

    Each gradient is copied to float64 a piece at a time (in ``work``, a
    :class:`Workspace`) and reduced there: a reduction that converts on the
    fly is several times slower on CPU than the copy and the reduction together.
    """
    present = [g for g in gradients if g is not None]
    device = present[0].device if present else torch.device("cpu")
    work = work or Workspace(device)
    out = torch.full((len(gradients),), float("nan"), dtype=F64, device=device)
    for i, grad in enumerate(gradients):
        if grad is not None:
            flat = grad.detach().reshape(-1)
            n = flat.numel()
            out[i] = sum(_sumsq(_load(work, "x", [flat], a, min(n, a + PIECE)))[0] for a in range(0, n, PIECE))
    return out


def eigenvalues(xs, content):
    """float32 ``[G, slices, evals]``: ``spectrum.eigenvalues`` of each tensor of ``xs`` ``[G, *shape]``.

    ``content`` is the (not skipped) spectrum content shared by the stack. The
    eigenvalues of the smaller float64 Gram matrix by ``torch.linalg.eigvalsh``,
    batched over every matrix of the stack, on its device (as
    ``tf_ops.eigenvalues``); a matrix holding NaN or +/-Inf gets NaN
    eigenvalues, as in the reference.

    >>> import numpy as np
    >>> from tb_nnviz.reduce import spectrum
    >>> content = spectrum.spectrum_content("conv", (8, 2, 3, 3), "float32", "conv_first")
    >>> xs = np.random.default_rng(0).normal(size=(2, 8, 2, 3, 3))
    >>> got = eigenvalues(torch.tensor(xs), content).numpy()
    >>> got.shape, np.allclose(got[1], spectrum.eigenvalues(xs[1], content), rtol=1e-5)
    ((2, 9, 2), True)
    """
    x = torch.stack(list(xs)) if isinstance(xs, (list, tuple)) else xs
    (rows, cols), evals = content["matrix"], content["evals"]
    w = x.permute([0] + [1 + a for a in content["perm"]]).reshape(-1, rows, cols).to(F64)
    finite = torch.isfinite(w).all(dim=2).all(dim=1)
    w = torch.where(finite[:, None, None], w, torch.zeros_like(w))
    gram = w.mT @ w if rows >= cols else w @ w.mT
    values = torch.linalg.eigvalsh(gram).flip(-1).clamp_min(0.0)  # largest first
    values = torch.where(finite[:, None], values, torch.full_like(values, float("nan")))
    return values.reshape(-1, content["slices"], evals).to(torch.float32)
