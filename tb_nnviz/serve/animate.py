"""``tb-nnviz animate``: one tensor's heatmap over its logged steps as an animated GIF.

Beholder's weight-evolution movie, for papers and slides, without ffmpeg: each
frame is a matplotlib figure (title, the step, the heatmap, a colour bar) and
Pillow writes the GIF. The heatmaps are read the way ``tb-nnviz report`` reads a
log dir (``report.open_logdir``: TensorBoard's own loader) and come out of the
plugin's ``heatmap`` route implementation, so a frame shows what the tab's card
shows at that step: plane 0 (block means when pooled), the same change modes.
All frames share one colour range, max |x| over the frames, so a colour means
one value throughout.

    tb-nnviz animate logs/nnviz-demo --run lr_too_high/train --tag mlp/dense_1/kernel -o dense_1.gif
    tb-nnviz animate LOGDIR --run RUN --tag TAG --colormap viridis --diff prev -o moves.gif

matplotlib and Pillow are the ``animate`` extra (``pip install tb-nnviz[animate]``);
they are imported only here, when an animation is made.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tb_nnviz.format import heatmap_body
from tb_nnviz.serve import report

#: The colour maps, as the tab names them: signed values on [-m, m], or |x| on [0, m].
COLORMAPS = ("diverging", "viridis")
#: Change modes, as the ``heatmap`` route names them: the weights, or the change since
#: the previous or the first logged step.
DIFF_MODES = ("none", "prev", "first")
_DIFF_LABEL = {"none": "weights", "prev": "change since previous step", "first": "change since first step"}
#: The tab's colours of NaN, +Inf and -Inf under each map (frontend/src/model/colormap.ts).
_SPECIAL = {
    "diverging": ((255, 0, 255), (255, 214, 0), (0, 200, 83)),
    "viridis": ((255, 0, 255), (255, 255, 255), (230, 0, 0)),
}
#: Their names in a frame's legend line.
_SPECIAL_NAMES = {"diverging": ("magenta", "yellow", "green"), "viridis": ("magenta", "white", "red")}
#: Time each frame stays, in milliseconds (as the tab's GIF export).
FRAME_MS = 500


class AnimateError(Exception):
    """Bad input (log dir, run, tag, option); the message names the wrong thing."""


def load_frames(logdir: str, run: str, tag: str, diff: str = "none") -> tuple[str, list[dict], list[np.ndarray]]:
    """``(run, headers, planes)`` of ``tag``'s heatmap at each logged step of ``run``.

    ``run`` may be TensorBoard's name of the run or the report's (``report.run_label``:
    a log dir that is itself one run is named by its directory); TensorBoard's is returned.
    With ``diff="prev"`` the first logged step has no frame (nothing to compare with).

    Raises:
      AnimateError: an unreadable log dir, an unknown run or tag, a tag without
        heatmaps (trajectory points only), or a bad ``diff``.
    """
    if diff not in DIFF_MODES:
        raise AnimateError("--diff %r is not one of %s" % (diff, ", ".join(DIFF_MODES)))
    try:
        _, nnviz, ctx = report.open_logdir(logdir, heatmap_samples=0)
    except report.ReportError as e:
        raise AnimateError(str(e)) from None
    runs = nnviz._tags_impl(ctx, "")["runs"]
    by_label = {report.run_label(logdir, r): r for r in runs}
    name = run if run in runs else by_label.get(run)
    if name is None:
        raise AnimateError("log dir %r has no run %r with tb_nnviz data; its runs: %s"
                           % (logdir, run, ", ".join(sorted(by_label)) or "none"))
    info = runs[name].get(tag)
    if info is None:
        heatmaps = sorted(t for t, i in runs[name].items() if i["kind"] == "heatmap")
        raise AnimateError("run %r has no tensor %r; its heatmap tensors: %s" % (run, tag, ", ".join(heatmaps)))
    if info["kind"] != "heatmap" or not info["steps"]:
        raise AnimateError("tensor %r of run %r has no heatmaps (trajectory points only: it was logged "
                           "without heatmaps, or its heatmap steps are not kept)" % (tag, run))
    steps = info["steps"][1:] if diff == "prev" else info["steps"]
    if not steps:
        raise AnimateError("tensor %r of run %r has one heatmap step: --diff prev has nothing to compare" % (tag, run))
    headers, planes = [], []
    for step in steps:
        header, data = heatmap_body.decode_heatmap(nnviz._heatmap_impl(ctx, "", name, tag, step, diff))
        headers.append(header)
        planes.append(data[0])
    return name, headers, planes


def shared_range(headers: list[dict]) -> float:
    """max |x| over the frames' finite min / max (0.0 when none is finite).

    >>> shared_range([{"min": -0.2, "max": 0.1}, {"min": None, "max": None}, {"min": 0.0, "max": 0.3}])
    0.3
    """
    ends = [abs(h[k]) for h in headers for k in ("min", "max") if h.get(k) is not None]
    return max(ends, default=0.0)


def legend(header: dict, colormap: str = "diverging") -> str:
    """The frame's line for its NaN and +/-Inf cells, as the tab's legend counts them ("" when none).

    >>> legend({"nan_count": 2, "posinf_count": 0, "neginf_count": 1}, "viridis")
    'NaN × 2 (magenta) · −Inf × 1 (red)'
    """
    counts = (header.get("nan_count"), header.get("posinf_count"), header.get("neginf_count"))
    return " · ".join("%s × %d (%s)" % (label, n, colour)
                      for label, n, colour in zip(("NaN", "+Inf", "−Inf"), counts, _SPECIAL_NAMES[colormap]) if n)


def _colormap(name: str) -> Any:
    """The matplotlib colour map the tab draws with: RdBu reversed (blue - white - red) or viridis."""
    from matplotlib import colormaps

    nan, posinf, neginf = (tuple(c / 255 for c in rgb) for rgb in _SPECIAL[name])
    base = colormaps["viridis" if name == "viridis" else "RdBu_r"]
    return base.with_extremes(bad=nan, over=posinf, under=neginf)


def _frame_values(plane: np.ndarray, m: float, magnitude: bool) -> np.ma.MaskedArray:
    """What imshow colours: NaN masked (its "bad" colour); +Inf above the range and -Inf
    below it (the map's "over" and "under" colours), whichever the map."""
    values = np.abs(plane) if magnitude else plane.astype(np.float64)
    top = max(m, 1e-30)
    values = np.where(plane == np.inf, top * 2 + 1, np.where(plane == -np.inf, -top * 2 - 1, values))
    return np.ma.masked_invalid(values)


def render(run: str, tag: str, headers: list[dict], planes: list[np.ndarray], colormap: str = "diverging",
           diff: str = "none", dpi: int = 100) -> list[Any]:
    """The frames, one PIL image per step: title, "step N · what · colour range", the
    count of NaN and +/-Inf cells when there are any, the heatmap (rows down, columns
    across, as in the tab) and a horizontal colour bar."""
    if colormap not in COLORMAPS:
        raise AnimateError("--colormap %r is not one of %s" % (colormap, ", ".join(COLORMAPS)))
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image

    magnitude = colormap == "viridis"
    m = shared_range(headers)
    lo, hi = (0.0, m) if magnitude else (-m, m)
    if hi <= lo:
        hi = lo + 1e-12  # an all-zero tensor: one colour, a valid range
    cmap = _colormap(colormap)
    rows, cols = planes[0].shape
    # The heatmap's box: square cells, at most 6 x 5 inches; room above for the text (three lines), below for the bar.
    scale = min(6.0 / cols, 5.0 / rows, 0.25)
    width, height = max(cols * scale, 4.0), rows * scale
    rng = "|x| 0–%.3g" % m if magnitude else "±%.3g" % m
    # One figure, redrawn per frame with the step's values and subtitle (the layout stays put).
    fig = Figure(figsize=(width + 1.0, height + 2.1), dpi=dpi)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0.5 / (width + 1), 1.15 / (height + 2.1), width / (width + 1), height / (height + 2.1)))
    image = ax.imshow(_frame_values(planes[0], m, magnitude), cmap=cmap, vmin=lo, vmax=hi,
                      interpolation="nearest", aspect="auto")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.text(0.5 / (width + 1), 1 - 0.3 / (height + 2.1), "%s · %s" % (run, tag), fontsize=11, weight="bold")
    subtitle = fig.text(0.5 / (width + 1), 1 - 0.58 / (height + 2.1), "", fontsize=9)
    specials = fig.text(0.5 / (width + 1), 1 - 0.8 / (height + 2.1), "", fontsize=8)
    bar = fig.add_axes((0.5 / (width + 1), 0.45 / (height + 2.1), width / (width + 1), 0.18 / (height + 2.1)))
    fig.colorbar(image, cax=bar, orientation="horizontal")
    bar.tick_params(labelsize=8)
    frames = []
    for header, plane in zip(headers, planes):
        image.set_data(_frame_values(plane, m, magnitude))
        subtitle.set_text("step %d · %s · colour %s (fixed over %d steps)"
                          % (header["step"], _DIFF_LABEL[diff], rng, len(headers)))
        specials.set_text(legend(header, colormap))
        canvas.draw()
        rgb = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba()).convert("RGB")
        # Each frame's own 256 colours (fast octree: the GIF writer's default median cut takes 4x as long).
        frames.append(rgb.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE))
    return frames


def animate(logdir: str, run: str, tag: str, out: str, colormap: str = "diverging", diff: str = "none",
            frame_ms: int = FRAME_MS) -> list[int]:
    """Writes the GIF of ``tag``'s heatmaps in ``run`` to ``out``; returns the frames' steps.

    Raises:
      AnimateError: see :func:`load_frames`; a bad ``colormap`` or ``frame_ms``.
    """
    if colormap not in COLORMAPS:
        raise AnimateError("--colormap %r is not one of %s" % (colormap, ", ".join(COLORMAPS)))
    if not isinstance(frame_ms, int) or frame_ms <= 0:
        raise AnimateError("--frame-ms must be a positive number of milliseconds, not %r" % (frame_ms,))
    try:
        import matplotlib  # noqa: F401
        import PIL  # noqa: F401
    except ImportError as e:
        raise AnimateError("tb-nnviz animate needs matplotlib and Pillow (%s): pip install 'tb-nnviz[animate]'"
                           % e) from None
    _, headers, planes = load_frames(logdir, run, tag, diff)
    frames = render(run, tag, headers, planes, colormap, diff)
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=frame_ms, loop=0)
    return [h["step"] for h in headers]
