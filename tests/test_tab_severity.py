"""Severity first, and honest pooled conv heatmaps, in real TensorBoard and real Chromium.

A cold user's runs had a NaN run (three errors) that the tab neither opened on nor
listed first: it opened on the first run with a warning and listed runs by name, the
error run last and off screen. And a pooled conv kernel's caption still said "one tile
per in/out channel pair" while each cell averaged a block of tiles, with a min/max line
that was the range of block means without saying so.

Four runs of the numpy descent of tests/tab_runs.py (its tensors, plus a larger
conv kernel that a small ``max_cells`` pools), named so name order is the wrong order:
``a_note`` (an info ``lr_too_low``), ``b_warn`` (a warning ``lr_too_low``), ``c_quiet``
(nothing) and ``d_nan`` (healthy until NaN weights at step 100: an error ``nonfinite``).
Screenshots land in /tmp/sev/.
"""

import os
import re

import numpy as np
import pytest

from tests import browser, tab_runs, tbserver

SHOTS = "/tmp/sev"
#: The pooled conv kernel: PyTorch Conv2d(16 -> 32, 3x3), grid 48 x 96 = 4,608 cells.
BIG = {"big/weight": ((32, 16, 3, 3), "conv_first", None, "Conv2d(16 -> 32, 3x3) weight")}
ALL = {**tab_runs.TENSORS, **BIG}
#: run: learning rate of the descent; d_nan gets NaN weights from step 100.
RUNS = {"a_note": 2e-5, "b_warn": 1e-6, "c_quiet": 2e-3, "d_nan": 2e-3}
STEPS = 200
MAX_CELLS = 1024
#: Worst severity per run, and the Findings panel's order (errors, warnings, notes, none).
WORST = {"a_note": "info", "b_warn": "warning", "c_quiet": None, "d_nan": "error"}
ORDER = ["d_nan", "b_warn", "a_note", "c_quiet"]


def write_runs(logdir):
    """Writes RUNS; returns each run's weights at the last step (heatmaps at 0, 100, 200)."""
    return tab_runs.write_runs(logdir, RUNS, ALL, MAX_CELLS, nan_run="d_nan")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("severity")
    last = write_runs(logdir)
    with tbserver.tensorboard(logdir) as url:
        tbserver.wait_for(lambda: tbserver.route_json(url, "tags"), lambda t: len(t.get("runs", {})) == len(RUNS)
                          and all(len(r) == len(ALL) for r in t["runs"].values()))
        # The premise: the server's rules give each run the severity its name says.
        for run, worst in WORST.items():
            sev = {f["severity"] for f in tab_runs.findings_of(url, run)}
            assert (min(sev, key=["error", "warning", "info"].index) if sev else None) == worst, (run, sev)
        yield url, last


def _shot(locator, name):
    os.makedirs(SHOTS, exist_ok=True)
    locator.screenshot(path=os.path.join(SHOTS, name + ".png"))


_MARKERS = """() => Object.fromEntries([...document.querySelectorAll('[data-testid=run-option]')].map(b => {
    const m = b.parentElement.querySelector('[data-testid=run-severity]');
    return [b.value, m ? {sev: m.dataset.severity, text: m.textContent, color: getComputedStyle(m).color,
                          visible: m.getBoundingClientRect().width > 0, title: m.title} : null]; }))"""


def _wait_markers(frame, runs):
    frame.wait_for_function("""want => { const got = (%s)();
        return Object.entries(want).every(([r, s]) => s === null ? true : got[r] && got[r].sev === s); }""" % _MARKERS,
                            arg={r: WORST[r] for r in runs}, timeout=30000)
    return frame.evaluate(_MARKERS)


def test_the_tab_opens_on_the_run_with_errors(served, browser_):
    url, _ = served
    tab = browser.open_ready(browser_, url)
    frame = tab.frame
    # b_warn comes first by name and has a warning; d_nan's error outranks it.
    browser.wait_selected(frame, ["d_nan"])
    browser.findings_loaded(frame, "d_nan")
    assert frame.locator('[data-testid="finding"][data-severity="error"][data-kind="nonfinite"]').count() == 1
    assert "nv_runs" not in tab.page.evaluate("location.hash")
    # Every run's marker in the run list, though only d_nan is ticked.
    marks = _wait_markers(frame, RUNS)
    for run, worst in WORST.items():
        assert (marks[run] and marks[run]["sev"]) == worst, (run, marks[run])
        if worst:
            assert marks[run]["visible"] and marks[run]["title"].startswith(run + ": "), marks[run]
    assert marks["d_nan"]["color"] != marks["a_note"]["color"]
    # The marker's glyph is the one the findings show beside their severity.
    glyph = frame.locator('[data-testid="finding"][data-severity="error"] > .nv-sev').inner_text()
    assert glyph.split()[0] == marks["d_nan"]["text"], (glyph, marks["d_nan"])
    _shot(frame.locator(".nv-runs"), "run-list")
    assert not tab.errors, tab.errors
    tab.page.close()


