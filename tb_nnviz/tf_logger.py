"""``WeightLogger``: reduces many TensorFlow variables at once and writes them.

The logger owns what logging needs between steps: the fixed per-tensor
choices (heatmap contents, trajectory plans), the values at the previous
trajectory point, and one compiled ``tf.function``. Weights of one shape and
dtype are stacked and reduced together (``tb_nnviz.tf_reduce``), so tracing
and per-step cost grow with the number of distinct shapes, not of weights.
Only the small results leave the function; they are written as one event per
step by a ``tb_nnviz.Writer`` on its own thread, so nothing is traced per tag.
It knows nothing of Keras: ``tb_nnviz.keras.NNVizCallback`` decides when.

>>> import tempfile, tensorflow as tf
>>> from tb_nnviz import Writer
>>> w = tf.Variable(tf.ones([4, 3]))
>>> with Writer(tempfile.mkdtemp()) as writer:
...     logger = WeightLogger(writer, [Weight("dense/kernel", w)])
...     logger.log(0, heatmaps=True, trajectories=True)
...     _ = w.assign_add(tf.ones([4, 3]))
...     logger.log(1, heatmaps=False, trajectories=True)
>>> logger.trace_count, logger.group_count
(1, 1)
"""

import collections

import numpy as np
import tensorflow as tf

from tb_nnviz import reduce, summary, tf_reduce

#: Default model-wide budget of heatmap values per logged step (4 MiB of
#: float32); see ``reduce.heatmap_cap``. A model whose weights fit is shown
#: exactly (up to ``max_cells`` per tensor); a larger one is pooled evenly.
DEFAULT_MAX_TOTAL_CELLS = 2**20


class Weight(collections.namedtuple(
    "Weight", "name variable layout gates description unit_axis",
    defaults=("auto", None, None, -1),
)):
    """One weight to log: its name, ``tf.Variable`` and how to lay it out.

    ``variable`` is a ``tf.Variable`` (or anything ``tf.convert_to_tensor`` reads
    its current value from each call, such as a distributed variable);
    ``layout`` and ``gates`` as in ``reduce.heatmap_content``, ``unit_axis`` as
    in ``reduce.TrajectoryPlan``; ``description`` is shown in the tab.
    """


