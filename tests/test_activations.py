"""Activation statistics and run information: real torch training and the Writer, read back through TensorBoard.

The statistics ``tb_nnviz.torch.watch`` records in the training forward are
those of the numpy reference (``tb_nnviz.log.activations``) over the same
batch, captured here by running the same layers again on it; broken nets
(dead ReLUs, saturated tanh, un-normalised inputs) show it; the run
information holds the optimizer's configuration, the learning rate over the
steps and the structure in call order (an MLP, a CNN with functional
activations, torchvision's ResNet-18); the hooks run only in the forward of a
logged step; the store decodes it all into ``diagnose.evidence`` values and
skips malformed records with a reason; the ``activations`` route serves it.
"""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.util import tensor_util

import tb_nnviz
import tb_nnviz.torch
from tb_nnviz.format import layouts, metadata
from tb_nnviz.log import activations as act
from tb_nnviz.log.event_file import EventFile
from tb_nnviz.reduce import grids
from tests.helpers import PREFIX, get_json, make_client
from tests.providers import CTX, evidence, python_provider, read_all

ACT, RUN, HEAT = metadata.ACTIVATION_PLUGIN_NAME, metadata.RUN_PLUGIN_NAME, metadata.HEATMAP_PLUGIN_NAME


def by_layer(series):
    return {a.layer: a for a in series}


def records(logdir):
    """``{layer: {step: stats vector}}`` as logged."""
    return {metadata.tensor_name(tag, ACT): {d.step: d.numpy for d in data}
            for tag, data in read_all(python_provider(logdir), ACT)["."].items()}