def test_findings_list_runs_by_severity_and_count_errors_apart(served, browser_):
    url, _ = served
    tab = browser.open_ready(browser_, url, "nnviz&nv_runs=" + ",".join(sorted(RUNS)))
    frame = tab.frame
    frame.wait_for_function("""n => { const p = document.querySelector('[data-testid=findings-panel]');
        return !p.hasAttribute('data-loading') && p.querySelectorAll('[data-testid=findings-run]').length === n; }""",
                            arg=len(RUNS), timeout=30000)
    assert browser.selected_runs(frame) == sorted(RUNS)  # the address' choice stands
    got = frame.evaluate("""() => [...document.querySelectorAll('[data-testid=findings-run]')].map(b => ({
        run: b.dataset.run, sev: b.dataset.severity, top: b.getBoundingClientRect().top}))""")
    assert [g["run"] for g in got] == ORDER, got
    assert [g["sev"] for g in got] == [WORST[r] or "none" for r in ORDER], got
    # The error run is on screen at once, under the header.
    assert got[0]["top"] < tab.page.viewport_size["height"], got[0]
    counts = {
        s: frame.locator('[data-testid="finding"][data-severity="%s"]' % s).count()
        for s in ("error", "warning", "info")
    }
    summary = frame.locator('[data-testid="findings-summary"]').inner_text()
    plural = lambda k, w: "%d %s%s" % (k, w, "" if k == 1 else "s")  # noqa: E731
    want = "%s, %s and %s in the selected runs" % (
        plural(counts["error"], "error"), plural(counts["warning"], "warning"), plural(counts["info"], "info"))
    assert counts["error"] >= 1 and counts["warning"] >= 1 and counts["info"] >= 1, counts
    assert summary == want, (summary, counts)
    _wait_markers(frame, RUNS)
    _shot(frame.locator('[data-testid="findings-panel"]'), "findings")
    tab.page.screenshot(path=os.path.join(SHOTS, "page-all-runs.png"))
    assert not tab.errors, tab.errors
    tab.page.close()


def _stats_numbers(text):
    m = re.search(r"block means: min (\S+)\s+max (\S+) · max \|x\| (\S+)", text)
    assert m, text
    return [float(v) for v in m.groups()]


def test_pooled_conv_heatmap_says_it_is_pooled(served, browser_):
    url, last = served
    info = tbserver.route_json(url, "tags")["runs"]["c_quiet"]
    br, bc = info["big/weight"]["pool"]
    assert (br, bc) != (1, 1) and info["conv/weight"]["pool"] == [1, 1], (info["big/weight"], info["conv/weight"])
    tab = browser.open_ready(browser_, url, "nnviz&nv_runs=c_quiet")
    frame = tab.frame
    card = browser.loaded_card(frame, "c_quiet", "big/weight")
    tiles = card.locator('[data-testid="axis-tiles"]')
    text = tiles.inner_text()
    # Pooled by whole 3x3 tiles (grids.heatmap_pool): each cell is a block of a x b channel pairs.
    assert br % 3 == 0 and bc % 3 == 0, (br, bc)
    a, b = br // 3, bc // 3
    block = "one tile (one in/out channel pair, 3×3 tiles)" if (a, b) == (1, 1) else (
        "%d×%d channel pairs (3×3 tiles)" % (a, b))
    assert text == "pooled by whole tiles: each cell: mean of %s; hover shows the block" % block, text
    assert "one per in/out channel pair" not in text
    assert "pooled %d×%d" % (br, bc) in card.inner_text()  # the subtitle's wording, which the caption reuses
    assert "Pooled" in tiles.get_attribute("title")
    # The stats: the range of block means, said so, and the tensor's true max |x| from the absmax plane.
    stats = card.locator('[data-testid="stats"]').inner_text()
    lo, hi, absmax = _stats_numbers(stats)
    w = last["c_quiet"]["big/weight"]
    assert absmax == pytest.approx(np.abs(w).max(), rel=6e-3), (stats, np.abs(w).max())
    assert max(abs(lo), abs(hi)) < absmax  # block means are milder than the extreme
    assert lo > w.min() and hi < w.max()
    # An unpooled conv kernel keeps its tile caption and plain min / max.
    plain = browser.loaded_card(frame, "c_quiet", "conv/weight")
    plain_caption = plain.locator('[data-testid="axis-tiles"]').inner_text()
    assert plain_caption == "3 × 3 tiles (kh × kw), one per in/out channel pair"
    plain_stats = plain.locator('[data-testid="stats"]').inner_text()
    assert "block means" not in plain_stats and "max |x|" not in plain_stats, plain_stats
    _shot(card, "pooled-conv")
    _shot(plain, "plain-conv")
    assert not tab.errors, tab.errors
    tab.page.close()
