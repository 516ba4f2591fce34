"""A real torchvision ResNet-18 run logged with ``watch`` in real TensorBoard and real Chromium.

``resnet18(num_classes=10)`` trains for a few SGD steps on random 32x32 images
under ``tb_nnviz.torch.watch`` at its defaults (heatmaps at the half decades 0, 1,
3, 10, 30; trajectory points every 20 steps; spectra by default), with the loss
written as a ``loss`` scalar; a second run of the same model at learning rate 100
diverges to NaN within ten steps. The tests check the page-size targets of the
tab at ResNet scale (DOM elements and page height at load and after scrolling to
the bottom), the filter (a layer name narrows every panel and brings the layer on
screen within a second), readable conv heatmaps (the 7x7 stem and a pooled 3x3
conv drawn by whole kernel tiles, the classifier's 10 outputs kept) and the
diverged run's views. Screenshots land in test-artifacts/resnet18-*.png.
"""

import os
import re
import time

import numpy as np
import pytest
import torch
import torchvision
from torch.utils.tensorboard import SummaryWriter

import tb_nnviz.torch
from tb_nnviz.format import metadata
from tests import browser, tbserver
from tests import tabscale as scale
from tests.providers import CTX, python_provider

ARTIFACTS = os.path.join(tbserver.REPO, "test-artifacts")
RUN, NAN_RUN = "resnet18", "resnet18_lr100"
#: run: (optimizer steps, learning rate)
TRAINING = {RUN: (30, 0.01), NAN_RUN: (20, 100.0)}
FILTER = "layer3.0.conv2"  # as PyTorch names the module; the tab's tags say layer3/0/conv2
STEM, CONV3, FC = "conv1/weight", "layer3/0/conv2/weight", "fc/weight"


def train(logdir, steps, lr):
    """Trains ResNet-18 on random images under ``watch``; returns the model, the logged
    steps and the first optimizer step after which a parameter is not finite (or None)."""
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=10)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(64, 3, 32, 32, generator=gen), torch.randint(0, 10, (64,), generator=gen)
    nan_step = None
    with SummaryWriter(logdir) as scalars, tb_nnviz.torch.watch(model, logdir, opt) as w:
        for i in range(steps):
            batch = slice(8 * (i % 8), 8 * (i % 8) + 8)
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x[batch]), y[batch])
            loss.backward()
            opt.step()
            scalars.add_scalar("loss", loss.item(), i + 1)
            if nan_step is None and not all(torch.isfinite(p).all() for p in model.parameters()):
                nan_step = i + 1
    return model, w.logged_steps, nan_step


def weights(tags):
    """The weight tensors of a run's tags: ``watch`` also lists ``<layer>/activations`` heatmaps."""
    return {t: v for t, v in tags.items() if not t.endswith("/activations")}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("resnet18")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # two cores, shared with TensorBoard and Chromium later
    try:
        t0 = time.monotonic()
        runs = {run: train(str(logdir / run), *args) for run, args in TRAINING.items()}
        print("trained %s in %.1f s" % ({r: v[1:] for r, v in runs.items()}, time.monotonic() - t0))
    finally:
        torch.set_num_threads(threads)
    count = len(list(runs[RUN][0].parameters()))
    with tbserver.tensorboard(logdir) as url:
        tbserver.wait_for(lambda: tbserver.route_json(url, "tags"),
                          lambda t: all(len(weights(t.get("runs", {}).get(r, {}))) == count for r in runs))
        yield url, logdir, runs


def _layers(model):
    """The tab's layer names (PyTorch's module names with / for .) of the modules that own parameters."""
    return [n.replace(".", "/") for n, m in model.named_modules() if any(True for _ in m.parameters(recurse=False))]


def _shot(target, name):
    os.makedirs(ARTIFACTS, exist_ok=True)
    target.screenshot(path=os.path.join(ARTIFACTS, "resnet18-%s.png" % name))


def _open(browser_, url, runs):
    tab = browser.open_ready(browser_, url, scale.nv_hash(runs=",".join(runs)), width=1600, height=1000)
    scale.findings_settled(tab.frame)
    return tab


def _open_both(browser_, served):
    """Both runs ticked, once the structure view lists every layer: the tab, the model, the URL."""
    url, _, runs = served
    model = runs[RUN][0]
    tab = _open(browser_, url, [RUN, NAN_RUN])
    tab.frame.wait_for_function("n => document.querySelectorAll('[data-testid=structure-layer]').length === n",
                                arg=len(_layers(model)), timeout=30000)
    return tab, model, url


