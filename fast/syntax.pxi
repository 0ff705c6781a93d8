# The payload syntax, SPEC §5-§6: one read_<structure> and one write_<structure>
# per syntax structure, side by side, and the derivations both directions share.
# Counterpart: reference/syntax.py (and the loops of reference/decoder.py and
# reference/encoder.py).
#
# Readers take the decoder (cabac_dec.pxi) and return -1 with an Err filled in
# when the stream breaks a rule; a reader that cannot fail returns the element.
# Writers take the encoder (cabac_enc.pxi). Contexts are an array of NUM_CONTEXTS
# context bytes (pStateIdx << 1) | valMps, indexed as in SPEC Table 9. Everything
# the decoder calls per block must be inlined into read_payload, whose engine
# state then stays in registers: a call the compiler keeps out of line with the
# engine's address would move it to memory, and every bin would wait on loads.

from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t
from libc.string cimport memcpy, memset


# --- derivations (SPEC §6.5-6.7) ------------------------------------------------------

cdef inline int derive_mpm(const uint8_t* cur_modes, const uint8_t* prev_modes,
                           Py_ssize_t bx, Py_ssize_t by) noexcept nogil:
    """SPEC §6.5 MpmMode: the votes of the left, top and top-left blocks, ties to
    the first of them; MODE_PAL with no neighbour. cur_modes is the current row
    of block modes, prev_modes the row above."""
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
    return MODE_PAL


cdef inline int skip_ctx_inc(const uint8_t* cur_skips, const uint8_t* prev_skips,
                             Py_ssize_t bx, Py_ssize_t by) noexcept nogil:
    """SPEC §6.6 ctxInc of skip_flag: SkipLeft + SkipTop."""
    cdef int inc = 0
    if bx > 0 and cur_skips[bx - 1]:
        inc += 1
    if by > 0 and prev_skips[bx]:
        inc += 1
    return inc


cdef inline void swap_rows(uint8_t** cur, uint8_t** prev) noexcept nogil:
    """The row of block modes (or skip flags) just coded becomes the row above
    the next one (SPEC §6.5 and §6.6 look one block row up)."""
    cdef uint8_t* tmp = cur[0]
    cur[0] = prev[0]
    prev[0] = tmp


cdef inline int update_gt1_ctx(int Greater1Ctx, int gt1_flag) noexcept nogil:
    """SPEC §6.7.2: Greater1Ctx after a gt1_flag."""
    if gt1_flag:
        return 0
    if Greater1Ctx > 0:
        return Greater1Ctx + 1 if Greater1Ctx < 3 else 3
    return 0


cdef inline int base_level(int k, int FirstGt1) noexcept nogil:
    """SPEC §6.7.2: the base of the k-th significant residual's magnitude. Its
    abs_remaining is present exactly when the magnitude is at least the base
    (the flags establish the base), and codes magnitude - base."""
    return 1 if k >= MAX_GT1_FLAGS else (3 if k == FirstGt1 else 2)


cdef inline int update_stat_coeff(int StatCoeff, int64_t abs_remaining) noexcept nogil:
    """SPEC §6.7.3: StatCoeff after a block's first abs_remaining."""
    if abs_remaining >= (<int64_t>3 << (StatCoeff >> 2)):
        return StatCoeff + 1 if StatCoeff < MAX_STAT_COEFF else MAX_STAT_COEFF
    if 2 * abs_remaining < (<int64_t>1 << (StatCoeff >> 2)):
        return StatCoeff - 1 if StatCoeff > 0 else 0
    return StatCoeff


cdef inline int update_rice_param(int Rice, int64_t abs_level) noexcept nogil:
    """SPEC §6.7.3: Rice grows when a magnitude exceeds 3 * 2^Rice."""
    if abs_level > 3 * (<int64_t>1 << Rice):
        return Rice + 1 if Rice < MAX_RICE_PARAM else MAX_RICE_PARAM
    return Rice


# --- SPEC §5.3 palette_idx: truncated unary ----------------------------------------------

