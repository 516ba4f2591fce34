"""When heatmaps are logged by default, the last finite ones before a divergence, and
full-resolution heatmaps of chosen tensors: the schedule itself and the Writer, read back
through TensorBoard's data provider and held to the numpy reference.

The Keras callback's and ``watch``'s real runs are in tests/test_keras.py and
tests/test_torch_watch.py.
"""

import numpy as np
import pytest

import tb_nnviz
from tb_nnviz.format import metadata
from tb_nnviz.log.plan import AUTO_HEATMAPS, HeatmapSchedule, all_finite
from tb_nnviz.reduce import grids
from tests import reference
from tests.providers import CTX, python_provider, read_all

HEAT = metadata.HEATMAP_PLUGIN_NAME


@pytest.mark.parametrize("steps, want", [
    (10, [1, 3, 10]),
    (1000, [1, 3, 10, 30, 100, 300, 1000]),
    (100000, [1, 3, 10, 30, 100, 300, 1000, 3000, 10000, 30000, 100000]),
])
def test_an_open_ended_run_gets_a_handful_of_heatmaps_at_any_length(steps, want):
    schedule = HeatmapSchedule()
    assert schedule.steps(steps) == want
    # With the initial and the last step, what a run of that length logs: a handful.
    logged = sorted({0, steps, *want})
    assert 4 <= len(logged) <= 13
    assert [s for s in range(steps + 1) if schedule.crossed(s - 1, s)] == want


@pytest.mark.parametrize("total, per_epoch", [(10, None), (1000, None), (100000, None), (30, 10), (5000, 500),
                                              (1, 1), (7, 1)])
def test_a_run_of_known_length_gets_its_heatmaps_spread_to_its_end(total, per_epoch):
    steps = HeatmapSchedule(total=total, per_epoch=per_epoch).steps()
    assert steps[-1] == total and steps == sorted(set(steps)) and steps[0] >= 1
    assert len(steps) <= AUTO_HEATMAPS
    assert len(steps) >= min(total, 5)  # a handful, when the run has that many steps
    if per_epoch:  # past the first epoch, at epoch ends
        assert all(s % per_epoch == 0 for s in steps if s > per_epoch)
    # A fit that starts later (a second fit call) counts from its first step.
    assert HeatmapSchedule(start=100, total=total, per_epoch=per_epoch).steps() == [100 + s for s in steps]


def test_crossed_catches_a_step_skipped_between_calls():
    schedule = HeatmapSchedule(start=20)
    assert schedule.crossed(20, 25) and schedule.crossed(22, 23) and not schedule.crossed(23, 29)
    assert schedule.crossed(29, 30) and not schedule.crossed(30, 30)


def test_all_finite_sees_nan_and_inf_and_survives_an_overflowing_sum():
    assert all_finite([np.ones((3, 3), np.float32), np.zeros(2)])
    assert not all_finite([np.ones(3), np.array([1.0, np.nan])])
    assert not all_finite([np.array([-np.inf], np.float16)])
    assert all_finite([np.full(4, 6e4, np.float16), np.full(3, 3e38, np.float32)])  # sums overflow, values finite


def _heatmaps(logdir):
    """``{tensor name: [(step, planes), ...]}`` of the main heatmap tags."""
    data = read_all(python_provider(logdir), HEAT)["."]
    return {metadata.tensor_name(tag, HEAT): [(d.step, d.numpy) for d in series]
            for tag, series in data.items() if tag != metadata.first_tag(metadata.tensor_name(tag, HEAT))}


def test_writer_auto_heatmaps_and_the_last_finite_ones_before_a_divergence(tmp_path):
    """log_weights every 5 steps from step 0, heatmaps="auto": initial, 1-3-10-30 crossed, then NaN at 40."""
    rng = np.random.default_rng(0)
    shapes = {"dense/kernel": (40, 30), "conv/kernel": (3, 3, 8, 16), "dense/bias": (30,)}
    start = {n: rng.normal(size=s).astype(np.float32) for n, s in shapes.items()}
    at = {}
    with tb_nnviz.Writer(tmp_path, max_cells=300) as w:
        for step in range(0, 60, 5):
            values = {n: x * (1 + 0.01 * step) for n, x in start.items()}
            if step >= 40:
                values["conv/kernel"].flat[7] = np.nan  # the divergence starts at step 40
            at[step] = values
            w.log_weights(step, values, heatmaps="auto", layouts={"conv/kernel": "conv"})
    heat = _heatmaps(tmp_path)
    for name in shapes:
        # 5 crosses 1 and 3, 10 and 30 are on the schedule; 35 is the last finite (written
        # when step 40 holds a NaN), 40 the first with NaN; nothing after: 100 is not reached.
        assert [s for s, _ in heat[name]] == [0, 5, 10, 30, 35, 40], name
        content = grids.heatmap_content(name, shapes[name], "float32", "conv" if name == "conv/kernel" else "auto",
                                        300)
        for step, planes in heat[name]:
            reference.assert_planes_equal(planes, grids.heatmap_planes(at[step][name], content), at[step][name],
                                          content)
    assert np.isfinite(heat["conv/kernel"][4][1]).all() and np.isnan(heat["conv/kernel"][5][1]).any()


def test_writer_true_and_false_are_kept_as_given_at_a_divergence(tmp_path):
    x = np.ones((4, 4), np.float32)
    with tb_nnviz.Writer(tmp_path) as w:
        w.log_weights(0, {"a": x})
        w.log_weights(1, {"a": x}, heatmaps=False)
        w.log_weights(2, {"a": x * np.nan}, heatmaps=False)
    assert [s for s, _ in _heatmaps(tmp_path)["a"]] == [0]
    with pytest.raises(ValueError, match="heatmaps must be True, False or 'auto', got 'epoch'"):
        tb_nnviz.Writer(tmp_path / "b").log_weights(0, {"a": x}, heatmaps="epoch")


