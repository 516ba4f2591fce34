"""Findings on real training runs, read back through TensorBoard's data provider.

Keras ``model.fit`` on scikit-learn's digits with ``NNVizCallback``, and numpy
networks trained by hand and logged with ``tb_nnviz.Writer``: every kind
fires on the run that has its problem, naming the layer, and the healthy runs
stay silent. The same log dir is served by TensorBoard's app (the
``findings`` route) and read by the real ``tb-nnviz report`` command.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import tb_nnviz
from tb_nnviz import cli, demo
from tb_nnviz.diagnose import findings
from tb_nnviz.keras import NNVizCallback
from tests.helpers import PREFIX, make_client, route_findings

#: Keras runs: (model kind, optimizer, learning rate, epochs, trajectory_freq).
KERAS_RUNS = {
    "keras_healthy": ("mlp", "adam", 1e-3, 3, 5),
    "keras_cnn": ("cnn", "adam", 1e-3, 2, 5),
    "keras_lr_too_high": ("mlp", "adam", 1.0, 6, 5),
    "keras_lr_too_low": ("mlp", "adam", 1e-6, 2, 5),
    "keras_vanishing": ("deep_sigmoid", "sgd", 0.1, 2, 5),
    "keras_dead_units": ("mlp", "adam", 0.1, 5, 20),
    "keras_nonfinite": ("mlp", "sgd", 1e4, 1, 2),
}


def train_keras(logdir, name, kind, optimizer, lr, epochs, freq):
    keras.utils.set_random_seed(0)
    x_train, _, y_train, _ = demo.load_digits()
    if kind == "cnn":
        x_train = x_train[..., None]
    model = demo.build_model(kind)
    opt = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD}[optimizer](learning_rate=lr)
    model.compile(optimizer=opt, loss="sparse_categorical_crossentropy")
    callback = NNVizCallback(os.path.join(logdir, name), heatmap_freq=0, trajectory_freq=freq)
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0, callbacks=[callback])


# -- numpy networks, trained by hand ----------------------------------------------------


def train_numpy_mlp(path, lr=0.1, steps=300, every=10, freeze_first_at=None, kill_units_at=None, kill=40):
    """A 64-64-10 ReLU MLP by minibatch SGD on digits, logged with the Writer.

    ``freeze_first_at``: from this step on the first layer gets no updates.
    ``kill_units_at``: at this step ``kill`` of the 64 hidden units get a
    bias of -50, so they never fire (and never learn) again.
    """
    rng = np.random.default_rng(0)
    x, _, y, _ = demo.load_digits()
    x = x.reshape(len(x), -1).astype(np.float64)
    w1 = rng.normal(0, np.sqrt(2 / 64), (64, 64))
    b1 = np.zeros(64)
    w2 = rng.normal(0, np.sqrt(1 / 64), (64, 10))
    b2 = np.zeros(10)
    with tb_nnviz.Writer(path) as writer:
        for step in range(steps + 1):
            if step == kill_units_at:
                b1[:kill] = -50.0
            if step % every == 0:
                writer.log_weights(step, {"mlp/dense_1/kernel": w1, "mlp/dense_1/bias": b1,
                                          "mlp/output/kernel": w2, "mlp/output/bias": b2},
                                   heatmaps=False)
            batch = rng.integers(0, len(x), 32)
            xb, yb = x[batch], y[batch]
            h = np.maximum(xb @ w1 + b1, 0.0)
            logits = h @ w2 + b2
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(len(yb)), yb] -= 1.0
            g = p / len(yb)
            gw2, gb2 = h.T @ g, g.sum(axis=0)
            gh = (g @ w2.T) * (h > 0)
            gw1, gb1 = xb.T @ gh, gh.sum(axis=0)
            first = 0.0 if freeze_first_at is not None and step >= freeze_first_at else lr
            w1, b1 = w1 - first * gw1, b1 - first * gb1
            w2, b2 = w2 - lr * gw2, b2 - lr * gb2


def train_numpy_diverging(path, steps=200, every=4):
    """Linear least squares by full-batch gradient descent, float32, with a step
    size above 2 / the largest curvature: the weights grow exponentially until
    they overflow to Inf and NaN."""
    rng = np.random.default_rng(0)
    x, _, y, _ = demo.load_digits()
    x = x.reshape(len(x), -1).astype(np.float32)
    target = np.eye(10, dtype=np.float32)[y]
    w = rng.normal(0, 0.1, (64, 10)).astype(np.float32)
    curvature = np.linalg.eigvalsh(x.T @ x / len(x)).max()
    lr = np.float32(3.0 / curvature)
    with tb_nnviz.Writer(path) as writer, np.errstate(all="ignore"):
        for step in range(steps + 1):
            if step % every == 0:
                writer.log_weights(step, {"linear/kernel": w}, heatmaps=False)
            w = w - lr * (x.T @ (x @ w - target) / len(x))


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("runs"))
    for name, spec in KERAS_RUNS.items():
        train_keras(root, name, *spec)
    train_numpy_mlp(os.path.join(root, "numpy_healthy"))
    train_numpy_mlp(os.path.join(root, "numpy_lr_too_low"), lr=1e-5)
    train_numpy_mlp(os.path.join(root, "numpy_stopped"), freeze_first_at=150)
    train_numpy_mlp(os.path.join(root, "numpy_dead_units"), kill_units_at=100)
    train_numpy_mlp(os.path.join(root, "numpy_dead_from_start"), kill_units_at=0, kill=64)
    train_numpy_diverging(os.path.join(root, "numpy_diverging"))
    return root


@pytest.fixture(scope="module")
def report(logdir):
    return route_findings(logdir)


def flat(found):
    """``found`` with each cause's ``consequences`` after it (compose.nest puts them there)."""
    return [g for f in found for g in [f] + flat(f.get("consequences", []))]