cdef inline void write_palette_idx(Enc* e, uint8_t* ctx, int palette_idx,
                                   int palette_size) noexcept nogil:
    """SPEC §5.3 palette_idx: bin j (context CTX_PALETTE_IDX + j) is 1 while j < palette_idx."""
    cdef int j
    for j in range(palette_size - 1):
        encode_decision(e, ctx + CTX_PALETTE_IDX + j, palette_idx > j)
        if palette_idx <= j:
            break


cdef inline int read_palette_idx(Dec* d, uint8_t* ctx, int palette_size) noexcept nogil:
    """SPEC §5.3 palette_idx."""
    cdef int palette_idx = 0
    while palette_idx < palette_size - 1:
        if decode_decision(d, ctx + CTX_PALETTE_IDX + palette_idx) == 0:
            break
        palette_idx += 1
    return palette_idx


# --- SPEC §6.5 mpm_flag, rem_mode ---------------------------------------------------------

cdef inline void write_pred_mode(Enc* e, uint8_t* ctx, int mode, int MpmMode) noexcept nogil:
    """SPEC §6.5 mpm_flag; if 0, rem_mode as 2 bypass bins, most significant first."""
    cdef int rem_mode
    if mode == MpmMode:
        encode_decision(e, ctx + CTX_MPM_FLAG, 1)
        return
    encode_decision(e, ctx + CTX_MPM_FLAG, 0)
    rem_mode = mode if mode < MpmMode else mode - 1
    encode_bypass(e, rem_mode >> 1)
    encode_bypass(e, rem_mode & 1)


cdef inline int read_pred_mode(Dec* d, uint8_t* ctx, int MpmMode) noexcept nogil:
    """SPEC §6.5 mpm_flag and rem_mode; returns the block's prediction mode."""
    cdef int rem_mode
    if decode_decision(d, ctx + CTX_MPM_FLAG):
        return MpmMode
    rem_mode = decode_bypass_bits(d, 2)
    return rem_mode if rem_mode < MpmMode else rem_mode + 1


# --- SPEC §6.6 skip_flag --------------------------------------------------------------------

cdef inline void write_skip_flag(Enc* e, uint8_t* ctx, int skip_flag, int ctx_inc) noexcept nogil:
    """SPEC §6.6 skip_flag; ctx_inc = SkipLeft + SkipTop (skip_ctx_inc)."""
    encode_decision(e, ctx + CTX_SKIP_FLAG + ctx_inc, skip_flag)


cdef inline int read_skip_flag(Dec* d, uint8_t* ctx, int ctx_inc) noexcept nogil:
    """SPEC §6.6 skip_flag."""
    return decode_decision(d, ctx + CTX_SKIP_FLAG + ctx_inc)


# --- SPEC §6.7.3 abs_remaining -----------------------------------------------------------

cdef inline void write_abs_remaining(Enc* e, uint32_t value, int Rice) noexcept nogil:
    """SPEC §6.7.3 abs_remaining: Rice prefix and suffix, or the escape to an
    Exp-Golomb code of order Rice + 1; all bins bypass."""
    cdef int order, ones
    if value < (<uint32_t>RICE_PREFIX_LIMIT << Rice):
        ones = value >> Rice
        # ones 1-bins and a 0, then the Rice low bits: at most 4 + 1 + 4 bins
        encode_bypass_bits(e, ((((<uint32_t>1 << ones) - 1) << 1) << Rice)
                           | (value & ((<uint32_t>1 << Rice) - 1)), ones + 1 + Rice)
        return
    value -= <uint32_t>RICE_PREFIX_LIMIT << Rice
    order = Rice + 1
    ones = RICE_PREFIX_LIMIT
    while value >= (<uint32_t>1 << order):
        value -= <uint32_t>1 << order
        order += 1
        ones += 1
    encode_bypass_bits(e, ((<uint32_t>1 << ones) - 1) << 1, ones + 1)
    encode_bypass_bits(e, value, order)


