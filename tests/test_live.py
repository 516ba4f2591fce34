"""The NNViz tab while training runs, and in TensorBoard's dark theme.

Live: one run logs steps 0..4, the tab is opened and set up (an earlier step, the
"change since first" mode, a zoomed heatmap, a scrolled page); then a second writer
appends steps 5..9 to the same run (a new event file, as a resumed job would), and
TensorBoard's reload button broadcasts ``experimental.DataReloaded`` to the plugin
(src/ipc.ts). The new steps must appear while nothing the user set moves; a card left
on the latest step follows the latest.

Dark mode: TensorBoard's theme menu (the top bar's brightness icon) puts the class
``dark-mode`` on the top page's <body>; the tab (a same-origin iframe) follows it.
Screenshots land in test-artifacts/.
"""

import json
import os
import time
import urllib.parse
import urllib.request

import numpy as np
import pytest

import tb_nnviz
from tests import browser, tbserver

ARTIFACTS = os.path.join(tbserver.REPO, "test-artifacts")
RUN = "train"
KERNEL, BIAS = "dense/kernel", "dense/bias"


def _weights(step):
    rng = np.random.default_rng(step)
    base = np.random.default_rng(99)
    kernel = base.normal(scale=0.1, size=(24, 16)) + 0.02 * step * rng.normal(size=(24, 16))
    bias = np.linspace(-0.5, 0.5, 16) + 0.01 * step * rng.normal(size=16)
    return {KERNEL: kernel.astype(np.float32), BIAS: bias.astype(np.float32)}


def _log(logdir, steps, **kw):
    with tb_nnviz.Writer(os.path.join(str(logdir), RUN), **kw) as w:
        for step in steps:
            w.log_weights(step, _weights(step))


def _tags(url):
    with urllib.request.urlopen(url + "/data/plugin/nnviz/tags") as r:
        return json.load(r).get("runs", {}).get(RUN, {})


def _steps_logged(url, n):
    tags = _tags(url)
    return len(tags) == 2 and all(len(info.get("steps", [])) == n for info in tags.values())


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("live")
    _log(logdir, range(5))
    with tbserver.tensorboard(logdir, "--reload_interval", "1") as url:
        tbserver.wait_for(lambda: _steps_logged(url, 5), bool)
        yield logdir, url


def _card(frame, tag, scroll=False):
    card = frame.locator('[data-testid="card"][data-run="%s"][data-tag="%s"]' % (RUN, tag))
    if scroll:  # cards load when scrolled near (the Findings and structure panels come first)
        card.scroll_into_view_if_needed()
    card.locator('[data-testid="heatmap"]').wait_for(timeout=30000)
    return card


def _wait_card(frame, card, step, mode):
    frame.wait_for_function(
        "a => a[0].dataset.step === a[1] && a[0].dataset.mode === a[2] && !a[0].hasAttribute('data-loading')",
        arg=[card.element_handle(), str(step), mode],
        timeout=30000,
    )


def _ratio_chart(frame):
    charts = frame.locator('[data-testid="layer-charts"][data-layer="dense"]')
    frame.wait_for_function(
        "e => e.dataset.loaded === 'true' && !e.hasAttribute('data-loading')",
        arg=charts.element_handle(), timeout=30000,
    )
    return charts.locator('[data-testid="chart-ratio"]')


def _shot(page, name):
    os.makedirs(ARTIFACTS, exist_ok=True)
    page.screenshot(path=os.path.join(ARTIFACTS, "live-%s.png" % name))


