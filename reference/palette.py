"""The palette vector p: SPEC §5.4 (normative re-sort) and SPEC §8.2-8.3
(the reference encoder's choices)."""

from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

Tile = list[list[int]]


def select_palette(counts: Counter[int]) -> list[int]:
    """SPEC §8.2: the (up to) 8 most frequent values of the whole tensor,
    most frequent first, ties to the smaller value."""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [value for value, _ in ranked[:8]]


def initial_palette_order(palette: Sequence[int], first_tile: Tile) -> list[int]:
    """SPEC §8.2: the header's order, by frequency in tile 0 (stable, so ties keep
    the whole-tensor order)."""
    counts = count_palette_values(first_tile, palette)
    return sort_palette(palette, counts)


def count_palette_values(tile: Tile, palette: Iterable[int]) -> dict[int, int]:
    """SPEC §5.4: how often each palette value occurs in one tile."""
    counts = {value: 0 for value in palette}
    for row in tile:
        for sample in row:
            if sample in counts:
                counts[sample] += 1
    return counts


def sort_palette(order: Sequence[int], counts: dict[int, int]) -> list[int]:
    """SPEC §5.4: stable sort of ``order`` by descending count."""
    return sorted(order, key=lambda value: -counts[value])


def resort_palette(order: Sequence[int], cumulative: dict[int, int], tile: Tile) -> list[int]:
    """SPEC §5.4 palette update after a tile: add the tile's counts to the
    running totals (in place) and return the re-sorted palette for the next tile."""
    for value, n in count_palette_values(tile, order).items():
        cumulative[value] += n
    return sort_palette(order, cumulative)


def choose_palette_idx(tile: Tile, order: Sequence[int]) -> int:
    """SPEC §8.3: j* minimizing the sum of absolute differences over the tile
    (the paper's eq. (3)); ties go to the smallest index."""
    best_j, best_sad = 0, -1
    for j, p in enumerate(order):
        sad = sum(abs(sample - p) for row in tile for sample in row)
        if best_sad < 0 or sad < best_sad:
            best_j, best_sad = j, sad
    return best_j
