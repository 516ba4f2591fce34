"""The tab at ResNet scale in real TensorBoard and real Chromium.

One run named like Keras' ResNet-50 (320 tensors: 53 convolutions with kernel and
bias, 53 batch norms with four vectors each, the classifier) and two runs named like
torchvision's ResNet-18 (62 tensors), written with the TF-free ``tb_nnviz.Writer`` in
small shapes over a few steps (seconds); ``r18_nan`` gets NaN weights from step 2.
The tests check that the page scales with the model, not its tensor count (DOM
elements and page height bounded at load and after scrolling to the bottom, frame
times while scrolling), that the filter narrows every panel and brings its match on
screen within a second, the loading message before TensorBoard lists the tensors,
and a broken run's structure view. Screenshots land in test-artifacts/scale-*.png.
"""

import json
import os
import time
import urllib.parse

import numpy as np
import pytest

import tb_nnviz
from tests import browser, tbserver
from tests.tabscale import (
    MAX_DOM,
    MAX_HEIGHT,
    MEASURE,
    SHOWN,
    findings_settled,
    nv_hash,
    pct,
    scroll_frames,
    wait_group_on_screen,
)

ARTIFACTS = os.path.join(tbserver.REPO, "test-artifacts")
STEPS = [0, 1, 2, 3]


def resnet50_tensors():
    """Keras ResNet-50's weights in network order: name -> (shape, layout, description)."""
    out = {}

    def conv(name, k, cin, cout):
        out[name + "/kernel"] = ((k, k, cin, cout), "auto", "Conv2D kernel")
        out[name + "/bias"] = ((cout,), "auto", "Conv2D bias")

    def bn(name, c):
        for v in ("gamma", "beta", "moving_mean", "moving_variance"):
            out["%s/%s" % (name, v)] = ((c,), "auto", "BatchNormalization " + v)

    conv("conv1_conv", 7, 3, 8)
    bn("conv1_bn", 8)
    for stage, blocks in ((2, 3), (3, 4), (4, 6), (5, 3)):
        for b in range(1, blocks + 1):
            p = "conv%d_block%d" % (stage, b)
            if b == 1:
                conv(p + "_0_conv", 1, 8, 16)
            conv(p + "_1_conv", 1, 16 if b > 1 else 8, 4)
            bn(p + "_1_bn", 4)
            conv(p + "_2_conv", 3, 4, 4)
            bn(p + "_2_bn", 4)
            if b == 1:
                bn(p + "_0_bn", 16)
            conv(p + "_3_conv", 1, 4, 16)
            bn(p + "_3_bn", 16)
    out["predictions/kernel"] = ((16, 10), "auto", "Dense kernel")
    out["predictions/bias"] = ((10,), "auto", "Dense bias")
    return out


def resnet18_tensors():
    """torchvision ResNet-18's parameters (PyTorch layouts): name -> (shape, layout, description)."""
    out = {"conv1/weight": ((8, 3, 7, 7), "conv_first", "Conv2d(3 -> 8, 7x7) weight")}
    out["bn1/weight"] = ((8,), "auto", "BatchNorm2d(8) weight")
    out["bn1/bias"] = ((8,), "auto", "BatchNorm2d(8) bias")
    for s in range(1, 5):
        for b in range(2):
            p = "layer%d.%d" % (s, b)
            for c in ("conv1", "conv2"):
                out["%s.%s/weight" % (p, c)] = ((8, 8, 3, 3), "conv_first", "Conv2d(8 -> 8, 3x3) weight")
                n = "%s.bn%s" % (p, c[-1])
                out[n + "/weight"] = ((8,), "auto", "BatchNorm2d(8) weight")
                out[n + "/bias"] = ((8,), "auto", "BatchNorm2d(8) bias")
            if s > 1 and b == 0:
                out[p + ".downsample.0/weight"] = ((8, 8, 1, 1), "conv_first", "Conv2d(8 -> 8, 1x1) weight")
                out[p + ".downsample.1/weight"] = ((8,), "auto", "BatchNorm2d(8) weight")
                out[p + ".downsample.1/bias"] = ((8,), "auto", "BatchNorm2d(8) bias")
    out["fc/weight"] = ((10, 8), "transposed", "Linear(8 -> 10) weight")
    out["fc/bias"] = ((10,), "auto", "Linear(8 -> 10) bias")
    return out