def test_new_steps_appear_while_step_mode_zoom_and_scroll_stay(served):
    logdir, url = served
    with browser.open_tab(url, width=1280, height=720) as tab:
        page, frame = tab.page, tab.frame
        card = _card(frame, KERNEL, scroll=True)
        _wait_card(frame, card, 4, "none")
        slider = card.locator('[data-testid="step-slider"]')
        assert slider.get_attribute("max") == "4"
        ratio = _ratio_chart(frame)
        assert ratio.get_attribute("data-points") == "5"

        # Step 2 of 0..4 (not the latest), change since first, zoomed in.
        slider.focus()
        slider.press("ArrowLeft")
        slider.press("ArrowLeft")
        _wait_card(frame, card, 2, "none")
        card.locator('[data-testid="mode"]').select_option("first")
        _wait_card(frame, card, 2, "first")
        canvas = card.locator('[data-testid="heatmap"]')
        frame.evaluate("c => c.scrollIntoView({block: 'center'})", canvas.element_handle())
        box = canvas.bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.4)
        page.keyboard.down("Control")  # zoom: Ctrl + wheel (a plain wheel scrolls the page)
        for _ in range(2):
            page.mouse.wheel(0, -240)
        page.keyboard.up("Control")
        frame.wait_for_function("c => Number(c.dataset.zoom) > 1.4", arg=canvas.element_handle(), timeout=5000)
        page.mouse.move(1, 1)
        # Then scroll the tab (the iframe's document) back up a little: off both ends.
        y0 = frame.evaluate("() => window.scrollY")
        assert y0 > 200
        frame.evaluate("() => window.scrollBy(0, -80)")
        frame.wait_for_function("y => Math.abs(window.scrollY - (y - 80)) < 1", arg=y0, timeout=5000)
        before = {
            "view": canvas.get_attribute("data-view"),
            "zoom": canvas.get_attribute("data-zoom"),
            "scroll": frame.evaluate("() => window.scrollY"),
            "value": slider.input_value(),
        }
        _shot(page, "before")

        # Training goes on: steps 5..9 from a new writer (a second event file in the run).
        _log(logdir, range(5, 10), filename_suffix=".resumed")
        tbserver.wait_for(lambda: _steps_logged(url, 10), bool, timeout=30)
        tags_requests = []
        page.on("request", lambda r: tags_requests.append(r.url) if "/data/plugin/nnviz/tags" in r.url else None)
        t0 = time.monotonic()
        page.locator("app-header-reload button").click()
        frame.wait_for_function("s => s.max === '9'", arg=slider.element_handle(), timeout=15000)
        # TensorBoard's DataReloaded reached the tab: well before the tab's own 30 s poll.
        assert time.monotonic() - t0 < 15 and tags_requests
        _wait_card(frame, card, 2, "first")
        # The bias card was left on the latest step: it follows the latest (step 9).
        bias = _card(frame, BIAS)
        frame.wait_for_function(
            "c => c.querySelector('[data-testid=step-slider]').max === '9'", arg=bias.element_handle(), timeout=15000
        )
        assert bias.locator('[data-testid="step-slider"]').input_value() == "9"
        assert bias.locator('[data-testid="step-label"]').inner_text() == "9"

        assert slider.input_value() == before["value"] == "2"
        assert card.locator('[data-testid="step-label"]').inner_text() == "2"
        assert card.locator('[data-testid="mode"]').input_value() == "first"
        assert card.get_attribute("data-mode") == "first" and card.get_attribute("data-step") == "2"
        assert canvas.get_attribute("data-view") == before["view"]
        assert canvas.get_attribute("data-zoom") == before["zoom"]
        assert frame.evaluate("() => window.scrollY") == before["scroll"]
        _shot(page, "after")
        # The ratio chart (loaded lazily: off screen until scrolled to) gets the new points.
        ratio.scroll_into_view_if_needed()
        frame.wait_for_function("e => e.dataset.points === '10'", arg=ratio.element_handle(), timeout=15000)
        last = {s["tag"]: s["last"] for s in json.loads(ratio.get_attribute("data-series-last"))}
        bias.scroll_into_view_if_needed()
        _wait_card(frame, bias, 9, "none")
        for tag in (KERNEL, BIAS):
            route = "%s/data/plugin/nnviz/trajectory?run=%s&tag=%s" % (url, RUN, urllib.parse.quote(tag))
            with urllib.request.urlopen(route) as r:
                traj = json.load(r)
            assert traj["step"][-1] == 9 and last[tag] == traj["update_ratio_per_step"][-1], tag
        # The new steps are there: the slider reaches step 9.
        slider.focus()
        slider.press("End")
        _wait_card(frame, card, 9, "first")
        assert tab.errors == []


# --- dark mode ------------------------------------------------------------------------


def _luminance(css_color):
    r, g, b = [int(float(x)) for x in css_color[css_color.index("(") + 1:-1].split(",")[:3]]
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


def _background(frame, selector="body"):
    return frame.evaluate("s => getComputedStyle(document.querySelector(s)).backgroundColor", selector)


def _pixels_near(locator, rgb, tol=24):
    """Opaque-ish pixels of a canvas (or the first canvas inside) within ``tol`` of ``rgb``."""
    return locator.evaluate(
        """(e, a) => { const c = e.tagName === 'CANVAS' ? e : e.querySelector('canvas');
                  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
                  for (let i = 0; i < d.length; i += 4)
                    if (d[i+3] > 200 && Math.abs(d[i]-a[0]) + Math.abs(d[i+1]-a[1]) + Math.abs(d[i+2]-a[2]) < a[3]) n++;
                  return n; }""",
        [*rgb, tol],
    )