cdef inline int read_abs_remaining(Dec* d, int Rice, int64_t* value, Err* err) noexcept nogil:
    """SPEC §6.7.3 abs_remaining into *value; -1 (remainder_prefix_too_long) past
    MAX_REMAINDER_PREFIX ones.

    The Rice form (prefix < RICE_PREFIX_LIMIT) has at most m = RICE_PREFIX_LIMIT + 1
    + Rice bins: decode m bypass bins from peeked bits at once, then commit exactly
    the k bins the code uses (ivlOffset after k bins is the remainder of the first
    k bits); no branch on the prefix length, which is close to random."""
    cdef uint32_t rng = d.ivlCurrRange
    cdef int m = RICE_PREFIX_LIMIT + 1 + Rice
    cdef int ones, k, sh, prefix, extra, order
    cdef uint32_t x, v, suffix
    x = <uint32_t>(d.win >> (WIN_SHIFT - m))  # ivlOffset << m | the next m bits
    v = div_range(x, rng)
    ones = DFC_CLZ32(~(v << (32 - m)))  # leading 1-bins (m < 32, so never all ones)
    if ones < RICE_PREFIX_LIMIT:
        k = ones + 1 + Rice
        sh = m - k
        d.win = (<uint64_t>((x >> sh) - (v >> sh) * rng) << WIN_SHIFT) | ((d.win << k) & win_low())
        d.cnt -= k
        if d.cnt < LOOKAHEAD_MIN:
            refill(d)
        value[0] = (<int64_t>ones << Rice) + ((v >> sh) & ((<uint32_t>1 << Rice) - 1))
        return 0
    # Exp-Golomb escape: the first RICE_PREFIX_LIMIT bins were ones.
    sh = m - RICE_PREFIX_LIMIT
    d.win = (<uint64_t>((x >> sh) - (v >> sh) * rng) << WIN_SHIFT) \
        | ((d.win << RICE_PREFIX_LIMIT) & win_low())
    d.cnt -= RICE_PREFIX_LIMIT
    if d.cnt < LOOKAHEAD_MIN:
        refill(d)
    prefix = RICE_PREFIX_LIMIT
    while decode_bypass(d):
        prefix += 1
        if prefix > MAX_REMAINDER_PREFIX:
            return fail(err, overrun(d), d.end, ERR_REMAINDER_PREFIX, byte_offset(d))
    extra = prefix - RICE_PREFIX_LIMIT
    order = Rice + 1 + extra
    suffix = decode_bypass_bits(d, order)
    value[0] = ((<int64_t>RICE_PREFIX_LIMIT << Rice)
                + ((<int64_t>1 << order) - (<int64_t>1 << (Rice + 1))) + suffix)
    return 0


# --- SPEC §6.7 residual_block() ------------------------------------------------------------