def named(report, run, kind):
    """The ``kind`` findings of ``run``, on their own or a cause's consequences."""
    found = [f for f in flat(report[run]) if f["kind"] == kind]
    assert found, "no %s in %s: %s" % (kind, run, [(f["kind"], f["layer"]) for f in report[run]])
    return found


@pytest.mark.parametrize("run", ["keras_healthy/train", "keras_cnn/train", "numpy_healthy"])
def test_healthy_runs_get_no_warning_or_error(report, run):
    assert findings.at_least(report[run], "warning") == [], report[run]


def test_lr_too_high_and_the_layers_that_stopped(report):
    run = "keras_lr_too_high/train"
    (high,) = named(report, run, "lr_too_high")
    assert high["severity"] == "warning" and high["layer"].startswith("mlp/dense_")
    assert high["step"] <= 20 and high["evidence"]["median_ratio_per_step"] >= findings.HIGH_RATIO
    stopped = {f["layer"] for f in named(report, run, "updates_stopped")}
    assert {"mlp/dense_1", "mlp/dense_2"} <= stopped
    assert "lr_too_low" not in [f["kind"] for f in report[run]]


def test_lr_too_low_on_keras_and_numpy(report):
    (keras_low,) = named(report, "keras_lr_too_low/train", "lr_too_low")
    assert keras_low["severity"] == "warning"
    assert keras_low["evidence"]["fastest_ratio_per_step"] < findings.LOW_RATIO
    (numpy_low,) = named(report, "numpy_lr_too_low", "lr_too_low")
    assert numpy_low["severity"] == "warning"
    assert [f["kind"] for f in report["numpy_lr_too_low"]] == ["lr_too_low"]


def test_vanishing_updates_name_the_first_layer(report):
    (f,) = named(report, "keras_vanishing/train", "vanishing_updates")
    assert f["layer"] == "deep_sigmoid/sigmoid_1"
    assert f["evidence"]["factor"] >= findings.VANISHING_FACTOR
    assert "deep_sigmoid/sigmoid_1" in f["message"]


def test_dead_units_on_keras_and_numpy(report):
    (f,) = named(report, "numpy_dead_units", "dead_units")
    assert (f["layer"], f["severity"]) == ("mlp/dense_1", "warning")
    assert 40 <= f["evidence"]["dead_units"] <= 44  # the 40 killed, and a few that died on their own
    assert f["step"] == 110  # the first logged point after the units died at 100
    keras_dead = named(report, "keras_dead_units/train", "dead_units")
    assert "mlp/dense_1" in {f["layer"] for f in keras_dead}


