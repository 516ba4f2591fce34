"""NNVizCallback under each Keras 3 backend (TensorFlow, JAX, torch): one fit, the same logs.

Keras fixes its backend when it is first imported, so each backend trains in
a process of its own (``KERAS_BACKEND``). Each
process fits the same small model (Dense 16 relu -> Dense 3 on generated data,
2 epochs of 4 batches: trajectory points every 3 batches, heatmaps and
spectra at epoch ends) with a second callback after ours that saves a copy
of every weight at the start and after every batch; this test process reads
the logs back through TensorBoard's data provider and holds every logged
heatmap, trajectory point and spectrum equal to the numpy reference
(``tb_nnviz.reduce``) of the weights at its step, and the run, tensor names
and step axis equal on every backend. Under JAX the saving callback runs
after ours and the trainer empties the variables again before each batch,
so a logger that read the variables without ``jax_state_sync`` would log
placeholders and fail here. The JAX process also fits a conv model, and the
JAX and torch processes report whether TensorFlow was imported (it must
not be).
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tb_nnviz.format import metadata
from tb_nnviz.reduce import grids, spectrum, trajectory
from tests.reference import assert_planes_equal, assert_point_equal
from tests.tbserver import REPO
from tests.test_keras import load

HEAT, TRAJ, SPEC = metadata.HEATMAP_PLUGIN_NAME, metadata.TRAJECTORY_PLUGIN_NAME, metadata.SPECTRUM_PLUGIN_NAME
BACKENDS = ("tensorflow", "jax", "torch")

SCRIPT = textwrap.dedent(
    """
    import json, os, sys, time
    backend, out = sys.argv[1], sys.argv[2]
    os.environ["KERAS_BACKEND"] = backend
    if backend == "torch":
        import torch  # noqa: F401  (before anything that may load TensorFlow)
    import numpy as np
    import keras
    from tb_nnviz.keras import NNVizCallback

    class Capture(keras.callbacks.Callback):
        # Copies of every weight at the start and after every batch, by step.
        def __init__(self):
            super().__init__()
            self.at, self.step = {}, 0
        def _snap(self):
            for w in self.model.weights:
                self.at["%d|%s" % (self.step, w.path)] = np.array(w.numpy())
        def on_train_begin(self, logs=None):
            self._snap()
        def on_train_batch_end(self, batch, logs=None):
            self.step += 1
            self._snap()

    def run(name, model, x, y, **options):
        model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
        cb = NNVizCallback(os.path.join(out, name), strict=True, **options)
        capture = Capture()
        start = time.perf_counter()
        model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0, callbacks=[cb, capture])
        seconds = time.perf_counter() - start
        names, logger = cb.tensor_names, type(cb.logger).__name__
        cb.close()
        np.savez(os.path.join(out, name + ".npz"), **capture.at)
        return {"logger": logger, "names": names,
                "traces": cb.trace_count, "fit_seconds": seconds}

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 8)).astype("float32"), rng.integers(0, 3, 64)
    dense = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(3)])
    report = {"dense": run("dense", dense, x, y, heatmap_freq="epoch", trajectory_freq=3, spectral_freq="epoch")}
    if backend == "jax":
        conv = keras.Sequential([keras.Input((6, 6, 2)), keras.layers.Conv2D(4, 3, activation="relu"),
                                 keras.layers.Flatten(), keras.layers.Dense(3)], name="conv")
        xc = rng.normal(size=(64, 6, 6, 2)).astype("float32")
        report["conv"] = run("conv", conv, xc, y, heatmap_freq=3, trajectory_freq=2, spectral_freq=4)
    report["tensorflow_imported"] = "tensorflow" in sys.modules
    print("REPORT " + json.dumps(report))
    """
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """``{backend: (out dir, report)}``: the three backends' fits, one process after the other
    (10 to 25 s each on 2 cores, mostly importing the framework; side by side they take longer)."""
    root = tmp_path_factory.mktemp("backends")
    results = {}
    for backend in BACKENDS:
        out = root / backend
        out.mkdir()
        env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=os.pathsep.join([REPO] + sys.path))
        proc = subprocess.run([sys.executable, "-c", SCRIPT, backend, str(out)], env=env, capture_output=True,
                              text=True, timeout=180)
        assert proc.returncode == 0, "%s:\n%s" % (backend, proc.stderr[-4000:])
        assert "disabled after an error" not in proc.stderr, proc.stderr[-4000:]
        line = [s for s in proc.stdout.splitlines() if s.startswith("REPORT ")][-1]
        results[backend] = (out, json.loads(line[len("REPORT "):]))
    return results


def captured(path):
    """``{step: {weight path: array}}`` saved by the script's Capture callback."""
    at = {}
    with np.load(path) as saved:
        for key in saved.files:
            step, name = key.split("|", 1)
            at.setdefault(int(step), {})[name] = saved[key]
    return at


