"""A new user's first look at the tab, in real TensorBoard and real Chromium.

Three runs of one numpy gradient descent (W -= lr (W - T): a steady direction, like
a real fit) on an MLP-like model with a conv kernel: ``every1`` logs trajectories
at every step, ``every20`` every 20 steps (heatmaps and spectra every 20 steps in
both), ``slow`` has a learning rate 70x smaller (an ``lr_too_low`` finding). The
tests follow what the user did: compare the cadences, read the structure view, narrow
the window, reload, edit the address, press a finding's "Show" button.
"""

import json
import os
import urllib.parse
import urllib.request

import numpy as np
import pytest

import tb_nnviz
from tests import browser, tab_runs, tbserver

ARTIFACTS = os.path.join(tbserver.REPO, "test-artifacts")
SHAPES = {
    "net/conv/kernel": (3, 3, 8, 16),
    "net/dense_1/kernel": (64, 32),
    "net/dense_1/bias": (32,),
    "net/out/kernel": (32, 10),
}
KERNEL = "net/dense_1/kernel"
RUNS = {"every1": (1, 2e-3), "every20": (20, 2e-3), "slow": (10, 3e-5)}
STEPS = 200
#: d3's schemeCategory10: the runs' colours.
CATEGORY10 = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"
]


def _write(logdir, run, cadence, lr):
    rng = np.random.default_rng(0)
    w = {n: rng.normal(size=s) * 0.5 for n, s in SHAPES.items()}
    t = {n: rng.normal(size=s) for n, s in SHAPES.items()}
    with tb_nnviz.Writer(logdir / run) as wr:
        for step in range(STEPS + 1):
            if step % cadence == 0:
                wr.log_weights(step, w, heatmaps=step % 20 == 0)
            w = {n: x - lr * (x - t[n]) for n, x in w.items()}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("cold")
    for run, (cadence, lr) in RUNS.items():
        _write(logdir, run, cadence, lr)
    with tbserver.tensorboard(logdir) as url:
        tbserver.wait_for(lambda: tbserver.route_json(url, "tags"), lambda t: len(t.get("runs", {})) == len(RUNS)
                          and all(len(r) == len(SHAPES) for r in t["runs"].values()))
        yield url


def _hash(**state):
    parts = ["nnviz"]
    if "runs" in state:
        parts.append("nv_runs=" + ",".join(urllib.parse.quote(r, safe="") for r in state.pop("runs")))
    parts += ["nv_%s=%s" % (k, urllib.parse.quote(v, safe="")) for k, v in state.items()]
    return "&".join(parts)


@pytest.fixture(scope="module")
def browser_(served):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = browser.launch(p)
        yield b
        b.close()


def _open(b, served, width=1600, height=1000, **state):
    tab = browser.new_tab(b, served, width, height, hash=_hash(**state))
    tab.frame.locator(browser.OVERVIEW).first.wait_for(timeout=30000)
    return tab


def _shot(tab, name):
    os.makedirs(ARTIFACTS, exist_ok=True)
    tab.page.screenshot(path=os.path.join(ARTIFACTS, "cold-%s.png" % name), full_page=False)


def _ratio_rows(frame):
    frame.wait_for_function("() => document.querySelector('[data-testid=overview-ratio]')")
    return frame.evaluate("""() => Object.fromEntries(
        [...document.querySelectorAll('[data-testid=overview-row]')].map(r => {
        const td = r.querySelector('[data-testid=overview-ratio]');
        return [r.dataset.tag, {value: td.dataset.value === '' ? null : Number(td.dataset.value),
                                health: td.dataset.health || 'ok',
                                text: td.innerText, title: td.title}]; }))""")


def _pick_detail(frame, run):
    frame.locator('[data-testid="detail-run"]').select_option(run)
    frame.wait_for_function("r => document.querySelector('[data-testid=overview-table]').dataset.run === r", arg=run)
    frame.wait_for_function("""r => { const l = document.querySelector('[data-testid=structure-layers]');
        return l.dataset.run === r && l.querySelectorAll('[data-testid=structure-layer]').length > 0; }""", arg=run)


