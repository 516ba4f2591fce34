"""``tb_nnviz.reduce.spectrum.eigenvalues`` as TensorFlow ops over a stack of same-shaped tensors.

The eigenvalues of ``W^T W`` are those of the smaller Gram matrix (``W^T W``
or ``W W^T``), computed in float64 with ``tf.linalg.eigvalsh``, batched over
every matrix of the stack. On 2 CPU cores that is 3-10x faster than
``tf.linalg.svd(compute_uv=False)`` on the same matrices (ResNet-50's
kernel shapes, BENCHMARKS.md), and equal to the numpy reference (its SVD)
up to float64 rounding of the Gram matrix: an absolute error of about
1e-15 x the largest eigenvalue, far below the 1e-5 under which
WeightWatcher's fit ignores eigenvalues.

>>> import numpy as np, tensorflow as tf
>>> from tb_nnviz.reduce import spectrum
>>> content = spectrum.spectrum_content("conv", (3, 3, 2, 4), "float32")
>>> xs = np.random.default_rng(0).normal(size=(2, 3, 3, 2, 4))
>>> got = eigenvalues(tf.constant(xs), content).numpy()
>>> got.shape, np.allclose(got[1], spectrum.eigenvalues(xs[1], content), rtol=1e-5)
((2, 9, 2), True)
"""

import tensorflow as tf

F64 = tf.float64


def eigenvalues(x, content):
    """float32 ``[G, slices, evals]``: ``spectrum.eigenvalues`` of each tensor of ``x`` ``[G, *shape]``.

    ``content`` is the spectrum content shared by the stack (it depends only
    on shape and layout); it must not be skipped. A matrix holding NaN or
    +/-Inf gets NaN eigenvalues, as in the reference.
    """
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
