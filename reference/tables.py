"""Every constant table of the format, numbered as in SPEC.md.

SPEC.md is the source: tests/test_tables.py parses its tables and asserts they
equal these. fast/ never copies them by hand: python -m dfc.tools.gen_fast_tables
generates fast/tables.h from this module (a test checks it is current).
"""

from __future__ import annotations

from typing import Final

# SPEC §3.2, Table 1: stream constants.
MAGIC: Final = b"\x89DFC"
FORMAT_VERSION: Final = 1
PROFILE_BASELINE: Final = 0
FIXED_HEADER_SIZE: Final = 32  # bytes before the palette entries
CRC_SIZE: Final = 4

# SPEC §3.3, Table 2: limits a decoder enforces before it allocates anything.
MIN_BIT_DEPTH: Final = 1
MAX_BIT_DEPTH: Final = 16
MAX_PALETTE_SIZE: Final = 8
MAX_DIMENSION: Final = 1 << 24  # each of C, H, W
MAX_VALUES: Final = 1 << 28  # C * H * W

# SPEC §7.2, Table 3: rangeTabLPS[pStateIdx][qRangeIdx], the LPS sub-range.
RANGE_TAB_LPS: Final[tuple[tuple[int, int, int, int], ...]] = (
    (128, 176, 208, 240), (128, 167, 197, 227), (128, 158, 187, 216), (123, 150, 178, 205),
    (116, 142, 169, 195), (111, 135, 160, 185), (105, 128, 152, 175), (100, 122, 144, 166),
    (95, 116, 137, 158), (90, 110, 130, 150), (85, 104, 123, 142), (81, 99, 117, 135),
    (77, 94, 111, 128), (73, 89, 105, 122), (69, 85, 100, 116), (66, 80, 95, 110),
    (62, 76, 90, 104), (59, 72, 86, 99), (56, 69, 81, 94), (53, 65, 77, 89),
    (51, 62, 73, 85), (48, 59, 69, 80), (46, 56, 66, 76), (43, 53, 63, 72),
    (41, 50, 59, 69), (39, 48, 56, 65), (37, 45, 54, 62), (35, 43, 51, 59),
    (33, 41, 48, 56), (32, 39, 46, 53), (30, 37, 43, 50), (29, 35, 41, 48),
    (27, 33, 39, 45), (26, 31, 37, 43), (24, 30, 35, 41), (23, 28, 33, 39),
    (22, 27, 32, 37), (21, 26, 30, 35), (20, 24, 29, 33), (19, 23, 27, 31),
    (18, 22, 26, 30), (17, 21, 25, 28), (16, 20, 23, 27), (15, 19, 22, 25),
    (14, 18, 21, 24), (14, 17, 20, 23), (13, 16, 19, 22), (12, 15, 18, 21),
    (12, 14, 17, 20), (11, 14, 16, 19), (11, 13, 15, 18), (10, 12, 15, 17),
    (10, 12, 14, 16), (9, 11, 13, 15), (9, 11, 12, 14), (8, 10, 12, 14),
    (8, 9, 11, 13), (7, 9, 11, 12), (7, 9, 10, 12), (7, 8, 10, 11),
    (6, 8, 9, 11), (6, 7, 9, 10), (6, 7, 8, 9), (2, 2, 2, 2),
)

# SPEC §7.3, Table 4: next pStateIdx after coding the LPS / the MPS.
TRANS_IDX_LPS: Final[tuple[int, ...]] = (
    0, 0, 1, 2, 2, 4, 4, 5, 6, 7, 8, 9, 9, 11, 11, 12,
    13, 13, 15, 15, 16, 16, 18, 18, 19, 19, 21, 21, 22, 22, 23, 24,
    24, 25, 26, 26, 27, 27, 28, 29, 29, 30, 30, 30, 31, 32, 32, 33,
    33, 33, 34, 34, 35, 35, 35, 36, 36, 36, 37, 37, 37, 38, 38, 63,
)
TRANS_IDX_MPS: Final[tuple[int, ...]] = tuple(min(s + 1, 62) for s in range(63)) + (63,)

