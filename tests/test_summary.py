"""tb_nnviz.summary (the TF summary ops): their checks, their behaviour without a writer or in a
tf.function, and the event files they write, equal to what ``tb_nnviz.Writer`` writes.

Event files written by the summary ops are read back through TensorBoard's own
data provider and compared with the Writer's. ``tb_nnviz.reduce.tf_ops``, the
ops behind them, is held equal to the numpy reference in tests/test_backends.py.
Also here: the sketch's fidelity to exact PCA on a real training run.
"""

import json

import numpy as np
import pytest
import tensorflow as tf

import tb_nnviz  # noqa: E402
from tb_nnviz import summary  # noqa: E402
from tb_nnviz.format import metadata
from tb_nnviz.reduce import grids, trajectory
from tests.providers import CTX, python_provider, read_all  # noqa: E402
from tests.reference import assert_point_equal, make_array

BF16 = tf.bfloat16.as_numpy_dtype
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")


def test_trajectory_point_quantile_sample_and_tf_function():
    """A tensor above the quantile sample size, computed inside one tf.function."""
    x = make_array((300, 250), "float32", 7, special=True)
    plan = trajectory.TrajectoryPlan("big", x.shape)
    assert plan.sample is not None
    fn = tf.function(lambda v, p: summary.trajectory_point(v, p, plan))
    for step in range(3):
        previous = x
        x = (x + make_array(x.shape, "float32", step, special=False)).astype(np.float32)
        got = fn(tf.constant(x), tf.constant(previous)).numpy()
        assert_point_equal(got, trajectory.trajectory_point(x, previous, plan), x, previous, plan)
    assert fn.experimental_get_tracing_count() == 1


def test_previous_valid_flag_gives_nan_update():
    x = np.arange(1.0, 7.0).reshape(2, 3)
    plan = trajectory.TrajectoryPlan("t", x.shape)
    got = summary.trajectory_point(tf.constant(x), tf.constant(x + 1), plan, tf.constant(False))
    want = trajectory.trajectory_point(x, None, plan)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)


# ---------------------------------------------------------------------------
# Validation and writer-less behaviour


BAD = [
    (np.array([True, False]), "dtype bool"),
    (np.array([1 + 2j]), "dtype complex"),
    (np.array(["a", "b"]), "dtype"),
    (np.zeros((0, 3), np.float32), "empty"),
    (np.float32(1.0), "scalar"),
]


@pytest.mark.parametrize("op", ["heatmap", "trajectory"])
@pytest.mark.parametrize("value,message", BAD)
def test_bad_tensors_raise_tensor_error_naming_them(op, value, message):
    fn = getattr(summary, op)
    with pytest.raises(grids.TensorError, match=r"'my/weight'.*%s|%s.*'my/weight'" % (message, message)):
        fn("my/weight", value, step=0)
    with pytest.raises(grids.TensorError, match="my/weight"):
        fn("my/weight", tf.constant(value), step=0)


def test_bad_tensor_raises_at_trace_time():
    # Autograph turns exceptions of unknown types into StagingError; without it
    # the TensorError reaches the caller as is.
    @tf.function(autograph=False)
    def f(x):
        return summary.heatmap("flags", x, step=0)

    with pytest.raises(grids.TensorError, match="'flags' has dtype bool"):
        f(tf.constant([True]))


def test_unknown_static_shape_raises():
    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32)], autograph=False)
    def f(x):
        return summary.trajectory("w", x, step=0)

    with pytest.raises(grids.TensorError, match="'w'.*unknown static shape"):
        f.get_concrete_function()


def test_bad_layout_gates_and_plan_raise():
    with pytest.raises(grids.TensorError, match="split:9"):
        summary.heatmap("w", np.ones((2, 3)), step=0, layout="split:9")
    with pytest.raises(grids.TensorError, match="gates"):
        summary.heatmap("w", np.ones((2, 3)), step=0, gates=["a", "b"])
    plan = trajectory.TrajectoryPlan("other", (2, 3))
    with pytest.raises(grids.TensorError, match="does not fit"):
        summary.trajectory("w", np.ones((2, 3)), step=0, plan=plan)
    with pytest.raises(grids.TensorError, match="previous value has shape"):
        summary.trajectory("w", np.ones((2, 3)), previous=np.ones(6), step=0)


