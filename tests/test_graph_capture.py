"""The model graph record: captured from real Keras and PyTorch models while they train, read back through the route.

Each test trains (or builds) a real model with the real logger, then reads
the record through TensorBoard's app and the ``graph`` route, or checks the
capture itself where training would only add time (Keras' ResNet-50).
"""

import os

import keras
import numpy as np
import pytest
import torch
import torchvision

import tb_nnviz.torch
from tb_nnviz.format import graph as graph_format
from tb_nnviz.keras import NNVizCallback
from tb_nnviz.log import keras_graph
from tb_nnviz.log.torch_graph import GraphRecorder
from tests.graph_helpers import keras_nested
from tests.helpers import PREFIX, get_json, make_client

nn = torch.nn


def route_graph(logdir, run):
    return get_json(make_client(logdir), "/graph", run=run)


def inputs_of(record, name):
    return [e[0] for e in record["edges"] if e[1] == name]


def by_name(record):
    return {n["name"]: n for n in record["nodes"]}


def torch_train(model, logdir, x, steps=1):
    """Trains ``model`` under ``watch`` for ``steps`` SGD steps; returns the graph route's answer."""
    opt = torch.optim.SGD(model.parameters(), 0.01)
    with tb_nnviz.torch.watch(model, str(logdir), opt, heatmap_freq=0, trajectory_freq=0, spectral_freq=0):
        for _ in range(steps):  # only the graph is logged
            opt.zero_grad()
            model(x).float().pow(2).mean().backward()
            opt.step()
    return route_graph(logdir, ".")


def test_keras_seed_chain_shows_relu_relu_softmax_and_shapes(tmp_path):
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(64, activation="relu"), keras.layers.Dense(10, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    x, y = np.random.default_rng(0).normal(size=(32, 64)).astype("float32"), np.arange(32) % 10
    model.fit(x, y, epochs=1, verbose=0, callbacks=[NNVizCallback(str(tmp_path))])
    body = route_graph(tmp_path, "train")
    g = body["graph"]
    assert (body["step"], g["connections"], g["framework"], body["errors"]) == (0, "known", "keras", [])
    dense = [n for n in g["nodes"] if n["type"] == "Dense"]
    assert [n["activation"] for n in dense] == ["relu", "relu", "softmax"]
    assert [n["outputs"] for n in dense] == [[[None, 64]], [[None, 64]], [[None, 10]]]
    assert [n["params"] for n in dense] == [64 * 64 + 64, 64 * 64 + 64, 64 * 10 + 10]
    assert all(n["trainable"] is True and n["dtype"] == "float32" for n in dense)
    # A chain: input -> dense -> dense_1 -> dense_2, each named by its weights' layer.
    names = [n["name"] for n in g["nodes"]]
    assert g["edges"] == [[a, b] for a, b in zip(names, names[1:])]
    assert [n["layer"] for n in dense] == [w.path.rpartition("/")[0] for w in model.weights[::2]]


def test_keras_resnet50_every_add_has_two_inputs_and_the_record_is_small():
    model = keras.applications.ResNet50(weights=None)
    g = keras_graph.capture(model)
    adds = [n for n in g["nodes"] if n["type"] == "Add"]
    assert len(adds) == 16
    for a in adds:
        assert len(inputs_of(g, a["name"])) == 2, a["name"]
    assert len(g["nodes"]) == len(model.layers)
    size = len(graph_format.encode(g))
    # One heatmap step of ResNet-50 is up to max_total_cells (262,144) float32 values in two planes: 2 MiB.
    assert size < 100_000, size


def test_keras_nested_functional_and_shared_layer():
    model = keras_nested()
    g = keras_graph.capture(model)
    nodes = by_name(g)
    assert g["blocks"][0]["name"] == "inner" and nodes["in_dense"]["parent"] == "inner"
    assert nodes["shared"]["layer"] == nodes["shared:1"]["layer"] == "shared"
    assert inputs_of(g, "shared") == ["x"]
    assert inputs_of(g, "in_dense") == ["shared"]  # the nested model's input is wired to what feeds it
    assert inputs_of(g, "shared:1") == ["in_dense"] and inputs_of(g, "act") == ["shared:1"]
    assert inputs_of(g, "cat") == ["shared", "act"]
    assert nodes["cat"]["inputs"] == [[None, 8], [None, 8]] and nodes["cat"]["outputs"] == [[None, 16]]
    assert "inner_in" not in nodes


def test_keras_subclassed_model_lists_layers_with_connections_unknown(tmp_path):
    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.d1, self.d2 = keras.layers.Dense(4, activation="relu"), keras.layers.Dense(2)

        def call(self, x):
            return self.d2(self.d1(x))

    model = Sub()
    model.compile("sgd", "mse")
    model.fit(np.zeros((8, 3)), np.zeros((8, 2)), verbose=0, callbacks=[NNVizCallback(str(tmp_path))])
    g = route_graph(tmp_path, "train")["graph"]
    assert g["connections"] == "unknown" and g["edges"] == []
    assert [(n["type"], n["activation"], n["params"]) for n in g["nodes"]] == [("Dense", "relu", 16),
                                                                                ("Dense", "linear", 10)]


def test_torch_resnet18_residual_adds_between_modules(tmp_path):
    model = torchvision.models.resnet18(num_classes=10)
    g = torch_train(model, tmp_path, torch.randn(2, 3, 32, 32))["graph"]
    nodes = by_name(g)
    assert g["connections"] == "known" and g["framework"] == "torch" and g["model"] == "ResNet"
    adds = [n for n in g["nodes"] if n["type"] == "add"]
    assert len(adds) == 8 and all(len(inputs_of(g, a["name"])) == 2 for a in adds)
    assert set(inputs_of(g, "layer1/0/add")) == {"layer1/0/bn2", "maxpool"}  # the skip from the block's input
    assert set(inputs_of(g, "layer2/0/add")) == {"layer2/0/bn2", "layer2/0/downsample/1"}
    conv = nodes["layer1/0/conv1"]
    assert (conv["type"], conv["parent"], conv["params"], conv["trainable"]) == ("Conv2d", "layer1/0", 36864, True)
    assert conv["outputs"] == [[2, 64, 8, 8]]
    assert nodes["layer1/0/relu:1"]["layer"] == "layer1/0/relu"  # ReLU module called twice: two nodes
    assert inputs_of(g, "fc") == ["flatten"] and inputs_of(g, "flatten") == ["avgpool"]
    blocks = {b["name"]: b for b in g["blocks"]}
    assert blocks["layer1/0"]["parent"] == "layer1" and blocks["layer1"]["parent"] is None
    # Nothing of ours is left on the model once the graph is written.
    assert not model._forward_hooks and not model._forward_pre_hooks


def test_torch_transformer_encoder_residual_stream(tmp_path):
    layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True)
    model = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
    g = torch_train(model, tmp_path, torch.randn(2, 5, 32))["graph"]
    nodes = by_name(g)
    for i in range(2):
        attn = nodes["layers/%d/self_attn" % i]
        assert (attn["type"], attn["parent"], attn["params"]) == ("MultiheadAttention", "layers/%d" % i,
                                                                   4 * 32 * 32 + 4 * 32)
        feeds = "input" if i == 0 else "layers/0/norm2"
        assert set(inputs_of(g, "layers/%d/add" % i)) == {feeds, "layers/%d/dropout1" % i}
        assert set(inputs_of(g, "layers/%d/add:1" % i)) == {"layers/%d/norm1" % i, "layers/%d/dropout2" % i}
        assert nodes["layers/%d/relu" % i]["function"] and nodes["layers/%d/relu" % i]["activation"] == "relu"
    assert "layers/0/self_attn/out_proj" not in nodes  # inside MultiheadAttention, not called as a module


