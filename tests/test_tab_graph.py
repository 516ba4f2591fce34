"""The network diagram in real TensorBoard and real Chromium.

Runs: the demo's ``lr_too_high`` (the seed's Dense 64/64/10 trained by
``model.fit`` with the Keras callback until its layers stop), a torchvision
ResNet-18 trained one step under ``watch``, and Keras' ResNet-50: its graph
captured from the real model (``keras_graph.capture``), its weights logged by
the Writer under their real names in small shapes (training it here would
take a minute). Screenshots land in test-artifacts/graph-*.png.
"""

import io
import os
import xml.etree.ElementTree as ET

import keras
import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

import tb_nnviz
import tb_nnviz.torch
from tb_nnviz import demo
from tb_nnviz.log import keras_graph
from tests import graph_helpers
from tests.graph_helpers import open_graph, shot

#: Epochs of the demo's lr_too_high run: its ReLUs have died and its layers stopped by then.
EPOCHS = 5
RUNS = ("lr_too_high/train", "resnet50", "resnet18")


def write(logdir):
    demo.train(next(r for r in demo.RUNS if r.name == "lr_too_high"), str(logdir), epochs=EPOCHS, verbose=0)
    model = keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3), classes=10)
    rng = np.random.default_rng(0)
    weights = {v.path: rng.normal(size=(4, 4) if len(v.shape) > 1 else (4,)).astype(np.float32) for v in model.weights}
    with tb_nnviz.Writer(os.path.join(str(logdir), "resnet50")) as w:
        w.log_graph(0, keras_graph.capture(model))
        for step in (0, 1):
            w.log_weights(step, weights, heatmaps=step == 1, spectra=False)
            weights = {k: v * 0.999 for k, v in weights.items()}
    net = torchvision.models.resnet18(num_classes=10)
    opt = torch.optim.SGD(net.parameters(), 0.01)
    with tb_nnviz.torch.watch(net, os.path.join(str(logdir), "resnet18"), opt, heatmap_freq=0, spectral_freq=0):
        opt.zero_grad()
        net(torch.randn(2, 3, 32, 32)).sum().backward()
        opt.step()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with graph_helpers.served(tmp_path_factory.mktemp("graph"), write, RUNS) as url:
        yield url


#: name -> [health, finding severity, kind] of every drawn box, and the drawn edges.
DRAWN = """() => ({
    nodes: Object.fromEntries([...document.querySelectorAll('[data-testid=graph-node]')].map(
        g => [g.dataset.name, [g.dataset.health, g.dataset.finding, g.dataset.kind]])),
    edges: [...document.querySelectorAll('[data-testid=graph-edge]')].map(e => [e.dataset.from, e.dataset.to]),
    page: [document.documentElement.scrollWidth, document.documentElement.clientWidth],
    scale: document.querySelector('[data-testid=graph-svg]').dataset.scale,
    svg: document.querySelector('[data-testid=graph-svg]').getBoundingClientRect().width,
    box: document.querySelector('[data-testid=graph-box]').clientWidth})"""


def test_resnet50_skip_connections_drawn_at_1600px_without_sideways_scroll(served, browser_):
    tab = open_graph(browser_, served, "resnet50")
    frame = tab.frame
    closed = frame.evaluate(DRAWN)
    # 177 layers open with the stages closed: conv2..conv5 stand for their blocks.
    assert {"conv2", "conv3", "conv4", "conv5"} <= set(closed["nodes"]), closed["nodes"]
    assert closed["nodes"]["conv2"][2] == "block" and len(closed["nodes"]) < 20
    frame.locator('[data-testid="graph-node"][data-name="conv3"]').click()  # a stage opens: its blocks, closed
    frame.wait_for_selector('[data-testid="graph-node"][data-name="conv3_block4"]')
    assert frame.locator('[data-testid="graph-block"][data-block="conv3"]').count() == 1
    frame.locator('[data-testid="graph-open-all"]').click()
    frame.wait_for_selector('[data-testid="graph-node"][data-name="conv5_block3_out"]')
    drawn = frame.evaluate(DRAWN)
    adds = [n for n in drawn["nodes"] if n.endswith("_add")]
    assert len(adds) == 16
    for a in adds:  # every Add has its two inputs drawn: the main path and the skip connection
        assert len([e for e in drawn["edges"] if e[1] == a]) == 2, a
    assert ["conv2_block1_0_bn", "conv2_block1_add"] in drawn["edges"]  # the projection shortcut
    assert ["conv2_block1_out", "conv2_block2_add"] in drawn["edges"]  # an identity shortcut
    assert len(drawn["nodes"]) == 177
    page_w, client_w = drawn["page"]
    assert page_w <= client_w and drawn["svg"] <= drawn["box"] + 1, drawn
    assert float(drawn["scale"]) == 1.0  # drawn at full size: readable, not shrunk to fit
    overlaps = frame.evaluate(graph_helpers.OVERLAPS)  # no box over a box, no block name over a box
    assert overlaps["bad"] == [] and overlaps["boxes"] == 177 and overlaps["labels"] == 21, overlaps
    shot(tab, "resnet50-open")
    assert not tab.errors, tab.errors
    tab.page.close()