# SPEC §8.5, Table 5: estimated cost in 1/32768 bit of coding the MPS (column 0)
# or the LPS (column 1) from state pStateIdx. Used only by the reference encoder.
FRAC_BITS: Final[tuple[tuple[int, int], ...]] = (
    (32768, 32768), (30426, 35232), (28306, 37696), (26377, 40159), (24617, 42623),
    (23005, 45087), (21523, 47551), (20159, 50015), (18899, 52479), (17734, 54942),
    (16653, 57406), (15650, 59870), (14717, 62334), (13849, 64798), (13038, 67262),
    (12282, 69725), (11575, 72189), (10914, 74653), (10294, 77117), (9714, 79581),
    (9169, 82044), (8658, 84508), (8178, 86972), (7727, 89436), (7303, 91900),
    (6903, 94364), (6527, 96827), (6173, 99291), (5840, 101755), (5525, 104219),
    (5228, 106683), (4948, 109147), (4684, 111610), (4435, 114074), (4199, 116538),
    (3977, 119002), (3767, 121466), (3568, 123929), (3380, 126393), (3202, 128857),
    (3034, 131321), (2876, 133785), (2725, 136249), (2583, 138712), (2448, 141176),
    (2321, 143640), (2200, 146104), (2086, 148568), (1978, 151032), (1875, 153495),
    (1778, 155959), (1686, 158423), (1599, 160887), (1517, 163351), (1439, 165814),
    (1364, 168278), (1294, 170742), (1228, 173206), (1164, 175670), (1105, 178134),
    (1048, 180597), (994, 183061), (943, 185525), (895, 187989),
)
BYPASS_BITS: Final = 32768

# SPEC §6.1, Table 6: prediction modes.
MODE_PAL: Final = 0
MODE_HOR: Final = 1
MODE_VER: Final = 2
MODE_FIL_A: Final = 3
MODE_FIL_B: Final = 4
NUM_MODES: Final = 5

# SPEC §6.4, Table 7: 3-tap filter weights (top-left, top, left), in 1/32.
FILTER_TAPS: Final[dict[int, tuple[int, int, int]]] = {
    MODE_FIL_A: (3, 7, 22),
    MODE_FIL_B: (14, 0, 18),
}

# SPEC §6.6, Table 8: scans of a 4x4 block, as (x, y) positions in coding order.
SCAN_HORIZONTAL: Final[tuple[tuple[int, int], ...]] = tuple(
    (x, y) for y in range(4) for x in range(4)
)
SCAN_VERTICAL: Final[tuple[tuple[int, int], ...]] = tuple(
    (x, y) for x in range(4) for y in range(4)
)
SCAN_ZIGZAG: Final[tuple[tuple[int, int], ...]] = (
    (0, 0), (1, 0), (0, 1), (0, 2), (1, 1), (2, 0), (3, 0), (2, 1),
    (1, 2), (0, 3), (1, 3), (2, 2), (3, 1), (3, 2), (2, 3), (3, 3),
)
SCAN_FOR_MODE: Final[dict[int, tuple[tuple[int, int], ...]]] = {
    MODE_PAL: SCAN_ZIGZAG,
    MODE_HOR: SCAN_HORIZONTAL,
    MODE_VER: SCAN_VERTICAL,
    MODE_FIL_A: SCAN_ZIGZAG,
    MODE_FIL_B: SCAN_ZIGZAG,
}

# SPEC §7.5, Table 9: context models. Each syntax element owns a contiguous range
# of context indices starting at its offset; ctxInc selects one within the range.
# Every context starts at pStateIdx 0, valMPS 0 (probability 1/2).
CTX_PALETTE_IDX: Final = 0  # 7 contexts, ctxInc = bin index
CTX_MPM_FLAG: Final = 7  # 1 context
CTX_SKIP_FLAG: Final = 8  # 3 contexts, ctxInc = left skipped + top skipped
CTX_SIG_FLAG: Final = 11  # 15 contexts, ctxInc = 3 * mode + significant left + significant top
CTX_GT1_FLAG: Final = 26  # 4 contexts, ctxInc = greater1Ctx
CTX_GT2_FLAG: Final = 30  # 1 context
CTX_SIGN_FLAG: Final = 31  # 5 contexts, ctxInc = mode
NUM_CONTEXTS: Final = 36
INIT_STATE: Final = 0
INIT_MPS: Final = 0

# SPEC §6.1, §6.7, Table 11: block and residual coding constants.
BLOCK_SIZE: Final = 4  # blocks are 4x4, cut to the tile at its right and bottom edges
MAX_GT1_FLAGS: Final = 8  # greater-1 flags per block (HEVC's limit per 4x4)
MAX_RICE_PARAM: Final = 4
MAX_STAT_COEFF: Final = 16  # StatCoeff stays in 0..16, so StatCoeff >> 2 <= MAX_RICE_PARAM
RICE_PREFIX_LIMIT: Final = 4  # prefix ones before the Exp-Golomb escape
MAX_REMAINDER_PREFIX: Final = 24  # a decoder rejects a longer run of ones

# ---------------------------------------------------------------------------
# Profile 1, the extended profile (SPEC §11)
# ---------------------------------------------------------------------------

