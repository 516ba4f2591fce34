"""Gradients in the NNViz tab: a PyTorch run watched with ``gradients=True``.

Two runs train the same small MLP on the same data (at two learning rates) with
``tb_nnviz.torch.watch``:
``grad`` records gradients (``grad_norm``, ``grad_ratio`` in every trajectory point),
``plain`` does not (those fields hold NaN). In real TensorBoard and headless Chromium a
user sees, beside each layer's update charts, a gradient-norm and a gradient-ratio
chart when a selected run has gradient data, and none otherwise; and the structure
view's ratio-by-depth chart gains a dashed gradient-ratio line for that run.
Screenshots (light and dark, 1600 px) land in test-artifacts/.
"""

import json
import os

import numpy as np
import pytest
import torch

import tb_nnviz.torch
from tests import browser, tbserver

ARTIFACTS = os.path.join(tbserver.REPO, "test-artifacts")
STEPS = 12  # optimizer steps, a trajectory point every 2
LAYER = "hidden"
TENSORS = ["hidden/weight", "hidden/bias", "out/weight", "out/bias"]


class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = torch.nn.Linear(8, 16)
        self.out = torch.nn.Linear(16, 3)

    def forward(self, x):
        return self.out(torch.relu(self.hidden(x)))


def train(logdir, gradients, lr):
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=(96, 8)), dtype=torch.float32)
    y = torch.tensor(rng.integers(0, 3, 96))
    torch.manual_seed(0)
    model = MLP()
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    with tb_nnviz.torch.watch(model, logdir, opt, heatmap_freq=6, trajectory_freq=2, gradients=gradients, strict=True):
        for i in range(STEPS):
            batch = slice(8 * i, 8 * i + 8)
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            opt.step()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("tab-gradients")
    train(logdir / "grad", True, 0.1)
    train(logdir / "plain", False, 0.02)
    with tbserver.tensorboard(logdir) as url:
        tbserver.wait_for(
            lambda: tbserver.route_json(url, "tags"),
            # watch also lists <layer>/activations heatmaps beside the weights.
            lambda t: all(sorted(n for n in t.get("runs", {}).get(r, {}) if not n.endswith("/activations"))
                          == sorted(TENSORS) for r in ("grad", "plain")),
        )
        yield url


@pytest.fixture(scope="module")
def tab(served):
    with browser.open_tab(served, width=1600, height=1000, ready=browser.OVERVIEW) as t:
        yield t


def _last(values):
    return [v for v in values if v is not None][-1]


def _charts(frame, layer):
    section = frame.locator('[data-testid="layer-charts"][data-layer="%s"]' % layer)
    section.scroll_into_view_if_needed()
    frame.wait_for_function("e => e.dataset.loaded === 'true' && !e.hasAttribute('data-loading')",
                            arg=section.element_handle(), timeout=30000)
    return section


def test_the_route_serves_gradients_only_for_the_watched_run(served):
    grad = tbserver.route_json(served, "trajectory", run="grad", tag="hidden/weight")
    plain = tbserver.route_json(served, "trajectory", run="plain", tag="hidden/weight")
    # Step 0 is logged when watching starts, before any gradient exists.
    assert len(grad["grad_norm"]) == STEPS // 2 + 1 and grad["step"][0] == 0
    assert all(v is not None and v > 0 for v in grad["grad_norm"][1:] + grad["grad_ratio"][1:])
    assert all(v is None for v in plain["grad_norm"] + plain["grad_ratio"])


