"""The scripts in demo/ run as a user runs them (``--smoke``) and log what their docstrings say.

Each runs in its own process, as ``python demo/<script>.py --smoke --logdir DIR``;
its event files are read back through TensorBoard's data provider.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

from tb_nnviz.format import metadata
from tb_nnviz.reduce import trajectory
from tests.providers import CTX, python_provider, read_all
from tests.tbserver import REPO

HEAT, TRAJ = metadata.HEATMAP_PLUGIN_NAME, metadata.TRAJECTORY_PLUGIN_NAME
F = {f: i for i, f in enumerate(trajectory.STAT_FIELDS)}
DENSE = ("64x64", "64x10")

# script, extra args, NNViz run under the log dir, tensor names, whether gradients are logged
SCRIPTS = {
    "keras_seed_case": ([], "train", ["sequential/dense/kernel", "sequential/dense_1/kernel",
                                       "sequential/dense_2/kernel"], True),
    "pytorch_mlp": ([], ".", ["0/weight", "2/weight", "4/weight"], True),
    "custom_loop_tf": ([], ".", ["sequential/dense/kernel", "sequential/dense_1/kernel",
                                  "sequential/dense_2/kernel"], True),
    "numpy_writer": ([], ".", ["dense_1/kernel", "dense_2/kernel", "output/kernel"], True),
    "numpy_writer --jax": (["--jax"], ".", ["dense_1/kernel", "dense_2/kernel", "output/kernel"], True),
    "lightning_fit": ([], "lightning_logs/version_0", ["net/0/weight", "net/2/weight", "net/4/weight"], True),
}


def run_script(script, args, logdir):
    proc = subprocess.run(
        [sys.executable, os.path.join(REPO, "demo", script + ".py"), "--smoke", "--logdir", str(logdir)] + args,
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env=dict(os.environ, PYTHONPATH=REPO),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.parametrize("case", sorted(SCRIPTS))
def test_demo_script_logs_weights_updates_and_gradients(tmp_path, case):
    script = case.split()[0]
    args, run, names, gradients = SCRIPTS[case]
    out = run_script(script, args, tmp_path)
    assert "tensorboard --logdir %s" % tmp_path in out  # the line to run next
    provider = python_provider(tmp_path)
    traj = read_all(provider, TRAJ)[run]
    heat = read_all(provider, HEAT)[run]
    for name in names:
        points = traj[metadata.summary_tag(name, TRAJ)]
        assert points[0].step == 0 and len(points) >= 3, name
        assert heat[metadata.summary_tag(name, HEAT)][0].step == 0, name
        later = np.array([d.numpy for d in points[1:]])
        assert (later[:, F["update_ratio"]] > 0).all(), name
        grad = later[:, F["grad_norm"]]
        if gradients:
            assert np.isfinite(grad).all() and (grad > 0).all(), name
            np.testing.assert_allclose(later[:, F["grad_ratio"]], grad / later[:, F["norm"]], rtol=1e-9)
        else:
            assert np.isnan(grad).all(), name
    # The first layer is drawn (in, out) = 64 x 64 in every framework.
    listing = provider.list_tensors(CTX, experiment_id="", plugin_name=HEAT)[run]
    first = metadata.parse_content(listing[metadata.summary_tag(names[0], HEAT)].plugin_content)
    assert first["grid"] == [64, 64]
    if script == "keras_seed_case":  # Keras' own TensorBoard callback logs beside NNViz
        scalars = provider.list_scalars(CTX, experiment_id="", plugin_name="scalars")
        assert any(t.endswith("epoch_loss") for t in scalars["train"])
        assert any(t.endswith("epoch_accuracy") for t in scalars["validation"])


def test_transformers_trainer_demo_shares_trainers_tensorboard_run(tmp_path):
    """``Trainer``'s scalars and NNViz land in one run, ``<logdir>/runs/<date>_<host>``, counted in optimizer steps."""
    out = run_script("transformers_trainer", [], tmp_path)
    assert "tensorboard --logdir %s" % tmp_path in out
    provider = python_provider(tmp_path)
    traj = read_all(provider, TRAJ)
    [run] = traj
    assert run.startswith("runs/")
    assert "train/loss" in provider.list_scalars(CTX, experiment_id="", plugin_name="scalars")[run]
    for name in ("bert/embeddings/word_embeddings/weight", "bert/encoder/layer/1/attention/self/query/weight",
                 "classifier/weight"):
        points = traj[run][metadata.summary_tag(name, TRAJ)]
        # 128 samples, batches of 16, 2 accumulated: 4 optimizer steps an epoch, 2 epochs, a point every 2.
        assert [d.step for d in points] == [0, 2, 4, 6, 8], name
        later = np.array([d.numpy for d in points[1:]])
        assert (later[:, F["update_ratio"]] > 0).all() and (later[:, F["grad_norm"]] > 0).all(), name
