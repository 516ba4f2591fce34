"""The cold-user trial's polish in real TensorBoard and real Chromium.

Three runs of one numpy gradient descent (``W -= lr (W - T)``, a steady direction
like a real fit) on a model whose tensors carry every heatmap layout the writers
use and the descriptions the Keras callback and ``tb_nnviz.torch.watch`` write:
``a_quiet`` moves ~1e-3 of its norm per step (no findings), ``b_note`` ~3e-5
(an info ``lr_too_low``), ``c_warn`` ~1e-6 (a warning ``lr_too_low``). The tests
check what the user missed: axis labels on the heatmaps, a first view on the run
with something to say, the module label in each layer's heading, and the scale of
each run's weight-space path in per-run axes. Screenshots land in test-artifacts/.
"""

import math
import os

import pytest

from tests import browser, tbserver
from tests.tab_runs import TENSORS, write_runs

ARTIFACTS = os.path.join(tbserver.REPO, "test-artifacts")
#: run: learning rate of the descent (per-step ratio ~ lr times |W - T| / |W|).
RUNS = {"a_quiet": 2e-3, "b_note": 2e-5, "c_warn": 1e-6}


def _serve(logdir, runs):
    write_runs(logdir, runs)
    url_cm = tbserver.tensorboard(logdir)
    url = url_cm.__enter__()
    tbserver.wait_for(lambda: tbserver.route_json(url, "tags"), lambda t: len(t.get("runs", {})) == len(runs)
                      and all(len(r) == len(TENSORS) for r in t["runs"].values()))
    return url, url_cm


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    url, cm = _serve(tmp_path_factory.mktemp("polish"), RUNS)
    try:
        yield url
    finally:
        cm.__exit__(None, None, None)


def _shot(locator, name):
    os.makedirs(ARTIFACTS, exist_ok=True)
    locator.screenshot(path=os.path.join(ARTIFACTS, "polish-%s.png" % name))


# -- 1. axis labels ----------------------------------------------------------

TILES = "3 × 3 tiles (kh × kw), one per in/out channel pair"
#: tensor: (down the rows, across the columns, tiles); None: no such label.
AXES = {
    "0/weight": ("inputs (20)", "units (32)", None),  # PyTorch (out, in), drawn (in, out)
    "0/bias": (None, "1 × 32: one per unit", None),
    "conv/weight": ("in-channels (4)", "out-channels (8)", TILES),  # PyTorch (out, in, kh, kw)
    "up/weight": ("out-channels (8)", "in-channels (4)", TILES),  # ConvTranspose2d (in, out, kh, kw)
    "lstm/weight_ih_l0": ("inputs (12)", "units (4 × 5: i f g o)", None),
    "attn/in_proj_weight": ("inputs (8)", "units (3 × 8: q k v)", None),
    "net/conv_2/kernel": ("in-channels (8)", "out-channels (16)", TILES),  # Keras (kh, kw, in, out)
    "net/dense_1/kernel": ("inputs (40)", "units (24)", None),
    "net/dense_1/bias": (None, "1 × 24: one per unit", None),
    "net/mha/query/kernel": ("axis 0 (8)", "axes 1, 2 (2 × 4)", None),  # split:1
}


def test_heatmap_axes_say_what_rows_columns_and_tiles_are(served, browser_):
    tab = browser.open_ready(browser_, served, "nnviz&nv_runs=a_quiet")
    frame = tab.frame
    for tag, (rows, cols, tiles) in AXES.items():
        card = browser.loaded_card(frame, "a_quiet", tag)
        got = card.evaluate("""c => {
            const box = e => { const r = e.getBoundingClientRect();
                               return {l: r.left, r: r.right, t: r.top, b: r.bottom}; };
            const q = id => c.querySelector(`[data-testid=${id}]`);
            const label = id => { const e = q(id);
                return e.hidden ? null : {text: e.textContent, box: box(e), title: e.title,
                clipped: e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1}; };
            return {rows: label('axis-rows'), cols: label('axis-cols'), tiles: label('axis-tiles'),
                    canvas: box(q('heatmap')), card: box(c)}; }""")
        canvas, outer = got["canvas"], got["card"]
        assert (got["rows"] and got["rows"]["text"]) == (rows and rows + " →"), (tag, got["rows"])
        assert got["cols"]["text"] == cols + " →", (tag, got["cols"])
        assert (got["tiles"] and got["tiles"]["text"]) == tiles, (tag, got["tiles"])
        # The column label sits on top of the heatmap, the row label left of it, both in full.
        c = got["cols"]["box"]
        inside = c["l"] >= canvas["l"] - 0.5 and c["r"] <= canvas["r"] + 0.5
        assert c["b"] <= canvas["t"] + 0.5 and inside, (tag, c, canvas)
        assert not got["cols"]["clipped"], tag
        if rows:
            r = got["rows"]["box"]
            beside = r["t"] >= canvas["t"] - 0.5 and r["b"] <= canvas["b"] + 0.5
            assert r["r"] <= canvas["l"] + 0.5 and beside, (tag, r, canvas)
            assert not got["rows"]["clipped"], tag
            assert r["l"] >= outer["l"], (tag, r, outer)
        assert len(got["cols"]["title"]) > 30, (tag, got["cols"]["title"])  # the full sentence on hover
        assert canvas["r"] <= outer["r"] + 0.5, tag
    _shot(browser.loaded_card(frame, "a_quiet", "conv/weight"), "axes-conv")
    _shot(browser.loaded_card(frame, "a_quiet", "lstm/weight_ih_l0"), "axes-lstm")
    _shot(browser.loaded_card(frame, "a_quiet", "0/bias"), "axes-bias")
    assert not tab.errors, tab.errors
    tab.page.close()


