"""NNVizCallback's evidence for the rules: run information and probe-batch activations, per Keras backend.

Each backend fits, in a process of its own (``KERAS_BACKEND``), a Dense
relu -> Dense sigmoid -> Dense softmax model on generated data without
shuffling, so the first training batch (which the callback captures as its
probe batch under TensorFlow and torch) is known; under JAX the probe batch
is passed as ``probe_data``. The process saves every recorded layer's output
on the probe batch after training; this test reads the logs back through the
plugin's store and holds the last logged activation statistics equal to the
numpy reference (``tb_nnviz.log.activations``) of those outputs, the input's
statistics equal the probe rows', and the run information (optimizer, loss,
structure) to what the model was compiled with. A second ``fit`` with the same
callback keeps logging activations (TensorFlow makes its train function again
to include the probe).
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tb_nnviz.format import layouts, metadata
from tb_nnviz.log import activations as act
from tb_nnviz.reduce import trajectory
from tests.providers import evidence
from tests.tbserver import REPO
from tests.test_keras import load

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    backend, out = sys.argv[1], sys.argv[2]
    os.environ["KERAS_BACKEND"] = backend
    if backend == "torch":
        import torch  # noqa: F401  (before anything that may load TensorFlow)
    import numpy as np
    import keras
    import tb_nnviz.keras
    from tb_nnviz.keras import NNVizCallback

    tb_nnviz.keras.PROBE_BUDGET = float("inf")  # a probe at every logged step, whatever the machine's load

    rng = np.random.default_rng(0)
    x = (rng.normal(size=(96, 6)) * 3 + 1).astype("float32")
    y = rng.integers(0, 3, 96)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(5, activation="sigmoid"), keras.layers.Dense(3, activation="softmax")])
    model.compile(keras.optimizers.SGD(0.05, momentum=0.9), keras.losses.SparseCategoricalCrossentropy())
    cb = NNVizCallback(out, heatmap_freq=4, trajectory_freq=3, strict=True,
                       probe_data=x[:40] if backend == "jax" else None)

    class Before(keras.callbacks.Callback):
        # The weights before each batch, to recompute the gradient each step applied.
        def __init__(self):
            super().__init__()
            self.at = []
        def on_train_batch_begin(self, batch, logs=None):
            self.at.append((batch, [np.array(keras.ops.convert_to_numpy(w.value)) for w in self.model.weights]))

    before = Before()
    for _ in range(2):
        model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0, callbacks=[cb, before])
    cb.close()
    tf_imported = "tensorflow" in sys.modules  # before the reference below, which may import it

    def gradient_sumsq(weights, xb, yb):
        fresh = keras.models.clone_model(model)
        for w, v in zip(fresh.weights, weights):
            w.assign(v)
        loss_fn = keras.losses.SparseCategoricalCrossentropy()
        if backend == "tensorflow":
            import tensorflow as tf
            with tf.GradientTape() as tape:
                loss = loss_fn(yb, fresh(xb, training=True))
            grads = tape.gradient(loss, [w.value for w in fresh.trainable_weights])
            return [float(np.sum(np.square(g.numpy().astype("float64")))) for g in grads]
        if backend == "torch":
            loss = loss_fn(yb, fresh(xb, training=True))
            loss.backward()
            return [float(np.sum(np.square(w.value.grad.numpy().astype("float64")))) for w in fresh.trainable_weights]
        return []

    grads = {}
    for step, (batch, weights) in enumerate(before.at, start=1):
        if step % 3 == 0:
            grads[step] = gradient_sumsq(weights, x[16 * batch: 16 * (batch + 1)], y[16 * batch: 16 * (batch + 1)])
    with open(os.path.join(out, "grads.json"), "w") as f:
        json.dump({"grads": grads, "names": [w.path for w in model.trainable_weights]}, f)
    probe = x[:32] if backend == "jax" else x[:16]
    every = keras.Model(model.inputs[0], [layer.output for layer in model.layers])
    outs = [keras.ops.convert_to_numpy(o) for o in every(probe)]
    np.savez(os.path.join(out, "outputs.npz"), probe=probe, *outs)
    print(json.dumps({"names": [l.name for l in model.layers], "tf": tf_imported}))
    """
)


@pytest.fixture(scope="module", params=("tensorflow", "jax", "torch"))
def fitted(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param)
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-c", SCRIPT, request.param, str(out)], capture_output=True,
                          text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return request.param, out, json.loads(done.stdout.strip().splitlines()[-1])


