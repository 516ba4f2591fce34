"""The model graph record: what capturing it costs (once per run) and how big it is, on ResNet-50.

- PyTorch (torchvision ResNet-50, ``weights=None``, CPU, in a subprocess as
  ``torch_models`` is): the forward ``watch``'s ``GraphRecorder`` records
  (module hooks and a ``TorchFunctionMode`` for that one forward) against the
  same forward without it, and a forward after the capture (nothing of it
  left), interleaved over fresh recorders;
- Keras (``keras.applications.ResNet50(weights=None)``): ``keras_graph.capture``
  walking the functional graph;
- sizes: each record's logged bytes against one heatmap step of the same
  model's weights as ``watch`` and the callback log it (the model-wide cell budget).
"""

import json
import os
import subprocess
import sys
import tempfile
import time

from benchmarks import Table, median, progress


def _dir_bytes(path):
    return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(path) for f in fs)


def heatmap_step_bytes(make_logger):
    """Bytes one heatmap step adds to an event file, logged as ``watch`` or the Keras callback logs it
    (``make_logger(writer)``: their logger at its defaults, the model-wide cell budget); the second
    step is measured (the first also writes each tensor's first-heatmap tag)."""
    from tb_nnviz.log.plan import log_step
    from tb_nnviz.log.writer import Writer

    root = tempfile.mkdtemp(prefix="graph-heat-")
    with Writer(root, filename_suffix=".nnviz") as w:
        logger = make_logger(w)
        log_step(logger, 1, True, False, False)
        w.flush()
        before = _dir_bytes(root)
        log_step(logger, 2, True, False, False)
        w.flush()
        return _dir_bytes(root) - before


def measure_torch(smoke):
    """The PyTorch measurements as a JSON-ready dict; runs in a process without TensorFlow."""
    import torch
    import torchvision

    from tb_nnviz.format import graph
    from tb_nnviz.log.torch_graph import GraphRecorder

    torch.set_num_threads(1)
    nn = torch.nn
    model = (nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 14 * 14, 10)) if smoke
             else torchvision.models.resnet50())
    x = torch.randn(2, 3, 16, 16) if smoke else torch.randn(8, 3, 64, 64)
    reps = 2 if smoke else 7
    times = {"forward": [], "recorded forward": [], "forward after the capture": []}
    for _ in range(2):
        model(x)  # warm-up
    record = None
    for _ in range(reps):
        t = time.perf_counter()
        model(x)
        times["forward"].append(time.perf_counter() - t)
        rec = GraphRecorder(model)
        t = time.perf_counter()
        model(x)
        times["recorded forward"].append(time.perf_counter() - t)
        record = rec.take()
        t = time.perf_counter()
        model(x)
        times["forward after the capture"].append(time.perf_counter() - t)
    from tb_nnviz.log.plan import DEFAULT_MAX_TOTAL_CELLS
    from tb_nnviz.log.torch_logger import ParamLogger, param_specs

    heat = heatmap_step_bytes(lambda w: ParamLogger(w, param_specs(model), heatmaps=True, trajectories=False,
                                                    spectra=False, max_total_cells=DEFAULT_MAX_TOTAL_CELLS))
    return {"model": type(model).__name__, "times": {k: median(v) for k, v in times.items()},
            "nodes": len(record["nodes"]), "edges": len(record["edges"]), "bytes": len(graph.encode(record)),
            "heatmap_bytes": heat, "batch": int(x.shape[0])}


def measure_keras(smoke):
    import keras

    from tb_nnviz.format import graph
    from tb_nnviz.log import keras_graph

    if smoke:
        x = keras.Input((16,))
        h = keras.layers.Dense(16, activation="relu")(x)
        model = keras.Model(x, keras.layers.Dense(4)(keras.layers.Add()([x, h])), name="tiny")
    else:
        model = keras.applications.ResNet50(weights=None)
    times = []
    for _ in range(3 if smoke else 7):
        t = time.perf_counter()
        record = keras_graph.capture(model)
        times.append(time.perf_counter() - t)
    from tb_nnviz.keras import NNVizCallback, _logger
    from tb_nnviz.log.plan import DEFAULT_MAX_TOTAL_CELLS

    callback = NNVizCallback(tempfile.mkdtemp(prefix="graph-cb-"))
    callback.set_model(model)
    heat = heatmap_step_bytes(lambda w: _logger(w, callback._collect(), heatmaps=True, trajectories=False,
                                                spectra=False, max_total_cells=DEFAULT_MAX_TOTAL_CELLS))
    return {"model": model.name, "capture": median(times), "nodes": len(record["nodes"]),
            "edges": len(record["edges"]), "bytes": len(graph.encode(record)),
            "heatmap_bytes": heat}


def run(ctx):
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    progress("graph: PyTorch capture in a subprocess")
    code = "import json; from benchmarks.graph import measure_torch; print(json.dumps(measure_torch(%r)))" % bool(
        ctx.smoke)
    proc = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, timeout=1800,
                          env=dict(os.environ, PYTHONPATH=repo))
    if proc.returncode:
        raise RuntimeError("the torch graph benchmark failed:\n" + proc.stderr[-4000:])
    t = json.loads(proc.stdout.strip().splitlines()[-1])
    progress("graph: Keras capture")
    k = measure_keras(ctx.smoke)
    tt = t["times"]
    rows = [
        ["%s (torch)" % t["model"], "forward (batch %d, one thread)" % t["batch"], tt["forward"] * 1e3, "", ""],
        ["%s (torch)" % t["model"], "the forward watch records (once)", tt["recorded forward"] * 1e3,
         (tt["recorded forward"] - tt["forward"]) * 1e3, tt["recorded forward"] / tt["forward"]],
        ["%s (torch)" % t["model"], "a forward after the capture", tt["forward after the capture"] * 1e3,
         (tt["forward after the capture"] - tt["forward"]) * 1e3, tt["forward after the capture"] / tt["forward"]],
        ["%s (keras)" % k["model"], "keras_graph.capture (once, at set-up)", k["capture"] * 1e3,
         k["capture"] * 1e3, ""],
    ]
    size_rows = [["%s (%s)" % (m["model"], fw), m["nodes"], m["edges"], m["bytes"] / 1024, m["heatmap_bytes"] / 1024,
                  m["bytes"] / m["heatmap_bytes"]] for m, fw in ((t, "torch"), (k, "keras"))]
    return [
        Table("graph_capture", "Model graph: capture time (once per run)",
              ["model", "what", "median ms", "added ms", "ratio to forward"], rows,
              "Medians of interleaved repeats. The graph is captured once: from the first forward `watch` sees "
              "(PyTorch), or by walking the functional graph when the Keras callback sets up; every later forward "
              "and every logged step runs without it (the row after the capture)."),
        Table("graph_size", "Model graph: record size against one heatmap step",
              ["model", "nodes", "edges", "record KiB", "one heatmap step KiB", "ratio"], size_rows,
              "The record's logged bytes (`tb_nnviz.format.graph.encode`) against the bytes one heatmap step of "
              "the same weights adds to the event file, logged by `watch`'s and the Keras callback's loggers at "
              "their defaults (the model-wide cell budget)."),
    ]
