"""``tb_nnviz.transformers.NNVizCallback`` on a real ``Trainer``, read back through TensorBoard.

A tiny BERT built from a config (random weights, nothing downloaded) learns a
rule on generated tokens, with ``gradient_accumulation_steps=2`` and
``report_to="tensorboard"``: one run directory holds transformers' scalars and
the NNViz tags, one trajectory point per optimizer step, gradients read before
Trainer zeroes them, and the last point equals the numpy reference.
"""

import os

import numpy as np
import pytest
import torch
import transformers
from transformers.integrations import TensorBoardCallback

from tb_nnviz.format import metadata
from tb_nnviz.reduce import trajectory
from tb_nnviz.transformers import NNVizCallback
from tests.providers import CTX, python_provider, read_all

HEAT, TRAJ = metadata.HEATMAP_PLUGIN_NAME, metadata.TRAJECTORY_PLUGIN_NAME
F = {f: i for i, f in enumerate(trajectory.STAT_FIELDS)}
NAME = "classifier/weight"  # Linear(32 -> 2): drawn (in, out), units on axis 0 of PyTorch's (out, in)


class Tokens(torch.utils.data.Dataset):
    """``n`` random sequences; the label says whether token 7 occurs in the first half."""

    def __init__(self, n=64, length=12, vocab=100, seed=0):
        gen = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(1, vocab, (n, length), generator=gen)
        self.labels = (self.ids[:, : length // 2] < 20).any(1).long()

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "attention_mask": torch.ones_like(self.ids[i]), "labels": self.labels[i]}


def tiny_bert():
    torch.manual_seed(0)
    config = transformers.BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=64, vocab_size=100, max_position_embeddings=32)
    return transformers.BertForSequenceClassification(config)


def training_args(out, **kwargs):
    kwargs = dict(dict(per_device_train_batch_size=8, gradient_accumulation_steps=2, num_train_epochs=2,
                       learning_rate=1e-3, logging_steps=1, save_strategy="no", report_to="tensorboard",
                       use_cpu=True, seed=0, disable_tqdm=True, dataloader_num_workers=0), **kwargs)
    return transformers.TrainingArguments(output_dir=str(out), **kwargs)


class Recorder(transformers.TrainerCallback):
    """Records one parameter around each optimizer step: its value before, its gradient, its value after."""

    def __init__(self, param):
        self.param, self.before, self.grads, self.after = param, {}, {}, {}

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        step = state.global_step + 1
        self.before[step] = self.param.detach().double().numpy().copy()
        self.grads[step] = self.param.grad.detach().double().numpy().copy()

    def on_optimizer_step(self, args, state, control, **kwargs):
        self.after[state.global_step + 1] = self.param.detach().double().numpy().copy()


def test_trainer_run_holds_scalars_and_one_point_per_optimizer_step(tmp_path, monkeypatch):
    monkeypatch.delenv("TENSORBOARD_LOGGING_DIR", raising=False)
    model = tiny_bert()
    nnviz = NNVizCallback(trajectory_freq=1, heatmap_freq=4, spectral_freq=0, strict=True)
    recorder = Recorder(model.classifier.weight)
    trainer = transformers.Trainer(model, training_args(tmp_path / "out"), train_dataset=Tokens(),
                                   callbacks=[recorder, nnviz])
    trainer.train()
    steps = trainer.state.global_step
    assert steps == 8  # 64 samples / (8 per batch x 2 accumulated) x 2 epochs

    # The directory transformers' TensorBoard callback chose (out/runs/<date>_<host>), holding both event files.
    tb = next(cb for cb in trainer.callback_handler.callbacks if isinstance(cb, TensorBoardCallback))
    assert nnviz.log_dir == tb.logging_dir
    assert os.path.dirname(nnviz.log_dir) == str(tmp_path / "out" / "runs")
    files = sorted(os.listdir(nnviz.log_dir))
    assert len(files) == 2 and files[0].startswith("events.out.tfevents.") and files[1].endswith(".nnviz")
    assert nnviz.watcher is None and nnviz.last_watcher.logged_steps == list(range(steps + 1))

    provider = python_provider(tmp_path / "out")
    run = "runs/" + os.path.basename(nnviz.log_dir)
    scalars = provider.list_scalars(CTX, experiment_id="", plugin_name="scalars")
    assert "train/loss" in scalars[run]  # Trainer's own curves, in the same run
    traj = read_all(provider, TRAJ)[run]
    heat = read_all(provider, HEAT)[run]
    assert "bert/encoder/layer/1/attention/self/query/weight/nnviz_trajectory" in traj
    points = traj[metadata.summary_tag(NAME, TRAJ)]
    assert [d.step for d in points] == list(range(steps + 1))  # not one per micro-batch
    assert [d.step for d in heat[metadata.summary_tag(NAME, HEAT)]] == [0, 4, 8]

    # Gradients: none at step 0; at each step the one Trainer applied (after clipping, before zeroing).
    series = np.array([d.numpy for d in points])
    assert np.isnan(series[0, F["grad_norm"]])
    want = [np.linalg.norm(recorder.grads[s]) for s in range(1, steps + 1)]
    np.testing.assert_allclose(series[1:, F["grad_norm"]], want, rtol=1e-6)
    np.testing.assert_allclose(series[1:, F["grad_ratio"]], series[1:, F["grad_norm"]] / series[1:, F["norm"]],
                               rtol=1e-9)

    # The last point, field by field, is the numpy reference on the final weights.
    final = model.classifier.weight.detach().double().numpy()
    np.testing.assert_array_equal(recorder.after[steps], final)
    plan = trajectory.TrajectoryPlan(NAME, final.shape, unit_axis=0)
    ref = trajectory.trajectory_point(final, recorder.before[steps], plan, gradient=recorder.grads[steps])
    np.testing.assert_allclose(points[-1].numpy, ref, rtol=1e-6, atol=1e-12)


