"""Spectral metrics against WeightWatcher 0.7.7 itself, and the spectrum's paths held equal.

The agreement test trains a digits MLP 64-256-256-10 and a small CNN with
``model.fit`` and ``NNVizCallback``, reads the final step back through
TensorBoard's data provider and the ``spectral`` route, runs WeightWatcher's
``analyze()`` (its defaults) on the same final weights, and compares every
layer WeightWatcher analyses.
"""

import json
import os

import numpy as np
import pytest
import weightwatcher as ww
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tb_nnviz
from tb_nnviz.diagnose import spectral
from tb_nnviz.format import metadata
from tb_nnviz.reduce import spectrum
from tb_nnviz.serve import report
from tests.helpers import PREFIX, make_client
from tests.providers import CTX, python_provider


def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.data / 16.0).astype(np.float32), d.target.astype(np.int32)


def train(model, logdir, x, y, epochs):
    import keras

    from tb_nnviz.keras import NNVizCallback

    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy")
    # Every epoch end (and the initial weights), so the latest spectra are the
    # final weights' that WeightWatcher analyses.
    cb = NNVizCallback(logdir, strict=True, spectral_freq="epoch")
    model.fit(x, y, batch_size=32, epochs=epochs, verbose=0, callbacks=[cb])
    cb.close()
    return os.path.join(logdir, "train")


def analyze(model):
    watcher = ww.WeightWatcher(model=model)
    details = watcher.analyze()
    return {row["name"]: row for _, row in details.iterrows()}


def compare(model, run_dir):
    """``{layer: (ours, WeightWatcher's)}`` metrics of every layer WeightWatcher analyses."""
    client = make_client(os.path.dirname(run_dir))
    run = os.path.basename(run_dir)
    latest = json.loads(client.get(PREFIX + "/spectral", query_string={"run": run}).get_data(as_text=True))
    theirs = analyze(model)
    assert theirs, "WeightWatcher analysed no layer"
    pairs = {}
    for name, row in theirs.items():
        tags = [t for t in latest["tensors"] if t.split("/")[-2] == name and t.endswith("/kernel")]
        assert len(tags) == 1, (name, list(latest["tensors"]))
        pairs[name] = (latest["tensors"][tags[0]], row)
    return pairs


def check_agreement(pairs):
    for name, (ours, theirs) in pairs.items():
        print(name, {k: (ours[k], theirs[m]) for k, m in [("alpha", "alpha"), ("stable_rank", "stable_rank"),
              ("spectral_norm", "spectral_norm"), ("num_tail", "num_pl_spikes"), ("num_evals", "num_evals")]})
        assert ours["num_evals"] == theirs["num_evals"], name
        assert abs(ours["alpha"] - theirs["alpha"]) <= 0.05, (name, ours["alpha"], theirs["alpha"])
        assert ours["stable_rank"] == pytest.approx(theirs["stable_rank"], rel=0.01), name
        assert ours["spectral_norm"] == pytest.approx(theirs["spectral_norm"], rel=0.01), name
        assert ours["num_tail"] == theirs["num_pl_spikes"], name
        assert ours["log_norm"] == pytest.approx(theirs["log_norm"], abs=0.01), name
        assert ours["alpha_weighted"] == pytest.approx(theirs["alpha_weighted"], abs=0.05), name


def test_mlp_agrees_with_weightwatcher(tmp_path):
    import keras

    x, y = digits()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(256, activation="relu", name="hidden_1"),
        keras.layers.Dense(256, activation="relu", name="hidden_2"),
        keras.layers.Dense(10, activation="softmax", name="output"),
    ], name="mlp")
    run_dir = train(model, str(tmp_path), x, y, epochs=4)
    pairs = compare(model, run_dir)
    assert sorted(pairs) == ["hidden_1", "hidden_2", "output"]
    check_agreement(pairs)
    # Every logged epoch is there, and the last step is the final weights.
    provider = python_provider(str(tmp_path))
    steps = [d.step for d in provider.read_tensors(
        CTX, experiment_id="", plugin_name=metadata.SPECTRUM_PLUGIN_NAME, downsample=1000,
    )["train"]["mlp/hidden_2/kernel/nnviz_spectrum"]]
    assert steps == [0, 57, 114, 171, 228]


def _spectral_steps(logdir, tag):
    provider = python_provider(str(logdir))
    data = provider.read_tensors(CTX, experiment_id="", plugin_name=metadata.SPECTRUM_PLUGIN_NAME,
                                 downsample=1000)
    return [d.step for d in data.get("train", {}).get(tag, [])]


