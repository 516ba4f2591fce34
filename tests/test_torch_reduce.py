"""tb_nnviz.reduce.torch_ops (PyTorch ops) against tb_nnviz.reduce.grids (the numpy reference).

The same properties tests/test_summary.py holds the TensorFlow ops to: shapes
of rank 1-5, float16, bfloat16, float32 and float64, NaN and +/-Inf, every
layout, pooled and exact heatmaps, stacks of G tensors; then ParamLogger on
torchvision ResNet-18's parameter shapes, read back through TensorBoard's
data provider.
"""

from unittest import mock

import ml_dtypes
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tb_nnviz import Writer
from tb_nnviz.format import metadata
from tb_nnviz.log.plan import Weight
from tb_nnviz.log.torch_logger import ParamLogger, dtype_name, param_specs
from tb_nnviz.reduce import grids, numba_ops, torch_ops, trajectory
from tests.providers import CTX, python_provider, read_all
from tests.reference import assert_planes_equal
from tests.test_summary import assert_point_equal, make_array

DTYPES = {
    "float16": (np.float16, torch.float16),
    "bfloat16": (ml_dtypes.bfloat16, torch.bfloat16),
    "float32": (np.float32, torch.float32),
    "float64": (np.float64, torch.float64),
}
SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")


def to_torch(x):
    """A new torch tensor of ``x``'s values and dtype (bfloat16 through float32, exactly)."""
    name = "bfloat16" if x.dtype == ml_dtypes.bfloat16 else x.dtype.name
    return torch.tensor(x.astype(np.float32) if name == "bfloat16" else x).to(DTYPES[name][1])


@st.composite
def stacks(draw):
    """``[G, *shape]`` numpy stacks: G tensors of one shape and dtype."""
    rank = draw(st.integers(1, 5))
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=rank, max_size=rank)))
    dtype = draw(st.sampled_from(sorted(DTYPES)))
    seed = draw(st.integers(0, 2**32 - 1))
    special = draw(st.booleans())
    g = draw(st.integers(1, 3))
    return np.stack([make_array(shape, dtype, seed + i, special) for i in range(g)])


def layouts_for(rank):
    named = {1: ["vector"], 2: ["matrix", "transposed"]}.get(rank, ["conv", "conv_first"])
    return ["auto"] + named + ["split:%d" % k for k in range(rank + 1)]


@SETTINGS
@given(xs=stacks(), max_cells=st.sampled_from([1, 2, 5, 16, 64, 10**6]), one_pass=st.booleans(), data=st.data())
def test_heatmap_planes_equal_reference(xs, max_cells, one_pass, data):
    """Both ways: torch ops, and the one-pass kernels for float32/float64."""
    layout = data.draw(st.sampled_from(layouts_for(xs.ndim - 1)))
    content = grids.heatmap_content("t", xs.shape[1:], xs.dtype, layout, max_cells)
    got = torch_ops.heatmap_planes(to_torch(xs), content, one_pass=None if one_pass else False).numpy()
    for x, planes in zip(xs, got):
        assert_planes_equal(planes, grids.heatmap_planes(x, content), x, content)


@SETTINGS
@given(xs=stacks(), num_traces=st.integers(0, 8), sketch_dim=st.integers(1, 16), seed=st.integers(0, 3),
       with_previous=st.booleans(), with_gradient=st.booleans(), piece=st.sampled_from([torch_ops.PIECE, 1, 5, 64]),
       one_pass=st.booleans(), data=st.data())
