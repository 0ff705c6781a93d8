"""Block partition of a tile and the scans of a block: SPEC §6.1 and §6.6."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .tables import BLOCK_SIZE, SCAN_FOR_MODE

if TYPE_CHECKING:
    from .state import Tile

Scan = list[tuple[int, int]]  # (x, y) positions within a block, in coding order


def block_size(tile: Tile, bx: int, by: int) -> tuple[int, int]:
    """SPEC §6.1: (BlkW, BlkH) of block (bx, by), cut to the tile in the last
    block column and row."""
    BlkW = min(BLOCK_SIZE, tile.width - BLOCK_SIZE * bx)
    BlkH = min(BLOCK_SIZE, tile.height - BLOCK_SIZE * by)
    return BlkW, BlkH


def blocks_in_tile(height: int, width: int) -> list[tuple[int, int, int, int]]:
    """SPEC §6.1: the tile's blocks in raster order as (bx, by, BlkW, BlkH)."""
    out = []
    for by in range((height + BLOCK_SIZE - 1) // BLOCK_SIZE):
        for bx in range((width + BLOCK_SIZE - 1) // BLOCK_SIZE):
            BlkW = min(BLOCK_SIZE, width - BLOCK_SIZE * bx)
            BlkH = min(BLOCK_SIZE, height - BLOCK_SIZE * by)
            out.append((bx, by, BlkW, BlkH))
    return out


def block_scan(mode: int, BlkW: int, BlkH: int) -> Scan:
    """SPEC §6.6: ScanPos, the mode's 4x4 scan (Table 8) with the positions
    outside the BlkW x BlkH block removed; NumPos = len(ScanPos)."""
    return [(x, y) for (x, y) in SCAN_FOR_MODE[mode] if x < BlkW and y < BlkH]