@pytest.mark.parametrize("budget, expected", [
    (1e9, [16, 32, 48]),  # any cost fits: every epoch end
    (0.0, [16]),  # nothing fits: only the first epoch end, whose cost was unknown
])
def test_auto_spectra_follow_the_time_budget(tmp_path, monkeypatch, budget, expected):
    import keras

    from tb_nnviz.keras import NNVizCallback
    from tb_nnviz.log import plan

    monkeypatch.setattr(plan, "SPECTRAL_BUDGET", budget)
    x, y = digits()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(16, name="hidden"),
                              keras.layers.Dense(10, name="output")], name="mlp")
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    cb = NNVizCallback(str(tmp_path), strict=True)  # spectral_freq="auto", the default
    model.fit(x[:512], y[:512], batch_size=32, epochs=3, verbose=0, callbacks=[cb])
    cb.close()
    # Never the initial weights (a random matrix's spectrum); heatmaps are unaffected.
    assert _spectral_steps(tmp_path, "mlp/hidden/kernel/nnviz_spectrum") == expected
    provider = python_provider(str(tmp_path))
    heat = provider.read_tensors(CTX, experiment_id="", plugin_name=metadata.HEATMAP_PLUGIN_NAME, downsample=1000)
    # The default heatmap cadence ("auto": 8 steps over the 48 batches, epoch ends past the first).
    assert [d.step for d in heat["train"]["mlp/hidden/kernel/nnviz_heatmap"]] == [0, 1, 2, 3, 5, 9, 16, 32, 48]


def test_cnn_agrees_with_weightwatcher(tmp_path):
    import keras

    x, y = digits()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(16, 3, activation="relu", name="conv_1"),
        keras.layers.Conv2D(32, 3, activation="relu", name="conv_2"),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax", name="output"),
    ], name="cnn")
    run_dir = train(model, str(tmp_path), x.reshape(-1, 8, 8, 1), y, epochs=2)
    pairs = compare(model, run_dir)
    assert sorted(pairs) == ["conv_1", "conv_2", "output"]
    check_agreement(pairs)
    # The findings route and the report see the same run.
    by_run = report.load(str(tmp_path))
    client = make_client(str(tmp_path))
    route = json.loads(client.get(PREFIX + "/findings", query_string={"run": "train"}).get_data(as_text=True))
    assert by_run["train"] == route["findings"] and by_run["train"].notes == route["notes"]


# -- the reference held to WeightWatcher -----------------------------------------

def test_reference_matches_weightwatcher_slices():
    """WeightWatcher's own Conv2D slicing and SVD give our eigenvalues (halved by its conv2d_norm)."""
    from weightwatcher.constants import CHANNELS
    from weightwatcher.weightwatcher import WWLayer

    rng = np.random.default_rng(3)
    for shape in [(3, 3, 16, 32), (3, 3, 32, 16), (1, 1, 64, 8), (5, 5, 3, 1)]:
        w = rng.normal(size=shape).astype(np.float32)
        content = spectrum.spectrum_content("c", shape, "float32")
        layer = WWLayer.__new__(WWLayer)
        mats, _, _, _ = WWLayer.conv2D_Wmats(layer, w, channels=CHANNELS.FIRST)  # as for Keras layers
        theirs = np.sort(np.concatenate([np.linalg.svd(m.astype(float), compute_uv=False) ** 2 for m in mats]))
        np.testing.assert_allclose(spectral.esd(spectrum.eigenvalues(w, content), content), theirs / 2, rtol=1e-5)


