"""Sharded parameters (``DTensor``: FSDP2's ``fully_shard``, tensor parallel): reduced where each shard lives.

Under FSDP2 each rank holds a block of every weight. ``ShardedParamLogger`` runs
on every rank: each reduces its own block into small partial results (sums,
counts, extremes, the units it moved, the sketch by global entry index, the
traced and sampled entries it holds, its gradients' sum of squares, and at
heatmap steps its heatmap cells: per cell the sum and signed absmax of its
entries, ``tb_nnviz.reduce.blocks``), and ONE ``all_gather`` of a flat float64
buffer per logged step combines them, so every rank sees every rank's
partials and its status. Rank 0 finishes them (``trajectory.finish_points``
and ``blocks.merge``, as every writer) and writes. Neither trajectories nor
heatmaps ever gather a weight. Spectra need the whole matrix: at spectral
steps only, each matrix is gathered on rank 0 alone (one ``gather`` of the
ranks' blocks, one matrix at a time) and decomposed there; a matrix larger
than ``MAX_GATHER_BYTES`` is skipped with the reason.

Where the partials are taken: a contiguous block whose output units no
other rank holds (FSDP2's ``Shard(0)``) goes through the one-pass numba
kernels, as an unsharded tensor would; other blocks (``Shard(1)``, a split
across the units) through numpy passes by global index; float16 and bfloat16
shards are converted to float64 first. Both
read the block on the host: a GPU shard is copied there first (the torch ops
path of ``ParamLogger`` is not used for shards yet).

Placements: ``Shard(d)`` and ``Replicate()`` on any mesh, 2-D included when
the mesh dimensions shard different tensor dimensions (FSDP2 over row-wise
tensor parallelism): every rank's part is then a box of the whole tensor
(``local_block``). Not yet: FSDP2 over column-wise tensor parallelism, whose
``_StridedShard`` splits the dimension tensor parallelism already split, in
another order than ``Shard``'s left-to-right nesting (a rank's part can be an
interleaved set of rows: torch's own example gives rows 0 and 2 of 8 to one
of 2 x 2 ranks): warned about and left out. The reductions would serve it once a
rank's part is a product of sorted index lists per dimension instead of a
box (``Block.index``, ``Block._held``, ``blocks._grid_index`` and the
spectral gather's placement take per-dimension indices), the lists coming
from torch's own offsets of each placement.

Every rank takes the same decision at the same step: the cadence is counted
in optimizer steps, ``spectral_freq="auto"`` follows rank 0's budget (its vote
travels in the buffer) and a rank whose reduction failed still joins the
collective with an error flag, after which every rank stops logging at once
(a collective that one rank skips would hang the others).

>>> local_block((7, 5), [Shard(0)], (1,), (2,))  # rank 1 of 2: rows 4..6
((3, 5), (4, 0), True)
>>> local_block((7, 5), [Replicate()], (1,), (2,))[2]  # a copy on rank 1: not counted twice
False
"""

import math
import time
import types

import numpy as np
import torch

from tb_nnviz.log.plan import LogPlan, Weight
from tb_nnviz.log.torch_logger import dtype_name, one_thread
from tb_nnviz.reduce import blocks, numba_ops, torch_ops, trajectory

try:  # torch >= 2.4
    from torch.distributed.tensor import DTensor, Replicate, Shard
except ImportError:  # pragma: no cover - older torch: no DTensor, nothing is sharded
    DTensor = Replicate = Shard = None

#: Scalars of one weight's partials, in buffer order; then its changed units,
#: traced values, sampled values and sketch.
SCALARS = ("sum", "sumsq", "update_sumsq", "centred_sumsq", "count", "min", "max",
           "nan_count", "finite_count", "zero_count", "moved_units", "grad_sumsq", "grad_missing")
_S = {f: i for i, f in enumerate(SCALARS)}
#: The buffer's header: this rank's status (0 ok, 1 failed) and rank 0's spectra vote.
HEADER = 2


