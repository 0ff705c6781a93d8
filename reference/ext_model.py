"""Probability modelling of profile 1: SPEC §11.8 (estimation) and §11.9 (mixing).

Every decision of profile 1 is coded with a probability that comes either from
one adaptive context (setting 1, and the decisions setting 0 does not mix) or
from a logistic mix of three contexts, one from each context set (setting 0).
"""

from __future__ import annotations

from .tables import (
    MIX_RATE,
    NUM_EXT_CONTEXTS,
    NUM_WEIGHT_SETS,
    PROB_INIT,
    PROB_MAX,
    PROB_MIN,
    RATE_SHIFT,
    SQUASH_POINTS,
    STRETCH_LIMIT,
    WEIGHT_INIT,
)

#: SPEC §11.8: the warm-up ends when n + 2 reaches 2^RATE_SHIFT.
COUNT_LIMIT = (1 << RATE_SHIFT) - 2


class ExtContext:
    """SPEC §11.8: an adaptive probability ``p`` of a 1 (in 1/65536) and the
    number ``n`` of decisions it has seen, up to COUNT_LIMIT."""

    __slots__ = ("p", "n")

    def __init__(self) -> None:
        self.p = PROB_INIT
        self.n = 0

    def update(self, binVal: int) -> None:
        """SPEC §11.8: move p toward PROB_MAX or PROB_MIN by 1/(n + 2) while
        warming up (a count-based estimate), then by 1/2^RATE_SHIFT; p never
        leaves PROB_MIN .. PROB_MAX, the range coder's bounds."""
        target = PROB_MAX if binVal else PROB_MIN
        rate = 65536 // (self.n + 2) if self.n < COUNT_LIMIT else 65536 >> RATE_SHIFT
        self.p += ((target - self.p) * rate) >> 16
        if self.n < COUNT_LIMIT:
            self.n += 1


def initial_ext_contexts() -> list[ExtContext]:
    """SPEC §11.8: every context starts at p = 1/2, n = 0."""
    return [ExtContext() for _ in range(NUM_EXT_CONTEXTS)]


def squash(d: int) -> int:
    """SPEC §11.9 squash: 4096 / (1 + e^(-d/256)) by linear interpolation of
    SQUASH_POINTS, for d in -2047 .. 2047 (the mixer clamps its sum to that
    range first); a probability in 1/4096."""
    w = d & 127
    i = (d >> 7) + 16
    return (SQUASH_POINTS[i] * (128 - w) + SQUASH_POINTS[i + 1] * w + 64) >> 7


def make_stretch_table() -> tuple[int, ...]:
    """SPEC §11.9 stretch: for each 12-bit probability i, the least d with
    squash(d) >= i (2047 where there is none): the inverse of squash."""
    table = []
    d = -STRETCH_LIMIT
    for i in range(4096):
        while d <= STRETCH_LIMIT and squash(d) < i:
            d += 1
        table.append(min(d, STRETCH_LIMIT))
    return tuple(table)


STRETCH = make_stretch_table()


def stretch(p: int) -> int:
    """SPEC §11.9: the stretched value of a 16-bit probability."""
    return STRETCH[p >> 4]


class Mixer:
    """SPEC §11.9: NUM_WEIGHT_SETS sets of three weights (16.16 fixed point)."""

    def __init__(self) -> None:
        self.weights = [[WEIGHT_INIT] * 3 for _ in range(NUM_WEIGHT_SETS)]

    def mix(self, ws: int, st: tuple[int, int, int]) -> int:
        """SPEC §11.9: the 12-bit probability of weight set ``ws`` for the
        stretched inputs ``st``."""
        w = self.weights[ws]
        dot = (w[0] * st[0] + w[1] * st[1] + w[2] * st[2]) >> 16
        return squash(min(max(dot, -STRETCH_LIMIT), STRETCH_LIMIT))

    def update(self, ws: int, st: tuple[int, int, int], p12: int, binVal: int) -> None:
        """SPEC §11.9: each weight moves along its input, by the error of p12."""
        err = ((binVal << 12) - p12) * MIX_RATE
        w = self.weights[ws]
        for k in range(3):
            w[k] += (st[k] * err) >> 16
