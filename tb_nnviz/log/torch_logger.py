"""``ParamLogger``: reduces a PyTorch model's parameters where they live and writes them.

The PyTorch twin of ``tb_nnviz.log.tf_logger.WeightLogger`` (the fixed choices
are shared: ``tb_nnviz.log.plan.LogPlan``). Parameters of one shape, dtype and
device are stacked and reduced together by the backend
``tb_nnviz.reduce.backends.choose`` picks for them (numba's one-pass kernels
for CPU float32/float64, else ``tb_nnviz.reduce.torch_ops`` on their device);
only the small results go to the host. It knows nothing about when to log:
``tb_nnviz.torch.watch`` decides that.

>>> import tempfile, torch
>>> from tb_nnviz import Writer
>>> model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 3))
>>> specs = param_specs(model)
>>> [(s.name, s.layout, s.unit_axis) for s in specs][:2]
[('0/weight', 'transposed', 0), ('0/bias', 'auto', -1)]
>>> with Writer(tempfile.mkdtemp()) as writer:
...     logger = ParamLogger(writer, specs)
...     logger.log(0, heatmaps=True, trajectories=True)
>>> logger.group_count  # (3, 4), (3,) and (3, 3)
3
"""

import functools

import numpy as np
import torch

from tb_nnviz.log.plan import DEFAULT_MAX_TOTAL_CELLS, LogPlan, Weight, selected
from tb_nnviz.reduce import backends, grids, numba_ops, torch_ops
from tb_nnviz.reduce.group import TrajectoryGroup

#: Gate order of PyTorch's recurrent layers along dim 0 of their weights and biases.
GATES = {"LSTM": ["i", "f", "g", "o"], "GRU": ["r", "z", "n"]}
#: Module prefixes wrappers add to parameter names: DDP and DataParallel
#: (``module.``), ``torch.compile`` (``_orig_mod.``).
WRAPPER_PREFIXES = ("module.", "_orig_mod.")


def param_specs(model, include=None, exclude=None, trainable_only=False):
    """The ``Weight`` s to log of ``model``, in ``named_parameters()`` order.

    Names are the parameter names with ``/`` for ``.`` (``layer1/0/conv1/weight``),
    without the prefix a DDP or ``torch.compile`` wrapper adds. Parameters that
    are not real floating tensors of rank >= 1 with entries are skipped. ``include`` and
    ``exclude`` are compiled regexes (``plan.patterns``) on those names.

    Layouts follow PyTorch's conventions so that the tab draws a PyTorch
    weight as it draws the Keras one: ``Linear.weight`` ``(out, in)`` is drawn
    as ``(in, out)`` (``transposed``), conv weights ``(out, in, *k)`` as
    ``(in, out)`` tiles of the kernel (``conv_first``), both with the output
    units on axis 0. ``MultiheadAttention.in_proj_weight`` and ``in_proj_bias``
    get gates ``q, k, v``; LSTM/GRU (and their cells) weights and biases get
    ``i, f, g, o`` / ``r, z, n``. ``ConvTranspose`` weights are
    ``(in, out, *k)``: drawn with ``conv_first`` too, so their tiles are
    (out down, in across), output units on axis 1. Embeddings stay
    ``(num, dim)``. Other parameters of rank 2 are taken as ``(out, in)``,
    of rank >= 3 as channels first.
    """
    owners = {}
    for mod_name, module in model.named_modules():
        for p_name, p in module.named_parameters(recurse=False):
            owners.setdefault(id(p), (module, p_name))
    specs = []
    for full, p in model.named_parameters():
        if trainable_only and not p.requires_grad:
            continue
        if not p.is_floating_point() or p.dim() == 0 or p.numel() == 0:
            continue  # nothing to draw (as the Keras callback): integer, complex, scalar, empty
        name = _clean(full)
        if not selected(name, include, exclude):
            continue
        module, attr = owners[id(p)]
        layout, gates, unit_axis = _layout(module, attr, p)
        specs.append(Weight(name, p, layout, gates, "%s %s" % (module_label(module), attr), unit_axis))
    return specs