def test_png_export_carries_the_axis_labels(served, browser_):
    from PIL import Image

    tab = browser.open_ready(browser_, served, "nnviz&nv_runs=a_quiet")
    card = browser.loaded_card(tab.frame, "a_quiet", "net/conv_2/kernel")
    heat_w, heat_h = card.locator('[data-testid="heatmap"]').evaluate("c => [c.width, c.height]")
    with tab.page.expect_download() as dl:
        card.locator('[data-testid="save-png"]').click()
    img = Image.open(dl.value.path()).convert("RGB")
    # figure.ts: the heatmap (at device pixel ratio 1), padding 12 each side, and 16 px for the row label.
    bar = max(240, min(heat_w, 400))
    assert img.size[0] == max(heat_w, bar) + 2 * 12 + 16, (img.size, heat_w)
    px = img.load()
    heat_top = 12 + 14 + 6 + 12 + 8 + 16  # title, subtitle, column label lines (figure.ts)
    strip = [px[x, y] for x in range(12, 28) for y in range(heat_top, heat_top + heat_h)]
    assert sum(1 for p in strip if sum(p) < 450) > 30  # the row label's text beside the heatmap
    label = [px[x, y] for x in range(28, 28 + heat_w) for y in range(heat_top - 16, heat_top - 2)]
    assert sum(1 for p in label if sum(p) < 450) > 30  # the column label's text above it
    tab.page.close()


# -- 2. the first run shown ----------------------------------------------------


def test_the_tab_opens_on_the_run_with_warnings(served, browser_):
    tab = browser.open_ready(browser_, served)
    frame = tab.frame
    browser.wait_selected(frame, ["c_warn"])
    browser.findings_loaded(frame, "c_warn")
    assert frame.locator('[data-testid="finding"][data-severity="warning"]').count() >= 1
    frame.wait_for_function(
        "() => document.querySelector('[data-testid=overview-table]')?.dataset.run === 'c_warn'", timeout=30000
    )
    assert {c.get_attribute("data-run") for c in frame.locator('[data-testid="card"]').all()} == {"c_warn"}
    # The tab's choice, not the user's: the address names no run, so a reload chooses again.
    assert "nv_runs" not in tab.page.evaluate("location.hash")
    assert not tab.errors, tab.errors
    tab.page.close()
    # The user's choice in the address wins.
    for runs in (["a_quiet"], ["a_quiet", "b_note"]):
        tab = browser.open_ready(browser_, served, "nnviz&nv_runs=" + ",".join(runs))
        browser.findings_loaded(tab.frame, runs[-1])  # the panel lists b_note (a note) above a_quiet
        tab.page.wait_for_timeout(500)
        assert browser.selected_runs(tab.frame) == runs
        tab.page.close()


def test_without_warnings_the_tab_opens_on_the_run_with_notes(tmp_path, browser_):
    url, cm = _serve(tmp_path, {k: RUNS[k] for k in ("a_quiet", "b_note")})
    try:
        tab = browser.open_ready(browser_, url)
        browser.wait_selected(tab.frame, ["b_note"])
        tab.frame.locator('[data-testid="finding"][data-severity="info"]').first.wait_for(timeout=30000)
        tab.page.close()
    finally:
        cm.__exit__(None, None, None)


# -- 3. the layer heading ------------------------------------------------------