def test_torch_model_with_an_if_draws_the_branch_taken_and_no_test_nodes(tmp_path):
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.c = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 2)

        def forward(self, x):
            h = self.a(x)
            if h.sum() > -1e9:
                h = torch.cat([self.b(h), h], 1)[:, :4]
            return self.c(torch.tanh(h))

    g = torch_train(Branchy(), tmp_path, torch.randn(3, 4))["graph"]
    assert [n["name"] for n in g["nodes"]] == ["input", "a", "b", "cat", "tanh", "c"]
    assert sorted(inputs_of(g, "cat")) == ["a", "b"] and inputs_of(g, "tanh") == ["cat"]  # [:, :4] passes through
    assert by_name(g)["tanh"]["activation"] == "tanh"


def test_recording_runs_once_and_leaves_later_forwards_alone():
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
    rec = GraphRecorder(model)
    assert rec.take() is None  # no forward yet
    with torch.no_grad():
        model(torch.randn(2, 4))
    assert [n["name"] for n in rec.take()["nodes"]] == ["input", "0", "1"]
    assert rec.take() is None and not model._forward_pre_hooks
    assert not torch.nn.modules.module._global_forward_hooks


@pytest.mark.parametrize("record, message", [
    ({"connections": "maybe", "nodes": [], "blocks": [], "edges": []}, "connections must be one of"),
    ({"connections": "known", "nodes": [graph_format.node("a", "X")] * 2, "blocks": [], "edges": []},
     "unique non-empty name"),
    ({"connections": "known", "nodes": [graph_format.node("a", "X", parent="blk")], "blocks": [], "edges": []},
     "sits in block 'blk'"),
    ({"connections": "known", "nodes": [graph_format.node("a", "X")], "blocks": [], "edges": [["b", "a"]]},
     "starts at 'b'"),
])
def test_malformed_records_are_refused_by_name(record, message):
    with pytest.raises(ValueError, match=message):
        graph_format.encode(record)


def test_route_null_without_a_graph_and_a_newer_record_reported_not_served(tmp_path):
    from tb_nnviz.log.writer import Writer

    with Writer(str(tmp_path / "old")) as w:
        w.log_weights(0, {"w": np.ones((2, 2))})
    with Writer(str(tmp_path / "new")) as w:
        w.write_reduced(3, graph=b'{"version": 99, "connections": "known", "nodes": [], "blocks": [], "edges": []}')
    client = make_client(tmp_path)
    # A run without a graph is not an error (the tab asks for every run it shows).
    assert get_json(client, "/graph", run="old") == {"run": "old", "step": None, "graph": None, "errors": []}
    assert client.get(PREFIX + "/graph").status_code == 400
    body = get_json(client, "/graph", run="new")
    assert body["graph"] is None and "newer than this tb_nnviz reads" in body["errors"][0]["message"]
    assert os.path.isdir(tmp_path / "new")


def test_keras_operations_between_layers_are_nodes_without_parameters():
    """A functional transformer's residual ``x + y`` is a keras.ops Add, not a layer: a node with 0 parameters."""
    x = keras.Input((4, 8), name="tokens")
    attended = keras.layers.MultiHeadAttention(2, 4, name="mha")(x, x)
    out = keras.layers.Dense(8, name="ffn")(x + attended)
    g = keras_graph.capture(keras.Model(x, out))
    ops = [n for n in g["nodes"] if n["name"] not in ("tokens", "mha", "ffn")]
    assert ops and all(n["params"] == 0 for n in ops), ops
    assert by_name(g)["mha"]["params"] > 0
    assert len(inputs_of(g, ops[0]["name"])) == 2  # the residual add: the input and the attention
