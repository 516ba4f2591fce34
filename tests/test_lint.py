"""The Python tree passes ruff with the project's settings (pyproject.toml: line length,
pyflakes, pycodestyle, import order). The frontend's compiler checks (unused locals and
parameters) run in tests/test_frontend_unit.py."""

import subprocess
import sys

from tests.tbserver import REPO


def test_ruff_finds_nothing():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
