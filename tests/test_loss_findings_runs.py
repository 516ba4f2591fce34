"""Loss findings on real Keras runs: ``model.fit`` with ``keras.callbacks.TensorBoard``
beside ``NNVizCallback``, read back by TensorBoard's app (the ``findings``
route) and by the real ``tb-nnviz report``.

An over-fitting wide MLP, an under-fitting one (learning rate 1e-6, no
validation data), a diverging one and a healthy one each get their verdict;
runs without Keras' scalars (NNVizCallback alone, the numpy ``Writer``) get no
loss findings and no errors.
"""

import json
import os

import keras
import numpy as np
import pytest
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins import base_plugin

import tb_nnviz
from tb_nnviz import cli, demo
from tb_nnviz.format import metadata
from tb_nnviz.keras import NNVizCallback
from tb_nnviz.log.event_file import EventFile
from tb_nnviz.serve import plugin
from tb_nnviz.serve import report as nnviz_report
from tests import providers, tbserver
from tests.helpers import route_findings

LOSS_KINDS = {"overfitting", "underfitting", "loss_diverged"}

#: name: (model kind, optimizer, learning rate, epochs, training images, validation?, Keras TensorBoard?)
RUNS = {
    "overfit": ("wide_mlp", "adam", 3e-3, 40, 150, True, True),  # the demo's over-fitting run
    "underfit": ("mlp", "adam", 1e-6, 6, 320, False, True),
    "thrashing": ("tanh_mlp", "sgd", 3.0, 8, 320, True, True),
    "diverged": ("mlp", "sgd", 1e4, 2, 320, True, True),
    "healthy": ("mlp", "adam", 1e-3, 6, None, True, True),
    "no_scalars": ("mlp", "adam", 1e-6, 6, 320, True, False),
}


def train(root, name, kind, optimizer, lr, epochs, samples, validation, tensorboard):
    keras.utils.set_random_seed(0)
    x_train, x_val, y_train, y_val = demo.load_digits()
    x_train, y_train = x_train[:samples], y_train[:samples]
    model = tanh_mlp() if kind == "tanh_mlp" else demo.build_model(kind)
    opt = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD}[optimizer](learning_rate=lr)
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    run_dir = os.path.join(root, name)
    callbacks = [NNVizCallback(run_dir, heatmap_freq=0, trajectory_freq=5, spectral_freq=0)]
    if tensorboard:
        callbacks.insert(0, keras.callbacks.TensorBoard(run_dir))
    model.fit(x_train, y_train, validation_data=(x_val, y_val) if validation else None,
              epochs=epochs, batch_size=32, verbose=0, callbacks=callbacks)


def tanh_mlp():
    """The seed's MLP with tanh: under a learning rate far too high its hidden
    units saturate (and stop moving) while the output layer flails."""
    return keras.Sequential([
        keras.Input((8, 8)), keras.layers.Flatten(),
        keras.layers.Dense(64, activation="tanh", name="dense_1"),
        keras.layers.Dense(64, activation="tanh", name="dense_2"),
        keras.layers.Dense(10, activation="softmax", name="output"),
    ], name="mlp")


def train_writer(path, steps=60, every=5):
    """A numpy network logged by the Writer only: no scalars at all."""
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.1, (64, 10))
    with tb_nnviz.Writer(path) as writer:
        for step in range(0, steps + 1, every):
            writer.log_weights(step, {"linear/kernel": w}, heatmaps=False)
            w = w - 1e-3 * rng.normal(size=w.shape)


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("loss_runs"))
    for name, spec in RUNS.items():
        train(root, name, *spec)
    train_writer(os.path.join(root, "numpy", "train"))  # named like a Keras run, on purpose
    return root


@pytest.fixture(scope="module")
def report(logdir):
    return route_findings(logdir)


def flat(found):
    """``found`` with each cause's ``consequences`` after it (compose.nest puts them there)."""
    return [g for f in found for g in [f] + flat(f.get("consequences", []))]


def loss_findings(report, run):
    """The loss findings of ``run``, on their own or a cause's consequences."""
    return [f for f in flat(report[run]) if f["kind"] in LOSS_KINDS]


def test_every_run_is_served(report):
    assert sorted(report) == sorted([r + "/train" for r in RUNS] + ["numpy/train"])


def test_overfitting_names_the_best_epoch_and_the_scalars_run(report):
    (f,) = loss_findings(report, "overfit/train")
    assert (f["kind"], f["severity"]) == ("overfitting", "warning")
    ev = f["evidence"]
    assert 2 <= f["step"] <= 10  # 150 images are memorised within a few epochs
    assert ev["val_loss_end"] > 1.25 * ev["val_loss_at_min"]
    assert ev["train_loss_end"] < ev["train_loss_at_min"] / 10
    assert ev["scalars_run"] == "overfit/train" and ev["validation_run"] == "overfit/validation"
    assert ev["step_unit"] == "epoch" and ev["last_step"] == 39


def test_underfitting_without_validation_data_is_stuck(report):
    found = loss_findings(report, "underfit/train")
    assert [(f["kind"], f["evidence"]["verdict"]) for f in found] == [("underfitting", "stuck")]
    assert found[0]["evidence"]["train_accuracy_end"] < 0.3
    assert found[0]["evidence"]["validation_run"] is None
    assert [f["kind"] for f in report["underfit/train"]] == ["lr_too_low"]  # the weights agree: the cause
    assert found[0]["caused_by"] == "lr_too_low"


