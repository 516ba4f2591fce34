"""``HostLogger``: reduces weights read as host numpy arrays, in any framework, and writes them.

The framework-neutral twin of ``tb_nnviz.log.tf_logger.WeightLogger`` and
``tb_nnviz.log.torch_logger.ParamLogger`` (the fixed choices are shared:
``tb_nnviz.log.plan.LogPlan``). At each logged step it asks ``read`` for the
current value of every weight as a numpy array (a view where the framework
allows: a JAX array on the CPU is not copied), then reduces weights of one
shape and dtype together with the backend ``tb_nnviz.reduce.backends.choose``
picks for host arrays: numba's one-pass kernels (``numba_ops``) for
float32/float64, the numpy reference (``numpy_ops``) for other dtypes or
without numba. ``tb_nnviz.keras.NNVizCallback`` uses it under Keras' JAX
backend; it imports no framework.

>>> import tempfile, numpy as np
>>> from tb_nnviz import Writer
>>> values = {"dense/kernel": np.ones((4, 3), np.float32), "dense/bias": np.zeros(3, np.float32)}
>>> with Writer(tempfile.mkdtemp()) as writer:
...     logger = HostLogger(writer, [Weight(n, n) for n in values], values.__getitem__,
...                         shapes=[(4, 3), (3,)], dtypes=["float32", "float32"])
...     logger.log(0, heatmaps=True, trajectories=True)
...     values["dense/kernel"] = values["dense/kernel"] + 1
...     logger.log(1, heatmaps=False, trajectories=True)
>>> logger.group_count, logger.names
(2, ['dense/kernel', 'dense/bias'])
"""

import numpy as np

from tb_nnviz.log.plan import DEFAULT_MAX_TOTAL_CELLS, LogPlan, Weight, all_finite
from tb_nnviz.reduce import backends
from tb_nnviz.reduce.group import TrajectoryGroup

__all__ = ["HostLogger"]


class HostLogger:
    """Logs heatmaps, trajectory points and spectra of weights read to the host through ``writer``.

    Args:
      writer: a ``tb_nnviz.Writer``; its ``max_cells``, ``num_traces``,
        ``sketch_dim`` and ``seed`` apply.
      weights: ``Weight`` s in network order; ``variable`` is whatever
        ``read`` takes.
      read: ``read(variable) -> numpy array``, the weight's current value
        (called once per weight per logged step; the array is only read
        during the call to :meth:`log`, so it may be a view of memory the
        framework reuses afterwards).
      shapes, dtypes: each weight's shape (ints) and dtype name (``"float32"``,
        ``"bfloat16"``, ...), fixed for the logger's life.
      heatmaps, trajectories, spectra: whether this logger will ever log each kind.
      max_total_cells: model-wide budget of heatmap values per logged step.
      one_pass: True (default) lets ``backends.choose`` take numba's kernels
        for float32/float64 weights; False takes the numpy reference for all.

    Attributes:
      group_count: how many stacks of same-shaped weights are reduced.
      one_pass_count: how many of them numba's kernels reduce.
      extra_bytes: memory held between steps (after the first trajectory
        point): the previous values (one copy of the weights) and the sketch
        signs (1 byte per parameter).
    """

    def __init__(self, writer, weights, read, *, shapes, dtypes, heatmaps=True, trajectories=True,
                 max_total_cells=DEFAULT_MAX_TOTAL_CELLS, spectra=False, one_pass=True):
        self.weights = [Weight(*w) for w in weights]
        self._read = read
        self._plan = plan = LogPlan(writer, self.weights, shapes, [str(d) for d in dtypes], heatmaps=heatmaps,
                                    trajectories=trajectories, max_total_cells=max_total_cells, spectra=spectra)
        # Host arrays: the device is the CPU, whatever the framework held them on.
        chosen = [backends.choose(plan.dtypes[members[0]], "cpu", "numpy", one_pass) for members in plan.stacks]
        self._backend_of = {i: chosen[s] for s, members in enumerate(plan.stacks) for i in members}
        self._traj = [TrajectoryGroup([plan.traj[i][0] for i in sub]) for sub in plan.traj_groups]
        self._constants = [self._backend_of[sub[0]].constants(group)
                           for sub, group in zip(plan.traj_groups, self._traj)]
        self._previous = [None] * len(self._traj)
        self._has_previous = False
        self.group_count = len(plan.stacks)
        self.one_pass_count = sum(b is not backends.numpy_ops for b in chosen)

    @property
    def names(self):
        """The logged names, in network order."""
        return self._plan.names

    @property
    def extra_bytes(self):
        """Bytes held between steps: previous values and sketch sign flips."""
        held = [group.flips.nbytes for group in self._traj]
        held += [p.nbytes for p in self._previous if p is not None]
        return sum(held)

    def log(self, step, heatmaps, trajectories, spectra=False):
        """Reads every weight now, reduces it and writes the results as step ``step``."""
        plan = self._plan
        heatmaps, trajectories, spectra = plan.kinds(heatmaps, trajectories, spectra)
        if not (heatmaps or trajectories or spectra):
            return
        values = {}

        def arrays(members):
            for i in members:
                if i not in values:
                    values[i] = np.asarray(self._read(self.weights[i].variable)).reshape(plan.shapes[i])
            return [values[i] for i in members]

        heatmaps, trajectories = plan.check_finite(step, heatmaps, trajectories,
                                                   lambda: all_finite(arrays(list(range(len(self.weights))))),
                                                   self._previous_values)
        heat = [[self._backend_of[sub[0]].heatmap_planes(arrays(sub), plan.heat[sub[0]]) for sub in subgroups]
                for subgroups in plan.heat_groups] if heatmaps else []
        traj = [self._points(k, arrays(sub)) for k, sub in enumerate(plan.traj_groups)] if trajectories else []
        spec = [self._backend_of[sub[0]].eigenvalues(arrays(sub), plan.spec[sub[0]])
                for sub in plan.spec_groups] if spectra else None
        plan.write(step, heat, traj, self._has_previous, spectra=spec)
        self._has_previous = self._has_previous or trajectories

    def _previous_values(self):
        """Each weight's value at the last trajectory point (None without one)."""
        return self._plan.by_weight(zip(self._plan.traj_groups, self._previous) if self._has_previous else ())

    def _points(self, k, xs):
        """``(raw, sample, traces, sketch)`` of trajectory group ``k``; keeps ``xs`` as its previous values."""
        group, previous = self._traj[k], self._previous[k]
        keep = previous
        if keep is None:
            keep = self._previous[k] = np.empty((len(xs), group.size), xs[0].dtype)
        backend = self._backend_of[self._plan.traj_groups[k][0]]
        return list(backend.raw_points(xs, previous, group, self._constants[k], keep=keep))
