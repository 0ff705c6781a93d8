"""The stored conformance vectors (conformance_streams/, SPEC Annex B) against
both implementations; a missing or altered vector fails, it is never regenerated."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from dfc.errors import DecodeError

FOLDER = Path(__file__).resolve().parent.parent / "conformance_streams"
MANIFEST = json.loads((FOLDER / "manifest.json").read_text())
VALID = {entry["name"]: entry for entry in MANIFEST["valid"]}
INVALID = {entry["name"]: entry for entry in MANIFEST["invalid"]}


def test_manifest_files_present_and_hashes_match() -> None:
    from dfc.tools.conformance import load_manifest

    assert load_manifest(FOLDER) == MANIFEST


def test_every_error_code_has_an_invalid_vector() -> None:
    codes = {entry["expect_error"] for entry in MANIFEST["invalid"]}
    spec = (FOLDER.parent / "SPEC.md").read_text()
    table = spec[spec.index("Table 10 — error codes"):spec.index("## 10")]
    listed = {line.split("`")[1] for line in table.splitlines() if line.startswith("| `")}
    assert codes == listed


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_vector_decodes_exactly(impl: ModuleType, name: str) -> None:
    entry = VALID[name]
    data = (FOLDER / entry["files"]["stream"]["path"]).read_bytes()
    got = impl.decode_stream(data)
    ints = np.load(FOLDER / entry["files"]["integers"]["path"])
    floats = np.load(FOLDER / entry["files"]["floats"]["path"])
    assert got.integers.dtype == np.uint16
    assert np.array_equal(got.integers, ints)
    assert np.array_equal(got.floats().view(np.uint32), floats.view(np.uint32))


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_vector_reencodes_byte_identical(impl: ModuleType, name: str) -> None:
    entry = VALID[name]
    x = np.load(FOLDER / entry["files"]["input"]["path"])
    stream = (FOLDER / entry["files"]["stream"]["path"]).read_bytes()
    profile, setting = entry.get("profile", "baseline"), entry.get("setting", "default")
    assert impl.encode(x, bits=entry["bits"], profile=profile, setting=setting) == stream


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_vector_rejected_with_its_code(impl: ModuleType, name: str) -> None:
    entry = INVALID[name]
    data = (FOLDER / entry["files"]["stream"]["path"]).read_bytes()
    with pytest.raises(DecodeError) as info:
        impl.decode_stream(data)
    assert info.value.code == entry["expect_error"]
    assert info.value.offset == entry["expect_offset"]


def test_modes_all_uses_every_mode() -> None:
    assert set(VALID["modes_all"]["blocks_per_mode"]) == {"0", "1", "2", "3", "4"}
