"""`tb-nnviz animate`: a tensor's heatmaps over the logged steps as a GIF, decoded here.

The demo's lr_too_high run (2 epochs, Keras, real event files): the GIF of
``mlp/dense_1/kernel`` has one frame per logged heatmap step (counted
independently through TensorBoard's own loader), each with the step in its
subtitle's place and a colour bar running from RdBu's blue to its red (viridis'
purple to yellow with ``--colormap viridis``). Bad input exits 2 with a message
naming what is wrong.
"""

import numpy as np
import pytest

import tb_nnviz
from tb_nnviz import cli
from tb_nnviz.format import metadata
from tests import providers

RUN = "lr_too_high/train"
TAG = "mlp/dense_1/kernel"


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("demo")
    assert cli.main(["demo", "--logdir", str(logdir), "--epochs", "2", "--runs", "lr_too_high", "--no-serve"]) == 0
    return logdir


def _logged_heatmap_steps(logdir, run, tag):
    data = providers.read_all(providers.python_provider(logdir), metadata.HEATMAP_PLUGIN_NAME)[run]
    tags = (metadata.summary_tag(tag, metadata.HEATMAP_PLUGIN_NAME), metadata.first_tag(tag))
    return sorted({d.step for t in tags for d in data.get(t, [])})


def _frames(path):
    from PIL import Image, ImageSequence

    with Image.open(path) as gif:
        duration = gif.info.get("duration")
        return [np.asarray(f.convert("RGB"), dtype=float) for f in ImageSequence.Iterator(gif)], duration


def _bar_rows(img, left, right):
    """Rows of ``img`` whose pixels near its horizontal margins are ``left`` and ``right`` (RGB 0-255):
    the colour bar (animate.render: the bar spans the heatmap's width, 0.5 inch = 50 px from each side)."""
    x0, x1 = 52, img.shape[1] - 53
    near = lambda x, c: np.abs(img[:, x] - np.asarray(c)).sum(axis=1) < 45  # noqa: E731
    return np.flatnonzero(near(x0, left) & near(x1, right))


def _rgb(cmap, t):
    from matplotlib import colormaps

    return np.round(np.asarray(colormaps[cmap](t)[:3]) * 255)


def test_one_frame_per_logged_heatmap_step_each_with_its_colour_bar(demo_dir, tmp_path, capsys):
    out = tmp_path / "dense_1.gif"
    assert cli.main(["animate", str(demo_dir), "--run", RUN, "--tag", TAG, "-o", str(out)]) == 0
    steps = _logged_heatmap_steps(demo_dir, RUN, TAG)
    assert len(steps) >= 5, steps
    assert capsys.readouterr().out.strip() == "%s: %d frames, steps %d to %d" % (out, len(steps), steps[0], steps[-1])
    frames, duration = _frames(out)
    assert len(frames) == len(steps)
    assert duration == 500
    for k, img in enumerate(frames):
        rows = _bar_rows(img, _rgb("RdBu_r", 0.0), _rgb("RdBu_r", 1.0))
        assert rows.size >= 10, "frame %d has no blue-to-red colour bar" % k
        assert rows.min() > img.shape[0] * 0.75, "the bar sits under the heatmap"
    # The weights move (lr 1.0): the first and last frames differ in the heatmap, not only the step.
    assert np.abs(frames[0][100:-150] - frames[-1][100:-150]).sum() > 0

    viridis = tmp_path / "viridis.gif"
    assert cli.main(["animate", str(demo_dir), "--run", RUN, "--tag", TAG, "-o", str(viridis),
                     "--colormap", "viridis", "--diff", "prev"]) == 0
    frames, _ = _frames(viridis)
    assert len(frames) == len(steps) - 1  # the first step has no previous one
    assert _bar_rows(frames[0], _rgb("viridis", 0.0), _rgb("viridis", 1.0)).size >= 10


def _small_logdir(root):
    """One run with a heatmap tensor (a NaN at its last step) and a tensor logged without
    heatmaps (trajectory points only)."""
    rng = np.random.default_rng(0)
    with tb_nnviz.Writer(str(root / "small")) as w:
        for step in range(3):
            kernel = rng.normal(size=(4, 3))
            kernel[0, 0] = np.nan if step == 2 else kernel[0, 0]
            w.log_weights(step, {"d/kernel": kernel}, spectra=False)
            w.log_weights(step, {"d/bias": rng.normal(size=3)}, heatmaps=False, spectra=False)
    return root


@pytest.mark.parametrize("args, message", [
    (["--run", "nope"], "no run 'nope' with tb_nnviz data; its runs: small"),
    (["--run", "small", "--tag", "d/nope"], "run 'small' has no tensor 'd/nope'; its heatmap tensors: d/kernel"),
    (["--run", "small", "--tag", "d/bias"], "tensor 'd/bias' of run 'small' has no heatmaps"),
])
def test_bad_input_exits_2_naming_it(tmp_path, capsys, args, message):
    logdir = _small_logdir(tmp_path)
    argv = ["animate", str(logdir), "--run", "small", "--tag", "d/kernel", "-o", str(tmp_path / "x.gif")] + args
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.gif").exists()


def test_a_missing_log_dir_is_named(tmp_path, capsys):
    missing = tmp_path / "missing"
    assert cli.main(["animate", str(missing), "--run", "r", "--tag", "t", "-o", str(tmp_path / "x.gif")]) == 2
    assert "log dir %r is not a readable directory" % str(missing) in capsys.readouterr().err


def test_a_small_run_animates_with_its_three_steps_and_shows_its_nan(tmp_path):
    logdir = _small_logdir(tmp_path)
    out = tmp_path / "small.gif"
    assert cli.main(["animate", str(logdir), "--run", "small", "--tag", "d/kernel", "-o", str(out)]) == 0
    frames, _ = _frames(out)
    assert len(frames) == 3
    magenta = [int((np.abs(f - [255, 0, 255]).sum(axis=2) < 10).sum()) for f in frames]
    assert magenta[0] == magenta[1] == 0 and magenta[2] > 100, magenta  # the NaN cell, in the tab's NaN colour
