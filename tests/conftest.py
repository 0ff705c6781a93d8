"""Shared fixtures and helpers: the ``impl`` fixture (every behavioural test runs
against each implementation, as cbor2's suite does), the round-trip oracle, and the
small real tensors of tests/data/. Test modules import the helpers with
``from conftest import ...`` (pytest puts tests/ on sys.path).

``impl`` yields ``dfc.reference`` and ``dfc.fast``. When ``dfc.fast`` is not built
its tests are skipped ("dfc.fast not built"), unless ``DFC_REQUIRE_FAST=1`` is set,
in which case they fail: CI sets it so that a broken build cannot pass as skipped.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

TESTS_DIR = Path(__file__).resolve().parent
DATA_DIR = TESTS_DIR / "data"
REPO_ROOT = TESTS_DIR.parent
#: Material that developers and CI have beside the checkout (never shipped to users).
SHARED_DIR = REPO_ROOT.parent / "shared"

IMPLEMENTATIONS = ("reference", "fast")
#: What every implementation module must expose (the public face of dfc).
API = ("encode", "decode", "decode_stream")


def load_impl(name: str) -> ModuleType:
    """Import ``dfc.<name>``. When the compiled backend is not built, skip (or fail
    under DFC_REQUIRE_FAST=1); any other import error fails the test, as it makes
    ``import dfc`` fail (a broken build is never skipped)."""
    if name == "fast":
        import dfc

        module, why = dfc._import_fast()
        if module is None:
            if os.environ.get("DFC_REQUIRE_FAST", "") not in ("", "0"):
                pytest.fail(f"DFC_REQUIRE_FAST=1 but dfc.fast is not built: {why}", pytrace=False)
            pytest.skip("dfc.fast not built")
    else:
        module = importlib.import_module(f"dfc.{name}")
    missing = [attr for attr in API if not hasattr(module, attr)]
    assert not missing, f"dfc.{name} has no {', '.join(missing)}"
    return module


def pytest_report_header() -> str:
    """Which dfc the run tests (a checkout or an installed copy) and its backend."""
    try:
        import dfc
    except ImportError as exc:  # reported again, as an error, by every test module
        return f"dfc cannot be imported: {exc}"
    return f"dfc {dfc.version()} from {Path(dfc.__file__).parent}"


@pytest.fixture(scope="session", params=IMPLEMENTATIONS)
def impl(request: pytest.FixtureRequest) -> ModuleType:
    """The implementation under test: dfc.reference or dfc.fast (same API).

    Session-scoped so that Hypothesis tests may use it (a function-scoped fixture
    would be shared across generated examples anyway).
    """
    return load_impl(request.param)


@pytest.fixture()
def small_real_tensor(tmp_path: Path) -> Path:
    """The first 16 channels (16 x 12 x 12, a 48 x 48 feature matrix) of a
    committed real tensor of data/corpus, with its sidecar's model and depth."""
    src = REPO_ROOT / "data" / "corpus" / "ppocrv4_det-deep-astronaut.npy"
    meta = json.loads(src.with_suffix(".json").read_text())
    path = tmp_path / "deep16.npy"
    np.save(path, np.load(src)[:16])
    path.with_suffix(".json").write_text(json.dumps({**meta, "file": path.name}))
    return path


@pytest.fixture(scope="session")
def fast() -> ModuleType:
    """dfc.fast alone, for tests that compare it with the reference (the oracle)."""
    return load_impl("fast")


def is_reference(module: ModuleType) -> bool:
    return module.__name__ == "dfc.reference"


def data_manifest() -> dict[str, Any]:
    """tests/data/manifest.json: provenance of the committed tensors."""
    manifest: dict[str, Any] = json.loads((DATA_DIR / "manifest.json").read_text())
    return manifest


def data_files() -> list[str]:
    """Names of the committed tensors, in manifest order (for parametrize)."""
    return [entry["file"] for entry in data_manifest()["files"]]


def load_data(name: str) -> np.ndarray:
    """A committed tensor, checked against the manifest's sha256."""
    path = DATA_DIR / name
    entry = next(e for e in data_manifest()["files"] if e["file"] == name)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"], f"{name} changed"
    array: np.ndarray = np.load(path)
    return array


