"""The conformance suite: every installed backend equals the numpy reference.

The only place that holds the backends (``tb_nnviz.reduce.numpy_ops``,
``numba_ops``, ``tf_ops``, ``torch_ops``) equal to the reference
(``grids``, ``trajectory``, ``spectrum``). Each property runs once per
backend through the same contract (``constants``, ``heatmap_planes``,
``raw_points``, ``grad_sumsq``, ``eigenvalues``) on the same hypothesis
strategy, :func:`stacks`: groups of 1-3 same-shaped tensors of rank 1-5, in
every dtype the backend takes (float16, bfloat16, float32, float64, int32),
with zeros, ties, NaN and +/-Inf; every layout, every unit axis, pooled and
exact heatmaps, sampled and full quantiles, and numba's blocks and torch's
pieces patched small so that they straddle units and sketch rows. Then the
same functions on the weights of the real models the scale benchmarks use
(Keras ResNet-50, MobileNetV2, a transformer and the 1.1M MLP; torchvision
ResNet-18), group by group. The loggers' own behaviour (grouping, the
backend they choose, the events they write) is tested in test_tf_logger.py
and test_torch_logger.py, the TF summary ops' in test_summary.py.
"""

import contextlib
import functools
from unittest import mock

import ml_dtypes
import numpy as np
import pytest
import tensorflow as tf
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tb_nnviz.log.plan import LogPlan
from tb_nnviz.reduce import backends, grids, numba_ops, numpy_ops, spectrum, tf_ops, torch_ops, trajectory
from tb_nnviz.reduce.group import TrajectoryGroup, check_group
from tests.reference import assert_planes_equal, assert_point_equal, make_array, model_weight, to_torch

pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning",
                                        "ignore:overflow encountered:RuntimeWarning")
SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FLOATS = ("float16", "bfloat16", "float32", "float64")


def from_torch(t):
    return (t.float() if t.dtype == torch.bfloat16 else t).cpu().numpy()


class Backend:
    """One backend module and how a test hands it numpy stacks ``[G, *shape]`` and reads its results."""

    def __init__(self, module, dtypes, native, numpy, keep):
        self.module, self.dtypes = module, dtypes
        self.native, self.numpy, self.keep = native, numpy, keep

    def __getattr__(self, name):  # the contract's functions
        return getattr(self.module, name)


BACKENDS = {
    "numpy": Backend(numpy_ops, tuple(FLOATS) + ("int32",), lambda x: x, np.asarray,
                     lambda xs: np.zeros(xs.shape, xs.dtype)),
    "numba": Backend(numba_ops, ("float32", "float64"), lambda x: x, np.asarray,
                     lambda xs: np.zeros((len(xs), xs[0].size), xs.dtype)),
    "tf": Backend(tf_ops, tuple(FLOATS) + ("int32",), tf.constant, lambda t: t.numpy(),
                  lambda xs: tf.Variable(tf.zeros(xs.shape, tf.as_dtype(xs.dtype)))),
    "torch": Backend(torch_ops, FLOATS, to_torch, from_torch,
                     lambda xs: to_torch(np.zeros((len(xs), xs[0].size), xs.dtype))),
}


@pytest.fixture(scope="module", params=sorted(BACKENDS))
def backend(request):
    if request.param == "numba" and numba_ops.numba is None:
        pytest.skip("numba is not installed")
    return BACKENDS[request.param]


@st.composite
def stacks(draw, dtypes, min_rank=1):
    """``[G, *shape]`` numpy stacks: G = 1-3 tensors of one shape and dtype (one of ``dtypes``).

    Rank 1-5; sides up to 40 at rank 1-2 (so numba's blocks and torch's pieces,
    patched small, straddle many units), up to 12 at rank 3 and 6 above.
    """
    rank = draw(st.integers(min_rank, 5))
    side = {1: 40, 2: 40, 3: 12}.get(rank, 6)
    shape = tuple(draw(st.lists(st.integers(1, side), min_size=rank, max_size=rank)))
    dtype = draw(st.sampled_from(sorted(dtypes)))
    seed = draw(st.integers(0, 2**32 - 1))
    special = draw(st.booleans())
    g = draw(st.integers(1, 3))
    return np.stack([make_array(shape, dtype, seed + i, special) for i in range(g)])


