"""The state of the decoding process: SPEC §2, §5.1 and §5.2.

Two small objects hold everything the syntax functions share, so that none of
them needs more than a handful of parameters:

* :class:`PayloadState` is what crosses from one tile to the next (SPEC §2): the
  context models, ``PaletteOrder`` and ``PaletteCount`` (SPEC §5.4) and the Rice
  statistic ``StatCoeff`` (SPEC §6.7.3);
* :class:`Tile` is one channel while it is coded (SPEC §5.2, §6): its samples,
  ``PalPred``, and the mode and ``skip_flag`` of each block decoded so far,
  which later blocks of the same tile look at (SPEC §6.5, §6.6).

Fields are spelled as SPEC.md spells the variables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .cabac import ContextModel, copy_contexts, initial_contexts

Samples = list[list[int]]  # samples[y][x] of one tile


@dataclass
class PayloadState:
    """SPEC §2: the state that crosses tiles. ``PaletteCount`` is keyed by the
    palette entry's value."""

    contexts: list[ContextModel]
    PaletteOrder: list[int]
    PaletteCount: dict[int, int]
    StatCoeff: int = 0

    @classmethod
    def initial(cls, palette: Sequence[int]) -> PayloadState:
        """SPEC §5.1: every context initialized (§7.5), ``PaletteOrder`` the
        header's palette, every ``PaletteCount`` 0, ``StatCoeff`` 0."""
        return cls(
            contexts=initial_contexts(),
            PaletteOrder=list(palette),
            PaletteCount={value: 0 for value in palette},
            StatCoeff=0,
        )

    def copy(self) -> PayloadState:
        """An independent snapshot, for the encoder's trial coding (SPEC §8.4)."""
        return PayloadState(
            contexts=copy_contexts(self.contexts),
            PaletteOrder=list(self.PaletteOrder),
            PaletteCount=dict(self.PaletteCount),
            StatCoeff=self.StatCoeff,
        )


@dataclass
class Tile:
    """SPEC §5.2 tile(c): channel ``c`` of ``height`` x ``width`` samples in
    0 .. L, predicted around ``PalPred``. ``modes[by][bx]`` and
    ``skip_flags[by][bx]`` record each block once it is coded."""

    c: int
    height: int
    width: int
    L: int
    PalPred: int
    samples: Samples
    modes: list[list[int]] = field(init=False)
    skip_flags: list[list[int]] = field(init=False)

    def __post_init__(self) -> None:
        blocks_down, blocks_across = (self.height + 3) // 4, (self.width + 3) // 4
        self.modes = [[0] * blocks_across for _ in range(blocks_down)]
        self.skip_flags = [[0] * blocks_across for _ in range(blocks_down)]