def module_label(module):
    """The module's class with its sizes, as a description starts: the tab
    shows it beside names such as ``0/weight``. The description is this label,
    a space and the parameter's attribute (``Linear(20 -> 32) weight``).

    >>> nn = torch.nn
    >>> modules = (nn.Linear(20, 32), nn.Conv2d(3, 16, 3), nn.LSTM(6, 5), nn.Embedding(20, 6), nn.LayerNorm(6))
    >>> [module_label(m) for m in modules]
    ['Linear(20 -> 32)', 'Conv2d(3 -> 16, 3x3)', 'LSTM(6 -> 5)', 'Embedding(20, 6)', 'LayerNorm']
    """
    nn = torch.nn
    kind = type(module).__name__
    if isinstance(module, nn.Linear):
        # MultiheadAttention's out_proj is a Linear under an internal class name.
        kind = "Linear" if kind == "NonDynamicallyQuantizableLinear" else kind
        return "%s(%s -> %s)" % (kind, module.in_features, module.out_features)
    if isinstance(module, nn.modules.conv._ConvNd):
        kernel = "x".join(map(str, module.kernel_size))
        return "%s(%s -> %s, %s)" % (kind, module.in_channels, module.out_channels, kernel)
    if isinstance(module, (nn.RNNBase, nn.RNNCellBase)):
        return "%s(%s -> %s)" % (kind, module.input_size, module.hidden_size)
    if isinstance(module, (nn.Embedding, nn.EmbeddingBag)):
        return "%s(%s, %s)" % (kind, module.num_embeddings, module.embedding_dim)
    if isinstance(module, nn.MultiheadAttention):
        return "%s(%s, %s heads)" % (kind, module.embed_dim, module.num_heads)
    return kind


def _clean(name):
    parts = name.split(".")
    while len(parts) > 1 and parts[0] + "." in WRAPPER_PREFIXES:
        parts = parts[1:]
    return "/".join(parts)


def module_name(name):
    """A ``named_modules()`` name as the logged names spell it: ``/`` for ``.``,
    without the wrapper prefixes (``module/`` of DDP, ``_orig_mod/`` of
    ``torch.compile``); the wrapped model itself is ``""``.

    >>> module_name("module.layer1.0.relu"), module_name("module"), module_name("")
    ('layer1/0/relu', '', '')
    """
    parts = name.split(".") if name else []
    while parts and parts[0] + "." in WRAPPER_PREFIXES:
        parts = parts[1:]
    return "/".join(parts)


def _layout(module, attr, p):
    """``(layout, gates, unit_axis)`` of parameter ``attr`` of ``module``."""
    nn = torch.nn
    rank = p.dim()
    gates = None
    if isinstance(module, (nn.LSTM, nn.LSTMCell)) and not attr.startswith("weight_hr"):
        gates = GATES["LSTM"]
    elif isinstance(module, (nn.GRU, nn.GRUCell)):
        gates = GATES["GRU"]
    elif isinstance(module, nn.MultiheadAttention) and attr in ("in_proj_weight", "in_proj_bias"):
        gates = ["q", "k", "v"]
    if rank == 1:
        return "auto", gates, -1
    if isinstance(module, (nn.Embedding, nn.EmbeddingBag)):
        return "matrix", None, -1
    if isinstance(module, (nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._NormBase)):
        return "split:%d" % (rank - 1), None, -1
    if rank == 2:
        return "transposed", gates, 0
    unit_axis = 1 if isinstance(module, nn.modules.conv._ConvTransposeNd) else 0
    return "conv_first", gates, unit_axis


def dtype_name(dtype):
    """``"float32"`` for ``torch.float32``: the dtype names the numpy writer records."""
    return str(dtype).replace("torch.", "")


#: Elements of one batch of pooled heatmaps (their float64 grid: 16 MiB). Larger
#: groups are pooled in batches of whole tensors; a tensor larger than this
#: is one batch on its own. Trajectory points go through in smaller pieces
#: (``torch_ops.PIECE``).
BATCH_ELEMENTS = 2**21


def one_thread(method):
    """Runs ``method`` with one intra-op thread (then restores the count).

    The reductions are a few hundred ops over cache-sized pieces: split over
    threads, each op waits for the slowest thread, and on a busy machine a
    descheduled thread stalls every op for a scheduler tick. Measured on 2
    loaded cores: ResNet-18's logged step took up to 20x longer with 2
    threads than with 1, and the eigendecomposition of its 3x3x512x512
    kernels' Gram matrices 2.4-7.8 s instead of 0.3 s. One thread costs
    little on an idle machine: the pieces stream at memory speed.
    """
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        threads = torch.get_num_threads()
        if threads == 1:
            return method(*args, **kwargs)
        torch.set_num_threads(1)
        try:
            return method(*args, **kwargs)
        finally:
            torch.set_num_threads(threads)
    return wrapper


