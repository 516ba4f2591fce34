"""``WeightLogger``: reduces many TensorFlow variables at once and writes them.

The logger owns what logging needs between steps: the fixed per-tensor
choices (heatmap contents, trajectory plans), the values at the previous
trajectory point, and one compiled ``tf.function``. Weights of one shape and
dtype are stacked and reduced together by the backend
``tb_nnviz.reduce.backends.choose`` picks for them (numba's one-pass kernels
on the host for CPU float32/float64, else ``tb_nnviz.reduce.tf_ops`` inside
the function), so tracing and per-step cost grow with the number of distinct
shapes, not of weights.
Only the small results leave the function; they are written as one event per
step by a ``tb_nnviz.Writer``, so nothing is traced per tag.
It knows nothing of Keras: ``tb_nnviz.keras.NNVizCallback`` decides when.

>>> import tempfile, tensorflow as tf
>>> from tb_nnviz import Writer
>>> w = tf.Variable(tf.ones([4, 3]))
>>> with Writer(tempfile.mkdtemp()) as writer:
...     logger = WeightLogger(writer, [Weight("dense/kernel", w)])
...     logger.log(0, heatmaps=True, trajectories=True)
...     _ = w.assign_add(tf.ones([4, 3]))
...     logger.log(1, heatmaps=False, trajectories=True)
>>> logger.group_count, logger.one_pass_count  # one shape; on the CPU with numba, no TensorFlow ops
(1, 1)
"""

import contextlib
import functools

import numpy as np
import tensorflow as tf

from tb_nnviz.log.plan import DEFAULT_MAX_TOTAL_CELLS, LogPlan, Weight, all_finite, planes_shape, raw_widths
from tb_nnviz.reduce import backends, numba_ops, tf_ops
from tb_nnviz.reduce.group import TrajectoryGroup

__all__ = ["DEFAULT_MAX_TOTAL_CELLS", "Weight", "WeightLogger"]


