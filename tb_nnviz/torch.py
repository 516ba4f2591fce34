"""PyTorch: ``watch(model, log_dir, optimizer)`` logs weights, updates and gradients.

One line beside a normal training loop; the loop itself does not change:

>>> import tempfile, torch
>>> import tb_nnviz.torch
>>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
>>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
>>> with tb_nnviz.torch.watch(model, tempfile.mkdtemp(), opt, trajectory_freq=5) as watcher:
...     for _ in range(10):
...         opt.zero_grad()
...         model(torch.randn(16, 4)).square().mean().backward()
...         opt.step()
>>> watcher.step, watcher.logged_steps  # trajectory points every 5 steps, heatmaps at 0, 1, 3 and 10
(10, [0, 1, 3, 5, 10])

The watcher logs after ``optimizer.step()`` through the optimizer's step
hooks, and reads the gradients in the step's pre-hook (before the optimizer
applies them), so there is no second backward pass. Reductions run on the
parameters' device (``tb_nnviz.reduce.torch_ops``); see ``tb_nnviz.log.torch_logger``
for names and layouts.

Importing this module loads PyTorch's compiler stack (``torch._dynamo``, and
Triton when installed) at once, as every optimizer does on construction
anyway: Triton loaded into a process that already holds TensorFlow crashes it,
and ``torch.utils.tensorboard`` imports TensorFlow when it is installed. So
import ``tb_nnviz.torch`` (or create your optimizer) before
``torch.utils.tensorboard`` or TensorFlow, as demo/pytorch_mlp.py does.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from typing import Literal

import torch
import torch._dynamo  # noqa: F401  (see below)

from tb_nnviz.log import torch_activations, torch_shards
from tb_nnviz.log.plan import (
    DEFAULT_MAX_TOTAL_CELLS,
    HeatmapSchedule,
    SpectralBudget,
    check_freq,
    guarded,
    log_step,
    patterns,
)
from tb_nnviz.log.torch_graph import GraphRecorder
from tb_nnviz.log.torch_logger import ParamLogger, module_name, param_specs
from tb_nnviz.log.writer import Writer
from tb_nnviz.reduce import grids, trajectory

__all__ = ["watch", "Watcher"]

#: Optimizer steps between spectral steps under ``spectral_freq="auto"`` when
#: heatmaps have no int cadence to follow (``heatmap_freq="auto"`` or 0).
AUTO_SPECTRAL_FREQ = 500


def watch(
    model: torch.nn.Module,
    log_dir: str | os.PathLike[str],
    optimizer: torch.optim.Optimizer | None = None,
    *,
    heatmap_freq: int | Literal["auto"] = "auto",
    trajectory_freq: int = 20,
    gradients: bool = True,
    include: str | Sequence[str] | None = None,
    exclude: str | Sequence[str] | None = None,
    max_cells: int = grids.DEFAULT_MAX_CELLS,
    max_total_cells: int | None = DEFAULT_MAX_TOTAL_CELLS,
    num_traces: int = trajectory.DEFAULT_NUM_TRACES,
    sketch_dim: int = trajectory.DEFAULT_SKETCH_DIM,
    seed: int = 0,
    trainable_only: bool = False,
    strict: bool = False,
    spectral_freq: int | Literal["auto"] | None = "auto",
    activations: bool = True,
    full_resolution: str | Sequence[str] | None = None,
) -> Watcher:
    """Starts logging ``model``'s parameters into the run ``log_dir``; returns a :class:`Watcher`.

    Args:
      model: a ``torch.nn.Module`` (also wrapped by DDP, DataParallel or
        ``torch.compile``; names drop the wrapper's prefix).
      log_dir: the run directory, the one you give
        ``torch.utils.tensorboard.SummaryWriter``, so the tabs line up.
      optimizer: the ``torch.optim.Optimizer`` that trains ``model``. The step
        axis counts its steps (a step skipped by AMP's ``GradScaler`` is not
        one); each logs after ``optimizer.step()``. None: log only through
        :meth:`Watcher.log`.
      heatmap_freq: when to log heatmaps (the large records). Default
        ``"auto"``: a handful whatever the run's length, which ``watch``
        does not know: the initial parameters, steps 1, 3, 10, 30, 100, 300,
        ... (half decades; 7 heatmaps over 1,000 steps, 11 over 100,000;
        ``tb_nnviz.log.plan.HeatmapSchedule``) and the last step (at
        :meth:`Watcher.close`). Or an int number of optimizer steps, 0 = off.
        Whatever the cadence, when the parameters first turn NaN/Inf, the
        heatmaps of the last trajectory point before (the last finite
        values, unless a heatmap came after it) and the heatmaps and a
        trajectory point of that step are logged too, so the moment before a
        divergence can be seen and every view dates it alike (not yet for
        sharded parameters: FSDP2, tensor parallel).
      trajectory_freq: optimizer steps between trajectory points (norms,
        update ratios, traces, sketch; default 20), 0 = off.
      spectral_freq: when to log spectra (the eigenvalues of ``W^T W`` of every
        matrix and conv weight, from which the tab and ``tb-nnviz report``
        compute WeightWatcher's alpha, stable rank and spectral norm). Default
        ``"auto"`` (or None): at the heatmap steps of an int ``heatmap_freq``,
        else every 500 steps, while one spectral step costs at most 5% of
        the training time since the previous one
        (``tb_nnviz.log.plan.SpectralBudget``; the first always), not at
        step 0. Or an int number of optimizer steps (these also log the
        initial spectra), or 0 (off). A step costs one eigendecomposition of
        each weight's float64 Gram matrix (``tb_nnviz.reduce.torch_ops``);
        matrices WeightWatcher skips as too large, or too costly to decompose
        at every step (``spectrum.MAX_FLOPS``), are skipped with the reason.
      gradients: record each parameter's gradient norm and gradient/weight
        ratio (``grad_norm``, ``grad_ratio``) at trajectory steps (default
        True), read before the optimizer step.
      include, exclude: regex or list of regexes on the logged names
        (``layer1/0/conv1/weight``).
      max_cells, max_total_cells, num_traces, sketch_dim, seed, full_resolution: as in
        ``tb_nnviz.keras.NNVizCallback`` (per-tensor and model-wide heatmap
        budgets, traced parameters, sketch size, seed, names of the
        parameters whose heatmaps are logged unpooled, e.g. ``"^conv1/"``).
      trainable_only: skip parameters with ``requires_grad=False`` (default
        False). Buffers (BatchNorm running statistics) are not parameters and
        are never logged.
      strict: raise logging errors (default False: warn once, stop logging,
        let training continue).
      activations: record, in the training forward that precedes each
        trajectory or heatmap step (and the first forward), each activation's
        statistics over the batch (``layouts.ACTIVATION_FIELDS``: dead and
        zero fractions, saturation, mean, std, max |x|, NaNs), the model
        input's statistics, the model's structure in call order and, at
        heatmap steps, a heatmap ``<layer>/activations`` of the first 32
        samples' units (``tb_nnviz.log.torch_activations``; default True).
        Other forward passes run without any hook of ours.

    The run information (framework, optimizer class and configuration,
    learning rate, structure, input statistics) is logged at set-up, with the
    first recorded forward, and whenever the learning rate or the optimizer's
    configuration changed at a trajectory step (docs/format.md).

    Under ``torch.distributed``, only rank 0 writes; on other ranks the
    watcher does nothing. The initial parameters are logged at once (step 0)
    and the last ones by :meth:`Watcher.close`, with the gradients still in
    ``.grad`` (those of the last step, unless zeroed since).
    """
    return Watcher(model, log_dir, optimizer, heatmap_freq=heatmap_freq, trajectory_freq=trajectory_freq,
                   gradients=gradients, include=include, exclude=exclude, max_cells=max_cells,
                   max_total_cells=max_total_cells, num_traces=num_traces, sketch_dim=sketch_dim, seed=seed,
                   trainable_only=trainable_only, strict=strict, spectral_freq=spectral_freq,
                   activations=activations, full_resolution=full_resolution)


class Watcher:
    """Logs a model at optimizer steps; made by :func:`watch`. A context manager.

    The optimizer's step hooks call :meth:`before_step` and :meth:`after_step`;
    a trainer whose optimizer step runs the backward pass itself (Lightning's
    closures) calls them instead (``optimizer=None``), and one that counts its
    own steps starts from ``step`` (a resumed run's) and may set :attr:`step`
    before a step (``tb_nnviz.transformers``, ``tb_nnviz.lightning``).

    Attributes:
      step: optimizer steps taken (the step axis), from ``step`` (default 0).
      logged_steps: steps at which something was logged.
      active: False on a non-zero distributed rank and after logging failed.
      logger: the ``torch_logger.ParamLogger`` (None until set up, or inactive).
      recorder: the ``torch_activations.ActivationRecorder`` (None with
        ``activations=False`` or inactive).
      optimizer: the optimizer whose configuration the run information records (or None).
    """

    def __init__(self, model, log_dir, optimizer, *, heatmap_freq, trajectory_freq, gradients, include,
                 exclude, max_cells, max_total_cells, num_traces, sketch_dim, seed, trainable_only, strict,
                 spectral_freq="auto", step=0, activations=True, full_resolution=None):
        if not isinstance(model, torch.nn.Module):
            raise TypeError("model must be a torch.nn.Module, got %s" % type(model).__name__)
        if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError("optimizer must be a torch.optim.Optimizer or None, got %s" % type(optimizer).__name__)
        self.log_dir = os.fspath(log_dir)
        self.heatmap_freq = _check_int_freq("heatmap_freq", heatmap_freq, auto=True)
        self.trajectory_freq = _check_int_freq("trajectory_freq", trajectory_freq)
        self.spectral_freq = _check_int_freq(
            "spectral_freq", "auto" if spectral_freq is None else spectral_freq, auto=True)
        self._budget = SpectralBudget() if self.spectral_freq == "auto" else None
        self.gradients = bool(gradients)
        self.strict = bool(strict)
        self._options = dict(max_cells=int(max_cells), num_traces=int(num_traces),
                             sketch_dim=int(sketch_dim), seed=int(seed),
                             full_resolution=patterns("full_resolution", full_resolution))
        grids.pool_factors(1, 1, self._options["max_cells"])  # validates max_cells
        self.max_total_cells = None if max_total_cells is None else int(max_total_cells)
        grids.heatmap_cap([], self._options["max_cells"], self.max_total_cells)  # validates it
        trajectory.TrajectoryPlan("x", (1,), num_traces, sketch_dim, seed)  # validates
        self._specs = dict(include=patterns("include", include), exclude=patterns("exclude", exclude),
                           trainable_only=bool(trainable_only))
        self.model = model
        self.step = int(step)
        self._schedule = HeatmapSchedule(self.step) if self.heatmap_freq == "auto" else None
        self.logged_steps = []
        self.logger = None
        self._writer = None
        self._hooks = []
        self._last = {"heat": -1, "traj": -1, "spec": -1}
        self.optimizer = optimizer
        self.recorder = None
        self.graph = None
        self._run = {"lr": None, "config": None, "structure": False}
        # Sharded parameters (FSDP2, tensor parallel): every rank reduces its shards, rank 0 writes.
        self.sharded = _rank() is not None and torch_shards.sharded_model(model)
        self.writes = not _rank()
        self._stopping = False
        self.active = self.writes or self.sharded
        if not self.active:
            return
        if optimizer is not None:
            self._hooks = [optimizer.register_step_pre_hook(self._pre_step),
                           optimizer.register_step_post_hook(self._post_step)]
        if activations and self.writes:
            self.recorder = torch_activations.ActivationRecorder(model, clean=module_name)
            # The first forward gives the structure and the input: recorded whatever the cadence.
            self._guard(self.recorder.arm, self.step + 1, self._due(self.step + 1)[0])
        # The first forward also gives the model's graph (docs/format.md, "Model graph"), written after it.
        self.graph = GraphRecorder(model, clean=module_name) if self.writes else None  # the writing rank
        heat, traj, spec = self._kinds()
        self._guard(self._log, self.step, heat, traj, spec and self._budget is None)

    # -- public ---------------------------------------------------------------

    @property
    def tensor_names(self) -> list[str]:
        """The logged names, in network order (after set-up)."""
        return self.logger.names if self.logger is not None else []

    def log(
        self, step: int | None = None, heatmaps: bool = True, trajectories: bool = True, spectra: bool = True
    ) -> None:
        """Logs now, as ``step`` (default: the current optimizer step count).

        Gradients are read now when ``gradients`` is on and the last step's
        pre-hook did not read them. A kind whose frequency is 0 is never logged.
        """
        step = self.step if step is None else step
        self._guard(self._log, step, heatmaps, trajectories, spectra, capture=True)

    def close(self) -> None:
        """Logs the final parameters (unless this step is logged), removes the hooks, closes the file."""
        for hook in self._hooks:
            hook.remove()
        self._hooks = []
        if self.recorder is not None:
            self.recorder.disarm()
        if self.graph is not None:
            self._write_graph(self.step)
            self.graph.close()
        if self.active and (self._writer is not None or self.logger is not None):  # sharded: every rank joins
            # ``.grad`` still holds the last step's gradients (unless zeroed since).
            heat, traj, spec = self._kinds()
            # Sharded: rank 0's budget decides inside the logger's collective.
            spec = spec and (self._budget is None or self.sharded or self._budget.due())
            self._guard(self._log, self.step, heat, traj, spec, capture=True)
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> Watcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- hooks ----------------------------------------------------------------

    def before_step(self):
        """Reads the gradients now if the coming step (``step + 1``) logs them: the step pre-hook."""
        if self.active and self.gradients and self._due(self.step + 1)[1]:
            self._guard(self._capture)

    def after_step(self):
        """Counts an optimizer step and logs what is due at it: the step post-hook."""
        self.step += 1
        if self.active:
            due = self._due(self.step)
            if any(due):
                self._guard(self._log, self.step, *due)
            self._guard(self._evidence, self.step, due[1])

    def _pre_step(self, optimizer, args, kwargs):
        self.before_step()

    def _post_step(self, optimizer, args, kwargs):
        self.after_step()

    # -- internals ------------------------------------------------------------

    def _kinds(self):
        """``(heatmaps, trajectories, spectra)``: which kinds are on."""
        return self.heatmap_freq != 0, self.trajectory_freq != 0, self.spectral_freq != 0

    def _due(self, step):
        auto = self._schedule is not None
        heat, traj = (freq > 0 and step % freq == 0
                      for freq in (0 if auto else self.heatmap_freq, self.trajectory_freq))
        heat = heat or (auto and self._schedule.crossed(step - 1, step))
        if self._budget is not None:
            # Sharded: every rank joins the step; rank 0's budget decides inside the collective.
            freq = AUTO_SPECTRAL_FREQ if auto else self.heatmap_freq or AUTO_SPECTRAL_FREQ
            spec = step % freq == 0 and (self.sharded or self._budget.due())
        else:
            spec = self.spectral_freq > 0 and step % self.spectral_freq == 0
        return heat, traj, spec

    def _setup(self):
        if any(isinstance(p, torch.nn.parameter.UninitializedParameter) for p in self.model.parameters()):
            return False  # lazy modules: set up once a forward pass has shaped them
        heat, traj, spec = self._kinds()
        specs = param_specs(self.model, **self._specs)
        if not self.writes:  # a sharded run's other ranks: the same choices, nothing written
            scratch = tempfile.mkdtemp(prefix="tb_nnviz_rank")
            try:
                with Writer(scratch, **self._options) as choices:
                    self.logger = torch_shards.ShardedParamLogger(
                        choices, torch_shards.check_placements(specs, lambda message: None), heatmaps=heat,
                        trajectories=traj, spectra=spec, max_total_cells=self.max_total_cells)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
            return True
        if self._writer is None:
            self._writer = Writer(self.log_dir, filename_suffix=".nnviz", **self._options)
            self._log_setup()
        if self.sharded:
            specs = torch_shards.check_placements(specs, lambda message: warnings.warn(message, RuntimeWarning))
            self.logger = torch_shards.ShardedParamLogger(self._writer, specs, heatmaps=heat, trajectories=traj,
                                                          spectra=spec, max_total_cells=self.max_total_cells)
            return True
        self.logger = ParamLogger(self._writer, specs, heatmaps=heat,
                                  trajectories=traj, spectra=spec, max_total_cells=self.max_total_cells)
        return True

    def _log_setup(self):
        """The first run information: framework, model, optimizer, learning rate."""
        info = {"framework": "torch", "torch_version": torch.__version__, "model": type(self.model).__name__,
                "parameters": sum(p.numel() for p in self.model.parameters()
                                  if not isinstance(p, torch.nn.parameter.UninitializedParameter))}
        if self.optimizer is not None:
            lr = torch_activations.learning_rate(self.optimizer)
            config = torch_activations.optimizer_config(self.optimizer)
            info.update(optimizer=config, lr=[[self.step, lr]])
            self._run.update(lr=lr, config=config)
        self._writer.log_run_info(self.step, info)

    def _capture(self):
        if self.logger is not None or self._setup():
            self.logger.capture_gradients()

    def _log(self, step, heat, traj, spec, capture=False):
        # A kind already logged at this step (close() right after a logged step) is not logged again.
        on = {kind: bool(flag) and self._last[kind] != step
              for kind, flag in zip(("heat", "traj", "spec"), (heat, traj, spec))}
        if not any(on.values()) or (self.logger is None and not self._setup()):
            return
        if capture and on["traj"] and self.gradients and self.logger._grads is None:
            self.logger.capture_gradients()
        if self.sharded:
            self.logger.log(step, on["heat"], on["traj"], on["spec"], self._budget)
        else:
            log_step(self.logger, step, on["heat"], on["traj"], on["spec"], self._budget)
        self._last.update({kind: step for kind, flag in on.items() if flag})
        if not self.logged_steps or self.logged_steps[-1] != step:
            self.logged_steps.append(step)

    def _evidence(self, step, trajectory):
        """After a step: writes the recorded activations, the run information
        that changed, and arms the recorder for the next step if it is logged (on the writing rank)."""
        if not self.writes or self._stopping:
            return
        if self._writer is None and not self._setup():
            return
        self._write_graph(step)
        rec = self.recorder
        if rec is not None:
            capture = rec.take()
            if capture is not None:
                info = rec.write(self._writer, capture, step)
                if not self._run["structure"] and rec.structure is not None:
                    self._run["structure"] = True
                    patch = {"structure": rec.structure}
                    if info is not None:
                        patch["input"] = dict(info, step=step)
                    self._writer.log_run_info(step, patch)
            heat, traj = self._due(step + 1)[:2]
            if heat or traj:
                rec.arm(step + 1, heat)
        if trajectory:
            self._log_optimizer(step)

    def _write_graph(self, step):
        """Writes the model's graph once its forward was recorded (a failure only warns)."""
        if self._writer is not None and self.graph is not None:
            self.graph.write(self._writer, step, self.strict)

    def _log_optimizer(self, step):
        """Run information at ``step`` when the learning rate or the optimizer's configuration changed."""
        opt = self.optimizer
        if opt is None:
            return
        lr = torch_activations.learning_rate(opt)
        config = torch_activations.optimizer_config(opt)
        patch = {}
        if lr != self._run["lr"]:
            patch["lr"] = [[step, lr]]
        if _without_lr(config) != _without_lr(self._run["config"] or {}):
            patch["optimizer"] = config
        self._run.update(lr=lr, config=config)
        if patch:
            self._writer.log_run_info(step, patch)

    def _guard(self, fn, *args, **kwargs):
        if not self.active:
            return
        ok = guarded(lambda: fn(*args, **kwargs), self.strict, "tb_nnviz.torch.watch", self.log_dir)
        if ok or not self.sharded or fn == self._log or self.logger is None:
            self.active = ok
            return
        # Sharded: a failure outside the collective (activations, run information) must not leave the
        # other ranks waiting for this one: it joins the next logged step with an error, then all stop.
        self._stopping = True
        self.logger.pending = self.logger.pending or RuntimeError("logging failed on rank %d" % _rank())



def watch_options(options, who):
    """``watch``'s keyword options and their defaults, updated by ``options``; a
    ``TypeError`` naming ``who`` (the caller) for an option ``watch`` does not take.

    The Trainer and Lightning callbacks pass their options through here.

    >>> watch_options({"trajectory_freq": 5}, "Cb")["trajectory_freq"]
    5
    >>> watch_options({"lr": 1}, "Cb")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: Cb got unknown option(s) lr; it takes tb_nnviz.torch.watch's: heatmap_freq, trajectory_freq, ...
    """
    import inspect

    defaults = {name: p.default for name, p in inspect.signature(watch).parameters.items()
                if p.kind is p.KEYWORD_ONLY}
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise TypeError("%s got unknown option(s) %s; it takes tb_nnviz.torch.watch's: %s"
                        % (who, ", ".join(unknown), ", ".join(defaults)))
    return dict(defaults, **options)

def _check_int_freq(name, value, auto=False):
    value = check_freq(name, value, unit="optimizer steps", auto=auto)
    if value == "epoch":
        raise ValueError("%s must be an int >= 0 (optimizer steps; 0 = off); PyTorch has no "
                         "epochs to hook into, got 'epoch'" % name)
    return value


def _without_lr(config):
    """An optimizer configuration without its learning rates (they change on their own schedule)."""
    out = {k: v for k, v in config.items() if k not in ("lr", "param_groups")}
    out["param_groups"] = [{k: v for k, v in g.items() if k != "lr"} for g in config.get("param_groups", ())]
    return out


def _rank():
    """This process's rank under ``torch.distributed`` (None when not distributed)."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return None
