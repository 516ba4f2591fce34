"""Activation statistics in the NNViz tab: a PyTorch MLP watched by ``tb_nnviz.torch.watch``.

Run ``act``: an MLP whose hidden ReLU has units killed by a bias of -10 (they never fire),
trained a few steps with ``watch`` (activation statistics at every logged step, activation
heatmaps ``act/activations`` at heatmap steps). Run ``noact``: the same model watched with
``activations=False``. In real TensorBoard and headless Chromium the ``act`` layer's section
shows a dead / saturated fraction chart and a mean / std chart whose last values are the
route's, and its heatmap row is labelled "activations: 8 samples × 16 units at step N"; the
``noact`` run shows neither. Run ``keras/train``: the same kind of MLP fitted by Keras with
``NNVizCallback``, whose probe batch (the first training batch) gives its Dense layer's
charts and heatmap row the same way. Screenshots land in test-artifacts/.
"""

import json
import os
import re

import numpy as np
import pytest
import torch

import tb_nnviz.torch
from tests import browser, tbserver

ARTIFACTS = os.path.join(tbserver.REPO, "test-artifacts")
STEPS = 12  # optimizer steps; points every 2, heatmaps every 6
KILLED = 6  # of the 16 hidden units
LAYER = "act"


class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = torch.nn.Linear(8, 16)
        self.act = torch.nn.ReLU()
        self.out = torch.nn.Linear(16, 3)

    def forward(self, x):
        return self.out(self.act(self.hidden(x)))


def train(logdir, activations):
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=(8 * STEPS, 8)), dtype=torch.float32)
    y = torch.tensor(rng.integers(0, 3, 8 * STEPS))
    torch.manual_seed(0)
    model = MLP()
    with torch.no_grad():
        model.hidden.bias[:KILLED] = -10.0  # never positive on these inputs: dead ReLUs
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    with tb_nnviz.torch.watch(model, logdir, opt, heatmap_freq=6, trajectory_freq=2,
                              activations=activations, strict=True):
        for i in range(STEPS):
            batch = slice(8 * i, 8 * i + 8)
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            opt.step()


def train_keras(logdir):
    import keras

    from tb_nnviz.keras import NNVizCallback

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8 * STEPS, 8)).astype("float32"), rng.integers(0, 3, 8 * STEPS)
    bias = np.zeros(16, "float32")
    bias[:KILLED] = -10.0
    # Named: Keras numbers default names per process (sequential_3 after other tests' models).
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu", name="dense"),
                              keras.layers.Dense(3, name="dense_1")], name="sequential")
    model.layers[0].bias.assign(bias)
    model.compile(keras.optimizers.SGD(0.05), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=8, epochs=1, verbose=0,
              callbacks=[NNVizCallback(logdir, heatmap_freq=6, trajectory_freq=2, strict=True)])


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("tab-activations")
    train(logdir / "act", True)
    train(logdir / "noact", False)
    train_keras(logdir / "keras")
    with tbserver.tensorboard(logdir) as url:
        tbserver.wait_for(
            lambda: tbserver.route_json(url, "tags"),
            lambda t: "act/activations" in t.get("runs", {}).get("act", {})
            and len(t.get("runs", {}).get("noact", {})) == 4
            and "sequential/dense/activations" in t.get("runs", {}).get("keras/train", {}),
        )
        yield url


@pytest.fixture(scope="module")
def tab(served):
    with browser.open_tab(served, width=1600, height=1000, ready=browser.OVERVIEW) as t:
        yield t


def _last(values):
    return [v for v in values if v is not None][-1]


def _activation_charts(frame, layer):
    """The activation charts of ``layer``, loaded and on screen. The section first: its
    charts load when it comes near the viewport. A section redrawn meanwhile (the run
    selection settling) replaces the element: then again with the new one."""
    group = frame.locator('[data-testid="group"][data-group="%s"]' % layer)
    box = frame.locator('[data-testid="activation-charts"][data-layer="%s"]' % layer)
    for attempt in range(3):
        try:
            group.scroll_into_view_if_needed()
            frame.wait_for_function("e => e.dataset.loaded === 'true' && !e.hidden", arg=box.element_handle(),
                                    timeout=30000)
            box.scroll_into_view_if_needed()
            return box
        except Exception:
            if attempt == 2:
                raise
    return box


