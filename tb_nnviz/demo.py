"""The seed article's case study, done properly: digits models, healthy and broken.

Every run logs TensorBoard's built-in scalars, graph and histograms with
``keras.callbacks.TensorBoard`` and the weights with ``NNVizCallback``, into
``<logdir>/<run>``:

- ``healthy``: Dense 64 relu, Dense 64 relu, Dense 10 softmax; Adam(1e-3).
- ``lr_too_high``: the same model with Adam(lr=1.0): the first updates are as
  large as the weights, then the ReLUs die and nothing moves.
- ``lr_too_low``: the same model with Adam(lr=1e-6): the weights barely move.
- ``vanishing``: eight Dense 32 sigmoid layers, SGD: early layers barely update.
- ``cnn``: a small CNN on the 8x8 images (conv kernels as tiled heatmaps).
- ``overfit``: Dense 512 relu, Dense 512 relu, Dense 10 softmax on only 150
  training images for 40 epochs, Adam(3e-3): the training loss falls towards 0
  while the validation loss turns up after a few epochs.

>>> RUNS[0].name
'healthy'
"""

import dataclasses
import os
import typing


@dataclasses.dataclass(frozen=True)
class DemoRun:
    """One demo run: a model builder, an optimizer and what it shows."""

    name: str
    build: str  # name of the model builder below
    optimizer: str
    learning_rate: float
    shows: str
    #: Train on the first this many training images only (None: all of them).
    train_samples: typing.Optional[int] = None
    #: Epochs this run always trains, whatever ``--epochs`` says (None: ``--epochs``):
    #: over-fitting takes more epochs than the other runs need.
    epochs: typing.Optional[int] = None


RUNS = (
    DemoRun("healthy", "mlp", "adam", 1e-3,
            "update/weight ratios between 1e-3 and 1e-2, slowly falling; the loss falls steadily"),
    DemoRun("lr_too_high", "mlp", "adam", 1.0,
            "ratios near 1 for the first steps, then ~0: the ReLUs died and accuracy stays at chance"),
    DemoRun("lr_too_low", "mlp", "adam", 1e-6,
            "ratios near 1e-6: heatmaps look frozen and the weight-space path barely moves"),
    DemoRun("vanishing", "deep_sigmoid", "sgd", 0.1,
            "the first layers' update norms are orders of magnitude below the last layers'"),
    DemoRun("cnn", "cnn", "adam", 1e-3,
            "conv kernels drawn as 3x3 tiles, one per (in, out) channel pair"),
    DemoRun("overfit", "wide_mlp", "adam", 3e-3,
            "the training loss falls towards 0 while the validation loss turns up after a few epochs (Scalars)",
            train_samples=150, epochs=40),
)


def load_digits(seed=0):
    """scikit-learn's bundled 8x8 digits, scaled to [0, 1]: ``(x_train, x_val, y_train, y_val)``."""
    import numpy as np
    from sklearn.datasets import load_digits as _load
    from sklearn.model_selection import train_test_split

    data = _load()
    x = (data.images / 16.0).astype(np.float32)
    return train_test_split(x, data.target, test_size=0.2, random_state=seed, stratify=data.target)


def build_model(kind):
    """The Keras model for a demo run kind: ``mlp``, ``deep_sigmoid``, ``cnn`` or ``wide_mlp``."""
    import keras

    if kind in ("mlp", "wide_mlp"):  # the seed article's model; wide: 300k parameters, enough to memorise 150 images
        width = 64 if kind == "mlp" else 512
        layers = [
            keras.Input((8, 8), name="image"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(width, activation="relu", name="dense_1"),
            keras.layers.Dense(width, activation="relu", name="dense_2"),
            keras.layers.Dense(10, activation="softmax", name="output"),
        ]
    elif kind == "deep_sigmoid":
        layers = [keras.Input((8, 8), name="image"), keras.layers.Flatten(name="flatten")]
        layers += [keras.layers.Dense(32, activation="sigmoid", name="sigmoid_%d" % i) for i in range(1, 9)]
        layers += [keras.layers.Dense(10, activation="softmax", name="output")]
    elif kind == "cnn":
        layers = [
            keras.Input((8, 8, 1), name="image"),
            keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_1"),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv_2"),
            keras.layers.MaxPooling2D(name="pool"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(10, activation="softmax", name="output"),
        ]
    else:
        raise ValueError("unknown demo model kind %r; use mlp, deep_sigmoid, cnn or wide_mlp" % (kind,))
    return keras.Sequential(layers, name=kind)


def train(run, logdir, epochs=20, batch_size=32, verbose=2):
    """Trains one demo run, logging into ``<logdir>/<run.name>``; returns the Keras History."""
    import keras

    from tb_nnviz.keras import NNVizCallback

    keras.utils.set_random_seed(0)
    x_train, x_val, y_train, y_val = load_digits()
    if run.train_samples:
        x_train, y_train = x_train[: run.train_samples], y_train[: run.train_samples]
    if run.build == "cnn":
        x_train, x_val = x_train[..., None], x_val[..., None]
    model = build_model(run.build)
    optimizer = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD}[run.optimizer]
    model.compile(
        optimizer=optimizer(learning_rate=run.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    run_dir = os.path.join(logdir, run.name)
    callbacks = [
        keras.callbacks.TensorBoard(run_dir, histogram_freq=1, update_freq="epoch"),
        # Spectra at every epoch end, so the demo's alpha findings do not depend
        # on how busy the machine is (the default "auto" keeps them under 5% of
        # the training time).
        NNVizCallback(run_dir, heatmap_freq=10, trajectory_freq=5, spectral_freq="epoch"),
    ]
    return model.fit(
        x_train, y_train,
        validation_data=(x_val, y_val),
        epochs=run.epochs or epochs, batch_size=batch_size, callbacks=callbacks, verbose=verbose,
    )


def run_demo(logdir, runs=None, epochs=20):
    """Trains the named demo runs (default: all) into ``logdir``."""
    selected = [r for r in RUNS if runs is None or r.name in runs]
    unknown = sorted(set(runs or ()) - {r.name for r in RUNS})
    if unknown:
        raise ValueError("unknown demo runs %s; choose from %s" % (unknown, [r.name for r in RUNS]))
    for i, run in enumerate(selected, 1):
        print("[%d/%d] %s: %s" % (i, len(selected), run.name, run.shows), flush=True)
        train(run, logdir, epochs=epochs)
    return [r.name for r in selected]
