"""The reference decoder: SPEC §3-§7 in stream order, and its outputs (SPEC §4.5)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .cabac import ArithmeticDecoder
from .ext_syntax import ExtParams, read_ext_payload
from .header import Header, check_framing, read_header
from .quantizer import dequantize, max_level, zero_level
from .rangecoder import RangeDecoder
from .syntax import TraceSink, read_payload
from .tables import PROFILE_EXTENDED

__all__ = ["DecodedStream", "TraceSink", "decode", "decode_stream"]


@dataclass(frozen=True)
class DecodedStream:
    """Everything a decoder outputs (SPEC §4.5): the header, the quantized integer
    tensor (C, H, W) and the dequantized float32 tensor (C, H, W)."""

    header: Header
    integers: npt.NDArray[np.uint16]

    def floats(self) -> npt.NDArray[np.float32]:
        """SPEC §4.3 dequantized output."""
        h = self.header
        return dequantize(self.integers, h.bit_depth, h.min_value, h.max_value)


def decode_stream(data: bytes, trace: TraceSink | None = None) -> DecodedStream:
    """Decode a whole stream (SPEC §3.1); raises DecodeError on any broken rule."""
    data = bytes(data)
    header = read_header(data, trace.header_field if trace is not None else None)
    check_framing(data, header)
    start = header.header_size
    integers = np.empty(header.shape, dtype=np.uint16)
    if header.profile == PROFILE_EXTENDED:
        rdec = RangeDecoder(data, start, start + header.payload_size)
        sink = None if trace is None else trace.ext_element
        for c, samples in enumerate(read_ext_payload(rdec, ext_params(header), sink)):
            integers[c] = samples
        return DecodedStream(header=header, integers=integers)
    dec = ArithmeticDecoder(data, start, start + header.payload_size)
    tiles = read_payload(dec, header.palette, header.shape, max_level(header.bit_depth),
                         header.payload_size, trace)
    for tile in tiles:
        integers[tile.c] = tile.samples
    return DecodedStream(header=header, integers=integers)


def ext_params(header: Header) -> ExtParams:
    """SPEC §11.2: what a profile 1 header fixes for its payload."""
    n = header.bit_depth
    qz = zero_level(header.min_value, header.max_value, n)
    return ExtParams(n=n, L=max_level(n), qz=qz, zb=qz if header.band_flag else 0,
                     setting=header.setting, split_offset=header.split_offset,
                     channels=header.channels, height=header.height, width=header.width)


def decode(stream: bytes) -> npt.NDArray[np.float32]:
    """Decode a dfc stream to its float32 (C, H, W) tensor (SPEC §4.3)."""
    return decode_stream(stream).floats()