def test_callback_before_an_explicit_tensorboard_callback_shares_its_directory(tmp_path, monkeypatch):
    """Listed before the TensorBoard callback, NNViz picks the directory and the TensorBoard callback takes it."""
    monkeypatch.delenv("TENSORBOARD_LOGGING_DIR", raising=False)
    nnviz = NNVizCallback(trajectory_freq=2, heatmap_freq=0, spectral_freq=0, strict=True)
    tb = TensorBoardCallback()
    trainer = transformers.Trainer(tiny_bert(), training_args(tmp_path / "out", report_to="none", max_steps=3),
                                   train_dataset=Tokens(), callbacks=[nnviz, tb])
    trainer.train()
    assert tb.logging_dir == nnviz.log_dir and len(os.listdir(nnviz.log_dir)) == 2
    points = read_all(python_provider(nnviz.log_dir), TRAJ)["."][metadata.summary_tag(NAME, TRAJ)]
    # Steps 0 and 2, and the last (3) with its gradients, logged before Trainer zeroed them.
    assert [d.step for d in points] == [0, 2, 3]
    assert np.isfinite(points[-1].numpy[F["grad_norm"]])


def test_environment_directory_and_explicit_log_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TENSORBOARD_LOGGING_DIR", str(tmp_path / "tb"))
    nnviz = NNVizCallback(trajectory_freq=1, heatmap_freq=0, spectral_freq=0, strict=True)
    args = training_args(tmp_path / "out", max_steps=1)
    transformers.Trainer(tiny_bert(), args, train_dataset=Tokens(), callbacks=[nnviz]).train()
    assert nnviz.log_dir == str(tmp_path / "tb")
    assert sorted(f.endswith(".nnviz") for f in os.listdir(tmp_path / "tb")) == [False, True]

    explicit = NNVizCallback(tmp_path / "mine", trajectory_freq=1, heatmap_freq=0, spectral_freq=0, strict=True)
    transformers.Trainer(tiny_bert(), args, train_dataset=Tokens(), callbacks=[explicit]).train()
    assert [f.endswith(".nnviz") for f in os.listdir(tmp_path / "mine")] == [True]


def test_without_a_torch_optimizer_to_hook_the_events_log_the_same_points(tmp_path, monkeypatch):
    """An optimizer that is not a torch one underneath (DeepSpeed's) is logged from Trainer's optimizer events."""
    import tb_nnviz.transformers

    def points(run, hooked):
        if not hooked:
            monkeypatch.setattr(tb_nnviz.transformers, "_torch_optimizer", lambda optimizer: None)
        nnviz = NNVizCallback(tmp_path / run, trajectory_freq=1, heatmap_freq=0, spectral_freq=0, strict=True)
        args = training_args(tmp_path / "out", report_to="none", max_steps=3)
        transformers.Trainer(tiny_bert(), args, train_dataset=Tokens(), callbacks=[nnviz]).train()
        assert nnviz._hooked is hooked
        return read_all(python_provider(tmp_path / run), TRAJ)["."][metadata.summary_tag(NAME, TRAJ)]

    hooked, events = points("hooked", True), points("events", False)
    assert [d.step for d in events] == [d.step for d in hooked] == [0, 1, 2, 3]
    for a, b in zip(hooked, events):
        np.testing.assert_array_equal(a.numpy, b.numpy)


def test_unknown_options_are_refused_by_name():
    with pytest.raises(TypeError, match="unknown option.*trajectory_fre\\b.*watch's: heatmap_freq"):
        NNVizCallback(trajectory_fre=5)
