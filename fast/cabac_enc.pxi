# The arithmetic encoder, SPEC §7.6 (informative), and the growable buffer it
# writes the payload to. Counterpart: ArithmeticEncoder in reference/cabac.py.
#
# A context model is one byte, (pStateIdx << 1) | valMps; D_LPS, D_NEXT and
# D_RENORM (tables.h) index it directly. The engine runs in HEVC HM's byte-wise
# form: low holds the bits not yet written, bits_left counts down to the next
# byte, and a run of 0xFF bytes waits in buffered/n_buffered until a carry
# resolves it. This writes exactly the bits of the bit-serial PutBit /
# bitsOutstanding form of SPEC §7.6 (whose first bit is dropped), byte by byte.

from libc.stdint cimport int64_t, uint8_t, uint32_t
from cpython.mem cimport PyMem_RawMalloc, PyMem_RawRealloc


# --- the payload buffer ------------------------------------------------------------

cdef struct Out:
    uint8_t* buf
    size_t size
    size_t cap
    int oom             # an allocation failed: the caller raises MemoryError


cdef int out_init(Out* o, size_t cap) noexcept nogil:
    """An empty buffer of cap bytes (at least 64); -1 when out of memory."""
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
    """1.5 times the room; on failure oom is set and writing stops."""
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
    """Append one byte."""
    if o.size >= o.cap:
        out_grow(o)
        if o.oom:
            return
    o.buf[o.size] = <uint8_t>byte
    o.size += 1


cdef void out_repeat(Out* o, uint32_t byte, int64_t count) noexcept nogil:
    """Append count copies of a byte (a resolved run of 0xFF, or its carry)."""
    cdef int64_t i
    for i in range(count):
        out_byte(o, byte)


# --- the engine ----------------------------------------------------------------------

cdef struct Enc:
    uint32_t low
    uint32_t range
    int bits_left
    uint32_t buffered
    int64_t n_buffered
    Out* out


cdef inline void init_encoder(Enc* e, Out* o) noexcept nogil:
    """SPEC §7.6: low = 0, range = 510, nothing written yet."""
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


cdef inline void encode_decision(Enc* e, uint8_t* ctx, int binVal) noexcept nogil:
    """SPEC §7.6.1 EncodeDecision, then the context's transition (SPEC §7.3);
    RenormE shifts by D_RENORM[ivlLpsRange] at once after an LPS."""
    cdef uint8_t c = ctx[0]
    cdef uint32_t lps = D_LPS[c][(e.range >> 6) & 3]
    cdef int n
    e.range -= lps
    ctx[0] = D_NEXT[c][binVal]
    if binVal != (c & 1):
        n = D_RENORM[lps]
        e.low = (e.low + e.range) << n
        e.range = lps << n
        e.bits_left -= n
    elif e.range >= 256:
        return
    else:
        e.low <<= 1
        e.range <<= 1
        e.bits_left -= 1
    if e.bits_left < 12:
        enc_write_out(e)


cdef inline void encode_bypass_bits(Enc* e, uint32_t value, int n) noexcept nogil:
    """SPEC §7.6.2 EncodeBypass for the n bins of value, most significant first
    (up to 8 at a time: low += range * the bins)."""
    cdef uint32_t pattern
    while n > 8:
        n -= 8
        pattern = value >> n
        e.low = (e.low << 8) + e.range * pattern
        value -= pattern << n
        e.bits_left -= 8
        if e.bits_left < 12:
            enc_write_out(e)
    e.low = (e.low << n) + e.range * value
    e.bits_left -= n
    if e.bits_left < 12:
        enc_write_out(e)


cdef inline void encode_bypass(Enc* e, int binVal) noexcept nogil:
    """SPEC §7.6.2 EncodeBypass."""
    encode_bypass_bits(e, binVal, 1)


cdef inline void encode_terminate(Enc* e) noexcept nogil:
    """SPEC §7.6.3 EncodeTerminate with binVal = 1, the only terminate bin dfc
    codes (end_of_payload, SPEC §5.1): it ends the arithmetic code."""
    e.range -= 2
    e.low += e.range
    encode_flush(e)


cdef void encode_flush(Enc* e) noexcept nogil:
    """SPEC §7.6.4 flush: range = 2 and RenormE (7 doublings), PutBit of bit 9
    of low, bit 8, the stop bit 1; then zero bits to a whole byte."""
    cdef int n
    cdef uint32_t tail
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