def test_the_route_serves_the_killed_units_as_dead(served):
    stats = tbserver.route_json(served, "activations", run="act")
    layers = {a["layer"]: a for a in stats["layers"]}
    assert layers["input"]["kind"] == "input"
    assert layers[LAYER]["dead_fraction"][-1] >= KILLED / 16


def test_activation_charts_show_the_routes_last_values(served, tab):
    frame = tab.frame
    browser.select_runs(frame, ["act"])
    box = _activation_charts(frame, LAYER)
    layer = {a["layer"]: a for a in tbserver.route_json(served, "activations", run="act")["layers"]}[LAYER]
    fraction = box.locator('[data-testid="chart-act-fraction"]')
    moments = box.locator('[data-testid="chart-act-moments"]')
    assert fraction.is_visible() and moments.is_visible()
    last = {s["stat"]: s["last"] for s in json.loads(fraction.get_attribute("data-series-last"))}
    # ReLU: no saturation statistic (null), so no saturated line.
    assert last == {"dead_fraction": pytest.approx(_last(layer["dead_fraction"]))}
    assert last["dead_fraction"] >= KILLED / 16
    last = {s["stat"]: s["last"] for s in json.loads(moments.get_attribute("data-series-last"))}
    assert last == {"mean": pytest.approx(_last(layer["mean"])), "std": pytest.approx(_last(layer["std"]))}
    assert moments.locator('[data-testid="band-label"]').count() == 1
    assert fraction.get_attribute("data-points") == str(len(layer["step"]))
    # The ReLU's section has no weights: no "no update trajectories" message.
    section = frame.locator('[data-testid="layer-charts"][data-layer="%s"]' % LAYER)
    assert section.locator('[data-testid="layer-status"]').is_hidden()
    # CSV export like the other charts.
    with tab.page.expect_download() as dl:
        fraction.locator('[data-testid="export-csv"]').click()
    csv = open(dl.value.path()).read().splitlines()
    assert csv[0].startswith("step,") and len(csv) == len(layer["step"]) + 1
    group = frame.locator('[data-testid="group"][data-group="%s"]' % LAYER)
    group.screenshot(path=os.path.join(ARTIFACTS, "tab-activations-light.png"))
    assert tab.errors == []


def test_activation_heatmap_row_is_labelled(served, tab):
    frame = tab.frame
    browser.select_runs(frame, ["act"])
    card = browser.loaded_card(frame, "act", "act/activations")
    info = tbserver.route_json(served, "tags")["runs"]["act"]["act/activations"]
    label = card.locator('[data-testid="activation-label"]')
    assert label.inner_text() == "activations: %d samples × %d units at step %s" % (
        info["shape"][0], info["shape"][1], card.get_attribute("data-step"))
    assert card.get_attribute("data-step") == str(info["steps"][-1])
    # A weight card has no such label.
    weight = browser.loaded_card(frame, "act", "hidden/weight")
    assert weight.locator('[data-testid="activation-label"]').is_hidden()
    card.screenshot(path=os.path.join(ARTIFACTS, "tab-activations-heatmap.png"))


def test_keras_probe_activations_show_in_the_dense_layers_section(served, tab):
    frame = tab.frame
    browser.select_runs(frame, ["keras/train"])
    box = _activation_charts(frame, "sequential/dense")
    layer = {a["layer"]: a for a in tbserver.route_json(served, "activations", run="keras/train")["layers"]}
    assert layer["input"]["kind"] == "input" and layer["sequential/dense"]["kind"] == "relu"
    fraction = box.locator('[data-testid="chart-act-fraction"]')
    last = {s["stat"]: s["last"] for s in json.loads(fraction.get_attribute("data-series-last"))}
    assert last == {"dead_fraction": pytest.approx(_last(layer["sequential/dense"]["dead_fraction"]))}
    assert last["dead_fraction"] >= KILLED / 16
    card = browser.loaded_card(frame, "keras/train", "sequential/dense/activations")
    assert card.locator('[data-testid="activation-label"]').inner_text().startswith("activations: 8 samples × 16 units")
    # The model input's statistics (the probe batch) head the structure view's layers.
    line = frame.locator('[data-testid="structure-input"]')
    frame.wait_for_function("e => !e.hidden && e.textContent", arg=line.element_handle(), timeout=30000)
    stats, k = layer["input"], len(layer["input"]["step"]) - 1
    head, _, numbers = line.inner_text().partition(": ")
    assert head == "model input at step %d" % stats["step"][k]
    shown = [float(x) for x in re.findall(r"-?[0-9.]+(?:e[-+]?[0-9]+)?", numbers)]
    assert shown == pytest.approx([stats[f][k] for f in ("mean", "std", "min", "max")], rel=0.05, abs=1e-3), numbers
    frame.locator(".nv-layers-box").screenshot(path=os.path.join(ARTIFACTS, "tab-structure-input.png"))
    assert tab.errors == []


