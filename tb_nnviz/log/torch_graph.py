"""``GraphRecorder``: the graph of a PyTorch model, read from its first forward pass.

``tb_nnviz.torch.watch`` makes one when it starts; the next forward (whatever
runs it: training, a validation pass) is recorded and nothing of it runs in any
later forward. No second forward and no ``torch.fx`` trace: the model runs as
it always does, so an ``if`` on the data in ``forward`` works (the branch taken
is the one drawn).

While that forward runs, two process-wide module hooks see each module's call
and a ``TorchFunctionMode`` sees every torch call between them, so the tensor
flow is followed from the input through modules and through the functional
operations in a container's ``forward`` (ResNet's residual ``out += identity``,
``torch.cat``, ``torch.flatten``). Each tensor is mapped to the node that made
it; a module's or operation's inputs give its edges. Nodes are the modules
that do the work (those without child modules, and those whose children are
not called: ``MultiheadAttention``) and the functional operations outside
them; containers are blocks (``layer1``, ``layer1/0``), each node sitting in
the innermost one. Names are the weights' (``layer1/0/conv1``); a module called
twice gives ``name`` and ``name:1``, a function its module's name and its own
(``layer1/0/add``; ``flatten`` in the model's own ``forward``).

>>> import torch
>>> class Net(torch.nn.Module):
...     def __init__(self):
...         super().__init__()
...         self.a, self.b = torch.nn.Linear(4, 4), torch.nn.Linear(4, 2)
...     def forward(self, x):
...         return self.b(torch.relu(self.a(x)) + x)
>>> rec = GraphRecorder(Net())
>>> _ = rec.model(torch.randn(3, 4))
>>> g = rec.take()
>>> [n["name"] for n in g["nodes"]], g["edges"]
(['input', 'a', 'relu', 'add', 'b'], [['input', 'a'], ['a', 'relu'], ['relu', 'add'], ['input', 'add'], ['add', 'b']])
>>> rec.take() is None  # taken once
True
"""

import weakref

import torch
from torch.overrides import TorchFunctionMode

from tb_nnviz.format import graph as graph_format
from tb_nnviz.log.plan import guarded_part
from tb_nnviz.log.torch_activations import ACTIVATION_FUNCTIONS, _module_kind

#: Torch calls that pass their input through unchanged in what a reader of the
#: diagram cares about: their output stays mapped to their input's node.
PASS_THROUGH = frozenset("""__getitem__ contiguous to float double half bfloat16 type type_as detach clone
cpu cuda requires_grad_ expand expand_as unsqueeze squeeze""".split())
#: Functional operations drawn as nodes under a common name.
RENAMED = {"__add__": "add", "__iadd__": "add", "__radd__": "add", "add_": "add",
           "__mul__": "mul", "__imul__": "mul", "__rmul__": "mul", "mul_": "mul",
           "__sub__": "sub", "__isub__": "sub", "__rsub__": "sub", "sub_": "sub",
           "__truediv__": "div", "__itruediv__": "div", "__matmul__": "matmul"}
#: Nodes recorded at most (a longer forward is cut; ``graph.encode`` marks the record truncated).
MAX_NODES = graph_format.MAX_NODES


def _safely(hook):
    """``hook`` with its errors kept in ``recorder.error`` (the recording stops) instead of raised."""
    def run(recorder, *args):
        if recorder.error is not None:
            return None
        try:
            return hook(recorder, *args)
        except Exception as e:  # noqa: BLE001  (any error of ours must leave the model's forward alone)
            recorder.error = e
            recorder._global, handles = [], recorder._global
            for h in handles:
                h.remove()
        return None
    run.__doc__ = hook.__doc__
    return run


