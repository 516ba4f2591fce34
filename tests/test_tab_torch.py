"""A PyTorch run in the NNViz tab, beside the same model trained with Keras.

Both runs train a small Conv2d -> LSTM -> Linear model on the same random data,
PyTorch through ``tb_nnviz.torch.watch`` and Keras through ``NNVizCallback``.
In real TensorBoard and headless Chromium the PyTorch run must show what the
Keras run shows: conv kernels as tiles (the tooltip's tensor index follows
PyTorch's ``(out, in, kh, kw)``), labelled LSTM gates, every tensor in the
overview, and the weight-space path. Screenshots land in test-artifacts/.
"""

import os

import numpy as np
import pytest
import torch

import tb_nnviz.torch
from tests import browser, tbserver

ARTIFACTS = os.path.join(tbserver.REPO, "test-artifacts")
STEPS = 8  # optimizer steps; points every 2, heatmaps every 4
CONV = {"torch": "conv/weight", "keras": "net/conv/kernel"}
LSTM = {"torch": "lstm/weight_ih_l0", "keras": "net/lstm/lstm_cell/kernel"}
RUNS = {"torch": "torch", "keras": "keras/train"}


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 4, 3)
        self.lstm = torch.nn.LSTM(24, 5, batch_first=True)
        self.head = torch.nn.Linear(5, 3)

    def forward(self, x):  # x: (batch, 2, 8, 8)
        h = torch.relu(self.conv(x))  # (batch, 4, 6, 6)
        seq = h.permute(0, 2, 1, 3).reshape(len(x), 6, 24)
        out, _ = self.lstm(seq)
        return self.head(out[:, -1])


def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(64, 8, 8, 2)).astype(np.float32), rng.integers(0, 3, 64)


def train_torch(logdir):
    x, y = data()
    x, y = torch.tensor(x).permute(0, 3, 1, 2), torch.tensor(y)
    torch.manual_seed(0)
    model = Net()
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    with tb_nnviz.torch.watch(model, logdir, opt, heatmap_freq=4, trajectory_freq=2, strict=True):
        for i in range(STEPS):
            batch = slice(8 * i, 8 * i + 8)
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            opt.step()
    return model


def train_keras(logdir):
    import keras

    from tb_nnviz.keras import NNVizCallback

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((8, 8, 2)),
        keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
        keras.layers.Reshape((6, 24)),
        keras.layers.LSTM(5, name="lstm"),
        keras.layers.Dense(3, name="head"),
    ], name="net")
    model.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = data()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False,
              callbacks=[NNVizCallback(logdir, heatmap_freq=4, trajectory_freq=2, strict=True)])


def weights(tensors):
    """The weight tensors of a run's tags: ``watch`` also lists ``<layer>/activations`` heatmaps."""
    return [t for t in tensors if not t.endswith("/activations")]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("tab-torch")
    model = train_torch(logdir / "torch")
    train_keras(logdir / "keras")
    counts = {"torch": len(list(model.parameters())), "keras": 7}
    with tbserver.tensorboard(logdir) as url:
        tbserver.wait_for(lambda: tbserver.route_json(url, "tags"),
                          lambda t: all(len(weights(t.get("runs", {}).get(RUNS[k], {}))) == n
                                        for k, n in counts.items()))
        yield url, model, counts


@pytest.fixture(scope="module")
def tab(served):
    url, _, _ = served
    with browser.open_tab(url, ready=browser.OVERVIEW) as t:
        browser.select_runs(t.frame, list(RUNS.values()))
        yield t


def _card(frame, run, tag):
    card = frame.locator('[data-testid="card"][data-run="%s"][data-tag="%s"]' % (run, tag))
    card.scroll_into_view_if_needed()
    card.locator('[data-testid="heatmap"]').wait_for(timeout=30000)
    frame.wait_for_function("c => c.dataset.step && !c.hasAttribute('data-loading')",
                            arg=card.element_handle(), timeout=30000)
    return card


def _hover_cell(frame, canvas, grid, r, c):
    """The tooltip of cell (r, c) of ``canvas``: hovered again if the canvas was resized
    between measuring it and moving there (the page still settling)."""
    for _ in range(3):
        box = canvas.bounding_box()
        canvas.hover(position={"x": (c + 0.5) * box["width"] / grid[1], "y": (r + 0.5) * box["height"] / grid[0]})
        frame.locator('[data-testid="tooltip"]').wait_for(state="visible")
        got = (int(frame.locator('[data-testid="tooltip-row"]').inner_text()),
               int(frame.locator('[data-testid="tooltip-col"]').inner_text()),
               frame.locator('[data-testid="tooltip-index"]').inner_text(),
               float(frame.locator('[data-testid="tooltip-value"]').inner_text()))
        if got[:2] == (r, c) and canvas.bounding_box() == box:
            break
        frame.wait_for_timeout(300)
    return got