RUNS = {"resnet50": resnet50_tensors(), "r18_a": resnet18_tensors(), "r18_nan": resnet18_tensors()}


def write(logdir):
    for run, tensors in RUNS.items():
        rng = np.random.default_rng(len(run))
        w = {n: rng.normal(size=s).astype(np.float32) * 0.5 for n, (s, *_) in tensors.items()}
        with tb_nnviz.Writer(os.path.join(str(logdir), run)) as wr:
            for step in STEPS:
                if run == "r18_nan" and step == 2:
                    w = {n: np.full_like(x, np.nan) if n.startswith("layer") else x for n, x in w.items()}
                wr.log_weights(
                    step, w, heatmaps=step in (0, STEPS[-1]), spectra=False,
                    layouts={n: v[1] for n, v in tensors.items()},
                    unit_axes={n: 0 for n, v in tensors.items() if v[1] in ("transposed", "conv_first")},
                    description={n: v[2] for n, v in tensors.items()},
                )
                w = {n: x * (1 - 1e-3) + 1e-3 * rng.normal(size=x.shape).astype(np.float32) for n, x in w.items()}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("scale")
    t0 = time.monotonic()
    write(logdir)
    print("wrote %d tensors in %.1f s" % (sum(len(t) for t in RUNS.values()), time.monotonic() - t0))
    with tbserver.tensorboard(logdir) as url:
        tbserver.wait_for(lambda: tbserver.route_json(url, "tags"), lambda t: len(t.get("runs", {})) == len(RUNS)
                          and all(len(t["runs"][r]) == len(RUNS[r]) for r in RUNS))
        yield url


def _shot(tab, name):
    os.makedirs(ARTIFACTS, exist_ok=True)
    tab.page.screenshot(path=os.path.join(ARTIFACTS, "scale-%s.png" % name))


def _open_all(browser_, url):
    # The overview and structure view list ResNet-50's tensors.
    tab = browser.open_ready(browser_, url, nv_hash(runs=",".join(RUNS), detail="resnet50"), width=1600, height=1000)
    tab.frame.wait_for_function("() => document.querySelectorAll('[data-testid=block]').length > 10", timeout=30000)
    return tab