def test_activations_of_the_probe_batch_equal_the_reference(fitted):
    backend, out, report = fitted
    info, series, problems = evidence(out, "train")
    assert problems == []
    saved = np.load(out / "outputs.npz")
    got = {a.layer: a for a in series}
    names = ["sequential/" + n for n in report["names"]]
    assert sorted(got) == sorted(names + [act.INPUT_NAME]), sorted(got)
    for name, kind, arr in zip(names, ("relu", "sigmoid", "softmax"), (saved["arr_0"], saved["arr_1"], saved["arr_2"])):
        a = got[name]
        assert a.kind == kind
        # Logged at trajectory steps across both fits, and at the end: the last is the final weights'.
        assert len(a.steps) >= 6 and a.steps[-1] == 12, a.steps
        want = act.activation_stats(arr, kind)
        for f, v in zip(layouts.ACTIVATION_FIELDS, want):
            np.testing.assert_allclose(a.fields[f][-1], v, rtol=2e-5, atol=1e-6, err_msg="%s %s" % (name, f))
    want = act.input_stats(saved["probe"])
    for f, v in zip(layouts.INPUT_FIELDS, want):
        np.testing.assert_allclose(got[act.INPUT_NAME].fields[f][-1], v, rtol=1e-6, err_msg=f)
    # The rules read the input's scale from the run information.
    assert info.input["std"] == pytest.approx(float(saved["probe"].std()), rel=1e-5)
    if backend != "tensorflow":
        assert not report["tf"], "TensorFlow was imported under %s" % backend


def test_run_information_says_optimizer_loss_and_structure(fitted):
    _, out, report = fitted
    info = evidence(out, "train")[0]
    assert info.framework == "keras" and info.optimizer_class == "SGD" and info.momentum == 0.9
    assert info.optimizer["lr"] == pytest.approx(0.05)
    assert info.loss == {"class": "SparseCategoricalCrossentropy", "from_logits": False}
    assert [(m["name"], m["type"], m["activation"], m["params"]) for m in info.structure] == [
        ("sequential/" + n, "Dense", k, p) for n, k, p in zip(report["names"], ("relu", "sigmoid", "softmax"),
                                                              (56, 45, 18))]
    assert [s for s, _ in info.lr] == [0]


def test_gradients_the_optimizer_applied_without_a_second_backward(fitted):
    """TensorFlow (a wrapper of optimizer.apply inside the compiled step) and torch (.grad
    after the step): each trajectory point's grad_norm is the gradient of its step's batch;
    JAX sees no gradients (NaN)."""
    backend, out, _ = fitted
    saved = json.load(open(out / "grads.json"))
    logged = load(str(out / "train"))[metadata.TRAJECTORY_PLUGIN_NAME]
    g = trajectory.STAT_FIELDS.index("grad_norm")
    for i, name in enumerate(saved["names"]):
        points = dict(logged[name][1])
        assert sorted(points) == [0, 3, 6, 9, 12], sorted(points)
        assert np.isnan(points[0][g])  # before any step
        for step in (3, 6, 9, 12):
            if backend == "jax":
                assert np.isnan(points[step][g])
            else:
                want = np.sqrt(saved["grads"][str(step)][i])
                np.testing.assert_allclose(points[step][g], want, rtol=1e-4, err_msg="%s step %d" % (name, step))


def test_a_model_compiled_again_keeps_its_gradients(tmp_path):
    """TensorFlow: a second fit after compiling with another optimizer logs that optimizer's gradients."""
    import keras

    from tb_nnviz.keras import NNVizCallback

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 6)).astype("float32"), rng.integers(0, 3, 64)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu", name="dense"),
                              keras.layers.Dense(3, name="out")], name="sequential")
    cb = NNVizCallback(tmp_path, trajectory_freq=2, strict=True)
    for optimizer in ("sgd", "adam"):
        model.compile(optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[cb])
    cb.close()
    g = trajectory.STAT_FIELDS.index("grad_norm")
    points = load(str(tmp_path / "train"))[metadata.TRAJECTORY_PLUGIN_NAME]["sequential/dense/kernel"][1]
    assert [s for s, _ in points] == [0, 2, 4, 6, 8]
    assert all(np.isfinite(p[g]) and p[g] > 0 for s, p in points if s > 0), points
