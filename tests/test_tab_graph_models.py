"""The network diagram of the models #25 names, in real TensorBoard and real Chromium.

Runs, each written small in the module fixture: a Keras model with a nested
``Functional`` and a shared layer (trained two batches by ``model.fit`` with
the callback), a PyTorch ``nn.TransformerEncoder`` (2 blocks), a PyTorch model
with an ``if`` in ``forward`` and a 12-block transformer encoder (one step
each under ``watch``, heatmaps and activations logged). Each test checks what
a user sees at 1600 x 1000: the boxes and arrows drawn, and where a click on
each kind of box lands. Screenshots land in test-artifacts/graph-*.png.
"""

import os

import keras
import numpy as np
import pytest
import torch

import tb_nnviz.keras
import tb_nnviz.torch
from tests import graph_helpers
from tests.graph_helpers import Branchy, encoder, keras_nested, open_graph, shot

RUNS = ("keras_nested/train", "encoder", "branchy", "encoder12")


def _watch_one_step(net, logdir, x):
    opt = torch.optim.SGD(net.parameters(), 0.01)
    with tb_nnviz.torch.watch(net, logdir, opt, heatmap_freq=1, spectral_freq=0):
        opt.zero_grad()
        net(x).float().pow(2).mean().backward()
        opt.step()


def write(logdir):
    logdir = str(logdir)
    keras.utils.set_random_seed(0)
    model = keras_nested()
    model.compile("sgd", "mse")
    rng = np.random.default_rng(0)
    model.fit(rng.normal(size=(16, 8)), rng.normal(size=(16, 3)), batch_size=8, epochs=1, verbose=0,
              callbacks=[tb_nnviz.keras.NNVizCallback(os.path.join(logdir, "keras_nested"), heatmap_freq=1)])
    torch.manual_seed(0)
    _watch_one_step(encoder(2), os.path.join(logdir, "encoder"), torch.randn(2, 5, 32))
    _watch_one_step(Branchy(), os.path.join(logdir, "branchy"), torch.rand(3, 4) + 0.1)  # mean > 0: "up"
    _watch_one_step(encoder(12), os.path.join(logdir, "encoder12"), torch.randn(2, 5, 32))


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with graph_helpers.served(tmp_path_factory.mktemp("graph_models"), write, RUNS) as url:
        yield url


#: name -> [kind, calls, where a click lands (kind, tag)], the drawn edges, open blocks, and the sizes.
DRAWN = """() => ({
    nodes: Object.fromEntries([...document.querySelectorAll('[data-testid=graph-node]')].map(
        g => [g.dataset.name, [g.dataset.kind, g.dataset.calls || '1', g.dataset.linkKind || '',
                               g.dataset.layerLink || '']])),
    edges: [...document.querySelectorAll('[data-testid=graph-edge]')].map(e => [e.dataset.from, e.dataset.to]),
    blocks: [...document.querySelectorAll('[data-testid=graph-block]')].map(b => b.dataset.block),
    scale: Number(document.querySelector('[data-testid=graph-svg]').dataset.scale),
    svg: [document.querySelector('[data-testid=graph-svg]').getBoundingClientRect().width,
          document.querySelector('[data-testid=graph-svg]').getBoundingClientRect().height],
    box: [document.querySelector('[data-testid=graph-box]').clientWidth,
          document.querySelector('[data-testid=graph-box]').clientHeight],
    page: [document.documentElement.scrollWidth, document.documentElement.clientWidth]})"""

#: Whether layer section ``group`` is drawn with its top in the viewport (a click landed on it).
IN_VIEW = """g => {
    const c = document.querySelector(`[data-testid=group][data-group="${g}"]`);
    if (!c) return false;
    const r = c.getBoundingClientRect(); return r.top >= 0 && r.top < window.innerHeight - 100; }"""


def _click_lands(tab, node, group, kind, via=""):
    """Clicks box ``node`` (from the top of the page) and waits until section ``group`` is in view;
    the bar's note says which kind of landing it was (nothing for the box's own layer)."""
    frame = tab.frame
    frame.evaluate("window.scrollTo(0, 0)")
    frame.locator('[data-testid="graph-node"][data-name="%s"]' % node).click()
    frame.wait_for_function(IN_VIEW, arg=group, timeout=10000)
    note = frame.locator('[data-testid="graph-pick-note"]')
    assert (note.get_attribute("data-name"), note.get_attribute("data-kind"), note.get_attribute("data-via")) == (
        node, kind, via), note.text_content()
    if kind == "nearest":
        assert note.text_content() == "%s has no weights of its own: showing %s, the nearest layer with weights" % (
            node, via)
    elif kind == "activations":
        assert note.text_content() == "%s: its activations" % node
    else:
        assert note.text_content() == ""


