"""Headless Debian Chromium for end-to-end tests, installed when missing, and what tests do in the tab.

``open_tab``/``new_tab`` open TensorBoard's page and find the plugin's iframe;
the helpers after them act on that frame as a user would (tick runs, choose
TensorBoard's theme) or wait for the tab to settle (selected runs, loaded
findings, a loaded heatmap card).
"""

import contextlib
import os
import shutil
import subprocess
import time

import pytest

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path():
    """Path of Chromium; installs Debian's package when missing and running as root."""
    if not os.path.exists(CHROMIUM) and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True)
    if not os.path.exists(CHROMIUM):
        pytest.fail("Chromium is missing at %s; install it with: sudo apt-get install -y chromium" % CHROMIUM)
    return CHROMIUM


def launch(playwright):
    """A headless Chromium browser driven by playwright."""
    return playwright.chromium.launch(executable_path=chromium_path(), args=FLAGS, headless=True)


class Tab:
    """An open NNViz tab: the page, the plugin's iframe and what the page reported."""

    def __init__(self, page, frame, errors, dialogs):
        self.page, self.frame, self.errors, self.dialogs = page, frame, errors, dialogs


#: The overview's rows: the tab has loaded its runs' tags.
OVERVIEW = '[data-testid="overview-row"]'


@contextlib.contextmanager
def open_tab(base_url, width=1400, height=1000, ready=None):
    """Opens ``<base_url>/#nnviz`` in headless Chromium; yields a :class:`Tab`.

    Console errors and page errors are collected in ``tab.errors``; dialogs are
    dismissed and their messages collected in ``tab.dialogs``. With ``ready``
    (``OVERVIEW``, say), waits until the plugin frame shows that selector.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch(p)
        try:
            tab = new_tab(b, base_url, width, height)
            if ready:
                tab.frame.locator(ready).first.wait_for(timeout=30000)
            yield tab
        finally:
            b.close()


def new_tab(b, base_url, width=1400, height=1000, hash="nnviz"):
    """Opens ``<base_url>/#<hash>`` in a new page of browser ``b``; returns a :class:`Tab`.

    The caller closes ``tab.page`` (or the browser). Several pages may share one
    browser: playwright's sync API allows one browser session per thread.
    """
    page = b.new_page(viewport={"width": width, "height": height}, accept_downloads=True)
    # The tab writes its costlier test hooks (charts' data-series-last) only when asked;
    # init scripts run in every frame, the plugin's iframe included.
    page.add_init_script("window.__NNVIZ_TEST_HOOKS__ = true")
    errors, dialogs = [], []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(base_url + "/#" + hash)
    return Tab(page, plugin_frame(page), errors, dialogs)


def plugin_frame(page, timeout=60):
    """The NNViz plugin's iframe of a TensorBoard page, once TensorBoard created it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for frame in page.frames:
            if "plugin_entry.html" in frame.url and "nnviz" in frame.url:
                return frame
        page.wait_for_timeout(50)
    raise TimeoutError("no NNViz iframe among %s" % [f.url for f in page.frames])


def open_ready(b, url, hash="nnviz", width=1600, height=1000):
    """:func:`new_tab` in browser ``b``, once the overview has rows (the tab loaded its runs' tags)."""
    tab = new_tab(b, url, width, height, hash=hash)
    tab.frame.locator(OVERVIEW).first.wait_for(timeout=30000)
    return tab


def select_runs(frame, runs):
    """Ticks exactly ``runs`` in the run selector (checkboxes), as a user would, once the
    tab made its own opening choice (it moves to the first run with findings when they
    arrive, unless the user acted: a test that finds its run already ticked clicks nothing)."""
    frame.locator('[data-testid="run-select"][data-start="settled"]').wait_for(state="attached", timeout=60000)
    boxes = frame.locator('[data-testid="run-option"]').all()
    # Tick first, then untick: the selector keeps at least one run ticked.
    for want in (True, False):
        for box in boxes:
            if (box.get_attribute("value") in runs) == want and box.is_checked() != want:
                # The last ticked run is disabled until the tab has applied another tick.
                frame.wait_for_function("e => !e.disabled", arg=box.element_handle(), timeout=10000)
                box.click()
    frame.wait_for_function(
        """rs => { const have = new Set([...document.querySelectorAll('[data-testid=card]')].map(c => c.dataset.run));
                   return have.size === rs.length && rs.every(r => have.has(r)); }""",
        arg=list(runs), timeout=30000,
    )


_SELECTED = (
    "() => [...document.querySelectorAll('[data-testid=run-option]')].filter(b => b.checked).map(b => b.value)"
)


def selected_runs(frame):
    """The runs ticked in the run selector, in its order."""
    return frame.evaluate(_SELECTED)


def wait_selected(frame, runs):
    """Waits until exactly ``runs`` are ticked: the tab shows the first run at once and
    moves to the one with findings when they arrive."""
    frame.wait_for_function(
        "want => JSON.stringify((%s)()) === JSON.stringify(want)" % _SELECTED, arg=runs, timeout=30000
    )


def findings_loaded(frame, run):
    """Waits until the Findings panel has loaded and shows ``run``."""
    frame.wait_for_function("""r => { const p = document.querySelector('[data-testid=findings-panel]');
        const box = p.querySelector('[data-testid=findings-run]');
        return !p.hasAttribute('data-loading') && box && box.dataset.run === r; }""", arg=run, timeout=30000)


def loaded_card(frame, run, tag):
    """The heatmap card of ``run``/``tag``, scrolled into view, once drawn with its colour range."""
    card = frame.locator('[data-testid="card"][data-run="%s"][data-tag="%s"]' % (run, tag))
    card.scroll_into_view_if_needed()
    frame.wait_for_function(
        "c => c.dataset.range && !c.hasAttribute('data-loading')", arg=card.element_handle(), timeout=30000
    )
    return card


def tooltip(frame, keys=("row", "col", "value", "absmax", "block", "index")):
    """The heatmap tooltip's lines, once it shows: ``{key: text}`` of those of ``keys`` it has
    (``absmax`` and ``block`` only on pooled heatmaps)."""
    frame.locator('[data-testid="tooltip"]').wait_for(state="visible")
    lines = {k: frame.locator('[data-testid="tooltip-%s"]' % k) for k in keys}
    return {k: loc.inner_text() for k, loc in lines.items() if loc.count()}


def theme_menu(page, label):
    """Chooses "Browser default", "Light" or "Dark" in TensorBoard's theme menu."""
    page.locator('button[aria-label="Menu for changing light or dark theme"]').click()
    page.locator("[mat-menu-item]", has_text=label).click()


def wait_theme(frame, theme):
    """Waits until the tab has taken TensorBoard's ``theme`` ("light" or "dark") and redrawn."""
    frame.wait_for_function("t => document.documentElement.dataset.theme === t", arg=theme, timeout=10000)
    # Listeners redraw synchronously on the class change; give layout one frame.
    frame.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")
