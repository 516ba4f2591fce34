"""``ActivationRecorder``: activation statistics of one PyTorch forward pass, when armed.

``tb_nnviz.torch.watch`` arms the recorder for the training forward that
precedes a logged optimizer step; nothing of it runs in any other forward.
Arming registers forward hooks (on the model, and two process-wide module
hooks that look only at its modules); the first forward with autograd on
(the training forward, not a validation pass under ``torch.no_grad``) is
recorded and the hooks are removed when it returns, so forward passes
between logged steps run without a single hook of ours.

While a forward is recorded, a ``TorchFunctionMode`` sees every torch call,
so activations are found whether a model uses modules (``nn.ReLU()``) or
functions (``F.relu(x)``, ``x.sigmoid()``) and their kind is the function
actually called, not a guess from a module's class (``ACTIVATION_FUNCTIONS``).
Each is named after the innermost module running it: an activation module
by its own name (``layer1/0/relu``), a function by its module's name and the
function (``block/relu``; ``relu`` in the model's own ``forward``). A second
call of the same name in one forward gets ``:1`` (``layer1/0/relu:1``: ResNet's
blocks call their ``relu`` twice), up to ``MAX_CALLS`` calls.

The statistics (``tb_nnviz.log.activations``) are reduced on the
activation's device with a few torch ops per layer; only the small vectors
go to the host, in one transfer when the step is written. The same forward
gives the model's structure (modules and activation functions in call
order, with parameter counts and output shapes) and the input's statistics.

>>> import torch
>>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
>>> rec = ActivationRecorder(model)
>>> rec.arm(1)
>>> _ = model(torch.randn(16, 4))
>>> [r.name for r in rec.pending.records], [m["name"] for m in rec.structure]
(['1'], ['0', '1', '2'])
>>> rec.armed, len(model[1]._forward_hooks)  # disarmed: the modules' hooks are gone
(False, 0)
>>> rec.take().step, len(model._forward_hooks)  # and the model's own after take()
(1, 0)
"""

import collections
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from tb_nnviz.format import layouts
from tb_nnviz.log import activations as act
from tb_nnviz.reduce import grids

nn = torch.nn

#: Activation modules and their kind (``layouts.ACTIVATION_KINDS``).
MODULE_KINDS = {
    nn.ReLU: "relu", nn.ReLU6: "relu",
    nn.LeakyReLU: "leaky_relu", nn.PReLU: "leaky_relu", nn.RReLU: "leaky_relu",
    nn.ELU: "elu", nn.SELU: "elu", nn.CELU: "elu",
    nn.GELU: "gelu", nn.SiLU: "silu", nn.Mish: "silu", nn.Hardswish: "silu",
    nn.Sigmoid: "sigmoid", nn.Hardsigmoid: "sigmoid",
    nn.Tanh: "tanh", nn.Hardtanh: "tanh", nn.Softsign: "tanh",
    nn.Softmax: "softmax", nn.Softmin: "softmax",
    nn.Softplus: "other",
}


def _functions():
    table = {
        "relu": [F.relu, F.relu_, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_, F.relu6],
        "leaky_relu": [F.leaky_relu, F.leaky_relu_, F.prelu, torch.prelu, F.rrelu, F.rrelu_],
        "elu": [F.elu, F.elu_, F.selu, torch.selu, torch.selu_, F.celu, torch.celu],
        "gelu": [F.gelu],
        "silu": [F.silu, F.mish, F.hardswish],
        "sigmoid": [torch.sigmoid, torch.sigmoid_, torch.Tensor.sigmoid, torch.Tensor.sigmoid_, F.sigmoid,
                    F.hardsigmoid],
        "tanh": [torch.tanh, torch.tanh_, torch.Tensor.tanh, torch.Tensor.tanh_, F.tanh, F.hardtanh,
                 F.hardtanh_, F.softsign],
        "softmax": [F.softmax, torch.softmax, torch.Tensor.softmax, F.softmin],
        "other": [F.softplus],
    }
    return {fn: kind for kind, fns in table.items() for fn in fns}