def test_page_scales_with_the_model_not_its_tensors(served, browser_):
    tab = _open_all(browser_, served)
    frame = tab.frame
    findings_settled(frame)
    tab.page.wait_for_timeout(1500)
    at_load = frame.evaluate(MEASURE)
    print("at load:", at_load)
    assert at_load["dom"] < MAX_DOM and at_load["height"] < MAX_HEIGHT, at_load
    blocks = frame.locator('[data-testid="block"]')
    names = [b.get_attribute("data-block") for b in blocks.all()]
    assert "conv2_block1" in names and "layer1.0" in names, names
    # Every block says how many layers and tensors it holds; the NaN run's blocks say NaN.
    summary = frame.locator(
        '[data-testid="block"][data-block="conv2_block1"] [data-testid="block-summary"]').inner_text()
    assert "8 layers" in summary and "tensors" in summary, summary
    _shot(tab, "load")
    # Open blocks of each model (one at a time: opening one closes the other) and scroll
    # top to bottom with each open.
    times, at_bottom = [], None
    for name in ("conv2_block1", "conv4_block2", "layer3.0"):
        frame.locator('[data-testid="block"][data-block="%s"] [data-testid="block-head"]' % name).click()
        tab.page.wait_for_timeout(300)
        times += scroll_frames(frame)
        tab.page.wait_for_timeout(1500)
        at_bottom = frame.evaluate(MEASURE)
        print("%s open, after scrolling to the bottom: %s" % (name, at_bottom))
        assert at_bottom["dom"] < MAX_DOM and at_bottom["height"] < MAX_HEIGHT, (name, at_bottom)
        if name == "conv4_block2":
            _shot(tab, "bottom")
    p95, p50, worst = pct(times, 95), pct(times, 50), max(times)
    print("scroll frames: %d, p50 %.1f ms, p95 %.1f ms, max %.1f ms" % (len(times), p50, p95, worst))
    os.makedirs(ARTIFACTS, exist_ok=True)
    with open(os.path.join(ARTIFACTS, "scale-perf.json"), "w") as f:
        json.dump({"load": at_load, "bottom": at_bottom, "scroll_ms": {"p50": p50, "p95": p95, "max": worst,
                   "frames": len(times)}}, f, indent=1)
    # A 2-core machine running TensorBoard beside Chromium (and often other jobs): p95 lands
    # between 33 and 100 ms here, so a loose bound; the figure is printed and kept in scale-perf.json.
    assert p95 < 200, times
    # Scrolling back up draws released sections again, with their cards.
    frame.locator('[data-testid="block"][data-block="conv2_block1"] [data-testid="block-head"]').click()
    frame.locator('[data-testid="group"][data-group="conv2_block1_1_conv"]').scroll_into_view_if_needed()
    first_card = frame.locator('[data-testid="group"][data-group="conv2_block1_1_conv"] [data-testid="card"]').first
    first_card.wait_for(timeout=10000)
    assert not tab.errors, tab.errors
    tab.page.close()


def test_filter_narrows_every_panel_and_shows_the_match(served, browser_):
    tab = _open_all(browser_, served)
    frame = tab.frame
    frame.wait_for_function("() => document.querySelectorAll('[data-testid=structure-layer]').length > 50",
                            timeout=60000)
    t0 = time.monotonic()
    frame.locator('[data-testid="tag-filter"]').fill("conv4_block3_2_conv")
    wait_group_on_screen(frame, "conv4_block3_2_conv")
    took = time.monotonic() - t0
    print("filtered layer on screen after %.2f s" % took)
    assert took < 1.0, took
    shown = frame.evaluate(SHOWN)
    assert shown["groups"] == ["conv4_block3_2_conv"], shown
    assert shown["structure"] == ["conv4_block3_2_conv"], shown
    assert shown["overview"] == ["conv4_block3_2_conv/kernel", "conv4_block3_2_conv/bias"], shown
    assert all(f in ("conv4_block3_2_conv", "") for f in shown["findings"]), shown
    _shot(tab, "filter")
    # A structure row narrows every panel to its layer and lands on it.
    # It lands on the layer's heading, not on a card below it, whether or not the
    # layer's cards were drawn before (the second click: they were).
    frame.locator('[data-testid="tag-filter"]').fill("")
    for _ in range(2):
        frame.locator('[data-testid="structure-layer"][data-layer="conv5_block2_1_conv"]').click()
        wait_group_on_screen(frame, "conv5_block2_1_conv")
    assert frame.locator('[data-testid="tag-filter"]').input_value() == "^conv5_block2_1_conv/"
    assert frame.locator('[data-testid="filter-note"]').is_visible()
    assert frame.evaluate(MEASURE)["dom"] < MAX_DOM
    assert not tab.errors, tab.errors
    tab.page.close()


