"""``tb-nnviz report`` on the demo's log dir: the command as it is beside the ways it read before.

The demo's six runs are trained once (``tb-nnviz demo --no-serve``; with
``--smoke``, one run of one epoch). Then each arm runs the report in a fresh
process, interleaved (A B C A B C ...), timed from process start to exit
(wall and CPU):

- **TensorFlow loader**: TensorFlow imported first, so TensorBoard's event
  loader reads through it (0.2's report, and ``load`` in a process that
  holds TensorFlow);
- **stub, Python CRC**: TensorBoard's own TensorFlow stub
  (``tensorboard.compat.notf``) with its pure-Python CRC32C;
- **tb-nnviz report**: the command (``cli.main()`` as the console script runs
  it): the stub, the CRC in C, no URL file systems.

Every arm must print the same findings. A last table splits the command's
CPU time: interpreter and imports, reading the log dir, the findings.
"""

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

from benchmarks import Table, Target, median, progress

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: The report command's target on the demo's log dir (the issue's).
TARGET_SECONDS = 2.0

_ARMS = {
    "TensorFlow loader": "import tensorflow\nfrom tb_nnviz import cli\nstatus = cli.main(['report', LOGDIR, '--json'])",
    "stub, Python CRC": (
        "import sys, types\nsys.modules['tensorboard.compat.notf'] = types.ModuleType('tensorboard.compat.notf')\n"
        "from tb_nnviz import cli\nstatus = cli.main(['report', LOGDIR, '--json'])"
    ),
    "tb-nnviz report": (
        "import sys\nsys.argv = ['tb-nnviz', 'report', LOGDIR, '--json']\nfrom tb_nnviz import cli\nstatus = cli.main()"
    ),
}

_PHASES = """
import json, sys, time
T = time.process_time
sys.argv = ['tb-nnviz', 'report', LOGDIR]
from tb_nnviz import cli
cli.read_without_tensorflow(LOGDIR)
from tensorboard import context
from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
from tensorboard.plugins import base_plugin
from tb_nnviz.format import metadata
from tb_nnviz.serve import loss_store, plugin, report
imported = T()
mux = plugin_event_multiplexer.EventMultiplexer(tensor_size_guidance={
    metadata.TRAJECTORY_PLUGIN_NAME: 0, metadata.HEATMAP_PLUGIN_NAME: 1,
    metadata.SPECTRUM_PLUGIN_NAME: plugin.DEFAULT_SPECTRUM_SAMPLES, loss_store.SCALARS: 0})
mux.AddRunsFromDirectory(LOGDIR)
mux.Reload()
read = T()
provider = data_provider.MultiplexerDataProvider(mux, LOGDIR)
nnviz = plugin.NNVizPlugin(base_plugin.TBContext(data_provider=provider, logdir=LOGDIR))
ctx = context.RequestContext()
for run in provider.list_tensors(ctx, experiment_id='', plugin_name=metadata.TRAJECTORY_PLUGIN_NAME):
    nnviz._findings_impl(ctx, '', run)
print(json.dumps({'imports': imported, 'reading': read - imported, 'findings': T() - read}))
"""


def _child(code, logdir):
    """``(wall s, CPU s, stdout, stderr)`` of ``code`` in a fresh interpreter."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", "LOGDIR = %r\n%s" % (logdir, code)], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError("report failed (%d): %s" % (proc.returncode, proc.stderr[-2000:]))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stdout, proc.stderr


def demo_logdir(ctx):
    logdir = os.path.join(tempfile.mkdtemp(prefix="report-", dir=ctx.workdir), "demo")
    argv = [sys.executable, "-m", "tb_nnviz.cli", "demo", "--no-serve", "--logdir", logdir]
    if ctx.smoke:
        argv += ["--runs", "healthy", "--epochs", "1"]
    progress("report: training the demo's runs into %s" % logdir)
    subprocess.run(argv, cwd=REPO, check=True, capture_output=True, timeout=1800)
    return logdir


def run(ctx):
    logdir = demo_logdir(ctx)
    size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(logdir) for f in fs)
    runs = sum(1 for r, _, fs in os.walk(logdir) if any(f.endswith(".nnviz") for f in fs))
    repeats = ctx.size(5, 1)
    walls, cpus, outputs, noise = ({a: [] for a in _ARMS} for _ in range(4))
    for i in range(repeats):
        for arm, code in _ARMS.items():
            wall, cpu, out, err = _child(code, logdir)
            walls[arm].append(wall)
            cpus[arm].append(cpu)
            outputs[arm].append(json.loads(out)["runs"])
            noise[arm].append(len(err.splitlines()))
            progress("report: %s %d/%d: %.2f s (CPU %.2f s)" % (arm, i + 1, repeats, wall, cpu))
    reference = outputs["TensorFlow loader"][0]
    base = median(walls["TensorFlow loader"])
    rows = [[arm, median(walls[arm]), median(cpus[arm]), base / median(walls[arm]), max(noise[arm]),
             "yes" if all(o == reference for o in outputs[arm]) else "**no**"] for arm in _ARMS]
    phases = [json.loads(_child(_PHASES, logdir)[2]) for _ in range(repeats)]
    phase_rows = [[k, median([p[k] for p in phases])] for k in ("imports", "reading", "findings")]
    new = median(walls["tb-nnviz report"])
    ctx.targets.append(Target(
        "tb-nnviz report on the demo's log dir within %.0f s" % TARGET_SECONDS, "%.0f ms" % (1000 * new),
        new <= TARGET_SECONDS,
        "" if new <= TARGET_SECONDS else "wall time depends on the machine's load; CPU %.0f ms"
        % (1000 * median(cpus["tb-nnviz report"])),
    ))
    note = "Log dir: the demo's %d runs%s, %.1f MB; %d report(s) per arm." % (
        runs, " (smoke: one run, one epoch)" if ctx.smoke else "", size / 1e6, repeats)
    return [
        Table("report", "tb-nnviz report: time on the demo's log dir",
              ["arm", "wall s (median)", "CPU s (median)", "speed-up vs TensorFlow loader", "stderr lines",
               "same findings"],
              rows,
              "Each arm is a fresh process reporting on the same log dir; the speed-up is the TensorFlow "
              "loader's median wall time over the arm's.",
              notes=[note]),
        Table("report_phases", "tb-nnviz report: where the command's CPU time goes",
              ["phase", "CPU s (median)"], phase_rows,
              "CPU seconds of one command process: interpreter start and imports, reading the log dir "
              "(TensorBoard's multiplexer), and computing every run's findings."),
    ]