class ShardError(RuntimeError):
    """A rank failed to reduce or write its part of a logged step: every rank stops logging."""


def is_sharded(t):
    """Whether ``t`` is a ``DTensor`` (a parameter held in blocks across ranks)."""
    return DTensor is not None and isinstance(t, DTensor)


def sharded_model(model):
    """Whether any of ``model``'s parameters is a ``DTensor``."""
    return any(is_sharded(p) for p in model.parameters())


def unsupported(t):
    """None when ``t``'s placements are supported (``Shard(d)``, ``Replicate()``), else their description."""
    if not is_sharded(t):
        return None
    if all(type(p) is Shard or type(p) is Replicate for p in t.placements):
        return None
    return ", ".join(map(repr, t.placements))


def local_block(shape, placements, coordinate, mesh_shape):
    """``(local shape, global offset, owner)`` of the block a rank holds.

    ``placements`` per mesh dimension (``Shard(d)`` splits dimension ``d`` as
    ``torch.chunk`` does: blocks of ``ceil(n / ranks)``, the last ones smaller
    or empty; ``Replicate()`` copies); ``coordinate`` is the rank's position in
    the mesh of shape ``mesh_shape``. ``owner`` is False for the copies a
    ``Replicate()`` dimension makes beyond coordinate 0, so each entry is
    counted once.
    """
    local, offset = list(shape), [0] * len(shape)
    owner = True
    for place, c, n in zip(placements, coordinate, mesh_shape):
        if type(place) is Replicate:
            owner = owner and c == 0
            continue
        d = place.dim % len(shape)
        chunk = -(-local[d] // n)
        start = min(c * chunk, local[d])
        size = max(0, min(chunk, local[d] - start))
        offset[d] += start
        local[d] = size
    return tuple(local), tuple(offset), owner


def rank_blocks(param, ranks):
    """``[(local shape, global offset, owner)]`` of ``param``'s block on each of ``ranks`` (global ranks).

    A rank outside the parameter's mesh holds nothing; a whole (not
    sharded) tensor counts on the first rank only.
    """
    shape = tuple(param.shape)
    nothing = ((0,) * len(shape), (0,) * len(shape), False)
    if not is_sharded(param):
        return [(shape, (0,) * len(shape), k == 0) for k in range(len(ranks))]
    mesh = param.device_mesh
    layout = mesh.mesh.cpu().numpy()
    out = []
    for r in ranks:
        at = np.argwhere(layout == r)
        out.append(nothing if not len(at) else local_block(shape, param.placements, tuple(int(c) for c in at[0]),
                                                             tuple(mesh.shape)))
    return out


class Block:
    """Where one weight's local entries sit in the whole tensor, on this rank.

    Attributes:
      shape: the whole tensor's shape; ``local_shape``, ``offset``: this rank's block.
      owner: whether this rank's entries count (False for a replicated copy).
      start: flat index of the first local entry when the block is one
        contiguous run of the whole tensor (``Shard(0)`` of FSDP2), else None.
      traces, sample: ``(positions in the plan's list, local flat indices)``
        of the traced and sampled entries this rank holds.
      flips: uint8 sketch signs of the local entries (1 byte per local entry).
      split_units: whether the tensor's output units (``plan.unit_axis``) span
        ranks (it is split along another dimension): then each rank sends a
        flag per unit it saw move, else the count of its own moved units.
      local_units: ``(outer, units, inner)`` of the local block (``TrajectoryPlan.units``).
    """

    def __init__(self, param, plan, rank):
        self.shape = tuple(param.shape)
        if is_sharded(param):
            mesh = param.device_mesh
            coordinate = mesh.get_coordinate()
            if coordinate is None:  # this rank is not in the weight's mesh: it holds nothing
                self.local_shape, self.offset, self.owner = (0,) * len(self.shape), (0,) * len(self.shape), False
            else:
                self.local_shape, self.offset, self.owner = local_block(
                    self.shape, param.placements, coordinate, tuple(mesh.shape))
        else:  # a whole tensor on every rank: rank 0's counts
            self.local_shape, self.offset, self.owner = self.shape, (0,) * len(self.shape), rank == 0
        self.size = math.prod(self.local_shape) if self.owner else 0
        inner = self.shape[1:]
        self.start = None
        if tuple(self.local_shape[1:]) == inner or self.size == 0:
            self.start = self.offset[0] * math.prod(inner) if self.shape else 0
        self.split_units = False
        if plan is not None and is_sharded(param):
            self.split_units = any(type(p) is Shard and p.dim % len(self.shape) != plan.unit_axis and n > 1
                                   for p, n in zip(param.placements, param.device_mesh.shape))
        if plan is not None:
            a = plan.unit_axis
            self.local_units = (math.prod(self.local_shape[:a]), self.local_shape[a],
                                math.prod(self.local_shape[a + 1 :]))
        self.traces = self._held(plan.traces) if plan is not None else None
        self.sample = None
        if plan is not None:
            self.sample = self._held(np.arange(plan.size) if plan.sample is None else plan.sample)
        self.flips = None
        if plan is not None and self.size:
            self.flips = trajectory.sketch_flips(plan.name, plan.seed, plan.size)[self.index()]

    def index(self):
        """int64 global flat indices of the local entries, in the local block's row-major order."""
        if self.size == 0:
            return np.zeros(0, np.int64)
        if self.start is not None:
            return np.arange(self.start, self.start + self.size, dtype=np.int64)
        strides = np.cumprod((self.shape[1:] + (1,))[::-1])[::-1]
        idx = np.zeros(self.local_shape, np.int64)
        for d, (o, n, s) in enumerate(zip(self.offset, self.local_shape, strides)):
            axis = [1] * len(self.shape)
            axis[d] = n
            idx += ((o + np.arange(n)) * int(s)).reshape(axis)
        return idx.reshape(-1)

    def _held(self, flat):
        """``(positions, local flat indices)`` of the global flat indices ``flat`` in this block."""
        flat = np.asarray(flat, np.int64)
        if self.size == 0 or flat.size == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        at = np.stack(np.unravel_index(flat, self.shape))
        lo, n = np.asarray(self.offset)[:, None], np.asarray(self.local_shape)[:, None]
        inside = np.all((at >= lo) & (at < lo + n), axis=0)
        positions = np.flatnonzero(inside)
        local = np.ravel_multi_index(tuple(at[:, positions] - lo), self.local_shape)
        return positions, local.astype(np.int64)


def local_values(t):
    """The rank's own entries of ``t`` (a ``DTensor``'s local block, or ``t``), detached.

    The local tensor is taken before detaching: an op on the ``DTensor`` itself
    goes through its sharding propagation, a fraction of a millisecond each;
    ``to_local()`` itself costs 0.05-0.14 ms (an autograd function), so the
    ``DTensor``'s own local tensor is read when it has one (0.01 ms).
    """
    if is_sharded(t):
        local = getattr(t, "_local_tensor", None)  # what to_local() returns, without its autograd function
        t = t.to_local() if local is None else local
    return t.detach()


def widths(plan, split_units):
    """Widths of one weight's partials: scalars, changed units (when ``split_units``), traces, sample, sketch."""
    sample = plan.size if plan.sample is None else len(plan.sample)
    return [len(SCALARS), plan.units[1] if split_units else 0, len(plan.traces), sample, plan.sketch_dim]


def partials(x, previous, grad_sumsq, block, plan):
    """One weight's partial results on this rank: a float64 vector of ``sum(widths(plan))``.

    ``x`` holds the local entries (numpy, flat); ``previous`` is a namespace
    with ``values`` (the entries at the previous point, flat, of ``x``'s
    dtype; they receive ``x``) and ``first`` (True before the first point);
    ``grad_sumsq`` is the local gradient's sum of squares (None: no gradient).
    The entries of ``x`` a non-owner holds count for nothing; min and max
    are over finite entries (+Inf / -Inf when there is none here). A
    contiguous block of float32/float64 whose units no other rank holds
    (FSDP2's ``Shard(0)``) goes through the one-pass kernels
    (``numba_ops.raw_points``), like an unsharded tensor; others through numpy
    passes by global index.
    """
    w = widths(plan, block.split_units)
    out = np.zeros(sum(w))
    scalars, units, traces, sample, sk = np.split(out, np.cumsum(w)[:-1])
    scalars[_S["min"]], scalars[_S["max"]] = math.inf, -math.inf
    if grad_sumsq is None:
        scalars[_S["grad_missing"]] = 1.0
    else:
        scalars[_S["grad_sumsq"]] = grad_sumsq
    if not block.size:
        return out
    if block.start is not None and not block.split_units and numba_ops.usable(x.dtype):
        group = types.SimpleNamespace(units=block.local_units, sketch_dim=plan.sketch_dim)
        constants = {"flips": [block.flips], "sample": [block.sample[1]], "traces": [block.traces[1]]}
        raw, values, picked, local_sk = numba_ops.raw_points(
            [x], None if previous.first else [previous.values], group, constants, keep=[previous.values])
        scalars[[_S[f] for f in trajectory.RAW_FIELDS]] = raw[0]
        scalars[_S["count"]] = x.size
        sample[block.sample[0]], traces[block.traces[0]] = values[0], picked[0]
        sk[:] = np.roll(local_sk[0], block.start % plan.sketch_dim)  # local bucket j is global (start + j) mod k
        return out
    with np.errstate(invalid="ignore", over="ignore"):  # NaN/Inf are results here
        _numpy_partials(x.astype(np.float64), None if previous.first else previous.values, block, plan,
                        scalars, units, traces, sample, sk)
    previous.values[:] = x
    return out


def _numpy_partials(x, previous, block, plan, scalars, units, traces, sample, sk):
    """Fills the partials of a rank's (non-empty, owned) entries ``x`` (float64) by numpy passes."""
    total = x.sum()
    mean = total / x.size
    finite = np.isfinite(x)
    if finite.any():
        f = x[finite]
        scalars[_S["min"]], scalars[_S["max"]] = f.min(), f.max()
    scalars[[_S[f] for f in ("sum", "sumsq", "centred_sumsq", "count", "nan_count", "finite_count", "zero_count")]] = [
        total, np.dot(x, x), np.dot(x - mean, x - mean), x.size, np.isnan(x).sum(), finite.sum(), (x == 0).sum()]
    index = block.index()
    if previous is not None:
        delta = x - previous.astype(np.float64)
        scalars[_S["update_sumsq"]] = np.dot(delta, delta)
        _, n_units, inner = plan.units
        moved = np.zeros(n_units, bool)
        moved[(index[delta != 0] // inner) % n_units] = True
        if block.split_units:
            units[:] = moved
        else:
            scalars[_S["moved_units"]] = np.count_nonzero(moved)
    traces[block.traces[0]] = x[block.traces[1]]
    sample[block.sample[0]] = x[block.sample[1]]
    sk[:] = np.bincount(index % plan.sketch_dim, weights=np.where(block.flips, -x, x), minlength=plan.sketch_dim)


def combine(scalars, sizes, split_moved):
    """``(raw, grad_sumsq)`` of M weights from every rank's scalars ``[R, M, len(SCALARS)]``.

    ``sizes``: the M weights' entry counts; ``split_moved``: per weight the
    units that moved on some rank, for weights split across their units (0
    for the others, whose ranks count their own). ``raw`` ``[M, 10]`` is
    ``trajectory.RAW_FIELDS``; the centred sum of squares joins the ranks'
    by Chan's parallel formula (each rank centred on its own mean);
    ``grad_sumsq`` ``[M]`` is NaN when any rank lacked a gradient.
    """
    s = {f: scalars[:, :, i] for i, f in enumerate(SCALARS)}
    total = s["sum"].sum(axis=0)
    mean = total / sizes
    held = s["count"] > 0
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        local_mean = np.where(held, s["sum"] / np.where(held, s["count"], 1), 0.0)
        centred = np.sum(np.where(held, s["centred_sumsq"] + s["count"] * (local_mean - mean) ** 2, 0.0), axis=0)
    raw = np.stack([total, s["sumsq"].sum(axis=0), s["update_sumsq"].sum(axis=0), centred, s["min"].min(axis=0),
                    s["max"].max(axis=0), s["nan_count"].sum(axis=0), s["finite_count"].sum(axis=0),
                    s["zero_count"].sum(axis=0), s["moved_units"].sum(axis=0) + split_moved], axis=1)
    grad = np.where(s["grad_missing"].any(axis=0), np.nan, s["grad_sumsq"].sum(axis=0))
    return raw, grad


#: A matrix whose spectrum needs more than this many bytes gathered whole on
#: the writing rank (its dtype's size times its entries) is skipped, with the
#: reason logged once: 64 MiB, a 4096 x 4096 float32 matrix (whose exact
#: decomposition ``spectrum.MAX_FLOPS`` skips anyway) or a 50k x 320 embedding.
MAX_GATHER_BYTES = 2**26


class ShardedParamLogger:
    """``ParamLogger``'s twin for sharded parameters; one on every rank, rank 0's writes.

    Args:
      writer: a ``tb_nnviz.Writer`` on rank 0; on other ranks one that fixes
        the same choices and writes nothing that is kept (``watch`` gives a
        throwaway one), closed by the caller.
      weights: ``Weight`` s whose variables are ``DTensor`` s (``Shard(d)``,
        ``Replicate()`` placements on any mesh) or whole tensors (counted once,
        from rank 0).
      heatmaps, trajectories, spectra, max_total_cells: as ``ParamLogger``.
      group: the ``torch.distributed`` process group every rank of which logs
        (default: the world).
      max_gather_bytes: the memory bound of a spectrum: a matrix larger than
        this (bytes, whole) is skipped with the reason (default ``MAX_GATHER_BYTES``).

    Attributes:
      extra_bytes: memory held between steps on this rank: the previous local
        values and the local sketch signs (O(this rank's shard)).
    """

    def __init__(self, writer, weights, *, heatmaps=True, trajectories=True,
                 max_total_cells=None, spectra=False, group=None, max_gather_bytes=None):
        import torch.distributed as dist

        self._dist, self._group = dist, group
        self.rank, self.world = dist.get_rank(group), dist.get_world_size(group)
        self._ranks = [r if group is None else dist.get_global_rank(group, r) for r in range(self.world)]
        self.weights = weights = [Weight(*w) for w in weights]
        kwargs = {} if max_total_cells is None else {"max_total_cells": max_total_cells}
        self._plan = plan = LogPlan(writer, weights, [tuple(w.variable.shape) for w in weights],
                                    [dtype_name(w.variable.dtype) for w in weights], heatmaps=heatmaps,
                                    trajectories=trajectories, spectra=spectra, **kwargs)
        traj = {i: plan.traj[i][0] for sub in plan.traj_groups for i in sub}
        self._blocks = [Block(w.variable, traj.get(i), self.rank) for i, w in enumerate(weights)]
        # Every rank's block of every weight (the same on every rank): where each rank's partials sit.
        self._geometry = [rank_blocks(w.variable, self._ranks) for w in weights]
        self._heat_boxes = {}
        for i, content in enumerate(plan.heat):
            boxes = [blocks.cell_box(plan.shapes[i], offset, local, content) if owner else (0, 0, 0, 0)
                     for local, offset, owner in self._geometry[i]]
            self._heat_boxes[i] = boxes, max(blocks.box_size(b, content) for b in boxes)
        self._skip_large_spectra(MAX_GATHER_BYTES if max_gather_bytes is None else max_gather_bytes)
        self._previous = [None] * len(weights)
        self._grads = None
        self._has_previous = False
        self.pending = None  # an error of this rank's since the last collective (reported in the next)

    def _skip_large_spectra(self, limit):
        """Marks the spectra of sharded matrices over ``limit`` bytes (whole) skipped, with the reason."""
        plan = self._plan
        for i, content in enumerate(plan.spec):
            t = self.weights[i].variable
            size = t.numel() * t.element_size()
            if content and not content["skipped"] and is_sharded(t) and size > limit:
                content["skipped"] = (
                    "gathering the whole sharded matrix on the writing rank would take %.3g MiB, more than %.3g MiB "
                    "(torch_shards.MAX_GATHER_BYTES)" % (size / 2**20, limit / 2**20))
        plan.spec_groups = [kept for kept in ([i for i in sub if not plan.spec[i]["skipped"]]
                                              for sub in plan.spec_groups) if kept]

    @property
    def names(self):
        """The logged names, in network order."""
        return self._plan.names

    @property
    def extra_bytes(self):
        """Bytes held between steps on this rank: previous local values and local sketch signs."""
        held = [p.values.nbytes for p in self._previous if p is not None]
        return sum(held) + sum(b.flips.nbytes for b in self._blocks if b.flips is not None)

    @torch.no_grad()
    @one_thread
    def capture_gradients(self):
        """Takes this rank's local gradients' sums of squares now, for the next :meth:`log` (no collective)."""
        try:
            self._grads = [self._grad_sumsq(i) for i in range(len(self.weights))]
        except Exception as e:  # reported to every rank at the next collective
            self.pending = self.pending or e

    def _grad_sumsq(self, i):
        if not self._blocks[i].size:
            return 0.0  # nothing here, with or without a gradient
        g = self.weights[i].variable.grad
        if g is None:
            return None
        g = local_values(g).reshape(-1)
        if g.device.type == "cpu" and numba_ops.usable(dtype_name(g.dtype)):
            return float(numba_ops.grad_sumsq([g.numpy()])[0])  # the unsharded logger's kernel
        g = g.double()
        return float(torch.dot(g, g))

    @torch.no_grad()
    @one_thread
    def log(self, step, heatmaps, trajectories, spectra=False, budget=None):
        """Reduces every rank's shards and writes step ``step`` on rank 0; call it on every rank.

        ``budget``: a ``SpectralBudget`` deciding (on rank 0) whether the
        asked spectra are taken; their time is recorded in it. Raises
        ``ShardError`` on every rank when any rank failed (now, or writing an
        earlier step).
        """
        plan = self._plan
        heatmaps, trajectories, spectra = plan.kinds(heatmaps, trajectories, spectra)
        if not (heatmaps or trajectories or spectra):
            return
        subs = plan.traj_groups if trajectories else []
        members = [i for sub in subs for i in sub]
        heated = [i for subgroups in plan.heat_groups for sub in subgroups for i in sub] if heatmaps else []
        layout = [sum(widths(plan.traj[i][0], self._blocks[i].split_units)) for i in members]
        layout += [self._heat_boxes[i][1] for i in heated]
        buf = np.zeros(HEADER + sum(layout))
        buf[1] = float(spectra and (budget is None or budget.due()))
        try:
            if self.pending is not None:
                raise self.pending
            grads = self._grads if self._grads is not None else [None] * len(self.weights)
            at = HEADER
            for i in members:
                part = self._partials(i, grads[i])
                buf[at : at + len(part)] = part
                at += len(part)
            for i, width in zip(heated, layout[len(members):]):
                part = self._heat_partials(i)
                buf[at : at + part.size] = part.reshape(-1)
                at += width
            own = None
        except Exception as e:
            buf[0], own = 1.0, e
        self.pending = None
        gathered = self._all_gather(buf)
        failed = [r for r in range(self.world) if gathered[r, 0]]
        if failed:
            if own is not None:
                raise ShardError("rank %d failed in its part of a logged step: %s: %s"
                                 % (self.rank, type(own).__name__, own))
            raise ShardError("rank(s) %s failed in their part of a logged step (their warning says why); logging "
                             "stops on every rank" % ", ".join(map(str, failed)))
        # From here on an error on rank 0 is kept for the next collective (raised on every rank there): a
        # rank that stopped now would leave the others waiting in it.
        spectra = spectra and bool(gathered[0, 1])
        with_grads = self._grads is not None
        if trajectories:
            self._grads = None
        spec = None
        if spectra:
            start = time.perf_counter()
            spec = [self._spectra(sub) for sub in plan.spec_groups]
            if budget is not None:
                budget.spent(time.perf_counter() - start)
        if self.rank == 0 and self.pending is None:
            try:
                ends = np.cumsum(layout)
                traj, grads = self._finish(gathered[:, HEADER:], subs, members, layout, with_grads)
                heat = self._finish_heatmaps(gathered[:, HEADER:], heated, ends[len(members) :] if heated else [])
                plan.write(step, heat, traj, self._has_previous, grads, spectra=spec)
            except Exception as e:
                self.pending = e
        self._has_previous = self._has_previous or trajectories

    def _local(self, i):
        """This rank's entries of weight ``i`` (numpy, flat; float32/float64 as they are, others as float64)."""
        x = local_values(self.weights[i].variable).reshape(-1)
        if not self._blocks[i].owner:
            x = x[:0]
        return x.cpu().numpy() if x.dtype in (torch.float32, torch.float64) else x.double().cpu().numpy()

    def _partials(self, i, grad_sumsq):
        """Weight ``i``'s partials (``partials``); keeps its local values as the previous ones."""
        x = self._local(i)
        previous = self._previous[i]
        if previous is None:
            previous = self._previous[i] = types.SimpleNamespace(values=np.empty_like(x), first=True)
        out = partials(x, previous, grad_sumsq, self._blocks[i], self._plan.traj[i][0])
        previous.first = False
        return out

    def _heat_partials(self, i):
        """Weight ``i``'s heatmap partial on this rank (``blocks.block_planes`` over its cells)."""
        block = self._blocks[i]
        if not block.size:
            return np.zeros(0)
        x = self._local(i).reshape(block.local_shape)
        return blocks.block_planes(x, block.offset, block.shape, self._plan.heat[i])

    def _all_gather(self, buf):
        out = [torch.zeros(len(buf), dtype=torch.float64) for _ in range(self.world)]
        self._dist.all_gather(out, torch.from_numpy(buf), group=self._group)
        return torch.stack(out).numpy()

    def _finish(self, gathered, subs, members, layout, with_grads):
        """Per trajectory group, ``(raw, sample, traces, sketch)`` and ``[G]`` gradient sums of squares.

        A fixed number of array operations whatever the number of weights: the
        scalars of every weight at once (``combine``), and one sum over the ranks
        of the whole buffer, from which traces, samples and sketches are sliced.
        """
        if not members:
            return [], None
        plan, n = self._plan, len(SCALARS)
        layout = layout[: len(members)]
        starts = np.cumsum([0] + layout[:-1]).astype(np.int64)
        scalars = gathered[:, (starts[:, None] + np.arange(n)).reshape(-1)].reshape(self.world, len(members), n)
        with np.errstate(invalid="ignore", over="ignore"):  # the scalars' extremes add up too: unused
            summed = gathered[:, : sum(layout)].sum(axis=0)
        moved = np.zeros(len(members))
        sizes = np.zeros(len(members))
        where = {}
        for k, (i, a) in enumerate(zip(members, starts)):
            p = plan.traj[i][0]
            sizes[k] = p.size
            _, units, traces, sample, sketch = w = np.cumsum(widths(p, self._blocks[i].split_units)) + a
            if units > w[0]:
                moved[k] = np.count_nonzero(gathered[:, w[0] : units].max(axis=0))
            where[i] = k, (units, traces), (traces, sample), (sample, sketch)
        raw, grad = combine(scalars, sizes, moved)
        traj = []
        for sub in subs:
            rows = [where[i][0] for i in sub]
            parts = [np.stack([summed[slice(*where[i][f])] for i in sub]) for f in (2, 1, 3)]
            traj.append([raw[rows]] + parts)
        grads = [grad[[where[i][0] for i in sub]] for sub in subs] if with_grads and subs else None
        return traj, grads

    def _finish_heatmaps(self, gathered, heated, ends):
        """Per heatmap stack, per subgroup, the planes ``[G, P, R, C]`` merged from every rank's partials."""
        plan = self._plan
        if not heated:
            return []
        end = dict(zip(heated, ends))
        out = []
        for subgroups in plan.heat_groups:
            stack = []
            for sub in subgroups:
                planes = []
                for i in sub:
                    content, (boxes, width) = plan.heat[i], self._heat_boxes[i]
                    a = end[i] - width
                    parts = [(box, gathered[r, a : a + blocks.box_size(box, content)].reshape(
                        blocks.planes_count(content), box[1] - box[0], box[3] - box[2]))
                             for r, box in enumerate(boxes)]
                    planes.append(blocks.merge(parts, content))
                stack.append(np.stack(planes))
            out.append(stack)
        return out

    def _spectra(self, sub):
        """Eigenvalues ``[G, slices, evals]`` of the members of one spectrum group, on rank 0 (None elsewhere).

        Each matrix is gathered whole on rank 0 only (``_gather``, one at a time); every rank
        joins every gather, whatever fails on rank 0 (kept in ``pending``).
        """
        out = []
        for i in sub:
            whole = self._gather(i)
            if self.rank == 0 and self.pending is None:
                try:
                    out.append(torch_ops.eigenvalues(whole[None], self._plan.spec[i])[0].cpu().numpy())
                except Exception as e:
                    self.pending = e
            del whole
        return np.stack(out) if out and self.pending is None else None

    def _gather(self, i):
        """Weight ``i`` whole on rank 0 (None elsewhere): one ``gather`` of every rank's block, padded to the
        largest, placed by each rank's offset. Peak memory: the matrix and the gathered blocks on rank 0,
        the rank's block on the others."""
        t = self.weights[i].variable
        if not is_sharded(t):
            return local_values(t).cpu() if self.rank == 0 else None
        geometry = self._geometry[i]
        size = max(math.prod(local) for local, _, _ in geometry)
        send = torch.zeros(size, dtype=t.dtype)
        try:
            x = local_values(t).reshape(-1)
            send[: x.numel()] = x.cpu()
        except Exception as e:  # this rank still joins the gather; the error stops every rank at the next step
            self.pending = self.pending or e
        received = [torch.empty(size, dtype=t.dtype) for _ in range(self.world)] if self.rank == 0 else None
        self._dist.gather(send, received, dst=self._ranks[0], group=self._group)
        if self.rank != 0:
            return None
        whole = torch.empty(tuple(t.shape), dtype=t.dtype)
        for (local, offset, _), got in zip(geometry, received):
            if math.prod(local):
                whole[tuple(slice(o, o + n) for o, n in zip(offset, local))] = got[: math.prod(local)].reshape(local)
        return whole


def check_placements(weights, warn):
    """``weights`` without those whose placement is not supported; ``warn(message)`` once for each of those."""
    kept = []
    for w in weights:
        placement = unsupported(w.variable)
        if placement is None:
            kept.append(w)
        else:
            warn("tb_nnviz.torch.watch: tensor %r has placement(s) %s, which the sharded reductions do not "
                 "support (only Shard(d) and Replicate()); it is not logged, the other tensors are"
                 % (w.name, placement))
    return kept