def check_roundtrip(impl: ModuleType, x: np.ndarray, bits: int, *, profile: str = "baseline",
                    setting: str = "default") -> bytes:
    """Encode ``x`` with ``impl`` and check everything its decoder outputs against
    the quantizer of SPEC §4 (reference/quantizer.py, the oracle):

    * the integers equal quantize(x as float32, bits) exactly;
    * the floats equal dequantize(q, bits, min, max) bit for bit;
    * the header fields describe the tensor.

    Returns the stream.
    """
    from dfc.reference.quantizer import dequantize, quantize

    x32 = np.asarray(x).astype(np.float32)
    q, mn, mx = quantize(x32, bits)
    if profile == "baseline" and setting == "default":
        stream = impl.encode(x, bits=bits)
    else:
        stream = impl.encode(x, bits=bits, profile=profile, setting=setting)
    assert isinstance(stream, bytes)
    decoded = impl.decode_stream(stream)
    h = decoded.header

    extended = profile == "extended"
    assert (h.format_version, h.profile, h.bit_depth) == (1, int(extended), bits)
    assert (h.channels, h.height, h.width) == x32.shape == h.shape
    assert np.float32(h.min_value).view(np.uint32) == np.float32(mn).view(np.uint32)
    assert np.float32(h.max_value).view(np.uint32) == np.float32(mx).view(np.uint32)
    assert h.payload_size == len(stream) - h.header_size - 4
    if extended:  # SPEC §11.1
        assert h.header_size == 35 and h.palette_size == 0
        assert h.setting == (0 if setting == "default" else 1)
    else:
        assert h.header_size == 32 + 2 * h.palette_size
        # SPEC §8.2: the palette holds the (up to) 8 most frequent values, no repeats.
        assert h.palette_size == min(8, len(np.unique(q)))
        assert len(set(h.palette)) == h.palette_size
        assert set(h.palette) <= set(np.unique(q).tolist())

    ints = decoded.integers
    assert ints.dtype == np.uint16 and ints.shape == x32.shape
    np.testing.assert_array_equal(ints.astype(np.int64), q)

    expected = dequantize(q, bits, mn, mx)
    for floats in (decoded.floats(), impl.decode(stream)):
        assert floats.dtype == np.float32 and floats.shape == x32.shape
        np.testing.assert_array_equal(floats.view(np.uint32), expected.view(np.uint32))
    return stream


def decoder_bit_pos(enc: Any) -> int:
    """Where the arithmetic decoder's read position (``bit_pos``) stands once it has
    decoded every bin that the encoder ``enc`` has coded so far (SPEC §7.4, §7.6).

    The decoder reads 9 bits to start and one bit per renormalization shift or
    bypass bin; the encoder makes one shift per bit it emits, holds outstanding or
    drops (the first). Valid between bins, not after the final flush.
    """
    shifts = len(enc.bits) + enc.bitsOutstanding + (0 if enc.firstBitFlag else 1)
    return 9 + shifts


def real_files() -> list[Path]:
    """tests/data's crops and, where ../shared is beside the checkout, the first and
    last whole tensor of each shared corpus (the differential tests' real inputs)."""
    files = sorted(DATA_DIR.glob("*.npy"))
    for corpus in ("corpus", "corpus_leaky"):
        found = sorted((SHARED_DIR / corpus).glob("*.npy"))
        files += found[:1] + found[-1:]
    return files


def fit_shape(c: int, h: int, w: int, max_values: int) -> tuple[int, int, int]:
    """Halve C first, then the longer of H and W, until C*H*W <= max_values."""
    while c * h * w > max_values:
        if c > 1:
            c = max(1, c // 2)
        elif h >= w:
            h = max(1, h // 2)
        else:
            w = max(1, w // 2)
    return c, h, w


def conformance_payloads(profile: int) -> Iterator[tuple[str, Any, bytes]]:
    """(name, header, payload) of each valid conformance vector of ``profile``."""
    from dfc.reference.header import read_header

    folder = REPO_ROOT / "conformance_streams"
    for entry in json.loads((folder / "manifest.json").read_text())["valid"]:
        data = (folder / entry["files"]["stream"]["path"]).read_bytes()
        header = read_header(data)
        if header.profile == profile:
            yield entry["name"], header, data[header.header_size: header.header_size + header.payload_size]
