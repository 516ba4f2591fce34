"""tb_nnviz.event_file: TensorBoard's record format, checksummed in C."""

import os
import time

import numpy as np
import pytest
from tensorboard.backend.event_processing import event_file_loader
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.tensorflow_stub import pywrap_tensorflow
from tensorboard.summary.writer.record_writer import RecordWriter

from tb_nnviz.event_file import EventFile, encode_record, masked_crc32c


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
