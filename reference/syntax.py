"""Payload syntax elements, each binarized and coded as SPEC §5 and §6.6-6.7 say.

Every element has a ``write_<element>`` (encoder) and a ``read_<element>``
(decoder) side by side. Writers take any bin sink with ``encode_decision`` and
``encode_bypass`` (the arithmetic encoder, or the encoder's cost estimator).
Readers report each element to an optional tracer as (bit position, name, value).
"""

from __future__ import annotations

from typing import Callable, Protocol, Sequence

from dfc.errors import DecodeError

from .cabac import ArithmeticDecoder, ContextModel
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

Contexts = list[ContextModel]
Scan = Sequence[tuple[int, int]]
Block = list[list[int]]  # 4x4 residuals, block[y][x]
Tracer = Callable[[int, str, int], None]


class BinSink(Protocol):
    def encode_decision(self, ctx: ContextModel, bin_val: int) -> None: ...
    def encode_bypass(self, bin_val: int) -> None: ...


def _silent(bit_pos: int, name: str, value: int) -> None:
    return None


# --- SPEC §5.3 palette_idx: truncated unary, cMax = palette_size - 1 ---------

def write_palette_idx(enc: BinSink, ctx: Contexts, palette_idx: int, palette_size: int) -> None:
    """SPEC §5.3 palette_idx: bin i is 1 while i < palette_idx; bin i uses
    context CTX_PALETTE_IDX + i."""
    for i in range(palette_size - 1):
        bin_val = 1 if palette_idx > i else 0
        enc.encode_decision(ctx[CTX_PALETTE_IDX + i], bin_val)
        if bin_val == 0:
            return


def read_palette_idx(dec: ArithmeticDecoder, ctx: Contexts, palette_size: int,
                     trace: Tracer = _silent) -> int:
    """SPEC §5.3 palette_idx."""
    start = dec.bit_pos
    palette_idx = 0
    while palette_idx < palette_size - 1:
        if dec.decode_decision(ctx[CTX_PALETTE_IDX + palette_idx]) == 0:
            break
        palette_idx += 1
    trace(start, "palette_idx", palette_idx)
    return palette_idx


# --- SPEC §6.5 mpm_flag, rem_mode ----------------------------------------------

def write_pred_mode(enc: BinSink, ctx: Contexts, mode: int, mpm: int) -> None:
    """SPEC §6.5: mpm_flag (context-coded); if 0, rem_mode as 2 bypass bins,
    most significant first, indexing the modes other than the MPM in increasing order."""
    if mode == mpm:
        enc.encode_decision(ctx[CTX_MPM_FLAG], 1)
        return
    enc.encode_decision(ctx[CTX_MPM_FLAG], 0)
    rem_mode = mode if mode < mpm else mode - 1
    enc.encode_bypass(rem_mode >> 1)
    enc.encode_bypass(rem_mode & 1)


def read_pred_mode(dec: ArithmeticDecoder, ctx: Contexts, mpm: int,
                   trace: Tracer = _silent) -> int:
    """SPEC §6.5 mpm_flag and rem_mode; returns the block's prediction mode."""
    start = dec.bit_pos
    mpm_flag = dec.decode_decision(ctx[CTX_MPM_FLAG])
    trace(start, "mpm_flag", mpm_flag)
    if mpm_flag:
        trace(dec.bit_pos, "pred_mode", mpm)
        return mpm
    start = dec.bit_pos
    rem_mode = dec.decode_bypass() << 1
    rem_mode |= dec.decode_bypass()
    trace(start, "rem_mode", rem_mode)
    mode = rem_mode if rem_mode < mpm else rem_mode + 1
    trace(dec.bit_pos, "pred_mode", mode)
    return mode


# --- SPEC §6.6 skip_flag -----------------------------------------------------

def write_skip_flag(enc: BinSink, ctx: Contexts, skip_flag: int, ctx_inc: int) -> None:
    """SPEC §6.6 skip_flag; ctx_inc = left block skipped + top block skipped."""
    enc.encode_decision(ctx[CTX_SKIP_FLAG + ctx_inc], skip_flag)


def read_skip_flag(dec: ArithmeticDecoder, ctx: Contexts, ctx_inc: int,
                   trace: Tracer = _silent) -> int:
    """SPEC §6.6 skip_flag."""
    start = dec.bit_pos
    skip_flag = dec.decode_decision(ctx[CTX_SKIP_FLAG + ctx_inc])
    trace(start, "skip_flag", skip_flag)
    return skip_flag


# --- SPEC §6.7 residual_block() ----------------------------------------------

def sig_ctx_inc(mode: int, sig: Block, x: int, y: int) -> int:
    """SPEC §6.7.1: 3 * mode plus the number of significant residuals left of and
    above (x, y) inside the block; both precede (x, y) in every scan."""
    return 3 * mode + (x > 0 and sig[y][x - 1] != 0) + (y > 0 and sig[y - 1][x] != 0)


