"""Block partitioning of a tile: SPEC §6.1."""

from __future__ import annotations

from .tables import SCAN_FOR_MODE

BLOCK_SIZE = 4


def blocks_in_tile(height: int, width: int) -> list[tuple[int, int, int, int]]:
    """SPEC §6.1: the tile's blocks in raster order as (bx, by, bw, bh); blocks in
    the last column or row are cut to the tile (bw, bh < 4 when W, H are not
    multiples of 4)."""
    out = []
    for by in range((height + BLOCK_SIZE - 1) // BLOCK_SIZE):
        for bx in range((width + BLOCK_SIZE - 1) // BLOCK_SIZE):
            bw = min(BLOCK_SIZE, width - BLOCK_SIZE * bx)
            bh = min(BLOCK_SIZE, height - BLOCK_SIZE * by)
            out.append((bx, by, bw, bh))
    return out


def block_scan(mode: int, bw: int, bh: int) -> list[tuple[int, int]]:
    """SPEC §6.6: the mode's 4x4 scan restricted to the bw x bh block."""
    return [(x, y) for (x, y) in SCAN_FOR_MODE[mode] if x < bw and y < bh]
