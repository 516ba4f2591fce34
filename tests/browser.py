"""Headless Debian Chromium for end-to-end tests, installed when missing."""

import os
import shutil
import subprocess

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
