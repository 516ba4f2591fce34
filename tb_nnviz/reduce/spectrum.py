"""The numpy reference of what a writer logs for spectral metrics: eigenvalues of W^T W.

Which matrices a weight tensor is follows WeightWatcher 0.7.7's default
treatment (``pool=True``, no FFT): a Dense kernel, an embedding or any
tensor drawn as one matrix (its heatmap grid, e.g. an attention projection
``(d, heads, dk)`` as ``d x heads*dk``) is one matrix; a conv kernel is one
``in x out`` matrix per spatial position (a Conv2D ``(kh, kw, in, out)`` kernel
gives ``kh*kw`` matrices), whose eigenvalues WeightWatcher pools into one
spectrum. Biases and other vectors have none. The writer logs the
``min(rows, cols)`` eigenvalues of each matrix, largest first, unnormalised;
the server (``tb_nnviz.diagnose.spectral``) pools, normalises and fits them, so the fit
can change without logging again.

>>> content = spectrum_content("conv/kernel", (3, 3, 2, 4), "float32")
>>> content["slices"], content["matrix"], content["evals"]
(9, [2, 4], 2)
>>> x = np.zeros((3, 3, 2, 4)); x[1, 1] = [[3, 0, 0, 0], [0, 2, 0, 0]]
>>> eigenvalues(x, content)[4].tolist()  # the centre tap: singular values 3 and 2
[9.0, 4.0]
>>> spectrum_content("dense/bias", (10,), "float32") is None
True
"""

import math

import numpy as np

from tb_nnviz.reduce import grids

#: Matrices whose pooled spectrum would hold more eigenvalues than this are not
#: decomposed: WeightWatcher 0.7.7 skips them too (``max_evals=15000``), and an
#: exact decomposition costs O(rows * cols * min(rows, cols)) per matrix.
MAX_EVALS = 15000
#: Matrices with a side longer than this are not decomposed either
#: (WeightWatcher's ``max_N=50000``: e.g. the embedding of a 50k-token vocabulary).
MAX_SIDE = 50000
#: Nor tensors whose exact decomposition costs more than this many
#: floating-point operations per logged step (``slices * (rows * cols * k +
#: k**3)``, k = min(rows, cols): the Gram matrix and its eigenvalues), about
#: 10 s of one CPU core. The largest of ResNet-50 (3x3x512x512, 2.4e9) and a
#: 2048 x 2048 matrix (1.7e10) pass; a 4096 x 4096 (1.4e11) or 10000 x 10000
#: one (2e12, many minutes) is skipped with the reason.
MAX_FLOPS = 2e10


def spectrum_content(name, shape, dtype, layout="auto", index=None):
    """The metadata content of a tensor's spectra, or None for a tensor without any (rank 1).

    Keys: ``treatment`` (``"matrix"`` or ``"conv"``), ``perm`` (the axes order
    that makes the stack of matrices: ``x.transpose(perm).reshape(slices, *matrix)``),
    ``slices``, ``matrix`` (rows, cols of each), ``evals`` (``min(rows, cols)``,
    eigenvalues per matrix), ``layout`` (the heatmap layout it follows) and
    ``skipped``: None, or why this tensor's eigenvalues are not logged (too
    large for WeightWatcher or for an exact decomposition at every logged
    step, see ``MAX_EVALS``, ``MAX_SIDE``, ``MAX_FLOPS``; then an empty array
    is logged once, so readers see the reason).
    """
    shape = tuple(int(d) for d in shape)
    lay = grids.grid_layout(shape, layout)
    if lay["kind"] == "vector":
        return None
    rank = len(shape)
    if lay["kind"] == "conv":  # (*spatial, in, out): one (in, out) matrix per position
        spatial, pair, treatment = list(range(rank - 2)), [rank - 2, rank - 1], "conv"
    elif lay["kind"] == "conv_first":  # (out, in, *spatial)
        spatial, pair, treatment = list(range(2, rank)), [0, 1], "conv"
    else:  # the heatmap grid is the matrix the tensor acts as
        spatial, pair, treatment = [], None, "matrix"
    if pair is None:
        perm, matrix = lay["rows"] + lay["cols"], list(grids.grid_shape(shape, lay))
    else:
        perm, matrix = spatial + pair, [shape[pair[0]], shape[pair[1]]]
    slices = math.prod(shape[a] for a in spatial)
    evals = min(matrix)
    skipped = None
    if slices * evals > MAX_EVALS:
        skipped = "%d matrices of %d x %d have %d eigenvalues, more than %d (WeightWatcher skips these too)" % (
            slices, matrix[0], matrix[1], slices * evals, MAX_EVALS)
    elif max(matrix) > MAX_SIDE:
        skipped = "a %d x %d matrix has a side longer than %d (WeightWatcher skips these too)" % (
            matrix[0], matrix[1], MAX_SIDE)
    elif slices * (matrix[0] * matrix[1] * evals + evals**3) > MAX_FLOPS:
        skipped = ("an exact eigendecomposition of %d matrices of %d x %d costs %.2g operations per step, "
                   "more than %.2g" % (slices, matrix[0], matrix[1],
                                       slices * (matrix[0] * matrix[1] * evals + evals**3), MAX_FLOPS))
    content = {
        "kind": "spectrum",
        "name": name,
        "shape": list(shape),
        "dtype": str(dtype),
        "layout": lay,
        "treatment": treatment,
        "perm": perm,
        "slices": slices,
        "matrix": matrix,
        "evals": evals,
        "skipped": skipped,
    }
    if index is not None:
        content["index"] = int(index)
    return content


def matrices(x, content):
    """The float64 stack ``[slices, rows, cols]`` of matrices of tensor ``x``."""
    return np.transpose(np.asarray(x), content["perm"]).reshape(
        [content["slices"]] + content["matrix"]).astype(np.float64)


def eigenvalues(x, content):
    """The logged array: float32 ``[slices, evals]``, each row the eigenvalues
    of ``W^T W`` of one matrix (its squared singular values, as WeightWatcher
    computes them: SVD in float64), largest first.

    A matrix holding NaN or +/-Inf has NaN eigenvalues (its row only). A
    skipped tensor (``content["skipped"]``) gives an empty array.

    >>> c = spectrum_content("w", (2, 2), "float32")
    >>> eigenvalues(np.array([[np.nan, 0.0], [0.0, 1.0]]), c).tolist()
    [[nan, nan]]
    """
    if content["skipped"]:
        return np.zeros([0], np.float32)
    w = matrices(x, content)
    finite = np.isfinite(w).all(axis=(1, 2))
    out = np.full((content["slices"], content["evals"]), np.nan)
    if finite.any():
        out[finite] = np.linalg.svd(w[finite], compute_uv=False) ** 2
    with np.errstate(over="ignore"):  # beyond float32's range: +Inf, which readers treat as undefined
        return out.astype(np.float32)
