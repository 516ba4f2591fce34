"""A heatmap card's colour map and its animated GIF, in real TensorBoard and real Chromium.

One run of tests/tab_runs.py's numpy descent (heatmaps at steps 0, 100 and 200).
The user switches a Dense kernel's card from the diverging map to viridis: the
heatmap's pixels and the colour bar turn viridis (checked against matplotlib's
viridis, an independent copy of the map), the address keeps the choice and a
reload restores it; the card's GIF button downloads one frame per logged step,
each with viridis' colour bar. Screenshots land in test-artifacts/.
"""

import io
import os

import numpy as np
import pytest

from tests import browser, tbserver
from tests.tab_runs import TENSORS, write_runs

ARTIFACTS = os.path.join(tbserver.REPO, "test-artifacts")
RUN = "descent"
TAG = "net/dense_1/kernel"
#: write_runs logs heatmaps every 100 steps of 0..200.
HEATMAP_STEPS = [0, 100, 200]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("colormap")
    write_runs(logdir, {RUN: 2e-3})
    with tbserver.tensorboard(logdir) as url:
        tbserver.wait_for(lambda: tbserver.route_json(url, "tags"),
                          lambda t: len(t.get("runs", {}).get(RUN, {})) == len(TENSORS))
        yield url


def _viridis():
    from matplotlib import colormaps

    return np.round(colormaps["viridis"](np.linspace(0, 1, 256))[:, :3] * 255)


def _distance_to(colours, table):
    """Each colour's L1 distance (RGB) to the nearest row of ``table`` (computed once per distinct colour)."""
    c, back = np.unique(np.asarray(colours, dtype=float).reshape(-1, 3), axis=0, return_inverse=True)
    return np.abs(c[:, None] - table[None]).sum(axis=2).min(axis=1)[back.ravel()]


def _pixels(card, testid, row=None):
    """The distinct RGB colours of the card's canvas ``testid`` (heatmap or colour bar), n x 3, and
    each one's share of the pixels; with ``row``, that row's pixels in order (shares all 1)."""
    got = card.locator('[data-testid="%s"]' % testid).evaluate("""(c, row) => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        if (row !== null) return Array.from({length: c.width}, (_, x) => [...d.slice(4 * x, 4 * x + 3)]);
        const n = new Map();
        for (let k = 0; k < d.length; k += 4) { const key = d[k] + ',' + d[k + 1] + ',' + d[k + 2];
                                                 n.set(key, (n.get(key) || 0) + 1); }
        const total = d.length / 4;
        return [...n].map(([key, count]) => [...key.split(',').map(Number), count / total]); }""", row)
    if row is not None:
        return np.asarray(got, dtype=float), np.ones(len(got))
    got = np.asarray(got, dtype=float)
    return got[:, :3], got[:, 3]


def _card_cmap(frame):
    card = browser.loaded_card(frame, RUN, TAG)
    frame.wait_for_function("c => c.dataset.colormap === 'viridis'", arg=card.element_handle(), timeout=30000)
    return card


def test_viridis_recolours_the_heatmap_and_bar_and_survives_a_reload(served, browser_):
    table = _viridis()
    tab = browser.open_ready(browser_, served, "nnviz&nv_runs=" + RUN)
    frame = tab.frame
    card = browser.loaded_card(frame, RUN, TAG)
    before, share = _pixels(card, "heatmap")
    # Diverging: the weights' signs show as blue and red, far from any viridis colour.
    assert share[_distance_to(before, table) > 60].sum() > 0.3
    assert card.locator('[data-testid="colormap"]').input_value() == "diverging"

    card.locator('[data-testid="colormap"]').select_option("viridis")
    frame.wait_for_function("c => c.dataset.colormap === 'viridis'", arg=card.element_handle(), timeout=30000)
    after, share = _pixels(card, "heatmap")
    assert share[_distance_to(after, table) > 12].sum() < 0.01, "every cell is a viridis colour"
    assert share[_distance_to(after, before) > 60].sum() > 0.5, "the colours changed"
    bar, _ = _pixels(card, "colorbar", row=0)
    assert _distance_to(bar[:1], table[:1])[0] < 6 and _distance_to(bar[-1:], table[-1:])[0] < 6, (bar[0], bar[-1])
    ticks = card.locator('[data-testid="colorbar-tick"]').all_text_contents()
    assert ticks[0] == "0" and all(not t.startswith("−") for t in ticks), ticks  # |x| runs from 0
    os.makedirs(ARTIFACTS, exist_ok=True)
    card.screenshot(path=os.path.join(ARTIFACTS, "colormap-viridis.png"))

    frame.wait_for_function("() => decodeURIComponent(window.parent.location.hash).includes('\"viridis\"]')",
                            timeout=10000)
    tab.page.reload()
    frame = browser.plugin_frame(tab.page)
    card = _card_cmap(frame)
    assert card.locator('[data-testid="colormap"]').input_value() == "viridis"
    colours, share = _pixels(card, "heatmap")
    assert share[_distance_to(colours, table) > 12].sum() < 0.01
    assert not tab.errors, tab.errors
    tab.page.close()


def test_gif_export_has_one_frame_per_logged_step_with_the_colour_bar(served, browser_):
    from PIL import Image, ImageSequence

    table = _viridis()
    tab = browser.open_ready(browser_, served, "nnviz&nv_runs=" + RUN)
    card = browser.loaded_card(tab.frame, RUN, TAG)
    card.locator('[data-testid="colormap"]').select_option("viridis")
    # figure.ts: the bar starts at 12 + 16 (padding, row label) and is as wide as the heatmap, 240 to 400 px.
    heat_w = card.locator('[data-testid="heatmap"]').evaluate("c => parseFloat(c.style.width)")
    bar_x0, bar_x1 = 28, 28 + max(240, min(heat_w, 400)) - 1
    with tab.page.expect_download(timeout=30000) as dl:
        card.locator('[data-testid="save-gif"]').click()
    assert dl.value.suggested_filename.endswith("-steps0-200.gif"), dl.value.suggested_filename
    with open(dl.value.path(), "rb") as f:
        gif = Image.open(io.BytesIO(f.read()))
    frames = [np.asarray(fr.convert("RGB"), dtype=float) for fr in ImageSequence.Iterator(gif)]
    os.makedirs(ARTIFACTS, exist_ok=True)
    Image.fromarray(frames[-1].astype(np.uint8)).save(os.path.join(ARTIFACTS, "colormap-gif-last-frame.png"))
    assert len(frames) == len(HEATMAP_STEPS)
    assert gif.info.get("duration") == 500
    for img in frames:
        # The colour bar: rows running from viridis' dark end to its yellow end, left to right.
        dark = _distance_to(img[:, bar_x0], table[:1]) < 30
        yellow = _distance_to(img[:, bar_x1], table[-1:]) < 40
        rows = np.flatnonzero(dark & yellow)
        assert rows.size >= 8, "no viridis colour bar in the frame"
        assert np.percentile(_distance_to(img[rows[rows.size // 2], bar_x0:bar_x1], table), 95) < 30
    # Frames differ (the weights move between the logged steps).
    assert np.abs(frames[0] - frames[-1]).sum() > 0
    assert not tab.errors, tab.errors
    tab.page.close()
