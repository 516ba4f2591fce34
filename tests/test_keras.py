"""NNVizCallback in real ``model.fit`` runs, read back through TensorBoard's data provider.

A second callback captures numpy copies of every weight after every batch, so
the logged heatmaps and trajectory points can be checked against the weights
as they were at each logged step.
"""

import os
import subprocess
import sys
import textwrap
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn import datasets

from tb_nnviz.format import metadata
from tb_nnviz.keras import NNVizCallback  # noqa: E402
from tb_nnviz.reduce import grids, trajectory  # noqa: E402
from tests.providers import CTX, python_provider, read_all  # noqa: E402
from tests.tbserver import REPO  # noqa: E402

HEAT, TRAJ = metadata.HEATMAP_PLUGIN_NAME, metadata.TRAJECTORY_PLUGIN_NAME
STAT = {f: i for i, f in enumerate(trajectory.STAT_FIELDS)}
N = 320  # samples per fit: 10 batches of 32 per epoch


@pytest.fixture(autouse=True)
def fresh_keras_names():
    """Layer names (and so tensor names) restart at "sequential/dense" in every test."""
    keras.backend.clear_session()


@pytest.fixture(scope="module")
def digits():
    x, y = datasets.load_digits(return_X_y=True)
    return (x[:N] / 16.0).astype(np.float32), y[:N].astype(np.int32)


class Capture(keras.callbacks.Callback):
    """``at[step] = {weight.path: numpy copy}`` at the start and after every batch.

    ``step`` counts batches from ``start`` (not ``optimizer.iterations``, which
    stalls when a loss-scale optimizer skips a step).
    """

    def __init__(self, start=0):
        super().__init__()
        self.at = {}
        self.step = start

    def _snap(self):
        self.at[self.step] = {w.path: np.array(w.numpy()) for w in self.model.weights}

    def on_train_begin(self, logs=None):
        self._snap()

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        self._snap()


def load(run_dir):
    """``{plugin: {tensor name: (content, [(step, array), ...])}}`` of one run's weights.

    The first-heatmap tags (``metadata.first_tag``) are under the key ``"first"``;
    activation heatmaps (``<layer>/activations``, tests/test_keras_evidence.py) are left out.
    """
    provider = python_provider(os.path.dirname(run_dir))
    run = os.path.basename(run_dir)
    out = {"first": {}}
    for plugin in metadata.DATA_PLUGIN_NAMES:
        listing = provider.list_tensors(CTX, experiment_id="", plugin_name=plugin).get(run, {})
        data = read_all(provider, plugin).get(run, {})
        out[plugin] = {}
        for tag, series in listing.items():
            name = metadata.tensor_name(tag, plugin)
            content = metadata.parse_content(series.plugin_content)
            if content.get("of") == "activations":
                continue
            into = out["first"] if tag == metadata.first_tag(name) else out[plugin]
            into[name] = (
                content,
                [(d.step, d.numpy) for d in data[tag]],
            )
    return out


def check_against_capture(logged, capture):
    """Heatmaps equal the reference of the captured weights; norms and updates too."""
    for name, (content, series) in logged[HEAT].items():
        for step, planes in series:
            want = grids.heatmap_planes(capture.at[step][name], content)
            np.testing.assert_allclose(planes, want, rtol=1e-6, atol=1e-7, err_msg=name)
    for name, (content, series) in logged[TRAJ].items():
        assert len(series[0][1]) == len(trajectory.STAT_FIELDS) + len(content["traces"]) + content["sketch_dim"]
        previous = None
        for step, point in series:
            w = capture.at[step][name].astype(np.float64)
            np.testing.assert_allclose(point[STAT["norm"]], np.linalg.norm(w), rtol=1e-9)
            if previous is None:
                assert np.isnan(point[STAT["update_norm"]])
            else:
                np.testing.assert_allclose(
                    point[STAT["update_norm"]], np.linalg.norm(w - previous), rtol=1e-6, atol=1e-12
                )
            traces = point[len(STAT): len(STAT) + len(content["traces"])]
            np.testing.assert_array_equal(traces, w.ravel()[content["traces"]])
            previous = w


def dense_model():
    return keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.BatchNormalization(),
        keras.layers.Dense(10, activation="softmax"),
    ])


def fit(model, x, y, callbacks, epochs=2):
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model.fit(x, y, epochs=epochs, batch_size=32, verbose=0, callbacks=callbacks)


