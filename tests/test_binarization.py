"""Binarization, scans, prediction, tiling and palette rules, against values worked
out by hand (the comments show the working). Bins are captured with a sink that
records (kind, context index, bin) instead of coding them.

These are unit tests of the reference's building blocks (SPEC §4.4-§8); the
implementations as a whole are compared in test_roundtrip.py and test_errors.py.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dfc.reference.blocks import block_scan, blocks_in_tile
from dfc.reference.cabac import ArithmeticDecoder, ArithmeticEncoder, ContextModel
from dfc.reference.palette import (
    choose_palette_idx,
    count_palette_values,
    initial_palette_order,
    select_palette,
    sort_palette,
    update_palette,
)
from dfc.reference.prediction import derive_mpm, predict_sample, remaining_modes
from dfc.reference.state import PayloadState
from dfc.reference.syntax import (
    base_level,
    initial_rice,
    read_abs_remaining,
    read_palette_idx,
    read_pred_mode,
    read_residual_block,
    read_skip_flag,
    sig_ctx_inc,
    update_gt1_ctx,
    update_rice,
    update_stat_coeff,
    write_abs_remaining,
    write_palette_idx,
    write_pred_mode,
    write_residual_block,
    write_skip_flag,
)
from dfc.reference.tables import (
    CTX_GT1_FLAG,
    CTX_GT2_FLAG,
    CTX_MPM_FLAG,
    CTX_PALETTE_IDX,
    CTX_SIG_FLAG,
    CTX_SIGN_FLAG,
    CTX_SKIP_FLAG,
    MODE_FIL_A,
    MODE_FIL_B,
    MODE_HOR,
    MODE_PAL,
    MODE_VER,
    SCAN_FOR_MODE,
    SCAN_HORIZONTAL,
    SCAN_VERTICAL,
    SCAN_ZIGZAG,
)
from dfc.reference.tiling import tile_grid, tile_matrix

Bin = tuple[str, "int | None", int]
PAL, HOR, VER, FIL_A, FIL_B = MODE_PAL, MODE_HOR, MODE_VER, MODE_FIL_A, MODE_FIL_B


class RecordingSink:
    """A BinSink that records (kind, context index, bin) and codes nothing."""

    def __init__(self, contexts: list[ContextModel]) -> None:
        self.index = {id(c): i for i, c in enumerate(contexts)}
        self.bins: list[Bin] = []

    def encode_decision(self, ctx: ContextModel, bin_val: int) -> None:
        self.bins.append(("ctx", self.index[id(ctx)], bin_val))

    def encode_bypass(self, bin_val: int) -> None:
        self.bins.append(("bypass", None, bin_val))


def D(ctx_index: int, bin_val: int) -> Bin:
    """A context-coded bin."""
    return ("ctx", ctx_index, bin_val)


def B(bits: str) -> list[Bin]:
    """Bypass bins, written as a string of 0s and 1s."""
    return [("bypass", None, int(b)) for b in bits]


def fresh_state(palette_size: int = 8, StatCoeff: int = 0) -> PayloadState:
    """SPEC §5.1's state at the start of a payload, with a palette of the given size."""
    state = PayloadState.initial(tuple(range(palette_size)))
    state.StatCoeff = StatCoeff
    return state


def record(write: Callable[[RecordingSink, PayloadState], None], palette_size: int = 8) -> list[Bin]:
    state = fresh_state(palette_size)
    sink = RecordingSink(state.contexts)
    write(sink, state)
    return sink.bins


def through_engine(write: Callable[[ArithmeticEncoder, PayloadState], None],
                   read: Callable[[ArithmeticDecoder, PayloadState], object],
                   palette_size: int = 8) -> object:
    """Code with the arithmetic encoder, read back with the decoder (fresh states
    on each side), and check that end_of_payload follows exactly."""
    enc = ArithmeticEncoder()
    write(enc, fresh_state(palette_size))
    enc.encode_terminate(1)
    payload = enc.payload()
    dec = ArithmeticDecoder(payload, 0, len(payload))
    value = read(dec, fresh_state(palette_size))
    assert dec.decode_terminate() == 1
    return value


# --- SPEC §5.3 palette_idx: truncated unary, bin i in context CTX_PALETTE_IDX + i

def PI(i: int, b: int) -> Bin:
    return D(CTX_PALETTE_IDX + i, b)



