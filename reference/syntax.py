"""The payload syntax of SPEC §5 and §6, one ``read_X``/``write_X`` pair per
syntax structure and per syntax element, side by side.

Readers take the arithmetic decoder (SPEC §7.4) and report every element they
parse to a tracer as (bit position, name, value), for SPEC §10's trace. Writers
take any bin sink with ``encode_decision`` and ``encode_bypass``: the arithmetic
encoder (SPEC §7.6) or the reference encoder's cost estimator (SPEC §8.5). Where
the syntax leaves a choice to the encoder (``palette_idx``, a block's mode), the
writers ask an :class:`EncoderChoices`, which the reference encoder implements
(SPEC §8.3, §8.4).

The state the functions share lives in two objects (dfc.reference.state):
:class:`PayloadState` crosses tiles, :class:`Tile` is the tile being coded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from dfc.errors import DecodeError

from .blocks import Scan, block_scan, block_size
from .cabac import ArithmeticDecoder, ArithmeticEncoder, ContextModel
from .palette import update_palette
from .prediction import Residual, block_residuals, derive_mpm, reconstruct_block
from .state import PayloadState, Tile
from .tables import (
    CTX_GT1_FLAG,
    CTX_GT2_FLAG,
    CTX_MPM_FLAG,
    CTX_PALETTE_IDX,
    CTX_SIG_FLAG,
    CTX_SIGN_FLAG,
    CTX_SKIP_FLAG,
    MAX_GT1_FLAGS,
    MAX_REMAINDER_PREFIX,
    MAX_RICE_PARAM,
    MAX_STAT_COEFF,
    RICE_PREFIX_LIMIT,
)

#: Receives (bit position, element name, value) for each element read (SPEC §10).
Tracer = Callable[[int, str, int], None]


class BinSink(Protocol):
    """Where writers send bins: an arithmetic encoder or a cost estimator."""

    def encode_decision(self, ctx: ContextModel, binVal: int) -> None: ...
    def encode_bypass(self, binVal: int) -> None: ...


class TraceSink(Protocol):
    """Receives every field and element a decoder parses (SPEC §10; see
    dfc.reference.trace)."""

    def header_field(self, byte_offset: int, name: str, value: object) -> None: ...
    def payload_element(self, bit_pos: int, channel: int, block: tuple[int, int] | None,
                        name: str, value: int) -> None: ...
    def end_of_payload(self, bit_pos: int) -> None: ...
    def ext_element(self, byte_pos: int, channel: int, x: int, y: int, name: str,
                    value: int) -> None: ...


class EncoderChoices(Protocol):
    """The encoder's decisions that the syntax leaves open (SPEC §8)."""

    def palette_idx(self, state: PayloadState, samples: list[list[int]]) -> int: ...
    def pred_mode(self, state: PayloadState, tile: Tile, bx: int, by: int) -> int: ...


def silent(bit_pos: int, name: str, value: int) -> None:
    """A tracer that drops everything."""
    return None


def element_tracer(trace: TraceSink | None, c: int, block: tuple[int, int] | None) -> Tracer:
    """The Tracer that labels elements of channel ``c`` (and block) for ``trace``."""
    if trace is None:
        return silent
    sink = trace
    return lambda bit_pos, name, value: sink.payload_element(bit_pos, c, block, name, value)


# --- SPEC §5.1 payload() -----------------------------------------------------

def write_payload(enc: ArithmeticEncoder, palette: tuple[int, ...], tiles: list[list[list[int]]],
                  L: int, choices: EncoderChoices) -> None:
    """SPEC §5.1 payload(): every channel as a tile, each followed by the
    palette update, then end_of_payload. ``tiles[c][y][x]`` are the samples."""
    state = PayloadState.initial(palette)
    for c, samples in enumerate(tiles):
        palette_idx = choices.palette_idx(state, samples)
        tile = Tile(c=c, height=len(samples), width=len(samples[0]), L=L,
                    PalPred=state.PaletteOrder[palette_idx], samples=samples)
        write_tile(enc, state, tile, palette_idx, choices)
        state.PaletteOrder = update_palette(state.PaletteOrder, state.PaletteCount, samples)
    write_end_of_payload(enc)


