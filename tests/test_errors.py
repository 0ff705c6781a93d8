"""Rejection of broken streams (SPEC §9, Table 10) and of bad encoder input (SPEC §8.1).

One test per decoder error code, named after the rule, each on a stream crafted
to break that rule and no earlier one. Headers are packed here with struct from
SPEC §3.2's field offsets (independently of reference/header.py); payloads that
must break a payload rule are coded by driving the reference arithmetic encoder
with the syntax writers, and framed with reference/header.frame_stream.
"""

from __future__ import annotations

import functools
import random
import signal
import struct
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from conftest import conformance_payloads, decoder_bit_pos, is_reference, load_data

import dfc.reference
from dfc.errors import DecodeError, TruncatedStreamError
from dfc.reference.cabac import ArithmeticEncoder, ContextModel
from dfc.reference.header import Header, frame_stream, write_header
from dfc.reference.state import PayloadState
from dfc.reference.syntax import write_pred_mode, write_residual_block, write_skip_flag
from dfc.reference.tables import MODE_HOR, MODE_PAL

MAGIC = b"\x89DFC"
Encoder = Callable[[Any, list[ContextModel]], None]


def header_bytes(*, magic: bytes = MAGIC, version: int = 1, profile: int = 0, bit_depth: int = 8,
                 palette_size: int | None = None, channels: int = 1, height: int = 1, width: int = 1,
                 min_value: float = 0.0, max_value: float = 1.0, payload_size: int = 0,
                 palette: tuple[int, ...] = (0,)) -> bytes:
    """stream_header() of SPEC §3.2, packed field by field (big-endian)."""
    if palette_size is None:
        palette_size = len(palette)
    fixed = struct.pack(">BBBBIIIffI", version, profile, bit_depth, palette_size, channels,
                        height, width, min_value, max_value, payload_size)
    return magic + fixed + b"".join(struct.pack(">H", p) for p in palette)


def with_crc(body: bytes) -> bytes:
    return body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def expect_error(impl: ModuleType, data: bytes, code: str, offset: int, *, truncated: bool = False) -> DecodeError:
    """Both decoder entry points reject ``data`` with ``code`` at ``offset``; a
    truncation is a TruncatedStreamError, nothing else is. The fast decoder must
    also agree with the reference on the SPEC section."""
    for decode in (impl.decode_stream, impl.decode):
        with pytest.raises(DecodeError) as info:
            decode(data)
        err = info.value
        assert isinstance(err, ValueError)
        assert (err.code, err.offset) == (code, offset), str(err)
        assert isinstance(err, TruncatedStreamError) == truncated
    if not is_reference(impl):
        with pytest.raises(DecodeError) as ref:
            dfc.reference.decode_stream(data)
        assert err.section == ref.value.section
    return err


def small_stream(seed: int = 0, shape: tuple[int, int, int] = (2, 5, 6)) -> bytes:
    """A valid stream of a crop of a real leaky-ReLU tensor."""
    x = load_data("yolofastest_xl-deep-kodim02-c64.npy")
    c, h, w = shape
    return dfc.reference.encode(x[seed:seed + c, :h, :w], bits=8)


@functools.lru_cache(maxsize=64)
def parts(stream: bytes) -> tuple[Header, bytes]:
    """The header and the payload of a stream."""
    header = dfc.reference.read_header(stream)
    return header, stream[header.header_size:header.header_size + header.payload_size]


def reframe(header: Header, payload: bytes) -> bytes:
    """The same header with a new payload (payload_size and CRC fixed)."""
    fields = {**header.__dict__, "payload_size": len(payload)}
    return frame_stream(Header(**fields), payload)


def tensor_1x1(bit_depth: int, palette: tuple[int, ...] = (0,)) -> Header:
    return Header(format_version=1, profile=0, bit_depth=bit_depth, channels=1, height=1, width=1,
                  min_value=0.0, max_value=1.0, payload_size=0, palette=palette)