class ParamLogger:
    """Logs heatmaps and trajectory points of PyTorch parameters through ``writer``.

    Args:
      writer: a ``tb_nnviz.Writer``; its ``max_cells``, ``num_traces``,
        ``sketch_dim`` and ``seed`` apply.
      weights: ``Weight`` s (``variable`` a tensor or parameter) in network order.
      heatmaps, trajectories, spectra: whether this logger will ever log each
        kind (spectra: the eigenvalues of ``W^T W`` of each matrix and conv
        weight, ``tb_nnviz.reduce.torch_ops.eigenvalues``; default False).
      max_total_cells: model-wide budget of heatmap values per logged step.
      one_pass: True (default) lets ``backends.choose`` reduce CPU float32/float64
        parameters with ``tb_nnviz.reduce.numba_ops`` (one pass over each) when
        numba is installed; False takes the torch ops everywhere. An attribute,
        read at each step.

    Attributes:
      group_count: how many stacks of same-shaped parameters are reduced.
      extra_bytes: memory held between steps: the previous values (one copy of
        the parameters), the sketch signs (1 byte per parameter) and the
        workspace (``torch_ops.Workspace``: 6 MiB of trajectory pieces,
        and the float64 grid of the largest batch of pooled heatmaps, up to
        ``8 * BATCH_ELEMENTS`` bytes or 8 bytes per entry of the largest
        pooled tensor).
    """

    def __init__(self, writer, weights, *, heatmaps=True, trajectories=True,
                 max_total_cells=DEFAULT_MAX_TOTAL_CELLS, spectra=False, one_pass=True):
        weights = [Weight(*w) for w in weights]
        for w in weights:
            t = w.variable
            if not t.is_floating_point() or t.dim() == 0 or t.numel() == 0:
                raise grids.TensorError(
                    "tensor %r (dtype %s, shape %s) cannot be logged: only floating tensors of "
                    "rank >= 1 with entries" % (w.name, dtype_name(t.dtype), list(t.shape)))
            if t.device.type == "mps":
                raise grids.TensorError(
                    "tensor %r is on 'mps', which has no float64 for the reductions; "
                    "log a CPU copy of the model instead" % w.name)
        self.weights = weights
        self._plan = plan = LogPlan(
            writer, weights, [tuple(w.variable.shape) for w in weights],
            [dtype_name(w.variable.dtype) for w in weights], heatmaps=heatmaps,
            trajectories=trajectories, max_total_cells=max_total_cells,
            stack_key=lambda i: str(weights[i].variable.device), spectra=spectra)
        self.one_pass = one_pass
        # Per trajectory group: its TrajectoryGroup, its constants on the device, and the values at
        # the previous point (once logged).
        self._traj = [TrajectoryGroup([plan.traj[i][0] for i in sub]) for sub in plan.traj_groups]
        self._constants = [torch_ops.constants(group, self._device(sub))
                           for group, sub in zip(self._traj, plan.traj_groups)]
        self._previous = [None] * len(self._traj)
        self._work = {}
        self._grads = None
        self._has_previous = False
        self.group_count = len(plan.stacks)

    @property
    def extra_bytes(self):
        """Bytes held between steps (after the first logged step): previous values, sign flips, workspace."""
        held = [w.nbytes for w in self._work.values()]
        held += [sum(t.numel() * t.element_size() for t in c.values() if t is not None) for c in self._constants]
        held += [p.numel() * p.element_size() for p in self._previous if p is not None]
        return sum(held)

    @property
    def names(self):
        """The logged names, in network order."""
        return self._plan.names

    @torch.no_grad()
    @one_thread
    def capture_gradients(self):
        """Takes each parameter's gradient sum of squares now, for the next :meth:`log`.

        Call it after ``backward()`` and before the optimizer step (the
        watcher's optimizer pre-hook does); a parameter without ``.grad``
        gets NaN. Only ``[G]`` scalars per group are kept.
        """
        self._grads = [self._grad_sumsq(sub) for sub in self._plan.traj_groups]

    @torch.no_grad()
    @one_thread
    def log(self, step, heatmaps, trajectories, spectra=False):
        """Reduces every parameter now and writes the results as step ``step``.

        Gradients captured since the last logged trajectory point go into
        this step's points, then are dropped.
        """
        plan = self._plan
        heatmaps, trajectories, spectra = plan.kinds(heatmaps, trajectories, spectra)
        if not (heatmaps or trajectories or spectra):
            return
        heatmaps, trajectories = plan.check_finite(step, heatmaps, trajectories, self._finite,
                                                   self._previous_values)
        heat, traj, grads = self._reduce(heatmaps, trajectories)
        spec = [self._eigenvalues(sub) for sub in plan.spec_groups] if spectra else None
        plan.write(step, heat, traj, self._has_previous, grads, spectra=spec)
        self._has_previous = self._has_previous or trajectories

    def _reduce(self, heatmaps, trajectories):
        """``(heatmap planes, trajectory parts, gradient sums of squares)`` for ``LogPlan.write``."""
        heat = [[self._heatmaps(sub) for sub in subgroups] for subgroups in self._plan.heat_groups] if heatmaps else []
        traj, grads = [], None
        if trajectories:
            traj = [self._points(k) for k in range(len(self._traj))]
            if self._grads is not None:
                grads = [np.asarray(g.cpu() if torch.is_tensor(g) else g) for g in self._grads]
            self._grads = None
        return heat, traj, grads

    def _finite(self):
        """Whether every parameter is finite now: one sum per parameter, one sync per stack."""
        for members in self._plan.stacks:
            params = self._params(members)
            if not bool(torch.isfinite(torch.stack([p.sum() for p in params])).all()):
                # An overflowing sum of finite values, or a NaN/Inf: value by value.
                if not all(bool(torch.isfinite(p).all()) for p in params):
                    return False
        return True

    def _previous_values(self):
        """Each parameter's value at the last trajectory point as a numpy array (None without one)."""
        numpy = (torch.float16, torch.float32, torch.float64)  # else (bfloat16) through float32
        return self._plan.by_weight(
            [(sub, (p if p.dtype in numpy else p.float()).cpu().numpy())
             for sub, p in zip(self._plan.traj_groups, self._previous) if self._has_previous])

    def _eigenvalues(self, sub):
        """Eigenvalues ``[G, slices, evals]`` (numpy) of the members of one spectrum group."""
        content = self._plan.spec[sub[0]]
        return np.concatenate([torch_ops.eigenvalues(torch.stack(self._params(batch)), content).cpu().numpy()
                               for batch in self._batches(sub)])

    def _heatmaps(self, sub):
        """Planes ``[G, P, R, C]`` (numpy) of the members of one heatmap subgroup."""
        content = self._plan.heat[sub[0]]
        backend = self._backend(sub)
        if backend is numba_ops:
            return numba_ops.heatmap_planes([t.numpy() for t in self._params(sub)], content)
        return np.concatenate([
            backend.heatmap_planes(self._params(batch), content, self._workspace(batch)).cpu().numpy()
            for batch in self._batches(sub)])

    def _points(self, k):
        """``(raw, sample, traces, sketch)`` (numpy) of trajectory group ``k``; keeps the values as previous."""
        sub, group, previous = self._plan.traj_groups[k], self._traj[k], self._previous[k]
        params = self._params(sub)
        keep = previous
        if keep is None:
            keep = self._previous[k] = torch.empty((len(sub), group.size), dtype=params[0].dtype,
                                                   device=params[0].device)
        backend = self._backend(sub)
        if backend is numba_ops and keep.device == params[0].device:
            host = numba_ops.constants(group)  # the numpy arrays the CPU constants share
            parts = numba_ops.raw_points([t.numpy() for t in params], None if previous is None else previous.numpy(),
                                         group, host, keep=keep.numpy())
            return list(parts)
        parts = torch_ops.raw_points(params, previous, group, self._constants[k], self._workspace(sub), keep=keep)
        return [t.cpu().numpy() for t in parts]

    def _grad_sumsq(self, sub):
        """Float64 ``[G]`` gradient sums of squares of trajectory group ``sub`` (NaN where ``.grad`` is None)."""
        grads = [self.weights[i].variable.grad for i in sub]
        first = self.weights[sub[0]].variable
        if self._backend(sub) is numba_ops and all(
                g is None or (g.dtype == first.dtype and g.device == first.device) for g in grads):
            return numba_ops.grad_sumsq([None if g is None else g.detach().numpy() for g in grads])
        return torch_ops.grad_sumsq(grads, self._workspace(sub))

    def _backend(self, members):
        """The backend of a group, from its first member's dtype and device now (``backends.choose``)."""
        t = self.weights[members[0]].variable
        return backends.choose(dtype_name(t.dtype), t.device, "torch", self.one_pass)

    def _params(self, members):
        return [self.weights[i].variable.detach() for i in members]

    def _batches(self, members):
        """``members`` in runs of whole tensors of at most ``BATCH_ELEMENTS`` entries (at least one each)."""
        per = max(1, BATCH_ELEMENTS // self.weights[members[0]].variable.numel())
        return [members[i : i + per] for i in range(0, len(members), per)]

    def _device(self, members):
        return self.weights[members[0]].variable.device

    def _workspace(self, members):
        device = self._device(members)
        return self._work.setdefault(str(device), torch_ops.Workspace(device))