#: Functions whose outputs are activations, and their kind. ``nn.ReLU6`` calls
#: ``F.hardtanh``: the module's kind (``MODULE_KINDS``) wins over the function's.
ACTIVATION_FUNCTIONS = _functions()
#: Modules after which an activation of rank >= 3 has its units on axis 1
#: (``[B, C, ...]``); after any other module, on the last axis (``[B, T, D]``).
CHANNELS_FIRST = (nn.modules.conv._ConvNd, nn.modules.batchnorm._NormBase, nn.GroupNorm,
                  nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd)
#: Calls of one name recorded per forward (an RNN cell in a loop calls its tanh once per time step).
MAX_CALLS = 4
#: Activations recorded per forward, at most.
MAX_RECORDS = 512

#: One recorded activation: its name, kind, module label, unit axis, shape, raw
#: device statistics (``activation_raw``; :func:`finish` turns them into the
#: fields) and the heatmap matrix on the device (or None).
Record = collections.namedtuple("Record", "name kind module unit_axis shape raw matrix")


class Capture:
    """What one recorded forward gave: ``step``, ``records``, the input's ``input`` (shape, raw stats) or None."""

    def __init__(self, step, heatmaps):
        self.step, self.heatmaps = step, heatmaps
        self.records, self.input = [], None