def update_gt1_ctx(greater1_ctx: int, gt1_flag: int) -> int:
    """SPEC §6.7.2: greater1Ctx after a coded gt1_flag (HEVC's rule)."""
    if gt1_flag:
        return 0
    if greater1_ctx > 0:
        return min(greater1_ctx + 1, 3)
    return 0


def initial_rice_param(stat_coeff: int) -> int:
    """SPEC §6.7.3: a block's first cRiceParam comes from the running StatCoeff."""
    return stat_coeff >> 2


def update_stat_coeff(stat_coeff: int, abs_remaining: int) -> int:
    """SPEC §6.7.3: StatCoeff after a block's first abs_remaining (HEVC's
    persistent Rice adaptation), kept within 0..MAX_STAT_COEFF."""
    if abs_remaining >= (3 << (stat_coeff >> 2)):
        return min(stat_coeff + 1, MAX_STAT_COEFF)
    if 2 * abs_remaining < (1 << (stat_coeff >> 2)):
        return max(stat_coeff - 1, 0)
    return stat_coeff


def update_rice_param(rice: int, abs_level: int) -> int:
    """SPEC §6.7.3: cRiceParam grows when a level exceeds 3 * 2^cRiceParam."""
    if abs_level > 3 * (1 << rice):
        return min(rice + 1, MAX_RICE_PARAM)
    return rice


def write_sign_flag(enc: BinSink, ctx: Contexts, mode: int, sign_flag: int) -> None:
    """SPEC §6.7.2 sign_flag (1 = negative), context CTX_SIGN_FLAG + mode: after
    Pal with p_j* at the minimum, residuals are almost never negative."""
    enc.encode_decision(ctx[CTX_SIGN_FLAG + mode], sign_flag)


def read_sign_flag(dec: ArithmeticDecoder, ctx: Contexts, mode: int) -> int:
    """SPEC §6.7.2 sign_flag."""
    return dec.decode_decision(ctx[CTX_SIGN_FLAG + mode])


def write_abs_remaining(enc: BinSink, value: int, rice: int) -> None:
    """SPEC §6.7.3 abs_remaining: Rice code with parameter k while value >> k < 4,
    else 4 ones and an Exp-Golomb code of order k + 1. All bins bypass."""
    if value < (RICE_PREFIX_LIMIT << rice):
        for _ in range(value >> rice):
            enc.encode_bypass(1)
        enc.encode_bypass(0)
        for i in range(rice - 1, -1, -1):
            enc.encode_bypass((value >> i) & 1)
        return
    value -= RICE_PREFIX_LIMIT << rice
    for _ in range(RICE_PREFIX_LIMIT):
        enc.encode_bypass(1)
    order = rice + 1
    while value >= (1 << order):
        enc.encode_bypass(1)
        value -= 1 << order
        order += 1
    enc.encode_bypass(0)
    for i in range(order - 1, -1, -1):
        enc.encode_bypass((value >> i) & 1)


def read_abs_remaining(dec: ArithmeticDecoder, rice: int) -> int:
    """SPEC §6.7.3 abs_remaining."""
    prefix = 0
    while dec.decode_bypass():
        prefix += 1
        if prefix > MAX_REMAINDER_PREFIX:
            raise DecodeError(
                "remainder_prefix_too_long", dec.byte_offset(), "6.7.3",
                f"abs_remaining prefix longer than {MAX_REMAINDER_PREFIX} ones",
            )
    if prefix < RICE_PREFIX_LIMIT:
        suffix = 0
        for _ in range(rice):
            suffix = (suffix << 1) | dec.decode_bypass()
        return (prefix << rice) + suffix
    extra = prefix - RICE_PREFIX_LIMIT
    order = rice + 1 + extra
    suffix = 0
    for _ in range(order):
        suffix = (suffix << 1) | dec.decode_bypass()
    return (RICE_PREFIX_LIMIT << rice) + ((1 << (rice + 1 + extra)) - (1 << (rice + 1))) + suffix


