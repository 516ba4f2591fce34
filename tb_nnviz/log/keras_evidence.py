"""What the rules read of a Keras model besides its weights: run information and activations.

``run_info`` is the model's set-up as logged once (docs/format.md, "Run
information"): the optimizer's public configuration, the loss and whether it
takes logits, and the layers in network order with their activation
functions. ``Probe`` records each activation layer's output on a fixed probe
batch at logged steps (Keras gives callbacks neither the batch nor the layer
outputs): the first up to ``PROBE_SAMPLES`` inputs of the first training batch,
captured once (TensorFlow and torch backends), or the batch the user passes.
``GradientTap`` keeps the gradients' sums of squares of the steps that end at a
trajectory point, as the optimizer applies them (no second backward pass).

>>> import keras, numpy as np
>>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="relu", name="dense"),
...                           keras.layers.Dense(2, name="dense_1")], name="sequential")
>>> model.compile(keras.optimizers.SGD(0.1, momentum=0.9),
...               keras.losses.SparseCategoricalCrossentropy(from_logits=True))
>>> info = run_info(model)
>>> info["optimizer"]["class"], info["optimizer"]["momentum"], info["loss"]
('SGD', 0.9, {'class': 'SparseCategoricalCrossentropy', 'from_logits': True})
>>> [(m["name"], m["type"], m["activation"]) for m in info["structure"]]
[('sequential/dense', 'Dense', 'relu'), ('sequential/dense_1', 'Dense', 'linear')]
>>> probe = Probe(model, np.ones((40, 4), "float32"))
>>> [name for name, _, _ in probe.layers]  # activation layers, then the output
['sequential/dense', 'sequential/dense_1']
"""

import functools
import math
import warnings

import keras
import numpy as np

#: Rows of the probe batch at most ...
PROBE_SAMPLES = 32
#: ... and fewer when one input is large: the probe holds at most this many input entries.
PROBE_ENTRIES = 1 << 20

#: Keras activation function names and their kind (``layouts.ACTIVATION_KINDS``).
ACTIVATION_KINDS = {
    "relu": "relu", "relu6": "relu", "leaky_relu": "leaky_relu", "elu": "elu", "selu": "elu", "celu": "elu",
    "gelu": "gelu", "silu": "silu", "swish": "silu", "mish": "silu", "hard_silu": "silu", "hard_swish": "silu",
    "sigmoid": "sigmoid", "hard_sigmoid": "sigmoid", "tanh": "tanh", "hard_tanh": "tanh", "soft_sign": "tanh",
    "softsign": "tanh", "softmax": "softmax", "log_softmax": "softmax", "linear": "linear",
}
#: Activation layers (no ``activation`` attribute of a function) and their kind.
LAYER_KINDS = {"ReLU": "relu", "LeakyReLU": "leaky_relu", "PReLU": "leaky_relu", "ELU": "elu",
               "Softmax": "softmax"}


def layer_kind(layer):
    """The activation kind of a Keras layer's output, or None when it has no activation.

    >>> layer_kind(keras.layers.Dense(2, activation="tanh")), layer_kind(keras.layers.ReLU())
    ('tanh', 'relu')
    >>> layer_kind(keras.layers.Flatten()) is None
    True
    """
    kind = LAYER_KINDS.get(type(layer).__name__)
    if kind is not None:
        return kind
    fn = getattr(layer, "activation", None)
    if fn is None or not callable(fn):
        return None
    name = getattr(fn, "__name__", type(fn).__name__).lower()
    return ACTIVATION_KINDS.get(name, "other")


def layer_name(model, layer):
    """A layer's name as its weights are named (``sequential/dense``), else ``<model>/<layer>``."""
    for w in layer.weights:
        path = getattr(w, "path", None)
        if path and "/" in path:
            return path.rpartition("/")[0]
    return "%s/%s" % (model.name, layer.name)


def structure(model):
    """The model's leaf layers in network order: ``{"name", "type", "activation"?, "params", "output_shape"?}``."""
    out = []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if any(True for _ in layer._flatten_layers(include_self=False, recursive=False)):
            continue  # a nested model or block: its layers are listed
        if isinstance(layer, keras.layers.InputLayer):
            continue
        entry = {"name": layer_name(model, layer), "type": type(layer).__name__,
                 "params": int(sum(math.prod(w.shape) for w in layer.weights))}
        kind = layer_kind(layer)
        if kind is not None:
            entry["activation"] = kind
        if not layer.trainable:
            entry["trainable"] = False
        try:
            entry["output_shape"] = [None if d is None else int(d) for d in layer.output.shape]
        except (AttributeError, ValueError, TypeError):
            pass  # a subclassed model's layers have no symbolic output
        out.append(entry)
    return out