class ActivationRecorder:
    """Records activation statistics of the next training forward of ``model`` once armed.

    Args:
      model: the ``torch.nn.Module`` (DDP- or ``torch.compile``-wrapped too).
      names: ``{id(module): name}``; default: ``clean`` of the
        ``named_modules()`` names (default: ``/`` for ``.``;
        ``tb_nnviz.torch.watch`` passes ``torch_logger.module_name``, which
        also drops a wrapper's prefix, as the parameters are named).
      samples: rows of an activation heatmap (the first samples of the batch).

    A ``torch.compile``d model's compiled graph is not entered: only its
    input is recorded, and its structure is taken from ``named_modules()``
    (definition order, without output shapes).

    Attributes:
      pending: the ``Capture`` of the last recorded forward, until taken.
      structure: the modules in call order after the first recorded forward, else None.
      armed: whether the next training forward will be recorded.
      hooked_forwards: forward passes that ran while armed (the recorded
        one, and passes under ``torch.no_grad`` before it).
    """

    def __init__(self, model, names=None, clean=None, samples=layouts.ACTIVATION_HEATMAP_SAMPLES):
        self.model = model
        self.samples = int(samples)
        clean = clean or (lambda n: n.replace(".", "/"))
        self._names = names or {id(m): clean(n) for n, m in model.named_modules()}
        self.compiled = isinstance(model, torch._dynamo.eval_frame.OptimizedModule)
        self._handles = []  # the process-wide module hooks (armed only)
        self._root_handles = []  # the model's own: removed at the next take() (not while torch runs them)
        self._want = None  # (step, heatmaps) of the forward to record
        self._capture = None  # the Capture being recorded
        self._mode = None
        self._stack = []
        self._calls = {}
        self._channels_first = False
        self._seen = set()  # structure: modules and function names listed
        self._building = None  # structure being recorded (the first forward)
        self.pending = None
        self.structure = None
        self.hooked_forwards = 0
        self._rows = {}  # layer -> rows of its activation heatmap
        self._entries = {}  # id(module) -> its structure entry, until its output is known
        # id(module) -> whether an activation after it has its units on axis 1 (True) or last
        # (False); modules that do not change that (containers, activations) are absent.
        self._layout = {}
        for m in model.modules():
            if isinstance(m, CHANNELS_FIRST):
                self._layout[id(m)] = True
            elif _module_kind(m) is None and not any(True for _ in m.children()):
                self._layout[id(m)] = False

    @property
    def armed(self):
        return self._want is not None

    def arm(self, step, heatmaps=False):
        """Records the next training forward as step ``step`` (with heatmap matrices when ``heatmaps``)."""
        self._drop_root_hooks()
        self._want = (int(step), bool(heatmaps))
        root = self.model
        self._root_handles = [root.register_forward_pre_hook(self._root_pre, with_kwargs=True),
                              root.register_forward_hook(self._root_post, always_call=True)]
        if not self.compiled and not self._handles:
            # Two process-wide module hooks while armed (filtered to this model's modules) instead of two
            # per module: registering hundreds of hooks at every logged step cost more than the statistics.
            module_hooks = torch.nn.modules.module
            self._handles = [module_hooks.register_module_forward_pre_hook(self._pre),
                             module_hooks.register_module_forward_hook(self._post, always_call=True)]

    def disarm(self):
        """Removes the hooks (and leaves a recording in progress)."""
        self._want = None
        self._finish()
        self._drop_hooks()
        self._drop_root_hooks()

    def take(self):
        """The pending ``Capture`` (or None), which is then dropped."""
        if self._want is None:
            self._drop_root_hooks()
        capture, self.pending = self.pending, None
        return capture

    def _drop_hooks(self):
        for h in self._handles:
            h.remove()
        self._handles = []

    def _drop_root_hooks(self):
        for h in self._root_handles:
            h.remove()
        self._root_handles = []

    def write(self, writer, capture, step):
        """Writes ``capture`` through ``writer`` as step ``step``: one activation record
        per layer (and the input), and the activation heatmaps when it has them.

        All statistics reach the host in one transfer per device. Returns the
        input's ``{"mean", "std", "min", "max", "nan_count", "shape", "dtype"}`` or None.
        """
        raws = [r.raw for r in capture.records] + ([capture.input[2]] if capture.input else [])
        host = _to_host(raws)
        records, heat, description, info = [], [], {}, None
        if capture.input is not None:
            shape, dtype, _ = capture.input
            content = writer.activation_content(act.INPUT_NAME, "input", shape, None, order=0)
            values = finish_input(host[-1], shape)
            records.append((content, values))
            info = dict(zip(layouts.INPUT_FIELDS, values.tolist()), shape=list(shape), dtype=dtype)
        for i, r in enumerate(capture.records):
            units = 1 if r.unit_axis is None else r.shape[r.unit_axis]
            content = writer.activation_content(r.name, r.kind, r.shape, r.unit_axis, r.module, order=i + 1)
            records.append((content, finish(host[i], r.kind, r.shape, r.unit_axis)))
            if r.matrix is not None:
                # The sample axis is fixed by the layer's first heatmap; a smaller batch leaves NaN rows.
                rows = self._rows.setdefault(r.name, min(r.shape[0], self.samples))
                m = np.full((rows, units), np.nan)
                got = r.matrix.cpu().numpy()[:rows]
                m[: len(got)] = got
                hc = writer.heatmap_content(act.heatmap_name(r.name), m.shape, "float32", "matrix",
                                            of="activations")
                heat.append((hc, grids.heatmap_planes(m, hc)))
                description[hc["name"]] = act.description(r.module, rows)
        writer.write_reduced(step, heat, description=description, activations=records)
        return info

    # -- hooks ------------------------------------------------------------------

    def _root_pre(self, module, args, kwargs):
        if self._want is None:
            return
        self.hooked_forwards += 1
        if self._capture is not None or not torch.is_grad_enabled():
            return
        step, heatmaps = self._want
        self._capture = Capture(step, heatmaps)
        self._stack, self._calls, self._channels_first = [], {}, False
        x = _first_float(args, kwargs)
        if x is not None:
            self._capture.input = (tuple(x.shape), str(x.dtype).replace("torch.", ""), input_raw(x))
        if self.structure is None:
            self._building, self._seen = [], set()
            if self.compiled:
                self._building = _definition_structure(self.model, self._names)
        if not self.compiled:
            self._mode = _Mode(self)
            self._mode.__enter__()

    def _root_post(self, module, args, output):
        if self._capture is not None:
            # Runs also when the forward raised (``always_call``): the mode is left either way.
            self._want = None
            self._finish()
            self._drop_hooks()

    def _finish(self):
        if self._mode is not None:
            mode, self._mode = self._mode, None
            mode.__exit__(None, None, None)
        if self._capture is not None:
            self.pending, self._capture = self._capture, None
            if self._building is not None:
                self.structure, self._building = self._building, None

    def _pre(self, module, args):
        if self._capture is None or id(module) not in self._names:
            return
        self._stack.append(module)
        if self._building is not None and id(module) not in self._seen and (
                not any(True for _ in module.children()) or any(True for _ in module.parameters(recurse=False))):
            if module is self.model and any(True for _ in module.children()):
                return
            self._seen.add(id(module))
            entry = {"name": self._names.get(id(module), ""), "type": type(module).__name__, "params": 0}
            kind = _module_kind(module)
            if kind is not None:
                entry["activation"] = kind
            self._building.append(entry)
            self._entries[id(module)] = entry  # the post-hook adds the output shape

    def _post(self, module, args, output):
        if self._capture is None or id(module) not in self._names:
            return
        if self._stack and self._stack[-1] is module:
            self._stack.pop()
        layout = self._layout.get(id(module))
        if layout is not None:
            self._channels_first = layout
        entry = self._entries.pop(id(module), None)
        if entry is not None:
            entry["params"] = _param_count(module)  # after the forward: a lazy module's are shaped now
            t = _first_tensor(output)
            if t is not None:
                entry["output_shape"] = list(t.shape)

    def _activation(self, func, output):
        """A function of ``ACTIVATION_FUNCTIONS`` returned ``output``: record it."""
        capture = self._capture
        if not torch.is_tensor(output) or not output.is_floating_point() or output.numel() == 0 \
                or len(capture.records) >= MAX_RECORDS:
            return
        owner = self._stack[-1] if self._stack else self.model
        owner_name = self._names.get(id(owner), "")
        kind = _module_kind(owner)
        if kind is not None:
            name, label = owner_name or kind, type(owner).__name__
        else:
            fname = getattr(func, "__name__", "activation").rstrip("_")
            kind = ACTIVATION_FUNCTIONS[func]
            name = owner_name + "/" + fname if owner_name else fname
            label = "F." + fname
        calls = self._calls.get(name, 0)
        self._calls[name] = calls + 1
        if calls >= MAX_CALLS:
            return
        if calls:
            name = "%s:%d" % (name, calls)
        if self._building is not None and kind is not None and label.startswith("F.") and name not in self._seen:
            self._seen.add(name)
            self._building.append({"name": name, "type": label, "activation": kind, "params": 0,
                                   "function": True, "output_shape": list(output.shape)})
        axis = None if output.dim() < 2 else (1 if output.dim() == 2 or self._channels_first else output.dim() - 1)
        with torch.no_grad():
            raw = activation_raw(output, kind, axis)
            matrix = heatmap_matrix(output, axis, self.samples) if capture.heatmaps else None
        capture.records.append(Record(name, kind, label, axis, tuple(output.shape), raw, matrix))


