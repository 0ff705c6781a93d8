"""Which backend ``import dfc`` selects (dfc/__init__.py), each case in a fresh
interpreter: DFC_PUREPYTHON chooses, DFC_REQUIRE_FAST checks, and only an absent
compiled module falls back to the reference; a broken one is never hidden.

Absent and broken extensions are simulated by a meta-path finder, installed
before ``import dfc``, that raises what the real import would raise.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import dfc

#: The folder holding the dfc package that this test run imports (the checkout
#: or site-packages); the child interpreters import the same one.
PACKAGE_PARENT = str(Path(dfc.__file__).parent.parent)

SIMULATE = """
import importlib.abc, sys

class _Simulate(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == {module!r}:
            raise {error}
        return None

sys.meta_path.insert(0, _Simulate())
"""

REPORT = """
import json, sys
import dfc, dfc.reference
impl = sys.modules["dfc." + dfc.backend]
print(json.dumps({
    "backend": dfc.backend,
    "same_functions": dfc._impl is impl and all(getattr(dfc, f) is getattr(impl, f)
                                                for f in ("decode", "decode_stream")),
    "encode_is_reference": dfc._impl is dfc.reference,
    "fast_imported": "dfc.fast" in sys.modules,
}))
"""

ABSENT = "ModuleNotFoundError(f'No module named {name!r}', name=name)"
BROKEN = "ImportError('dfc.fast._codec: compiled tables differ from dfc.reference.tables (simulated)')"
MISSING_DEPENDENCY = "ModuleNotFoundError(\"No module named 'dfc_simulated_dep'\", name='dfc_simulated_dep')"


def run_import(tmp_path: Path, code: str, **env_vars: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a new interpreter with only the given DFC_* variables set,
    from an empty folder (so that a checkout in the working directory cannot
    shadow the dfc under test)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DFC_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [PACKAGE_PARENT, env.get("PYTHONPATH")]))
    env.update(env_vars)
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def report(tmp_path: Path, simulate: str = "", **env_vars: str) -> dict[str, Any]:
    result = run_import(tmp_path, simulate + REPORT, **env_vars)
    assert result.returncode == 0, result.stderr[-2000:]
    selected: dict[str, Any] = json.loads(result.stdout)
    assert selected["same_functions"], selected
    return selected


def simulate(module: str, error: str) -> str:
    return SIMULATE.format(module=module, error=error)


def test_purepython_selects_reference_without_importing_fast(tmp_path: Path) -> None:
    selected = report(tmp_path, DFC_PUREPYTHON="1")
    assert selected == {"backend": "reference", "same_functions": True, "encode_is_reference": True,
                        "fast_imported": False}


def test_selects_fast_when_built(tmp_path: Path, fast: ModuleType) -> None:
    selected = report(tmp_path)
    assert selected["backend"] == "fast" and not selected["encode_is_reference"]


def test_purepython_zero_means_unset(tmp_path: Path, fast: ModuleType) -> None:
    assert report(tmp_path, DFC_PUREPYTHON="0")["backend"] == "fast"


@pytest.mark.parametrize("module", ["dfc.fast._codec", "dfc.fast"])
def test_absent_extension_falls_back_to_reference(tmp_path: Path, module: str) -> None:
    selected = report(tmp_path, simulate(module, ABSENT))
    assert selected["backend"] == "reference" and selected["encode_is_reference"]


@pytest.mark.parametrize("purepython", ["", "1"])
def test_require_fast_with_absent_extension_fails_import(tmp_path: Path, purepython: str) -> None:
    # DFC_PUREPYTHON only chooses; DFC_REQUIRE_FAST still checks that dfc.fast is built.
    result = run_import(tmp_path, simulate("dfc.fast._codec", ABSENT) + "import dfc",
                        DFC_REQUIRE_FAST="1", DFC_PUREPYTHON=purepython)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: DFC_REQUIRE_FAST=1 but the compiled backend dfc.fast is not built")
    assert "No module named 'dfc.fast._codec'" in last
    # an unbuilt checkout says that it is one (run from there, it shadows an installed dfc)
    checkout = (Path(PACKAGE_PARENT) / "setup.py").is_file()
    assert (f"this dfc is the source checkout at {Path(PACKAGE_PARENT).resolve()}" in last) == checkout


def test_require_fast_with_purepython_selects_reference(tmp_path: Path, fast: ModuleType) -> None:
    selected = report(tmp_path, DFC_REQUIRE_FAST="1", DFC_PUREPYTHON="1")
    assert selected["backend"] == "reference" and selected["encode_is_reference"]


def test_require_fast_selects_fast_when_built(tmp_path: Path, fast: ModuleType) -> None:
    assert report(tmp_path, DFC_REQUIRE_FAST="1")["backend"] == "fast"


@pytest.mark.parametrize(("error", "message"), [
    (BROKEN, "ImportError: dfc.fast._codec: compiled tables differ from dfc.reference.tables (simulated)"),
    (MISSING_DEPENDENCY, "ModuleNotFoundError: No module named 'dfc_simulated_dep'"),
], ids=["import_error", "missing_dependency"])
def test_broken_extension_fails_import(tmp_path: Path, error: str, message: str) -> None:
    """An extension that is there but cannot be imported is a fault: ``import dfc``
    raises its error instead of quietly using the reference."""
    result = run_import(tmp_path, simulate("dfc.fast._codec", error) + "import dfc")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == message


def test_import_dfc_selects_a_working_backend(tmp_path: Path) -> None:
    """`import dfc` must work whether or not dfc.fast is built: an unbuilt fast/
    must fall back to the reference. (The dfc under test, from an empty folder and
    without DFC_* variables: CI's DFC_REQUIRE_FAST=1 would otherwise demand fast of
    a checkout that pip did not build in place.)"""
    code = "import dfc; assert callable(dfc.encode) and callable(dfc.decode_stream), dfc.backend"
    result = run_import(tmp_path, code)
    assert result.returncode == 0, result.stderr[-2000:]