@pytest.mark.parametrize(("size", "idx", "expected"), [
    (1, 0, []),                                   # cMax = 0: nothing is coded
    (2, 0, [PI(0, 0)]),
    (2, 1, [PI(0, 1)]),                            # idx = cMax: no terminating 0
    (8, 0, [PI(0, 0)]),
    (8, 1, [PI(0, 1), PI(1, 0)]),
    (8, 3, [PI(0, 1), PI(1, 1), PI(2, 1), PI(3, 0)]),
    (8, 6, [PI(0, 1), PI(1, 1), PI(2, 1), PI(3, 1), PI(4, 1), PI(5, 1), PI(6, 0)]),
    (8, 7, [PI(0, 1), PI(1, 1), PI(2, 1), PI(3, 1), PI(4, 1), PI(5, 1), PI(6, 1)]),
])
def test_palette_idx_truncated_unary_bins(size: int, idx: int, expected: list[Bin]) -> None:
    assert record(lambda s, c: write_palette_idx(s, c, idx), size) == expected


@pytest.mark.parametrize("size", range(1, 9))
def test_palette_idx_reads_back(size: int) -> None:
    for idx in range(size):
        got = through_engine(lambda e, c, idx=idx: write_palette_idx(e, c, idx),
                             lambda d, c: read_palette_idx(d, c), size)
        assert got == idx


# --- SPEC §6.5 mpm_flag (one context) and rem_mode (2 bypass bins, MSB first) ---

# rem_mode of each non-MPM mode, by hand: the other four modes in increasing order.
REM_MODE = {
    PAL: {HOR: 0, VER: 1, FIL_A: 2, FIL_B: 3},
    HOR: {PAL: 0, VER: 1, FIL_A: 2, FIL_B: 3},
    VER: {PAL: 0, HOR: 1, FIL_A: 2, FIL_B: 3},
    FIL_A: {PAL: 0, HOR: 1, VER: 2, FIL_B: 3},
    FIL_B: {PAL: 0, HOR: 1, VER: 2, FIL_A: 3},
}
REM_BITS = {0: "00", 1: "01", 2: "10", 3: "11"}


@pytest.mark.parametrize("mpm", range(5))
@pytest.mark.parametrize("mode", range(5))
def test_pred_mode_bins(mode: int, mpm: int) -> None:
    bins = record(lambda s, c: write_pred_mode(s, c, mode, mpm))
    if mode == mpm:
        assert bins == [D(CTX_MPM_FLAG, 1)]
    else:
        assert bins == [D(CTX_MPM_FLAG, 0)] + B(REM_BITS[REM_MODE[mpm][mode]])
    assert through_engine(lambda e, c: write_pred_mode(e, c, mode, mpm),
                          lambda d, c: read_pred_mode(d, c, mpm)) == mode


def test_remaining_modes_in_increasing_order() -> None:
    for mpm, table in REM_MODE.items():
        assert remaining_modes(mpm) == sorted(table, key=table.__getitem__)


# --- SPEC §6.5 derive_mpm ----------------------------------------------------

def grid_2x2(top_left: int, top: int, left: int) -> list[list[int]]:
    """modes[by][bx] for block (1, 1) with its three neighbours."""
    return [[top_left, top], [left, 0]]


def test_mpm_without_neighbours_is_pal() -> None:
    assert derive_mpm([[FIL_B]], 0, 0) == PAL


def test_mpm_first_row_uses_left_first_column_uses_top() -> None:
    assert derive_mpm([[FIL_A, 0]], 1, 0) == FIL_A          # only the left block
    assert derive_mpm([[VER], [0]], 0, 1) == VER           # only the top block


@pytest.mark.parametrize(("top_left", "top", "left", "mpm"), [
    (FIL_A, VER, HOR, HOR),      # three different modes, one vote each: left wins
    (FIL_B, VER, PAL, PAL),      # the same with the left block in Pal
    (VER, VER, HOR, VER),        # top and top-left agree: two votes beat left
    (FIL_A, VER, FIL_A, FIL_A),  # left and top-left agree
    (PAL, FIL_B, FIL_B, FIL_B),  # left and top agree
    (HOR, HOR, HOR, HOR),
])
def test_mpm_majority_then_left_top_topleft(top_left: int, top: int, left: int, mpm: int) -> None:
    assert derive_mpm(grid_2x2(top_left, top, left), 1, 1) == mpm


# --- SPEC §6.6 skip_flag: ctxInc = left skipped + top skipped ----------------

@pytest.mark.parametrize("ctx_inc", range(3))
@pytest.mark.parametrize("flag", range(2))
def test_skip_flag_context(flag: int, ctx_inc: int) -> None:
    assert record(lambda s, c: write_skip_flag(s, c, flag, ctx_inc)) == [D(CTX_SKIP_FLAG + ctx_inc, flag)]
    assert through_engine(lambda e, c: write_skip_flag(e, c, flag, ctx_inc),
                          lambda d, c: read_skip_flag(d, c, ctx_inc)) == flag


