"""tb_nnviz.diagnose.pca.pca_2d: exact principal coordinates, whatever the scale of the data."""

import numpy as np
import pytest

from tb_nnviz.diagnose import pca


def _svd_coordinates(x):
    centred = x - x.mean(axis=0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    return u[:, :2] * s[:2], s[:2] ** 2 / np.sum(s**2)


@pytest.mark.parametrize("shape", [(200, 128), (30, 9000), (3, 2)])
def test_matches_svd_up_to_sign(shape):
    x = np.cumsum(np.random.default_rng(0).normal(size=shape), axis=0)
    coords, ratio = pca.pca_2d(x)
    want, want_ratio = _svd_coordinates(x)
    np.testing.assert_allclose(np.abs(coords), np.abs(want), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(ratio, want_ratio, rtol=1e-9)
    assert (coords[0] <= 0).all()  # the path starts left/bottom


@pytest.mark.parametrize("scale", [1e300, 1e-300])
def test_huge_and_tiny_finite_values(scale):
    """A damaged log or a diverged run holds finite values near the float limits."""
    x = np.cumsum(np.random.default_rng(1).normal(size=(40, 64)), axis=0)
    coords, ratio = pca.pca_2d(x)
    scaled, scaled_ratio = pca.pca_2d(x * scale)
    np.testing.assert_allclose(scaled / scale, coords, rtol=1e-9)
    np.testing.assert_allclose(scaled_ratio, ratio, rtol=1e-9)


def test_no_variance_and_bad_input():
    coords, ratio = pca.pca_2d(np.ones((5, 4)))
    assert not coords.any() and not ratio.any()
    with pytest.raises(ValueError, match="finite"):
        pca.pca_2d(np.array([[0.0, np.inf]]))
    with pytest.raises(ValueError, match="2-D"):
        pca.pca_2d(np.zeros(3))