class _Mode(TorchFunctionMode):
    """Sees every torch call of a recorded forward and hands activations to the recorder."""

    def __init__(self, recorder):
        super().__init__()
        self._recorder = recorder

    def __torch_function__(self, func, types, args=(), kwargs=None):
        output = func(*args, **(kwargs or {}))
        if func in ACTIVATION_FUNCTIONS and self._recorder._capture is not None:
            self._recorder._activation(func, output)
        return output


def _module_kind(module):
    for cls in type(module).__mro__:
        if cls in MODULE_KINDS:
            return MODULE_KINDS[cls]
    return None


def _param_count(module):
    """Entries of the module's own parameters (a lazy module's not yet shaped count 0)."""
    return sum(p.numel() for p in module.parameters(recurse=False)
               if not isinstance(p, nn.parameter.UninitializedParameter))


def _first_tensor(value):
    if torch.is_tensor(value):
        return value
    if isinstance(value, (list, tuple)):
        for v in value:
            t = _first_tensor(v)
            if t is not None:
                return t
    if isinstance(value, dict):
        return _first_tensor(list(value.values()))
    return None


def _first_float(args, kwargs):
    """The first floating-point tensor among a forward's arguments (the model's input), or None."""
    for v in list(args) + list(kwargs.values()):
        if torch.is_tensor(v):
            return v if v.is_floating_point() and v.numel() else None
    return None