def _filter_card(frame, run, tag):
    """The card of ``run``/``tag`` alone on the page (the filter names it), drawn."""
    frame.locator('[data-testid="tag-filter"]').fill("^%s$" % tag)
    return browser.loaded_card(frame, run, tag)


def _hover(frame, card, grid, r, c):
    """The tooltip of stored cell (r, c) of ``card``'s heatmap (a ``grid`` of stored cells),
    hovered again if the page moved the canvas meanwhile."""
    canvas = card.locator('[data-testid="heatmap"]')
    for _ in range(3):
        box = canvas.bounding_box()
        canvas.hover(position={"x": (c + 0.5) * box["width"] / grid[1], "y": (r + 0.5) * box["height"] / grid[0]})
        tip = browser.tooltip(frame)
        if (int(tip["row"]), int(tip["col"])) == (r, c) and canvas.bounding_box() == box:
            break
        frame.wait_for_timeout(300)
    return tip


def _settle_at_bottom(frame, tries=10):
    """Stays at the bottom while the sections drawn there grow the page; returns
    :data:`tests.tabscale.MEASURE` there."""
    for _ in range(tries):
        frame.wait_for_timeout(700)
        at = frame.evaluate(scale.MEASURE)
        if at["bottom"]:
            return at
        frame.evaluate("() => window.scrollTo(0, document.documentElement.scrollHeight)")
    return at


def _tile(info):
    """Kernel tile of a heatmap in grid cells (frontend/src/model/grid.ts tileSize)."""
    lay, shape = info["layout"], info["shape"]
    return int(np.prod([shape[a] for a in lay["rows"][1:]])), int(np.prod([shape[a] for a in lay["cols"][1:]]))


def _visible_findings(frame):
    """(run, kind, layer) of the findings the panel shows."""
    return sorted(tuple(x) for x in frame.evaluate("""() => [...document.querySelectorAll('[data-testid=finding]')]
        .filter(e => e.offsetParent !== null).map(e => [e.dataset.run, e.dataset.kind, e.dataset.layer])"""))


def _findings_about(url, runs, pattern):
    """(run, kind, layer) of the findings route's findings about a tensor or layer ``pattern`` matches, or none."""
    match = re.compile(pattern, re.I).search
    return sorted((run, f["kind"], f.get("layer") or "") for run in runs
                  for f in tbserver.route_json(url, "findings", run=run)["findings"]
                  if not (f.get("tensors") or f.get("layer"))
                  or any(match(t) for t in f.get("tensors") or []) or (f.get("layer") and match(f["layer"] + "/")))


def test_page_stays_small_at_load_and_scrolled_to_the_bottom(served, browser_):
    tab, model, _ = _open_both(browser_, served)
    frame = tab.frame
    tab.page.wait_for_timeout(1000)
    at_load = frame.evaluate(scale.MEASURE)
    print("at load:", at_load)
    assert at_load["dom"] < scale.MAX_DOM and at_load["height"] < scale.MAX_HEIGHT, at_load
    # One block per residual block, each with its layers and tensors.
    names = [b.get_attribute("data-block") for b in frame.locator('[data-testid="block"]').all()]
    residual = sorted({"/".join(layer.split("/")[:2]) for layer in _layers(model) if layer.startswith("layer")})
    assert set(residual) <= set(names), names
    _shot(tab.page, "load")
    # Open the stem's block, the largest residual block and the last one, one at a time
    # (opening one closes the other), and scroll top to bottom with each open.
    times = []
    for name in (names[0], "layer2/0", "layer4/1"):
        frame.locator('[data-testid="block"][data-block="%s"] [data-testid="block-head"]' % name).click()
        tab.page.wait_for_timeout(300)
        times += scale.scroll_frames(frame)
        at_bottom = _settle_at_bottom(frame)
        print("%s open, after scrolling to the bottom: %s" % (name, at_bottom))
        assert at_bottom["bottom"] and at_bottom["cards"] > 0, (name, at_bottom)  # a drawn page was measured
        assert at_bottom["dom"] < scale.MAX_DOM and at_bottom["height"] < scale.MAX_HEIGHT, (name, at_bottom)
        assert frame.locator('[data-testid="block"][data-open]').count() == 1
    print("scroll frames: %d, p50 %.1f ms, p95 %.1f ms" % (len(times), scale.pct(times, 50), scale.pct(times, 95)))
    _shot(tab.page, "bottom")
    assert tab.errors == []
    tab.page.close()


