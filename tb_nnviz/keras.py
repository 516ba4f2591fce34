"""``NNVizCallback``: weight heatmaps and update trajectories from ``model.fit``.

>>> import tempfile, numpy as np, keras
>>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
>>> model.compile("sgd", "mse")
>>> cb = NNVizCallback(tempfile.mkdtemp())
>>> _ = model.fit(np.zeros((8, 4)), np.zeros((8, 2)), verbose=0, callbacks=[cb])
>>> [name.split("/")[-1] for name in cb.tensor_names]  # e.g. "sequential/dense/kernel"
['kernel', 'bias']
"""

import os
import re
import warnings

import keras
import numpy as np
import tensorflow as tf

from tb_nnviz import metadata, reduce, summary

__all__ = ["NNVizCallback"]

_LSTM_GATES = ["i", "f", "c", "o"]  # Keras 3 LSTMCell: split(z, 4) -> i, f, c, o
_GRU_GATES = ["z", "r", "h"]  # Keras 3 GRUCell: kernel[:, :u] z, [u:2u] r, [2u:] h


def _check_freq(name, value):
    if value == "epoch":
        return value
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(
            "%s must be an int >= 0 (batches; 0 = off) or 'epoch', got %r" % (name, value)
        )
    return int(value)


def _patterns(name, value):
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    try:
        return [re.compile(p) for p in value]
    except (TypeError, re.error) as e:
        raise ValueError("%s must be a regex or a list of regexes, got %r (%s)" % (name, value, e)) from None