def _definition_structure(model, names):
    out = []
    for m in model.modules():
        if any(True for _ in m.children()) and not any(True for _ in m.parameters(recurse=False)):
            continue
        entry = {"name": names.get(id(m), ""), "type": type(m).__name__, "params": _param_count(m)}
        if _module_kind(m) is not None:
            entry["activation"] = _module_kind(m)
        out.append(entry)
    return out


def _reduce_dtype(x):
    return torch.float32 if x.device.type == "mps" else torch.float64


def _moments(x):
    """``[sum, L2 norm]`` of ``x`` accumulated in float64 (float32 on ``mps``): two cheap passes
    (``torch.std_mean`` took 5-10 times longer on the CPU); mean and std follow on the host."""
    acc = torch.float32 if x.device.type == "mps" else torch.float64
    return [x.sum(dtype=acc), torch.linalg.vector_norm(x, dtype=acc)]


def activation_raw(x, kind, axis):
    """Device reduction of one activation: ``[sum, L2 norm, min per unit, max per unit, nonzero
    entries, NaNs, saturated entries]``, small tensors on ``x``'s device (:func:`finish` makes the fields).

    Five to six cheap passes over ``x``, one op each (two more for a sigmoid or
    tanh); everything else follows on the host from the small results. A
    ``relu`` output is >= 0, so its units' minima are not needed (a unit is
    dead when its maximum is 0) and ``sign(x)`` counts its nonzero entries. On
    the CPU, nonzero entries are counted as ``sum(|sign(x)|)`` and NaNs only
    when the sum says there are any (bool reductions are several times slower
    there).
    """
    x = x.detach()
    if x.dtype not in (torch.float32, torch.float64):
        x = x.float()  # half and bfloat16 outputs (autocast): reduce in float32
    dims = None if axis is None else [d for d in range(x.dim()) if d != axis]
    high = x.amax().reshape(1) if dims is None else x.amax(dim=dims)
    low = None if kind == "relu" else (x.amin().reshape(1) if dims is None else x.amin(dim=dims))
    total, norm = _moments(x)
    if x.device.type == "cpu" and x.numel() < 2**24 and math.isfinite(total.item()):
        # Exact: a float32 sum of 0s and 1s below 2^24 entries.
        nonzero, nans = (x.sign() if kind == "relu" else x.sign().abs()).sum(), 0
    else:
        nonzero, nans = (x != 0).sum(), x.isnan().sum()
    if kind == "sigmoid":
        saturated = (x < act.SIGMOID_LOW).sum() + (x > act.SIGMOID_HIGH).sum()
    elif kind == "tanh":
        saturated = (x.abs() > act.TANH_HIGH).sum()
    else:
        saturated = 0
    return [total, norm, low, high, nonzero, nans, saturated]


def finish(parts, kind, shape, axis):
    """``layouts.ACTIVATION_FIELDS`` (float64) from :func:`activation_raw`'s parts on the host."""
    total, norm, low, high, nonzero, nans, saturated = parts
    n = int(np.prod(shape))
    mean, std = _mean_std(total, norm, n)
    high = high.reshape(-1)
    low = np.zeros_like(high) if low is None else low.reshape(-1)
    dead = np.count_nonzero((low == 0) & (high == 0)) / len(high)  # a NaN unit is not dead
    abs_max = np.max(np.maximum(np.abs(low), np.abs(high)))  # NaN if a unit holds one
    return np.array([dead, (n - float(nonzero)) / n, float(saturated) / n if kind in act.SATURATING else np.nan,
                     mean, std, abs_max, float(nans)], np.float64)


def _mean_std(total, norm, n):
    """Mean and population std from the float64 sum and L2 norm of ``n`` entries."""
    total, norm = float(total), float(norm)
    mean = total / n
    if not (math.isfinite(mean) and math.isfinite(norm)):
        return mean, math.nan  # NaN or Inf entries (numpy's std is NaN then too)
    return mean, math.sqrt(max(norm * norm / n - mean * mean, 0.0))