def layouts_for(rank):
    named = {1: ["vector"], 2: ["matrix", "transposed"]}.get(rank, ["conv", "conv_first"])
    return ["auto"] + named + ["split:%d" % k for k in range(rank + 1)]


@contextlib.contextmanager
def small_blocks(size):
    """numba's blocks and torch's pieces of ``size`` entries (None: as they are)."""
    if size is None:
        yield
        return
    with mock.patch.object(numba_ops, "BLOCK", size), mock.patch.object(torch_ops, "PIECE", size):
        yield


# -- the properties -------------------------------------------------------------------------------


@SETTINGS
@given(max_cells=st.sampled_from([1, 2, 3, 5, 7, 16, 64, 10**6]), data=st.data())
def test_heatmap_planes(backend, max_cells, data):
    xs = data.draw(stacks(backend.dtypes), "xs")
    layout = data.draw(st.sampled_from(layouts_for(xs.ndim - 1)), "layout")
    content = grids.heatmap_content("t", xs.shape[1:], xs.dtype, layout, max_cells)
    got = backend.numpy(backend.heatmap_planes(backend.native(xs), content))
    assert got.shape[0] == len(xs)
    for x, planes in zip(xs, got):
        assert_planes_equal(planes, grids.heatmap_planes(x, content), x, content)


@SETTINGS
@given(max_cells=st.sampled_from([1, 2, 3, 5, 7, 16, 64]), small_axis=st.sampled_from([0, 1, 2, 3, 5, 64]),
       limit=st.sampled_from([None, 4, 50, 10**6]), data=st.data())
