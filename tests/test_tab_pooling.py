"""Heatmaps pooled by whole kernel tiles in real TensorBoard and real Chromium.

One run written with ``tb_nnviz.Writer`` under a small cell budget (1225 cells,
about what ResNet-50's largest kernels get under the model-wide budget) holds
ResNet-like tensors: ``conv4_block3_2_conv`` (3x3x256x256, pooled by 8x8
channel pairs of whole 3x3 tiles), PyTorch's 7x7 RGB stem (64x3x7x7,
``conv_first``: both channel axes small, one cell per channel pair) and a
2048x10 classifier (its 10 columns kept). The tests check the tile caption,
the hover's value, absmax and block (channel ranges, tensor index range).
A second run holds a kernel logged with ``full_resolution`` (unpooled beyond
``max_cells``) and one with NaN cells: the cards say which heatmaps are
pooled, and the PNG export carries the NaN legend.
"""

import numpy as np
import pytest

import tb_nnviz
from tests import browser, tbserver

CONV = "conv4_block3_2_conv/kernel"
STEM = "conv1/weight"
DENSE = "predictions/kernel"
SHAPES = {CONV: (3, 3, 256, 256), STEM: (64, 3, 7, 7), DENSE: (2048, 10)}
LAYOUTS = {STEM: "conv_first"}
FULL, PART = "full/kernel", "part/kernel"


def _values():
    rng = np.random.default_rng(3)
    return {name: (rng.normal(size=shape) * 0.02).astype(np.float32) for name, shape in SHAPES.items()}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("pooling")
    values = _values()
    with tb_nnviz.Writer(logdir / "resnet", max_cells=1225) as w:
        w.log_weights(0, values, layouts=LAYOUTS, trajectories=False)
    broken = {FULL: (np.arange(2304, dtype=np.float32).reshape(3, 3, 16, 16) - 1152) / 1152,
              PART: np.where(np.eye(16) > 0, np.nan, 0.5).astype(np.float32)}
    with tb_nnviz.Writer(logdir / "broken", max_cells=300, full_resolution="^full/") as w:
        w.log_weights(0, broken, layouts={FULL: "conv"}, trajectories=False, spectra=False)
    with tbserver.tensorboard(logdir) as url:
        tbserver.wait_for(lambda: tbserver.route_json(url, "tags"),
                          lambda t: len(t.get("runs", {}).get("resnet", {})) == len(SHAPES)
                          and len(t["runs"].get("broken", {})) == 2)
        yield url, values


def test_the_pooling_is_whole_tiles_with_small_axes_kept(served):
    url, _ = served
    tags = tbserver.route_json(url, "tags")["runs"]["resnet"]
    assert tags[CONV]["pool"] == [24, 24]  # 8x8 channel pairs, 32x32 cells
    assert tags[STEM]["pool"] == [7, 7]  # 3 RGB inputs x 64 out-channels, one cell per pair
    assert tags[DENSE]["pool"] == [17, 1]  # the 10 classes kept