def test_first_open_says_what_it_waits_for(served, browser_):
    page = browser_.new_page(viewport={"width": 1600, "height": 1000})
    page.add_init_script("window.__NNVIZ_TEST_HOOKS__ = true")

    def slow(route):
        time.sleep(3)
        route.continue_()

    page.route("**/data/plugin/nnviz/tags*", slow)
    page.goto(served + "/#" + nv_hash(runs=",".join(RUNS)))
    frame = browser.plugin_frame(page)
    msg = frame.locator('[data-testid="message"][data-loading="tags"]')
    msg.wait_for(timeout=20000)
    text = msg.inner_text()
    assert "Loading tensors of" in text and "GET tags" in text, text
    page.screenshot(path=os.path.join(ARTIFACTS, "scale-loading.png"))
    # The tab fills in by itself once TensorBoard answers.
    frame.locator(browser.OVERVIEW).first.wait_for(timeout=60000)
    assert not frame.locator('[data-testid="message"]').is_visible()
    page.close()


def test_a_nan_run_reads_as_broken(served, browser_):
    tab = browser.open_ready(browser_, served, nv_hash(runs="r18_nan"), width=1600, height=1000)
    frame = tab.frame
    layer = frame.locator('[data-testid="structure-layer"][data-layer="layer1.0.conv1"]')
    layer.wait_for(timeout=30000)
    frame.wait_for_function("""() => {
        const e = document.querySelector(
            '[data-testid=structure-layer][data-layer="layer1.0.conv1"] [data-testid=structure-ratio]');
        return e && /NaN/.test(e.textContent); }""", timeout=30000)
    text = layer.locator('[data-testid="structure-ratio"]').inner_text()
    assert "NaN from step 2" in text, text
    assert layer.get_attribute("data-health") == "nan"
    chart = frame.locator('[data-testid="chart-flow"]')
    assert "no finite values" not in chart.inner_text()
    row = frame.locator('[data-testid="overview-row"][data-tag="layer1.0.conv1/weight"] [data-testid="overview-ratio"]')
    assert "NaN" in row.inner_text(), row.inner_text()
    # The legend names the red NaN bar.
    legend = frame.locator('[data-testid="structure-legend-nan"]')
    legend.wait_for(timeout=30000)
    assert "NaN" in legend.inner_text()
    frame.locator('[data-testid="structure-panel"]').screenshot(path=os.path.join(ARTIFACTS, "scale-nan-structure.png"))
    # The overview reads the last finite ratio from its route (no trajectory fetch per row).
    assert "NaN from step 2" in row.inner_text() and row.get_attribute("data-health") == "nan", row.inner_text()
    # The open block is kept in the address: a new tab on that address opens it.
    head = frame.locator('[data-testid="block-head"]').nth(1)
    name = head.locator('[data-testid="block-name"]').inner_text()
    head.click()
    tab.page.wait_for_function("n => location.hash.includes('nv_block=' + encodeURIComponent(n))", arg=name,
                               timeout=10000)
    tab.page.close()
    tab = browser.open_ready(browser_, served, nv_hash(runs="r18_nan", block=urllib.parse.quote(name)), width=1600,
                             height=1000)
    block = tab.frame.locator('[data-testid="block"][data-block="%s"]' % name)
    tab.frame.wait_for_function("b => b.hasAttribute('data-open')", arg=block.element_handle(), timeout=30000)
    assert tab.frame.locator('[data-testid="block"][data-open]').count() == 1
    # The heatmap of the latest step (3, all NaN) gives way to the last one with finite values, marked.
    tab.frame.locator('[data-testid="tag-filter"]').fill("^layer1.0.conv1/")
    card = tab.frame.locator('[data-testid="card"][data-tag="layer1.0.conv1/weight"]')
    card.wait_for(timeout=10000)
    tab.frame.wait_for_function("c => c.getAttribute('data-nan-from') === '3' && c.hasAttribute('data-nan-shown')",
                                arg=card.element_handle(), timeout=10000)
    assert card.get_attribute("data-step") == "3"
    mark = card.locator('[data-testid="card-error"]').inner_text()
    assert "NaN" in mark and "from step 3" in mark and "showing step 0" in mark, mark
    assert card.locator('[data-testid="stats"]').inner_text().startswith("step 0"), card.inner_text()
    card.screenshot(path=os.path.join(ARTIFACTS, "scale-nan-heatmap.png"))
    tab.page.close()
