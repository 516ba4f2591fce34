"""tb_nnviz.Writer -> event files -> TensorBoard's own data providers, value by value."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tb_nnviz
from tb_nnviz.format import metadata
from tb_nnviz.reduce import grids, trajectory
from tests import providers

HEATMAP = metadata.HEATMAP_PLUGIN_NAME
TRAJECTORY = metadata.TRAJECTORY_PLUGIN_NAME


def _weights(step):
    rng = np.random.default_rng(step)
    return {
        "dense/kernel": rng.normal(size=(8, 5)).astype(np.float32),
        "dense/bias": rng.normal(size=5).astype(np.float32),
        "conv/kernel": rng.normal(size=(3, 3, 2, 4)).astype(np.float32),
        "embedding/embeddings": rng.normal(size=(300, 40)).astype(np.float32),
    }


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("writer")
    steps = [0, 10, 20]
    with tb_nnviz.Writer(logdir / "run", max_cells=1000, num_traces=4, sketch_dim=8) as w:
        for step in steps:
            w.log_weights(step, _weights(step), description={"dense/kernel": "first <b>layer</b>"})
    return logdir, steps


def _expected_heatmap(name, step):
    return grids.heatmap(_weights(step)[name], name, max_cells=1000)


def _check_provider(provider, steps):
    listing = provider.list_tensors(providers.CTX, experiment_id="", plugin_name=HEATMAP)
    names = {metadata.tensor_name(t, HEATMAP) for t in listing["run"]}
    assert names == set(_weights(0))
    heatmaps = providers.read_all(provider, HEATMAP)["run"]
    assert len(heatmaps) == 2 * len(names)
    for tag, data in heatmaps.items():
        name = metadata.tensor_name(tag, HEATMAP)
        first = tag == metadata.first_tag(name)  # the first heatmap, kept under its own tag
        assert [d.step for d in data] == (steps[:1] if first else steps)
        for datum in data:
            planes, content = _expected_heatmap(name, datum.step)
            assert datum.numpy.dtype == np.float32
            np.testing.assert_array_equal(datum.numpy, planes)
        stored = metadata.parse_content(listing["run"][tag].plugin_content)
        expected = dict(content, first=True) if first else content
        # Network order: the order of the names in the first call.
        index = list(_weights(0)).index(name)
        assert stored == dict(expected, version=metadata.VERSION, index=index)
    assert listing["run"]["dense/kernel/nnviz_heatmap"].description == "first <b>layer</b>"

    trajectories = providers.read_all(provider, TRAJECTORY)["run"]
    assert len(trajectories) == 4
    for tag, data in trajectories.items():
        name = metadata.tensor_name(tag, TRAJECTORY)
        plan = trajectory.TrajectoryPlan(name, _weights(0)[name].shape, num_traces=4, sketch_dim=8)
        previous = None
        for datum in data:
            x = _weights(datum.step)[name]
            np.testing.assert_array_equal(datum.numpy, trajectory.trajectory_point(x, previous, plan))
            previous = x


def test_python_loader_reads_back_exact_values(written):
    logdir, steps = written
    _check_provider(providers.python_provider(logdir), steps)


def test_rust_data_server_reads_back_exact_values(written):
    logdir, steps = written
    with providers.rust_provider(logdir, TRAJECTORY, expected_tags=4) as provider:
        _check_provider(provider, steps)


def test_pooled_heatmap_keeps_outlier_and_metadata_records_pooling(written):
    logdir, _ = written
    provider = providers.python_provider(logdir)
    tag = metadata.summary_tag("embedding/embeddings", HEATMAP)
    content = metadata.parse_content(
        provider.list_tensors(providers.CTX, experiment_id="", plugin_name=HEATMAP)["run"][tag].plugin_content
    )
    assert content["shape"] == [300, 40] and content["planes"] == ["mean", "absmax"]
    br, bc = content["pool"]
    assert -(-300 // br) * -(-40 // bc) <= 1000


def test_first_trajectory_point_has_no_update_and_second_does(written):
    logdir, _ = written
    data = providers.read_all(providers.python_provider(logdir), TRAJECTORY)["run"]
    series = data[metadata.summary_tag("dense/kernel", TRAJECTORY)]
    upd = trajectory.STAT_FIELDS.index("update_norm")
    assert np.isnan(series[0].numpy[upd])
    diff = _weights(10)["dense/kernel"].astype(np.float64) - _weights(0)["dense/kernel"]
    assert series[1].numpy[upd] == pytest.approx(np.linalg.norm(diff), rel=1e-12)


def test_metadata_only_in_first_event_of_each_tag(written):
    logdir, _ = written
    from tensorboard.backend.event_processing import event_file_loader

    (path,) = [os.path.join(logdir, "run", f) for f in os.listdir(logdir / "run")]
    seen = {}
    for event in event_file_loader.EventFileLoader(path).Load():
        for value in event.summary.value:
            seen.setdefault(value.tag, []).append(value.HasField("metadata"))
    firsts = {tag: seen.pop(tag) for tag in list(seen) if tag.endswith(metadata.FIRST_SUFFIX)}
    assert seen and all(flags == [True, False, False] for flags in seen.values())
    assert len(firsts) == 4 and all(flags == [True] for flags in firsts.values())


@pytest.mark.parametrize(
    "value, message",
    [
        (np.array([True, False]), "dtype bool"),
        (np.array([1 + 2j]), "dtype complex128"),
        (np.array(["a"]), "dtype <U1"),
        (np.float32(3.0), "scalar"),
        (np.zeros((0, 3)), "empty"),
    ],
)
def test_bad_tensor_names_it_and_writes_nothing(tmp_path, value, message):
    with tb_nnviz.Writer(tmp_path / "run") as w:
        with pytest.raises(tb_nnviz.TensorError, match=message) as info:
            w.log_weights(0, {"good": np.ones(3), "bad/tensor": value})
        assert "'bad/tensor'" in str(info.value)
    assert providers.python_provider(tmp_path).list_tensors(
        providers.CTX, experiment_id="", plugin_name=HEATMAP
    ) == {}


@pytest.mark.parametrize("name", ["", "a\x00b", "tab\there", 7])
def test_unusable_names_are_refused(tmp_path, name):
    with tb_nnviz.Writer(tmp_path) as w, pytest.raises(tb_nnviz.TensorError, match="name"):
        w.log_weights(0, {name: np.ones(3)})


@pytest.mark.parametrize("step", [-1, 1.5, "3", True, None])
def test_bad_step_is_echoed(tmp_path, step):
    echoed = repr(step).replace("(", r"\(").replace(".", r"\.")
    with tb_nnviz.Writer(tmp_path) as w, pytest.raises(ValueError, match="step must be an int >= 0, got %s" % echoed):
        w.log_weights(step, {"a": np.ones(3)})


def test_shape_change_is_refused(tmp_path):
    with tb_nnviz.Writer(tmp_path) as w:
        w.log_weights(0, {"a": np.ones((2, 3))})
        with pytest.raises(tb_nnviz.TensorError, match="'a' changed"):
            w.log_weights(1, {"a": np.ones((3, 3))})


@pytest.mark.parametrize("dtype", [np.float16, np.float64, np.int32, np.uint8])
def test_numeric_dtypes_are_stored_as_float32_grids(tmp_path, dtype):
    x = (np.arange(12).reshape(3, 4) - 5).astype(dtype)
    with tb_nnviz.Writer(tmp_path / "run") as w:
        w.log_weights(3, {"x": x})
    data = providers.read_all(providers.python_provider(tmp_path), HEATMAP)["run"]
    np.testing.assert_array_equal(data["x/nnviz_heatmap"][0].numpy[0], x.astype(np.float32))


def test_writer_works_without_tensorflow(tmp_path):
    """The Writer and its event file (``tb_nnviz.log.event_file``) run with TensorFlow unimportable."""
    script = textwrap.dedent(
        """
        import sys
        class NoTF:
            def find_spec(self, name, path=None, target=None):
                if name == "tensorflow" or name.startswith("tensorflow.") or name == "keras":
                    raise ImportError("tensorflow is not installed")
        sys.meta_path.insert(0, NoTF())
        import numpy as np, tb_nnviz
        with tb_nnviz.Writer(sys.argv[1]) as w:
            w.log_weights(0, {"w": np.eye(3, dtype=np.float32)})
        assert "tensorflow" not in sys.modules
        """
    )
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "run")], check=True, env=env)
    data = providers.read_all(providers.python_provider(tmp_path), HEATMAP)["run"]
    np.testing.assert_array_equal(data["w/nnviz_heatmap"][0].numpy[0], np.eye(3))


# -- heatmaps pooled by whole tiles, small axes kept (ResNet-like shapes) -------------------------


def test_resnet_like_heatmaps_pool_whole_tiles_and_keep_small_axes(tmp_path):
    """Under ResNet-50's model-wide cap (1225 cells for its largest kernels): conv4_block3_2_conv
    (3x3x256x256) pools 8x8 channel pairs of whole 3x3 tiles; PyTorch's 7x7 RGB stem (64x3x7x7) is
    unpooled; the 2048x10 classifier keeps its 10 columns; every plane equals the numpy reference."""
    from tb_nnviz.log.plan import LogPlan, Weight

    rng = np.random.default_rng(0)
    cases = {"conv4_block3_2_conv/kernel": ((3, 3, 256, 256), "auto", [24, 24], [8, 8], (32, 32)),
             "conv1/weight": ((64, 3, 7, 7), "conv_first", [1, 1], None, (21, 448)),
             "predictions/kernel": ((2048, 10), "auto", [18, 1], [18, 1], (114, 10))}
    for name, (shape, layout, pool, tiles, stored) in cases.items():
        lay = grids.grid_layout(shape, layout)
        content = grids.heatmap_content(name, shape, "float32", layout, grids.heatmap_cells(shape, lay, 1151))
        assert content["pool"] == pool and content.get("pool_tiles") == tiles, name
        x = rng.normal(size=shape).astype(np.float32)
        planes = grids.heatmap_planes(x, content)
        assert planes.shape[1:] == stored
        if tiles:  # each cell: the mean of its channel pairs' whole tiles
            grid = grids.to_grid(x.astype(np.float64), lay)
            np.testing.assert_allclose(planes[0, 1, 2], grid[pool[0]:2 * pool[0], 2 * pool[1]:3 * pool[1]].mean(),
                                       rtol=1e-5)
    # full_resolution: exempt from the model-wide budget and max_cells, unpooled up to FULL_RESOLUTION_CELLS.
    shapes = [(3, 3, 64, 128), (3, 3, 256, 256), (3, 3, 256, 256)]
    weights = [Weight("a/kernel", None), Weight("b/kernel", None), Weight("c/kernel", None)]
    with tb_nnviz.Writer(tmp_path) as w:
        plan = LogPlan(w, weights, shapes, ["float32"] * 3, max_total_cells=20000, full_resolution=r"^b/")
        assert plan.heat[1]["pool"] == [1, 1]  # 589,824 cells, over max_cells 65,536
        assert plan.heat[2]["pool"] != [1, 1] and plan.heat[2]["pool"][0] > 3
    with tb_nnviz.Writer(tmp_path / "b") as w:
        plan = LogPlan(w, weights[:1], [(3, 3, 32, 200)], ["float32"], max_total_cells=2000,
                       full_resolution=["a/kernel"])
        assert plan.heat[0]["pool"] == [1, 1]  # 96x600 within max_cells
