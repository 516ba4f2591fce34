"""Soak: real models train for thousands of logged steps under a live TensorBoard and an open tab.

Two training processes write at once into one log dir: Keras ResNet-50
(``keras.applications``, ``weights=None``, 32 x 32 inputs, batch 2) with
``NNVizCallback(trajectory_freq=1)`` (heatmaps and spectra at their defaults,
``auto``: a handful of heatmaps over the fit), and torchvision ResNet-18 (32 x
32, batch 2) with ``watch(trajectory_freq=1)`` (heatmaps ``auto``: steps 1, 3,
10, 30, ...; spectra ``auto``, activations on). Each stops at ``STEPS`` logged steps or at its time
cap, whichever comes first. Meanwhile a real ``tensorboard --logdir``
(``--reload_interval 2``) serves the log dir; a client thread requests every
route in turn (``tags``, ``overview``, ``findings``, ``trajectory`` of three
tensors, ``heatmap`` at the latest heatmap step, ``projection``) for each run;
headless Chromium keeps the NNViz tab open and, every ``SAMPLE_SECS``, moves
the first card's step slider to its last step (End key; TensorBoard's own
auto-reload refreshes the tab every 30 s). Sampled over time: TensorBoard's
resident memory (its process and the Rust data server under it), the tab's
JS heap after a forced GC (Chrome DevTools ``Performance.getMetrics``), each
route's latency. At the end, after a final reload, every logged step of every
tensor must be served exactly once (the trajectory route against the steps
each training process reports).
"""

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import psutil

from benchmarks import Table, Target, fmt, p95, progress
from tests import browser as tbrowser
from tests import tbserver

STEPS = 2000
TIME_CAP = 19 * 60  # seconds per training process, from its start (imports and set-up included)
#: Environment variable overriding ``TIME_CAP`` (a shorter soak to compare changes by:
#: ``TB_NNVIZ_SOAK_SECS=300 python -m benchmarks --only soak --out /tmp/soak.md``).
TIME_CAP_VARIABLE = "TB_NNVIZ_SOAK_SECS"
SAMPLE_SECS = 10
GOAL = 1.25  # last quarter within this factor of the first

KERAS = textwrap.dedent("""
    import json, sys, time
    import keras
    import numpy as np
    import tb_nnviz.keras
    logdir, steps, cap, out = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    start = time.monotonic()
    model = keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3), classes=10)
    model.compile("sgd", "sparse_categorical_crossentropy")
    cb = tb_nnviz.keras.NNVizCallback(logdir, trajectory_freq=1)
    logged = set()

    class Stop(keras.callbacks.Callback):  # after cb: records the steps it logged
        def on_train_begin(self, logs=None):
            logged.add(cb._last["traj"])

        def on_train_batch_end(self, batch, logs=None):
            logged.add(cb._last["traj"])
            if len(logged) >= steps or time.monotonic() - start > cap:
                self.model.stop_training = True

    rng = np.random.default_rng(0)
    x, y = rng.random((500, 32, 32, 3), dtype=np.float32), rng.integers(0, 10, 500)
    model.fit(x, y, batch_size=2, epochs=steps // 250 + 1, verbose=0, callbacks=[cb, Stop()])
    logged.add(cb._last["traj"])
    n = len(cb.tensor_names)
    cb.close()
    json.dump({"steps": sorted(logged), "tensors": n, "seconds": time.monotonic() - start},
              open(out, "w"))
""")

TORCH = textwrap.dedent("""
    import json, sys, time
    import torch, torchvision
    import tb_nnviz.torch
    logdir, steps, cap, out = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    start = time.monotonic()
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10)
    opt = torch.optim.SGD(model.parameters(), 0.01, momentum=0.9)
    watcher = tb_nnviz.torch.watch(model, logdir, opt, trajectory_freq=1)
    x, y = torch.randn(500, 3, 32, 32), torch.randint(0, 10, (500,))
    i = 0
    while len(watcher.logged_steps) < steps and time.monotonic() - start < cap:
        j = (i * 2) % 500
        loss = torch.nn.functional.cross_entropy(model(x[j:j + 2]), y[j:j + 2])
        opt.zero_grad()
        loss.backward()
        opt.step()
        i += 1
    watcher.close()
    n = sum(1 for _ in model.parameters())
    json.dump({"steps": sorted(set(watcher.logged_steps)), "tensors": n, "seconds": time.monotonic() - start},
              open(out, "w"))
""")

RUNS = {"keras_resnet50/train": ("keras_resnet50", KERAS), "torch_resnet18": ("torch_resnet18", TORCH)}


def _get(url, route, params):
    query = urllib.parse.urlencode(params, doseq=True)
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen("%s/data/plugin/nnviz/%s?%s" % (url, route, query), timeout=120) as r:
            body, status = r.read(), r.status
    except urllib.error.HTTPError as e:
        body, status = e.read(), e.code
    return time.perf_counter() - t0, status, body