#: layer: the label beside its name ("" none: the description is free text, or the name says it).
HEADINGS = {
    "0": "Linear(20 -> 32)",
    "conv": "Conv2d(4 -> 8, 3x3)",
    "up": "ConvTranspose2d(4 -> 8, 3x3)",
    "lstm": "LSTM(12 -> 5)",
    "attn": "MultiheadAttention(8, 2 heads)",
    "net/conv_2": "Conv2D",
    "net/dense_1": "",  # "Dense": the name says it
    "net/mha/query": "MultiHeadAttention",
    "free": "",  # "my favourite layer": not "<label> <attribute>"
}


def test_layer_headings_show_the_module_label(served, browser_):
    tab = browser.open_ready(browser_, served, "nnviz&nv_runs=a_quiet")
    got = tab.frame.evaluate("""() => Object.fromEntries(
        [...document.querySelectorAll('[data-testid=group]')].map(g => {
        const t = g.querySelector('[data-testid=group-title]');
        const name = t.querySelector('[data-testid=group-name]'), label = t.querySelector('[data-testid=group-label]');
        const same = Math.abs(name.getBoundingClientRect().top - label.getBoundingClientRect().top) < 2;
        return [g.dataset.group, {text: t.innerText, label: label.hidden ? '' : label.textContent,
                                  sameLine: same || label.hidden}]; }))""")
    assert set(got) == set(HEADINGS), got
    for layer, label in HEADINGS.items():
        assert got[layer]["text"] == (layer + " · " + label if label else layer), got[layer]
        assert got[layer]["sameLine"], got[layer]
    _shot(tab.frame.locator('[data-testid="group"][data-group="0"] [data-testid="group-title"]'), "heading")
    tab.page.close()


# -- 4. the per-run weight-space path's scale --------------------------------------


def _path_length(p):
    xy = [(x, y) for x, y in zip(p["x"], p["y"]) if x is not None and y is not None]
    return sum(math.dist(a, b) for a, b in zip(xy, xy[1:]))


def test_per_run_paths_say_their_scale(served, browser_):
    runs = ["a_quiet", "c_warn"]
    tab = browser.open_ready(browser_, served, "nnviz&nv_runs=a_quiet,c_warn&nv_axes=per-run")
    frame = tab.frame
    panel = frame.locator('[data-testid="projection-panel"]')
    panel.scroll_into_view_if_needed()
    frame.wait_for_function("""() => { const ps = document.querySelectorAll('[data-testid=projection-run]');
        return ps.length === 2 && [...ps].every(p => Number(p.dataset.points) > 0); }""", timeout=30000)
    want = {r: _path_length(tbserver.route_json(served, "projection", run=r)["runs"][r]) for r in runs}
    got = frame.evaluate("""() => [...document.querySelectorAll('[data-testid=projection-run]')].map(p => {
        const box = p.closest('.nv-path-box'), s = box.querySelector('[data-testid=projection-scale]');
        const t = box.querySelector('[data-testid=projection-title]');
        return {run: p.dataset.run, text: s.textContent, visible: !s.hidden && s.getBoundingClientRect().height > 0,
                length: Number(s.dataset.length),
                below: s.getBoundingClientRect().top >= t.getBoundingClientRect().bottom - 1,
                above: s.getBoundingClientRect().bottom <= p.getBoundingClientRect().top + 1}; })""")
    assert [g["run"] for g in got] == runs
    ratio = want["a_quiet"] / want["c_warn"]
    assert ratio > 500, want  # lr 2e-3 against 1e-6
    times = "{:,}".format(round(ratio))
    for g in got:
        assert g["visible"] and g["below"] and g["above"], g
        assert g["length"] == pytest.approx(want[g["run"]], rel=1e-9), (g, want)
        assert g["text"].startswith("own scale · path length "), g
    assert got[0]["text"].endswith("(longest)"), got[0]
    assert got[1]["text"].endswith("(%s× shorter than a_quiet)" % times), (got[1], ratio)
    note = frame.locator('[data-testid="projection-scale-note"]')
    assert note.is_visible() and "scaled to its own path" in note.inner_text()
    _shot(panel, "paths-per-run")
    # Joint axes: one scale for all, no per-plot scale lines.
    frame.locator('[data-testid="projection-axes-joint"]').click()
    frame.wait_for_function(
        "() => document.querySelector('[data-testid=projection]')?.dataset.runs === '2'", timeout=30000
    )
    assert frame.locator('[data-testid="projection-scale"]:visible').count() == 0
    assert not tab.errors, tab.errors
    tab.page.close()