def test_update_ratio_is_per_step_in_every_view_whatever_the_cadence(served, browser_):
    """The user's report: logged every 20 steps the kernel read "0.05 large", every step
    "0.0025 healthy". Now every view shows the findings' per-step number."""
    tab = _open(browser_, served, runs=["every1", "every20"])
    frame = tab.frame
    seen, structure = {}, {}
    for run in ("every1", "every20"):
        _pick_detail(frame, run)
        seen[run] = _ratio_rows(frame)
        structure[run] = frame.evaluate("""() => Object.fromEntries(
            [...document.querySelectorAll('[data-testid=structure-layer]')]
            .map(b => [b.dataset.layer, [b.dataset.health, b.title]]))""")
        want = {r["name"]: r for r in tbserver.route_json(served, "overview", run=run)}
        for tag, row in seen[run].items():
            assert row["value"] == want[tag]["update_ratio_per_step"], (run, tag)
    one, twenty = seen["every1"][KERNEL], seen["every20"][KERNEL]
    assert 0.5 < twenty["value"] / one["value"] < 2
    for tag in SHAPES:
        assert seen["every1"][tag]["health"] == seen["every20"][tag]["health"], tag
    assert one["health"] == "ok" and "averaged over the 20 steps between points" in twenty["title"]
    assert "averaged over the 1 step between points" in one["title"]
    assert {k: v[0] for k, v in structure["every1"].items()} == {k: v[0] for k, v in structure["every20"].items()}
    assert "per step, averaged over the 20 steps" in structure["every20"]["net/dense_1"][1]
    # The table and the legend say "per step", and the legend words the band as the charts do.
    assert "|dW|/|W| per step" in frame.locator('[data-testid="overview-table"] th').all_inner_texts()
    legend = frame.locator('[data-testid="structure-legend"]').inner_text()
    assert "healthy: 1e-4 to 1e-2 per step" in legend and "large: above 1e-2 per step" in legend
    # The layer's ratio chart: both runs' lines end at the overview's per-step numbers.
    charts = frame.locator('[data-testid="layer-charts"][data-layer="net/dense_1"]')
    charts.scroll_into_view_if_needed()
    ratio = charts.locator('[data-testid="chart-ratio"]')
    frame.wait_for_function(
        "e => e.dataset.seriesLast && JSON.parse(e.dataset.seriesLast).length === 4", arg=ratio.element_handle()
    )
    last = {(s["run"], s["tag"]): s["last"] for s in json.loads(ratio.get_attribute("data-series-last"))}
    assert last["every1", KERNEL] == one["value"] and last["every20", KERNEL] == twenty["value"]
    title = ratio.locator('[data-testid="chart-title"]')
    assert "per step" in title.inner_text() and "between points" in title.get_attribute("title")
    assert not tab.errors, tab.errors
    tab.page.close()


def test_structure_mutes_alphas_the_findings_ignore(served, browser_):
    tab = _open(browser_, served, runs=["every20"])
    frame = tab.frame
    frame.wait_for_function("() => document.querySelectorAll('[data-testid=structure-alpha]').length >= 2")
    spectra = tbserver.route_json(served, "spectral", run="every20")
    flagged = {
        f["layer"] for f in tab_runs.findings_of(served, "every20")
        if f["kind"] in ("alpha_low", "alpha_high")
    }
    alphas = frame.evaluate("""() => [...document.querySelectorAll('[data-testid=structure-alpha]')].map(a => ({
        layer: a.closest('[data-testid=structure-layer]').dataset.layer, verdict: a.dataset.verdict, title: a.title,
        out: a.classList.contains('nv-alpha-out')}))""")
    few = 0
    for a in alphas:
        evals = spectra["tensors"][a["layer"] + "/kernel"]["num_evals"]
        if evals < spectra["min_evals"]:
            few += 1
            assert a["verdict"] == "noise" and not a["out"], a
            assert "Too few eigenvalues to judge" in a["title"], a
        assert a["out"] == (a["layer"] in flagged), a
    assert few >= 2  # dense_1 (32 eigenvalues) and out (10)
    tab.page.close()


def _overlaps(frame):
    return frame.evaluate("""() => {
        const rects = [...document.querySelectorAll('canvas.nv-heatmap')].map(c => c.getBoundingClientRect())
            .filter(r => r.width > 0);
        const cards = [...document.querySelectorAll('[data-testid=card]')].map(c => [c, c.getBoundingClientRect()]);
        const bad = [];
        rects.forEach((a, i) => rects.slice(i + 1).forEach(b => {
            if (a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5)
                bad.push(['overlap', a.left, b.left]);
        }));
        for (const c of document.querySelectorAll('canvas.nv-heatmap')) {
            const r = c.getBoundingClientRect(), k = c.closest('[data-testid=card]').getBoundingClientRect();
            if (r.width && (r.left < k.left - 0.5 || r.right > k.right + 0.5))
                bad.push(['outside card', r.width, k.width]);
        }
        const d = document.documentElement;
        return {bad, canvases: rects.length, scroll: d.scrollWidth, client: d.clientWidth};
    }""")