class Mixed(torch.nn.Module):
    """A CNN with activation modules and functional activations, conv and linear units."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 6, 3)
        self.act = torch.nn.Sigmoid()
        self.fc = torch.nn.Linear(6 * 4 * 4, 8)
        self.head = torch.nn.Linear(8, 3)

    def layers(self, x):
        """Every activation of the forward, by the name the recorder gives it."""
        c = self.conv(x)
        s = self.act(c)
        h = F.relu(self.fc(s.flatten(1)))
        t = torch.tanh(self.head(h))
        return {"act": (s, "sigmoid", 1), "relu": (h, "relu", 1), "tanh": (t, "tanh", 1)}, t

    def forward(self, x):
        return self.layers(x)[1]


def train_captured(model, opt, steps, make_x, watcher, batch=16):
    """Trains; after each backward (before ``opt.step()``) recomputes the step's activations
    on the same batch under no_grad (which the recorder ignores) and keeps them by step."""
    gen = torch.Generator().manual_seed(3)
    seen = {}
    for i in range(1, steps + 1):
        x = make_x(batch, gen)
        opt.zero_grad()
        model(x).square().mean().backward()
        with torch.no_grad():
            seen[i] = (x.numpy().copy(), {k: (v.numpy().copy(), kind, axis)
                                          for k, (v, kind, axis) in model.layers(x)[0].items()})
        opt.step()
    return seen


def test_statistics_equal_numpy_over_the_batch_of_the_logged_step(tmp_path):
    torch.manual_seed(0)
    model = Mixed()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    with tb_nnviz.torch.watch(model, tmp_path, opt, trajectory_freq=3, heatmap_freq=6, strict=True) as w:
        seen = train_captured(model, opt, 7, lambda b, g: torch.randn(b, 2, 6, 6, generator=g), w)
    logged = records(tmp_path)
    assert set(logged) == {"input", "act", "relu", "tanh"}
    for layer, steps in logged.items():
        assert sorted(steps) == [1, 3, 6], layer  # the first forward, then the trajectory steps
        for step, got in steps.items():
            x, outs = seen[step]
            if layer == "input":
                want = act.input_stats(x)
            else:
                out, kind, axis = outs[layer]
                want = act.activation_stats(out, kind, axis)
            np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-7, err_msg="%s step %d" % (layer, step))
    contents = {metadata.tensor_name(t, ACT): metadata.parse_content(m.plugin_content, ACT)
                for t, m in python_provider(tmp_path).list_tensors(CTX, experiment_id="", plugin_name=ACT)["."].items()}
    assert {n: (c["activation"], c["order"], c["unit_axis"], c["units"]) for n, c in contents.items()} == {
        "input": ("input", 0, None, 0), "act": ("sigmoid", 1, 1, 6), "relu": ("relu", 2, 1, 8),
        "tanh": ("tanh", 3, 1, 3)}
    assert contents["act"]["fields"] == list(layouts.ACTIVATION_FIELDS) and contents["act"]["module"] == "Sigmoid"
    assert contents["relu"]["module"] == "F.relu" and contents["input"]["fields"] == list(layouts.INPUT_FIELDS)
    # Heatmaps at the heatmap step: samples down, units across (a conv channel's spatial mean).
    heat = read_all(python_provider(tmp_path), HEAT)["."]
    planes = {d.step: d.numpy for d in heat["act/activations/nnviz_heatmap"]}
    assert sorted(planes) == [6]
    s = seen[6][1]["act"][0]
    np.testing.assert_allclose(planes[6][0], s.mean(axis=(2, 3)), rtol=1e-6)
    np.testing.assert_allclose(planes[6][0], act.heatmap_matrix(s, 1, 16), rtol=1e-6)


def test_units_of_a_transformer_style_activation_are_the_last_axis(tmp_path):
    """A [B, T, D] output after a Linear: units are D (after a conv or norm of [B, C, ...]: C)."""
    model = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.GELU(), torch.nn.Linear(5, 2))
    opt = torch.optim.Adam(model.parameters())
    x = torch.randn(3, 7, 4)
    with tb_nnviz.torch.watch(model, tmp_path, opt, strict=True):
        opt.zero_grad()
        model(x).sum().backward()
        with torch.no_grad():
            want = act.activation_stats(F.gelu(model[0](x)).numpy(), "gelu", -1)
        opt.step()
    c = python_provider(tmp_path).list_tensors(CTX, experiment_id="", plugin_name=ACT)["."]["1/nnviz_activation"]
    content = metadata.parse_content(c.plugin_content)
    assert (content["activation"], content["unit_axis"], content["units"]) == ("gelu", 2, 5)
    np.testing.assert_allclose(records(tmp_path)["1"][1], want, rtol=2e-5)


def _mlp(final_bias=None, scale=None, act_cls=torch.nn.ReLU):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(10, 32), act_cls(), torch.nn.Linear(32, 4))
    with torch.no_grad():
        if final_bias is not None:
            model[0].bias.fill_(final_bias)
        if scale is not None:
            model[0].weight.mul_(scale)
    return model


def _fit(model, logdir, steps=20, x_scale=1.0, x_shift=0.0, opt=None, **options):
    opt = opt or torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    gen = torch.Generator().manual_seed(0)
    with tb_nnviz.torch.watch(model, logdir, opt, strict=True, **options) as w:
        for _ in range(steps):
            x = torch.randn(32, 10, generator=gen) * x_scale + x_shift
            opt.zero_grad()
            F.cross_entropy(model(x), torch.randint(0, 4, (32,), generator=gen)).backward()
            opt.step()
    return w


def test_dead_relus_saturated_tanh_and_unnormalised_inputs_show(tmp_path):
    _fit(_mlp(final_bias=-10.0), tmp_path / "dead", trajectory_freq=5)
    _fit(_mlp(scale=30.0, act_cls=torch.nn.Tanh), tmp_path / "tanh", trajectory_freq=5)
    _fit(_mlp(), tmp_path / "raw", trajectory_freq=5, x_scale=60.0, x_shift=128.0)
    _fit(_mlp(), tmp_path / "healthy", trajectory_freq=5)
    got = {run: evidence(tmp_path / run) for run in ("dead", "tanh", "raw", "healthy")}
    for info, series, problems in got.values():
        assert problems == [] and info is not None
    dead = by_layer(got["dead"][1])
    assert dead["1"].kind == "relu" and dead["1"].last("dead_fraction") == 1.0
    # At the trajectory steps and the default heatmap steps (1, 3, 10).
    assert list(dead["1"].steps) == [1, 3, 5, 10, 15, 20] and dead["1"].order == 1
    healthy = by_layer(got["healthy"][1])
    assert healthy["1"].last("dead_fraction") < 0.2 and healthy["input"].kind == "input"
    tanh = by_layer(got["tanh"][1])
    assert tanh["1"].kind == "tanh" and tanh["1"].last("saturated_fraction") > 0.8
    assert np.isnan(healthy["1"].last("saturated_fraction"))  # not a saturating kind
    raw = got["raw"][0].input
    assert raw["mean"] == pytest.approx(128, abs=20) and raw["std"] == pytest.approx(60, rel=0.2)
    assert raw["max"] > 200 and raw["step"] == 1 and raw["shape"] == [32, 10]
    assert abs(got["healthy"][0].input["mean"]) < 0.5
    assert by_layer(got["raw"][1])["input"].last("std") == pytest.approx(60, rel=0.2)


def test_run_information_optimizer_learning_rate_and_structure(tmp_path):
    model = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.1)
    gen = torch.Generator().manual_seed(0)
    with tb_nnviz.torch.watch(model, tmp_path, opt, trajectory_freq=5, strict=True):
        for _ in range(30):
            opt.zero_grad()
            model(torch.randn(8, 10, generator=gen)).square().mean().backward()
            opt.step()
            sched.step()
    info, _, problems = evidence(tmp_path)
    assert problems == []
    assert info.framework == "torch" and info.optimizer_class == "SGD" and info.momentum == 0.9
    o = info.optimizer
    assert (o["lr"], o["nesterov"], o["weight_decay"], o["param_groups"][0]["params"]) == (0.1, True, 5e-4, 484)
    # The lr is read at logged steps: 0.1 until the scheduler's 10th step, then 0.01, 0.001.
    assert [s for s, _ in info.lr] == [0, 15, 25]
    np.testing.assert_allclose([lr for _, lr in info.lr], [0.1, 0.01, 0.001])
    assert [(m["name"], m["type"], m.get("activation"), m["params"], m["output_shape"]) for m in info.structure] == [
        ("0", "Linear", None, 352, [8, 32]), ("1", "ReLU", "relu", 0, [8, 32]), ("2", "Linear", None, 132, [8, 4])]

    adam = torch.optim.AdamW(_mlp().parameters(), lr=3e-4, betas=(0.8, 0.99))
    _fit(_mlp(), tmp_path / "adam", steps=2, opt=adam)
    info = evidence(tmp_path / "adam")[0]
    assert info.optimizer_class == "AdamW" and info.optimizer["betas"] == [0.8, 0.99] and info.momentum == 0.8


class FunctionalCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 4, 3)
        self.conv2 = torch.nn.Conv2d(4, 4, 3)
        self.fc = torch.nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):  # x: [B, 1, 8, 8]
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(x.relu(), 1)  # a second relu, as a tensor method
        x = torch.relu(self.conv2(x))
        return self.fc(x.flatten(1))


def _one_step(model, x, logdir):
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with tb_nnviz.torch.watch(model, logdir, opt, strict=True, heatmap_freq=1) as w:
        opt.zero_grad()
        out = model(x)
        (out if torch.is_tensor(out) else out[0]).float().square().mean().backward()
        opt.step()
    return w


def test_structure_in_call_order_for_a_functional_cnn_and_resnet18(tmp_path):
    torch.manual_seed(0)
    _one_step(FunctionalCNN(), torch.randn(4, 1, 8, 8), tmp_path / "cnn")
    info, series, problems = evidence(tmp_path / "cnn")
    assert problems == []
    assert [(m["name"], m["type"]) for m in info.structure] == [
        ("conv1", "Conv2d"), ("relu", "F.relu"), ("relu:1", "F.relu"), ("conv2", "Conv2d"), ("relu:2", "F.relu"),
        ("fc", "Linear")]
    assert [(a.layer, a.kind) for a in series] == [("input", "input"), ("relu", "relu"), ("relu:1", "relu"),
                                                   ("relu:2", "relu")]
    assert info.structure[0]["output_shape"] == [4, 4, 6, 6] and info.structure[0]["params"] == 40

    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    w = _one_step(torchvision.models.resnet18(weights=None, num_classes=10), torch.randn(2, 3, 32, 32),
                  tmp_path / "resnet")
    info, series, problems = evidence(tmp_path / "resnet")
    assert problems == []
    names = [m["name"] for m in info.structure]
    assert names[:10] == ["conv1", "bn1", "relu", "maxpool", "layer1/0/conv1", "layer1/0/bn1", "layer1/0/relu",
                          "layer1/0/conv2", "layer1/0/bn2", "layer1/1/conv1"]
    assert names[-2:] == ["avgpool", "fc"] and "layer2/0/downsample/0" in names
    assert sum(m["params"] for m in info.structure) == sum(p.numel() for p in w.model.parameters())
    layers = [a.layer for a in series]
    # ResNet's blocks call their relu twice: after bn1 and after the residual sum.
    assert layers[:4] == ["input", "relu", "layer1/0/relu", "layer1/0/relu:1"] and len(layers) == 1 + 1 + 16
    assert all(a.kind == "relu" for a in series[1:])
    tags = read_all(python_provider(tmp_path / "resnet"), HEAT)["."]
    planes = tags["layer4/1/relu:1/activations/nnviz_heatmap"][-1].numpy
    assert planes.shape == (1, 2, 512)  # the batch of 2, the 512 channels


def test_hooks_run_only_in_the_forward_of_a_logged_step(tmp_path):
    module_hooks = torch.nn.modules.module
    model = _mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    hooked = []
    gen = torch.Generator().manual_seed(0)
    with tb_nnviz.torch.watch(model, tmp_path, opt, trajectory_freq=4, heatmap_freq=8, strict=True) as w:
        for step in range(1, 13):
            hooked.append(bool(model._forward_pre_hooks or model[1]._forward_hooks or model[1]._forward_pre_hooks
                               or module_hooks._global_forward_pre_hooks or module_hooks._global_forward_hooks))
            with torch.no_grad():  # a validation pass: not recorded, the hooks stay armed
                model(torch.randn(4, 10, generator=gen))
            opt.zero_grad()
            model(torch.randn(8, 10, generator=gen)).square().mean().backward()
            for _ in range(2):  # more forwards before the step (accumulation): only the first is recorded
                model(torch.randn(8, 10, generator=gen)).square().mean().backward()
            opt.step()
        assert not w.recorder.armed
    # Armed before the forwards of steps 1 (the first), 4, 8 and 12; forwards of other steps run without hooks.
    assert [s for s, h in enumerate(hooked, 1) if h] == [1, 4, 8, 12]
    assert w.recorder.hooked_forwards == 4 * 2  # the validation pass and the recorded training forward
    assert sorted(records(tmp_path)["1"]) == [1, 4, 8, 12]


def test_activations_off_logs_run_information_only(tmp_path):
    model = _mlp()
    w = _fit(model, tmp_path, steps=3, activations=False)
    assert w.recorder is None and not model[1]._forward_hooks
    info, series, _ = evidence(tmp_path)
    assert series == [] and info.optimizer_class == "SGD" and info.structure == ()


# -- the Writer -----------------------------------------------------------------


def test_writer_logs_activations_from_arrays_and_run_information(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 5)) * 10
    h = np.maximum(rng.normal(size=(40, 8, 8, 6)), 0)  # NHWC: units last
    h[..., 2] = 0  # a dead channel
    s = 1 / (1 + np.exp(-5 * rng.normal(size=(40, 3))))
    with tb_nnviz.Writer(tmp_path) as w:
        w.log_run_info(0, {"framework": "jax", "optimizer": {"class": "adam", "b1": 0.9, "lr": 1e-3},
                           "lr": [[0, 1e-3]], "structure": [{"name": "conv", "type": "Conv"}], "eps": np.float32(1)})
        for step in (0, 10):
            w.log_activations(step, {"params": {"conv": h, "out": s}}, kinds={"params/conv": "relu",
                              "params/out": "sigmoid"}, inputs=x, heatmaps=step == 10, modules={"params/conv": "Conv"})
        w.log_run_info(10, {"lr": [[10, 1e-4]]})
        w.log_activation_stats(20, {"params/conv": {"dead_fraction": 0.5, "mean": 1.0}}, kinds={"params/conv": "relu"})
    info, series, problems = evidence(tmp_path)
    assert problems == []
    assert info.framework == "jax" and info.optimizer == {"class": "adam", "b1": 0.9, "lr": 1e-3}
    assert info.lr == ((0, 1e-3), (10, 1e-4)) and info.structure == ({"name": "conv", "type": "Conv"},)
    got = by_layer(series)
    assert [a.layer for a in series] == ["input", "params/conv", "params/out"]
    np.testing.assert_array_equal(got["params/conv"].steps, [0, 10, 20])
    want = act.activation_stats(h, "relu")
    assert want[0] == pytest.approx(1 / 6)
    np.testing.assert_allclose([got["params/conv"].fields[f][0] for f in layouts.ACTIVATION_FIELDS], want)
    assert got["params/conv"].fields["dead_fraction"][2] == 0.5 and np.isnan(got["params/conv"].fields["std"][2])
    np.testing.assert_allclose(got["params/out"].fields["saturated_fraction"][1],
                               np.mean((s < 0.03) | (s > 0.97)))
    np.testing.assert_allclose([got["input"].fields[f][0] for f in layouts.INPUT_FIELDS], act.input_stats(x))
    heat = read_all(python_provider(tmp_path), HEAT)["."]
    assert [d.step for d in heat["params/conv/activations/nnviz_heatmap"]] == [10]
    np.testing.assert_allclose(heat["params/conv/activations/nnviz_heatmap"][0].numpy[0],
                               h[:32].mean(axis=(1, 2)), rtol=1e-6)


@pytest.mark.parametrize("call, message", [
    (lambda w: w.log_activations(0, {"a": np.ones(3)}, kinds={"a": "swish"}), "activation kind must be one of"),
    (lambda w: w.log_activations(0, {"a": np.float32(1)}), "scalar"),
    (lambda w: w.log_activations(0, {"a": np.ones((2, 3))}, unit_axes={"a": 0}), "must not be the batch axis"),
    (lambda w: w.log_activation_stats(0, {"a": {"dead": 1}}), "must map fields of"),
    (lambda w: (w.log_activations(0, {"a": np.ones((2, 3))}), w.log_activations(0, {"a": np.ones((2, 3))})),
     "already logged at step 0"),
    (lambda w: (w.log_activations(0, {"a": np.ones((2, 3))}), w.log_activations(1, {"a": np.ones((2, 4))})),
     "changed units"),
])
def test_writer_refuses_bad_activations_by_name(tmp_path, call, message):
    with tb_nnviz.Writer(tmp_path) as w:
        with pytest.raises(grids.TensorError, match=message):
            call(w)


def test_malformed_records_are_skipped_with_a_reason_and_the_route_serves_the_rest(tmp_path):
    run = tmp_path / "run"
    with tb_nnviz.Writer(run) as w:
        w.log_run_info(0, {"framework": "numpy", "lr": [[0, 0.1]]})
        w.log_activations(0, {"dense": np.ones((4, 3))}, kinds={"dense": "linear"})
        w.log_run_info(5, {"lr": [["five", 0.1], [5, 0.05]]})
    bad = EventFile(str(run))

    def value(tag, plugin, content, array):
        v = summary_pb2.Summary.Value(tag=tag, tensor=tensor_util.make_tensor_proto(array))
        v.metadata.CopyFrom(metadata.summary_metadata(plugin, content))
        return v

    raw = summary_pb2.Summary.Value(tag="run/nnviz_run", tensor=tensor_util.make_tensor_proto(
        np.frombuffer(b"[not json", np.uint8)))
    bad.add_event(event_pb2.Event(step=7, summary=summary_pb2.Summary(value=[
        raw, value("x/nnviz_activation", ACT, {"fields": ["mean"], "activation": "relu"}, np.zeros(1))])))
    bad.close()
    info, series, problems = evidence(tmp_path, "run")
    assert info.framework == "numpy" and info.lr == ((0, 0.1), (5, 0.05))
    assert [a.layer for a in series] == ["dense"]
    messages = " | ".join(p["message"] for p in problems)
    assert "malformed lr pairs" in messages and "not UTF-8 JSON" in messages and "order" in messages

    client = make_client(tmp_path)
    body = get_json(client, "/activations", run="run")
    assert body["run_info"]["framework"] == "numpy" and body["run_info"]["lr"] == [[0, 0.1], [5, 0.05]]
    layer = body["layers"][0]
    assert (layer["layer"], layer["kind"], layer["step"], layer["mean"]) == ("dense", "linear", [0], [1.0])
    assert layer["saturated_fraction"] == [None]  # NaN as null
    assert len(body["errors"]) == 3
    assert client.get(PREFIX + "/activations", query_string={"run": "nope"}).status_code == 404
    assert client.get(PREFIX + "/activations").status_code == 400
    json.dumps(body, allow_nan=False)


def test_the_loader_keeps_every_step_of_the_small_records():
    from tests.helpers import make_flags

    flags = make_flags("/tmp", "--samples_per_plugin", "nnviz_run=5").flags.samples_per_plugin
    assert flags[ACT] == 0 and flags[RUN] == 5


def test_activation_heatmaps_are_listed_as_heatmaps_but_not_counted_as_weights(tmp_path):
    rng = np.random.default_rng(1)
    with tb_nnviz.Writer(tmp_path / "run") as w:
        for step in (0, 5):
            w.log_weights(step, {"dense/kernel": rng.normal(size=(4, 6)), "dense/bias": np.zeros(6)})
            w.log_activations(step, {"dense": np.maximum(rng.normal(size=(50, 6)), 0)}, kinds={"dense": "relu"},
                              heatmaps=True, modules={"dense": "Dense"})
    client = make_client(tmp_path)
    info = get_json(client, "/tags")["runs"]["run"]["dense/activations"]
    assert (info["kind"], info["of"], info["grid"], info["has_trajectory"]) == ("heatmap", "activations", [32, 6],
                                                                                False)
    assert info["description"] == "Dense output (first 32 samples down, units across) activations"
    assert get_json(client, "/tags")["runs"]["run"]["dense/kernel"]["of"] is None
    rows = get_json(client, "/overview", run="run")
    assert [r["name"] for r in rows] == ["dense/bias", "dense/kernel"]
