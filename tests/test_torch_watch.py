"""``tb_nnviz.torch.watch`` on real PyTorch training loops, read back through TensorBoard.

Cadence and step axis from the optimizer's step hooks, names and layouts for
PyTorch's modules, gradients read before the step, torch.compile, AMP's
GradScaler, DDP (rank 0 writes), lazy modules, and what happens on bad input
or a logging failure.
"""

import os

import numpy as np
import pytest
import torch

import tb_nnviz.torch
from tb_nnviz.format import metadata
from tb_nnviz.reduce import grids, trajectory
from tests.providers import CTX, python_provider, read_all

HEAT, TRAJ = metadata.HEATMAP_PLUGIN_NAME, metadata.TRAJECTORY_PLUGIN_NAME
F = {f: i for i, f in enumerate(trajectory.STAT_FIELDS)}


def mlp():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))


def train(model, opt, steps, on_backward=None, batch=32):
    """A plain loop; ``on_backward(step)`` runs between backward and ``opt.step()``."""
    gen = torch.Generator().manual_seed(1)
    for i in range(steps):
        x = torch.randn(batch, 8, generator=gen)
        y = torch.randint(0, 3, (batch,), generator=gen)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        if on_backward:
            on_backward(i + 1)
        opt.step()


def contents(logdir, plugin):
    listing = python_provider(logdir).list_tensors(CTX, experiment_id="", plugin_name=plugin)["."]
    return {tag: metadata.parse_content(m.plugin_content) for tag, m in listing.items()}


def test_watch_logs_at_optimizer_steps_with_gradients_read_before_the_step(tmp_path):
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    grads = {}

    def record(step):
        if step % 5 == 0:
            grads[step] = {n: p.grad.double().norm().item() for n, p in model.named_parameters()}

    with tb_nnviz.torch.watch(model, tmp_path, opt, heatmap_freq=10, trajectory_freq=5, strict=True) as w:
        train(model, opt, 12, record)
        assert w.step == 12 and w.logged_steps == [0, 5, 10]
        assert w.tensor_names == ["0/weight", "0/bias", "2/weight", "2/bias"]
    assert w.logged_steps == [0, 5, 10, 12]  # close() logs the last state
    traj = read_all(python_provider(tmp_path), TRAJ)["."]
    heat = read_all(python_provider(tmp_path), HEAT)["."]
    assert [d.step for d in heat["0/weight/nnviz_heatmap"]] == [0, 10, 12]
    points = traj["0/weight/nnviz_trajectory"]
    assert [d.step for d in points] == [0, 5, 10, 12]
    for name, p in model.named_parameters():
        series = {d.step: d.numpy for d in traj[name.replace(".", "/") + "/nnviz_trajectory"]}
        for step in (5, 10):
            point = series[step]
            assert point[F["grad_norm"]] == pytest.approx(grads[step][name], rel=1e-6)
            assert point[F["grad_ratio"]] == pytest.approx(point[F["grad_norm"]] / point[F["norm"]], rel=1e-12)
        # No gradient at the initial step; close() at step 12 reads the last step's, still in .grad.
        assert np.isnan(series[0][F["grad_norm"]]) and series[5][F["update_ratio"]] > 0
        assert series[12][F["grad_norm"]] == pytest.approx(p.grad.double().norm().item(), rel=1e-6)
        np.testing.assert_allclose(series[12][F["norm"]], p.detach().double().norm().item(), rtol=1e-9)
    content = contents(tmp_path, HEAT)["0/weight/nnviz_heatmap"]
    assert content["layout"] == {"kind": "transposed", "rows": [1], "cols": [0]} and content["grid"] == [8, 16]
    assert contents(tmp_path, TRAJ)["0/weight/nnviz_trajectory"]["unit_axis"] == 0


def test_a_sequentials_layers_are_described_by_their_module(tmp_path):
    """Names stay the parameter paths (``0/weight``); the description, which the
    tab shows beside them, says what the module is: its class, sizes, then the attribute."""
    model = torch.nn.Sequential(torch.nn.Linear(20, 32), torch.nn.ReLU(), torch.nn.Linear(32, 5))
    with tb_nnviz.torch.watch(model, tmp_path, strict=True):
        pass
    for plugin in (HEAT, TRAJ):
        listing = python_provider(tmp_path).list_tensors(CTX, experiment_id="", plugin_name=plugin)["."]
        described = {
            tag.rpartition("/")[0]: m.description
            for tag, m in listing.items()
            if not tag.endswith("/nnviz_heatmap_first")
        }
        assert described == {"0/weight": "Linear(20 -> 32) weight", "0/bias": "Linear(20 -> 32) bias",
                             "2/weight": "Linear(32 -> 5) weight", "2/bias": "Linear(32 -> 5) bias"}


