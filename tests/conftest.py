"""Shared fixtures: a small real log dir, TensorBoard's app over it, real TensorBoard processes, Chromium.

``logdir`` writes runs "a" and "b" with ``tb_nnviz.Writer`` (arrays from
:func:`logdir_arrays`). ``static_client`` is TensorBoard's app over it
(``tests.helpers.make_client``) with a small static dir of its own.
``start_tensorboard(logdir, *flags)`` launches TensorBoard with the NNViz
plugin from this source tree (``tests.tbserver``), returns its base URL once
it answers, and stops it at teardown. ``browser_`` is a headless Chromium
(``tests.browser``) shared by a test module.
"""

import contextlib
import os

import numpy as np
import pytest

import tb_nnviz
from tests import browser, tbserver

#: Heatmap cell budget of the ``logdir`` fixture: the conv kernel (grid 6 x 12) is pooled.
LOGDIR_MAX_CELLS = 64
#: Steps the ``logdir`` fixture logs, in each run.
LOGDIR_STEPS = (0, 10, 20, 30)
LOGDIR_RUNS = ("a", "b")


def logdir_arrays(run, step):
    """The arrays logged for ``run`` at ``step``; deterministic. NaN/+Inf/-Inf in "a" at 20."""
    rng = np.random.default_rng([ord(run[0]), step])
    kernel = rng.normal(size=(6, 5)).astype(np.float32)
    bias = rng.normal(size=(5,)).astype(np.float32)
    conv = rng.normal(size=(3, 3, 2, 4)).astype(np.float32)
    if run == "a" and step == 20:
        kernel[0, 0], kernel[1, 1], kernel[2, 2] = np.nan, np.inf, -np.inf
    return {"dense/kernel": kernel, "dense/bias": bias, "conv/kernel": conv}


def write_logdir(root, runs=LOGDIR_RUNS, steps=LOGDIR_STEPS, max_cells=LOGDIR_MAX_CELLS):
    """Writes ``logdir_arrays`` of every run and step under ``root``; returns ``str(root)``."""
    for run in runs:
        with tb_nnviz.Writer(os.path.join(str(root), run), max_cells=max_cells) as w:
            for step in steps:
                with np.errstate(invalid="ignore"):  # the sum of +Inf and -Inf is NaN
                    w.log_weights(step, logdir_arrays(run, step))
    return str(root)


@pytest.fixture(scope="session")
def logdir(tmp_path_factory):
    """A log dir with runs "a" and "b" (see :func:`write_logdir`)."""
    return write_logdir(tmp_path_factory.mktemp("logdir"))


@pytest.fixture
def start_tensorboard():
    """``start(logdir, *flags, timeout=60) -> base URL`` of a real TensorBoard process."""
    with contextlib.ExitStack() as stack:
        yield lambda logdir, *flags, timeout=60: stack.enter_context(
            tbserver.tensorboard(logdir, *flags, timeout=timeout)
        )


@pytest.fixture
def static_client(tmp_path, logdir, monkeypatch):
    """The app over ``logdir`` with a small static dir, and a secret file beside it."""
    # Imported here: tests that never use TensorBoard's app do not import it.
    from tb_nnviz.serve import plugin
    from tests.helpers import STATIC_SECRET, make_client

    static = tmp_path / "static"
    (static / "chunks").mkdir(parents=True)
    (static / "index.js").write_text("export function render() {}\n")
    (static / "chunks" / "a.css").write_text("body {}\n")
    (static / "index.js.map").write_text("{}")
    (static / "notes.txt").write_text("not served")
    (tmp_path / "secret.js").write_text(STATIC_SECRET)
    os.symlink(tmp_path / "secret.js", static / "link.js")
    monkeypatch.setattr(plugin, "_STATIC_DIR", str(static))
    return make_client(logdir)


@pytest.fixture(scope="module")
def browser_():
    """A headless Chromium browser (``tests.browser.launch``), one per test module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = browser.launch(p)
        yield b
        b.close()
