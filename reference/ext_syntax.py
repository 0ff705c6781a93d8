"""The payload of profile 1: SPEC §11.2, §11.5-§11.7.

``ext_payload()`` codes the channels in order, each tile in raster order, one
``ext_sample()`` per value. A sample is a short sequence of binary decisions
(SPEC §11.6): ``in_band`` (is it at or below the band level zb?), then either
its depth below zb, or whether it equals the prediction, on which side of it
it lies and how far. Each decision is coded with the probability of its
contexts (SPEC §11.7-§11.9), chosen from features of the causal neighbourhood
(SPEC §11.5). ``read_X`` and ``write_X`` stand side by side as in syntax.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from dfc.errors import DecodeError

from .ext_model import ExtContext, Mixer, initial_ext_contexts, stretch
from .ext_predict import Neighbours, Samples, neighbours, predict
from .rangecoder import RangeDecoder, RangeEncoder, check_end
from .tables import (
    A0_THRESHOLDS,
    ACT_THRESHOLDS,
    BAND_CTX_CAP,
    BAND_DIFF_MAX,
    BAND_DIFF_MIN,
    BAND_EG_CTX_CAP,
    BAND_VALUE_CAP,
    DEPTH_SPLIT_BIAS,
    DEPTH_THRESHOLDS,
    EG_CTX_CAP,
    MAX_EG_PREFIX,
    MIX_OFF_BAND,
    MIX_OFF_DEPTH,
    MIX_OFF_UNARY,
    MIX_OFF_ZERO,
    NUM_MIX_OFFSETS,
    S_BAND,
    S_DEPTH,
    S_DEPTH_EG,
    S_EG,
    S_SIGN,
    S_UNARY,
    S_ZERO,
    S_ZERO_LEVEL,
    SETTING_MIXING,
    UNARY_CTX_CAP,
    UNARY_LIMIT,
    V_BAND,
    V_DEPTH,
    V_UNARY,
    V_ZERO,
    X_BAND,
    X_DEPTH,
    X_UNARY,
    X_ZERO,
)

#: Receives (byte position, element name, value) for each element read (SPEC §10).
Tracer = Callable[[int, str, int], None]


def silent(pos: int, name: str, value: int) -> None:
    return None


# --- SPEC §11.2 parameters of the payload ----------------------------------------

@dataclass(frozen=True)
class ExtParams:
    """What the header fixes for the whole payload (SPEC §11.1-§11.2)."""

    n: int  # bit_depth
    L: int  # 2^n - 1
    qz: int  # the zero level (SPEC §11.2)
    zb: int  # the band level: qz when band_flag is 1, else 0
    setting: int  # SETTING_MIXING or SETTING_FAST
    split_offset: int
    channels: int
    height: int
    width: int

    @property
    def k(self) -> int:
        """Low bits of a magnitude that are never modelled: Max(n - 8, 0)."""
        return max(self.n - 8, 0)

    def norm8(self, v: int) -> int:
        """SPEC §11.5 norm8: a non-negative magnitude of n bits brought to 8 bits."""
        return v >> (self.n - 8) if self.n >= 8 else v << (8 - self.n)


@dataclass
class ExtState:
    """SPEC §11.2: what crosses samples and tiles: the contexts, the mixer's
    weights (setting 0) and the cross-channel activity map XE."""

    params: ExtParams
    contexts: list[ExtContext] = field(default_factory=initial_ext_contexts)
    mixer: Mixer = field(default_factory=Mixer)
    XE: list[list[int]] = field(init=False)

    def __post_init__(self) -> None:
        self.XE = [[0] * self.params.width for _ in range(self.params.height)]


@dataclass
class ExtTile:
    """SPEC §11.2: channel c while it is coded: its samples and residuals E."""

    c: int
    samples: Samples
    E: list[list[int]]


# --- SPEC §11.5 features ---------------------------------------------------------

def qclass(v: int, thresholds: tuple[int, ...]) -> int:
    """SPEC §11.5 qclass: how many thresholds are <= v."""
    return sum(1 for t in thresholds if t <= v)


def sign3(v: int) -> int:
    """0, 1, 2 for a negative, zero, positive residual."""
    return 0 if v < 0 else (1 if v == 0 else 2)


def floor_log2(v: int) -> int:
    """The position of the highest set bit of v >= 1."""
    return v.bit_length() - 1


@dataclass(frozen=True)
class Features:
    """SPEC §11.5: everything the contexts of one sample are chosen by."""

    P: int
    ac: int
    xc: int
    pc: int
    nz: int
    nq: int
    sW: int
    sN: int
    a0c: int
    ae: int
    dmean: int
    dn: int


def features(state: ExtState, tile: ExtTile, x: int, y: int) -> tuple[Neighbours, Features]:
    """SPEC §11.5: the neighbours, the prediction and the context features of
    sample (x, y) of the tile."""
    pr = state.params
    nb = neighbours(tile.samples, x, y, pr.width)
    E = tile.E
    eW = E[y][x - 1] if x > 0 else 0
    eN = E[y - 1][x] if y > 0 else 0
    eNW = E[y - 1][x - 1] if x > 0 and y > 0 else 0
    eNE = E[y - 1][x + 1] if y > 0 and x + 1 < pr.width else 0
    P = predict(nb, pr.n, pr.zb, pr.L)
    a0 = (2 * (abs(eW) + abs(eN)) + abs(eNW) + abs(eNE)
          + abs(nb.W - nb.NW) + abs(nb.N - nb.NW) + abs(nb.NE - nb.N))
    xe = state.XE[y][x] if tile.c > 0 else 0
    act = a0 + (xe >> 2)
    zb, qz = pr.zb, pr.qz
    if P >= zb:
        pc = qclass(pr.norm8(P - zb), ACT_THRESHOLDS)
    else:
        pc = 8 + qclass(pr.norm8(zb - P), ACT_THRESHOLDS)
    near = (nb.W, nb.N, nb.NW, nb.NE)
    depths = [max(zb - v, 0) for v in near]
    dmean = (2 * (depths[0] + depths[1]) + depths[2] + depths[3] + 3) // 6
    return nb, Features(
        P=P,
        ac=qclass(pr.norm8(act), ACT_THRESHOLDS),
        xc=qclass(pr.norm8(xe >> 2), ACT_THRESHOLDS),
        pc=pc,
        nz=sum(1 for v in near if v <= zb),
        nq=sum(1 for v in near if v == qz),
        sW=sign3(eW),
        sN=sign3(eN),
        a0c=qclass(pr.norm8(a0), A0_THRESHOLDS),
        ae=pr.norm8(2 * (abs(eW) + abs(eN)) + abs(eNW) + abs(eNE)),
        dmean=pr.norm8(dmean),
        dn=qclass(pr.norm8(dmean), DEPTH_THRESHOLDS),
    )


def update_maps(state: ExtState, tile: ExtTile, x: int, y: int, value: int, P: int) -> None:
    """SPEC §11.5: the residual map of the tile and the cross-channel map XE
    after sample (x, y)."""
    e = value - P
    tile.E[y][x] = e
    ae = 16 * abs(e)
    if tile.c == 0:
        state.XE[y][x] = ae
    else:
        state.XE[y][x] += (ae - state.XE[y][x]) >> 4


# --- SPEC §11.7 contexts of each decision ---------------------------------------

@dataclass(frozen=True)
class Decision:
    """SPEC §11.7: the contexts of one decision: S always; X, V and the weight
    set ``ws`` when the decision is mixed (setting 0)."""

    S: int
    X: int = -1
    V: int = -1
    ws: int = -1

    @property
    def mixed(self) -> bool:
        return self.ws >= 0


def weight_set(f: Features, offset: int, zero_level: bool) -> int:
    """SPEC §11.9: the weight set of a mixed decision."""
    return (f.a0c * NUM_MIX_OFFSETS + offset) * 2 + (1 if zero_level else 0)


def in_band_decision(pr: ExtParams, f: Features) -> Decision:
    npc = (f.nz * 16 + f.pc) * 8
    vband = min(max(f.P - pr.zb, BAND_DIFF_MIN), BAND_DIFF_MAX) - BAND_DIFF_MIN if pr.zb > 0 else 0
    return Decision(S_BAND + npc + f.ac, X_BAND + npc + f.xc, V_BAND + vband,
                    weight_set(f, MIX_OFF_BAND, False))


def depth_decision(pr: ExtParams, f: Features, i: int) -> Decision:
    dP = max(pr.zb - f.P, 0)
    dc = qclass(pr.norm8(dP), DEPTH_THRESHOLDS)
    ib = min(i, BAND_CTX_CAP)
    return Decision(S_DEPTH + ((dc * 5 + f.nz) * 8 + f.ac) * 8 + ib,
                    X_DEPTH + (f.dn * 8 + f.xc) * 8 + ib,
                    V_DEPTH + min(dP, BAND_VALUE_CAP) * 16 + min(i, BAND_VALUE_CAP),
                    weight_set(f, MIX_OFF_DEPTH + ib, False))


def zero_level_hit(pr: ExtParams, vc: int) -> bool:
    """SPEC §11.7: a decision whose candidate value is the zero level qz (floor
    mode only) takes a context of its own."""
    return pr.qz > 0 and pr.zb == 0 and vc == pr.qz


def at_prediction_decision(pr: ExtParams, f: Features, Pp: int) -> Decision:
    zl = zero_level_hit(pr, Pp)
    S = S_ZERO_LEVEL + f.nq * 3 if zl else S_ZERO + f.ac * 16 + f.pc
    return Decision(S, X_ZERO + f.xc * 16 + f.pc, V_ZERO + pr.norm8(Pp),
                    weight_set(f, MIX_OFF_ZERO, zl))


def below_prediction_decision(f: Features) -> Decision:
    return Decision(S_SIGN + (f.ac * 16 + f.pc) * 9 + f.sW * 3 + f.sN)


def magnitude_decision(pr: ExtParams, f: Features, below: int, i: int, vc: int) -> Decision:
    zl = zero_level_hit(pr, vc)
    iu = min(i, UNARY_CTX_CAP)
    S = S_ZERO_LEVEL + f.nq * 3 + 1 + below if zl else S_UNARY + ((f.ac * 16 + f.pc) * 2 + below) * 6 + iu
    return Decision(S, X_UNARY + ((f.xc * 16 + f.pc) * 2 + below) * 6 + iu,
                    V_UNARY + pr.norm8(vc) * 2 + below,
                    weight_set(f, MIX_OFF_UNARY + below * 6 + iu, zl))


def magnitude_escape_decision(f: Features, below: int, j: int) -> Decision:
    return Decision(S_EG + ((f.ac * 16 + f.pc) * 2 + below) * 20 + min(j, EG_CTX_CAP))


def depth_escape_decision(j: int) -> Decision:
    return Decision(S_DEPTH_EG + min(j, BAND_EG_CTX_CAP))


# --- coding one decision (SPEC §11.8-§11.9) -----------------------------------------

def decision_inputs(state: ExtState, d: Decision) -> tuple[int, int, int]:
    ctx = state.contexts
    return stretch(ctx[d.S].p), stretch(ctx[d.X].p), stretch(ctx[d.V].p)


def write_decision(enc: RangeEncoder, state: ExtState, d: Decision, binVal: int) -> None:
    """SPEC §11.8-§11.9: code one decision and adapt what coded it."""
    ctx = state.contexts
    if d.mixed and state.params.setting == SETTING_MIXING:
        st = decision_inputs(state, d)
        p12 = state.mixer.mix(d.ws, st)
        enc.encode_bin(binVal, p12 << 4)
        state.mixer.update(d.ws, st, p12, binVal)
        for c in (d.S, d.X, d.V):
            ctx[c].update(binVal)
    else:
        enc.encode_bin(binVal, ctx[d.S].p)
        ctx[d.S].update(binVal)


def read_decision(dec: RangeDecoder, state: ExtState, d: Decision) -> int:
    """SPEC §11.8-§11.9: decode one decision and adapt what coded it."""
    ctx = state.contexts
    if d.mixed and state.params.setting == SETTING_MIXING:
        st = decision_inputs(state, d)
        p12 = state.mixer.mix(d.ws, st)
        binVal = dec.decode_bin(p12 << 4)
        state.mixer.update(d.ws, st, p12, binVal)
        for c in (d.S, d.X, d.V):
            ctx[c].update(binVal)
    else:
        binVal = dec.decode_bin(ctx[d.S].p)
        ctx[d.S].update(binVal)
    return binVal


class BinCoder(Protocol):
    """Either direction, for the escapes' suffix bits."""