def test_dense_steps_values_and_single_trace(tmp_path, digits):
    keras.utils.set_random_seed(0)
    model, capture = dense_model(), Capture()
    cb = NNVizCallback(str(tmp_path), heatmap_freq="epoch", trajectory_freq=3, strict=True)
    fit(model, *digits, callbacks=[cb, capture], epochs=2)
    logged = load(str(tmp_path / "train"))
    names = [w.path for w in model.weights]
    assert sorted(logged[HEAT]) == sorted(logged[TRAJ]) == sorted(names) == sorted(cb.tensor_names)
    assert "sequential/batch_normalization/moving_mean" in names
    # Heatmaps: initial weights, each epoch end (the last one is also the end).
    assert [s for s, _ in logged[HEAT]["sequential/dense/kernel"][1]] == [0, 10, 20]
    # Trajectories: initial, every 3 batches, and the final state.
    assert [s for s, _ in logged[TRAJ]["sequential/dense/kernel"][1]] == [0, 3, 6, 9, 12, 15, 18, 20]
    content = logged[HEAT]["sequential/dense/kernel"][0]
    assert content["layout"]["kind"] == "matrix" and content["shape"] == [64, 16]
    check_against_capture(logged, capture)
    assert cb.trace_count == 1
    # A second fit continues the step axis and reuses the compiled function.
    capture2 = Capture(start=20)
    model.fit(*digits, epochs=1, batch_size=32, verbose=0, callbacks=[cb, capture2])
    cb.close()
    assert cb.trace_count == 1
    logged = load(str(tmp_path / "train"))
    assert [s for s, _ in logged[HEAT]["sequential/dense/bias"][1]] == [0, 10, 20, 30]
    capture.at.update(capture2.at)
    check_against_capture(logged, capture)
    # The first heatmap of each tensor is also kept under its first-heatmap tag, once.
    assert sorted(logged["first"]) == sorted(names)
    content, series = logged["first"]["sequential/dense/kernel"]
    assert content["first"] is True and [s for s, _ in series] == [0]
    np.testing.assert_array_equal(series[0][1], logged[HEAT]["sequential/dense/kernel"][1][0][1])


def conv_model():
    return keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ])


def lstm_model():
    return keras.Sequential([
        keras.Input((8,), dtype="int32"),
        keras.layers.Embedding(17, 4),
        keras.layers.LSTM(5),
        keras.layers.Dense(10, activation="softmax"),
    ])


def gru_model():
    return keras.Sequential([
        keras.Input((8, 8)),
        keras.layers.GRU(3),
        keras.layers.Dense(10, activation="softmax"),
    ])


def mha_model():
    inputs = keras.Input((8, 8))
    attended = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)(inputs, inputs)
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(attended))
    return keras.Model(inputs, outputs)


class TwoLayer(keras.Model):
    """A subclassed model: its weights are found through the layers it tracks."""

    def __init__(self):
        super().__init__()
        self.hidden = keras.layers.Dense(12, activation="relu", name="hidden")
        self.out = keras.layers.Dense(10, activation="softmax", name="out")

    def call(self, x):
        return self.out(self.hidden(x))


def inputs_for(kind, x):
    if kind == "conv":
        return x.reshape(-1, 8, 8, 1)
    if kind == "lstm":
        return np.round(x[:, :8] * 16).astype(np.int32)
    if kind == "subclassed":
        return x
    return x.reshape(-1, 8, 8)


