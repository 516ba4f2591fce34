"""A sweep: one log dir of 100 runs x 50 tensors x 500 logged steps under a real TensorBoard.

The runs are written with the TF-free ``tb_nnviz.Writer`` (25 layers of a
64 x 64 kernel and a bias; trajectory points at every step with
``sketch_dim=32, num_traces=4``, heatmaps every 50 steps). Writing 50,000
steps by hand would take an hour on this machine, so ``TEMPLATES`` runs are
written (each its own random walk; every other one with a learning rate that
grows 100-fold, so the findings have something to say) and copied, event
file and all, into the 100 run directories: the server reads 100 runs and
their bytes either way.

Measured against a real ``tensorboard --load_fast=true``:
time until ``tags`` lists every run with all 500 steps of every tensor (the
load), then the tab's first view in headless Chromium (navigation start to
the overview's first row), ``tags`` latency (every run in one answer) and
``findings`` for each of the 100 runs cold (first request) and warm, and
TensorBoard's resident memory (its process and the Rust data server)
against the raw bytes of the log dir.
"""

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import numpy as np
import psutil

from benchmarks import Table, Target, fmt, median, p95, progress
from benchmarks.soak import log_bytes, tree_rss
from tests import browser as tbrowser
from tests import tbserver

RUNS, TENSORS, STEPS, TEMPLATES = 100, 50, 500, 4
#: Environment variable overriding ``RUNS`` (a quicker sweep to compare changes by:
#: ``TB_NNVIZ_SWEEP_RUNS=30 python -m benchmarks --only sweep --out /tmp/sweep30.md``).
RUNS_VARIABLE = "TB_NNVIZ_SWEEP_RUNS"
#: Targets: the tab usable while a sweep loads and once loaded.
FIRST_VIEW_SECS = 10.0
TAGS_P95_SECS = 2.0
FINDINGS_WARM_P95_SECS = 0.5
ALL_FINDINGS_COLD_SECS = 120.0
MEMORY_RATIO = 3.0


