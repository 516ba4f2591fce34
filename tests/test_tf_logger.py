"""The Keras callback's logger (``WeightLogger``) on real models' weights: how it groups them, which
backend it chooses for each group, one trace, the model-wide heatmap budget, and the events it writes,
equal to the numpy reference's.

The weights (names, shapes, layouts from the callback's layer hints) are those
of the models of the scale benchmarks: keras.applications' ResNet-50 and
MobileNetV2, a stack of transformer blocks and the 1.1M MLP. Up to two weights
of each shape and layout are taken (so every stacking group, with G > 1, is
exercised), filled with random values in mixed dtypes, with NaN and +/-Inf in
some, logged by ``WeightLogger`` twice (the second time with only some output
units changed), read back through TensorBoard's data provider and compared
with ``tb_nnviz.reduce.grids`` tensor by tensor: the logger puts each group's
results under the right tags and steps. The backends themselves are held
equal to the reference in tests/test_backends.py.
"""

import logging

import keras
import numpy as np
import pytest
import tensorflow as tf

from benchmarks.models import _transformer
from tb_nnviz import Writer
from tb_nnviz.format import metadata
from tb_nnviz.keras import NNVizCallback
from tb_nnviz.log.tf_logger import Weight, WeightLogger
from tb_nnviz.reduce import grids, trajectory
from tests.providers import CTX, python_provider, read_all
from tests.reference import model_weight

HEAT, TRAJ = metadata.HEATMAP_PLUGIN_NAME, metadata.TRAJECTORY_PLUGIN_NAME
DTYPES = [np.float32, np.float16, tf.bfloat16.as_numpy_dtype, np.float64]

MODELS = {
    "resnet50": lambda: keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3), classes=10),
    "mobilenetv2": lambda: keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), classes=10),
    "transformer": lambda: _transformer(keras, 5000, 256, 8, 32, 1024, 2, 64),
    "mlp": lambda: keras.Sequential([keras.Input((64,)), keras.layers.Dense(1024), keras.layers.Dense(1024),
                                     keras.layers.Dense(10)]),
}


def model_weights(build):
    """The callback's ``Weight`` s of a model: names, variables and layout hints."""
    model = build()
    cb = NNVizCallback("unused")
    cb.set_model(model)
    return cb._collect()


def pick(weights, per_group=2):
    """Up to ``per_group`` weights of each (shape, layout), in network order."""
    seen, out = {}, []
    for w in weights:
        key = (tuple(w.variable.shape), w.layout)
        if seen.get(key, 0) < per_group:
            seen[key] = seen.get(key, 0) + 1
            out.append(w)
    return out


def values_for(i, shape, rng):
    return model_weight(i, shape, rng).astype(DTYPES[i % len(DTYPES)])


def moved(x, rng):
    """``x`` with only the even output units (last axis) changed."""
    y = x.astype(np.float64).copy()
    y[..., ::2] += rng.normal(0, 1e-3, y[..., ::2].shape)
    return y.astype(x.dtype)