class WeightLogger:
    """Logs heatmaps and trajectory points of ``weights`` through ``writer``.

    Args:
      writer: a ``tb_nnviz.Writer``; its ``max_cells``, ``num_traces``,
        ``sketch_dim`` and ``seed`` apply.
      weights: ``Weight`` s in network order (real-valued, rank >= 1, fully
        defined shapes).
      heatmaps, trajectories: whether this logger will ever log each kind
        (only then does it keep what that kind needs: previous values, signs).
      max_total_cells: model-wide budget of heatmap values per logged step
        (default ``DEFAULT_MAX_TOTAL_CELLS``; None: only ``max_cells`` per tensor).

    Attributes:
      trace_count: how often the logging function was traced (1 after use).
      group_count: how many stacks of same-shaped weights are reduced.
      extra_bytes: memory held between steps: the previous values and the
        sketch signs (about 1 byte per parameter plus one copy of the weights).
    """

    def __init__(self, writer, weights, *, heatmaps=True, trajectories=True,
                 max_total_cells=DEFAULT_MAX_TOTAL_CELLS):
        self.writer = writer
        self.weights = [Weight(*w) for w in weights]
        self.trace_count = 0
        shapes = [tuple(int(d) for d in w.variable.shape) for w in self.weights]
        dtypes = [summary._check_static(w.name, tf.zeros([1], w.variable.dtype)) for w in self.weights]
        self._heat, self._traj = [], []
        if heatmaps:
            grids = [reduce.grid_shape(s, reduce.grid_layout(s, w.layout))
                     for s, w in zip(shapes, self.weights)]
            cap = reduce.heatmap_cap(grids, writer.max_cells, max_total_cells)
            self._heat = [
                writer.heatmap_content(w.name, s, d, w.layout, w.gates, max_cells=min(cap, writer.max_cells))
                for w, s, d in zip(self.weights, shapes, dtypes)
            ]
        if trajectories:
            self._traj = [writer.plan(w.name, s, d, w.unit_axis) for w, s, d in zip(self.weights, shapes, dtypes)]
        self._stacks = _group(range(len(self.weights)), lambda i: (shapes[i], dtypes[i]))
        self._heat_groups = [
            _group(members, lambda i: repr((self._heat[i]["layout"], self._heat[i]["pool"])))
            for members in self._stacks
        ] if heatmaps else []
        self._traj_groups, self._previous, self._constants = [], [], []
        extra = 0
        if trajectories:
            with tf.init_scope():
                for members in self._stacks:
                    for sub in _group(members, lambda i: self._traj[i][0].unit_axis):
                        group = tf_reduce.TrajectoryGroup([self._traj[i][0] for i in sub])
                        var = self.weights[sub[0]].variable
                        previous = tf.Variable(
                            tf.zeros((len(sub),) + group.shape, var.dtype), trainable=False,
                            name="nnviz_previous",
                        )
                        self._traj_groups.append((sub, group))
                        self._previous.append(previous)
                        self._constants.append(group.constants(variables=True))
                        extra += previous.dtype.size * int(np.prod(previous.shape))
                        extra += int(np.prod(self._constants[-1]["signs"].shape))
        self._has_previous = False
        self.extra_bytes = extra
        self.group_count = len(self._stacks)
        self._function = tf.function(self._reduce, autograph=False)

    @property
    def names(self):
        """The logged names, in network order."""
        return [w.name for w in self.weights]

    def log(self, step, heatmaps, trajectories):
        """Reduces every weight now and writes the results as step ``step``."""
        heatmaps = bool(heatmaps and self._heat)
        trajectories = bool(trajectories and self._traj)
        if not (heatmaps or trajectories):
            return
        heat, traj = self._function(tf.constant(heatmaps), tf.constant(trajectories))
        pairs_heat, pairs_traj = [], []
        if heatmaps:
            for subgroups, stacks in zip(self._heat_groups, heat):
                for sub, planes in zip(subgroups, stacks):
                    pairs_heat += [(self._heat[i], p) for i, p in zip(sub, planes.numpy())]
        if trajectories:
            for (sub, group), parts in zip(self._traj_groups, traj):
                points = reduce.finish_points(*(t.numpy() for t in parts), group.plans[0],
                                              self._has_previous)
                pairs_traj += [(self._traj[i][1], p) for i, p in zip(sub, points)]
            self._has_previous = True
        descriptions = {w.name: w.description for w in self.weights if w.description}
        self.writer.write_reduced(step, pairs_heat, pairs_traj, descriptions)

    def _reduce(self, heatmaps, trajectories):
        self.trace_count += 1
        stacks = [tf.stack([_read(self.weights[i].variable) for i in members])
                  for members in self._stacks]
        position = {i: (s, j) for s, members in enumerate(self._stacks) for j, i in enumerate(members)}

        def rows(sub):
            s, first = position[sub[0]]
            whole = list(range(first, first + len(sub)))
            if [position[i][1] for i in sub] == whole and len(sub) == len(self._stacks[s]):
                return stacks[s]
            return tf.gather(stacks[s], [position[i][1] for i in sub])

        def heat():
            out, after = [], []
            for subgroups in self._heat_groups:
                planes = []
                for sub in subgroups:
                    with tf.control_dependencies(after):  # one group's temporaries at a time
                        planes.append(tf_reduce.heatmap_planes(rows(sub), self._heat[sub[0]]))
                    after = [planes[-1]]
                out.append(planes)
            return out

        def traj():
            out, after = [], []
            for (sub, group), previous, constants in zip(self._traj_groups, self._previous, self._constants):
                x = rows(sub)
                with tf.control_dependencies(after):
                    parts = tf_reduce.raw_points(x, previous, group, constants)
                with tf.control_dependencies(parts):
                    previous.assign(x)
                out.append(parts)
                after = list(parts)
            return out

        # One tf.cond per kind; the branch not taken returns zeros of the same
        # structure (small: heatmaps are budgeted, points are short).
        heat_zeros = [
            [tf.zeros([len(sub)] + _planes_shape(self._heat[sub[0]]), tf.float32) for sub in subgroups]
            for subgroups in self._heat_groups
        ]
        traj_zeros = [
            tuple(tf.zeros([len(sub), width], tf.float64) for width in _raw_widths(group))
            for sub, group in self._traj_groups
        ]
        heat_out = tf.cond(heatmaps, heat, lambda: heat_zeros) if heat_zeros else []
        with tf.control_dependencies(tf.nest.flatten(heat_out)):
            traj_out = tf.cond(trajectories, traj, lambda: traj_zeros) if traj_zeros else []
        return heat_out, traj_out


def _planes_shape(content):
    """``[P, R, C]`` of the stored heatmap of ``content``."""
    (rows, cols), (br, bc) = content["grid"], content["pool"]
    return [len(content["planes"]), -(-rows // br), -(-cols // bc)]


def _raw_widths(group):
    """Widths of ``tf_reduce.raw_points``' four outputs for ``group``."""
    plan = group.plans[0]
    sample = plan.size if plan.sample is None else len(plan.sample)
    return len(reduce.RAW_FIELDS), sample, len(plan.traces), plan.sketch_dim


def _read(variable):
    return tf.convert_to_tensor(variable)


def _group(items, key):
    """``items`` grouped by ``key``, groups and members in first-seen order."""
    groups = {}
    for i in items:
        groups.setdefault(key(i), []).append(i)
    return list(groups.values())
