"""A long run's |dW|/|W| chart in real TensorBoard and Chromium: 1,000 logged steps are
drawn as one point per pixel-wide interval holding its maximum, and a one-step spike
stays on the chart (the y axis reaches it); the CSV keeps every point."""

import csv
import io
import json

import numpy as np
import pytest

import tb_nnviz
from tests import browser, tbserver

STEPS = 1000
SPIKE = 600


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("peaks")
    rng = np.random.default_rng(0)
    w = {"dense/kernel": rng.normal(size=(16, 8)).astype(np.float32)}
    with tb_nnviz.Writer(str(logdir / "long")) as writer:
        for step in range(STEPS):
            scale = 3.0 if step == SPIKE else 1.0  # one step moves the weights by 2/3 of their new norm
            w = {n: x * scale + 1e-4 * rng.normal(size=x.shape).astype(np.float32) for n, x in w.items()}
            writer.log_weights(step, w, heatmaps=step in (0, STEPS - 1), spectra=False)
    with tbserver.tensorboard(logdir) as url:
        tbserver.wait_for(lambda: tbserver.route_json(url, "tags"),
                          lambda t: t.get("runs", {}).get("long", {}).get("dense/kernel", {}).get(
                              "trajectory_steps") == STEPS)
        yield url


def test_long_ratio_chart_keeps_the_spike(served, browser_):
    tab = browser.open_ready(browser_, served, width=1400, height=1000)
    chart = tab.frame.locator('[data-testid="chart-ratio"][data-layer="dense"]')
    chart.scroll_into_view_if_needed()
    tab.frame.wait_for_function("c => c.getAttribute('data-points') === '%d' && c.hasAttribute('data-yticks')"
                                % STEPS, arg=chart.element_handle(), timeout=30000)
    drawn = int(chart.get_attribute("data-drawn"))
    assert 100 < drawn <= 600, drawn
    labels = [t for t, _ in json.loads(chart.get_attribute("data-yticks"))]
    top = max(float(t) for t in labels if t not in ("", "0"))
    assert top >= 0.5, labels  # the spike's 2/3 per step, not the ~1e-4 of the other steps
    with tab.page.expect_download() as dl:
        chart.locator('[data-testid="export-csv"]').click()
    rows = list(csv.reader(io.StringIO(open(dl.value.path(), encoding="utf-8").read())))
    assert len(rows) == STEPS + 1
    assert float(rows[SPIKE + 1][1]) > 0.5, rows[SPIKE + 1]
    tab.page.close()