@pytest.mark.parametrize("model, one_pass", [(m, None) for m in sorted(MODELS)] + [("transformer", False)])
def test_logger_writes_the_reference_on_model_weights(tmp_path, model, one_pass):
    """one_pass=False: every reduction in TensorFlow, as where numba is missing or weights are not on the CPU."""
    keras.backend.clear_session()
    rng = np.random.default_rng(0)
    specs = pick(model_weights(MODELS[model]))
    steps = [{}, {}]
    weights = []
    for i, w in enumerate(specs):
        x = values_for(i, tuple(w.variable.shape), rng)
        steps[0][w.name], steps[1][w.name] = x, moved(x, rng)
        weights.append(Weight(w.name, tf.Variable(x), w.layout, w.gates, w.description))
    budget = 2**18  # small enough that large tensors are pooled, as in a model-wide budget
    with Writer(tmp_path, num_traces=8) as writer:
        logger = WeightLogger(writer, weights, max_total_cells=budget, one_pass=one_pass)
        # Weights of one shape and dtype share a stack. Trajectory points of float32 and float64
        # groups are taken by the one-pass kernels (numba is in the test extra), the others by TF.
        assert logger.group_count == len({(x.shape, x.dtype) for x in steps[0].values()})
        kinds = {(x.shape, x.dtype): x.dtype in (np.float32, np.float64) for x in steps[0].values()}
        if one_pass is None:
            assert logger.one_pass_count == sum(kinds.values()) and 0 < logger.one_pass_count < len(kinds)
        else:
            assert logger.one_pass_count == 0
        logger.log(0, heatmaps=True, trajectories=True)
        for w in weights:
            w.variable.assign(steps[1][w.name])
        logger.log(1, heatmaps=True, trajectories=True)
    assert logger.trace_count == 1

    provider = python_provider(tmp_path)
    heat, traj = read_all(provider, HEAT)["."], read_all(provider, TRAJ)["."]
    listing = provider.list_tensors(CTX, experiment_id="", plugin_name=HEAT)["."]
    specs = [(tuple(w.variable.shape), grids.grid_layout(tuple(w.variable.shape), w.layout)) for w in weights]
    cap = grids.heatmap_cap(specs, grids.DEFAULT_MAX_CELLS, budget)
    stored_cells = 0
    for index, (w, spec) in enumerate(zip(weights, specs)):
        tag = metadata.summary_tag(w.name, HEAT)
        x0 = steps[0][w.name]
        cells = grids.heatmap_cells(*spec, cap, grids.DEFAULT_MAX_CELLS)
        content = grids.heatmap_content(w.name, x0.shape, x0.dtype, w.layout, cells, w.gates, index=index)
        assert metadata.parse_content(listing[tag].plugin_content) == dict(content, version=metadata.VERSION)
        for datum, x in zip(heat[tag], steps):
            want = grids.heatmap_planes(x[w.name], content)
            np.testing.assert_allclose(datum.numpy, want, rtol=1e-6, atol=1e-30, err_msg=w.name)
            stored_cells += want.size if datum.step == 1 else 0
        plan = trajectory.TrajectoryPlan(w.name, x0.shape, num_traces=8)
        points = traj[metadata.summary_tag(w.name, TRAJ)]
        previous = None
        for datum, x in zip(points, steps):
            want = trajectory.trajectory_point(x[w.name], previous, plan)
            np.testing.assert_allclose(datum.numpy, want, rtol=1e-9, atol=1e-12, err_msg=w.name)
            previous = x[w.name]
        unchanged = points[1].numpy[trajectory.STAT_FIELDS.index("unchanged_unit_fraction")]
        if x0.dtype in (np.float32, np.float64) and np.isfinite(x0).all():  # no rounding back
            units = x0.shape[-1]
            assert unchanged == pytest.approx((units // 2) / units), w.name
    assert stored_cells <= budget  # the model-wide budget holds for the whole step


def test_models_trained_in_turn_trigger_no_retracing_warning(tmp_path):
    """A notebook or Keras Tuner trains model after model in one process, each with a fresh callback.

    Each logger traces its function once, by design; TensorFlow counts traces per Python
    function, and when every logger's function was the bound ``WeightLogger._reduce`` (one
    code object) the fifth model's trace logged "5 out of the last N calls to <bound method
    WeightLogger._reduce ...> triggered tf.function retracing" (these six fits did). Two
    different models, three rounds, spectra on so that the compiled function runs.
    """
    messages = []

    class Record(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    handler = Record(logging.WARNING)
    tf.get_logger().addHandler(handler)
    try:
        rng = np.random.default_rng(0)
        x, y = rng.normal(size=(32, 8)).astype(np.float32), rng.integers(0, 3, 32)
        callbacks = []
        for round_ in range(3):
            for width in (16, 5):
                keras.backend.clear_session()
                model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(width, activation="relu"),
                                          keras.layers.Dense(3)])
                model.compile("sgd", "sparse_categorical_crossentropy")
                cb = NNVizCallback(tmp_path / ("%d_%d" % (round_, width)), trajectory_freq=1, spectral_freq="epoch",
                                   strict=True)
                model.fit(x, y, batch_size=16, epochs=2, verbose=0, callbacks=[cb])
                callbacks.append(cb)
    finally:
        tf.get_logger().removeHandler(handler)
    assert [cb.trace_count for cb in callbacks] == [1] * 6
    assert not [m for m in messages if "retracing" in m], messages
