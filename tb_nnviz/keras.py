"""``NNVizCallback``: weight heatmaps and update trajectories from ``model.fit``.

>>> import tempfile, numpy as np, keras
>>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
>>> model.compile("sgd", "mse")
>>> cb = NNVizCallback(tempfile.mkdtemp())
>>> _ = model.fit(np.zeros((8, 4)), np.zeros((8, 2)), verbose=0, callbacks=[cb])
>>> [name.split("/")[-1] for name in cb.tensor_names]  # e.g. "sequential/dense/kernel"
['kernel', 'bias']
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Literal

import keras
import numpy as np

from tb_nnviz.log import keras_graph
from tb_nnviz.log.plan import (
    DEFAULT_MAX_TOTAL_CELLS,
    HeatmapSchedule,
    SpectralBudget,
    Weight,
    guarded,
    guarded_part,
    log_step,
)
from tb_nnviz.log.plan import check_freq as _check_freq
from tb_nnviz.log.plan import patterns as _patterns
from tb_nnviz.log.writer import Writer
from tb_nnviz.reduce import grids, trajectory

__all__ = ["NNVizCallback"]

#: The probe batch's forward (``activations=True``) takes at most this fraction of the
#: training time: on most models every trajectory step, on a large model on a CPU
#: every few (a ResNet-50 forward of 6 images is a few training steps' 5%).
PROBE_BUDGET = 0.05
#: ... unless it takes at most this many seconds (a small model's: every logged step).
PROBE_FREE = 0.05
_LSTM_GATES = ["i", "f", "c", "o"]  # Keras 3 LSTMCell: split(z, 4) -> i, f, c, o
_GRU_GATES = ["z", "r", "h"]  # Keras 3 GRUCell: kernel[:, :u] z, [u:2u] r, [2u:] h


class NNVizCallback(keras.callbacks.Callback):
    """Logs weight heatmaps and parameter-update trajectories while a model trains.

    Writes into ``<log_dir>/train``, the run ``keras.callbacks.TensorBoard(log_dir)``
    uses, so the NNViz tab shows the same run as the Scalars tab. The step axis
    counts trained batches, like the batch-level scalars of Keras' TensorBoard
    callback, so batch- and epoch-cadence data share one axis. It starts at
    ``model.optimizer.iterations`` when the callback first sees the model
    (0 for a fresh model; the resume point of a restored one) and continues
    across later ``fit`` calls. It counts batches rather than reading
    ``optimizer.iterations`` at each batch, which stalls when a mixed-precision
    loss-scale optimizer skips a step or gradients are accumulated. The initial weights are logged
    at ``on_train_begin`` (step 0 for a fresh model) and the final weights at
    ``on_train_end``. A subclassed model that is only built by its first batch
    has no weights at ``on_train_begin``; it is logged from that batch on
    (step 1). Weights of one shape are reduced together where they live, and
    only the small results are written.

    Backends: the same options, tensors, run and step axis under every Keras 3
    backend; the logger follows the backend (``_logger``). TensorFlow:
    ``tb_nnviz.log.tf_logger.WeightLogger`` (numba's one-pass kernels read CPU
    float32/float64 variables in place; other weights are reduced in one
    compiled ``tf.function`` on their device). Torch: ``tb_nnviz.log.torch_logger.ParamLogger``
    over the ``torch.nn.Parameter`` behind each Keras variable (numba on the
    CPU, torch ops on other devices). JAX: ``tb_nnviz.log.host_logger.HostLogger``;
    during ``fit`` JAX keeps the state outside the variables, so at a logged
    step (only then) the callback asks the trainer to put it back
    (``model.jax_state_sync()``, what Keras' ``Callback.model`` does for every
    callback that reads the model; 6 to 15 ms for ResNet-50 with Adam), then
    reads each value as a numpy array (no copy on the CPU; one device-to-host
    copy of every weight on a GPU or TPU) for numba's kernels. Under JAX and
    torch, TensorFlow is never imported. Since the callback has a batch hook,
    Keras calls batch hooks synchronously (not on its async-dispatch thread):
    the weights read are the ones the batch ended with.

    Args:
      log_dir: the same directory (str or path) you give ``keras.callbacks.TensorBoard``.
      heatmap_freq: when to log heatmaps (large records: up to
        ``max_total_cells`` float32 values per step, so a handful per run).
        Default ``"auto"``: the initial weights, ``AUTO_HEATMAPS`` (8) steps
        spread geometrically over the run of each ``fit`` (epochs x steps
        per epoch; past the first epoch at epoch ends; e.g. 5 epochs of 200
        batches: 1, 3, 7, 19, 52, 139, 400, 1000) and the last step
        (``tb_nnviz.log.plan.HeatmapSchedule``; a dataset of unknown length
        gets steps 1, 3, 10, 30, 100, ...). Or an int number of batches,
        ``"epoch"`` (each epoch end) or 0 (off). Whatever the cadence, when
        the weights first turn NaN/Inf, the heatmaps of the last trajectory
        point before (the last finite values, unless a heatmap came after it)
        and the heatmaps and a trajectory point of that step are logged too,
        so the moment before a divergence can be seen and every view dates it alike.
      trajectory_freq: int batches between trajectory points (default 20),
        ``"epoch"`` or 0 (off). A point costs a few passes over the weights plus a
        sort of 2,048 sampled values per tensor: a small multiple of one read of
        every weight (BENCHMARKS.md has the figures for ResNet-50, MobileNetV2,
        a transformer and MLPs); raise it for cheaper runs.
      spectral_freq: when to log spectra (the eigenvalues of ``W^T W`` of every
        matrix and conv kernel, from which the tab and ``tb-nnviz report``
        compute WeightWatcher's alpha, stable rank and spectral norm). Default
        ``"auto"`` (or None): at epoch ends, while one spectral step costs at
        most 5% of the training time since the previous one
        (``tb_nnviz.log.plan.SpectralBudget``; the first epoch end always), so
        every epoch on most models and every few epochs where an epoch is
        short next to an eigendecomposition of every kernel. Or an int number of
        batches, ``"epoch"`` (these also log the initial weights' spectra), or
        0 (off). A step costs one eigendecomposition of each kernel's Gram
        matrix (BENCHMARKS.md); matrices WeightWatcher skips as too large, or
        whose exact decomposition would cost more than ``spectrum.MAX_FLOPS``
        per step (a 4096 x 4096 kernel), are skipped with the reason.
      include: optional regex (or list of them); only weights whose name
        (``weight.path``, e.g. ``"sequential/dense/kernel"``) matches one are logged.
      exclude: optional regex (or list); weights matching one are skipped.
      max_cells: heatmap cell budget of one tensor (default 65,536); larger
        grids are block-pooled (mean, and the max |x| of each block).
      max_total_cells: heatmap values written per logged step over all weights
        (default 262,144 = 1 MiB; a pooled heatmap counts both planes; None:
        no model-wide budget). When the weights need more, every tensor's cell
        budget is lowered alike (``tb_nnviz.reduce.grids.heatmap_cap``): small tensors
        stay exact, large ones are pooled harder (by whole kernel tiles,
        axes of at most 64 units kept).
      full_resolution: optional regex (or list of them) on the weight names:
        their heatmaps are logged unpooled (up to
        ``grids.FULL_RESOLUTION_CELLS`` = 4,194,304 cells each, 16 MiB per
        heatmap step), outside ``max_cells`` and ``max_total_cells`` (e.g.
        ``full_resolution="conv4_block3_2_conv"``). The tab marks the pooled
        heatmaps of the others. Default None.
      num_traces: single parameters traced per tensor (default 16).
      sketch_dim: dimension k of each tensor's CountSketch (default 256).
      seed: seeds the traced parameters and the sketch signs (default 0).
      trainable_only: log only trainable weights (default False: BatchNorm moving
        statistics are logged too). Non-floating variables are never logged.
      strict: re-raise errors from logging (default False: warn once, stop
        logging, let training continue). Use it in tests.
      activations: (Keras 3 models) record activation statistics (each activation layer's dead,
        zero and saturated fractions, mean, std; the input's scale) at
        trajectory steps, and activation heatmaps at heatmap steps, on a fixed
        probe batch (default True; ``tb_nnviz.log.keras_evidence.Probe``). The
        probe is one extra forward pass, in inference mode, of its up to 32
        samples at those steps, skipped at a step where it would take more than
        5% of the training time since the last one and over 50 ms
        (``PROBE_BUDGET``, ``PROBE_FREE``); Sequential and Functional models give every
        activation layer, a subclassed model the input's statistics only.
      probe_data: the probe batch (array or tensor of model inputs, batch
        first; its first 32 rows, fewer for large inputs). Default None: the
        first training batch's, captured once inside the train step under the
        TensorFlow and torch backends; under JAX (whose train step is a pure
        function) pass it to get activations.

    Run information (docs/format.md; Keras 3 models) is logged once at set-up: the optimizer's
    class and configuration (and the learning rate again when it changes), the
    loss and its ``from_logits``, and the layers in network order with their
    activation functions; the rules read it (a softmax output with
    ``from_logits=True``, layers with no non-linearity between them).

    Works with Keras 3 (``keras``, and ``tf.keras`` in TensorFlow >= 2.16) and
    with tf_keras (Keras 2) models; weight names are ``weight.path`` in Keras 3
    and ``weight.name`` without its ``:0`` in tf_keras.

    Costs: with trajectories on, a copy of every logged weight (its value at
    the previous trajectory point, for the update norm) is kept, plus one byte
    per parameter of sketch signs (``logger.extra_bytes``). Trajectory points
    of float32/float64 weights on the CPU are taken by numba's one-pass
    kernels (``tb_nnviz.reduce.numba_ops``) when numba is installed (the ``tf`` extra
    brings it); under TensorFlow the rest by TensorFlow ops in one traced
    function (one per logger, so models trained in turn do not warn of
    retracing), whose size grows with the number of distinct weight shapes
    (ResNet-50: 28), not of weights.

    Layouts: MultiHeadAttention query/key/value kernels ``(d, heads, dk)`` use
    ``split:1`` and the output kernel ``(heads, dv, d)`` ``split:2``; LSTM
    kernels and biases get gates ``i, f, c, o`` and GRU ``z, r, h``; conv kernels
    use ``conv``; everything else ``auto`` (see ``tb_nnviz.reduce.grids.grid_layout``).
    """

    def __init__(
        self,
        log_dir: str | os.PathLike[str],
        heatmap_freq: int | Literal["epoch", "auto"] = "auto",
        trajectory_freq: int | Literal["epoch"] = 20,
        *,
        include: str | Sequence[str] | None = None,
        exclude: str | Sequence[str] | None = None,
        max_cells: int = grids.DEFAULT_MAX_CELLS,
        max_total_cells: int | None = DEFAULT_MAX_TOTAL_CELLS,
        num_traces: int = trajectory.DEFAULT_NUM_TRACES,
        sketch_dim: int = trajectory.DEFAULT_SKETCH_DIM,
        seed: int = 0,
        trainable_only: bool = False,
        strict: bool = False,
        spectral_freq: int | Literal["epoch", "auto"] | None = "auto",
        activations: bool = True,
        probe_data=None,
        full_resolution: str | Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        self.log_dir = os.fspath(log_dir)
        self.heatmap_freq = _check_freq("heatmap_freq", heatmap_freq, auto=True)
        self._schedule = None  # heatmap_freq="auto": the HeatmapSchedule of the current fit
        self.full_resolution = _patterns("full_resolution", full_resolution)
        self.trajectory_freq = _check_freq("trajectory_freq", trajectory_freq)
        self.spectral_freq = _check_freq(
            "spectral_freq", "auto" if spectral_freq is None else spectral_freq, auto=True)
        self._budget = None  # the SpectralBudget of spectral_freq="auto", from on_train_begin
        self.include = _patterns("include", include)
        self.exclude = _patterns("exclude", exclude)
        self.max_cells = int(max_cells)
        grids.pool_factors(1, 1, self.max_cells)  # validates max_cells
        self.max_total_cells = None if max_total_cells is None else int(max_total_cells)
        grids.heatmap_cap([], self.max_cells, self.max_total_cells)  # validates it
        self.num_traces = int(num_traces)
        self.sketch_dim = int(sketch_dim)
        self.seed = int(seed)
        trajectory.TrajectoryPlan("x", (1,), self.num_traces, self.sketch_dim, self.seed)  # validates
        self.trainable_only = bool(trainable_only)
        self.strict = bool(strict)
        self.activations = bool(activations)
        self.probe_data = probe_data
        self._probe = None  # keras_evidence.Probe of the current model, from set_model
        self._tap = None  # keras_evidence.GradientTap (TensorFlow), from set_model
        self._logged = []  # the Keras variables the logger logs, in its order (the tap's too)
        self._wrapped = None  # (model, optimizer) whose train step and optimizer's apply were wrapped
        self._evidence_ok = True  # activations and run information still logged
        self._run = {"lr": None, "input": False, "activations": -1}  # what was logged last
        self._disabled = False
        self._writer = None
        self.logger = None  # the current model's logger (see _logger), after on_train_begin
        self._past_traces = 0
        self._model_id = None
        self._last = {"heat": -1, "traj": -1, "spec": -1}  # last step logged, per kind
        self._deferred = False  # the model had no weights at on_train_begin
        self._last_batch_step = -1
        self._counter = self._epoch_base = 0  # trained batches, see the class docstring
        self._epoch = 0  # the epoch fit is in (as Keras counts it: from initial_epoch)

    # -- public helpers -----------------------------------------------------

    @property
    def tensor_names(self):
        """Names of the weights this callback logs (after ``on_train_begin``)."""
        return self.logger.names if self.logger is not None else []

    @property
    def trace_count(self):
        """How often a logging function was traced by this callback (1 per model under
        TensorFlow when some weight needs the compiled function; 0 under JAX and torch)."""
        return self._past_traces + getattr(self.logger, "trace_count", 0)

    def close(self):
        """Flushes and closes the event file writer."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._drop_logger()

    def _drop_logger(self):
        if self.logger is not None:
            self._past_traces += getattr(self.logger, "trace_count", 0)
            self.logger = None

    # -- Keras hooks --------------------------------------------------------

    # tf_keras (Keras 2) asks its callbacks which hooks they implement; Keras 3
    # never calls these.
    _supports_tf_logs = False

    def _implements_train_batch_hooks(self):
        return True

    def _implements_test_batch_hooks(self):
        return False

    def _implements_predict_batch_hooks(self):
        return False

    def set_model(self, model):
        super().set_model(model)
        # Before fit makes its train function: the probe wraps train_step to take its batch,
        # the gradient tap the optimizer's apply.
        if self._disabled or not isinstance(model, keras.Model):
            return
        optimizer = getattr(model, "optimizer", None)
        if self._wrapped is not None and self._wrapped[0] is model and self._wrapped[1] is optimizer:
            return  # a later fit of the same model, compiled with the same optimizer
        new_model = self._wrapped is None or self._wrapped[0] is not model
        self._wrapped = (model, optimizer)
        if self.activations and new_model:
            self._evidence(self._new_probe, model)
        if self.trajectory_freq != 0 and keras.backend.backend() == "tensorflow" and optimizer is not None:
            self._evidence(self._new_tap, model)  # a new model, or the model compiled again
        # TensorFlow binds train_step when it makes the train function: one made by an
        # earlier fit is made again (traced once more) to include the wrappers.
        if getattr(model, "train_function", None) is not None and keras.backend.backend() == "tensorflow":
            model.train_function = None

    def on_train_batch_begin(self, batch, logs=None):
        if self._tap is not None:
            step = self._epoch_base + int(batch) + 1
            params = self.params or {}
            epoch_end = params.get("steps") is not None and int(batch) + 1 == params["steps"]
            # The point of the last batch of training (on_train_end's) gets its gradients too.
            last = epoch_end and params.get("epochs") is not None and self._epoch + 1 == params["epochs"]
            self._tap.arm(_crossed(self.trajectory_freq, self._last_batch_step, step) or last or (
                self.trajectory_freq == "epoch" and epoch_end))

    def on_train_begin(self, logs=None):
        self._schedule = None
        self._guard(self._begin)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_base = self._counter
        self._epoch = int(epoch)
        if self.heatmap_freq == "auto" and self._schedule is None:
            # The first epoch of this fit (from initial_epoch): the run's length is known here.
            params = self.params or {}
            steps, epochs = params.get("steps"), params.get("epochs")
            total = steps * (epochs - self._epoch) if steps and epochs else None
            self._schedule = HeatmapSchedule(self._counter, total, steps)

    def on_train_batch_end(self, batch, logs=None):
        # ``batch`` is the last batch of the execution (steps_per_execution > 1).
        self._counter = self._epoch_base + int(batch) + 1
        if self._disabled:
            return
        if self.logger is None:
            if self._deferred:
                self._guard(self._begin)
            return
        if self.heatmap_freq != "auto" and not any(
                isinstance(f, int) for f in (self.heatmap_freq, self.trajectory_freq, self.spectral_freq)):
            return
        self._guard(self._batch_end)

    def on_epoch_end(self, epoch, logs=None):
        self._guard(self._at_step, "epoch")

    def on_train_end(self, logs=None):
        self._guard(self._at_step, "end")

    # -- internals ----------------------------------------------------------

    def _guard(self, fn, *args, **kwargs):
        if not self._disabled:
            self._disabled = not guarded(lambda: fn(*args, **kwargs), self.strict, "NNVizCallback", self.log_dir)

    def _evidence(self, fn, *args):
        """Runs ``fn`` of the activations, gradients or run information: an error stops those only."""
        if self._evidence_ok and not self._disabled:
            self._evidence_ok = guarded_part(lambda: fn(*args), self.strict, "NNVizCallback",
                                             "the activations, gradients and run information")

    def _new_tap(self, model):
        from tb_nnviz.log.keras_evidence import GradientTap

        self._tap = GradientTap(model.optimizer)
        self._tap.variables = self._logged  # the model compiled again: its weights are known

    def _new_probe(self, model):
        from tb_nnviz.log.keras_evidence import Probe

        self._probe = Probe(model, self.probe_data)
        # The probe's forward takes at most PROBE_BUDGET of the training time (the first is always due).
        self._probe_budget = SpectralBudget(PROBE_BUDGET, free=PROBE_FREE)
        self._probe.capture()

    def _gradients(self):
        """The gradients the last optimizer step applied, into the next trajectory point."""
        if self._tap is not None and hasattr(self.logger, "take_gradients"):
            sumsq = self._tap.take()
            if sumsq is not None:
                self.logger.take_gradients(sumsq)
        elif hasattr(self.logger, "capture_gradients"):  # torch: Keras leaves .grad after the step
            self.logger.capture_gradients()

    def _log_evidence(self, step, heat, traj):
        """Activations of the probe batch at a logged step; the learning rate when it changed."""
        if traj and isinstance(self.model, keras.Model):
            from tb_nnviz.log.keras_evidence import learning_rate

            optimizer = getattr(self.model, "optimizer", None)
            lr = None if optimizer is None else learning_rate(optimizer)
            if lr != self._run["lr"]:
                self._writer.log_run_info(step, {"lr": [[step, lr]]})
                self._run["lr"] = lr
        if (self._probe is None or not (heat or traj) or self._probe.model is not self.model
                or self._run.get("activations") == step or not self._probe_budget.due()):
            return  # once per step: the first kinds logged at a step decide whether with heatmaps
        start = self._probe_budget.clock()
        stats = self._probe.write(self._writer, step, heatmaps=heat)
        if stats is not None:
            self._run["activations"] = step
            if self._run.get("probed"):  # the first call traces: its time says nothing of the next
                self._probe_budget.spent(self._probe_budget.clock() - start)
            self._run["probed"] = True
        if stats is not None and not self._run["input"]:
            self._writer.log_run_info(step, {"input": dict(stats, step=step)})
            self._run["input"] = True

    def _begin(self):
        if not self.model.weights:
            # A subclassed model is built by its first batch: set up after it.
            self._deferred = True
            return
        if self.logger is None or self._model_id != id(self.model):
            if not self._deferred:
                self._counter = self._epoch_base = int(self.model.optimizer.iterations.numpy())
            self._setup()
        self._deferred = False
        self._last_batch_step = self._counter
        self._log(self._last_batch_step, self.heatmap_freq != 0, self.trajectory_freq != 0,
                  self.spectral_freq not in (0, "auto"))

    def _batch_end(self):
        step = self._counter
        heat = _crossed(self.heatmap_freq, self._last_batch_step, step) or (
            self._schedule is not None and self._schedule.crossed(self._last_batch_step, step))
        traj = _crossed(self.trajectory_freq, self._last_batch_step, step)
        spec = _crossed(self.spectral_freq, self._last_batch_step, step)
        self._last_batch_step = step
        self._log(step, heat, traj, spec)

    def _at_step(self, when):
        if self.logger is None:
            return
        heat = self.heatmap_freq != 0 and (when == "end" or self.heatmap_freq == "epoch")
        traj = self.trajectory_freq != 0 and (when == "end" or self.trajectory_freq == "epoch")
        if self.spectral_freq == "auto":
            spec = self._budget.due()
        else:
            spec = self.spectral_freq != 0 and (when == "end" or self.spectral_freq == "epoch")
        self._log(self._counter, heat, traj, spec)
        self._writer.flush()

    def _log(self, step, heat, traj, spec=False):
        heat = heat and self._last["heat"] != step
        traj = traj and self._last["traj"] != step
        spec = spec and self._last["spec"] != step
        if not (heat or traj or spec):
            return
        # JAX: during fit the state lives outside the variables (they are emptied and their
        # buffers donated to each step); the trainer reattaches it at epoch ends, and on
        # request. Only logged steps ask: a batch that logs nothing costs nothing.
        sync = getattr(self._model, "jax_state_sync", None)
        if sync is not None:
            sync()
        if traj:
            self._evidence(self._gradients)
        log_step(self.logger, step, heat, traj, spec, self._budget)
        for kind, on in (("heat", heat), ("traj", traj), ("spec", spec)):
            if on:
                self._last[kind] = step
        self._evidence(self._log_evidence, step, heat, traj)

    def _setup(self):
        if self._writer is None:
            self._writer = Writer(
                os.path.join(self.log_dir, "train"), max_cells=self.max_cells,
                num_traces=self.num_traces, sketch_dim=self.sketch_dim, seed=self.seed,
                filename_suffix=".nnviz", full_resolution=self.full_resolution,
            )
        self._model_id = id(self.model)
        self._last = {"heat": -1, "traj": -1, "spec": -1}
        self._budget = SpectralBudget() if self.spectral_freq == "auto" else None
        # The model's graph (docs/format.md, "Model graph"), once per model: a failure only warns.
        guarded_part(lambda: keras_graph.log(self._writer, self.model, self._counter), self.strict,
                     "NNVizCallback", "the model graph")
        self._drop_logger()
        self._evidence(self._log_run_info)
        weights = self._collect()
        self._logged = [w.variable for w in weights]
        if self._tap is not None:
            self._tap.variables = self._logged
        self.logger = _logger(
            self._writer, weights, heatmaps=self.heatmap_freq != 0,
            trajectories=self.trajectory_freq != 0, max_total_cells=self.max_total_cells,
            spectra=self.spectral_freq != 0,
        )

    def _log_run_info(self):
        if not isinstance(self.model, keras.Model):
            return  # tf_keras (Keras 2): weights only
        from tb_nnviz.log.keras_evidence import run_info

        info = run_info(self.model)
        self._run = {"lr": (info.get("optimizer") or {}).get("lr"), "input": False, "activations": -1}
        if self._run["lr"] is not None:
            info["lr"] = [[self._counter, self._run["lr"]]]
        self._writer.log_run_info(self._counter, info)

    def _collect(self):
        hints = _layout_hints(self.model)
        weights = self.model.trainable_weights if self.trainable_only else self.model.weights
        specs, seen = [], set()
        for w in weights:
            if not _is_floating(w.dtype) or not all(w.shape) or len(w.shape) == 0:
                continue  # nothing to draw: integer counters, scalars, empty weights
            # Keras 3: "sequential/dense/kernel"; tf_keras: "dense/kernel:0".
            name = getattr(w, "path", None) or w.name.rpartition(":")[0] or w.name
            if self.include is not None and not any(p.search(name) for p in self.include):
                continue
            if self.exclude is not None and any(p.search(name) for p in self.exclude):
                continue
            unique, i = name, 1
            while unique in seen:
                i += 1
                unique = "%s_%d" % (name, i)
            seen.add(unique)
            layout, gates, layer = hints.get(id(w), ("auto", None, None))
            # "Dense kernel", "Conv2D bias": the layer's class, then the weight's own name.
            description = "%s %s" % (layer, name.rpartition("/")[2]) if layer else None
            # The logger reads the weight through the Keras variable (``_logger``); tf_keras
            # weights are tf.Variables.
            specs.append(Weight(unique, w, layout, gates, description))
        return specs


def _is_floating(dtype):
    """Whether a weight's dtype (a Keras 3 name, or tf_keras' ``tf.DType``) is real floating.

    >>> [_is_floating(d) for d in ("float32", "bfloat16", "int64", "complex64")]
    [True, True, False, False]
    """
    if hasattr(dtype, "is_floating"):
        return bool(dtype.is_floating)
    return str(dtype).startswith(("float", "bfloat"))


def _logger(writer, weights, **options):
    """The logger of ``weights`` (``Weight`` s holding Keras variables) under the Keras backend that made them.

    TensorFlow (and tf_keras): ``WeightLogger`` over the ``tf.Variable`` s (numba's kernels
    for CPU float32/float64, read in place; ``tf_ops`` in one compiled function for the
    rest). Torch: ``ParamLogger`` over the ``torch.nn.Parameter`` each Keras variable
    keeps (Keras assigns into it in place: numba for CPU float32/float64, ``torch_ops``
    on the device for the rest). JAX: ``HostLogger``, which reads each variable's
    current ``jax.Array`` as a numpy array at each logged step (a view on the CPU; a
    device-to-host copy on an accelerator) and reduces it with numba's kernels (numpy
    for other dtypes). Only the chosen framework is imported: no TensorFlow under
    JAX or torch.
    """
    keras3 = [isinstance(w.variable, keras.Variable) for w in weights]
    framework = keras.backend.backend() if weights and all(keras3) else "tensorflow"
    if framework == "jax":
        from tb_nnviz.log.host_logger import HostLogger

        return HostLogger(writer, weights, _jax_value, shapes=[tuple(w.variable.shape) for w in weights],
                          dtypes=[w.variable.dtype for w in weights], **options)
    if framework == "torch":
        from tb_nnviz.log.torch_logger import ParamLogger

        return ParamLogger(writer, [w._replace(variable=w.variable.value) for w in weights], **options)
    from tb_nnviz.log.tf_logger import WeightLogger

    # A Keras 3 variable wraps a tf.Variable; tf_keras weights are tf.Variables.
    return WeightLogger(writer, [w._replace(variable=w.variable.value) if is3 else w
                                 for w, is3 in zip(weights, keras3)], **options)


def _jax_value(variable):
    """The current value of a Keras JAX variable as a numpy array (no copy on the CPU).

    Read after ``jax_state_sync``, so it is the state of the last step, not an emptied
    variable's placeholder.
    """
    return np.asarray(variable.value)


def _crossed(freq, last, step):
    """True when ``step`` passed a multiple of an int ``freq`` since ``last``."""
    return isinstance(freq, int) and freq > 0 and step // freq > last // freq


def _layout_hints(model):
    """``{id(weight): (layout, gates, layer class name)}`` from the layer types."""
    hints = {}
    layers = list(model._flatten_layers(include_self=True, recursive=True))
    for layer in layers:  # parents come first, so the innermost owner wins
        for w in layer.weights:
            hints[id(w)] = ("auto", None, type(layer).__name__)
    for layer in layers:
        kind = type(layer).__name__
        if isinstance(layer, keras.layers.MultiHeadAttention):
            for attr, layout in (("query_dense", "split:1"), ("key_dense", "split:1"),
                                 ("value_dense", "split:1"), ("output_dense", "split:2")):
                # Keras 3 names the projections publicly; tf_keras only privately.
                dense = getattr(layer, attr, None) or getattr(layer, "_" + attr, None)
                kernel = getattr(dense, "kernel", None)
                if kernel is not None and len(kernel.shape) == 3:
                    hints[id(kernel)] = (layout, None, kind)
        elif isinstance(layer, (keras.layers.LSTMCell, keras.layers.GRUCell)):
            gates = _LSTM_GATES if isinstance(layer, keras.layers.LSTMCell) else _GRU_GATES
            for attr in ("kernel", "recurrent_kernel", "bias"):
                w = getattr(layer, attr, None)
                if w is not None:
                    hints[id(w)] = ("auto", gates, kind)
        elif isinstance(layer, keras.layers.Embedding):
            w = getattr(layer, "embeddings", None)
            if w is not None:
                hints[id(w)] = ("matrix", None, kind)
        elif "Conv" in kind and "LSTM" not in kind:
            for w in layer.weights:
                if len(w.shape) >= 3:
                    hints[id(w)] = ("conv", None, kind)
    return hints
