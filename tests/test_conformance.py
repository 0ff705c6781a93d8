"""The stored conformance vectors (conformance_streams/, SPEC Annex B) against
both implementations; a missing or altered vector fails, it is never regenerated."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

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


def _raw(array: np.ndarray, dtype: str) -> bytes:
    return np.ascontiguousarray(array, dtype=np.dtype(dtype)).tobytes()


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_vector_decodes_exactly(impl: ModuleType, name: str) -> None:
    entry = VALID[name]
    data = (FOLDER / entry["files"]["stream"]["path"]).read_bytes()
    got = impl.decode_stream(data)
    assert got.integers.dtype == np.uint16
    raw = {"integers": _raw(got.integers, "<u2"), "floats": _raw(got.floats(), "<f4")}
    for what, sums in entry["outputs"].items():  # the checksums a C rig uses (SPEC Annex B)
        assert hashlib.md5(raw[what]).hexdigest() == sums["md5"]
        assert hashlib.sha256(raw[what]).hexdigest() == sums["sha256"]
    if "integers" in entry["files"]:
        ints = np.load(FOLDER / entry["files"]["integers"]["path"])
        floats = np.load(FOLDER / entry["files"]["floats"]["path"])
        assert np.array_equal(got.integers, ints)
        assert np.array_equal(got.floats().view(np.uint32), floats.view(np.uint32))


def _input(entry: dict[str, Any]) -> np.ndarray:
    """The vector's input tensor: shipped, or rebuilt from the repository's data
    for the large ones, whose inputs are stored as a hash."""
    if "input" in entry["files"]:
        return np.load(FOLDER / entry["files"]["input"]["path"])
    from dfc.tools import conformance_build
    from dfc.tools.conformance_edges import paper_vectors

    with mock.patch.object(conformance_build, "REPO", FOLDER.parent):  # data/corpus of this checkout
        x = {v.name: v for v in paper_vectors()}[entry["name"]].make()
    assert hashlib.sha256(_raw(x, "<f4")).hexdigest() == entry["input_sha256"]
    return x


@pytest.mark.parametrize("name", sorted(n for n, e in VALID.items() if e["encoder_input"]))
def test_valid_vector_reencodes_byte_identical(impl: ModuleType, name: str) -> None:
    entry = VALID[name]
    stream = (FOLDER / entry["files"]["stream"]["path"]).read_bytes()
    profile, setting = entry["profile"], entry["setting"]
    assert impl.encode(_input(entry), bits=entry["bits"], profile=profile, setting=setting) == stream


def test_each_mode_decision_is_listed_per_block() -> None:
    for entry in VALID.values():
        if entry["profile"] == "baseline":
            c, h, w = entry["shape"]
            per_channel = entry["pred_mode_per_block"]
            assert len(per_channel) == c
            assert {len(modes) for modes in per_channel} == {((h + 3) // 4) * ((w + 3) // 4)}
            counted = Counter(int(m) for modes in per_channel for m in modes)
            assert {str(k): n for k, n in sorted(counted.items())} == entry["blocks_per_mode"]


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
