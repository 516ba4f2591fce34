"""The backend contract (``tb_nnviz.reduce.numpy_ops``) as TensorFlow ops over stacks of same-shaped tensors.

Every function takes a *stack* of same-shaped tensors ``[G, *shape]`` (or a
list of G tensors, stacked here) and reduces all G at once with a fixed
number of ops, so a model's cost (and its tracing time) grows with the
number of distinct weight shapes, not with the number of weights: ResNet-50's
320 weights have 28 shapes. A single tensor is the group ``x[None]``. The
numpy reference (``grids``, ``trajectory``, ``spectrum``) stays the
definition; tests/test_backends.py holds these ops equal to it. They run
eagerly or inside ``tf.function``; :func:`trajectory_points` also finishes
the points inside a graph, for ``tb_nnviz.summary``.

>>> import numpy as np, tensorflow as tf
>>> from tb_nnviz.reduce import trajectory
>>> from tb_nnviz.reduce.group import TrajectoryGroup
>>> xs = np.arange(24.0).reshape(2, 3, 4)
>>> group = TrajectoryGroup([trajectory.TrajectoryPlan(n, (3, 4)) for n in ("a", "b")])
>>> points = trajectory_points(tf.constant(xs), None, group, constants(group))
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


def _stack(xs):
    return tf.stack(xs) if isinstance(xs, (list, tuple)) else tf.convert_to_tensor(xs)


def heatmap_planes(xs, content, work=None):
    """``grids.heatmap_planes`` of each tensor in ``xs`` ``[G, *shape]``: float32 ``[G, P, R, C]``.

    ``content`` is the heatmap content shared by the group (layout and pooling
    depend only on shape, layout and cell budget).
    """
    x = _stack(xs)
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
    """``grids.pool`` of each grid in the stack ``[G, rows, cols]``, as float64.

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


def constants(group, device=None):
    """``{"traces", "sample", "flips"}`` of a ``group.TrajectoryGroup`` as constant tensors.

    ``flips`` is bool ``[G, n]``, True where the sign is -1. A logger that
    calls one compiled function at every step holds it in a tf.Variable
    instead (``tf.Variable(constants(group)["flips"])``), so the table is
    not embedded in the graph.
    """
    return {
        "traces": tf.constant(group.traces, tf.int64),
        "sample": None if group.sample is None else tf.constant(group.sample, tf.int64),
        "flips": tf.constant(group.flips.astype(bool)),
    }


def raw_points(xs, previous, group, constants, work=None, keep=None):
    """``trajectory.raw_point`` of each tensor in ``xs`` ``[G, *shape]``.

    Returns float64 ``(raw [G, len(RAW_FIELDS)], sample [G, S], traces [G, m],
    sketch [G, k])``, the parts ``trajectory.finish_points`` turns into points on
    the host (only these small arrays leave the device). ``previous`` is the
    stack of values at the previous logged step, or None (the update sums are
    then 0). ``constants`` is :func:`constants` of ``group``. ``keep``
    (optional, a tf.Variable ``[G, *shape]``, may be ``previous``) is assigned
    ``xs`` once the parts are taken.
    """
    x = _stack(xs)
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
    parts = raw, sample, traces, sketch(native, constants["flips"], group.sketch_dim)
    if keep is not None:
        with tf.control_dependencies(parts):
            keep.assign(x)
    return parts


def grad_sumsq(gradients, work=None):
    """Float64 ``[G]`` sums of squares of ``gradients`` (a stack ``[G, *shape]``, or G tensors or None -> NaN)."""
    if isinstance(gradients, (list, tuple)):
        return tf.stack([tf.constant(np.nan, F64) if g is None else tf.reduce_sum(tf.square(tf.cast(g, F64)))
                         for g in gradients])
    g = tf.cast(gradients, F64)
    return tf.reduce_sum(tf.square(tf.reshape(g, [g.shape[0], -1])), axis=1)


