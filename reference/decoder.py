"""The reference decoder: SPEC §3-§6 read in stream order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from dfc.errors import DecodeError

from .blocks import block_scan, blocks_in_tile
from .cabac import ArithmeticDecoder, ContextModel, initial_contexts
from .header import Header, check_framing, read_header
from .palette import resort_palette
from .prediction import derive_mpm, predict_sample
from .quantizer import dequantize, max_level
from .syntax import (
    Block,
    Tracer,
    read_palette_idx,
    read_pred_mode,
    read_residual_block,
    read_skip_flag,
)

Tile = list[list[int]]


class TraceSink(Protocol):
    """Receives every syntax element the decoder parses (see dfc.reference.trace)."""

    def header_field(self, byte_offset: int, name: str, value: object) -> None: ...
    def payload_element(self, bit_pos: int, channel: int, block: tuple[int, int] | None,
                        name: str, value: int) -> None: ...
    def end_of_payload(self, bit_pos: int) -> None: ...


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


def _payload_tracer(trace: TraceSink | None, channel: int,
                    block: tuple[int, int] | None) -> Tracer:
    if trace is None:
        return lambda bit_pos, name, value: None
    return lambda bit_pos, name, value: trace.payload_element(bit_pos, channel, block, name, value)


def decode_block(dec: ArithmeticDecoder, ctx: list[ContextModel], tile: Tile, pal: int,
                 level: int, mpm: int, skip_ctx_inc: int, stat_coeff: int,
                 bx: int, by: int, bw: int, bh: int, trace: Tracer) -> tuple[int, int, int]:
    """SPEC §6.1 block() and §6.8 reconstruction; returns (mode, skip_flag, StatCoeff)."""
    mode = read_pred_mode(dec, ctx, mpm, trace)
    skip_flag = read_skip_flag(dec, ctx, skip_ctx_inc, trace)
    res: Block = [[0] * 4 for _ in range(4)]
    if not skip_flag:
        res, stat_coeff = read_residual_block(
            dec, ctx, block_scan(mode, bw, bh), mode, stat_coeff, level, trace
        )
    for y in range(bh):  # raster order, so every neighbour is already known
        for x in range(bw):
            tx, ty = 4 * bx + x, 4 * by + y
            sample = predict_sample(mode, tile, tx, ty, pal) + res[y][x]
            if not 0 <= sample <= level:
                raise DecodeError(
                    "sample_out_of_range", dec.byte_offset(), "6.8",
                    f"reconstructed sample {sample} outside 0..{level} "
                    f"(block ({bx},{by}), sample ({x},{y}))",
                )
            tile[ty][tx] = sample
    return mode, skip_flag, stat_coeff


def decode_tile(dec: ArithmeticDecoder, ctx: list[ContextModel], header: Header,
                order: list[int], stat_coeff: int, channel: int,
                trace: TraceSink | None) -> tuple[Tile, int]:
    """SPEC §5.2 tile(): palette_idx, then the blocks in raster order.
    Returns the tile and StatCoeff after it."""
    height, width = header.height, header.width
    level = max_level(header.bit_depth)
    palette_idx = read_palette_idx(dec, ctx, len(order), _payload_tracer(trace, channel, None))
    pal = order[palette_idx]
    tile: Tile = [[0] * width for _ in range(height)]
    blocks_across = (width + 3) // 4
    modes = [[0] * blocks_across for _ in range((height + 3) // 4)]
    skips = [[0] * blocks_across for _ in range((height + 3) // 4)]
    for bx, by, bw, bh in blocks_in_tile(height, width):
        mpm = derive_mpm(modes, bx, by)
        skip_ctx_inc = (bx > 0 and skips[by][bx - 1]) + (by > 0 and skips[by - 1][bx])
        modes[by][bx], skips[by][bx], stat_coeff = decode_block(
            dec, ctx, tile, pal, level, mpm, skip_ctx_inc, stat_coeff, bx, by, bw, bh,
            _payload_tracer(trace, channel, (bx, by)),
        )
    return tile, stat_coeff


def check_end_of_payload(dec: ArithmeticDecoder, header: Header,
                         trace: TraceSink | None = None) -> None:
    """SPEC §5.1: end_of_payload is 1, then only zero bits to the payload's end."""
    start = dec.bit_pos
    if dec.decode_terminate() != 1:
        raise DecodeError("missing_end_of_payload", dec.byte_offset(), "5.1",
                          "end_of_payload is 0 after the last tile")
    if trace is not None:
        trace.end_of_payload(start)
    used = (dec.bit_pos + 7) // 8
    if used < header.payload_size:
        raise DecodeError("payload_unused_bytes", dec.start + used, "5.1",
                          f"{header.payload_size - used} payload bytes follow end_of_payload")
    while dec.bit_pos % 8:
        offset = dec.byte_offset()
        if dec.read_bit():
            raise DecodeError("nonzero_padding", offset, "5.1",
                              "alignment bits after end_of_payload are not zero")


def decode_stream(data: bytes, trace: TraceSink | None = None) -> DecodedStream:
    """Decode a whole stream (SPEC §3.1); raises DecodeError on any broken rule."""
    data = bytes(data)
    header = read_header(data, trace.header_field if trace is not None else None)
    check_framing(data, header)
    start = header.header_size
    dec = ArithmeticDecoder(data, start, start + header.payload_size)
    ctx = initial_contexts()
    order = list(header.palette)
    cumulative = {value: 0 for value in order}
    out = np.empty(header.shape, dtype=np.uint16)
    stat_coeff = 0  # SPEC §6.7.3
    for channel in range(header.channels):
        tile, stat_coeff = decode_tile(dec, ctx, header, order, stat_coeff, channel, trace)
        out[channel] = tile
        order = resort_palette(order, cumulative, tile)
    check_end_of_payload(dec, header, trace)
    return DecodedStream(header=header, integers=out)


def decode(stream: bytes) -> npt.NDArray[np.float32]:
    """Decode a dfc stream to its float32 (C, H, W) tensor (SPEC §4.3)."""
    return decode_stream(stream).floats()
