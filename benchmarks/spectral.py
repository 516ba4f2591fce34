"""Spectra: what logging the eigenvalues of W^T W costs, on the 1.1M MLP and ResNet-50.

For each model (``benchmarks.models.specs``), in one process:

- one logged spectral step (``WeightLogger.log`` with only spectra on: every
  kernel's Gram matrix and its eigenvalues, batched per shape) against the
  floor (reading every weight to the host), interleaved, with the number of
  eigenvalues and bytes it writes;
- fits with ``NNVizCallback`` at its defaults (``spectral_freq="auto"``: at epoch
  ends, within 5% of the training time) against the same callback with
  ``spectral_freq=0``, interleaved: the
  added share of fit time at the default cadence, on the benchmark's own
  epochs; and the share of one real epoch (the spectral step against the
  measured steady per-batch time times the batches of one epoch of the
  model's usual data: digits, 29 batches of 64, for the MLP; CIFAR-10, 1,563
  batches of 32, for ResNet-50).
"""

import math
import os
import tempfile
import time

from benchmarks import Table, Target, median, progress
from benchmarks.models import _build, _floor, specs

#: Batches in one epoch of each model's usual data (see the module docstring).
EPOCH_BATCHES = {"MLP 1.1M": 29, "ResNet-50": 1563, "mlp (tiny)": 4}


def _models(smoke):
    chosen = ("mlp (tiny)",) if smoke else ("MLP 1.1M", "ResNet-50")
    return {name: spec for name, spec in specs(smoke).items() if name in chosen}


def _fit(build, data, opts, log_dir, spectral_freq):
    from tb_nnviz.keras import NNVizCallback

    model = _build(build, 0)
    cb = NNVizCallback(log_dir, strict=True, spectral_freq=spectral_freq)
    t0 = time.perf_counter()
    model.fit(data[0], data[1], batch_size=opts["batch_size"], epochs=opts["epochs"], shuffle=False,
              verbose=0, callbacks=[cb])
    total = time.perf_counter() - t0
    cb.close()
    return total


def _step(build, data, opts, log_dir, calls):
    """``(spectral step s, floor s, steady batch s, eigenvalues per step, bytes per step)``."""
    from tb_nnviz.keras import NNVizCallback

    model = _build(build, 1)
    cb = NNVizCallback(log_dir, strict=True, heatmap_freq=0, trajectory_freq=0, spectral_freq="epoch")
    cb.set_model(model)
    cb._setup()
    logger = cb.logger
    logger.log(0, False, False, True)  # trace and first call
    spec, floor, batch = [], [], []
    x, y = data[0][: opts["batch_size"]], data[1][: opts["batch_size"]]
    model.train_on_batch(x, y)
    for i in range(calls):
        t0 = time.perf_counter()
        logger.log(i + 1, False, False, True)
        spec.append(time.perf_counter() - t0)
        floor.append(_floor(model))
        t0 = time.perf_counter()
        model.train_on_batch(x, y)
        batch.append(time.perf_counter() - t0)
    evals = sum(c["slices"] * c["evals"] for c in logger._plan.spec if c and not c["skipped"])
    cb.close()
    size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(log_dir) for f in fs)
    return median(spec), median(floor), median(batch), evals, size / max(1, calls + 1)


def run(ctx):
    import keras  # noqa: F401  (imports TensorFlow once, before timing)

    root = tempfile.mkdtemp(prefix="spectral-", dir=ctx.workdir)
    step_rows, fit_rows = [], []
    for name, (build, data_fn, opts) in _models(ctx.smoke).items():
        data = data_fn(opts["samples"])
        spec, floor, batch, evals, step_bytes = _step(
            build, data, opts, os.path.join(root, name.split()[0] + "-step"), ctx.size(5, 2))
        progress("spectral: %s step %.1f ms, floor %.1f ms, batch %.1f ms"
                 % (name, spec * 1e3, floor * 1e3, batch * 1e3))
        step_rows.append([name, evals, step_bytes, spec * 1e3, floor * 1e3, spec / floor])
        _fit(build, data, opts, os.path.join(root, "warmup"), 0)
        fits = {"off": [], "default": []}
        for r in range(ctx.size(2, 1)):
            for arm, freq in (("off", 0), ("default", "auto")):
                fit_dir = os.path.join(root, "%s-%s-%d" % (name.split()[0], arm, r))
                fits[arm].append(_fit(build, data, opts, fit_dir, freq))
                progress("spectral: %s fit %s %.2fs" % (name, arm, fits[arm][-1]))
        off, on = median(fits["off"]), median(fits["default"])
        epoch = batch * EPOCH_BATCHES[name]
        fit_rows.append([name, off, on, on / off, epoch, spec / epoch])
        every = max(1, math.ceil(spec / (0.05 * epoch)))  # epochs between spectra under "auto"
        ctx.targets.append(Target(
            "%s: a spectral step costs <= 5%% of one real epoch (so 'auto' takes spectra every epoch)" % name,
            "ratio %.3f of an epoch (%s)" % (spec / epoch, "%d batches" % EPOCH_BATCHES[name]),
            spec / epoch <= 0.05,
            "" if spec / epoch <= 0.05 else "a spectral step costs %.2f s against an epoch of %.2f s: the default "
            "'auto' takes spectra about every %d epochs, which keeps them within 5%% of the training time; "
            "spectral_freq='epoch' forces every epoch" % (spec, epoch, every),
        ))
    fitted = "; ".join("%s: %d epochs of %d samples, batch %d" % (n, o["epochs"], o["samples"], o["batch_size"])
                       for n, (_, _, o) in _models(ctx.smoke).items())
    return [
        Table("spectral_step", "Spectra: one logged spectral step against the floor",
              ["model", "eigenvalues", "bytes per step", "median ms", "floor ms", "ratio to floor"], step_rows,
              "The ratio is the median time of `WeightLogger.log` with only spectra on (the Gram matrix of every "
              "kernel and its float64 eigenvalues, batched per shape, written as float32) divided by the floor, "
              "the median time of `[v.numpy() for v in model.weights]` measured between those calls."),
        Table("spectral_fit", "Spectra: fit time at the default cadence",
              ["model", "fit s, spectra off", "fit s, default", "ratio", "one real epoch s", "step / real epoch"],
              fit_rows,
              "'ratio' is the median fit time of `NNVizCallback()` (`spectral_freq='auto'`: the first epoch end, "
              "then while a step costs <= 5% of the time since the last) over the median with `spectral_freq=0`, "
              "interleaved, on this benchmark's short fits; 'step / real "
              "epoch' is one spectral step over one epoch of the model's usual data at the measured steady "
              "per-batch time (digits: 29 batches of 64; CIFAR-10: 1,563 batches of 32).",
              notes=[fitted]),
    ]