@pytest.mark.parametrize("width", [900, 1600])
def test_side_by_side_heatmaps_fit_a_narrow_window(served, browser_, width):
    """The user's steps: open the tab on one run, look at a heatmap, tick a second run."""
    tab = _open(browser_, served, width=width, runs=["every1"])
    frame = tab.frame
    row = frame.locator('[data-testid="tensor-row"][data-tag="net/conv/kernel"]')
    row.scroll_into_view_if_needed()
    conv_cards = '[data-testid=tensor-row][data-tag="net/conv/kernel"] [data-testid=card]'
    frame.wait_for_function("() => document.querySelector('%s').dataset.range" % conv_cards)
    frame.locator('[data-testid="run-option"][value="every20"]').click()
    frame.wait_for_function("() => document.querySelectorAll('%s').length === 2" % conv_cards)
    row.scroll_into_view_if_needed()
    frame.wait_for_function("""() => [...document.querySelectorAll('%s')]
        .every(c => c.dataset.range && !c.hasAttribute("data-loading"))""" % conv_cards)
    got = _overlaps(frame)
    _shot(tab, "heatmaps-%d" % width)
    assert got["canvases"] >= 2 and not got["bad"], got
    assert got["scroll"] <= got["client"], got
    tab.page.close()


def _address(tab):
    return urllib.parse.unquote(tab.page.evaluate("location.hash"))


def test_reload_keeps_the_overview_run_axes_and_shared_colours(served, browser_):
    tab = _open(browser_, served, runs=["every1", "every20"])
    frame = tab.frame
    _pick_detail(frame, "every20")
    frame.locator('[data-testid="projection-axes-per-run"]').click()
    frame.locator('[data-testid="tensor-row"][data-tag="net/conv/kernel"] [data-testid="row-shared-range"]').check()
    tab.page.wait_for_function("() => decodeURIComponent(location.hash).includes('nv_shared=net/conv/kernel')")
    address = _address(tab)
    assert "nv_detail=every20" in address and "nv_axes=per-run" in address, address
    tab.page.reload()
    frame = browser.plugin_frame(tab.page)
    frame.locator(browser.OVERVIEW).first.wait_for(timeout=30000)
    assert frame.locator('[data-testid="detail-run"]').input_value() == "every20"
    frame.wait_for_function("() => document.querySelector('[data-testid=overview-table]').dataset.run === 'every20'")
    assert frame.locator('[data-testid="projection-panel"], [data-axes]').first.get_attribute("data-axes") == "per-run"
    row = '[data-testid="tensor-row"][data-tag="net/conv/kernel"]'
    assert frame.locator(row + ' [data-testid="row-shared-range"]').is_checked()
    tab.page.close()


def test_changing_the_address_of_an_open_tab_applies_it(served, browser_):
    tab = _open(browser_, served, runs=["every1"])
    frame = tab.frame
    # Edited by hand: two runs, a filter, the other run's overview.
    tab.page.evaluate("h => { location.hash = h; }", _hash(runs=["every1", "every20"], filter="conv", detail="every20"))
    frame.wait_for_function(
        "() => new Set([...document.querySelectorAll('[data-testid=card]')].map(c => c.dataset.run)).size === 2"
    )
    frame.wait_for_function("() => document.querySelector('[data-testid=overview-table]').dataset.run === 'every20'")
    assert frame.locator('[data-testid="tag-filter"]').input_value() == "conv"
    assert frame.locator('[data-testid="detail-run"]').input_value() == "every20"
    # Back: the first address again.
    tab.page.go_back()
    frame.wait_for_function(
        "() => new Set([...document.querySelectorAll('[data-testid=card]')].map(c => c.dataset.run)).size === 1"
    )
    assert frame.locator('[data-testid="tag-filter"]').input_value() == ""
    assert not tab.errors, tab.errors
    tab.page.close()


def _rgb(text):
    nums = [float(x) for x in text[text.index("(") + 1 : text.index(")")].split(",")[:3]]
    return nums


