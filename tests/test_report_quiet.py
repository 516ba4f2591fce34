"""``tb-nnviz report`` reads without TensorFlow: nothing on stderr, the same findings.

The command registers TensorBoard's own no-TensorFlow switch and checks the
records' CRC32C in C (``tb_nnviz.serve.report.read_without_tensorflow``). On a
log dir with Keras' scalars (tensors in Keras 3), NNViz trajectories and
spectra, and a damaged record, its findings equal those TensorBoard's
TensorFlow-backed loader gives in this process (which imported TensorFlow),
and its stderr holds no TensorFlow start-up line.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorboard import compat
from tensorboard.compat.tensorflow_stub import pywrap_tensorflow as stub

from tb_nnviz import demo
from tb_nnviz.keras import NNVizCallback
from tb_nnviz.serve import report as nnviz_report
from tests import tbserver

#: What TensorFlow (and absl, XLA, oneDNN) print when they start.
TF_NOISE = ("tensorflow", "oneDNN", "cpu_feature_guard", "absl::", "I0000", "W0000", "E0000", "cuda", "XLA")


def run_command(*args, env=None):
    """The ``tb-nnviz`` command in its own process: ``cli.main()`` reading ``sys.argv``,
    reporting on stderr whether TensorFlow was imported."""
    code = ("import sys; from tb_nnviz import cli; sys.argv = ['tb-nnviz'] + sys.argv[1:]\n"
            "status = cli.main()\n"
            "print('TENSORFLOW-IMPORTED' if 'tensorflow' in sys.modules else '', file=sys.stderr, end='')\n"
            "sys.exit(status)")
    return subprocess.run([sys.executable, "-c", code, *args], cwd=tbserver.REPO, capture_output=True, text=True,
                          timeout=300, env=env)


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    """A Keras run (its TensorBoard callback beside NNVizCallback, validation data), and a run
    whose event file ends in a torn record."""
    root = tmp_path_factory.mktemp("quiet")
    keras.utils.set_random_seed(0)
    x_train, x_val, y_train, y_val = demo.load_digits()
    model = demo.build_model("mlp")
    model.compile(optimizer=keras.optimizers.Adam(1e-6), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    run_dir = str(root / "slow")
    model.fit(x_train[:320], y_train[:320], validation_data=(x_val, y_val), epochs=6, batch_size=32, verbose=0,
              callbacks=[keras.callbacks.TensorBoard(run_dir),
                         NNVizCallback(run_dir, heatmap_freq=20, trajectory_freq=5, spectral_freq="epoch")])
    torn = root / "torn" / "train"
    torn.mkdir(parents=True)
    for name in os.listdir(os.path.join(run_dir, "train")):
        if name.endswith(".nnviz"):
            data = open(os.path.join(run_dir, "train", name), "rb").read()
            (torn / name).write_bytes(data[: len(data) - 7])  # the last record cut short
    return str(root)


def test_report_prints_no_tensorflow_lines_and_does_not_import_it(logdir):
    proc = run_command("report", logdir)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", proc.stderr  # nothing at all: no TensorFlow, no warnings
    assert "slow/train" in proc.stdout and "torn/train" in proc.stdout


def test_no_tensorflow_path_gives_the_findings_of_tensorflows_loader(logdir):
    assert compat.tf.__version__ == tf.__version__  # this process reads through TensorFlow
    assert nnviz_report.read_without_tensorflow(logdir) is False  # ... and keeps doing so
    with_tf = nnviz_report.load(logdir)
    found = with_tf["slow/train"]  # underfitting is lr_too_low's consequence (compose.nest)
    kinds = [f["kind"] for f in found] + [c["kind"] for f in found for c in f.get("consequences", [])]
    assert kinds.count("underfitting") == 1  # the scalars were read
    proc = run_command("report", logdir, "--json", "--fail-on", "never")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert json.loads(proc.stdout)["runs"] == with_tf  # the torn run's too


def test_called_from_python_the_process_keeps_its_tensorboard(logdir):
    """``cli.main(argv)`` (tests, notebooks) does not switch the process to the stub."""
    code = ("import sys; from tb_nnviz import cli; cli.main(['report', sys.argv[1]]);"
            "print('tensorboard.compat.notf' in sys.modules, 'boto3' in sys.modules and sys.modules['boto3'] is None)")
    proc = subprocess.run([sys.executable, "-c", code, logdir], cwd=tbserver.REPO, capture_output=True,
                          text=True, timeout=300)
    assert proc.stdout.split()[-2:] == ["False", "False"], proc.stdout + proc.stderr


def test_a_url_log_dir_keeps_tensorflows_file_systems():
    assert nnviz_report.read_without_tensorflow("gs://bucket/logs") is False


@pytest.mark.parametrize("size", [0, 1, 7, 8, 4096, 100_003])
def test_the_c_checksum_equals_the_stubs(size):
    data = np.random.default_rng(size).integers(0, 256, size, np.uint8).tobytes()
    assert nnviz_report._masked_crc32c(data) == stub.masked_crc32c(data)
