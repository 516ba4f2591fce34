"""Plugin names, tag naming and the versioned metadata every summary carries.

Several data plugin names let TensorBoard keep the kinds of data differently:
heatmaps are large, so a bounded number of steps is kept; trajectory points,
activation statistics and run information are small, so every step is kept
(see ``plugin.NNVizLoader.fix_flags``).

Example:

>>> md = heatmap_metadata({"name": "dense/kernel", "shape": [64, 10]})
>>> md.plugin_data.plugin_name
'nnviz_heatmap'
>>> parse_content(md.plugin_data.content)["name"]
'dense/kernel'
"""

import json
import math

import numpy as np
from tensorboard.compat.proto import summary_pb2

#: The plugin (and tab) name TensorBoard routes under ``/data/plugin/nnviz``.
PLUGIN_NAME = "nnviz"
#: Data plugin name of heatmap summaries (bounded number of steps kept).
HEATMAP_PLUGIN_NAME = "nnviz_heatmap"
#: Data plugin name of trajectory summaries (every step kept).
TRAJECTORY_PLUGIN_NAME = "nnviz_trajectory"
#: Data plugin name of spectrum summaries: the eigenvalues of W^T W of each
#: weight matrix (``tb_nnviz.reduce.spectrum``), a bounded number of steps kept.
SPECTRUM_PLUGIN_NAME = "nnviz_spectrum"
#: Data plugin name of activation statistics: one small vector per layer and
#: logged step (``tb_nnviz.format.layouts.ACTIVATION_FIELDS``), every step kept.
ACTIVATION_PLUGIN_NAME = "nnviz_activation"
#: Data plugin name of the run information: JSON records (framework, model
#: structure, optimizer, learning rate, input statistics), every step kept.
RUN_PLUGIN_NAME = "nnviz_run"
#: Data plugin name of the model graph record (``tb_nnviz.format.graph``): logged once
#: when logging starts (again if the model changes); TensorBoard's default sampling keeps the last.
GRAPH_PLUGIN_NAME = "nnviz_graph"
#: Every data plugin name, in the order the tab reads them.
DATA_PLUGIN_NAMES = (HEATMAP_PLUGIN_NAME, TRAJECTORY_PLUGIN_NAME, SPECTRUM_PLUGIN_NAME,
                     ACTIVATION_PLUGIN_NAME, RUN_PLUGIN_NAME, GRAPH_PLUGIN_NAME)
#: The name (tag ``run/nnviz_run``) under which a writer logs the run information.
RUN_INFO_NAME = "run"
#: The name (tag ``model/nnviz_graph``) under which a writer logs the model graph.
GRAPH_NAME = "model"
#: The metadata content of the model graph record.
GRAPH_CONTENT = {"kind": "graph", "encoding": "json-utf8"}

#: Version written into every metadata content. Readers accept 1..VERSION.
VERSION = 1

_SUFFIX = {
    HEATMAP_PLUGIN_NAME: "/nnviz_heatmap",
    TRAJECTORY_PLUGIN_NAME: "/nnviz_trajectory",
    SPECTRUM_PLUGIN_NAME: "/nnviz_spectrum",
    ACTIVATION_PLUGIN_NAME: "/nnviz_activation",
    RUN_PLUGIN_NAME: "/nnviz_run",
    GRAPH_PLUGIN_NAME: "/nnviz_graph",
}


#: Points of one tensor per tag for the kinds whose every step is kept (``CHUNKED``):
#: a writer moves on to the tag of the next chunk (:func:`chunk_tag`) after this many.
#: TensorBoard's data providers can only read a tag whole, and every logged step
#: changes every tensor's tag: without chunks a server re-reads each tensor's whole
#: history at each step, with them its last chunk only.
CHUNK_POINTS = 256
#: The data plugin names whose tags are chunked.
CHUNKED = (TRAJECTORY_PLUGIN_NAME, ACTIVATION_PLUGIN_NAME)


def summary_tag(name, plugin_name):
    """The event-file tag of tensor ``name`` for one data plugin.

    The two kinds need distinct tags: TensorBoard keys time series by tag
    within a run, and only the first event's metadata of a tag counts.

    >>> summary_tag("dense/kernel", HEATMAP_PLUGIN_NAME)
    'dense/kernel/nnviz_heatmap'
    """
    return name + _SUFFIX[plugin_name]


def chunk_tag(name, plugin_name, chunk):
    """The tag of chunk ``chunk`` (0, 1, ...) of tensor ``name``: the first chunk's is
    :func:`summary_tag`, later ones add ``/<chunk>`` (and ``"chunk": <chunk>`` in their content).

    >>> chunk_tag("dense/kernel", TRAJECTORY_PLUGIN_NAME, 0)
    'dense/kernel/nnviz_trajectory'
    >>> chunk_tag("dense/kernel", TRAJECTORY_PLUGIN_NAME, 3)
    'dense/kernel/nnviz_trajectory/3'
    """
    return summary_tag(name, plugin_name) + ("/%d" % chunk if chunk else "")


