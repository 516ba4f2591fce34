"""The TF-free ``tb_nnviz.Writer``: log numpy (or JAX) arrays from any training loop.

The seed article's model (Dense 64 relu, Dense 64 relu, Dense 10) on the 8x8
digits, written out in numpy with its backward pass by hand, trained with
SGD. The parameters are a nested dict, the shape of a Flax/JAX params pytree:
``Writer.log_weights`` names each array by its path
(``dense_1/kernel``) and takes the gradients in the same shape.

    python demo/numpy_writer.py            # numpy
    python demo/numpy_writer.py --jax      # the same loop with jax.grad
    tensorboard --logdir logs/numpy_writer   # then open the NNViz tab

``--smoke`` trains on a few batches (what the tests run).
"""

import argparse

import numpy as np
from sklearn.datasets import load_digits

import tb_nnviz

SIZES = (64, 64, 64, 10)
LAYERS = ("dense_1", "dense_2", "output")


def init(rng):
    return {name: {"kernel": rng.normal(0, np.sqrt(2 / a), (a, b)).astype(np.float32),
                   "bias": np.zeros(b, np.float32)}
            for name, a, b in zip(LAYERS, SIZES[:-1], SIZES[1:])}


def numpy_grads(params, x, y):
    """Cross-entropy loss and its gradients, backpropagated by hand."""
    acts = [x]
    for name in LAYERS:
        z = acts[-1] @ params[name]["kernel"] + params[name]["bias"]
        acts.append(np.maximum(z, 0) if name != "output" else z)
    logits = acts[-1] - acts[-1].max(axis=1, keepdims=True)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    loss = -np.log(p[np.arange(len(y)), y]).mean()
    delta = p
    delta[np.arange(len(y)), y] -= 1
    delta /= len(y)
    grads = {}
    for i in reversed(range(len(LAYERS))):
        grads[LAYERS[i]] = {"kernel": acts[i].T @ delta, "bias": delta.sum(axis=0)}
        delta = (delta @ params[LAYERS[i]]["kernel"].T) * (acts[i] > 0)
    return loss, grads


def jax_grads():
    import jax
    import jax.numpy as jnp

    def loss_fn(params, x, y):
        h = x
        for name in LAYERS:
            h = h @ params[name]["kernel"] + params[name]["bias"]
            h = jax.nn.relu(h) if name != "output" else h
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(h), y[:, None], axis=1))

    return jax.jit(jax.value_and_grad(loss_fn))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", default="logs/numpy_writer")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--jax", action="store_true", help="gradients from jax.grad")
    parser.add_argument("--smoke", action="store_true", help="a few batches only")
    args = parser.parse_args(argv)

    digits = load_digits()
    x, y = (digits.data / 16.0).astype(np.float32), digits.target
    if args.smoke:
        x, y, args.epochs = x[:256], y[:256], 2
    rng = np.random.default_rng(0)
    params = init(rng)
    grad_fn = jax_grads() if args.jax else numpy_grads
    step, lr = 0, 0.1
    with tb_nnviz.Writer(args.logdir) as writer:
        writer.log_weights(0, params)  # the initial weights
        for epoch in range(args.epochs):
            for batch in np.array_split(rng.permutation(len(x)), len(x) // 32):
                loss, grads = grad_fn(params, x[batch], y[batch])
                params = {n: {k: v - lr * np.asarray(grads[n][k]) for k, v in layer.items()}
                          for n, layer in params.items()}
                step += 1
                if step % 5 == 0:  # a trajectory point every 5 steps, a heatmap every 100
                    writer.log_weights(step, params, gradients=grads, heatmaps=step % 100 == 0)
            print("epoch %d: loss %.3f" % (epoch + 1, float(loss)))
    print("tensorboard --logdir %s" % args.logdir)


if __name__ == "__main__":
    main()