class WeightLogger:
    """Logs heatmaps and trajectory points of ``weights`` through ``writer``.

    Args:
      writer: a ``tb_nnviz.Writer``; its ``max_cells``, ``num_traces``,
        ``sketch_dim`` and ``seed`` apply.
      weights: ``Weight`` s in network order (real-valued, rank >= 1, fully
        defined shapes); ``variable`` is a ``tf.Variable`` (or anything
        ``tf.convert_to_tensor`` reads its current value from each call, such
        as a distributed variable).
      heatmaps, trajectories: whether this logger will ever log each kind
        (only then does it keep what that kind needs: previous values, signs).
      max_total_cells: model-wide budget of heatmap values per logged step
        (default ``DEFAULT_MAX_TOTAL_CELLS``; None: only ``max_cells`` per tensor).
      spectra: whether this logger will ever log spectra (the eigenvalues of
        ``W^T W`` of each matrix, ``tb_nnviz.reduce.tf_ops.eigenvalues``, in the
        compiled function). Default False.
      one_pass: None (default) lets ``backends.choose`` reduce the heatmaps and
        trajectory points of float32 and float64 weights on the CPU with
        ``tb_nnviz.reduce.numba_ops`` (one pass over each, outside the compiled
        function) when numba is installed; False keeps every reduction in TensorFlow.

    Attributes:
      trace_count: how often the logging function was traced (1 after use).
      group_count: how many stacks of same-shaped weights are reduced.
      one_pass_count: how many groups' trajectory points ``tb_nnviz.reduce.numba_ops`` reduces
        (their heatmaps too).
      extra_bytes: memory held between steps: the previous values and the
        sketch sign flips (about 1 byte per parameter plus one copy of the weights).
    """

    def __init__(self, writer, weights, *, heatmaps=True, trajectories=True,
                 max_total_cells=DEFAULT_MAX_TOTAL_CELLS, spectra=False, one_pass=None):
        self.writer = writer
        self.weights = [Weight(*w) for w in weights]
        self.trace_count = 0
        shapes = [tuple(int(d) for d in w.variable.shape) for w in self.weights]
        dtypes = [tf_ops.check_static(w.name, tf.zeros([1], w.variable.dtype)) for w in self.weights]
        self._plan = plan = LogPlan(writer, self.weights, shapes, dtypes, heatmaps=heatmaps,
                                    trajectories=trajectories, max_total_cells=max_total_cells,
                                    spectra=spectra)
        self._heat, self._traj, self._stacks = plan.heat, plan.traj, plan.stacks
        # The backend of each stack (numba_ops reduces on the host, outside the compiled function).
        chosen = [backends.choose(dtypes[members[0]], _read(self.weights[members[0]].variable).device, "tf",
                                  one_pass is not False) for members in plan.stacks]
        stack_of = {i: s for s, members in enumerate(plan.stacks) for i in members}
        host = lambda members: chosen[stack_of[members[0]]] is numba_ops  # noqa: E731
        self._on_host = {i for members in plan.stacks if host(members) for i in members}
        # Heatmap groups drawn on the host, by index in plan.heat_groups.
        self._host_heat = {h for h, subgroups in enumerate(plan.heat_groups) if host(subgroups[0])}
        self._heat_groups = [sg for h, sg in enumerate(plan.heat_groups) if h not in self._host_heat]
        # Trajectory groups reduced on the host, by index in plan.traj_groups: (group, constants, kept values).
        self._host = {}
        self._traj_groups, self._previous, self._constants = [], [], []
        extra = 0
        with tf.init_scope():
            for k, sub in enumerate(plan.traj_groups):
                group = TrajectoryGroup([self._traj[i][0] for i in sub])
                if host(sub):
                    kept = [np.empty(group.size, dtypes[sub[0]]) for _ in sub]
                    self._host[k] = (group, numba_ops.constants(group), kept)
                    extra += group.flips.nbytes + sum(a.nbytes for a in kept)
                    continue
                var = self.weights[sub[0]].variable
                previous = tf.Variable(
                    tf.zeros((len(sub),) + group.shape, var.dtype), trainable=False,
                    name="nnviz_previous",
                )
                constants = tf_ops.constants(group)
                # A variable, so the table is not embedded in the compiled function's graph.
                constants["flips"] = tf.Variable(constants["flips"], trainable=False, name="nnviz_flips")
                self._traj_groups.append((sub, group))
                self._previous.append(previous)
                self._constants.append(constants)
                extra += previous.dtype.size * int(np.prod(previous.shape))
                extra += int(np.prod(constants["flips"].shape))
        self._has_previous = False
        self._grads = None  # gradient sums of squares for the next point, per trajectory group
        self.extra_bytes = extra
        self.group_count = len(self._stacks)
        self.one_pass_count = len(self._host)
        # A partial of the bound method, not the method: TensorFlow counts traces per Python
        # function's code object (``_FrequentTracingDetector``), so every logger's one trace
        # counted as a retrace of one function, and a process that trains models in turn
        # (a notebook, Keras Tuner) was warned of "retracing" from its fifth model on.
        # A partial has no code of its own: TensorFlow keys its count by the partial, one
        # per logger.
        self._function = tf.function(functools.partial(self._reduce), autograph=False)

    @property
    def names(self):
        """The logged names, in network order."""
        return [w.name for w in self.weights]

    def log(self, step, heatmaps, trajectories, spectra=False):
        """Reduces every weight now and writes the results as step ``step``."""
        heatmaps, trajectories, spectra = self._plan.kinds(heatmaps, trajectories, spectra)
        if not (heatmaps or trajectories or spectra):
            return
        heatmaps, trajectories = self._plan.check_finite(step, heatmaps, trajectories, self._finite,
                                                         self._previous_values)
        heat = traj = spec = []
        if (heatmaps and self._heat_groups) or (trajectories and self._traj_groups) or spectra:
            with _without_graph_rewrites():
                heat, traj, spec = self._function(tf.constant(heatmaps), tf.constant(trajectories),
                                                  tf.constant(spectra))
        if heatmaps:
            compiled = iter([[planes.numpy() for planes in stacks] for stacks in heat])
            heat = [self._host_heatmaps(subgroups) if h in self._host_heat else next(compiled)
                    for h, subgroups in enumerate(self._plan.heat_groups)]
        else:
            heat = []
        if trajectories:
            compiled = iter([[t.numpy() for t in parts] for parts in traj])
            traj = [self._host_points(k) if k in self._host else next(compiled)
                    for k in range(len(self._plan.traj_groups))]
        else:
            traj = []
        spec = [values.numpy() for values in spec] if spectra else None
        grads = self._grads if trajectories else None
        self._grads = None if trajectories else self._grads
        self._plan.write(step, heat, traj, self._has_previous, grads, spectra=spec)
        if trajectories:
            self._has_previous = True

    def _finite(self):
        """Whether every weight is finite now: a sum of each (eager outside the host groups)."""
        indices = range(len(self.weights))
        if not all_finite(_host_array(self.weights[i].variable) for i in indices if i in self._on_host):
            return False
        for i in indices:
            if i not in self._on_host:
                value = _read(self.weights[i].variable)
                if not np.isfinite(float(tf.reduce_sum(value))) and not bool(
                        tf.reduce_all(tf.math.is_finite(value))):
                    return False
        return True

    def _previous_values(self):
        """Each weight's value at the last trajectory point as a numpy array (None without one)."""
        if not self._has_previous:
            return self._plan.by_weight(())
        rows = [(self._plan.traj_groups[k], kept) for k, (_, _, kept) in self._host.items()]
        return self._plan.by_weight(rows + [(sub, p.numpy()) for (sub, _), p in zip(self._traj_groups, self._previous)])

    def take_gradients(self, sumsq):
        """Gradient sums of squares for the next trajectory point: one float per weight, in
        ``weights`` order (NaN where unknown), e.g. from ``keras_evidence.GradientTap``."""
        sumsq = np.asarray(sumsq, np.float64)
        self._grads = [sumsq[list(sub)] for sub in self._plan.traj_groups]

    def _host_points(self, k):
        """``(raw, sample, traces, sketch)`` of trajectory group ``k`` by ``tb_nnviz.reduce.numba_ops``;
        keeps the values as previous."""
        group, constants, kept = self._host[k]
        arrays = [_host_array(self.weights[i].variable) for i in self._plan.traj_groups[k]]
        return list(numba_ops.raw_points(arrays, kept if self._has_previous else None, group, constants, keep=kept))

    def _host_heatmaps(self, subgroups):
        """Planes ``[G, P, R, C]`` of each subgroup of one heatmap group, by ``tb_nnviz.reduce.numba_ops``."""
        return [numba_ops.heatmap_planes([_host_array(self.weights[i].variable) for i in sub], self._heat[sub[0]])
                for sub in subgroups]

    def _reduce(self, heatmaps, trajectories, spectra):
        self.trace_count += 1
        position = {i: (s, j) for s, members in enumerate(self._stacks) for j, i in enumerate(members)}
        # Only the stacks some reduction here reads (the one-pass kernels read the others on the host).
        used = [sub for subgroups in self._heat_groups for sub in subgroups]
        used += [sub for sub, _ in self._traj_groups] + list(self._plan.spec_groups)
        used = {position[sub[0]][0] for sub in used}
        stacks = [tf.stack([_read(self.weights[i].variable) for i in members]) if s in used else None
                  for s, members in enumerate(self._stacks)]

        def rows(sub):
            s, first = position[sub[0]]
            whole = list(range(first, first + len(sub)))
            if [position[i][1] for i in sub] == whole and len(sub) == len(self._stacks[s]):
                return stacks[s]
            return tf.gather(stacks[s], [position[i][1] for i in sub])

        def heat():
            subs = [sub for subgroups in self._heat_groups for sub in subgroups]
            planes = iter(_in_turn(subs, lambda sub: tf_ops.heatmap_planes(rows(sub), self._heat[sub[0]])))
            return [[next(planes) for _ in subgroups] for subgroups in self._heat_groups]

        def points(entry):
            (sub, group), previous, constants = entry
            return tf_ops.raw_points(rows(sub), previous, group, constants, keep=previous)

        def traj():
            return _in_turn(list(zip(self._traj_groups, self._previous, self._constants)), points)

        def spec():
            return _in_turn(self._plan.spec_groups,
                            lambda sub: tf_ops.eigenvalues(rows(sub), self._plan.spec[sub[0]]))

        # One tf.cond per kind, one kind after the other; the branch not taken
        # returns zeros of the same structure (small: heatmaps are budgeted,
        # points and spectra are short).
        heat_zeros = [
            [tf.zeros([len(sub)] + planes_shape(self._heat[sub[0]]), tf.float32) for sub in subgroups]
            for subgroups in self._heat_groups
        ]
        traj_zeros = [
            tuple(tf.zeros([len(sub), width], tf.float64) for width in raw_widths(group.plan))
            for sub, group in self._traj_groups
        ]
        spec_zeros = [
            tf.zeros([len(sub), self._plan.spec[sub[0]]["slices"], self._plan.spec[sub[0]]["evals"]], tf.float32)
            for sub in self._plan.spec_groups
        ]
        heat_out, traj_out, spec_out = _in_turn(
            [(heatmaps, heat, heat_zeros), (trajectories, traj, traj_zeros), (spectra, spec, spec_zeros)],
            lambda kind: tf.cond(kind[0], kind[1], lambda: kind[2]) if kind[2] else [],
        )
        return heat_out, traj_out, spec_out


