"""Every panel of the NNViz tab in real TensorBoard and real headless Chromium.

The log dir holds two runs of the same small MLP-like model, ``fast`` and ``slow``:
at every logged step both take the same random update direction, ``fast`` 100x
longer, and both keep the norm of each tensor fixed, so their update ratios
|dW|/|W| differ by ~100x. ``slow`` also holds a block-pooled tensor (its own
writer with a small cell budget) and ``fast`` a 256x256 tensor for the redraw
timings. The tests read the tab through its ``data-testid`` hooks (see
frontend/README.md) and compare with the HTTP routes and the arrays written.
Screenshots and the performance marks land in test-artifacts/.
"""

import contextlib
import json
import os
import re

import numpy as np
import pytest

import tb_nnviz
from tests import browser, tbserver

ARTIFACTS = os.path.join(tbserver.REPO, "test-artifacts")
STEPS = [10 * k for k in range(12)]
SHAPES = {"mlp/dense_1/kernel": (16, 8), "mlp/dense_1/bias": (8,), "mlp/conv/kernel": (3, 3, 2, 4)}
POOLED = ("mlp/pooled/kernel", (32, 32))
BIG = ("big/kernel", (256, 256))
RATE = {"fast": 5e-2, "slow": 5e-4}
KERNEL = "mlp/dense_1/kernel"


