"""Server-side helpers of the plugin: PCA of the weight-space path, the binary
heatmap wire format, per-plane statistics and the decoded-series cache.

Pure numpy and the standard library (no TensorBoard, no TensorFlow); the
plugin's routes call these.

>>> coords, ratio = pca_2d(np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]]))
>>> np.round(coords[:, 0], 6).tolist(), ratio.tolist()
([-1.0, 0.0, 1.0], [1.0, 0.0])
"""

import collections
import json
import struct
import threading

import numpy as np


def pca_2d(matrix):
    """Projects the rows of ``matrix`` onto its first two principal components.

    Args:
      matrix: array-like ``(n, d)``; one row per observation (e.g. the summed
        sketch of all of a model's tensors at one step). Must be finite.

    Returns:
      ``(coords, explained_ratio)``: ``coords`` is float64 ``(n, 2)`` (rows
      centred, then projected), ``explained_ratio`` float64 ``(2,)``, the
      fraction of total variance along each axis, in ``[0, 1]``. Components
      that do not exist (``n < 3`` or ``d < 2``) or a matrix without variance
      give zero columns and ratios. The sign of each axis is fixed so that the
      first row has a non-positive coordinate (the path starts left/bottom),
      which keeps the picture stable across reloads.

    Raises:
      ValueError: ``matrix`` is not 2-D or holds NaN/Inf.
    """
    x = np.asarray(matrix, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError("pca_2d needs a 2-D matrix, got shape %s" % (list(x.shape),))
    if not np.isfinite(x).all():
        raise ValueError("pca_2d needs finite values; the matrix holds NaN or Inf")
    n = x.shape[0]
    coords = np.zeros((n, 2))
    ratio = np.zeros(2)
    if n == 0 or x.shape[1] == 0:
        return coords, ratio
    # Scaled to max |x| = 1 first: finite but huge values (a damaged log, a
    # diverged run) would overflow the sums of squares; PCA is scale-equivariant.
    scale = float(np.abs(x).max())
    if scale == 0.0:
        return coords, ratio
    centred = x / scale
    centred -= centred.mean(axis=0)
    total = float(np.sum(centred * centred))
    if total <= 0.0:
        return coords, ratio
    # Eigen-decompose the smaller of the d x d scatter and the n x n Gram
    # matrix: exact, and far cheaper than an SVD of the whole matrix, whose
    # multi-threaded BLAS stalls for up to a second on a busy 2-core machine
    # (BENCHMARKS.md, "Projection's PCA").
    k = min(2, n, x.shape[1])
    if x.shape[1] <= n:
        eigvals, eigvecs = np.linalg.eigh(centred.T @ centred)
        top = np.argsort(eigvals)[::-1][:k]
        coords[:, :k] = centred @ eigvecs[:, top]
    else:
        eigvals, eigvecs = np.linalg.eigh(centred @ centred.T)
        top = np.argsort(eigvals)[::-1][:k]
        coords[:, :k] = eigvecs[:, top] * np.sqrt(np.maximum(eigvals[top], 0.0))
    coords *= scale
    ratio[:k] = np.clip(np.maximum(eigvals[top], 0.0) / total, 0.0, 1.0)
    for axis in range(k):
        if coords[0, axis] > 0:
            coords[:, axis] = -coords[:, axis]
    return coords, ratio


class Series:
    """The samples of one tag: sorted unique ``steps``, ``wall_times`` and stacked ``values``."""

    def __init__(self, steps, wall_times, values):
        self.steps, self.wall_times, self.values = steps, wall_times, values
        self.nbytes = steps.nbytes + wall_times.nbytes + values.nbytes

    @classmethod
    def from_data(cls, data, shape, dtype):
        """Builds a Series from ``provider.TensorDatum`` s whose arrays have ``shape``.

        Datums of another shape (a clashing tag) are skipped.
        """
        data = [d for d in data if d.numpy.shape == shape]
        steps = np.array([d.step for d in data], np.int64)
        # Keep the last datum of each step, sorted by step.
        _, first_of_reversed = np.unique(steps[::-1], return_index=True)
        keep = len(steps) - 1 - first_of_reversed
        values = np.empty((len(keep),) + shape, dtype)
        for row, i in enumerate(keep):
            values[row] = data[i].numpy
        wall_times = np.array([data[i].wall_time for i in keep], np.float64)
        return cls(steps[keep], wall_times, values)

    def index(self, step):
        i = int(np.searchsorted(self.steps, step))
        return i if i < len(self.steps) and self.steps[i] == step else None


class SeriesCache:
    """Thread-safe LRU of decoded ``Series`` bounded by bytes, plus a step index.

    An entry is valid while the data provider reports the same
    ``(max_step, max_wall_time)`` for its tag. Step lists are tiny and kept
    for every tag so ``tags`` stays cheap after the big arrays are evicted.
    """

    def __init__(self, max_bytes):
        self._max_bytes = max_bytes
        self._lock = threading.Lock()
        self._items = collections.OrderedDict()  # key -> (stamp, series)
        self._bytes = 0
        self._steps = {}  # key -> (stamp, list of steps)

    def get(self, key, stamp):
        with self._lock:
            item = self._items.get(key)
            if item is None or item[0] != stamp:
                return None
            self._items.move_to_end(key)
            return item[1]

    def steps(self, key, stamp):
        with self._lock:
            item = self._steps.get(key)
            return item[1] if item is not None and item[0] == stamp else None

    def put(self, key, stamp, series):
        with self._lock:
            self._steps[key] = (stamp, series.steps.tolist())
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[1].nbytes
            if series.nbytes > self._max_bytes:
                return
            self._items[key] = (stamp, series)
            self._bytes += series.nbytes
            while self._bytes > self._max_bytes:
                _, (_, evicted) = self._items.popitem(last=False)
                self._bytes -= evicted.nbytes


def encode_heatmap(header, planes):
    """Binary heatmap: uint32 LE ``H``, ``H`` bytes of JSON header, float32 LE data.

    The header is padded with spaces so the data starts at a multiple of 4
    (a ``Float32Array`` can view the buffer without a copy).
    """
    text = json.dumps(header, allow_nan=False, separators=(",", ":")).encode("utf-8")
    text += b" " * (-(4 + len(text)) % 4)
    data = np.ascontiguousarray(planes, dtype="<f4")
    return struct.pack("<I", len(text)) + text + data.tobytes()


def decode_heatmap(body):
    """Inverse of :func:`encode_heatmap`: ``(header dict, float32 array of header["shape"])``."""
    (length,) = struct.unpack_from("<I", body, 0)
    header = json.loads(body[4 : 4 + length].decode("utf-8"))
    data = np.frombuffer(body, dtype="<f4", offset=4 + length)
    return header, data.reshape(header["shape"])


def plane_stats(plane):
    finite = np.isfinite(plane)
    values = plane[finite]
    return {
        "min": float(values.min()) if values.size else None,
        "max": float(values.max()) if values.size else None,
        "nan_count": int(np.isnan(plane).sum()),
        "posinf_count": int(np.isposinf(plane).sum()),
        "neginf_count": int(np.isneginf(plane).sum()),
    }


def finite_list(values):
    """A list of floats with NaN and +/-Inf as None (valid JSON)."""
    values = np.asarray(values, np.float64)
    return np.where(np.isfinite(values), values, None).tolist()