def test_trajectory_points_equal_reference(xs, num_traces, sketch_dim, seed, with_previous, with_gradient, piece,
                                           one_pass, data):
    """Both ways (torch ops, and the one-pass kernels for float32/float64), also with pieces
    and blocks smaller than the tensors: a tensor then goes through in runs of its unit slices."""
    shape = xs.shape[1:]
    unit_axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    plans = [trajectory.TrajectoryPlan("t%d" % i, shape, num_traces, sketch_dim, seed, unit_axis=unit_axis)
             for i in range(len(xs))]
    group = torch_ops.TrajectoryGroup(plans, "cpu")
    previous = grads = None
    if with_previous:
        previous = np.stack([make_array(shape, "float64", seed + i, False) for i in range(len(xs))]).astype(xs.dtype)
    if with_gradient:
        grads = [make_array(shape, "float32", seed + 7 + i, i == 1) for i in range(len(xs))]
    kept = torch.full_like(to_torch(xs), 7.0).reshape(len(xs), -1)  # receives a copy of xs
    with mock.patch.object(torch_ops, "PIECE", piece), mock.patch.object(numba_ops, "BLOCK", piece):
        parts = torch_ops.raw_points(to_torch(xs), None if previous is None else to_torch(previous), group,
                                        keep=kept, one_pass=None if one_pass else False)
        grad_sumsq = None if grads is None else torch_ops.grad_sumsq(
            [to_torch(g) for g in grads], "cpu", one_pass=None if one_pass else False).numpy()
    np.testing.assert_array_equal(kept.reshape(xs.shape).float().numpy(), to_torch(xs).float().numpy())
    got = trajectory.finish_points(*(t.numpy() for t in parts), plans[0], previous is not None, grad_sumsq)
    for i, (x, plan) in enumerate(zip(xs, plans)):
        prev = None if previous is None else previous[i]
        want = trajectory.trajectory_point(x, prev, plan, None if grads is None else grads[i])
        assert_point_equal(got[i], want, x, prev, plan)


def test_quantile_sample_sketch_tail_and_missing_gradient():
    """A tensor above the quantile sample size whose size is not a multiple of k; one gradient absent."""
    xs = np.stack([make_array((301, 250), "float32", s, special=s == 1) for s in range(2)])
    plans = [trajectory.TrajectoryPlan(n, xs.shape[1:], sketch_dim=256, unit_axis=0) for n in ("a", "b")]
    assert plans[0].sample is not None and plans[0].size % 256
    group = torch_ops.TrajectoryGroup(plans, "cpu")
    grad = make_array((301, 250), "float32", 9, False)
    parts = torch_ops.raw_points(torch.from_numpy(xs), None, group)
    sumsq = torch_ops.grad_sumsq([torch.from_numpy(grad), None], "cpu").numpy()
    got = trajectory.finish_points(*(t.numpy() for t in parts), plans[0], False, sumsq)
    for i in range(2):
        want = trajectory.trajectory_point(xs[i], None, plans[i], grad if i == 0 else None)
        assert_point_equal(got[i], want, xs[i], None, plans[i])
    norm = trajectory.STAT_FIELDS.index("grad_norm")
    assert got[0, norm] == pytest.approx(np.linalg.norm(grad.astype(np.float64)), rel=1e-12)
    assert np.isnan(got[1, norm]) and np.isnan(got[1, norm + 1])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cpu_float32_and_float64_take_one_pass(dtype):
    """numba comes with the test extra: the kernels are what CPU users of float32/float64 models run."""
    xs = [torch.zeros(3, dtype=dtype)]
    assert torch_ops._one_pass(xs)
    assert not torch_ops._one_pass([torch.zeros(3, dtype=torch.float16)])
    assert not torch_ops._one_pass(xs + [torch.zeros(3, dtype=torch.float32 if dtype == torch.float64 else torch.float64)])


def test_groups_of_different_shapes_are_refused_by_name():
    plans = [trajectory.TrajectoryPlan("a", (2, 3)), trajectory.TrajectoryPlan("b", (3, 2))]
    with pytest.raises(grids.TensorError, match="'a' and 'b'"):
        torch_ops.TrajectoryGroup(plans, "cpu")