def learning_rate(optimizer):
    """The optimizer's current learning rate as a float (a schedule evaluated at its step), or None."""
    try:
        return float(np.asarray(keras.ops.convert_to_numpy(optimizer.learning_rate)))
    except Exception:  # an optimizer without one, or a value that cannot be read here
        return None


def optimizer_config(optimizer):
    """The optimizer's public configuration with ``class`` and ``lr`` (the names the rules read)."""
    config = {}
    try:
        config = dict(optimizer.get_config())
    except Exception:  # a custom optimizer without get_config
        pass
    config.pop("name", None)
    config = {k: v for k, v in config.items() if isinstance(v, (int, float, str, bool, list, tuple)) or v is None}
    config["class"] = type(optimizer).__name__
    config["lr"] = learning_rate(optimizer)
    config.pop("learning_rate", None)  # the same value as ``lr``, or a schedule's dict
    return config


def loss_config(model):
    """``{"class", "from_logits"}`` of the compiled loss (the first, for several outputs), or None."""
    loss = getattr(model, "loss", None)
    if isinstance(loss, dict):
        loss = next(iter(loss.values()), None)
    if isinstance(loss, (list, tuple)):
        loss = loss[0] if loss else None
    if loss is None:
        return None
    if isinstance(loss, str):
        return {"class": loss, "from_logits": False}
    config = {}
    try:
        config = loss.get_config() or {}
    except Exception:  # a plain function, or a loss without get_config
        pass
    name = type(loss).__name__
    if name == "LossFunctionWrapper":  # keras.losses.SparseCategoricalCrossentropy -> its class name
        fn = getattr(loss, "fn", None)
        name = "".join(p.title() for p in getattr(fn, "__name__", name).split("_"))
    elif callable(loss) and not hasattr(loss, "get_config"):
        name = getattr(loss, "__name__", name)
    return {"class": name, "from_logits": bool(config.get("from_logits", False))}


def run_info(model):
    """The first run-information record of ``model`` (compiled): framework, optimizer, loss, structure."""
    info = {"framework": "keras", "keras_version": keras.__version__, "backend": keras.backend.backend(),
            "model": type(model).__name__,
            "parameters": int(sum(math.prod(w.shape) for w in model.weights)),
            "structure": structure(model)}
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None:
        info["optimizer"] = optimizer_config(optimizer)
    loss = loss_config(model)
    if loss is not None:
        info["loss"] = loss
    return info


class Probe:
    """Each activation layer's output on a fixed probe batch, for ``Writer.log_activations``.

    Args:
      model: a built Keras model. Sequential and Functional models give every
        activation layer's output (layers with a non-linear ``activation``,
        activation layers, and the model's output layer); a subclassed model,
        whose layers Keras cannot reach one by one, gives the input's
        statistics only (``layers`` is empty).
      data: the probe inputs (array or tensor, batch first; its first rows are
        used), or None to take the first training batch through ``capture``.

    Attributes:
      batch: the probe inputs as a numpy array, or None until captured.
    """

    def __init__(self, model, data=None):
        self.model = model
        self.batch = None if data is None else _rows(np.asarray(keras.ops.convert_to_numpy(data)))
        self._extractor = self._layers = self._capture = self._call = None
        self._gave_up = False  # capturing failed once: not tried again

    @property
    def layers(self):
        """``(name, kind, layer class)`` of each recorded layer, in network order (made on first use)."""
        if self._layers is None:
            self._extractor, self._layers = _extractor(self.model)
        return self._layers

    def capture(self):
        """Takes the probe batch from the model's next training step (once): installs a
        wrapper of ``model.train_step``. Returns None, or why the batch cannot be captured
        (then pass ``probe_data``)."""
        if self.batch is not None:
            return None
        backend = keras.backend.backend()
        if backend == "jax":
            return "the JAX backend runs train_step as a pure function: pass probe_data to record activations"
        if "train_step" in vars(self.model):
            return None  # already wrapped (a second fit): the first capture stands
        step = type(self.model).train_step.__get__(self.model)
        take = _tf_taker() if backend == "tensorflow" else self._take_eager
        if take is None:
            return "a tf.distribute strategy is active: pass probe_data to record activations"
        self._capture = take if backend == "tensorflow" else None

        def train_step(data):
            x = keras.utils.unpack_x_y_sample_weight(data)[0]
            if self.batch is None and not self._gave_up and _is_array(x):
                self._gave_up = not _inside_training("the probe batch", take, x)
            return step(data)

        self.model.train_step = train_step
        # TensorFlow binds train_step when it makes the train function: a function made by an
        # earlier fit is made again (and traced once more) to include the wrapper.
        if getattr(self.model, "train_function", None) is not None:
            self.model.train_function = None
        return None

    def _take_eager(self, x):
        self.batch = _rows(np.asarray(keras.ops.convert_to_numpy(x)))

    def ready(self):
        """True once the probe batch is known (reads a captured one from its variables)."""
        if self.batch is None and self._capture is not None:
            self.batch = self._capture.value()
        return self.batch is not None

    def outputs(self):
        """``{name: output}`` of every recorded layer on the probe batch (inference mode), numpy."""
        if not self.layers:
            return {}
        if self._call is None:
            self._call = _compiled(self._extractor)
        values = self._call(self.batch)
        if not isinstance(values, (list, tuple)):
            values = [values]
        return {name: np.asarray(keras.ops.convert_to_numpy(v)) for (name, _, _), v in zip(self.layers, values)}

    def write(self, writer, step, heatmaps=False):
        """Logs the probe batch's activations at ``step``; returns the input's statistics
        (``{"mean", "std", "min", "max"}``) for the run information, or None before a batch is known."""
        if not self.ready():
            return None
        kinds = {name: kind for name, kind, _ in self.layers}
        modules = {name: module for name, _, module in self.layers}
        x = self.batch.astype(np.float64) if np.issubdtype(self.batch.dtype, np.number) else None
        writer.log_activations(step, self.outputs(), kinds=kinds, modules=modules, inputs=x, heatmaps=heatmaps)
        if x is None:
            return None
        return {"mean": float(x.mean()), "std": float(x.std()), "min": float(x.min()), "max": float(x.max())}