cdef int write_residual_block(Enc* e, uint8_t* ctx, const int32_t* res, int mode,
                              int bw, int bh, int StatCoeff) noexcept nogil:
    """SPEC §6.7 residual_block(); res is the block's residuals in raster order
    (not all zero). Returns StatCoeff after the block."""
    cdef const uint8_t* scan = D_SCAN[mode][bw - 1][bh - 1]
    cdef int n = bw * bh
    cdef uint8_t sig[BLOCK_AREA]
    cdef int32_t levels[BLOCK_AREA]
    cdef int NumSig = 0
    cdef int i, idx, sig_flag, inc, k, Greater1Ctx, FirstGt1, gt1_flag, Rice, first, base, ngt1
    cdef int32_t a
    cdef uint8_t* sig_ctx = ctx + CTX_SIG_FLAG + 3 * mode
    memset(sig, 0, sizeof(sig))
    for i in range(n):
        idx = scan[i]
        sig_flag = res[idx] != 0
        if i == n - 1 and NumSig == 0:
            sig_flag = 1  # inferred
        else:
            inc = 0  # SPEC §6.7.1 SigLeft + SigTop
            if (idx & 3) and sig[idx - 1]:
                inc += 1
            if (idx >> 2) and sig[idx - 4]:
                inc += 1
            encode_decision(e, sig_ctx + inc, sig_flag)
        sig[idx] = sig_flag
        if sig_flag:
            levels[NumSig] = res[idx]
            NumSig += 1
    Greater1Ctx = 1
    FirstGt1 = -1
    ngt1 = NumSig if NumSig < MAX_GT1_FLAGS else MAX_GT1_FLAGS
    for k in range(ngt1):
        a = levels[k] if levels[k] >= 0 else -levels[k]
        gt1_flag = a > 1
        encode_decision(e, ctx + CTX_GT1_FLAG + Greater1Ctx, gt1_flag)
        Greater1Ctx = update_gt1_ctx(Greater1Ctx, gt1_flag)
        if gt1_flag and FirstGt1 < 0:
            FirstGt1 = k
    if FirstGt1 >= 0:
        a = levels[FirstGt1] if levels[FirstGt1] >= 0 else -levels[FirstGt1]
        encode_decision(e, ctx + CTX_GT2_FLAG, a > 2)
    for k in range(NumSig):
        encode_decision(e, ctx + CTX_SIGN_FLAG + mode, levels[k] < 0)
    Rice = StatCoeff >> 2
    first = 1
    for k in range(NumSig):
        a = levels[k] if levels[k] >= 0 else -levels[k]
        base = base_level(k, FirstGt1)
        if a < base:
            continue  # the flags fix the magnitude
        write_abs_remaining(e, <uint32_t>(a - base), Rice)
        if first:
            StatCoeff = update_stat_coeff(StatCoeff, a - base)
            first = 0
        Rice = update_rice_param(Rice, a)
    return StatCoeff