class GraphRecorder:
    """Records the graph of ``model``'s next forward pass; :meth:`take` returns it once.

    Args:
      model: the ``torch.nn.Module`` (DDP- or ``torch.compile``-wrapped too: a
        compiled graph is not entered, so its modules are listed in definition
        order with ``connections: "unknown"``).
      clean: ``named_modules()`` name -> logged name (default: ``/`` for ``.``).
    """

    def __init__(self, model, clean=None):
        self.model = model
        clean = clean or (lambda n: n.replace(".", "/"))
        self._names = {id(m): clean(n) for n, m in model.named_modules()}
        self._record = None
        self._taken = False
        self.error = None  # what broke the recording, if anything
        self._handles = [model.register_forward_pre_hook(self._root_pre, with_kwargs=True),
                         model.register_forward_hook(self._root_post, always_call=True)]
        self._global = []
        self._mode = None
        if isinstance(model, torch._dynamo.eval_frame.OptimizedModule):
            self._remove_hooks()
            self._record = _definition_graph(model, self._names)

    def take(self):
        """The record (a dict, ``tb_nnviz.format.graph``) once the forward ran; None before and after.

        Raises:
          RuntimeError: recording failed (once; the forward itself ran on: the hooks catch their errors).
        """
        if self._taken or (self._record is None and self.error is None):
            return None
        self._taken = True
        self._remove_hooks()
        if self.error is not None:
            raise RuntimeError("recording the model graph failed: %s: %s"
                               % (type(self.error).__name__, self.error)) from self.error
        return self._record

    def write(self, writer, step, strict=False):
        """Logs the record through ``writer`` (a ``tb_nnviz.Writer``) at ``step`` once it is there.

        A failed recording warns that the graph is not logged (raises when ``strict``).
        """
        def write():
            record = self.take()
            if record is not None:
                writer.log_graph(step, record)

        guarded_part(write, strict, "tb_nnviz.torch.watch", "the model graph")

    def close(self):
        """Removes every hook (a forward in progress is left as it is)."""
        self._leave()
        self._remove_hooks()

    def _remove_hooks(self):
        for h in self._handles + self._global:
            h.remove()
        self._handles, self._global = [], []

    # -- the recorded forward (each hook catches its errors: training never dies for a picture) ----

    @_safely
    def _root_pre(self, module, args, kwargs):
        if self._record is not None or self._mode is not None:
            return
        self._nodes, self._blocks, self._edges, self._edge_set, self._drawn = [], {}, [], set(), set()
        self._calls, self._made, self._stack, self._leaf = {}, {}, [], 0
        for x in _tensors((args, kwargs)):
            name = graph_format.unique(self._calls, "input")
            self._produce(x, [self._add(name, "Input", None, outputs=[x], dtype=x)])
        hooks = torch.nn.modules.module
        self._global = [hooks.register_module_forward_pre_hook(self._pre),
                        hooks.register_module_forward_hook(self._post, always_call=True)]
        self._mode = _Mode(self)
        self._mode.__enter__()

    def _root_post(self, module, args, output):
        self._leave()  # always, even after an error: the mode must not outlive the forward
        if self.error is not None or self._record is not None or not hasattr(self, "_nodes"):
            return
        try:
            if not any(True for _ in module.children()):  # the model is one module: one node
                self._module_node(module, "", args, output, None)
            nodes, edges = _prune(self._nodes, self._edges, self._sources(output))
            self._record = {"framework": "torch", "model": type(_unwrap(module)).__name__,
                            "connections": "known", "nodes": nodes, "blocks": list(self._blocks.values()),
                            "edges": edges}
        except Exception as e:  # noqa: BLE001  (as in _safely)
            self.error = e
        self._made = {}

    def _leave(self):
        for h in self._global:
            h.remove()
        self._global = []
        if self._mode is not None:
            mode, self._mode = self._mode, None
            mode.__exit__(None, None, None)

    @_safely
    def _pre(self, module, args):
        # A wrapper's model (DDP's ``module``, ``torch.compile``'s ``_orig_mod``) is named "" as the model.
        if id(module) not in self._names or module is self.model or not self._names[id(module)]:
            return
        leaf = not any(True for _ in module.children())
        if self._leaf:  # inside a node: not drawn
            self._leaf += 1
            return
        if leaf:
            self._leaf = 1
        if self._stack:
            self._stack[-1]["called"] = True
        self._stack.append({"module": module, "args": args, "called": False, "mark": len(self._nodes),
                            "calls": dict(self._calls), "edges": len(self._edges)})

    @_safely
    def _post(self, module, args, output):
        if id(module) not in self._names or module is self.model or not self._stack or not self._names[id(module)]:
            return
        if self._leaf > 1:
            self._leaf -= 1
            return
        frame = self._stack[-1]
        if frame["module"] is not module:
            return
        self._stack.pop()
        self._leaf = 0
        parent = self._parent()
        name = self._names[id(module)]
        if not frame["called"]:
            # A leaf, or a module whose children were not called (MultiheadAttention): one node, and what
            # its forward's torch calls drew is dropped.
            self._drawn.difference_update(n["name"] for n in self._nodes[frame["mark"]:])
            del self._nodes[frame["mark"]:]
            for e in self._edges[frame["edges"]:]:
                self._edge_set.discard(tuple(e))
            del self._edges[frame["edges"]:]
            self._calls = frame["calls"]
            self._module_node(module, name, frame["args"], output, parent)
        elif name not in self._blocks:
            own = [p for p in module.parameters(recurse=False)]
            self._blocks[name] = {"name": name, "type": type(module).__name__, "parent": parent,
                                  "params": _count(own), "trainable": graph_format.trainable_of(
                                      p.requires_grad for p in own)}

    def _parent(self):
        """The innermost block on the stack (None: the model itself)."""
        return self._names[id(self._stack[-1]["module"])] if self._stack else None

    def _module_node(self, module, name, args, output, parent):
        params = [p for p in module.parameters() if not isinstance(p, torch.nn.parameter.UninitializedParameter)]
        outs = _tensors(output)
        node = self._add(graph_format.unique(self._calls, name or type(module).__name__), type(module).__name__, parent,
                         layer=name, activation=_module_kind(module), inputs=_tensors(args), outputs=outs,
                         params=_count(params), trainable=graph_format.trainable_of(p.requires_grad for p in params))
        self._link(args, node)
        for t in outs:
            self._produce(t, [node])

    @_safely
    def _function(self, func, args, kwargs, output):
        """A torch call outside any node's module returned ``output``: draw it, or pass its inputs through."""
        if self.error is not None or self._leaf or len(self._nodes) >= MAX_NODES:
            return
        outs = _tensors(output)
        sources = self._sources((args, kwargs))
        if not outs or not sources:
            return  # not on the data's path (shapes, masks made from nothing we drew)
        fname = getattr(func, "__name__", None) or "op"
        if fname in PASS_THROUGH:
            for t in outs:
                self._produce(t, sources)
            return
        op = RENAMED.get(fname, fname.strip("_"))
        parent = self._parent()
        node = self._add(graph_format.unique(self._calls, parent + "/" + op if parent else op), op, parent,
                         layer=parent or "", activation=ACTIVATION_FUNCTIONS.get(func),
                         inputs=_tensors((args, kwargs)), outputs=outs, function=True)
        self._link((args, kwargs), node)
        for t in outs:
            self._produce(t, [node])

    # -- bookkeeping ------------------------------------------------------------

    def _add(self, name, type_, parent, *, layer=None, activation=None, inputs=(), outputs=(), dtype=None,
             params=0, trainable=None, function=False):
        first = dtype if dtype is not None else (outputs[0] if outputs else None)
        self._nodes.append(graph_format.node(
            name, type_, layer=layer, parent=parent, activation=activation,
            inputs=[list(t.shape) for t in inputs], outputs=[list(t.shape) for t in outputs],
            dtype=None if first is None else str(first.dtype).replace("torch.", ""),
            params=params, trainable=trainable, function=function))
        self._drawn.add(name)
        return name

    def _produce(self, tensor, nodes):
        self._made[id(tensor)] = (weakref.ref(tensor), tuple(nodes))

    def _sources(self, value):
        out = []
        for t in _tensors(value):
            entry = self._made.get(id(t))
            if entry is not None and entry[0]() is t:
                out.extend(n for n in entry[1] if n not in out and n in self._drawn)
        return out

    def _link(self, value, node):
        for src in self._sources(value):
            if (src, node) not in self._edge_set:
                self._edge_set.add((src, node))
                self._edges.append([src, node])


