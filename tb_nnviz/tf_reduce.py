"""The reductions of ``tb_nnviz.reduce`` as TensorFlow ops over groups of tensors.

Every function takes a *stack* of same-shaped tensors ``[G, *shape]`` and
reduces all G at once with a fixed number of ops, so a model's cost (and its
tracing time) grows with the number of distinct weight shapes, not with the
number of weights: ResNet-50's 320 weights have 28 shapes. A single tensor is
the group ``x[None]``. ``tb_nnviz.reduce`` stays the definition; the tests hold
these ops equal to it.

>>> import numpy as np, tensorflow as tf
>>> from tb_nnviz import trajectory
>>> xs = np.arange(24.0).reshape(2, 3, 4)
>>> group = TrajectoryGroup([trajectory.TrajectoryPlan(n, (3, 4)) for n in ("a", "b")])
>>> points = trajectory_points(tf.constant(xs), None, group, group.constants())
>>> np.allclose(points.numpy()[1], trajectory.trajectory_point(xs[1], None, group.plans[1]), equal_nan=True)
True
"""

import math

import numpy as np
import tensorflow as tf

from tb_nnviz import trajectory
from tb_nnviz.logplan import check_group

F64 = tf.float64
_NAN = np.nan
_INF = np.inf


def heatmap_planes(x, content):
    """``reduce.heatmap_planes`` of each tensor in ``x`` ``[G, *shape]``: float32 ``[G, P, R, C]``.

    ``content`` is the heatmap content shared by the group (layout and pooling
    depend only on shape, layout and cell budget).
    """
    lay = content["layout"]
    rows, cols = content["grid"]
    br, bc = content["pool"]
    perm = [0] + [1 + a for a in lay["rows"] + lay["cols"]]
    if perm != list(range(len(perm))):
        x = tf.transpose(x, perm)
    grid = tf.reshape(x, [-1, rows, cols])
    if (br, bc) == (1, 1):
        return tf.cast(grid, tf.float32)[:, None]
    mean, absmax = pool(grid, br, bc)
    return tf.cast(tf.stack([mean, absmax], axis=1), tf.float32)


