"""What the tab says about tensors that stop, crawl or race, in real TensorBoard and Chromium.

One run written with ``tb_nnviz.Writer``: ``net/stop/kernel`` moves until step 50 and
then not at all (its updates are exactly 0), ``net/fast/kernel`` moves half its norm
per logged step, 10 steps apart (5e-2 per step, far above the 1e-3 band),
``net/slow/kernel`` 1e-6 of it (far below). The overview must name the three
differently, in three colours; the |dW| chart must draw the zeros at the bottom
of its log axis (not end the line) and export them as 0.
A second run, ``zz_other``, is another model: the weight-space path must not put both
into one PCA.
"""

import csv
import io
import json

import numpy as np
import pytest

import tb_nnviz
from tests import browser, tbserver

STEPS = list(range(0, 120, 10))
RATES = {"net/stop/kernel": 1e-2, "net/fast/kernel": 0.5, "net/slow/kernel": 1e-6}
STOP_AT = 50


def _series(name, rate, seed):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(8, 6)).astype(np.float32)
    out = []
    for step in STEPS:
        out.append(w.copy())
        if name == "net/stop/kernel" and step >= STOP_AT:
            continue  # from here on the weights stay bit-identical: updates of exactly 0
        d = rng.normal(size=w.shape)
        w = (w + rate * np.linalg.norm(w) * d / np.linalg.norm(d)).astype(np.float32)
    return out


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("zeros")
    values = {n: _series(n, r, k) for k, (n, r) in enumerate(RATES.items())}
    with tb_nnviz.Writer(logdir / "run") as w:
        for k, step in enumerate(STEPS):
            w.log_weights(step, {n: values[n][k] for n in RATES})
    # Another model (no tensor in common): its weight-space path must not share run's PCA.
    other = _series("alt/dense/kernel", 1e-2, 7)
    with tb_nnviz.Writer(logdir / "zz_other") as w:
        for k, step in enumerate(STEPS):
            w.log_weights(step, {"alt/dense/kernel": other[k]})
    with tbserver.tensorboard(logdir) as url:
        yield url


@pytest.fixture(scope="module")
def tab(served):
    with browser.open_tab(served, width=1600, height=1000, ready=browser.OVERVIEW) as t:
        yield t


def test_overview_names_stopped_tiny_and_large_apart(tab):
    frame = tab.frame
    cells = {}
    for row in frame.locator('[data-testid="overview-row"]').all():
        td = row.locator("td").nth(4)
        cells[row.get_attribute("data-tag")] = (
            td.get_attribute("data-health"),
            td.inner_text(),
            td.evaluate("e => getComputedStyle(e).color"),
        )
    assert cells["net/stop/kernel"][0] == "stopped" and cells["net/stop/kernel"][1].endswith("stopped")
    assert cells["net/fast/kernel"][0] == "large" and cells["net/fast/kernel"][1].endswith("large")
    assert cells["net/slow/kernel"][0] == "tiny" and cells["net/slow/kernel"][1].endswith("tiny")
    assert len({c[2] for c in cells.values()}) == 3, cells  # three colours