class Snapshots:
    """A bin sink that codes through ``enc`` and records, after each bin, its kind,
    value and where the decoder's read position will then be."""

    def __init__(self, enc: ArithmeticEncoder) -> None:
        self.enc = enc
        self.after: list[tuple[str, int, int]] = []

    def encode_decision(self, ctx: ContextModel, bin_val: int) -> None:
        self.enc.encode_decision(ctx, bin_val)
        self.after.append(("ctx", bin_val, decoder_bit_pos(self.enc)))

    def encode_bypass(self, bin_val: int) -> None:
        self.enc.encode_bypass(bin_val)
        self.after.append(("bypass", bin_val, decoder_bit_pos(self.enc)))


def code_1x1_block(mode: int, residual: int) -> tuple[ArithmeticEncoder, Snapshots]:
    """The payload of a 1x1x1 tensor, palette_size 1, up to the end of its only
    block: mode (the MPM is Pal), skip_flag, residual (StatCoeff 0)."""
    enc = ArithmeticEncoder()
    sink = Snapshots(enc)
    state = PayloadState.initial((0,))
    write_pred_mode(sink, state, mode, MODE_PAL)
    write_skip_flag(sink, state, 0 if residual else 1, 0)
    if residual:
        res = [[0] * 4 for _ in range(4)]
        res[0][0] = residual
        write_residual_block(sink, state, mode, [(0, 0)], res)
    return enc, sink


def finish(enc: ArithmeticEncoder) -> bytes:
    enc.encode_terminate(1)
    return enc.payload()


# --- SPEC §3.2-3.3 header ------------------------------------------------------

def test_header_layout_matches_the_reference_writer() -> None:
    h = Header(format_version=1, profile=0, bit_depth=12, channels=70000, height=3, width=65536,
               min_value=-0.5, max_value=6.0, payload_size=123456, palette=(4095, 0, 17))
    assert write_header(h) == header_bytes(
        bit_depth=12, channels=70000, height=3, width=65536, min_value=-0.5, max_value=6.0,
        payload_size=123456, palette=(4095, 0, 17))


@pytest.mark.parametrize("magic", [b"\x89DFX", b"DFC\x89", b"\x89PNG", b"\x00\x00\x00\x00"])
def test_rejects_bad_magic(impl: ModuleType, magic: bytes) -> None:
    expect_error(impl, header_bytes(magic=magic), "bad_magic", 0)


@pytest.mark.parametrize("length", [0, 1, 3, 4, 5, 20, 31, 32, 33])
def test_rejects_truncated_header(impl: ModuleType, length: int) -> None:
    # palette_size 2: the header is 36 bytes; every cut inside it is reported at its end.
    data = header_bytes(palette=(0, 1), channels=2)[:length]
    expect_error(impl, data, "truncated_header", length, truncated=True)


@pytest.mark.parametrize("version", [0, 2, 255])
def test_rejects_unsupported_version(impl: ModuleType, version: int) -> None:
    expect_error(impl, header_bytes(version=version, profile=7), "unsupported_version", 4)


@pytest.mark.parametrize("profile", [2, 255])
def test_rejects_unsupported_profile(impl: ModuleType, profile: int) -> None:
    expect_error(impl, header_bytes(profile=profile, bit_depth=0), "unsupported_profile", 5)


@pytest.mark.parametrize("bit_depth", [0, 17, 255])
def test_rejects_bad_bit_depth(impl: ModuleType, bit_depth: int) -> None:
    expect_error(impl, header_bytes(bit_depth=bit_depth, palette_size=0), "bad_bit_depth", 6)


@pytest.mark.parametrize(("bit_depth", "palette_size", "shape"), [
    (8, 0, (1, 1, 1)),    # no palette
    (8, 9, (4, 4, 4)),    # above MAX_PALETTE_SIZE
    (1, 3, (4, 4, 4)),    # above 2^n = 2
    (2, 5, (4, 4, 4)),    # above 2^n = 4
    (8, 5, (1, 2, 2)),    # above C*H*W = 4 (checked after the dimensions)
])
def test_rejects_bad_palette_size(impl: ModuleType, bit_depth: int, palette_size: int,
                                  shape: tuple[int, int, int]) -> None:
    c, h, w = shape
    data = header_bytes(bit_depth=bit_depth, palette_size=palette_size, channels=c, height=h,
                        width=w, palette=tuple(range(palette_size)))
    expect_error(impl, data, "bad_palette_size", 7)


