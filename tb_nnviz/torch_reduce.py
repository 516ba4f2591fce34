"""The reductions of ``tb_nnviz.reduce`` as PyTorch ops over stacks of same-shaped tensors.

The PyTorch twin of ``tb_nnviz.tf_reduce``: every function takes a stack
``[G, *shape]`` of same-shaped tensors on one device and reduces all G at once
with a fixed number of ops, so the number of ops per logged step grows with
the distinct weight shapes (ResNet-18: 62 parameters, 20 shapes), not with the
parameters. Only small results (raw sums, the quantile sample, traces,
sketches, pooled heatmaps) leave the device; ``reduce.finish_points`` finishes
on the host. ``tb_nnviz.reduce`` stays the definition; the tests hold these
ops equal to it.

>>> import numpy as np, torch
>>> from tb_nnviz import reduce
>>> xs = np.arange(24.0).reshape(2, 3, 4)
>>> group = TrajectoryGroup([reduce.TrajectoryPlan(n, (3, 4)) for n in ("a", "b")], "cpu")
>>> parts = [t.numpy() for t in raw_points(torch.tensor(xs), None, group)]
>>> points = reduce.finish_points(*parts, group.plans[0], False)
>>> np.allclose(points[1], reduce.trajectory_point(xs[1], None, group.plans[1]), equal_nan=True)
True
"""

import numpy as np
import torch

from tb_nnviz import reduce

F64 = torch.float64


def heatmap_planes(x, content):
    """``reduce.heatmap_planes`` of each tensor in ``x`` ``[G, *shape]``: float32 ``[G, P, R, C]``.

    ``content`` is the heatmap content shared by the group (layout and pooling
    depend only on shape, layout and cell budget). Stays on ``x``'s device.
    """
    lay = content["layout"]
    rows, cols = content["grid"]
    br, bc = content["pool"]
    grid = x.permute([0] + [1 + a for a in lay["rows"] + lay["cols"]]).reshape(-1, rows, cols)
    if (br, bc) == (1, 1):
        return grid.to(torch.float32)[:, None]
    mean, absmax = pool(grid.to(F64), br, bc)
    return torch.stack([mean, absmax], dim=1).to(torch.float32)


def pool(grid, br, bc):
    """``reduce.pool`` of each grid in the float64 stack ``[G, rows, cols]``.

    The signed absmax is whichever of the block's max and min is larger in
    magnitude (the max on a tie), as in ``tf_reduce.pool``; the zero padding of
    edge blocks changes neither (the reference pads with zeros too).
    """
    rows, cols = grid.shape[1:]
    r, c = -(-rows // br), -(-cols // bc)
    if (r * br, c * bc) != (rows, cols):
        grid = torch.nn.functional.pad(grid, (0, c * bc - cols, 0, r * br - rows))
    blocks = grid.reshape(-1, r, br, c, bc)
    row_counts = np.minimum(br, rows - br * np.arange(r))
    col_counts = np.minimum(bc, cols - bc * np.arange(c))
    counts = torch.as_tensor(np.outer(row_counts, col_counts), dtype=F64, device=grid.device)
    mean = blocks.sum(dim=(2, 4)) / counts
    hi, lo = blocks.amax(dim=(2, 4)), blocks.amin(dim=(2, 4))
    has_nan = blocks.isnan().any(dim=4).any(dim=2)
    absmax = torch.where(hi >= -lo, hi, lo)
    return mean, torch.where(has_nan, torch.full_like(absmax, float("nan")), absmax)


class TrajectoryGroup:
    """The plans of G tensors of one shape, with their fixed choices on ``device``.

    Args:
      plans: ``reduce.TrajectoryPlan`` s of equal shape, unit axis and options.
      device: where the stacked tensors live.

    Attributes:
      traces, sample: int64 index tensors ``[G, m]`` (``sample`` None: every value).
      signs: int8 ``[G, n]`` of +-1, the CountSketch signs (1 byte per parameter).
    """

    def __init__(self, plans, device):
        self.plans = list(plans)
        first = self.plans[0]
        for p in self.plans[1:]:
            if (p.shape, p.unit_axis, p.sketch_dim, len(p.traces)) != (
                first.shape, first.unit_axis, first.sketch_dim, len(first.traces)
            ) or (p.sample is None) != (first.sample is None):
                raise reduce.TensorError(
                    "tensors %r and %r cannot share a trajectory group" % (first.name, p.name)
                )
        self.size, self.units, self.sketch_dim = first.size, first.units, first.sketch_dim
        self.traces = torch.as_tensor(np.stack([p.traces for p in self.plans]), device=device)
        self.sample = None
        if first.sample is not None:
            self.sample = torch.as_tensor(np.stack([p.sample for p in self.plans]), device=device)
        signs = np.where(np.stack([p.signs for p in self.plans]), 1, -1).astype(np.int8)
        self.signs = torch.as_tensor(signs, device=device)

    @property
    def nbytes(self):
        """Bytes held on the device for this group (mostly the signs)."""
        held = [self.traces, self.signs] + ([self.sample] if self.sample is not None else [])
        return sum(t.numel() * t.element_size() for t in held)


def _dot(a, b):
    """Row-wise dot products of two ``[G, n]`` float64 stacks, without a temporary."""
    return torch.bmm(a[:, None, :], b[:, :, None])[:, 0, 0]


def raw_points(x, previous, group):
    """``reduce.raw_point`` of each tensor in ``x`` ``[G, *shape]``.

    Returns float64 tensors ``(raw [G, len(RAW_FIELDS)], sample [G, S],
    traces [G, m], sketch [G, k])`` on ``x``'s device. ``previous`` is the
    stack at the previous logged step (any dtype) or None (update sums 0).
    """
    n = group.size
    flat = x.reshape(-1, n).to(F64)
    total = flat.sum(dim=1)
    sumsq = _dot(flat, flat)
    zero_count = (n - torch.count_nonzero(flat, dim=1)).to(F64)
    if bool(torch.isfinite(sumsq).all()):
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
        delta = flat - previous.reshape(-1, n).to(F64)
        update_sumsq = _dot(delta, delta)
        outer, units, inner = group.units
        changed = (delta != 0).reshape(-1, outer, units, inner).any(dim=3).any(dim=1)
        moved = changed.sum(dim=1).to(F64)
        del delta
    centred = flat - (total / n)[:, None]
    centred_sumsq = _dot(centred, centred)
    del centred
    raw = torch.stack([total, sumsq, update_sumsq, centred_sumsq, lo, hi, nan_count,
                       finite_count, zero_count, moved], dim=1)
    sample = flat if group.sample is None else flat.gather(1, group.sample)
    traces = flat.gather(1, group.traces)
    return raw, sample, traces, sketch(flat, group.signs, group.sketch_dim)


def sketch(flat, signs, sketch_dim):
    """``reduce.sketch`` of each row of ``flat`` ``[G, n]``, int8 ``signs`` ``[G, n]`` of +-1.

    Bucket ``j mod k``: the whole rows of k entries are a reshape and a sum;
    the last partial row adds to the first buckets (no padded copy).
    """
    signed = flat * signs
    n = flat.shape[1]
    whole = n // sketch_dim * sketch_dim
    out = signed[:, :whole].reshape(flat.shape[0], -1, sketch_dim).sum(dim=1)
    if whole < n:
        out[:, : n - whole] += signed[:, whole:]
    return out


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