def test_runs_overlaid_and_a_run_without_activations_shows_nothing_new(served, tab):
    frame = tab.frame
    browser.select_runs(frame, ["noact"])
    frame.locator('[data-testid="layer-charts"][data-layer="hidden"]').wait_for(timeout=30000)
    charts = frame.locator('[data-testid="activation-charts"]')
    frame.wait_for_function("() => document.querySelectorAll('[data-testid=layer-charts]').length > 0")
    assert all(c.is_hidden() for c in charts.all())
    assert frame.locator('[data-testid="group"][data-group="%s"]' % LAYER).count() == 0
    browser.select_runs(frame, ["act", "noact"])
    box = _activation_charts(frame, LAYER)
    moments = box.locator('[data-testid="chart-act-moments"]')
    runs = {s["run"] for s in json.loads(moments.get_attribute("data-series-last"))}
    assert runs == {"act"}
    browser.theme_menu(tab.page, "Dark")
    browser.wait_theme(frame, "dark")
    box.scroll_into_view_if_needed()
    frame.locator('[data-testid="group"][data-group="%s"]' % LAYER).screenshot(
        path=os.path.join(ARTIFACTS, "tab-activations-dark.png"))
    browser.theme_menu(tab.page, "Light")
    browser.wait_theme(frame, "light")
    assert tab.errors == []


def _findings(url, run):
    """The findings route's answer in either shape: (findings, notes)."""
    j = tbserver.route_json(url, "findings", run=run)
    return (j, []) if isinstance(j, list) else (j["findings"], j.get("notes", []))


def test_findings_notes_are_shown_under_the_run(served, tab):
    frame = tab.frame
    browser.select_runs(frame, ["act", "noact"])
    for run in ("act", "noact"):
        box = frame.locator('[data-testid="findings-run"][data-run="%s"]' % run)
        box.wait_for(timeout=30000)
        frame.wait_for_function(
            "() => !document.querySelector('[data-testid=findings-panel]').hasAttribute('data-loading')")
        findings, notes = _findings(served, run)
        shown = box.locator('[data-testid="finding-note"]')
        assert shown.count() == len(notes)
        for k, note in enumerate(notes):
            message = note if isinstance(note, str) else note["message"]
            text = shown.nth(k).inner_text()
            assert text.startswith("Not judged: ") and text.endswith(message)
        head = box.locator(".nv-findings-head").inner_text()
        if not findings and notes:
            assert head.endswith("no problems found in what could be judged")
        elif not findings:
            assert head.endswith("no problems found")
        assert "no problems found" not in head or not findings
    # Muted like the other secondary text.
    if frame.locator('[data-testid="finding-note"]').count():
        colour = frame.locator('[data-testid="finding-note"]').first.evaluate("e => getComputedStyle(e).color")
        muted = frame.evaluate("""() => { const d = document.createElement('span'); d.style.color = 'var(--nv-muted)';
            document.body.appendChild(d); const c = getComputedStyle(d).color; d.remove(); return c; }""")
        assert colour == muted
    panel = frame.locator('[data-testid="findings-panel"]')
    panel.scroll_into_view_if_needed()
    panel.screenshot(path=os.path.join(ARTIFACTS, "tab-activations-findings.png"))
    assert tab.errors == []
