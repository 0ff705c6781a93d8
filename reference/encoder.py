"""The reference encoder: SPEC §8 (informative, but every decision is pinned
down so that all conforming dfc encoders produce the same bytes)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import numpy.typing as npt

from .blocks import block_scan, blocks_in_tile
from .cabac import (
    ArithmeticEncoder,
    BitCostEstimator,
    ContextModel,
    copy_contexts,
    initial_contexts,
)
from .header import Header, frame_stream
from .palette import (
    choose_palette_idx,
    initial_palette_order,
    resort_palette,
    select_palette,
)
from .prediction import derive_mpm, predict_sample
from .quantizer import quantize
from .syntax import (
    BinSink,
    Block,
    write_palette_idx,
    write_pred_mode,
    write_residual_block,
    write_skip_flag,
)
from .tables import (
    FORMAT_VERSION,
    MAX_BIT_DEPTH,
    MAX_DIMENSION,
    MAX_VALUES,
    MIN_BIT_DEPTH,
    NUM_MODES,
    PROFILE_BASELINE,
)

Tile = list[list[int]]


def validate_input(tensor: object, bits: int) -> npt.NDArray[np.float32]:
    """SPEC §8.1: the encoder's input rules; raises ValueError naming the problem."""
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)):
        raise ValueError(f"bits must be an integer, got {type(bits).__name__}")
    if not MIN_BIT_DEPTH <= bits <= MAX_BIT_DEPTH:
        raise ValueError(f"bits must be in {MIN_BIT_DEPTH}..{MAX_BIT_DEPTH}, got {bits}")
    array = np.asarray(tensor)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"tensor must be numeric (bool, int or float), got dtype {array.dtype}")
    if array.ndim != 3:
        raise ValueError(f"tensor must have 3 dimensions (C, H, W), got {array.ndim}")
    if array.size == 0:
        raise ValueError(f"tensor is empty: shape {array.shape}")
    if max(array.shape) > MAX_DIMENSION or array.size > MAX_VALUES:
        raise ValueError(f"tensor shape {array.shape} exceeds SPEC §3.3 limits")
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise ValueError("tensor contains NaN or infinity")
    values = array.astype(np.float32)
    if not np.all(np.isfinite(values)):
        raise ValueError("tensor has values beyond the float32 range")
    return values


def block_residuals(tile: Tile, mode: int, pal: int, bx: int, by: int, scan: list[tuple[int, int]]) -> Block:
    """SPEC §6.8 in reverse: residual = sample - prediction, for the block's samples."""
    res: Block = [[0] * 4 for _ in range(4)]
    for x, y in scan:
        tx, ty = 4 * bx + x, 4 * by + y
        res[y][x] = tile[ty][tx] - predict_sample(mode, tile, tx, ty, pal)
    return res


def write_block(sink: BinSink, ctx: list[ContextModel], mode: int, mpm: int,
                skip_ctx_inc: int, res: Block, scan: list[tuple[int, int]],
                stat_coeff: int) -> tuple[int, int]:
    """SPEC §6.1 block(): pred mode, skip_flag, residual.
    Returns skip_flag and StatCoeff after the block."""
    write_pred_mode(sink, ctx, mode, mpm)
    skip_flag = 1 if all(res[y][x] == 0 for x, y in scan) else 0
    write_skip_flag(sink, ctx, skip_flag, skip_ctx_inc)
    if not skip_flag:
        stat_coeff = write_residual_block(sink, ctx, res, scan, mode, stat_coeff)
    return skip_flag, stat_coeff


def choose_mode(tile: Tile, ctx: list[ContextModel], pal: int, mpm: int, skip_ctx_inc: int,
                stat_coeff: int, bx: int, by: int, bw: int, bh: int) -> int:
    """SPEC §8.4: the mode whose block (mode bins, skip_flag and residual) has the
    least estimated cost from the current context states; ties to the lower mode."""
    best_mode, best_cost = 0, -1
    for mode in range(NUM_MODES):
        scan = block_scan(mode, bw, bh)
        res = block_residuals(tile, mode, pal, bx, by, scan)
        estimator = BitCostEstimator()
        write_block(estimator, copy_contexts(ctx), mode, mpm, skip_ctx_inc, res, scan, stat_coeff)
        if best_cost < 0 or estimator.cost < best_cost:
            best_mode, best_cost = mode, estimator.cost
    return best_mode


def encode_tile(enc: ArithmeticEncoder, ctx: list[ContextModel], tile: Tile, pal: int,
                stat_coeff: int) -> int:
    """SPEC §5.2 tile(): the tile's blocks in raster order. Returns StatCoeff."""
    height, width = len(tile), len(tile[0])
    blocks = blocks_in_tile(height, width)
    blocks_across = (width + 3) // 4
    modes = [[0] * blocks_across for _ in range((height + 3) // 4)]
    skips = [[0] * blocks_across for _ in range((height + 3) // 4)]
    for bx, by, bw, bh in blocks:
        mpm = derive_mpm(modes, bx, by)
        skip_ctx_inc = (bx > 0 and skips[by][bx - 1]) + (by > 0 and skips[by - 1][bx])
        mode = choose_mode(tile, ctx, pal, mpm, skip_ctx_inc, stat_coeff, bx, by, bw, bh)
        scan = block_scan(mode, bw, bh)
        res = block_residuals(tile, mode, pal, bx, by, scan)
        modes[by][bx] = mode
        skips[by][bx], stat_coeff = write_block(
            enc, ctx, mode, mpm, skip_ctx_inc, res, scan, stat_coeff
        )
    return stat_coeff


def encode(tensor: object, bits: int = 8) -> bytes:
    """Encode a (C, H, W) tensor into a dfc stream (SPEC §8)."""
    values = validate_input(tensor, bits)
    q, min_value, max_value = quantize(values, int(bits))
    channels, height, width = q.shape
    tiles: list[Tile] = [q[c].tolist() for c in range(channels)]

    uniques, freq = np.unique(q, return_counts=True)
    counts = Counter({int(v): int(n) for v, n in zip(uniques, freq)})
    order = initial_palette_order(select_palette(counts), tiles[0])
    header_palette = tuple(order)

    enc = ArithmeticEncoder()
    ctx = initial_contexts()
    cumulative = {value: 0 for value in order}
    stat_coeff = 0  # SPEC §6.7.3: StatCoeff runs over the whole payload
    for tile in tiles:
        palette_idx = choose_palette_idx(tile, order)
        write_palette_idx(enc, ctx, palette_idx, len(order))
        stat_coeff = encode_tile(enc, ctx, tile, order[palette_idx], stat_coeff)
        order = resort_palette(order, cumulative, tile)
    enc.encode_terminate(1)  # SPEC §5.1 end_of_payload
    payload = enc.payload()

    header = Header(
        format_version=FORMAT_VERSION, profile=PROFILE_BASELINE, bit_depth=int(bits),
        channels=channels, height=height, width=width,
        min_value=min_value, max_value=max_value,
        payload_size=len(payload), palette=header_palette,
    )
    return frame_stream(header, payload)
