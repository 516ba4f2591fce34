"""The corpus's ``short`` cases (benchmarks/diagnosis/cases.py), trained and diagnosed:
every verified broken one gets its right cause, every healthy one no warning.

The short cases are small MLPs covering the main classes on both frameworks
(learning rate too high and too low, symmetric start on torch and Keras, dead
units, forgotten zero_grad, NaN input, un-normalised inputs, healthy torch and
Keras): about 100 s on 2 cores."""

import importlib

import pytest

from benchmarks.diagnosis.cases import CASES

run = importlib.import_module("benchmarks.diagnosis.runner")  # benchmarks.diagnosis.runner is the section function
SHORT = [c for c in CASES if c.short]


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("corpus"))
    truths = run.train_all(SHORT, root)
    return {r["case"].name: r for r in run.score(SHORT, root, truths)}


@pytest.mark.parametrize("name", [c.name for c in SHORT])
def test_short_case_reads_right(scored, name):
    row = scored[name]
    assert row["verdict"] != "not run", row["truth"]
    if row["verified"]:
        assert row["verdict"] == "right", (row["alarms"], row.get("infos"))
