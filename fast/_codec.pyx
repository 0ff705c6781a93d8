# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False, embedsignature=True
"""dfc.fast._codec: the compiled encoder and decoder (SPEC §4-§8).

Every per-sample step runs in C without the GIL: the Q-layer, the palette
statistics, prediction, the mode decision, binarization and the CABAC engine.
Per-stream work (argument checks, the header, framing and the CRC) reuses
dfc.reference, so both implementations accept, produce and reject exactly the
same streams. The constant tables are copied from dfc.reference.tables when this
module is imported; ``_tables()`` returns the copies so that a test can check them.

Layout of a context model here: one byte ``(pStateIdx << 1) | valMPS``.
"""

from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy, memset
from cpython.mem cimport PyMem_RawFree, PyMem_RawMalloc, PyMem_RawRealloc
from cpython.bytes cimport PyBytes_FromStringAndSize

import zlib

import numpy as np

from dfc.errors import DecodeError, TruncatedStreamError
from dfc.reference import tables as _ref
from dfc.reference.decoder import DecodedStream
from dfc.reference.encoder import validate_input
from dfc.reference.header import Header, check_framing, read_header, write_header

# Portable spellings of two instructions.
cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #define DFC_BSWAP64(x) __builtin_bswap64(x)
    #else
    static inline unsigned long long DFC_BSWAP64(unsigned long long x) {
        x = ((x & 0x00000000FFFFFFFFull) << 32) | (x >> 32);
        x = ((x & 0x0000FFFF0000FFFFull) << 16) | ((x >> 16) & 0x0000FFFF0000FFFFull);
        return ((x & 0x00FF00FF00FF00FFull) << 8) | ((x >> 8) & 0x00FF00FF00FF00FFull);
    }
    #endif
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    #define DFC_BE64(x) (x)
    #else
    #define DFC_BE64(x) DFC_BSWAP64(x)
    #endif
    """
    uint64_t DFC_BE64(uint64_t x) nogil


cdef extern from *:
    """
    #if defined(__GNUC__) || defined(__clang__)
    #define DFC_CLZ32(x) __builtin_clz(x)
    #else
    static inline int DFC_CLZ32(unsigned int x) {
        int n = 0;
        while (!(x & 0x80000000u)) { x <<= 1; n++; }
        return n;
    }
    #endif
    #if defined(__GNUC__) || defined(__clang__)
    #define DFC_CTZ32(x) __builtin_ctz(x)
    #else
    static inline int DFC_CTZ32(unsigned int x) {
        int n = 0;
        while (!(x & 1u)) { x >>= 1; n++; }
        return n;
    }
    #endif
    """
    int DFC_CLZ32(uint32_t x) nogil  # x != 0
    int DFC_CTZ32(uint32_t x) nogil  # x != 0


# ---------------------------------------------------------------------------
# Constant tables: filled from dfc.reference.tables by _load_tables() below.
# The array sizes are capacities; _load_tables() checks that the tables fit.
# ---------------------------------------------------------------------------

cdef enum:
    NSTATES = 64          # pStateIdx 0..63 (SPEC Table 3)
    CTX_CAP = 64          # room for NUM_CONTEXTS
    MODE_CAP = 8          # room for NUM_MODES
    NM = 5                # NUM_MODES (checked at import)
    RBINS_CAP = 256       # size of the table of abs_remaining bins (D_RBINS)
    PAL_CAP = 8           # MAX_PALETTE_SIZE
    KIND_PAL = 0          # how a mode predicts (internal, derived from Table 6/7)
    KIND_HOR = 1
    KIND_VER = 2
    KIND_FIL = 3

# Raw copies of the reference tables (what _tables() returns).
cdef uint16_t T_RANGE_TAB_LPS[NSTATES][4]
cdef uint8_t T_TRANS_IDX_LPS[NSTATES]
cdef uint8_t T_TRANS_IDX_MPS[NSTATES]
cdef uint32_t T_FRAC_BITS[NSTATES][2]
cdef int64_t T_BYPASS_BITS
cdef int T_NUM_MODES
cdef int T_MODE_PAL, T_MODE_HOR, T_MODE_VER, T_MODE_FIL_A, T_MODE_FIL_B
cdef int T_FILTER_TAPS[MODE_CAP][3]     # (top-left, top, left) per mode; 0 for non-filters
cdef uint8_t T_SCAN[MODE_CAP][16][2]    # SCAN_FOR_MODE: (x, y) per mode
cdef int T_CTX_PALETTE_IDX, T_CTX_MPM_FLAG, T_CTX_SKIP_FLAG, T_CTX_SIG_FLAG
cdef int T_CTX_GT1_FLAG, T_CTX_GT2_FLAG, T_CTX_SIGN_FLAG, T_NUM_CONTEXTS
cdef int T_INIT_STATE, T_INIT_MPS
cdef int T_MAX_GT1_FLAGS, T_MAX_RICE_PARAM, T_MAX_STAT_COEFF
cdef int T_RICE_PREFIX_LIMIT, T_MAX_REMAINDER_PREFIX
cdef int T_MAX_PALETTE_SIZE

# Tables derived from the raw copies, indexed by a context byte (state << 1 | mps).
cdef uint16_t D_LPS[2 * NSTATES][4]       # rangeTabLPS[state][qRangeIdx]
cdef uint8_t D_NEXT[2 * NSTATES][2]       # context byte after coding bin 0 / 1
cdef uint32_t D_COST[2 * NSTATES][2]      # estimated cost of bin 0 / 1 (SPEC §8.5)
cdef uint8_t D_RENORM[512]                # left shifts that bring a range to >= 256
cdef uint32_t D_INV[512]                  # ceil(2^32 / range): x / range by a multiply
cdef uint32_t D_COSTP[2 * NSTATES][32]    # cost of n <= 4 bins on one context, indexed by
cdef uint8_t D_LEFT[16]                   # raster index of the left / top neighbour in a
cdef uint8_t D_TOP[16]                    # 4x4 block, or 16 (a slot that stays 0) outside
cdef uint8_t D_NEXTP[2 * NSTATES][32]     # (1 << n) | bins (first bin = bit n - 1), and
                                          # the context byte after them
cdef uint8_t D_INIT_CTX
cdef uint8_t D_KIND[MODE_CAP]
cdef uint8_t D_SCAN[MODE_CAP][4][4][16]   # [mode][bw-1][bh-1]: raster indices y*4+x
cdef uint8_t D_PAL_MODE
cdef uint8_t D_RBINS[RBINS_CAP]           # rem_bins_q(q) for small q
# The decoder's view (SPEC §7.4.2), indexed by a context byte and range >> 6
# (4..7; entries 0..3 unused): the LPS range, the LPS range already renormalized
# to >= 256 and the shift that does it; and the context byte after an MPS (0) or
# an LPS (1).
cdef uint16_t D_LPS8[2 * NSTATES][8]
cdef uint16_t D_LPS_RNG[2 * NSTATES][8]
cdef uint8_t D_LPS_SHIFT[2 * NSTATES][8]
cdef uint8_t D_NEXT_LPS[2 * NSTATES][2]


def _load_tables():
    """Copy dfc.reference.tables into the C arrays (once, at import)."""
    global T_BYPASS_BITS, T_NUM_MODES, T_MODE_PAL, T_MODE_HOR, T_MODE_VER
    global T_MODE_FIL_A, T_MODE_FIL_B, T_CTX_PALETTE_IDX, T_CTX_MPM_FLAG
    global T_CTX_SKIP_FLAG, T_CTX_SIG_FLAG, T_CTX_GT1_FLAG, T_CTX_GT2_FLAG
    global T_CTX_SIGN_FLAG, T_NUM_CONTEXTS, T_INIT_STATE, T_INIT_MPS
    global T_MAX_GT1_FLAGS, T_MAX_RICE_PARAM, T_MAX_STAT_COEFF
    global T_RICE_PREFIX_LIMIT, T_MAX_REMAINDER_PREFIX, T_MAX_PALETTE_SIZE
    global D_INIT_CTX, D_PAL_MODE
    cdef int s, q, b, m, i, x, y, bw, bh, n, c, mps, r

    if len(_ref.RANGE_TAB_LPS) != NSTATES or len(_ref.TRANS_IDX_LPS) != NSTATES \
            or len(_ref.TRANS_IDX_MPS) != NSTATES or len(_ref.FRAC_BITS) != NSTATES:
        raise ImportError("dfc.fast: CABAC tables do not have 64 states")
    for s in range(NSTATES):
        for q in range(4):
            T_RANGE_TAB_LPS[s][q] = _ref.RANGE_TAB_LPS[s][q]
        T_TRANS_IDX_LPS[s] = _ref.TRANS_IDX_LPS[s]
        T_TRANS_IDX_MPS[s] = _ref.TRANS_IDX_MPS[s]
        T_FRAC_BITS[s][0] = _ref.FRAC_BITS[s][0]
        T_FRAC_BITS[s][1] = _ref.FRAC_BITS[s][1]
        if T_TRANS_IDX_LPS[s] >= NSTATES or T_TRANS_IDX_MPS[s] >= NSTATES \
                or not 2 <= T_RANGE_TAB_LPS[s][0] <= 255:
            raise ImportError("dfc.fast: CABAC table entry out of range")
    T_BYPASS_BITS = _ref.BYPASS_BITS

    T_NUM_MODES = _ref.NUM_MODES
    T_MODE_PAL = _ref.MODE_PAL
    T_MODE_HOR = _ref.MODE_HOR
    T_MODE_VER = _ref.MODE_VER
    T_MODE_FIL_A = _ref.MODE_FIL_A
    T_MODE_FIL_B = _ref.MODE_FIL_B
    modes = {T_MODE_PAL, T_MODE_HOR, T_MODE_VER, T_MODE_FIL_A, T_MODE_FIL_B}
    if not 0 < T_NUM_MODES <= MODE_CAP or modes != set(range(T_NUM_MODES)):
        raise ImportError("dfc.fast: prediction modes are not 0..NUM_MODES-1")
    if T_NUM_MODES != NM:  # rem_mode is 2 bypass bins over the 4 non-MPM modes (SPEC §6.5)
        raise ImportError("dfc.fast: rem_mode needs exactly 5 prediction modes")
    memset(T_FILTER_TAPS, 0, sizeof(T_FILTER_TAPS))
    for m, taps in _ref.FILTER_TAPS.items():
        for i in range(3):
            T_FILTER_TAPS[m][i] = taps[i]
    D_KIND[T_MODE_PAL] = KIND_PAL
    D_KIND[T_MODE_HOR] = KIND_HOR
    D_KIND[T_MODE_VER] = KIND_VER
    D_KIND[T_MODE_FIL_A] = KIND_FIL
    D_KIND[T_MODE_FIL_B] = KIND_FIL
    D_PAL_MODE = T_MODE_PAL
    if set(_ref.FILTER_TAPS) != {T_MODE_FIL_A, T_MODE_FIL_B}:
        raise ImportError("dfc.fast: FILTER_TAPS does not cover the filter modes")

    for m in range(T_NUM_MODES):
        scan = _ref.SCAN_FOR_MODE[m]
        if len(scan) != 16 or sorted(scan) != sorted((x, y) for x in range(4) for y in range(4)):
            raise ImportError("dfc.fast: a scan is not a permutation of the 4x4 block")
        for i in range(16):
            T_SCAN[m][i][0] = scan[i][0]
            T_SCAN[m][i][1] = scan[i][1]
        for bw in range(1, 5):
            for bh in range(1, 5):
                n = 0
                for i in range(16):  # SPEC §6.6: the scan restricted to bw x bh
                    x = T_SCAN[m][i][0]
                    y = T_SCAN[m][i][1]
                    if x < bw and y < bh:
                        D_SCAN[m][bw - 1][bh - 1][n] = y * 4 + x
                        n += 1

    T_CTX_PALETTE_IDX = _ref.CTX_PALETTE_IDX
    T_CTX_MPM_FLAG = _ref.CTX_MPM_FLAG
    T_CTX_SKIP_FLAG = _ref.CTX_SKIP_FLAG
    T_CTX_SIG_FLAG = _ref.CTX_SIG_FLAG
    T_CTX_GT1_FLAG = _ref.CTX_GT1_FLAG
    T_CTX_GT2_FLAG = _ref.CTX_GT2_FLAG
    T_CTX_SIGN_FLAG = _ref.CTX_SIGN_FLAG
    T_NUM_CONTEXTS = _ref.NUM_CONTEXTS
    T_INIT_STATE = _ref.INIT_STATE
    T_INIT_MPS = _ref.INIT_MPS
    T_MAX_GT1_FLAGS = _ref.MAX_GT1_FLAGS
    T_MAX_RICE_PARAM = _ref.MAX_RICE_PARAM
    T_MAX_STAT_COEFF = _ref.MAX_STAT_COEFF
    T_RICE_PREFIX_LIMIT = _ref.RICE_PREFIX_LIMIT
    T_MAX_REMAINDER_PREFIX = _ref.MAX_REMAINDER_PREFIX
    T_MAX_PALETTE_SIZE = _ref.MAX_PALETTE_SIZE
    # Every context index the syntax can form must lie inside the context array.
    if not (T_NUM_CONTEXTS <= CTX_CAP
            and T_CTX_PALETTE_IDX + T_MAX_PALETTE_SIZE - 1 <= T_NUM_CONTEXTS
            and T_CTX_MPM_FLAG < T_NUM_CONTEXTS
            and T_CTX_SKIP_FLAG + 3 <= T_NUM_CONTEXTS
            and T_CTX_SIG_FLAG + 3 * T_NUM_MODES <= T_NUM_CONTEXTS
            and T_CTX_GT1_FLAG + 4 <= T_NUM_CONTEXTS
            and T_CTX_GT2_FLAG < T_NUM_CONTEXTS
            and T_CTX_SIGN_FLAG + T_NUM_MODES <= T_NUM_CONTEXTS):
        raise ImportError("dfc.fast: context offsets do not fit NUM_CONTEXTS")
    # The mode decision (encode_core) costs mpm_flag, skip_flag and the residual
    # elements each from the current states of its own contexts, rather than
    # from a copy adapted bin by bin in coding order: the ranges must not overlap.
    ranges = sorted([(T_CTX_PALETTE_IDX, T_MAX_PALETTE_SIZE - 1), (T_CTX_MPM_FLAG, 1),
                     (T_CTX_SKIP_FLAG, 3), (T_CTX_SIG_FLAG, 3 * T_NUM_MODES),
                     (T_CTX_GT1_FLAG, 4), (T_CTX_GT2_FLAG, 1), (T_CTX_SIGN_FLAG, T_NUM_MODES)])
    if any(a + n > b for (a, n), (b, _) in zip(ranges, ranges[1:])):
        raise ImportError("dfc.fast: context ranges overlap")
    if not (T_MAX_PALETTE_SIZE == PAL_CAP and 0 <= T_MAX_GT1_FLAGS <= 16
            and 0 <= T_MAX_RICE_PARAM <= 8 and 0 <= T_MAX_STAT_COEFF < 64
            and (T_MAX_STAT_COEFF >> 2) <= T_MAX_RICE_PARAM
            and 1 <= T_RICE_PREFIX_LIMIT <= T_MAX_REMAINDER_PREFIX <= 24
            and T_RICE_PREFIX_LIMIT + 1 + T_MAX_RICE_PARAM <= 12
            and 0 <= T_INIT_STATE < NSTATES and T_INIT_MPS in (0, 1)):
        raise ImportError("dfc.fast: a syntax constant is outside what this build supports")
    D_INIT_CTX = (T_INIT_STATE << 1) | T_INIT_MPS

    # SPEC §7.3 transitions and §8.5 costs, per context byte and bin value.
    for c in range(2 * NSTATES):
        s = c >> 1
        mps = c & 1
        for q in range(4):
            D_LPS[c][q] = T_RANGE_TAB_LPS[s][q]
        for b in range(2):
            if b == mps:
                D_NEXT[c][b] = (T_TRANS_IDX_MPS[s] << 1) | mps
                D_COST[c][b] = T_FRAC_BITS[s][0]
            else:
                D_NEXT[c][b] = (T_TRANS_IDX_LPS[s] << 1) | ((1 - mps) if s == 0 else mps)
                D_COST[c][b] = T_FRAC_BITS[s][1]
    for c in range(2 * NSTATES):
        s = c >> 1
        mps = c & 1
        D_NEXT_LPS[c][0] = D_NEXT[c][mps]
        D_NEXT_LPS[c][1] = D_NEXT[c][1 - mps]
        for q in range(4):
            r = T_RANGE_TAB_LPS[s][q]
            n = 0
            while (r << n) < 256:
                n += 1
            D_LPS8[c][4 + q] = r
            D_LPS_RNG[c][4 + q] = r << n
            D_LPS_SHIFT[c][4 + q] = n
            # decode_decision renormalizes an MPS by at most one bit: the least
            # range with this qRangeIdx, minus the LPS range, must be >= 128
            if 256 + 64 * q - r < 128:
                raise ImportError("dfc.fast: an MPS would need more than one renormalization shift")
    for c in range(2 * NSTATES):
        D_COSTP[c][0] = 0  # unused index
        D_NEXTP[c][0] = c
        for q in range(1, 32):
            s = c
            n = 0
            i = 4
            while not (q >> i) & 1:  # the marker bit: q = (1 << bins) | pattern
                i -= 1
            for i in range(i - 1, -1, -1):
                b = (q >> i) & 1
                n += D_COST[s][b]
                s = D_NEXT[s][b]
            D_COSTP[c][q] = n
            D_NEXTP[c][q] = s
    for i in range(RBINS_CAP):
        D_RBINS[i] = rem_bins_q(i)
    for i in range(16):
        D_LEFT[i] = i - 1 if i & 3 else 16
        D_TOP[i] = i - 4 if i >= 4 else 16
    for r in range(512):
        D_INV[r] = ((1 << 32) + r - 1) // r if r >= 256 else 0
        n = 0
        if r > 0:
            while (r << n) < 256:
                n += 1
        D_RENORM[r] = n


_load_tables()


def _tables():
    """The C copies of dfc.reference.tables, converted back to Python values
    (for tests: they must equal the reference's)."""
    cdef int s, m, i
    return {
        "RANGE_TAB_LPS": tuple(tuple(int(T_RANGE_TAB_LPS[s][i]) for i in range(4)) for s in range(NSTATES)),
        "TRANS_IDX_LPS": tuple(int(T_TRANS_IDX_LPS[s]) for s in range(NSTATES)),
        "TRANS_IDX_MPS": tuple(int(T_TRANS_IDX_MPS[s]) for s in range(NSTATES)),
        "FRAC_BITS": tuple((int(T_FRAC_BITS[s][0]), int(T_FRAC_BITS[s][1])) for s in range(NSTATES)),
        "BYPASS_BITS": int(T_BYPASS_BITS),
        "NUM_MODES": T_NUM_MODES,
        "MODE_PAL": T_MODE_PAL, "MODE_HOR": T_MODE_HOR, "MODE_VER": T_MODE_VER,
        "MODE_FIL_A": T_MODE_FIL_A, "MODE_FIL_B": T_MODE_FIL_B,
        "FILTER_TAPS": {m: tuple(T_FILTER_TAPS[m][i] for i in range(3))
                        for m in (T_MODE_FIL_A, T_MODE_FIL_B)},
        "SCAN_FOR_MODE": {m: tuple((int(T_SCAN[m][i][0]), int(T_SCAN[m][i][1])) for i in range(16))
                          for m in range(T_NUM_MODES)},
        "CTX_PALETTE_IDX": T_CTX_PALETTE_IDX, "CTX_MPM_FLAG": T_CTX_MPM_FLAG,
        "CTX_SKIP_FLAG": T_CTX_SKIP_FLAG, "CTX_SIG_FLAG": T_CTX_SIG_FLAG,
        "CTX_GT1_FLAG": T_CTX_GT1_FLAG, "CTX_GT2_FLAG": T_CTX_GT2_FLAG,
        "CTX_SIGN_FLAG": T_CTX_SIGN_FLAG, "NUM_CONTEXTS": T_NUM_CONTEXTS,
        "INIT_STATE": T_INIT_STATE, "INIT_MPS": T_INIT_MPS,
        "MAX_GT1_FLAGS": T_MAX_GT1_FLAGS, "MAX_RICE_PARAM": T_MAX_RICE_PARAM,
        "MAX_STAT_COEFF": T_MAX_STAT_COEFF, "RICE_PREFIX_LIMIT": T_RICE_PREFIX_LIMIT,
        "MAX_REMAINDER_PREFIX": T_MAX_REMAINDER_PREFIX,
        "MAX_PALETTE_SIZE": T_MAX_PALETTE_SIZE,
    }


# ---------------------------------------------------------------------------
# Shared helpers: SPEC §6.5 MPM, §6.7.2-6.7.3 adaptation rules, §5.4 re-sort
# ---------------------------------------------------------------------------

cdef inline int derive_mpm(const uint8_t* cur_modes, const uint8_t* prev_modes,
                           Py_ssize_t bx, Py_ssize_t by) noexcept nogil:
    """SPEC §6.5: votes of left, top, top-left; ties to the first of them."""
    cdef int left, top, topleft
    if bx > 0 and by > 0:
        left = cur_modes[bx - 1]
        top = prev_modes[bx]
        topleft = prev_modes[bx - 1]
        if top == topleft and left != top:
            return top
        return left
    if bx > 0:
        return cur_modes[bx - 1]
    if by > 0:
        return prev_modes[bx]
    return D_PAL_MODE


cdef inline int update_gt1_ctx(int greater1_ctx, int gt1_flag) noexcept nogil:
    if gt1_flag:
        return 0
    if greater1_ctx > 0:
        return greater1_ctx + 1 if greater1_ctx < 3 else 3
    return 0


cdef inline int update_stat_coeff(int stat_coeff, int64_t abs_remaining) noexcept nogil:
    if abs_remaining >= (<int64_t>3 << (stat_coeff >> 2)):
        return stat_coeff + 1 if stat_coeff < T_MAX_STAT_COEFF else T_MAX_STAT_COEFF
    if 2 * abs_remaining < (<int64_t>1 << (stat_coeff >> 2)):
        return stat_coeff - 1 if stat_coeff > 0 else 0
    return stat_coeff


cdef inline int update_rice_param(int rice, int64_t abs_level) noexcept nogil:
    if abs_level > 3 * (<int64_t>1 << rice):
        return rice + 1 if rice < T_MAX_RICE_PARAM else T_MAX_RICE_PARAM
    return rice


cdef inline void sort_palette(uint16_t* order, int n, const int64_t* cumulative,
                              const uint8_t* slot_of) noexcept nogil:
    """SPEC §5.4: stable sort of order by descending cumulative count
    (cumulative is indexed by header slot; slot_of maps value -> slot)."""
    cdef int i, j
    cdef uint16_t v
    cdef int64_t key
    for i in range(1, n):
        v = order[i]
        key = cumulative[slot_of[v]]
        j = i - 1
        while j >= 0 and cumulative[slot_of[order[j]]] < key:
            order[j + 1] = order[j]
            j -= 1
        order[j + 1] = v


cdef inline void count_palette_values(const uint16_t* tile, Py_ssize_t n, const uint8_t* slot_of,
                                      int64_t* counts) noexcept nogil:
    """SPEC §5.4: adds each palette value's occurrences in the tile to counts
    (indexed by header slot; slot_of is PAL_CAP for a value outside the palette)."""
    cdef Py_ssize_t i
    cdef int64_t local[4][PAL_CAP + 1]  # 4 interleaved histograms: a run of equal
    memset(local, 0, sizeof(local))      # values would otherwise wait on each add
    i = 0
    while i + 4 <= n:
        local[0][slot_of[tile[i]]] += 1
        local[1][slot_of[tile[i + 1]]] += 1
        local[2][slot_of[tile[i + 2]]] += 1
        local[3][slot_of[tile[i + 3]]] += 1
        i += 4
    while i < n:
        local[0][slot_of[tile[i]]] += 1
        i += 1
    for i in range(PAL_CAP):
        counts[i] += local[0][i] + local[1][i] + local[2][i] + local[3][i]


cdef inline void swap_rows(uint8_t** cur, uint8_t** prev) noexcept nogil:
    """The row of block modes (or skip flags) just coded becomes the row above
    the next one (SPEC §6.5, §6.6 look one block row up)."""
    cdef uint8_t* tmp = cur[0]
    cur[0] = prev[0]
    prev[0] = tmp


cdef inline void update_palette(const uint16_t* tile, Py_ssize_t n, const uint8_t* slot_of,
                                int64_t* cumulative, uint16_t* order, int P) noexcept nogil:
    """SPEC §5.4 palette update after a tile: running counts, then the re-sort."""
    count_palette_values(tile, n, slot_of, cumulative)
    sort_palette(order, P, cumulative, slot_of)


# ---------------------------------------------------------------------------
# Q-layer: SPEC §4.2-4.3, binary64 one operation at a time (no FMA: the build
# uses -ffp-contract=off), exactly as reference/quantizer.py with numpy.
# ---------------------------------------------------------------------------

cdef void quantize_core(const float* v, Py_ssize_t n, double mn, double mx, int level,
                        uint16_t* q, uint32_t* hist) noexcept nogil:
    cdef Py_ssize_t i
    cdef double d = mx - mn
    cdef double lv = <double>level
    cdef double t, x
    cdef int32_t k
    if mn == mx:
        memset(q, 0, n * sizeof(uint16_t))
        hist[0] += <uint32_t>n
        return
    for i in range(n):
        t = (<double>v[i] - mn) / d
        x = t * lv + 0.5
        # floor(x) then clip to 0..L: truncation differs from floor only for
        # x < 0, where both clip to 0.
        k = <int32_t>x if x < 2147483647.0 else level
        if k < 0:
            k = 0
        elif k > level:
            k = level
        q[i] = <uint16_t>k
    for i in range(n):
        hist[q[i]] += 1


cdef void dequantize_core(const uint16_t* q, Py_ssize_t n, int level, double mn, double mx,
                          float* out, float* lut) noexcept nogil:
    """SPEC §4.3: mn + (q * (mx - mn)) / L, q = 0 -> mn, q = L -> mx, to float32."""
    cdef Py_ssize_t i
    cdef int k
    cdef double d = mx - mn
    cdef double lv = <double>level
    if lut != NULL:
        for k in range(level + 1):
            lut[k] = <float>(mn + (<double>k * d) / lv)
        lut[0] = <float>mn
        lut[level] = <float>mx
        for i in range(n):
            out[i] = lut[q[i]]
        return
    for i in range(n):
        k = q[i]
        if k == 0:
            out[i] = <float>mn
        elif k == level:
            out[i] = <float>mx
        else:
            out[i] = <float>(mn + (<double>k * d) / lv)


# ---------------------------------------------------------------------------
# The arithmetic encoder (SPEC §7.6); the mode decision's cost estimate (§8.5)
# has code of its own (cost_residual_blocks)
# ---------------------------------------------------------------------------

# The payload bytes written so far (a growable buffer).
cdef struct Out:
    uint8_t* buf
    size_t size
    size_t cap
    int oom


# SPEC §7.6 encoding engine in byte-wise form (as HEVC's HM): low holds the bits
# not yet written, bits_left counts down to the next byte, and a run of 0xFF bytes
# waits in buffered/n_buffered until a carry resolves it. This writes exactly the
# bits of the bit-serial PutBit/BitsOutstanding form of the reference (whose first
# bit is dropped), byte by byte.
cdef struct Enc:
    uint32_t low
    uint32_t range
    int bits_left
    uint32_t buffered
    int64_t n_buffered
    Out* out


cdef int out_init(Out* o, size_t cap) noexcept nogil:
    o.size = 0
    o.oom = 0
    if cap < 64:
        cap = 64
    o.cap = cap
    o.buf = <uint8_t*>PyMem_RawMalloc(cap)
    if o.buf == NULL:
        o.oom = 1
        o.cap = 0
        return -1
    return 0


cdef void out_grow(Out* o) noexcept nogil:
    cdef size_t newcap
    cdef uint8_t* nb
    if o.oom:
        o.size = 0
        return
    newcap = o.cap + (o.cap >> 1) + 64
    nb = <uint8_t*>PyMem_RawRealloc(o.buf, newcap)
    if nb == NULL:
        o.oom = 1
        o.size = 0  # keep going without writing; the caller raises MemoryError
        return
    o.buf = nb
    o.cap = newcap


cdef inline void out_byte(Out* o, uint32_t byte) noexcept nogil:
    if o.size >= o.cap:
        out_grow(o)
        if o.oom:
            return
    o.buf[o.size] = <uint8_t>byte
    o.size += 1


cdef void out_repeat(Out* o, uint32_t byte, int64_t count) noexcept nogil:
    cdef int64_t i
    for i in range(count):
        out_byte(o, byte)


cdef inline void enc_init(Enc* e, Out* o) noexcept nogil:
    e.low = 0
    e.range = 510
    e.bits_left = 23
    e.buffered = 0xFF
    e.n_buffered = 0
    e.out = o


cdef inline void enc_write_out(Enc* e) noexcept nogil:
    """Move the top byte of low to the output (or to the pending 0xFF run)."""
    cdef uint32_t lead = e.low >> (24 - e.bits_left)
    cdef uint32_t carry, byte
    e.bits_left += 8
    e.low &= 0xFFFFFFFFu >> e.bits_left
    if lead == 0xFF:
        e.n_buffered += 1
    elif e.n_buffered > 0:
        carry = lead >> 8
        byte = e.buffered + carry
        e.buffered = lead & 0xFF
        out_byte(e.out, byte)
        if e.n_buffered > 1:
            out_repeat(e.out, (0xFF + carry) & 0xFF, e.n_buffered - 1)
        e.n_buffered = 1
    else:
        e.n_buffered = 1
        e.buffered = lead


cdef inline void put_decision(Enc* s, uint8_t* ctx, int bin_val) noexcept nogil:
    """SPEC §7.6.1 EncodeDecision; adapts the context."""
    cdef uint8_t c = ctx[0]
    cdef uint32_t lps = D_LPS[c][(s.range >> 6) & 3]
    cdef int n
    s.range -= lps
    ctx[0] = D_NEXT[c][bin_val]
    if bin_val != (c & 1):
        n = D_RENORM[lps]
        s.low = (s.low + s.range) << n
        s.range = lps << n
        s.bits_left -= n
    elif s.range >= 256:
        return
    else:
        s.low <<= 1
        s.range <<= 1
        s.bits_left -= 1
    if s.bits_left < 12:
        enc_write_out(s)


cdef inline void put_bypass_bits(Enc* s, uint32_t value, int n) noexcept nogil:
    """SPEC §7.6.2 EncodeBypass for n bins holding value, most significant first."""
    cdef uint32_t pattern
    while n > 8:
        n -= 8
        pattern = value >> n
        s.low = (s.low << 8) + s.range * pattern
        value -= pattern << n
        s.bits_left -= 8
        if s.bits_left < 12:
            enc_write_out(s)
    s.low = (s.low << n) + s.range * value
    s.bits_left -= n
    if s.bits_left < 12:
        enc_write_out(s)


cdef inline void put_bypass(Enc* s, int bin_val) noexcept nogil:
    put_bypass_bits(s, bin_val, 1)


cdef void enc_terminate_flush(Enc* e) noexcept nogil:
    """SPEC §7.6.3 EncodeTerminate(1), §7.6.4 flush (its last bit is the stop
    bit 1), then zero bits to a whole byte."""
    cdef int n
    cdef uint32_t tail
    e.range -= 2
    e.low += e.range
    e.low <<= 7
    e.range = 2 << 7
    e.bits_left -= 7
    if e.bits_left < 12:
        enc_write_out(e)
    if e.low >> (32 - e.bits_left):
        out_byte(e.out, e.buffered + 1)
        out_repeat(e.out, 0x00, e.n_buffered - 1)
        e.low -= <uint32_t>1 << (32 - e.bits_left)
    else:
        if e.n_buffered > 0:
            out_byte(e.out, e.buffered)
        out_repeat(e.out, 0xFF, e.n_buffered - 1)
    # the rest of low down to its bit 8, then the stop bit, then zero padding
    n = 24 - e.bits_left
    tail = ((e.low >> 8) << 1) | 1
    n += 1
    tail <<= (8 - (n & 7)) & 7
    n = (n + 7) & ~7
    while n > 0:
        n -= 8
        out_byte(e.out, (tail >> n) & 0xFF)


# ---------------------------------------------------------------------------
# Syntax writers (SPEC §5.3, §6.5-6.7)
# ---------------------------------------------------------------------------

cdef inline void write_abs_remaining(Enc* s, uint32_t value, int rice) noexcept nogil:
    """SPEC §6.7.3 abs_remaining: Rice prefix/suffix, or escape to Exp-Golomb k+1."""
    cdef int order, ones
    if value < (<uint32_t>T_RICE_PREFIX_LIMIT << rice):
        ones = value >> rice
        # ones 1-bins and a 0, then the rice low bits: at most 4 + 1 + 4 bins
        put_bypass_bits(s, ((((<uint32_t>1 << ones) - 1) << 1) << rice)
                        | (value & ((<uint32_t>1 << rice) - 1)), ones + 1 + rice)
        return
    value -= <uint32_t>T_RICE_PREFIX_LIMIT << rice
    order = rice + 1
    ones = T_RICE_PREFIX_LIMIT
    while value >= (<uint32_t>1 << order):
        value -= <uint32_t>1 << order
        order += 1
        ones += 1
    put_bypass_bits(s, ((<uint32_t>1 << ones) - 1) << 1, ones + 1)
    put_bypass_bits(s, value, order)


cdef int write_residual_block(Enc* s, uint8_t* ctx, const int32_t* res, int mode,
                              int bw, int bh, int stat_coeff) noexcept nogil:
    """SPEC §6.7 residual_block(); res is the block's residuals in raster order
    (not all zero). Returns StatCoeff after the block."""
    cdef const uint8_t* scan = D_SCAN[mode][bw - 1][bh - 1]
    cdef int n = bw * bh
    cdef uint8_t sig[16]
    cdef int32_t levels[16]
    cdef int nl = 0
    cdef int i, idx, sf, inc, k, g1ctx, first_gt1, f, rice, first_remaining, base, ngt1
    cdef int32_t a
    cdef uint8_t* sig_ctx = ctx + T_CTX_SIG_FLAG + 3 * mode
    memset(sig, 0, sizeof(sig))
    for i in range(n):
        idx = scan[i]
        sf = res[idx] != 0
        if i == n - 1 and nl == 0:
            sf = 1  # inferred
        else:
            inc = 0
            if (idx & 3) and sig[idx - 1]:
                inc += 1
            if (idx >> 2) and sig[idx - 4]:
                inc += 1
            put_decision(s, sig_ctx + inc, sf)
        sig[idx] = sf
        if sf:
            levels[nl] = res[idx]
            nl += 1
    g1ctx = 1
    first_gt1 = -1
    ngt1 = nl if nl < T_MAX_GT1_FLAGS else T_MAX_GT1_FLAGS
    for k in range(ngt1):
        a = levels[k] if levels[k] >= 0 else -levels[k]
        f = a > 1
        put_decision(s, ctx + T_CTX_GT1_FLAG + g1ctx, f)
        g1ctx = update_gt1_ctx(g1ctx, f)
        if f and first_gt1 < 0:
            first_gt1 = k
    if first_gt1 >= 0:
        a = levels[first_gt1] if levels[first_gt1] >= 0 else -levels[first_gt1]
        put_decision(s, ctx + T_CTX_GT2_FLAG, a > 2)
    for k in range(nl):
        put_decision(s, ctx + T_CTX_SIGN_FLAG + mode, levels[k] < 0)
    rice = stat_coeff >> 2
    first_remaining = 1
    for k in range(nl):
        a = levels[k] if levels[k] >= 0 else -levels[k]
        # SPEC §6.7.2 base_level
        if k >= T_MAX_GT1_FLAGS:
            base = 1
        elif a == 1:
            continue
        elif k == first_gt1:
            if a == 2:
                continue
            base = 3
        else:
            base = 2
        write_abs_remaining(s, <uint32_t>(a - base), rice)
        if first_remaining:
            stat_coeff = update_stat_coeff(stat_coeff, a - base)
            first_remaining = 0
        rice = update_rice_param(rice, a)
    return stat_coeff


cdef inline int rem_bins_q(int32_t q) noexcept nogil:
    """SPEC §6.7.3: the bins of abs_remaining(value, rice), less rice, as a
    function of q = value >> rice alone: the Rice form has q ones, a zero and
    rice suffix bits; the escape has RICE_PREFIX_LIMIT + e ones, a zero and
    rice + 1 + e suffix bits, where e = floor(log2((t >> (rice + 1)) + 1)) with
    t = value - (RICE_PREFIX_LIMIT << rice), and t >> (rice + 1) equals
    (q - RICE_PREFIX_LIMIT) >> 1 (the low rice bits of value cannot carry into
    bit rice + 1 of a difference of a multiple of 2^rice)."""
    if q < T_RICE_PREFIX_LIMIT:
        return q + 1
    return T_RICE_PREFIX_LIMIT + 2 + 2 * (31 - DFC_CLZ32(<uint32_t>((q - T_RICE_PREFIX_LIMIT) >> 1) + 1))


cdef inline int64_t cost_run(uint8_t c, uint32_t bins, int n) noexcept nogil:
    """SPEC §8.5 estimated cost of n bins coded in a row on one context whose
    state is c; bins holds them, the first in bit n - 1. Up to 4 bins per table
    step, so a run costs a short chain of loads instead of one per bin."""
    cdef int64_t cost = 0
    cdef uint32_t chunk
    while n > 4:
        n -= 4
        chunk = 16 | ((bins >> n) & 15)
        cost += D_COSTP[c][chunk]
        c = D_NEXTP[c][chunk]
    return cost + D_COSTP[c][(1 << n) | (bins & ((1 << n) - 1))]


cdef inline int64_t cost_residual_tail(const uint8_t* ctx, int32_t* levels, int nl, int mode,
                                       int stat_coeff) noexcept nogil:
    """The rest of the estimated cost of residual_block() after its sig_flags:
    sign_flags, gt1_flags, gt2_flag and the bypass bins of abs_remaining, for the
    nl significant residuals ``levels`` (in scan order; overwritten with their
    magnitudes). Mostly branch-free, as the trial of 5 modes per block would
    otherwise mispredict a lot. StatCoeff updates are left out: they only matter to later blocks, and a trial's StatCoeff is thrown away."""
    cdef int k, first_gt1, rice, ngt1, coded, rising, last
    cdef int32_t a, value, q
    cdef uint32_t signs = 0, gt1 = 0
    cdef int64_t cost = 0, bins = 0
    cdef const uint8_t* gt1_ctx = ctx + T_CTX_GT1_FLAG
    # sign_flags (coded after gt1/gt2 but on a context of their own, so the order
    # of the estimate does not matter): one run of nl bins
    for k in range(nl):
        signs = (signs << 1) | (levels[k] < 0)
        levels[k] = levels[k] if levels[k] >= 0 else -levels[k]  # from here on: |level|
    cost += cost_run(ctx[T_CTX_SIGN_FLAG + mode], signs, nl)
    # gt1_flags of the first ngt1 levels, gt1 holding them (the first in bit
    # ngt1 - 1). SPEC §6.7.2 greater1Ctx starts at 1, rises by 1 up to 3 after
    # each 0 and drops to 0 for good after the first 1 (update_gt1_ctx), so flag
    # k up to the first 1 (k = first_gt1) is coded on context min(k + 1, 3) and
    # every later one on context 0: flags 0 and 1 alone on contexts 1 and 2, a
    # run of 0s (ended by the 1) on context 3 and the rest as a run on context 0.
    ngt1 = nl if nl < T_MAX_GT1_FLAGS else T_MAX_GT1_FLAGS
    for k in range(ngt1):
        gt1 = (gt1 << 1) | (levels[k] > 1)
    first_gt1 = (ngt1 - 32 + DFC_CLZ32(gt1)) if gt1 else ngt1  # ngt1: no flag is 1
    rising = first_gt1 + 1 if first_gt1 < ngt1 else ngt1  # flags on contexts 1..3
    last = first_gt1 < ngt1  # the last rising flag (only the last can be 1)
    if rising == 1:
        cost += D_COST[gt1_ctx[1]][last]
    elif rising == 2:
        cost += D_COST[gt1_ctx[1]][0] + D_COST[gt1_ctx[2]][last]
    elif rising > 2:
        cost += (D_COST[gt1_ctx[1]][0] + D_COST[gt1_ctx[2]][0]
                 + cost_run(gt1_ctx[3], last, rising - 2))
    cost += cost_run(gt1_ctx[0], gt1, ngt1 - rising)  # the flags after the first 1
    if first_gt1 < ngt1:
        cost += D_COST[ctx[T_CTX_GT2_FLAG]][levels[first_gt1] > 2]
    else:
        first_gt1 = 16  # no level takes the first-gt1 base below
    rice = stat_coeff >> 2
    for k in range(nl):
        a = levels[k]
        # SPEC §6.7.2 base_level: abs_remaining = a - base is coded exactly when
        # it is >= 0 (a >= 2, or a >= 3 for the first gt1_flag = 1, or any a
        # past the gt1_flags), so the sign of value says whether it is coded.
        value = a - (1 if k >= T_MAX_GT1_FLAGS else (3 if k == first_gt1 else 2))
        coded = value >= 0
        q = (value if coded else 0) >> rice
        bins += (rice + (D_RBINS[q] if q < RBINS_CAP else rem_bins_q(q))) if coded else 0
        # SPEC §6.7.3 update_rice_param; a level that is not coded has a <= 2,
        # which never raises cRiceParam (3 << rice >= 3), so coded is not needed
        rice += (a > (3 << rice)) & (rice < T_MAX_RICE_PARAM)
    return cost + bins * T_BYPASS_BITS


cdef inline void cost_residual_blocks(const uint8_t* ctx, int32_t res[][16], int bw, int bh,
                                      int stat_coeff, int64_t* cost) noexcept nogil:
    """SPEC §8.5 estimated cost of residual_block() in each of the NM modes,
    cost[mode] (from the context states ctx, which are left unchanged: each mode
    adapts local copies of the contexts it touches).

    The sig_flag pass is the longest dependency chain of the estimate (each bin
    reads the context state the previous bin on that context wrote), so the NM
    modes run it in lockstep, position by position: their chains are independent
    and overlap instead of waiting one after the other. A mode whose residuals
    are all 0 (skip_flag 1) gets a meaningless cost, which the caller ignores."""
    cdef const uint8_t* scan[NM]
    cdef uint8_t sig[NM][17]       # sig_flags in raster order; slot 16 stays 0
    cdef uint8_t sig_ctx[NM][3]
    cdef int32_t levels[NM][16]    # significant residuals in scan order
    cdef int nl[NM]
    cdef int n = bw * bh
    cdef int i, m, idx, sf, inc
    cdef uint8_t c
    cdef int32_t r
    for m in range(NM):
        scan[m] = D_SCAN[m][bw - 1][bh - 1]
        memcpy(sig_ctx[m], ctx + T_CTX_SIG_FLAG + 3 * m, 3)
        nl[m] = 0
        cost[m] = 0
    memset(sig, 0, sizeof(sig))
    for i in range(n - 1):
        for m in range(NM):
            idx = scan[m][i]
            r = res[m][idx]
            sf = r != 0
            inc = sig[m][D_LEFT[idx]] + sig[m][D_TOP[idx]]
            c = sig_ctx[m][inc]
            cost[m] += D_COST[c][sf]
            sig_ctx[m][inc] = D_NEXT[c][sf]
            sig[m][idx] = <uint8_t>sf
            levels[m][nl[m]] = r
            nl[m] += sf
    for m in range(NM):
        idx = scan[m][n - 1]
        if nl[m] == 0:
            levels[m][0] = res[m][idx]  # sig_flag inferred
            nl[m] = 1
        else:
            sf = res[m][idx] != 0
            inc = sig[m][D_LEFT[idx]] + sig[m][D_TOP[idx]]
            cost[m] += D_COST[sig_ctx[m][inc]][sf]
            levels[m][nl[m]] = res[m][idx]
            nl[m] += sf
        cost[m] += cost_residual_tail(ctx, levels[m], nl[m], m, stat_coeff)


cdef inline int write_block(Enc* s, uint8_t* ctx, int mode, int mpm, int skip_ctx_inc,
                            const int32_t* res, int bw, int bh, int* stat_coeff) noexcept nogil:
    """SPEC §6.1 block(): mpm_flag / rem_mode, skip_flag, residual_block().
    Returns skip_flag."""
    cdef int rem_mode, i, skip_flag
    cdef int32_t nonzero
    if mode == mpm:
        put_decision(s, ctx + T_CTX_MPM_FLAG, 1)
    else:
        put_decision(s, ctx + T_CTX_MPM_FLAG, 0)
        rem_mode = mode if mode < mpm else mode - 1
        put_bypass(s, rem_mode >> 1)
        put_bypass(s, rem_mode & 1)
    nonzero = 0
    for i in range(16):  # positions outside bw x bh hold 0
        nonzero |= res[i]
    skip_flag = nonzero == 0
    put_decision(s, ctx + T_CTX_SKIP_FLAG + skip_ctx_inc, skip_flag)
    if not skip_flag:
        stat_coeff[0] = write_residual_block(s, ctx, res, mode, bw, bh, stat_coeff[0])
    return skip_flag


cdef inline void block_residuals(const uint16_t* tile, Py_ssize_t width, Py_ssize_t bx,
                                 Py_ssize_t by, int bw, int bh, int pal,
                                 int32_t res[][16]) noexcept nogil:
    """SPEC §6.3-6.4 prediction of every mode; res[mode][y*4+x] = sample - prediction,
    0 outside the bw x bh block."""
    # nb[1 + y][1 + x] = sample (x, y) of the block; row 0 and column 0 hold the
    # samples above and left of it, or p_j* outside the tile (SPEC §6.2). Then each
    # mode is a fixed pattern of whole-block arithmetic, which vectorizes.
    cdef int32_t nb[5][5]
    cdef int32_t sv
    cdef int x, y, i
    cdef Py_ssize_t x0 = 4 * bx, y0 = 4 * by
    cdef const uint16_t* row
    cdef int fa0 = T_FILTER_TAPS[T_MODE_FIL_A][0], fa1 = T_FILTER_TAPS[T_MODE_FIL_A][1]
    cdef int fa2 = T_FILTER_TAPS[T_MODE_FIL_A][2], fb0 = T_FILTER_TAPS[T_MODE_FIL_B][0]
    cdef int fb1 = T_FILTER_TAPS[T_MODE_FIL_B][1], fb2 = T_FILTER_TAPS[T_MODE_FIL_B][2]
    cdef int32_t* r_pal = res[T_MODE_PAL]
    cdef int32_t* r_hor = res[T_MODE_HOR]
    cdef int32_t* r_ver = res[T_MODE_VER]
    cdef int32_t* r_fa = res[T_MODE_FIL_A]
    cdef int32_t* r_fb = res[T_MODE_FIL_B]
    if bw < 4 or bh < 4:
        memset(nb, 0, sizeof(nb))  # the samples outside the block: masked below
    if by > 0:
        row = tile + (y0 - 1) * width
        nb[0][0] = row[x0 - 1] if bx > 0 else pal
        for x in range(bw):
            nb[0][1 + x] = row[x0 + x]
    else:
        for x in range(5):
            nb[0][x] = pal
    for y in range(bh):
        row = tile + (y0 + y) * width
        nb[1 + y][0] = row[x0 - 1] if bx > 0 else pal
        for x in range(bw):
            nb[1 + y][1 + x] = row[x0 + x]
    for y in range(4):
        for x in range(4):
            i = 4 * y + x
            sv = nb[1 + y][1 + x]
            r_pal[i] = sv - pal
            r_hor[i] = sv - nb[1 + y][x]
            r_ver[i] = sv - nb[y][1 + x]
            r_fa[i] = sv - ((fa0 * nb[y][x] + fa1 * nb[y][1 + x] + fa2 * nb[1 + y][x] + 16) >> 5)
            r_fb[i] = sv - ((fb0 * nb[y][x] + fb1 * nb[y][1 + x] + fb2 * nb[1 + y][x] + 16) >> 5)
    if bw < 4 or bh < 4:
        for y in range(4):
            for x in range(4):
                if x >= bw or y >= bh:
                    i = 4 * y + x
                    r_pal[i] = 0
                    r_hor[i] = 0
                    r_ver[i] = 0
                    r_fa[i] = 0
                    r_fb[i] = 0


# ---------------------------------------------------------------------------
# Encoder core (SPEC §8)
# ---------------------------------------------------------------------------

cdef int select_palette(const uint32_t* hist, int level, uint16_t* palette) noexcept nogil:
    """SPEC §8.2: up to 8 most frequent values, most frequent first, ties to the
    smaller value. Returns the palette size."""
    cdef int n = 0
    cdef int v, j
    cdef uint32_t cnt
    cdef uint32_t counts[PAL_CAP]
    for v in range(level + 1):
        cnt = hist[v]
        if cnt == 0:
            continue
        if n == PAL_CAP and cnt <= counts[PAL_CAP - 1]:
            continue
        j = n if n < PAL_CAP else PAL_CAP - 1
        # values arrive in increasing order: an equal count stays behind
        while j > 0 and counts[j - 1] < cnt:
            if j < PAL_CAP:
                counts[j] = counts[j - 1]
                palette[j] = palette[j - 1]
            j -= 1
        counts[j] = cnt
        palette[j] = <uint16_t>v
        if n < PAL_CAP:
            n += 1
    return n


cdef int64_t tile_sad(const uint16_t* tile, Py_ssize_t n, int value) noexcept nogil:
    """SPEC §8.3: the sum of |sample - value| over the tile. Summed in uint32
    over runs of 65536 samples (each term <= 65535, so a run cannot overflow),
    which the compiler vectorizes."""
    cdef int64_t total = 0
    cdef uint32_t part
    cdef int32_t d
    cdef Py_ssize_t i = 0, j, end
    while i < n:
        end = i + 65536 if n - i > 65536 else n
        part = 0
        for j in range(i, end):
            d = <int32_t>tile[j] - value
            part += <uint32_t>(d if d >= 0 else -d)
        total += part
        i = end
    return total


cdef int encode_core(const uint16_t* q, Py_ssize_t channels, Py_ssize_t height,
                     Py_ssize_t width, int level, const uint32_t* hist,
                     uint16_t* header_palette, int* palette_size, Out* out,
                     uint8_t* rows) noexcept nogil:
    """SPEC §8 from the quantized tensor to the flushed payload in out.
    rows: 4 * blocks_across bytes of scratch. Returns 0, or -1 when out of memory."""
    cdef Enc engine      # a local whose address stays here: kept in registers
    cdef Enc* enc = &engine
    cdef uint8_t ctx[CTX_CAP]
    cdef uint8_t slot_of[65536]
    cdef uint16_t order[PAL_CAP]
    cdef int64_t cumulative[PAL_CAP]
    cdef int64_t counts[PAL_CAP]
    cdef int64_t sad[PAL_CAP]
    cdef int32_t res[MODE_CAP][16]
    cdef int64_t cost, c_mpm0, c_mpm1, c_skip0, c_skip1
    cdef int64_t costs[NM]
    cdef int32_t nonzero
    cdef Py_ssize_t tile_size = height * width
    cdef Py_ssize_t blocks_across = (width + 3) // 4
    cdef Py_ssize_t blocks_down = (height + 3) // 4
    cdef uint8_t* cur_modes = rows
    cdef uint8_t* prev_modes = rows + blocks_across
    cdef uint8_t* cur_skips = rows + 2 * blocks_across
    cdef uint8_t* prev_skips = rows + 3 * blocks_across
    cdef const uint16_t* tile
    cdef Py_ssize_t c, i, bx, by
    cdef int P, j, best_j, pal, bw, bh, mpm, skip_inc, m, best_mode, stat_coeff
    cdef int64_t best_cost

    P = select_palette(hist, level, order)
    memset(slot_of, PAL_CAP, sizeof(slot_of))
    for j in range(P):
        slot_of[order[j]] = <uint8_t>j
    # SPEC §8.2: header order = stable sort by frequency in tile 0.
    memset(cumulative, 0, sizeof(cumulative))
    count_palette_values(q, tile_size, slot_of, cumulative)
    sort_palette(order, P, cumulative, slot_of)
    for j in range(P):
        header_palette[j] = order[j]
        slot_of[order[j]] = <uint8_t>j
    palette_size[0] = P
    memset(cumulative, 0, sizeof(cumulative))

    memset(ctx, D_INIT_CTX, sizeof(ctx))
    enc_init(enc, out)
    stat_coeff = 0
    for c in range(channels):
        tile = q + c * tile_size
        # SPEC §8.3 choose_palette_idx: least SAD, ties to the smallest index.
        for j in range(P):
            sad[j] = tile_sad(tile, tile_size, order[j])
        best_j = 0
        for j in range(1, P):
            if sad[j] < sad[best_j]:
                best_j = j
        # SPEC §5.3 palette_idx: truncated unary
        for j in range(P - 1):
            put_decision(enc, ctx + T_CTX_PALETTE_IDX + j, best_j > j)
            if best_j <= j:
                break
        pal = order[best_j]

        for by in range(blocks_down):
            bh = <int>(height - 4 * by) if height - 4 * by < 4 else 4
            for bx in range(blocks_across):
                bw = <int>(width - 4 * bx) if width - 4 * bx < 4 else 4
                mpm = derive_mpm(cur_modes, prev_modes, bx, by)
                skip_inc = 0
                if bx > 0 and cur_skips[bx - 1]:
                    skip_inc += 1
                if by > 0 and prev_skips[bx]:
                    skip_inc += 1
                block_residuals(tile, width, bx, by, bw, bh, pal, res)
                # SPEC §8.4 mode decision: least estimated cost of mpm_flag /
                # rem_mode, skip_flag and residual_block(), ties to the lower mode.
                # The elements use disjoint contexts (checked at import), so each
                # is costed from the current states, not a copy adapted in order.
                cost_residual_blocks(ctx, res, bw, bh, stat_coeff, costs)
                c_mpm0 = D_COST[ctx[T_CTX_MPM_FLAG]][0] + 2 * T_BYPASS_BITS  # + rem_mode
                c_mpm1 = D_COST[ctx[T_CTX_MPM_FLAG]][1]
                c_skip0 = D_COST[ctx[T_CTX_SKIP_FLAG + skip_inc]][0]
                c_skip1 = D_COST[ctx[T_CTX_SKIP_FLAG + skip_inc]][1]
                best_mode = 0
                best_cost = 0
                for m in range(NM):
                    nonzero = 0
                    for i in range(16):  # positions outside bw x bh hold 0
                        nonzero |= res[m][i]
                    cost = c_mpm1 if m == mpm else c_mpm0
                    cost += (c_skip0 + costs[m]) if nonzero else c_skip1
                    if m == 0 or cost < best_cost:
                        best_mode = m
                        best_cost = cost
                cur_modes[bx] = <uint8_t>best_mode
                cur_skips[bx] = <uint8_t>write_block(enc, ctx, best_mode, mpm, skip_inc,
                                                     res[best_mode], bw, bh, &stat_coeff)
            swap_rows(&cur_modes, &prev_modes)
            swap_rows(&cur_skips, &prev_skips)
        update_palette(tile, tile_size, slot_of, cumulative, order, P)
        if out.oom:
            return -1
    enc_terminate_flush(enc)
    return -1 if out.oom else 0


def _encode_payload(values, int bits, double mn, double mx):
    """SPEC §4.2 and §8 on a validated C-contiguous float32 (C, H, W) array.
    Returns (payload, header palette)."""
    cdef const float[:, :, ::1] v = values
    cdef Py_ssize_t channels = v.shape[0]
    cdef Py_ssize_t height = v.shape[1]
    cdef Py_ssize_t width = v.shape[2]
    cdef Py_ssize_t n = channels * height * width
    cdef int level = (1 << bits) - 1
    cdef int rc = 0, P = 0, j
    cdef uint16_t palette[PAL_CAP]
    cdef Out out
    cdef uint16_t* q = <uint16_t*>PyMem_RawMalloc(n * sizeof(uint16_t))
    cdef uint32_t* hist = <uint32_t*>PyMem_RawMalloc((level + 1) * sizeof(uint32_t))
    cdef uint8_t* rows = <uint8_t*>PyMem_RawMalloc(4 * ((width + 3) // 4) + 16)
    out.buf = NULL
    try:
        if q == NULL or hist == NULL or rows == NULL:
            raise MemoryError()
        memset(hist, 0, (level + 1) * sizeof(uint32_t))
        memset(rows, 0, 4 * ((width + 3) // 4) + 16)
        with nogil:
            quantize_core(&v[0, 0, 0], n, mn, mx, level, q, hist)
            # the payload is usually far smaller than the tensor; it grows as needed
            rc = out_init(&out, <size_t>(n // 8 + 256))
            if rc == 0:
                rc = encode_core(q, channels, height, width, level, hist, palette, &P,
                                 &out, rows)
        if rc != 0:
            raise MemoryError()
        payload = PyBytes_FromStringAndSize(<char*>out.buf, out.size)
    finally:
        PyMem_RawFree(q)
        PyMem_RawFree(hist)
        PyMem_RawFree(rows)
        PyMem_RawFree(out.buf)
    return payload, tuple(int(palette[j]) for j in range(P))


def encode(tensor, bits=8):
    """Encode a (C, H, W) tensor into a dfc stream (SPEC §8); byte-identical to
    dfc.reference.encode, with the same ValueError for bad input."""
    values = validate_input(tensor, bits)
    bit_depth = int(bits)
    values = np.ascontiguousarray(values)
    # SPEC §4.2: -0.0 counts as +0.0. The reference adds 0.0 to the whole tensor
    # before min/max; since x + 0.0 == x for every other value, adding it to the
    # extremes gives the same header without a copy of the tensor.
    min_value = float(np.min(values)) + 0.0
    max_value = float(np.max(values)) + 0.0
    channels, height, width = values.shape
    payload, palette = _encode_payload(values, bit_depth, min_value, max_value)
    del values
    header = Header(
        format_version=_ref.FORMAT_VERSION, profile=_ref.PROFILE_BASELINE,
        bit_depth=bit_depth, channels=channels, height=height, width=width,
        min_value=min_value, max_value=max_value,
        payload_size=len(payload), palette=palette,
    )
    # SPEC §3.1 framing, as dfc.reference.header.frame_stream, with one copy of the payload.
    head = write_header(header)
    crc = zlib.crc32(payload, zlib.crc32(head)) & 0xFFFFFFFF
    return b"".join((head, payload, crc.to_bytes(_ref.CRC_SIZE, "big")))


# ---------------------------------------------------------------------------
# Decoder (SPEC §5-§7)
# ---------------------------------------------------------------------------

cdef enum ErrCode:
    ERR_NONE = 0
    ERR_PAYLOAD_OVERRUN
    ERR_BAD_ARITH_INIT
    ERR_REMAINDER_PREFIX
    ERR_RESIDUAL_RANGE
    ERR_SAMPLE_RANGE
    ERR_MISSING_END
    ERR_UNUSED_BYTES
    ERR_NONZERO_PADDING


cdef struct Err:
    int code
    int64_t offset
    int64_t v[6]        # details for the message


# SPEC §7.4 decoding engine, HM/ffmpeg style: the offset and the look-ahead bits
# share one 64-bit window,
#
#     win = offset << WIN_SHIFT | (the next bits of the payload, most significant first)
#
# so renormalizing by n bits is one shift of the window (the next n payload bits
# move into the offset) instead of a read of n bits, and `offset >= x` is
# `win >= x << WIN_SHIFT` whatever the look-ahead bits are. The offset needs 10
# bits (a bypass bin doubles it before the comparison), hence WIN_SHIFT = 54.
# cnt counts the look-ahead bits that are valid; below them the window holds 0
# or the payload's own next bits (an 8-byte load may put more there than it
# counts, and the next refill ORs the same bits in again). Past the payload it
# reads zeros: the bits consumed, 8 * pos - cnt, are compared with the payload
# size wherever the reference could have noticed an overrun.
cdef enum:
    WIN_SHIFT = 54
    PAD_BYTES = 8        # zeros after the decoder's copy of the payload
    LOOKAHEAD_MIN = 12   # every engine step consumes at most 12 bits (SPEC §6.7.3
                         # decodes up to RICE_PREFIX_LIMIT + 1 + MAX_RICE_PARAM at once)

# The heart of DecodeDecision: from rMPS = range - rangeLPS, the MPS outcome
# (range renormalized by at most one bit) and then the choice between it and the
# prepared LPS outcome. Compilers turn the choice into a branch (bins are close
# to random, so it mispredicts often) or into longer mask arithmetic; on x86-64
# it is spelled out as conditional moves, one cycle each after the comparisons.
cdef extern from *:
    """
    #include <stdint.h>
    #if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
    static inline __attribute__((always_inline)) int dfc_decide(
            uint32_t offset, uint32_t rmps, uint32_t* rng, uint32_t* n, uint32_t rng_lps,
            uint32_t n_lps, uint64_t* win, uint64_t win_lps, uint32_t* ctx, uint32_t ctx_lps) {
        uint32_t r = rmps, k = 0, c = *ctx;
        uint64_t w = *win;
        uint8_t lps;
        __asm__("cmpl $256, %[rmps]\\n\\t"        /* MPS: rmps < 256 -> one shift */
                "cmovbl %[rmps2], %[r]\\n\\t"
                "adcl $0, %[k]\\n\\t"
                "cmpl %[rmps], %[off]\\n\\t"      /* offset >= rmps: the LPS path */
                "cmovael %[rl], %[r]\\n\\t"
                "cmovael %[kl], %[k]\\n\\t"
                "cmovaeq %[wl], %[w]\\n\\t"
                "cmovael %[cl], %[c]\\n\\t"
                "setae %[lps]"
                : [r] "+&r"(r), [k] "+&r"(k), [w] "+r"(w), [c] "+r"(c), [lps] "=&q"(lps)
                : [off] "r"(offset), [rmps] "r"(rmps), [rmps2] "r"(rmps + rmps),
                  [rl] "rm"(rng_lps), [kl] "rm"(n_lps), [wl] "rm"(win_lps), [cl] "rm"(ctx_lps)
                : "cc");
        *rng = r; *n = k; *win = w; *ctx = c;
        return lps;
    }
    #else
    static inline int dfc_decide(
            uint32_t offset, uint32_t rmps, uint32_t* rng, uint32_t* n, uint32_t rng_lps,
            uint32_t n_lps, uint64_t* win, uint64_t win_lps, uint32_t* ctx, uint32_t ctx_lps) {
        int lps = offset >= rmps;
        uint32_t mask = 0u - (uint32_t)lps;
        uint32_t n_mps = rmps < 256;
        uint32_t rng_mps = rmps << n_mps;
        *rng = rng_mps ^ ((rng_mps ^ rng_lps) & mask);
        *n = n_mps ^ ((n_mps ^ n_lps) & mask);
        *win ^= (*win ^ win_lps) & (0ull - (uint64_t)lps);
        *ctx ^= (*ctx ^ ctx_lps) & mask;
        return lps;
    }
    #endif
    """
    int dfc_decide(uint32_t offset, uint32_t rmps, uint32_t* rng, uint32_t* n,
                   uint32_t rng_lps, uint32_t n_lps, uint64_t* win, uint64_t win_lps,
                   uint32_t* ctx, uint32_t ctx_lps) nogil


cdef inline uint64_t win_low() noexcept nogil:
    """The look-ahead part of the window (a constant once inlined)."""
    return (<uint64_t>1 << WIN_SHIFT) - 1


cdef struct Dec:
    const uint8_t* data # the payload, then PAD_BYTES zeros
    Py_ssize_t size     # payload size
    Py_ssize_t pos      # next payload byte to load (may run past size: zeros)
    Py_ssize_t start    # payload start (absolute byte offset, for errors)
    Py_ssize_t end      # payload end (absolute)
    uint64_t win        # offset << WIN_SHIFT | look-ahead bits
    int cnt             # valid look-ahead bits in win (>= LOOKAHEAD_MIN between steps)
    uint32_t range
    int64_t total_bits  # 8 * payload_size


cdef inline void dec_refill(Dec* d) noexcept nogil:
    """Top up the look-ahead to at least WIN_SHIFT - 7 bits (whole bytes). One
    8-byte load, no branch: data is a copy of the payload followed by PAD_BYTES
    zeros, and from the payload's end on the load stays at its end (zeros)."""
    cdef uint64_t w
    cdef Py_ssize_t p = d.pos if d.pos < d.size else d.size
    cdef int k = (WIN_SHIFT - d.cnt) >> 3
    memcpy(&w, d.data + p, 8)
    d.win |= DFC_BE64(w) >> (64 - WIN_SHIFT + d.cnt)
    d.pos += k
    d.cnt += k << 3


cdef inline int64_t dec_bit_pos(Dec* d) noexcept nogil:
    """Bits consumed by the engine (the reference's bit_pos)."""
    return 8 * <int64_t>d.pos - d.cnt


cdef inline bint dec_overrun(Dec* d) noexcept nogil:
    return dec_bit_pos(d) > d.total_bits


cdef inline int64_t dec_byte_offset(Dec* d) noexcept nogil:
    return d.start + (dec_bit_pos(d) >> 3)


cdef inline void dec_shift(Dec* d, int n) noexcept nogil:
    """Move n (<= cnt) look-ahead bits into the offset."""
    d.win <<= n
    d.cnt -= n
    if d.cnt < LOOKAHEAD_MIN:
        dec_refill(d)


cdef inline uint32_t dec_offset(Dec* d) noexcept nogil:
    return <uint32_t>(d.win >> WIN_SHIFT)


cdef inline int decode_decision(Dec* d, uint8_t* ctx) noexcept nogil:
    """SPEC §7.4.2 DecodeDecision, without data-dependent branches (bins are
    close to random, so a branch would often be mispredicted). Both outcomes are
    computed side by side from tables indexed by the context byte and range >> 6,
    and the comparison only selects: the LPS range comes already renormalized
    (D_LPS_RNG, D_LPS_SHIFT), and an MPS renormalizes by at most one bit."""
    cdef uint32_t c = ctx[0]
    cdef uint32_t q = d.range >> 6  # 4..7: 256 <= range < 512
    cdef uint32_t rmps = d.range - D_LPS8[c][q]
    cdef uint32_t rng, n
    cdef uint64_t win = d.win
    cdef uint32_t next_c = D_NEXT_LPS[c][0]
    cdef int is_lps = dfc_decide(<uint32_t>(d.win >> WIN_SHIFT), rmps, &rng, &n,
                                 D_LPS_RNG[c][q], D_LPS_SHIFT[c][q],
                                 &win, d.win - (<uint64_t>rmps << WIN_SHIFT),
                                 &next_c, D_NEXT_LPS[c][1])
    d.range = rng
    d.win = win
    ctx[0] = <uint8_t>next_c
    dec_shift(d, n)
    return <int>(c & 1) ^ is_lps


cdef inline int decode_bypass(Dec* d) noexcept nogil:
    """SPEC §7.4.3 DecodeBypass."""
    cdef uint64_t scaled = <uint64_t>d.range << WIN_SHIFT
    cdef int bin_val
    dec_shift(d, 1)
    bin_val = d.win >= scaled
    d.win -= scaled & (<uint64_t>0 - <uint64_t>bin_val)
    return bin_val


cdef inline uint32_t div_range(uint32_t x, uint32_t rng) noexcept nogil:
    """floor(x / rng) for x < 2^21 and 256 <= rng < 512: the multiply by
    ceil(2^32 / rng) errs by less than 2^-11 < 1/rng, so the floor is exact."""
    return <uint32_t>((<uint64_t>x * D_INV[rng]) >> 32)


cdef inline uint32_t decode_bypass_bits(Dec* d, int n) noexcept nogil:
    """n DecodeBypass bins (most significant first) at once: shifting m bits into
    the offset and dividing by the range gives the same bins (the quotient) and
    the same offset (the remainder)."""
    cdef uint32_t v = 0, x, q
    cdef int m
    while n > 0:
        m = n if n < LOOKAHEAD_MIN else LOOKAHEAD_MIN
        n -= m
        x = <uint32_t>(d.win >> (WIN_SHIFT - m))  # offset << m | the next m bits
        q = div_range(x, d.range)
        d.win = (<uint64_t>(x - q * d.range) << WIN_SHIFT) | ((d.win << m) & win_low())
        d.cnt -= m
        if d.cnt < LOOKAHEAD_MIN:
            dec_refill(d)
        v = (v << m) | q
    return v


cdef inline int decode_terminate(Dec* d) noexcept nogil:
    """SPEC §7.4.4 DecodeTerminate."""
    d.range -= 2
    if dec_offset(d) >= d.range:
        return 1
    while d.range < 256:
        d.range <<= 1
        dec_shift(d, 1)
    return 0


cdef inline uint32_t dec_read_bit(Dec* d) noexcept nogil:
    """One raw payload bit (after end_of_payload: the engine state is done with)."""
    cdef uint32_t b = <uint32_t>(d.win >> (WIN_SHIFT - 1)) & 1
    dec_shift(d, 1)
    return b


cdef int fail(Err* err, bint overrun, int64_t end, int code, int64_t offset) noexcept nogil:
    """Record an error; a payload overrun that already happened takes precedence,
    because the reference would have stopped there."""
    if overrun:
        err.code = ERR_PAYLOAD_OVERRUN
        err.offset = end
    else:
        err.code = code
        err.offset = offset
    return -1


cdef inline int read_abs_remaining(Dec* d, int rice, int64_t* value, Err* err) noexcept nogil:
    """SPEC §6.7.3 abs_remaining.

    The Rice form (prefix < RICE_PREFIX_LIMIT) has at most m = RICE_PREFIX_LIMIT + 1
    + rice bins: decode m bypass bins from peeked bits at once, then commit exactly
    the k bins the code uses (the offset after k bins is the remainder of the
    first k bits); no branch on the prefix length, which is close to random."""
    cdef uint32_t rng = d.range
    cdef int m = T_RICE_PREFIX_LIMIT + 1 + rice
    cdef int ones, k, sh, prefix, extra, order
    cdef uint32_t x, v, suffix
    x = <uint32_t>(d.win >> (WIN_SHIFT - m))  # offset << m | the next m bits
    v = div_range(x, rng)
    ones = DFC_CLZ32(~(v << (32 - m)))  # leading 1-bins (m < 32, so never all ones)
    if ones < T_RICE_PREFIX_LIMIT:
        k = ones + 1 + rice
        sh = m - k
        d.win = (<uint64_t>((x >> sh) - (v >> sh) * rng) << WIN_SHIFT) | ((d.win << k) & win_low())
        d.cnt -= k
        if d.cnt < LOOKAHEAD_MIN:
            dec_refill(d)
        value[0] = (<int64_t>ones << rice) + ((v >> sh) & ((<uint32_t>1 << rice) - 1))
        return 0
    # Exp-Golomb escape: the first RICE_PREFIX_LIMIT bins were ones.
    sh = m - T_RICE_PREFIX_LIMIT
    d.win = (<uint64_t>((x >> sh) - (v >> sh) * rng) << WIN_SHIFT) \
        | ((d.win << T_RICE_PREFIX_LIMIT) & win_low())
    d.cnt -= T_RICE_PREFIX_LIMIT
    if d.cnt < LOOKAHEAD_MIN:
        dec_refill(d)
    prefix = T_RICE_PREFIX_LIMIT
    while decode_bypass(d):
        prefix += 1
        if prefix > T_MAX_REMAINDER_PREFIX:
            return fail(err, dec_overrun(d), d.end, ERR_REMAINDER_PREFIX, dec_byte_offset(d))
    extra = prefix - T_RICE_PREFIX_LIMIT
    order = rice + 1 + extra
    suffix = decode_bypass_bits(d, order)
    value[0] = ((<int64_t>T_RICE_PREFIX_LIMIT << rice)
                + ((<int64_t>1 << order) - (<int64_t>1 << (rice + 1))) + suffix)
    return 0


cdef inline int read_residual_block(Dec* d, uint8_t* ctx, int mode, int bw, int bh,
                                    int* stat_coeff, int level, int32_t* res,
                                    Err* err) noexcept nogil:
    """SPEC §6.7 residual_block(); res (raster order, zeroed by the caller).
    The flags are kept as bit masks (bit idx of sigmask: sig_flag at raster
    position idx; bit k of the others: the k-th significant residual), so the
    context selection and the level assembly need no data-dependent branches."""
    cdef const uint8_t* scan = D_SCAN[mode][bw - 1][bh - 1]
    cdef int n = bw * bh
    cdef uint8_t positions[16]
    cdef uint32_t sigmask = 0  # bit 16 (D_LEFT / D_TOP outside the block) stays 0
    cdef uint32_t gt1bits = 0, open_bits, signbits = 0, all_bits, visit
    cdef int npos = 0
    cdef int i, idx, sf, k, g1ctx, first_gt1, gt2_flag, rice, first_remaining, ngt1, neg
    cdef int64_t remaining
    cdef int64_t mags[16]
    cdef uint8_t* sig_ctx = ctx + T_CTX_SIG_FLAG + 3 * mode
    cdef uint8_t sign_c
    # The mode's 3 sig_flag contexts live in one register (byte inc of packed)
    # for the run: a context read right after its update would otherwise wait
    # on the store.
    cdef uint32_t packed = sig_ctx[0] | (<uint32_t>sig_ctx[1] << 8) | (<uint32_t>sig_ctx[2] << 16)
    cdef uint8_t c
    cdef int sh
    cdef uint8_t* gt1_ctx
    for i in range(n):
        idx = scan[i]
        if i == n - 1 and npos == 0:
            sf = 1  # inferred
        else:
            sh = <int>(((sigmask >> D_LEFT[idx]) & 1) + ((sigmask >> D_TOP[idx]) & 1)) << 3
            c = <uint8_t>(packed >> sh)
            sf = decode_decision(d, &c)
            packed = (packed & ~(<uint32_t>0xFF << sh)) | (<uint32_t>c << sh)
        sigmask |= <uint32_t>sf << idx
        positions[npos] = <uint8_t>idx
        npos += sf
    sig_ctx[0] = <uint8_t>packed
    sig_ctx[1] = <uint8_t>(packed >> 8)
    sig_ctx[2] = <uint8_t>(packed >> 16)
    # gt1_flags, then gt2_flag for the first residual with gt1_flag = 1
    # (the 4 gt1_flag contexts packed in a register as well)
    g1ctx = 1
    ngt1 = npos if npos < T_MAX_GT1_FLAGS else T_MAX_GT1_FLAGS
    gt1_ctx = ctx + T_CTX_GT1_FLAG
    packed = (gt1_ctx[0] | (<uint32_t>gt1_ctx[1] << 8) | (<uint32_t>gt1_ctx[2] << 16)
              | (<uint32_t>gt1_ctx[3] << 24))
    for k in range(ngt1):
        sh = g1ctx << 3
        c = <uint8_t>(packed >> sh)
        sf = decode_decision(d, &c)
        packed = (packed & ~(<uint32_t>0xFF << sh)) | (<uint32_t>c << sh)
        # update_gt1_ctx without a table: 0 after a 1, else 0 -> 0, 1 -> 2 -> 3 -> 3
        g1ctx = (g1ctx + (g1ctx != 0) - (g1ctx == 3)) & (sf - 1)
        gt1bits |= <uint32_t>sf << k
    gt1_ctx[0] = <uint8_t>packed
    gt1_ctx[1] = <uint8_t>(packed >> 8)
    gt1_ctx[2] = <uint8_t>(packed >> 16)
    gt1_ctx[3] = <uint8_t>(packed >> 24)
    # abs_remaining follows a gt1_flag of 1, and every residual past MAX_GT1_FLAGS
    open_bits = gt1bits | (0xFFFFFFFFu << T_MAX_GT1_FLAGS)
    first_gt1 = -1
    gt2_flag = 0
    if gt1bits:
        first_gt1 = 31 - DFC_CLZ32(gt1bits & (0u - gt1bits))  # its lowest set bit
        gt2_flag = decode_decision(d, ctx + T_CTX_GT2_FLAG)
        if not gt2_flag:
            open_bits ^= <uint32_t>1 << first_gt1
    # sign_flags: one context, kept in a register across the run
    sign_c = ctx[T_CTX_SIGN_FLAG + mode]
    for k in range(npos):
        signbits |= <uint32_t>decode_decision(d, &sign_c) << k
    ctx[T_CTX_SIGN_FLAG + mode] = sign_c
    # the levels the flags establish; abs_remaining adds to the open ones
    for k in range(npos):
        mags[k] = 1 + ((gt1bits >> k) & 1)
    if first_gt1 >= 0:
        mags[first_gt1] += gt2_flag
    rice = stat_coeff[0] >> 2
    first_remaining = 1
    # Visit the residuals that need work, in scan order (a loop over set bits
    # instead of a hard-to-predict branch per residual): the open ones, and when
    # L < 3 also the rest, since a level the flags alone fix (<= 3) can then
    # exceed L. The range check runs in the reference's order (SPEC §6.7.4).
    all_bits = (<uint32_t>1 << npos) - 1
    open_bits &= all_bits
    visit = open_bits if level >= 3 else all_bits
    while visit:
        k = DFC_CTZ32(visit)
        visit &= visit - 1
        if (open_bits >> k) & 1:
            if read_abs_remaining(d, rice, &remaining, err):
                return -1
            mags[k] += remaining
            if first_remaining:
                stat_coeff[0] = update_stat_coeff(stat_coeff[0], remaining)
                first_remaining = 0
            rice = update_rice_param(rice, mags[k])
        if mags[k] > level:
            err.v[0] = mags[k]
            err.v[1] = level
            return fail(err, dec_overrun(d), d.end, ERR_RESIDUAL_RANGE, dec_byte_offset(d))
    for k in range(npos):
        neg = (signbits >> k) & 1
        res[positions[k]] = <int32_t>((mags[k] ^ -neg) + neg)
    return 0


cdef int sample_error(Dec* d, Err* err, int sample, int level, Py_ssize_t bx, Py_ssize_t by,
                      int x, int y) noexcept nogil:
    """(inlined: d must not escape decode_core, or the engine leaves the registers)"""
    err.v[0] = sample
    err.v[1] = level
    err.v[2] = bx
    err.v[3] = by
    err.v[4] = x
    err.v[5] = y
    return fail(err, dec_overrun(d), d.end, ERR_SAMPLE_RANGE, dec_byte_offset(d))


cdef int decode_core(Dec* dec_in, uint16_t* out, Py_ssize_t channels, Py_ssize_t height,
                     Py_ssize_t width, int level, const uint16_t* header_palette, int P,
                     uint8_t* rows, Err* err) noexcept nogil:
    """SPEC §5.1 payload(): every tile, then end_of_payload and the padding.
    Returns 0, or -1 with err filled in."""
    cdef Dec engine = dec_in[0]  # a local whose address stays here: kept in registers
    cdef Dec* d = &engine
    cdef uint8_t ctx[CTX_CAP]
    cdef uint8_t slot_of[65536]
    cdef uint16_t order[PAL_CAP]
    cdef int64_t cumulative[PAL_CAP]
    cdef int32_t res[16]
    cdef Py_ssize_t tile_size = height * width
    cdef Py_ssize_t blocks_across = (width + 3) // 4
    cdef Py_ssize_t blocks_down = (height + 3) // 4
    cdef uint8_t* cur_modes = rows
    cdef uint8_t* prev_modes = rows + blocks_across
    cdef uint8_t* cur_skips = rows + 2 * blocks_across
    cdef uint8_t* prev_skips = rows + 3 * blocks_across
    cdef uint16_t* tile
    cdef uint16_t* row
    cdef uint16_t* above
    cdef Py_ssize_t c, bx, by, x0, y0
    cdef int j, idx, pal, bw, bh, mpm, skip_inc, mode, skip_flag, rem_mode, stat_coeff
    cdef int x, y, kind, left, top, topleft, pred, sample, w_tl, w_t, w_l
    cdef int64_t used

    # SPEC §7.4.1 initialization: 9 bits.
    d.range = 510
    dec_refill(d)
    dec_shift(d, 9)  # offset = read_bits(9)
    if dec_overrun(d):
        return fail(err, 1, d.end, ERR_PAYLOAD_OVERRUN, d.end)
    if dec_offset(d) >= 510:
        err.v[0] = dec_offset(d)
        return fail(err, 0, d.end, ERR_BAD_ARITH_INIT, d.start)

    memset(slot_of, PAL_CAP, sizeof(slot_of))
    for j in range(P):
        order[j] = header_palette[j]
        slot_of[order[j]] = <uint8_t>j
    memset(cumulative, 0, sizeof(cumulative))
    memset(ctx, D_INIT_CTX, sizeof(ctx))
    stat_coeff = 0
    for c in range(channels):
        tile = out + c * tile_size
        # SPEC §5.3 palette_idx
        idx = 0
        while idx < P - 1:
            if decode_decision(d, ctx + T_CTX_PALETTE_IDX + idx) == 0:
                break
            idx += 1
        pal = order[idx]
        for by in range(blocks_down):
            bh = <int>(height - 4 * by) if height - 4 * by < 4 else 4
            y0 = 4 * by
            for bx in range(blocks_across):
                bw = <int>(width - 4 * bx) if width - 4 * bx < 4 else 4
                x0 = 4 * bx
                mpm = derive_mpm(cur_modes, prev_modes, bx, by)
                skip_inc = 0
                if bx > 0 and cur_skips[bx - 1]:
                    skip_inc += 1
                if by > 0 and prev_skips[bx]:
                    skip_inc += 1
                # SPEC §6.5 mpm_flag, rem_mode
                if decode_decision(d, ctx + T_CTX_MPM_FLAG):
                    mode = mpm
                else:
                    rem_mode = decode_bypass_bits(d, 2)
                    mode = rem_mode if rem_mode < mpm else rem_mode + 1
                # SPEC §6.6 skip_flag
                skip_flag = decode_decision(d, ctx + T_CTX_SKIP_FLAG + skip_inc)
                memset(res, 0, sizeof(res))
                if not skip_flag:
                    if read_residual_block(d, ctx, mode, bw, bh, &stat_coeff, level, res, err):
                        return -1
                cur_modes[bx] = <uint8_t>mode
                cur_skips[bx] = <uint8_t>skip_flag
                # SPEC §6.8 reconstruction, raster order inside the block (every
                # neighbour is known); a prediction is always within 0..L.
                kind = D_KIND[mode]
                row = tile + y0 * width + x0
                if kind == KIND_PAL:
                    for y in range(bh):
                        for x in range(bw):
                            sample = pal + res[y * 4 + x]
                            if <unsigned int>sample > <unsigned int>level:
                                return sample_error(d, err, sample, level, bx, by, x, y)
                            row[x] = <uint16_t>sample
                        row += width
                elif kind == KIND_HOR:
                    for y in range(bh):
                        pred = (row - 1)[0] if x0 > 0 else pal
                        for x in range(bw):
                            sample = pred + res[y * 4 + x]
                            if <unsigned int>sample > <unsigned int>level:
                                return sample_error(d, err, sample, level, bx, by, x, y)
                            row[x] = <uint16_t>sample
                            pred = sample
                        row += width
                elif kind == KIND_VER:
                    for y in range(bh):
                        above = row - width
                        for x in range(bw):
                            pred = above[x] if y0 + y > 0 else pal
                            sample = pred + res[y * 4 + x]
                            if <unsigned int>sample > <unsigned int>level:
                                return sample_error(d, err, sample, level, bx, by, x, y)
                            row[x] = <uint16_t>sample
                        row += width
                else:
                    w_tl = T_FILTER_TAPS[mode][0]
                    w_t = T_FILTER_TAPS[mode][1]
                    w_l = T_FILTER_TAPS[mode][2]
                    for y in range(bh):
                        above = row - width
                        for x in range(bw):
                            left = row[x - 1] if x0 + x > 0 else pal
                            if y0 + y > 0:
                                top = above[x]
                                topleft = above[x - 1] if x0 + x > 0 else pal
                            else:
                                top = pal
                                topleft = pal
                            pred = (w_tl * topleft + w_t * top + w_l * left + 16) >> 5
                            sample = pred + res[y * 4 + x]
                            if <unsigned int>sample > <unsigned int>level:
                                return sample_error(d, err, sample, level, bx, by, x, y)
                            row[x] = <uint16_t>sample
                        row += width
                if dec_overrun(d):
                    return fail(err, 1, d.end, ERR_PAYLOAD_OVERRUN, d.end)
            swap_rows(&cur_modes, &prev_modes)
            swap_rows(&cur_skips, &prev_skips)
        update_palette(tile, tile_size, slot_of, cumulative, order, P)

    # SPEC §5.1 end_of_payload and alignment
    if dec_overrun(d):
        return fail(err, 1, d.end, ERR_PAYLOAD_OVERRUN, d.end)
    if decode_terminate(d) != 1:
        return fail(err, dec_overrun(d), d.end, ERR_MISSING_END, dec_byte_offset(d))
    used = (dec_bit_pos(d) + 7) // 8
    if used < d.end - d.start:
        err.v[0] = (d.end - d.start) - used
        return fail(err, 0, d.end, ERR_UNUSED_BYTES, d.start + used)
    while dec_bit_pos(d) % 8:
        used = dec_byte_offset(d)  # the byte holding the bit
        if dec_read_bit(d):
            return fail(err, dec_overrun(d), d.end, ERR_NONZERO_PADDING, used)
    if dec_overrun(d):
        return fail(err, 1, d.end, ERR_PAYLOAD_OVERRUN, d.end)
    return 0


cdef object _error(Err* err):
    """The DecodeError the reference raises for this condition."""
    cdef int code = err.code
    cdef int64_t off = err.offset
    if code == ERR_PAYLOAD_OVERRUN:
        return TruncatedStreamError("payload_overrun", off, "7.4.1",
                                    "arithmetic decoder needs bits past the end of the payload")
    if code == ERR_BAD_ARITH_INIT:
        return DecodeError("bad_arith_init", off, "7.4.1",
                           f"arithmetic decoder initial offset {err.v[0]} is not below 510")
    if code == ERR_REMAINDER_PREFIX:
        return DecodeError("remainder_prefix_too_long", off, "6.7.3",
                           f"abs_remaining prefix longer than {T_MAX_REMAINDER_PREFIX} ones")
    if code == ERR_RESIDUAL_RANGE:
        return DecodeError("residual_out_of_range", off, "6.7.4",
                           f"residual magnitude {err.v[0]} exceeds 2^bit_depth - 1 = {err.v[1]}")
    if code == ERR_SAMPLE_RANGE:
        return DecodeError("sample_out_of_range", off, "6.8",
                           f"reconstructed sample {err.v[0]} outside 0..{err.v[1]} "
                           f"(block ({err.v[2]},{err.v[3]}), sample ({err.v[4]},{err.v[5]}))")
    if code == ERR_MISSING_END:
        return DecodeError("missing_end_of_payload", off, "5.1",
                           "end_of_payload is 0 after the last tile")
    if code == ERR_UNUSED_BYTES:
        return DecodeError("payload_unused_bytes", off, "5.1",
                           f"{err.v[0]} payload bytes follow end_of_payload")
    if code == ERR_NONZERO_PADDING:
        return DecodeError("nonzero_padding", off, "5.1",
                           "alignment bits after end_of_payload are not zero")
    return RuntimeError(f"dfc.fast: unknown internal error {code}")


def _decode_payload(const uint8_t[::1] data, header, out):
    """Decode the payload of a framed, header-checked stream into out
    (uint16, C-contiguous, header.shape); raises DecodeError."""
    cdef uint16_t[:, :, ::1] o = out
    cdef Py_ssize_t channels = o.shape[0]
    cdef Py_ssize_t height = o.shape[1]
    cdef Py_ssize_t width = o.shape[2]
    cdef int level = (1 << <int>header.bit_depth) - 1
    cdef uint16_t palette[PAL_CAP]
    cdef int P = len(header.palette)
    cdef int j, rc = 0
    cdef Dec d
    cdef Err err
    cdef Py_ssize_t start = header.header_size
    cdef Py_ssize_t payload_size = header.payload_size
    cdef Py_ssize_t nrows = 4 * ((width + 3) // 4) + 16
    cdef uint8_t* rows
    if not 1 <= P <= PAL_CAP or start + payload_size > data.shape[0]:
        raise ValueError("dfc.fast: header does not describe this stream")
    for j in range(P):
        palette[j] = header.palette[j]
        if palette[j] > level:
            raise ValueError("dfc.fast: palette entry above 2^bit_depth - 1")
    # one allocation: the mode/skip rows, then the payload copy the engine reads
    # 8 bytes at a time (zero-padded, so it never reads past the allocation)
    rows = <uint8_t*>PyMem_RawMalloc(nrows + payload_size + PAD_BYTES)
    if rows == NULL:
        raise MemoryError()
    memset(rows, 0, nrows)
    if payload_size > 0:
        memcpy(rows + nrows, &data[start], payload_size)
    memset(rows + nrows + payload_size, 0, PAD_BYTES)
    memset(&err, 0, sizeof(err))
    d.data = rows + nrows
    d.size = payload_size
    d.start = start
    d.end = start + payload_size
    d.pos = 0
    d.win = 0
    d.cnt = 0
    d.range = 510
    d.total_bits = 8 * <int64_t>payload_size
    try:
        with nogil:
            rc = decode_core(&d, &o[0, 0, 0], channels, height, width, level, palette, P,
                             rows, &err)
    finally:
        PyMem_RawFree(rows)
    if rc != 0:
        raise _error(&err)


def _dequantize(integers, int bits, double min_value, double max_value):
    """SPEC §4.3 on a C-contiguous uint16 array; float32 of the same shape."""
    cdef const uint16_t[::1] q = integers.reshape(-1)
    cdef int level = (1 << bits) - 1
    cdef Py_ssize_t n = q.shape[0]
    out = np.empty(integers.shape, dtype=np.float32)
    cdef float[::1] o = out.reshape(-1)
    cdef float* lut = NULL
    if n > 4 * (level + 1):
        lut = <float*>PyMem_RawMalloc((level + 1) * sizeof(float))
        if lut == NULL:
            raise MemoryError()
    try:
        if n > 0:
            with nogil:
                dequantize_core(&q[0], n, level, min_value, max_value, &o[0], lut)
    finally:
        PyMem_RawFree(lut)
    return out


def decode_stream(stream, trace=None):
    """Decode a whole stream (SPEC §3.1): the header, the integers (uint16) and,
    through DecodedStream.floats(), the float32 tensor. Raises the same DecodeError
    (code, offset, section) as dfc.reference for a broken stream. With ``trace``,
    decoding is delegated to dfc.reference (the tracer needs its element walk)."""
    if trace is not None:
        from dfc.reference.decoder import decode_stream as _ref_decode_stream
        return _ref_decode_stream(stream, trace)
    data = bytes(stream)
    header = read_header(data)
    check_framing(data, header)
    integers = np.empty(header.shape, dtype=np.uint16)
    _decode_payload(data, header, integers)
    return DecodedStream(header=header, integers=integers)


def decode(stream):
    """Decode a dfc stream to its float32 (C, H, W) tensor (SPEC §4.3)."""
    decoded = decode_stream(stream)
    h = decoded.header
    return _dequantize(decoded.integers, h.bit_depth, h.min_value, h.max_value)