def test_filter_narrows_every_panel_and_shows_the_match(served, browser_):
    tab, model, url = _open_both(browser_, served)
    frame = tab.frame
    layer = FILTER.replace(".", "/")
    tags = [n.replace(".", "/") for n, _ in model.named_parameters() if n.startswith(FILTER + ".")]
    before = frame.evaluate(scale.SHOWN)
    assert len(before["structure"]) > 1 and len(_visible_findings(frame)) > len(_findings_about(
        url, [RUN, NAN_RUN], FILTER)), before  # something to narrow
    t0 = time.monotonic()
    frame.locator('[data-testid="tag-filter"]').fill(FILTER)
    scale.wait_group_on_screen(frame, layer)
    took = time.monotonic() - t0
    print("filtered layer on screen after %.2f s" % took)
    assert took < 1.0, took
    shown = frame.evaluate(scale.SHOWN)
    assert shown["groups"] == [layer], shown
    assert shown["structure"] == [layer], shown
    assert shown["overview"] == tags, shown
    assert shown["cards"] == tags * 2, shown  # one card per run
    # Findings: those about a tensor the filter matches (a run's NaN finding lists all its tensors), and the loss's.
    assert _visible_findings(frame) == _findings_about(url, [RUN, NAN_RUN], FILTER), shown
    assert frame.evaluate(scale.MEASURE)["dom"] < scale.MAX_DOM
    # The layer's charts fill in.
    chart = frame.locator('[data-testid="chart-norm"][data-layer="%s"]' % layer)
    frame.wait_for_function("c => Number(c.dataset.points) > 0", arg=chart.element_handle(), timeout=10000)
    _shot(tab.page, "filter")
    assert tab.errors == []
    tab.page.close()


