"""TensorBoard with the NNViz plugin: route latency and resident memory.

Writes a log dir of ``tensors`` weights (a mix of shapes, several 256 x 256)
over ``steps`` logged steps with ``tb_nnviz.Writer`` (trajectory points at
every step, heatmaps at every ``heat_every``-th, the number the plugin keeps
by default) plus built-in histograms of the same tensors at every step
(tensorboard's TF-free ``histogram_pb``), and a second log dir with only the
histograms. Then, for ``--load_fast=false`` and ``=true``, starts a real
TensorBoard (``tests.tbserver``), waits until everything is loaded, reads the
resident memory of its process tree, and times the routes from one
keep-alive client, interleaved.
"""

import concurrent.futures
import http.client
import json
import multiprocessing
import os
import subprocess
import sys
import time
import urllib.parse

import numpy as np

from benchmarks import Table, Target, median, p95, progress

RUN = "run"
HEATMAP_TARGET_MS = 10.0
PROJECTION_TARGET_MS = 100.0


def tensor_specs(count):
    """``[(name, shape)]``: ``count`` weights; a fixed mix, with 256 x 256 kernels first."""
    pattern = [
        ("dense256", (256, 256)), ("dense256", (256,)),
        ("conv", (3, 3, 64, 64)), ("conv", (64,)),
        ("dense128", (128, 64)), ("dense128", (64,)),
        ("proj", (512, 128)), ("proj", (128,)),
        ("dense128", (128, 64)), ("dense128", (64,)),
    ]
    specs = []
    i = 0
    while len(specs) < count:
        layer, shape = pattern[i % len(pattern)]
        specs.append(("%s_%02d/%s" % (layer, i // 2, "kernel" if len(shape) > 1 else "bias"), shape))
        i += 1
    return specs


def _write_part(args):
    """Writes one share of the tensors to both log dirs (runs in a worker process)."""
    part, specs, steps, heat_every, full_run, hist_run, max_cells = args
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.plugins.histogram import summary_v2 as histogram_summary
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    import tb_nnviz

    rng = np.random.default_rng(part)
    values = {n: rng.normal(scale=0.1, size=s).astype(np.float32) for n, s in specs}
    drift = {n: rng.normal(scale=1e-3, size=s).astype(np.float32) for n, s in specs}
    writer = tb_nnviz.Writer(full_run, max_cells=max_cells, filename_suffix=".part%d" % part)
    hist_writers = [EventFileWriter(d, filename_suffix=".hist%d" % part) for d in (full_run, hist_run)]
    t_writer = t_hist = 0.0
    for step in range(steps):
        for n, x in values.items():  # a drifting random walk, so the path has a shape
            x += drift[n] + rng.normal(scale=2e-3, size=x.shape).astype(np.float32)
        t0 = time.perf_counter()
        writer.log_weights(step, values, heatmaps=step % heat_every == 0)
        t1 = time.perf_counter()
        summary = summary_pb2.Summary(value=[histogram_summary.histogram_pb(n, x).value[0] for n, x in values.items()])
        event = event_pb2.Event(step=step, wall_time=time.time(), summary=summary)
        for w in hist_writers:
            w.add_event(event)
        t_hist += time.perf_counter() - t1
        t_writer += t1 - t0
    writer.close()
    for w in hist_writers:
        w.close()
    return t_writer, t_hist


def write_logdirs(root, specs, steps, heat_every, max_cells=256 * 256, workers=2):
    """Writes ``root/full/run`` (NNViz + histograms) and ``root/hist/run``; returns timings."""
    full_run, hist_run = os.path.join(root, "full", RUN), os.path.join(root, "hist", RUN)
    os.makedirs(full_run)
    os.makedirs(hist_run)
    parts = [specs[i::workers] for i in range(workers)]
    jobs = [(i, part, steps, heat_every, full_run, hist_run, max_cells) for i, part in enumerate(parts)]
    start = time.perf_counter()
    if workers == 1:
        results = [_write_part(job) for job in jobs]
        return dict(full=os.path.join(root, "full"), hist=os.path.join(root, "hist"), parts=parts,
                    wall=time.perf_counter() - start, writer_cpu=results[0][0], hist_cpu=results[0][1])
    # spawn: the parent may hold TensorFlow's threads, which fork does not copy safely.
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = list(pool.map(_write_part, jobs))
    wall = time.perf_counter() - start
    return dict(
        full=os.path.join(root, "full"), hist=os.path.join(root, "hist"), parts=parts, wall=wall,
        writer_cpu=sum(r[0] for r in results), hist_cpu=sum(r[1] for r in results),
    )


# -- the tensorboard process ------------------------------------------------------------


def _pid_listening(port):
    """Pid of the process whose command line has ``--port <port>``."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        for a, b in zip(argv, argv[1:]):
            if a == b"--port" and b == str(port).encode():
                return int(pid)
    return None


def _children(pid):
    kids = []
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                kids += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return kids


def _rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def process_tree_rss(pid):
    """``{"tensorboard": MiB, "children": MiB}``: VmRSS of ``pid`` and of all its descendants."""
    stack, descendants = _children(pid), []
    while stack:
        p = stack.pop()
        descendants.append(p)
        stack += _children(p)
    return {
        "tensorboard": _rss_kib(pid) / 1024,
        "children": sum(_rss_kib(p) for p in descendants) / 1024,
    }


class Client:
    """One keep-alive HTTP connection; ``get(path) -> (status, body, seconds)``."""

    def __init__(self, url):
        parsed = urllib.parse.urlparse(url)
        self.conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=120)

    def get(self, path):
        for attempt in range(2):
            try:
                t0 = time.perf_counter()
                self.conn.request("GET", path)
                response = self.conn.getresponse()
                body = response.read()
                return response.status, body, time.perf_counter() - t0
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                if attempt:
                    raise

    def json(self, path):
        status, body, _ = self.get(path)
        return json.loads(body) if status == 200 else None

    def close(self):
        self.conn.close()


def _q(**params):
    return urllib.parse.urlencode(params)


def _wait_loaded(client, parts, steps, heat_every, nnviz, timeout):
    """Waits until the last tensor of every writer's share is served at the last step."""
    last, last_heat = steps - 1, (steps - 1) // heat_every * heat_every
    deadline = time.monotonic() + timeout
    for part in parts:
        name = part[-1][0]
        checks = [("/data/plugin/histograms/histograms?" + _q(run=RUN, tag=name),
                   lambda j: bool(j) and j[-1][1] == last)]
        if nnviz:
            checks.append(("/data/plugin/nnviz/trajectory?" + _q(run=RUN, tag=name),
                           lambda j: bool(j) and j["step"][-1] == last and len(j["step"]) == steps))
            checks.append(("/data/plugin/nnviz/heatmap?" + _q(run=RUN, tag=name, step=last_heat), None))
        for path, ready in checks:
            while True:
                if ready is None:
                    status, _, _ = client.get(path)
                    ok = status == 200
                else:
                    status, body, _ = client.get(path)
                    ok = status == 200 and ready(json.loads(body))
                if ok:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError("tensorboard did not load %s within %ss" % (path, timeout))
                time.sleep(0.25)


def _measure_routes(client, routes, requests):
    """``{route: {"cold": s, "times": [s, ...], "bytes": n}}``: first request, then interleaved."""
    out = {}
    for name, make in routes:
        status, body, seconds = client.get(make(0))
        if status != 200:
            raise RuntimeError("%s answered %s: %r" % (make(0), status, body[:300]))
        out[name] = {"cold": seconds, "times": [], "bytes": len(body)}
    for i in range(requests):
        for name, make in routes:
            status, body, seconds = client.get(make(i + 1))
            if status != 200:
                raise RuntimeError("%s answered %s: %r" % (make(i + 1), status, body[:300]))
            out[name]["times"].append(seconds)
    return out


def _profile_route(pid, client, path, seconds, workdir):
    """Top functions (by samples on the stack) of the tensorboard process while ``path`` is requested."""
    out = os.path.join(workdir, "pyspy-%d.txt" % pid)
    try:
        proc = subprocess.Popen(["py-spy", "record", "--pid", str(pid), "--duration", str(seconds),
                                 "--rate", "200", "--idle", "--format", "raw", "--output", out, "--nonblocking"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except OSError as e:
        return "py-spy is not available (%s); `pip install py-spy` to profile." % e
    time.sleep(1.0)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        client.get(path)
    _, err = proc.communicate(timeout=seconds + 30)
    if not os.path.exists(out):
        return "py-spy failed: %s" % err.decode(errors="replace").strip()[-300:]
    inclusive, self_counts, total = {}, {}, 0
    with open(out) as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack or not count.isdigit():
                continue
            frames = stack.split(";")
            # Only samples of threads serving a request.
            if not any("_heatmap_route" in fr or "_projection_route" in fr or "_trajectory_route" in fr
                       or "histograms_route" in fr for fr in frames):
                continue
            n = int(count)
            total += n
            for fr in set(frames):
                key = fr.split(" (")[0] + " (" + os.path.basename(fr.split(" (")[-1].split(":")[0]) + ")"
                inclusive[key] = inclusive.get(key, 0) + n
            leaf = frames[-1].split(" (")[0] + " (" + os.path.basename(frames[-1].split(" (")[-1].split(":")[0]) + ")"
            self_counts[leaf] = self_counts.get(leaf, 0) + n
    if not total:
        return "py-spy recorded no samples in a route handler."
    # Frames of the HTTP server and WSGI plumbing say nothing about the route itself.
    skip_files = ("(application.py)", "(serving.py)", "(socketserver.py)", "(threading.py)", "(request.py)",
                  "(http_util.py)", "(security_validator.py)", "(path_prefix.py)", "(empty_path_redirect.py)",
                  "(experiment_id.py)", "(auth_context_middleware.py)", "(client_feature_flags.py)",
                  "(experimental_plugin.py)", "(<string>)", "(program.py)", "(server.py)")
    top_incl = sorted(((c, k) for k, c in inclusive.items() if not k.endswith(skip_files)), reverse=True)[:8]
    top_self = sorted(((c, k) for k, c in self_counts.items()), reverse=True)[:5]
    return ("py-spy (idle threads included, so waiting on the data server counts), %d samples in route handlers "
            "over %ds; inclusive: %s. Self time: %s."
            % (total, seconds,
               "; ".join("`%s` %.0f%%" % (k, 100.0 * c / total) for c, k in top_incl),
               "; ".join("`%s` %.0f%%" % (k, 100.0 * c / total) for c, k in top_self)))


_PCA_SCRIPT = """
import json, sys, time
import numpy as np
from tb_nnviz.diagnose import pca
x = np.random.default_rng(0).normal(size=(int(sys.argv[1]), 64)).cumsum(axis=0)
out = []
for _ in range(int(sys.argv[2])):
    t0 = time.perf_counter()
    pca.pca_2d(x)
    out.append(time.perf_counter() - t0)
print(json.dumps(out))
"""


def pca_threads(steps, calls, rounds):
    """``{label: [seconds]}`` of ``pca.pca_2d`` on a ``steps x 64`` matrix, BLAS threads default vs 1."""
    from tests import tbserver

    arms = [("BLAS threads: default", {}), ("BLAS threads: 1 (OPENBLAS_NUM_THREADS=1)",
                                          {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})]
    times = {label: [] for label, _ in arms}
    for _ in range(rounds):
        for label, extra in arms:
            env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
            env.update(extra)
            env["PYTHONPATH"] = tbserver.REPO + os.pathsep + env.get("PYTHONPATH", "")
            out = subprocess.run([sys.executable, "-c", _PCA_SCRIPT, str(steps), str(calls)], env=env,
                                 capture_output=True, text=True, check=True, timeout=600)
            times[label] += json.loads(out.stdout.strip().splitlines()[-1])
    return times


def run(ctx):
    from tests import tbserver

    n_tensors = ctx.size(50, 6)
    steps = ctx.size(1000, 20)
    heat_every = ctx.size(10, 5)
    requests = ctx.size(150, 4)
    specs = tensor_specs(n_tensors)
    params = sum(int(np.prod(s)) for _, s in specs)
    big = next(n for n, s in specs if s == (256, 256))
    root = os.path.join(ctx.workdir, "server")
    progress("server: writing %d tensors (%s parameters) x %d steps (heatmaps every %d) + histograms"
             % (n_tensors, "{:,}".format(params), steps, heat_every))
    logs = write_logdirs(root, specs, steps, heat_every, workers=ctx.size(2, 1))
    ctx.server_logdir = logs["full"]
    sizes = {k: sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(logs[k]) for f in fs)
             for k in ("full", "hist")}
    progress("server: written in %.1fs (Writer %.1f CPU-s, histograms %.1f CPU-s); full %.1f MB, hist %.1f MB"
             % (logs["wall"], logs["writer_cpu"], logs["hist_cpu"], sizes["full"] / 1e6, sizes["hist"] / 1e6))
    heat_steps = list(range(0, steps, heat_every))
    rng = np.random.default_rng(0)
    random_steps = rng.choice(heat_steps, size=requests + 1)
    routes = [
        ("nnviz heatmap (256x256, random step)",
         lambda i: "/data/plugin/nnviz/heatmap?" + _q(run=RUN, tag=big, step=int(random_steps[i]))),
        ("nnviz trajectory (%d points)" % steps,
         lambda i: "/data/plugin/nnviz/trajectory?" + _q(run=RUN, tag=big)),
        ("nnviz projection (%d tensors)" % n_tensors,
         lambda i: "/data/plugin/nnviz/projection?" + _q(run=RUN)),
        ("built-in histograms (same tensor)",
         lambda i: "/data/plugin/histograms/histograms?" + _q(run=RUN, tag=big)),
    ]
    latency_rows, memory_rows = [], []
    medians = {}
    timeout = ctx.size(600, 120)
    for mode in ("false", "true"):
        for which in ("full", "hist"):
            flags = ["--load_fast=%s" % mode, "--reload_interval=5"]
            with tbserver.tensorboard(logs[which], *flags, timeout=120) as url:
                port = urllib.parse.urlparse(url).port
                pid = _pid_listening(port)
                client = Client(url)
                t0 = time.monotonic()
                _wait_loaded(client, logs["parts"], steps, heat_every, which == "full", timeout)
                load_s = time.monotonic() - t0
                time.sleep(ctx.size(3, 0.5))
                rss_loaded = process_tree_rss(pid) if pid else None
                progress("server: load_fast=%s %s loaded in %.1fs; RSS %s" % (mode, which, load_s, rss_loaded))
                if which == "full":
                    stats = _measure_routes(client, routes, requests)
                    rss_after = process_tree_rss(pid) if pid else None
                    for name, s in stats.items():
                        med, hi = median(s["times"]) * 1e3, p95(s["times"]) * 1e3
                        medians[(mode, name)] = med
                        latency_rows.append(["load_fast=" + mode, name, s["bytes"], s["cold"] * 1e3, med, hi,
                                             None])
                        progress("server: load_fast=%s %-40s median %.1f ms p95 %.1f ms (first %.1f ms)"
                                 % (mode, name, med, hi, s["cold"] * 1e3))
                    hist_med = medians[(mode, routes[3][0])]
                    for row in latency_rows[-4:]:
                        row[-1] = row[4] / hist_med
                    for key, target, label in ((routes[0][0], HEATMAP_TARGET_MS, "heatmap"),
                                               (routes[2][0], PROJECTION_TARGET_MS, "projection")):
                        med = medians[(mode, key)]
                        row = [r for r in latency_rows if r[0] == "load_fast=" + mode and r[1] == key][0]
                        finding = ""
                        if med > target or row[5] > target:
                            path = [r for r in routes if r[0] == key][0][1](0)
                            progress("server: %s median or p95 over target under load_fast=%s; profiling with py-spy"
                                     % (label, mode))
                            if med > target:
                                what = "missed by %.1f ms (%.1fx the target)" % (med - target, med / target)
                            else:
                                what = "met by the median, but p95 is %.0f ms (%.1fx the target)" % (
                                    row[5], row[5] / target)
                            profile = _profile_route(pid, client, path, ctx.size(8, 2), root)
                            finding = "load_fast=%s: %s. %s" % (mode, what, profile)
                        ctx.targets.append(Target(
                            "%s route median <= %g ms (load_fast=%s)" % (label, target, mode),
                            "%.1f ms (p95 %.1f ms)" % (med, row[5]),
                            med <= target, finding))
                else:
                    rss_after = None
                client.close()
                for label, rss in (("after load", rss_loaded), ("after the latency run", rss_after)):
                    if rss:
                        memory_rows.append(["load_fast=" + mode,
                                            "NNViz + histograms" if which == "full" else "histograms only",
                                            label, rss["tensorboard"], rss["children"],
                                            rss["tensorboard"] + rss["children"], load_s])
    # Ratio of each full-dir memory row to the histograms-only row of the same mode.
    base = {r[0]: r[5] for r in memory_rows if r[1] == "histograms only" and r[2] == "after load"}
    for r in memory_rows:
        r.append(r[5] / base[r[0]] if r[0] in base else None)
    setup = ("%d tensors (%s parameters; %d of 256 x 256), %d steps: trajectory points at every step, heatmaps at "
             "every %d-th (%d steps), built-in histograms at every step. Log dirs: %.1f MB with NNViz, %.1f MB "
             "histograms only. Writing took %.0f s wall (2 processes): `Writer.log_weights` %.1f CPU-s "
             "(%.0f ms per step for all tensors), `histogram_pb` %.1f CPU-s."
             % (n_tensors, "{:,}".format(params), sum(1 for _, s in specs if s == (256, 256)), steps, heat_every,
                len(heat_steps), sizes["full"] / 1e6, sizes["hist"] / 1e6, logs["wall"], logs["writer_cpu"],
                1e3 * logs["writer_cpu"] / steps, logs["hist_cpu"]))
    progress("server: timing pca.pca_2d (%d x 64) with BLAS threads default vs 1" % steps)
    pca_times = pca_threads(steps, ctx.size(100, 5), ctx.size(3, 1))
    pca_base = median(next(iter(pca_times.values())))
    pca_rows = [[label, len(ts), median(ts) * 1e3, p95(ts) * 1e3, max(ts) * 1e3, median(ts) / pca_base]
                for label, ts in pca_times.items()]
    for r in pca_rows:
        progress("server: pca_2d %s median %.1f ms p95 %.1f ms max %.1f ms" % (r[0], r[2], r[3], r[4]))
    return [
        Table(
            "server_latency",
            "Route latency (real TensorBoard, one keep-alive client)",
            ["loader", "route", "response bytes", "first request ms", "median ms", "p95 ms",
             "median ratio to histograms"],
            latency_rows,
            "Each ratio is the route's median latency divided by that of the built-in histograms route for the "
            "same tensor under the same loader (%d interleaved requests per route after one first request, "
            "which fills the plugin's cache)." % requests,
            notes=[setup],
        ),
        Table(
            "server_memory",
            "TensorBoard resident memory",
            ["loader", "log dir", "when", "tensorboard MiB", "data server MiB", "total MiB", "load s",
             "ratio to histograms only"],
            memory_rows,
            "VmRSS of the tensorboard process and of its child processes (the Rust data server under "
            "load_fast=true); each ratio is the total divided by the histograms-only log dir's total after "
            "load under the same loader.",
        ),
        Table(
            "pca_threads",
            "Projection's PCA: `pca.pca_2d` on %d steps x 64 sketch dims, by BLAS threads" % steps,
            ["BLAS threads", "calls", "median ms", "p95 ms", "max ms", "median ratio to default"],
            pca_rows,
            "Each ratio is the median time of one `pca_2d` call divided by that with the default BLAS thread "
            "count; the arms run in fresh processes, interleaved, on the same matrix (a random walk).",
        ),
    ]


# -- the first answer at ResNet scale ---------------------------------------------------


def resnet50_specs(classes=10):
    """Keras ResNet-50's 320 weights at their real shapes (23.6M parameters with 10 classes), in network order."""
    specs = []

    def conv(name, k, cin, cout):
        specs.extend([(name + "/kernel", (k, k, cin, cout)), (name + "/bias", (cout,))])

    def bn(name, c):
        specs.extend(("%s/%s" % (name, v), (c,)) for v in ("gamma", "beta", "moving_mean", "moving_variance"))

    conv("conv1_conv", 7, 3, 64)
    bn("conv1_bn", 64)
    cin = 64
    for stage, (f, blocks) in enumerate(((64, 3), (128, 4), (256, 6), (512, 3)), start=2):
        for b in range(1, blocks + 1):
            p = "conv%d_block%d" % (stage, b)
            if b == 1:
                conv(p + "_0_conv", 1, cin, 4 * f)
            conv(p + "_1_conv", 1, cin, f)
            bn(p + "_1_bn", f)
            conv(p + "_2_conv", 3, f, f)
            bn(p + "_2_bn", f)
            if b == 1:
                bn(p + "_0_bn", 4 * f)
            conv(p + "_3_conv", 1, f, 4 * f)
            bn(p + "_3_bn", 4 * f)
            cin = 4 * f
    specs += [("predictions/kernel", (2048, classes)), ("predictions/bias", (classes,))]
    return specs


def resnet18_specs(classes=10):
    """torchvision ResNet-18's 62 parameters at their real shapes (PyTorch layouts), in network order."""
    specs = [("conv1/weight", (64, 3, 7, 7)), ("bn1/weight", (64,)), ("bn1/bias", (64,))]
    cin = 64
    for s, f in enumerate((64, 128, 256, 512), start=1):
        for b in range(2):
            p = "layer%d.%d" % (s, b)
            specs.append((p + ".conv1/weight", (f, cin if b == 0 else f, 3, 3)))
            specs += [(p + ".bn1/weight", (f,)), (p + ".bn1/bias", (f,))]
            specs.append((p + ".conv2/weight", (f, f, 3, 3)))
            specs += [(p + ".bn2/weight", (f,)), (p + ".bn2/bias", (f,))]
            if s > 1 and b == 0:
                specs += [(p + ".downsample.0/weight", (f, cin, 1, 1)), (p + ".downsample.1/weight", (f,)),
                          (p + ".downsample.1/bias", (f,))]
        cin = f
    return specs + [("fc/weight", (classes, 512)), ("fc/bias", (classes,))]


def _write_scale_run(args):
    """Writes one run of the ResNet-scale log dir (in a worker process)."""
    run_dir, specs, points, heat_at, seed, nan_from = args
    import tb_nnviz

    rng = np.random.default_rng(seed)
    torch_names = {n for n, s in specs if "/weight" in n or n.endswith("/bias") and "." in n}
    layouts = {n: "conv_first" if len(s) == 4 else "transposed" if len(s) == 2 else "auto"
               for n, s in specs if n in torch_names}
    values = {n: (rng.normal(size=s) * 0.05).astype(np.float32) for n, s in specs}
    with tb_nnviz.Writer(run_dir) as w:
        for k in range(points):
            step = 20 * k
            if nan_from is not None and step >= nan_from:
                values = {n: np.full_like(x, np.nan) if n.startswith("layer") else x for n, x in values.items()}
            w.log_weights(step, values, heatmaps=k in heat_at, spectra=False, layouts=layouts,
                          unit_axes={n: 0 for n in layouts if layouts[n] != "auto"})
            for x in values.values():
                x += (rng.normal(size=x.shape) * 1e-3).astype(np.float32)


def write_scale_logdir(root, points50=30, points18=11):
    """The issue's log dir at real sizes: a ResNet-50 (Keras names, ``points50`` trajectory points, heatmaps at
    3 of them) and two ResNet-18 runs (torch names, ``points18`` points, heatmaps at the first and last; one
    turning NaN half-way), written with ``tb_nnviz.Writer``. Returns ``{run: tensor count}``."""
    jobs = [(os.path.join(root, "resnet50"), resnet50_specs(), points50, {0, points50 // 2, points50 - 1}, 0, None),
            (os.path.join(root, "r18_lr0.05"), resnet18_specs(), points18, {0, points18 - 1}, 1, None),
            (os.path.join(root, "r18_lr5"), resnet18_specs(), points18, {0, points18 - 1}, 2, 20 * (points18 // 2))]
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_write_scale_run, jobs))
    return {os.path.basename(j[0]): len(j[1]) for j in jobs}


def first_tags(logdir, runs, flags=(), timeout=300):
    """A freshly started TensorBoard on ``logdir``: ``{"serving": s from launch to its first HTTP answer,
    "first": s of the first ``tags`` request (sent as soon as it serves), "complete": s from launch until
    ``tags`` lists every tensor of ``runs`` ({run: count}), "warm": s of a ``tags`` request after that}``."""
    from tests import tbserver

    t0 = time.monotonic()
    with tbserver.tensorboard(logdir, *flags, timeout=timeout) as url:
        out = {"serving": time.monotonic() - t0}
        client = Client(url)

        def listed():
            t = time.monotonic()
            body = client.json("/data/plugin/nnviz/tags") or {}
            return time.monotonic() - t, body

        out["first"], body = listed()
        while not all(len(body.get("runs", {}).get(r, {})) == n for r, n in runs.items()):
            if time.monotonic() - t0 > timeout:
                raise TimeoutError("tags listed %s after %d s" % ({r: len(v) for r, v in body["runs"].items()},
                                                                    timeout))
            time.sleep(0.2)
            _, body = listed()
        out["complete"] = time.monotonic() - t0
        out["warm"], _ = listed()
        client.close()
    return out