def test_gradient_charts_beside_the_update_charts_only_with_gradient_data(served, tab):
    frame = tab.frame
    browser.select_runs(frame, ["plain"])
    section = _charts(frame, LAYER)
    frame.wait_for_function("""e => { const c = e.querySelector('[data-testid=chart-ratio]');
        return c.dataset.series === '2' && JSON.parse(c.dataset.seriesLast || '[]').every(s => s.run === 'plain'); }""",
                            arg=section.element_handle(), timeout=30000)
    # A run without gradients: the update charts, no gradient charts.
    assert section.locator('[data-testid="chart-ratio"]').is_visible()
    assert section.locator('[data-testid="chart-grad"]').is_hidden()
    assert section.locator('[data-testid="chart-grad-ratio"]').is_hidden()

    browser.select_runs(frame, ["grad", "plain"])
    section = _charts(frame, LAYER)
    frame.wait_for_function("e => e.querySelector('[data-testid=chart-grad]').dataset.series === '4'",
                            arg=section.element_handle(), timeout=30000)
    grad_chart = section.locator('[data-testid="chart-grad"]')
    ratio_chart = section.locator('[data-testid="chart-grad-ratio"]')
    assert grad_chart.is_visible() and ratio_chart.is_visible()
    # Runs overlaid as in the other charts; the grad run's lines end at the route's values,
    # the plain run's are empty.
    for chart, field in [(grad_chart, "grad_norm"), (ratio_chart, "grad_ratio")]:
        last = {(s["run"], s["tag"]): s["last"] for s in json.loads(chart.get_attribute("data-series-last"))}
        for tag in ("hidden/weight", "hidden/bias"):
            want = _last(tbserver.route_json(served, "trajectory", run="grad", tag=tag)[field])
            assert last["grad", tag] == pytest.approx(want, rel=1e-6), (field, tag)
            assert last["plain", tag] is None
        assert "|g|" in chart.locator('[data-testid="chart-title"]').inner_text()
    # Beside the update charts: the same section, right after the update ratio chart.
    charts = section.locator(".nv-chart-row").first.locator(".nv-chart")
    order = charts.evaluate_all("cs => cs.map(c => c.dataset.testid)")
    assert order == ["chart-norm", "chart-update", "chart-ratio", "chart-grad", "chart-grad-ratio"]
    section.screenshot(path=os.path.join(ARTIFACTS, "tab-gradients-light.png"))
    assert tab.errors == []


def test_structure_view_charts_the_gradient_ratio_by_depth(served, tab):
    frame = tab.frame
    browser.select_runs(frame, ["grad", "plain"])
    panel = frame.locator('[data-testid="structure-panel"]')
    flow = panel.locator('[data-testid="chart-flow"]')
    # Both runs' update ratios, and a gradient-ratio line for the run that logged gradients.
    frame.wait_for_function("e => e.dataset.series === '3'", arg=flow.element_handle(), timeout=30000)
    series = json.loads(flow.get_attribute("data-series-last"))
    assert sorted((s["run"], s["stat"]) for s in series) == [
        ("grad", "grad_ratio"), ("grad", "update_ratio"), ("plain", "update_ratio")
    ]
    rows = {r["name"]: r for r in tbserver.route_json(served, "overview", run="grad")}
    grad_line = [s for s in series if s["stat"] == "grad_ratio"][0]
    assert grad_line["last"] == pytest.approx(rows["out/weight"]["grad_ratio"])  # the deepest layer's kernel
    assert "|g| / |W| (dashed)" in flow.locator('[data-testid="chart-title"]').inner_text()
    panel.scroll_into_view_if_needed()
    panel.screenshot(path=os.path.join(ARTIFACTS, "tab-gradients-structure-light.png"))
    # One run without gradients: no gradient line, the plain title.
    browser.select_runs(frame, ["plain"])
    frame.wait_for_function("e => e.dataset.series === '1'", arg=flow.element_handle(), timeout=30000)
    assert "|g|" not in flow.locator('[data-testid="chart-title"]').inner_text()


def test_gradient_charts_in_dark_mode(served, tab):
    page, frame = tab.page, tab.frame
    browser.select_runs(frame, ["grad", "plain"])
    browser.theme_menu(page, "Dark")
    browser.wait_theme(frame, "dark")
    section = _charts(frame, LAYER)
    assert section.locator('[data-testid="chart-grad-ratio"]').is_visible()
    section.screenshot(path=os.path.join(ARTIFACTS, "tab-gradients-dark.png"))
    panel = frame.locator('[data-testid="structure-panel"]')
    panel.scroll_into_view_if_needed()
    panel.screenshot(path=os.path.join(ARTIFACTS, "tab-gradients-structure-dark.png"))
    browser.theme_menu(page, "Light")
    browser.wait_theme(frame, "light")
    assert tab.errors == []
