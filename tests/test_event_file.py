"""tb_nnviz.log.event_file: TensorBoard's record format, checksummed in C."""

import importlib.util
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from tensorboard.backend.event_processing import event_file_loader
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.tensorflow_stub import pywrap_tensorflow
from tensorboard.summary.writer.record_writer import RecordWriter

from tb_nnviz.log.event_file import EventFile, encode_record, masked_crc32c
from tests.tbserver import REPO


@pytest.mark.parametrize("size", [0, 1, 7, 1000, 100_003])
def test_records_are_byte_equal_to_tensorboards_own(size):
    data = np.random.default_rng(size).bytes(size)
    assert masked_crc32c(data) == pywrap_tensorflow.masked_crc32c(data)

    class Sink:
        def write(self, b):
            self.bytes = b

    sink = Sink()
    RecordWriter(sink).write(data)
    assert encode_record(data) == sink.bytes


def test_an_idle_writer_flushes_after_flush_secs(tmp_path):
    f = EventFile(str(tmp_path), flush_secs=0.2)
    size = os.path.getsize(f.path)
    f.add_event(event_pb2.Event(step=5, wall_time=1.0))
    deadline = time.time() + 30
    while os.path.getsize(f.path) == size and time.time() < deadline:
        time.sleep(0.05)
    # On disk without flush() or close(), and readable by TensorBoard's loader.
    assert [e.step for e in event_file_loader.EventFileLoader(f.path).Load()] == [0, 5]
    f.close()


def test_writing_after_close_names_the_file(tmp_path):
    f = EventFile(str(tmp_path), filename_suffix=".nnviz")
    f.close()
    assert f.path.endswith(".nnviz") and os.path.basename(f.path).startswith("events.out.tfevents.")
    with pytest.raises(IOError, match="closed") as e:
        f.add_event(event_pb2.Event(step=1))
    assert f.path in str(e.value)
    f.flush()  # flushing or closing again is harmless
    f.close()


def test_a_url_goes_through_gfile(tmp_path):
    """Paths with a scheme (gs://, s3://, file:// ...) are TensorBoard's gfile's to open."""
    f = EventFile("file://" + str(tmp_path / "run"))
    f.add_event(event_pb2.Event(step=4))
    f.close()
    (path,) = (tmp_path / "run").iterdir()
    assert f.path == "file://" + str(path)
    assert [e.step for e in event_file_loader.EventFileLoader(str(path)).Load()] == [0, 4]


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="TensorFlow is not installed")
def test_writing_to_a_local_dir_does_not_import_tensorflow(tmp_path):
    """TensorBoard's gfile imports TensorFlow when it is installed (seconds, ~500 MiB,
    and a crash once PyTorch loads Triton): the Writer and watch() must not need it."""
    script = textwrap.dedent("""
        import sys
        import numpy as np
        import tb_nnviz
        with tb_nnviz.Writer(sys.argv[1] + "/numpy") as w:
            for step in range(3):
                w.log_weights(step, {"d/kernel": np.eye(8) * step, "d/bias": np.ones(8)})
        assert "tensorflow" not in sys.modules, "the Writer imported TensorFlow"
        import torch
        import tb_nnviz.torch
        model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        with tb_nnviz.torch.watch(model, sys.argv[1] + "/torch", opt, trajectory_freq=1, heatmap_freq=1):
            for _ in range(2):
                opt.zero_grad()
                model(torch.randn(5, 4)).sum().backward()
                opt.step()
        assert "tensorflow" not in sys.modules, "watch() imported TensorFlow"
    """)
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=REPO))
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(os.listdir(tmp_path / "numpy")) == 1 and len(os.listdir(tmp_path / "torch")) == 1


def test_files_of_one_process_sort_in_the_order_they_were_made(tmp_path, monkeypatch):
    """TensorBoard reads a run's event files in name order and skips one that sorts before the
    file it is reading: a writer's files must sort as they were made, also where the count
    gains a digit, and never reuse a name another writer took."""
    import itertools

    from tb_nnviz.log import event_file

    monkeypatch.setattr(event_file, "_file_counter", itertools.count(95))  # 99 -> 100 on the way
    files = [event_file.EventFile(tmp_path) for _ in range(12)]
    for f in files:
        f.close()
    made = [os.path.basename(f.path) for f in files]
    assert sorted(made) == made and len(set(made)) == 12
    assert sorted(os.listdir(tmp_path)) == made