def input_raw(x):
    """The model input's ``[sum, L2 norm, min, max, NaNs]`` as small tensors on its device."""
    with torch.no_grad():
        x = x.detach()
        if x.dtype not in (torch.float32, torch.float64):
            x = x.float()
        low, high = torch.aminmax(x)
        return _moments(x) + [low, high, x.isnan().sum()]


def finish_input(parts, shape):
    """``layouts.INPUT_FIELDS`` (float64) from :func:`input_raw`'s parts on the host."""
    total, norm, low, high, nans = (float(np.asarray(p)) for p in parts)
    mean, std = _mean_std(total, norm, int(np.prod(shape)))
    return np.array([mean, std, low, high, nans], np.float64)


def heatmap_matrix(x, axis, samples):
    """``[min(samples, B), units]``: the first samples, each unit's mean over the other axes (float32)."""
    x = x.detach()[:samples]
    if axis is None:
        return x.float().reshape(-1, 1)
    if axis != 1:
        x = x.movedim(axis, 1)
    x = x.float()
    return x.reshape(x.shape[0], x.shape[1], -1).mean(dim=2) if x.dim() > 2 else x


def _to_host(groups):
    """Lists of tensors (and numbers) as lists of float64 numpy arrays: the CPU's as they are,
    those on another device concatenated and copied to the host once per device."""
    out = [[None] * len(g) for g in groups]
    by_device = collections.defaultdict(list)
    for i, g in enumerate(groups):
        for j, t in enumerate(g):
            if torch.is_tensor(t) and t.device.type != "cpu":
                by_device[t.device].append((i, j, t))
            elif t is not None:
                out[i][j] = np.asarray(t.numpy() if torch.is_tensor(t) else t, np.float64)
    for items in by_device.values():
        flat = torch.cat([t.reshape(-1).to(torch.float64 if t.device.type != "mps" else torch.float32)
                          for _, _, t in items]).cpu().numpy().astype(np.float64)
        offset = 0
        for i, j, t in items:
            out[i][j] = flat[offset : offset + t.numel()].reshape(t.shape)
            offset += t.numel()
    return out


def optimizer_config(optimizer):
    """The optimizer's class and its public configuration, JSON-able.

    Top-level keys are the first parameter group's (``lr``, ``momentum``,
    ``betas``, ``weight_decay``, ``nesterov`` ... as torch names them), falling
    back to ``optimizer.defaults``; ``param_groups`` lists every group's, with
    the number of parameter entries in ``params``. Values that are not numbers, strings,
    booleans or lists of those (closures, tensors of many entries) are left out.

    >>> opt = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1, momentum=0.9)
    >>> c = optimizer_config(opt)
    >>> c["class"], c["lr"], c["momentum"], c["param_groups"][0]["params"]
    ('SGD', 0.1, 0.9, 6)
    """
    groups = []
    for g in optimizer.param_groups:
        conf = {k: _scalar(v) for k, v in g.items() if k != "params"}
        conf = {k: v for k, v in conf.items() if v is not _SKIP}
        conf["params"] = sum(p.numel() for p in g["params"] if not isinstance(p, nn.parameter.UninitializedParameter))
        groups.append(conf)
    defaults = {k: _scalar(v) for k, v in getattr(optimizer, "defaults", {}).items()}
    config = {k: v for k, v in defaults.items() if v is not _SKIP}
    if groups:
        config.update({k: v for k, v in groups[0].items() if k != "params"})
    config["class"] = type(optimizer).__name__
    config["param_groups"] = groups
    return config


_SKIP = object()


def _scalar(v):
    if torch.is_tensor(v):
        return v.item() if v.numel() == 1 else _SKIP
    if isinstance(v, (bool, int, float, str)) or v is None:
        return v
    if isinstance(v, (list, tuple)):
        items = [_scalar(i) for i in v]
        return _SKIP if any(i is _SKIP for i in items) else items
    return _SKIP


def learning_rate(optimizer):
    """The first parameter group's learning rate as a float, or None."""
    if not optimizer.param_groups:
        return None
    lr = optimizer.param_groups[0].get("lr")
    lr = _scalar(lr)
    return float(lr) if isinstance(lr, (int, float)) and not isinstance(lr, bool) else None