class Zoo(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(20, 6)
        self.conv = torch.nn.Conv2d(2, 4, 3)
        self.deconv = torch.nn.ConvTranspose2d(4, 3, 2)
        self.conv1d = torch.nn.Conv1d(2, 5, 3)
        self.lstm = torch.nn.LSTM(6, 5, batch_first=True)
        self.gru = torch.nn.GRU(6, 4, batch_first=True)
        self.attn = torch.nn.MultiheadAttention(6, 2, batch_first=True)
        self.norm = torch.nn.LayerNorm(6)
        self.bn = torch.nn.BatchNorm2d(4)


def test_layouts_and_gates_follow_pytorch_conventions(tmp_path):
    torch.manual_seed(0)
    model = Zoo()
    with tb_nnviz.torch.watch(model, tmp_path, strict=True):
        pass
    heat = {tag[: -len("/nnviz_heatmap")]: c for tag, c in contents(tmp_path, HEAT).items()
            if tag.endswith("/nnviz_heatmap")}
    traj = {tag[: -len("/nnviz_trajectory")]: c for tag, c in contents(tmp_path, TRAJ).items()}
    # Network order is named_parameters()' order, whatever order the stacks are written in.
    assert sorted(heat, key=lambda n: heat[n]["index"]) == [n.replace(".", "/") for n, _ in model.named_parameters()]
    assert heat["conv/weight"]["grid"] == [2 * 3, 4 * 3] and heat["conv/weight"]["layout"]["kind"] == "conv_first"
    assert traj["conv/weight"]["unit_axis"] == 0 and traj["deconv/weight"]["unit_axis"] == 1
    assert heat["conv1d/weight"]["grid"] == [2, 5 * 3]
    assert heat["embed/weight"]["grid"] == [20, 6] and traj["embed/weight"]["unit_axis"] == 1
    assert heat["lstm/weight_ih_l0"]["gates"] == ["i", "f", "g", "o"] and heat["lstm/weight_ih_l0"]["grid"] == [6, 20]
    assert heat["lstm/bias_hh_l0"]["gates"] == ["i", "f", "g", "o"]
    assert heat["gru/weight_hh_l0"]["gates"] == ["r", "z", "n"] and heat["gru/weight_hh_l0"]["grid"] == [4, 12]
    assert heat["attn/in_proj_weight"]["gates"] == ["q", "k", "v"] and heat["attn/in_proj_weight"]["grid"] == [6, 18]
    assert heat["attn/out_proj/weight"]["layout"]["kind"] == "transposed"
    assert heat["norm/weight"]["grid"] == [1, 6]
    desc = python_provider(tmp_path).list_tensors(CTX, experiment_id="", plugin_name=HEAT)["."]
    described = {tag[: -len("/nnviz_heatmap")]: m.description for tag, m in desc.items()}
    assert {n: described[n] for n in ("lstm/weight_ih_l0", "conv/weight", "deconv/bias", "attn/in_proj_weight",
                                      "attn/out_proj/weight", "embed/weight", "norm/bias")} == {
        "lstm/weight_ih_l0": "LSTM(6 -> 5) weight_ih_l0",
        "conv/weight": "Conv2d(2 -> 4, 3x3) weight",
        "deconv/bias": "ConvTranspose2d(4 -> 3, 2x2) bias",
        "attn/in_proj_weight": "MultiheadAttention(6, 2 heads) in_proj_weight",
        "attn/out_proj/weight": "Linear(6 -> 6) weight",
        "embed/weight": "Embedding(20, 6) weight",
        "norm/bias": "LayerNorm bias",
    }
    # The heatmap is the tensor laid out as documented: conv tile (i, o) is weight[o, i].
    planes = read_all(python_provider(tmp_path), HEAT)["."]["conv/weight/nnviz_heatmap"][0].numpy
    w = model.conv.weight.detach().numpy()
    np.testing.assert_array_equal(planes[0, 3:6, 6:9], w[2, 1])


def test_compiled_model_logs_under_its_own_names(tmp_path):
    model = mlp()
    compiled = torch.compile(model, backend="eager")
    opt = torch.optim.Adam(compiled.parameters(), 1e-2)
    with tb_nnviz.torch.watch(compiled, tmp_path, opt, trajectory_freq=2, strict=True) as w:
        train(compiled, opt, 4)
    assert w.tensor_names == ["0/weight", "0/bias", "2/weight", "2/bias"]
    traj = read_all(python_provider(tmp_path), TRAJ)["."]["2/weight/nnviz_trajectory"]
    assert [d.step for d in traj] == [0, 2, 4] and traj[-1].numpy[F["update_ratio"]] > 0


def test_amp_grad_scaler_skipped_steps_are_not_counted_and_gradients_are_unscaled(tmp_path):
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
    gen = torch.Generator().manual_seed(2)
    seen = []
    with tb_nnviz.torch.watch(model, tmp_path, opt, trajectory_freq=1, strict=True) as w:
        for i in range(4):
            x = torch.randn(16, 8, generator=gen)
            if i == 1:
                x[0, 0] = float("inf")  # an overflowing batch: the scaler skips this step
            opt.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = model(x).float().square().mean()
            scaler.scale(loss).backward()
            scaler.unscale_(opt)
            seen.append(model[2].weight.grad.double().norm().item())
            scaler.step(opt)
            scaler.update()
        assert w.step == 3  # four batches, one skipped
    points = read_all(python_provider(tmp_path), TRAJ)["."]["2/weight/nnviz_trajectory"]
    assert [d.step for d in points] == [0, 1, 2, 3]
    kept = [g for i, g in enumerate(seen) if i != 1]
    np.testing.assert_allclose([d.numpy[F["grad_norm"]] for d in points[1:]], kept, rtol=1e-6)


def test_lazy_modules_are_set_up_after_their_first_forward_pass(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.LazyLinear(4), torch.nn.ReLU(), torch.nn.Linear(4, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with tb_nnviz.torch.watch(model, tmp_path, opt, trajectory_freq=1, strict=True) as w:
        assert w.logger is None  # nothing to log before shapes exist
        train(model, opt, 2)
    assert w.tensor_names[0] == "0/weight" and w.logged_steps == [1, 2]


def test_a_logging_failure_warns_once_and_training_goes_on(tmp_path):
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    watcher = tb_nnviz.torch.watch(model, tmp_path, opt, trajectory_freq=1)
    watcher.logger.log = lambda *a, **k: (_ for _ in ()).throw(OSError("disk full"))
    with pytest.warns(RuntimeWarning, match="disabled after an error.*OSError: disk full") as record:
        train(model, opt, 3)
    assert len(record) == 1 and not watcher.active
    watcher.close()
    strict = tb_nnviz.torch.watch(mlp(), tmp_path / "strict", strict=True)
    strict.logger.log = lambda *a, **k: (_ for _ in ()).throw(OSError("disk full"))
    with pytest.raises(OSError, match="disk full"):
        strict.log(step=1)


@pytest.mark.parametrize("kwargs, message", [
    (dict(heatmap_freq="epoch"), "heatmap_freq .*no epochs"),
    (dict(trajectory_freq=-1), "trajectory_freq must be an int >= 0 .*got -1"),
    (dict(include="("), "include must be a regex"),
    (dict(max_cells=0), "max_cells must be >= 1, got 0"),
    (dict(sketch_dim=0), "sketch_dim must be >= 1, got 0"),
])
def test_bad_options_are_refused_by_name(tmp_path, kwargs, message):
    with pytest.raises((ValueError, grids.TensorError), match=message):
        tb_nnviz.torch.watch(mlp(), tmp_path, **kwargs)


def test_parameters_without_a_picture_are_skipped_and_a_direct_logger_names_them(tmp_path):
    model = mlp()
    model.register_parameter("count", torch.nn.Parameter(torch.ones(3, dtype=torch.int64), requires_grad=False))
    model.register_parameter("scale", torch.nn.Parameter(torch.tensor(2.0)))
    with tb_nnviz.torch.watch(model, tmp_path, strict=True) as w:
        assert "count" not in w.tensor_names and "scale" not in w.tensor_names
    from tb_nnviz.log.plan import Weight
    from tb_nnviz.log.torch_logger import ParamLogger

    with tb_nnviz.Writer(tmp_path / "direct") as writer, pytest.raises(grids.TensorError, match="'count'.*int64"):
        ParamLogger(writer, [Weight("count", model.count)])


def test_bad_model_or_optimizer_is_refused(tmp_path):
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got dict"):
        tb_nnviz.torch.watch({}, tmp_path)
    with pytest.raises(TypeError, match="optimizer must be a torch.optim.Optimizer or None, got list"):
        tb_nnviz.torch.watch(mlp(), tmp_path, [])


def _ddp_worker(rank, world, root, port):
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        model = DistributedDataParallel(mlp())
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        with tb_nnviz.torch.watch(model, os.path.join(root, "run"), opt, trajectory_freq=2, strict=True) as w:
            torch.manual_seed(rank)
            for _ in range(4):
                opt.zero_grad()
                model(torch.randn(8, 8)).square().mean().backward()
                opt.step()
        with open(os.path.join(root, "rank%d" % rank), "w") as f:
            f.write("%s %d %s" % (w.active, w.step, ",".join(w.tensor_names)))
    finally:
        dist.destroy_process_group()


def test_ddp_rank_zero_writes_and_other_ranks_do_nothing(tmp_path):
    import torch.multiprocessing as mp

    from tests.tbserver import free_port

    mp.spawn(_ddp_worker, args=(2, str(tmp_path), free_port()), nprocs=2, join=True)
    assert (tmp_path / "rank0").read_text() == "True 4 0/weight,0/bias,2/weight,2/bias"
    assert (tmp_path / "rank1").read_text() == "False 0 "
    files = os.listdir(tmp_path / "run")
    assert len(files) == 1  # one event file: rank 0's
    points = read_all(python_provider(tmp_path / "run"), TRAJ)["."]["0/weight/nnviz_trajectory"]
    assert [d.step for d in points] == [0, 2, 4]
    # Rank 0's activation records and run information, named without DDP's ``module.``.
    acts = read_all(python_provider(tmp_path / "run"), metadata.ACTIVATION_PLUGIN_NAME)["."]
    # At the trajectory steps and the default heatmap steps (1, 3).
    assert {tag: [d.step for d in data] for tag, data in acts.items()} == {
        "input/nnviz_activation": [1, 2, 3, 4], "1/nnviz_activation": [1, 2, 3, 4]}
    run = read_all(python_provider(tmp_path / "run"), metadata.RUN_PLUGIN_NAME)["."]["run/nnviz_run"]
    assert [d.step for d in run] == [0, 1]


def test_spectra_reach_the_spectral_route_with_the_reference_alpha(tmp_path):
    """Spectra every 5 steps (and with close()); the route's alpha is the numpy reference's, from the final weights."""
    import json

    from tb_nnviz.diagnose import spectral
    from tb_nnviz.log.torch_logger import param_specs
    from tb_nnviz.reduce import spectrum
    from tests.helpers import PREFIX, make_client

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(8 * 6 * 6, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    gen = torch.Generator().manual_seed(1)
    with tb_nnviz.torch.watch(model, tmp_path / "run", opt, heatmap_freq=0, trajectory_freq=0, spectral_freq=5,
                              strict=True) as w:
        for _ in range(12):
            opt.zero_grad()
            x, y = torch.randn(16, 1, 8, 8, generator=gen), torch.randint(0, 10, (16,), generator=gen)
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    assert w.logged_steps == [0, 5, 10, 12]
    client = make_client(str(tmp_path))
    latest = json.loads(client.get(PREFIX + "/spectral", query_string={"run": "run"}).get_data(as_text=True))
    assert sorted(latest["tensors"]) == ["0/weight", "3/weight", "5/weight"]  # matrices and conv weights only
    for spec in param_specs(model):
        if spec.variable.dim() < 2:
            continue
        body = json.loads(client.get(PREFIX + "/spectral", query_string={"run": "run", "tag": spec.name})
                          .get_data(as_text=True))
        assert body["step"] == [0, 5, 10, 12], spec.name
        content = spectrum.spectrum_content(spec.name, tuple(spec.variable.shape), "float32", spec.layout)
        assert body["treatment"] == content["treatment"] and body["matrix"] == content["matrix"]
        want = spectral.metrics(spectrum.eigenvalues(spec.variable.detach().numpy(), content), content)
        assert want["alpha"] is not None, spec.name
        for key in ("alpha", "stable_rank", "spectral_norm"):
            assert body[key][-1] == pytest.approx(want[key], rel=1e-5), (spec.name, key)
    assert not read_all(python_provider(tmp_path / "run"), HEAT)  # heatmap_freq=0: spectra only


@pytest.mark.parametrize("budget, expected", [
    (1e9, [5, 10, 12]),  # any cost fits: every heatmap step, and close()
    (0.0, [5]),  # nothing fits: only the first, whose cost was unknown
])
def test_auto_spectra_come_with_the_heatmaps_within_the_time_budget(tmp_path, monkeypatch, budget, expected):
    from tb_nnviz.log import plan

    monkeypatch.setattr(plan, "SPECTRAL_BUDGET", budget)
    torch.manual_seed(0)
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    with tb_nnviz.torch.watch(model, tmp_path / "run", opt, heatmap_freq=5, trajectory_freq=0,
                              strict=True) as w:  # spectral_freq="auto", the default
        train(model, opt, 12)
    spectra = read_all(python_provider(tmp_path / "run"), metadata.SPECTRUM_PLUGIN_NAME)["."]
    assert spectra and all([d.step for d in data] == expected for data in spectra.values())
    heat = read_all(python_provider(tmp_path / "run"), HEAT)["."]
    assert [d.step for d in heat[metadata.summary_tag("0/weight", HEAT)]] == [0, 5, 10, 12]
    assert w.logged_steps == [0, 5, 10, 12]


def test_default_heatmaps_are_a_handful_and_the_last_finite_ones_precede_a_divergence(tmp_path):
    """The default cadence (steps 1, 3, 10, 30, ...) and, when a NaN gradient at step 23
    turns the weights NaN, the heatmaps of step 20 (the last trajectory point, finite) and
    of step 25 (the first that sees the NaN), each equal to the numpy reference."""
    from tests import reference

    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    at = {0: {n: p.detach().numpy().copy() for n, p in model.named_parameters()}}

    def poison(step):
        if step == 23:
            model[0].weight.grad[0, 0] = float("nan")

    def snap(opt, args, kwargs):
        at[len(at)] = {n: p.detach().numpy().copy() for n, p in model.named_parameters()}

    with tb_nnviz.torch.watch(model, tmp_path, opt, trajectory_freq=5, strict=True) as w:
        opt.register_step_post_hook(snap)
        train(model, opt, 40, poison)
    heat = read_all(python_provider(tmp_path), HEAT)["."]
    listing = contents(tmp_path, HEAT)
    for name in ("0.weight", "0.bias", "2.weight", "2.bias"):
        tag = metadata.summary_tag(name.replace(".", "/"), HEAT)
        assert [d.step for d in heat[tag]] == [0, 1, 3, 10, 20, 25, 30, 40], name
        for d in heat[tag]:
            x = at[d.step][name]
            reference.assert_planes_equal(d.numpy, grids.heatmap_planes(x, listing[tag]), x, listing[tag])
        finite = {d.step: bool(np.isfinite(d.numpy).all()) for d in heat[tag]}
        assert finite[20] and not finite[25] and not finite[40]
    assert w.logged_steps == [0, 1, 3, 5, 10, 15, 20, 25, 30, 35, 40]


def test_full_resolution_layers_escape_the_budget_and_the_others_are_pooled(tmp_path):
    from tests import reference

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 64, 7), torch.nn.ReLU(), torch.nn.Conv2d(64, 64, 3),
                                torch.nn.Flatten(), torch.nn.LazyLinear(10))
    model(torch.randn(2, 3, 12, 12))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with tb_nnviz.torch.watch(model, tmp_path, opt, heatmap_freq=1000, trajectory_freq=0, spectral_freq=0,
                              max_total_cells=2000, full_resolution=r"^2/weight", strict=True) as w:
        assert w.logged_steps == [0]
    listing = contents(tmp_path, HEAT)
    heat = read_all(python_provider(tmp_path), HEAT)["."]
    conv = metadata.summary_tag("2/weight", HEAT)
    assert listing[conv]["pool"] == [1, 1] and listing[conv]["grid"] == [192, 192]  # 36,864 cells, over the budget
    assert listing[metadata.summary_tag("4/weight", HEAT)]["pool"][1] == 1  # the 10 classes kept
    stem = listing[metadata.summary_tag("0/weight", HEAT)]
    assert stem["layout"]["kind"] == "conv_first"
    for name, p in model.named_parameters():
        tag = metadata.summary_tag(name.replace(".", "/"), HEAT)
        x = p.detach().numpy()
        reference.assert_planes_equal(heat[tag][0].numpy, grids.heatmap_planes(x, listing[tag]), x, listing[tag])


@pytest.mark.parametrize("one_pass", [True, False])
def test_param_logger_writes_the_last_finite_heatmaps_before_a_divergence(tmp_path, one_pass):
    """numba's kernels and the torch ops keep the previous values the snapshot is drawn from."""
    from tb_nnviz.log.torch_logger import ParamLogger
    from tests.test_heatmap_cadence import check_diverging_log, diverging_log

    heat, values = diverging_log(lambda w, weights: ParamLogger(w, weights, one_pass=one_pass),
                                 lambda x: torch.tensor(x), lambda t, x: t.copy_(torch.tensor(x)), tmp_path)
    check_diverging_log(heat, values)
