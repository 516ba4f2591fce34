"""tb_nnviz's TensorFlow summary ops inside your own ``tf.function`` training step.

The seed article's model (Dense 64 relu, Dense 64 relu, Dense 10) on the 8x8
digits with a hand-written step: ``tf.GradientTape``, ``apply_gradients``,
then ``tb_nnviz.summary.heatmap`` and ``tb_nnviz.summary.trajectory`` next to
``tf.summary.scalar``. The trajectory points carry the gradients the step
already computed (``grad_norm``, ``grad_ratio``), with no second backward pass.

This is also the recipe for gradients with Keras' ``model.fit``: Keras has no
public hook that hands a callback the gradients of a step, so put the
``train_step`` body below into your model's ``train_step`` override.

    python demo/custom_loop_tf.py
    tensorboard --logdir logs/custom_loop_tf    # then open the NNViz tab

``--smoke`` trains on a few batches (what the tests run).
"""

import argparse

import keras
import tensorflow as tf
from sklearn.datasets import load_digits

from tb_nnviz import summary as nnviz

HEATMAP_FREQ = 50  # steps between heatmaps
TRAJECTORY_FREQ = 5  # steps between trajectory points (norms, update ratios, gradients, sketch)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", default="logs/custom_loop_tf")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--smoke", action="store_true", help="a few batches only")
    args = parser.parse_args(argv)

    digits = load_digits()
    x, y = (digits.data / 16.0).astype("float32"), digits.target
    if args.smoke:
        x, y, args.epochs = x[:256], y[:256], 2
    data = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=0).batch(32)

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(10),
    ])
    optimizer = keras.optimizers.Adam(1e-3)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    weights = model.trainable_variables
    names = [w.path for w in weights]  # e.g. "sequential/dense/kernel"
    # The values at the previous trajectory point, for the update norms.
    previous = [tf.Variable(w.value, trainable=False) for w in weights]
    writer = tf.summary.create_file_writer(args.logdir)

    @tf.function
    def train_step(xb, yb):
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, model(xb, training=True))
        grads = tape.gradient(loss, weights)
        optimizer.apply_gradients(zip(grads, weights))
        step = optimizer.iterations
        tf.summary.scalar("loss", loss, step=step)
        with tf.summary.record_if(step % HEATMAP_FREQ == 0):
            for name, w in zip(names, weights):
                nnviz.heatmap(name, w, step=step)
        log_point = step % TRAJECTORY_FREQ == 0
        with tf.summary.record_if(log_point):
            for name, w, g, prev in zip(names, weights, grads, previous):
                nnviz.trajectory(name, w, previous=prev, gradient=g, step=step)
        def keep():  # the logged values, for the next update norm
            for prev, w in zip(previous, weights):
                prev.assign(w)
            return tf.constant(True)

        # tf.cond, not `if`: Keras traces a train_step override without autograph.
        tf.cond(log_point, keep, lambda: tf.constant(False))
        return loss

    with writer.as_default():
        for name, w in zip(names, weights):  # the initial weights, step 0
            nnviz.heatmap(name, w, step=0)
            nnviz.trajectory(name, w, step=0)
        for epoch in range(args.epochs):
            for xb, yb in data:
                loss = train_step(xb, yb)
            print("epoch %d: loss %.3f" % (epoch + 1, float(loss)))
    writer.close()
    print("tensorboard --logdir %s" % args.logdir)


if __name__ == "__main__":
    main()