def _values(run, name, shape, seed):
    """float32 arrays per step: same start and directions in both runs, |W| constant."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=shape)
    norm = np.linalg.norm(w)
    out = []
    for _ in STEPS:
        out.append(w.astype(np.float32))
        d = rng.normal(size=shape)
        w = w + RATE[run] * norm * d / np.linalg.norm(d)
        w = w * (norm / np.linalg.norm(w))
    return out


def _expected():
    values = {}
    for run in RATE:
        for k, (name, shape) in enumerate(SHAPES.items()):
            values[run, name] = _values(run, name, shape, k)
    values["slow", POOLED[0]] = _values("slow", *POOLED, 10)
    values["fast", BIG[0]] = _values("fast", *BIG, 11)
    return values


VALUES = _expected()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("tab")
    for run in RATE:
        with tb_nnviz.Writer(logdir / run) as w:
            for k, step in enumerate(STEPS):
                w.log_weights(step, {name: VALUES[run, name][k] for name in SHAPES})
                if run == "fast":
                    w.log_weights(step, {BIG[0]: VALUES["fast", BIG[0]][k]}, trajectories=False)
    # The pooled tensor: its own writer (a cell budget is per writer), a second event file.
    with tb_nnviz.Writer(logdir / "slow", max_cells=64, filename_suffix=".pooled") as w:
        for k, step in enumerate(STEPS):
            w.log_weights(step, {POOLED[0]: VALUES["slow", POOLED[0]][k]})
    with tbserver.tensorboard(logdir) as url:
        tbserver.wait_for(
            lambda: tbserver.route_json(url, "tags"),
            lambda t: all(len(t.get("runs", {}).get(r, {})) == 4 for r in RATE)
            and all(len(i["steps"]) == len(STEPS) for r in t["runs"].values() for i in r.values()),
        )
        yield url


@pytest.fixture(scope="module")
def tab(served):
    with browser.open_tab(served, ready=browser.OVERVIEW) as t:
        # No run in the address: the tab moves on to "slow", the run with a finding, once
        # the findings arrive (test_tab_polish.py); tests pick their runs after that.
        t.frame.wait_for_function(
            "() => document.querySelector('[data-testid=run-option][value=slow]').checked", timeout=30000
        )
        yield t.page, t.frame, t.errors


def _shot(page, locator, name):
    os.makedirs(ARTIFACTS, exist_ok=True)
    locator.scroll_into_view_if_needed()
    locator.screenshot(path=os.path.join(ARTIFACTS, "tab-%s.png" % name))


def _pc_label(axis, ratio):
    pct = ratio[axis] * 100
    return "PC%d (%s%%)" % (axis + 1, "99.9" if 99.95 <= pct < 100 else "%.1f" % pct)


# --- overview ---------------------------------------------------------------------


def test_overview_lists_every_tensor_with_counts_and_latest_ratio(served, tab):
    page, frame, _ = tab
    browser.select_runs(frame, ["fast"])
    table = frame.locator('[data-testid="overview-table"][data-run="fast"]')
    table.wait_for(timeout=30000)
    rows = {}
    for row in table.locator('[data-testid="overview-row"]').all():
        cells = row.locator("td").all_inner_texts()
        rows[row.get_attribute("data-tag")] = cells
    assert set(rows) == set(SHAPES) | {BIG[0]}
    for name, shape in list(SHAPES.items()) + [BIG]:
        assert rows[name][3].replace(",", "") == str(int(np.prod(shape))), (name, rows[name])
    total = sum(int(np.prod(s)) for s in SHAPES.values()) + int(np.prod(BIG[1]))
    assert frame.locator('[data-testid="overview-total"]').inner_text() == "{:,}".format(total)
    for name in SHAPES:
        traj = tbserver.route_json(served, "trajectory", run="fast", tag=name)
        last = traj["update_ratio_per_step"][-1]
        shown = float(re.match(r"[-+0-9.e]+", rows[name][4]).group())
        assert shown == pytest.approx(last, rel=5e-3), name
        # fast's updates are ~5e-2 of the weights per logged point, 10 steps apart: 5e-3
        # per step, inside the band (no word), though the interval's 5e-2 would read "large".
        assert traj["update_ratio"][-1] > 1e-2 and not rows[name][4].endswith(("large", "tiny", "stopped")), rows[name]
        assert rows[name][7] == str(STEPS[-1])
    assert rows[BIG[0]][4] == "–"  # heatmaps only: no trajectory
    _shot(page, frame.locator('[data-testid="overview"]'), "overview")


# --- layer charts -----------------------------------------------------------------


def _layer(frame, layer):
    charts = frame.locator('[data-testid="layer-charts"][data-layer="%s"]' % layer)
    charts.scroll_into_view_if_needed()
    frame.wait_for_function(
        """l => { const e = [...document.querySelectorAll('[data-testid=layer-charts]')]
                    .find(x => x.dataset.layer === l);
                  return e && e.dataset.loaded === 'true' && !e.hasAttribute('data-loading'); }""",
        arg=layer, timeout=30000,
    )
    return charts


def test_ratio_chart_shows_both_runs_fast_100x_slow(served, tab):
    page, frame, _ = tab
    browser.select_runs(frame, ["fast", "slow"])
    charts = _layer(frame, "mlp/dense_1")
    ratio = charts.locator('[data-testid="chart-ratio"]')
    frame.wait_for_function(
        "e => JSON.parse(e.dataset.seriesLast || '[]').length === 4", arg=ratio.element_handle(), timeout=30000
    )
    assert ratio.get_attribute("data-points") == str(len(STEPS))
    last = {(s["run"], s["tag"]): s["last"] for s in json.loads(ratio.get_attribute("data-series-last"))}
    assert set(last) == {(r, t) for r in RATE for t in ("mlp/dense_1/kernel", "mlp/dense_1/bias")}
    for (run, tag), value in last.items():
        assert value == tbserver.route_json(served, "trajectory", run=run, tag=tag)["update_ratio_per_step"][-1]
    for tag in ("mlp/dense_1/kernel", "mlp/dense_1/bias"):
        assert 80 < last["fast", tag] / last["slow", tag] < 125, tag
    # No uPlot legend rows: a key of runs and tensors, and one read-out line on hover.
    assert not ratio.locator(".u-legend").is_visible()
    over = ratio.locator(".u-over")
    box = over.bounding_box()
    over.hover(position={"x": box["width"] * 0.5, "y": 2})  # the top line: fast
    readout = ratio.locator('[data-testid="chart-readout"]')
    frame.wait_for_function("e => e.hasAttribute('data-label')", arg=readout.element_handle(), timeout=5000)
    assert readout.get_attribute("data-label").startswith("fast · ")
    _shot(page, charts, "layer-charts")


def test_distribution_chart_shows_each_runs_quantiles(served, tab):
    page, frame, _ = tab
    browser.select_runs(frame, ["fast", "slow"])
    charts = _layer(frame, "mlp/dense_1")
    dist = charts.locator('[data-testid="dist-chart"][data-tag="%s"]' % KERNEL)
    dist.wait_for()
    assert dist.get_attribute("data-series") == "14"  # min, q05, q25, median, q75, q95, max x 2 runs
    last = {(s["run"], s["stat"]): s["last"] for s in json.loads(dist.get_attribute("data-series-last"))}
    for run in RATE:
        tr = tbserver.route_json(served, "trajectory", run=run, tag=KERNEL)
        for field, stat in [("min", "min"), ("q05", "q05"), ("q50", "median"), ("q95", "q95"), ("max", "max")]:
            assert last[run, stat] == tr[field][-1], (run, stat)
        # The logged quantiles of the last step, against the array written.
        w = VALUES[run, KERNEL][-1]
        assert last[run, "min"] == pytest.approx(float(w.min()), rel=1e-6)
        assert last[run, "max"] == pytest.approx(float(w.max()), rel=1e-6)
    _shot(page, dist, "distribution")


def test_traces_chart_has_a_one_line_readout_not_a_legend(served, tab):
    page, frame, _ = tab
    charts = _layer(frame, "mlp/dense_1")
    traces = charts.locator('[data-testid="traces-chart"][data-tag="%s"]' % KERNEL)
    traces.wait_for()
    assert traces.get_attribute("data-series") == "16"  # 8 traces x 2 runs
    assert traces.locator(".u-legend").count() == 0 or not traces.locator(".u-legend").is_visible()
    over = traces.locator(".u-over")
    box = over.bounding_box()
    over.hover(position={"x": box["width"] * 0.7, "y": box["height"] * 0.5})
    readout = traces.locator('[data-testid="chart-readout"]')
    frame.wait_for_function("e => e.hasAttribute('data-label')", arg=readout.element_handle(), timeout=5000)
    text = readout.inner_text()
    label = readout.get_attribute("data-label")
    assert label.split(" · ")[0] in RATE and label in text and " at step " in text
    assert readout.bounding_box()["height"] < 24  # one line
    _shot(page, traces, "traces")
    page.mouse.move(0, 0)


# --- weight-space path --------------------------------------------------------------


def _painted(plot):
    """Painted pixels of a path plot's uPlot canvas."""
    return plot.locator("canvas").evaluate(
        """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
                  for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }"""
    )


def _run_pixels(plot, rgb):
    """Pixels of a path plot's uPlot canvas close to a run colour (its path and markers)."""
    return plot.locator("canvas").evaluate(
        """(c, rgb) => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
                  for (let i = 0; i < d.length; i += 4)
                    if (d[i+3] > 200
                        && Math.abs(d[i]-rgb[0]) + Math.abs(d[i+1]-rgb[1]) + Math.abs(d[i+2]-rgb[2]) < 40) n++;
                  return n; }""",
        rgb,
    )


RUN_RGB = {"fast": [0x1F, 0x77, 0xB4], "slow": [0xFF, 0x7F, 0x0E]}  # runColor(0), runColor(1)