def test_exact_zero_updates_are_points_at_the_bottom_and_zeros_in_csv(tab):
    page, frame = tab.page, tab.frame
    charts = frame.locator('[data-testid="layer-charts"][data-layer="net/stop"]')
    charts.scroll_into_view_if_needed()
    update = charts.locator('[data-testid="chart-update"]')
    frame.wait_for_function("e => Number(e.dataset.zeros) > 0", arg=update.element_handle(), timeout=30000)
    zeros = [s for s in STEPS[1:] if s > STOP_AT]
    assert int(update.get_attribute("data-zeros")) == len(zeros)
    assert update.locator('[data-testid="zero-note"]').is_visible()
    # The zeros are drawn: marker pixels in the run's colour along the plot's bottom edge.
    marked = update.evaluate(
        """e => { const c = e.querySelector('.uplot canvas'), o = e.querySelector('.u-over');
                  const cr = c.getBoundingClientRect(), orr = o.getBoundingClientRect(), k = c.width / cr.width;
                  const y0 = Math.round((orr.bottom - 12 - cr.top) * k), y1 = Math.round((orr.bottom + 1 - cr.top) * k);
                  const x0 = Math.round((orr.left + orr.width / 2 - cr.left) * k);
                  const x1 = Math.round((orr.right - cr.left) * k);
                  const d = c.getContext('2d').getImageData(x0, y0, x1 - x0, y1 - y0).data; let n = 0;
                  for (let i = 0; i < d.length; i += 4)
                    if (Math.abs(d[i] - 31) + Math.abs(d[i+1] - 119) + Math.abs(d[i+2] - 180) < 40) n++;
                  return n; }"""
    )
    assert marked > 20, marked
    # The log axis with its "0" floor spans many decades: its labels are thinned, none collide.
    ticks = json.loads(update.get_attribute("data-yticks"))
    assert ticks[-1][0] == "0" or "0" in [t for t, _ in ticks], ticks
    ys = sorted(y for _, y in ticks)
    assert len(ys) >= 2 and all(b - a >= 11 for a, b in zip(ys, ys[1:])), ticks
    with page.expect_download() as dl:
        update.locator('[data-testid="export-csv"]').click()
    rows = list(csv.reader(io.StringIO(open(dl.value.path(), encoding="utf-8").read())))
    by_step = {int(r[0]): r[1] for r in rows[1:]}
    for s in zeros:
        assert float(by_step[s]) == 0.0, (s, by_step[s])
    assert float(by_step[STEPS[1]]) > 0
    update.screenshot(path=tbserver.REPO + "/test-artifacts/tab-zeros.png")


def test_findings_panel_names_the_stopped_layer_and_links_to_its_charts(tab):
    frame = tab.frame
    panel = frame.locator('[data-testid="findings-panel"]')
    finding = panel.locator('[data-testid="finding"][data-kind="updates_stopped"]')
    finding.first.wait_for(timeout=30000)
    assert finding.first.get_attribute("data-layer") == "net/stop"
    assert finding.first.get_attribute("data-severity") in ("warning", "error")
    text = finding.first.inner_text()
    assert "net/stop" in text and "stopped" in text, text
    assert "run:" in panel.locator('[data-testid="findings-run"]').first.inner_text()
    frame.evaluate("() => window.scrollTo(0, 0)")
    finding.first.locator('[data-testid="finding-link"]').click()
    # The finding is about the layer's updates: the button lands on its update charts.
    charts = frame.locator('[data-testid="layer-charts"][data-layer="net/stop"]')
    frame.wait_for_function("e => e.dataset.loaded === 'true'", arg=charts.element_handle(), timeout=30000)
    frame.wait_for_function("() => !document.querySelector('[data-loading]')", timeout=30000)
    top = charts.evaluate("e => e.getBoundingClientRect().top")
    head = frame.evaluate("() => document.querySelector('.nv-header').getBoundingClientRect().bottom")
    assert head <= top <= head + 24, (top, head)


def test_weight_space_path_keeps_different_models_apart(tab):
    frame = tab.frame
    for box in frame.locator('[data-testid="run-option"]').all():
        if not box.is_checked():
            box.click()
    panel = frame.locator('[data-testid="projection-panel"]')
    frame.wait_for_function(
        "() => document.querySelectorAll('[data-testid=projection-run]').length === 2", timeout=30000
    )
    assert panel.get_attribute("data-axes") == "per-run"
    assert panel.locator('[data-testid="projection-axes-joint"]').is_disabled()
    note = panel.locator('[data-testid="projection-arch-note"]')
    assert note.is_visible() and "different architectures" in note.inner_text()
    assert "run" in note.inner_text() and "zz_other" in note.inner_text()
    runs = {p.get_attribute("data-run") for p in panel.locator('[data-testid="projection-run"]').all()}
    assert runs == {"run", "zz_other"}