# --- SPEC §6.7.3 abs_remaining ----------------------------------------------

@pytest.mark.parametrize(("rice", "value", "bits"), [
    # Rice with parameter k while value >> k < 4: (value >> k) ones, a 0, k bits.
    (0, 0, "0"),
    (0, 1, "10"),
    (0, 3, "1110"),
    (1, 0, "00"),
    (1, 5, "1101"),           # 5 >> 1 = 2: "110", suffix 5 & 1 = "1"
    (1, 7, "11101"),          # 3: "1110", "1"
    (2, 6, "1010"),           # 1: "10", suffix "10"
    (2, 15, "111011"),        # 3: "1110", "11"
    (3, 8, "10000"),          # 1: "10", "000"
    (3, 31, "1110111"),       # 3: "1110", "111"
    (4, 17, "100001"),        # 1: "10", "0001"
    (4, 63, "11101111"),      # 3: "1110", "1111"
    # Escape at value >= 4 << k: "1111", then Exp-Golomb of order k + 1 on value - (4 << k):
    # one more 1 per 2^order subtracted (order growing), a 0, then `order` bits.
    (0, 4, "111100"),         # 0 < 2: "0", 1 bit "0"
    (0, 5, "111101"),         # 1 < 2: "0", "1"
    (0, 6, "11111000"),       # 2 >= 2: "1", 0 left, order 2: "0", "00"
    (0, 9, "11111011"),       # 5 - 2 = 3 < 4: "1" "0" "11"
    (0, 10, "1111110000"),    # 6 - 2 = 4 >= 4: "11", 0 left, order 3: "0" "000"
    (1, 8, "1111000"),        # 0: order 2: "0" "00"
    (1, 11, "1111011"),       # 3 < 4: "0" "11"
    (1, 12, "111110000"),     # 4 >= 4: "1", order 3: "0" "000"
    (4, 64, "11110" + "00000"),
    (4, 95, "11110" + "11111"),   # 31 < 32
    (4, 96, "111110" + "000000"),  # 32 >= 32: "1", order 6
])
def test_abs_remaining_bins(rice: int, value: int, bits: str) -> None:
    assert record(lambda s, c: write_abs_remaining(s, value, rice)) == B(bits)


@settings(max_examples=300, deadline=None, database=None)
@given(rice=st.integers(0, 4), value=st.integers(0, 1 << 20))
def test_abs_remaining_reads_back(rice: int, value: int) -> None:
    got = through_engine(lambda e, c: write_abs_remaining(e, value, rice),
                         lambda d, c: read_abs_remaining(d, rice))
    assert got == value


@pytest.mark.parametrize("rice", range(5))
def test_abs_remaining_prefix_fits_the_limit_for_16_bit_residuals(rice: int) -> None:
    # The largest value a 16-bit residual can leave: 65535 - 1 (base level 1).
    bins = record(lambda s, c: write_abs_remaining(s, 65534, rice))
    prefix = next(i for i, (_, _, b) in enumerate(bins) if b == 0)
    assert prefix <= 24  # MAX_REMAINDER_PREFIX: a decoder rejects longer runs


@pytest.mark.parametrize(("rice", "abs_level", "new_rice"), [
    (0, 3, 0),     # 3 > 3 * 1? no
    (0, 4, 1),
    (1, 6, 1),     # 6 > 3 * 2? no
    (1, 7, 2),
    (2, 12, 2),
    (2, 13, 3),
    (3, 24, 3),
    (3, 25, 4),
    (4, 1000, 4),  # capped at 4
])
def test_update_rice(rice: int, abs_level: int, new_rice: int) -> None:
    assert update_rice(rice, abs_level) == new_rice


@pytest.mark.parametrize(("ctx", "gt1", "new_ctx"), [
    (1, 1, 0), (2, 1, 0), (3, 1, 0), (0, 1, 0),  # a 1 sends it to 0
    (1, 0, 2), (2, 0, 3), (3, 0, 3),             # a 0 counts up to 3 ...
    (0, 0, 0),                                   # ... unless a 1 has been seen
])
def test_update_gt1_ctx(ctx: int, gt1: int, new_ctx: int) -> None:
    assert update_gt1_ctx(ctx, gt1) == new_ctx


