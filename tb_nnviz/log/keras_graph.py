"""The graph of a Keras 3 model, from its functional graph: ``capture(model)``.

A ``Functional`` or ``Sequential`` model keeps the graph it was built with:
each symbolic output tensor knows the call (``Node``) that made it
(``tensor._keras_history``, the link ``keras.utils.plot_model`` follows too),
and each call its input tensors (``Node.input_tensors``). Walking back from
``model.outputs`` gives every call and its inputs, so the edges are the
model's own: a skip connection's ``Add`` has two inputs, a ``Concatenate``
one per branch. A nested ``Functional`` or ``Sequential`` is a block whose
layers are drawn inside it, wired to what feeds it outside; a layer called
twice (a shared layer) is one node per call, ``name`` and ``name:1``, both
naming the same ``layer`` (its weights). A subclassed model exposes no graph:
its layers are listed as the model holds them (the order its ``__init__``
made them), with ``connections: "unknown"`` and no edges, never a guessed one.

>>> import keras
>>> x = keras.Input((8,), name="x")
>>> h = keras.layers.Dense(4, activation="relu", name="h")(x)
>>> model = keras.Model(x, keras.layers.Dense(2, activation="softmax", name="out")(h))
>>> g = capture(model)
>>> [(n["name"], n["activation"], n["outputs"]) for n in g["nodes"]]
[('x', None, [[None, 8]]), ('h', 'relu', [[None, 4]]), ('out', 'softmax', [[None, 2]])]
>>> g["edges"]
[['x', 'h'], ['h', 'out']]
"""

import keras

from tb_nnviz.format import graph as graph_format


def capture(model):
    """The graph record (``tb_nnviz.format.graph``) of a Keras model."""
    if _has_graph(model):
        builder = _Builder()
        for kt in model.inputs:
            op = kt._keras_history.operation
            builder.add(op, None, [], [kt], input_layer=True)
        builder.expand(model, None)
        nodes, blocks, edges, connections = builder.nodes, builder.blocks, builder.edges, "known"
    else:
        nodes, blocks, edges, connections = _listed(model)
    return {"framework": "keras", "model": type(model).__name__, "connections": connections,
            "nodes": nodes, "blocks": blocks, "edges": edges}


def _has_graph(model):
    """Whether the model keeps a functional graph (a Functional, or a Sequential that is built)."""
    try:
        return isinstance(model, keras.Model) and bool(model.inputs) and bool(model.outputs) and all(
            hasattr(t, "_keras_history") for t in list(model.inputs) + list(model.outputs))
    except (AttributeError, ValueError):
        return False  # a subclassed model: inputs and outputs are not defined


class _Builder:
    def __init__(self):
        self.nodes, self.blocks, self.edges = [], [], []
        self._sources = {}  # id(KerasTensor) -> node names that made it
        self._calls = {}
        self._edge_set = set()

    def expand(self, model, parent):
        """Draws every call of ``model``'s graph inside block ``parent``."""
        for call in _calls_in_order(model):
            op = call.operation
            if isinstance(op, keras.layers.InputLayer):
                continue
            ins = list(call.input_tensors)
            if isinstance(op, keras.Model) and _has_graph(op):
                block = graph_format.unique(self._calls, op.name)
                self.blocks.append({"name": block, "type": type(op).__name__, "parent": parent,
                                    "params": _params(op), "trainable": _trainable(op)})
                for inner, outer in zip(op.inputs, ins):
                    self._sources[id(inner)] = self.sources([outer])
                self.expand(op, block)
                for outer, inner in zip(call.output_tensors, op.outputs):
                    self._sources[id(outer)] = self.sources([inner])
            else:
                self.add(op, parent, ins, call.output_tensors)

    def add(self, op, parent, ins, outs, input_layer=False):
        name = graph_format.unique(self._calls, op.name)
        activation = getattr(op, "activation", None)
        activation = getattr(activation, "__name__", None) if activation is not None else None
        self.nodes.append(graph_format.node(
            name, type(op).__name__, layer=_layer(op), parent=parent, activation=activation,
            inputs=[_shape(t) for t in ins], outputs=[_shape(t) for t in outs],
            dtype=str(outs[0].dtype) if outs else None, params=0 if input_layer else _params(op),
            trainable=None if input_layer else _trainable(op)))
        for src in self.sources(ins):
            if (src, name) not in self._edge_set:
                self._edge_set.add((src, name))
                self.edges.append([src, name])
        for t in outs:
            self._sources[id(t)] = [name]

    def sources(self, tensors):
        out = []
        for t in tensors:
            out.extend(n for n in self._sources.get(id(t), ()) if n not in out)
        return out


def _calls_in_order(model):
    """The calls (``Node``s) of ``model``'s graph, each after the calls that feed it."""
    stop = {id(t) for t in model.inputs}
    seen, order = set(), []
    stack = [(t, False) for t in reversed(list(model.outputs))]
    while stack:
        item, done = stack.pop()
        if done:
            order.append(item)
            continue
        if id(item) in stop or not hasattr(item, "_keras_history"):
            continue
        op, index, _ = item._keras_history
        if op is None:
            continue
        call = op._inbound_nodes[index]
        if id(call) in seen:
            continue
        seen.add(id(call))
        stack.append((call, True))
        stack.extend((t, False) for t in reversed(list(call.input_tensors)))
    return order


def _listed(model):
    """A model without a graph: its layers as it holds them, nested models as blocks, no edges."""
    nodes, blocks, calls = [], [], {}

    def walk(layer, parent):
        for sub in getattr(layer, "layers", []):
            if isinstance(sub, keras.layers.InputLayer):
                continue
            if getattr(sub, "layers", None):
                name = graph_format.unique(calls, sub.name)
                blocks.append({"name": name, "type": type(sub).__name__, "parent": parent,
                               "params": 0, "trainable": None})
                walk(sub, name)
                continue
            activation = getattr(sub, "activation", None)
            nodes.append(graph_format.node(
                graph_format.unique(calls, sub.name), type(sub).__name__, layer=_layer(sub), parent=parent,
                activation=getattr(activation, "__name__", None) if activation is not None else None,
                params=_params(sub), trainable=_trainable(sub)))

    walk(model, None)
    return nodes, blocks, [], "unknown"


def _layer(op):
    """The name the layer's weights are logged under, without the weight's own (``sequential/dense``)."""
    weights = getattr(op, "weights", None) or []
    paths = [w.path.rpartition("/")[0] for w in weights if getattr(w, "path", None)]
    return paths[0] if paths else op.name


def _params(op):
    """Entries of a layer's weights; 0 for an unbuilt layer and for an operation between
    layers (``x + y`` in a functional model is a ``keras.ops`` ``Add``, not a layer)."""
    count = getattr(op, "count_params", None)
    if count is None or not getattr(op, "built", True):
        return 0
    try:
        return int(count())
    except ValueError:
        return 0


def _trainable(op):
    return graph_format.trainable_of(w.trainable for w in getattr(op, "weights", None) or [])


def _shape(t):
    return [None if d is None else int(d) for d in getattr(t, "shape", ())]


def log(writer, model, step):
    """Logs ``model``'s graph through ``writer`` (a ``tb_nnviz.Writer``) at ``step``; a Keras 2 model is skipped."""
    if isinstance(model, keras.Model):
        writer.log_graph(step, capture(model))
