"""Runs for the tab tests: one numpy gradient descent over every heatmap layout.

``TENSORS`` holds tensors with every layout the writers use and the
descriptions the Keras callback and ``tb_nnviz.torch.watch`` write;
``write_runs`` logs a descent (``W -= lr (W - T)``, a steady direction like a
real fit) of them per run, the learning rate setting how fast each run moves.
Used by tests/test_tab_polish.py and tests/test_tab_severity.py.
"""

import os

import numpy as np

import tb_nnviz
from tb_nnviz.reduce import grids

#: name: (shape, layout, gates, description); in network order.
TENSORS = {
    "0/weight": ((32, 20), "transposed", None, "Linear(20 -> 32) weight"),
    "0/bias": ((32,), "auto", None, "Linear(20 -> 32) bias"),
    "conv/weight": ((8, 4, 3, 3), "conv_first", None, "Conv2d(4 -> 8, 3x3) weight"),
    "up/weight": ((4, 8, 3, 3), "conv_first", None, "ConvTranspose2d(4 -> 8, 3x3) weight"),
    "lstm/weight_ih_l0": ((20, 12), "transposed", list("ifgo"), "LSTM(12 -> 5) weight_ih_l0"),
    "attn/in_proj_weight": ((24, 8), "transposed", list("qkv"), "MultiheadAttention(8, 2 heads) in_proj_weight"),
    "net/conv_2/kernel": ((3, 3, 8, 16), "auto", None, "Conv2D kernel"),
    "net/dense_1/kernel": ((40, 24), "auto", None, "Dense kernel"),
    "net/dense_1/bias": ((24,), "auto", None, "Dense bias"),
    "net/mha/query/kernel": ((8, 2, 4), "split:1", None, "MultiHeadAttention kernel"),
    "free/kernel": ((6, 5), "auto", None, "my favourite layer"),
}
#: Steps of every run's descent.
STEPS = 200


def write_runs(logdir, runs, tensors=TENSORS, max_cells=grids.DEFAULT_MAX_CELLS, nan_run=None):
    """Writes ``runs`` (name: learning rate of a numpy descent) of ``tensors`` under ``logdir``:
    trajectories every 10 steps, heatmaps every 100; ``nan_run`` gets a NaN weight from step 100.
    Returns each run's weights at the last step."""
    last = {}
    for run, lr in runs.items():
        rng = np.random.default_rng(0)
        w = {n: rng.normal(size=s) * 0.5 for n, (s, *_) in tensors.items()}
        t = {n: rng.normal(size=s) for n, (s, *_) in tensors.items()}
        with tb_nnviz.Writer(os.path.join(str(logdir), run), max_cells=max_cells) as wr:
            for step in range(0, STEPS + 1, 10):
                if run == nan_run and step == 100:
                    first = next(iter(w))
                    w[first].flat[0] = np.nan  # stays NaN: the descent carries it
                wr.log_weights(
                    step, w, heatmaps=step % 100 == 0, spectra=False,
                    layouts={n: v[1] for n, v in tensors.items()},
                    gates={n: v[2] for n, v in tensors.items() if v[2]},
                    unit_axes={n: 0 for n, v in tensors.items() if v[1] in ("transposed", "conv_first")},
                    description={n: v[3] for n, v in tensors.items()},
                )
                last[run] = {n: x.copy() for n, x in w.items()}
                w = {n: x - 10 * lr * (x - t[n]) for n, x in w.items()}
    return last


def findings_of(url, run):
    """The findings route's findings of ``run``, whichever shape it answers: a list, or
    ``{"findings": [...], "notes": [...]}`` (docs/http_api.md)."""
    from tests import tbserver

    j = tbserver.route_json(url, "findings", run=run)
    return j if isinstance(j, list) else j["findings"]
