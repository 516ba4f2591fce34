"""A run that keeps growing: what one more logged step costs the server, with chunked tags and with one tag per tensor.

TensorBoard's data providers read a tag whole. With one tag per tensor every
logged step changes every tensor's tag, so the next ``tags``, ``overview`` and
``findings`` answers re-read each tensor's whole history: the cost of a step
grows with the run. With chunked tags (``metadata.CHUNK_POINTS`` points per tag,
docs/format.md "Chunks") only the last chunk is read again.

Two runs of ``TENSORS`` tensors are written with ``tb_nnviz.Writer``
(trajectories only, at every step), one chunked and one with a chunk larger
than the run (as before chunks). Each is served by TensorBoard's Rust data
server (its default loader) and the plugin's route implementations; at an early
and a late point of the run, one step is added ``REPS`` times and the three
answers after each are timed (the caches warm from the answers before).
"""

import time
import types

import numpy as np

from benchmarks import Table, Target, fmt, median, progress

TENSORS = 320
REPS = 5
GOAL = 1.25  # late step within this factor of the early one


def _weights(rng, n, shape):
    return {"block%03d/kernel" % i: rng.normal(size=shape).astype(np.float32) for i in range(n)}


def _answers(nnviz, ctx):
    from tensorboard import context

    ctx = context.RequestContext()  # one per request, as TensorBoard makes them
    times = {}
    for route, call in (("tags", lambda: nnviz._tags_impl(ctx, "")),
                        ("overview", lambda: nnviz._overview_impl(ctx, "", ".")),
                        ("findings", lambda: nnviz._findings_impl(ctx, "", "."))):
        t0 = time.perf_counter()
        call()
        times[route] = time.perf_counter() - t0
    return times


def _wait_step(provider, ctx, step, tensors, timeout=120):
    from tb_nnviz.format import metadata

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listing = provider.list_tensors(ctx, experiment_id="", plugin_name=metadata.TRAJECTORY_PLUGIN_NAME)
        # every tensor's (last chunk's) tag: the server may have read only part of the step's event
        if sum(1 for tags in listing.values() for t in tags.values() if t.max_step >= step) >= tensors:
            return
        time.sleep(0.05)
    raise TimeoutError("the data server did not list step %d" % step)


def measure(root, chunk, tensors, early, late, shape, rng_seed=0):
    """``{point: {route: [seconds]}}`` for a run written with ``chunk`` points per tag."""
    from tensorboard.plugins import base_plugin

    import tb_nnviz
    from tb_nnviz.format import metadata
    from tb_nnviz.reduce import trajectory
    from tb_nnviz.serve import plugin
    from tests import providers

    saved, metadata.CHUNK_POINTS = metadata.CHUNK_POINTS, chunk
    rng = np.random.default_rng(rng_seed)
    out = {}
    try:
        with tb_nnviz.Writer(root) as writer:
            # Real points of real weights at two steps; later steps move along that update
            # (the reductions are not what is measured here, and would take minutes).
            w0, w1 = _weights(rng, tensors, shape), _weights(rng, tensors, shape)
            contents, p0, p1 = [], [], []
            for name, x in w0.items():
                plan, content = writer.plan(name, x.shape, x.dtype)
                contents.append(content)
                p0.append(trajectory.trajectory_point(x, None, plan))
                p1.append(trajectory.trajectory_point(w1[name], x, plan))
            step = 0

            def log_until(n):
                nonlocal step
                while step < n:
                    t = step / max(late, 1)
                    points = [a if step == 0 else (1 - t) * b + t * (2 * b - a) for a, b in zip(p0, p1)]
                    writer.write_reduced(step, trajectories=list(zip(contents, points)))
                    step += 1
                writer.flush()

            log_until(early)
            flags = types.SimpleNamespace(samples_per_plugin={})
            plugin.NNVizLoader().fix_flags(flags)  # as TensorBoard starts with the plugin: every point kept
            with providers.rust_provider(root, metadata.TRAJECTORY_PLUGIN_NAME, tensors,
                                         flags.samples_per_plugin) as provider:
                ctx = providers.CTX
                nnviz = plugin.NNVizPlugin(base_plugin.TBContext(data_provider=provider, logdir=root))
                for point, n in (("early", early), ("late", late)):
                    log_until(n)
                    _wait_step(provider, ctx, n - 1, tensors)
                    _answers(nnviz, ctx)  # warm: the history so far is read
                    rows = out[point] = {"tags": [], "overview": [], "findings": []}
                    for _ in range(REPS):
                        log_until(step + 1)
                        _wait_step(provider, ctx, step - 1, tensors)
                        for route, t in _answers(nnviz, ctx).items():
                            rows[route].append(t)
                    progress("growth: chunk %d, %s (%d steps): %s" % (
                        chunk, point, step, ", ".join("%s %.3f s" % (r, median(v)) for r, v in rows.items())))
    finally:
        metadata.CHUNK_POINTS = saved
    return out


def run(ctx):
    import os

    from tb_nnviz.format import metadata

    # Both points at the same fill of the last chunk (64 points past a chunk's start):
    # a step re-reads that chunk, so its cost rises and falls over every chunk.
    tensors, early, late = ctx.size(TENSORS, 20), ctx.size(320, 8), ctx.size(1856, 24)
    shape = (64, 64)
    results = {}
    for chunk in (ctx.size(metadata.CHUNK_POINTS, 8), 10**9):  # the smoke run: a few chunks in its few steps
        label = "one tag per tensor" if chunk > late else "chunked (%d points per tag)" % chunk
        progress("growth: %s, %d tensors, steps to %d" % (label, tensors, late))
        results[label] = measure(os.path.join(ctx.workdir, "growth-%d" % chunk), chunk, tensors, early, late,
                                 shape)
    rows = []
    for label, out in results.items():
        for route in ("tags", "overview", "findings"):
            e, l_ = median(out["early"][route]), median(out["late"][route])
            rows.append([label, "`%s`" % route, "%s ms" % fmt(e * 1e3), "%s ms" % fmt(l_ * 1e3), fmt(l_ / e)])
    chunked = next(iter(results.values()))
    worst, route = max((median(chunked["late"][r]) / median(chunked["early"][r]), r)
                       for r in ("tags", "overview", "findings"))
    ctx.targets.append(Target("one more logged step, late / early in a growing run (chunked tags) <= %.2fx" % GOAL,
                              "ratio %.2f (`%s`)" % (worst, route), worst <= GOAL))
    return [Table(
        "growth",
        "A growing run: the answers after one more logged step, early and late in the run",
        ["layout", "route", "after a step at %d steps (median of %d)" % (early, REPS),
         "after a step at %d steps" % late, "late / early"],
        rows,
        "%d tensors of 64 x 64 with trajectory points at every step (`tb_nnviz.Writer`), served by TensorBoard's "
        "Rust data server and the plugin's route implementations; each answer follows one more logged step, "
        "the caches warm from the answers before it. Both points lie 64 points into a chunk: with chunked tags a step "
        "re-reads every tensor's last chunk (1 to %d points), so its cost rises and falls over each chunk but "
        "does not grow with the run; one tag per tensor re-reads every tensor's whole history (docs/format.md, "
        "\"Chunks\")." % (tensors, metadata.CHUNK_POINTS),
    )]