def test_projection_joint_and_per_run(served, tab):
    page, frame, _ = tab
    browser.select_runs(frame, ["fast", "slow"])
    panel = frame.locator('[data-testid="projection-panel"]')
    canvas = panel.locator('[data-testid="projection"]')
    frame.wait_for_function("c => c.dataset.runs === '2'", arg=canvas.element_handle(), timeout=30000)
    joint = tbserver.route_json(served, "projection", run=["fast", "slow"])
    ratio = joint["explained_variance_ratio"]
    assert canvas.get_attribute("data-points") == str(2 * len(STEPS))
    assert canvas.get_attribute("data-xlabel") == _pc_label(0, ratio)
    assert canvas.get_attribute("data-ylabel") == _pc_label(1, ratio)
    assert float(canvas.get_attribute("data-pc1")) == ratio[0]
    assert _painted(canvas) > 1000
    for run, rgb in RUN_RGB.items():
        assert _run_pixels(canvas, rgb) > 20, run
    assert "ring = first step" in panel.locator('[data-testid="projection-caption"]').inner_text()
    # slow moves 100x less than fast: in joint axes it is a dot, and the panel says so.
    note = panel.locator('[data-testid="projection-scale-note"]')
    assert note.is_visible() and note.inner_text().startswith("slow spans less than 2% of this plot")
    _shot(page, panel, "projection-joint")

    panel.locator('[data-testid="projection-axes-per-run"]').click()
    frame.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=projection-run]')]"
        ".filter(c => c.dataset.xlabel).length === 2",
        timeout=30000,
    )
    assert panel.get_attribute("data-axes") == "per-run"
    # Per run: each plot has its own scale; the note and the plots' scale lines say so.
    assert "scaled to its own path" in panel.locator('[data-testid="projection-scale-note"]').inner_text()
    for run in RATE:
        plot = panel.locator('[data-testid="projection-run"][data-run="%s"]' % run)
        own = tbserver.route_json(served, "projection", run=run)["explained_variance_ratio"]
        assert plot.get_attribute("data-xlabel") == _pc_label(0, own), run
        assert plot.get_attribute("data-ylabel") == _pc_label(1, own), run
        assert plot.get_attribute("data-points") == str(len(STEPS))
        assert _run_pixels(plot, RUN_RGB[run]) > 20, run
    # The slow run fills its own plot: hovering across it finds its points, with their steps.
    slow = panel.locator('[data-testid="projection-run"][data-run="slow"]')
    box = slow.bounding_box()
    readout = panel.locator('[data-testid="projection-readout"]')
    found = set()
    for fx in range(4, 100, 8):
        for fy in range(4, 100, 8):
            slow.hover(position={"x": box["width"] * fx / 100, "y": box["height"] * fy / 100})
            if readout.get_attribute("data-run"):
                assert readout.get_attribute("data-run") == "slow"
                found.add(int(readout.get_attribute("data-step")))
                assert readout.inner_text().startswith("slow · step %s (" % readout.get_attribute("data-step"))
    assert len(found) >= len(STEPS) // 2 and found <= set(STEPS), found
    slow.hover(position={"x": box["width"] / 2, "y": box["height"] / 2})
    _shot(page, panel, "projection-per-run")
    panel.locator('[data-testid="projection-axes-joint"]').click()
    frame.wait_for_function(
        "() => document.querySelector('[data-testid=projection]')?.dataset.runs === '2'", timeout=30000
    )


# --- heatmaps -------------------------------------------------------------------------


def _card(frame, run, tag):
    card = frame.locator('[data-testid="card"][data-run="%s"][data-tag="%s"]' % (run, tag))
    card.scroll_into_view_if_needed()
    card.locator('[data-testid="heatmap"]').wait_for(timeout=30000)
    return card


def _wait_card(frame, card, step, mode="none"):
    frame.wait_for_function(
        "a => a[0].dataset.step === a[1] && a[0].dataset.mode === a[2] && !a[0].hasAttribute('data-loading')",
        arg=[card.element_handle(), str(step), mode],
        timeout=30000,
    )


def _cell_pos(canvas, rows, cols, r, c, view=None):
    """Pointer position (canvas CSS px) over the centre of cell (r, c) under a view."""
    box = canvas.bounding_box()
    v = view or {"scale": 1, "tx": 0, "ty": 0}
    x = (c + 0.5) * box["width"] / cols * v["scale"] + v["tx"]
    y = (r + 0.5) * box["height"] / rows * v["scale"] + v["ty"]
    return {"x": x, "y": y}


def _tooltip(frame):
    frame.locator('[data-testid="tooltip"]').wait_for(state="visible")
    row = int(frame.locator('[data-testid="tooltip-row"]').inner_text())
    col = int(frame.locator('[data-testid="tooltip-col"]').inner_text())
    return row, col, float(frame.locator('[data-testid="tooltip-value"]').inner_text())


def _pixels(canvas):
    return canvas.evaluate("c => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data).join(',')")


def _show_step(frame, card, k):
    """Moves the slider by keyboard (the pointer stays on the heatmap) to step index k:
    the card's own, or its row's shared one while runs side by side are linked."""
    if card.get_attribute("data-linked") is not None:
        row = '[data-testid="tensor-row"][data-tag="%s"]' % card.get_attribute("data-tag")
        slider = frame.locator(row + ' [data-testid="row-step-slider"]')
    else:
        slider = card.locator('[data-testid="step-slider"]')
    slider.focus()
    now = int(slider.input_value())
    for _ in range(abs(k - now)):
        slider.press("ArrowLeft" if k < now else "ArrowRight")
    _wait_card(frame, card, STEPS[k], card.get_attribute("data-mode") or "none")


