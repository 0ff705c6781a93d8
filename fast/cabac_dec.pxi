# The arithmetic decoder, SPEC §7.4. Counterpart: ArithmeticDecoder in
# reference/cabac.py, with the same names: read_bits, decode_decision,
# decode_bypass, decode_terminate, bit_pos, byte_offset; ivlCurrRange as in SPEC.
#
# HM/ffmpeg style, ivlOffset and the look-ahead bits share one 64-bit window,
#
#     win = ivlOffset << WIN_SHIFT | (the next bits of the payload, most significant first)
#
# so renormalizing by n bits is one shift of the window (the next n payload bits
# move into ivlOffset) instead of a read of n bits, and `ivlOffset >= x` is
# `win >= x << WIN_SHIFT` whatever the look-ahead bits are. ivlOffset needs 10
# bits (a bypass bin doubles it before the comparison), hence WIN_SHIFT = 54.
# cnt counts the look-ahead bits that are valid; below them the window holds 0 or
# the payload's own next bits (an 8-byte load may put more there than it counts,
# and the next refill ORs the same bits in again). Past the payload it reads
# zeros: the bits consumed, bit_pos(), are compared with the payload size wherever
# the reference, which reads bit by bit, could have noticed an overrun (SPEC §7.4.1).

from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t


cdef enum:
    WIN_SHIFT = 54
    PAD_BYTES = 8        # zeros after the decoder's copy of the payload
    LOOKAHEAD_MIN = 12   # every engine step consumes at most 12 bits (read_abs_remaining
                         # decodes up to RICE_PREFIX_LIMIT + 1 + MAX_RICE_PARAM at once;
                         # tools/gen_fast_tables.py checks that this fits)


cdef struct Dec:
    const uint8_t* data     # the payload, then PAD_BYTES zeros
    Py_ssize_t size         # payload size
    Py_ssize_t pos          # next payload byte to load (may run past size: zeros)
    Py_ssize_t start        # payload start (absolute byte offset, for errors)
    Py_ssize_t end          # payload end (absolute)
    uint64_t win            # ivlOffset << WIN_SHIFT | look-ahead bits
    int cnt                 # valid look-ahead bits in win (>= LOOKAHEAD_MIN between steps)
    uint32_t ivlCurrRange
    int64_t total_bits      # 8 * payload size


cdef inline uint64_t win_low() noexcept nogil:
    """The look-ahead part of the window (a constant once inlined)."""
    return (<uint64_t>1 << WIN_SHIFT) - 1


cdef inline void refill(Dec* d) noexcept nogil:
    """Top up the look-ahead to at least WIN_SHIFT - 7 bits (whole bytes). One
    8-byte load, no branch: data is a copy of the payload followed by PAD_BYTES
    zeros, and from the payload's end on the load stays at its end (zeros)."""
    cdef Py_ssize_t p = d.pos if d.pos < d.size else d.size
    cdef int k = (WIN_SHIFT - d.cnt) >> 3
    d.win |= dfc_load_be64(d.data + p) >> (64 - WIN_SHIFT + d.cnt)
    d.pos += k
    d.cnt += k << 3


cdef inline int64_t bit_pos(Dec* d) noexcept nogil:
    """Bits consumed by the engine (the reference's bit_pos)."""
    return 8 * <int64_t>d.pos - d.cnt


cdef inline bint overrun(Dec* d) noexcept nogil:
    """The engine has consumed bits past the payload: read_bits would have failed."""
    return bit_pos(d) > d.total_bits


cdef inline int64_t byte_offset(Dec* d) noexcept nogil:
    """Absolute byte offset of the next bit to read (the reference's byte_offset())."""
    return d.start + (bit_pos(d) >> 3)


cdef inline void shift_in(Dec* d, int n) noexcept nogil:
    """Move n (<= cnt) look-ahead bits into ivlOffset."""
    d.win <<= n
    d.cnt -= n
    if d.cnt < LOOKAHEAD_MIN:
        refill(d)


cdef inline uint32_t ivl_offset(Dec* d) noexcept nogil:
    """ivlOffset (SPEC §7.1)."""
    return <uint32_t>(d.win >> WIN_SHIFT)


cdef inline uint32_t read_bits(Dec* d, int n) noexcept nogil:
    """SPEC §7.4.1 read_bits(n), n <= LOOKAHEAD_MIN: the next n payload bits. They
    also move into ivlOffset, which at initialization (ivlOffset still 0) is the
    SPEC's ivlOffset = read_bits(9); after end_of_payload ivlOffset is unused."""
    cdef uint32_t v = <uint32_t>(d.win >> (WIN_SHIFT - n)) & ((<uint32_t>1 << n) - 1)
    shift_in(d, n)
    return v


