"""``watch`` under sharded training: 2 gloo processes on the CPU, FSDP2's ``fully_shard`` and DTensor placements.

One ``torchrun`` launch (``python -m torch.distributed.run --standalone --nproc-per-node 2 tests/test_fsdp.py DIR``)
runs three cases on both ranks and saves, on rank 0, the whole weights and gradients at each logged step
(gathered by the test, not by the tool). The tests then replay those weights through the unsharded
``ParamLogger`` and hold every stored field of the sharded run equal to it: trajectory points (statistics,
norms, update norms, quantile samples, traces, sketch, gradient norms), heatmaps and spectra.

- ``fsdp``: a 3-layer MLP under ``fully_shard`` (``Shard(0)``; 70 rows and 5 rows split unevenly, the last
  layer's single row leaves rank 1 an empty shard), SGD with momentum, 4 steps.
- ``placements``: DTensors built by hand: ``Shard(1)`` on a 1-D mesh, two 2-D meshes (1 x 2 and 2 x 1),
  ``Replicate()``, a plain tensor, NaN/Inf entries, and a ``Partial()`` tensor (warned about, not logged);
  ``max_cells=64`` pools the heatmaps of two of them split unevenly (21 columns, 15 rows on 2 ranks).

No case lets the tool gather a whole weight for heatmaps or trajectories: ``DTensor.full_tensor`` raises in
the worker (the test's own copies use the original), and the whole matrices gathered for spectra are
counted by step.
- ``failure``: a reduction that raises on rank 1, then a write that fails on rank 0: every rank stops
  logging at the same step and training runs on (a hang would trip the gloo timeout and this test's).
"""

import datetime
import json
import os
import signal
import subprocess
import sys
import warnings

import numpy as np
import pytest

STEPS = 5
CASES = ("fsdp", "placements", "failure")


def mlp():
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(64, 70), torch.nn.ReLU(), torch.nn.Linear(70, 5), torch.nn.ReLU(),
                               torch.nn.Linear(5, 1))


class Holder:
    """The ``placements`` case's module: parameters of the given (full) values, under names a..f."""

    @staticmethod
    def make(values):
        import torch

        module = torch.nn.Module()
        for name, value in values.items():
            module.register_parameter(name, torch.nn.Parameter(torch.as_tensor(value).clone()))
        return module


def placement_values(step):
    """Whole values of the ``placements`` case's tensors at ``step``; NaN and +/-Inf at step 1."""
    rng = np.random.default_rng(step)
    shapes = {"a": (6, 5), "b": (5, 4), "c": (7, 3), "d": (4,), "e": (3, 3), "g": (33, 21), "h": (15, 41)}
    values = {k: rng.normal(size=s).astype(np.float32) for k, s in shapes.items()}
    if step:
        values["a"][4, 1], values["c"][6, 2], values["c"][0, 0] = np.nan, np.inf, -np.inf
        values["g"][3, 4], values["h"][14, 40], values["h"][0, 0] = np.nan, -np.inf, np.inf
    return values


# -- the worker (every rank) ---------------------------------------------------


def save(root, step, weights, grads, kinds):
    """Rank 0: the whole values at one logged step, for the test's replay."""
    np.savez(os.path.join(root, "step%d.npz" % step), **{"w:" + k: v for k, v in weights.items()},
             **{"g:" + k: v for k, v in (grads or {}).items()})
    with open(os.path.join(root, "step%d.json" % step), "w") as f:
        json.dump(kinds, f)


#: ``DTensor.full_tensor`` as torch defines it: the worker replaces it by one that raises (see ``forbid_gathers``).
FULL_TENSOR = None


def forbid_gathers():
    """Makes ``DTensor.full_tensor`` raise in this process: the tool must never gather a whole weight with it."""
    global FULL_TENSOR
    from torch.distributed.tensor import DTensor

    FULL_TENSOR = DTensor.full_tensor

    def forbidden(self, *args, **kwargs):
        raise AssertionError("a whole weight was gathered with full_tensor()")

    DTensor.full_tensor = forbidden