@pytest.mark.parametrize(("k", "gt1", "first_gt1", "gt2", "base"), [
    (0, 0, -1, 0, (1, False)),   # gt1_flag 0: level 1 is fixed
    (0, 1, 0, 0, (2, False)),    # first gt1 with gt2_flag 0: level 2 is fixed
    (0, 1, 0, 1, (3, True)),     # first gt1 with gt2_flag 1: 3 + abs_remaining
    (2, 1, 0, 1, (2, True)),     # later gt1 = 1 (no gt2_flag of its own): 2 + abs_remaining
    (2, 1, 0, 0, (2, True)),     # ... whatever the first's gt2_flag
    (7, 1, 3, 1, (2, True)),
    (7, 1, 7, 0, (2, False)),
    (7, 0, 3, 1, (1, False)),
    (8, 0, 0, 0, (1, True)),     # past the 8 gt1 flags: 1 + abs_remaining, even for level 1
    (9, 0, -1, 0, (1, True)),
])
def test_base_level(k: int, gt1: int, first_gt1: int, gt2: int, base: tuple[int, bool]) -> None:
    gt1_flag = [0] * 8
    if k < 8:
        gt1_flag[k] = gt1
    if first_gt1 >= 0:
        gt1_flag[first_gt1] = 1
    assert base_level(k, gt1_flag, first_gt1, gt2) == base


@pytest.mark.parametrize(("stat_coeff", "rice"), [(0, 0), (3, 0), (4, 1), (11, 2), (15, 3), (16, 4)])
def test_initial_rice_is_stat_coeff_over_4(stat_coeff: int, rice: int) -> None:
    assert initial_rice(stat_coeff) == rice


@pytest.mark.parametrize(("stat_coeff", "remaining", "new_stat"), [
    # grows when remaining >= 3 << (StatCoeff >> 2), shrinks when 2 * remaining < 1 << (StatCoeff >> 2)
    (0, 0, 0),       # 0 < 1 would shrink, but StatCoeff stays >= 0
    (0, 2, 0),       # 2 < 3; 4 < 1 no
    (0, 3, 1),
    (4, 0, 3),       # 0 < 2
    (4, 5, 4),       # 5 < 6; 10 < 2 no
    (4, 6, 5),
    (8, 1, 7),       # 2 < 4
    (8, 2, 8),       # 4 < 4 no
    (16, 7, 15),     # 14 < 16
    (16, 8, 16),
    (16, 1000, 16),  # 1000 >= 48 would grow, capped at 16
])
def test_update_stat_coeff(stat_coeff: int, remaining: int, new_stat: int) -> None:
    assert update_stat_coeff(stat_coeff, remaining) == new_stat


