"""The backend contract over the numpy reference, one tensor at a time.

Every backend (this one, ``numba_ops``, ``tf_ops``, ``torch_ops``; see
``tb_nnviz.reduce.backends``) offers the same functions over a group of G
same-shaped tensors:

- ``constants(group, device=None)``: the group's fixed choices
  (``{"traces", "sample", "flips"}``) where the backend reduces.
- ``heatmap_planes(xs, content, work=None)``: float32 ``[G, P, R, C]``.
- ``raw_points(xs, previous, group, constants, work=None, keep=None)``: float64
  ``(raw [G, len(RAW_FIELDS)], sample [G, S], traces [G, m], sketch [G, k])``,
  which ``trajectory.finish_points`` turns into points on the host.
- ``grad_sumsq(gradients, work=None)``: float64 ``[G]`` (NaN for a None gradient).
- ``eigenvalues(xs, content)``: float32 ``[G, slices, evals]``.

``xs`` is a stack ``[G, *shape]`` or a list of G tensors of one shape;
``previous`` the G values at the previous point (or None: the update sums
are 0); ``keep`` (optional, G flat arrays, may be ``previous``) receives a
copy of ``xs``; ``work`` is a backend's reusable scratch space (torch's
``Workspace``; the others take None). Here every function is a loop over the
reference (``grids``, ``trajectory``, ``spectrum``), the definition the
others are held to by tests/test_backends.py.

>>> from tb_nnviz.reduce.group import TrajectoryGroup
>>> from tb_nnviz.reduce.trajectory import TrajectoryPlan, finish_points, trajectory_point
>>> xs = np.arange(24.0).reshape(2, 3, 4)
>>> group = TrajectoryGroup([TrajectoryPlan(n, (3, 4)) for n in "ab"])
>>> points = finish_points(*raw_points(xs, None, group, constants(group)), group.plan, False)
>>> np.allclose(points[1], trajectory_point(xs[1], None, group.plans[1]), equal_nan=True)
True
"""

import numpy as np

from tb_nnviz.reduce import grids, spectrum, trajectory


def constants(group, device=None):
    """``{"traces", "sample", "flips"}`` of ``group`` (its numpy arrays; the reference reads the plans)."""
    return {"traces": group.traces, "sample": group.sample, "flips": group.flips}


def heatmap_planes(xs, content, work=None):
    """``grids.heatmap_planes`` of each of the G arrays ``xs``: float32 ``[G, P, R, C]``."""
    return np.stack([grids.heatmap_planes(np.asarray(x), content) for x in xs])


def raw_points(xs, previous, group, constants, work=None, keep=None):
    """``trajectory.raw_point`` of each of the G arrays ``xs``, stacked."""
    parts = []
    with np.errstate(invalid="ignore", over="ignore"):  # NaN/Inf are results here
        for i, (x, plan) in enumerate(zip(xs, group.plans)):
            x = np.asarray(x).reshape(group.shape)
            prev = None if previous is None else np.asarray(previous[i]).reshape(group.shape)
            parts.append(trajectory.raw_point(x, prev, plan))
            if keep is not None:
                keep[i][...] = x.reshape(np.shape(keep[i]))
    return tuple(np.stack(column) for column in zip(*parts))


def grad_sumsq(gradients, work=None):
    """``trajectory.grad_sumsq`` of each gradient (NaN for None): float64 ``[G]``."""
    return np.array([np.nan if g is None else trajectory.grad_sumsq(g) for g in gradients], np.float64)


def eigenvalues(xs, content):
    """``spectrum.eigenvalues`` of each of the G arrays ``xs``: float32 ``[G, slices, evals]``."""
    return np.stack([spectrum.eigenvalues(x, content) for x in xs])