cdef inline int read_residual_block(Dec* d, uint8_t* ctx, int mode, int bw, int bh,
                                    int* StatCoeff, int level, int32_t* res,
                                    Err* err) noexcept nogil:
    """SPEC §6.7 residual_block() into res (raster order, zeroed by the caller);
    -1 for a magnitude above L (SPEC §6.7.4) or a bad abs_remaining.

    The flags are kept as bit masks (bit idx of sigmask: sig_flag at raster
    position idx; bit k of the others: the k-th significant residual), so the
    context selection and the level assembly need no data-dependent branches."""
    cdef const uint8_t* scan = D_SCAN[mode][bw - 1][bh - 1]
    cdef int n = bw * bh
    cdef uint8_t positions[BLOCK_AREA]  # SigPos, as raster indices
    cdef uint32_t sigmask = 0  # bit BLOCK_AREA (D_LEFT / D_TOP outside the block) stays 0
    cdef uint32_t gt1bits = 0, open_bits, signbits = 0, all_bits, visit
    cdef int NumSig = 0
    cdef int i, idx, sig_flag, k, Greater1Ctx, FirstGt1, gt2_flag, Rice, first, ngt1, neg
    cdef int64_t remaining
    cdef int64_t mags[BLOCK_AREA]
    cdef uint8_t* sig_ctx = ctx + CTX_SIG_FLAG + 3 * mode
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
        if i == n - 1 and NumSig == 0:
            sig_flag = 1  # inferred
        else:
            # SPEC §6.7.1 ctxInc = SigLeft + SigTop, as a byte offset into packed
            sh = <int>(((sigmask >> D_LEFT[idx]) & 1) + ((sigmask >> D_TOP[idx]) & 1)) << 3
            c = <uint8_t>(packed >> sh)
            sig_flag = decode_decision(d, &c)
            packed = (packed & ~(<uint32_t>0xFF << sh)) | (<uint32_t>c << sh)
        sigmask |= <uint32_t>sig_flag << idx
        positions[NumSig] = <uint8_t>idx
        NumSig += sig_flag
    sig_ctx[0] = <uint8_t>packed
    sig_ctx[1] = <uint8_t>(packed >> 8)
    sig_ctx[2] = <uint8_t>(packed >> 16)
    # gt1_flags, then gt2_flag for the first residual with gt1_flag = 1
    # (the 4 gt1_flag contexts packed in a register as well)
    Greater1Ctx = 1
    ngt1 = NumSig if NumSig < MAX_GT1_FLAGS else MAX_GT1_FLAGS
    gt1_ctx = ctx + CTX_GT1_FLAG
    packed = (gt1_ctx[0] | (<uint32_t>gt1_ctx[1] << 8) | (<uint32_t>gt1_ctx[2] << 16)
              | (<uint32_t>gt1_ctx[3] << 24))
    for k in range(ngt1):
        sh = Greater1Ctx << 3
        c = <uint8_t>(packed >> sh)
        sig_flag = decode_decision(d, &c)
        packed = (packed & ~(<uint32_t>0xFF << sh)) | (<uint32_t>c << sh)
        # update_gt1_ctx without a branch: 0 after a 1, else 0 -> 0, 1 -> 2 -> 3 -> 3
        Greater1Ctx = (Greater1Ctx + (Greater1Ctx != 0) - (Greater1Ctx == 3)) & (sig_flag - 1)
        gt1bits |= <uint32_t>sig_flag << k
    gt1_ctx[0] = <uint8_t>packed
    gt1_ctx[1] = <uint8_t>(packed >> 8)
    gt1_ctx[2] = <uint8_t>(packed >> 16)
    gt1_ctx[3] = <uint8_t>(packed >> 24)
    # open_bits: the residuals whose flags establish exactly base_level(k, FirstGt1),
    # so that abs_remaining follows: every one past MAX_GT1_FLAGS, and each
    # gt1_flag = 1 except FirstGt1 when its gt2_flag is 0
    open_bits = gt1bits | (0xFFFFFFFFu << MAX_GT1_FLAGS)
    FirstGt1 = -1
    gt2_flag = 0
    if gt1bits:
        FirstGt1 = 31 - DFC_CLZ32(gt1bits & (0u - gt1bits))  # its lowest set bit
        gt2_flag = decode_decision(d, ctx + CTX_GT2_FLAG)
        if not gt2_flag:
            open_bits ^= <uint32_t>1 << FirstGt1
    # sign_flags: one context, kept in a register across the run
    sign_c = ctx[CTX_SIGN_FLAG + mode]
    for k in range(NumSig):
        signbits |= <uint32_t>decode_decision(d, &sign_c) << k
    ctx[CTX_SIGN_FLAG + mode] = sign_c
    # the magnitudes the flags establish; abs_remaining adds to the open ones
    for k in range(NumSig):
        mags[k] = 1 + ((gt1bits >> k) & 1)
    if FirstGt1 >= 0:
        mags[FirstGt1] += gt2_flag
    Rice = StatCoeff[0] >> 2
    first = 1
    # Visit the residuals that need work, in scan order (a loop over set bits
    # instead of a hard-to-predict branch per residual): the open ones, and when
    # L < 3 also the rest, since a level the flags alone fix (<= 3) can then
    # exceed L. The range check runs in the reference's order (SPEC §6.7.4).
    all_bits = (<uint32_t>1 << NumSig) - 1
    open_bits &= all_bits
    visit = open_bits if level >= 3 else all_bits
    while visit:
        k = DFC_CTZ32(visit)
        visit &= visit - 1
        if (open_bits >> k) & 1:
            if read_abs_remaining(d, Rice, &remaining, err):
                return -1
            mags[k] += remaining
            if first:
                StatCoeff[0] = update_stat_coeff(StatCoeff[0], remaining)
                first = 0
            Rice = update_rice_param(Rice, mags[k])
        if mags[k] > level:
            err.v[0] = mags[k]
            err.v[1] = level
            return fail(err, overrun(d), d.end, ERR_RESIDUAL_RANGE, byte_offset(d))
    for k in range(NumSig):
        neg = (signbits >> k) & 1
        res[positions[k]] = <int32_t>((mags[k] ^ -neg) + neg)
    return 0


# --- SPEC §6.1 block() -----------------------------------------------------------------------

