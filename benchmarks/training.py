"""Training overhead and bytes per logged step of NNVizCallback vs. TensorBoard's callback.

Digits (scikit-learn's bundled 8x8 images), two models: the seed's MLP and a
CNN of >= 1M parameters. Arms, interleaved per repeat (none, tensorboard,
nnviz_epoch, nnviz_100, none, ...), each on a fresh model built with the same
seed, after a warm-up fit of every arm:

- ``none``: ``model.fit`` without callbacks;
- ``tensorboard``: ``keras.callbacks.TensorBoard(log_dir, histogram_freq=1, write_images=True)``;
- ``nnviz_epoch``: ``NNVizCallback(log_dir, heatmap_freq="epoch", trajectory_freq="epoch")``;
- ``nnviz_100``: ``NNVizCallback(log_dir, heatmap_freq=100, trajectory_freq=100)``.
"""

import glob
import os
import shutil
import time

import numpy as np

from benchmarks import Table, Target, median, progress

ARMS = ("none", "tensorboard", "nnviz_epoch", "nnviz_100")


def _data(n):
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.data / 16.0).astype(np.float32)[:n]
    y = d.target.astype(np.int32)[:n]
    return x, y


def build_model(kind, seed, small=False):
    """A fresh compiled model: ``"mlp"`` (the seed's) or ``"cnn"`` (>= 1M params unless ``small``)."""
    import keras

    keras.utils.set_random_seed(seed)
    if kind == "mlp":
        layers = [
            keras.Input((64,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    else:
        layers = [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(16 if small else 64, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(16 if small else 128, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(32 if small else 512, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    model = keras.Sequential(layers, name=kind)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _callbacks(arm, log_dir, batch_freq):
    import keras

    from tb_nnviz.keras import NNVizCallback

    if arm == "none":
        return []
    if arm == "tensorboard":
        return [keras.callbacks.TensorBoard(log_dir, histogram_freq=1, write_images=True)]
    if arm == "nnviz_epoch":
        return [NNVizCallback(log_dir, heatmap_freq="epoch", trajectory_freq="epoch", strict=True)]
    return [NNVizCallback(log_dir, heatmap_freq=batch_freq, trajectory_freq=batch_freq, strict=True)]


def _events(path):
    from tensorboard.backend.event_processing import event_file_loader

    return list(event_file_loader.EventFileLoader(path).Load())


def _nnviz_files(log_dir):
    return sorted(glob.glob(os.path.join(log_dir, "train", "*.nnviz")))


def nnviz_bytes(log_dir):
    """``(bytes, sorted logged steps)`` of the NNViz event files under ``log_dir``."""
    files = _nnviz_files(log_dir)
    steps = set()
    for path in files:
        for event in _events(path):
            if event.HasField("summary") and len(event.summary.value):
                steps.add(event.step)
    return sum(os.path.getsize(p) for p in files), sorted(steps)


def tensorboard_bytes(log_dir):
    """``(bytes of histogram + image records, logged steps, bytes of all its files)``.

    A record is the serialized event plus TFRecord framing (8-byte length and
    two 4-byte CRCs). Keras names the summaries ``<weight>/histogram`` and
    ``<weight>/image``; scalars and the graph are not counted.
    """
    files = [p for p in glob.glob(os.path.join(log_dir, "**", "events.out.tfevents.*"), recursive=True)
             if not p.endswith(".nnviz")]
    total, steps = 0, set()
    for path in files:
        for event in _events(path):
            if not event.HasField("summary") or not len(event.summary.value):
                continue
            tags = [v.tag for v in event.summary.value]
            if all(t.endswith("/histogram") or t.endswith("/image") for t in tags):
                total += event.ByteSize() + 16
                steps.add(event.step)
    return total, len(steps), sum(os.path.getsize(p) for p in files)


class _Timer:
    """Wall time at each epoch end (last in the callback list, so it includes the others' work)."""

    def __init__(self):
        import keras

        outer = self

        class CB(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                outer.ends.append(time.perf_counter())

        self.ends = []
        self.callback = CB()


def _fit(ctx, kind, arm, seed, x, y, cfg, log_dir):
    model = build_model(kind, seed, small=ctx.smoke)
    cbs = _callbacks(arm, log_dir, cfg["batch_freq"])
    timer = _Timer()
    t0 = time.perf_counter()
    model.fit(x, y, batch_size=cfg["batch_size"], epochs=cfg["epochs"], shuffle=False, verbose=0,
              callbacks=cbs + [timer.callback])
    total = time.perf_counter() - t0
    for cb in cbs:
        if hasattr(cb, "close"):
            cb.close()
    # Epochs after the first: no tracing or compilation, the steady cost.
    steady = timer.ends[-1] - timer.ends[0] if len(timer.ends) > 1 else None
    return model, total, steady


def read_floor(model, repeats):
    """Median seconds to read every weight of ``model`` to the host once."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        [v.numpy() for v in model.weights]
        times.append(time.perf_counter() - t0)
    return median(times)


def direct_log_cost(ctx, kind, arm, x, y, cfg, log_dir, calls):
    """``([seconds per on_epoch_end call], [seconds per weight read-out])``, interleaved.

    Drives the callback's public hooks by hand on a built model (``set_model``,
    ``on_train_begin``, then ``calls`` times ``on_epoch_begin``, one
    ``on_train_batch_end`` and the timed ``on_epoch_end``), so that every NNViz
    call logs a new step (heatmaps + trajectories, and the writer's flush).
    """
    model = build_model(kind, 0, small=ctx.smoke)
    cb = _callbacks(arm, log_dir, cfg["batch_freq"])[0]
    cb.set_model(model)
    cb.on_train_begin()
    logs = {"loss": 0.0, "accuracy": 0.0}
    times, floor = [], []
    for i in range(calls):
        # One "batch" per epoch through the public hooks (and the optimizer's counter),
        # so each on_epoch_end has a new step to log.
        cb.on_epoch_begin(i + 1, logs)
        model.optimizer.iterations.assign_add(1)
        cb.on_train_batch_end(0, logs)
        t0 = time.perf_counter()
        cb.on_epoch_end(i + 1, logs)
        times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        [v.numpy() for v in model.weights]
        floor.append(time.perf_counter() - t0)
    cb.on_train_end()
    if hasattr(cb, "close"):
        cb.close()
    return times, floor


def run(ctx):
    import keras  # noqa: F401  (imports TensorFlow once, before timing)

    cfg = dict(
        samples=ctx.size(1792, 128),
        batch_size=32,
        epochs=ctx.size(10, 2),
        batch_freq=ctx.size(100, 2),
        repeats=ctx.size(5, 1),
    )
    x, y = _data(cfg["samples"])
    batches = cfg["samples"] // cfg["batch_size"] * cfg["epochs"]
    root = os.path.join(ctx.workdir, "training")
    overhead_rows, floor_rows, bytes_rows = [], [], []
    params = {}
    for kind in ("mlp", "cnn"):
        xs = x if kind == "mlp" else x.reshape(-1, 8, 8, 1)
        probe = build_model(kind, 0, small=ctx.smoke)
        params[kind] = probe.count_params()
        progress("training: %s has %d parameters in %d weights" % (kind, params[kind], len(probe.weights)))
        # Warm-up: every arm once (TF start-up, first traces, summary ops, imports).
        for arm in ARMS[:1] if ctx.smoke else ARMS:
            d = os.path.join(root, kind, "warmup-" + arm)
            _fit(ctx, kind, arm, 99, xs, y, cfg, d)
            progress("training: %s warm-up %s done" % (kind, arm))
        totals = {a: [] for a in ARMS}
        steadies = {a: [] for a in ARMS}
        logs = {}
        for r in range(cfg["repeats"]):
            for arm in ARMS:
                d = os.path.join(root, kind, "%s-%d" % (arm, r))
                model, total, steady = _fit(ctx, kind, arm, 0, xs, y, cfg, d)
                totals[arm].append(total)
                steadies[arm].append(steady)
                logs.setdefault(arm, d)
                progress("training: %s repeat %d/%d %-12s fit %.3fs (epochs 2+: %s)"
                         % (kind, r + 1, cfg["repeats"], arm, total, "%.3fs" % steady if steady else "n/a"))
        direct, floors = {}, []
        for r in range(ctx.size(3, 1)):
            for arm in ("tensorboard", "nnviz_epoch"):
                t, f = direct_log_cost(ctx, kind, arm, xs, y, cfg, os.path.join(root, kind, "direct-%s-%d" % (arm, r)),
                                       ctx.size(10, 2))
                direct.setdefault(arm, []).extend(t)
                floors += f
                progress("training: %s direct on_epoch_end %-12s median %.1f ms" % (kind, arm, median(t) * 1e3))
        floor = median(floors)
        base, base_steady = median(totals["none"]), median(steadies["none"])
        for arm in ARMS:
            m, s = median(totals[arm]), median(steadies[arm])
            overhead_rows.append([kind, arm, m, m / base, s if s == s else None,
                                  s / base_steady if s == s and base_steady == base_steady else None])
        # Bytes and logged steps, from the first repeat's log dirs.
        tb_bytes, tb_steps, tb_all = tensorboard_bytes(logs["tensorboard"])
        for arm in ("nnviz_epoch", "nnviz_100"):
            nb, logged = nnviz_bytes(logs[arm])
            ns = len(logged)
            over = (median(totals[arm]) - base) / ns if ns else float("nan")
            # Logged inside the steady window (after epoch 1's end, up to the last epoch's end).
            per_epoch, total_batches = batches // cfg["epochs"], batches
            window = [s for s in logged if per_epoch < s < total_batches] + (
                [total_batches] if arm == "nnviz_epoch" else [])
            steady = ((median(steadies[arm]) - base_steady) / len(window)) if window and cfg["epochs"] > 1 else None
            d = median(direct["nnviz_epoch"]) if arm == "nnviz_epoch" else None
            floor_rows.append([kind, arm, ns, over * 1e3, len(window), None if steady is None else steady * 1e3,
                               None if d is None else d * 1e3, floor * 1e3,
                               None if d is None else d / floor])
            bytes_rows.append([kind, "NNViz " + arm, ns, nb, nb / ns if ns else float("nan"),
                               (nb / ns) / (tb_bytes / tb_steps) if ns and tb_steps and tb_bytes else float("nan")])
        d = median(direct["tensorboard"])
        floor_rows.append([kind, "tensorboard (histograms + images)", tb_steps, None, None, None, d * 1e3, floor * 1e3,
                           d / floor])
        bytes_rows.append([kind, "TensorBoard histograms + images", tb_steps, tb_bytes,
                           tb_bytes / tb_steps if tb_steps else float("nan"), 1.0])
        shutil.rmtree(os.path.join(root, kind), ignore_errors=True)
    _add_targets(ctx, overhead_rows, floor_rows)
    setup = ("digits: %d samples, batch %d, %d epochs = %d batches per fit; NNViz every %d batches for "
             "`nnviz_100`; %d interleaved repeats after one warm-up fit per arm; MLP %s params, CNN %s params."
             % (cfg["samples"], cfg["batch_size"], cfg["epochs"], batches, cfg["batch_freq"], cfg["repeats"],
                "{:,}".format(params["mlp"]), "{:,}".format(params["cnn"])))
    return [
        Table(
            "training_overhead",
            "Training overhead (fit time, median)",
            ["model", "callback", "fit s", "ratio to none", "epochs 2+ s", "epochs 2+ ratio"],
            overhead_rows,
            "Each ratio is the arm's median `model.fit` wall time divided by the median without callbacks "
            "(1.10 = 10% slower); 'epochs 2+' excludes the first epoch, where tracing and graph writing happen.",
            notes=[setup],
        ),
        Table(
            "training_floor",
            "NNViz cost per logged step vs. the read-to-host floor",
            ["model", "callback", "logged steps", "per step incl. setup ms", "steps in epochs 2+",
             "per step in epochs 2+ ms", "direct per step ms", "floor ms", "direct ratio to floor"],
            floor_rows,
            "The direct ratio is the median time of one logging call (the callback's `on_epoch_end` on a trained "
            "model, a new step each call: heatmaps + trajectories + flush for NNViz, histograms + images for "
            "TensorBoard) divided by the floor, the median time of `[v.numpy() for v in model.weights]` measured "
            "between those calls (1 = as cheap as reading every weight to the host once). Per step incl. setup "
            "is (median fit time with NNViz - without) / logged steps, so it carries the one-off tracing of the "
            "callback's tf.function; per step in epochs 2+ is that difference over epochs 2 to last / the steps "
            "logged there, and is within the fit time's run-to-run noise (it can come out negative).",
        ),
        breakdown(ctx),
        Table(
            "bytes",
            "Bytes written per logged step",
            ["model", "writer", "logged steps", "bytes", "bytes per step", "ratio to TensorBoard"],
            bytes_rows,
            "Each ratio is bytes per logged step of the writer divided by that of TensorBoard's callback "
            "(histograms + images of the same weights, framing included; its scalars and graph not counted).",
        ),
    ]


def _add_targets(ctx, overhead_rows, floor_rows):
    """The training targets of issue 7, from the overhead and floor tables' rows."""
    ratio = {(r[0], r[1]): (r[3], r[5]) for r in overhead_rows}
    tracing = ("Whole-fit ratios carry the one-off tracing of the callback's tf.function (the 'per step incl. "
               "setup' column); from epoch 2 on the ratio is %s.")
    for kind in ("mlp", "cnn"):
        (nn, nn_steady), (tb, tb_steady) = ratio[(kind, "nnviz_epoch")], ratio[(kind, "tensorboard")]
        ctx.targets.append(Target(
            "%s: NNViz at the TensorBoard callback's cadence costs no more than "
            "TensorBoard(histogram_freq=1, write_images=True)" % kind,
            "fit ratio %.2f vs %.2f; epochs 2+ %s vs %s" % (nn, tb, _fmt(nn_steady), _fmt(tb_steady)),
            nn <= tb,
            "" if nn <= tb else tracing % ("%s for NNViz against %s for TensorBoard"
                                           % (_fmt(nn_steady), _fmt(tb_steady))),
        ))
    every, every_steady = ratio[("cnn", "nnviz_100")]
    ctx.targets.append(Target(
        "cnn: NNViz every 100 batches adds <= 3% to fit time",
        "fit ratio %.3f; epochs 2+ %s" % (every, _fmt(every_steady)),
        every <= 1.03,
        "" if every <= 1.03 else tracing % _fmt(every_steady),
    ))
    for row in floor_rows:
        if row[1] == "nnviz_epoch":
            ctx.targets.append(Target(
                "%s: one logged step within 5x of the floor (reading every weight to the host)" % row[0],
                "%.1f ms = %.1fx the floor (%.2f ms)" % (row[6], row[8], row[7]),
                row[8] <= 5,
                "" if row[8] <= 5 else
                "The floor is one memcpy per weight; a logged step makes several float64 passes over "
                "every weight (statistics, update norm against the previous value, the sketch, block "
                "pooling for the heatmap) and sorts a 2,048-value sample for the quantiles. The table "
                "'Cost of one logged step, by part' splits it.",
            ))


def _fmt(value):
    return "n/a" if value is None or value != value else "%.2f" % value


def breakdown(ctx):
    """Milliseconds of each part of one logged step for one 1000 x 1000 float32 weight."""
    import tensorflow as tf

    from tb_nnviz.reduce import grids, tf_ops, trajectory
    from tb_nnviz.reduce.group import TrajectoryGroup

    n = ctx.size(1000, 100)
    x = tf.Variable(tf.random.normal((n, n), seed=0))
    prev = tf.Variable(tf.random.normal((n, n), seed=1))
    group = TrajectoryGroup([trajectory.TrajectoryPlan("w", (n, n))])
    constants = tf_ops.constants(group)
    constants["flips"] = tf.Variable(constants["flips"], trainable=False)
    content = grids.heatmap_content("w", (n, n), "float32")
    flat = lambda: tf.reshape(tf.cast(x, tf.float64), [1, -1])  # noqa: E731
    raw = tf.function(lambda: tf_ops.raw_points(x[None], prev[None], group, constants))
    sample = np.asarray(x.numpy(), np.float64).reshape(1, -1)[:, group.plans[0].sample]
    parts = [
        ("floor: read the weight to the host", lambda: x.numpy()),
        ("heatmap: grid + block pooling (mean, absmax)",
         tf.function(lambda: tf_ops.heatmap_planes(x[None], content))),
        ("trajectory point, all of it (device sums, host finish)",
         lambda: trajectory.finish_points(*(t.numpy() for t in raw()), group.plan, True)),
        ("of which: CountSketch (signs + reshape + sum)", tf.function(
            lambda: tf_ops.sketch(flat(), constants["flips"], group.sketch_dim))),
        ("of which: quantiles of the 2,048-value sample (host)",
         lambda: trajectory.quantiles(sample)),
        ("of which: cast to float64 + norm", tf.function(lambda: tf.norm(flat()))),
    ]
    times = {name: [] for name, _ in parts}
    for _, fn in parts:
        _result(fn())  # trace and warm up
    for _ in range(ctx.size(15, 2)):
        for name, fn in parts:  # interleaved
            t0 = time.perf_counter()
            _result(fn())
            times[name].append(time.perf_counter() - t0)
    floor = median(times[parts[0][0]])
    rows = [[name, median(ts) * 1e3, median(ts) / floor] for name, ts in times.items()]
    progress("training: per-step breakdown done")
    return Table(
        "step_breakdown",
        "Cost of one logged step, by part (one %d x %d float32 weight, compiled TF on the CPU)" % (n, n),
        ["part", "median ms", "ratio to floor"],
        rows,
        "Each ratio is the part's median time divided by the floor's (reading the weight to the host), "
        "parts run interleaved in one process; 'of which' rows are parts of the trajectory point.",
    )


def _result(value):
    return value.numpy() if hasattr(value, "numpy") else value