# --- SPEC §11.6 the Exp-Golomb escape ------------------------------------------

def write_escape(enc: RangeEncoder, state: ExtState, value: int,
                 decision: Callable[[int], Decision]) -> None:
    """SPEC §11.6 escape: Exp-Golomb of order 0: g = FloorLog2(value + 1) ones
    and a zero, each coded with decision(j), then g bits of value + 1 below its
    leading one, at probability one half."""
    g = floor_log2(value + 1)
    for j in range(g):
        write_decision(enc, state, decision(j), 1)
    write_decision(enc, state, decision(g), 0)
    enc.encode_bits(value + 1 - (1 << g), g)


def read_escape(dec: RangeDecoder, state: ExtState, decision: Callable[[int], Decision],
                trace: Tracer = silent, name: str = "escape") -> int:
    """SPEC §11.6 escape, read; a prefix of more than MAX_EG_PREFIX ones is an error."""
    start = dec.bytes_read()
    g = 0
    while read_decision(dec, state, decision(g)):
        g += 1
        if g > MAX_EG_PREFIX:
            raise DecodeError("remainder_prefix_too_long", dec.byte_offset(), "11.6",
                              f"escape prefix longer than {MAX_EG_PREFIX} ones")
    value = (1 << g) + dec.decode_bits(g) - 1
    trace(start, name, value)
    return value


