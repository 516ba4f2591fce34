"""The reductions of ``tb_nnviz.reduce`` as PyTorch ops over stacks of same-shaped tensors.

The PyTorch twin of ``tb_nnviz.tf_reduce``: every function takes a stack
``[G, *shape]`` of same-shaped tensors on one device and reduces all G at once
with a fixed number of ops, so the number of ops per logged step grows with
the distinct weight shapes (ResNet-18: 62 parameters, 20 shapes), not with the
parameters. Only small results (raw sums, the quantile sample, traces,
sketches, pooled heatmaps) leave the device; ``trajectory.finish_points`` finishes
on the host. ``tb_nnviz.reduce`` stays the definition; the tests hold these
ops equal to it.

>>> import numpy as np, torch
>>> from tb_nnviz import trajectory
>>> xs = np.arange(24.0).reshape(2, 3, 4)
>>> group = TrajectoryGroup([trajectory.TrajectoryPlan(n, (3, 4)) for n in ("a", "b")], "cpu")
>>> parts = [t.numpy() for t in raw_points(torch.tensor(xs), None, group)]
>>> points = trajectory.finish_points(*parts, group.plans[0], False)
>>> np.allclose(points[1], trajectory.trajectory_point(xs[1], None, group.plans[1]), equal_nan=True)
True
"""

import numpy as np
import torch

from tb_nnviz.logplan import check_group

F64 = torch.float64


