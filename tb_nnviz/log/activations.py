"""Activation statistics and run information: the numpy reference and the record contents.

What a layer's output looked like over the batch of a logged step
(``layouts.ACTIVATION_FIELDS``), the model's input (``layouts.INPUT_FIELDS``),
and the samples x units matrix an activation heatmap draws. Every writer logs
these numbers: ``tb_nnviz.Writer.log_activations`` computes them here from
arrays; ``tb_nnviz.log.torch_activations`` computes the same numbers with torch
ops where the activations live (held equal to this module by
tests/test_activations.py). docs/format.md, "Activations", defines them.

>>> x = np.array([[0.0, 1.0, -2.0], [0.0, 3.0, 0.5]])  # 2 samples, 3 units
>>> dict(zip(layouts.ACTIVATION_FIELDS, activation_stats(x, "relu").round(3).tolist()))
... # doctest: +NORMALIZE_WHITESPACE
{'dead_fraction': 0.333, 'zero_fraction': 0.333, 'saturated_fraction': nan, 'mean': 0.417,
 'std': 1.484, 'abs_max': 3.0, 'nan_count': 0.0}
>>> heatmap_matrix(np.ones((3, 4, 5, 5)), unit_axis=1, samples=2).shape  # conv: channel means
(2, 4)
"""

import json

import numpy as np

from tb_nnviz.format import layouts, metadata
from tb_nnviz.reduce import grids

#: Bounds of the flat tails (SageMaker Debugger's SaturatedActivation rule):
#: a sigmoid output below ``SIGMOID_LOW`` or above ``SIGMOID_HIGH``, a tanh
#: output with ``|x| > TANH_HIGH``.
SIGMOID_LOW, SIGMOID_HIGH, TANH_HIGH = 0.03, 0.97, 0.97
#: The activation record (and layer name) of the model's input.
INPUT_NAME = "input"
#: The metadata content of the run-information records.
RUN_CONTENT = {"kind": "run", "encoding": "json-utf8"}
#: Kinds whose ``saturated_fraction`` is defined (NaN for every other kind).
SATURATING = ("sigmoid", "tanh")


def check_kind(kind):
    """``kind`` if it is one of ``layouts.ACTIVATION_KINDS``, else ``TensorError`` naming it."""
    if kind not in layouts.ACTIVATION_KINDS:
        raise grids.TensorError("activation kind must be one of %s, got %r"
                                % (", ".join(layouts.ACTIVATION_KINDS), kind))
    return kind


def unit_axis_of(shape, axis=-1):
    """The non-negative unit axis of an activation of ``shape`` (batch first), or None for rank 1.

    >>> unit_axis_of((8, 16)), unit_axis_of((8, 3, 5, 5), 1), unit_axis_of((8,))
    (1, 1, None)
    """
    rank = len(shape)
    if rank < 2:
        return None
    a = axis + rank if axis < 0 else axis
    if not 1 <= a < rank:
        raise grids.TensorError("unit axis %r of an activation of shape %s must not be the batch axis 0"
                                % (axis, list(shape)))
    return a


def activation_stats(x, kind, axis=-1):
    """``layouts.ACTIVATION_FIELDS`` of one layer's output ``x`` (batch first), float64.

    A unit is one slice along ``axis`` (the last for a Dense/Linear output, 1
    for a PyTorch conv output ``[B, C, ...]``); a rank-1 output is one unit.

    - ``dead_fraction``: units whose entries are exactly 0 for every sample
      (and position); a NaN is not 0.
    - ``zero_fraction``: entries exactly 0, of all entries.
    - ``saturated_fraction``: ``sigmoid`` entries < 0.03 or > 0.97, ``tanh``
      entries with ``|x| > 0.97``, of all entries; NaN for other kinds.
    - ``mean``, ``std`` (population), ``abs_max``: over all entries (NaN if one is NaN).
    - ``nan_count``.
    """
    x = np.asarray(x, np.float64)
    a = unit_axis_of(x.shape, axis)
    n = x.size
    nonzero = x != 0
    if a is None:
        dead = float(not nonzero.any())
    else:
        other = tuple(i for i in range(x.ndim) if i != a)
        dead = float(np.mean(~nonzero.any(axis=other)))
    if kind == "sigmoid":
        saturated = np.count_nonzero((x < SIGMOID_LOW) | (x > SIGMOID_HIGH)) / n
    elif kind == "tanh":
        saturated = np.count_nonzero(np.abs(x) > TANH_HIGH) / n
    else:
        saturated = np.nan
    return np.array([dead, np.count_nonzero(x == 0) / n, saturated, x.mean(), x.std(),
                     np.abs(x).max(), np.count_nonzero(np.isnan(x))], np.float64)


def input_stats(x):
    """``layouts.INPUT_FIELDS`` (mean, std, min, max, nan_count) of the model's input ``x``, float64.

    Over all entries, NaN propagating (min and max are NaN when an entry is NaN).
    """
    x = np.asarray(x, np.float64)
    return np.array([x.mean(), x.std(), x.min(), x.max(), np.count_nonzero(np.isnan(x))], np.float64)


def heatmap_matrix(x, unit_axis=-1, samples=layouts.ACTIVATION_HEATMAP_SAMPLES):
    """The ``samples x units`` matrix of an activation heatmap: the first ``samples``
    rows of the batch, each unit's mean over the other axes (a conv channel's
    spatial mean); rows beyond the batch are NaN. (The writers fix ``samples``
    per layer at its first heatmap: ``min(batch, 32)``.)"""
    x = np.asarray(x, np.float64)
    if x.ndim == 1:
        x = x[:, None]
    a = unit_axis_of(x.shape, unit_axis)
    x = np.moveaxis(x[:samples], a, 1)
    m = x.reshape(x.shape[0], x.shape[1], -1).mean(axis=2)
    out = np.full((samples, m.shape[1]), np.nan)
    out[: len(m)] = m
    return out


def activation_content(name, kind, order, unit_axis, units, fields=None, module=None, shape=None):
    """The metadata content of layer ``name``'s activation records (docs/format.md).

    ``kind`` one of ``layouts.ACTIVATION_KINDS``; ``order`` its position in the
    forward pass; ``unit_axis``/``units`` where its units lie and how many;
    ``fields`` default ``ACTIVATION_FIELDS`` (``INPUT_FIELDS`` for ``input``);
    ``module`` the module or layer class, ``shape`` the output's shape at the
    first logged step (batch first).
    """
    if fields is None:
        fields = layouts.INPUT_FIELDS if kind == "input" else layouts.ACTIVATION_FIELDS
    content = {"kind": "activation", "name": name, "activation": check_kind(kind), "fields": list(fields),
               "order": int(order), "unit_axis": unit_axis, "units": int(units)}
    if module is not None:
        content["module"] = str(module)
    if shape is not None:
        content["shape"] = [int(s) for s in shape]
    return content


def heatmap_name(layer):
    """The tensor name of layer ``layer``'s activation heatmap: ``<layer>/activations``."""
    return layer + "/activations"


def description(module, samples):
    """The description of an activation heatmap: its label, then the word ``activations``
    (the tab's card subtitle; the label says what the axes are)."""
    return "%s output (first %d samples down, units across) activations" % (module, samples)


def run_info_bytes(info):
    """A run-information record (a JSON object, docs/format.md) as the logged UTF-8 bytes.

    Non-finite floats become null; keys are sorted.
    """
    if not isinstance(info, dict):
        raise TypeError("run information must be a dict, got %s" % type(info).__name__)
    return json.dumps(metadata.json_value(info), sort_keys=True, allow_nan=False).encode("utf-8")