def test_writer_logs_spectra_with_heatmaps_and_skips_large(tmp_path):
    rng = np.random.default_rng(0)
    with tb_nnviz.Writer(str(tmp_path / "run")) as w:
        for step in (0, 1):
            w.log_weights(step, {"a/kernel": rng.normal(size=(20, 9)), "a/bias": np.zeros(9),
                                 "wide/kernel": np.zeros((2, spectrum.MAX_SIDE + 1), np.float32)})
        w.log_weights(2, {"a/kernel": rng.normal(size=(20, 9))}, heatmaps=False)
        w.log_weights(3, {"a/kernel": rng.normal(size=(20, 9))}, heatmaps=False, spectra=True)
    client = make_client(str(tmp_path))
    response = client.get(PREFIX + "/spectral", query_string={"run": "run", "tag": "a/kernel", "step": "3"})
    body = json.loads(response.get_data(as_text=True))
    assert body["step"] == [0, 1, 3]
    assert all(len(body[k]) == 3 for k in spectral.METRICS)
    assert body["spectrum"]["step"] == 3 and len(body["spectrum"]["eigenvalues"]) == 9
    assert body["spectrum"]["eigenvalues"] == sorted(body["spectrum"]["eigenvalues"], reverse=True)
    latest = json.loads(client.get(PREFIX + "/spectral", query_string={"run": "run"}).get_data(as_text=True))
    assert sorted(latest["tensors"]) == ["a/kernel", "wide/kernel"]
    assert "WeightWatcher skips" in latest["tensors"]["wide/kernel"]["skipped"]
    assert latest["tensors"]["wide/kernel"]["alpha"] is None
    for query, status in [({"run": "run", "tag": "a/bias"}, 404), ({"run": "run", "tag": "a/kernel", "step": "2"}, 404),
                          ({"run": "run", "tag": "a/kernel", "step": "-1"}, 400), ({"run": "nope"}, 404), ({}, 400)]:
        assert client.get(PREFIX + "/spectral", query_string=query).status_code == status, query


def test_docs_name_the_alpha_severities_the_rules_give():
    """docs/findings.md's heading of each alpha kind names the severity it has, and
    the one it takes beside lr_too_high (as the Findings panel and the README show it)."""
    with open(os.path.join(os.path.dirname(__file__), os.pardir, "docs", "findings.md")) as f:
        heading = next(line for line in f if line.startswith("### `alpha_low`"))
    steps = np.array([0, 10, 20, 30])
    low = spectral.AlphaSeries("m/d/kernel", 0, steps, [1.5, 1.8, 1.9, 1.7], [256] * 4, [30] * 4)
    high = low._replace(alpha=[9.0, 8.0, 7.0, 7.5])
    said = {}
    for series, blown in ((low, False), (low, True), (high, False), (high, True)):
        (finding,) = spectral.alpha_findings([series], blown=blown)
        said.setdefault(finding["kind"], []).append(finding["severity"])
    assert said == {"alpha_low": ["info", "info"], "alpha_high": ["info", "info"]}
    assert "`alpha_low` (info)" in heading
    assert "`alpha_high` (info)" in heading


def test_alpha_findings_rules():
    steps = np.array([0, 10, 20, 30])

    def series(alpha, evals=256, name="m/d/kernel"):
        return spectral.AlphaSeries(name, 0, steps, alpha, [evals] * 4, [30] * 4)

    assert spectral.alpha_findings([series([4.0, 3.0, 3.5, 2.5])]) == []
    high = spectral.alpha_findings([series([9.0, 5.0, 6.5, 7.0])])
    assert [(f["kind"], f["severity"], f["step"]) for f in high] == [("alpha_high", "info", 20)]
    low = spectral.alpha_findings([series([1.5, 1.8, 1.9, 1.7])])
    assert [(f["kind"], f["severity"], f["step"]) for f in low] == [("alpha_low", "info", 0)]
    assert "1.70" in low[0]["message"] and low[0]["layer"] == "m/d"
    # Too small for a meaningful fit, or no fit at the end: never reported.
    assert spectral.alpha_findings([series([1.5] * 4, evals=spectral.MIN_FINDING_EVALS - 1)]) == []
    assert spectral.alpha_findings([series([None] * 4)]) == []
    merged = spectral.with_alpha_findings([{"severity": "error", "step": 50}, {"severity": "info", "step": 0}],
                                          [series([1.5] * 4)])
    # alpha findings never warn (docs/findings.md): alpha_low stays info beside an error.
    assert [(f["severity"], f["step"]) for f in merged] == [("error", 50), ("info", 0), ("info", 0)]


@settings(max_examples=100, deadline=None)
@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=2, max_dims=2, max_side=24),
                  elements=st.floats(width=32, allow_nan=True, allow_infinity=True)),
       st.sampled_from([[3, 3, 2, 4], [40, 40], [7]]))
def test_metrics_of_any_logged_array_are_strict_json(values, shape):
    """Damaged or hostile logs (negative, NaN, Inf, huge, tiny eigenvalues) never raise and give strict JSON."""
    row = spectral.metrics(values, {"treatment": "conv" if len(shape) == 4 else "matrix", "shape": shape})
    json.dumps(row, allow_nan=False)
    assert set(row) == set(spectral.METRICS) | {"num_evals"}
    if row["alpha"] is not None:
        assert row["num_tail"] >= 1 and row["xmin"] > spectral.EVALS_THRESH