def _inside_training(what, fn, *args):
    """Runs ``fn`` inside the user's train step (or its tracing): an error there must not
    stop training, so it is warned about, and ``what`` is not logged."""
    try:
        fn(*args)
        return True
    except Exception as e:  # a strategy, dtype or shape the capture cannot handle
        warnings.warn("NNVizCallback: %s not logged (training continues): %s: %s" % (what, type(e).__name__, e),
                      RuntimeWarning, stacklevel=3)
        return False


def _compiled(extractor):
    """``x -> extractor(x, training=False)``; under TensorFlow one compiled function per
    extractor (not ``predict_on_batch``, whose one function TensorFlow counts across models
    and warns of retracing for when a process trains models in turn). Eager under torch
    and JAX (a jitted call would keep the weights of its trace)."""
    if keras.backend.backend() != "tensorflow":
        return lambda x: extractor(x, training=False)
    import tensorflow as tf

    return tf.function(functools.partial(_forward, extractor), autograph=False)


def _forward(extractor, x):
    return extractor(x, training=False)


def _is_array(x):
    return hasattr(x, "shape") and hasattr(x, "dtype") and len(x.shape) >= 1


def _probe_rows(shape):
    """How many rows of a batch of ``shape`` the probe keeps (``PROBE_SAMPLES``, fewer for large inputs)."""
    return max(1, min(PROBE_SAMPLES, PROBE_ENTRIES // max(1, int(np.prod(shape[1:])))))


def _rows(x):
    """The first rows of ``x`` the probe keeps, copied."""
    return np.array(x[: _probe_rows(x.shape)], copy=True)


def _extractor(model):
    """A model returning each recorded layer's output, and the layers: ``(model, [(name, kind, class)])``."""
    try:
        inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError):
        return None, []
    if not inputs or len(inputs) != 1:
        return None, []  # a subclassed model, or several inputs: the input's statistics only
    chosen = []
    for layer in model.layers:
        kind = layer_kind(layer)
        last = any(o is t for o in outputs for t in keras.tree.flatten(getattr(layer, "output", None)))
        if kind in (None, "linear") and not last:
            continue
        try:
            out = layer.output
        except (AttributeError, ValueError):
            continue  # a layer used twice (shared): its output is ambiguous
        if not _is_array(out) or len(out.shape) < 2:
            continue
        chosen.append((layer, out, kind or "linear"))
    if not chosen:
        return None, []
    extractor = keras.Model(inputs[0], [out for _, out, _ in chosen])
    return extractor, [(layer_name(model, layer), kind, type(layer).__name__) for layer, _, kind in chosen]


class _TfTaker:
    """Under TensorFlow: copies the first probe rows of a traced batch into variables, once."""

    def __init__(self, tf):
        self.tf = tf
        self.rows = self.count = None

    def __call__(self, x):
        tf = self.tf
        if any(d is None for d in x.shape[1:]):
            return  # an input of varying shape: no fixed probe
        if self.rows is None:
            n = _probe_rows(x.shape)
            with tf.init_scope():
                self.rows = tf.Variable(tf.zeros([n] + list(x.shape[1:]), x.dtype), trainable=False)
                self.count = tf.Variable(0, dtype=tf.int32, trainable=False)
        rows, count = self.rows, self.count
        if list(x.shape[1:]) != list(rows.shape[1:]) or x.dtype != rows.dtype:
            return

        def take():
            part = x[: rows.shape[0]]
            got = tf.shape(part)[0]
            pad = tf.zeros(tf.concat([[rows.shape[0] - got], tf.shape(part)[1:]], 0), part.dtype)
            rows.assign(tf.concat([part, pad], 0))
            count.assign(got)
            return tf.constant(True)

        tf.cond(tf.equal(count, 0), take, lambda: tf.constant(False))

    def value(self):
        if self.count is None:
            return None
        n = int(self.count.numpy())
        return np.array(self.rows.numpy()[:n]) if n else None


def _tf_taker():
    import tensorflow as tf

    if tf.distribute.has_strategy() and tf.distribute.get_strategy().num_replicas_in_sync > 1:
        return None
    return _TfTaker(tf)


class GradientTap:
    """Each logged weight's gradient sum of squares at armed steps, taken as the optimizer applies it.

    Keras gives callbacks no gradients; every Keras 3 train step hands them to
    ``optimizer.apply`` (``apply_gradients`` calls it too). Under TensorFlow the
    tap wraps that method before the train function is made: inside the
    compiled step, when armed (a variable the callback sets before a batch),
    it stores one float64 sum of squares per logged weight in a variable;
    otherwise it costs one conditional. Under torch Keras leaves each
    parameter's ``.grad`` after the step, which ``ParamLogger.capture_gradients``
    reads; under JAX (a pure train step) no gradients are seen. A loss-scale
    optimizer's inner optimizer is wrapped, so gradients are unscaled.

    Args:
      optimizer: the model's compiled optimizer (TensorFlow backend).

    Attributes:
      variables: the logged Keras variables, in the logger's order (NaN for
        those the optimizer does not update); set before the first train step.
    """

    def __init__(self, optimizer):
        import tensorflow as tf

        self.tf = tf
        self.variables = []
        self.sumsq = None  # made when the train step is traced, one float per logged variable
        with tf.init_scope():
            self.armed = tf.Variable(False, trainable=False)
        self._on = False
        self._gave_up = False  # storing failed once (at a trace): not tried again
        target = getattr(optimizer, "inner_optimizer", None) or optimizer
        original = type(target).apply.__get__(target)

        def apply(grads, trainable_variables=None):
            known = trainable_variables if trainable_variables is not None else target._trainable_variables
            if not self._gave_up:
                self._gave_up = not _inside_training("the gradients", self._stash, list(grads), list(known))
            return original(grads, trainable_variables)

        target.apply = apply

    def _stash(self, grads, variables):
        tf = self.tf
        index = {id(v): i for i, v in enumerate(self.variables)}
        pairs = [(index[id(v)], g) for g, v in zip(grads, variables) if id(v) in index and g is not None]
        if not pairs:
            return
        if self.sumsq is None or self.sumsq.shape[0] != len(index):
            with tf.init_scope():
                self.sumsq = tf.Variable(np.full(len(index), np.nan), dtype=tf.float64, trainable=False)

        def sumsq(g):
            if isinstance(g, tf.IndexedSlices):  # an embedding's rows: their squares
                g = g.values
            return tf.reduce_sum(tf.square(tf.cast(g, tf.float64)))

        def store():
            values = tf.stack([sumsq(g) for _, g in pairs])
            at = tf.constant([[i] for i, _ in pairs], tf.int32)
            unknown = tf.fill(tf.shape(self.sumsq), tf.constant(np.nan, tf.float64))
            self.sumsq.assign(tf.tensor_scatter_nd_update(unknown, at, values))
            return tf.constant(True)

        tf.cond(self.armed, store, lambda: tf.constant(False))

    def arm(self, on):
        """Whether the next optimizer step stores its gradients."""
        if bool(on) != self._on:
            self.armed.assign(bool(on))
            self._on = bool(on)

    def take(self):
        """The stored sums of squares (NaN where unknown), then cleared; None before any."""
        if self.sumsq is None or self.sumsq.shape[0] != len(self.variables):
            return None
        out = self.sumsq.numpy().copy()
        self.sumsq.assign(np.full(out.shape, np.nan))
        return out