class _Mode(TorchFunctionMode):
    """Hands every torch call of the recorded forward to the recorder."""

    def __init__(self, recorder):
        super().__init__()
        self._recorder = recorder

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        output = func(*args, **kwargs)
        self._recorder._function(func, args, kwargs, output)
        return output


def _prune(nodes, edges, outputs):
    """Drops functions whose results feed nothing and are not outputs (an ``if``'s test: ``sum``, ``gt``)."""
    while True:
        feeds = {e[0] for e in edges} | set(outputs)
        dead = {n["name"] for n in nodes if n["function"] and n["name"] not in feeds}
        if not dead:
            return nodes, edges
        nodes = [n for n in nodes if n["name"] not in dead]
        edges = [e for e in edges if e[1] not in dead]


def _tensors(value, out=None):
    """The tensors in ``value`` (nested tuples, lists and dicts), in order, once each."""
    out = [] if out is None else out
    if torch.is_tensor(value):
        if not any(t is value for t in out):
            out.append(value)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _tensors(v, out)
    elif isinstance(value, dict):
        for v in value.values():
            _tensors(v, out)
    return out


def _count(params):
    return sum(p.numel() for p in params if not isinstance(p, torch.nn.parameter.UninitializedParameter))


def _unwrap(model):
    for attr in ("_orig_mod", "module"):
        if isinstance(getattr(model, attr, None), torch.nn.Module):
            return _unwrap(getattr(model, attr))
    return model


def _definition_graph(model, names):
    """A compiled model's modules in definition order, connections unknown."""
    nodes, blocks = [], {}
    for m in model.modules():
        name = names.get(id(m), "")
        if not name:
            continue
        parent = name.rpartition("/")[0] or None
        if any(True for _ in m.children()):
            blocks[name] = {"name": name, "type": type(m).__name__, "parent": parent}
            continue
        params = list(m.parameters())
        nodes.append(graph_format.node(name, type(m).__name__, parent=parent, activation=_module_kind(m),
                                       params=_count(params),
                                       trainable=graph_format.trainable_of(p.requires_grad for p in params)))
    return {"framework": "torch", "model": type(_unwrap(model)).__name__, "connections": "unknown",
            "nodes": nodes, "blocks": list(blocks.values()), "edges": []}
