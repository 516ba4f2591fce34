"""Smoke test of ``python -m benchmarks``: every table is written with numeric cells.

Benchmarks are not timed tests: this checks the structure of the markdown,
never the speed measured.
"""

import os
import re
import subprocess
import sys

import pytest

from tests import tbserver

TABLES = [
    "Targets",
    "Training overhead (fit time, median)",
    "NNViz cost per logged step vs. the read-to-host floor",
    "Bytes written per logged step",
    "Route latency (real TensorBoard, one keep-alive client)",
    "TensorBoard resident memory",
    "NNViz tab: time to interactive (headless Chromium)",
    "NNViz tab: heatmap redraw per slider step",
    "Projection's PCA",  # the title goes on with the matrix size
    "Real models: first-fit time with each callback",
    "Real models: one logged step against the floor",
    "Real models: set-up and memory",
    "Real models: bytes per logged step at default options",
    "PyTorch ResNet-18: one logged step against the floor",
    "PyTorch ResNet-18: training time with watch and with add_histogram",
]
_NUMBER = re.compile(r"^-?[0-9][0-9,]*(\.[0-9]+)?([eE][-+]?[0-9]+)?$")


def _find(tables, title):
    return next((t for t in tables if t == title or t.startswith(title + ":")), None)


def _tables(markdown):
    """``{title: [[cell, ...], ...]}`` of every ``### title`` followed by a pipe table."""
    tables, title = {}, None
    for line in markdown.splitlines():
        if line.startswith("### "):
            title = line[4:].strip()
            tables[title] = []
        elif title and line.startswith("|") and not re.match(r"^\|\s*---", line):
            tables[title].append([c.strip() for c in line.strip().strip("|").split("|")])
    return tables


@pytest.fixture(scope="module")
def smoke_markdown(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "BENCHMARKS.md"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--out", str(out)],
        cwd=tbserver.REPO, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    # A progress line per measurement on stderr.
    assert proc.stderr.count("[benchmarks") > 10
    return out.read_text()


def test_every_table_has_a_header_and_numeric_rows(smoke_markdown):
    tables = _tables(smoke_markdown)
    assert "failed" not in " ".join(tables), smoke_markdown
    for title in TABLES:
        found = _find(tables, title)
        assert found, "missing table %r in:\n%s" % (title, smoke_markdown)
        header, *rows = tables[found]
        assert rows, title
        assert all(len(r) == len(header) for r in rows), title
        if title != "Targets":
            for row in rows:
                assert any(_NUMBER.match(c) for c in row), (title, row)


def test_every_table_says_what_its_ratios_mean(smoke_markdown):
    for title in TABLES:
        section = smoke_markdown.split("### " + title, 1)[1]
        sentence = section.split("\n", 1)[1].strip().splitlines()[0]
        assert not sentence.startswith("|") and len(sentence) > 40, (title, sentence)


def test_machine_versions_and_targets(smoke_markdown):
    for key in ("CPU", "memory", "python", "tensorflow", "keras", "tensorboard", "numpy", "tb-nnviz"):
        assert re.search(r"^\| %s[ |(]" % re.escape(key), smoke_markdown, re.M), key
    targets = _tables(smoke_markdown)["Targets"][1:]
    names = " ".join(r[0] for r in targets)
    for target in ("heatmap route", "projection route", "TensorBoard callback's cadence",
                   "every 100 batches", "of the floor", "tab interactive", "redraw",
                   "first fit with NNVizCallback", "one read of every weight", "bytes per logged step"):
        assert target in names, target
    assert all(r[2] in ("met", "**missed**") for r in targets)
    assert all(re.search(r"[0-9.]+ (ms|x)|ratio [0-9.]+", r[1]) for r in targets), targets


def test_only_rejects_unknown_names():
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--only", "nope"],
        cwd=tbserver.REPO, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2 and "unknown benchmark" in proc.stderr


def test_benchmarks_is_a_package():
    here = os.path.join(tbserver.REPO, "benchmarks")
    for name in ("__init__.py", "__main__.py", "training.py", "models.py", "server.py", "tab.py"):
        assert os.path.isfile(os.path.join(here, name)), name