def write_template(path, seed, steps, tensors, grows):
    import tb_nnviz

    rng = np.random.default_rng(seed)
    values = {}
    for i in range(tensors):
        shape = (64, 64) if i % 2 == 0 else (64,)
        values["layer%02d/%s" % (i // 2, "kernel" if i % 2 == 0 else "bias")] = rng.normal(
            scale=0.1, size=shape).astype(np.float32)
    with tb_nnviz.Writer(path, sketch_dim=32, num_traces=4) as w:
        for step in range(steps):
            lr = 1e-3 * (100 ** (step / steps) if grows else 1.0)
            for v in values.values():
                v += (lr * rng.normal(size=v.shape)).astype(np.float32)
            w.log_weights(step, values, heatmaps=step % 50 == 0)


def _get(url, route, **params):
    t0 = time.perf_counter()
    with urllib.request.urlopen("%s/data/plugin/nnviz/%s?%s" % (url, route, urllib.parse.urlencode(params)),
                                timeout=600) as r:
        body = r.read()
    return time.perf_counter() - t0, body


def run(ctx):
    runs = int(os.environ.get(RUNS_VARIABLE) or ctx.size(RUNS, 6))
    tensors, steps = ctx.size(TENSORS, 6), ctx.size(STEPS, 60)
    logdir = os.path.join(ctx.workdir, "sweep")
    templates = os.path.join(ctx.workdir, "sweep-templates")
    t0 = time.monotonic()
    procs = [subprocess.Popen([sys.executable, "-c", "from benchmarks.sweep import write_template; "
                               "write_template(%r, %d, %d, %d, %r)" % (os.path.join(templates, str(k)), k, steps,
                                                                         tensors, k % 2 == 1)],
                              cwd=tbserver.REPO) for k in range(TEMPLATES)]
    for p in procs:
        if p.wait() != 0:
            raise RuntimeError("writing a template run failed")
    progress("sweep: %d template runs written in %.0f s" % (TEMPLATES, time.monotonic() - t0))
    for r in range(runs):
        shutil.copytree(os.path.join(templates, str(r % TEMPLATES)), os.path.join(logdir, "run%03d" % r))
    raw = log_bytes(logdir)
    port = tbserver.free_port()
    env = dict(os.environ, PYTHONPATH=tbserver.REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    log = open(os.path.join(ctx.workdir, "sweep-tensorboard.log"), "wb")
    tb = subprocess.Popen([sys.executable, "-c", tbserver._LAUNCH, "--logdir", logdir, "--port", str(port),
                           "--host", "localhost", "--load_fast=true"], env=env, stdout=log, stderr=log)
    url = "http://localhost:%d" % port
    try:
        start = time.monotonic()

        def loaded():
            try:
                got = json.loads(_get(url, "tags")[1])["runs"]
            except OSError:
                return False
            return len(got) == runs and all(t.get("trajectory_steps") == steps
                                            for ts in got.values() for t in ts.values())

        tbserver.wait_for(loaded, bool, timeout=3600)
        load_secs = time.monotonic() - start
        progress("sweep: loaded in %.0f s" % load_secs)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = tbrowser.launch(p)
            t = time.monotonic()
            tab = tbrowser.new_tab(browser, url)
            tab.frame.locator(tbrowser.OVERVIEW).first.wait_for(timeout=600000)
            first_view = time.monotonic() - t
            errors = list(tab.errors)
            browser.close()
        tags = [_get(url, "tags")[0] for _ in range(ctx.size(10, 2))]
        names = ["run%03d" % r for r in range(runs)]
        t = time.monotonic()
        cold = [_get(url, "findings", run=n)[0] for n in names]
        all_cold = time.monotonic() - t
        warm = [_get(url, "findings", run=n)[0] for n in names]
        found = sum(len(json.loads(_get(url, "findings", run=n)[1])["findings"]) for n in names)
        rss = tree_rss(psutil.Process(tb.pid))
    finally:
        tb.terminate()
        tb.wait(60)
        log.close()
    rows = [
        ["load: `tags` lists every run with all %d steps" % steps, "%s s" % fmt(load_secs), "n/a", ""],
        ["tab's first view (navigation to the overview's first row)", "%s s" % fmt(first_view),
         "<= %s s" % fmt(FIRST_VIEW_SECS), "met" if first_view <= FIRST_VIEW_SECS else "**missed**"],
        ["`tags` (all %d runs), p95 of %d" % (runs, len(tags)),
         "%s s (median %s)" % (fmt(p95(tags)), fmt(median(tags))),
         "<= %s s" % fmt(TAGS_P95_SECS), "met" if p95(tags) <= TAGS_P95_SECS else "**missed**"],
        ["`findings` of every run, first requests in turn (full findings list)", "%s s" % fmt(all_cold),
         "<= %s s" % fmt(ALL_FINDINGS_COLD_SECS), "met" if all_cold <= ALL_FINDINGS_COLD_SECS else "**missed**"],
        ["`findings` of one run, cold: p95 / median", "%s / %s s" % (fmt(p95(cold)), fmt(median(cold))), "", ""],
        ["`findings` of one run, warm: p95 / median", "%s / %s s" % (fmt(p95(warm)), fmt(median(warm))),
         "<= %s s" % fmt(FINDINGS_WARM_P95_SECS), "met" if p95(warm) <= FINDINGS_WARM_P95_SECS else "**missed**"],
        ["TensorBoard resident memory / raw log bytes", "%s MiB / %s MiB = %s" % (
            fmt(rss / 2**20), fmt(raw / 2**20), fmt(rss / raw)), "<= %sx" % fmt(MEMORY_RATIO),
         "met" if rss <= MEMORY_RATIO * raw else "**missed**"],
    ]
    table = Table(
        "sweep", "Sweep: %d runs x %d tensors x %d steps in one log dir" % (runs, tensors, steps),
        ["measure", "measured", "target", "met/missed"], rows,
        "A real `tensorboard --load_fast=true` on %d runs written with the Writer (benchmarks/sweep.py: "
        "%d distinct runs copied; trajectories every step, sketch 32, 4 traces; heatmaps every 50 steps); "
        "findings found over all runs: %d; console errors in the tab: %d." % (runs, TEMPLATES, found, len(errors)),
        notes=["Console errors: " + "; ".join(e[:200] for e in errors[:3])] if errors else [],
    )
    ok = (first_view <= FIRST_VIEW_SECS and p95(tags) <= TAGS_P95_SECS and all_cold <= ALL_FINDINGS_COLD_SECS
          and p95(warm) <= FINDINGS_WARM_P95_SECS and rss <= MEMORY_RATIO * raw and not errors)
    ctx.targets.append(Target(
        "Sweep of %d runs: first view <= %g s, tags p95 <= %g s, all findings <= %g s, warm findings p95 <= %g s, "
        "memory <= %gx raw" % (runs, FIRST_VIEW_SECS, TAGS_P95_SECS, ALL_FINDINGS_COLD_SECS,
                                FINDINGS_WARM_P95_SECS, MEMORY_RATIO),
        "%.1f s, %.2f s, %.0f s, %.2f s, %.2fx" % (first_view, p95(tags), all_cold, p95(warm), rss / raw), ok))
    return [table]