def test_heatmap_planes_pool_whole_tiles_and_keep_small_axes(backend, max_cells, small_axis, limit, data):
    """Conv kernels (rank 3-5, both layouts) and matrices pooled by whole tiles, small unit axes kept."""
    xs = data.draw(stacks(backend.dtypes, min_rank=2), "xs")
    shape = xs.shape[1:]
    layout = data.draw(st.sampled_from(["auto", "conv", "conv_first"] if len(shape) > 2
                                       else ["auto", "matrix", "transposed"]), "layout")
    content = grids.heatmap_content("t", shape, xs.dtype, layout, max_cells, limit=limit, small_axis=small_axis)
    lay, (rows, cols), (br, bc) = content["layout"], content["grid"], content["pool"]
    th, tw = grids.heatmap_tile(shape, lay)
    nr, nc = rows // th, cols // tw
    cells = -(-rows // br) * -(-cols // bc)
    if (br, bc) != (1, 1):
        assert br % th == 0 and bc % tw == 0 and content["pool_tiles"] == [br // th, bc // tw]
        assert cells <= max(max_cells, limit or max_cells)
        fits = (nr if nr <= small_axis else 1) * (nc if nc <= small_axis else 1) <= (limit or max_cells)
        if fits:  # kept small axes are never pooled
            assert (nr > small_axis or br == th) and (nc > small_axis or bc == tw), content
    else:
        assert "pool_tiles" not in content
    got = backend.numpy(backend.heatmap_planes(backend.native(xs), content))
    for x, planes in zip(xs, got):
        assert_planes_equal(planes, grids.heatmap_planes(x, content), x, content)


@SETTINGS
@given(num_traces=st.integers(0, 8), sketch_dim=st.one_of(st.integers(1, 16), st.just(256)),
       seed=st.integers(0, 3), quantile_sample=st.sampled_from([trajectory.DEFAULT_QUANTILE_SAMPLE, 5]),
       previous=st.sampled_from(["none", "other", "partly moved", "kept in place"]),
       with_gradient=st.booleans(), block=st.sampled_from([None, 1, 5, 64]), data=st.data())
def test_raw_points_finish_into_reference_points(backend, num_traces, sketch_dim, seed, quantile_sample, previous,
                                                 with_gradient, block, data):
    """Raw points (with the group's constants, the update against the previous values, a copy kept)
    finished into points, and gradient sums of squares: equal to ``trajectory.trajectory_point``.

    ``previous``: none; other values; the same values with a third of the entries (and so perhaps whole
    units) moved; or "kept in place": the previous values in the keep buffer itself, as the loggers hold them.
    """
    xs = data.draw(stacks(backend.dtypes), "xs")
    shape, g = xs.shape[1:], len(xs)
    unit_axis = data.draw(st.integers(-len(shape), len(shape) - 1), "unit_axis")
    plans = [trajectory.TrajectoryPlan("t%d" % i, shape, num_traces, sketch_dim, seed, quantile_sample, unit_axis)
             for i in range(g)]
    grp = TrajectoryGroup(plans)
    prev = None
    if previous != "none":
        prev = np.stack([make_array(shape, "float64", seed + i, False) for i in range(g)]).astype(xs.dtype)
        if previous != "other":
            prev.reshape(g, -1)[:, ::3] = xs.reshape(g, -1)[:, ::3]
    keep = backend.keep(xs)
    if previous == "kept in place":
        keep = backend.keep(prev)
        if isinstance(keep, tf.Variable):
            keep.assign(prev)
        else:
            keep[...] = backend.native(prev).reshape(keep.shape)
    grads = None
    if with_gradient:
        dtype = "float32" if xs.dtype == np.int32 else xs.dtype.name
        grads = [make_array(shape, dtype, seed + 7 + i, i == 1) for i in range(g)]
        grads[-1] = None if g > 1 else grads[-1]  # a parameter without a gradient
    with small_blocks(block):
        constants = backend.constants(grp, "cpu")
        previous_values = None if prev is None else keep if previous == "kept in place" else backend.native(prev)
        parts = backend.raw_points(backend.native(xs), previous_values, grp, constants, keep=keep)
        sumsq = None
        if grads is not None:
            sumsq = backend.numpy(backend.grad_sumsq([None if v is None else backend.native(v) for v in grads]))
    parts = [backend.numpy(p) for p in parts]
    widths = (len(trajectory.RAW_FIELDS), grp.size if grp.sample is None else quantile_sample,
              min(num_traces, grp.size), sketch_dim)
    assert [p.shape for p in parts] == [(g, w) for w in widths]
    got = trajectory.finish_points(*parts, grp.plan, prev is not None, sumsq)
    for i, (x, plan) in enumerate(zip(xs, plans)):
        p = None if prev is None else prev[i]
        grad = None if grads is None else grads[i]
        want = trajectory.trajectory_point(x, p, plan, grad)
        assert_point_equal(got[i], want, x, p, plan, grad)
        if grads is not None:
            want_sumsq = np.nan if grad is None else trajectory.grad_sumsq(grad)
            np.testing.assert_allclose(sumsq[i], want_sumsq, rtol=1e-12)
    kept = backend.numpy(keep).reshape(xs.shape)
    np.testing.assert_array_equal(kept.astype(np.float64), xs.astype(np.float64))  # a copy of xs, NaN included


@SETTINGS
@given(data=st.data())
def test_eigenvalues(backend, data):
    """Eigenvalues of W^T W of every matrix (a NaN or Inf gives its matrix NaN): to float32 rounding
    of the largest. The reference's SVD is exact in float64; the backends' Gram matrices lose about
    1e-15 of the largest eigenvalue."""
    xs = data.draw(stacks(backend.dtypes, min_rank=2), "xs")
    layout = data.draw(st.sampled_from([lay for lay in layouts_for(xs.ndim - 1) if lay != "vector"]), "layout")
    content = spectrum.spectrum_content("t", xs.shape[1:], xs.dtype.name, layout)
    assert content is not None and not content["skipped"]
    got = backend.numpy(backend.eigenvalues(backend.native(xs), content))
    want = np.stack([spectrum.eigenvalues(x, content) for x in xs])
    assert got.dtype == np.float32 and got.shape == want.shape == (len(xs), content["slices"], content["evals"])
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    finite = want[np.isfinite(want)]
    scale = finite.max() if finite.size else 0.0
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * scale)


# -- examples the strategy does not reach ---------------------------------------------------------------


def test_a_quantile_sample_and_a_sketch_tail(backend):
    """A tensor above the default quantile sample whose size is not a multiple of k, in the default pieces."""
    dtype = "float32" if "float32" in backend.dtypes else backend.dtypes[0]
    xs = np.stack([make_array((301, 250), dtype, s, special=s == 1) for s in range(2)])
    plans = [trajectory.TrajectoryPlan(n, xs.shape[1:], sketch_dim=256, unit_axis=0) for n in ("a", "b")]
    grp = TrajectoryGroup(plans)
    assert grp.sample is not None and grp.size % 256
    grad = make_array((301, 250), dtype, 9, False)
    parts = backend.raw_points(backend.native(xs), None, grp, backend.constants(grp, "cpu"))
    sumsq = backend.numpy(backend.grad_sumsq([backend.native(grad), None]))
    got = trajectory.finish_points(*(backend.numpy(p) for p in parts), grp.plan, False, sumsq)
    for i in range(2):
        want = trajectory.trajectory_point(xs[i], None, plans[i], grad if i == 0 else None)
        assert_point_equal(got[i], want, xs[i], None, plans[i], grad if i == 0 else None)
    norm = trajectory.STAT_FIELDS.index("grad_norm")
    assert got[0, norm] == pytest.approx(np.linalg.norm(grad.astype(np.float64)), rel=1e-12)
    assert np.isnan(got[1, norm]) and np.isnan(got[1, norm + 1])


def test_the_most_negative_integer_is_sketched_as_the_reference_does(backend):
    """Negating int32's minimum wraps around; the sketch must sign it as float64 does."""
    if "int32" not in backend.dtypes:
        pytest.skip("takes no integers")
    xs = np.full((1, 4, 2), np.iinfo(np.int32).min, np.int32)
    grp = TrajectoryGroup([trajectory.TrajectoryPlan("w", xs.shape[1:], sketch_dim=2)])
    assert grp.flips.any()  # some entry is negated
    parts = backend.raw_points(backend.native(xs), None, grp, backend.constants(grp, "cpu"))
    got = trajectory.finish_points(*(backend.numpy(p) for p in parts), grp.plan, False)[0]
    np.testing.assert_allclose(got, trajectory.trajectory_point(xs[0], None, grp.plan), rtol=1e-12, equal_nan=True)


# -- the real models' weights ------------------------------------------------------------------------


def _keras_specs(name):
    import keras

    from benchmarks.models import _transformer
    from tb_nnviz.keras import NNVizCallback

    build = {
        "resnet50": lambda: keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3), classes=10),
        "mobilenetv2": lambda: keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), classes=10),
        "transformer": lambda: _transformer(keras, 5000, 256, 8, 32, 1024, 2, 64),
        "mlp": lambda: keras.Sequential([keras.Input((64,)), keras.layers.Dense(1024), keras.layers.Dense(1024),
                                         keras.layers.Dense(10)]),
    }[name]
    keras.backend.clear_session()
    cb = NNVizCallback("unused")
    cb.set_model(build())
    return [(w.name, tuple(w.variable.shape), w.layout, w.unit_axis) for w in cb._collect()]