def test_heatmap_hover_steps_and_diffs(served, tab):
    page, frame, _ = tab
    card = _card(frame, "fast", KERNEL)
    canvas = card.locator('[data-testid="heatmap"]')
    values = VALUES["fast", KERNEL]
    rows, cols = values[0].shape
    last = len(STEPS) - 1
    _wait_card(frame, card, STEPS[last])
    r, c = 5, 3
    canvas.hover(position=_cell_pos(canvas, rows, cols, r, c))
    row, col, shown = _tooltip(frame)
    assert (row, col) == (r, c) and np.float32(shown) == values[last][r, c]
    _shot(page, card, "heatmap")

    before = _pixels(canvas)
    _show_step(frame, card, last - 4)
    assert _pixels(canvas) != before
    row, col, shown = _tooltip(frame)
    assert (row, col) == (r, c) and np.float32(shown) == values[last - 4][r, c]

    card.locator('[data-testid="mode"]').select_option("prev")
    _wait_card(frame, card, STEPS[last - 4], "prev")
    canvas.hover(position=_cell_pos(canvas, rows, cols, r, c))
    row, col, shown = _tooltip(frame)
    assert np.float32(shown) == values[last - 4][r, c] - values[last - 5][r, c]
    assert "since step %d" % STEPS[last - 5] in frame.locator('[data-testid="tooltip"]').inner_text()

    card.locator('[data-testid="mode"]').select_option("first")
    _wait_card(frame, card, STEPS[last - 4], "first")
    canvas.hover(position=_cell_pos(canvas, rows, cols, 2, 7))
    row, col, shown = _tooltip(frame)
    assert (row, col) == (2, 7)
    assert np.float32(shown) == values[last - 4][2, 7] - values[0][2, 7]
    _shot(page, card, "heatmap-diff-first")
    card.locator('[data-testid="mode"]').select_option("none")
    _wait_card(frame, card, STEPS[last - 4])


def test_zoom_keeps_the_hover_mapping_exact(served, tab):
    page, frame, _ = tab
    card = _card(frame, "fast", KERNEL)
    canvas = card.locator('[data-testid="heatmap"]')
    k = int(card.locator('[data-testid="step-slider"]').input_value())
    values = VALUES["fast", KERNEL][k]
    rows, cols = values.shape
    canvas.hover(position=_cell_pos(canvas, rows, cols, 9, 2))
    page.keyboard.down("Control")  # a plain wheel scrolls the page (see test_wheel_*)
    for _ in range(3):
        page.mouse.wheel(0, -240)
    page.keyboard.up("Control")
    frame.wait_for_function("c => Number(c.dataset.zoom) > 1.5", arg=canvas.element_handle(), timeout=5000)
    view = json.loads(canvas.get_attribute("data-view"))
    assert view["scale"] > 1.5
    row, col, shown = _tooltip(frame)
    assert (row, col) == (9, 2)  # zooming keeps the cell under the pointer
    assert np.float32(shown) == values[9, 2]
    # Another point of the zoomed view: the cell is computed here from the view alone.
    box = canvas.bounding_box()
    for fx, fy in [(0.2, 0.3), (0.8, 0.75)]:
        x, y = box["width"] * fx, box["height"] * fy
        canvas.hover(position={"x": x, "y": y})
        want = (int((y - view["ty"]) / view["scale"] / (box["height"] / rows)),
                int((x - view["tx"]) / view["scale"] / (box["width"] / cols)))
        row, col, shown = _tooltip(frame)
        assert (row, col) == want
        assert np.float32(shown) == values[want]
    _shot(page, card, "heatmap-zoomed")
    canvas.dblclick()


def test_pooled_heatmap_shows_block_and_absmax(served, tab):
    page, frame, _ = tab
    card = _card(frame, "slow", POOLED[0])
    canvas = card.locator('[data-testid="heatmap"]')
    _wait_card(frame, card, STEPS[-1])
    assert "pooled" in card.inner_text()
    info = tbserver.route_json(served, "tags")["runs"]["slow"][POOLED[0]]
    pr, pc = info["pool"]
    rows, cols = info["grid"][0] // pr, info["grid"][1] // pc
    canvas.hover(position=_cell_pos(canvas, rows, cols, 1, 2))
    row, col, shown = _tooltip(frame)
    block = VALUES["slow", POOLED[0]][-1][pr:2 * pr, 2 * pc:3 * pc]
    assert (row, col) == (1, 2)
    assert shown == pytest.approx(float(block.mean()), rel=1e-5)
    absmax = float(frame.locator('[data-testid="tooltip-absmax"]').inner_text())
    assert np.float32(absmax) == block.flat[np.argmax(np.abs(block))]
    _shot(page, card, "heatmap-pooled")


# --- what a new user does: reveal, scroll, pick runs, reload -----------------------------


@contextlib.contextmanager
def _fresh_tab(tab, served, width=1600, height=900):
    """A second page in the module's browser, at its own size, on run "fast" (named in
    the address: without it the tab opens on "slow", the run with a finding), closed afterwards."""
    t = browser.new_tab(tab[0].context.browser, served, width, height, hash="nnviz&nv_runs=fast")
    try:
        t.frame.locator('[data-testid="overview-row"]').first.wait_for(timeout=30000)
        yield t
    finally:
        t.page.close()


def _show_row_step(frame, tag, k):
    """Moves the shared step control of ``tag``'s row (runs side by side) to step index k."""
    slider = frame.locator('[data-testid="tensor-row"][data-tag="%s"] [data-testid="row-step-slider"]' % tag)
    slider.focus()
    now = int(slider.input_value())
    for _ in range(abs(k - now)):
        slider.press("ArrowLeft" if k < now else "ArrowRight")


def _header_bottom(frame):
    return frame.evaluate("() => document.querySelector('.nv-header').getBoundingClientRect().bottom")