@pytest.mark.parametrize(("bit_depth", "palette_size", "shape"), [
    (1, 2, (1, 1, 2)), (3, 8, (2, 2, 2)), (16, 8, (1, 1, 8)),
])
def test_accepts_palette_size_at_its_limits(impl: ModuleType, bit_depth: int, palette_size: int,
                                            shape: tuple[int, int, int]) -> None:
    c, h, w = shape
    data = header_bytes(bit_depth=bit_depth, channels=c, height=h, width=w,
                        palette=tuple(range(palette_size)))
    # The header passes; the stream then ends where the payload should start.
    expect_error(impl, data, "truncated_payload", len(data), truncated=True)


@pytest.mark.parametrize(("field", "value", "offset"), [
    ("channels", 0, 8),
    ("height", 0, 12),
    ("width", 0, 16),
    ("channels", (1 << 24) + 1, 8),
    ("height", (1 << 24) + 1, 12),
    ("width", 0xFFFFFFFF, 16),
])
def test_rejects_bad_dimensions(impl: ModuleType, field: str, value: int, offset: int) -> None:
    expect_error(impl, header_bytes(**{field: value}), "bad_dimensions", offset)


def test_accepts_dimension_of_2_to_the_24(impl: ModuleType) -> None:
    data = header_bytes(channels=1 << 24)
    expect_error(impl, data, "truncated_payload", len(data), truncated=True)


def test_rejects_too_many_values(impl: ModuleType) -> None:
    # 2^10 * 2^10 * 2^9 = 2^29 > MAX_VALUES = 2^28
    expect_error(impl, header_bytes(channels=1 << 10, height=1 << 10, width=1 << 9),
                 "too_many_values", 8)


def test_accepts_exactly_max_values_without_allocating(impl: ModuleType) -> None:
    data = header_bytes(channels=1 << 10, height=1 << 10, width=1 << 8)  # 2^28
    expect_error(impl, data, "truncated_payload", len(data), truncated=True)


@pytest.mark.parametrize(("min_value", "max_value", "offset"), [
    (float("nan"), 1.0, 20),
    (float("-inf"), 1.0, 20),
    (0.0, float("inf"), 24),
    (0.0, float("nan"), 24),
    (float("nan"), float("nan"), 20),
    (2.0, 1.0, 24),      # min_value > max_value: found when max_value is read
    (-0.0, -1e-45, 24),  # the smallest gap below zero, the wrong way round
])
def test_rejects_bad_min_max(impl: ModuleType, min_value: float, max_value: float, offset: int) -> None:
    data = header_bytes(min_value=min_value, max_value=max_value, palette=(300,))
    expect_error(impl, data, "bad_min_max", offset)


@pytest.mark.parametrize(("bit_depth", "palette", "offset"), [
    (8, (0, 256), 34),       # palette[1] > L = 255
    (1, (2,), 32),           # palette[0] > L = 1
    (16, (7, 65535, 7), 36),  # palette[2] repeats palette[0]
    (8, (3, 5, 5, 900), 36),  # the repeat comes before the value out of range
])
def test_rejects_bad_palette(impl: ModuleType, bit_depth: int, palette: tuple[int, ...], offset: int) -> None:
    data = header_bytes(bit_depth=bit_depth, channels=4, palette=palette)
    expect_error(impl, data, "bad_palette", offset)


@pytest.mark.parametrize(("data", "code", "offset"), [
    # SPEC §3.3: fields are checked "as soon as read"; §9: the first rule broken in
    # stream order is reported. Each field below is complete and wrong before the cut.
    (header_bytes(version=2)[:10], "unsupported_version", 4),
    (header_bytes(channels=0)[:14], "bad_dimensions", 8),
    (header_bytes(palette=(0, 0, 1), channels=4)[:36], "bad_palette", 34),
], ids=["version", "channels", "palette"])
def test_rejects_broken_field_before_reporting_truncation(impl: ModuleType, data: bytes, code: str,
                                                          offset: int) -> None:
    expect_error(impl, data, code, offset)