def read_payload(dec: ArithmeticDecoder, palette: tuple[int, ...], shape: tuple[int, int, int],
                 L: int, payload_size: int, trace: TraceSink | None = None) -> list[Tile]:
    """SPEC §5.1 payload(), read: the decoded tiles, channel by channel."""
    channels, height, width = shape
    state = PayloadState.initial(palette)
    tiles = []
    for c in range(channels):
        tile = read_tile(dec, state, c, height, width, L, trace)
        state.PaletteOrder = update_palette(state.PaletteOrder, state.PaletteCount, tile.samples)
        tiles.append(tile)
    read_end_of_payload(dec, payload_size, trace)
    return tiles


def write_end_of_payload(enc: ArithmeticEncoder) -> None:
    """SPEC §5.1 end_of_payload = 1, which flushes the engine (SPEC §7.6.4); the
    alignment_zero_bits are added by ``enc.payload()``."""
    enc.encode_terminate(1)


def read_end_of_payload(dec: ArithmeticDecoder, payload_size: int,
                        trace: TraceSink | None = None) -> None:
    """SPEC §5.1: end_of_payload is 1, the last bit it leaves read is a 1, no
    payload byte is left unread, and the alignment_zero_bits are 0."""
    start = dec.bit_pos
    if dec.decode_terminate() != 1:
        raise DecodeError("missing_end_of_payload", dec.byte_offset(), "5.1",
                          "end_of_payload is 0 after the last tile")
    if trace is not None:
        trace.end_of_payload(start)
    if dec.last_bit() != 1:  # the flush's final 1: one byte form per stream
        raise DecodeError("bad_final_bit", dec.start + ((dec.bit_pos - 1) >> 3), "5.1",
                          "the last bit of the arithmetic code is 0, not the flush's final 1")
    used = (dec.bit_pos + 7) // 8
    if used < payload_size:
        raise DecodeError("payload_unused_bytes", dec.start + used, "5.1",
                          f"{payload_size - used} payload bytes follow end_of_payload")
    while dec.bit_pos % 8:
        offset = dec.byte_offset()
        alignment_zero_bit = dec.read_bits(1)
        if alignment_zero_bit:
            raise DecodeError("nonzero_padding", offset, "5.1",
                              "alignment bits after end_of_payload are not zero")


# --- SPEC §5.2 tile(c) -------------------------------------------------------

