"""Real feature tensors round-trip exactly and compress (SPEC §4, §8).

tests/data/ holds small crops of real activations (see its manifest.json); they
run for every implementation. The full shared corpus (../shared beside the
checkout, developers and CI only) runs for the fast implementation, and one full
tensor per network for the reference.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from conftest import (
    DATA_DIR,
    SHARED_DIR,
    check_roundtrip,
    data_files,
    data_manifest,
    load_data,
)

import dfc.reference

MANIFEST = data_manifest()
_streams: dict[tuple[str, str], bytes] = {}


def stream_of(impl: ModuleType, name: str) -> bytes:
    """The checked 8-bit stream of a tests/data tensor, encoded once per implementation."""
    key = (impl.__name__, name)
    if key not in _streams:
        _streams[key] = check_roundtrip(impl, load_data(name), 8)
    return _streams[key]


# --- tests/data ------------------------------------------------------------------

def test_manifest_lists_every_data_file_with_provenance() -> None:
    on_disk = {p.name for p in DATA_DIR.glob("*.npy")}
    assert on_disk == set(data_files())
    total = sum((DATA_DIR / name).stat().st_size for name in on_disk)
    assert total <= 1_500_000, f"tests/data is {total} bytes"
    for entry in MANIFEST["files"]:
        for field in ("model", "package", "layer", "activation", "image", "shape", "sha256", "crop",
                      "source_file", "source_sha256"):
            assert entry.get(field), f"{entry['file']}: no {field}"


@pytest.mark.parametrize("name", data_files())
def test_data_file_matches_manifest(name: str) -> None:
    entry = next(e for e in MANIFEST["files"] if e["file"] == name)
    x = load_data(name)  # checks the sha256
    assert x.dtype == np.float32 and list(x.shape) == entry["shape"]
    assert float(x.min()) == entry["min"] and float(x.max()) == entry["max"]


@pytest.mark.parametrize("name", data_files())
def test_data_tensor_round_trips_exactly(impl: ModuleType, name: str) -> None:
    stream_of(impl, name)


@pytest.mark.parametrize("name", data_files())
def test_data_tensor_compresses_below_8_bits_per_value(impl: ModuleType, name: str) -> None:
    bits_per_value = 8 * len(stream_of(impl, name)) / load_data(name).size
    assert bits_per_value < 8, f"{name}: {bits_per_value:.3f} bits per value at 8 bits"


@pytest.mark.parametrize("name", data_files())
def test_data_tensor_stream_identical_to_reference(fast: ModuleType, name: str) -> None:
    assert stream_of(fast, name) == stream_of(dfc.reference, name)


@pytest.mark.parametrize("bits", [1, 2, 5, 12, 16])
def test_data_tensor_round_trips_at_other_bit_depths(impl: ModuleType, bits: int) -> None:
    x = load_data("yolofastest_xl-deep-kodim02-c64.npy")[:16]
    check_roundtrip(impl, x, bits)


# --- ../shared corpus ------------------------------------------------------------

def shared_files() -> list[Path]:
    return sorted(SHARED_DIR.glob("corpus/*.npy")) + sorted(SHARED_DIR.glob("corpus_leaky/*.npy"))


def smallest_per_network() -> list[Path]:
    """One full shared-corpus tensor per network: the one with the fewest values."""
    best: dict[str, tuple[int, Path]] = {}
    for path in shared_files():
        network = path.name.split("-")[0]
        size = int(np.prod(np.load(path, mmap_mode="r").shape))
        if network not in best or size < best[network][0]:
            best[network] = (size, path)
    return [path for _, path in sorted(best.values(), key=lambda item: item[1].name)]


def shared_source(entry: dict[str, object]) -> Path:
    corpus = Path(str(entry["source_corpus"])).name  # "../shared/corpus" -> "corpus"
    return SHARED_DIR / corpus / str(entry["source_file"])


needs_shared = pytest.mark.skipif(not SHARED_DIR.is_dir(), reason="../shared (the shared corpus) is not present")


@needs_shared
@pytest.mark.parametrize("name", data_files())
def test_data_file_is_the_recorded_crop_of_the_shared_corpus(name: str) -> None:
    entry = next(e for e in MANIFEST["files"] if e["file"] == name)
    source = shared_source(entry)
    if not source.is_file():
        pytest.skip(f"{source} not present")
    assert hashlib.sha256(source.read_bytes()).hexdigest() == entry["source_sha256"]
    full = np.load(source)
    assert list(full.shape) == entry["source_shape"]
    channels = entry["shape"][0]
    np.testing.assert_array_equal(np.ascontiguousarray(full[:channels]), load_data(name))


@needs_shared
@pytest.mark.parametrize("path", shared_files(), ids=lambda p: p.name)
def test_shared_corpus_round_trips_fast(fast: ModuleType, path: Path) -> None:
    """Every shared tensor with dfc.fast; the pure-Python reference codes one per
    network below and the crops of tests/data."""
    stream = check_roundtrip(fast, np.load(path), 8)
    assert 8 * len(stream) / np.load(path, mmap_mode="r").size < 8


@needs_shared
@pytest.mark.parametrize("path", smallest_per_network(), ids=lambda p: p.name)
def test_shared_corpus_one_full_tensor_per_network(impl: ModuleType, path: Path) -> None:
    manifest = json.loads((path.parent / "manifest.json").read_text())
    entry = next(e for e in manifest["files"] if e["file"] == path.name)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
    check_roundtrip(impl, np.load(path), 8)
