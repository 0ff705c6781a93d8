# Decoder errors (SPEC §9): the C code records the first rule broken in an Err,
# and decode_error() turns it into the dfc.errors.DecodeError that the reference
# raises for the same stream: same class, code, byte offset, SPEC section and message.

from libc.stdint cimport int64_t

from dfc.errors import DecodeError, TruncatedStreamError


cdef enum ErrCode:
    ERR_NONE = 0
    ERR_PAYLOAD_OVERRUN
    ERR_BAD_ARITH_INIT
    ERR_REMAINDER_PREFIX
    ERR_RESIDUAL_RANGE
    ERR_SAMPLE_RANGE
    ERR_MISSING_END
    ERR_FINAL_BIT
    ERR_UNUSED_BYTES
    ERR_NONZERO_PADDING


cdef struct Err:
    int code
    int64_t offset
    int64_t v[6]        # details for the message


cdef int fail(Err* err, bint overrun, int64_t end, int code, int64_t offset) noexcept nogil:
    """Record an error; returns -1. A payload overrun that already happened takes
    precedence, because the reference, which reads bit by bit, would have stopped
    there (SPEC §7.4.1)."""
    if overrun:
        err.code = ERR_PAYLOAD_OVERRUN
        err.offset = end
    else:
        err.code = code
        err.offset = offset
    return -1


cdef object decode_error(Err* err):
    """The DecodeError the reference raises for this condition (SPEC §9, Table 10)."""
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
                           f"abs_remaining prefix longer than {MAX_REMAINDER_PREFIX} ones")
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
    if code == ERR_FINAL_BIT:
        return DecodeError("bad_final_bit", off, "5.1",
                           "the last bit of the arithmetic code is 0, not the flush's final 1")
    if code == ERR_UNUSED_BYTES:
        return DecodeError("payload_unused_bytes", off, "5.1",
                           f"{err.v[0]} payload bytes follow end_of_payload")
    if code == ERR_NONZERO_PADDING:
        return DecodeError("nonzero_padding", off, "5.1",
                           "alignment bits after end_of_payload are not zero")
    return RuntimeError(f"dfc.fast: unknown internal error {code}")
