"""The ``diagnosis`` section of ``python -m benchmarks``: per-case verdicts and the
recall / false-alarm summary on both halves of the corpus (alphabetical odd and
even names: the rules were designed on one and checked on the other)."""

import importlib
import os

from benchmarks import Table
from benchmarks.diagnosis.cases import CASES

# The submodule, not benchmarks.diagnosis.runner (the section's entry point, which shadows it).
corpus = importlib.import_module("benchmarks.diagnosis.runner")


def halves(cases=CASES):
    """``(design, check)``: the cases at even and odd positions of the names in alphabetical order."""
    names = sorted(c.name for c in cases)
    design = set(names[0::2])
    return [c for c in cases if c.name in design], [c for c in cases if c.name not in design]


def run(ctx):
    """Trains the corpus (the ``short`` cases in a smoke run) and scores it; ``TB_NNVIZ_CORPUS``
    names a log dir already trained by ``python -m benchmarks.diagnosis`` to rescore instead."""
    cases = [c for c in CASES if c.short or not ctx.smoke]
    root = os.environ.get("TB_NNVIZ_CORPUS")
    if root:
        truths = {}
        for c in cases:
            path = os.path.join(root, c.name, corpus.TRUTH)
            truths[c.name] = corpus.json.load(open(path)) if os.path.exists(path) else {"error": "not run"}
    else:
        root = os.path.join(ctx.workdir, "diagnosis")
        truths = corpus.train_all(cases, root)
    rows = corpus.score(cases, root, truths)
    by_name = {r["case"].name: r for r in rows}
    design, check = halves(cases)
    half = {c.name: "design" for c in design}
    verdicts = Table(
        "diagnosis_cases", "Diagnosis: per-case verdicts",
        ["case", "half", "kind", "verdict", "verified", "alarms", "infos"],
        [[r["case"].name, half.get(r["case"].name, "check"), "healthy" if r["case"].healthy else "broken",
          r["verdict"], "yes" if r["verified"] else "no", ", ".join(r["alarms"]) or "-",
          ", ".join(r.get("infos", [])) or "-"] for r in rows],
        "Each case's warnings and errors against its known cause (benchmarks/diagnosis/cases.py).")
    summary = []
    for name, part in (("design", design), ("check", check), ("all", cases)):
        recall, right, nb, false, nh = corpus.summary([by_name[c.name] for c in part])
        summary.append([name, "%d of %d (%.0f%%)" % (right, nb, 100 * recall), "%d of %d" % (false, nh)])
    totals = Table(
        "diagnosis_summary", "Diagnosis: right cause and false alarms",
        ["half", "right cause (verified broken)", "false alarms (verified healthy)"], summary,
        "Design: alphabetical even names, which the rules were tuned on; check: the odd ones.")
    return [verdicts, totals]