class Client(threading.Thread):
    """Requests every route for every run in turn until stopped; ``samples``: (time, route, seconds, status)."""

    def __init__(self, url):
        super().__init__(daemon=True)
        self.url, self.samples, self.problems, self.stop = url, [], [], threading.Event()

    def request(self, route, **params):
        seconds, status, body = _get(self.url, route, params)
        self.samples.append((time.monotonic(), route, seconds, status))
        if status != 200 and not (status == 404 and route != "tags"):
            self.problems.append("%s %s: %s %s" % (route, params, status, body[:200]))
        return json.loads(body) if status == 200 and route != "heatmap" else None

    def run(self):
        while not self.stop.is_set():
            tags = self.request("tags") or {"runs": {}}
            for run, tensors in tags["runs"].items():
                self.request("overview", run=run)
                self.request("findings", run=run)
                names = [n for n, t in tensors.items() if t.get("has_trajectory")]
                for name in names[:1] + names[len(names) // 2:len(names) // 2 + 1] + names[-1:]:
                    got = self.request("trajectory", run=run, tag=name)
                    if got and (got["step"] != sorted(set(got["step"]))):
                        self.problems.append("%s %s: steps not sorted and unique" % (run, name))
                heat = [(n, t["steps"]) for n, t in tensors.items() if t.get("kind") == "heatmap" and t["steps"]]
                if heat:
                    self.request("heatmap", run=run, tag=heat[0][0], step=heat[0][1][-1])
                self.request("projection", run=run)


def tree_rss(proc):
    """Resident bytes of ``proc`` and its children (the Rust data server)."""
    total = 0
    for p in [proc] + proc.children(recursive=True):
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def _quarters(samples):
    """``(first quarter, last quarter)`` of ``[(time, value)]`` by time."""
    if not samples:
        return [], []
    t0, t1 = samples[0][0], samples[-1][0]
    q = (t1 - t0) / 4
    return [v for t, v in samples if t <= t0 + q], [v for t, v in samples if t >= t1 - q]


def run(ctx):
    steps, cap = ctx.size(STEPS, 40), int(os.environ.get(TIME_CAP_VARIABLE) or ctx.size(TIME_CAP, 120))
    logdir = os.path.join(ctx.workdir, "soak")
    os.makedirs(logdir)
    port = tbserver.free_port()
    env = dict(os.environ, PYTHONPATH=tbserver.REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
               TF_CPP_MIN_LOG_LEVEL="3")
    log = open(os.path.join(ctx.workdir, "soak-tensorboard.log"), "wb")
    tb = subprocess.Popen([sys.executable, "-c", tbserver._LAUNCH, "--logdir", logdir, "--port", str(port),
                           "--host", "localhost", "--reload_interval", "2"], env=env, stdout=log, stderr=log)
    url = "http://localhost:%d" % port
    trainers = {}
    try:
        def up():
            try:
                return _get(url, "tags", {})[1] if tb.poll() is None else "exited"
            except OSError:
                return None

        if tbserver.wait_for(up, lambda s: s in (200, "exited"), timeout=120) == "exited":
            raise RuntimeError("tensorboard exited; see soak-tensorboard.log")
        for run, (sub, code) in RUNS.items():
            out = os.path.join(ctx.workdir, sub + ".json")
            trainers[run] = (subprocess.Popen([sys.executable, "-c", code, os.path.join(logdir, sub), str(steps),
                                               str(cap), out], env=env, stderr=subprocess.PIPE), out)
        progress("soak: training %s for %d logged steps (cap %d s)" % (", ".join(RUNS), steps, cap))
        client = Client(url)
        client.start()
        rss, heap, lag, logged = [], [], [], []
        tbp = psutil.Process(tb.pid)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = tbrowser.launch(p)
            tab = None
            cdp = None
            start = time.monotonic()
            while any(t.poll() is None for t, _ in trainers.values()):
                now = time.monotonic()
                rss.append((now, tree_rss(tbp)))
                logged.append((now, log_bytes(logdir)))
                if tab is None and now - start > 20:
                    tab = tbrowser.new_tab(browser, url)
                    cdp = tab.page.context.new_cdp_session(tab.page)
                    cdp.send("Performance.enable")
                if tab is not None:
                    try:
                        slider = tab.frame.locator("[data-testid=step-slider]").first
                        if slider.count():
                            slider.focus(timeout=5000)
                            slider.press("End", timeout=5000)
                    except Exception as e:  # the card may be redrawn under us; note it and go on
                        lag.append(str(e).splitlines()[0])
                    cdp.send("HeapProfiler.collectGarbage")
                    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
                    heap.append((now, metrics["JSHeapUsedSize"]))
                time.sleep(max(0.0, SAMPLE_SECS - (time.monotonic() - now)))
            progress("soak: training done after %.0f s" % (time.monotonic() - start))
            errors = list(tab.errors) if tab is not None else ["the tab never opened"]
            browser.close()
        time.sleep(6)  # two reloads: the last steps are read
        client.stop.set()
        client.join(300)
        reports = {}
        for run, (proc, out) in trainers.items():
            err = proc.stderr.read().decode(errors="replace")
            if proc.returncode != 0:
                raise RuntimeError("%s training failed (%s): %s" % (run, proc.returncode, err[-3000:]))
            reports[run] = json.load(open(out))
        # Every logged step of every tensor served exactly once.
        tags = json.loads(_get(url, "tags", {})[2])["runs"]
        served = {}
        for run, report in reports.items():
            bad = 0
            names = [n for n, t in tags.get(run, {}).items() if t.get("has_trajectory")]
            for name in names:
                got = json.loads(_get(url, "trajectory", {"run": run, "tag": name})[2])["step"]
                bad += got != report["steps"]
            served[run] = (len(names), bad)
    finally:
        for proc, _ in trainers.values():
            if proc.poll() is None:
                proc.kill()
        tb.terminate()
        tb.wait(30)
        log.close()
    return _tables(ctx, reports, served, rss, heap, client, errors, lag, steps, logged)


def log_bytes(logdir):
    """Bytes of the files under ``logdir``."""
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(logdir) for f in fs)