def test_alpha_low_reaches_the_findings_route_and_the_report(tmp_path):
    """A heavy-tailed kernel (Cauchy entries: alpha 1.4) is reported; a Gaussian one and a small one are not."""
    rng = np.random.default_rng(0)
    # Scaled like a LeCun start (1/sqrt(fan_in)): not a poor initialisation (scale leaves alpha alone).
    base = {"heavy/kernel": rng.standard_t(1.0, size=(200, 100)) / np.sqrt(200),
            "gauss/kernel": rng.normal(size=(200, 100)) / np.sqrt(200),
            "small/kernel": rng.standard_t(1.0, size=(20, 10)) / np.sqrt(20)}
    with tb_nnviz.Writer(str(tmp_path / "run")) as w:
        for step in range(0, 40, 10):  # small steps: no lr_too_high to explain the low alpha
            w.log_weights(step, {n: x + 1e-4 * step * rng.normal(size=x.shape) for n, x in base.items()})
    client = make_client(str(tmp_path))
    route = json.loads(client.get(PREFIX + "/findings", query_string={"run": "run"}).get_data(as_text=True))["findings"]
    alpha = [f for f in route if f["kind"].startswith("alpha_")]
    assert [(f["kind"], f["severity"], f["layer"], f["step"]) for f in alpha] == [("alpha_low", "info", "heavy", 0)]
    assert alpha[0]["evidence"]["alpha"] < 2 and alpha[0]["evidence"]["num_evals"] == 100
    assert report.load(str(tmp_path))["run"] == route


def test_alpha_low_after_a_too_high_learning_rate_points_at_it(tmp_path):
    """Weights replaced by heavy-tailed ones at every step: lr_too_high, and the low alpha is its consequence."""
    rng = np.random.default_rng(0)
    with tb_nnviz.Writer(str(tmp_path / "run")) as w:
        for step in range(0, 40, 10):
            w.log_weights(step, {"heavy/kernel": rng.standard_t(1.0, size=(200, 100))})
    route = json.loads(make_client(str(tmp_path)).get(PREFIX + "/findings", query_string={"run": "run"})
                       .get_data(as_text=True))["findings"]
    kinds = {f["kind"]: f for f in route}
    # alpha_low is lr_too_high's consequence, nested under it (compose.nest).
    low = {c["kind"]: c for c in kinds["lr_too_high"].get("consequences", [])}["alpha_low"]
    assert low["severity"] == "info" and low["caused_by"] == "lr_too_high"
    assert "lr_too_high" in low["message"]


def test_fit_equals_weightwatchers_wwfit():
    """``spectral.fit_power_law`` picks WWFit's xmin and alpha, small-sample fit and ties included."""
    from weightwatcher.WW_powerlaw import WWFit

    rng = np.random.default_rng(0)
    for trial in range(40):
        n = int(rng.choice([2, 3, 8, 9, 12, 19, 20, 25, 64, 256]))
        x = [rng.pareto(rng.uniform(1, 5), n) + 1, rng.exponential(size=n),
             np.r_[np.ones(n // 2), rng.exponential(size=n - n // 2)],  # ties
             np.linalg.svd(rng.standard_t(3, size=(2 * n, n)), compute_uv=False) ** 2][trial % 4]
        x = np.sort(x)
        theirs = WWFit(x[x > spectral.EVALS_THRESH])
        alpha, xmin, d = spectral.fit_power_law(x)
        assert (alpha, xmin, d) == pytest.approx((theirs.alpha, theirs.xmin, theirs.D), rel=1e-12), (trial, n)


def test_runs_without_spectra_list_no_tensors_and_unknown_runs_are_404(tmp_path):
    """The tab asks every selected run for its spectra: one a writer logged none for answers empty, not 404."""
    with tb_nnviz.Writer(str(tmp_path / "plain")) as w:
        w.log_weights(0, {"dense/kernel": np.ones((8, 4))}, spectra=False)
    client = make_client(str(tmp_path))
    got = client.get(PREFIX + "/spectral", query_string={"run": "plain"})
    assert got.status_code == 200 and json.loads(got.get_data(as_text=True))["tensors"] == {}
    assert client.get(PREFIX + "/spectral", query_string={"run": "nope"}).status_code == 404
