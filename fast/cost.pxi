# The encoder's cost model and mode decision, SPEC §8.4-8.5. Counterparts:
# BitCostEstimator in reference/cabac.py and choose_mode in reference/encoder.py.
#
# The estimate is exactly the reference's (the same integers), computed faster:
# the elements of a block use disjoint context ranges (tools/gen_fast_tables.py
# checks this), so each is costed from the current context states instead of
# from a copy adapted bin by bin in coding order; runs of bins on one context
# cost a table load per 4 bins (D_COSTP, D_NEXTP); the sig_flag pass runs the
# five modes in lockstep; and abs_remaining and the gt1_flags have closed forms.
# A cost is in 1/32768 bit (FRAC_BITS, BYPASS_BITS).

from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t
from libc.string cimport memcpy, memset


cdef inline int rem_bins_q(int32_t q) noexcept nogil:
    """SPEC §6.7.3: the bins of abs_remaining(value, rice), less rice, as a
    function of q = value >> rice alone: the Rice form has q ones, a zero and
    rice suffix bits; the escape has RICE_PREFIX_LIMIT + e ones, a zero and
    rice + 1 + e suffix bits, where e = floor(log2((t >> (rice + 1)) + 1)) with
    t = value - (RICE_PREFIX_LIMIT << rice), and t >> (rice + 1) equals
    (q - RICE_PREFIX_LIMIT) >> 1 (the low rice bits of value cannot carry into
    bit rice + 1 of a difference of a multiple of 2^rice). D_RBINS holds it for
    small q; the generator checks the two against the binarization."""
    if q < RICE_PREFIX_LIMIT:
        return q + 1
    return RICE_PREFIX_LIMIT + 2 + 2 * (31 - DFC_CLZ32(<uint32_t>((q - RICE_PREFIX_LIMIT) >> 1) + 1))


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


cdef inline int64_t cost_residual_tail(const uint8_t* ctx, int32_t* levels, int NumSig, int mode,
                                       int StatCoeff) noexcept nogil:
    """The rest of the estimated cost of residual_block() after its sig_flags:
    sign_flags, gt1_flags, gt2_flag and the bypass bins of abs_remaining, for the
    NumSig significant residuals ``levels`` (in scan order; overwritten with their
    magnitudes). Mostly branch-free, as the trial of 5 modes per block would
    otherwise mispredict a lot. StatCoeff is not updated (SPEC §8.4): it only
    matters to later blocks, and a trial's StatCoeff is thrown away."""
    cdef int k, FirstGt1, Rice, ngt1, coded, rising, last
    cdef int32_t a, value, q
    cdef uint32_t signs = 0, gt1 = 0
    cdef int64_t cost = 0, bins = 0
    cdef const uint8_t* gt1_ctx = ctx + CTX_GT1_FLAG
    # sign_flags (coded after gt1/gt2 but on a context of their own, so the order
    # of the estimate does not matter): one run of NumSig bins
    for k in range(NumSig):
        signs = (signs << 1) | (levels[k] < 0)
        levels[k] = levels[k] if levels[k] >= 0 else -levels[k]  # from here on: |level|
    cost += cost_run(ctx[CTX_SIGN_FLAG + mode], signs, NumSig)
    # gt1_flags of the first ngt1 levels, gt1 holding them (the first in bit
    # ngt1 - 1). SPEC §6.7.2 Greater1Ctx starts at 1, rises by 1 up to 3 after
    # each 0 and drops to 0 for good after the first 1 (update_gt1_ctx), so flag
    # k up to the first 1 (k = FirstGt1) is coded on context min(k + 1, 3) and
    # every later one on context 0: flags 0 and 1 alone on contexts 1 and 2, a
    # run of 0s (ended by the 1) on context 3 and the rest as a run on context 0.
    ngt1 = NumSig if NumSig < MAX_GT1_FLAGS else MAX_GT1_FLAGS
    for k in range(ngt1):
        gt1 = (gt1 << 1) | (levels[k] > 1)
    FirstGt1 = (ngt1 - 32 + DFC_CLZ32(gt1)) if gt1 else ngt1  # ngt1: no flag is 1
    rising = FirstGt1 + 1 if FirstGt1 < ngt1 else ngt1  # flags on contexts 1..3
    last = FirstGt1 < ngt1  # the last rising flag (only the last can be 1)
    if rising == 1:
        cost += D_COST[gt1_ctx[1]][last]
    elif rising == 2:
        cost += D_COST[gt1_ctx[1]][0] + D_COST[gt1_ctx[2]][last]
    elif rising > 2:
        cost += (D_COST[gt1_ctx[1]][0] + D_COST[gt1_ctx[2]][0]
                 + cost_run(gt1_ctx[3], last, rising - 2))
    cost += cost_run(gt1_ctx[0], gt1, ngt1 - rising)  # the flags after the first 1
    if FirstGt1 < ngt1:
        cost += D_COST[ctx[CTX_GT2_FLAG]][levels[FirstGt1] > 2]
    else:
        FirstGt1 = BLOCK_AREA  # no level takes the FirstGt1 base below
    Rice = StatCoeff >> 2
    for k in range(NumSig):
        a = levels[k]
        # abs_remaining = a - base_level is coded exactly when it is >= 0
        # (SPEC §6.7.2), so the sign of value says whether it is coded.
        value = a - base_level(k, FirstGt1)
        coded = value >= 0
        q = (value if coded else 0) >> Rice
        bins += (Rice + (D_RBINS[q] if q < NUM_RBINS else rem_bins_q(q))) if coded else 0
        # SPEC §6.7.3 update_rice_param; a level that is not coded has a <= 2,
        # which never raises Rice (3 << Rice >= 3), so coded is not needed
        Rice += (a > (3 << Rice)) & (Rice < MAX_RICE_PARAM)
    return cost + bins * BYPASS_BITS