def check_against_reference(logged, at):
    """Every heatmap, trajectory point and spectrum equals the numpy reference of the weights at its step."""
    for name, (content, series) in logged[HEAT].items():
        for step, planes in series:
            x = at[step][name]
            assert_planes_equal(planes, grids.heatmap_planes(x, content), x, content)
    for name, (content, series) in logged[TRAJ].items():
        plan = trajectory.TrajectoryPlan(name, tuple(content["shape"]), num_traces=len(content["traces"]),
                                         sketch_dim=content["sketch_dim"])
        previous = None
        for step, point in series:
            x = at[step][name]
            want = trajectory.trajectory_point(x, previous, plan)
            # The gradients (TensorFlow, torch) are held to each step's batch by tests/test_keras_evidence.py.
            grad = [trajectory.STAT_FIELDS.index(f) for f in ("grad_norm", "grad_ratio")]
            want[grad] = point[grad]
            assert_point_equal(point, want, x, previous, plan)
            previous = x
    for name, (content, series) in logged[SPEC].items():
        for step, values in series:
            want = spectrum.eigenvalues(at[step][name], content)
            scale = np.nanmax(want) if want.size else 0.0
            np.testing.assert_allclose(values, want, rtol=1e-5, atol=1e-6 * scale, err_msg=name)


def steps_of(logged):
    """``{plugin: {name: [steps]}}``."""
    return {plugin: {name: [s for s, _ in series] for name, (_, series) in logged[plugin].items()}
            for plugin in (HEAT, TRAJ, SPEC)}


@pytest.mark.parametrize("backend", BACKENDS)
def test_logs_equal_the_reference_of_the_weights(runs, backend):
    out, report = runs[backend]
    logged = load(str(out / "dense" / "train"))
    check_against_reference(logged, captured(out / "dense.npz"))
    names = ["sequential/dense/kernel", "sequential/dense/bias", "sequential/dense_1/kernel", "sequential/dense_1/bias"]
    assert report["dense"]["names"] == names
    kernel = "sequential/dense/kernel"
    # Heatmaps and spectra at the start and each epoch end (4 batches each); trajectory points
    # every 3 batches and at the end. Biases have no spectrum.
    assert steps_of(logged) == {
        HEAT: dict.fromkeys(names, [0, 4, 8]),
        TRAJ: dict.fromkeys(names, [0, 3, 6, 8]),
        SPEC: {kernel: [0, 4, 8], "sequential/dense_1/kernel": [0, 4, 8]},
    }
    expected = {"tensorflow": "WeightLogger", "jax": "HostLogger", "torch": "ParamLogger"}[backend]
    assert report["dense"]["logger"] == expected
    if backend != "tensorflow":
        assert report["tensorflow_imported"] is False


def test_every_backend_logs_the_same_run_and_steps(runs):
    """Same run directory, tensor names and step axis (and so the same tab) whatever the backend."""
    axes = {b: steps_of(load(str(out / "dense" / "train"))) for b, (out, _) in runs.items()}
    assert axes["jax"] == axes["tensorflow"] == axes["torch"]


def test_conv_model_under_jax(runs):
    out, report = runs["jax"]
    logged = load(str(out / "conv" / "train"))
    check_against_reference(logged, captured(out / "conv.npz"))
    content, series = logged[HEAT]["conv/conv2d/kernel"]
    assert content["layout"]["kind"] == "conv" and content["shape"] == [3, 3, 2, 4]
    assert [s for s, _ in series] == [0, 3, 6, 8]
    assert [s for s, _ in logged[TRAJ]["conv/conv2d/kernel"][1]] == [0, 2, 4, 6, 8]
    assert [s for s, _ in logged[SPEC]["conv/conv2d/kernel"][1]] == [0, 4, 8]