LIGHT_GRID, DARK_GRID = (0xE0, 0xE0, 0xE0), (0x55, 0x55, 0x55)  # --nv-grid in style.ts


def _shot_cards(frame, theme):
    """The layer charts and both heatmap cards in ``theme``, then back to the top."""
    for name, loc in [
        ("charts", frame.locator('[data-testid="layer-charts"][data-layer="dense"]')),
        ("kernel", frame.locator('[data-testid="card"][data-tag="%s"]' % KERNEL)),
        ("bias", frame.locator('[data-testid="card"][data-tag="%s"]' % BIAS)),
    ]:
        loc.scroll_into_view_if_needed()
        frame.wait_for_function("e => !e.querySelector('[data-loading]') && !e.hasAttribute('data-loading')",
                                arg=loc.element_handle(), timeout=30000)
        loc.screenshot(path=os.path.join(ARTIFACTS, "live-%s-%s.png" % (theme, name)))
    frame.evaluate("() => window.scrollTo(0, 0)")


def test_tab_follows_tensorboards_dark_mode(served):
    _, url = served
    with browser.open_tab(url, width=1280, height=900) as tab:
        page, frame = tab.page, tab.frame
        card = _card(frame, KERNEL, scroll=True)
        frame.wait_for_function(
            "c => c.dataset.step && !c.hasAttribute('data-loading')", arg=card.element_handle(), timeout=30000
        )
        ratio = _ratio_chart(frame)
        path = frame.locator('[data-testid="projection"]')
        frame.wait_for_function("c => Number(c.dataset.points) > 0", arg=path.element_handle(), timeout=30000)
        heatmap = frame.locator('[data-testid="card"][data-tag="%s"] [data-testid="heatmap"]' % KERNEL)
        heat_before = heatmap.evaluate("c => c.toDataURL()")

        assert not page.evaluate("() => document.body.classList.contains('dark-mode')")
        assert frame.evaluate("() => document.documentElement.dataset.theme") == "light"
        assert _luminance(_background(frame)) > 0.9
        assert _pixels_near(ratio, LIGHT_GRID) > 50 and _pixels_near(ratio, DARK_GRID) == 0
        assert _pixels_near(path, LIGHT_GRID) > 50
        _shot(page, "light")
        _shot_cards(frame, "light")

        browser.theme_menu(page, "Dark")
        assert page.evaluate("() => document.body.classList.contains('dark-mode')")
        browser.wait_theme(frame, "dark")
        assert _luminance(_background(frame)) < 0.25
        assert _luminance(_background(frame, ".nv-card")) < 0.3
        assert _luminance(frame.evaluate("() => getComputedStyle(document.body).color")) > 0.7
        # Charts and the path redrew their axes and grid in the dark colours.
        assert _pixels_near(ratio, DARK_GRID, tol=12) > 50 and _pixels_near(ratio, LIGHT_GRID, tol=12) == 0
        assert _pixels_near(path, DARK_GRID, tol=12) > 50 and _pixels_near(path, LIGHT_GRID, tol=12) == 0
        # Heatmap colours are the same in both themes.
        assert heatmap.evaluate("c => c.toDataURL()") == heat_before
        _shot(page, "dark")
        _shot_cards(frame, "dark")

        browser.theme_menu(page, "Light")
        browser.wait_theme(frame, "light")
        assert _luminance(_background(frame)) > 0.9
        assert _pixels_near(ratio, LIGHT_GRID, tol=12) > 50 and _pixels_near(ratio, DARK_GRID, tol=12) == 0

        # "Browser default" follows the OS only through TensorBoard: with a dark OS
        # preference TensorBoard (and so the tab) is dark after a reload...
        browser.theme_menu(page, "Browser default")
        # TensorBoard persists the choice asynchronously; reloading before it is
        # stored would bring back "Light".
        page.wait_for_function(
            "() => JSON.parse(localStorage.getItem('_tb_global_settings') || '{}').theme === 'browser_default'",
            timeout=30000,
        )
        page.emulate_media(color_scheme="dark")
        page.reload()
        frame = browser.plugin_frame(page)
        frame.locator('[data-testid="card"]').first.wait_for(timeout=30000)
        # TensorBoard applies its theme once its settings have loaded: wait for it.
        page.wait_for_function("() => document.body.classList.contains('dark-mode')", timeout=30000)
        browser.wait_theme(frame, "dark")
        assert _luminance(_background(frame)) < 0.25
        # ...and TensorBoard's "Light" wins over the dark OS preference.
        browser.theme_menu(page, "Light")
        browser.wait_theme(frame, "light")
        assert _luminance(_background(frame)) > 0.9
        assert tab.errors == []
