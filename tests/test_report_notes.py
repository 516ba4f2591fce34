"""The notes (what the rules could not judge) reach the findings route, the
report's table and its ``--json``; a run with notes and no findings never reads
"no findings" alone."""

import json

import numpy as np

import tb_nnviz
from tb_nnviz import cli
from tb_nnviz.diagnose import compose
from tb_nnviz.serve import report
from tests.helpers import PREFIX, make_client

NO_LOSS = "no training loss scalar found: the loss rules did not run"


def quiet_run(logdir, steps=range(0, 40, 10)):
    """A run of small steady updates and no loss scalar: nothing found, the loss rules not run."""
    rng = np.random.default_rng(0)
    base = {"dense/kernel": rng.normal(size=(64, 32)) * 0.1}
    with tb_nnviz.Writer(str(logdir / "quiet")) as w:
        for step in steps:
            w.log_weights(step, {n: x * (1 + 3e-3 * step) for n, x in base.items()})


def test_route_sends_findings_and_notes(tmp_path):
    quiet_run(tmp_path)
    response = make_client(str(tmp_path)).get(PREFIX + "/findings", query_string={"run": "quiet"})
    assert response.status_code == 200
    body = json.loads(response.get_data(as_text=True))
    assert sorted(body) == ["findings", "notes"]
    assert NO_LOSS in body["notes"]
    by_run = report.load(str(tmp_path))
    assert by_run["quiet"] == body["findings"] and by_run["quiet"].notes == body["notes"]


def test_table_and_json_show_the_notes(tmp_path, capsys):
    quiet_run(tmp_path)
    assert cli.main(["report", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    assert table.startswith("quiet: no findings in what could be judged; not judged:\n"), table
    assert "  - " + NO_LOSS in table.splitlines()
    assert cli.main(["report", str(tmp_path), "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert sorted(body) == ["notes", "runs"]
    assert sorted(body["runs"]) == sorted(body["notes"]) == ["quiet"]
    assert NO_LOSS in body["notes"]["quiet"]


def test_format_table_notes():
    stuck = {"severity": "warning", "kind": "underfitting", "layer": None, "step": 0, "message": "stuck.",
             "caused_by": "lr_too_low"}
    finding = {"severity": "warning", "kind": "lr_too_low", "layer": "dense", "step": 10, "message": "slow.",
               "consequences": [stuck]}
    table = report.format_table({
        "a": compose.Findings([], ["x: not checked"]),
        "b": compose.Findings([finding], ["y: not checked"]),
        "c": [],
    })
    assert table.splitlines() == [
        "a: no findings in what could be judged; not judged:",
        "  - x: not checked",
        "b: 1 finding",
        "  SEVERITY  KIND              LAYER  STEP  MESSAGE",
        "  warning   lr_too_low        dense    10  slow.",
        "  warning     > underfitting  -         0  stuck.",
        "  not judged:",
        "  - y: not checked",
        "c: no findings",
    ]
    assert report.notes_of({"a": compose.Findings([], ["n"]), "c": []}) == {"a": ["n"], "c": []}


def test_a_log_dir_that_is_one_run_is_named_by_its_directory(tmp_path, capsys):
    # TensorBoard calls the run of a log dir holding event files itself "."; the report
    # names it as TensorBoard does when started on the parent, in the table and the JSON.
    quiet_run(tmp_path)
    single = str(tmp_path / "quiet") + "/"
    assert sorted(report.load(single)) == ["quiet"]
    assert cli.main(["report", single, "--run", "^quiet$"]) == 0
    table = capsys.readouterr().out
    assert table.startswith("quiet: no findings in what could be judged"), table
    assert cli.main(["report", single, "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert sorted(body["runs"]) == sorted(body["notes"]) == ["quiet"], body
    assert cli.main(["report", single, "--run", "nomatch"]) == 2
    assert "matches none of the runs: quiet" in capsys.readouterr().err
