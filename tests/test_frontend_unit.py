"""Runs the frontend's own unit tests (node --test) and type check as part of pytest."""

import os
import shutil
import subprocess

from tests.tbserver import REPO

FRONTEND = os.path.join(REPO, "frontend")


def test_frontend_unit_tests_pass():
    npm = shutil.which("npm")
    assert npm, "npm is needed to test the frontend (install Node.js >= 18)"
    if not os.path.isdir(os.path.join(FRONTEND, "node_modules")):
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=FRONTEND, check=True)
    result = subprocess.run([npm, "test"], cwd=FRONTEND, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "# fail 0" in result.stdout and "# pass 0" not in result.stdout, result.stdout[-2000:]
