"""Loss findings in the Findings panel, in real TensorBoard and Chromium.

One run ``ofit/train`` written by ``tb_nnviz.Writer`` beside Keras-style per-epoch
``epoch_loss`` scalars (``ofit/train``, ``ofit/validation``) whose validation loss is
lowest at epoch 10 and then rises: the panel must say "from epoch 10" (not step) and
link to TensorBoard's Scalars tab, which lives in the parent page, showing the
finding's training and validation runs (not ``other/train``) and their loss tags.
"""

import numpy as np
import pytest

import tb_nnviz
from tests import browser, tbserver

EPOCHS = np.arange(30)
BEST = 10


def _scalars(path, values):
    import tensorflow as tf

    w = tf.summary.create_file_writer(str(path))
    with w.as_default():
        for e, v in zip(EPOCHS, values):
            tf.summary.scalar("epoch_loss", float(v), step=int(e))
    w.flush()
    w.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("loss_tab")
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.1, (16, 8)).astype(np.float32)
    with tb_nnviz.Writer(logdir / "ofit" / "train") as writer:
        for e in EPOCHS:
            writer.log_weights(int(e), {"dense/kernel": w}, heatmaps=False)
            w = (w + 1e-3 * rng.normal(size=w.shape)).astype(np.float32)
    train = 2.0 * 0.85 ** EPOCHS
    val = np.r_[np.linspace(1.0, 0.4, BEST + 1), 0.4 * (1 + 0.5 * np.linspace(0.1, 1, len(EPOCHS) - BEST - 1) ** 0.2)]
    _scalars(logdir / "ofit" / "train", train)
    _scalars(logdir / "ofit" / "validation", val)
    _scalars(logdir / "other" / "train", train)  # a run the Scalars link must filter out
    with tbserver.tensorboard(logdir) as url:
        yield url


def test_loss_finding_says_epoch_and_opens_scalars(served):
    with browser.open_tab(served, width=1400, height=1000) as tab:
        page, frame = tab.page, tab.frame
        finding = frame.locator('[data-testid="finding"][data-kind="overfitting"]')
        finding.first.wait_for(timeout=60000)
        where = finding.first.locator(".nv-finding-where").inner_text()
        assert where == "from epoch %d" % BEST, where
        assert "step" not in where
        assert finding.first.get_attribute("data-layer") == ""
        assert finding.first.locator('[data-testid="finding-link"]').count() == 0  # no tensor to show
        link = finding.first.locator('[data-testid="finding-scalars"]')
        assert link.get_attribute("data-run") == "ofit/train"
        href = link.get_attribute("href")
        assert href.startswith(served) and "#scalars&regexInput=" in href and href.endswith("&tagFilter=loss"), href
        finding.first.screenshot(path=tbserver.REPO + "/test-artifacts/tab-loss-finding.png")
        link.click()
        page.wait_for_function("() => location.hash.startsWith('#scalars&')", timeout=15000)
        # TensorBoard's own Scalars dashboard shows the loss tag and lists only the finding's runs.
        page.locator("text=epoch_loss").first.wait_for(timeout=30000)
        runs = page.locator("tf-runs-selector")
        runs.locator("text=ofit/validation").first.wait_for(timeout=30000)
        assert runs.locator("text=ofit/train").first.is_visible()
        assert runs.locator("text=other/train").count() == 0 or not runs.locator("text=other/train").first.is_visible()
        page.screenshot(path=tbserver.REPO + "/test-artifacts/tab-loss-finding-scalars.png")
        assert not [e for e in tab.errors if "nnviz" in e.lower()], tab.errors