class _Spec:
    """One logged weight: its name, variable and the fixed reduction choices."""

    def __init__(self, name, variable, layout, gates, description, cb):
        self.name = name
        self.variable = variable
        # A Keras 3 variable wraps a tf.Variable; tf_keras weights are tf.Variables.
        value = variable.value if isinstance(variable, keras.Variable) else variable
        self.tf_variable = value
        self.shape = tuple(int(d) for d in variable.shape)
        self.dtype = summary._check_static(name, tf.zeros([1], tf.as_dtype(variable.dtype)))
        self.layout = layout
        self.gates = gates
        self.description = description
        self.heat_content = reduce.heatmap_content(
            name, self.shape, self.dtype, layout, cb.max_cells, gates
        )
        self.plan = summary.plan_for(name, self.shape, cb.num_traces, cb.sketch_dim, cb.seed)
        self.heat_md = metadata.heatmap_metadata(self.heat_content, description).SerializeToString()
        self.traj_md = metadata.trajectory_metadata(
            self.plan.content(self.dtype), description
        ).SerializeToString()
        self.first_md = metadata.heatmap_metadata(
            dict(self.heat_content, first=True), description
        ).SerializeToString()
        self.heat_tag = metadata.summary_tag(name, metadata.HEATMAP_PLUGIN_NAME)
        self.first_tag = metadata.first_tag(name)
        self.traj_tag = metadata.summary_tag(name, metadata.TRAJECTORY_PLUGIN_NAME)


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
    (step 1). All reductions run in one compiled ``tf.function`` where
    the weights live; only the small results travel to the host.

    Args:
      log_dir: str, the same directory you give ``keras.callbacks.TensorBoard``.
      heatmap_freq: int number of batches between heatmaps, ``"epoch"`` (default:
        one heatmap of every weight at each epoch end) or 0 (off). Heatmaps are
        large (up to ``max_cells`` float32 per plane); a few per run are enough.
      trajectory_freq: int batches between trajectory points (default 20),
        ``"epoch"`` or 0 (off). A point costs a few passes over the weights plus a
        sort of at most 65,536 sampled values per tensor. Measured on 2 CPU cores
        (batch 32): ~2.6 ms per point for the 9k-parameter digits MLP (a batch
        takes ~2.5 ms) and ~35 ms for a 1.1M-parameter MLP (~9 ms per batch), so
        the default adds roughly 10-15% to training time; raise it for cheaper runs.
      include: optional regex (or list of them); only weights whose name
        (``weight.path``, e.g. ``"sequential/dense/kernel"``) matches one are logged.
      exclude: optional regex (or list); weights matching one are skipped.
      max_cells: heatmap cell budget (default 65,536); larger grids are block-pooled.
      num_traces: single parameters traced per tensor (default 16).
      sketch_dim: dimension k of each tensor's CountSketch (default 128).
      seed: seeds the traced parameters and the sketch hash (default 0).
      trainable_only: log only trainable weights (default False: BatchNorm moving
        statistics are logged too). Non-floating variables are never logged.
      strict: re-raise errors from logging (default False: warn once, stop
        logging, let training continue). Use it in tests.

    Works with Keras 3 (``keras``, and ``tf.keras`` in TensorFlow >= 2.16) and
    with tf_keras (Keras 2) models; weight names are ``weight.path`` in Keras 3
    and ``weight.name`` without its ``:0`` in tf_keras.

    Costs: a copy of every logged weight (its value at the previous trajectory
    point, for the update norm) is kept in non-trainable ``tf.Variable`` s.

    Layouts: MultiHeadAttention query/key/value kernels ``(d, heads, dk)`` use
    ``split:1`` and the output kernel ``(heads, dv, d)`` ``split:2``; LSTM
    kernels and biases get gates ``i, f, c, o`` and GRU ``z, r, h``; conv kernels
    use ``conv``; everything else ``auto`` (see ``tb_nnviz.reduce.grid_layout``).
    """

    def __init__(
        self,
        log_dir,
        heatmap_freq="epoch",
        trajectory_freq=20,
        *,
        include=None,
        exclude=None,
        max_cells=reduce.DEFAULT_MAX_CELLS,
        num_traces=reduce.DEFAULT_NUM_TRACES,
        sketch_dim=reduce.DEFAULT_SKETCH_DIM,
        seed=0,
        trainable_only=False,
        strict=False,
    ):
        super().__init__()
        self.log_dir = os.fspath(log_dir)
        self.heatmap_freq = _check_freq("heatmap_freq", heatmap_freq)
        self.trajectory_freq = _check_freq("trajectory_freq", trajectory_freq)
        self.include = _patterns("include", include)
        self.exclude = _patterns("exclude", exclude)
        self.max_cells = int(max_cells)
        reduce.pool_factors(1, 1, self.max_cells)  # validates max_cells
        self.num_traces = int(num_traces)
        self.sketch_dim = int(sketch_dim)
        self.seed = int(seed)
        reduce.TrajectoryPlan("x", (1,), self.num_traces, self.sketch_dim, self.seed)  # validates
        self.trainable_only = bool(trainable_only)
        self.strict = bool(strict)
        self._disabled = False
        self._writer = None
        self._specs = None
        self._model_id = None
        self._function = None
        self.trace_count = 0  # how often the logging function was traced
        self._last = {"heat": -1, "traj": -1}  # last step logged, per kind
        self._first_logged = False  # the first-heatmap tags are written
        self._deferred = False  # the model had no weights at on_train_begin
        self._last_batch_step = -1
        self._counter = self._epoch_base = 0  # trained batches, see the class docstring

    # -- public helpers -----------------------------------------------------

    @property
    def tensor_names(self):
        """Names of the weights this callback logs (after ``on_train_begin``)."""
        return [s.name for s in self._specs or ()]

    def close(self):
        """Flushes and closes the event file writer."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            self._function = None

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

    def on_train_begin(self, logs=None):
        self._guard(self._begin)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_base = self._counter

    def on_train_batch_end(self, batch, logs=None):
        # ``batch`` is the last batch of the execution (steps_per_execution > 1).
        self._counter = self._epoch_base + int(batch) + 1
        if self._disabled:
            return
        if self._function is None:
            if self._deferred:
                self._guard(self._begin)
            return
        if not isinstance(self.heatmap_freq, int) and not isinstance(self.trajectory_freq, int):
            return
        self._guard(self._batch_end)

    def on_epoch_end(self, epoch, logs=None):
        self._guard(self._at_step, "epoch", flush=True)

    def on_train_end(self, logs=None):
        self._guard(self._at_step, "end", flush=True)

    # -- internals ----------------------------------------------------------

    def _guard(self, fn, *args, **kwargs):
        if self._disabled:
            return
        try:
            fn(*args, **kwargs)
        except Exception as e:  # never kill training for a picture
            if self.strict:
                raise
            self._disabled = True
            warnings.warn(
                "NNVizCallback: logging to %r disabled after an error (training "
                "continues; pass strict=True to raise): %s: %s"
                % (self.log_dir, type(e).__name__, e),
                RuntimeWarning,
                stacklevel=2,
            )

    def _step(self):
        return self._counter

    def _begin(self):
        if not self.model.weights:
            # A subclassed model is built by its first batch: set up after it.
            self._deferred = True
            return
        if self._function is None or self._model_id != id(self.model):
            if not self._deferred:
                self._counter = self._epoch_base = int(self.model.optimizer.iterations.numpy())
            self._setup()
        self._deferred = False
        self._last_batch_step = self._step()
        self._log(self._last_batch_step, self.heatmap_freq != 0, self.trajectory_freq != 0)

    def _batch_end(self):
        step = self._step()
        heat = _crossed(self.heatmap_freq, self._last_batch_step, step)
        traj = _crossed(self.trajectory_freq, self._last_batch_step, step)
        self._last_batch_step = step
        self._log(step, heat, traj)

    def _at_step(self, when, flush):
        if self._function is None:
            return
        step = self._step()
        heat = self.heatmap_freq != 0 and (when == "end" or self.heatmap_freq == "epoch")
        traj = self.trajectory_freq != 0 and (when == "end" or self.trajectory_freq == "epoch")
        self._log(step, heat, traj)
        if flush:
            self._writer.flush()

    def _log(self, step, heat, traj):
        heat = heat and self._last["heat"] != step
        traj = traj and self._last["traj"] != step
        if not (heat or traj) or not self._specs:
            return
        first = heat and not self._first_logged
        self._function(
            tf.constant(step, tf.int64),
            tf.constant(heat),
            tf.constant(first),
            tf.constant(traj),
            [s.tf_variable for s in self._specs],
            self._previous,
            self._has_previous,
        )
        if heat:
            self._last["heat"] = step
            self._first_logged = True
        if traj:
            self._last["traj"] = step

    def _setup(self):
        self._specs = self._collect()
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(
                os.path.join(self.log_dir, "train"), filename_suffix=".nnviz"
            )
        self._model_id = id(self.model)
        self._previous, self._has_previous = [], None
        if self.trajectory_freq != 0:
            with tf.init_scope():
                self._previous = [
                    tf.Variable(tf.zeros(s.shape, s.tf_variable.dtype), trainable=False,
                                name="nnviz_previous")
                    for s in self._specs
                ]
                self._has_previous = tf.Variable(False, trainable=False, name="nnviz_has_previous")
        self._last = {"heat": -1, "traj": -1}
        self._first_logged = False
        self._function = tf.function(self._body)

    def _body(self, step, heat, first, traj, variables, previous, has_previous):
        self.trace_count += 1
        # One tf.cond per kind rather than one per summary (tf.summary.record_if
        # would add a cond to every write): tracing stays a fraction of a second.
        no = lambda: tf.constant(False)  # noqa: E731
        with self._writer.as_default(step=step), tf.summary.record_if(True):
            if self.heatmap_freq != 0:

                def heatmaps():
                    planes = [
                        summary.heatmap_planes(tf.convert_to_tensor(v), spec.heat_content)
                        for spec, v in zip(self._specs, variables)
                    ]
                    for spec, p in zip(self._specs, planes):
                        summary.write(spec.heat_tag, lambda p=p: p, step, spec.heat_md)

                    def firsts():
                        # The first heatmap also goes to the first-heatmap tag, so
                        # TensorBoard's sampling of the heatmap tag cannot drop it.
                        for spec, p in zip(self._specs, planes):
                            summary.write(spec.first_tag, lambda p=p: p, step, spec.first_md)
                        return tf.constant(True)

                    return tf.cond(first, firsts, no)

                tf.cond(heat, heatmaps, no)
            if self.trajectory_freq != 0:

                def trajectories():
                    values = [tf.convert_to_tensor(v) for v in variables]
                    for spec, x, p in zip(self._specs, values, previous):
                        point = summary.trajectory_point(
                            x, tf.convert_to_tensor(p), spec.plan, has_previous
                        )
                        summary.write(spec.traj_tag, lambda point=point: point, step, spec.traj_md)
                    for x, p in zip(values, previous):  # after the reads above
                        p.assign(x)
                    has_previous.assign(True)
                    return tf.constant(True)

                tf.cond(traj, trajectories, no)
        return tf.constant(True)

    def _collect(self):
        hints = _layout_hints(self.model)
        weights = self.model.trainable_weights if self.trainable_only else self.model.weights
        specs, seen = [], set()
        for w in weights:
            if not tf.as_dtype(w.dtype).is_floating:
                continue
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
            description = "%s weight %s" % (layer, w.name) if layer else None
            specs.append(_Spec(unique, w, layout, gates, description, self))
        return specs


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
            for attr, layout in (("_query_dense", "split:1"), ("_key_dense", "split:1"),
                                 ("_value_dense", "split:1"), ("_output_dense", "split:2")):
                kernel = getattr(getattr(layer, attr, None), "kernel", None)
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
