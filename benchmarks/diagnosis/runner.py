"""Training the corpus's cases in child processes and scoring their findings.

>>> verdict(BY_NAME["torch_mlp_adam"], [{"kind": "alpha_high", "severity": "info"}])
'right'
>>> verdict(BY_NAME["torch_mlp_sgd_lr_low"], [{"kind": "lr_too_high", "severity": "warning"}])
'contradicted'
"""

import concurrent.futures
import json
import os
import subprocess
import sys
import time

from benchmarks.diagnosis.cases import BY_NAME, CASES

TRUTH = "truth.json"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def train_one(name, log_dir):
    """Trains case ``name`` into ``log_dir`` (in this process) and writes its ground truth there."""
    case = BY_NAME[name]
    if case.framework == "torch":
        import torch

        torch.set_num_threads(1)
        from benchmarks.diagnosis import torch_train as trainer
    else:
        # Keras fixes its backend at its first import (a case's "backend", else TensorFlow).
        os.environ["KERAS_BACKEND"] = case.spec.get("backend", "tensorflow")
        if case.spec.get("backend") == "torch":
            import torch  # noqa: F401  (before anything that may load TensorFlow)
        from benchmarks.diagnosis import keras_train as trainer
    start = time.monotonic()
    truth = trainer.train(dict(case.spec), log_dir)
    truth["seconds"] = time.monotonic() - start
    with open(os.path.join(log_dir, TRUTH), "w") as f:
        json.dump(truth, f)
    return truth


def train_all(cases, root, workers=2, timeout=600):
    """Trains ``cases`` into ``root/<name>``, ``workers`` processes at a time; ``{name: truth or error}``."""
    env = dict(os.environ, OMP_NUM_THREADS="1", TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1",
               TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))

    def one(case):
        log_dir = os.path.join(root, case.name)
        os.makedirs(log_dir, exist_ok=True)
        code = ("import importlib, sys; importlib.import_module('benchmarks.diagnosis.runner')"
                ".train_one(sys.argv[1], sys.argv[2])")
        done = subprocess.run([sys.executable, "-c", code, case.name, log_dir], env=env, cwd=REPO,
                              capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            return case.name, {"error": done.stderr[-3000:]}
        with open(os.path.join(log_dir, TRUTH)) as f:
            return case.name, json.load(f)

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        return dict(pool.map(one, cases))


def alarms(found):
    """The warnings and errors among ``found``."""
    return [f for f in found if f["severity"] in ("error", "warning")]


def verdict(case, found):
    """``right``, ``wrong`` (an alarm, not the cause), ``missed`` (no alarm), ``contradicted``
    (an alarm whose advice points away from the cause) for a broken case; ``right`` or
    ``false_alarm`` for a healthy one."""
    kinds = {f["kind"] for f in alarms(found)}
    if case.healthy:
        return "false_alarm" if kinds else "right"
    if kinds & case.contradict:
        return "contradicted"
    if kinds & case.accept:
        return "right"
    return "wrong" if kinds else "missed"


def findings_of(log_dir):
    """Every finding of every run under ``log_dir`` (a Keras case has train/ and validation/)."""
    from tb_nnviz.serve import report

    try:
        by_run = report.load(log_dir)
    except report.ReportError:
        return []
    return [f for found in by_run.values() for f in found]


def score(cases, root, truths):
    """One row per case: name, verified, verdict, the alarms' kinds, all kinds."""
    rows = []
    for case in cases:
        truth = truths.get(case.name, {"error": "not run"})
        if "error" in truth:
            rows.append({"case": case, "verified": False, "verdict": "not run", "alarms": [], "truth": truth})
            continue
        found = findings_of(os.path.join(root, case.name))
        rows.append({
            "case": case,
            "verified": bool(case.verify(truth)),
            "verdict": verdict(case, found),
            "alarms": sorted({"%s(%s)" % (f["kind"], f["severity"][0]) for f in alarms(found)}),
            "infos": sorted({f["kind"] for f in found if f["severity"] == "info"}),
            "truth": truth,
        })
    return rows


def summary(rows):
    """``(recall, right, broken, false alarms, healthy)`` over verified rows."""
    broken = [r for r in rows if r["verified"] and not r["case"].healthy]
    healthy = [r for r in rows if r["verified"] and r["case"].healthy]
    right = sum(r["verdict"] == "right" for r in broken)
    false = sum(r["verdict"] == "false_alarm" for r in healthy)
    return (right / len(broken) if broken else float("nan")), right, len(broken), false, len(healthy)


def main(argv=None):
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(prog="python -m benchmarks.diagnosis", description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="only the cases CI runs")
    parser.add_argument("--only", default="", help="comma-separated case names")
    parser.add_argument("--logdir", default=None, help="where the runs go (default: a temp dir)")
    parser.add_argument("--rescore", action="store_true", help="score the runs already in --logdir")
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n]
    cases = [c for c in CASES if (not names or c.name in names) and (c.short or not args.short)]
    root = args.logdir or tempfile.mkdtemp(prefix="nnviz-corpus-")
    if args.rescore:
        truths = {}
        for c in cases:
            path = os.path.join(root, c.name, TRUTH)
            truths[c.name] = json.load(open(path)) if os.path.exists(path) else {"error": "not run"}
    else:
        truths = train_all(cases, root)
    rows = score(cases, root, truths)
    for r in rows:
        c, t = r["case"], r["truth"]
        print("%-34s %-8s %-12s %-5s %s | info %s | acc %s" % (
            c.name, "healthy" if c.healthy else "broken", r["verdict"], "ok" if r["verified"] else "UNVER",
            ",".join(r["alarms"]) or "-", ",".join(r.get("infos", [])) or "-",
            "%.2f" % t["train_accuracy"] if "train_accuracy" in t else t.get("error", "")[-300:]))
    from benchmarks.diagnosis.section import halves

    by_name = {r["case"].name: r for r in rows}
    for half, part in zip(("design half", "check half"), halves(cases)):
        recall, right, nb, false, nh = summary([by_name[c.name] for c in part])
        print("%s: right cause %d of %d (%.0f%%); false alarms %d of %d" % (half, right, nb, 100 * recall, false, nh))
    recall, right, nb, false, nh = summary(rows)
    print("right cause: %d of %d broken (%.0f%%); false alarms: %d of %d healthy; logs in %s"
          % (right, nb, 100 * recall, false, nh, root))


if __name__ == "__main__":
    main()
