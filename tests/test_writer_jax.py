"""``Writer.log_weights`` with nested mappings: a JAX training loop over a Flax-style params pytree.

The params are the dict Flax's ``Module.init`` returns (``{"params": {"Dense_0":
{"kernel", "bias"}, ...}}``) holding jax arrays, trained with ``jax.grad``;
the gradient pytree goes in as ``gradients=``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tb_nnviz
from tb_nnviz.format import metadata
from tb_nnviz.reduce import grids, trajectory
from tests.providers import python_provider, read_all

F = {f: i for i, f in enumerate(trajectory.STAT_FIELDS)}


def init(key, sizes=(8, 16, 3)):
    params = {}
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        key, sub = jax.random.split(key)
        params["Dense_%d" % i] = {"kernel": jax.random.normal(sub, (a, b)) / np.sqrt(a), "bias": jnp.zeros(b)}
    return {"params": params}


def loss(variables, x, y):
    h = x
    layers = variables["params"]
    for i in range(len(layers)):
        h = h @ layers["Dense_%d" % i]["kernel"] + layers["Dense_%d" % i]["bias"]
        h = jax.nn.relu(h) if i < len(layers) - 1 else h
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(h), y[:, None], axis=1))


def test_nested_params_and_gradients_of_a_jax_loop(tmp_path):
    variables = init(jax.random.PRNGKey(0))
    step_fn = jax.jit(jax.value_and_grad(loss))
    rng = np.random.default_rng(0)
    x, y = jnp.asarray(rng.normal(size=(64, 8)), jnp.float32), jnp.asarray(rng.integers(0, 3, 64))
    norms = {}
    with tb_nnviz.Writer(tmp_path) as w:
        w.log_weights(0, variables)
        for step in range(1, 4):
            _, grads = step_fn(variables, x, y)
            norms[step] = float(jnp.linalg.norm(grads["params"]["Dense_1"]["kernel"]))
            variables = jax.tree_util.tree_map(lambda p, g: p - 0.1 * g, variables, grads)
            w.log_weights(step, variables, gradients=grads, heatmaps=step == 3)
    traj = read_all(python_provider(tmp_path), metadata.TRAJECTORY_PLUGIN_NAME)["."]
    assert sorted(traj) == sorted("params/Dense_%d/%s/nnviz_trajectory" % (i, k)
                                  for i in range(2) for k in ("kernel", "bias"))
    points = traj["params/Dense_1/kernel/nnviz_trajectory"]
    assert [d.step for d in points] == [0, 1, 2, 3] and np.isnan(points[0].numpy[F["grad_norm"]])
    np.testing.assert_allclose([d.numpy[F["grad_norm"]] for d in points[1:]], [norms[s] for s in (1, 2, 3)],
                               rtol=1e-6)
    assert all(d.numpy[F["update_ratio"]] > 0 for d in points[1:])
    heat = read_all(python_provider(tmp_path), metadata.HEATMAP_PLUGIN_NAME)["."]
    np.testing.assert_array_equal(heat["params/Dense_0/kernel/nnviz_heatmap"][-1].numpy[0],
                                  np.asarray(variables["params"]["Dense_0"]["kernel"]))


@pytest.mark.parametrize("weights, gradients, message", [
    ({"a": {"b": np.ones(2)}, "a/b": np.ones(2)}, None, "two entries are both named 'a/b'"),
    ({"a": {1: np.ones(2)}}, None, "tensor name under 'a' must be a string, got 1"),
    ({"a": np.ones(2)}, {"b": np.ones(2)}, "gradient 'b' has no weight of that name"),
    ({"a": np.ones(2)}, {"a": np.ones(3)}, "gradient of 'a' has shape \\[3\\], its weight \\[2\\]"),
    ({"a": np.ones(2)}, [np.ones(2)], "gradients must be a mapping of name to array, got list"),
])
def test_bad_nested_input_is_refused_by_name(tmp_path, weights, gradients, message):
    with tb_nnviz.Writer(tmp_path) as w, pytest.raises(grids.TensorError, match=message):
        w.log_weights(0, weights, gradients=gradients)
