"""Names and descriptions from a log are text, never HTML: real TensorBoard + real Chromium.

A run named ``<img src=x onerror=alert(1)>``, a tensor named
``<script>alert(1)</script>/kernel`` and a description full of HTML are logged
with ``tb_nnviz.Writer``; the NNViz tab must show them as text, fire no
dialog, inject no element and log no console error.
"""

import json
import urllib.parse
import urllib.request

import numpy as np
import pytest

import tb_nnviz
from tests import browser, tbserver

RUN = "<img src=x onerror=alert(1)>"
TAG = "<script>alert(1)</script>/kernel"
BIAS = "<svg onload=alert(3)>/bias"
DESCRIPTION = '<b>bold</b><img src=y onerror=alert(2)><script>alert(4)</script>" onmouseover="alert(5)'

# Every element of the frame that could run or fetch something, or that the
# description's markup would create if it were parsed as HTML. (The tab draws SVG itself:
# the network diagram, chart keys; an injected <svg onload> shows as its "on" attribute.)
_INJECTED = """() => {
  const bad = [];
  for (const e of document.querySelectorAll('*')) {
    const tag = e.tagName.toLowerCase();
    if (['img', 'b', 'iframe', 'object', 'embed'].includes(tag)) bad.push(e.outerHTML.slice(0, 200));
    if (tag === 'script' && (e.textContent.includes('alert') || !e.src.includes('/data/plugin/nnviz/')))
      bad.push(e.outerHTML.slice(0, 200));
    for (const a of e.getAttributeNames()) if (a.startsWith('on')) bad.push(tag + '[' + a + ']');
  }
  return bad;
}"""

# Texts and attribute values of the frame: where names may legitimately appear.
_STRINGS = """() => {
  const out = [document.body.innerText];
  for (const e of document.querySelectorAll('*'))
    for (const a of e.getAttributeNames()) out.push(e.getAttribute(a));
  for (const o of document.querySelectorAll('option')) out.push(o.textContent);
  return out;
}"""


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("hostile")
    rng = np.random.default_rng(3)
    with tb_nnviz.Writer(logdir / RUN) as w:
        for step in (0, 1, 2):
            w.log_weights(
                step,
                {TAG: rng.normal(size=(8, 6)).astype(np.float32), BIAS: rng.normal(size=6)},
                description={TAG: DESCRIPTION, BIAS: DESCRIPTION},
            )
    with tbserver.tensorboard(logdir) as url:
        tags = tbserver.wait_for(
            lambda: json.load(urllib.request.urlopen(url + "/data/plugin/nnviz/tags")),
            lambda t: len(t.get("runs", {}).get(RUN, {})) == 2,
        )
        assert tags["runs"][RUN][TAG]["description"] == DESCRIPTION
        yield url


def test_hostile_names_are_shown_as_text_and_run_nothing(hostile_server):
    with browser.open_tab(hostile_server) as tab:
        page, frame, dialogs, errors = tab.page, tab.frame, tab.dialogs, tab.errors
        frame.wait_for_function(
            "tag => [...document.querySelectorAll('[data-testid=\"card\"]')]"
            ".some(c => c.getAttribute('data-tag') === tag && c.getAttribute('data-step') !== null)",
            arg=TAG, timeout=30000,
        )
        card = frame.locator('[data-testid="card"]').filter(has_text="alert(1)</script>").first
        canvas = card.locator('[data-testid="heatmap"]')
        if canvas.count():
            canvas.hover()  # the tooltip shows names too
        page.wait_for_timeout(1500)  # time for any injected handler to fire

        assert dialogs == []
        assert frame.evaluate(_INJECTED) == []
        strings = frame.evaluate(_STRINGS)
        text = strings[0]
        assert TAG in text or "alert(1)</script>" in text, text[:2000]
        assert any(RUN in s for s in strings if s), "run name not shown"
        assert any(DESCRIPTION in s for s in strings if s), "description not shown"
        card_html = card.evaluate("c => c.innerHTML")
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in card_html
        # The top-level TensorBoard page (its run selector lists the run) stays clean too.
        assert page.evaluate("() => document.querySelectorAll('img[src=\"x\"], img[onerror]').length") == 0
        assert errors == [], errors


def test_hostile_names_round_trip_through_the_api(hostile_server):
    query = urllib.parse.urlencode({"run": RUN, "tag": TAG, "step": 2})
    with urllib.request.urlopen(hostile_server + "/data/plugin/nnviz/heatmap?" + query) as r:
        assert r.status == 200
        assert r.headers["X-Content-Type-Options"] == "nosniff"
    query = urllib.parse.urlencode({"run": RUN})
    with urllib.request.urlopen(hostile_server + "/data/plugin/nnviz/overview?" + query) as r:
        assert {row["name"] for row in json.load(r)} == {TAG, BIAS}