def _read(variable):
    return tf.convert_to_tensor(variable)


def _host_array(variable):
    """The numpy value of a CPU variable, without a copy where TensorFlow allows it."""
    value = _read(variable)
    try:
        return np.from_dlpack(value)
    except (TypeError, RuntimeError, BufferError, AttributeError):
        return value.numpy()


def _in_turn(items, fn):
    """``[fn(item) for item in items]``, each run after the previous one's results.

    Reductions of one group at a time hold one group's float64 temporaries,
    not the whole model's.
    """
    out, after = [], []
    for item in items:
        with tf.control_dependencies(after):
            result = fn(item)
        out.append(result)
        after = tf.nest.flatten(result)
    return out


@contextlib.contextmanager
def _without_graph_rewrites():
    """Calls in this block run their function graphs without Grappler's rewrites.

    Grappler spends seconds on the thousands of small reductions of a large
    model's logging function (5 of the 7.5 s of MobileNetV2's first call) and
    gains nothing at run time: there are no layers to fuse. The options are
    the calling thread's and are restored on exit, so the model's own
    functions keep every optimisation. Where TensorFlow's internals differ,
    nothing changes.
    """
    try:
        from tensorflow.core.protobuf import config_pb2
        from tensorflow.python.eager import context

        ctx = context.context()
        saved = ctx.function_call_options
        config = config_pb2.ConfigProto.FromString(saved.config_proto_serialized)
        config.graph_options.rewrite_options.disable_meta_optimizer = True
        ctx.function_call_options = context.FunctionCallOptions(
            executor_type=saved.executor_type, config_proto=config
        )
    except Exception:  # noqa: BLE001 (an optimisation only)
        yield
        return
    try:
        yield
    finally:
        ctx.function_call_options = saved
