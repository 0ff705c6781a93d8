"""Stream header and stream framing: SPEC §3.

A stream is ``header || payload || crc32``; the header is byte-aligned and
big-endian, read and written with bitstring using SPEC §2's descriptors
(``u(n)`` unsigned, ``f(32)`` IEEE-754 binary32).
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bitstring import BitStream, ConstBitStream

from dfc.errors import DecodeError, TruncatedStreamError

from .quantizer import zero_level
from .tables import (
    CRC_SIZE,
    FIXED_HEADER_SIZE,
    FORMAT_VERSION,
    MAGIC,
    MAX_BIT_DEPTH,
    MAX_DIMENSION,
    MAX_PALETTE_SIZE,
    MAX_SPLIT_OFFSET,
    MAX_VALUES,
    MIN_BIT_DEPTH,
    PROFILE_BASELINE,
    PROFILE_EXTENDED,
    SETTING_FAST,
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
    palette: tuple[int, ...] = ()
    setting: int = 0  # profile 1 (SPEC §11.1)
    band_flag: int = 0
    split_offset: int = 0

    @property
    def palette_size(self) -> int:
        return len(self.palette)

    @property
    def header_size(self) -> int:
        """Bytes before the payload (SPEC §3.2, §11.1)."""
        if self.profile == PROFILE_EXTENDED:
            return FIXED_HEADER_SIZE + 3
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
    if header.profile == PROFILE_EXTENDED:  # SPEC §11.1
        s.append(f"uint8={header.setting}")
        s.append(f"uint8={header.band_flag}")
        s.append(f"uint8={header.split_offset}")
    return s.tobytes()


class _FieldReader:
    """Reads header fields in stream order; a field that the stream does not hold
    in full is a truncation, reported only when that field is reached."""

    def __init__(self, data: bytes, emit: HeaderTracer) -> None:
        self.data = data
        self.bits = ConstBitStream(data)
        self.emit = emit

    def read(self, offset: int, descriptor: str, size: int, name: str) -> Any:
        if len(self.data) < offset + size:
            raise TruncatedStreamError(
                "truncated_header", len(self.data), "3.2",
                f"stream ends inside the header field {name} "
                f"({len(self.data)} bytes, the field ends at {offset + size})",
            )
        self.bits.pos = 8 * offset
        if descriptor == "f(32)":
            value: Any = struct.unpack(">f", self.bits.read("bytes4"))[0]
        elif descriptor == "b(4)":
            value = self.bits.read("bytes4")
        else:
            value = self.bits.read(f"uint{8 * size}")
        self.emit(offset, name, value.hex() if isinstance(value, bytes) else value)
        return value


def _reject(code: str, offset: int, message: str) -> DecodeError:
    return DecodeError(code, offset, "3.3", message)


def read_header(data: bytes, trace: HeaderTracer | None = None) -> Header:
    """SPEC §3.2 stream_header(), read and checked against SPEC §3.3's limits.

    Each field is checked as soon as it is read, in stream order, so the first
    broken rule is the one reported (SPEC §9).
    """
    f = _FieldReader(data, trace if trace is not None else (lambda off, name, val: None))
    if data[: len(MAGIC)] != MAGIC[: len(data)]:
        raise _reject("bad_magic", 0, f"not a dfc stream: magic {data[:4]!r}")
    f.read(0, "b(4)", 4, "magic")

    version = f.read(4, "u(8)", 1, "format_version")
    if version != FORMAT_VERSION:
        raise _reject("unsupported_version", 4, f"format_version {version} is not {FORMAT_VERSION}")
    profile = f.read(5, "u(8)", 1, "profile")
    if profile not in (PROFILE_BASELINE, PROFILE_EXTENDED):
        raise _reject("unsupported_profile", 5,
                      f"profile {profile} is not supported (0 baseline, 1 extended)")
    bit_depth = f.read(6, "u(8)", 1, "bit_depth")
    if not MIN_BIT_DEPTH <= bit_depth <= MAX_BIT_DEPTH:
        raise _reject("bad_bit_depth", 6, f"bit_depth {bit_depth} outside {MIN_BIT_DEPTH}..{MAX_BIT_DEPTH}")
    palette_size = f.read(7, "u(8)", 1, "palette_size")
    max_palette = min(MAX_PALETTE_SIZE, 1 << bit_depth)
    if profile == PROFILE_EXTENDED:
        if palette_size != 0:
            raise _reject("bad_palette_size", 7, f"palette_size {palette_size} is not 0 in profile 1")
    elif not 1 <= palette_size <= max_palette:
        raise _reject("bad_palette_size", 7, f"palette_size {palette_size} outside 1..{max_palette}")

    dims = []
    for offset, name in ((8, "channels"), (12, "height"), (16, "width")):
        value = f.read(offset, "u(32)", 4, name)
        if not 1 <= value <= MAX_DIMENSION:
            raise _reject("bad_dimensions", offset, f"{name} {value} outside 1..{MAX_DIMENSION}")
        dims.append(value)
    channels, height, width = dims
    values = channels * height * width
    if values > MAX_VALUES:
        raise _reject("too_many_values", 8, f"C*H*W = {values} exceeds {MAX_VALUES}")
    if palette_size > values:
        raise _reject("bad_palette_size", 7, f"palette_size {palette_size} exceeds the {values} values")

    min_value = f.read(20, "f(32)", 4, "min_value")
    if not math.isfinite(min_value):
        raise _reject("bad_min_max", 20, f"min_value is {min_value}, not finite")
    max_value = f.read(24, "f(32)", 4, "max_value")
    if not math.isfinite(max_value):
        raise _reject("bad_min_max", 24, f"max_value is {max_value}, not finite")
    if min_value > max_value:
        raise _reject("bad_min_max", 24, f"min_value {min_value} exceeds max_value {max_value}")
    payload_size = f.read(28, "u(32)", 4, "payload_size")

    palette: list[int] = []
    level = (1 << bit_depth) - 1
    for i in range(palette_size):
        offset = FIXED_HEADER_SIZE + 2 * i
        value = f.read(offset, "u(16)", 2, f"palette[{i}]")
        if value > level:
            raise _reject("bad_palette", offset, f"palette[{i}] = {value} exceeds 2^bit_depth - 1 = {level}")
        if value in palette:
            raise _reject("bad_palette", offset, f"palette[{i}] = {value} repeats an earlier entry")
        palette.append(value)

    setting = band_flag = split_offset = 0
    if profile == PROFILE_EXTENDED:  # SPEC §11.1
        offset = FIXED_HEADER_SIZE
        setting = f.read(offset, "u(8)", 1, "setting")
        if setting > SETTING_FAST:
            raise _reject("bad_setting", offset, f"setting {setting} is not 0 (mixing) or 1 (fast)")
        band_flag = f.read(offset + 1, "u(8)", 1, "band_flag")
        qz = zero_level(min_value, max_value, bit_depth)
        if band_flag > 1 or (band_flag == 1 and not 0 < qz < level):
            raise _reject("bad_band_flag", offset + 1,
                          f"band_flag {band_flag} (allowed: 0, or 1 when 0 < qz = {qz} < {level})")
        split_offset = f.read(offset + 2, "u(8)", 1, "split_offset")
        if split_offset > MAX_SPLIT_OFFSET:
            raise _reject("bad_split_offset", offset + 2,
                          f"split_offset {split_offset} exceeds {MAX_SPLIT_OFFSET}")

    return Header(
        format_version=version, profile=profile, bit_depth=bit_depth,
        channels=channels, height=height, width=width,
        min_value=min_value, max_value=max_value,
        payload_size=payload_size, palette=tuple(palette),
        setting=setting, band_flag=band_flag, split_offset=split_offset,
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
