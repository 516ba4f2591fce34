"""The model graph record: layers (modules, functions), the blocks they sit in, which output feeds which input.

One JSON object per record, logged once when logging starts (docs/format.md,
"Model graph"). ``tb_nnviz.log.torch_graph`` and ``tb_nnviz.log.keras_graph``
build it; :func:`encode` checks it and makes the logged bytes, :func:`decode`
is what every reader calls.

>>> record = {"framework": "keras", "model": "Sequential", "connections": "known",
...           "nodes": [node("dense", "Dense", activation="relu", params=72),
...                     node("dense_1", "Dense", activation="softmax", params=18)],
...           "blocks": [], "edges": [["dense", "dense_1"]]}
>>> decode(encode(record))["nodes"][1]["activation"]
'softmax'
>>> encode(dict(record, edges=[["dense", "dense_2"]]))
Traceback (most recent call last):
...
ValueError: graph edge 0 ends at 'dense_2', which is not a node
"""

import json

from tb_nnviz.format import metadata

#: Version of the record's own layout (its ``version`` key); readers accept 1..GRAPH_VERSION.
GRAPH_VERSION = 1
#: ``connections``: edges are the model's data flow / the nodes are only listed in call order.
CONNECTIONS = ("known", "unknown")
#: A record with more nodes is cut to this many (``truncated`` says how many there were).
MAX_NODES = 4096


def node(name, type_, *, layer=None, parent=None, activation=None, inputs=(), outputs=(), dtype=None,
         params=0, trainable=None, function=False):
    """One node of the record: a layer's (or module's, or function's) call.

    ``name`` is unique in the record (a layer called twice: ``name`` and
    ``name:1``); ``layer`` names the layer whose weights it uses, as the
    weights are named (default: ``name``); ``inputs`` and ``outputs`` are
    shapes (lists, ``None`` for an unknown size); ``trainable`` is True, False,
    ``"partial"`` or None (no parameters).
    """
    return {"name": name, "layer": name if layer is None else layer, "type": type_, "parent": parent,
            "activation": activation, "inputs": [list(s) for s in inputs], "outputs": [list(s) for s in outputs],
            "dtype": dtype, "params": int(params), "trainable": trainable, "function": bool(function)}


def unique(calls, name):
    """``name`` the first time, then ``name:1``, ``name:2``... (``calls`` counts them per name).

    >>> calls = {}
    >>> unique(calls, "relu"), unique(calls, "relu")
    ('relu', 'relu:1')
    """
    k = calls.get(name, 0)
    calls[name] = k + 1
    return "%s:%d" % (name, k) if k else name


def trainable_of(flags):
    """``True``, ``False``, ``"partial"`` or None from the trainable flags of a layer's weights."""
    flags = [bool(f) for f in flags]
    if not flags:
        return None
    return True if all(flags) else False if not any(flags) else "partial"


def encode(record):
    """The logged bytes (UTF-8 JSON, keys sorted) of a checked record; ``version`` is set here.

    Raises:
      ValueError: naming the wrong node, block or edge.
    """
    record = dict(record, version=GRAPH_VERSION)
    nodes = record.get("nodes")
    if len(nodes or ()) > MAX_NODES:
        record["truncated"] = len(nodes)
        record["nodes"] = nodes = nodes[:MAX_NODES]
        kept = {n["name"] for n in nodes}
        record["edges"] = [e for e in record.get("edges", []) if e[0] in kept and e[1] in kept]
    check(record)
    compact = json.dumps(metadata.json_value(record), sort_keys=True, allow_nan=False, separators=(",", ":"))
    return compact.encode("utf-8")


def decode(raw):
    """The record of the logged bytes, checked; ValueError says what is wrong (or that it is newer)."""
    record = metadata.json_object(raw, "graph record", GRAPH_VERSION)
    check(record)
    return record


def check(record):
    """Raises ValueError unless ``record`` is a well-formed graph record."""
    if record.get("connections") not in CONNECTIONS:
        raise ValueError("graph connections must be one of %s, got %r" % (CONNECTIONS, record.get("connections")))
    nodes, blocks, edges = (record.get(k) for k in ("nodes", "blocks", "edges"))
    for key, value in (("nodes", nodes), ("blocks", blocks), ("edges", edges)):
        if not isinstance(value, list):
            raise ValueError("graph %s must be a list, got %s" % (key, type(value).__name__))
    block_names = set()
    for i, b in enumerate(blocks):
        if not isinstance(b, dict) or not isinstance(b.get("name"), str) or b["name"] in block_names:
            raise ValueError("graph block %d is not an object with a unique name: %r" % (i, b))
        block_names.add(b["name"])
    names = set()
    for i, n in enumerate(nodes):
        if not isinstance(n, dict) or not isinstance(n.get("name"), str) or not n["name"] or n["name"] in names:
            raise ValueError("graph node %d is not an object with a unique non-empty name: %r" % (i, n))
        names.add(n["name"])
        if not isinstance(n.get("type"), str):
            raise ValueError("graph node %r has no type" % n["name"])
        if n.get("parent") is not None and n["parent"] not in block_names:
            raise ValueError("graph node %r sits in block %r, which is not a block" % (n["name"], n["parent"]))
    for i, b in enumerate(blocks):
        if b.get("parent") is not None and b["parent"] not in block_names:
            raise ValueError("graph block %r sits in block %r, which is not a block" % (b["name"], b["parent"]))
    for i, e in enumerate(edges):
        if not (isinstance(e, list) and len(e) == 2):
            raise ValueError("graph edge %d is not a [from, to] pair: %r" % (i, e))
        for j, end in enumerate(e):
            if end not in names:
                raise ValueError("graph edge %d %s at %r, which is not a node" % (i, ("starts", "ends")[j], end))