def test_conv_heatmaps_show_whole_kernel_tiles_and_the_classifier_its_rows(served, browser_):
    url, logdir, runs = served
    model = runs[RUN][0]
    tags = tbserver.route_json(url, "tags")["runs"][RUN]
    written = {}  # tensor name: the metadata of its heatmap tags, as written
    for m in python_provider(logdir / RUN, {metadata.HEATMAP_PLUGIN_NAME: 1}).list_tensors(
            CTX, experiment_id="", plugin_name=metadata.HEATMAP_PLUGIN_NAME)["."].values():
        content = metadata.parse_content(m.plugin_content)
        written.setdefault(content["name"], []).append(content)
    # Every conv kernel is pooled by whole tiles, as the route and the written metadata say.
    convs = {t: v for t, v in weights(tags).items() if v["layout"] and v["layout"]["kind"] == "conv_first"}
    assert len(convs) == sum(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    for tag, info in convs.items():
        (th, tw), pool = _tile(info), info["pool"]
        assert pool == [1, 1] or (pool[0] % th == 0 and pool[1] % tw == 0), (tag, pool, info["shape"])
        want = [pool[0] // th, pool[1] // tw] if pool != [1, 1] else None
        assert [c.get("pool_tiles") for c in written[tag]] == [want] * len(written[tag]), (tag, written[tag])
    assert tags[CONV3]["pool"] != [1, 1]  # the pooled case is checked, not only unpooled ones
    tab = _open(browser_, url, [RUN])
    frame = tab.frame

    # The 7x7 stem, unpooled: each tile one (in, out) kernel; the hover reads PyTorch's index.
    info, w = tags[STEM], model.conv1.weight.detach().numpy()
    out_c, in_c, kh, kw = w.shape
    assert info["pool"] == [1, 1] and info["grid"] == [in_c * kh, out_c * kw], info
    card = _filter_card(frame, RUN, STEM)
    assert card.get_attribute("data-step") == str(runs[RUN][1][-1])
    assert card.locator('[data-testid="axis-tiles"]').inner_text().startswith("%d × %d tiles" % (kh, kw))
    o, i, y, x = out_c * 5 // 8, in_c - 1, kh // 2, kw - 2
    tip = _hover(frame, card, info["grid"], i * kh + y, o * kw + x)
    assert tip["index"] == "[%d, %d, %d, %d]" % (o, i, y, x), tip
    assert float(tip["value"]) == pytest.approx(float(w[o, i, y, x]), rel=1e-6), tip
    _shot(card, "conv1")

    # A 3x3 conv pooled by blocks of whole tiles: the caption and the hovered block say so.
    info, w = tags[CONV3], model.layer3[0].conv2.weight.detach().numpy().astype(np.float64)
    (th, tw), pool = _tile(info), info["pool"]
    a, b = pool[0] // th, pool[1] // tw
    card = _filter_card(frame, RUN, CONV3)
    assert card.locator('[data-testid="axis-tiles"]').inner_text().startswith(
        "pooled by whole tiles: each cell: mean of %d×%d channel pairs (%d×%d tiles)" % (a, b, th, tw))
    stored = [-(-g // p) for g, p in zip(info["grid"], pool)]
    r, c = 1, stored[1] // 2
    tip = _hover(frame, card, stored, r, c)
    block = w[c * b:(c + 1) * b, r * a:(r + 1) * a]  # (out, in, kh, kw)
    assert tip["block"].startswith("in %d–%d × out %d–%d (whole %d×%d tiles" % (
        r * a, r * a + a - 1, c * b, c * b + b - 1, th, tw)), tip
    assert float(tip["value"]) == pytest.approx(block.mean(), rel=1e-5, abs=1e-9), tip
    assert np.float32(float(tip["absmax"])) == pytest.approx(block.flat[np.argmax(np.abs(block))], rel=1e-6), tip
    _shot(card, "layer3-conv")

    # The classifier keeps its 10 output units (PyTorch's rows) apart; only its 512 inputs pool.
    info, w = tags[FC], model.fc.weight.detach().numpy().astype(np.float64)
    units, inputs = w.shape
    assert info["grid"] == [inputs, units] and info["pool"][1] == 1, info
    card = _filter_card(frame, RUN, FC)
    assert card.locator('[data-testid="axis-cols"]').inner_text().startswith("units (%d)" % units)
    pr = info["pool"][0]
    stored = [-(-inputs // pr), units]
    tip = _hover(frame, card, stored, 3, units - 3)
    assert float(tip["value"]) == pytest.approx(w[units - 3, 3 * pr:4 * pr].mean(), rel=1e-5, abs=1e-9), tip
    _shot(card, "fc")
    assert tab.errors == []
    tab.page.close()


def test_the_diverged_run_reads_as_broken(served, browser_):
    url, _, runs = served
    model, logged, nan_step = runs[NAN_RUN]
    assert nan_step is not None, logged  # lr 100 diverges: the run shows what the tab does with it
    tab = _open(browser_, url, [NAN_RUN])
    frame = tab.frame
    kinds = [f.get_attribute("data-kind") for f in frame.locator('[data-testid="finding"]').all()]
    assert "nonfinite" in kinds and "loss_diverged" in kinds, kinds
    # Every layer is NaN in the structure view, from a logged step at or after the divergence.
    layers = frame.locator('[data-testid="structure-layer"]')
    frame.wait_for_function("n => [...document.querySelectorAll('[data-testid=structure-layer]')].filter("
                            "e => e.dataset.health === 'nan').length === n", arg=len(_layers(model)), timeout=30000)
    text = layers.first.locator('[data-testid="structure-ratio"]').inner_text()
    from_step = int(re.search(r"NaN from step (\d+)", text).group(1))
    assert from_step >= nan_step and from_step in logged, (text, nan_step, logged)
    _shot(frame.locator('[data-testid="structure-panel"]'), "nan-structure")
    # A conv card whose latest heatmap is NaN shows the last finite one, marked.
    tag = "layer1/0/conv1/weight"
    steps = tbserver.route_json(url, "tags")["runs"][NAN_RUN][tag]["steps"]
    nan_from = min(s for s in steps if s >= nan_step)
    shown = max(s for s in steps if s < nan_step)
    frame.locator('[data-testid="tag-filter"]').fill("^%s$" % tag)
    card = frame.locator('[data-testid="card"][data-tag="%s"]' % tag)
    card.wait_for(timeout=10000)
    frame.wait_for_function("c => c.hasAttribute('data-nan-shown') && !c.hasAttribute('data-loading')",
                            arg=card.element_handle(), timeout=10000)
    assert card.get_attribute("data-nan-from") == str(nan_from)
    mark = card.locator('[data-testid="card-error"]').inner_text()
    assert "from step %d" % nan_from in mark and "showing step %d" % shown in mark, mark
    assert card.locator('[data-testid="stats"]').inner_text().startswith("step %d" % shown)
    print("NaN after optimizer step %d; structure: from step %d; heatmaps: from step %d (showing %d)"
          % (nan_step, from_step, nan_from, shown))
    _shot(card, "nan-heatmap")
    assert tab.errors == []
    tab.page.close()
