"""The whole tree is lint-clean under the rules in pyproject.toml (ruff)."""

import shutil
import subprocess
import sys

from .conftest import ROOT


def test_ruff_is_clean():
    ruff = shutil.which("ruff") or [sys.executable, "-m", "ruff"]
    cmd = [ruff, "check", "--no-cache", "."] if isinstance(ruff, str) else [*ruff, "check", "--no-cache", "."]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-1000:]
