"""TensorFlow 2 summary ops for weight heatmaps and trajectory points.

The reductions run as TensorFlow ops where the tensor lives (eagerly or inside
``tf.function``); only the small result is handed to ``tf.summary.write``. The
numbers, tags and metadata equal what the TF-free ``tb_nnviz.Writer`` writes for
the same arrays: ``tb_nnviz.reduce`` is the single definition of every
reduction, and the tests hold this module equal to it.

>>> import tempfile, numpy as np, tensorflow as tf
>>> w = tf.summary.create_file_writer(tempfile.mkdtemp())
>>> with w.as_default(step=0):
...     ok = heatmap("dense/kernel", np.ones((4, 3), np.float32))
...     ok = trajectory("dense/kernel", np.ones((4, 3), np.float32))
>>> bool(ok)
True
"""

import functools

import numpy as np
import tensorflow as tf

from tb_nnviz import metadata, reduce

__all__ = ["heatmap", "trajectory", "heatmap_planes", "trajectory_point", "plan_for"]


# ---------------------------------------------------------------------------
# Input checks (the numpy reference's checks, run on the static shape/dtype)


def _to_tensor(name, data):
    """``data`` as a tensor with a fully known static shape, or ``TensorError``."""
    reduce.check_name(name)
    if not (tf.is_tensor(data) or isinstance(data, tf.Variable) or hasattr(data, "value")):
        # Plain Python / numpy input: the reference check gives the same message.
        data = reduce.check_tensor(name, data)
    try:
        x = tf.convert_to_tensor(data)
    except (TypeError, ValueError) as e:
        raise reduce.TensorError("tensor %r cannot be converted to a tensor: %s" % (name, e)) from None
    return x, _check_static(name, x)


def _check_static(name, x):
    """Runs ``reduce.check_tensor`` on the static dtype/shape; returns the dtype name."""
    if not x.shape.is_fully_defined():
        raise reduce.TensorError(
            "tensor %r has a partly unknown static shape %s; heatmaps and trajectories "
            "need a fully defined shape" % (name, x.shape)
        )
    try:
        np_dtype = np.dtype(x.dtype.as_numpy_dtype)
    except TypeError:
        np_dtype = np.dtype(object)
    # A zero-strided view: the check sees dtype and shape without allocating.
    probe = np.broadcast_to(np.zeros((), np_dtype), tuple(x.shape.as_list()))
    reduce.check_tensor(name, probe)
    return str(np_dtype)


@functools.lru_cache(maxsize=4096)
def plan_for(name, shape, num_traces=reduce.DEFAULT_NUM_TRACES,
             sketch_dim=reduce.DEFAULT_SKETCH_DIM, seed=0):
    """The (cached) ``reduce.TrajectoryPlan`` of tensor ``name`` with ``shape``."""
    return reduce.TrajectoryPlan(
        name, tuple(shape), num_traces=num_traces, sketch_dim=sketch_dim, seed=seed
    )


# ---------------------------------------------------------------------------
# Reductions as TF ops (mirrors of reduce.heatmap_planes / reduce.trajectory_point)


def heatmap_planes(x, content):
    """TF version of ``reduce.heatmap_planes``: float32 ``(planes, rows, cols)``."""
    lay = content["layout"]
    rows, cols = content["grid"]
    br, bc = content["pool"]
    grid = tf.reshape(tf.transpose(x, lay["rows"] + lay["cols"]), [rows, cols])
    if (br, bc) == (1, 1):
        return tf.cast(grid, tf.float32)[None]
    mean, absmax = pool(tf.cast(grid, tf.float64), br, bc)
    return tf.cast(tf.stack([mean, absmax]), tf.float32)