#: Suffix of the tag that keeps a tensor's first heatmap (see :func:`first_tag`).
FIRST_SUFFIX = "_first"


def first_tag(name):
    """The tag that holds the first heatmap a writer logs of tensor ``name``.

    TensorBoard keeps a random sample of a tag's steps (always the last), so the
    first step could be dropped from the heatmap tag. The writers log the first
    heatmap of each tensor once more under this tag, with ``"first": true`` in
    its content; the plugin merges the two, so the first and the last step are
    always served.

    >>> first_tag("dense/kernel")
    'dense/kernel/nnviz_heatmap_first'
    """
    return summary_tag(name, HEATMAP_PLUGIN_NAME) + FIRST_SUFFIX


def tensor_name(tag, plugin_name):
    """Inverse of :func:`summary_tag` (and :func:`first_tag`, :func:`chunk_tag`); other tags are returned as is.

    >>> tensor_name("dense/kernel/nnviz_heatmap", HEATMAP_PLUGIN_NAME)
    'dense/kernel'
    >>> tensor_name("dense/kernel/nnviz_heatmap_first", HEATMAP_PLUGIN_NAME)
    'dense/kernel'
    >>> tensor_name("dense/kernel/nnviz_trajectory/2", TRAJECTORY_PLUGIN_NAME)
    'dense/kernel'
    """
    if plugin_name == HEATMAP_PLUGIN_NAME and tag.endswith(FIRST_SUFFIX):
        tag = tag[: -len(FIRST_SUFFIX)]
    head, _, last = tag.rpartition("/")
    if plugin_name in CHUNKED and last.isdigit() and head.endswith(_SUFFIX[plugin_name]):
        tag = head
    suffix = _SUFFIX[plugin_name]
    return tag[: -len(suffix)] if tag.endswith(suffix) else tag


def _metadata(plugin_name, content, description):
    content = dict(content, version=VERSION)
    md = summary_pb2.SummaryMetadata(
        summary_description=description or "",
        data_class=summary_pb2.DATA_CLASS_TENSOR,
    )
    md.plugin_data.plugin_name = plugin_name
    md.plugin_data.content = json.dumps(content, sort_keys=True).encode("utf-8")
    return md


def heatmap_metadata(content, description=None):
    """``SummaryMetadata`` for a heatmap summary; ``content`` is a JSON-able dict."""
    return _metadata(HEATMAP_PLUGIN_NAME, content, description)


def trajectory_metadata(content, description=None):
    """``SummaryMetadata`` for a trajectory summary; ``content`` is a JSON-able dict."""
    return _metadata(TRAJECTORY_PLUGIN_NAME, content, description)


def spectrum_metadata(content, description=None):
    """``SummaryMetadata`` for a spectrum summary; ``content`` is a JSON-able dict."""
    return _metadata(SPECTRUM_PLUGIN_NAME, content, description)


def activation_metadata(content, description=None):
    """``SummaryMetadata`` for an activation-statistics summary; ``content`` is a JSON-able dict."""
    return _metadata(ACTIVATION_PLUGIN_NAME, content, description)


def run_metadata(content, description=None):
    """``SummaryMetadata`` for a run-information summary; ``content`` is a JSON-able dict."""
    return _metadata(RUN_PLUGIN_NAME, content, description)


def summary_metadata(plugin_name, content, description=None):
    """``SummaryMetadata`` of any of our data plugin names."""
    if plugin_name not in _SUFFIX:
        raise ValueError("not an nnviz data plugin name: %r" % (plugin_name,))
    return _metadata(plugin_name, content, description)


class MetadataError(ValueError):
    """Plugin content that this version of tb_nnviz cannot read."""


def _ints(n=None, low=0):
    """A check: a list of ints >= ``low`` (of length ``n`` if given)."""
    return lambda v: (
        isinstance(v, list)
        and (n is None or len(v) == n)
        and all(isinstance(i, int) and not isinstance(i, bool) and i >= low for i in v)
    )


def _strs(v):
    return isinstance(v, list) and len(v) > 0 and all(isinstance(i, str) for i in v)