# --- SPEC §3.4 length and integrity --------------------------------------------

def test_rejects_truncated_payload(impl: ModuleType) -> None:
    stream = small_stream()
    header, _ = parts(stream)
    for cut in (len(stream) - 1, len(stream) - 4, header.header_size + 1, header.header_size):
        expect_error(impl, stream[:cut], "truncated_payload", cut, truncated=True)


def test_rejects_trailing_data(impl: ModuleType) -> None:
    stream = small_stream()
    expect_error(impl, stream + b"\x00", "trailing_data", len(stream))
    expect_error(impl, stream + stream, "trailing_data", len(stream))


def test_rejects_crc_mismatch(impl: ModuleType) -> None:
    stream = small_stream()
    header, _ = parts(stream)
    crc_at = len(stream) - 4
    for position in (crc_at, len(stream) - 1, header.header_size, 20):  # CRC, payload, min_value
        data = bytearray(stream)
        data[position] ^= 0x10
        expect_error(impl, bytes(data), "crc_mismatch", crc_at)


# --- SPEC §5, §6, §7 payload ---------------------------------------------------

@pytest.mark.parametrize("payload", [b"\xff\x80", b"\xff\x00", b"\xff\xff\xff\xff"])
def test_rejects_bad_arith_init(impl: ModuleType, payload: bytes) -> None:
    # The first 9 bits are 511, 510, 511: ivlOffset must be below 510.
    header = tensor_1x1(8)
    expect_error(impl, reframe(header, payload), "bad_arith_init", header.header_size)


def test_rejects_payload_overrun(impl: ModuleType) -> None:
    header = tensor_1x1(8)
    start = header.header_size
    # No payload at all: the initial read_bits(9) runs out.
    expect_error(impl, reframe(header, b""), "payload_overrun", start, truncated=True)
    # One byte: 8 bits read, the 9th is missing.
    expect_error(impl, reframe(header, b"\x00"), "payload_overrun", start + 1, truncated=True)
    # A real payload without its last byte (which holds the end of the arithmetic code).
    stream = small_stream()
    header, payload = parts(stream)
    short = reframe(header, payload[:-1])
    expect_error(impl, short, "payload_overrun", header.header_size + len(payload) - 1, truncated=True)


