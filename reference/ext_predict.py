"""Neighbourhood and prediction of profile 1: SPEC §11.3-§11.4.

Profile 1 predicts every sample from its causal neighbours in the same tile with
a damped form of CALIC's gradient-adjusted predictor (GAP). Below the band
level zb (SPEC §11.2) the predictor works on "unfolded" values, in which the
leaky side of an activation is stretched back to its slope before the
non-linearity.
"""

from __future__ import annotations

from dataclasses import dataclass

from .tables import GAP_THRESHOLDS, UNFOLD_SHIFT

Samples = list[list[int]]  # samples[y][x] of one tile


@dataclass(frozen=True)
class Neighbours:
    """SPEC §11.3: the causal neighbours of a sample, after the edge rules."""

    W: int
    N: int
    NW: int
    NE: int
    NN: int
    WW: int
    NNE: int


def neighbours(samples: Samples, x: int, y: int, width: int) -> Neighbours:
    """SPEC §11.3: the neighbours of (x, y) in its tile. Outside the tile, each
    takes the value of a nearer neighbour (the rules apply in this order)."""
    W = samples[y][x - 1] if x > 0 else (samples[y - 1][x] if y > 0 else 0)
    N = samples[y - 1][x] if y > 0 else W
    NW = samples[y - 1][x - 1] if x > 0 and y > 0 else W
    NE = samples[y - 1][x + 1] if y > 0 and x + 1 < width else N
    NN = samples[y - 2][x] if y > 1 else N
    WW = samples[y][x - 2] if x > 1 else W
    NNE = samples[y - 2][x + 1] if y > 1 and x + 1 < width else NE
    return Neighbours(W, N, NW, NE, NN, WW, NNE)


def scale_threshold(t: int, n: int) -> int:
    """SPEC §11.4: an 8-bit threshold at bit depth n (x > t at 8 bits is
    x > scale_threshold(t, n) at n bits, for integers x)."""
    return t << (n - 8) if n >= 8 else t >> (8 - n)


def unfold(v: int, zb: int) -> int:
    """SPEC §11.4: values below zb moved 2^UNFOLD_SHIFT times further from it."""
    return v if v >= zb else zb - ((zb - v) << UNFOLD_SHIFT)


def fold(p: int, zb: int, L: int) -> int:
    """SPEC §11.4: an unfolded prediction brought back to 0 .. L."""
    if p >= zb:
        return min(p, L)
    return max(0, zb - ((zb - p + (1 << (UNFOLD_SHIFT - 1))) >> UNFOLD_SHIFT))


def predict(nb: Neighbours, n: int, zb: int, L: int) -> int:
    """SPEC §11.4 predict: the damped gradient-adjusted prediction P of a sample
    in 0 .. L. With zb > 0 the neighbours are unfolded first and P folded back."""
    W, N, NW, NE, NN, WW, NNE = nb.W, nb.N, nb.NW, nb.NE, nb.NN, nb.WW, nb.NNE
    if zb > 0:
        W, N, NW, NE = unfold(W, zb), unfold(N, zb), unfold(NW, zb), unfold(NE, zb)
        NN, WW, NNE = unfold(NN, zb), unfold(WW, zb), unfold(NNE, zb)
    dh = abs(W - WW) + abs(N - NW) + abs(N - NE)
    dv = abs(W - NW) + abs(N - NN) + abs(NE - NNE)
    T1, T2, T3 = (scale_threshold(t, n) for t in GAP_THRESHOLDS)
    if dv - dh > T1:
        P = W  # a strong horizontal edge
    elif dh - dv > T1:
        P = N  # a strong vertical edge
    else:
        t = 4 * (W + N) + (NE - NW)  # 8 * ((W + N) / 2 + (NE - NW) / 8)
        if dv - dh > T2:
            t = (t + 8 * W) >> 1
        elif dv - dh > T3:
            t = (3 * t + 8 * W) >> 2
        elif dh - dv > T2:
            t = (t + 8 * N) >> 1
        elif dh - dv > T3:
            t = (3 * t + 8 * N) >> 2
        P = (t + 4) >> 3
    if zb > 0:
        return fold(P, zb, L)
    return min(max(P, 0), L)
