"""The loss findings read the loss wherever the frameworks write it.

A real Hugging Face ``Trainer`` run (a tiny BERT on generated tokens, the
learning rate far too high) with ``NNVizCallback``: ``tb-nnviz report``
reports ``loss_diverged`` from Trainer's ``train/loss`` (per optimizer step,
no validation), as the tab's findings route does; a second Trainer run with
evaluation has its ``eval/loss`` read as the validation loss. Runs logged by
``tb_nnviz.Writer`` with their scalars from PyTorch's ``SummaryWriter`` under
``Loss/train``-, Lightning- and ``loss/train``-style names get their verdicts;
a loss under any other name is read with ``--loss-tag``, ``load(loss_tags=)``
or ``TB_NNVIZ_LOSS_TAGS``.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch  # noqa: F401  (before TensorFlow: conftest.py)
import transformers
from torch.utils.tensorboard import SummaryWriter

import tb_nnviz
from tb_nnviz.serve import loss_store
from tb_nnviz.serve import report as nnviz_report
from tb_nnviz.transformers import NNVizCallback
from tests import tbserver
from tests.helpers import route_findings
from tests.providers import CTX, python_provider
from tests.test_transformers import Tokens, tiny_bert, training_args

LOSS_KINDS = {"overfitting", "underfitting", "loss_diverged"}

#: run: (training tag, validation tag), as Lightning, PyTorch tutorials and others name them.
STYLES = {
    "tutorial": ("Loss/train", "Loss/val"),
    "lightning": ("train_loss", "val_loss"),
    "lightning_epoch": ("train_loss_epoch", "val_loss_epoch"),
    "slash": ("train/loss", "val/loss"),
    "loss_first": ("loss/train", "loss/validation"),
    "custom": ("mse", "val_mse"),  # no name says "loss": read only when given
}


def report_cli(logdir, *args):
    """``(exit status, {run: findings}, stderr)`` of the real command in its own process."""
    proc = subprocess.run([sys.executable, "-m", "tb_nnviz.cli", "report", str(logdir), "--json", *args],
                          cwd=tbserver.REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)["runs"], proc.stderr


def loss_findings(found):
    return [f for f in found if f["kind"] in LOSS_KINDS]


# -- Hugging Face Trainer ---------------------------------------------------------


@pytest.fixture(scope="module")
def trainer_logdir(tmp_path_factory):
    """Two Trainer runs under ``<root>/diverged/runs/*`` and ``<root>/evaluated/runs/*``."""
    root = tmp_path_factory.mktemp("trainer")
    old = os.environ.pop("TENSORBOARD_LOGGING_DIR", None)
    try:
        args = training_args(root / "diverged", learning_rate=1e3, gradient_accumulation_steps=1,
                             num_train_epochs=2, logging_steps=1)
        transformers.Trainer(tiny_bert(), args, train_dataset=Tokens(),
                             callbacks=[NNVizCallback(heatmap_freq=0, spectral_freq=0)]).train()
        args = training_args(root / "evaluated", learning_rate=1e-3, gradient_accumulation_steps=1,
                             num_train_epochs=1, logging_steps=1, eval_strategy="steps", eval_steps=2)
        transformers.Trainer(tiny_bert(), args, train_dataset=Tokens(), eval_dataset=Tokens(n=16, seed=1),
                             callbacks=[NNVizCallback(heatmap_freq=0, spectral_freq=0)]).train()
    finally:
        if old is not None:
            os.environ["TENSORBOARD_LOGGING_DIR"] = old
    return root


def only_run(by_run, prefix):
    (run,) = [r for r in by_run if r.startswith(prefix)]
    return run, by_run[run]


def test_trainer_run_that_diverges_is_reported_from_train_loss(trainer_logdir):
    status, by_run, _ = report_cli(trainer_logdir)
    assert status == 1  # an error
    run, found = only_run(by_run, "diverged/runs/")
    (diverged,) = loss_findings(found)
    assert (diverged["kind"], diverged["severity"]) == ("loss_diverged", "error")
    ev = diverged["evidence"]
    assert ev["loss_tag"] == "train/loss" and ev["step_unit"] == "step" and ev["scalars_run"] == run
    assert ev["val_loss_tag"] is None and ev["validation_run"] is None
    assert ev["loss"] >= 100 * ev["lowest_before"]
    assert "at step %d" % diverged["step"] in diverged["message"] and "epoch" not in diverged["message"]
    # the tab (TensorBoard's app, findings route) says the same
    assert route_findings(trainer_logdir)[run] == found


def test_trainer_eval_loss_is_the_validation_curve(trainer_logdir):
    provider = python_provider(trainer_logdir)
    run = next(r for r in provider.list_scalars(CTX, experiment_id="", plugin_name="scalars")
               if r.startswith("evaluated/"))
    curves = loss_store.read_curves(provider, CTX, "", run)
    assert (curves.loss_tag, curves.val_loss_tag, curves.unit) == ("train/loss", "eval/loss", "step")
    assert curves.validation_run == run
    assert list(curves.train_loss.steps) == list(range(1, 9))  # every optimizer step (logging_steps=1)
    assert list(curves.val_loss.steps) == [2, 4, 6, 8]


# -- SummaryWriter-style tags -------------------------------------------------------


def write_run(run_dir, train_tag, val_tag, train, val=None):
    """Trajectories by ``tb_nnviz.Writer`` every 10 steps; ``train`` (and ``val``) by
    PyTorch's ``SummaryWriter`` every 10 steps, as a loop logging at the global step would."""
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.1, (32, 32))
    steps = [10 * (i + 1) for i in range(len(train))]
    with tb_nnviz.Writer(run_dir) as writer:
        for step in [0] + steps:
            writer.log_weights(step, {"linear/kernel": w}, heatmaps=False, spectra=False)
            w = w + 1e-3 * rng.normal(size=w.shape)
    # Its own file suffix: in the same second and process the two writers would pick one file name.
    scalars = SummaryWriter(run_dir, filename_suffix=".scalars")
    for i, step in enumerate(steps):
        scalars.add_scalar(train_tag, train[i], step)
        if val is not None:
            scalars.add_scalar(val_tag, val[i], step)
    scalars.close()


EPOCHS = np.arange(20)
#: Over-fitting: the training loss keeps falling, the validation loss is lowest at the 11th point.
TRAIN, VAL = 2.0 * 0.8**EPOCHS, 0.5 + 0.002 * (EPOCHS - 10) ** 2


@pytest.fixture(scope="module")
def styles_logdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("styles")
    for run, (train_tag, val_tag) in STYLES.items():
        write_run(str(root / run), train_tag, val_tag, TRAIN, VAL)
    # Per-step training loss, no validation: not decreasing at all; and one that turns NaN.
    write_run(str(root / "flat"), "train_loss", None, 2.3 + 0.001 * np.sin(EPOCHS))
    write_run(str(root / "nan"), "Loss/train", None, [2.3, 2.0, 1.8, float("nan"), float("nan"), 2.0])
    return root


def test_every_style_is_read_and_gets_its_verdict(styles_logdir):
    _, by_run, _ = report_cli(styles_logdir)
    for run, (train_tag, val_tag) in STYLES.items():
        found = loss_findings(by_run[run])
        if run == "custom":
            assert found == [], found  # not a loss by name
            continue
        assert [f["kind"] for f in found] == ["overfitting"], (run, found)
        ev = found[0]["evidence"]
        assert (ev["loss_tag"], ev["val_loss_tag"], ev["step_unit"]) == (train_tag, val_tag, "step"), run
        assert found[0]["step"] == 110 and "at step 110" in found[0]["message"]
    (flat,) = loss_findings(by_run["flat"])
    assert (flat["kind"], flat["evidence"]["loss_tag"]) == ("underfitting", "train_loss")
    assert "since step 10" in flat["message"]
    (nan,) = loss_findings(by_run["nan"])
    assert (nan["kind"], nan["step"], nan["evidence"]["loss_tag"]) == ("loss_diverged", 40, "Loss/train")
    assert "became NaN at step 40" in nan["message"]


def test_any_other_name_is_read_when_given(styles_logdir, monkeypatch):
    status, by_run, _ = report_cli(styles_logdir, "--loss-tag", "mse,val_mse", "--run", "^custom$")
    (found,) = loss_findings(by_run["custom"])
    assert status == 0 and found["kind"] == "overfitting"
    assert (found["evidence"]["loss_tag"], found["evidence"]["val_loss_tag"]) == ("mse", "val_mse")
    # the API, a training tag alone, and the environment variable the tab reads
    by_api = nnviz_report.load(str(styles_logdir), "^custom$", loss_tags=("mse",))
    assert [f["kind"] for f in loss_findings(by_api["custom"])] == []  # no validation curve: no over-fitting
    assert nnviz_report.load(str(styles_logdir), "^custom$", loss_tags="mse,val_mse") == by_run
    monkeypatch.setenv(loss_store.ENVIRONMENT, "mse,val_mse")
    assert route_findings(styles_logdir)["custom"] == by_run["custom"]
    # given tags replace the names: a run without them has no loss findings
    assert loss_findings(nnviz_report.load(str(styles_logdir), "^lightning$")["lightning"]) == []


def test_malformed_loss_tags_are_refused(styles_logdir, monkeypatch, capsys):
    from tb_nnviz import cli

    with pytest.raises(nnviz_report.ReportError, match="TRAIN or TRAIN,VALIDATION"):
        nnviz_report.load(str(styles_logdir), loss_tags="a,b,c")
    assert cli.main(["report", str(styles_logdir), "--loss-tag", ",x"]) == 2
    assert "TRAIN or TRAIN,VALIDATION" in capsys.readouterr().err
    monkeypatch.setenv(loss_store.ENVIRONMENT, "a,b,c")
    with pytest.raises(nnviz_report.ReportError):
        nnviz_report.load(str(styles_logdir))
    assert loss_store.configured_loss_tags() is None  # the tab ignores it


@pytest.mark.parametrize("tags, expected", [
    ({"epoch_loss", "train/loss"}, "epoch_loss"),  # Keras first
    ({"loss", "train_loss"}, "loss"),
    ({"train_loss_step", "train_loss_epoch", "train_loss"}, "train_loss"),
    ({"train_loss_step", "train_loss_epoch"}, "train_loss_epoch"),
    ({"train/train_loss", "train/epoch", "test_loss", "batch_loss"}, None),
    ({"Training-Loss"}, "Training-Loss"),
])
def test_choice_of_the_training_loss(tags, expected):
    assert loss_store.choose_tags(tags)["train_loss"] == expected
