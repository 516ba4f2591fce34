"""What the network diagram's tests share: the models #25 names, and the tab opened on a run's diagram.

``keras_nested()`` (a nested ``Functional`` and a shared layer), ``Branchy``
(an ``if`` in ``forward``) and ``encoder(blocks)`` (``nn.TransformerEncoder``)
serve the record-level tests (tests/test_graph_capture.py) and the Chromium
ones (tests/test_tab_graph_models.py). ``served(logdir, write, runs)`` writes
the runs and yields the URL of a TensorBoard over them once it lists them;
``open_graph`` opens the tab at 1600 x 1000 on a run's diagram; ``shot``
saves the diagram panel as test-artifacts/graph-<name>.png; ``OVERLAPS``
(evaluated in the tab) lists what is drawn over what.
"""

import contextlib
import os

import keras
import torch

from tests import browser, tbserver

nn = torch.nn
ARTIFACTS = os.path.join(tbserver.REPO, "test-artifacts")


def keras_nested():
    """x -> shared -> inner (a nested Functional: in_dense) -> shared again -> act; cat(shared, act) -> out."""
    inner_in = keras.Input((8,), name="inner_in")
    inner = keras.Model(inner_in, keras.layers.Dense(8, activation="tanh", name="in_dense")(inner_in), name="inner")
    x = keras.Input((8,), name="x")
    shared = keras.layers.Dense(8, activation="relu", name="shared")
    a = shared(x)
    b = keras.layers.Activation("relu", name="act")(shared(inner(a)))  # the shared layer's second call
    out = keras.layers.Dense(3, activation="softmax", name="out")(keras.layers.Concatenate(name="cat")([a, b]))
    return keras.Model(x, out, name="nested_shared")


class Branchy(nn.Module):
    """An ``if`` on the data in ``forward``: a positive mean takes ``up`` (and a residual add), else ``down``."""

    def __init__(self):
        super().__init__()
        self.a, self.up, self.down, self.c = nn.Linear(4, 8), nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 2)
        self.act = nn.ReLU()

    def forward(self, x):
        h = self.act(self.a(x))
        if x.mean() > 0:
            h = self.up(h) + h
        else:
            h = self.down(h)
        return self.c(h)


def encoder(blocks):
    """``nn.TransformerEncoder`` of ``blocks`` layers, d_model 32, 4 heads, no dropout."""
    layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True)
    return nn.TransformerEncoder(layer, blocks, enable_nested_tensor=False)


#: Every pair of drawn things that overlap: boxes with boxes, block names with boxes and
#: with each other; and every box line wider than its box. Empty when the diagram is readable.
OVERLAPS = """() => {
    const svg = document.querySelector('[data-testid=graph-svg]');
    const hit = (a, b) => a.left < b.right - 0.5 && b.left < a.right - 0.5
        && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5;
    const boxes = [...svg.querySelectorAll('[data-testid=graph-node]')].map(
        g => [g.dataset.name, g.querySelector('rect.nv-graph-rect').getBoundingClientRect(), g]);
    const labels = [...svg.querySelectorAll('[data-testid=graph-block-label]')].map(
        t => [t.textContent, t.getBoundingClientRect()]);
    const bad = [];
    boxes.forEach(([a, ra], i) => boxes.slice(i + 1).forEach(([b, rb]) => {
        if (hit(ra, rb)) bad.push(['boxes', a, b]); }));
    labels.forEach(([a, ra], i) => {
        boxes.forEach(([b, rb]) => { if (hit(ra, rb)) bad.push(['name on box', a, b]); });
        labels.slice(i + 1).forEach(([b, rb]) => { if (hit(ra, rb)) bad.push(['names', a, b]); });
    });
    boxes.forEach(([a, ra, g]) => g.querySelectorAll('text').forEach(t => {
        const r = t.getBoundingClientRect();
        if (r.left < ra.left - 0.5 || r.right > ra.right + 0.5 || r.bottom > ra.bottom + 0.5)
            bad.push(['text out of box', a, t.textContent]);
    }));
    return {bad, boxes: boxes.length, labels: labels.length};
}"""


@contextlib.contextmanager
def served(logdir, write, runs):
    """Calls ``write(logdir)``, then yields the URL of a TensorBoard over ``logdir`` once it lists ``runs``."""
    write(logdir)
    with tbserver.tensorboard(logdir) as url:
        tbserver.wait_for(lambda: tbserver.route_json(url, "tags"), lambda t: all(r in t.get("runs", {}) for r in runs))
        yield url


def open_graph(browser_, url, run):
    """The tab (``browser.Tab``) at 1600 x 1000 showing ``run``, once its diagram has a box."""
    tab = browser.open_ready(browser_, url, "nnviz&nv_runs=" + run, width=1600, height=1000)
    tab.frame.locator('[data-testid="graph-node"]').first.wait_for(timeout=30000)
    return tab


def shot(tab, name):
    """Saves the diagram panel as test-artifacts/graph-<name>.png."""
    os.makedirs(ARTIFACTS, exist_ok=True)
    tab.frame.locator('[data-testid="graph-panel"]').screenshot(path=os.path.join(ARTIFACTS, "graph-%s.png" % name))