cdef inline int init_decoder(Dec* d, const uint8_t* data, Py_ssize_t size, Py_ssize_t start,
                             Err* err) noexcept nogil:
    """SPEC §7.4.1 initialization of the payload data[0:size] (followed by PAD_BYTES
    zeros), which starts at byte start of the stream. Returns 0, or -1 with err."""
    cdef uint32_t offset
    d.data = data
    d.size = size
    d.start = start
    d.end = start + size
    d.pos = 0
    d.win = 0
    d.cnt = 0
    d.total_bits = 8 * <int64_t>size
    d.ivlCurrRange = 510
    refill(d)
    offset = read_bits(d, 9)
    if overrun(d):
        return fail(err, 1, d.end, ERR_PAYLOAD_OVERRUN, d.end)
    if offset >= 510:
        err.v[0] = offset
        return fail(err, 0, d.end, ERR_BAD_ARITH_INIT, d.start)
    return 0


cdef inline int decode_decision(Dec* d, uint8_t* ctx) noexcept nogil:
    """SPEC §7.4.2 DecodeDecision, without data-dependent branches (bins are
    close to random, so a branch would often be mispredicted). Both outcomes are
    computed side by side from tables indexed by the context byte and
    ivlCurrRange >> 6, and the comparison only selects (dfc_decide): the LPS range
    comes already renormalized (D_LPS_RNG, D_LPS_SHIFT), and an MPS renormalizes
    by at most one bit."""
    cdef uint32_t c = ctx[0]
    cdef uint32_t q = d.ivlCurrRange >> 6  # 4..7: 256 <= ivlCurrRange < 512
    cdef uint32_t rmps = d.ivlCurrRange - D_LPS8[c][q]
    cdef uint32_t rng, n
    cdef uint64_t win = d.win
    cdef uint32_t next_c = D_NEXT_LPS[c][0]
    cdef int is_lps = dfc_decide(<uint32_t>(d.win >> WIN_SHIFT), rmps, &rng, &n,
                                 D_LPS_RNG[c][q], D_LPS_SHIFT[c][q],
                                 &win, d.win - (<uint64_t>rmps << WIN_SHIFT),
                                 &next_c, D_NEXT_LPS[c][1])
    d.ivlCurrRange = rng
    d.win = win
    ctx[0] = <uint8_t>next_c
    shift_in(d, n)
    return <int>(c & 1) ^ is_lps


cdef inline int decode_bypass(Dec* d) noexcept nogil:
    """SPEC §7.4.3 DecodeBypass."""
    cdef uint64_t scaled = <uint64_t>d.ivlCurrRange << WIN_SHIFT
    cdef int binVal
    shift_in(d, 1)
    binVal = d.win >= scaled
    d.win -= scaled & (<uint64_t>0 - <uint64_t>binVal)
    return binVal


cdef inline uint32_t div_range(uint32_t x, uint32_t rng) noexcept nogil:
    """floor(x / rng) for x < 2^21 and 256 <= rng < 512: the multiply by
    ceil(2^32 / rng) errs by less than 2^-11 < 1/rng, so the floor is exact."""
    return <uint32_t>((<uint64_t>x * D_INV[rng]) >> 32)


cdef inline uint32_t decode_bypass_bits(Dec* d, int n) noexcept nogil:
    """n DecodeBypass bins (SPEC §7.4.3), most significant first, at once: shifting
    m bits into ivlOffset and dividing by ivlCurrRange gives the same bins (the
    quotient) and the same ivlOffset (the remainder)."""
    cdef uint32_t v = 0, x, q
    cdef int m
    while n > 0:
        m = n if n < LOOKAHEAD_MIN else LOOKAHEAD_MIN
        n -= m
        x = <uint32_t>(d.win >> (WIN_SHIFT - m))  # ivlOffset << m | the next m bits
        q = div_range(x, d.ivlCurrRange)
        d.win = (<uint64_t>(x - q * d.ivlCurrRange) << WIN_SHIFT) | ((d.win << m) & win_low())
        d.cnt -= m
        if d.cnt < LOOKAHEAD_MIN:
            refill(d)
        v = (v << m) | q
    return v


cdef inline int decode_terminate(Dec* d) noexcept nogil:
    """SPEC §7.4.4 DecodeTerminate."""
    d.ivlCurrRange -= 2
    if ivl_offset(d) >= d.ivlCurrRange:
        return 1
    while d.ivlCurrRange < 256:
        d.ivlCurrRange <<= 1
        shift_in(d, 1)
    return 0
