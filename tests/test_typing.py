"""mypy --strict over dfc/, reference/, tools/ and the stub of the compiled module:
``mypy`` with no arguments in the checkout, configured by pyproject.toml's
[tool.mypy] alone (what a developer or an editor runs)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def _modules_under_dfc() -> set[tuple[str, str]]:
    """(folder, module) for every .py/.pyi that mypy must reach from dfc/, the
    subpackages through the symlinks dfc/reference, dfc/fast and dfc/tools."""
    return {
        (folder, path.name.split(".")[0])
        for folder in ("dfc", "reference", "fast", "tools")
        for path in (REPO_ROOT / folder).iterdir()
        if path.suffix in (".py", ".pyi")
    }


def test_mypy_strict_from_pyproject() -> None:
    pytest.importorskip("mypy", reason="mypy is a test extra: pip install '.[test]'")
    proc = subprocess.run([sys.executable, "-m", "mypy"], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # All of reference/ and tools/ were checked, not only dfc/'s own files.
    checked = re.search(r"no issues found in (\d+) source files", proc.stdout)
    assert checked and int(checked.group(1)) == len(_modules_under_dfc()), proc.stdout