cdef inline int write_block(Enc* e, uint8_t* ctx, int mode, int MpmMode, int ctx_inc,
                            const int32_t* res, int bw, int bh, int* StatCoeff) noexcept nogil:
    """SPEC §6.1 block(): mpm_flag / rem_mode, skip_flag, residual_block(); res in
    raster order, 0 outside the block. Returns skip_flag."""
    cdef int i, skip_flag
    cdef int32_t nonzero = 0
    write_pred_mode(e, ctx, mode, MpmMode)
    for i in range(BLOCK_AREA):  # positions outside bw x bh hold 0
        nonzero |= res[i]
    skip_flag = nonzero == 0
    write_skip_flag(e, ctx, skip_flag, ctx_inc)
    if not skip_flag:
        StatCoeff[0] = write_residual_block(e, ctx, res, mode, bw, bh, StatCoeff[0])
    return skip_flag


cdef int sample_error(Dec* d, Err* err, int sample, int level, Py_ssize_t bx, Py_ssize_t by,
                      int x, int y) noexcept nogil:
    """SPEC §6.8 sample_out_of_range. (gcc inlines it: d must not escape
    read_payload, or the engine state leaves the registers.)"""
    err.v[0] = sample
    err.v[1] = level
    err.v[2] = bx
    err.v[3] = by
    err.v[4] = x
    err.v[5] = y
    return fail(err, overrun(d), d.end, ERR_SAMPLE_RANGE, byte_offset(d))


cdef inline int read_block(Dec* d, uint8_t* ctx, uint16_t* tile, Py_ssize_t width,
                           Py_ssize_t bx, Py_ssize_t by, int bw, int bh, int PalPred,
                           int MpmMode, int ctx_inc, int level, int* StatCoeff, int* mode,
                           Err* err) noexcept nogil:
    """SPEC §6.1 block() and its reconstruction (SPEC §6.8) into the tile; the
    mode in *mode. Returns skip_flag, or -1 with err filled in."""
    cdef int32_t res[BLOCK_AREA]
    cdef int skip_flag, bad, sample
    mode[0] = read_pred_mode(d, ctx, MpmMode)
    skip_flag = read_skip_flag(d, ctx, ctx_inc)
    memset(res, 0, sizeof(res))
    if not skip_flag:
        if read_residual_block(d, ctx, mode[0], bw, bh, StatCoeff, level, res, err):
            return -1
    bad = reconstruct_block(tile, width, bx, by, bw, bh, mode[0], PalPred, res, level, &sample)
    if bad >= 0:
        return sample_error(d, err, sample, level, bx, by, bad & 3, bad >> 2)
    return skip_flag


# --- SPEC §5.2 tile(c) -------------------------------------------------------------------------

cdef inline void write_tile(Enc* e, uint8_t* ctx, const uint16_t* tile, Py_ssize_t height,
                            Py_ssize_t width, int palette_idx, const uint16_t* PaletteOrder,
                            int palette_size, int* StatCoeff, uint8_t* rows) noexcept nogil:
    """SPEC §5.2 tile(c): palette_idx, then every block in raster order, each in
    the mode of least estimated cost (SPEC §8.4). rows: 4 * Ceil4(width) bytes
    of scratch for the block modes and skip flags of two block rows."""
    cdef int32_t res[NUM_MODES][BLOCK_AREA]
    cdef Py_ssize_t blocks_across = (width + 3) // 4
    cdef Py_ssize_t blocks_down = (height + 3) // 4
    cdef uint8_t* cur_modes = rows
    cdef uint8_t* prev_modes = rows + blocks_across
    cdef uint8_t* cur_skips = rows + 2 * blocks_across
    cdef uint8_t* prev_skips = rows + 3 * blocks_across
    cdef Py_ssize_t bx, by
    cdef int PalPred, bw, bh, MpmMode, ctx_inc, mode
    write_palette_idx(e, ctx, palette_idx, palette_size)
    PalPred = PaletteOrder[palette_idx]
    for by in range(blocks_down):
        bh = <int>(height - 4 * by) if height - 4 * by < 4 else 4
        for bx in range(blocks_across):
            bw = <int>(width - 4 * bx) if width - 4 * bx < 4 else 4
            MpmMode = derive_mpm(cur_modes, prev_modes, bx, by)
            ctx_inc = skip_ctx_inc(cur_skips, prev_skips, bx, by)
            block_residuals(tile, width, bx, by, bw, bh, PalPred, res)
            mode = choose_mode(ctx, res, bw, bh, StatCoeff[0], MpmMode, ctx_inc)
            cur_modes[bx] = <uint8_t>mode
            cur_skips[bx] = <uint8_t>write_block(e, ctx, mode, MpmMode, ctx_inc, res[mode],
                                                 bw, bh, StatCoeff)
        swap_rows(&cur_modes, &prev_modes)
        swap_rows(&cur_skips, &prev_skips)