# SPEC §11.1, Table 12: profile 1 stream constants.
PROFILE_EXTENDED: Final = 1
EXT_HEADER_SIZE: Final = 35  # the fixed header and setting, band_flag, split_offset
SETTING_MIXING: Final = 0  # the default setting: three context sets mixed
SETTING_FAST: Final = 1  # one context set, no mixing
MAX_SPLIT_OFFSET: Final = 15

# SPEC §11.4, Table 13: the predictor and the classes of the context features.
GAP_THRESHOLDS: Final[tuple[int, int, int]] = (80, 32, 8)  # at 8 bits, scaled to n bits
UNFOLD_SHIFT: Final = 3  # below the band level, differences are stretched 2^3 times
ACT_THRESHOLDS: Final[tuple[int, ...]] = (1, 2, 4, 8, 16, 32, 64)  # 8 classes
DEPTH_THRESHOLDS: Final[tuple[int, ...]] = (1, 2, 3, 4, 6, 8, 12, 16)  # 9 classes
A0_THRESHOLDS: Final[tuple[int, ...]] = (2, 8, 32)  # 4 classes, for the mixer's weight set
BAND_DIFF_MIN: Final = -16  # the band flag's value context: P - zb clipped to this range
BAND_DIFF_MAX: Final = 15

# SPEC §11.6, Table 14: binarization of one sample.
UNARY_LIMIT: Final = 24  # unary bins before the Exp-Golomb escape
MAX_EG_PREFIX: Final = 16  # a decoder rejects a longer escape prefix
UNARY_CTX_CAP: Final = 5  # unary bin i uses context index Min(i, 5)
EG_CTX_CAP: Final = 19
BAND_CTX_CAP: Final = 7
BAND_VALUE_CAP: Final = 15
BAND_EG_CTX_CAP: Final = 11
DEPTH_SPLIT_BIAS: Final = 2  # band depths split from split_offset - 2 on

# SPEC §11.7, Table 15: the contexts of profile 1, in three sets (S local, X
# cross-channel, V value). Each group is a contiguous range starting at its
# offset; the index within it is given in §11.7.
S_BAND: Final = 0  # 640 contexts: (nz, pc, ac)
S_ZERO: Final = 640  # 128: (ac, pc)
S_SIGN: Final = 768  # 1152: (ac, pc, sW, sN)
S_UNARY: Final = 1920  # 1536: (ac, pc, sign, i)
S_EG: Final = 3456  # 5120: (ac, pc, sign, j)
S_ZERO_LEVEL: Final = 8576  # 15: (nq, kind)
S_DEPTH: Final = 8591  # 2880: (dc, nz, ac, i)
S_DEPTH_EG: Final = 11471  # 12: (j)
X_BAND: Final = 11483  # 640: (nz, pc, xc)
X_ZERO: Final = 12123  # 128: (xc, pc)
X_UNARY: Final = 12251  # 1536: (xc, pc, sign, i)
X_DEPTH: Final = 13787  # 576: (dn, xc, i)
V_BAND: Final = 14363  # 32: P - zb
V_ZERO: Final = 14395  # 256: (vc)
V_UNARY: Final = 14651  # 512: (vc, sign)
V_DEPTH: Final = 15163  # 256: (dP, i)
NUM_EXT_CONTEXTS: Final = 15419

# SPEC §11.8, Table 16: probability estimation.
PROB_INIT: Final = 32768  # probabilities of a 1, in 1/65536
RATE_SHIFT: Final = 7  # once warmed up, each decision moves p by 1/2^7 of the way
PROB_MIN: Final = 32  # the range coder takes p in PROB_MIN .. PROB_MAX
PROB_MAX: Final = 65504

# SPEC §11.9, Table 17: mixing (setting 0).
SQUASH_POINTS: Final[tuple[int, ...]] = (
    1, 2, 3, 6, 10, 16, 27, 45, 73, 120, 194, 310, 488, 747, 1101, 1546, 2047,
    2549, 2994, 3348, 3607, 3785, 3901, 3975, 4024, 4050, 4068, 4079, 4085, 4089,
    4092, 4093, 4094,
)  # about 4096 / (1 + e^(-d/256)) at d = -2048, -1920, ..., 2048
STRETCH_LIMIT: Final = 2047
MIX_OFF_BAND: Final = 0  # the position of a mixed decision in the weight sets
MIX_OFF_ZERO: Final = 1
MIX_OFF_UNARY: Final = 2  # + 6 * sign + i
MIX_OFF_DEPTH: Final = 14  # + i
NUM_MIX_OFFSETS: Final = 22
NUM_WEIGHT_SETS: Final = 176  # 4 classes of a0 x 22 decisions x zero level or not
WEIGHT_INIT: Final = 19661  # 0.3 in 16.16
MIX_RATE: Final = 8
