"""Profile 1, the extended profile (SPEC §11): round trips on both implementations,
byte-identical streams and identical errors between them, the header's new rules,
the one byte form of the range code, and the binarization's limits.

The pure-Python reference codes profile 1 at about 50-150 us per value, so its
tensors stay small; dfc.fast alone takes whole real tensors.
"""

from __future__ import annotations

import random
import struct
import zlib
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from conftest import check_roundtrip, data_files, fit_shape, load_data, real_files
from hypothesis import given
from hypothesis import strategies as st
from test_fast import DISTRIBUTIONS, assert_same_decode, budget, mutate

import dfc.reference
from dfc.errors import DecodeError, TruncatedStreamError
from dfc.reference.quantizer import dequantize, quantize, zero_level
from dfc.reference.tables import EXT_HEADER_SIZE, MAX_SPLIT_OFFSET

SETTINGS = ("default", "fast")
MAX_VALUES = 700  # per generated tensor: the reference must code it quickly

Shape = tuple[int, int, int]


def ext(impl: ModuleType, x: np.ndarray, bits: int, setting: str = "default") -> bytes:
    stream: bytes = impl.encode(x, bits, profile="extended", setting=setting)
    return stream


@st.composite
def small_shapes(draw: st.DrawFn) -> Shape:
    c = draw(st.integers(1, 512))
    h = draw(st.integers(1, 64))
    w = draw(st.integers(1, 64))
    return fit_shape(c, h, w, MAX_VALUES)


def hardswish(draw: st.DrawFn, rng: np.random.Generator, shape: Shape) -> np.ndarray:
    z = rng.normal(draw(st.floats(-2.0, 1.0)), 2.0, shape)
    return (z * np.clip(z + 3, 0, 6) / 6).astype(np.float32)


KINDS = {**DISTRIBUTIONS, "hardswish": hardswish}


# --- round trips on both implementations ------------------------------------------

@pytest.mark.parametrize("setting", SETTINGS)
@pytest.mark.parametrize("kind", list(KINDS))
@budget(6)
@given(data=st.data(), bits=st.integers(1, 16))
def test_roundtrip_extended(impl: ModuleType, setting: str, kind: str, data: st.DataObject, bits: int) -> None:
    shape = data.draw(small_shapes())
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    check_roundtrip(impl, KINDS[kind](data.draw, rng, shape), bits, profile="extended", setting=setting)


@pytest.mark.parametrize("setting", SETTINGS)
@pytest.mark.parametrize("name", data_files())
def test_roundtrip_real_crops(impl: ModuleType, setting: str, name: str) -> None:
    x = load_data(name)[:2, :10, :12]
    for bits in (8, 3):
        check_roundtrip(impl, x, bits, profile="extended", setting=setting)


@pytest.mark.parametrize("bits", [1, 2, 8, 12, 16])
def test_roundtrip_edge_tensors(impl: ModuleType, bits: int) -> None:
    rng = np.random.default_rng(bits)
    cases = [
        np.full((2, 3, 3), 1.5, np.float32),  # constant: every sample in the band
        np.zeros((1, 1, 1), np.float32),
        rng.uniform(-1, 1, (1, 1, 7)).astype(np.float32),  # one row: every neighbour from the edge rules
        rng.uniform(-1, 1, (1, 7, 1)).astype(np.float32),  # one column
        (np.indices((2, 5, 6)).sum(axis=0) % 2).astype(np.float32),  # the largest residuals
        rng.uniform(-1, 1, (3, 4, 5)).astype(np.float32) ** 3,  # dense around the zero level
    ]
    for x in cases:
        for setting in SETTINGS:
            check_roundtrip(impl, x, bits, profile="extended", setting=setting)


def test_escapes_and_split_reach_their_limits(impl: ModuleType) -> None:
    """16-bit noise: magnitudes far past UNARY_LIMIT, so the Exp-Golomb escape and
    the low bits of SPEC §11.6 are exercised; a leaky tensor with a band level above
    UNARY_LIMIT exercises the band depth's escape."""
    rng = np.random.default_rng(5)
    noise = rng.uniform(-1, 1, (1, 6, 6)).astype(np.float32)
    check_roundtrip(impl, noise, 16, profile="extended")
    z = rng.normal(-0.5, 1, (2, 6, 6))
    leaky = np.where(z > 0, z, 0.1 * z).astype(np.float32)
    stream = check_roundtrip(impl, leaky, 12, profile="extended", setting="fast")
    header = impl.decode_stream(stream).header
    assert zero_level(header.min_value, header.max_value, 12) > 24


# --- dfc.fast against the reference -----------------------------------------------

