"""An append-only TensorBoard event file, checksummed in C.

TensorBoard's own ``EventFileWriter`` (which ``tb_nnviz.Writer`` used before)
computes each record's CRC32C in pure Python on its writer thread: about
160 ms per MiB on this project's machine, holding the GIL the whole time, so a
1 MiB heatmap step cost the training loop more than the reductions did
(BENCHMARKS.md). This writer produces the same records (TFRecord framing with
masked CRC32C, the ``brain.Event:2`` header, TensorBoard's file name pattern)
with ``google_crc32c``'s C implementation, and writes them on the caller's
thread: a 1 MiB record costs well under a millisecond. A local log dir is
written with plain Python files, so writing never imports TensorFlow; a log
dir with a URL scheme (``gs://``, ``s3://`` ...) goes through TensorBoard's
``gfile``.

Bad days (docs/reliability.md): a local file is written unbuffered, one
``write`` per record, so a process killed with SIGKILL keeps every record
whose ``add_event`` returned (only a record being written when the signal
came can be torn, and readers drop a torn last record). When a write fails
(a full disk, a file-size limit) the file is cut back to its last complete
record, closed, and the error raised: nothing half-written stays behind, and
no space is held by a torn record.

>>> import tempfile
>>> from tensorboard.backend.event_processing import event_file_loader
>>> from tensorboard.compat.proto import event_pb2
>>> f = EventFile(tempfile.mkdtemp())
>>> f.add_event(event_pb2.Event(step=3))
>>> f.close()
>>> [e.step for e in event_file_loader.EventFileLoader(f.path).Load()]
[0, 3]
"""

import io
import itertools
import os
import re
import socket
import struct
import threading
import time

import google_crc32c
from tensorboard.compat.proto import event_pb2

_file_counter = itertools.count()


#: A path with a URL scheme (``gs://``, ``s3://``, ``hdfs://``, ``file://`` ...).
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def _open(logdir, path):
    """``path`` in ``logdir`` (created if missing), newly created for writing bytes.

    Local paths are opened with plain Python, exclusively (``FileExistsError``
    when the name is taken: another writer's file is never truncated); only a
    path with a URL scheme goes through TensorBoard's ``gfile``, which imports
    TensorFlow when it is installed (seconds and ~500 MiB, and a process that
    holds TensorFlow crashes once PyTorch's optimizers load Triton).
    """
    if _URL.match(logdir):
        from tensorboard.compat import tf  # noqa: PLC0415 (TensorFlow only for URLs)

        tf.io.gfile.makedirs(logdir)
        return tf.io.gfile.GFile(path, "wb")
    if logdir:
        os.makedirs(logdir, exist_ok=True)
    return open(path, "xb", buffering=0)


def masked_crc32c(data):
    """The TFRecord checksum of ``data``: CRC32C, rotated and offset ("masked")."""
    crc = google_crc32c.value(bytes(data))
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def encode_record(data):
    """One TFRecord: length, its masked CRC, the data, the data's masked CRC."""
    header = struct.pack("<Q", len(data))
    return b"".join((header, struct.pack("<I", masked_crc32c(header)), data,
                     struct.pack("<I", masked_crc32c(data))))


class WriteFailed(OSError):
    """An event added to a file whose earlier write failed and that was closed then.

    The first error (``cause``) was raised to the caller that hit it; once
    ``tb_nnviz.log.plan.guarded`` has warned about it, this one stops later
    callers without a second warning.
    """

    cause = None


class EventFile:
    """Writes ``Event`` protos to a new event file in ``logdir``.

    Records go to the file as they are added; the file is flushed every
    ``flush_secs`` (also when no more events come: a timer flushes what an idle
    writer holds), on :meth:`flush` and on :meth:`close`. Safe to share
    between threads.
    """

    def __init__(self, logdir, *, flush_secs=120, filename_suffix=""):
        logdir = os.fspath(logdir)
        while True:
            # "nnviz<n>", not TensorFlow's and PyTorch's bare counter: their writers
            # name files by time, host, pid and a count from 0 too, and open them
            # truncating, so a shared name would lose one of the two files. The count
            # is zero-padded: TensorBoard reads a run's files in name order and skips
            # one that sorts before the file it is reading ("nnviz10" < "nnviz9").
            self.path = os.path.join(logdir, "events.out.tfevents.%010d.%s.%s.nnviz%06d%s" % (
                time.time(), socket.gethostname(), os.getpid(), next(_file_counter), filename_suffix))
            try:
                self._file = _open(logdir, self.path)
                break
            except FileExistsError:
                continue  # taken (a file left by an earlier process with this pid): the next count
        self._flush_secs = float(flush_secs)
        self._lock = threading.Lock()
        self._timer = None
        self._closed = False
        self._size = 0  # bytes of complete records in the file
        self._failed = None  # the error of a failed write
        self.add_event(event_pb2.Event(
            wall_time=time.time(), file_version="brain.Event:2",
            source_metadata=event_pb2.SourceMetadata(writer="tb_nnviz"),
        ))
        self.flush()

    def add_event(self, event):
        """Appends ``event`` (an ``event_pb2.Event``) to the file."""
        record = encode_record(event.SerializeToString())
        with self._lock:
            if self._closed:
                if self._failed is not None:
                    failed = WriteFailed("event file %s stopped after a failed write: %s" % (self.path, self._failed))
                    failed.cause = self._failed
                    raise failed
                raise IOError("event file %s is closed" % self.path)
            self._write(record)
            if self._timer is None:
                self._timer = threading.Timer(self._flush_secs, self.flush)
                self._timer.daemon = True
                self._timer.start()

    def _write(self, record):
        if not isinstance(self._file, io.RawIOBase):
            self._file.write(record)  # gfile: buffered by TensorFlow, written on flush
            return
        view, start = memoryview(record), self._size
        try:
            while view:  # a raw write may take only part (a signal, a nearly full disk)
                view = view[self._file.write(view):]
        except OSError as e:
            self._closed, self._failed = True, e
            try:
                self._file.truncate(start)
            finally:
                self._file.close()
            failed = type(e)(e.errno, "%s; event file %s cut back to its last complete record (%d bytes) and closed"
                             % (e.strerror or e, self.path, start))
            failed.nnviz_write_failed = True  # plan.guarded: all logging to this file stops
            self._failed = failed
            raise failed from e
        self._size = start + len(record)

    def flush(self):
        """Writes everything added so far to disk."""
        with self._lock:
            self._cancel_timer()
            if not self._closed:
                self._file.flush()

    def close(self):
        """Flushes and closes the file; later :meth:`add_event` calls raise ``IOError``."""
        with self._lock:
            self._cancel_timer()
            if not self._closed:
                self._closed = True
                self._file.close()

    def _cancel_timer(self):
        if self._timer is not None:
            if self._timer is not threading.current_thread():
                self._timer.cancel()
            self._timer = None
