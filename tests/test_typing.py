"""mypy --strict over the reference codec, the tools and the CLI (issue: the
reference must stay type-clean). Runs on whichever copy of dfc the tests import
(installed or checkout), through a temporary folder that maps the dfc namespace."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

import dfc

SUBPACKAGES = ("reference", "tools", "fast")


def _namespace_farm(root: Path) -> Path:
    """root/dfc/* -> the files of the imported dfc package, root/dfc/<sub> -> each subpackage."""
    pkg = root / "dfc"
    pkg.mkdir()
    top = Path(dfc.__file__).parent
    for item in top.iterdir():
        if item.name not in SUBPACKAGES and item.name != "__pycache__":
            (pkg / item.name).symlink_to(item.resolve())
    for sub in SUBPACKAGES:
        try:
            module = importlib.import_module(f"dfc.{sub}")
        except ImportError:
            continue
        (pkg / sub).symlink_to(Path(module.__file__).resolve().parent)  # type: ignore[arg-type]
    return root


def test_mypy_strict_reference_tools_cli(tmp_path: Path) -> None:
    pytest.importorskip("mypy", reason="mypy is a test extra: pip install '.[test]'")
    farm = _namespace_farm(tmp_path)
    cmd = [sys.executable, "-m", "mypy", "--strict", "--no-incremental",
           "-p", "dfc.reference", "-p", "dfc.tools", "-m", "dfc.cli", "-m", "dfc.errors", "-m", "dfc"]
    env = {**os.environ, "MYPYPATH": str(farm)}
    proc = subprocess.run(cmd, cwd=farm, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
