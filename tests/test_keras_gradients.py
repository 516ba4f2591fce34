"""Gradients with Keras: the documented ``train_step`` recipe, under ``model.fit``.

``NNVizCallback`` logs the gradients the optimizer applies under the
TensorFlow and torch backends (tests/test_keras_evidence.py); for gradients of
one's own, or under JAX, the recipe (README, demo/custom_loop_tf.py) is to
override ``train_step`` and pass the gradients it computes to
``tb_nnviz.summary.trajectory(..., gradient=g)``. This test runs that recipe
with ``model.fit`` and checks the logged ``grad_norm`` against the gradients
the step applied.
"""

import keras
import numpy as np
import tensorflow as tf

from tb_nnviz import summary as nnviz
from tb_nnviz.format import metadata
from tb_nnviz.reduce import trajectory
from tests.providers import python_provider, read_all

F = {f: i for i, f in enumerate(trajectory.STAT_FIELDS)}
FREQ = 2


class Recipe(keras.Model):
    """A Dense model whose ``train_step`` logs trajectory points with their gradients."""

    def __init__(self, writer):
        super().__init__()
        self.hidden = keras.layers.Dense(16, activation="relu", name="hidden")
        self.out = keras.layers.Dense(3, name="out")
        self.writer = writer

    def call(self, x):
        return self.out(self.hidden(x))

    def build(self, shape):
        self.hidden.build(shape)
        self.out.build((shape[0], 16))
        # The gradient norms of the last logged step, to check against the logs.
        self.norms = [tf.Variable(0.0, dtype=tf.float64, trainable=False) for _ in self.trainable_variables]
        self.previous = [tf.Variable(w.value, trainable=False) for w in self.trainable_variables]

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            loss = self.compute_loss(x=x, y=y, y_pred=self(x, training=True))
        weights = self.trainable_variables
        grads = tape.gradient(loss, weights)
        self.optimizer.apply_gradients(zip(grads, weights))
        step = self.optimizer.iterations
        log_point = step % FREQ == 0
        with self.writer.as_default(step=step), tf.summary.record_if(log_point):
            for w, g, prev in zip(weights, grads, self.previous):
                nnviz.trajectory(w.path, w, previous=prev, gradient=g)
        def keep():  # Keras traces train_step without autograph: tf.cond, not `if`
            for w, g, prev, norm in zip(weights, grads, self.previous, self.norms):
                prev.assign(w)
                norm.assign(tf.norm(tf.cast(g, tf.float64)))
            return tf.constant(True)

        tf.cond(log_point, keep, lambda: tf.constant(False))
        return {"loss": loss}


def test_train_step_recipe_logs_the_gradients_fit_applied(tmp_path):
    keras.utils.set_random_seed(0)
    writer = tf.summary.create_file_writer(str(tmp_path))
    model = Recipe(writer)
    model.build((None, 8))
    model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 8)).astype(np.float32), rng.integers(0, 3, 64)
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)  # 8 steps: points at 2, 4, 6, 8
    writer.close()
    traj = read_all(python_provider(tmp_path), metadata.TRAJECTORY_PLUGIN_NAME)["."]
    for w, norm in zip(model.trainable_variables, model.norms):
        points = traj[metadata.summary_tag(w.path, metadata.TRAJECTORY_PLUGIN_NAME)]
        assert [d.step for d in points] == [2, 4, 6, 8], w.path
        last = points[-1].numpy
        assert last[F["grad_norm"]] == np.float64(norm.numpy()) or np.isclose(
            last[F["grad_norm"]], norm.numpy(), rtol=1e-12), w.path
        assert last[F["grad_ratio"]] == np.float64(last[F["grad_norm"]] / last[F["norm"]])
        assert all(d.numpy[F["update_ratio"]] > 0 for d in points[1:]), w.path