cdef inline int read_tile(Dec* d, uint8_t* ctx, uint16_t* tile, Py_ssize_t height,
                          Py_ssize_t width, const uint16_t* PaletteOrder, int palette_size,
                          int level, int* StatCoeff, uint8_t* rows, Err* err) noexcept nogil:
    """SPEC §5.2 tile(c) into tile (height x width samples). rows as for
    write_tile. Returns 0, or -1 with err filled in."""
    cdef Py_ssize_t blocks_across = (width + 3) // 4
    cdef Py_ssize_t blocks_down = (height + 3) // 4
    cdef uint8_t* cur_modes = rows
    cdef uint8_t* prev_modes = rows + blocks_across
    cdef uint8_t* cur_skips = rows + 2 * blocks_across
    cdef uint8_t* prev_skips = rows + 3 * blocks_across
    cdef Py_ssize_t bx, by
    cdef int PalPred, bw, bh, MpmMode, ctx_inc, mode, skip_flag
    PalPred = PaletteOrder[read_palette_idx(d, ctx, palette_size)]
    for by in range(blocks_down):
        bh = <int>(height - 4 * by) if height - 4 * by < 4 else 4
        for bx in range(blocks_across):
            bw = <int>(width - 4 * bx) if width - 4 * bx < 4 else 4
            MpmMode = derive_mpm(cur_modes, prev_modes, bx, by)
            ctx_inc = skip_ctx_inc(cur_skips, prev_skips, bx, by)
            skip_flag = read_block(d, ctx, tile, width, bx, by, bw, bh, PalPred, MpmMode,
                                   ctx_inc, level, StatCoeff, &mode, err)
            if skip_flag < 0:
                return -1
            cur_modes[bx] = <uint8_t>mode
            cur_skips[bx] = <uint8_t>skip_flag
            if overrun(d):
                return fail(err, 1, d.end, ERR_PAYLOAD_OVERRUN, d.end)
        swap_rows(&cur_modes, &prev_modes)
        swap_rows(&cur_skips, &prev_skips)
    return 0


# --- SPEC §5.1 payload() -------------------------------------------------------------------------

cdef int write_payload(const uint16_t* q, Py_ssize_t channels, Py_ssize_t height,
                       Py_ssize_t width, int level, const uint32_t* hist,
                       uint16_t* header_palette, int* palette_size, Out* out,
                       uint8_t* rows) noexcept nogil:
    """SPEC §5.1 payload() of the quantized tensor q (SPEC §8: the palette, each
    tile's palette_idx and block modes chosen as the reference encoder does),
    flushed into out; the header's palette in header_palette[0 .. *palette_size).
    rows as for write_tile. Returns 0, or -1 when out of memory."""
    cdef Enc engine      # a local whose address stays here: kept in registers
    cdef Enc* e = &engine
    cdef uint8_t ctx[NUM_CONTEXTS]
    cdef uint8_t slot_of[NUM_LEVELS]
    cdef uint16_t PaletteOrder[MAX_PALETTE_SIZE]
    cdef int64_t PaletteCount[MAX_PALETTE_SIZE]
    cdef Py_ssize_t tile_size = height * width
    cdef const uint16_t* tile
    cdef Py_ssize_t c
    cdef int P, StatCoeff = 0
    P = initial_palette_order(q, tile_size, hist, level, PaletteOrder, slot_of)
    memcpy(header_palette, PaletteOrder, P * sizeof(uint16_t))
    palette_size[0] = P
    memset(PaletteCount, 0, sizeof(PaletteCount))
    memset(ctx, D_INIT_CTX, sizeof(ctx))
    init_encoder(e, out)
    for c in range(channels):
        tile = q + c * tile_size
        write_tile(e, ctx, tile, height, width, choose_palette_idx(tile, tile_size, PaletteOrder, P),
                   PaletteOrder, P, &StatCoeff, rows)
        update_palette(tile, tile_size, slot_of, PaletteCount, PaletteOrder, P)
        if out.oom:
            return -1
    encode_terminate(e)  # end_of_payload = 1
    return -1 if out.oom else 0