def test_rejects_remainder_prefix_too_long(impl: ModuleType) -> None:
    # Residual 2^30 at 16 bits: gt1, gt2, sign, then abs_remaining 2^30 - 3 with
    # Rice 0, whose prefix is 4 + 27 ones. The decoder stops at the 25th one.
    enc, sink = code_1x1_block(MODE_PAL, 1 << 30)
    payload = finish(enc)
    bypass = [(value, pos) for kind, value, pos in sink.after if kind == "bypass"]
    assert [value for value, _ in bypass[:28]] == [1] * 28
    at_25th_one = bypass[24][1]
    header = tensor_1x1(16)
    expect_error(impl, reframe(header, payload), "remainder_prefix_too_long",
                 header.header_size + at_25th_one // 8)


@pytest.mark.parametrize(("bit_depth", "residual"), [
    (1, 2),    # gt1 = 1, gt2 = 0: magnitude 2 > L = 1, known without abs_remaining
    (1, -2),
    (2, 7),    # 3 + abs_remaining 4 > L = 3
    (16, 65536),
])
def test_rejects_residual_out_of_range(impl: ModuleType, bit_depth: int, residual: int) -> None:
    enc, sink = code_1x1_block(MODE_PAL, residual)
    after_block = sink.after[-1][2]
    header = tensor_1x1(bit_depth)
    expect_error(impl, reframe(header, finish(enc)), "residual_out_of_range",
                 header.header_size + after_block // 8)


@pytest.mark.parametrize(("bit_depth", "palette", "mode", "residual"), [
    (1, (0,), MODE_PAL, -1),     # 0 - 1 < 0
    (1, (1,), MODE_PAL, 1),      # 1 + 1 > L = 1
    (8, (255,), MODE_HOR, 1),    # Hor at x = 0 predicts PalPred: 255 + 1 > 255
    (16, (0,), MODE_PAL, -65535),
])
def test_rejects_sample_out_of_range(impl: ModuleType, bit_depth: int, palette: tuple[int, ...],
                                     mode: int, residual: int) -> None:
    enc, sink = code_1x1_block(mode, residual)
    after_block = sink.after[-1][2]
    header = tensor_1x1(bit_depth, palette)
    expect_error(impl, reframe(header, finish(enc)), "sample_out_of_range",
                 header.header_size + after_block // 8)


def test_rejects_missing_end_of_payload(impl: ModuleType) -> None:
    # 1x1x1 tile in Pal, skipped: mpm_flag 1 and skip_flag 1 are both LPSs from
    # state 0 (range 510 -> 240 -> one shift each), then end_of_payload = 0
    # (range 478, no shift): the decoder stands at bit 9 + 2 = 11, byte 1.
    enc, _ = code_1x1_block(MODE_PAL, 0)
    enc.encode_terminate(0)
    assert decoder_bit_pos(enc) == 11
    header = tensor_1x1(8)
    expect_error(impl, reframe(header, finish(enc)), "missing_end_of_payload", header.header_size + 1)


def clear_final_bit(payload: bytes) -> tuple[bytes, int]:
    """The payload with its last 1 bit (the flush's final 1, SPEC §7.6.4) cleared,
    and the index of the byte that held it."""
    data = bytearray(payload)
    i = max(k for k, byte in enumerate(data) if byte)
    data[i] &= data[i] - 1
    return bytes(data), i


def test_rejects_a_final_bit_of_zero(impl: ModuleType) -> None:
    # 1x1x1 Pal tile, skipped (two LPS bins), then end_of_payload = 1 from offset
    # 478 or 479: the encoder writes 479, whose last bit is the final 1; with it
    # cleared the decoder still reads end_of_payload = 1, from offset 478.
    enc, _ = code_1x1_block(MODE_PAL, 0)
    payload, i = clear_final_bit(finish(enc))
    header = tensor_1x1(8)
    expect_error(impl, reframe(header, payload), "bad_final_bit", header.header_size + i)


def test_each_stream_has_one_byte_form(impl: ModuleType) -> None:
    """SPEC §5.1: clearing the final 1 of any valid profile-0 vector gives a stream
    that is rejected, mostly for its final bit (the rest read end_of_payload as 0)."""
    codes = []
    for name, header, payload in conformance_payloads(profile=0):
        cleared, i = clear_final_bit(payload)
        with pytest.raises(DecodeError) as info:
            impl.decode_stream(reframe(header, cleared))
        assert info.value.code in ("bad_final_bit", "missing_end_of_payload"), (name, str(info.value))
        if info.value.code == "bad_final_bit":
            assert info.value.offset == header.header_size + i, name
        codes.append(info.value.code)
    assert codes.count("bad_final_bit") >= len(codes) // 2, codes


@pytest.mark.parametrize("extra", [b"\x00", b"\x80\x00", b"\xff"])
def test_rejects_payload_unused_bytes(impl: ModuleType, extra: bytes) -> None:
    header, payload = parts(small_stream())
    expect_error(impl, reframe(header, payload + extra), "payload_unused_bytes",
                 header.header_size + len(payload))


def padded_streams() -> Iterator[tuple[Header, bytes, int]]:
    """Valid (header, payload, padding bit count) with 1..7 alignment zero bits."""
    for seed in range(40):
        header, payload = parts(small_stream(seed, (1, 3 + seed % 4, 4)))
        last = payload[-1]
        padding = (last & -last).bit_length() - 1  # zero bits after the final 1 (the stop bit)
        yield header, payload, padding


def set_bit(payload: bytes, bit_index: int) -> bytes:
    data = bytearray(payload)
    data[bit_index // 8] |= 0x80 >> (bit_index % 8)
    return bytes(data)


def test_rejects_nonzero_padding(impl: ModuleType) -> None:
    # The first alignment bit, when it is not the last bit of its byte.
    header, payload, padding = next(s for s in padded_streams() if s[2] >= 2)
    first_padding_bit = 8 * len(payload) - padding
    data = reframe(header, set_bit(payload, first_padding_bit))
    expect_error(impl, data, "nonzero_padding", header.header_size + len(payload) - 1)


def test_nonzero_padding_offset_is_the_byte_holding_the_bit(impl: ModuleType) -> None:
    # SPEC Table 10: nonzero_padding is reported at "that byte", the byte holding
    # the alignment bit equal to 1. Here that bit is the payload's very last bit.
    header, payload, _ = next(s for s in padded_streams() if s[2] >= 1)
    data = reframe(header, set_bit(payload, 8 * len(payload) - 1))
    expect_error(impl, data, "nonzero_padding", header.header_size + len(payload) - 1)


# --- SPEC §8.1 encoder input ----------------------------------------------------

GOOD = np.zeros((2, 3, 4), dtype=np.float32)


@pytest.mark.parametrize(("tensor", "match"), [
    (np.full((1, 2, 2), np.nan, dtype=np.float32), r"(?i)nan"),
    (np.array([[[1.0, np.nan]]]), r"(?i)nan"),
    (np.array([[[1.0, np.inf]]], dtype=np.float32), r"(?i)inf"),
    (np.array([[[-np.inf, 0.0]]]), r"(?i)inf"),
    (np.array([[[1e39, 0.0]]]), r"(?i)float32"),          # float64 beyond float32
    (np.array([[[-1e300]]]), r"(?i)float32"),
    (np.zeros((3, 4), dtype=np.float32), r"(?i)dimension"),
    (np.zeros((1, 2, 3, 4), dtype=np.float32), r"(?i)dimension"),
    (np.zeros((0, 3, 4), dtype=np.float32), r"(?i)empty"),
    (np.zeros((2, 0, 4), dtype=np.float32), r"(?i)empty"),
    (np.zeros((1, 2, 2), dtype=np.complex64), r"(?i)numeric|dtype|complex"),
    (np.zeros((1, 2, 2), dtype=object), r"(?i)numeric|dtype|object"),
    (np.full((1, 2, 2), "a"), r"(?i)numeric|dtype|str"),
], ids=["nan32", "nan64", "inf32", "-inf64", "float64-overflow", "float64-overflow-neg", "ndim2",
        "ndim4", "empty-c", "empty-h", "complex", "object", "string"])
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # numpy warns on the float32 overflow
def test_encoder_rejects_bad_tensor(impl: ModuleType, tensor: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        impl.encode(tensor, bits=8)


@pytest.mark.parametrize("bits", [0, 17, -1, True, False, 8.5, 8.0, "8", None])
def test_encoder_rejects_bad_bits(impl: ModuleType, bits: Any) -> None:
    with pytest.raises(ValueError, match="bits"):
        impl.encode(GOOD, bits=bits)


# --- robustness: mutated streams ------------------------------------------------

@contextmanager
def time_limit(seconds: float, what: str) -> Iterator[None]:
    """Fail instead of hanging (POSIX only; elsewhere no limit)."""
    if not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"{what} took over {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def mutate(rng: random.Random, stream: bytes) -> tuple[str, bytes]:
    """One random corruption. Most keep the CRC right, so that the payload parser
    (not the CRC check) meets them. The dimensions are not mutated under a fixed
    CRC: raising them is valid and only makes the decode legitimately longer."""
    header, payload = parts(stream)
    start = header.header_size
    kind = rng.choice(["flip", "truncate", "extend", "payload", "payload", "payload", "payload",
                       "header", "resize"])
    data = bytearray(stream)
    if kind == "flip":  # anywhere, CRC not fixed
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        return kind, bytes(data)
    if kind == "truncate":
        return kind, stream[:rng.randrange(len(stream))]
    if kind == "extend":
        return kind, stream + rng.randbytes(rng.randint(1, 8))
    if kind == "payload":  # bit flips or random bytes in the payload, CRC fixed
        body = bytearray(stream[:start + len(payload)])
        for _ in range(rng.randint(1, 4)):
            i = start + rng.randrange(len(payload))
            body[i] = rng.randrange(256) if rng.random() < 0.3 else body[i] ^ (1 << rng.randrange(8))
        return kind, with_crc(bytes(body))
    if kind == "header":  # version .. palette_size, min/max, palette; CRC fixed
        body = bytearray(stream[:start + len(payload)])
        i = rng.choice([4, 5, 6, 7, 20, 21, 22, 23, 24, 25, 26, 27] + list(range(32, start)))
        body[i] ^= 1 << rng.randrange(8)
        return kind, with_crc(bytes(body))
    # "resize": cut or extend the payload, payload_size and CRC fixed
    if rng.random() < 0.5:
        new = payload[:rng.randrange(len(payload))]
    else:
        new = payload + rng.randbytes(rng.randint(1, 4))
    return kind, reframe(header, new)


MUTATION_SOURCES = [  # (tests/data file, crop, bit depth): small, so each decode is fast
    ("ppocrv4_det-deep-astronaut-c32.npy", np.s_[:3, :6, :7], 8),
    ("effnet_lite0-deep-astronaut-c64.npy", np.s_[5:7, 2:9, 3:8], 4),
    ("yolofastest_xl-deep-kodim02-c64.npy", np.s_[:2, :5, :9], 12),
    ("ppocrv4_det-deep-astronaut-c32.npy", np.s_[8:9, 4:7, :5], 1),
]


def outcome(decode: Callable[[bytes], Any], data: bytes) -> tuple[object, ...]:
    """("error", code, offset, section) or ("ok", result)."""
    try:
        return ("ok", decode(data))
    except DecodeError as err:
        return ("error", err.code, err.offset, err.section)


def test_mutated_streams_decode_or_raise_decode_error(impl: ModuleType) -> None:
    """Whatever the bytes, decode returns a tensor of the header's shape or raises
    DecodeError (SPEC §9) - no other exception, no hang. The fast decoder must
    also give the reference's answer (same code and offset, or same output)."""
    streams = [dfc.reference.encode(load_data(name)[crop], bits=bits) for name, crop, bits in MUTATION_SOURCES]
    rng = random.Random(20240601)
    n = 1500 if is_reference(impl) else 20000
    compared = 0 if is_reference(impl) else 2000  # the reference is the slow side
    outcomes: dict[str, int] = {}
    for i in range(n):
        kind, data = mutate(rng, streams[i % len(streams)])
        what = f"mutation {i} ({kind}) of stream {data.hex()}"
        try:
            with time_limit(10.0, what):
                got = outcome(impl.decode, data)
        except Exception as exc:  # noqa: BLE001 - anything but DecodeError is a decoder bug
            pytest.fail(f"{what} raised {type(exc).__name__}: {exc}")
        if got[0] == "error":
            outcomes[str(got[1])] = outcomes.get(str(got[1]), 0) + 1
        else:
            outcomes["decoded"] = outcomes.get("decoded", 0) + 1
            out = got[1]
            assert isinstance(out, np.ndarray) and out.dtype == np.float32, what
            assert out.shape == dfc.reference.read_header(data).shape, what
        if i < compared:
            expected = outcome(dfc.reference.decode, data)
            if got[0] == "ok" and expected[0] == "ok":
                assert np.array_equal(np.asarray(got[1]).view(np.uint32),
                                      np.asarray(expected[1]).view(np.uint32)), what
            else:
                assert got == expected, what
    # The payload mutations reached the payload parser, not just the CRC check.
    assert sum(outcomes.get(code, 0) for code in (
        "sample_out_of_range", "residual_out_of_range", "missing_end_of_payload",
        "payload_overrun", "payload_unused_bytes", "bad_arith_init")) > n // 10, outcomes
