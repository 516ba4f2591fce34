"""Real models: NNVizCallback on the architectures people train, beside TensorBoard's callback.

Models (``keras.applications`` with ``weights=None``, random data unless said):
ResNet-50 and MobileNetV2 on 32x32x3 inputs, a 4-block transformer
(Embedding 5000x256, MultiHeadAttention 8 heads x 32, LayerNormalization,
Dense 1024 gelu) on 64-token sequences, and the 64-1024-1024-10 MLP on
scikit-learn's digits. For each model, in one process:

- first-fit overhead: fresh models fitted without callbacks, with
  ``keras.callbacks.TensorBoard(histogram_freq=1, write_images=True,
  write_graph=False)`` and with ``NNVizCallback`` at its defaults, interleaved;
- set-up: building the callback's logger, tracing, and the first logged step;
- one logged step (heatmaps and trajectory points) against the floor, reading
  every weight to the host (``[v.numpy() for v in model.weights]``), interleaved;
- bytes of one logged step at default options against TensorBoard's
  histograms + images of one epoch;
- the memory the logger holds between steps.

PyTorch's ResNet-18 with ``tb_nnviz.torch.watch`` is ``benchmarks.torch_models``.
"""

import os
import shutil
import tempfile
import time

import numpy as np

from benchmarks import Table, Target, median, progress
from benchmarks.training import nnviz_bytes, tensorboard_bytes

ARMS = ("none", "tensorboard", "nnviz")


def _transformer(keras, vocab, dim, heads, key_dim, ff, blocks, seq):
    tokens = keras.Input((seq,), dtype="int32")
    h = keras.layers.Embedding(vocab, dim)(tokens)
    for _ in range(blocks):
        a = keras.layers.MultiHeadAttention(heads, key_dim)(h, h)
        h = keras.layers.LayerNormalization()(h + a)
        f = keras.layers.Dense(ff, activation="gelu")(h)
        f = keras.layers.Dense(dim)(f)
        h = keras.layers.LayerNormalization()(h + f)
    out = keras.layers.Dense(10, activation="softmax")(keras.layers.GlobalAveragePooling1D()(h))
    return keras.Model(tokens, out, name="transformer")


def specs(smoke):
    """``{name: (build(keras) -> model, data(n) -> (x, y), fit options)}``."""
    rng = np.random.default_rng(0)

    def images(n):
        return rng.normal(size=(n, 32, 32, 3)).astype(np.float32), rng.integers(0, 10, n)

    def tokens(n):
        return rng.integers(0, 50 if smoke else 5000, (n, 64)).astype(np.int32), rng.integers(0, 10, n)

    def digits(n):
        from sklearn.datasets import load_digits

        d = load_digits()
        return (d.data / 16.0).astype(np.float32)[:n], d.target.astype(np.int32)[:n]

    def mlp(keras, width):
        return keras.Sequential([
            keras.Input((64,)),
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ], name="mlp")

    big = dict(epochs=2, batch_size=32, samples=8 * 32)
    if smoke:
        return {
            "transformer (tiny)": (lambda k: _transformer(k, 50, 16, 2, 8, 32, 1, 64), tokens,
                                   dict(epochs=2, batch_size=16, samples=32)),
            "mlp (tiny)": (lambda k: mlp(k, 32), digits, dict(epochs=2, batch_size=64, samples=256)),
        }
    return {
        "ResNet-50": (lambda k: k.applications.ResNet50(weights=None, input_shape=(32, 32, 3), classes=10),
                      images, big),
        "MobileNetV2": (lambda k: k.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), classes=10),
                        images, big),
        "transformer": (lambda k: _transformer(k, 5000, 256, 8, 32, 1024, 4, 64), tokens, big),
        "MLP 1.1M": (lambda k: mlp(k, 1024), digits, dict(epochs=4, batch_size=64, samples=1797)),
    }


def _build(build, seed):
    import keras

    keras.utils.set_random_seed(seed)
    model = build(keras)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    return model


def _callbacks(arm, log_dir):
    import keras

    from tb_nnviz.keras import NNVizCallback

    if arm == "tensorboard":
        return [keras.callbacks.TensorBoard(log_dir, histogram_freq=1, write_images=True, write_graph=False)]
    if arm == "nnviz":
        return [NNVizCallback(log_dir, strict=True)]
    return []


def _fit(build, data, opts, arm, log_dir):
    model = _build(build, 0)
    cbs = _callbacks(arm, log_dir)
    t0 = time.perf_counter()
    model.fit(data[0], data[1], batch_size=opts["batch_size"], epochs=opts["epochs"], shuffle=False,
              verbose=0, callbacks=cbs)
    total = time.perf_counter() - t0
    for cb in cbs:
        if hasattr(cb, "close"):
            cb.close()
    return total


def _floor(model):
    t0 = time.perf_counter()
    [v.numpy() for v in model.weights]
    return time.perf_counter() - t0


#: The logged steps timed against the floor, interleaved.
STEP_KINDS = ("heatmaps + trajectories", "heatmaps", "trajectories", "heatmaps + trajectories, TF ops")