def count_spectral_gathers(log):
    """Records the step of every whole matrix ``ShardedParamLogger`` gathers (for spectra) into ``log``."""
    from tb_nnviz.log.torch_shards import ShardedParamLogger

    gather, current = ShardedParamLogger._gather, ShardedParamLogger.log

    def logged(self, step, *args, **kwargs):
        self.current_step = step
        return current(self, step, *args, **kwargs)

    def counted(self, i):
        log.append(self.current_step)
        return gather(self, i)

    ShardedParamLogger.log, ShardedParamLogger._gather = logged, counted


def whole(params, attr=None):
    """``{name: numpy}`` of the whole tensors (or their ``.grad``), gathered on every rank."""
    from tb_nnviz.log.torch_logger import param_specs

    out = {}
    for s in param_specs(params):
        t = s.variable if attr is None else s.variable.grad
        out[s.name] = (FULL_TENSOR(t) if hasattr(t, "full_tensor") else t).detach().numpy().copy()
    return out


def fsdp_case(root, rank):
    import torch
    from torch.distributed.fsdp import fully_shard

    import tb_nnviz.torch

    model = mlp()
    for layer in model:
        if isinstance(layer, torch.nn.Linear):
            fully_shard(layer)
    fully_shard(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    gen = torch.Generator().manual_seed(rank)
    gathered = []
    count_spectral_gathers(gathered)
    # Trajectories at 0, 2, 4; heatmaps and spectra at 0, 3; all three by close() at 5 (not a logged step).
    with tb_nnviz.torch.watch(model, root, opt, trajectory_freq=2, heatmap_freq=3, spectral_freq=3,
                              max_cells=512, num_traces=6, strict=True) as watcher:
        initial = whole(model)
        if rank == 0:
            save(root, 0, initial, None, [True, True, True])
        for step in range(1, STEPS + 1):
            opt.zero_grad()
            loss = model(torch.randn(16, 64, generator=gen)).square().mean()
            loss.backward()
            grads = whole(model, "grad")
            opt.step()
            weights = whole(model)
            kinds = [step % 3 == 0 or step == STEPS, step % 2 == 0 or step == STEPS, step % 3 == 0 or step == STEPS]
            if rank == 0 and any(kinds):
                save(root, step, weights, grads if kinds[1] else None, kinds)
        assert watcher.logged_steps == [0, 2, 3, 4] and watcher.active
        assert watcher.logger.extra_bytes <= sum(p.to_local().numel() for p in model.parameters()) * 5
    assert watcher.logged_steps == [0, 2, 3, 4, 5] and watcher.active
    # Whole matrices gathered at the spectral steps only (0, 3 and 5), each of the 3 matrices once.
    assert gathered == [0] * 3 + [3] * 3 + [5] * 3, gathered


def placements_case(root, rank):
    import torch
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import DTensor, Partial, Replicate, Shard, distribute_tensor

    import tb_nnviz.torch

    line = init_device_mesh("cpu", (2,))
    wide = init_device_mesh("cpu", (1, 2), mesh_dim_names=("dp", "tp"))
    tall = init_device_mesh("cpu", (2, 1), mesh_dim_names=("dp", "tp"))
    where = {"a": (line, [Shard(1)]), "b": (wide, [Shard(0), Shard(1)]), "c": (tall, [Shard(1), Shard(0)]),
             "d": (line, [Replicate()]), "g": (line, [Shard(1)]), "h": (tall, [Shard(0), Shard(1)])}

    def placed(values):
        return {k: distribute_tensor(torch.as_tensor(v), *where[k]) if k in where else torch.as_tensor(v)
                for k, v in values.items()}

    module = Holder.make(placed(placement_values(0)))
    module.register_parameter("f", torch.nn.Parameter(DTensor.from_local(torch.ones(3, 2), line, [Partial()])))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        watcher = tb_nnviz.torch.watch(module, root, None, trajectory_freq=1, heatmap_freq=1, spectral_freq=1,
                                       num_traces=5, sketch_dim=8, max_cells=64, strict=True)
    told = [str(w.message) for w in caught if "placement" in str(w.message)]
    with open(os.path.join(root, "warnings%d.json" % rank), "w") as f:
        json.dump(told, f)
    values = placement_values(1)
    grads = {k: (0.5 * (1 + np.arange(v.size).reshape(v.shape))).astype(np.float32) for k, v in values.items()}
    with torch.no_grad():
        for k, new in placed(values).items():
            p = getattr(module, k)
            (p.to_local() if isinstance(p, DTensor) else p).copy_(new.to_local() if isinstance(new, DTensor) else new)
            p.grad = placed({k: grads[k]})[k]
    watcher.step = 1
    watcher.log()
    watcher.close()
    assert watcher.active
    if rank == 0:
        save(root, 0, placement_values(0), None, [True, True, True])
        save(root, 1, values, grads, [True, True, True])


def failure_case(root, rank):
    """Rank 1's reduction raises at step 2; in a second run rank 0's write fails at step 1."""
    import torch
    from torch.distributed.fsdp import fully_shard

    import tb_nnviz.torch

    model = mlp()
    fully_shard(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    report = {}
    for run, (bad_rank, bad_step) in {"reduce": (1, 2), "write": (0, 1)}.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            watcher = tb_nnviz.torch.watch(model, os.path.join(root, run), opt, trajectory_freq=1, heatmap_freq=0,
                                           spectral_freq=0, activations=False)
            for step in range(1, STEPS + 1):
                if step == bad_step and rank == bad_rank:
                    if run == "reduce":
                        watcher.logger._partials = lambda *args: 1 / 0
                    else:
                        watcher.logger._plan.write = lambda *args, **kwargs: 1 / 0
                opt.zero_grad()
                model(torch.randn(8, 64)).square().mean().backward()
                opt.step()
            watcher.close()
        report[run] = {"active": watcher.active, "logged": watcher.logged_steps, "trained": step,
                       "warnings": [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]}
    # spectral_freq="auto": rank 0's time budget decides for every rank (rank 1's says the opposite).
    for run, yes in {"vote-yes": True, "vote-no": False}.items():
        watcher = tb_nnviz.torch.watch(model, os.path.join(root, run), opt, trajectory_freq=0, heatmap_freq=2,
                                       spectral_freq="auto", activations=False, strict=True)
        watcher._budget.due = lambda vote=(yes if rank == 0 else not yes): vote
        for step in range(1, STEPS + 1):
            opt.zero_grad()
            model(torch.randn(8, 64)).square().mean().backward()
            opt.step()
        watcher.close()
        report[run] = {"active": watcher.active, "logged": watcher.logged_steps}
    # A matrix over the memory bound of a gathered spectrum (0/weight, 70 x 64: 17,920 bytes) is skipped.
    from tb_nnviz.log import torch_shards

    bound, torch_shards.MAX_GATHER_BYTES = torch_shards.MAX_GATHER_BYTES, 2000
    try:
        watcher = tb_nnviz.torch.watch(model, os.path.join(root, "bound"), opt, trajectory_freq=0, heatmap_freq=0,
                                       spectral_freq=2, activations=False, strict=True)
        for step in range(1, STEPS + 1):
            opt.zero_grad()
            model(torch.randn(8, 64)).square().mean().backward()
            opt.step()
        watcher.close()
    finally:
        torch_shards.MAX_GATHER_BYTES = bound
    report["bound"] = {"active": watcher.active, "logged": watcher.logged_steps,
                       "skipped": {c["name"]: c["skipped"] for c in watcher.logger._plan.spec if c}}
    with open(os.path.join(root, "report%d.json" % rank), "w") as f:
        json.dump(report, f)


def worker(root):
    import torch  # noqa: F401  (before anything that may import TensorFlow)
    import torch.distributed as dist

    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=60))
    forbid_gathers()
    rank = dist.get_rank()
    for case in CASES:
        os.makedirs(os.path.join(root, case), exist_ok=True)
        globals()[case + "_case"](os.path.join(root, case), rank)
        dist.barrier()
    dist.destroy_process_group()


