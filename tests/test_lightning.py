"""``tb_nnviz.lightning.NNVizCallback`` on real Lightning fits, read back through TensorBoard.

One process: the run is the ``TensorBoardLogger``'s ``log_dir`` (beside
``self.log``'s scalars), one point per optimizer step with
``accumulate_grad_batches=2``, gradients read before the step (inside
Lightning's closure), and the last point equal to the numpy reference. DDP on
2 CPU processes (``ddp``, ``ddp_spawn``; gloo): only the global zero writes,
the run loads, and the fit ends in bounded time. The DDP fits run this file
as a script (``python tests/test_lightning.py DIR STRATEGY``), as a user's
``strategy="ddp"`` relaunches its script.
"""

import os
import signal
import subprocess
import sys

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from lightning.pytorch.loggers import TensorBoardLogger

from tb_nnviz.format import metadata
from tb_nnviz.lightning import NNVizCallback
from tb_nnviz.reduce import trajectory

HEAT, TRAJ = metadata.HEATMAP_PLUGIN_NAME, metadata.TRAJECTORY_PLUGIN_NAME
F = {f: i for i, f in enumerate(trajectory.STAT_FIELDS)}
NAME = "net/2/weight"  # Linear(16 -> 3)
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


class Net(pl.LightningModule):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.cross_entropy(self.net(x), y)
        self.log("loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.9)


def loader(n=64, batch=8):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(n, 8, generator=gen)
    data = torch.utils.data.TensorDataset(x, (x[:, 0] > 0).long() + (x[:, 1] > 1).long())
    return torch.utils.data.DataLoader(data, batch_size=batch)


def trainer(root, callbacks, **kwargs):
    kwargs = dict(dict(accelerator="cpu", devices=1, max_epochs=2, logger=TensorBoardLogger(str(root)),
                       callbacks=callbacks, enable_progress_bar=False, enable_model_summary=False,
                       enable_checkpointing=False, log_every_n_steps=1), **kwargs)
    return pl.Trainer(**kwargs)


class Recorder(pl.Callback):
    """Records one parameter around each optimizer step: its value and gradient before, its value after."""

    def __init__(self):
        self.before, self.grads, self.after = {}, {}, {}

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        p = pl_module.net[2].weight
        self.before[trainer.global_step + 1] = p.detach().double().numpy().copy()
        self.grads[trainer.global_step + 1] = p.grad.detach().double().numpy().copy()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.after[trainer.global_step] = pl_module.net[2].weight.detach().double().numpy().copy()


def test_fit_logs_into_the_loggers_run_one_point_per_optimizer_step(tmp_path):
    from tests.providers import CTX, python_provider, read_all

    model, recorder = Net(), Recorder()
    nnviz = NNVizCallback(trajectory_freq=1, heatmap_freq=4, spectral_freq=0, strict=True)
    fit = trainer(tmp_path, [recorder, nnviz], accumulate_grad_batches=2)
    fit.fit(model, loader())
    steps = fit.global_step
    assert steps == 8  # 8 batches / 2 accumulated x 2 epochs

    assert nnviz.log_dir == fit.logger.log_dir == str(tmp_path / "lightning_logs" / "version_0")
    events = [f for f in os.listdir(nnviz.log_dir) if f.startswith("events.out.tfevents.")]
    assert sorted(f.endswith(".nnviz") for f in events) == [False, True]  # the logger's and ours
    assert nnviz.watcher is None and nnviz.last_watcher.logged_steps == list(range(steps + 1))

    provider = python_provider(tmp_path)
    run = "lightning_logs/version_0"
    assert "loss" in provider.list_scalars(CTX, experiment_id="", plugin_name="scalars")[run]
    traj = read_all(provider, TRAJ)[run]
    points = traj[metadata.summary_tag(NAME, TRAJ)]
    assert sorted(traj) == [metadata.summary_tag(n, TRAJ) for n in sorted(
        ["net/0/weight", "net/0/bias", "net/2/weight", "net/2/bias"])]
    assert [d.step for d in points] == list(range(steps + 1))  # not one per micro-batch
    assert [d.step for d in read_all(provider, HEAT)[run][metadata.summary_tag(NAME, HEAT)]] == [0, 4, 8]

    series = np.array([d.numpy for d in points])
    assert np.isnan(series[0, F["grad_norm"]])
    want = [np.linalg.norm(recorder.grads[s]) for s in range(1, steps + 1)]
    np.testing.assert_allclose(series[1:, F["grad_norm"]], want, rtol=1e-6)

    final = model.net[2].weight.detach().double().numpy()
    np.testing.assert_array_equal(recorder.after[steps], final)
    plan = trajectory.TrajectoryPlan(NAME, final.shape, unit_axis=0)
    ref = trajectory.trajectory_point(final, recorder.before[steps], plan, gradient=recorder.grads[steps])
    np.testing.assert_allclose(points[-1].numpy, ref, rtol=1e-6, atol=1e-12)


def test_explicit_log_dir_and_the_last_state_at_train_end(tmp_path):
    from tests.providers import python_provider, read_all

    nnviz = NNVizCallback(tmp_path / "mine", trajectory_freq=3, heatmap_freq=0, spectral_freq=0, strict=True)
    trainer(tmp_path / "logs", [nnviz], max_steps=5).fit(Net(), loader())
    points = read_all(python_provider(tmp_path / "mine"), TRAJ)["."][metadata.summary_tag(NAME, TRAJ)]
    assert [d.step for d in points] == [0, 3, 5]
    # Lightning zeroes gradients at the next step's start, so the last step's are still there at train end.
    assert np.isfinite([d.numpy[F["grad_norm"]] for d in points[1:]]).all()


class Marker(pl.Callback):
    """Writes ``rank<N>``: whether this process logged, its step count and the NNViz run directory."""

    def __init__(self, nnviz, root):
        self.nnviz, self.root = nnviz, root

    def on_train_end(self, trainer, pl_module):
        w = self.nnviz.last_watcher
        with open(os.path.join(self.root, "rank%d" % trainer.global_rank), "w") as f:
            f.write("%s %d %s" % (w is not None and w.active, trainer.global_step,
                                  os.path.relpath(self.nnviz.log_dir, self.root)))


def ddp_fit(root, strategy):
    """One epoch on 2 CPU processes: 64 samples, 32 per process in batches of 8, 4 steps."""
    nnviz = NNVizCallback(trajectory_freq=2, heatmap_freq=4, spectral_freq=0, strict=True)
    fit = trainer(root, [nnviz, Marker(nnviz, root)], devices=2, strategy=strategy, max_epochs=1)
    fit.fit(Net(), loader())


def run_ddp(root, strategy, timeout=240):
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), str(root), strategy], cwd=REPO,
                            env=dict(os.environ, PYTHONPATH=REPO), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the script and the ranks it launched
        out, _ = proc.communicate()
        raise AssertionError("the DDP fit did not end in %ds:\n%s" % (timeout, out[-3000:]))
    assert proc.returncode == 0, out[-3000:]


@pytest.mark.parametrize("strategy", ["ddp", "ddp_spawn"])
def test_ddp_on_two_cpu_processes_only_global_zero_writes(tmp_path, strategy):
    from tests.providers import python_provider, read_all

    run_ddp(tmp_path, strategy)
    run = os.path.join("lightning_logs", "version_0")
    assert (tmp_path / "rank0").read_text() == "True 4 " + run
    assert (tmp_path / "rank1").read_text().startswith("False 4 ")
    nnviz_files = [os.path.join(d, f) for d, _, fs in os.walk(tmp_path) for f in fs if f.endswith(".nnviz")]
    assert [os.path.dirname(f) for f in nnviz_files] == [str(tmp_path / run)]  # one file: the global zero's
    points = read_all(python_provider(tmp_path), TRAJ)[run][metadata.summary_tag(NAME, TRAJ)]
    assert [d.step for d in points] == [0, 2, 4]
    assert np.isfinite([d.numpy[F["grad_norm"]] for d in points[1:]]).all()


if __name__ == "__main__":  # the DDP fit: python tests/test_lightning.py DIR STRATEGY
    ddp_fit(sys.argv[1], sys.argv[2])