# --- SPEC §11.6 ext_sample() ---------------------------------------------------------

def split_bits(pr: ExtParams, f: Features) -> int:
    """SPEC §11.6: kk, the low bits of a magnitude coded at probability one half."""
    kk = pr.k
    if pr.split_offset > 0:
        kk += max(0, floor_log2(f.ae + 1) - pr.split_offset)
    return kk


def magnitude_range(pr: ExtParams, Pp: int) -> tuple[bool, int]:
    """SPEC §11.6: whether the side of the prediction is coded, and if not which
    side it is (1: below)."""
    if pr.zb + 1 < Pp < pr.L:
        return True, 0
    return False, 1 if Pp == pr.L else 0


def write_ext_sample(enc: RangeEncoder, state: ExtState, tile: ExtTile, x: int, y: int) -> None:
    """SPEC §11.6 ext_sample(x, y), written."""
    pr = state.params
    value = tile.samples[y][x]
    _, f = features(state, tile, x, y)
    zb = pr.zb
    in_band = 1 if value <= zb else 0
    write_decision(enc, state, in_band_decision(pr, f), in_band)
    if in_band:
        if zb > 0:
            write_band_depth(enc, state, f, zb - value)
    else:
        Pp = max(f.P, zb + 1)
        at_prediction = 1 if value == Pp else 0
        write_decision(enc, state, at_prediction_decision(pr, f, Pp), at_prediction)
        if not at_prediction:
            coded, below = magnitude_range(pr, Pp)
            if coded:
                below = 1 if value < Pp else 0
                write_decision(enc, state, below_prediction_decision(f), below)
            write_magnitude(enc, state, f, Pp, below, abs(value - Pp) - 1)
    update_maps(state, tile, x, y, value, f.P)