def logged_step(build, calls, log_dir):
    """Set-up seconds, per-call seconds by kind (interleaved with the floor), the logger, bytes of one step."""
    from tb_nnviz.keras import NNVizCallback

    model = _build(build, 1)
    cb = NNVizCallback(log_dir, strict=True)
    cb.set_model(model)
    t0 = time.perf_counter()
    cb.on_train_begin()  # what a fit waits for before its first batch: set-up, trace, first log
    begin = time.perf_counter() - t0
    logger = cb.logger
    # Bytes of one logged step after the first (which also writes the first-heatmap tags).
    cb._writer.flush()
    before = _nnviz_file_bytes(log_dir)
    logger.log(1, True, True)
    cb._writer.flush()
    step_bytes = _nnviz_file_bytes(log_dir) - before
    # The same step with every reduction in TensorFlow, as without numba or off the CPU.
    from tb_nnviz import Writer
    from tb_nnviz.log.tf_logger import WeightLogger

    tf_writer = Writer(os.path.join(log_dir, "tf-ops"))
    tf_ops = WeightLogger(tf_writer, logger.weights, one_pass=False)
    tf_ops.log(0, True, True)  # traced here, outside the timing
    times = {k: [] for k in STEP_KINDS + ("floor",)}
    step = 2
    for _ in range(calls):
        for kind in times:
            t0 = time.perf_counter()
            if kind == "floor":
                _floor(model)
            else:
                (tf_ops if kind.endswith("TF ops") else logger).log(step, "heatmaps" in kind, "trajectories" in kind)
                step += 1
            times[kind].append(time.perf_counter() - t0)
    tf_writer.close()
    profile = _profile(logger, step, calls)
    cb.close()
    return begin, {k: median(v) for k, v in times.items()}, logger, step_bytes, profile


def _profile(logger, step, calls):
    """Where a logged step's time goes, from cProfile over ``calls`` steps (heatmaps + trajectories)."""
    import cProfile
    import pstats

    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    for i in range(calls):
        logger.log(step + i, True, True)
    prof.disable()
    total = time.perf_counter() - t0
    stats = pstats.Stats(prof).stats  # {(file, line, name): (calls, ncalls, tottime, cumtime, callers)}

    def cum(name, own=False):  # builtins are named "<built-in method ...name>"
        return sum(v[2] if own else v[3] for k, v in stats.items() if k[2] == name or name + ">" in k[2])

    device = cum("TFE_Py_Execute", own=True)  # the compiled function running (reductions on the weights)
    one_pass = sum(v[3] for k, v in stats.items()  # numba's one-pass kernels (CPU float32/float64)
                   if k[0].endswith("numba_ops.py") and k[2] in ("raw_points", "heatmap_planes"))
    finish = cum("finish_points")  # host: quantiles of the sample, the point vector
    event = cum("write_reduced")  # host: protos, serialising, the file
    parts = [("the one-pass kernels", one_pass), ("the reductions in the compiled function", device),
             ("finishing points on the host", finish), ("building and writing the event", event),
             ("the rest", total - one_pass - device - finish - event)]
    return "profile of %d steps (cProfile, %.1f ms each): %s" % (
        calls, total / calls * 1e3, ", ".join("%s %.0f%%" % (n, 100 * t / total) for n, t in parts))


def _nnviz_file_bytes(log_dir):
    return nnviz_bytes(log_dir)[0]