cdef inline int read_end_of_payload(Dec* d, Err* err) noexcept nogil:
    """SPEC §5.1 end_of_payload, which must be 1 and leave a 1 as the last bit
    read, then the alignment_zero_bits; no payload byte may remain. Returns 0, or -1 with err filled in."""
    cdef int64_t used
    if overrun(d):
        return fail(err, 1, d.end, ERR_PAYLOAD_OVERRUN, d.end)
    if decode_terminate(d) != 1:
        return fail(err, overrun(d), d.end, ERR_MISSING_END, byte_offset(d))
    used = bit_pos(d) - 1  # the bit read last: the flush's final 1
    if not (d.data[used >> 3] >> (7 - (used & 7))) & 1:
        return fail(err, overrun(d), d.end, ERR_FINAL_BIT, d.start + (used >> 3))
    used = (bit_pos(d) + 7) // 8
    if used < d.end - d.start:
        err.v[0] = (d.end - d.start) - used
        return fail(err, 0, d.end, ERR_UNUSED_BYTES, d.start + used)
    while bit_pos(d) % 8:
        used = byte_offset(d)  # the byte holding the bit
        if read_bits(d, 1):
            return fail(err, overrun(d), d.end, ERR_NONZERO_PADDING, used)
    if overrun(d):
        return fail(err, 1, d.end, ERR_PAYLOAD_OVERRUN, d.end)
    return 0


cdef int read_payload(const uint8_t* data, Py_ssize_t size, Py_ssize_t start, uint16_t* out,
                      Py_ssize_t channels, Py_ssize_t height, Py_ssize_t width, int level,
                      const uint16_t* header_palette, int palette_size, uint8_t* rows,
                      Err* err) noexcept nogil:
    """SPEC §5.1 payload(): the payload data[0:size] (then PAD_BYTES zeros), at
    byte start of the stream, into out (channels x height x width). rows as for
    write_tile. Returns 0, or -1 with err filled in."""
    cdef Dec engine  # a local whose address stays here: kept in registers
    cdef Dec* d = &engine
    cdef uint8_t ctx[NUM_CONTEXTS]
    cdef uint8_t slot_of[NUM_LEVELS]
    cdef uint16_t PaletteOrder[MAX_PALETTE_SIZE]
    cdef int64_t PaletteCount[MAX_PALETTE_SIZE]
    cdef Py_ssize_t tile_size = height * width
    cdef uint16_t* tile
    cdef Py_ssize_t c
    cdef int StatCoeff = 0
    if init_decoder(d, data, size, start, err):
        return -1
    memcpy(PaletteOrder, header_palette, palette_size * sizeof(uint16_t))
    set_palette_slots(slot_of, PaletteOrder, palette_size)
    memset(PaletteCount, 0, sizeof(PaletteCount))
    memset(ctx, D_INIT_CTX, sizeof(ctx))
    for c in range(channels):
        tile = out + c * tile_size
        if read_tile(d, ctx, tile, height, width, PaletteOrder, palette_size, level, &StatCoeff,
                     rows, err):
            return -1
        update_palette(tile, tile_size, slot_of, PaletteCount, PaletteOrder, palette_size)
    return read_end_of_payload(d, err)
