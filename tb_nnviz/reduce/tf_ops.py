"""The reductions of ``tb_nnviz.reduce.grids`` as TensorFlow ops over groups of tensors.

Every function takes a *stack* of same-shaped tensors ``[G, *shape]`` and
reduces all G at once with a fixed number of ops, so a model's cost (and its
tracing time) grows with the number of distinct weight shapes, not with the
number of weights: ResNet-50's 320 weights have 28 shapes. A single tensor is
the group ``x[None]``. ``tb_nnviz.reduce.grids`` stays the definition; the tests hold
these ops equal to it.

>>> import numpy as np, tensorflow as tf
>>> from tb_nnviz.reduce import trajectory
>>> xs = np.arange(24.0).reshape(2, 3, 4)
>>> group = TrajectoryGroup([trajectory.TrajectoryPlan(n, (3, 4)) for n in ("a", "b")])
>>> points = trajectory_points(tf.constant(xs), None, group, group.constants())
>>> np.allclose(points.numpy()[1], trajectory.trajectory_point(xs[1], None, group.plans[1]), equal_nan=True)
True
"""

import math

import numpy as np
import tensorflow as tf

from tb_nnviz.reduce import grids, trajectory

F64 = tf.float64
_NAN = np.nan
_INF = np.inf


def check_static(name, x):
    """Runs ``grids.check_tensor`` on the static dtype/shape; returns the dtype name."""
    if not x.shape.is_fully_defined():
        raise grids.TensorError(
            "tensor %r has a partly unknown static shape %s; heatmaps and trajectories "
            "need a fully defined shape" % (name, x.shape)
        )
    try:
        np_dtype = np.dtype(x.dtype.as_numpy_dtype)
    except TypeError:
        np_dtype = np.dtype(object)
    # A zero-strided view: the check sees dtype and shape without allocating.
    probe = np.broadcast_to(np.zeros((), np_dtype), tuple(x.shape.as_list()))
    grids.check_tensor(name, probe)
    return str(np_dtype)


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
    pads with zeros too).
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
    if grid.dtype.is_floating:
        absmax = tf.where(tf.reduce_any(tf.math.is_nan(blocks), axis=[2, 4]), tf.constant(_NAN, F64), absmax)
    return mean, absmax


class TrajectoryGroup:
    """The plans of G tensors of one shape, stacked for :func:`trajectory_points`.

    Args:
      plans: ``trajectory.TrajectoryPlan`` s of equal shape, unit axis and options.
    """

    def __init__(self, plans):
        self.plans = list(plans)
        trajectory.check_group(self.plans)
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
    if previous is None:
        update_sumsq = moved = tf.zeros_like(total)
    else:
        delta = flat - tf.reshape(tf.cast(previous, F64), [-1, n])
        update_sumsq = tf.reduce_sum(tf.square(delta), axis=1)
        outer, units, inner = group.units
        moved_units = tf.reduce_any(tf.reshape(delta != 0, [-1, outer, units, inner]), axis=[1, 3])
        moved = tf.reduce_sum(tf.cast(moved_units, F64), axis=1)
    # Masks, extremes and counts in the weights' own dtype (exact, and half
    # the bytes of float64 or less); no tf.cond for the all-finite case, whose
    # second branch would double the ops traced per group.
    if native.dtype.is_floating:
        finite = tf.math.is_finite(native)
        inf = tf.constant(np.inf, native.dtype)
        lo = tf.cast(tf.reduce_min(tf.where(finite, native, inf), axis=1), F64)
        hi = tf.cast(tf.reduce_max(tf.where(finite, native, -inf), axis=1), F64)
        nan_count = tf.reduce_sum(tf.cast(tf.math.is_nan(native), F64), axis=1)
        finite_count = tf.reduce_sum(tf.cast(finite, F64), axis=1)
    else:
        lo, hi = tf.cast(tf.reduce_min(native, axis=1), F64), tf.cast(tf.reduce_max(native, axis=1), F64)
        nan_count, finite_count = tf.zeros_like(total), tf.fill(tf.shape(total), tf.constant(n, F64))
    centred_sumsq = tf.reduce_sum(tf.square(flat - (total / n)[:, None]), axis=1)
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
    if not flat.dtype.is_floating:
        flat = tf.cast(flat, F64)  # negating the most negative integer would wrap
    signed = tf.cast(tf.where(signs, flat, -flat), F64)
    rows = math.ceil(n / sketch_dim)
    if rows * sketch_dim != n:
        signed = tf.pad(signed, [[0, 0], [0, rows * sketch_dim - n]])
    ones = tf.ones([1, 1, rows], F64)
    return tf.linalg.matmul(ones, tf.reshape(signed, [-1, rows, sketch_dim]))[:, 0]