def test_status_colours_are_apart_from_run_colours(served, browser_):
    tab = _open(browser_, served, runs=["every1", "every20", "slow"])
    frame = tab.frame
    frame.wait_for_function("() => document.querySelectorAll('[data-testid=structure-layer]').length > 0")
    keys = frame.evaluate("""() => Object.fromEntries(
        [...document.querySelectorAll('[data-testid=structure-legend-item]')].map(i => {
        const k = getComputedStyle(i.querySelector('.nv-health-key'));
        return [i.dataset.health, {image: k.backgroundImage, color: k.backgroundColor, text: i.innerText}]; }))""")
    status = frame.evaluate("""() => { const s = getComputedStyle(document.documentElement);
        return ['--nv-large', '--nv-tiny', '--nv-stopped', '--nv-ok'].map(v => s.getPropertyValue(v).trim()); }""")
    runs = [[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in CATEGORY10]
    for colour in status:
        rgb = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
        assert min(np.linalg.norm(np.subtract(rgb, r)) for r in runs) > 50, colour
    # Large and tiny are hatched, not flat run-like swatches; every key names its glyph and word.
    hatched = "repeating-linear-gradient"
    assert hatched in keys["large"]["image"] and hatched in keys["tiny"]["image"]
    assert keys["ok"]["text"].startswith("✓ healthy") and keys["large"]["text"].startswith("▲ large")
    assert keys["tiny"]["text"].startswith("▼ tiny") and keys["stopped"]["text"].startswith("■ stopped")
    # The slow run's kernels are tiny per step: the overview says so in words, with the glyph.
    _pick_detail(frame, "slow")
    rows = _ratio_rows(frame)
    assert rows[KERNEL]["health"] == "tiny" and "▼ tiny" in rows[KERNEL]["text"], rows[KERNEL]
    tab.page.close()


def test_y_tick_labels_never_collide(served, browser_):
    tab = _open(browser_, served, width=900, runs=["every1", "slow"])
    frame = tab.frame
    for layer in ("net/dense_1", "net/out"):
        charts = frame.locator('[data-testid="layer-charts"][data-layer="%s"]' % layer)
        charts.scroll_into_view_if_needed()
        frame.wait_for_function("e => e.dataset.loaded === 'true'", arg=charts.element_handle())
    frame.wait_for_function("() => document.querySelectorAll('[data-yticks]').length >= 8")
    ticks = frame.evaluate("""() => [...document.querySelectorAll('[data-yticks]')]
        .filter(c => !c.hidden && c.offsetParent)
        .map(c => [c.dataset.testid, JSON.parse(c.dataset.yticks)])""")
    assert len(ticks) >= 8
    for name, marks in ticks:
        assert len(marks) >= 2, (name, marks)
        ys = sorted(y for _, y in marks)
        assert all(b - a >= 11 for a, b in zip(ys, ys[1:])), (name, marks)  # 11 px font
    # The band's label sits inside each ratio chart's plot, above the lines (on the overlay).
    for chart in frame.locator('[data-testid="chart-ratio"]').all():
        label = chart.locator('[data-testid="band-label"]')
        assert label.is_visible() and label.inner_text() == "healthy: 1e-4 to 1e-2 per step"
        plot, box = chart.locator(".u-over").bounding_box(), label.bounding_box()
        assert plot["x"] <= box["x"] and box["x"] + box["width"] <= plot["x"] + plot["width"]
        assert plot["y"] <= box["y"] and box["y"] + box["height"] <= plot["y"] + plot["height"]
    _shot(tab, "charts-900")
    tab.page.close()


def test_show_layer_keeps_a_matching_filter_and_lands_on_its_charts(served, browser_):
    tab = _open(browser_, served, runs=["slow"])
    frame = tab.frame
    finding = frame.locator('[data-testid="finding"][data-kind="lr_too_low"]')
    finding.wait_for(timeout=30000)
    layer = finding.get_attribute("data-layer")
    frame.locator('[data-testid="tag-filter"]').fill(layer + "/")

    def landed():
        charts = frame.locator('[data-testid="layer-charts"][data-layer="%s"]' % layer)
        frame.wait_for_function("""e => { const top = e.getBoundingClientRect().top;
            const head = document.querySelector('.nv-header').getBoundingClientRect().bottom;
            return top >= head - 1 && top < head + 60; }""", arg=charts.element_handle(), timeout=10000)

    finding.locator('[data-testid="finding-link"]').click()
    landed()
    assert frame.locator('[data-testid="tag-filter"]').input_value() == layer + "/"
    assert not frame.locator('[data-testid="filter-note"]').is_visible()
    # A filter that hides the layer is cleared, and the filter box says so.
    frame.locator('[data-testid="tag-filter"]').fill("conv")
    frame.evaluate("() => window.scrollTo(0, 0)")
    finding.locator('[data-testid="finding-link"]').click()
    landed()
    assert frame.locator('[data-testid="tag-filter"]').input_value() == ""
    note = frame.locator('[data-testid="filter-note"]')
    assert note.is_visible() and note.inner_text() == 'filter "conv" cleared to show %s' % layer
    _shot(tab, "show-layer-1600")
    tab.page.close()
