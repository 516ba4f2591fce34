"""The plugin keeps its answers while nothing new is logged, and a step logged after an
answer is in the next one.

In process (TensorBoard's Python loader, reloaded by hand): asked again, ``tags``,
``overview``, ``findings`` and ``projection`` read nothing (no ``read_tensors`` or
``read_scalars`` call) and answer the same; after more steps (and a loss scalar) are
logged and loaded, the next answers hold them and equal those of a fresh plugin.
Through a real ``tensorboard`` (reloading every second): write, request, write more,
request; the answers then equal those of a second TensorBoard started on the log dir.
"""

import json
import os
import threading
import time

import numpy as np
from tensorboard import context
from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
from tensorboard.compat.proto import event_pb2
from tensorboard.plugins import base_plugin
from tensorboard.plugins.scalar import summary_v2

import tb_nnviz
from tb_nnviz.log import event_file
from tb_nnviz.serve import memo, plugin, report, store
from tests import providers, tbserver

RUN = "live"
CTX = context.RequestContext()


def _log(logdir, steps, nan_from=None):
    """Weights at ``steps`` (heatmaps at even steps); the kernel holds a NaN from ``nan_from`` on."""
    base = np.random.default_rng(0)
    kernel, bias = base.normal(scale=0.1, size=(16, 8)), np.zeros(8)
    with tb_nnviz.Writer(os.path.join(str(logdir), RUN)) as w:
        for step in steps:
            rng = np.random.default_rng(step)
            k = kernel + 0.01 * step * rng.normal(size=kernel.shape)
            if nan_from is not None and step >= nan_from:
                k[0, 0] = np.nan
            w.log_weights(step, {"dense/kernel": k.astype(np.float32),
                                 "dense/bias": (bias + 0.01 * step).astype(np.float32)}, heatmaps=step % 2 == 0)


def _loss(logdir, steps):
    """A ``loss`` scalar at ``steps``, in its own event file."""
    f = event_file.EventFile(os.path.join(str(logdir), RUN))
    for s in steps:
        f.add_event(event_pb2.Event(step=s, wall_time=time.time(), summary=summary_v2.scalar_pb("loss", 1.0 / (1 + s))))
    f.close()


def _answers(nnviz):
    """The JSON of every kept answer of ``nnviz`` for ``RUN``."""
    found = nnviz._findings_impl(CTX, "", RUN)
    return json.loads(json.dumps({
        "tags": nnviz._tags_impl(CTX, ""),
        "overview": nnviz._overview_impl(CTX, "", RUN),
        "findings": {"findings": list(found), "notes": found.notes},
        "projection": nnviz._projection_impl(CTX, "", [RUN]),
    }, allow_nan=False))


def _kinds(answers):
    return [f["kind"] for f in answers["findings"]["findings"]]


def test_answers_are_kept_until_new_data_and_equal_uncached_ones(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "REVALIDATE_SECS", 0)  # reloads below are asked about at once
    report.read_without_tensorflow(str(tmp_path))
    _log(tmp_path, range(6))
    mux = plugin_event_multiplexer.EventMultiplexer(tensor_size_guidance={"tensors": 0})
    mux.AddRunsFromDirectory(str(tmp_path))
    mux.Reload()
    provider = providers.Counting(data_provider.MultiplexerDataProvider(mux, str(tmp_path)))
    nnviz = plugin.NNVizPlugin(base_plugin.TBContext(data_provider=provider, logdir=str(tmp_path)))
    first = _answers(nnviz)
    assert first["tags"]["runs"][RUN]["dense/kernel"]["steps"] == [0, 2, 4]
    assert "no training loss scalar found: the loss rules did not run" in first["findings"]["notes"]
    provider.reads = 0
    assert _answers(nnviz) == first
    assert provider.reads == 0
    # Heatmap values are not kept by ``tags``: the route reads them.
    assert nnviz._heatmap_impl(CTX, "", RUN, "dense/kernel", 4)[:1]

    _loss(tmp_path, range(12))  # only a scalar: the findings read it
    mux.Reload()
    scalars = _answers(nnviz)
    assert not any(n.startswith("no training loss scalar") for n in scalars["findings"]["notes"])
    assert {k: scalars[k] for k in ("tags", "overview", "projection")} == {
        k: first[k] for k in ("tags", "overview", "projection")}

    _log(tmp_path, range(6, 12), nan_from=9)
    mux.Reload()
    later = _answers(nnviz)
    kernel = later["tags"]["runs"][RUN]["dense/kernel"]
    assert kernel["steps"] == [0, 2, 4, 6, 8, 10] and kernel["trajectory_steps"] == 12
    assert [row["step"] for row in later["overview"]] == [11, 11]
    assert later["projection"]["runs"][RUN]["step"][-1] == 11
    assert "nonfinite" in _kinds(later) and "nonfinite" not in _kinds(first)
    assert not any(n.startswith("no training loss scalar") for n in later["findings"]["notes"])
    fresh = plugin.NNVizPlugin(base_plugin.TBContext(
        data_provider=data_provider.MultiplexerDataProvider(mux, str(tmp_path)), logdir=str(tmp_path)))
    assert later == _answers(fresh)


def _served(url):
    """The answers of a real TensorBoard for ``RUN`` (``trajectory`` of the kernel too)."""
    return {
        "tags": tbserver.route_json(url, "tags"),
        "overview": tbserver.route_json(url, "overview", run=RUN),
        "findings": tbserver.route_json(url, "findings", run=RUN),
        "projection": tbserver.route_json(url, "projection", run=RUN),
        "trajectory": tbserver.route_json(url, "trajectory", run=RUN, tag="dense/kernel"),
    }


def _steps(url):
    return tbserver.route_json(url, "tags")["runs"].get(RUN, {}).get("dense/kernel", {}).get("trajectory_steps")


def test_a_live_tensorboard_serves_new_steps_at_once_and_what_a_fresh_one_serves(tmp_path):
    _log(tmp_path, range(6))
    with tbserver.tensorboard(tmp_path, "--reload_interval", "1") as url:
        tbserver.wait_for(lambda: _steps(url), lambda n: n == 6)
        first = _served(url)
        assert _served(url) == first
        _loss(tmp_path, range(12))  # before the weights: loaded by the time they are
        _log(tmp_path, range(6, 12), nan_from=9)
        tbserver.wait_for(lambda: _steps(url), lambda n: n == 12)
        later = _served(url)
    assert later["trajectory"]["step"] == list(range(12))
    assert [row["step"] for row in later["overview"]] == [11, 11]
    assert later["projection"]["runs"][RUN]["step"][-1] == 11
    assert "nonfinite" in _kinds(later) and "nonfinite" not in _kinds(first)
    with tbserver.tensorboard(tmp_path) as url:
        fresh = tbserver.wait_for(lambda: _served(url), lambda a: a == later, timeout=60)
    assert fresh == later


def test_a_memo_computes_once_for_requests_at_once():
    m, calls, go = memo.Memo(4), [], threading.Event()

    def compute():
        calls.append(1)
        go.wait(5)
        return len(calls)

    threads = [threading.Thread(target=lambda: m.get("run", (1,), compute)) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    go.set()
    for t in threads:
        t.join(5)
    assert calls == [1] and m.get("run", (1,), compute) == 1
    assert m.get("run", (2,), lambda: "new") == "new"
