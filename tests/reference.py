"""Assertions that hold a fast path's output equal to the numpy reference (``tb_nnviz.reduce.grids``)."""

import numpy as np


def assert_planes_equal(got, want, x, content):
    """Heatmap planes of ``x``: exact unpooled values and absmax; the pooled mean to float32 rounding."""
    assert got.dtype == np.float32 and got.shape == want.shape
    if content["pool"] == [1, 1]:
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_array_equal(got[1], want[1])  # absmax: exact, NaN/Inf kept
        finite = np.abs(x.astype(np.float64)[np.isfinite(x.astype(np.float64))])
        scale = finite.max() if finite.size else 0.0
        np.testing.assert_allclose(got[0], want[0], rtol=1e-6, atol=1e-7 * scale)