def run(ctx):
    import keras  # noqa: F401  (imports TensorFlow once, before timing)

    root = tempfile.mkdtemp(prefix="models-", dir=ctx.workdir)
    overhead_rows, step_rows, setup_rows, bytes_rows = [], [], [], []
    for name, (build, data_fn, opts) in specs(ctx.smoke).items():
        data = data_fn(opts["samples"])
        probe = _build(build, 0)
        params, weights = probe.count_params(), len(probe.weights)
        progress("models: %s: %s parameters in %d weights" % (name, "{:,}".format(params), weights))
        del probe
        # Warm-up: TensorFlow's and Keras' own first-use costs, outside the timed fits.
        _fit(build, data, opts, "none", os.path.join(root, "warmup"))
        totals = {arm: [] for arm in ARMS}
        dirs = {}
        # Two fits per arm, interleaved (one is too noisy: Keras' own fit time
        # varies by a quarter from fit to fit); a ResNet-50 fit takes 30-50 s.
        for r in range(ctx.size(2, 1)):
            for arm in ARMS:
                d = os.path.join(root, "%s-%s-%d" % (name.split()[0], arm, r))
                totals[arm].append(_fit(build, data, opts, arm, d))
                dirs.setdefault(arm, d)
                progress("models: %s repeat %d %-11s fit %.2fs" % (name, r + 1, arm, totals[arm][-1]))
        base = median(totals["none"])
        ratio = {arm: median(totals[arm]) / base for arm in ARMS}
        for arm in ARMS:
            overhead_rows.append([name, arm, median(totals[arm]), ratio[arm]])
        begin, step, logger, step_bytes, profile = logged_step(
            build, ctx.size(5, 2), os.path.join(root, name.split()[0] + "-step"))
        progress("models: %s logged step %.1f ms, floor %.1f ms"
                 % (name, step["heatmaps + trajectories"] * 1e3, step["floor"] * 1e3))
        floor = step["floor"]
        for kind in STEP_KINDS:
            step_rows.append([name, kind, step[kind] * 1e3, floor * 1e3, step[kind] / floor])
        setup_rows.append([name, weights, logger.group_count, begin, logger.extra_bytes / 2**20,
                           params * 4 / 2**20])
        tb_bytes, tb_steps, _ = tensorboard_bytes(dirs["tensorboard"])
        tb_epoch = tb_bytes / tb_steps if tb_steps else float("nan")
        bytes_rows.append([name, step_bytes, tb_epoch, step_bytes / tb_epoch])
        _targets(ctx, name, ratio, step["heatmaps + trajectories"] / floor, step_bytes / tb_epoch, begin, totals,
                 profile)
        shutil.rmtree(root, ignore_errors=True)
        os.makedirs(root, exist_ok=True)
    fits = "; ".join("%s: %d epochs of %d samples, batch %d" % (n, o["epochs"], o["samples"], o["batch_size"])
                     for n, (_, _, o) in specs(ctx.smoke).items())
    return [
        Table("models_overhead", "Real models: first-fit time with each callback",
              ["model", "callback", "fit s", "ratio to none"], overhead_rows,
              "A fresh model per fit, two fits per arm interleaved after one warm-up fit; each ratio is the "
              "arm's median `model.fit` wall time (including Keras' own tracing, the callbacks' set-up and the first "
              "epoch) divided by the median without callbacks. TensorBoard's callback is "
              "`TensorBoard(histogram_freq=1, write_images=True, write_graph=False)`; NNViz runs at its "
              "defaults (heatmaps `\"auto\"`: the initial weights and 8 steps spread geometrically over the fit, "
              "epoch ends past the first epoch; trajectory points every 20 batches).", notes=[fits]),
        Table("models_step", "Real models: one logged step against the floor",
              ["model", "logged", "median ms", "floor ms", "ratio to floor"], step_rows,
              "The ratio is the median time of `WeightLogger.log` (the callback's per-step work: reductions "
              "on the weights, host finishing, the event written to the file) divided by the floor, "
              "the median time of `[v.numpy() for v in model.weights]` measured between those calls. "
              "The callback reduces CPU float32/float64 weights with numba's one-pass kernels "
              "(`tb_nnviz.reduce.numba_ops`); 'TF ops' is the same step with every reduction in the compiled "
              "TensorFlow function (`WeightLogger(one_pass=False)`, as without numba or off the CPU), "
              "interleaved with the others."),
        Table("models_setup", "Real models: set-up and memory",
              ["model", "weights", "shape groups", "on_train_begin s", "held MiB", "weights MiB"], setup_rows,
              "'on_train_begin' is what a fit with a fresh callback waits before its first batch: collecting "
              "the weights, building the logger, tracing its function and logging step 0 (heatmaps, "
              "trajectory points, spectra). 'held' is what the logger keeps between steps: the previous "
              "values (for update norms) and the sketch signs, beside the float32 weights' size."),
        Table("models_bytes", "Real models: bytes per logged step at default options",
              ["model", "NNViz bytes per step", "TensorBoard bytes per epoch", "ratio"], bytes_rows,
              "NNViz: one step with heatmaps and trajectory points (after the first, which also writes the "
              "first-heatmap tags and metadata). TensorBoard: histogram and image records of one epoch of "
              "its callback on the same model."),
    ]


def _targets(ctx, name, ratio, step_ratio, bytes_ratio, begin, totals, profile):
    ctx.targets.append(Target(
        "%s: first fit with NNVizCallback costs no more than with TensorBoard(histograms, images)" % name,
        "fit ratio %.2f vs %.2f" % (ratio["nnviz"], ratio["tensorboard"]),
        ratio["nnviz"] <= ratio["tensorboard"],
        "" if ratio["nnviz"] <= ratio["tensorboard"] else
        "NNViz's one-off set-up (%.1f s before the first batch, see 'set-up and memory') against a fit of "
        "%.1f s." % (begin, median(totals["none"])),
    ))
    ctx.targets.append(Target(
        "%s: a logged step (heatmaps + trajectories; spectra apart) <= 5x one read of every weight" % name,
        "ratio %.2f to one read" % step_ratio, step_ratio <= 5,
        "" if step_ratio <= 5 else "%s; 'one logged step against the floor' splits it by kind" % profile,
    ))
    ctx.targets.append(Target(
        "%s: bytes per logged step <= 2x TensorBoard's per epoch" % name,
        "ratio %.2f to TensorBoard's epoch" % bytes_ratio, bytes_ratio <= 2,
        "" if bytes_ratio <= 2 else "raise the model-wide budget `max_total_cells` only where needed",
    ))