def test_without_default_writer_returns_false():
    assert not bool(summary.heatmap("w", np.ones((2, 3)), step=0))
    assert not bool(summary.trajectory("w", np.ones((2, 3)), step=0))


def test_record_if_false_skips_writing(tmp_path):
    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default(step=0), tf.summary.record_if(False):
        assert not bool(summary.heatmap("w", np.ones((2, 3))))
    writer.close()
    assert read_all(python_provider(tmp_path), metadata.HEATMAP_PLUGIN_NAME) == {}


# ---------------------------------------------------------------------------
# Event files: the summary ops write what tb_nnviz.Writer writes


def arrays_at(step):
    rng = np.random.default_rng(step)
    kernel = rng.normal(size=(6, 5)).astype(np.float32)
    if step == 2:
        kernel[0, 0], kernel[1, 1], kernel[2, 2] = np.nan, np.inf, -np.inf
    return {
        "dense/kernel": kernel,
        "dense/bias": rng.normal(size=(5,)).astype(np.float64),
        "conv/kernel": rng.normal(size=(3, 3, 2, 4)).astype(BF16),
        "embedding/embeddings": rng.integers(-9, 9, size=(40, 7)).astype(np.int32),
        "mha/query/kernel": rng.normal(size=(8, 2, 4)).astype(np.float16),
    }


LAYOUTS = {"mha/query/kernel": "split:1"}
GATES = {"dense/kernel": ["i", "f", "c", "o", "x"]}
STEPS = (0, 1, 2, 5)
MAX_CELLS = 24  # pools the conv (6 x 12) and embedding (40 x 7) grids


def write_with_writer(logdir):
    with tb_nnviz.Writer(logdir, max_cells=MAX_CELLS, num_traces=3, sketch_dim=8, seed=1) as w:
        for step in STEPS:
            # The TF ops write no spectra (the Keras callback's logger does; tests/test_spectral.py).
            w.log_weights(step, arrays_at(step), layouts=LAYOUTS, gates=GATES,
                          description={"dense/kernel": "the kernel"}, spectra=False)


def log_with_summary_ops(names, values, previous, step):
    for name in names:
        x = values[name]
        summary.heatmap(name, x, step, layout=LAYOUTS.get(name, "auto"), max_cells=MAX_CELLS,
                        gates=GATES.get(name),
                        description="the kernel" if name == "dense/kernel" else None)
        summary.trajectory(name, x, previous.get(name), step, num_traces=3, sketch_dim=8, seed=1,
                           description="the kernel" if name == "dense/kernel" else None)


def write_with_summary_ops(logdir, use_function):
    writer = tf.summary.create_file_writer(logdir)
    names = sorted(arrays_at(0))
    fn_first = tf.function(lambda values, step: log_with_summary_ops(names, values, {}, step))
    fn = tf.function(lambda values, previous, step: log_with_summary_ops(names, values, previous, step))
    with writer.as_default():
        previous = None
        for step in STEPS:
            values = {n: tf.constant(v) for n, v in arrays_at(step).items()}
            step_t = tf.constant(step, tf.int64)
            if not use_function:
                log_with_summary_ops(names, values, previous or {}, step_t)
            elif previous is None:
                fn_first(values, step_t)
            else:
                fn(values, previous, step_t)
            previous = values
    writer.close()
    if use_function:
        assert fn.experimental_get_tracing_count() == 1


def load(logdir):
    provider = python_provider(logdir)
    out = {}
    for plugin in metadata.DATA_PLUGIN_NAMES:
        listing = provider.list_tensors(CTX, experiment_id="", plugin_name=plugin)
        data = read_all(provider, plugin)
        for run, tags in listing.items():  # one run per log dir here
            for tag, series in tags.items():
                out[(plugin, tag)] = (
                    metadata.parse_content(series.plugin_content),
                    series.description,
                    [(d.step, d.numpy) for d in data[run][tag]],
                )
    return out