def test_overview_row_click_lands_on_the_card_below_the_header(served, tab):
    # A frame of 936 px as in the report; both runs selected so that many cards and
    # charts above the target load (and grow) while and after scrolling.
    with _fresh_tab(tab, served, 1600, 1000) as t:
        frame = t.frame
        browser.select_runs(frame, ["fast", "slow"])
        target = "mlp/conv/kernel"
        overview = '[data-testid="overview-table"][data-run="fast"]'
        frame.locator(overview + ' [data-testid="overview-row"][data-tag="%s"]' % target).click()
        card = frame.locator('[data-testid="card"][data-run="fast"][data-tag="%s"]' % target)
        card.locator('[data-testid="heatmap"]').wait_for(timeout=30000)
        _wait_card(frame, card, STEPS[-1])
        # Everything near the viewport has loaded: the card is where the click put it.
        frame.wait_for_function(
            "() => !document.querySelector('[data-loading]')", timeout=30000
        )
        page = t.page
        page.wait_for_timeout(300)
        top = card.evaluate("e => e.getBoundingClientRect().top")
        head = _header_bottom(frame)
        assert head <= top <= head + 24, (top, head)
        assert "nv-flash" in card.get_attribute("class")
        page.screenshot(path=os.path.join(ARTIFACTS, "tab-reveal.png"))


def test_wheel_over_a_heatmap_scrolls_the_page_unless_ctrl_or_clicked(served, tab):
    with _fresh_tab(tab, served) as t:
        page, frame = t.page, t.frame
        card = _card(frame, "fast", KERNEL)
        _wait_card(frame, card, STEPS[-1])
        canvas = card.locator('[data-testid="heatmap"]')
        assert "Ctrl/⌘ + wheel" in card.locator('[data-testid="zoom-help"]').inner_text()
        frame.evaluate("c => c.scrollIntoView({block: 'center'})", canvas.element_handle())
        canvas.hover()
        y0 = frame.evaluate("() => window.scrollY")
        assert y0 > 300
        # A plain wheel up (which used to zoom in), as when scrolling back up the page.
        page.mouse.wheel(0, -300)
        frame.wait_for_function("y => window.scrollY < y - 100", arg=y0, timeout=5000)
        assert canvas.get_attribute("data-zoom") == "1"
        # Ctrl + wheel (a pinch, too) zooms and the page stays put.
        frame.evaluate("c => c.scrollIntoView({block: 'center'})", canvas.element_handle())
        canvas.hover()
        y1 = frame.evaluate("() => window.scrollY")
        page.keyboard.down("Control")
        page.mouse.wheel(0, -300)
        page.keyboard.up("Control")
        frame.wait_for_function("c => Number(c.dataset.zoom) > 1", arg=canvas.element_handle(), timeout=5000)
        assert frame.evaluate("() => window.scrollY") == y1
        # Zooming back out with Ctrl never scrolls the page either, however far it goes.
        page.keyboard.down("Control")
        for _ in range(6):
            page.mouse.wheel(0, 300)
        page.keyboard.up("Control")
        frame.wait_for_function("c => c.dataset.zoom === '1'", arg=canvas.element_handle(), timeout=5000)
        assert frame.evaluate("() => window.scrollY") == y1
        # After a click into the heatmap a plain wheel zooms, until the pointer leaves.
        canvas.click()
        page.mouse.wheel(0, -300)
        frame.wait_for_function("c => Number(c.dataset.zoom) > 1", arg=canvas.element_handle(), timeout=5000)
        assert frame.evaluate("() => window.scrollY") == y1
        page.mouse.move(2, 2)
        assert canvas.get_attribute("data-active") == "false"


def test_run_selector_shows_how_to_compare_and_run_colours(served, tab):
    with _fresh_tab(tab, served) as t:
        frame = t.frame
        selector = frame.locator('[data-testid="run-select"]')
        assert "compare" in frame.locator(".nv-runs").inner_text()
        boxes = selector.locator('[data-testid="run-option"]')
        assert [b.get_attribute("value") for b in boxes.all()] == sorted(RATE)
        assert [b.is_checked() for b in boxes.all()] == [True, False]
        # A plain click on a second run adds it: both runs' cards, each run in its colour.
        boxes.nth(1).click()
        frame.wait_for_function(
            "() => document.querySelectorAll('[data-testid=card-run]:not([hidden])').length >= 2", timeout=30000
        )
        runs = {c.get_attribute("data-run") for c in frame.locator('[data-testid="card"]').all()}
        assert runs == set(RATE)
        swatches = selector.locator(".nv-swatch").evaluate_all("s => s.map(e => getComputedStyle(e).backgroundColor)")
        assert swatches == ["rgb(31, 119, 180)", "rgb(255, 127, 14)"]  # the charts' run colours
        note = frame.locator('[data-testid="run-keep-note"]')
        assert not note.is_visible() and not boxes.nth(0).is_disabled()
        # The last ticked run cannot be unticked, and the tab says why: its checkbox is
        # disabled with a title, and a note says one run stays selected.
        boxes.nth(0).click()
        assert boxes.nth(1).is_checked() and not boxes.nth(0).is_checked()
        assert boxes.nth(1).is_disabled()
        assert "at least one run stays selected" in note.inner_text() and note.is_visible()
        assert "At least one run stays selected" in boxes.nth(1).get_attribute("title")
        t.page.screenshot(
            path=os.path.join(ARTIFACTS, "tab-run-keep-note.png"), clip={"x": 0, "y": 0, "width": 800, "height": 140}
        )
        boxes.nth(0).click()  # two ticked again: either may be unticked
        assert not boxes.nth(1).is_disabled() and not note.is_visible()