def _tables(ctx, reports, served, rss, heap, client, errors, lag, steps, logged):
    rows, ok = [], True
    mib = 2**20

    def quarter_row(what, samples, scale, unit):
        nonlocal ok
        first, last = _quarters(samples)
        a, b = float(np.median(first)) / scale, float(np.median(last)) / scale
        met = b <= GOAL * a
        ok &= met
        rows.append([what, "%s %s" % (fmt(a), unit), "%s %s" % (fmt(b), unit), fmt(b / a),
                     "met" if met else "**missed**"])
        return met

    quarter_row("TensorBoard resident memory (median)", rss, mib, "MiB")
    # TensorBoard keeps every trajectory point: its memory grows with the log by design. Above
    # the first sample, per byte of event files written since, it should not grow.
    base_rss, base_log = rss[0][1], logged[0][1]
    per_byte = [(t, (r - base_rss) / (b - base_log)) for (t, r), (_, b) in zip(rss, logged) if b - base_log > 2**20]
    if per_byte:
        quarter_row("TensorBoard memory growth per byte of log growth (median)", per_byte, 1, "B/B")
    quarter_row("tab JS heap after GC (median)", heap, mib, "MiB")
    by_route = {}
    for t, route, seconds, status in client.samples:
        by_route.setdefault(route, []).append((t, seconds))
    for route, samples in sorted(by_route.items()):
        first, last = _quarters(samples)
        a, b = p95(first) * 1e3, p95(last) * 1e3
        met = b <= GOAL * a
        ok &= met
        rows.append(["`%s` p95 latency (%d requests)" % (route, len(samples)), "%s ms" % fmt(a), "%s ms" % fmt(b),
                     fmt(b / a), "met" if met else "**missed**"])
    table = Table(
        "soak", "Soak: ResNet-50 (Keras) and ResNet-18 (torch) training under a live TensorBoard and tab",
        ["measure", "first quarter", "last quarter", "last / first", "goal <= %.2fx" % GOAL], rows,
        "Both trainings at once into one log dir, TensorBoard reloading every 2 s, a client requesting every "
        "route in turn and Chromium following the latest step (benchmarks/soak.py); quarters of the "
        "soak's wall time. 2 shared CPU cores: absolute times are rough.",
    )
    notes = []
    lost = 0
    for run, report in reports.items():
        n, bad = served[run]
        lost += bad
        notes.append("`%s`: %s logged steps in %s s (%s tensors with trajectories); tensors whose served steps "
                     "differ from the logged ones: %d of %d." % (run, fmt(len(report["steps"])),
                                                                 fmt(report["seconds"]), report["tensors"], bad, n))
    errors_text = (": " + "; ".join(e[:200] for e in errors[:3])) if errors else ""
    problems_text = (": " + "; ".join(client.problems[:3])) if client.problems else ""
    notes.append("Event files at the end: %s MiB. Console errors in the tab: %d%s. Route problems (non-200, "
                 "steps not unique): %d%s. Slider moves that failed: %d."
                 % (fmt(logged[-1][1] / mib) if logged else "n/a", len(errors), errors_text, len(client.problems),
                    problems_text, len(lag)))
    table.notes = notes
    reached = min(len(r["steps"]) for r in reports.values())
    ctx.targets.append(Target(
        "Soak: memory, JS heap and route p95 of the last quarter within %.2fx of the first" % GOAL,
        "see the soak section", ok))
    ctx.targets.append(Target(
        "Soak: every logged step served exactly once, no console error, >= %d logged steps per run" % steps,
        "%d tensors differ; %d console errors; fewest steps %d" % (lost, len(errors), reached),
        lost == 0 and not errors and not client.problems and reached >= steps))
    return [table]