def pool(grid, br, bc):
    """``reduce.pool`` of each grid in the stack ``[G, rows, cols]``, as float64.

    Sums are taken in float64, extremes in the grid's own dtype (exact), each
    over the block's columns and then its rows (two contiguous reductions are
    faster than one over two strided axes). The signed absmax is whichever of
    the block's max and min is larger in magnitude (the max on a tie); the
    zero padding of edge blocks changes neither (as in the reference, which
    pads with zeros too). NaN is looked for only when some block's mean is
    not finite (a block with a NaN has a NaN mean).
    """
    rows, cols = grid.shape.as_list()[1:]
    r, c = -(-rows // br), -(-cols // bc)
    if (r * br, c * bc) != (rows, cols):
        grid = tf.pad(grid, [[0, 0], [0, r * br - rows], [0, c * bc - cols]])
    blocks = tf.reshape(grid, [-1, r, br, c, bc])
    row_counts = np.minimum(br, rows - br * np.arange(r))
    col_counts = np.minimum(bc, cols - bc * np.arange(c))
    counts = tf.constant(np.outer(row_counts, col_counts), F64)
    mean = tf.reduce_sum(tf.reduce_sum(tf.cast(blocks, F64), axis=4), axis=2) / counts
    hi = tf.cast(tf.reduce_max(tf.reduce_max(blocks, axis=4), axis=2), F64)
    lo = tf.cast(tf.reduce_min(tf.reduce_min(blocks, axis=4), axis=2), F64)
    absmax = tf.where(hi >= -lo, hi, lo)
    if not grid.dtype.is_floating:
        return mean, absmax

    def with_nan():
        has_nan = tf.reduce_any(tf.math.is_nan(blocks), axis=[2, 4])
        return tf.where(has_nan, tf.constant(_NAN, F64), absmax)

    return mean, tf.cond(tf.reduce_all(tf.math.is_finite(mean)), lambda: absmax, with_nan)


class TrajectoryGroup:
    """The plans of G tensors of one shape, stacked for :func:`trajectory_points`.

    Args:
      plans: ``trajectory.TrajectoryPlan`` s of equal shape, unit axis and options.
    """

    def __init__(self, plans):
        self.plans = list(plans)
        check_group(self.plans)
        first = self.plans[0]
        self.shape = first.shape
        self.size = first.size
        self.units = first.units
        self.sketch_dim = first.sketch_dim

    def constants(self, variables=False):
        """``{"traces", "sample", "signs"}`` as tensors (``signs`` as a tf.Variable
        when ``variables``, so a large table is not embedded in every graph)."""
        signs = np.stack([p.signs for p in self.plans])
        out = {
            "traces": tf.constant(np.stack([p.traces for p in self.plans]), tf.int64),
            "sample": None,
            "signs": tf.Variable(signs, trainable=False, name="nnviz_signs")
            if variables
            else tf.constant(signs),
        }
        if self.plans[0].sample is not None:
            out["sample"] = tf.constant(np.stack([p.sample for p in self.plans]), tf.int64)
        return out


def raw_points(x, previous, group, constants):
    """``trajectory.raw_point`` of each tensor in ``x`` ``[G, *shape]``.

    Returns float64 ``(raw [G, len(RAW_FIELDS)], sample [G, S], traces [G, m],
    sketch [G, k])``, the parts ``trajectory.finish_points`` turns into points on
    the host (only these small arrays leave the device). ``previous`` is the
    stack of values at the previous logged step, or None (the update sums are
    then 0). ``constants`` is ``group.constants()``.
    """
    n = group.size
    native = tf.reshape(x, [-1, n])
    flat = tf.cast(native, F64)
    total = tf.reduce_sum(flat, axis=1)
    sumsq = tf.reduce_sum(tf.square(flat), axis=1)
    zero_count = tf.reduce_sum(tf.cast(tf.equal(native, 0), F64), axis=1)
    mean_sq = total * total / n  # n * mean**2
    finite_all = tf.reduce_all(tf.math.is_finite(sumsq))

    def extremes_finite():
        # No NaN or Inf anywhere (one would make a sum of squares NaN or Inf):
        # the extremes need no masks (and are exact in the native dtype), the
        # counts are known.
        return (tf.cast(tf.reduce_min(native, axis=1), F64), tf.cast(tf.reduce_max(native, axis=1), F64),
                tf.zeros_like(total), tf.fill(tf.shape(total), tf.constant(n, F64)))

    def extremes_masked():
        finite = tf.math.is_finite(flat)
        return (tf.reduce_min(tf.where(finite, flat, _INF), axis=1),
                tf.reduce_max(tf.where(finite, flat, -_INF), axis=1),
                tf.reduce_sum(tf.cast(tf.math.is_nan(flat), F64), axis=1),
                tf.reduce_sum(tf.cast(finite, F64), axis=1))

    lo, hi, nan_count, finite_count = tf.cond(finite_all, extremes_finite, extremes_masked)
    if previous is None:
        update_sumsq = moved = tf.zeros_like(total)
    else:
        delta = flat - tf.reshape(tf.cast(previous, F64), [-1, n])
        update_sumsq = tf.reduce_sum(tf.square(delta), axis=1)
        outer, units, inner = group.units
        moved_units = tf.reduce_any(tf.reshape(delta != 0, [-1, outer, units, inner]), axis=[1, 3])
        moved = tf.reduce_sum(tf.cast(moved_units, F64), axis=1)
    # sum((x - mean)^2) = sumsq - n * mean^2 loses at most one bit to
    # cancellation when the mean carries at most half of the sum of squares
    # (weights are centred near 0), so it needs no second pass.
    centred_sumsq = tf.cond(
        tf.logical_and(finite_all, tf.reduce_all(mean_sq <= sumsq / 2)),
        lambda: sumsq - mean_sq,
        lambda: tf.reduce_sum(tf.square(flat - (total / n)[:, None]), axis=1),
    )
    raw = tf.stack([total, sumsq, update_sumsq, centred_sumsq, lo, hi, nan_count,
                    finite_count, zero_count, moved], axis=1)
    sample = flat if constants["sample"] is None else tf.gather(flat, constants["sample"], batch_dims=1)
    traces = tf.gather(flat, constants["traces"], batch_dims=1)
    return raw, sample, traces, sketch(native, constants["signs"], group.sketch_dim)


def trajectory_points(x, previous, group, constants, previous_valid=None, gradients=None):
    """``trajectory.trajectory_point`` of each tensor in ``x``: float64 ``[G, length]``, as a tensor.

    The device reduces (:func:`raw_points`); the finishing step is
    ``trajectory.finish_points`` itself, run on the host by ``tf.numpy_function``,
    so it is the same code for every writer. ``previous_valid`` (optional bool
    scalar tensor) says whether ``previous`` holds real earlier values; when
    False, or ``previous`` is None, the update fields are NaN. ``gradients``
    (optional, the stack ``[G, *shape]`` of the tensors' gradients) fills
    ``grad_norm`` and ``grad_ratio``; without it they are NaN.
    """
    parts = raw_points(x, previous, group, constants)
    valid = tf.constant(previous is not None) if previous_valid is None or previous is None \
        else tf.convert_to_tensor(previous_valid)
    plan = group.plans[0]
    extra = []
    if gradients is not None:
        g = tf.reshape(tf.cast(gradients, F64), [-1, group.size])
        extra = [tf.reduce_sum(tf.square(g), axis=1)]

    def finish(raw, sample, traces, sk, has_previous, *grad_sumsq):
        return trajectory.finish_points(raw, sample, traces, sk, plan, bool(has_previous),
                                    grad_sumsq[0] if grad_sumsq else None)

    points = tf.numpy_function(finish, list(parts) + [valid] + extra, F64, stateful=False)
    return tf.ensure_shape(points, [x.shape[0], plan.length])


def sketch(flat, signs, sketch_dim):
    """``trajectory.sketch`` of each row of ``flat`` ``[G, n]``, bool ``signs`` ``[G, n]``.

    The signs are applied in ``flat``'s own dtype (negation is exact), on half
    the bytes of float64; bucket ``j mod k`` is then a reshape to
    ``[G, n/k, k]`` and a sum over rows, done as a product with a row of ones
    (BLAS, about twice as fast as the strided reduction). Only a tensor whose
    size is not a multiple of k is padded (a copy).
    """
    n = flat.shape[1]
    signed = tf.cast(tf.where(signs, flat, -flat), F64)
    rows = math.ceil(n / sketch_dim)
    if rows * sketch_dim != n:
        signed = tf.pad(signed, [[0, 0], [0, rows * sketch_dim - n]])
    ones = tf.ones([1, 1, rows], F64)
    return tf.linalg.matmul(ones, tf.reshape(signed, [-1, rows, sketch_dim]))[:, 0]