@pytest.mark.parametrize(
    "kind,build,expect",
    [
        ("conv", conv_model, {"conv2d/kernel": ("conv", None, [1 * 3, 4 * 3])}),
        ("lstm", lstm_model, {
            "embedding/embeddings": ("matrix", None, [17, 4]),
            "lstm/lstm_cell/kernel": ("matrix", ["i", "f", "c", "o"], [4, 20]),
            "lstm/lstm_cell/recurrent_kernel": ("matrix", ["i", "f", "c", "o"], [5, 20]),
            "lstm/lstm_cell/bias": ("vector", ["i", "f", "c", "o"], [1, 20]),
        }),
        ("gru", gru_model, {"gru/gru_cell/kernel": ("matrix", ["z", "r", "h"], [8, 9])}),
        ("subclassed", TwoLayer, {
            "hidden/kernel": ("matrix", None, [64, 12]),
            "out/bias": ("vector", None, [1, 10]),
        }),
        ("mha", mha_model, {
            "multi_head_attention/query/kernel": ("split", None, [8, 8]),
            "multi_head_attention/value/kernel": ("split", None, [8, 8]),
            "multi_head_attention/attention_output/kernel": ("split", None, [8, 8]),
        }),
    ],
)
def test_layer_layouts_and_values(tmp_path, digits, kind, build, expect):
    keras.utils.set_random_seed(1)
    model, capture = build(), Capture()
    cb = NNVizCallback(str(tmp_path), heatmap_freq=5, trajectory_freq=4, strict=True)
    fit(model, inputs_for(kind, digits[0]), digits[1], [cb, capture], epochs=1)
    logged = load(str(tmp_path / "train"))
    for suffix, (layout, gates, grid) in expect.items():
        (name,) = [n for n in logged[HEAT] if n.endswith(suffix)]
        content = logged[HEAT][name][0]
        assert (content["layout"]["kind"], content["gates"], content["grid"]) == (layout, gates, grid)
    if kind == "mha":
        query = [c for n, (c, _) in logged[HEAT].items() if n.endswith("query/kernel")][0]
        output = [c for n, (c, _) in logged[HEAT].items() if n.endswith("output/kernel")][0]
        assert query["layout"]["rows"] == [0] and output["layout"]["rows"] == [0, 1]
    steps = [s for s, _ in next(iter(logged[HEAT].values()))[1]]
    # A subclassed model has weights only once its first batch has built it.
    assert steps == ([1, 5, 10] if kind == "subclassed" else [0, 5, 10])
    check_against_capture(logged, capture)
    assert cb.trace_count == 1


def test_descriptions_name_the_layer_class_and_the_weight():
    """"Conv2D kernel", "Dense bias": not "Conv2D weight bias"."""
    model = conv_model()
    cb = NNVizCallback("unused")
    cb.set_model(model)
    assert [w.description for w in cb._collect()] == ["Conv2D kernel", "Conv2D bias", "Dense kernel", "Dense bias"]


def test_include_exclude_trainable_only_and_off(tmp_path, digits):
    model = dense_model()
    cb = NNVizCallback(str(tmp_path / "a"), heatmap_freq=0, trajectory_freq="epoch",
                       include=r"kernel|moving", exclude=r"dense_1/", strict=True)
    cb2 = NNVizCallback(str(tmp_path / "b"), heatmap_freq=2, trajectory_freq=0,
                        trainable_only=True, strict=True)
    fit(model, *digits, callbacks=[cb, cb2], epochs=2)
    a, b = load(str(tmp_path / "a" / "train")), load(str(tmp_path / "b" / "train"))
    assert a[HEAT] == {} and b[TRAJ] == {}
    assert sorted(a[TRAJ]) == [
        "sequential/batch_normalization/moving_mean",
        "sequential/batch_normalization/moving_variance",
        "sequential/dense/kernel",
    ]
    assert [s for s, _ in a[TRAJ]["sequential/dense/kernel"][1]] == [0, 10, 20]
    assert sorted(b[HEAT]) == sorted(w.path for w in model.trainable_weights)


@pytest.mark.parametrize("bad", [-1, 1.5, "batch", None, True])
def test_bad_freq_names_the_value(bad):
    with pytest.raises(ValueError, match="heatmap_freq.*%r" % (bad,)):
        NNVizCallback("/tmp/unused", heatmap_freq=bad)


def test_unwritable_log_dir_warns_once_and_training_continues(tmp_path, digits):
    log_dir = tmp_path / "a_file"
    log_dir.write_text("not a directory")
    cb = NNVizCallback(str(log_dir))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = fit(dense_model(), *digits, callbacks=[cb], epochs=2)
    assert len(history.history["loss"]) == 2
    ours = [w for w in caught if "NNVizCallback" in str(w.message)]
    assert len(ours) == 1 and "not a directory" in str(ours[0].message).lower()


def test_strict_reraises(tmp_path, digits):
    log_dir = tmp_path / "a_file"
    log_dir.write_text("not a directory")
    # A local log dir is opened by plain Python: the OSError says what is wrong.
    with pytest.raises(NotADirectoryError, match="Not a directory"):
        fit(dense_model(), *digits, callbacks=[NNVizCallback(str(log_dir), strict=True)])