def _tile(info):
    """Tile size the tab draws borders at (frontend/src/grid.ts tileSize)."""
    lay, shape = info["layout"], info["shape"]
    return int(np.prod([shape[a] for a in lay["rows"][1:]])), int(np.prod([shape[a] for a in lay["cols"][1:]]))


def test_conv_kernel_is_drawn_as_tiles_like_keras(served, tab):
    url, model, _ = served
    frame = tab.frame
    tags = tbserver.route_json(url, "tags")["runs"]
    infos = {k: tags[RUNS[k]][CONV[k]] for k in RUNS}
    # Same grid (in*kh, out*kw) and tiles (kh x kw) for both frameworks' conv kernels.
    assert infos["torch"]["grid"] == infos["keras"]["grid"] == [2 * 3, 4 * 3]
    assert _tile(infos["torch"]) == _tile(infos["keras"]) == (3, 3)
    card = _card(frame, RUNS["torch"], CONV["torch"])
    canvas = card.locator('[data-testid="heatmap"]')
    assert card.get_attribute("data-step") == str(STEPS)
    # Tile (in 1, out 2), kernel position (1, 2): PyTorch's weight[2, 1, 1, 2].
    row, col, index, value = _hover_cell(frame, canvas, infos["torch"]["grid"], 1 * 3 + 1, 2 * 3 + 2)
    assert (row, col) == (4, 8)
    assert index.replace(" ", "") in ("[2,1,1,2]", "(2,1,1,2)", "2,1,1,2")
    assert np.float32(value) == model.conv.weight.detach().numpy()[2, 1, 1, 2]
    os.makedirs(ARTIFACTS, exist_ok=True)
    card.screenshot(path=os.path.join(ARTIFACTS, "tab-torch-conv.png"))
    keras_card = _card(frame, RUNS["keras"], CONV["keras"])
    row, col, index, _ = _hover_cell(frame, keras_card.locator('[data-testid="heatmap"]'),
                                     infos["keras"]["grid"], 4, 8)
    assert (row, col) == (4, 8)
    assert index.replace(" ", "") in ("[1,2,1,2]", "(1,2,1,2)", "1,2,1,2")  # Keras (kh, kw, in, out)


def test_lstm_gates_are_labelled_like_keras(served, tab):
    frame = tab.frame
    labels = {}
    for k in RUNS:
        card = _card(frame, RUNS[k], LSTM[k])
        spans = card.locator('[data-testid="gate-label"]')
        spans.first.wait_for(timeout=30000)
        labels[k] = [s.inner_text() for s in spans.all()]
        if k == "torch":
            card.screenshot(path=os.path.join(ARTIFACTS, "tab-torch-lstm.png"))
    assert labels["torch"] == ["i", "f", "g", "o"]  # PyTorch's gate order
    assert labels["keras"] == ["i", "f", "c", "o"]


def test_overview_and_path_of_the_torch_run(served, tab):
    url, model, counts = served
    frame = tab.frame
    select = frame.locator('[data-testid="detail-run"]')
    if select.count() and select.is_visible():
        select.select_option(RUNS["torch"])
    table = frame.locator('[data-testid="overview-table"][data-run="%s"]' % RUNS["torch"])
    table.wait_for(timeout=30000)
    names = [r.get_attribute("data-tag") for r in table.locator('[data-testid="overview-row"]').all()]
    assert names == [n.replace(".", "/") for n, _ in model.named_parameters()]  # network order
    total = sum(p.numel() for p in model.parameters())
    assert table.locator('[data-testid="overview-total"]').inner_text() == "{:,}".format(total)
    # Two architectures: each run gets its own axes, the PyTorch run's path like the Keras run's.
    panel = frame.locator('[data-testid="projection-panel"]')
    assert panel.get_attribute("data-axes") == "per-run"
    for run in RUNS.values():
        canvas = panel.locator('[data-testid="projection-run"][data-run="%s"]' % run)
        canvas.wait_for(timeout=30000)
        frame.wait_for_function("c => Number(c.dataset.points) > 0", arg=canvas.element_handle(), timeout=30000)
    projection = tbserver.route_json(url, "projection", run=[RUNS["torch"]])
    assert projection["runs"][RUNS["torch"]]["step"] == list(range(0, STEPS + 1, 2))
    assert projection["tensors"] == counts["torch"]
    panel.scroll_into_view_if_needed()
    panel.screenshot(path=os.path.join(ARTIFACTS, "tab-torch-path.png"))
    tab.page.screenshot(path=os.path.join(ARTIFACTS, "tab-torch-page.png"), full_page=False)
    assert tab.errors == []
