"""The NNViz tab in real TensorBoard and real headless Chromium."""

import json
import os
import urllib.request

import numpy as np
import pytest

import tb_nnviz
from tests import browser, tbserver

ARTIFACTS = os.path.join(tbserver.REPO, "test-artifacts")
KERNEL = np.random.default_rng(7).normal(scale=0.1, size=(64, 64)).astype(np.float32)


def _kernel(step):
    return KERNEL + np.float32(0.01) * step


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("e2e")
    with tb_nnviz.Writer(logdir / "mlp") as w:
        for step in (0, 5, 10):
            w.log_weights(step, {"dense/kernel": _kernel(step), "dense/bias": np.linspace(-1, 1, 64) * (step + 1)})
    with tbserver.tensorboard(logdir) as url:
        tbserver.wait_for(
            lambda: json.load(urllib.request.urlopen(url + "/data/plugin/nnviz/tags")),
            lambda tags: "dense/kernel" in tags.get("runs", {}).get("mlp", {}),
        )
        yield url


@pytest.fixture(scope="module")
def tab(served):
    with browser.open_tab(served) as t:
        yield t


def _card(frame, tag):
    card = frame.locator('[data-testid="card"][data-tag="%s"]' % tag)
    card.wait_for(timeout=30000)
    return card


def _distinct_colours(frame, canvas):
    return canvas.evaluate(
        """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                  const s = new Set(); for (let i = 0; i < d.length; i += 4) s.add(d[i] << 16 | d[i+1] << 8 | d[i+2]);
                  return s.size; }"""
    )


def _hover_cell(canvas, rows, cols, r, c):
    box = canvas.bounding_box()
    canvas.hover(position={"x": (c + 0.5) * box["width"] / cols, "y": (r + 0.5) * box["height"] / rows})


def test_heatmap_is_painted_and_hover_shows_exact_value(tab):
    page, frame, errors = tab.page, tab.frame, tab.errors
    card = _card(frame, "dense/kernel")
    canvas = card.locator('[data-testid="heatmap"]')
    frame.wait_for_function(
        "c => c.width > 0 && c.getContext('2d').getImageData(c.width/2|0, c.height/2|0, 1, 1).data[3] > 0",
        arg=canvas.element_handle(), timeout=30000,
    )
    assert _distinct_colours(frame, canvas) > 50

    step = int(card.get_attribute("data-step"))
    assert step == 10  # the latest step is shown first
    for r, c in [(3, 17), (40, 2), (63, 63)]:
        _hover_cell(canvas, 64, 64, r, c)
        tooltip = frame.locator('[data-testid="tooltip"]')
        tooltip.wait_for(state="visible")
        assert int(frame.locator('[data-testid="tooltip-row"]').inner_text()) == r
        assert int(frame.locator('[data-testid="tooltip-col"]').inner_text()) == c
        shown = float(frame.locator('[data-testid="tooltip-value"]').inner_text())
        assert np.float32(shown) == _kernel(step)[r, c]

    os.makedirs(ARTIFACTS, exist_ok=True)
    page.screenshot(path=os.path.join(ARTIFACTS, "nnviz-tab.png"), full_page=True)
    assert errors == []


def test_plugins_listing_enables_the_tab(served):
    listing = json.load(urllib.request.urlopen(served + "/data/plugins_listing"))
    assert listing["nnviz"]["enabled"] is True
    assert listing["nnviz"]["tab_name"] == "NNViz"
