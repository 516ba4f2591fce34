"""The package's layout: stages whose imports run one way, and a README that maps the tree.

tb_nnviz/ holds the entry points users import (``tb_nnviz``, ``summary``,
``keras``, ``torch``, ``cli``, ``demo``) and five stage subpackages. A stage
imports only itself and the stages below it; the writing side (``reduce``,
``log``) and the reading side (``diagnose``, ``serve``) meet only in
``format``, and no stage imports an entry point. ``python -m pytest
tests/test_layout.py`` fails on any import that crosses the wrong way,
including imports inside functions.
"""

import ast
import os
import re

import pytest

from tests.tbserver import REPO

PACKAGE = os.path.join(REPO, "tb_nnviz")

#: Each stage and the stages it may import (itself included).
ALLOWED = {
    "format": {"format"},
    "reduce": {"format", "reduce"},
    "log": {"format", "reduce", "log"},
    "diagnose": {"format", "diagnose"},
    "serve": {"format", "diagnose", "serve"},
}


def modules():
    """``{dotted name: path}`` of every Python module under tb_nnviz/."""
    found = {}
    for root, dirs, files in os.walk(PACKAGE):
        dirs[:] = [d for d in dirs if d != "__pycache__" and d != "static"]
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(root, f)
                rel = os.path.relpath(path, REPO)[: -len(".py")].split(os.sep)
                found[".".join(rel[:-1] if rel[-1] == "__init__" else rel)] = path
    return found


def imported(source):
    """The ``tb_nnviz`` modules (dotted) that ``source`` imports, anywhere in it."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.split(".")[0] == "tb_nnviz")
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "tb_nnviz":
            names.add(node.module)
            # `from tb_nnviz.reduce import grids` imports the module tb_nnviz.reduce.grids
            names.update("%s.%s" % (node.module, a.name) for a in node.names)
    return names


def stage(dotted, known):
    """The stage of module ``dotted`` (None for an entry point); unknown names are kept as they are."""
    parts = dotted.split(".")
    if len(parts) > 1 and parts[1] in ALLOWED:
        return parts[1]
    return None if dotted in known or len(parts) <= 2 else dotted


def violations(name, source, known):
    """Imports of module ``name`` (source ``source``) that cross the stages the wrong way."""
    own = stage(name, known)
    if own is None:
        return []  # entry points may import every stage
    targets = set()
    for target in imported(source):
        if target not in known and target.rpartition(".")[0] in known:
            target = target.rpartition(".")[0]  # `from m import name`: a name, not a module
        targets.add(target)
    # `from tb_nnviz.reduce import grids` names the package and its module: judge the module
    targets = {t for t in targets if not any(u.startswith(t + ".") for u in targets)}
    bad = []
    for target in sorted(targets):
        to = stage(target, known)
        if to not in ALLOWED[own]:
            bad.append("%s imports %s (%s may import %s)" % (name, target, own, ", ".join(sorted(ALLOWED[own]))))
    return bad


def test_no_import_crosses_the_stages_the_wrong_way():
    known = modules()
    bad = []
    for name, path in sorted(known.items()):
        with open(path, encoding="utf-8") as f:
            bad += violations(name, f.read(), known)
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("name, source, crossing", [
    ("tb_nnviz.reduce.tf_ops", "from tb_nnviz.log.plan import check_group", "tb_nnviz.log.plan"),
    ("tb_nnviz.serve.store", "from tb_nnviz.reduce import trajectory", "tb_nnviz.reduce.trajectory"),
    ("tb_nnviz.diagnose.findings", "def f():\n    import tb_nnviz.serve.plugin", "tb_nnviz.serve.plugin"),
    ("tb_nnviz.log.writer", "from tb_nnviz import summary", "tb_nnviz.summary"),
    ("tb_nnviz.format.metadata", "from tb_nnviz import Writer", "tb_nnviz"),
])
def test_the_check_finds_a_crossing(name, source, crossing):
    bad = violations(name, source, modules())
    assert len(bad) == 1 and bad[0].startswith("%s imports %s " % (name, crossing)), bad


def test_the_check_allows_downward_imports():
    known = modules()
    assert violations("tb_nnviz.serve.plugin", "from tb_nnviz.format import metadata\n"
                      "from tb_nnviz.diagnose import findings", known) == []
    assert violations("tb_nnviz.keras", "from tb_nnviz.log.tf_logger import WeightLogger", known) == []


def readme_layout():
    """The paths the README's "Layout of the code" table names, by the table's first column."""
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as f:
        text = f.read()
    section = re.search(r"^## Layout of the code\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert section, "README.md has no '## Layout of the code' section"
    paths = set()
    for row in re.findall(r"^\| (.+?) \|", section.group(1), re.M):
        paths.update(re.findall(r"`([^`]*/[^`]*)`", row))  # paths have a slash
    return paths


def test_readme_layout_matches_the_tree():
    named = readme_layout()
    tree = {os.path.relpath(p, REPO).replace(os.sep, "/") for p in modules().values()}
    tree = {p for p in tree if not p.endswith("__init__.py") or p == "tb_nnviz/__init__.py"}
    missing = sorted(tree - named)
    stale = sorted(p for p in named if p.startswith("tb_nnviz/") and p.endswith(".py") and p not in tree)
    assert not missing, "modules the README's layout table does not name: %s" % missing
    assert not stale, "the README's layout table names modules that do not exist: %s" % stale
    for p in named - tree:
        assert os.path.exists(os.path.join(REPO, p)), "the README's layout table names %s, which does not exist" % p