def test_sig_ctx_inc_is_3_mode_plus_left_and_top() -> None:
    sig = [[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    assert sig_ctx_inc(PAL, sig, 0, 0) == 0  # no neighbours inside the block
    assert sig_ctx_inc(PAL, sig, 1, 0) == 1  # left (0,0)
    assert sig_ctx_inc(PAL, sig, 0, 1) == 1  # top (0,0)
    assert sig_ctx_inc(PAL, sig, 1, 1) == 1  # left (0,1) = 1, top (1,0) = 0
    assert sig_ctx_inc(PAL, sig, 2, 1) == 1  # left (1,1)
    assert sig_ctx_inc(PAL, sig, 1, 2) == 1  # top (1,1)
    sig[0][1] = 1
    assert sig_ctx_inc(PAL, sig, 1, 1) == 2
    assert sig_ctx_inc(HOR, sig, 1, 1) == 5
    assert sig_ctx_inc(FIL_B, sig, 1, 1) == 14  # the last of the 15
    assert sig_ctx_inc(FIL_B, sig, 3, 3) == 12


# --- SPEC §6.7 residual_block() ----------------------------------------------

def block(entries: dict[tuple[int, int], int]) -> list[list[int]]:
    """A 4x4 residual block, block[y][x], from {(x, y): residual}."""
    res = [[0] * 4 for _ in range(4)]
    for (x, y), v in entries.items():
        res[y][x] = v
    return res


def record_block(res: list[list[int]], scan: list[tuple[int, int]] | tuple[tuple[int, int], ...],
                 mode: int, stat_coeff: int) -> tuple[list[Bin], int]:
    """The bins of residual_block() and StatCoeff after it."""
    state = fresh_state(StatCoeff=stat_coeff)
    sink = RecordingSink(state.contexts)
    write_residual_block(sink, state, mode, list(scan), res)
    return sink.bins, state.StatCoeff


def SIG(mode: int, inc: int, b: int) -> Bin:
    return D(CTX_SIG_FLAG + 3 * mode + inc, b)


def GT1(greater1_ctx: int, b: int) -> Bin:
    return D(CTX_GT1_FLAG + greater1_ctx, b)


def GT2(b: int) -> Bin:
    return D(CTX_GT2_FLAG, b)


def SIGN(mode: int, b: int) -> Bin:
    return D(CTX_SIGN_FLAG + mode, b)


def test_residual_block_bins_three_levels_horizontal_scan() -> None:
    res = block({(1, 0): -3, (0, 1): 1, (3, 3): 5})
    h = HOR
    expected = [
        # sig_flag in raster order; ctxInc = 3 * mode + sig left + sig top:
        SIG(h, 0, 0),  # (0,0)
        SIG(h, 0, 1),  # (1,0): left (0,0) = 0
        SIG(h, 1, 0),  # (2,0): left (1,0) = 1
        SIG(h, 0, 0),  # (3,0)
        SIG(h, 0, 1),  # (0,1): top (0,0) = 0
        SIG(h, 2, 0),  # (1,1): left (0,1) = 1, top (1,0) = 1
        SIG(h, 0, 0), SIG(h, 0, 0),  # (2,1), (3,1)
        SIG(h, 1, 0),  # (0,2): top (0,1) = 1
        SIG(h, 0, 0), SIG(h, 0, 0), SIG(h, 0, 0),  # (1,2) .. (3,2)
        SIG(h, 0, 0), SIG(h, 0, 0), SIG(h, 0, 0),  # (0,3) .. (2,3)
        SIG(h, 0, 1),  # (3,3): coded, since earlier ones were significant
        # gt1_flag, greater1Ctx starting at 1:
        GT1(1, 1),  # |-3| > 1; greater1Ctx -> 0
        GT1(0, 0),  # |1|; stays 0
        GT1(0, 1),  # |5|
        GT2(1),     # the first gt1: |-3| > 2
        SIGN(h, 1), SIGN(h, 0), SIGN(h, 0),
        # StatCoeff 0: cRiceParam 0.
        *B("0"),     # -3: base 3, abs_remaining 0; StatCoeff (0, 0) -> 0; rice stays 0
                     # 1: level fixed by its flags
        *B("1110"),  # 5: base 2, abs_remaining 3 (would raise StatCoeff, but only the first counts)
    ]
    assert record_block(res, SCAN_HORIZONTAL, HOR, 0) == (expected, 0)


def test_residual_block_bins_ten_levels_past_the_gt1_limit() -> None:
    # Residual 2 at the first 10 raster positions: (0..3,0), (0..3,1), (0,2), (1,2).
    res = block({(i % 4, i // 4): 2 for i in range(10)})
    h = HOR
    expected = [
        SIG(h, 0, 1), SIG(h, 1, 1), SIG(h, 1, 1), SIG(h, 1, 1),  # row 0: left from x = 1
        SIG(h, 1, 1), SIG(h, 2, 1), SIG(h, 2, 1), SIG(h, 2, 1),  # row 1: top, + left from x = 1
        SIG(h, 1, 1), SIG(h, 2, 1), SIG(h, 2, 0), SIG(h, 1, 0),  # row 2: (3,2) top only
        SIG(h, 1, 0), SIG(h, 1, 0), SIG(h, 0, 0), SIG(h, 0, 0),  # row 3: (0,3), (1,3) top
        GT1(1, 1), *[GT1(0, 1)] * 7,  # 8 gt1 flags
        GT2(0),                       # |2| > 2 no
        *[SIGN(h, 0)] * 10,
        # k = 0: level 2 fixed (first gt1, gt2 = 0); k = 1..7: base 2, remaining 0;
        # k = 8, 9: no flags, base 1, remaining 1 = "10" with rice 0.
        *B("0" * 7), *B("10"), *B("10"),
    ]
    assert record_block(res, SCAN_HORIZONTAL, HOR, 0) == (expected, 0)


def test_residual_block_last_sig_flag_inferred() -> None:
    # Only the last zigzag position is significant: 15 zero flags, the 16th inferred.
    res = block({(3, 3): -1})
    expected = [SIG(PAL, 0, 0)] * 15 + [GT1(1, 0), SIGN(PAL, 1)]
    assert record_block(res, SCAN_ZIGZAG, PAL, 5) == (expected, 5)  # no abs_remaining


def test_residual_block_partial_3x2_last_inferred() -> None:
    # Horizontal scan of a 3x2 block: (0,0) (1,0) (2,0) (0,1) (1,1) (2,1).
    res = block({(2, 1): 4})
    expected = [SIG(HOR, 0, 0)] * 5 + [GT1(1, 1), GT2(1), SIGN(HOR, 0)] + B("10")  # 4 - 3 = 1
    # StatCoeff (0, 1): 1 < 3, 2 < 1 no: stays 0
    assert record_block(res, block_scan(HOR, 3, 2), HOR, 0) == (expected, 0)


def test_residual_block_rice_from_stat_coeff() -> None:
    # 1x1 block, level 5, StatCoeff 4: cRiceParam 1; base 3, remaining 2 = "10" + "0".
    # StatCoeff (4, 2): 2 >= 6 no, 4 < 2 no: stays 4.
    expected = [GT1(1, 1), GT2(1), SIGN(FIL_A, 0)] + B("100")
    assert record_block(block({(0, 0): 5}), [(0, 0)], FIL_A, 4) == (expected, 4)
    # Level 10, StatCoeff 0: remaining 7 >= 4 escapes: "1111", 7 - 4 = 3 >= 2: "1", 1 < 4: "0" "01".
    # StatCoeff (0, 7): 7 >= 3: 1.
    expected = [GT1(1, 1), GT2(1), SIGN(VER, 1)] + B("11111001")
    assert record_block(block({(0, 0): -10}), [(0, 0)], VER, 0) == (expected, 1)


@st.composite
def residual_blocks(draw: st.DrawFn) -> tuple[list[list[int]], list[tuple[int, int]], int, int]:
    mode = draw(st.integers(0, 4))
    scan = block_scan(mode, draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    magnitude = draw(st.sampled_from([1, 3, 20, 65535]))
    values = draw(st.lists(st.integers(-magnitude, magnitude), min_size=len(scan), max_size=len(scan)))
    if not any(values):
        values[-1] = magnitude
    return block(dict(zip(scan, values, strict=True))), scan, mode, draw(st.integers(0, 16))


@settings(max_examples=200, deadline=None, database=None)
@given(residual_blocks())
def test_residual_block_reads_back(case: tuple[list[list[int]], list[tuple[int, int]], int, int]) -> None:
    res, scan, mode, stat_coeff = case
    _, stat_after = record_block(res, scan, mode, stat_coeff)
    def write(e: ArithmeticEncoder, state: PayloadState) -> None:
        state.StatCoeff = stat_coeff
        write_residual_block(e, state, mode, scan, res)

    def read(d: ArithmeticDecoder, state: PayloadState) -> tuple[list[list[int]], int]:
        state.StatCoeff = stat_coeff
        return read_residual_block(d, state, mode, scan, 65535), state.StatCoeff

    assert through_engine(write, read) == (res, stat_after)


# --- SPEC §6.6 scans and §6.1 blocks ---------------------------------------

def test_scans_hand_written() -> None:
    assert SCAN_HORIZONTAL[:6] == ((0, 0), (1, 0), (2, 0), (3, 0), (0, 1), (1, 1))
    assert SCAN_VERTICAL[:6] == ((0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1))
    assert SCAN_ZIGZAG == (
        (0, 0), (1, 0), (0, 1), (0, 2), (1, 1), (2, 0), (3, 0), (2, 1),
        (1, 2), (0, 3), (1, 3), (2, 2), (3, 1), (3, 2), (2, 3), (3, 3),
    )
    assert SCAN_FOR_MODE == {PAL: SCAN_ZIGZAG, HOR: SCAN_HORIZONTAL, VER: SCAN_VERTICAL,
                             FIL_A: SCAN_ZIGZAG, FIL_B: SCAN_ZIGZAG}


@pytest.mark.parametrize("scan", [SCAN_HORIZONTAL, SCAN_VERTICAL, SCAN_ZIGZAG])
def test_scan_is_a_permutation_with_left_and_top_first(scan: tuple[tuple[int, int], ...]) -> None:
    assert sorted(scan) == [(x, y) for x in range(4) for y in range(4)]
    rank = {pos: i for i, pos in enumerate(scan)}
    for (x, y), i in rank.items():  # sig_ctx_inc needs both neighbours decoded
        assert x == 0 or rank[(x - 1, y)] < i
        assert y == 0 or rank[(x, y - 1)] < i


@pytest.mark.parametrize(("mode", "expected"), [
    (PAL, [(0, 0), (1, 0), (0, 1), (1, 1), (2, 0), (2, 1)]),    # zigzag minus x = 3, y >= 2
    (HOR, [(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (2, 1)]),
    (VER, [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]),
    (FIL_A, [(0, 0), (1, 0), (0, 1), (1, 1), (2, 0), (2, 1)]),
    (FIL_B, [(0, 0), (1, 0), (0, 1), (1, 1), (2, 0), (2, 1)]),
])
def test_block_scan_partial_3x2(mode: int, expected: list[tuple[int, int]]) -> None:
    assert block_scan(mode, 3, 2) == expected


def test_block_scan_edge_sizes() -> None:
    assert block_scan(PAL, 1, 1) == [(0, 0)]
    assert block_scan(VER, 1, 3) == [(0, 0), (0, 1), (0, 2)]
    assert block_scan(PAL, 2, 3) == [(0, 0), (1, 0), (0, 1), (0, 2), (1, 1), (1, 2)]
    assert block_scan(HOR, 4, 4) == list(SCAN_HORIZONTAL)


def test_blocks_in_tile_13x13() -> None:
    # 13 = 4 + 4 + 4 + 1: the last column and row are 1 sample wide.
    expected = []
    for by, bh in enumerate([4, 4, 4, 1]):
        for bx, bw in enumerate([4, 4, 4, 1]):
            expected.append((bx, by, bw, bh))
    assert blocks_in_tile(13, 13) == expected
    assert blocks_in_tile(13, 13)[3] == (3, 0, 1, 4)
    assert blocks_in_tile(13, 13)[-1] == (3, 3, 1, 1)


def test_blocks_in_tile_1x1() -> None:
    assert blocks_in_tile(1, 1) == [(0, 0, 1, 1)]


def test_blocks_in_tile_height_7_width_5() -> None:
    # Width 5 = 4 + 1, height 7 = 4 + 3.
    assert blocks_in_tile(7, 5) == [(0, 0, 4, 4), (1, 0, 1, 4), (0, 1, 4, 3), (1, 1, 1, 3)]


def test_blocks_in_tile_multiple_of_4() -> None:
    assert blocks_in_tile(4, 8) == [(0, 0, 4, 4), (1, 0, 4, 4)]


# --- SPEC §6.2-6.4 prediction ----------------------------------------------

TILE = [
    [10, 20, 30],
    [40, 50, 60],
    [70, 80, 90],
]
P = 7  # p_j*, substituted for neighbours left of or above the tile

# FilA = (3*tl + 7*t + 22*l + 16) >> 5, FilB = (14*tl + 0*t + 18*l + 16) >> 5
PREDICTIONS = {
    # (x, y): (Hor, Ver, FilA, FilB)
    (0, 0): (P, P, 7, 7),       # all neighbours P: (32*7 + 16) >> 5 = 7
    (1, 0): (10, P, 9, 9),      # tl=t=P, l=10: FilA 306>>5 = 9; FilB 294>>5 = 9
    (2, 0): (20, P, 16, 14),    # tl=t=P, l=20: FilA 526>>5 = 16 (510>>5 = 15 without +16);
                                # FilB 474>>5 = 14
    (0, 1): (P, 10, 8, 7),      # tl=l=P, t=10: FilA 261>>5 = 8; FilB 240>>5 = 7
    (0, 2): (P, 40, 14, 7),     # tl=l=P, t=40: FilA 471>>5 = 14; FilB 240>>5 = 7
    (1, 1): (40, 20, 33, 27),   # tl=10 t=20 l=40: FilA 1066>>5 = 33; FilB 876>>5 = 27
    (2, 2): (80, 60, 73, 67),   # tl=50 t=60 l=80: FilA 2346>>5 = 73; FilB 2156>>5 = 67
}


@pytest.mark.parametrize(("x", "y"), list(PREDICTIONS))
def test_predict_sample_every_mode(x: int, y: int) -> None:
    hor, ver, fil_a, fil_b = PREDICTIONS[(x, y)]
    assert predict_sample(PAL, TILE, x, y, P) == P
    assert predict_sample(HOR, TILE, x, y, P) == hor
    assert predict_sample(VER, TILE, x, y, P) == ver
    assert predict_sample(FIL_A, TILE, x, y, P) == fil_a
    assert predict_sample(FIL_B, TILE, x, y, P) == fil_b


def test_filters_keep_a_flat_16_bit_area() -> None:
    flat = [[65535] * 2 for _ in range(2)]
    for mode in (FIL_A, FIL_B):  # weights sum to 32: (32 * v + 16) >> 5 = v
        assert predict_sample(mode, flat, 1, 1, 0) == 65535


# --- SPEC §4.4 tiling --------------------------------------------------------

@pytest.mark.parametrize(("channels", "grid"), [
    (1, (1, 1)),     # log2 C = 0
    (2, (2, 1)),     # 1/2: 2^1 across, 2^0 down
    (3, (2, 2)),     # log2 3 = 1.58, /2 = 0.79: 2 x 1 = 2 < 3, down = ceil(3/2) = 2
    (4, (2, 2)),
    (5, (4, 2)),     # 2.32/2 = 1.16: 4 x 2 = 8 >= 5
    (8, (4, 2)),     # 1.5
    (9, (4, 3)),     # 3.17/2 = 1.58: 4 x 2 = 8 < 9, down = ceil(9/4) = 3
    (12, (4, 3)),    # 3.58/2 = 1.79: 8 < 12, down = 3
    (16, (4, 4)),
    (17, (8, 4)),    # 4.09/2 = 2.04: 8 x 4 = 32 >= 17
    (96, (16, 8)),   # 6.58/2 = 3.29: 16 x 8 = 128 >= 96
    (128, (16, 8)),  # 3.5
    (144, (16, 9)),  # 7.17/2 = 3.58: 16 x 8 = 128 < 144, down = 9
    (256, (16, 16)),
    (512, (32, 16)),  # 4.5
])
def test_tile_grid(channels: int, grid: tuple[int, int]) -> None:
    assert tile_grid(channels) == grid


def test_tile_grid_rejects_zero_channels() -> None:
    with pytest.raises(ValueError):
        tile_grid(0)


def test_tile_matrix_places_channels_row_by_row() -> None:
    q = np.arange(3 * 1 * 2).reshape(3, 1, 2) + 1  # channels [1 2], [3 4], [5 6]
    # 3 channels: 2 across, 2 down; channel 2 starts the second row; slot 3 is fill
    assert tile_matrix(q, fill=9).tolist() == [[1, 2, 3, 4], [5, 6, 9, 9]]


# --- SPEC §5.4, §8.2-8.3 palette ---------------------------------------------

def test_select_palette_by_frequency_ties_to_smaller_value() -> None:
    counts = Counter({5: 3, 2: 3, 9: 1, 0: 7})
    assert select_palette(counts) == [0, 2, 5, 9]  # 0 (7), then 2 and 5 (3 each), 9


def test_select_palette_keeps_eight() -> None:
    counts = Counter({v: 100 - v for v in range(12)})  # 0 most frequent
    assert select_palette(counts) == [0, 1, 2, 3, 4, 5, 6, 7]
    counts = Counter({v: 1 for v in range(20, 8, -1)})  # all tied: 8 smallest values
    assert select_palette(counts) == [9, 10, 11, 12, 13, 14, 15, 16]


def test_initial_palette_order_by_tile0_counts_stable() -> None:
    tile0 = [[5, 5, 9], [2, 9, 7]]  # counts 5: 2, 9: 2, 2: 1, 0: 0 (7 is not in the palette)
    assert count_palette_values(tile0, [0, 2, 5, 9]) == {0: 0, 2: 1, 5: 2, 9: 2}
    assert initial_palette_order([0, 2, 5, 9], tile0) == [5, 9, 2, 0]  # 5 before 9: input order
    assert initial_palette_order([9, 5, 2, 0], tile0) == [9, 5, 2, 0]  # 9 before 5 here


def test_update_palette_accumulates_and_is_stable() -> None:
    order = [3, 1, 2]
    cumulative = {3: 0, 1: 0, 2: 0}
    order = update_palette(order, cumulative, [[1, 2], [2, 1]])
    assert cumulative == {3: 0, 1: 2, 2: 2}
    assert order == [1, 2, 3]  # 1 and 2 tie at 2: they keep their order
    order = update_palette(order, cumulative, [[3, 3, 3]])
    assert cumulative == {3: 3, 1: 2, 2: 2}
    assert order == [3, 1, 2]
    order = update_palette(order, cumulative, [[2]])
    assert cumulative == {3: 3, 1: 2, 2: 3}
    assert order == [3, 2, 1]  # 3 and 2 tie at 3: 3 was first
    assert sort_palette([4, 8], {4: 0, 8: 0}) == [4, 8]


@pytest.mark.parametrize(("tile", "order", "idx"), [
    ([[1, 3]], [2, 0, 4], 0),   # SAD 2, 4, 4
    ([[1, 3]], [0, 2, 4], 1),   # SAD 4, 2, 4
    ([[1, 3]], [4, 0], 0),      # SAD 4, 4: tie to the smaller index
    ([[2, 2]], [3, 1], 0),      # SAD 2, 2
    ([[2, 2]], [5, 3, 1], 1),   # SAD 6, 2, 2: index 1, not 2
    ([[0, 0], [0, 9]], [9, 0], 1),  # SAD 27, 9
])
def test_choose_palette_idx_min_sad_ties_to_smallest_index(tile: list[list[int]], order: list[int], idx: int) -> None:
    state = PayloadState.initial(order)
    assert choose_palette_idx(state, tile) == idx