cdef inline void cost_residual_blocks(const uint8_t* ctx, int32_t res[][BLOCK_AREA], int bw,
                                      int bh, int StatCoeff, int64_t* cost) noexcept nogil:
    """SPEC §8.5 estimated cost of residual_block() in each of the NUM_MODES modes,
    cost[mode] (from the context states ctx, which are left unchanged: each mode
    adapts local copies of the contexts it touches).

    The sig_flag pass is the longest dependency chain of the estimate (each bin
    reads the context state the previous bin on that context wrote), so the
    modes run it in lockstep, position by position: their chains are independent
    and overlap instead of waiting one after the other. A mode whose residuals
    are all 0 (skip_flag 1) gets a meaningless cost, which mode_costs ignores."""
    cdef const uint8_t* scan[NUM_MODES]
    cdef uint8_t sig[NUM_MODES][BLOCK_AREA + 1]  # sig_flags in raster order; the last slot stays 0
    cdef uint8_t sig_ctx[NUM_MODES][3]
    cdef int32_t levels[NUM_MODES][BLOCK_AREA]    # significant residuals in scan order
    cdef int NumSig[NUM_MODES]
    cdef int n = bw * bh
    cdef int i, m, idx, sf, inc
    cdef uint8_t c
    cdef int32_t r
    for m in range(NUM_MODES):
        scan[m] = D_SCAN[m][bw - 1][bh - 1]
        memcpy(sig_ctx[m], ctx + CTX_SIG_FLAG + 3 * m, 3)
        NumSig[m] = 0
        cost[m] = 0
    memset(sig, 0, sizeof(sig))
    for i in range(n - 1):
        for m in range(NUM_MODES):
            idx = scan[m][i]
            r = res[m][idx]
            sf = r != 0
            inc = sig[m][D_LEFT[idx]] + sig[m][D_TOP[idx]]
            c = sig_ctx[m][inc]
            cost[m] += D_COST[c][sf]
            sig_ctx[m][inc] = D_NEXT[c][sf]
            sig[m][idx] = <uint8_t>sf
            levels[m][NumSig[m]] = r
            NumSig[m] += sf
    for m in range(NUM_MODES):
        idx = scan[m][n - 1]
        if NumSig[m] == 0:
            levels[m][0] = res[m][idx]  # sig_flag inferred
            NumSig[m] = 1
        else:
            sf = res[m][idx] != 0
            inc = sig[m][D_LEFT[idx]] + sig[m][D_TOP[idx]]
            cost[m] += D_COST[sig_ctx[m][inc]][sf]
            levels[m][NumSig[m]] = res[m][idx]
            NumSig[m] += sf
        cost[m] += cost_residual_tail(ctx, levels[m], NumSig[m], m, StatCoeff)


cdef inline void mode_costs(const uint8_t* ctx, int32_t res[][BLOCK_AREA], int bw, int bh,
                            int StatCoeff, int MpmMode, int skip_ctx_inc,
                            int64_t* cost) noexcept nogil:
    """SPEC §8.4-8.5: cost[mode], the estimated cost of coding the block in each
    mode from the current context states: mpm_flag (and rem_mode), skip_flag, and
    residual_block() unless every residual is 0. res[mode] holds the residuals in
    raster order (block_residuals)."""
    cdef int64_t c_mpm0, c_mpm1, c_skip0, c_skip1
    cdef int32_t nonzero
    cdef int m, i
    cost_residual_blocks(ctx, res, bw, bh, StatCoeff, cost)
    c_mpm0 = D_COST[ctx[CTX_MPM_FLAG]][0] + 2 * BYPASS_BITS  # + rem_mode
    c_mpm1 = D_COST[ctx[CTX_MPM_FLAG]][1]
    c_skip0 = D_COST[ctx[CTX_SKIP_FLAG + skip_ctx_inc]][0]
    c_skip1 = D_COST[ctx[CTX_SKIP_FLAG + skip_ctx_inc]][1]
    for m in range(NUM_MODES):
        nonzero = 0
        for i in range(BLOCK_AREA):  # positions outside bw x bh hold 0
            nonzero |= res[m][i]
        cost[m] = (c_mpm1 if m == MpmMode else c_mpm0) + ((c_skip0 + cost[m]) if nonzero else c_skip1)


cdef inline int choose_mode(const uint8_t* ctx, int32_t res[][BLOCK_AREA], int bw, int bh,
                            int StatCoeff, int MpmMode, int skip_ctx_inc) noexcept nogil:
    """SPEC §8.4 mode decision: the mode of least estimated cost, ties to the
    lower mode."""
    cdef int64_t cost[NUM_MODES]
    cdef int m, best = 0
    mode_costs(ctx, res, bw, bh, StatCoeff, MpmMode, skip_ctx_inc, cost)
    for m in range(1, NUM_MODES):
        if cost[m] < cost[best]:
            best = m
    return best
