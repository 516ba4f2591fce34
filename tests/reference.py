"""Test inputs and the assertions that hold a fast path's output equal to the numpy reference.

``make_array`` draws the seeded arrays every equality test uses (``to_torch``
makes a torch tensor of one);
``assert_planes_equal`` and ``assert_point_equal`` say how close a backend's
heatmap planes and trajectory points must be to ``tb_nnviz.reduce.grids`` and
``tb_nnviz.reduce.trajectory`` (exact where the reduction is exact, else to
float rounding on the scale of the summed magnitudes).
"""

import ml_dtypes
import numpy as np

from tb_nnviz.reduce import trajectory

#: The dtypes :func:`make_array` makes, by name.
DTYPES = {
    "float16": np.float16,
    "bfloat16": ml_dtypes.bfloat16,
    "float32": np.float32,
    "float64": np.float64,
    "int32": np.int32,
}
STAT = {f: i for i, f in enumerate(trajectory.STAT_FIELDS)}
#: Point fields that involve no sum, so every backend gets them exactly.
EXACT_STATS = ["min", "max", "q05", "q25", "q50", "q75", "q95", "zero_fraction", "nan_count", "inf_count"]


def make_array(shape, dtype, seed, special):
    """A seeded array: normal values at a random scale, some zeros and ties, NaN/Inf when ``special``."""
    rng = np.random.default_rng(seed)
    if dtype == "int32":
        return rng.integers(-5, 6, size=shape).astype(np.int32)  # ties between +m and -m
    x = rng.normal(size=shape) * 10.0 ** rng.integers(-3, 4)
    x[rng.random(shape) < 0.1] = 0.0
    if special:
        flat = x.reshape(-1)
        for value in (np.nan, np.inf, -np.inf):
            flat[rng.integers(0, flat.size, rng.integers(0, 3))] = value
    return x.astype(DTYPES[dtype])


def model_weight(i, shape, rng):
    """Weight ``i`` of a real model's cases: float64 normal values (std 0.05), one NaN in
    every fifth weight from the second, +Inf and -Inf in every seventh from the third, and
    every entry NaN in every thirteenth from the seventh (a whole tensor lost)."""
    x = rng.normal(0, 0.05, shape)
    flat = x.reshape(-1)
    if i % 5 == 1:
        flat[rng.integers(flat.size)] = np.nan
    if i % 7 == 2:
        flat[rng.integers(flat.size, size=2)] = [np.inf, -np.inf]
    if i % 13 == 6:
        flat[:] = np.nan
    return x


def to_torch(x):
    """A new torch tensor of ``x``'s values and dtype (bfloat16 through float32, exactly)."""
    import torch  # only the PyTorch tests need it

    dtypes = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32, "float64": torch.float64}
    name = "bfloat16" if x.dtype == ml_dtypes.bfloat16 else x.dtype.name
    return torch.tensor(x.astype(np.float32) if name == "bfloat16" else x).to(dtypes[name])


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


def assert_point_equal(got, want, x, previous, plan, gradient=None):
    """Trajectory point of ``x``: exact extremes, quantiles, counts and traces; sums to float64 rounding.

    Sums are taken in a different order than the reference's: a tight relative
    error, and an absolute error on the scale of the summed magnitudes (cancellation).
    """
    assert got.dtype == np.float64 and got.shape == (plan.length,)
    idx = [STAT[f] for f in EXACT_STATS]
    np.testing.assert_array_equal(got[idx], want[idx])
    traces = slice(len(STAT), len(STAT) + len(plan.traces))
    np.testing.assert_array_equal(got[traces], want[traces])
    values = [v.astype(np.float64) for v in (x, previous, gradient) if v is not None]
    finite = np.concatenate([np.abs(v[np.isfinite(v)]) for v in values])
    scale = finite.sum() if finite.size else 0.0
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12 * scale)