def _torch_specs(name):
    import torchvision

    from tb_nnviz.log.torch_logger import param_specs

    specs = param_specs(torchvision.models.resnet18(weights=None))
    assert len(specs) == 62 and specs[0].layout == "conv_first"
    return [(s.name, tuple(s.variable.shape), s.layout, s.unit_axis) for s in specs]


#: The real models: (framework, where their weights' names, shapes, layouts and unit axes come from).
MODELS = {"resnet50": _keras_specs, "mobilenetv2": _keras_specs, "transformer": _keras_specs, "mlp": _keras_specs,
          "resnet18 (torch)": _torch_specs}
#: Mixed dtypes, one per weight in turn.
MODEL_DTYPES = ("float32", "float16", "bfloat16", "float64")


def model_values(i, shape, unit_axis, rng):
    """Weight ``i``'s values at two steps (only the even output units move) and its gradient.

    NaN in some, +/-Inf in others, a whole tensor lost in a few.
    """
    dtype = reference_dtype(MODEL_DTYPES[i % len(MODEL_DTYPES)])
    x = model_weight(i, shape, rng)
    y = np.moveaxis(x.copy(), unit_axis, 0)
    y[::2] += rng.normal(0, 1e-3, y[::2].shape)
    y = np.moveaxis(y, 0, unit_axis)
    return x.astype(dtype), y.astype(dtype), rng.normal(0, 1e-2, shape).astype(dtype)