# What readers rely on in each kind's content; anything else is a MetadataError.
_CHECKS = {
    HEATMAP_PLUGIN_NAME: {
        "shape": _ints(low=1),
        "layout": lambda v: isinstance(v, dict),
        "grid": _ints(2, 1),
        "pool": _ints(2, 1),
        "planes": _strs,
    },
    TRAJECTORY_PLUGIN_NAME: {
        "shape": _ints(low=1),
        "fields": _strs,
        "traces": _ints(),
        "sketch_dim": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
    },
    SPECTRUM_PLUGIN_NAME: {
        "shape": _ints(low=1),
        "treatment": lambda v: v in ("matrix", "conv"),
        "slices": lambda v: _ints(1, 1)([v]),
        "matrix": _ints(2, 1),
        "evals": lambda v: _ints(1, 1)([v]),
        "skipped": lambda v: v is None or isinstance(v, str),
    },
    ACTIVATION_PLUGIN_NAME: {
        "fields": _strs,
        "activation": lambda v: isinstance(v, str) and len(v) > 0,
        "order": lambda v: _ints(1)([v]),
    },
    RUN_PLUGIN_NAME: {
        "encoding": lambda v: v == "json-utf8",
    },
    GRAPH_PLUGIN_NAME: {
        "encoding": lambda v: v == "json-utf8",
    },
}


def parse_content(content, plugin_name=None):
    """Parses plugin content bytes into a dict, accepting every version <= VERSION.

    With ``plugin_name``, also checks the fields readers of that kind rely on.

    Raises:
      MetadataError: the bytes are not our JSON, come from a newer version, or
        lack a field ``plugin_name``'s readers need.

    >>> parse_content(b'{"version": 1, "name": "b"}')["name"]
    'b'
    >>> parse_content(b'{"version": 99}')
    Traceback (most recent call last):
    ...
    tb_nnviz.format.metadata.MetadataError: metadata version 99 is newer than this tb_nnviz reads (1); upgrade tb-nnviz
    """
    parsed = json_object(content)
    if plugin_name is not None:
        _check_fields(parsed, plugin_name)
    return parsed


def json_object(raw, what="metadata", newest=VERSION):
    """The JSON object of the UTF-8 bytes ``raw``, whose ``version`` is in ``1..newest``.

    Raises:
      MetadataError (a ValueError): naming ``what`` and what is wrong.
    """
    try:
        parsed = json.loads(bytes(raw).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise MetadataError("%s is not valid JSON: %s" % (what, e)) from None
    if not isinstance(parsed, dict):
        raise MetadataError("%s is %s, not an object" % (what, type(parsed).__name__))
    check_version(parsed.get("version"), newest, what)
    return parsed


def check_version(version, newest=VERSION, what="metadata"):
    """Raises MetadataError (a ValueError) unless ``version`` is an int in ``1..newest``; ``what`` names the record.

    >>> try:
    ...     check_version(2, newest=1, what="graph record")
    ... except MetadataError as e:
    ...     print(e)
    graph record version 2 is newer than this tb_nnviz reads (1); upgrade tb-nnviz
    """
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise MetadataError("%s has no valid version: %r" % (what, version))
    if version > newest:
        raise MetadataError("%s version %d is newer than this tb_nnviz reads (%d); upgrade tb-nnviz"
                            % (what, version, newest))


def _check_fields(parsed, plugin_name):
    bad = [k for k, ok in _CHECKS[plugin_name].items() if k not in parsed or not ok(parsed[k])]
    if bad:
        raise MetadataError("metadata lacks or has malformed %s" % ", ".join(bad))
    if not isinstance(parsed.get("name", ""), str):
        raise MetadataError("metadata name is not a string: %r" % (parsed["name"],))
    if plugin_name == HEATMAP_PLUGIN_NAME and "pool_tiles" in parsed:
        # Tile-aligned pooling (whole kernel tiles per block); older logs lack the field.
        if not _ints(2, 1)(parsed["pool_tiles"]) or any(
            p % t for p, t in zip(parsed["pool"], parsed["pool_tiles"])
        ):
            raise MetadataError("metadata pool_tiles %r does not divide pool %r"
                                % (parsed["pool_tiles"], parsed["pool"]))
    if plugin_name in CHUNKED and "chunk" in parsed and not _ints(1, 1)([parsed["chunk"]]):
        raise MetadataError("metadata chunk is not an int >= 1: %r" % (parsed["chunk"],))
    if plugin_name == TRAJECTORY_PLUGIN_NAME and any(
        t >= math.prod(parsed["shape"]) for t in parsed["traces"]
    ):
        raise MetadataError("metadata traces lie outside shape %s" % parsed["shape"])


def json_value(value, digits=None):
    """``value`` as plain JSON: str keys, tuples as lists, numpy and framework scalars and
    arrays as Python numbers and lists, non-finite floats as None, anything else as its str;
    with ``digits``, floats rounded to that many significant digits.

    >>> json_value({"a": (1, float("nan")), 2: True})
    {'a': [1, None], '2': True}
    >>> json_value([0.123456], digits=4)
    [0.1235]
    """
    if isinstance(value, dict):
        return {str(k): json_value(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v, digits) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            return None
        return float(value) if digits is None else float("%.*g" % (digits, value))
    if hasattr(value, "tolist"):  # a numpy or framework scalar/array
        return json_value(value.tolist(), digits)
    return str(value)
