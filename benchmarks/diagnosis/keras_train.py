"""Keras runs of the corpus: ``model.fit`` with ``keras.callbacks.TensorBoard`` and ``NNVizCallback``.

The run directory holds what a Keras user's holds: ``train/`` and
``validation/`` loss and accuracy per epoch from Keras' own callback, and
tb_nnviz's weights beside them.
"""

import math

import numpy as np

from benchmarks.diagnosis import data


def build(spec):
    import keras

    keras.utils.set_random_seed(spec.get("seed", 0))
    arch, act = spec["arch"], spec.get("act", "relu")
    init = {"default": "glorot_uniform", "zeros": "zeros", "constant": keras.initializers.Constant(0.05),
            "large": keras.initializers.RandomNormal(stddev=2.0)}[spec.get("init", "default")]
    if arch == "mlp":
        layers = [keras.Input((8, 8)), keras.layers.Flatten()]
        for i in range(spec.get("depth", 2)):
            layers.append(keras.layers.Dense(spec.get("width", 64), activation=act, kernel_initializer=init,
                                             name="dense_%d" % (i + 1)))
        layers.append(keras.layers.Dense(10, activation=spec.get("output", "softmax"), kernel_initializer=init,
                                         name="output"))
        return keras.Sequential(layers, name="mlp")
    if arch == "cnn":
        return keras.Sequential([
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(8, 3, activation=act, kernel_initializer=init, name="conv_1"),
            keras.layers.Conv2D(16, 3, activation=act, kernel_initializer=init, name="conv_2"),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation=spec.get("output", "softmax"), name="output"),
        ], name="cnn")
    raise ValueError("unknown arch %r" % arch)


def train(spec, log_dir):
    """Trains ``spec`` logging into ``log_dir``; returns the measured ground truth (a dict)."""
    import keras

    from tb_nnviz.keras import NNVizCallback

    x, xv, y, yv = data.digits(scale=spec.get("input_scale", 1 / 16.0))
    if spec.get("train_samples"):
        x, y = x[: spec["train_samples"]], y[: spec["train_samples"]]
    if spec["arch"] == "cnn":
        x, xv = x[..., None], xv[..., None]
    model = build(spec)
    opt = {"sgd": lambda: keras.optimizers.SGD(spec["lr"]),
           "momentum": lambda: keras.optimizers.SGD(spec["lr"], momentum=0.9),
           "adam": lambda: keras.optimizers.Adam(spec["lr"]),
           "adamw": lambda: keras.optimizers.AdamW(spec["lr"], weight_decay=spec.get("weight_decay", 0.004))}
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=spec.get("from_logits", False))
    model.compile(optimizer=opt[spec["optimizer"]](), loss=loss, metrics=["accuracy"])
    history = model.fit(
        x, y, validation_data=(xv, yv), epochs=spec.get("epochs", 8), batch_size=spec.get("batch", 32), verbose=0,
        callbacks=[keras.callbacks.TensorBoard(log_dir),
                   NNVizCallback(log_dir, trajectory_freq=spec.get("trajectory_freq", 10))],
    )
    losses = history.history["loss"]
    probe = keras.Model(model.inputs, [layer.output for layer in model.layers if hasattr(layer, "activation")])
    outs = probe.predict(x, verbose=0)
    dead = max([float(np.mean(np.all(np.asarray(o).reshape(len(x), -1) <= 0, axis=0))) for o in outs[:-1]]
               or [0.0]) if spec.get("act", "relu") == "relu" else 0.0
    pred = np.asarray(outs[-1]).argmax(-1)
    return {
        "train_accuracy": float(np.mean(pred == y)),
        "val_accuracy": float(history.history["val_accuracy"][-1]),
        "loss_first": float(losses[0]),
        "loss_last": float(losses[-1]),
        "val_loss_min": float(np.nanmin(history.history["val_loss"])),
        "val_loss_last": float(history.history["val_loss"][-1]),
        "nan": not all(math.isfinite(v) for v in losses),
        "dead_fraction": dead,
    }