def reference_dtype(name):
    return ml_dtypes.bfloat16 if name == "bfloat16" else np.dtype(name)


class _Writer:
    """What ``LogPlan`` asks of a writer, with the Writer's defaults."""

    max_cells = grids.DEFAULT_MAX_CELLS

    def heatmap_content(self, name, shape, dtype, layout, gates, max_cells):
        return grids.heatmap_content(name, shape, dtype, layout, max_cells, gates)

    def plan(self, name, shape, dtype, unit_axis):
        plan = trajectory.TrajectoryPlan(name, shape, num_traces=8, unit_axis=unit_axis)
        return plan, plan.content(dtype)

    def spectrum_content(self, name, shape, dtype, layout):
        return spectrum.spectrum_content(name, shape, dtype, layout)


@functools.lru_cache(maxsize=None)
def model_case(model):
    """The picked weights of ``model`` (up to two of each shape and layout), their values, the
    ``LogPlan`` that groups them as the loggers do, and the reference's results."""
    specs, seen = [], {}
    for name, shape, layout, unit_axis in MODELS[model](model):
        if seen.get((shape, layout), 0) < 2:
            seen[(shape, layout)] = seen.get((shape, layout), 0) + 1
            specs.append((name, shape, layout, unit_axis))
    rng = np.random.default_rng(0)
    values = [model_values(i, shape, unit_axis, rng) for i, (_, shape, _, unit_axis) in enumerate(specs)]
    plan = LogPlan(_Writer(), [(name, None, layout, None, None, unit_axis) for name, _, layout, unit_axis in specs],
                   [s[1] for s in specs], [v[0].dtype.name for v in values], max_total_cells=2**18, spectra=True)
    with np.errstate(invalid="ignore", over="ignore"):
        want = {
            "heat": [grids.heatmap_planes(v[1], c) for v, c in zip(values, plan.heat)],
            "points": [trajectory.trajectory_point(v[1], v[0], p, v[2]) for v, (p, _) in zip(values, plan.traj)],
            "spectra": {i: spectrum.eigenvalues(values[i][1], plan.spec[i]) for sub in plan.spec_groups for i in sub},
        }
    return specs, values, plan, want


