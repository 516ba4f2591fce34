"""Killed mid-write, many times: the CI test's trials (tests/test_reliability_kill.py) at benchmark scale.

``TRIALS`` Keras ``model.fit`` runs and as many PyTorch loops, each logging a
trajectory point every step and a heatmap every third, are killed with
SIGKILL at a random moment (seeded) once logging is under way; every second
file is also cut inside its last record (a kill inside ``write``), and the
first run of each framework is restarted from an earlier step into the same
run. Then a real ``tensorboard --load_fast=true`` and the Python loader the
report uses must serve, for every tensor, exactly the steps of the complete
records (restart applied), and ``tb-nnviz report`` must read the log dir
with nothing on stderr.
"""

import json
import os
import subprocess

from benchmarks import Table, Target, progress
from tests import providers, tbserver
from tests.test_reliability_kill import killed_runs

TRIALS = 20


def run(ctx):
    trials = ctx.size(TRIALS, 2)
    logdir = os.path.join(ctx.workdir, "killed")
    os.makedirs(logdir)
    expected, torn = killed_runs(logdir, {"keras": trials, "torch": trials}, seed=2026)
    progress("kill: %d runs killed" % len(expected))
    from tb_nnviz.serve import store

    python = store.Store(providers.python_provider(logdir))
    bad_python = [run for run, by_name in expected.items()
                  if {n: s.tolist() for n, _, s, _ in python.trajectories(providers.CTX, "", run)} != by_name]
    bad_tb = []
    with tbserver.tensorboard(logdir, "--load_fast=true", "--reload_interval=1") as url:
        tbserver.wait_for(lambda: tbserver.route_json(url, "tags"), lambda t: set(expected) <= set(t["runs"]),
                          timeout=300)
        for run, by_name in expected.items():
            if any(tbserver.route_json(url, "trajectory", run=run, tag=n)["step"] != s for n, s in by_name.items()):
                bad_tb.append(run)
    report = subprocess.run(["tb-nnviz", "report", logdir, "--json", "--fail-on", "never"],
                            capture_output=True, text=True, timeout=600)
    listed = set(json.loads(report.stdout)["runs"]) if report.returncode == 0 else set()
    ok = not bad_python and not bad_tb and set(expected) <= listed and not report.stderr.strip()
    rows = [
        ["runs killed (Keras + PyTorch)", "%d + %d" % (trials, trials)],
        ["killed inside a record's write (torn by the kill itself)", str(torn["natural"])],
        ["torn by hand at a random byte of the last record", str(torn["cut"])],
        ["runs restarted from an earlier step", "2"],
        ["runs whose steps differ from the complete records: real TensorBoard (data server)",
         str(len(bad_tb))],
        ["runs whose steps differ: Python loader (as `tb-nnviz report` reads)", str(len(bad_python))],
        ["`tb-nnviz report`: exit status, runs listed, stderr", "%d, %d of %d, %s" % (
            report.returncode, len(listed & set(expected)), len(expected),
            "empty" if not report.stderr.strip() else repr(report.stderr[:200]))],
    ]
    ctx.targets.append(Target(
        "Killed with SIGKILL (%d Keras + %d PyTorch runs): every complete step served, torn records dropped, "
        "restarts shown as TensorBoard shows them, the report reads all" % (trials, trials),
        "%d + %d runs differ" % (len(bad_tb), len(bad_python)), ok))
    return [Table(
        "kill", "Killed mid-write: %d Keras and %d PyTorch runs" % (trials, trials),
        ["measure", "value"], rows,
        "tests/test_reliability_kill.py's trials at benchmark scale (benchmarks/kill.py): every step a logger "
        "returned from was in a complete record in every run (asserted while killing).",
    )]
