"""tb_nnviz.reduce.numba_ops (one-pass numba kernels) against the numpy reference.

The trajectory kernels are also held to the reference through
``torch_ops.raw_points`` (tests/test_torch_reduce.py) and the Keras logger
(tests/test_scale.py); here: heatmap pooling, and trajectory points with
blocks much smaller than the tensors, so units, sketch rows and blocks
straddle one another.
"""

from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tb_nnviz.reduce import grids, numba_ops, trajectory
from tests.reference import assert_planes_equal
from tests.test_summary import make_array

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")


@st.composite
def arrays(draw, max_side=9):
    rank = draw(st.integers(1, 5 if max_side < 10 else 3))
    shape = tuple(draw(st.lists(st.integers(1, max_side), min_size=rank, max_size=rank)))
    dtype = draw(st.sampled_from(["float32", "float64"]))
    return make_array(shape, dtype, draw(st.integers(0, 2**32 - 1)), draw(st.booleans()))


def test_kernels_take_float32_and_float64_only():
    assert numba_ops.usable("float32") and numba_ops.usable(np.float64)
    assert not numba_ops.usable("float16") and not numba_ops.usable("int32")


@SETTINGS
@given(x=arrays(), max_cells=st.sampled_from([1, 2, 3, 7, 16, 64, 10**6]), data=st.data())
def test_heatmap_planes_equal_reference(x, max_cells, data):
    rank = x.ndim
    named = {1: ["vector"], 2: ["matrix", "transposed"]}.get(rank, ["conv", "conv_first"])
    layout = data.draw(st.sampled_from(["auto"] + named + ["split:%d" % k for k in range(rank + 1)]))
    content = grids.heatmap_content("t", x.shape, x.dtype, layout, max_cells)
    assert_planes_equal(numba_ops.heatmap_planes(x, content), grids.heatmap_planes(x, content), x, content)


@SETTINGS
@given(x=arrays(max_side=40), sketch_dim=st.sampled_from([1, 3, 8, 256]), block=st.sampled_from([1, 5, 64, 8192]),
       with_previous=st.booleans(), data=st.data())
def test_trajectory_points_equal_reference(x, sketch_dim, block, with_previous, data):
    unit_axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    plan = trajectory.TrajectoryPlan("t", x.shape, 4, sketch_dim, unit_axis=unit_axis)
    previous = None
    if with_previous:
        previous = make_array(x.shape, "float64", 7, False).astype(x.dtype)
        previous.reshape(-1)[::3] = x.reshape(-1)[::3]  # some entries, perhaps whole units, unchanged
    kept = None if previous is None else previous.reshape(-1).copy()  # the kept copy is the previous value
    with mock.patch.object(numba_ops, "BLOCK", block):
        parts = numba_ops.raw_points([x.reshape(-1)], None if kept is None else [kept], [kept] if kept is not None else None,
                                 [plan.sign_flips()], plan.units, sketch_dim, None if plan.sample is None else [plan.sample],
                                 [plan.traces])
    got = trajectory.finish_points(*parts, plan, previous is not None)[0]
    want = trajectory.trajectory_point(x, previous, plan)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12 * max(1.0, np.nanmax(np.abs(np.where(
        np.isfinite(x), x, 0)))), equal_nan=True)
    if kept is not None:
        np.testing.assert_array_equal(kept, x.reshape(-1))  # now holds the current values
