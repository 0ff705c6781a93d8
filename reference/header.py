"""Stream header and stream framing: SPEC §3.

A stream is ``header || payload || crc32``; the header is byte-aligned and
big-endian, read and written with bitstring using SPEC §2's descriptors
(``u(n)`` unsigned, ``f(32)`` IEEE-754 binary32).
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass
from typing import Callable

from bitstring import BitStream, ConstBitStream

from dfc.errors import DecodeError, TruncatedStreamError

from .tables import (
    CRC_SIZE,
    FIXED_HEADER_SIZE,
    FORMAT_VERSION,
    MAGIC,
    MAX_BIT_DEPTH,
    MAX_DIMENSION,
    MAX_PALETTE_SIZE,
    MAX_VALUES,
    MIN_BIT_DEPTH,
    PROFILE_BASELINE,
)

#: Called once per header field with (byte offset, name, value).
HeaderTracer = Callable[[int, str, object], None]


@dataclass(frozen=True)
class Header:
    """SPEC §3.2 stream_header() fields."""

    format_version: int
    profile: int
    bit_depth: int
    channels: int
    height: int
    width: int
    min_value: float
    max_value: float
    payload_size: int
    palette: tuple[int, ...]

    @property
    def palette_size(self) -> int:
        return len(self.palette)

    @property
    def header_size(self) -> int:
        """Bytes before the payload (SPEC §3.2)."""
        return FIXED_HEADER_SIZE + 2 * len(self.palette)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.height, self.width)


def write_header(header: Header) -> bytes:
    """SPEC §3.2 stream_header(), written."""
    s = BitStream()
    s.append(MAGIC)
    s.append(f"uint8={header.format_version}")
    s.append(f"uint8={header.profile}")
    s.append(f"uint8={header.bit_depth}")
    s.append(f"uint8={header.palette_size}")
    s.append(f"uint32={header.channels}")
    s.append(f"uint32={header.height}")
    s.append(f"uint32={header.width}")
    s.append(struct.pack(">f", header.min_value))
    s.append(struct.pack(">f", header.max_value))
    s.append(f"uint32={header.payload_size}")
    for value in header.palette:
        s.append(f"uint16={value}")
    return s.tobytes()


def _need(data: bytes, size: int, what: str) -> None:
    if len(data) < size:
        raise TruncatedStreamError(
            "truncated_header", len(data), "3.2",
            f"stream ends inside the header ({what}): {len(data)} bytes, need {size}",
        )


def _reject(code: str, offset: int, message: str) -> DecodeError:
    return DecodeError(code, offset, "3.3", message)


def read_header(data: bytes, trace: HeaderTracer | None = None) -> Header:
    """SPEC §3.2 stream_header(), read and checked against SPEC §3.3's limits.

    Fields are checked in stream order, so the first broken rule is reported.
    """
    emit: HeaderTracer = trace if trace is not None else (lambda off, name, val: None)
    _need(data, len(MAGIC), "magic")
    if data[: len(MAGIC)] != MAGIC:
        raise _reject("bad_magic", 0, f"not a dfc stream: magic {data[:4]!r}")
    emit(0, "magic", data[:4].hex())
    _need(data, FIXED_HEADER_SIZE, "fixed fields")
    s = ConstBitStream(data[:FIXED_HEADER_SIZE])
    s.pos = 8 * len(MAGIC)

    version = s.read("uint8")
    emit(4, "format_version", version)
    if version != FORMAT_VERSION:
        raise _reject("unsupported_version", 4, f"format_version {version} is not {FORMAT_VERSION}")
    profile = s.read("uint8")
    emit(5, "profile", profile)
    if profile != PROFILE_BASELINE:
        raise _reject("unsupported_profile", 5, f"profile {profile} is not supported (baseline is 0)")
    bit_depth = s.read("uint8")
    emit(6, "bit_depth", bit_depth)
    if not MIN_BIT_DEPTH <= bit_depth <= MAX_BIT_DEPTH:
        raise _reject("bad_bit_depth", 6, f"bit_depth {bit_depth} outside {MIN_BIT_DEPTH}..{MAX_BIT_DEPTH}")
    palette_size = s.read("uint8")
    emit(7, "palette_size", palette_size)
    if not 1 <= palette_size <= min(MAX_PALETTE_SIZE, 1 << bit_depth):
        raise _reject("bad_palette_size", 7, f"palette_size {palette_size} outside 1..{min(MAX_PALETTE_SIZE, 1 << bit_depth)}")

    dims = []
    for offset, name in ((8, "channels"), (12, "height"), (16, "width")):
        value = s.read("uint32")
        emit(offset, name, value)
        if not 1 <= value <= MAX_DIMENSION:
            raise _reject("bad_dimensions", offset, f"{name} {value} outside 1..{MAX_DIMENSION}")
        dims.append(value)
    channels, height, width = dims
    if channels * height * width > MAX_VALUES:
        raise _reject("too_many_values", 8, f"C*H*W = {channels * height * width} exceeds {MAX_VALUES}")
    if palette_size > channels * height * width:
        raise _reject("bad_palette_size", 7, f"palette_size {palette_size} exceeds the {channels * height * width} values")

    min_value = struct.unpack(">f", s.read("bytes4"))[0]
    emit(20, "min_value", min_value)
    max_value = struct.unpack(">f", s.read("bytes4"))[0]
    emit(24, "max_value", max_value)
    for offset, name, value in ((20, "min_value", min_value), (24, "max_value", max_value)):
        if not math.isfinite(value):
            raise _reject("bad_min_max", offset, f"{name} is {value}, not finite")
    if min_value > max_value:
        raise _reject("bad_min_max", 20, f"min_value {min_value} exceeds max_value {max_value}")
    payload_size = s.read("uint32")
    emit(28, "payload_size", payload_size)

    header_size = FIXED_HEADER_SIZE + 2 * palette_size
    _need(data, header_size, "palette")
    p = ConstBitStream(data[FIXED_HEADER_SIZE:header_size])
    palette = []
    level = (1 << bit_depth) - 1
    for i in range(palette_size):
        offset = FIXED_HEADER_SIZE + 2 * i
        value = p.read("uint16")
        emit(offset, f"palette[{i}]", value)
        if value > level:
            raise _reject("bad_palette", offset, f"palette[{i}] = {value} exceeds 2^bit_depth - 1 = {level}")
        if value in palette:
            raise _reject("bad_palette", offset, f"palette[{i}] = {value} repeats an earlier entry")
        palette.append(value)

    return Header(
        format_version=version, profile=profile, bit_depth=bit_depth,
        channels=channels, height=height, width=width,
        min_value=min_value, max_value=max_value,
        payload_size=payload_size, palette=tuple(palette),
    )


def crc32(data: bytes) -> int:
    """SPEC §3.4: CRC-32 (ISO-HDLC, as zlib and PNG compute it)."""
    return zlib.crc32(data) & 0xFFFFFFFF


def check_framing(data: bytes, header: Header) -> None:
    """SPEC §3.4: the stream length matches the header and the CRC matches."""
    end = header.header_size + header.payload_size
    total = end + CRC_SIZE
    if len(data) < total:
        raise TruncatedStreamError(
            "truncated_payload", len(data), "3.4",
            f"stream is {len(data)} bytes; header announces {total}",
        )
    if len(data) > total:
        raise DecodeError(
            "trailing_data", total, "3.4",
            f"{len(data) - total} bytes follow the end of the stream",
        )
    stored = int.from_bytes(data[end:total], "big")
    if stored != crc32(data[:end]):
        raise DecodeError(
            "crc_mismatch", end, "3.4",
            f"CRC-32 {stored:08x} does not match the computed {crc32(data[:end]):08x}",
        )


def frame_stream(header: Header, payload: bytes) -> bytes:
    """SPEC §3.1: header || payload || crc32(header || payload)."""
    body = write_header(header) + payload
    return body + crc32(body).to_bytes(CRC_SIZE, "big")
