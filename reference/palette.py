"""The palette: SPEC §5.4 (the normative update after each tile) and SPEC
§8.2-§8.3 (the reference encoder's choice of palette and palette_idx)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from .state import PayloadState, Samples
from .tables import MAX_PALETTE_SIZE


def count_palette_values(samples: Samples, palette: Iterable[int]) -> dict[int, int]:
    """SPEC §5.4: how often each palette entry occurs in one tile."""
    counts = {value: 0 for value in palette}
    for row in samples:
        for s in row:
            if s in counts:
                counts[s] += 1
    return counts


def sort_palette(PaletteOrder: Sequence[int], counts: dict[int, int]) -> list[int]:
    """SPEC §5.4: stable sort of PaletteOrder by descending count."""
    return sorted(PaletteOrder, key=lambda value: -counts[value])


def update_palette(PaletteOrder: Sequence[int], PaletteCount: dict[int, int],
                   samples: Samples) -> list[int]:
    """SPEC §5.4 update_palette(c): add the tile's counts to PaletteCount (in
    place) and return PaletteOrder re-sorted for the next tile."""
    for value, n in count_palette_values(samples, PaletteOrder).items():
        PaletteCount[value] += n
    return sort_palette(PaletteOrder, PaletteCount)


def select_palette(counts: Counter[int]) -> list[int]:
    """SPEC §8.2: the (up to) MAX_PALETTE_SIZE most frequent values of the whole
    tensor, most frequent first, ties to the smaller value."""
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [value for value, _ in ranked[:MAX_PALETTE_SIZE]]


def initial_palette_order(palette: Sequence[int], first_tile: Samples) -> list[int]:
    """SPEC §8.2: the header's order, by frequency in tile 0 (stable, so ties
    keep the whole-tensor order)."""
    return sort_palette(palette, count_palette_values(first_tile, palette))


def choose_palette_idx(state: PayloadState, samples: Samples) -> int:
    """SPEC §8.3: j minimizing the sum of absolute differences between the
    tile and PaletteOrder[j] (the paper's eq. (3)); ties go to the smallest j."""
    best_j, best_sad = 0, -1
    for j, p in enumerate(state.PaletteOrder):
        sad = sum(abs(s - p) for row in samples for s in row)
        if best_sad < 0 or sad < best_sad:
            best_j, best_sad = j, sad
    return best_j
