"""`tb-nnviz demo`: the six runs train, log, and differ the way the README says."""

import numpy as np
import pytest

from tb_nnviz import cli
from tb_nnviz.format import metadata
from tb_nnviz.reduce import trajectory
from tests import providers

RATIO = trajectory.STAT_FIELDS.index("update_ratio")
UPDATE = trajectory.STAT_FIELDS.index("update_norm")


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("demo")
    assert cli.main(["demo", "--logdir", str(logdir), "--epochs", "3", "--no-serve"]) == 0
    return logdir


@pytest.fixture(scope="module")
def demo_logs(demo_dir):
    provider = providers.python_provider(demo_dir)
    return {
        plugin: providers.read_all(provider, plugin)
        for plugin in (metadata.HEATMAP_PLUGIN_NAME, metadata.TRAJECTORY_PLUGIN_NAME)
    }, provider


def _column(data, run, name, column):
    series = data[metadata.TRAJECTORY_PLUGIN_NAME][run + "/train"][
        metadata.summary_tag(name, metadata.TRAJECTORY_PLUGIN_NAME)
    ]
    return np.array([d.numpy[column] for d in series[1:]])


def _median(data, run, name, column):
    return float(np.median(_column(data, run, name, column)))


def test_every_run_logs_builtin_scalars_and_nnviz_data(demo_logs):
    data, provider = demo_logs
    scalars = provider.list_scalars(providers.CTX, experiment_id="", plugin_name="scalars")
    for run in ("healthy", "lr_too_high", "lr_too_low", "vanishing", "cnn", "overfit"):
        assert any(t.endswith("epoch_loss") for t in scalars[run + "/train"])
        assert any(t.endswith("epoch_accuracy") for t in scalars[run + "/validation"])
        heat = data[metadata.HEATMAP_PLUGIN_NAME][run + "/train"]
        weights = {t: s for t, s in heat.items() if "/activations/" not in t}
        assert weights and all(series[0].step == 0 for series in weights.values())
        # The probe batch is the first training batch: its activations from the first epoch end on.
        activations = [s for t, s in heat.items() if "/activations/" in t]
        assert activations and all(series[0].step > 0 for series in activations)
    assert "cnn/conv_2/kernel/nnviz_heatmap" in data[metadata.HEATMAP_PLUGIN_NAME]["cnn/train"]


def test_learning_rate_runs_differ_in_update_ratio(demo_logs):
    data, _ = demo_logs
    kernel = "mlp/dense_2/kernel"
    healthy = _column(data, "healthy", kernel, RATIO)
    high = _column(data, "lr_too_high", kernel, RATIO)
    low = _column(data, "lr_too_low", kernel, RATIO)
    assert 1e-3 < np.median(healthy) < 1e-1
    assert high.max() > 10 * healthy.max()  # the first updates are as large as the weights
    assert np.median(high[len(high) // 2 :]) < np.median(healthy) / 10  # then dead ReLUs
    assert np.median(low) < np.median(healthy) / 100


def test_vanishing_run_first_layer_barely_updates(demo_logs):
    data, _ = demo_logs
    first = _median(data, "vanishing", "deep_sigmoid/sigmoid_1/kernel", UPDATE)
    last = _median(data, "vanishing", "deep_sigmoid/output/kernel", UPDATE)
    assert first * 10 < last


def test_report_names_each_broken_runs_problem_and_layer(demo_dir, capsys):
    """`tb-nnviz report` on the demo: healthy and cnn are silent, each broken run gets its finding."""
    import json

    assert cli.main(["report", str(demo_dir), "--json", "--fail-on", "warning"]) == 1
    runs = json.loads(capsys.readouterr().out)["runs"]
    names = ("cnn", "healthy", "lr_too_high", "lr_too_low", "overfit", "vanishing")
    assert sorted(runs) == [r + "/train" for r in names]
    for run in ("healthy/train", "cnn/train"):
        assert [f for f in runs[run] if f["severity"] != "info"] == [], runs[run]

    def first(run, kind):
        return next(f for f in runs[run] if f["kind"] == kind)

    assert first("lr_too_high/train", "lr_too_high")["layer"].startswith("mlp/dense_")
    assert first("lr_too_low/train", "lr_too_low")["severity"] == "warning"
    assert first("vanishing/train", "vanishing_updates")["layer"] == "deep_sigmoid/sigmoid_1"
    # The over-fitting run trains its own 40 epochs whatever --epochs says.
    overfit = first("overfit/train", "overfitting")
    assert overfit["severity"] == "warning" and overfit["step"] < 10
    assert overfit["evidence"]["scalars_run"] == "overfit/train"


def test_unknown_run_is_refused_with_the_choices(capsys, tmp_path):
    assert cli.main(["demo", "--logdir", str(tmp_path), "--runs", "nope", "--no-serve"]) == 2
    assert "nope" in capsys.readouterr().err


def test_serve_starts_tensorboard_with_the_tab(demo_dir):
    """`tb-nnviz serve` (what `tb-nnviz demo` ends with) lists the NNViz tab as enabled."""
    import json
    import os
    import subprocess
    import sys
    import urllib.request

    from tests import tbserver

    port = tbserver.free_port()
    env = dict(os.environ, PYTHONPATH=tbserver.REPO)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tb_nnviz.cli", "serve", "--logdir", str(demo_dir), "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        assert "NNViz: open http://localhost:%d/" % port in proc.stdout.readline()
        url = "http://localhost:%d/data/plugins_listing" % port
        listing = tbserver.wait_for(
            lambda: json.load(urllib.request.urlopen(url)),
            lambda listing: listing.get("nnviz", {}).get("enabled"),
        )
        assert listing["nnviz"]["tab_name"] == "NNViz"
    finally:
        proc.terminate()
        proc.wait(10)
