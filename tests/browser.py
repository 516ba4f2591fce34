"""Headless Debian Chromium for end-to-end tests, installed when missing."""

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