@pytest.mark.parametrize("use_function", [False, True], ids=["eager", "tf.function"])
def test_event_files_match_numpy_writer(tmp_path, use_function):
    write_with_writer(str(tmp_path / "numpy"))
    write_with_summary_ops(str(tmp_path / "tf"), use_function)
    got, want = load(str(tmp_path / "tf")), load(str(tmp_path / "numpy"))
    # The Writer also keeps each tensor's first heatmap under its first-heatmap
    # tag; the TF ops write only what they are asked to.
    firsts = {key: want.pop(key) for key in list(want) if key[1].endswith(metadata.FIRST_SUFFIX)}
    assert len(firsts) == len(arrays_at(0))
    for (plugin, tag), (content, _, data) in firsts.items():
        main = want[(plugin, tag[: -len(metadata.FIRST_SUFFIX)])]
        assert content == dict(main[0], first=True)
        assert [s for s, _ in data] == [STEPS[0]]
        np.testing.assert_array_equal(data[0][1], main[2][0][1])
    assert len(want) == 2 * len(arrays_at(0))
    assert set(got) == set(want)
    for position, (plugin, tag) in enumerate(want):
        w_content, w_desc, w_data = want[(plugin, tag)]
        g_content, g_desc, g_data = got[(plugin, tag)]
        # Only the Writer sees all tensors of a step, so only it records network order.
        assert isinstance(w_content.pop("index"), int) and "index" not in g_content
        assert g_content == w_content, tag
        assert g_desc == w_desc
        assert [s for s, _ in g_data] == list(STEPS)
        for (_, g), (_, w) in zip(g_data, w_data):
            assert g.dtype == w.dtype and g.shape == w.shape, tag
            if plugin == metadata.HEATMAP_PLUGIN_NAME:
                np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7)
            else:
                np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-9)
    content = want[(metadata.HEATMAP_PLUGIN_NAME, "conv/kernel/nnviz_heatmap")][0]
    assert content["dtype"] == "bfloat16" and content["planes"] == ["mean", "absmax"]
    assert json.loads(json.dumps(content)) == content


# ---------------------------------------------------------------------------
# Sketch fidelity: PCA of summed CountSketches vs PCA of full snapshots


def _principal_coordinates(rows, count=2):
    centred = rows - rows.mean(axis=0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    return u[:, :count] * s[:count], s**2 / np.sum(s**2)


def test_sketch_pca_matches_exact_pca_on_digits_mlp():
    import keras
    from sklearn import datasets

    x, y = datasets.load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    snapshots = []

    class Snapshot(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch % 4 == 0:
                snapshots.append([np.array(w.numpy(), np.float64).ravel() for w in model.weights])

    model.fit(x, y, epochs=6, batch_size=32, verbose=0, callbacks=[Snapshot()])
    full = np.array([np.concatenate(snap) for snap in snapshots])
    assert full.shape[1] > 8000 and len(snapshots) >= 80
    exact, exact_var = _principal_coordinates(full)
    for seed in range(10):  # the default k holds for every seed, not one lucky hash
        plans = [trajectory.TrajectoryPlan(w.path, w.shape, seed=seed) for w in model.weights]
        assert plans[0].sketch_dim == trajectory.DEFAULT_SKETCH_DIM
        sketched = np.array([
            sum(trajectory.sketch(v, p) for v, p in zip(snap, plans))
            for snap in snapshots
        ])
        approx, approx_var = _principal_coordinates(sketched)
        for i in range(2):
            r = abs(np.corrcoef(exact[:, i], approx[:, i])[0, 1])
            assert r >= 0.995, "seed %d PC%d: |r| = %.4f" % (seed, i + 1, r)
        np.testing.assert_allclose(approx_var[:2], exact_var[:2], atol=0.05)