def read_ext_sample(dec: RangeDecoder, state: ExtState, tile: ExtTile, x: int, y: int,
                    trace: Tracer = silent) -> None:
    """SPEC §11.6 ext_sample(x, y), read."""
    pr = state.params
    _, f = features(state, tile, x, y)
    zb = pr.zb
    start = dec.bytes_read()
    in_band = read_decision(dec, state, in_band_decision(pr, f))
    trace(start, "in_band", in_band)
    if in_band:
        value = zb - read_band_depth(dec, state, f, trace) if zb > 0 else 0
    else:
        Pp = max(f.P, zb + 1)
        start = dec.bytes_read()
        at_prediction = read_decision(dec, state, at_prediction_decision(pr, f, Pp))
        trace(start, "at_prediction", at_prediction)
        if at_prediction:
            value = Pp
        else:
            coded, below = magnitude_range(pr, Pp)
            if coded:
                start = dec.bytes_read()
                below = read_decision(dec, state, below_prediction_decision(f))
                trace(start, "below_prediction", below)
            m = read_magnitude(dec, state, f, Pp, below, trace)
            value = Pp - 1 - m if below else Pp + 1 + m
    tile.samples[y][x] = value
    trace(dec.bytes_read(), "sample", value)
    update_maps(state, tile, x, y, value, f.P)


