"""TensorFlow 2 summary ops for weight heatmaps and trajectory points.

The reductions run as TensorFlow ops where the tensor lives (eagerly or inside
``tf.function``); only the small result is handed to ``tf.summary.write``. The
numbers, tags and metadata equal what the TF-free ``tb_nnviz.Writer`` writes for
the same arrays: the numpy reference (``tb_nnviz.reduce.grids``,
``tb_nnviz.reduce.trajectory``) is the single definition of every reduction;
tests/test_backends.py holds ``tb_nnviz.reduce.tf_ops`` equal to it, and
tests/test_summary.py the event files written here to ``tb_nnviz.Writer``'s.

>>> import tempfile, numpy as np, tensorflow as tf
>>> w = tf.summary.create_file_writer(tempfile.mkdtemp())
>>> with w.as_default(step=0):
...     ok = heatmap("dense/kernel", np.ones((4, 3), np.float32))
...     ok = trajectory("dense/kernel", np.ones((4, 3), np.float32))
>>> bool(ok)
True
"""

import functools

import tensorflow as tf

from tb_nnviz.format import metadata
from tb_nnviz.reduce import grids, tf_ops
from tb_nnviz.reduce import trajectory as _trajectory
from tb_nnviz.reduce.group import TrajectoryGroup

__all__ = ["heatmap", "trajectory", "heatmap_planes", "trajectory_point", "plan_for"]


# ---------------------------------------------------------------------------
# Input checks (the numpy reference's checks, run on the static shape/dtype)


def _to_tensor(name, data):
    """``data`` as a tensor with a fully known static shape, or ``TensorError``."""
    grids.check_name(name)
    if not (tf.is_tensor(data) or isinstance(data, tf.Variable) or hasattr(data, "value")):
        # Plain Python / numpy input: the reference check gives the same message.
        data = grids.check_tensor(name, data)
    try:
        x = tf.convert_to_tensor(data)
    except (TypeError, ValueError) as e:
        raise grids.TensorError("tensor %r cannot be converted to a tensor: %s" % (name, e)) from None
    return x, tf_ops.check_static(name, x)


@functools.lru_cache(maxsize=256)
def plan_for(name, shape, num_traces=_trajectory.DEFAULT_NUM_TRACES,
             sketch_dim=_trajectory.DEFAULT_SKETCH_DIM, seed=0, unit_axis=-1):
    """The (cached) ``tb_nnviz.reduce.trajectory.TrajectoryPlan`` of tensor ``name`` with ``shape``."""
    return _trajectory.TrajectoryPlan(
        name, tuple(shape), num_traces=num_traces, sketch_dim=sketch_dim, seed=seed,
        unit_axis=unit_axis,
    )


# ---------------------------------------------------------------------------
# Reductions of one tensor (a group of one, see tb_nnviz.reduce.tf_ops)


@functools.lru_cache(maxsize=256)
def _group(plan):
    """The (cached) group of one ``plan``: its sign flips are made once, not at every eager call."""
    return TrajectoryGroup([plan])


def heatmap_planes(x, content):
    """TF version of ``grids.heatmap_planes``: float32 ``(planes, rows, cols)``."""
    return tf_ops.heatmap_planes(tf.convert_to_tensor(x)[None], content)[0]


def trajectory_point(x, previous, plan, previous_valid=None, gradient=None):
    """TF version of ``tb_nnviz.reduce.trajectory.trajectory_point``: a float64 vector of ``plan.length``.

    ``previous`` is a tensor of x's shape or None; ``previous_valid`` (optional
    bool tensor) says whether ``previous`` holds a real earlier value; when
    False the update norm, ratio and unchanged unit fraction are NaN, as with
    ``previous=None``. ``gradient`` (x's shape, or None) fills ``grad_norm``
    and ``grad_ratio``.
    """
    group = _group(plan)
    if previous is not None:
        previous = tf.convert_to_tensor(previous)[None]
    if gradient is not None:
        gradient = tf.convert_to_tensor(gradient)[None]
    return tf_ops.trajectory_points(
        tf.convert_to_tensor(x)[None], previous, group, tf_ops.constants(group), previous_valid, gradient
    )[0]


# ---------------------------------------------------------------------------
# Summary ops


def write(tag, compute, step, serialized_metadata):
    """``tf.summary.write`` of ``compute()``, computed only when recording.

    Unlike passing a callable to ``tf.summary.write`` (which builds it under
    ``cpu:0``), ``compute`` runs on the current device; only its small result
    is copied to the host by the write op.
    """
    should = tf.summary.should_record_summaries()
    static = tf.get_static_value(should)
    if static is not None and not static:
        return tf.constant(False)

    def record():
        return tf.summary.write(tag, compute(), step=step, metadata=serialized_metadata)

    if static is not None:
        return record()
    return tf.cond(should, record, lambda: tf.constant(False))