def test_writer_full_resolution_tensors_are_unpooled_beyond_max_cells(tmp_path):
    rng = np.random.default_rng(1)
    values = {"stem/kernel": rng.normal(size=(7, 7, 3, 64)).astype(np.float32),
              "block/kernel": rng.normal(size=(3, 3, 64, 64)).astype(np.float32),
              "head/kernel": rng.normal(size=(512, 10)).astype(np.float32)}
    layouts = {"stem/kernel": "conv", "block/kernel": "conv"}
    with tb_nnviz.Writer(tmp_path, max_cells=100, full_resolution=["^block/", "head"]) as w:
        w.log_weights(0, values, layouts=layouts, trajectories=False)
    listing = python_provider(tmp_path).list_tensors(CTX, experiment_id="", plugin_name=HEAT)["."]
    content = {metadata.tensor_name(t, HEAT): metadata.parse_content(m.plugin_content) for t, m in listing.items()}
    assert content["block/kernel"]["pool"] == [1, 1] and content["block/kernel"]["grid"] == [192, 192]
    assert content["head/kernel"]["pool"] == [1, 1]
    assert content["stem/kernel"]["pool"] != [1, 1]  # not chosen: pooled to max_cells, by whole 7x7 tiles
    assert content["stem/kernel"]["pool"][0] % 7 == 0 and content["stem/kernel"]["pool"][1] % 7 == 0
    heat = _heatmaps(tmp_path)
    for name, x in values.items():
        want = grids.heatmap_planes(x, content[name])
        reference.assert_planes_equal(heat[name][0][1], want, x, content[name])
    np.testing.assert_array_equal(heat["block/kernel"][0][1][0], grids.to_grid(values["block/kernel"],
                                                                                content["block/kernel"]["layout"]))
    with pytest.raises(ValueError, match="full_resolution must be a regex or a list of regexes, got \\['\\('\\]"):
        tb_nnviz.Writer(tmp_path / "bad", full_resolution="(")


def diverging_log(make_logger, to_value, assign, tmp_path, cadence=lambda step: (step == 0, step % 2 == 0)):
    """Logs steps 0..6 of two weights (by default trajectories every 2 steps, heatmaps at 0
    only; ``cadence(step)`` gives both); ``b`` holds a NaN from step 5. Returns the heatmaps
    read back and each step's values."""
    from tb_nnviz.log.plan import Weight

    rng = np.random.default_rng(2)
    values = {0: {"a": rng.normal(size=(6, 5)), "b": rng.normal(size=(3, 3, 2, 4))}}
    for step in range(1, 7):
        values[step] = {n: x + 0.1 for n, x in values[step - 1].items()}
        if step == 5:
            values[step]["b"].flat[3] = np.nan
    current = {n: to_value(x) for n, x in values[0].items()}
    with tb_nnviz.Writer(tmp_path) as w:
        logger = make_logger(w, [Weight("a", current["a"]), Weight("b", current["b"], "conv")])
        for step in range(7):
            for n, x in values[step].items():
                assign(current[n], x)
            heat, traj = cadence(step)
            if heat or traj:
                logger.log(step, heat, traj)
    return _heatmaps(tmp_path), values


def test_host_logger_writes_the_last_finite_heatmaps_before_a_divergence(tmp_path):
    from tb_nnviz.log.host_logger import HostLogger

    heat, values = diverging_log(
        lambda w, weights: HostLogger(w, weights, lambda v: v, shapes=[v.variable.shape for v in weights],
                                      dtypes=["float64"] * 2),
        np.array, lambda var, x: var.__setitem__(Ellipsis, x), tmp_path)
    check_diverging_log(heat, values)


def test_a_divergence_seen_at_a_heatmap_step_gets_a_trajectory_point_there(tmp_path):
    """Heatmaps at 0, 3, 5; trajectory points at 0 and 6: the NaN of step 5 is seen at a
    heatmap step, which then also logs a point, so every view dates it at step 5."""
    from tb_nnviz.log.host_logger import HostLogger

    heat, _ = diverging_log(
        lambda w, weights: HostLogger(w, weights, lambda v: v, shapes=[v.variable.shape for v in weights],
                                      dtypes=["float64"] * 2),
        np.array, lambda var, x: var.__setitem__(Ellipsis, x), tmp_path,
        cadence=lambda step: (step in (0, 3, 5), step in (0, 6)))
    assert [s for s, _ in heat["b"]] == [0, 3, 5]
    points = read_all(python_provider(tmp_path), metadata.TRAJECTORY_PLUGIN_NAME)["."]
    steps = {metadata.tensor_name(t, metadata.TRAJECTORY_PLUGIN_NAME): [d.step for d in data]
             for t, data in points.items()}
    assert steps == {"a": [0, 5, 6], "b": [0, 5, 6]}


def check_diverging_log(heat, values):
    """The heatmaps of :func:`diverging_log`: step 6 sees the NaN, so the values of step 4
    (the last trajectory point) are written, then step 6's; all equal to the reference."""
    content = {"a": grids.heatmap_content("a", (6, 5), "float64"),
               "b": grids.heatmap_content("b", (3, 3, 2, 4), "float64", "conv")}
    for name in ("a", "b"):
        assert [s for s, _ in heat[name]] == [0, 4, 6], name
        for step, planes in heat[name]:
            x = values[step][name]
            reference.assert_planes_equal(planes, grids.heatmap_planes(x, content[name]), x, content[name])