def depth_split_bits(pr: ExtParams, f: Features) -> int:
    """SPEC §11.6: kd, the low bits of a band depth coded at probability one half."""
    if pr.split_offset == 0:
        return 0
    return max(0, floor_log2(f.dmean + 1) - (pr.split_offset - DEPTH_SPLIT_BIAS))


def write_band_depth(enc: RangeEncoder, state: ExtState, f: Features, depth: int) -> None:
    """SPEC §11.6 band_depth: zb - value as a high part (unary up to
    UNARY_LIMIT, then escape) and kd low bits."""
    pr = state.params
    kd = depth_split_bits(pr, f)
    high, zbh = depth >> kd, pr.zb >> kd
    limit = min(zbh, UNARY_LIMIT)
    for i in range(limit):
        write_decision(enc, state, depth_decision(pr, f, i), 1 if high > i else 0)
        if high <= i:
            break
    else:
        if limit == UNARY_LIMIT and zbh > UNARY_LIMIT:
            write_escape(enc, state, high - UNARY_LIMIT, depth_escape_decision)
    enc.encode_bits(depth & ((1 << kd) - 1), kd)


def read_band_depth(dec: RangeDecoder, state: ExtState, f: Features, trace: Tracer = silent) -> int:
    """SPEC §11.6 band_depth, read; a depth beyond zb is an error."""
    pr = state.params
    start = dec.bytes_read()
    kd = depth_split_bits(pr, f)
    zbh = pr.zb >> kd
    limit = min(zbh, UNARY_LIMIT)
    high = 0
    while high < limit and read_decision(dec, state, depth_decision(pr, f, high)):
        high += 1
    if high == UNARY_LIMIT and zbh > UNARY_LIMIT:
        high += read_escape(dec, state, depth_escape_decision, trace, "depth_escape")
    depth = (high << kd) | dec.decode_bits(kd)
    if depth > pr.zb:
        raise DecodeError("residual_out_of_range", dec.byte_offset(), "11.6",
                          f"band depth {depth} exceeds the band level {pr.zb}")
    trace(start, "band_depth", depth)
    return depth


def write_magnitude(enc: RangeEncoder, state: ExtState, f: Features, Pp: int, below: int, m: int) -> None:
    """SPEC §11.6 magnitude: m = |value - P'| - 1 as a high part (unary, then
    escape) and kk low bits."""
    pr = state.params
    kk = split_bits(pr, f)
    high, maxh = m >> kk, magnitude_max(pr, Pp, below) >> kk
    limit = min(maxh, UNARY_LIMIT)
    step = -(1 << kk) if below else 1 << kk
    for i in range(limit):
        vc = Pp + (i + 1) * step
        write_decision(enc, state, magnitude_decision(pr, f, below, i, vc), 1 if high > i else 0)
        if high <= i:
            break
    else:
        if limit == UNARY_LIMIT and maxh > UNARY_LIMIT:
            write_escape(enc, state, high - UNARY_LIMIT,
                         lambda j: magnitude_escape_decision(f, below, j))
    enc.encode_bits(m & ((1 << kk) - 1), kk)