@tf.autograph.experimental.do_not_convert
def heatmap(name, data, step=None, *, layout="auto", max_cells=grids.DEFAULT_MAX_CELLS,
            gates=None, description=None):
    """Writes the heatmap of tensor ``data`` under the tag of ``name``.

    Args:
      name: the tensor's name, e.g. ``"dense/kernel"``; the tag is
        ``metadata.summary_tag(name, "nnviz_heatmap")`` (name scopes do not change it).
      data: a real-valued tensor (float of any width, or int) of rank >= 1 with a
        fully defined static shape.
      step: int64-castable step, or None for ``tf.summary.experimental.get_step()``.
      layout: ``"auto"``, ``"vector"``, ``"matrix"``, ``"conv"`` or ``"split:K"``
        (see ``grids.grid_layout``); fixed at trace time from the static shape.
      max_cells: cell budget; larger grids are block-pooled (mean and signed absmax).
      gates: optional gate names splitting the columns, e.g. ``["i", "f", "c", "o"]``.
      description: optional text shown in the tab.

    Returns:
      The bool tensor ``tf.summary.write`` returns (False without a default writer).

    Raises:
      TensorError: bad name, dtype (bool, complex, string), rank 0, empty tensor,
        unknown static shape, or a layout/gates that do not fit.
    """
    x, dtype = _to_tensor(name, data)
    content = grids.heatmap_content(name, x.shape.as_list(), dtype, layout, max_cells, gates)
    md = metadata.heatmap_metadata(content, description).SerializeToString()
    tag = metadata.summary_tag(name, metadata.HEATMAP_PLUGIN_NAME)
    with tf.name_scope("nnviz_heatmap"):
        return write(tag, lambda: heatmap_planes(x, content), step, md)


@tf.autograph.experimental.do_not_convert
def trajectory(name, data, previous=None, step=None, *, plan=None,
               num_traces=_trajectory.DEFAULT_NUM_TRACES, sketch_dim=_trajectory.DEFAULT_SKETCH_DIM,
               seed=0, unit_axis=-1, description=None, gradient=None):
    """Writes one trajectory point of tensor ``data`` under the tag of ``name``.

    Args:
      name: the tensor's name; also seeds the traces and the sketch hash.
      data: a real-valued tensor of rank >= 1 with a fully defined static shape.
      previous: the tensor's value at the previous logged step (same shape), or
        None at the first step (update norm and ratio are then NaN).
      step: int64-castable step, or None for ``tf.summary.experimental.get_step()``.
      plan: a ``tb_nnviz.reduce.trajectory.TrajectoryPlan`` for (name, shape); by default one is built
        (and cached) from ``num_traces``, ``sketch_dim`` and ``seed``.
      num_traces, sketch_dim, seed, unit_axis: see ``tb_nnviz.reduce.trajectory.TrajectoryPlan``
        (defaults 16, 256, 0, -1).
      description: optional text shown in the tab.
      gradient: the tensor's gradient at this step (same shape), taken before
        the optimizer applies it, or None; fills ``grad_norm`` and ``grad_ratio``
        (Keras: compute it in your own ``train_step``, demo/custom_loop_tf.py).

    Returns:
      The bool tensor ``tf.summary.write`` returns (False without a default writer).
    """
    x, dtype = _to_tensor(name, data)
    shape = tuple(x.shape.as_list())
    if gradient is not None:
        gradient = tf.convert_to_tensor(gradient)
        if tuple(gradient.shape.as_list()) != shape:
            raise grids.TensorError(
                "tensor %r: gradient has shape %s, expected %s" % (name, gradient.shape, list(shape))
            )
    if plan is None:
        plan = plan_for(name, shape, int(num_traces), int(sketch_dim), int(seed), int(unit_axis))
    elif plan.name != name or plan.shape != shape:
        raise grids.TensorError(
            "plan for %r %s does not fit tensor %r %s" % (plan.name, list(plan.shape), name, list(shape))
        )
    if previous is not None:
        previous = tf.convert_to_tensor(previous)
        if tuple(previous.shape.as_list()) != shape:
            raise grids.TensorError(
                "tensor %r: previous value has shape %s, expected %s"
                % (name, previous.shape, list(shape))
            )
    md = metadata.trajectory_metadata(plan.content(dtype), description).SerializeToString()
    tag = metadata.summary_tag(name, metadata.TRAJECTORY_PLUGIN_NAME)
    with tf.name_scope("nnviz_trajectory"):
        return write(tag, lambda: trajectory_point(x, previous, plan, gradient=gradient), step, md)
