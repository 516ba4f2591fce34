"""The seed article's case study as you would write it: Keras on the 8x8 digits.

Dense 64 relu, Dense 64 relu, Dense 10 softmax, trained with Adam. Keras'
own TensorBoard callback logs the loss, accuracy and histograms; NNVizCallback
logs the weights (heatmaps, update trajectories, the weight-space path) into
the same run, so the tabs line up.

    python demo/keras_seed_case.py            # ~1 minute on 2 CPU cores
    tensorboard --logdir logs/keras_seed_case  # then open the NNViz tab

``--smoke`` trains on a few batches (what the tests run).
"""

import argparse

import keras
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from tb_nnviz.keras import NNVizCallback


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", default="logs/keras_seed_case")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--smoke", action="store_true", help="a few batches only")
    args = parser.parse_args(argv)

    digits = load_digits()
    x = (digits.images / 16.0).astype("float32")
    x_train, x_val, y_train, y_val = train_test_split(x, digits.target, test_size=0.2, random_state=0)
    if args.smoke:
        x_train, y_train, args.epochs = x_train[:256], y_train[:256], 2

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((8, 8)),
        keras.layers.Flatten(),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(
        x_train, y_train, validation_data=(x_val, y_val), epochs=args.epochs, batch_size=32, verbose=2,
        callbacks=[
            keras.callbacks.TensorBoard(args.logdir, histogram_freq=1),
            NNVizCallback(args.logdir, heatmap_freq=10, trajectory_freq=5),
        ],
    )
    print("tensorboard --logdir %s" % args.logdir)


if __name__ == "__main__":
    main()