def assert_identical(fast: ModuleType, x: np.ndarray, bits: int, setting: str) -> bytes:
    stream = ext(fast, x, bits, setting)
    assert stream == ext(dfc.reference, x, bits, setting)
    assert assert_same_decode(fast, stream) is None
    return stream


@pytest.mark.parametrize("setting", SETTINGS)
@pytest.mark.parametrize("kind", list(KINDS))
@budget(8)
@given(data=st.data(), bits=st.integers(1, 16))
def test_fast_byte_identical_to_reference(fast: ModuleType, setting: str, kind: str, data: st.DataObject,
                                          bits: int) -> None:
    shape = data.draw(small_shapes())
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    assert_identical(fast, KINDS[kind](data.draw, rng, shape), bits, setting)


@pytest.mark.parametrize("path", real_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_real_features_identical(fast: ModuleType, path: Path) -> None:
    x = np.load(path)
    # the reference on a slice (it is slow) ...
    part = np.ascontiguousarray(x[: max(1, min(x.shape[0], 1500 // (x.shape[1] * x.shape[2])))])
    for setting in SETTINGS:
        assert_identical(fast, part, 8, setting)
    # ... and dfc.fast on the whole tensor against the quantizer (SPEC §4)
    for setting in SETTINGS:
        stream = ext(fast, x, 8, setting)
        decoded = fast.decode_stream(stream)
        q, mn, mx = quantize(x.astype(np.float32), 8)
        np.testing.assert_array_equal(decoded.integers.astype(np.int64), q)
        np.testing.assert_array_equal(fast.decode(stream).view(np.uint32),
                                      dequantize(q, 8, mn, mx).view(np.uint32))


def ext_stream_corpus() -> list[bytes]:
    rng = np.random.default_rng(3)
    z = rng.normal(-0.3, 1, (3, 7, 8))
    return [
        ext(dfc.reference, np.maximum(z, 0).astype(np.float32), 8),
        ext(dfc.reference, np.where(z > 0, z, 0.1 * z).astype(np.float32), 8, "fast"),
        ext(dfc.reference, (z * np.clip(z + 3, 0, 6) / 6).astype(np.float32), 6),
        ext(dfc.reference, rng.uniform(-1, 1, (1, 5, 5)).astype(np.float32), 16),
    ]


@pytest.mark.parametrize("keep_crc_valid", [False, True])
def test_corrupt_streams_same_error_as_reference(fast: ModuleType, keep_crc_valid: bool) -> None:
    rng = random.Random(99 + keep_crc_valid)
    codes: set[str] = set()
    for stream in ext_stream_corpus():
        for _ in range(40):
            code = assert_same_decode(fast, mutate(stream, rng, keep_crc_valid))
            if code is not None:
                codes.add(code)
    assert len(codes) >= 3, codes  # the mutations reach several rules


def test_fuzz_fast_decoder_only_raises_decode_error(fast: ModuleType) -> None:
    """Random payloads behind valid profile 1 headers of every setting and band
    mode: dfc.fast returns a tensor of the header's shape or raises DecodeError
    (the AddressSanitizer run repeats this test on an instrumented build)."""
    rng = random.Random(7)
    outcomes = {"ok": 0, "error": 0}
    for i in range(400):
        bits = rng.choice([1, 4, 8, 12, 16])
        c, h, w = rng.randint(1, 4), rng.randint(1, 9), rng.randint(1, 9)
        band = rng.random() < 0.5
        payload = bytes(rng.randrange(256) for _ in range(rng.randint(0, 60)))
        stream = with_crc(ext_header(bits=bits, channels=c, height=h, width=w, setting=i % 2,
                                     band_flag=int(band and bits > 1), split_offset=rng.randint(0, 15),
                                     min_value=-1.0 if band else 0.0, payload_size=len(payload)) + payload)
        try:
            out = fast.decode_stream(stream)
        except DecodeError:
            outcomes["error"] += 1
            continue
        outcomes["ok"] += 1
        assert out.integers.shape == (c, h, w)
        assert int(out.integers.max()) <= (1 << bits) - 1
    assert outcomes["error"] > 0


# --- SPEC §11.1 header rules ------------------------------------------------------

def ext_header(*, bits: int = 8, channels: int = 1, height: int = 1, width: int = 1,
               min_value: float = -1.0, max_value: float = 1.0, payload_size: int = 0,
               palette_size: int = 0, setting: int = 0, band_flag: int = 0, split_offset: int = 0) -> bytes:
    """A profile 1 stream_header() packed from SPEC §3.2 and §11.1 (not by the
    reference's writer)."""
    return (b"\x89DFC" + struct.pack(">BBBBIIIffI", 1, 1, bits, palette_size, channels, height, width,
                                     min_value, max_value, payload_size)
            + bytes([setting, band_flag, split_offset]))


def with_crc(body: bytes) -> bytes:
    return body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def expect_error(impl: ModuleType, data: bytes, code: str, offset: int) -> DecodeError:
    with pytest.raises(DecodeError) as info:
        impl.decode_stream(data)
    assert (info.value.code, info.value.offset) == (code, offset), str(info.value)
    return info.value


def test_header_size_and_writer_layout() -> None:
    stream = ext(dfc.reference, np.linspace(-1, 1, 12, dtype=np.float32).reshape(1, 3, 4), 8, "fast")
    h = dfc.reference.read_header(stream)
    assert h.header_size == EXT_HEADER_SIZE == 35
    # SPEC §11.12: a zero level inside the range; no band -> 6, a band in setting 1 -> 3
    assert (h.band_flag, h.split_offset) in ((0, 6), (1, 3))
    assert stream[:EXT_HEADER_SIZE] == ext_header(height=3, width=4, min_value=h.min_value,
                                                  max_value=h.max_value, payload_size=h.payload_size,
                                                  setting=1, band_flag=h.band_flag, split_offset=h.split_offset)


def test_rejects_palette_in_profile_1(impl: ModuleType) -> None:
    expect_error(impl, with_crc(ext_header(palette_size=1)), "bad_palette_size", 7)


@pytest.mark.parametrize("setting", [2, 255])
def test_rejects_unknown_setting(impl: ModuleType, setting: int) -> None:
    expect_error(impl, with_crc(ext_header(setting=setting)), "bad_setting", 32)


def test_rejects_band_flag_without_a_zero_level(impl: ModuleType) -> None:
    # min_value 0: no zero level inside the range, so no band
    expect_error(impl, with_crc(ext_header(min_value=0.0, band_flag=1)), "bad_band_flag", 33)
    expect_error(impl, with_crc(ext_header(band_flag=2)), "bad_band_flag", 33)
    # min -1e-30, max 1: 0.0 quantizes to 0, so qz = 0 and no band either
    expect_error(impl, with_crc(ext_header(min_value=-1e-30, band_flag=1)), "bad_band_flag", 33)


def test_rejects_split_offset_above_limit(impl: ModuleType) -> None:
    expect_error(impl, with_crc(ext_header(split_offset=MAX_SPLIT_OFFSET + 1)), "bad_split_offset", 34)


def test_truncated_inside_profile_1_fields(impl: ModuleType) -> None:
    body = ext_header()
    for cut in (32, 33, 34):
        err = expect_error(impl, body[:cut], "truncated_header", cut)
        assert isinstance(err, TruncatedStreamError)


# --- SPEC §11.10 the one byte form of the range code ---------------------------------

def payload_of(stream: bytes) -> tuple[bytes, bytes]:
    h = dfc.reference.read_header(stream)
    return stream[: h.header_size], stream[h.header_size:h.header_size + h.payload_size]


def reframed(head: bytes, payload: bytes) -> bytes:
    head = head[:28] + struct.pack(">I", len(payload)) + head[32:]
    return with_crc(head + payload)


@pytest.mark.parametrize("setting", SETTINGS)
def test_every_other_final_byte_is_rejected(impl: ModuleType, setting: str) -> None:
    """The decoder ends with code 0 having read every byte: changing the last
    byte to any other value is an error, so a tensor has one stream."""
    x = np.maximum(np.random.default_rng(1).normal(size=(2, 5, 5)), 0).astype(np.float32)
    head, payload = payload_of(ext(dfc.reference, x, 8, setting))
    for value in range(256):
        if value == payload[-1]:
            continue
        data = reframed(head, payload[:-1] + bytes([value]))
        with pytest.raises(DecodeError) as info:
            impl.decode_stream(data)
        assert info.value.code in ("bad_final_code", "residual_out_of_range", "remainder_prefix_too_long",
                                   "payload_unused_bytes", "payload_overrun")


def test_final_code_and_length_rules(impl: ModuleType) -> None:
    x = np.maximum(np.random.default_rng(2).normal(size=(1, 4, 4)), 0).astype(np.float32)
    head, payload = payload_of(ext(dfc.reference, x, 8))
    start = len(head)
    expect_error(impl, reframed(head, payload + b"\x00"), "payload_unused_bytes", start + len(payload))
    err = expect_error(impl, reframed(head, payload[:-1]), "payload_overrun", start + len(payload) - 1)
    assert isinstance(err, TruncatedStreamError)
    expect_error(impl, reframed(head, b""), "payload_overrun", start)