def test_lr_too_high_colours_its_stopped_layers_as_the_structure_view_does(served, browser_):
    tab = open_graph(browser_, served, "lr_too_high/train")
    frame = tab.frame
    frame.wait_for_function("() => document.querySelectorAll('[data-testid=structure-layer][data-health]').length > 2")
    frame.wait_for_function("() => document.querySelector('[data-testid=graph-node][data-name=dense_1]')"
                            ".dataset.health")
    drawn = frame.evaluate(DRAWN)
    structure = frame.evaluate("""() => Object.fromEntries([...document.querySelectorAll(
        '[data-testid=structure-layer]')].map(b => [b.dataset.layer, b.dataset.health]))""")
    layers = {"dense_1": "mlp/dense_1", "dense_2": "mlp/dense_2", "output": "mlp/output"}
    for node, layer in layers.items():
        assert drawn["nodes"][node][0] == structure[layer], (node, drawn["nodes"][node], structure)
    assert [drawn["nodes"][n][0] for n in ("dense_1", "dense_2")] == ["stopped", "stopped"], drawn["nodes"]
    # The finding (lr_too_high, its tensors in every Dense layer) is marked on those layers only.
    assert all(drawn["nodes"][n][1] == "warning" for n in layers), drawn["nodes"]
    assert drawn["nodes"]["flatten"][1] == "" and drawn["nodes"]["flatten"][0] == ""
    # The seed's chain: relu, relu, softmax on the boxes, as plot_model shows them.
    texts = frame.evaluate("""() => Object.fromEntries([...document.querySelectorAll('[data-testid=graph-node]')]
        .map(g => [g.dataset.name, [...g.querySelectorAll('text')].map(t => t.textContent)]))""")
    assert texts["dense_1"][1:3] == ["(None, 64) → (None, 64)", "relu · 4,160 params · trainable"], texts
    assert texts["output"][2].startswith("softmax") and texts["dense_1"][0] == "■ dense_1 · Dense"
    assert drawn["edges"] == [["image", "flatten"], ["flatten", "dense_1"], ["dense_1", "dense_2"],
                              ["dense_2", "output"]]
    shot(tab, "lr_too_high")
    # The step control replays the colouring: the first large steps, then the layers stop.
    frame.locator('[data-testid="graph-replay"]').click()
    frame.locator('[data-testid="graph-step"]').wait_for()
    at = """k => { const s = document.querySelector('[data-testid=graph-step]'); s.value = String(k);
        s.dispatchEvent(new Event('input'));
        return [document.querySelector('[data-testid=graph-step-label]').dataset.step,
                ...['dense_1', 'dense_2'].map(
                    n => document.querySelector(`[data-testid=graph-node][data-name=${n}]`).dataset.health)]; }"""
    last = int(frame.locator('[data-testid="graph-step"]').get_attribute("max"))
    assert frame.evaluate(at, 1) == ["5", "large", "large"]
    assert frame.evaluate(at, last)[1:] == ["stopped", "stopped"]
    # A click on a layer lands on its section, its cards in view.
    frame.evaluate("window.scrollTo(0, 0)")
    frame.locator('[data-testid="graph-node"][data-name="dense_2"]').click()
    frame.wait_for_function("""() => {
        const c = document.querySelector('[data-testid=group][data-group="mlp/dense_2"]');
        if (!c || !c.querySelector('[data-testid=card]')) return false;
        const r = c.getBoundingClientRect(); return r.top >= 0 && r.top < window.innerHeight - 100; }""", timeout=5000)
    assert not tab.errors, tab.errors
    tab.page.close()


def test_resnet18_residual_adds_and_the_exports(served, browser_):
    tab = open_graph(browser_, served, "resnet18")
    frame = tab.frame
    assert frame.locator('[data-testid="graph-node"][data-name="layer1"]').count() == 1  # 70 nodes: stages closed
    frame.locator('[data-testid="graph-open-all"]').click()
    frame.wait_for_selector('[data-testid="graph-node"][data-name="layer4/1/add"]')
    drawn = frame.evaluate(DRAWN)
    adds = [n for n, v in drawn["nodes"].items() if n.endswith("/add")]
    assert len(adds) == 8 and all(drawn["nodes"][a][2] == "function" for a in adds)
    assert sorted(e[0] for e in drawn["edges"] if e[1] == "layer1/0/add") == ["layer1/0/bn2", "maxpool"]
    assert sorted(e[0] for e in drawn["edges"] if e[1] == "layer2/0/add") == ["layer2/0/bn2", "layer2/0/downsample/1"]
    assert drawn["nodes"]["layer1/0/conv1"][0] in ("ok", "large", "tiny")  # trained one step: coloured
    with tab.page.expect_download() as dl:
        frame.locator('[data-testid="graph-svg"]').first.wait_for()
        frame.locator('[data-testid="graph-export-svg"]').click()
    root = ET.parse(dl.value.path()).getroot()
    groups = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("data-testid") == "graph-node"]
    assert dl.value.suggested_filename == "resnet18-graph.svg" and len(groups) == len(drawn["nodes"])
    with tab.page.expect_download() as dl:
        frame.locator('[data-testid="graph-export-png"]').click()
    png = Image.open(io.BytesIO(open(dl.value.path(), "rb").read()))
    assert png.format == "PNG" and png.width >= 2 * 200 and png.height > png.width
    shot(tab, "resnet18")
    assert not tab.errors, tab.errors
    tab.page.close()