@pytest.mark.parametrize("model", sorted(MODELS))
def test_real_models_weights(backend, model):
    """Every group of the model's weights (as the loggers group them) through the contract, against the
    reference tensor by tensor: heatmaps under the model-wide budget, points of the second step with
    gradients, eigenvalues. Groups of dtypes the backend does not take are not its to reduce; numpy_ops
    is the reference itself, tested above."""
    if backend.module is numpy_ops:
        pytest.skip("the reference")
    specs, values, plan, want = model_case(model)
    stacks = lambda sub, step: np.stack([values[i][step] for i in sub])  # noqa: E731
    takes = lambda sub: values[sub[0]][0].dtype.name in backend.dtypes  # noqa: E731
    reduced = 0
    for subgroups in plan.heat_groups:
        for sub in filter(takes, subgroups):
            got = backend.numpy(backend.heatmap_planes(backend.native(stacks(sub, 1)), plan.heat[sub[0]]))
            for i, planes in zip(sub, got):
                np.testing.assert_allclose(planes, want["heat"][i], rtol=1e-6, atol=1e-30, err_msg=specs[i][0])
            reduced += len(sub)
    for sub in filter(takes, plan.traj_groups):
        grp = TrajectoryGroup([plan.traj[i][0] for i in sub])
        keep = backend.keep(stacks(sub, 0))
        parts = backend.raw_points(backend.native(stacks(sub, 1)), backend.native(stacks(sub, 0)), grp,
                                   backend.constants(grp, "cpu"), keep=keep)
        sumsq = backend.numpy(backend.grad_sumsq([backend.native(values[i][2]) for i in sub]))
        got = trajectory.finish_points(*(backend.numpy(p) for p in parts), grp.plan, True, sumsq)
        for i, point in zip(sub, got):
            np.testing.assert_array_equal(np.isnan(point), np.isnan(want["points"][i]), err_msg=specs[i][0])
            np.testing.assert_allclose(point, want["points"][i], rtol=1e-9, atol=1e-12, err_msg=specs[i][0])
        np.testing.assert_array_equal(backend.numpy(keep).reshape(-1), stacks(sub, 1).reshape(-1))
    for sub in filter(takes, plan.spec_groups):
        got = backend.numpy(backend.eigenvalues(backend.native(stacks(sub, 1)), plan.spec[sub[0]]))
        for i, values_i in zip(sub, got):
            scale = np.nanmax(want["spectra"][i]) if np.isfinite(want["spectra"][i]).any() else 0.0
            np.testing.assert_allclose(values_i, want["spectra"][i], rtol=1e-5, atol=1e-6 * scale,
                                       err_msg=specs[i][0])
    assert reduced >= len(specs) // 4  # every backend takes float32 and float64


# -- the group and the choice of backend ----------------------------------------------------------------


def test_groups_of_different_shapes_are_refused_by_name():
    plans = [trajectory.TrajectoryPlan("a", (2, 3)), trajectory.TrajectoryPlan("b", (3, 2))]
    with pytest.raises(grids.TensorError, match="'a' and 'b'"):
        TrajectoryGroup(plans)
    with pytest.raises(grids.TensorError, match="'a' and 'c'"):
        check_group([plans[0], trajectory.TrajectoryPlan("c", (2, 3), unit_axis=0)])


def test_every_backend_offers_the_contract_with_one_signature():
    import inspect

    for name in ("constants", "heatmap_planes", "raw_points", "grad_sumsq", "eigenvalues"):
        signatures = {b: str(inspect.signature(getattr(BACKENDS[b].module, name))) for b in BACKENDS}
        assert len(set(signatures.values())) == 1, (name, signatures)


def test_numba_takes_float32_and_float64_only():
    assert numba_ops.usable("float32") and numba_ops.usable(np.float64)
    assert not numba_ops.usable("float16") and not numba_ops.usable("int32") and not numba_ops.usable("bfloat16")


@pytest.mark.parametrize("framework, device, ops", [("tf", "/job:localhost/replica:0/task:0/device:CPU:0", tf_ops),
                                                    ("tf", "/job:localhost/replica:0/task:0/device:GPU:0", tf_ops),
                                                    ("torch", "cpu", torch_ops), ("torch", "cuda:0", torch_ops),
                                                    ("numpy", "cpu", numpy_ops)])
def test_choose_takes_numba_for_float32_and_float64_on_the_cpu(framework, device, ops):
    """numba comes with the test extra: its kernels are what CPU users of float32/float64 models run."""
    cpu = backends.on_cpu(device)
    for dtype in ("float32", "float64", "torch.float32"):
        assert backends.choose(dtype, device, framework) is (numba_ops if cpu else ops)
        assert backends.choose(dtype, device, framework, one_pass=False) is ops
    for dtype in ("float16", "bfloat16", "int32"):
        assert backends.choose(dtype, device, framework) is ops
    with pytest.raises(ValueError, match="'jax'"):
        backends.choose("float32", "cpu", "jax")