def trajectory_points(x, previous, group, constants, previous_valid=None, gradients=None):
    """``trajectory.trajectory_point`` of each tensor in ``x``: float64 ``[G, length]``, as a tensor.

    The device reduces (:func:`raw_points`); the finishing step is
    ``trajectory.finish_points`` itself, run on the host by ``tf.numpy_function``,
    so it is the same code for every writer. ``constants`` is :func:`constants`
    of ``group``. ``previous_valid`` (optional bool scalar tensor) says whether
    ``previous`` holds real earlier values; when False, or ``previous`` is
    None, the update fields are NaN. ``gradients``
    (optional, the stack ``[G, *shape]`` of the tensors' gradients) fills
    ``grad_norm`` and ``grad_ratio``; without it they are NaN.
    """
    parts = raw_points(x, previous, group, constants)
    valid = tf.constant(previous is not None) if previous_valid is None or previous is None \
        else tf.convert_to_tensor(previous_valid)
    plan = group.plan
    extra = [] if gradients is None else [grad_sumsq(gradients)]

    def finish(raw, sample, traces, sk, has_previous, *grad_sumsq):
        return trajectory.finish_points(raw, sample, traces, sk, plan, bool(has_previous),
                                        grad_sumsq[0] if grad_sumsq else None)

    points = tf.numpy_function(finish, list(parts) + [valid] + extra, F64, stateful=False)
    return tf.ensure_shape(points, [len(group), plan.length])


def sketch(flat, flips, sketch_dim):
    """``trajectory.sketch`` of each row of ``flat`` ``[G, n]``; ``flips`` bool ``[G, n]``, True where the sign is -1.

    The signs are applied in ``flat``'s own dtype (negation is exact), on half
    the bytes of float64; bucket ``j mod k`` is then a reshape to
    ``[G, n/k, k]`` and a sum over rows, done as a product with a row of ones
    (BLAS, about twice as fast as the strided reduction). Only a tensor whose
    size is not a multiple of k is padded (a copy).
    """
    n = flat.shape[1]
    if not flat.dtype.is_floating:
        flat = tf.cast(flat, F64)  # negating the most negative integer would wrap
    signed = tf.cast(tf.where(flips, -flat, flat), F64)
    rows = math.ceil(n / sketch_dim)
    if rows * sketch_dim != n:
        signed = tf.pad(signed, [[0, 0], [0, rows * sketch_dim - n]])
    ones = tf.ones([1, 1, rows], F64)
    return tf.linalg.matmul(ones, tf.reshape(signed, [-1, rows, sketch_dim]))[:, 0]


def eigenvalues(xs, content):
    """float32 ``[G, slices, evals]``: ``spectrum.eigenvalues`` of each tensor of ``xs`` ``[G, *shape]``.

    ``content`` is the spectrum content shared by the stack (it depends only
    on shape and layout); it must not be skipped. The eigenvalues of ``W^T W``
    are those of the smaller Gram matrix (``W^T W`` or ``W W^T``), computed in
    float64 with ``tf.linalg.eigvalsh``, batched over every matrix of the
    stack. On 2 CPU cores that is 3-10x faster than
    ``tf.linalg.svd(compute_uv=False)`` on the same matrices (ResNet-50's
    kernel shapes, BENCHMARKS.md), and equal to the numpy reference (its SVD)
    up to float64 rounding of the Gram matrix: an absolute error of about
    1e-15 x the largest eigenvalue, far below the 1e-5 under which
    WeightWatcher's fit ignores eigenvalues. A matrix holding NaN or +/-Inf
    gets NaN eigenvalues, as in the reference.

    >>> from tb_nnviz.reduce import spectrum
    >>> content = spectrum.spectrum_content("conv", (3, 3, 2, 4), "float32")
    >>> xs = np.random.default_rng(0).normal(size=(2, 3, 3, 2, 4))
    >>> got = eigenvalues(tf.constant(xs), content).numpy()
    >>> got.shape, np.allclose(got[1], spectrum.eigenvalues(xs[1], content), rtol=1e-5)
    ((2, 9, 2), True)
    """
    x = _stack(xs)
    slices, (rows, cols) = content["slices"], content["matrix"]
    perm = [0] + [1 + a for a in content["perm"]]
    if perm != list(range(len(perm))):
        x = tf.transpose(x, perm)
    w = tf.reshape(tf.cast(x, F64), [-1, rows, cols])
    finite = tf.reduce_all(tf.math.is_finite(w), axis=[1, 2])
    w = tf.where(finite[:, None, None], w, tf.zeros_like(w))  # eigvalsh of NaN may not return
    gram = tf.matmul(w, w, transpose_a=rows >= cols, transpose_b=rows < cols)
    values = tf.maximum(tf.reverse(tf.linalg.eigvalsh(gram), axis=[1]), 0.0)  # largest first
    values = tf.where(finite[:, None], values, tf.constant(float("nan"), F64))
    return tf.cast(tf.reshape(values, [-1, slices, content["evals"]]), tf.float32)
