"""Spectral charts (issue 14) in real TensorBoard and Chromium.

Two runs written with ``tb_nnviz.Writer``: ``dense/kernel`` (a 96 x 48 matrix that
grows a heavy tail of a few large singular values over the steps) with ``dense/bias``
(no spectrum), and in run ``a`` a tensor ``tall/kernel`` longer than 50,000 rows whose
spectrum is skipped. The layer section must draw alpha (with the [2, 6] band) and the
stable rank over steps, one series per run with the route's values; a log-log plot of
one step's eigenvalue density with the fitted tail; the skipped tensor's reason as text;
nothing for the bias; and alpha in the structure view.
"""

import json
import urllib.request

import numpy as np
import pytest

import tb_nnviz
from tests import browser, tbserver

STEPS = [0, 10, 20, 30]


def _kernel(seed, step):
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 0.1, (96, 48))
    u, s, vt = np.linalg.svd(w, full_matrices=False)
    s = s * (1 + (step / 10.0) * np.linspace(0, 1, s.size) ** 8 * (3 + seed))  # a growing tail
    return ((u * s) @ vt).astype(np.float32)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("spectral_tab")
    for seed, run in enumerate(["a", "b"]):
        with tb_nnviz.Writer(logdir / run) as w:
            for step in STEPS:
                weights = {"dense/kernel": _kernel(seed, step), "dense/bias": np.full(48, 0.01 * step, np.float32)}
                w.log_weights(step, weights)
                if run == "a" and step == 0:
                    tall = np.random.default_rng(5).normal(size=(50001, 2)).astype(np.float32)
                    w.log_weights(step, {"tall/kernel": tall}, heatmaps=False, spectra=True)
                if run == "a":  # heatmaps and a spectrum, no trajectories
                    w.log_weights(step, {"only/kernel": _kernel(3, step)}, trajectories=False)
    with tbserver.tensorboard(logdir) as url:
        yield url


def route(url, **params):
    q = "&".join("%s=%s" % kv for kv in params.items())
    with urllib.request.urlopen(url + "/data/plugin/nnviz/spectral?" + q) as r:
        return json.load(r)


@pytest.fixture(scope="module")
def tab(served):
    with browser.open_tab(served, width=1600, height=1100) as t:
        t.frame.locator('[data-testid="run-select"]').wait_for(timeout=60000)
        for box in t.frame.locator('[data-testid="run-option"]').all():
            if not box.is_checked():
                box.check()
        yield t


def test_alpha_and_stable_rank_over_steps_per_run(tab, served):
    frame = tab.frame
    charts = frame.locator('[data-testid="spectral-charts"][data-layer="dense"]')
    charts.scroll_into_view_if_needed()
    alpha = charts.locator('[data-testid="chart-alpha"]')
    frame.wait_for_function("e => e.dataset.seriesLast && JSON.parse(e.dataset.seriesLast).length === 2",
                            arg=alpha.element_handle(), timeout=30000)
    for testid, field in (("chart-alpha", "alpha"), ("chart-stable-rank", "stable_rank")):
        chart = charts.locator('[data-testid="%s"]' % testid)
        assert int(chart.get_attribute("data-points")) == len(STEPS)
        last = {s["run"]: s for s in json.loads(chart.get_attribute("data-series-last"))}
        assert set(last) == {"a", "b"}
        for run in ("a", "b"):
            want = [v for v in route(served, run=run, tag="dense/kernel")[field] if v is not None][-1]
            assert last[run]["tag"] == "dense/kernel"
            assert last[run]["last"] == pytest.approx(want), (testid, run)
    # Only the kernel has a spectrum: one series per run, none for the bias.
    assert "bias" not in alpha.get_attribute("data-series-last")
    # The [2, 6] band is drawn: a neutral translucent shade (green is a run colour).
    band_px = alpha.evaluate(
        """e => { const c = e.querySelector('.uplot canvas');
                  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                  let n = 0;
                  for (let i = 0; i < d.length; i += 4)
                    if (d[i] + d[i+1] + d[i+2] < 30 && d[i+3] > 8 && d[i+3] < 25) n++;
                  return n; }"""
    )
    assert band_px > 500, band_px
    csv_text = alpha.evaluate("e => e.querySelector('.nv-chart-title').textContent")
    assert "alpha" in csv_text


