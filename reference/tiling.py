"""The tiled feature matrix: SPEC §4.4 (informative for the bitstream).

The bitstream codes channels one after another and no prediction or context
crosses a channel, so the tile layout does not change a single bit of a dfc
stream. It fixes the 2-D "feature matrix" on which dfc is compared with image
codecs, and the picture that tools draw.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def tile_grid(channels: int) -> tuple[int, int]:
    """SPEC §4.4: (tiles_across, tiles_down) for C channels.

    tiles_across = 2^ceil(log2(C)/2) and tiles_down = 2^floor(log2(C)/2) as in the
    paper's eq. (2) whenever that product holds C; otherwise tiles_down grows to
    ceil(C / tiles_across).
    """
    if channels < 1:
        raise ValueError("channels must be at least 1")
    f = channels.bit_length() - 1  # floor(log2(C))
    if channels == 1 << f:  # log2(C) is the integer f
        across_exp, down_exp = (f + 1) // 2, f // 2
    else:  # f < log2(C) < f + 1
        across_exp, down_exp = f // 2 + 1, f // 2
    across = 1 << across_exp
    down = 1 << down_exp
    if across * down < channels:
        down = -(-channels // across)
    return across, down


def tile_matrix(
    q: npt.NDArray[np.integer], fill: int = 0
) -> npt.NDArray[np.integer]:
    """SPEC §4.4: place channel c at tile (c mod across, c div across).

    Tile slots past the last channel are filled with ``fill``.
    """
    channels, height, width = q.shape
    across, down = tile_grid(channels)
    out = np.full((down * height, across * width), fill, dtype=q.dtype)
    for c in range(channels):
        ty, tx = divmod(c, across)
        out[ty * height : (ty + 1) * height, tx * width : (tx + 1) * width] = q[c]
    return out
