"""Bad tensors, damaged log files, live writes and log dir URLs (see docs/reliability.md).

Writer cases read their event files back through TensorBoard's Python loader
(``tests.providers.python_provider``); server cases run TensorBoard's own WSGI
app over real log dirs with werkzeug's test client, and a real ``tensorboard
--load_fast=true`` for the damaged files.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import ml_dtypes
import numpy as np
import pytest
from tensorboard.backend import application
from tensorboard.backend.event_processing import data_ingester
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tensorboard.util import tensor_util
from werkzeug import test as werkzeug_test

import tb_nnviz
from tb_nnviz.format import heatmap_body, metadata
from tb_nnviz.reduce import grids, trajectory
from tb_nnviz.serve import store
from tests import providers, tbserver
from tests.conftest import LOGDIR_STEPS, logdir_arrays, write_logdir
from tests.helpers import PREFIX, get_heatmap, get_json, make_client, make_flags

HEATMAP = metadata.HEATMAP_PLUGIN_NAME
TRAJECTORY = metadata.TRAJECTORY_PLUGIN_NAME
ROUTES = ("/tags", "/heatmap", "/trajectory", "/projection", "/overview")


def read_back(logdir, plugin_name=HEATMAP):
    """``{run: {tensor name: [TensorDatum]}}`` through TensorBoard's Python loader.

    The first-heatmap tags (``metadata.first_tag``) are left out.
    """
    data = providers.read_all(providers.python_provider(logdir), plugin_name)
    return {
        run: {
            metadata.tensor_name(tag, plugin_name): d
            for tag, d in tags.items()
            if not tag.endswith(metadata.FIRST_SUFFIX)
        }
        for run, tags in data.items()
    }


# -- Writer: dtypes, shapes, values, names -------------------------------------

REJECTED = [
    (np.array([1 + 2j], np.complex64), "dtype complex64"),
    (np.array([1 + 2j, 3j]), "dtype complex128"),
    (np.array(["a", "b"]), "dtype <U1"),
    (np.array([b"a"]), "dtype |S1"),
    (np.array([True, False]), "dtype bool"),
    (np.array([None, 1.0], dtype=object), "dtype object"),
    (np.float32(1.0), "scalar"),
    (np.array(2.0), "scalar"),
    (np.zeros((0,), np.float32), "empty"),
    (np.zeros((3, 0, 2), np.float32), "empty"),
]


@pytest.mark.parametrize("value, message", REJECTED, ids=[m for _, m in REJECTED])
def test_unloggable_tensor_is_a_clear_error_and_the_file_stays_readable(tmp_path, value, message):
    with tb_nnviz.Writer(tmp_path / "run") as w:
        w.log_weights(0, {"ok": np.ones(3)})
        with pytest.raises(tb_nnviz.TensorError, match=message) as info:
            w.log_weights(1, {"ok": np.ones(3), "model/bad": value})
        assert "'model/bad'" in str(info.value)
        w.log_weights(2, {"ok": np.full(3, 2.0)})
    for plugin_name in (HEATMAP, TRAJECTORY):
        data = read_back(tmp_path, plugin_name)["run"]
        assert list(data) == ["ok"]
        assert [d.step for d in data["ok"]] == [0, 2]


ACCEPTED = ["float16", ml_dtypes.bfloat16, "float32", "float64", "int8", "int32", "int64", "uint8", "uint64"]


@pytest.mark.parametrize("dtype", ACCEPTED, ids=lambda d: np.dtype(d).name)
def test_real_dtypes_are_logged_exactly(tmp_path, dtype):
    xs = [np.arange(-6, 6).reshape(3, 4).astype(dtype), np.arange(12).reshape(3, 4).astype(dtype)]
    with tb_nnviz.Writer(tmp_path / "run", num_traces=3, sketch_dim=4) as w:
        for step, x in enumerate(xs):
            w.log_weights(step, {"x": x})
    heat = read_back(tmp_path)["run"]["x"]
    traj = read_back(tmp_path, TRAJECTORY)["run"]["x"]
    plan = trajectory.TrajectoryPlan("x", (3, 4), num_traces=3, sketch_dim=4)
    for i, x in enumerate(xs):
        np.testing.assert_array_equal(heat[i].numpy[0], x.astype(np.float32))
        want = trajectory.trajectory_point(x, xs[i - 1] if i else None, plan)
        np.testing.assert_array_equal(traj[i].numpy, want)
    listing = providers.python_provider(tmp_path).list_tensors(
        providers.CTX, experiment_id="", plugin_name=HEATMAP
    )
    assert metadata.parse_content(listing["run"]["x/nnviz_heatmap"].plugin_content)["dtype"] == np.dtype(dtype).name


@pytest.mark.parametrize("shape", [(2, 3, 2, 2, 3, 4), (2, 1, 2, 3, 2, 3, 2), (1,) * 8 + (2, 3)])
def test_rank_above_five_uses_the_general_conv_layout(tmp_path, shape):
    """(s_0 .. s_{r-3}, in, out) -> rows (in, s_0 .. s_{r-4}), cols (out, s_{r-3})."""
    x = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    with tb_nnviz.Writer(tmp_path / "run") as w:
        w.log_weights(0, {"w": x})
    (datum,) = read_back(tmp_path)["run"]["w"]
    grid = datum.numpy[0]
    *spatial, cin, cout = shape
    assert grid.shape == (cin * int(np.prod(spatial[:-1])), cout * spatial[-1])
    for idx in np.ndindex(*shape):
        *s, i, o = idx
        row = int(np.ravel_multi_index([i] + s[:-1], [cin] + spatial[:-1]))
        col = o * spatial[-1] + s[-1]
        assert grid[row, col] == x[idx]


def test_nan_and_inf_stay_visible_in_heatmaps_and_counts(tmp_path):
    x = np.arange(24, dtype=np.float32).reshape(4, 6)
    x[0, 0], x[1, 1], x[2, 2] = np.nan, np.inf, -np.inf
    cases = {
        "mixed": x,
        "all_nan": np.full((3, 3), np.nan, np.float32),
        "all_inf": np.array([np.inf, -np.inf, np.inf]),
        "pooled": np.pad(x, ((0, 20), (0, 20))),
    }
    with tb_nnviz.Writer(tmp_path / "run", max_cells=16) as w:
        w.log_weights(0, cases)
        w.log_weights(1, {k: v * 2 for k, v in cases.items()})
    heat = read_back(tmp_path)["run"]
    np.testing.assert_array_equal(heat["mixed"][0].numpy, grids.heatmap(x, max_cells=16)[0])
    pooled = heat["pooled"][0].numpy
    assert np.isnan(pooled[1, 0, 0])  # absmax of the block holding NaN, +Inf and -Inf
    traj = read_back(tmp_path, TRAJECTORY)["run"]
    field = trajectory.STAT_FIELDS.index
    for name, (nan, inf) in {"mixed": (1, 2), "all_nan": (9, 0), "all_inf": (0, 3)}.items():
        point = traj[name][0].numpy
        assert (point[field("nan_count")], point[field("inf_count")]) == (nan, inf), name
    assert np.isnan(traj["all_nan"][0].numpy[field("min")])

    client = make_client(tmp_path)
    tensors = get_json(client, "/tags")["runs"]["run"]
    assert sorted(tensors) == sorted(cases)
    header, planes = get_heatmap(client, run="run", tag="all_nan", step=1, diff="prev")
    assert header["min"] is None and header["nan_count"] == 9
    body = get_json(client, "/trajectory", run="run", tag="all_nan")
    assert body["min"] == [None, None] and body["nan_count"] == [9, 9]
    assert get_json(client, "/projection", run="run")["runs"]["run"]["x"] == [None, None]


@pytest.mark.parametrize("name", ["", "tab\there", "nul\x00", "del\x7f", "lone \ud800 surrogate", 7, b"bytes"])
def test_names_tensorboard_cannot_use_are_refused(tmp_path, name):
    with tb_nnviz.Writer(tmp_path / "run") as w:
        w.log_weights(0, {"ok": np.ones(2)})
        with pytest.raises(tb_nnviz.TensorError, match="name"):
            w.log_weights(1, {"ok": np.ones(2), name: np.ones(2)})
        w.log_weights(2, {"ok": np.ones(2)})
    assert [d.step for d in read_back(tmp_path)["run"]["ok"]] == [0, 2]


def test_the_same_name_twice_in_one_step_is_refused(tmp_path):
    """'Duplicate' = one name logged again at the step it was last logged at."""
    with tb_nnviz.Writer(tmp_path / "run") as w:
        w.log_weights(5, {"a": np.ones(3), "b": np.ones(3)})
        with pytest.raises(tb_nnviz.TensorError, match=r"'a'.*already logged at step 5"):
            w.log_weights(5, {"c": np.ones(3), "a": np.zeros(3)})
        w.log_weights(5, {"c": np.ones(3)})  # another name at the same step is fine
        w.log_weights(6, {"a": np.full(3, 6.0)}, trajectories=False)
        w.log_weights(6, {"a": np.full(3, 6.0)}, heatmaps=False)  # the other kind: fine
        with pytest.raises(tb_nnviz.TensorError, match="trajectory was already logged"):
            w.log_weights(6, {"a": np.ones(3)}, heatmaps=False)
    heat = read_back(tmp_path)["run"]
    assert [d.step for d in heat["a"]] == [5, 6]
    np.testing.assert_array_equal(heat["a"][0].numpy[0], np.ones((1, 3)))  # not the refused zeros
    assert [d.step for d in heat["c"]] == [5]
    traj = read_back(tmp_path, TRAJECTORY)["run"]["a"]
    upd = trajectory.STAT_FIELDS.index("update_norm")
    assert [d.step for d in traj] == [5, 6]
    assert traj[1].numpy[upd] == pytest.approx(np.sqrt(3 * 25.0))  # 6 vs 1: against step 5


# -- chunked reductions equal the one-pass arithmetic ----------------------------


@pytest.mark.parametrize("shape, max_cells", [((37, 53), 64), ((1, 1000), 50), ((5, 4, 7, 3), 30), ((200,), 7)])
@pytest.mark.parametrize("chunk", [1, 7, 64, 1000])
@pytest.mark.parametrize("special", [False, True])
def test_chunked_reductions_equal_one_pass(monkeypatch, shape, max_cells, chunk, special):
    rng = np.random.default_rng(len(shape) * chunk)
    x = rng.normal(size=shape).astype(np.float32)
    flat = x.reshape(-1)
    if special:
        flat[rng.choice(flat.size, 6, replace=False)] = [np.nan, np.inf, -np.inf, 0, 0, 1e30]
    previous = rng.normal(size=shape)
    plan = trajectory.TrajectoryPlan("t", shape, num_traces=5, sketch_dim=8, quantile_sample=300)
    content = grids.heatmap_content("t", shape, x.dtype, max_cells=max_cells)
    whole = [grids.heatmap_planes(x, content), trajectory.trajectory_point(x, previous, plan)]
    monkeypatch.setattr(grids, "CHUNK_ELEMENTS", chunk)
    planes, point = grids.heatmap_planes(x, content), trajectory.trajectory_point(x, previous, plan)
    np.testing.assert_array_equal(planes, whole[0])  # blocks never straddle tiles: exact
    np.testing.assert_allclose(point, whole[1], rtol=1e-12, atol=1e-12)
    exact_fields = ("min", "max", "q05", "q50", "q95", "zero_fraction", "nan_count", "inf_count")
    exact = [trajectory.STAT_FIELDS.index(f) for f in exact_fields]
    np.testing.assert_array_equal(point[exact], whole[1][exact])
    np.testing.assert_array_equal(point[len(trajectory.STAT_FIELDS) : -8], whole[1][len(trajectory.STAT_FIELDS) : -8])


_BIG = textwrap.dedent(
    """
    import json, resource, sys, tempfile, time
    import numpy as np
    import tb_nnviz
    from tb_nnviz.format import metadata
    from tb_nnviz.reduce import grids, trajectory
    from tests import providers

    def rss():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    shape = (10000, 10000)
    x = np.random.default_rng(0).standard_normal(shape, dtype=np.float32)
    ref_norm = float(np.sqrt(sum(np.dot(r, r) for r in (row.astype(np.float64) for row in x))))
    logdir = sys.argv[1]
    w = tb_nnviz.Writer(logdir + "/run")  # imports TensorFlow when installed (tensorboard's gfile)
    base = rss()
    times = []
    for step in range(2):
        if step == 1:
            x[0, 0], x[5000, 5000] = np.nan, np.inf
        start = time.perf_counter()
        w.log_weights(step, {"big/kernel": x})
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    w.close()
    close = time.perf_counter() - start
    peak = rss()
    heat = providers.read_all(providers.python_provider(logdir), metadata.HEATMAP_PLUGIN_NAME)["run"]
    traj = providers.read_all(providers.python_provider(logdir), metadata.TRAJECTORY_PLUGIN_NAME)["run"]
    planes = [d.numpy for d in heat["big/kernel/nnviz_heatmap"]]
    points = [d.numpy for d in traj["big/kernel/nnviz_trajectory"]]
    f = trajectory.STAT_FIELDS.index
    block = x[40:80, 120:160].astype(np.float64)
    print(json.dumps({
        "times": times, "close": close, "base_mib": base, "peak_mib": peak,
        "planes_shape": list(planes[0].shape), "steps": [d.step for d in heat["big/kernel/nnviz_heatmap"]],
        "nonfinite_absmax": [bool(np.isnan(planes[1][1, 0, 0])), bool(np.isposinf(planes[1][1, 125, 125]))],
        "block_mean": [float(planes[1][0, 1, 3]), float(block.mean())],
        "block_absmax": [float(planes[1][1, 1, 3]), float(block.flat[np.abs(block).argmax()])],
        "norm0": [float(points[0][f("norm")]), ref_norm],
        "counts1": [float(points[1][f("nan_count")]), float(points[1][f("inf_count")])],
        "update_norm1_nan": bool(np.isnan(points[1][f("update_norm")])),
    }))
    """
)


def test_100m_element_tensor_is_pooled_with_bounded_memory(tmp_path):
    """A 100M-element float32 tensor (400 MB): pooled to the cell budget in bounded memory.

    Measured in a child process (peak RSS); docs/reliability.md records the numbers.
    """
    env = dict(os.environ, PYTHONPATH=tbserver.REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run(
        [sys.executable, "-c", _BIG, str(tmp_path)], env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    print("100M-element tensor:", r)
    assert r["steps"] == [0, 1]
    assert r["planes_shape"] == [2, 250, 250]  # 10000 x 10000 in 40 x 40 blocks
    assert r["planes_shape"][1] * r["planes_shape"][2] <= grids.DEFAULT_MAX_CELLS
    assert r["nonfinite_absmax"] == [True, True]
    assert r["block_mean"][0] == pytest.approx(r["block_mean"][1], rel=1e-5, abs=1e-7)
    assert r["block_absmax"][0] == np.float32(r["block_absmax"][1])
    assert r["norm0"][0] == pytest.approx(r["norm0"][1], rel=1e-12)
    assert r["counts1"] == [1.0, 1.0] and r["update_norm1_nan"] is True  # NaN - x is NaN
    # The writer keeps one copy of the tensor (for the next update norm): 400 MB.
    # Everything else is O(grids.CHUNK_ELEMENTS); before chunking this was ~6 GB.
    assert r["peak_mib"] - r["base_mib"] < 1024, r
    assert max(r["times"]) < 60, r


# -- damaged and odd log files ---------------------------------------------------

WRITTEN = (0, 1, 2, 3, 4)


def _w(step):
    return np.arange(12, dtype=np.float32).reshape(4, 3) + step


def _write_run(root, run, steps=WRITTEN):
    with tb_nnviz.Writer(os.path.join(str(root), run), max_cells=6) as w:
        for step in steps:
            w.log_weights(step, {"w": _w(step), "b": _w(step)[0]})
    (name,) = os.listdir(os.path.join(str(root), run))
    return os.path.join(str(root), run, name)


def _raw_event(path_dir, tag, plugin_name, content, suffix):
    """One event with hand-made plugin content, as an older/newer tb_nnviz might write."""
    writer = EventFileWriter(path_dir, filename_suffix=suffix)
    md = summary_pb2.SummaryMetadata(data_class=summary_pb2.DATA_CLASS_TENSOR)
    md.plugin_data.plugin_name = plugin_name
    md.plugin_data.content = json.dumps(content).encode() if isinstance(content, dict) else content
    value = summary_pb2.Summary.Value(
        tag=tag, metadata=md, tensor=tensor_util.make_tensor_proto(np.zeros((1, 2, 2), np.float32))
    )
    writer.add_event(event_pb2.Event(step=1, wall_time=1.0, summary=summary_pb2.Summary(value=[value])))
    writer.close()


_GOOD_CONTENT = {"name": "old", "shape": [2, 2], "layout": {"kind": "matrix", "rows": [0], "cols": [1]},
                 "grid": [2, 2], "pool": [1, 1], "planes": ["value"]}


@pytest.fixture(scope="module")
def damaged_logdir(tmp_path_factory):
    """Runs: good; truncated (last record cut); corrupt (bytes flipped mid-file);
    empty (a zero-length event file); versions (tags of version 0, none and 2
    beside a good tensor)."""
    root = tmp_path_factory.mktemp("damaged")
    _write_run(root, "good")
    path = _write_run(root, "truncated")
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[:-25])
    path = _write_run(root, "corrupt")
    data = bytearray(open(path, "rb").read())
    for i in range(len(data) // 2, len(data) // 2 + 64):
        data[i] ^= 0xA5
    with open(path, "wb") as f:
        f.write(bytes(data))
    os.makedirs(root / "empty")
    (root / "empty" / "events.out.tfevents.1.empty").write_bytes(b"")
    _write_run(root, "versions", steps=(0, 1))
    _raw_event(str(root / "versions"), "v0/nnviz_heatmap", HEATMAP, dict(_GOOD_CONTENT, version=0), ".v0")
    _raw_event(str(root / "versions"), "nov/nnviz_heatmap", HEATMAP, dict(_GOOD_CONTENT), ".nov")
    _raw_event(str(root / "versions"), "v2/nnviz_heatmap", HEATMAP, dict(_GOOD_CONTENT, version=2), ".v2")
    _raw_event(str(root / "versions"), "junk/nnviz_trajectory", TRAJECTORY, b"\xff\x00 not json", ".junk")
    return root


def _expected(name, step):
    x = _w(step) if name == "w" else _w(step)[0]
    return grids.heatmap(x, name, max_cells=6)[0]


def _check_damaged(get, tags):
    """Shared by the Python-loader and the Rust-data-server tests."""
    runs = tags["runs"]
    assert sorted(runs) == ["corrupt", "good", "truncated", "versions"], sorted(runs)
    assert runs["good"]["w"]["steps"] == list(WRITTEN)
    assert runs["truncated"]["w"]["steps"] == list(WRITTEN[:-1])  # the cut record is skipped
    assert set(runs["corrupt"]["w"]["steps"]) <= set(WRITTEN) and 0 in runs["corrupt"]["w"]["steps"]
    assert sorted(runs["versions"]) == ["b", "w"]
    problems = {e["tag"]: e["message"] for e in tags["errors"]}
    assert set(problems) == {"v0/nnviz_heatmap", "nov/nnviz_heatmap", "v2/nnviz_heatmap", "junk/nnviz_trajectory"}
    assert "no valid version: 0" in problems["v0/nnviz_heatmap"]
    assert "no valid version: None" in problems["nov/nnviz_heatmap"]
    assert "newer" in problems["v2/nnviz_heatmap"] and "upgrade" in problems["v2/nnviz_heatmap"]
    assert "not valid JSON" in problems["junk/nnviz_trajectory"]
    assert all(e["run"] == "versions" for e in tags["errors"])
    # Every route, every run (also the unreadable ones): served or a 404, never a 500.
    for run in ("good", "truncated", "corrupt", "empty", "versions"):
        for name in ("w", "b", "v0", "v2", "nov", "junk"):
            for step in WRITTEN:
                status, body = get("/heatmap", run=run, tag=name, step=step)
                assert status in (200, 404), (run, name, step, status, body[:200])
                if status == 200:
                    header, planes = heatmap_body.decode_heatmap(body)
                    assert header["step"] == step
                    if run != "corrupt":  # the Rust server ignores data CRCs
                        np.testing.assert_array_equal(planes, _expected(name, step))
            status, _ = get("/trajectory", run=run, tag=name)
            assert status in (200, 404), (run, name, status)
        for path in ("/projection", "/overview"):
            status, _ = get(path, run=run)
            assert status in (200, 404), (path, run, status)
        if run in runs:
            assert get("/overview", run=run)[0] == 200


def test_damaged_files_under_the_python_loader(damaged_logdir):
    client = make_client(damaged_logdir)

    def get(path, **query):
        response = client.get(PREFIX + path, query_string=query)
        return response.status_code, response.get_data()

    status, body = get("/tags")
    assert status == 200
    tags = json.loads(body)
    _check_damaged(get, tags)
    # The Python loader stops reading a file at a corrupt record.
    assert tags["runs"]["corrupt"]["w"]["steps"] == list(WRITTEN[: len(tags["runs"]["corrupt"]["w"]["steps"])])


def test_damaged_files_under_a_real_tensorboard_load_fast(damaged_logdir, start_tensorboard):
    url = start_tensorboard(damaged_logdir, "--load_fast", "true") + PREFIX

    def get(path, **query):
        try:
            with urllib.request.urlopen(url + path + "?" + urllib.parse.urlencode(query), timeout=20) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    tags = tbserver.wait_for(
        lambda: json.loads(get("/tags")[1]),
        lambda t: t["runs"].get("good", {}).get("w", {}).get("steps") == list(WRITTEN)
        and len(t["errors"]) == 4 and "truncated" in t["runs"] and "corrupt" in t["runs"],
    )
    _check_damaged(get, tags)


def test_run_deleted_while_serving(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "REVALIDATE_SECS", 0.0)
    write_logdir(tmp_path)
    tb = make_flags(tmp_path, "--reload_interval", "0", "--reload_task", "blocking")
    ingester = data_ingester.LocalDataIngester(tb.flags)
    ingester.start()
    client = werkzeug_test.Client(
        application.TensorBoardWSGIApp(tb.flags, tb.plugin_loaders, ingester.data_provider)
    )
    get_heatmap(client, run="b", tag="dense/kernel", step=10)  # cached
    shutil.rmtree(tmp_path / "b")
    ingester.deprecated_multiplexer.Reload()
    assert sorted(get_json(client, "/tags")["runs"]) == ["a"]
    for path, query in [("/heatmap", {"tag": "dense/kernel", "step": 10}), ("/trajectory", {"tag": "dense/kernel"}),
                        ("/projection", {}), ("/overview", {})]:
        response = client.get(PREFIX + path, query_string=dict(query, run="b"))
        assert response.status_code == 404, (path, response.get_data(as_text=True))
        assert "'b'" in response.get_data(as_text=True)
    _, planes = get_heatmap(client, run="a", tag="dense/kernel", step=10)
    np.testing.assert_array_equal(planes, grids.heatmap(logdir_arrays("a", 10)["dense/kernel"], max_cells=64)[0])


# -- live writes -----------------------------------------------------------------


def _live(step):
    return {"layer/kernel": np.full((30, 20), float(step), np.float32) + np.arange(20, dtype=np.float32),
            "layer/bias": np.full(20, -float(step), np.float32)}


def test_live_writes_are_served_consistently_while_reloading(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "REVALIDATE_SECS", 0.05)
    last_step = 60
    with tb_nnviz.Writer(tmp_path / "live", max_cells=100, flush_secs=1) as w:
        w.log_weights(0, _live(0))
    tb = make_flags(tmp_path, "--reload_interval", "0", "--reload_task", "blocking")
    ingester = data_ingester.LocalDataIngester(tb.flags)
    ingester.start()
    app = application.TensorBoardWSGIApp(tb.flags, tb.plugin_loaders, ingester.data_provider)
    stop, failures, written = threading.Event(), [], [0]
    content = grids.heatmap_content("layer/kernel", (30, 20), np.float32, max_cells=100)

    def writer():
        with tb_nnviz.Writer(tmp_path / "live", max_cells=100, filename_suffix=".live") as w:
            for step in range(1, last_step + 1):
                written[0] = step  # an upper bound of what can be on disk
                w.log_weights(step, _live(step))
                w.flush()
                time.sleep(0.02)

    def reloader():
        while not stop.is_set():
            ingester.deprecated_multiplexer.Reload()
            time.sleep(0.01)

    def reader():
        client = werkzeug_test.Client(app)
        rng = np.random.default_rng(threading.get_ident() % 1000)
        while not stop.is_set():
            try:
                tags = json.loads(client.get(PREFIX + "/tags").get_data())
                info = tags["runs"]["live"]["layer/kernel"]
                steps = info["steps"]
                assert steps == sorted(set(steps)) and set(steps) <= set(range(written[0] + 1))
                step = int(rng.choice(steps))
                diff = str(rng.choice(["none", "first"]))
                query = {"run": "live", "tag": "layer/kernel", "step": step, "diff": diff}
                r = client.get(PREFIX + "/heatmap", query_string=query)
                assert r.status_code == 200, r.get_data()
                header, planes = heatmap_body.decode_heatmap(r.get_data())
                assert header["step"] == step
                want = grids.heatmap_planes(_live(step)["layer/kernel"], content)
                if diff == "first":
                    want = want - grids.heatmap_planes(_live(0)["layer/kernel"], content)
                np.testing.assert_array_equal(planes, want)
                for name in ("layer/kernel", "layer/bias"):
                    query = {"run": "live", "tag": name}
                    body = json.loads(client.get(PREFIX + "/trajectory", query_string=query).get_data())
                    lengths = {k: len(v) for k, v in body.items() if isinstance(v, list)}
                    assert len(set(lengths.values())) == 1, lengths
                    assert all(len(v) == len(body["step"]) for v in body["traces"]["values"])
                    assert body["step"] == sorted(body["step"])
                    assert body["mean"][-1] == pytest.approx(_live(body["step"][-1])[name].astype(np.float64).mean())
                response = client.get(PREFIX + "/projection", query_string={"run": "live"})
                proj = json.loads(response.get_data())["runs"]["live"]
                assert len(proj["x"]) == len(proj["y"]) == len(proj["step"])
                assert all(v is None or np.isfinite(v) for v in proj["x"] + proj["y"])
                assert client.get(PREFIX + "/overview", query_string={"run": "live"}).status_code == 200
            except Exception as e:  # noqa: BLE001 - reported to the main thread
                failures.append(repr(e))
                stop.set()

    threads = [threading.Thread(target=f) for f in (reloader, reader, reader)]
    for t in threads:
        t.start()
    writing = threading.Thread(target=writer)
    writing.start()
    writing.join(timeout=120)
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert not failures, failures[:3]
    ingester.deprecated_multiplexer.Reload()
    client = werkzeug_test.Client(app)
    assert get_json(client, "/tags")["runs"]["live"]["layer/kernel"]["steps"][-1] == last_step
    assert len(get_json(client, "/trajectory", run="live", tag="layer/bias")["step"]) == last_step + 1


# -- log dir given as a URL ------------------------------------------------------


def test_logdir_as_a_file_url(tmp_path):
    """``--logdir file:///abs/path``: TensorBoard reads it through tf.io.gfile."""
    write_logdir(tmp_path)
    url = "file://" + str(tmp_path.resolve())
    client = make_client(url)
    tags = get_json(client, "/tags")
    assert sorted(tags["runs"]) == ["a", "b"] and tags["errors"] == []
    assert tags["runs"]["a"]["dense/kernel"]["steps"] == list(LOGDIR_STEPS)
    header, planes = get_heatmap(client, run="a", tag="conv/kernel", step=20)
    want = grids.heatmap(logdir_arrays("a", 20)["conv/kernel"], max_cells=64)[0]
    np.testing.assert_array_equal(planes, want)
    assert header["step"] == 20
    assert get_json(client, "/trajectory", run="b", tag="dense/bias")["step"] == list(LOGDIR_STEPS)