def pool(grid, br, bc):
    """TF version of ``reduce.pool`` on a float64 grid with a static shape."""
    rows, cols = grid.shape.as_list()
    r, c = -(-rows // br), -(-cols // bc)
    padded = tf.pad(grid, [[0, r * br - rows], [0, c * bc - cols]])
    blocks = tf.reshape(padded, [r, br, c, bc])
    row_counts = np.minimum(br, rows - br * np.arange(r))
    col_counts = np.minimum(bc, cols - bc * np.arange(c))
    counts = tf.constant(np.outer(row_counts, col_counts), tf.float64)
    mean = tf.reduce_sum(blocks, axis=[1, 3]) / counts
    magnitude = tf.reduce_max(tf.abs(blocks), axis=[1, 3])
    # numpy's max propagates NaN; TF's does not promise to, so say it explicitly.
    has_nan = tf.reduce_any(tf.math.is_nan(blocks), axis=[1, 3])
    magnitude = tf.where(has_nan, tf.constant(np.nan, tf.float64), magnitude)
    has_positive = tf.reduce_any(tf.equal(blocks, magnitude[:, None, :, None]), axis=[1, 3])
    return mean, tf.where(has_positive, magnitude, -magnitude)


def quantiles(values, levels=reduce.QUANTILES):
    """TF version of ``reduce.quantiles`` (static-shaped: non-finite sort last)."""
    finite = tf.math.is_finite(values)
    m = tf.reduce_sum(tf.cast(finite, tf.int64))
    ordered = tf.sort(tf.where(finite, values, tf.constant(np.inf, tf.float64)))
    pos = tf.constant(levels, tf.float64) * tf.cast(m - 1, tf.float64)
    last = tf.maximum(m - 1, 0)
    lo = tf.clip_by_value(tf.cast(tf.floor(pos), tf.int64), 0, last)
    hi = tf.minimum(lo + 1, last)
    v_lo, v_hi = tf.gather(ordered, lo), tf.gather(ordered, hi)
    q = v_lo + (v_hi - v_lo) * (pos - tf.cast(lo, tf.float64))
    return tf.where(m > 0, q, tf.constant(np.nan, tf.float64))


def sketch(flat, sketch_dim, hash_params):
    """TF version of ``reduce.sketch`` with the same exact int64 hash."""
    a1, b1, a2, b2 = (tf.constant(v, tf.int64) for v in hash_params)
    p = tf.constant(reduce._PRIME, tf.int64)
    j = tf.math.floormod(tf.range(tf.size(flat, out_type=tf.int64), dtype=tf.int64), p)
    bucket = tf.math.floormod(tf.math.floormod(a1 * j + b1, p), sketch_dim)
    sign = 1 - 2 * tf.bitwise.bitwise_and(tf.math.floormod(a2 * j + b2, p), 1)
    return tf.math.unsorted_segment_sum(flat * tf.cast(sign, tf.float64), bucket, sketch_dim)


def trajectory_point(x, previous, plan, previous_valid=None):
    """TF version of ``reduce.trajectory_point``: a float64 vector of ``plan.length``.

    ``previous`` is a tensor of x's shape or None; ``previous_valid`` (optional
    bool tensor) says whether ``previous`` holds a real earlier value; when
    False the update norm and ratio are NaN, as with ``previous=None``.
    """
    f64 = tf.float64
    nan = tf.constant(np.nan, f64)
    flat = tf.reshape(tf.cast(x, f64), [-1])
    n = tf.constant(float(plan.size), f64)
    norm = tf.sqrt(tf.reduce_sum(flat * flat))
    if previous is None:
        update_norm = ratio = nan
    else:
        delta = flat - tf.reshape(tf.cast(previous, f64), [-1])
        update_norm = tf.sqrt(tf.reduce_sum(delta * delta))
        if previous_valid is not None:
            update_norm = tf.where(previous_valid, update_norm, nan)
        ratio = tf.where(norm > 0, update_norm / norm, nan)
    mean = tf.reduce_sum(flat) / n
    centred = flat - mean
    std = tf.sqrt(tf.reduce_sum(centred * centred) / n)
    finite = tf.math.is_finite(flat)
    any_finite = tf.reduce_any(finite)
    inf = tf.constant(np.inf, f64)
    lo = tf.where(any_finite, tf.reduce_min(tf.where(finite, flat, inf)), nan)
    hi = tf.where(any_finite, tf.reduce_max(tf.where(finite, flat, -inf)), nan)
    sample = flat if plan.sample is None else tf.gather(flat, tf.constant(plan.sample, tf.int64))
    nan_count = tf.reduce_sum(tf.cast(tf.math.is_nan(flat), f64))
    finite_count = tf.reduce_sum(tf.cast(finite, f64))
    zero_fraction = tf.reduce_sum(tf.cast(tf.equal(flat, 0), f64)) / n
    stats = tf.stack([norm, update_norm, ratio, mean, std, lo, hi])
    tail = tf.stack([zero_fraction, nan_count, n - finite_count - nan_count])
    return tf.concat(
        [
            stats,
            quantiles(sample),
            tail,
            tf.gather(flat, tf.constant(plan.traces, tf.int64)),
            sketch(flat, plan.sketch_dim, plan.hash_params),
        ],
        axis=0,
    )


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
def heatmap(name, data, step=None, *, layout="auto", max_cells=reduce.DEFAULT_MAX_CELLS,
            gates=None, description=None):
    """Writes the heatmap of tensor ``data`` under the tag of ``name``.

    Args:
      name: the tensor's name, e.g. ``"dense/kernel"``; the tag is
        ``metadata.summary_tag(name, "nnviz_heatmap")`` (name scopes do not change it).
      data: a real-valued tensor (float of any width, or int) of rank >= 1 with a
        fully defined static shape.
      step: int64-castable step, or None for ``tf.summary.experimental.get_step()``.
      layout: ``"auto"``, ``"vector"``, ``"matrix"``, ``"conv"`` or ``"split:K"``
        (see ``reduce.grid_layout``); fixed at trace time from the static shape.
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
    content = reduce.heatmap_content(name, x.shape.as_list(), dtype, layout, max_cells, gates)
    md = metadata.heatmap_metadata(content, description).SerializeToString()
    tag = metadata.summary_tag(name, metadata.HEATMAP_PLUGIN_NAME)
    with tf.name_scope("nnviz_heatmap"):
        return write(tag, lambda: heatmap_planes(x, content), step, md)


@tf.autograph.experimental.do_not_convert
def trajectory(name, data, previous=None, step=None, *, plan=None,
               num_traces=reduce.DEFAULT_NUM_TRACES, sketch_dim=reduce.DEFAULT_SKETCH_DIM,
               seed=0, description=None):
    """Writes one trajectory point of tensor ``data`` under the tag of ``name``.

    Args:
      name: the tensor's name; also seeds the traces and the sketch hash.
      data: a real-valued tensor of rank >= 1 with a fully defined static shape.
      previous: the tensor's value at the previous logged step (same shape), or
        None at the first step (update norm and ratio are then NaN).
      step: int64-castable step, or None for ``tf.summary.experimental.get_step()``.
      plan: a ``reduce.TrajectoryPlan`` for (name, shape); by default one is built
        (and cached) from ``num_traces``, ``sketch_dim`` and ``seed``.
      num_traces, sketch_dim, seed: see ``reduce.TrajectoryPlan`` (defaults 16, 128, 0).
      description: optional text shown in the tab.

    Returns:
      The bool tensor ``tf.summary.write`` returns (False without a default writer).
    """
    x, dtype = _to_tensor(name, data)
    shape = tuple(x.shape.as_list())
    if plan is None:
        plan = plan_for(name, shape, int(num_traces), int(sketch_dim), int(seed))
    elif plan.name != name or plan.shape != shape:
        raise reduce.TensorError(
            "plan for %r %s does not fit tensor %r %s" % (plan.name, list(plan.shape), name, list(shape))
        )
    if previous is not None:
        previous = tf.convert_to_tensor(previous)
        if tuple(previous.shape.as_list()) != shape:
            raise reduce.TensorError(
                "tensor %r: previous value has shape %s, expected %s"
                % (name, previous.shape, list(shape))
            )
    md = metadata.trajectory_metadata(plan.content(dtype), description).SerializeToString()
    tag = metadata.summary_tag(name, metadata.TRAJECTORY_PLUGIN_NAME)
    with tf.name_scope("nnviz_trajectory"):
        return write(tag, lambda: trajectory_point(x, previous, plan), step, md)