def heatmap_planes(x, content, work=None):
    """``reduce.heatmap_planes`` of each tensor in ``x`` ``[G, *shape]``: float32 ``[G, P, R, C]``.

    ``content`` is the heatmap content shared by the group (layout and pooling
    depend only on shape, layout and cell budget). Stays on ``x``'s device;
    ``work`` (a :class:`Workspace`) holds the float64 grid of a pooled heatmap.
    """
    lay = content["layout"]
    rows, cols = content["grid"]
    br, bc = content["pool"]
    perm = [0] + [1 + a for a in lay["rows"] + lay["cols"]]
    if (br, bc) == (1, 1):
        return x.permute(perm).reshape(-1, rows, cols).to(torch.float32)[:, None]
    g, r, c = x.shape[0], -(-rows // br), -(-cols // bc)
    if perm == sorted(perm) and x.dtype == F64 and (r * br, c * bc) == (rows, cols):
        grid = x.reshape(g, rows, cols)
    else:  # the grid, zero-padded to whole blocks, in the workspace
        work = work or Workspace(x.device)
        grid = work.take("grid", (g, r * br, c * bc), F64)
        grid[:, rows:].zero_()
        grid[:, :, cols:].zero_()
        grid[:, :rows, :cols].view([x.shape[p] for p in perm]).copy_(x.permute(perm))
    mean, absmax = pool(grid, br, bc, rows, cols)
    return torch.stack([mean, absmax], dim=1).to(torch.float32)


def pool(grid, br, bc, rows=None, cols=None):
    """``reduce.pool`` of each grid in the float64 stack ``[G, rows, cols]``.

    ``grid`` may already be zero-padded to whole blocks; ``rows`` and ``cols``
    are then the unpadded sizes. The signed absmax is whichever of the block's
    max and min is larger in magnitude (the max on a tie), as in
    ``tf_reduce.pool``; the zero padding of edge blocks changes neither (the
    reference pads with zeros too). Three reductions, each over the
    contiguous block columns first.
    """
    rows, cols = rows or grid.shape[1], cols or grid.shape[2]
    r, c = -(-rows // br), -(-cols // bc)
    if grid.shape[1:] != (r * br, c * bc):
        grid = torch.nn.functional.pad(grid, (0, c * bc - cols, 0, r * br - rows))
    blocks = grid.reshape(-1, r, br, c, bc)
    row_counts = np.minimum(br, rows - br * np.arange(r))
    col_counts = np.minimum(bc, cols - bc * np.arange(c))
    counts = torch.as_tensor(np.outer(row_counts, col_counts), dtype=F64, device=grid.device)
    mean = blocks.sum(dim=4).sum(dim=2) / counts
    hi, lo = blocks.amax(dim=4).amax(dim=2), blocks.amin(dim=4).amin(dim=2)
    absmax = torch.where(hi >= -lo, hi, lo)
    # amax propagates NaN, so a block holding one has a NaN maximum.
    return mean, torch.where(hi.isnan(), hi, absmax)


class TrajectoryGroup:
    """The plans of G tensors of one shape, with their fixed choices on ``device``.

    Args:
      plans: ``trajectory.TrajectoryPlan`` s of equal shape, unit axis and options.
      device: where the stacked tensors live.

    Attributes:
      traces, sample: int64 index tensors ``[G, m]`` (``sample`` None: every value).
      signs: bool ``[G, n]``, the CountSketch signs (True = +1; 1 byte per parameter).
    """

    def __init__(self, plans, device):
        self.plans = list(plans)
        check_group(self.plans)
        first = self.plans[0]
        self.size, self.units, self.sketch_dim = first.size, first.units, first.sketch_dim
        self.traces = torch.as_tensor(np.stack([p.traces for p in self.plans]), device=device)
        self.sample = None
        if first.sample is not None:
            self.sample = torch.as_tensor(np.stack([p.sample for p in self.plans]), device=device)
        self.signs = torch.as_tensor(np.stack([p.signs for p in self.plans]), device=device)

    @property
    def nbytes(self):
        """Bytes held on the device for this group (mostly the signs)."""
        held = [self.traces, self.signs] + ([self.sample] if self.sample is not None else [])
        return sum(t.numel() * t.element_size() for t in held)


def _dot(a, b):
    """Row-wise dot products of two ``[G, n]`` float64 stacks, without a temporary."""
    return torch.bmm(a[:, None, :], b[:, :, None])[:, 0, 0]


class Workspace:
    """Reusable buffers on one device for the reductions' large temporaries.

    A fresh CPU allocation of tens of MB costs more in page faults than the
    arithmetic done on it (measured on ResNet-18: about 5x for a float64
    copy), so the float64 stack and the temporaries live here between steps,
    each as large as the largest batch needs.

    >>> work = Workspace("cpu")
    >>> work.take("a", (2, 3), torch.float64).shape, work.nbytes
    (torch.Size([2, 3]), 48)
    """

    def __init__(self, device):
        self.device = torch.device(device)
        self._buffers = {}

    def take(self, key, shape, dtype):
        """A ``shape`` view of buffer ``key`` (grown when too small); its contents are undefined."""
        numel = int(np.prod(shape))
        buf = self._buffers.get(key)
        if buf is None or buf.numel() < numel or buf.dtype != dtype:
            buf = self._buffers[key] = torch.empty(numel, dtype=dtype, device=self.device)
        return buf[:numel].view(shape)

    @property
    def nbytes(self):
        return sum(b.numel() * b.element_size() for b in self._buffers.values())


def load(tensors, work, key="x"):
    """The float64 stack ``[G, n]`` of ``tensors`` (same size), in ``work``: one converting copy each."""
    flat = work.take(key, (len(tensors), tensors[0].numel()), F64)
    for row, t in zip(flat, tensors):
        row.copy_(t.reshape(-1))
    return flat


def raw_points(x, previous, group, work=None):
    """``trajectory.raw_point`` of each tensor in ``x`` ``[G, *shape]``.

    Returns float64 tensors ``(raw [G, len(RAW_FIELDS)], sample [G, S],
    traces [G, m], sketch [G, k])`` on ``x``'s device. ``previous`` is the
    stack at the previous logged step (any dtype) or None (update sums 0).
    ``work`` (a :class:`Workspace`) holds the temporaries; ``x`` may be one of
    its buffers other than ``"tmp"`` and ``"mask"``, and is not changed.
    """
    n = group.size
    work = work or Workspace(x.device)
    flat = x.reshape(-1, n)
    if flat.dtype != F64:
        flat = flat.to(F64)
    g = flat.shape[0]
    tmp, mask = work.take("tmp", (g, n), F64), work.take("mask", (g, n), torch.bool)
    total = flat.sum(dim=1)
    sumsq = _dot(flat, flat)
    zero_count = torch.eq(flat, 0, out=mask).sum(dim=1).to(F64)
    mean_sq = total * total / n  # n * mean**2
    finite_all = bool(torch.isfinite(sumsq).all())
    if finite_all:
        # No NaN or Inf anywhere (one would make a sum of squares NaN or Inf):
        # the finite-only extremes and counts need no masks.
        lo, hi = torch.aminmax(flat, dim=1)
        nan_count = torch.zeros_like(total)
        finite_count = torch.full_like(total, float(n))
    else:
        finite = torch.isfinite(flat)
        lo = torch.where(finite, flat, float("inf")).amin(dim=1)
        hi = torch.where(finite, flat, float("-inf")).amax(dim=1)
        nan_count = flat.isnan().sum(dim=1).to(F64)
        finite_count = finite.sum(dim=1).to(F64)
    if previous is None:
        update_sumsq = moved = torch.zeros_like(total)
    else:
        tmp.copy_(previous.reshape(-1, n))
        delta = torch.sub(flat, tmp, out=tmp)
        update_sumsq = _dot(delta, delta)
        outer, units, inner = group.units
        changed = torch.ne(delta, 0, out=mask).view(-1, outer, units, inner).any(dim=3).any(dim=1)
        moved = changed.sum(dim=1).to(F64)
    if finite_all and bool((mean_sq <= sumsq / 2).all()):
        # sum((x - mean)^2) = sumsq - n * mean^2 loses at most one bit to
        # cancellation when the mean carries at most half of the sum of squares
        # (weights are centred near 0), so it needs no second pass.
        centred_sumsq = sumsq - mean_sq
    else:
        centred = torch.sub(flat, (total / n)[:, None], out=tmp)
        centred_sumsq = _dot(centred, centred)
    raw = torch.stack([total, sumsq, update_sumsq, centred_sumsq, lo, hi, nan_count,
                       finite_count, zero_count, moved], dim=1)
    sample = flat if group.sample is None else flat.gather(1, group.sample)
    traces = flat.gather(1, group.traces)
    return raw, sample.clone(), traces, sketch(flat, group.signs, group.sketch_dim, tmp)


def sketch(flat, signs, sketch_dim, out=None):
    """``trajectory.sketch`` of each row of float64 ``flat`` ``[G, n]``, bool ``signs`` ``[G, n]`` (True = +1).

    Bucket ``j mod k``: the whole rows of k entries are a reshape and a sum;
    the last partial row adds to the first buckets (no padded copy). ``out``
    (``flat``'s shape) holds the signed values, when given.
    """
    signed = torch.neg(flat, out=out)
    signed = torch.where(signs, flat, signed, out=signed) if out is not None else torch.where(signs, flat, signed)
    n = flat.shape[1]
    whole = n // sketch_dim * sketch_dim
    sk = signed[:, :whole].reshape(flat.shape[0], -1, sketch_dim).sum(dim=1)
    if whole < n:
        sk[:, : n - whole] += signed[:, whole:]
    return sk


def grad_sumsq(gradients, device):
    """Float64 ``[G]`` sums of squares of ``gradients`` (tensors or None -> NaN), on ``device``.

    Each gradient is read once, converted to float64 on the fly by
    ``torch.linalg.vector_norm``; nothing the size of a gradient is copied.
    """
    out = []
    for g in gradients:
        if g is None:
            out.append(torch.full((), float("nan"), dtype=F64, device=device))
        else:
            out.append(torch.linalg.vector_norm(g.detach(), dtype=F64) ** 2)
    return torch.stack(out)