def write_residual_block(enc: BinSink, ctx: Contexts, res: Block, scan: Scan,
                         mode: int, stat_coeff: int) -> int:
    """SPEC §6.7 residual_block(): sig_flag per scan position (the last one
    inferred when all before it are 0), gt1_flag for the first 8 significant
    residuals, gt2_flag for the first with gt1_flag = 1, sign_flag for each, then
    abs_remaining where the flags leave the level open. ``res`` must not be all zero.
    Returns StatCoeff after the block."""
    sig: Block = [[0] * 4 for _ in range(4)]
    levels: list[int] = []  # significant residuals in scan order
    last = len(scan) - 1
    for i, (x, y) in enumerate(scan):
        sig_flag = 1 if res[y][x] != 0 else 0
        if i == last and not levels:
            sig_flag = 1  # inferred
        else:
            enc.encode_decision(ctx[CTX_SIG_FLAG + sig_ctx_inc(mode, sig, x, y)], sig_flag)
        sig[y][x] = sig_flag
        if sig_flag:
            levels.append(res[y][x])
    greater1_ctx = 1
    first_gt1 = -1
    for k, level in enumerate(levels[:MAX_GT1_FLAGS]):
        gt1_flag = 1 if abs(level) > 1 else 0
        enc.encode_decision(ctx[CTX_GT1_FLAG + greater1_ctx], gt1_flag)
        greater1_ctx = update_gt1_ctx(greater1_ctx, gt1_flag)
        if gt1_flag and first_gt1 < 0:
            first_gt1 = k
    if first_gt1 >= 0:
        enc.encode_decision(ctx[CTX_GT2_FLAG], 1 if abs(levels[first_gt1]) > 2 else 0)
    for level in levels:
        write_sign_flag(enc, ctx, mode, 1 if level < 0 else 0)
    rice = initial_rice_param(stat_coeff)
    first_remaining = True
    for k, level in enumerate(levels):
        base = base_level(k, first_gt1, abs(level))
        if base is not None:
            write_abs_remaining(enc, abs(level) - base, rice)
            if first_remaining:
                stat_coeff = update_stat_coeff(stat_coeff, abs(level) - base)
                first_remaining = False
            rice = update_rice_param(rice, abs(level))
    return stat_coeff


def base_level(k: int, first_gt1: int, abs_level: int) -> int | None:
    """SPEC §6.7.2: the level that the flags of the k-th significant residual
    establish, or None when the flags already fix the level exactly."""
    if k >= MAX_GT1_FLAGS:
        return 1
    if abs_level == 1:
        return None
    if k == first_gt1:
        return None if abs_level == 2 else 3
    return 2


def read_residual_block(dec: ArithmeticDecoder, ctx: Contexts, scan: Scan, mode: int,
                        stat_coeff: int, max_abs: int,
                        trace: Tracer = _silent) -> tuple[Block, int]:
    """SPEC §6.7 residual_block(); rejects a level above ``max_abs`` (= L).
    Returns the residuals and StatCoeff after the block."""
    res: Block = [[0] * 4 for _ in range(4)]
    sig: Block = [[0] * 4 for _ in range(4)]
    positions: list[tuple[int, int]] = []
    last = len(scan) - 1
    for i, (x, y) in enumerate(scan):
        if i == last and not positions:
            sig_flag = 1
        else:
            start = dec.bit_pos
            sig_flag = dec.decode_decision(ctx[CTX_SIG_FLAG + sig_ctx_inc(mode, sig, x, y)])
            trace(start, f"sig_flag[{x},{y}]", sig_flag)
        sig[y][x] = sig_flag
        if sig_flag:
            positions.append((x, y))
    magnitudes = [1] * len(positions)
    greater1_ctx = 1
    first_gt1 = -1
    gt1_flags = []
    for k in range(min(len(positions), MAX_GT1_FLAGS)):
        start = dec.bit_pos
        gt1_flag = dec.decode_decision(ctx[CTX_GT1_FLAG + greater1_ctx])
        trace(start, "gt1_flag", gt1_flag)
        greater1_ctx = update_gt1_ctx(greater1_ctx, gt1_flag)
        gt1_flags.append(gt1_flag)
        if gt1_flag:
            magnitudes[k] = 2
            if first_gt1 < 0:
                first_gt1 = k
    gt2_flag = 0
    if first_gt1 >= 0:
        start = dec.bit_pos
        gt2_flag = dec.decode_decision(ctx[CTX_GT2_FLAG])
        trace(start, "gt2_flag", gt2_flag)
        magnitudes[first_gt1] = 2 + gt2_flag
    signs = []
    for k in range(len(positions)):
        start = dec.bit_pos
        signs.append(read_sign_flag(dec, ctx, mode))
        trace(start, "sign_flag", signs[-1])
    rice = initial_rice_param(stat_coeff)
    first_remaining = True
    for k, (x, y) in enumerate(positions):
        open_ended = (
            k >= MAX_GT1_FLAGS
            or (gt1_flags[k] == 1 and (k != first_gt1 or gt2_flag == 1))
        )
        if open_ended:
            start = dec.bit_pos
            remaining = read_abs_remaining(dec, rice)
            trace(start, "abs_remaining", remaining)
            magnitudes[k] += remaining
            if first_remaining:
                stat_coeff = update_stat_coeff(stat_coeff, remaining)
                first_remaining = False
            rice = update_rice_param(rice, magnitudes[k])
        if magnitudes[k] > max_abs:
            raise DecodeError(
                "residual_out_of_range", dec.byte_offset(), "6.7.4",
                f"residual magnitude {magnitudes[k]} exceeds 2^bit_depth - 1 = {max_abs}",
            )
        res[y][x] = -magnitudes[k] if signs[k] else magnitudes[k]
    return res, stat_coeff