def test_spectrum_plot_shows_the_step_and_its_fitted_tail(tab, served):
    frame = tab.frame
    plot = frame.locator('[data-testid="spectrum-plot"][data-layer="dense"]')
    plot.scroll_into_view_if_needed()
    frame.wait_for_function("e => e.dataset.loaded === 'true'", arg=plot.element_handle(), timeout=30000)
    run, tag = plot.get_attribute("data-run"), plot.get_attribute("data-tag")
    assert tag == "dense/kernel" and run == "a"
    assert int(plot.get_attribute("data-step")) == STEPS[-1]
    want = route(served, run=run, tag=tag, step=STEPS[-1])["spectrum"]
    assert float(plot.get_attribute("data-alpha")) == pytest.approx(want["alpha"])
    assert int(plot.get_attribute("data-eigenvalues")) == len(want["eigenvalues"]) == 48
    assert int(plot.get_attribute("data-fit-points")) >= 2
    assert float(plot.get_attribute("data-xmin")) == pytest.approx(want["xmin"])
    caption = plot.locator('[data-testid="spectrum-caption"]').inner_text()
    assert "alpha" in caption and str(want["num_tail"]) in caption, caption
    plot.locator('[data-testid="spectrum-step"]').select_option("10")
    frame.wait_for_function(
        "e => e.dataset.step === '10' && !e.dataset.loading", arg=plot.element_handle(), timeout=30000
    )
    want10 = route(served, run=run, tag=tag, step=10)["spectrum"]
    assert float(plot.get_attribute("data-alpha")) == pytest.approx(want10["alpha"])
    # The other run's spectrum.
    other = json.dumps(["b", "dense/kernel"], separators=(",", ":"))
    plot.locator('[data-testid="spectrum-tensor"]').select_option(other)
    frame.wait_for_function(
        "e => e.dataset.run === 'b' && !e.dataset.loading", arg=plot.element_handle(), timeout=30000
    )
    assert float(plot.get_attribute("data-alpha")) == pytest.approx(
        route(served, run="b", tag=tag, step=int(plot.get_attribute("data-step")))["spectrum"]["alpha"])
    frame.locator('[data-testid="spectral-charts"][data-layer="dense"]').screenshot(
        path=tbserver.REPO + "/test-artifacts/tab-spectral.png")


def test_skipped_spectrum_shows_its_reason_and_biases_show_nothing(tab, served):
    frame = tab.frame
    frame.locator('[data-testid="layer-charts"][data-layer="tall"]').scroll_into_view_if_needed()
    tall = frame.locator('[data-testid="spectral-charts"][data-layer="tall"]')
    frame.wait_for_function("e => e.dataset.loaded === 'true'", arg=tall.element_handle(), timeout=30000)
    reason = route(served, run="a", tag="tall/kernel")["skipped"]
    assert reason
    note = tall.locator('[data-testid="spectral-note"]')
    assert note.is_visible()
    assert reason in note.inner_text() and "tall/kernel" in note.inner_text()
    assert tall.locator('[data-testid="chart-alpha"]').is_hidden()
    assert not [e for e in tab.errors if "spectral" in e], tab.errors


def test_structure_view_shows_each_layers_alpha(tab, served):
    frame = tab.frame
    panel = frame.locator('[data-testid="structure-panel"]')
    panel.scroll_into_view_if_needed()
    dense = panel.locator('[data-testid="structure-layer"][data-layer="dense"]')
    dense.wait_for(timeout=30000)
    frame.wait_for_function("e => e.dataset.alpha !== undefined", arg=dense.element_handle(), timeout=30000)
    run = frame.locator('[data-testid="structure-layers"]').get_attribute("data-run")
    want = route(served, run=run)["tensors"]["dense/kernel"]["alpha"]
    assert float(dense.get_attribute("data-alpha")) == pytest.approx(want)
    text = dense.locator('[data-testid="structure-alpha"]').inner_text()
    assert text.startswith("alpha ") and ("%.3g" % want)[:3] in text, (text, want)
    # A layer without a fitted spectrum (the skipped one) shows no alpha.
    tall = panel.locator('[data-testid="structure-layer"][data-layer="tall"]')
    if tall.count():
        assert tall.get_attribute("data-alpha") is None
        assert tall.locator('[data-testid="structure-alpha"]').count() == 0
    dense.screenshot(path=tbserver.REPO + "/test-artifacts/tab-structure-alpha.png")


def test_a_tensor_without_trajectories_gets_its_spectral_charts(tab, served):
    frame = tab.frame
    section = frame.locator('[data-testid="layer-charts"][data-layer="only"]')
    section.scroll_into_view_if_needed()
    charts = frame.locator('[data-testid="spectral-charts"][data-layer="only"]')
    frame.wait_for_function("e => e.dataset.loaded === 'true'", arg=charts.element_handle(), timeout=30000)
    alpha = charts.locator('[data-testid="chart-alpha"]')
    assert int(alpha.get_attribute("data-points")) == len(STEPS)
    last = json.loads(alpha.get_attribute("data-series-last"))
    want = [v for v in route(served, run="a", tag="only/kernel")["alpha"] if v is not None][-1]
    assert [(s["run"], s["tag"]) for s in last] == [("a", "only/kernel")]
    assert last[0]["last"] == pytest.approx(want)
