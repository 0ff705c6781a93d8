"""Prediction, the most probable mode and reconstruction: SPEC §6.2-§6.5, §6.8."""

from __future__ import annotations

from collections.abc import Callable

from dfc.errors import DecodeError

from .blocks import block_size
from .state import Samples, Tile
from .tables import FILTER_TAPS, MODE_HOR, MODE_PAL, MODE_VER, NUM_MODES

Residual = list[list[int]]  # residual[y][x] of one 4x4 block


def neighbour(samples: Samples, x: int, y: int, PalPred: int) -> int:
    """SPEC §6.2 N(x, y): a sample of the tile, or PalPred where x < 0 or y < 0
    (the decoding order never asks for samples right of or below the block)."""
    if x < 0 or y < 0:
        return PalPred
    return samples[y][x]


def predict_sample(mode: int, samples: Samples, x: int, y: int, PalPred: int) -> int:
    """SPEC §6.3-§6.4, Table 6: the prediction of sample (x, y) of the tile.

    Hor and Ver are sample-wise DPCM: the left (top) neighbour, which may lie
    inside the same block (Annex A.f).
    """
    if mode == MODE_PAL:
        return PalPred
    if mode == MODE_HOR:
        return neighbour(samples, x - 1, y, PalPred)
    if mode == MODE_VER:
        return neighbour(samples, x, y - 1, PalPred)
    wTL, wT, wL = FILTER_TAPS[mode]  # MODE_FIL_A or MODE_FIL_B
    tl = neighbour(samples, x - 1, y - 1, PalPred)
    t = neighbour(samples, x, y - 1, PalPred)
    left = neighbour(samples, x - 1, y, PalPred)
    return (wTL * tl + wT * t + wL * left + 16) >> 5


def derive_mpm(modes: list[list[int]], bx: int, by: int) -> int:
    """SPEC §6.5 derive_mpm: the MpmMode of block (bx, by) of a tile.

    The left, top and top-left blocks of the same tile vote with their modes; the
    mode with most votes wins; a tie goes to the first of the tied modes in the
    order left, top, top-left; with no neighbour the MpmMode is Pal.
    """
    candidates = []
    if bx > 0:
        candidates.append(modes[by][bx - 1])
    if by > 0:
        candidates.append(modes[by - 1][bx])
    if bx > 0 and by > 0:
        candidates.append(modes[by - 1][bx - 1])
    if not candidates:
        return MODE_PAL
    return max(candidates, key=candidates.count)  # max() keeps the first of ties


def remaining_modes(MpmMode: int) -> list[int]:
    """SPEC §6.5: the four modes other than MpmMode, in increasing order;
    rem_mode indexes this list."""
    return [m for m in range(NUM_MODES) if m != MpmMode]


def block_residuals(tile: Tile, mode: int, bx: int, by: int) -> Residual:
    """SPEC §6.8 in reverse, for the encoder: residual = sample - prediction
    over the block, 0 outside BlkW x BlkH. Lossless coding means every
    neighbour is the original sample (SPEC §6.2)."""
    BlkW, BlkH = block_size(tile, bx, by)
    residual: Residual = [[0] * 4 for _ in range(4)]
    for y in range(BlkH):
        for x in range(BlkW):
            tx, ty = 4 * bx + x, 4 * by + y
            residual[y][x] = tile.samples[ty][tx] - predict_sample(mode, tile.samples, tx, ty, tile.PalPred)
    return residual


def reconstruct_block(tile: Tile, mode: int, bx: int, by: int, residual: Residual,
                      byte_offset: Callable[[], int]) -> None:
    """SPEC §6.8: sample = Pred + residual, in raster order within the block
    (so every neighbour is known); a sample outside 0 .. L is an error, reported
    at ``byte_offset()``."""
    BlkW, BlkH = block_size(tile, bx, by)
    for y in range(BlkH):
        for x in range(BlkW):
            tx, ty = 4 * bx + x, 4 * by + y
            sample = predict_sample(mode, tile.samples, tx, ty, tile.PalPred) + residual[y][x]
            if not 0 <= sample <= tile.L:
                raise DecodeError(
                    "sample_out_of_range", byte_offset(), "6.8",
                    f"reconstructed sample {sample} outside 0..{tile.L} "
                    f"(block ({bx},{by}), sample ({x},{y}))",
                )
            tile.samples[ty][tx] = sample