def test_keras_nested_functional_in_its_frame_and_the_shared_layer_drawn_once(served, browser_):
    tab = open_graph(browser_, served, "keras_nested/train")
    frame = tab.frame
    drawn = frame.evaluate(DRAWN)
    assert set(drawn["nodes"]) == {"x", "shared", "in_dense", "act", "cat", "out"}, drawn["nodes"]
    # The shared layer: one box for its two calls, both uses wired to it (in: x and the nested
    # model's output; out: the nested model, the activation and the concatenation).
    assert drawn["nodes"]["shared"][:2] == ["layer", "2"]
    assert sorted(drawn["edges"]) == sorted([["x", "shared"], ["shared", "in_dense"], ["in_dense", "shared"],
                                             ["shared", "act"], ["shared", "cat"], ["act", "cat"], ["cat", "out"]])
    texts = frame.evaluate("""() => Object.fromEntries([...document.querySelectorAll('[data-testid=graph-node]')]
        .map(g => [g.dataset.name, [...g.querySelectorAll('text')].map(t => t.textContent)]))""")
    assert texts["shared"][1:] == ["(None, 8) → (None, 8)", "relu · 72 params · trainable", "shared: 2 calls"]
    assert texts["in_dense"][2] == "tanh · 72 params · trainable"
    # The nested Functional is an open frame named "inner · Functional" around its layer.
    assert drawn["blocks"] == ["inner"]
    inside = frame.evaluate("""() => {
        const f = document.querySelector('[data-testid=graph-block][data-block=inner] rect').getBoundingClientRect();
        const n = document.querySelector('[data-testid=graph-node][data-name=in_dense] rect').getBoundingClientRect();
        return [n.left >= f.left && n.right <= f.right && n.top >= f.top && n.bottom <= f.bottom,
                document.querySelector('[data-testid=graph-block-name][data-block=inner] text').textContent]; }""")
    assert inside == [True, "▾ inner · Functional"]
    overlaps = frame.evaluate(graph_helpers.OVERLAPS)
    assert overlaps["bad"] == [] and overlaps["labels"] == 1, overlaps
    assert drawn["scale"] == 1.0 and drawn["page"][0] <= drawn["page"][1]
    shot(tab, "keras-nested-shared")
    # Where clicks land: a layer's own section; the Activation layer (no weights) its activation
    # heatmap's section; the input and the Concatenate the nearest layer with weights.
    assert drawn["nodes"]["act"][2:] == ["activations", "nested_shared/act/activations"], drawn["nodes"]["act"]
    _click_lands(tab, "in_dense", "in_dense", "layer")
    _click_lands(tab, "act", "nested_shared/act", "activations")
    _click_lands(tab, "cat", "shared", "nearest", "shared")
    _click_lands(tab, "x", "shared", "nearest", "shared")
    # A click on the frame's name closes the nested model: one box, wired as its layer was.
    frame.evaluate("window.scrollTo(0, 0)")
    frame.locator('[data-testid="graph-block-name"][data-block="inner"]').click()
    frame.wait_for_selector('[data-testid="graph-node"][data-name="inner"][data-kind="block"]')
    closed = frame.evaluate(DRAWN)
    assert ["shared", "inner"] in closed["edges"] and ["inner", "shared"] in closed["edges"]
    assert "in_dense" not in closed["nodes"]
    assert not tab.errors, tab.errors
    tab.page.close()


def test_torch_transformer_encoder_residual_stream_and_clicks_on_every_kind_of_box(served, browser_):
    tab = open_graph(browser_, served, "encoder")
    frame = tab.frame
    drawn = frame.evaluate(DRAWN)
    assert len(drawn["nodes"]) == 23 and drawn["blocks"] == ["layers/0", "layers/1"], drawn  # 23 nodes: open
    edges = drawn["edges"]
    for i, feeds in enumerate(["input", "layers/0/norm2"]):
        b = "layers/%d/" % i
        # The residual stream: each block's two adds take the stream and the branch.
        assert sorted(e[0] for e in edges if e[1] == b + "add") == sorted([feeds, b + "dropout1"])
        assert sorted(e[0] for e in edges if e[1] == b + "add:1") == [b + "dropout2", b + "norm1"]
        assert drawn["nodes"][b + "self_attn"][0] == "layer" and drawn["nodes"][b + "add"][0] == "function"
    assert "layers/0/self_attn/out_proj" not in drawn["nodes"]  # inside MultiheadAttention
    overlaps = frame.evaluate(graph_helpers.OVERLAPS)
    assert overlaps["bad"] == [] and overlaps["labels"] == 2, overlaps
    assert drawn["scale"] == 1.0 and drawn["page"][0] <= drawn["page"][1]
    shot(tab, "torch-encoder")
    # Every kind of box: a module with weights, the functional relu (its activation heatmap),
    # a residual add and a dropout (the nearest layer with weights: before them first), the input.
    _click_lands(tab, "layers/1/self_attn", "layers/1/self_attn", "layer")
    _click_lands(tab, "layers/0/relu", "layers/0/relu", "activations")
    _click_lands(tab, "layers/1/add", "layers/0/norm2", "nearest", "layers/0/norm2")
    _click_lands(tab, "layers/0/dropout1", "layers/0/self_attn", "nearest", "layers/0/self_attn")
    _click_lands(tab, "input", "layers/0/self_attn", "nearest", "layers/0/self_attn")
    # A block: its frame's name closes it (one box), a click on the box opens it again.
    frame.evaluate("window.scrollTo(0, 0)")
    frame.locator('[data-testid="graph-block-name"][data-block="layers/1"]').click()
    frame.locator('[data-testid="graph-node"][data-name="layers/1"]').click()
    frame.wait_for_selector('[data-testid="graph-node"][data-name="layers/1/norm2"]')
    assert not tab.errors, tab.errors
    tab.page.close()