def test_reload_restores_runs_filter_mode_and_step(served, tab):
    with _fresh_tab(tab, served) as t:
        page, frame = t.page, t.frame
        browser.select_runs(frame, ["fast", "slow"])
        frame.locator('[data-testid="tag-filter"]').fill("dense_1")
        card = _card(frame, "slow", KERNEL)
        _wait_card(frame, card, STEPS[-1])
        card.locator('[data-testid="mode"]').select_option("first")
        _show_row_step(frame, KERNEL, 3)  # both runs' cards: their step is linked
        _wait_card(frame, card, STEPS[3], "first")
        want = '["slow","%s","first",%d]' % (KERNEL, STEPS[3])
        page.wait_for_function("w => decodeURIComponent(location.hash).includes(w)", arg=want, timeout=5000)
        assert page.evaluate("() => location.hash").startswith("#nnviz&")
        page.reload()
        frame = browser.plugin_frame(page)
        frame.locator('[data-testid="overview-row"]').first.wait_for(timeout=30000)
        boxes = frame.locator('[data-testid="run-option"]')
        frame.wait_for_function(
            "() => [...document.querySelectorAll('[data-testid=run-option]')].every(b => b.checked)", timeout=30000
        )
        assert frame.locator('[data-testid="tag-filter"]').input_value() == "dense_1"
        assert [b.is_checked() for b in boxes.all()] == [True, True]
        card = _card(frame, "slow", KERNEL)
        _wait_card(frame, card, STEPS[3], "first")
        assert card.locator('[data-testid="mode"]').input_value() == "first"
        assert card.locator('[data-testid="step-label"]').inner_text() == str(STEPS[3])
        other = _card(frame, "fast", KERNEL)
        _wait_card(frame, other, STEPS[3], "first")  # the linked row moved both runs' cards (step and mode)
        assert not frame.locator('[data-testid="card"][data-tag="mlp/conv/kernel"]').first.is_visible()


def test_colorbar_tick_labels_do_not_touch(served, tab):
    page, frame, _ = tab
    for run, tag in [("fast", KERNEL), ("fast", "mlp/dense_1/bias"), ("slow", POOLED[0])]:
        browser.select_runs(frame, [run])
        card = _card(frame, run, tag)
        _wait_card(frame, card, card.get_attribute("data-step") or STEPS[-1])
        boxes = card.locator('[data-testid="colorbar-tick"]').evaluate_all(
            "ts => ts.map(t => { const r = t.getBoundingClientRect(); return [r.left, r.right, t.textContent]; })"
        )
        bar = card.locator('[data-testid="colorbar"]').bounding_box()
        assert len(boxes) >= 2, boxes
        for (l0, r0, a), (l1, r1, b) in zip(boxes, boxes[1:]):
            assert r0 + 4 <= l1, (a, b, boxes)
        assert boxes[0][0] >= bar["x"] - 0.5 and boxes[-1][1] <= bar["x"] + bar["width"] + 0.5, (boxes, bar)
        assert "0" in [t for _, _, t in boxes]