def test_kernels_that_never_move_are_noted(report):
    """Every hidden unit dead from the first step: neither kernel ever gets a gradient."""
    assert [(f["kind"], f["severity"], f["layer"]) for f in report["numpy_dead_from_start"]] == [
        ("updates_stopped", "info", "mlp/dense_1")]
    assert report["numpy_dead_from_start"][0]["evidence"]["layers"] == ["mlp/dense_1", "mlp/output"]


def test_updates_stopped_while_other_layers_move(report):
    (f,) = named(report, "numpy_stopped", "updates_stopped")
    assert (f["layer"], f["severity"], f["step"]) == ("mlp/dense_1", "warning", 160)
    assert f["tensors"] == ["mlp/dense_1/kernel", "mlp/dense_1/bias"]


def test_diverging_weights_explode_then_turn_nonfinite(report):
    run = report["numpy_diverging"]
    # Errors first, in the order they happened.
    assert [f["kind"] for f in run][:2] == ["exploding_weights", "nonfinite"]
    exploding, nonfinite = run[:2]
    assert nonfinite["severity"] == exploding["severity"] == "error"
    assert exploding["layer"] == "linear" and exploding["step"] < nonfinite["step"]
    assert "Inf" in nonfinite["message"] or "NaN" in nonfinite["message"]
    # The cause, read from the steps before the overflow.
    assert [f["kind"] for f in run[2:]] == ["lr_too_high"]


def test_keras_nonfinite(report):
    (f,) = named(report, "keras_nonfinite/train", "nonfinite")
    assert f["severity"] == "error" and f["layer"].startswith("mlp/")
    assert report["keras_nonfinite/train"][0]["severity"] == "error"


# -- the route's errors -------------------------------------------------------------------


@pytest.mark.parametrize("query, code, text", [
    ({}, 400, "'run'"),
    ({"run": "no_such_run"}, 404, "'no_such_run'"),
])
def test_findings_route_rejects_bad_input(logdir, query, code, text):
    response = make_client(logdir).get(PREFIX + "/findings", query_string=query)
    assert response.status_code == code
    assert text in response.get_data(as_text=True)


# -- tb-nnviz report ------------------------------------------------------------------------


def run_report(*argv):
    """The installed command, as CI would run it."""
    return subprocess.run(
        [sys.executable, "-m", "tb_nnviz.cli", "report", *argv],
        capture_output=True, text=True, timeout=300,
    )


def test_report_json_lists_every_run_and_fails_on_errors(logdir, report):
    done = run_report(logdir, "--json")
    assert done.returncode == 1, done.stderr  # numpy_diverging has errors
    body = json.loads(done.stdout)
    assert body["runs"] == report  # the same findings as the route


def test_report_table_and_exit_status_by_fail_on(logdir, capsys):
    assert cli.main(["report", logdir, "--run", "healthy|cnn", "--fail-on", "warning"]) == 0
    out = capsys.readouterr().out
    assert "keras_healthy/train" in out and "numpy_healthy" in out and "keras_cnn/train" in out
    assert cli.main(["report", logdir, "--run", "^keras_lr_too_low", "--fail-on", "warning"]) == 1
    out = capsys.readouterr().out
    assert "lr_too_low" in out and "SEVERITY" in out and "mlp/" in out
    assert cli.main(["report", logdir, "--run", "^keras_lr_too_low"]) == 0  # only warnings
    assert cli.main(["report", logdir, "--run", "diverging", "--fail-on", "never"]) == 0
    capsys.readouterr()


def test_report_bad_arguments_exit_2(logdir, tmp_path, capsys):
    assert cli.main(["report", str(tmp_path / "missing")]) == 2
    assert "not a readable directory" in capsys.readouterr().err
    assert cli.main(["report", str(tmp_path)]) == 2
    assert "no tb_nnviz trajectory data" in capsys.readouterr().err
    assert cli.main(["report", logdir, "--run", "nothing-matches"]) == 2
    assert "matches none" in capsys.readouterr().err
    assert cli.main(["report", logdir, "--run", "("]) == 2
    done = run_report(logdir, "--fail-on", "sometimes")
    assert done.returncode == 2 and "--fail-on" in done.stderr