def test_failure_during_training_disables_logging(tmp_path, digits):
    cb = NNVizCallback(str(tmp_path), trajectory_freq=1)

    class Boom(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if batch == 3:
                cb._writer.close()  # the writer dies mid-run

    with pytest.warns(RuntimeWarning, match="NNVizCallback: logging .* disabled"):
        history = fit(dense_model(), *digits, callbacks=[Boom(), cb], epochs=1)
    assert len(history.history["loss"]) == 1


def test_mixed_precision(tmp_path, digits):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        keras.utils.set_random_seed(2)
        model, capture = dense_model(), Capture()
        cb = NNVizCallback(str(tmp_path), trajectory_freq=5, strict=True)
        fit(model, *digits, callbacks=[cb, capture], epochs=1)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    logged = load(str(tmp_path / "train"))
    content = logged[HEAT]["sequential/dense/kernel"][0]
    assert content["dtype"] == "float32"
    check_against_capture(logged, capture)


MIRRORED = textwrap.dedent(
    """
    import sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from tb_nnviz.keras import NNVizCallback
    from tb_nnviz.reduce import grids
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2
    with strategy.scope():
        model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(8),
                                  keras.layers.Dense(10, activation="softmax")])
        model.compile("adam", "sparse_categorical_crossentropy")
    finals = {}
    class Final(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            finals.update({w.path: w.numpy() for w in self.model.weights})
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(128, 64)).astype("float32"), rng.integers(0, 10, 128)
    cb = NNVizCallback(sys.argv[1], trajectory_freq=2, strict=True)
    model.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[cb, Final()])
    cb.close()
    np.save(sys.argv[1] + "/final_kernel.npy", finals["sequential/dense/kernel"])
    print("TRACES", cb.trace_count)
    """
)


def test_mirrored_strategy_two_cpus(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))] + sys.path))
    proc = subprocess.run(
        [sys.executable, "-c", MIRRORED, str(tmp_path)],
        capture_output=True, text=True, timeout=180, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "TRACES 1" in proc.stdout
    logged = load(str(tmp_path / "train"))
    content, series = logged[HEAT]["sequential/dense/kernel"]
    assert [s for s, _ in series] == [0, 1, 2, 3, 4, 8]  # the default: "auto" over 2 epochs of 4 batches
    assert [s for s, _ in logged[TRAJ]["sequential/dense/kernel"][1]] == [0, 2, 4, 6, 8]
    final = np.load(str(tmp_path / "final_kernel.npy"))
    np.testing.assert_allclose(series[-1][1], grids.heatmap_planes(final, content), rtol=1e-6)


@pytest.fixture(scope="module")
def tf_keras_path(tmp_path_factory):
    """A directory holding tf_keras (Keras 2) for the installed TensorFlow.

    tf_keras declares a dependency on the full ``tensorflow`` distribution,
    which would replace tensorflow-cpu's files; it needs only the
    ``tensorflow`` module, so it is installed alone into a directory of its own.
    """
    target = tmp_path_factory.mktemp("tf_keras")
    version = ".".join(tf.__version__.split(".")[:2])
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
         "tf_keras==%s.*" % version],
        check=True,
    )
    return str(target)


def test_tf_keras_model(tmp_path, tf_keras_path):
    """The callback under tf_keras' own fit loop: tensors, steps and final values."""
    script = textwrap.dedent(
        """
        import sys, numpy as np
        import tf_keras
        from tb_nnviz.keras import NNVizCallback
        tf_keras.utils.set_random_seed(0)
        model = tf_keras.Sequential([
            tf_keras.layers.Dense(8, activation="relu", input_shape=(4,)),
            tf_keras.layers.Dense(2),
        ])
        model.compile("adam", "mse")
        cb = NNVizCallback(sys.argv[1], heatmap_freq=4, trajectory_freq=2, strict=True)
        model.fit(np.random.rand(64, 4), np.random.rand(64, 2), epochs=2, batch_size=16,
                  verbose=0, callbacks=[cb])
        np.save(sys.argv[1] + "/final.npy", model.layers[0].kernel.numpy())
        print(",".join(cb.tensor_names))
        """
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([tf_keras_path, REPO]))
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], env=env, check=True,
        capture_output=True, text=True,
    ).stdout.strip().splitlines()[-1]
    assert out.split(",") == ["dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias"]
    logged = load(str(tmp_path / "train"))
    assert [s for s, _ in logged[HEAT]["dense/kernel"][1]] == [0, 4, 8]
    assert [s for s, _ in logged[TRAJ]["dense/kernel"][1]] == [0, 2, 4, 6, 8]
    final = np.load(str(tmp_path / "final.npy"))
    np.testing.assert_array_equal(logged[HEAT]["dense/kernel"][1][-1][1][0], final)