def test_png_export_has_title_heatmap_and_colour_bar(served, tab):
    from PIL import Image

    page, frame, _ = tab
    browser.select_runs(frame, ["fast"])
    card = _card(frame, "fast", KERNEL)
    _wait_card(frame, card, card.get_attribute("data-step"))
    canvas = card.locator('[data-testid="heatmap"]')
    heat_w, heat_h = canvas.evaluate("c => [c.width, c.height]")
    with page.expect_download() as dl:
        card.locator('[data-testid="save-png"]').click()
    path = dl.value.path()
    assert dl.value.suggested_filename.startswith("fast-mlp_dense_1_kernel-step")
    img = Image.open(path).convert("RGB")
    w, h = img.size
    assert w > heat_w and h > heat_h + 40, (img.size, heat_w, heat_h)
    px = img.load()
    # The colour bar: a row going from the map's blue end through white to its red end.
    lut_lo, lut_hi = (5, 48, 97), (103, 0, 31)  # RdBu reversed at -m and +m

    def near(a, b):
        return sum(abs(x - y) for x, y in zip(a, b)) < 60

    bar_rows = [y for y in range(h) if any(near(px[x, y], lut_lo) for x in range(0, w // 4))
                and any(near(px[x, y], lut_hi) for x in range(w // 2, w))]
    assert bar_rows and min(bar_rows) > h // 2, bar_rows
    # The title: text pixels (the theme's foreground) in the top band.
    top = [px[x, y] for y in range(0, 30) for x in range(w)]
    assert sum(1 for p in top if sum(p) < 200) > 50


def test_runs_side_by_side_move_together_and_share_a_range(served, tab):
    with _fresh_tab(tab, served, 1600, 1000) as t:
        frame = t.frame
        browser.select_runs(frame, ["fast", "slow"])
        row = frame.locator('[data-testid="tensor-row"][data-tag="%s"]' % KERNEL)
        row.scroll_into_view_if_needed()
        cards = {run: _card(frame, run, KERNEL) for run in RATE}
        for c in cards.values():
            _wait_card(frame, c, STEPS[-1])
        # Side by side, once both have settled (a card still loading can sit a line lower).
        frame.wait_for_function("""([a, b]) => { const r = a.getBoundingClientRect(), s = b.getBoundingClientRect();
            return Math.abs(r.top - s.top) < 2 && s.left >= r.left + r.width; }""",
                                arg=[cards["fast"].element_handle(), cards["slow"].element_handle()], timeout=10000)
        assert not cards["fast"].locator('[data-testid="step-slider"]').is_visible()
        assert cards["fast"].locator('[data-testid="step-linked"]').is_visible()
        # One shared step control moves both runs.
        _show_row_step(frame, KERNEL, 4)
        for c in cards.values():
            _wait_card(frame, c, STEPS[4])
        assert row.locator('[data-testid="row-step-label"]').inner_text() == str(STEPS[4])
        # Side by side, each card keeps its own scale by default (a run of small weights
        # beside one that blew up is not drawn blank); one scale on request: the max over
        # every step of both runs, exact at once.
        assert not row.locator('[data-testid="row-shared-range"]').is_checked()
        assert cards["slow"].locator('[data-testid="range-mode"]').input_value() != "runs"
        row.locator('[data-testid="row-shared-range"]').check()
        assert cards["slow"].locator('[data-testid="range-mode"]').input_value() == "runs"
        want = max(tbserver.route_json(served, "ranges", run=r, tag=KERNEL)["none"] for r in RATE)
        frame.wait_for_function(
            "c => !c.hasAttribute('data-range-pending') && c.dataset.rangeMode === 'runs'",
            arg=cards["slow"].element_handle(), timeout=10000,
        )
        assert float(cards["slow"].get_attribute("data-range")) == pytest.approx(want, rel=1e-6)
        assert "of 2 runs" in cards["slow"].locator('[data-testid="range-note"]').inner_text()
        assert float(cards["fast"].get_attribute("data-range")) == pytest.approx(want, rel=1e-6)
        row.locator('[data-testid="row-shared-range"]').uncheck()
        frame.wait_for_function(
            "c => c.dataset.rangeMode === 'step'", arg=cards["fast"].element_handle(), timeout=10000
        )
        # The heatmap mode is linked like the step: a change shown on one card shows on both.
        cards["slow"].locator('[data-testid="mode"]').select_option("prev")
        for c in cards.values():
            _wait_card(frame, c, STEPS[4], "prev")
        assert cards["fast"].locator('[data-testid="mode"]').input_value() == "prev"
        assert row.get_attribute("data-mode") == "prev"
        assert "mode" in row.locator('[data-testid="row-link"]').locator("xpath=..").inner_text()
        t.page.screenshot(path=os.path.join(ARTIFACTS, "tab-side-by-side-prev.png"))
        # Unlinked, each card has its own slider and mode again and moves alone.
        row.locator('[data-testid="row-link"]').uncheck()
        assert cards["slow"].locator('[data-testid="step-slider"]').is_visible()
        _show_step(frame, cards["slow"], 2)
        assert cards["fast"].get_attribute("data-step") == str(STEPS[4])
        cards["fast"].locator('[data-testid="mode"]').select_option("none")
        _wait_card(frame, cards["fast"], STEPS[4], "none")
        assert cards["slow"].get_attribute("data-mode") == "prev"
        # Linked again: the cards take the first run's step and mode.
        row.locator('[data-testid="row-link"]').check()
        _wait_card(frame, cards["slow"], STEPS[4], "none")
        row.locator('[data-testid="row-link"]').uncheck()
        t.page.screenshot(path=os.path.join(ARTIFACTS, "tab-side-by-side.png"))


def test_fixed_range_is_exact_from_the_first_draw(served, tab):
    page, frame, _ = tab
    browser.select_runs(frame, ["fast"])
    card = _card(frame, "fast", "mlp/dense_1/bias")
    _wait_card(frame, card, card.get_attribute("data-step"))
    card.locator('[data-testid="range-mode"]').select_option("fixed")
    frame.wait_for_function(
        "c => !c.hasAttribute('data-range-pending') && c.dataset.rangeMode === 'fixed'",
        arg=card.element_handle(), timeout=10000,
    )
    absmax = max(float(np.abs(v).max()) for v in VALUES["fast", "mlp/dense_1/bias"])
    assert float(card.get_attribute("data-range")) == pytest.approx(absmax, rel=1e-6)
    assert card.locator('[data-testid="range-note"]').inner_text().endswith("range over all %d steps" % len(STEPS))
    card.locator('[data-testid="range-mode"]').select_option("step")


def test_layers_cards_and_overview_follow_network_order(served, tab):
    page, frame, _ = tab
    browser.select_runs(frame, ["fast"])
    tags = tbserver.route_json(served, "tags")["runs"]["fast"]
    order = sorted(tags, key=lambda t: tags[t]["index"])
    assert order != sorted(order)  # logged order differs from the alphabetical one
    rows = frame.locator('[data-testid="overview-table"][data-run="fast"] [data-testid="overview-row"]')
    frame.wait_for_function(
        "n => document.querySelectorAll("
        "'[data-testid=overview-table][data-run=fast] [data-testid=overview-row]').length === n",
        arg=len(order), timeout=30000,
    )
    assert [r.get_attribute("data-tag") for r in rows.all()] == order
    shown = [c.get_attribute("data-tag") for c in frame.locator('[data-testid="card"][data-run="fast"]').all()]
    assert shown == order
    options = frame.locator('[data-testid="projection-select"] option').all()
    with_trajectory = [t for t in order if tags[t]["has_trajectory"]]
    assert [o.get_attribute("value") for o in options if o.get_attribute("value")] == with_trajectory


def test_structure_view_lists_layers_and_charts_ratio_by_depth(served, tab):
    page, frame, _ = tab
    browser.select_runs(frame, ["fast", "slow"])
    panel = frame.locator('[data-testid="structure-panel"]')
    tags = tbserver.route_json(served, "tags")["runs"]["fast"]
    layers = []
    for t in sorted(tags, key=lambda t: tags[t]["index"]):
        if tags[t]["group"] not in layers:
            layers.append(tags[t]["group"])
    frame.wait_for_function(
        "n => document.querySelectorAll('[data-testid=structure-layer]').length === n", arg=len(layers), timeout=30000
    )
    boxes = panel.locator('[data-testid="structure-layer"]').all()
    assert [b.get_attribute("data-layer") for b in boxes] == layers  # network order, of the first run
    dense = panel.locator('[data-testid="structure-layer"][data-layer="mlp/dense_1"]')
    assert "136 params" in dense.inner_text()  # 16 x 8 kernel + 8 bias
    assert dense.get_attribute("data-health") == "ok"  # fast's kernel moves 5% per 10 steps
    flow = panel.locator('[data-testid="chart-flow"]')
    frame.wait_for_function("e => e.dataset.series === '2'", arg=flow.element_handle(), timeout=30000)
    assert flow.get_attribute("data-points") == str(len(layers))
    last = {s["run"]: s["last"] for s in json.loads(flow.get_attribute("data-series-last"))}
    # The deepest layer with a trajectory is the last point of each run's line.
    ratios = {
        r: [row["update_ratio"] for row in tbserver.route_json(served, "overview", run=r) if row["name"] == KERNEL][0]
        for r in RATE
    }
    assert last["fast"] is not None and last["slow"] is not None
    assert ratios["fast"] / ratios["slow"] > 50
    # A legend says what the layers' bars mean; its "healthy" key looks like the fast
    # run's dense layer bar.
    items = panel.locator('[data-testid="structure-legend-item"]')
    assert [i.get_attribute("data-health") for i in items.all()] == ["ok", "large", "tiny", "stopped", "none"]
    assert "above 1e-2 per step" in items.nth(1).inner_text()
    key = items.nth(0).locator(".nv-health-key").evaluate("e => getComputedStyle(e).backgroundColor")
    assert key == dense.evaluate("e => getComputedStyle(e, '::before').backgroundColor")
    dense.click()
    card = frame.locator('[data-testid="card"][data-tag="mlp/dense_1/kernel"]').first
    card.locator('[data-testid="heatmap"]').wait_for(timeout=30000)
    _shot(page, panel, "structure")


def test_one_run_picker_drives_the_overview_and_the_structure_view(served, tab):
    page, frame, _ = tab
    browser.select_runs(frame, ["fast", "slow"])
    picker = frame.locator('[data-testid="detail-run"]')
    assert picker.is_visible() and picker.input_value() == "fast"
    # No second picker inside the panels.
    assert frame.locator('[data-testid="overview-run"], [data-testid="structure-run"]').count() == 0
    table = frame.locator('[data-testid="overview-table"]')
    layers = frame.locator('[data-testid="structure-layers"]')
    assert table.get_attribute("data-run") == "fast" and layers.get_attribute("data-run") == "fast"
    picker.select_option("slow")
    frame.wait_for_function(
        "() => document.querySelector('[data-testid=overview-table]').dataset.run === 'slow'", timeout=30000
    )
    assert layers.get_attribute("data-run") == "slow"
    # slow's pooled layer is listed in both; fast has none.
    overview = '[data-testid="overview-table"][data-run="slow"]'
    frame.locator(overview + ' [data-testid="overview-row"][data-tag="%s"]' % POOLED[0]).wait_for(timeout=30000)
    assert layers.locator('[data-testid="structure-layer"][data-layer="mlp/pooled"]').count() == 1
    # The ratio-by-depth chart still shows both selected runs.
    assert frame.locator('[data-testid="chart-flow"]').get_attribute("data-series") == "2"
    page.screenshot(path=os.path.join(ARTIFACTS, "tab-detail-run.png"))
    # One run selected: nothing to pick, the picker hides and the panels follow the run.
    browser.select_runs(frame, ["fast"])
    assert not picker.is_visible()
    frame.wait_for_function(
        "() => document.querySelector('[data-testid=overview-table]').dataset.run === 'fast'", timeout=30000
    )
    frame.wait_for_function(
        "() => document.querySelector('[data-testid=structure-layers]').dataset.run === 'fast'", timeout=30000
    )


# --- performance and errors -------------------------------------------------------------


def test_redraw_and_interactive_marks_are_recorded(served, tab):
    page, frame, _ = tab
    card = _card(frame, "fast", BIG[0])
    _wait_card(frame, card, STEPS[-1])
    canvas = card.locator('[data-testid="heatmap"]')
    frame.wait_for_function(
        "c => c.width > 0 && c.getContext('2d').getImageData(c.width/2|0, c.height/2|0, 1, 1).data[3] > 0",
        arg=canvas.element_handle(), timeout=30000,
    )
    seen = frame.evaluate("() => performance.getEntriesByName('nnviz-redraw').length")
    for k in range(len(STEPS) - 2, len(STEPS) - 8, -1):
        _show_step(frame, card, k)
    redraws = frame.evaluate("n => performance.getEntriesByName('nnviz-redraw').slice(n).map(e => e.duration)", seen)
    interactive = frame.evaluate("() => performance.getEntriesByName('nnviz-interactive').map(e => e.duration)")
    assert len(redraws) >= 6 and len(interactive) == 1
    _shot(page, card, "heatmap-256")
    report = {
        "tensor": "%s %dx%d (float32, unpooled)" % ((BIG[0],) + BIG[1]),
        "redraw_ms": redraws,
        "redraw_ms_median": float(np.median(redraws)),
        "interactive_ms": interactive[0],
        "note": "nnviz-redraw = decode + colour LUT + putImageData per slider step; "
        "nnviz-interactive = navigation start of the plugin iframe to the first drawn card. "
        "Headless Chromium, no GPU; measurements, not assertions.",
    }
    os.makedirs(ARTIFACTS, exist_ok=True)
    with open(os.path.join(ARTIFACTS, "tab-perf.json"), "w") as f:
        json.dump(report, f, indent=2)


def test_whole_tab_screenshot_and_no_console_errors(tab):
    page, frame, errors = tab
    page.screenshot(path=os.path.join(ARTIFACTS, "tab-page.png"))
    assert errors == []