def test_param_logger_equals_reference_on_resnet18_shapes(tmp_path):
    """ResNet-18's parameters (names, shapes, layouts from param_specs) in mixed dtypes with NaN/Inf:
    ParamLogger's event files equal the numpy Writer's reference, step by step, gradients included."""
    import torchvision

    rng = np.random.default_rng(0)
    model = torchvision.models.resnet18(weights=None)
    specs = param_specs(model)
    assert len(specs) == 62 and specs[0].name == "conv1/weight" and specs[0].layout == "conv_first"
    assert {s.name: s.layout for s in specs}["fc/weight"] == "transposed"
    names = list(DTYPES)
    steps, weights, grads = [{}, {}], [], {}
    for i, s in enumerate(specs):
        dtype = names[i % 4]
        x = make_array(tuple(s.variable.shape), dtype, i, special=i % 5 == 1)
        y = x.astype(np.float64)
        y[:: 2] += rng.normal(0, 1e-3, y[:: 2].shape)  # even output units (axis 0) move
        steps[0][s.name], steps[1][s.name] = x, y.astype(x.dtype)
        param = torch.nn.Parameter(to_torch(x))
        grads[s.name] = make_array(x.shape, dtype, 100 + i, False)
        param.grad = to_torch(grads[s.name])
        weights.append(Weight(s.name, param, s.layout, s.gates, s.description, s.unit_axis))
    budget = 2**18
    with Writer(tmp_path / "torch", num_traces=8) as writer:
        logger = ParamLogger(writer, weights, max_total_cells=budget)
        assert logger.group_count == len({(x.shape, x.dtype) for x in steps[0].values()})
        logger.log(0, True, True)
        for w in weights:
            w.variable.data.copy_(to_torch(steps[1][w.name]))
        logger.capture_gradients()
        logger.log(1, True, True)
    shapes2d = [grids.grid_shape(w.variable.shape, grids.grid_layout(tuple(w.variable.shape), w.layout))
             for w in weights]
    cap = grids.heatmap_cap(shapes2d, grids.DEFAULT_MAX_CELLS, budget)
    with Writer(tmp_path / "numpy", num_traces=8, max_cells=cap) as ref:
        for step, values in enumerate(steps):
            ref.log_weights(step, values, layouts={w.name: w.layout for w in weights},
                            unit_axes={w.name: w.unit_axis for w in weights},
                            gradients=grads if step else None)
    data = {run: read_all(python_provider(tmp_path / run), plugin)["."]
            for run in ("torch", "numpy") for plugin in [metadata.TRAJECTORY_PLUGIN_NAME]}
    heat = {run: read_all(python_provider(tmp_path / run), metadata.HEATMAP_PLUGIN_NAME)["."]
            for run in ("torch", "numpy")}
    assert sorted(heat["torch"]) == sorted(heat["numpy"])
    for tag, series in heat["numpy"].items():
        for got, want in zip(heat["torch"][tag], series):
            assert got.step == want.step
            np.testing.assert_allclose(got.numpy, want.numpy, rtol=1e-6, atol=1e-30, err_msg="%s %d" % (tag, got.step))
    norm = trajectory.STAT_FIELDS.index("grad_norm")
    for w in weights:
        tag = metadata.summary_tag(w.name, metadata.TRAJECTORY_PLUGIN_NAME)
        got, want = data["torch"][tag], data["numpy"][tag]
        for step in range(2):
            np.testing.assert_allclose(got[step].numpy, want[step].numpy, rtol=1e-9, atol=1e-9, err_msg=w.name)
        assert np.isnan(got[0].numpy[norm]) and np.isfinite(got[1].numpy[norm]), w.name
    listing = python_provider(tmp_path / "torch").list_tensors(CTX, experiment_id="", plugin_name=metadata.TRAJECTORY_PLUGIN_NAME)
    content = metadata.parse_content(listing["."]["conv1/weight/nnviz_trajectory"].plugin_content)
    assert content["unit_axis"] == 0 and content["dtype"] == dtype_name(torch.float16)
