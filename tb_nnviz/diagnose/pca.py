"""PCA of the weight-space path (the ``projection`` route's analysis).

Pure numpy (no TensorBoard, no TensorFlow).

>>> coords, ratio = pca_2d(np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]]))
>>> np.round(coords[:, 0], 6).tolist(), ratio.tolist()
([-1.0, 0.0, 1.0], [1.0, 0.0])
"""

import numpy as np


def pca_2d(matrix):
    """Projects the rows of ``matrix`` onto its first two principal components.

    Args:
      matrix: array-like ``(n, d)``; one row per observation (e.g. the summed
        sketch of all of a model's tensors at one step). Must be finite.

    Returns:
      ``(coords, explained_ratio)``: ``coords`` is float64 ``(n, 2)`` (rows
      centred, then projected), ``explained_ratio`` float64 ``(2,)``, the
      fraction of total variance along each axis, in ``[0, 1]``. Components
      that do not exist (``n < 3`` or ``d < 2``) or a matrix without variance
      give zero columns and ratios. The sign of each axis is fixed so that the
      first row has a non-positive coordinate (the path starts left/bottom),
      which keeps the picture stable across reloads.

    Raises:
      ValueError: ``matrix`` is not 2-D or holds NaN/Inf.
    """
    x = np.asarray(matrix, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError("pca_2d needs a 2-D matrix, got shape %s" % (list(x.shape),))
    if not np.isfinite(x).all():
        raise ValueError("pca_2d needs finite values; the matrix holds NaN or Inf")
    n = x.shape[0]
    coords = np.zeros((n, 2))
    ratio = np.zeros(2)
    if n == 0 or x.shape[1] == 0:
        return coords, ratio
    # Scaled to max |x| = 1 first: finite but huge values (a damaged log, a
    # diverged run) would overflow the sums of squares; PCA is scale-equivariant.
    scale = float(np.abs(x).max())
    if scale == 0.0:
        return coords, ratio
    centred = x / scale
    centred -= centred.mean(axis=0)
    total = float(np.sum(centred * centred))
    if total <= 0.0:
        return coords, ratio
    # Eigen-decompose the smaller of the d x d scatter and the n x n Gram
    # matrix: exact, and far cheaper than an SVD of the whole matrix, whose
    # multi-threaded BLAS stalls for up to a second on a busy 2-core machine
    # (BENCHMARKS.md, "Projection's PCA").
    k = min(2, n, x.shape[1])
    if x.shape[1] <= n:
        eigvals, eigvecs = np.linalg.eigh(centred.T @ centred)
        top = np.argsort(eigvals)[::-1][:k]
        coords[:, :k] = centred @ eigvecs[:, top]
    else:
        eigvals, eigvecs = np.linalg.eigh(centred @ centred.T)
        top = np.argsort(eigvals)[::-1][:k]
        coords[:, :k] = eigvecs[:, top] * np.sqrt(np.maximum(eigvals[top], 0.0))
    coords *= scale
    ratio[:k] = np.clip(np.maximum(eigvals[top], 0.0) / total, 0.0, 1.0)
    for axis in range(k):
        if coords[0, axis] > 0:
            coords[:, axis] = -coords[:, axis]
    return coords, ratio