def magnitude_max(pr: ExtParams, Pp: int, below: int) -> int:
    """SPEC §11.6: the largest m that keeps the value above zb and at most L."""
    return Pp - pr.zb - 2 if below else pr.L - 1 - Pp


def read_magnitude(dec: RangeDecoder, state: ExtState, f: Features, Pp: int, below: int,
                   trace: Tracer = silent) -> int:
    """SPEC §11.6 magnitude, read; one beyond its maximum is an error."""
    pr = state.params
    start = dec.bytes_read()
    kk = split_bits(pr, f)
    mmax = magnitude_max(pr, Pp, below)
    maxh = mmax >> kk
    limit = min(maxh, UNARY_LIMIT)
    step = -(1 << kk) if below else 1 << kk
    high = 0
    while high < limit and read_decision(dec, state, magnitude_decision(pr, f, below, high,
                                                                         Pp + (high + 1) * step)):
        high += 1
    if high == UNARY_LIMIT and maxh > UNARY_LIMIT:
        high += read_escape(dec, state, lambda j: magnitude_escape_decision(f, below, j), trace,
                            "magnitude_escape")
    m = (high << kk) | dec.decode_bits(kk)
    if m > mmax:
        raise DecodeError("residual_out_of_range", dec.byte_offset(), "11.6",
                          f"magnitude {m} beyond the largest possible, {mmax}")
    trace(start, "magnitude", m)
    return m


# --- SPEC §11.2 ext_tile() and ext_payload() -------------------------------------

def write_ext_tile(enc: RangeEncoder, state: ExtState, c: int, samples: Samples) -> None:
    """SPEC §11.2 ext_tile(c): every sample in raster order."""
    pr = state.params
    tile = ExtTile(c, samples, [[0] * pr.width for _ in range(pr.height)])
    for y in range(pr.height):
        for x in range(pr.width):
            write_ext_sample(enc, state, tile, x, y)


def read_ext_tile(dec: RangeDecoder, state: ExtState, c: int,
                  trace: Callable[[int, int, int, str, int], None] | None = None) -> Samples:
    """SPEC §11.2 ext_tile(c), read."""
    pr = state.params
    tile = ExtTile(c, [[0] * pr.width for _ in range(pr.height)],
                   [[0] * pr.width for _ in range(pr.height)])
    for y in range(pr.height):
        for x in range(pr.width):
            sink = silent if trace is None else _sample_tracer(trace, x, y)
            read_ext_sample(dec, state, tile, x, y, sink)
    return tile.samples


def _sample_tracer(trace: Callable[[int, int, int, str, int], None], x: int, y: int) -> Tracer:
    return lambda pos, name, value: trace(pos, x, y, name, value)


def write_ext_payload(params: ExtParams, tiles: list[Samples]) -> bytes:
    """SPEC §11.2 ext_payload(): the tiles in channel order; returns the payload."""
    enc = RangeEncoder()
    state = ExtState(params)
    for c, samples in enumerate(tiles):
        write_ext_tile(enc, state, c, samples)
    return enc.finish()


def read_ext_payload(dec: RangeDecoder, params: ExtParams,
                     trace: Callable[[int, int, int, int, str, int], None] | None = None) -> list[Samples]:
    """SPEC §11.2 ext_payload(), read, and the end of the range code (SPEC §11.10)."""
    state = ExtState(params)
    tiles = []
    for c in range(params.channels):
        sink = None if trace is None else _tile_tracer(trace, c)
        tiles.append(read_ext_tile(dec, state, c, sink))
    check_end(dec)
    return tiles


def _tile_tracer(trace: Callable[[int, int, int, int, str, int], None],
                 c: int) -> Callable[[int, int, int, str, int], None]:
    return lambda pos, x, y, name, value: trace(pos, c, x, y, name, value)
