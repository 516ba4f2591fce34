"""The fixed choices of G same-shaped tensors, stacked: what every backend reduces a group with.

A group is the unit of work of every backend (``numpy_ops``, ``numba_ops``,
``tf_ops``, ``torch_ops``): G tensors of one shape whose trajectory plans
agree on everything but the name, so one reduction takes all of them. The
group holds their seeded choices as numpy arrays; each backend's
``constants(group, device)`` puts them where it reduces.

>>> from tb_nnviz.reduce.trajectory import TrajectoryPlan
>>> group = TrajectoryGroup([TrajectoryPlan(n, (3, 4), num_traces=2, sketch_dim=4) for n in "ab"])
>>> group.traces.shape, group.flips.shape, group.flips.dtype.name, group.units, group.sample
((2, 2), (2, 12), 'uint8', (3, 4, 1), None)
"""

import numpy as np

from tb_nnviz.reduce.grids import TensorError
from tb_nnviz.reduce.trajectory import sketch_flips


def check_group(plans):
    """Raises ``TensorError`` unless the ``TrajectoryPlan`` s can be reduced as one group.

    They must share shape, unit axis, sketch size, trace count and whether
    quantiles are sampled; the message names the first two that differ.
    """
    first = plans[0]
    for p in plans[1:]:
        if (p.shape, p.unit_axis, p.sketch_dim, len(p.traces)) != (
            first.shape, first.unit_axis, first.sketch_dim, len(first.traces)
        ) or (p.sample is None) != (first.sample is None):
            raise TensorError("tensors %r and %r cannot share a trajectory group" % (first.name, p.name))


class TrajectoryGroup:
    """The ``TrajectoryPlan`` s of G tensors of one shape, their choices stacked.

    Args:
      plans: ``trajectory.TrajectoryPlan`` s of equal shape, unit axis and
        options (:func:`check_group`).

    Attributes:
      plans: the plans, in order; ``plan`` is the first (any of them serves
        ``trajectory.finish_points``: they share size and units).
      shape, size, units, sketch_dim, length: as the plans have them.
      traces: int64 ``[G, num_traces]``, the traced flat indices.
      sample: int64 ``[G, S]``, the flat indices the quantiles are taken
        over, or None (every value).
      flips: uint8 ``[G, size]``, 1 where the CountSketch sign is -1 (one
        byte per parameter, made here without the plans keeping a copy).
    """

    def __init__(self, plans):
        self.plans = list(plans)
        check_group(self.plans)
        self.plan = first = self.plans[0]
        self.shape, self.size, self.units = first.shape, first.size, first.units
        self.sketch_dim, self.length = first.sketch_dim, first.length
        self.traces = np.stack([p.traces for p in self.plans]).astype(np.int64)
        self.sample = None if first.sample is None else np.stack([p.sample for p in self.plans]).astype(np.int64)
        self.flips = np.empty((len(self.plans), self.size), np.uint8)
        for row, p in zip(self.flips, self.plans):
            row[:] = sketch_flips(p.name, p.seed, p.size)

    def __len__(self):
        return len(self.plans)

    @property
    def nbytes(self):
        """Bytes of the stacked choices (mostly the sign flips)."""
        return sum(a.nbytes for a in (self.traces, self.sample, self.flips) if a is not None)