def test_a_pooled_conv_heatmap_names_its_tiles_and_hovers_its_block(served, browser_):
    url, values = served
    tab = browser.open_ready(browser_, url, "nnviz&nv_runs=resnet")
    frame = tab.frame
    card = browser.loaded_card(frame, "resnet", CONV)
    tiles = card.locator('[data-testid="axis-tiles"]').inner_text()
    assert tiles == "pooled by whole tiles: each cell: mean of 8×8 channel pairs (3×3 tiles); hover shows the block"
    assert "each cell: mean of 8×8 channel pairs, 3×3 tiles" in card.inner_text()
    canvas = card.locator('[data-testid="heatmap"]')
    box = canvas.bounding_box()
    r, c = 1, 31
    canvas.hover(position={"x": (c + 0.5) * box["width"] / 32, "y": (r + 0.5) * box["height"] / 32})
    tip = browser.tooltip(frame)
    block = values[CONV][:, :, 8:16, 248:256].astype(np.float64)
    assert (int(tip["row"]), int(tip["col"])) == (r, c)
    assert float(tip["value"]) == pytest.approx(block.mean(), rel=1e-5, abs=1e-9)
    assert np.float32(float(tip["absmax"])) == block.flat[np.argmax(np.abs(block))]
    assert tip["block"] == "in 8–15 × out 248–255 (whole 3×3 tiles; rows 24–47, cols 744–767)"
    assert tip["index"] == "[0, 0, 8, 248] … [2, 2, 15, 255]"

    # PyTorch's 7x7 RGB stem: one cell per (in, out) pair, its 3 in-channels kept.
    stem = browser.loaded_card(frame, "resnet", STEM)
    assert stem.locator('[data-testid="axis-tiles"]').inner_text() == (
        "pooled by whole tiles: each cell: mean of one tile (one in/out channel pair, 7×7 tiles); "
        "hover shows the block")
    assert stem.locator('[data-testid="axis-rows"]').inner_text().startswith("in (3)")  # a 3-row heatmap: short label
    canvas = stem.locator('[data-testid="heatmap"]')
    box = canvas.bounding_box()
    r, c = 2, 40
    canvas.hover(position={"x": (c + 0.5) * box["width"] / 64, "y": (r + 0.5) * box["height"] / 3})
    tip = browser.tooltip(frame)
    kernel = values[STEM][40, 2].astype(np.float64)
    assert float(tip["value"]) == pytest.approx(kernel.mean(), rel=1e-5, abs=1e-9)
    assert tip["block"] == "in 2 × out 40 (whole 7×7 tiles; rows 14–20, cols 280–286)"
    assert tip["index"] == "[40, 2, 0, 0] … [40, 2, 6, 6]"


def test_pooled_cards_say_so_and_full_resolution_ones_are_unpooled(served, browser_):
    url, _ = served
    tags = tbserver.route_json(url, "tags")["runs"]["broken"]
    assert tags[FULL]["pool"] == [1, 1] and tags[FULL]["grid"] == [48, 48]  # 2,304 cells, max_cells 300
    tab = browser.open_ready(browser_, url, "nnviz&nv_runs=resnet")
    note = browser.loaded_card(tab.frame, "resnet", CONV).locator('[data-testid="pooled-note"]')
    assert note.is_visible() and "full_resolution=" in note.inner_text()
    browser.select_runs(tab.frame, ["broken"])
    for tag in (FULL, PART):
        assert not browser.loaded_card(tab.frame, "broken", tag).locator('[data-testid="pooled-note"]').is_visible()
    tab.page.close()


def test_png_export_of_nan_cells_has_the_nan_legend(served, browser_):
    from PIL import Image

    url, _ = served
    tab = browser.open_ready(browser_, url, "nnviz&nv_runs=resnet")
    browser.select_runs(tab.frame, ["broken"])
    card = browser.loaded_card(tab.frame, "broken", PART)
    assert card.locator('[data-testid="legend-nan"]').inner_text().endswith("NaN × 16")
    heat_h = card.locator('[data-testid="heatmap"]').evaluate("c => c.height")
    with tab.page.expect_download() as dl:
        card.locator('[data-testid="save-png"]').click()
    img = Image.open(dl.value.path()).convert("RGB")
    # figure.ts at device pixel ratio 1: title, subtitle, axis label lines, heatmap, bar, ticks, legend line.
    heat_top = 12 + 14 + 6 + 12 + 8 + 16
    legend_y = heat_top + heat_h + 10 + 12 + 3 + 11 + 5
    assert img.size[1] == legend_y + 16 - 5 + 12, (img.size, heat_h)
    px = img.load()
    swatch = [px[x, y] for x in range(28, 28 + 9) for y in range(legend_y + 1, legend_y + 10)]
    assert sum(1 for p in swatch if p == (255, 0, 255)) > 20  # the NaN colour (colormap.ts NAN_RGBA)
    tab.page.close()