class Poison(keras.callbacks.Callback):
    """Sets one kernel entry to NaN after batch ``at`` (counted from 1): training carries it everywhere."""

    def __init__(self, at):
        super().__init__()
        self.at, self.step = at, 0

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step == self.at:
            kernel = self.model.layers[0].kernel
            value = np.array(kernel.numpy())
            value[0, 0] = np.nan
            kernel.assign(value)


def test_default_heatmaps_spread_over_the_fit_and_the_last_finite_ones_precede_a_divergence(tmp_path, digits):
    """3 epochs of 10 batches: the default ("auto") logs the initial weights and the
    schedule over the 30 batches (epoch ends past the first). A NaN put in after batch 13
    is seen at the trajectory step 15: the heatmaps of step 10's values (the last finite)
    were logged then, and step 15's; all equal to the numpy reference of the weights."""
    from tb_nnviz.log.plan import HeatmapSchedule

    keras.utils.set_random_seed(0)
    model, capture = dense_model(), Capture()
    cb = NNVizCallback(str(tmp_path / "ok"), trajectory_freq=5, strict=True)
    fit(model, *digits, callbacks=[cb, capture], epochs=3)
    logged = load(str(tmp_path / "ok" / "train"))
    schedule = HeatmapSchedule(0, 30, 10).steps()
    assert schedule == [1, 2, 3, 4, 7, 10, 20, 30]
    assert [s for s, _ in logged[HEAT]["sequential/dense/kernel"][1]] == [0] + schedule
    check_against_capture(logged, capture)

    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    model, capture = dense_model(), Capture()
    cb = NNVizCallback(str(tmp_path / "nan"), heatmap_freq=10, trajectory_freq=5, strict=True)
    fit(model, *digits, callbacks=[Poison(13), cb, capture], epochs=3)
    logged = load(str(tmp_path / "nan" / "train"))
    for name, (content, series) in logged[HEAT].items():
        assert [s for s, _ in series] == [0, 10, 15, 20, 30], name  # every tensor's, 15 off the cadence
    series = logged[HEAT]["sequential/dense/kernel"][1]
    assert np.isfinite(series[1][1]).all() and np.isnan(series[2][1]).any()
    assert [s for s, _ in logged[TRAJ]["sequential/dense/kernel"][1]] == [0, 5, 10, 15, 20, 25, 30]
    check_against_capture({HEAT: logged[HEAT], TRAJ: {}}, capture)


def test_full_resolution_weights_are_unpooled_and_the_others_pooled(tmp_path, digits):
    from tests import reference

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(300, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    capture = Capture()
    cb = NNVizCallback(str(tmp_path), heatmap_freq="epoch", trajectory_freq=0, spectral_freq=0, max_cells=1000,
                       full_resolution=r"dense/kernel$", strict=True)
    fit(model, *digits, callbacks=[cb, capture], epochs=1)
    logged = load(str(tmp_path / "train"))
    content = logged[HEAT]["sequential/dense/kernel"][0]
    assert content["pool"] == [1, 1] and content["grid"] == [64, 300]  # 19,200 cells, over max_cells
    assert logged[HEAT]["sequential/dense_1/kernel"][0]["pool"] == [3, 1]  # not chosen: pooled, 10 classes kept
    for name, (content, series) in logged[HEAT].items():
        for step, planes in series:
            x = capture.at[step][name]
            reference.assert_planes_equal(planes, grids.heatmap_planes(x, content), x, content)
    with pytest.raises(ValueError, match="full_resolution must be a regex"):
        NNVizCallback(str(tmp_path), full_resolution=3)


def test_compiled_tensorflow_logger_writes_the_last_finite_heatmaps_before_a_divergence(tmp_path):
    """The TensorFlow logger's compiled path (one_pass=False: no numba), whose previous values are variables."""
    from tb_nnviz.log.tf_logger import WeightLogger
    from tests.test_heatmap_cadence import check_diverging_log, diverging_log

    heat, values = diverging_log(lambda w, weights: WeightLogger(w, weights, one_pass=False),
                                 lambda x: tf.Variable(x), lambda var, x: var.assign(x), tmp_path)
    check_diverging_log(heat, values)