def write_tile(enc: BinSink, state: PayloadState, tile: Tile, palette_idx: int,
               choices: EncoderChoices) -> None:
    """SPEC §5.2 tile(c): palette_idx, then the blocks in raster order, each in
    the mode the encoder chooses."""
    write_palette_idx(enc, state, palette_idx)
    for by in range((tile.height + 3) // 4):
        for bx in range((tile.width + 3) // 4):
            write_block(enc, state, tile, bx, by, choices.pred_mode(state, tile, bx, by))


def read_tile(dec: ArithmeticDecoder, state: PayloadState, c: int, height: int, width: int,
              L: int, trace: TraceSink | None = None) -> Tile:
    """SPEC §5.2 tile(c), read: palette_idx selects PalPred, then the blocks."""
    palette_idx = read_palette_idx(dec, state, element_tracer(trace, c, None))
    tile = Tile(c=c, height=height, width=width, L=L, PalPred=state.PaletteOrder[palette_idx],
                samples=[[0] * width for _ in range(height)])
    for by in range((height + 3) // 4):
        for bx in range((width + 3) // 4):
            read_block(dec, state, tile, bx, by, element_tracer(trace, c, (bx, by)))
    return tile


# --- SPEC §5.3 palette_idx: truncated unary, cMax = palette_size - 1 ---------

def write_palette_idx(enc: BinSink, state: PayloadState, palette_idx: int) -> None:
    """SPEC §5.3 palette_idx: bin i is 1 while i < palette_idx and uses context
    CTX_PALETTE_IDX + i; no 0 ends the value cMax."""
    cMax = len(state.PaletteOrder) - 1
    for i in range(cMax):
        binVal = 1 if palette_idx > i else 0
        enc.encode_decision(state.contexts[CTX_PALETTE_IDX + i], binVal)
        if binVal == 0:
            return


def read_palette_idx(dec: ArithmeticDecoder, state: PayloadState, trace: Tracer = silent) -> int:
    """SPEC §5.3 palette_idx, read."""
    start = dec.bit_pos
    cMax = len(state.PaletteOrder) - 1
    palette_idx = 0
    while palette_idx < cMax:
        if dec.decode_decision(state.contexts[CTX_PALETTE_IDX + palette_idx]) == 0:
            break
        palette_idx += 1
    trace(start, "palette_idx", palette_idx)
    return palette_idx


# --- SPEC §6.1 block() -------------------------------------------------------

def skip_ctx_inc(tile: Tile, bx: int, by: int) -> int:
    """SPEC §6.6: ctxInc of skip_flag = SkipLeft + SkipTop, each 0 outside the tile."""
    SkipLeft = tile.skip_flags[by][bx - 1] if bx > 0 else 0
    SkipTop = tile.skip_flags[by - 1][bx] if by > 0 else 0
    return SkipLeft + SkipTop


def write_block(enc: BinSink, state: PayloadState, tile: Tile, bx: int, by: int, mode: int) -> None:
    """SPEC §6.1 block() in ``mode``: mpm_flag/rem_mode, skip_flag (1 exactly
    when every residual is 0, SPEC §8.4), residual_block(). Records the block's
    mode and skip_flag in ``tile`` for the blocks after it."""
    BlkW, BlkH = block_size(tile, bx, by)
    MpmMode = derive_mpm(tile.modes, bx, by)
    ScanPos = block_scan(mode, BlkW, BlkH)
    residual = block_residuals(tile, mode, bx, by)
    skip_flag = 0 if any(residual[y][x] for x, y in ScanPos) else 1
    write_pred_mode(enc, state, mode, MpmMode)
    write_skip_flag(enc, state, skip_flag, skip_ctx_inc(tile, bx, by))
    if not skip_flag:
        write_residual_block(enc, state, mode, ScanPos, residual)
    tile.modes[by][bx] = mode
    tile.skip_flags[by][bx] = skip_flag


def read_block(dec: ArithmeticDecoder, state: PayloadState, tile: Tile, bx: int, by: int,
               trace: Tracer = silent) -> None:
    """SPEC §6.1 block(), read, and the block reconstructed (SPEC §6.8)."""
    BlkW, BlkH = block_size(tile, bx, by)
    MpmMode = derive_mpm(tile.modes, bx, by)
    mode = read_pred_mode(dec, state, MpmMode, trace)
    skip_flag = read_skip_flag(dec, state, skip_ctx_inc(tile, bx, by), trace)
    residual: Residual = [[0] * 4 for _ in range(4)]
    if not skip_flag:
        residual = read_residual_block(dec, state, mode, block_scan(mode, BlkW, BlkH), tile.L, trace)
    tile.modes[by][bx] = mode
    tile.skip_flags[by][bx] = skip_flag
    reconstruct_block(tile, mode, bx, by, residual, dec.byte_offset)


# --- SPEC §6.5 mpm_flag and rem_mode -------------------------------------------

def write_pred_mode(enc: BinSink, state: PayloadState, mode: int, MpmMode: int) -> None:
    """SPEC §6.5: mpm_flag (context-coded); when 0, rem_mode in 2 bypass bins,
    most significant first, indexing the four modes other than MpmMode in
    increasing order."""
    mpm_flag = 1 if mode == MpmMode else 0
    enc.encode_decision(state.contexts[CTX_MPM_FLAG], mpm_flag)
    if mpm_flag:
        return
    rem_mode = mode if mode < MpmMode else mode - 1
    enc.encode_bypass(rem_mode >> 1)
    enc.encode_bypass(rem_mode & 1)


def read_pred_mode(dec: ArithmeticDecoder, state: PayloadState, MpmMode: int,
                   trace: Tracer = silent) -> int:
    """SPEC §6.5 mpm_flag and rem_mode, read; returns the block's mode (traced
    as ``pred_mode``, SPEC §10)."""
    start = dec.bit_pos
    mpm_flag = dec.decode_decision(state.contexts[CTX_MPM_FLAG])
    trace(start, "mpm_flag", mpm_flag)
    if mpm_flag:
        mode = MpmMode
    else:
        start = dec.bit_pos
        rem_mode = dec.decode_bypass() << 1
        rem_mode |= dec.decode_bypass()
        trace(start, "rem_mode", rem_mode)
        mode = rem_mode if rem_mode < MpmMode else rem_mode + 1
    trace(dec.bit_pos, "pred_mode", mode)
    return mode


# --- SPEC §6.6 skip_flag -----------------------------------------------------

def write_skip_flag(enc: BinSink, state: PayloadState, skip_flag: int, ctxInc: int) -> None:
    """SPEC §6.6 skip_flag, context CTX_SKIP_FLAG + SkipLeft + SkipTop."""
    enc.encode_decision(state.contexts[CTX_SKIP_FLAG + ctxInc], skip_flag)


def read_skip_flag(dec: ArithmeticDecoder, state: PayloadState, ctxInc: int,
                   trace: Tracer = silent) -> int:
    """SPEC §6.6 skip_flag, read."""
    start = dec.bit_pos
    skip_flag = dec.decode_decision(state.contexts[CTX_SKIP_FLAG + ctxInc])
    trace(start, "skip_flag", skip_flag)
    return skip_flag


# --- SPEC §6.7 residual_block() ----------------------------------------------

def sig_ctx_inc(mode: int, sig_flag: Residual, x: int, y: int) -> int:
    """SPEC §6.7.1: ctxInc = 3 * mode + SigLeft + SigTop, the neighbours inside
    the block (both precede (x, y) in every scan, SPEC Table 8)."""
    SigLeft = sig_flag[y][x - 1] if x > 0 else 0
    SigTop = sig_flag[y - 1][x] if y > 0 else 0
    return 3 * mode + SigLeft + SigTop


def update_gt1_ctx(Greater1Ctx: int, gt1_flag: int) -> int:
    """SPEC §6.7.2: Greater1Ctx after a gt1_flag (HEVC's rule): 0 for good
    after a 1, else one more up to 3."""
    if gt1_flag:
        return 0
    if Greater1Ctx > 0:
        return min(Greater1Ctx + 1, 3)
    return 0


def base_level(k: int, gt1_flag: list[int], FirstGt1: int, gt2_flag: int) -> tuple[int, bool]:
    """SPEC §6.7.2: (Base, BaseOpen) of the k-th significant residual: the
    magnitude its flags establish, and whether abs_remaining follows to add to it."""
    if k >= MAX_GT1_FLAGS:
        return 1, True
    if not gt1_flag[k]:
        return 1, False
    if k == FirstGt1:
        return (3, True) if gt2_flag else (2, False)
    return 2, True


def initial_rice(StatCoeff: int) -> int:
    """SPEC §6.7.3: a block's Rice parameter starts from the running StatCoeff."""
    return StatCoeff >> 2


def update_stat_coeff(StatCoeff: int, abs_remaining: int) -> int:
    """SPEC §6.7.3: StatCoeff after a block's first abs_remaining (HEVC's
    persistent Rice adaptation), kept within 0 .. MAX_STAT_COEFF."""
    if abs_remaining >= (3 << (StatCoeff >> 2)):
        return min(StatCoeff + 1, MAX_STAT_COEFF)
    if 2 * abs_remaining < (1 << (StatCoeff >> 2)):
        return max(StatCoeff - 1, 0)
    return StatCoeff


def update_rice(Rice: int, magnitude: int) -> int:
    """SPEC §6.7.3: Rice grows by one when a magnitude exceeds 3 * 2^Rice."""
    if magnitude > 3 * (1 << Rice):
        return min(Rice + 1, MAX_RICE_PARAM)
    return Rice


def write_sign_flag(enc: BinSink, state: PayloadState, mode: int, sign_flag: int) -> None:
    """SPEC §6.7.2 sign_flag (1: negative), context CTX_SIGN_FLAG + mode: after
    Pal at a ReLU's minimum, residuals are almost never negative (Annex A.j)."""
    enc.encode_decision(state.contexts[CTX_SIGN_FLAG + mode], sign_flag)


def read_sign_flag(dec: ArithmeticDecoder, state: PayloadState, mode: int,
                   trace: Tracer = silent) -> int:
    """SPEC §6.7.2 sign_flag, read."""
    start = dec.bit_pos
    sign_flag = dec.decode_decision(state.contexts[CTX_SIGN_FLAG + mode])
    trace(start, "sign_flag", sign_flag)
    return sign_flag


def write_abs_remaining(enc: BinSink, value: int, Rice: int) -> None:
    """SPEC §6.7.3 abs_remaining: a Rice code with parameter Rice while
    value >> Rice < RICE_PREFIX_LIMIT, else RICE_PREFIX_LIMIT ones and an
    Exp-Golomb code of order Rice + 1. All bins bypass."""
    if value < (RICE_PREFIX_LIMIT << Rice):
        for _ in range(value >> Rice):
            enc.encode_bypass(1)
        enc.encode_bypass(0)
        for i in range(Rice - 1, -1, -1):
            enc.encode_bypass((value >> i) & 1)
        return
    value -= RICE_PREFIX_LIMIT << Rice
    for _ in range(RICE_PREFIX_LIMIT):
        enc.encode_bypass(1)
    order = Rice + 1
    while value >= (1 << order):
        enc.encode_bypass(1)
        value -= 1 << order
        order += 1
    enc.encode_bypass(0)
    for i in range(order - 1, -1, -1):
        enc.encode_bypass((value >> i) & 1)


def read_abs_remaining(dec: ArithmeticDecoder, Rice: int) -> int:
    """SPEC §6.7.3 abs_remaining, read; a prefix of more than
    MAX_REMAINDER_PREFIX ones is an error."""
    P = 0
    while dec.decode_bypass():
        P += 1
        if P > MAX_REMAINDER_PREFIX:
            raise DecodeError(
                "remainder_prefix_too_long", dec.byte_offset(), "6.7.3",
                f"abs_remaining prefix longer than {MAX_REMAINDER_PREFIX} ones",
            )
    if P < RICE_PREFIX_LIMIT:
        S = 0
        for _ in range(Rice):
            S = (S << 1) | dec.decode_bypass()
        return (P << Rice) + S
    e = P - RICE_PREFIX_LIMIT
    S = 0
    for _ in range(Rice + 1 + e):
        S = (S << 1) | dec.decode_bypass()
    return (RICE_PREFIX_LIMIT << Rice) + ((1 << (Rice + 1 + e)) - (1 << (Rice + 1))) + S


def write_residual_block(enc: BinSink, state: PayloadState, mode: int, ScanPos: Scan,
                         residual: Residual) -> None:
    """SPEC §6.7 residual_block() for a block whose residuals are not all 0:
    sig_flags (the last inferred when all before it are 0), gt1_flags, gt2_flag,
    sign_flags, then abs_remaining where the flags leave the magnitude open.
    Updates state.StatCoeff."""
    ctx = state.contexts
    NumPos = len(ScanPos)
    sig_flag: Residual = [[0] * 4 for _ in range(4)]  # SPEC's sig_flag[x][y], stored [y][x]
    SigPos: list[tuple[int, int]] = []
    for i, (x, y) in enumerate(ScanPos):
        flag = 1 if residual[y][x] != 0 else 0
        if not (i == NumPos - 1 and not SigPos):  # else inferred (= 1)
            enc.encode_decision(ctx[CTX_SIG_FLAG + sig_ctx_inc(mode, sig_flag, x, y)], flag)
        sig_flag[y][x] = flag
        if flag:
            SigPos.append((x, y))
    NumSig = len(SigPos)
    AbsLevel = [abs(residual[y][x]) for x, y in SigPos]

    gt1_flag: list[int] = []
    FirstGt1, Greater1Ctx = -1, 1
    for k in range(min(NumSig, MAX_GT1_FLAGS)):
        gt1_flag.append(1 if AbsLevel[k] > 1 else 0)
        enc.encode_decision(ctx[CTX_GT1_FLAG + Greater1Ctx], gt1_flag[k])
        Greater1Ctx = update_gt1_ctx(Greater1Ctx, gt1_flag[k])
        if gt1_flag[k] and FirstGt1 < 0:
            FirstGt1 = k
    gt2_flag = 0
    if FirstGt1 >= 0:
        gt2_flag = 1 if AbsLevel[FirstGt1] > 2 else 0
        enc.encode_decision(ctx[CTX_GT2_FLAG], gt2_flag)
    for x, y in SigPos:
        write_sign_flag(enc, state, mode, 1 if residual[y][x] < 0 else 0)

    Rice, First = initial_rice(state.StatCoeff), True
    for k in range(NumSig):
        Base, BaseOpen = base_level(k, gt1_flag, FirstGt1, gt2_flag)
        if BaseOpen:
            abs_remaining = AbsLevel[k] - Base
            write_abs_remaining(enc, abs_remaining, Rice)
            if First:
                state.StatCoeff = update_stat_coeff(state.StatCoeff, abs_remaining)
                First = False
            Rice = update_rice(Rice, AbsLevel[k])


def read_residual_block(dec: ArithmeticDecoder, state: PayloadState, mode: int,
                        ScanPos: Scan, L: int, trace: Tracer = silent) -> Residual:
    """SPEC §6.7 residual_block(), read; rejects a magnitude above L (SPEC §6.7.4).
    Updates state.StatCoeff and returns the block's residuals."""
    ctx = state.contexts
    NumPos = len(ScanPos)
    sig_flag: Residual = [[0] * 4 for _ in range(4)]  # SPEC's sig_flag[x][y], stored [y][x]
    SigPos: list[tuple[int, int]] = []
    for i, (x, y) in enumerate(ScanPos):
        if i == NumPos - 1 and not SigPos:
            flag = 1  # inferred: a block that is not skipped has a non-zero residual
        else:
            start = dec.bit_pos
            flag = dec.decode_decision(ctx[CTX_SIG_FLAG + sig_ctx_inc(mode, sig_flag, x, y)])
            trace(start, f"sig_flag[{x},{y}]", flag)
        sig_flag[y][x] = flag
        if flag:
            SigPos.append((x, y))
    NumSig = len(SigPos)

    gt1_flag: list[int] = []
    FirstGt1, Greater1Ctx = -1, 1
    for k in range(min(NumSig, MAX_GT1_FLAGS)):
        start = dec.bit_pos
        gt1_flag.append(dec.decode_decision(ctx[CTX_GT1_FLAG + Greater1Ctx]))
        trace(start, "gt1_flag", gt1_flag[k])
        Greater1Ctx = update_gt1_ctx(Greater1Ctx, gt1_flag[k])
        if gt1_flag[k] and FirstGt1 < 0:
            FirstGt1 = k
    gt2_flag = 0
    if FirstGt1 >= 0:
        start = dec.bit_pos
        gt2_flag = dec.decode_decision(ctx[CTX_GT2_FLAG])
        trace(start, "gt2_flag", gt2_flag)
    sign_flag = [read_sign_flag(dec, state, mode, trace) for _ in range(NumSig)]

    residual: Residual = [[0] * 4 for _ in range(4)]
    AbsLevel = [0] * NumSig
    Rice, First = initial_rice(state.StatCoeff), True
    for k, (x, y) in enumerate(SigPos):
        Base, BaseOpen = base_level(k, gt1_flag, FirstGt1, gt2_flag)
        AbsLevel[k] = Base
        if BaseOpen:
            start = dec.bit_pos
            trace(start, "Rice", Rice)  # derived, not a syntax element (SPEC §10)
            abs_remaining = read_abs_remaining(dec, Rice)
            trace(start, "abs_remaining", abs_remaining)
            AbsLevel[k] = Base + abs_remaining
            if First:
                state.StatCoeff = update_stat_coeff(state.StatCoeff, abs_remaining)
                First = False
            Rice = update_rice(Rice, AbsLevel[k])
        if AbsLevel[k] > L:  # SPEC §6.7.4, checked in scan order
            raise DecodeError(
                "residual_out_of_range", dec.byte_offset(), "6.7.4",
                f"residual magnitude {AbsLevel[k]} exceeds 2^bit_depth - 1 = {L}",
            )
        residual[y][x] = -AbsLevel[k] if sign_flag[k] else AbsLevel[k]
        trace(dec.bit_pos, f"residual[{x},{y}]", residual[y][x])  # derived (SPEC §10)
    return residual
