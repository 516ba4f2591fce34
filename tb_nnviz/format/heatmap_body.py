"""The binary body of the ``heatmap`` route: a small JSON header, then float32 planes.

    uint32 LE  H          length of the header in bytes
    H bytes    header     UTF-8 JSON, padded with spaces so the data starts at a
                          multiple of 4 (a ``Float32Array`` views it without a copy)
    the rest   planes     float32 LE, C order, of shape ``header["shape"]``

>>> body = encode_heatmap({"shape": [1, 1, 2]}, np.array([[[1.0, -2.0]]]))
>>> header, planes = decode_heatmap(body)
>>> header, planes.tolist()
({'shape': [1, 1, 2]}, [[[1.0, -2.0]]])
>>> plane_stats(np.array([np.nan, 1.0, np.inf, -3.0]))["min"]
-3.0
"""

import json
import struct

import numpy as np


def encode_heatmap(header, planes):
    """The route's body: uint32 LE ``H``, ``H`` bytes of JSON ``header``, float32 LE ``planes``."""
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
    """The header's summary of one plane: finite ``min``/``max`` (None when none
    is finite) and the NaN, +Inf and -Inf counts."""
    finite = np.isfinite(plane)
    values = plane[finite]
    return {
        "min": float(values.min()) if values.size else None,
        "max": float(values.max()) if values.size else None,
        "nan_count": int(np.isnan(plane).sum()),
        "posinf_count": int(np.isposinf(plane).sum()),
        "neginf_count": int(np.isneginf(plane).sum()),
    }
