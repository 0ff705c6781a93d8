"""Sample prediction and the most probable mode: SPEC §6.2-6.5."""

from __future__ import annotations

from .tables import FILTER_TAPS, MODE_FIL_A, MODE_FIL_B, MODE_HOR, MODE_PAL, MODE_VER

Tile = list[list[int]]


def neighbour(tile: Tile, x: int, y: int, substitute: int) -> int:
    """SPEC §6.2: a sample of the tile, or p_j* where (x, y) lies outside it
    (x < 0 or y < 0; the decoding order never asks for samples right or below)."""
    if x < 0 or y < 0:
        return substitute
    return tile[y][x]


def predict_sample(mode: int, tile: Tile, x: int, y: int, pal: int) -> int:
    """SPEC §6.3-6.4: the prediction of sample (x, y) of the tile in ``mode``.

    ``pal`` is p_j*, the tile's palette predictor. Hor and Ver are sample-wise
    DPCM: the left (top) neighbour, which may lie inside the same block.
    """
    if mode == MODE_PAL:
        return pal
    if mode == MODE_HOR:
        return neighbour(tile, x - 1, y, pal)
    if mode == MODE_VER:
        return neighbour(tile, x, y - 1, pal)
    if mode in (MODE_FIL_A, MODE_FIL_B):
        w_tl, w_t, w_l = FILTER_TAPS[mode]
        tl = neighbour(tile, x - 1, y - 1, pal)
        t = neighbour(tile, x, y - 1, pal)
        left = neighbour(tile, x - 1, y, pal)
        return (w_tl * tl + w_t * t + w_l * left + 16) >> 5
    raise ValueError(f"no prediction mode {mode}")


def derive_mpm(modes: list[list[int]], bx: int, by: int) -> int:
    """SPEC §6.5: the most probable mode of block (bx, by) of a tile.

    The left, top and top-left blocks of the same tile vote with their modes; the
    mode with most votes wins; a tie goes to the first of the tied modes in the
    order left, top, top-left; with no neighbour the MPM is Pal.
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


def remaining_modes(mpm: int) -> list[int]:
    """SPEC §6.5: the four modes other than the MPM, in increasing order;
    rem_mode indexes this list."""
    return [m for m in range(5) if m != mpm]