def test_torch_if_in_forward_draws_the_branch_taken(served, browser_):
    tab = open_graph(browser_, served, "branchy")
    frame = tab.frame
    drawn = frame.evaluate(DRAWN)
    # Positive inputs took "up" (a residual add); "down" has weights logged but never ran: not drawn.
    assert list(drawn["nodes"]) == ["input", "a", "act", "up", "add", "c"], drawn["nodes"]
    assert sorted(drawn["edges"]) == sorted([["input", "a"], ["a", "act"], ["act", "up"], ["up", "add"],
                                             ["act", "add"], ["add", "c"]])
    assert frame.locator('[data-testid="card"][data-tag="down/weight"]').count() == 1
    assert frame.evaluate(graph_helpers.OVERLAPS)["bad"] == []
    shot(tab, "torch-if")
    _click_lands(tab, "up", "up", "layer")
    _click_lands(tab, "act", "act", "activations")  # the ReLU module: its activations' section
    _click_lands(tab, "add", "up", "nearest", "up")
    assert not tab.errors, tab.errors
    tab.page.close()


def test_12_block_transformer_fits_at_1600x1000_and_opens_without_overlaps(served, browser_):
    tab = open_graph(browser_, served, "encoder12")
    frame = tab.frame
    drawn = frame.evaluate(DRAWN)
    # 133 nodes: the twelve alike blocks fold into one box, the whole diagram in view at once.
    assert drawn["nodes"] == {"input": ["layer", "1", "nearest", "layers/0/self_attn/in_proj_bias"],
                              "layers/0…11": ["block", "1", "", ""]}, drawn["nodes"]
    head = frame.locator('[data-testid="graph-node"][data-name="layers/0…11"] text').first.text_content()
    assert head.endswith("layers/0…11 · 12 × TransformerEncoderLayer"), head
    assert drawn["svg"][1] <= drawn["box"][1] and drawn["scale"] == 1.0, drawn
    frame.locator('[data-testid="graph-node"][data-name="layers/0…11"]').click()  # the twelve, closed
    frame.wait_for_selector('[data-testid="graph-node"][data-name="layers/11"][data-kind="block"]')
    twelve = frame.evaluate(DRAWN)
    assert [n for n in twelve["nodes"] if n != "input"] == ["layers/%d" % i for i in range(12)]
    assert twelve["edges"][1:] == [["layers/%d" % i, "layers/%d" % (i + 1)] for i in range(11)]
    frame.locator('[data-testid="graph-open-all"]').click()
    frame.wait_for_selector('[data-testid="graph-node"][data-name="layers/11/norm2"]')
    opened = frame.evaluate(DRAWN)
    assert len(opened["nodes"]) == 133 and len(opened["blocks"]) == 13
    # Readable: drawn at full size, no sideways scroll, no box over a box, no block name over a box.
    assert opened["scale"] == 1.0 and opened["svg"][0] <= opened["box"][0] + 1, opened
    assert opened["page"][0] <= opened["page"][1]
    overlaps = frame.evaluate(graph_helpers.OVERLAPS)
    assert overlaps["bad"] == [] and overlaps["boxes"] == 133 and overlaps["labels"] == 13, overlaps
    shot(tab, "transformer12-open")
    # A large model's sections sit in blocks: a click narrows them to the layer and lands on it.
    _click_lands(tab, "layers/11/relu", "layers/11/relu", "activations")
    _click_lands(tab, "layers/11/dropout2", "layers/11/linear2", "nearest", "layers/11/linear2")
    frame.locator('[data-testid="graph-close-all"]').click()
    frame.wait_for_selector('[data-testid="graph-node"][data-name="layers/0…11"]')
    shot(tab, "transformer12")
    assert not tab.errors, tab.errors
    tab.page.close()