# -- the tests -------------------------------------------------------------------


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The directory of the three cases, written by one 2-process launch."""
    root = tmp_path_factory.mktemp("fsdp")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         os.path.abspath(__file__), str(root)], cwd=repo,
        env=dict(os.environ, PYTHONPATH=repo, OMP_NUM_THREADS="1"), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=150)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        raise AssertionError("the 2-process run did not end in 150 s (a hang?):\n%s" % out[-4000:])
    assert proc.returncode == 0, out[-6000:]
    return root


def replay(root, out, model):
    """The unsharded ``ParamLogger`` over the saved whole values of each logged step, into ``out``."""
    import torch

    from tb_nnviz import Writer
    from tb_nnviz.log.torch_logger import ParamLogger, param_specs

    steps = sorted(int(f[4:-4]) for f in os.listdir(root) if f.endswith(".npz"))
    options = json.load(open(os.path.join(root, "options.json"))) if os.path.exists(
        os.path.join(root, "options.json")) else {}
    specs = param_specs(model)
    with Writer(out, **options) as writer:
        logger = ParamLogger(writer, specs, spectra=True)
        for step in steps:
            saved = np.load(os.path.join(root, "step%d.npz" % step))
            kinds = json.load(open(os.path.join(root, "step%d.json" % step)))
            with torch.no_grad():
                for s in specs:
                    s.variable.copy_(torch.from_numpy(saved["w:" + s.name]))
                    g = "g:" + s.name
                    s.variable.grad = torch.from_numpy(saved[g]) if g in saved else None
            if step and kinds[1]:
                logger.capture_gradients()
            logger.log(step, *kinds)
    return [s.name for s in specs]


def assert_same_run(got_dir, want_dir, names):
    """Every stored heatmap, trajectory point and spectrum of ``names`` equal, step by step."""
    from tb_nnviz.format import metadata
    from tb_nnviz.serve.report import read_without_tensorflow
    from tests.providers import python_provider, read_all

    read_without_tensorflow(str(got_dir))  # TensorBoard's loader without importing TensorFlow (when not yet)
    got, want = python_provider(got_dir), python_provider(want_dir)
    plugins = (metadata.TRAJECTORY_PLUGIN_NAME, metadata.HEATMAP_PLUGIN_NAME, metadata.SPECTRUM_PLUGIN_NAME)
    compared = 0
    for plugin in plugins:
        a, b = read_all(got, plugin)["."], read_all(want, plugin)["."]
        tags = {t for t in b if any(t.startswith(n + "/") for n in names)}
        assert {t for t in a if any(t.startswith(n + "/") for n in names)} == tags, plugin
        for tag in sorted(tags):
            assert [d.step for d in a[tag]] == [d.step for d in b[tag]], tag
            for x, y in zip(a[tag], b[tag]):
                np.testing.assert_allclose(x.numpy, y.numpy, rtol=1e-6, atol=1e-9, err_msg="%s step %d" % (tag, x.step))
                compared += 1
    return compared


def test_fsdp2_run_equals_the_unsharded_run_field_by_field(runs, tmp_path):
    """Shard(0) with uneven and empty shards: every stored field equals the unsharded logger's on the same
    whole weights and gradients; rank 0 alone wrote one event file."""
    root = runs / "fsdp"
    files = [f for f in os.listdir(root) if ".nnviz" in f]
    assert len(files) == 1, files  # rank 0's
    json.dump({"max_cells": 512, "num_traces": 6}, open(root / "options.json", "w"))
    names = replay(root, tmp_path / "ref", mlp())
    compared = assert_same_run(root, tmp_path / "ref", names)
    assert compared >= len(names) * 4 + 3 * len(names), compared


def test_shard1_2d_meshes_replicate_and_plain_tensors_equal_the_unsharded_run(runs, tmp_path):
    """Shard(1), 2-D meshes, Replicate() and a plain tensor, NaN/Inf entries, pooled heatmaps of tensors split
    unevenly: equal to the unsharded logger; the Partial() tensor is warned about once (on the writing rank),
    by name and placement, and not logged."""
    root = runs / "placements"
    told = json.load(open(root / "warnings0.json"))
    assert len(told) == 1 and "'f'" in told[0] and "Partial" in told[0], told
    assert json.load(open(root / "warnings1.json")) == []
    json.dump({"num_traces": 5, "sketch_dim": 8, "max_cells": 64}, open(root / "options.json", "w"))
    names = replay(root, tmp_path / "ref", Holder.make(placement_values(0)))
    assert_same_run(root, tmp_path / "ref", names)
    from tb_nnviz.format import metadata
    from tests.providers import python_provider, read_all

    logged = read_all(python_provider(root), metadata.TRAJECTORY_PLUGIN_NAME)["."]
    assert not any(t.startswith("f/") for t in logged) and any(t.startswith("a/") for t in logged)
    heat = read_all(python_provider(root), metadata.HEATMAP_PLUGIN_NAME)["."]
    planes = {t.split("/")[0]: heat[t][-1].numpy.shape[0] for t in heat}
    assert planes["g"] == planes["h"] == 2 and planes["a"] == 1, planes  # pooled (mean, absmax) and exact


@pytest.mark.parametrize("run, stop", [("reduce", 2), ("write", 2)])
def test_an_error_on_one_rank_stops_every_rank_at_the_same_step_without_a_hang(runs, run, stop):
    """Rank 1's reduction raising (at step 2), or rank 0's write failing (at step 1, learnt by all at step 2):
    both ranks stop logging at the same step with a warning, and training ran every step."""
    reports = [json.load(open(runs / "failure" / ("report%d.json" % r)))[run] for r in (0, 1)]
    for r, rep in enumerate(reports):
        assert rep["trained"] == STEPS and not rep["active"], (r, rep)
        assert rep["logged"] == list(range(stop)), (r, rep)
        assert len(rep["warnings"]) == 1 and "ShardError" in rep["warnings"][0], (r, rep)
    bad = reports[1 if run == "reduce" else 0]["warnings"][0]
    assert ("ZeroDivisionError" in bad), bad


def test_auto_spectra_follow_rank_0s_budget_on_every_rank(runs):
    """spectral_freq="auto" under sharding: the ranks' budgets disagree, rank 0's vote decides, nothing hangs."""
    from tb_nnviz.format import metadata
    from tests.providers import python_provider, read_all

    for run, steps in {"vote-yes": [2, 4, 5], "vote-no": []}.items():  # heatmap steps, and close() at 5
        for r in (0, 1):
            rep = json.load(open(runs / "failure" / ("report%d.json" % r)))[run]
            assert rep["active"] and rep["logged"] == [0, 2, 4, 5], (r, rep)
        spectra = read_all(python_provider(runs / "failure" / run), metadata.SPECTRUM_PLUGIN_NAME)
        assert sorted({d.step for tags in spectra.values() for data in tags.values() for d in data}) == steps, run


def test_a_spectrum_over_the_gathering_memory_bound_is_skipped_with_the_reason(runs):
    """A sharded matrix whose whole copy would exceed torch_shards.MAX_GATHER_BYTES is not gathered: its
    spectrum is logged once, empty, with the reason; the smaller matrices' spectra are logged at each step."""
    from tb_nnviz.format import metadata
    from tests.providers import python_provider, read_all

    for r in (0, 1):
        rep = json.load(open(runs / "failure" / ("report%d.json" % r)))["bound"]
        assert rep["active"] and rep["logged"] == [0, 2, 4, 5], (r, rep)
        big = [n for n, why in rep["skipped"].items() if why]
        assert big == ["0/weight"] and "gathering the whole sharded matrix" in rep["skipped"]["0/weight"], rep
    spectra = read_all(python_provider(runs / "failure" / "bound"), metadata.SPECTRUM_PLUGIN_NAME)["."]
    for tag, data in spectra.items():
        if tag.startswith("0/weight"):
            assert [d.numpy.size for d in data] == [0], tag
        else:
            assert [d.step for d in data] == [0, 2, 4, 5] and all(d.numpy.size for d in data), tag


if __name__ == "__main__":  # one rank of the 2-process run: python tests/test_fsdp.py DIR (under torchrun)
    worker(sys.argv[1])