def test_underfitting_with_a_flailing_layer_is_thrashing(report):
    found = loss_findings(report, "thrashing/train")
    assert [(f["kind"], f["evidence"]["verdict"]) for f in found] == [("underfitting", "thrashing")]
    ev = found[0]["evidence"]
    assert ev["fastest_update_ratio_per_step"] >= 1e-2 > ev["update_ratio_per_step"]
    assert [f["kind"] for f in report["thrashing/train"]] == ["lr_too_high"]  # the weights agree: the cause
    assert found[0]["caused_by"] == "lr_too_high"


def test_loss_diverged_is_linked_to_the_weights_nonfinite(report):
    found = loss_findings(report, "diverged/train")
    assert [(f["kind"], f["severity"], f["step"]) for f in found] == [("loss_diverged", "error", 0)]
    nonfinite = next(f for f in report["diverged/train"] if f["kind"] == "nonfinite")
    assert found[0]["evidence"]["nonfinite_step"] == nonfinite["step"]


def test_healthy_run_stays_silent(report):
    assert report["healthy/train"] == []


@pytest.mark.parametrize("run", ["no_scalars/train", "numpy/train"])
def test_runs_without_scalars_get_no_loss_findings(report, run):
    assert loss_findings(report, run) == []


def test_report_prints_the_loss_findings(logdir, capsys):
    assert cli.main(["report", logdir, "--json", "--fail-on", "warning"]) == 1
    runs = json.loads(capsys.readouterr().out)["runs"]
    assert [f["kind"] for f in runs["overfit/train"]] == ["overfitting"]
    assert runs["healthy/train"] == []
    assert cli.main(["report", logdir, "--run", "^overfit"]) == 0  # a warning, not an error
    assert "overfitting" in capsys.readouterr().out


def write_blown_run(run_dir):
    """The demo's lr_too_high, logged by hand: weights replaced at the first
    steps, then the hidden layers and the output kernel stop one after another
    while the output's bias keeps moving; Keras-like scalars: the loss falls
    in epoch 1 and stays at 2.4 with 10% accuracy."""
    rng = np.random.default_rng(0)
    shapes = {"mlp/dense_1/kernel": (64, 64), "mlp/dense_2/kernel": (64, 64),
              "mlp/output/kernel": (64, 10), "mlp/output/bias": (10,)}
    stop = {"mlp/dense_1/kernel": 160, "mlp/dense_2/kernel": 170, "mlp/output/kernel": 200, "mlp/output/bias": 10**9}
    w = {n: rng.normal(size=s) / np.sqrt(s[0]) for n, s in shapes.items()}  # Glorot-like: not a poor start
    with tb_nnviz.Writer(run_dir) as writer:
        for step in range(0, 275, 5):
            writer.log_weights(step, w, heatmaps=False, spectra=False)
            for n in w:
                if step < 10:
                    w[n] = rng.normal(size=shapes[n]) * 20  # replaced: far more than their norm per step
                elif step + 5 < stop[n]:
                    w[n] = w[n] + 1e-3 * rng.normal(size=shapes[n])
    events = EventFile(run_dir)
    for epoch in range(10):
        summary = summary_pb2.Summary(value=[
            summary_pb2.Summary.Value(tag="epoch_loss", simple_value=88.9 if epoch == 0 else 2.4),
            summary_pb2.Summary.Value(tag="epoch_accuracy", simple_value=0.1)])
        events.add_event(event_pb2.Event(step=epoch, wall_time=float(epoch), summary=summary))
    events.close()


def test_the_route_and_the_report_list_the_cause_first(tmp_path):
    """lr_too_high, with the layers that stopped and the run that under-fits as
    its consequences in that order, though underfitting's epoch 1 is a smaller
    number than lr_too_high's step 5. (Before compose.nest they stood beside it.)"""
    write_blown_run(str(tmp_path / "blown" / "train"))
    route = route_findings(str(tmp_path))["blown/train"]
    assert [(f["kind"], f["layer"]) for f in route] == [("lr_too_high", route[0]["layer"])]
    after = route[0]["consequences"]
    assert [(f["kind"], f["layer"], f["caused_by"]) for f in after] == [
        ("updates_stopped", "mlp/dense_1", "lr_too_high"), ("updates_stopped", "mlp/dense_2", "lr_too_high"),
        ("updates_stopped", "mlp/output", "lr_too_high"), ("underfitting", None, "lr_too_high"),
    ]
    assert after[3]["step"] == 1 < route[0]["step"]
    assert all("while other layers were still moving" in f["message"] for f in after[0:2])
    assert "still moving" not in after[2]["message"] and "after every other layer had stopped" in after[2]["message"]
    assert nnviz_report.load(str(tmp_path)) == {"blown/train": route}


def test_rust_data_server_gives_the_same_findings(logdir, report):
    """Under ``--load_fast=true`` (Keras 3's scalars are tensors there too) the verdicts agree."""
    trajectory = metadata.TRAJECTORY_PLUGIN_NAME
    expected = sum(len(tags) for tags in providers.python_provider(logdir).list_tensors(
        providers.CTX, experiment_id="", plugin_name=trajectory).values())
    with providers.rust_provider(logdir, trajectory, expected) as rust:
        nnviz = plugin.NNVizPlugin(base_plugin.TBContext(data_provider=rust, logdir=logdir))
        for run in ("overfit/train", "underfit/train", "healthy/train", "numpy/train"):
            found = tbserver.wait_for(lambda: nnviz._findings_impl(providers.CTX, "", run),
                                      lambda f: loss_findings(report, run) == loss_findings({run: f}, run))
            assert loss_findings(report, run) == loss_findings({run: found}, run)
