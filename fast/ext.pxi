# Profile 1 (SPEC §11): the Cython face of the C headers that implement it,
# each named after its reference counterpart:
#
#     ext_rangecoder.h   SPEC §11.10-11.11 range coder    (reference/rangecoder.py)
#     ext_model.h        SPEC §11.8-11.9 estimation, mixing (reference/ext_model.py)
#     ext_predict.h      SPEC §11.3-11.4 neighbours, GAP   (reference/ext_predict.py)
#     ext_syntax.h       SPEC §11.2, §11.5-11.7 samples    (reference/ext_syntax.py)
#
# They are C rather than Cython because one sample coder serves both directions,
# both settings and both band modes, specialized by constant arguments into eight
# always-inlined copies: Cython has no way to ask for that.

from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t

from dfc.errors import DecodeError, TruncatedStreamError


cdef extern from "ext_syntax.h":
    ctypedef struct ExtContext:
        uint16_t p
        uint16_t n
    ctypedef struct ExtModel:
        ExtContext* ctx
        int32_t (*w)[3]
    ctypedef struct ExtParams:
        int32_t n, L, qz, zb, setting, split_offset
        int64_t channels, height, width
    ctypedef struct ExtError:
        int code
        int64_t offset
        int64_t v[2]
    ctypedef struct RangeEncoder:
        uint8_t* buf
        size_t size
        int oom
    enum:
        EXT_OK
        EXT_ERR_OVERRUN
        EXT_ERR_PREFIX
        EXT_ERR_DEPTH
        EXT_ERR_MAGNITUDE
        EXT_ERR_FINAL_CODE
        EXT_ERR_UNUSED
    void ext_params_derive(ExtParams* p) nogil
    void re_init(RangeEncoder* e, size_t cap) nogil
    int ext_decode_payload(const uint8_t* data, int64_t size, uint16_t* out, const ExtParams* p,
                           ExtModel* m, int32_t* e, int32_t* xe, ExtError* err) nogil
    int ext_encode_payload(const uint16_t* q, RangeEncoder* enc, const ExtParams* p, ExtModel* m,
                           int32_t* e, int32_t* xe) nogil


cdef object ext_decode_error(ExtError* err, int64_t start):
    """The DecodeError the reference raises for this condition (SPEC §9, Table 10)."""
    cdef int64_t off = start + err.offset
    if err.code == EXT_ERR_OVERRUN:
        return TruncatedStreamError("payload_overrun", off, "11.10",
                                    "range decoder needs bytes past the end of the payload")
    if err.code == EXT_ERR_PREFIX:
        return DecodeError("remainder_prefix_too_long", off, "11.6",
                           f"escape prefix longer than {MAX_EG_PREFIX} ones")
    if err.code == EXT_ERR_DEPTH:
        return DecodeError("residual_out_of_range", off, "11.6",
                           f"band depth {err.v[0]} exceeds the band level {err.v[1]}")
    if err.code == EXT_ERR_MAGNITUDE:
        return DecodeError("residual_out_of_range", off, "11.6",
                           f"magnitude {err.v[0]} beyond the largest possible, {err.v[1]}")
    if err.code == EXT_ERR_FINAL_CODE:
        return DecodeError("bad_final_code", off, "11.10",
                           f"range decoder ends with code {err.v[0]:#x}, not 0")
    if err.code == EXT_ERR_UNUSED:
        return DecodeError("payload_unused_bytes", off, "11.10",
                           f"{err.v[0]} payload bytes follow the end of the range code")
    return RuntimeError(f"dfc.fast: unknown internal error {err.code}")


cdef class ExtBuffers:
    """The memory of one profile 1 coding: the contexts, the weights and the two
    H x W maps (SPEC §11.2), freed with the object."""

    cdef ExtModel model
    cdef int32_t* e
    cdef int32_t* xe

    def __cinit__(self, int64_t height, int64_t width):
        self.model.ctx = <ExtContext*>PyMem_RawMalloc(NUM_EXT_CONTEXTS * sizeof(ExtContext))
        self.model.w = <int32_t (*)[3]>PyMem_RawMalloc(NUM_WEIGHT_SETS * 3 * sizeof(int32_t))
        self.e = <int32_t*>PyMem_RawMalloc(height * width * sizeof(int32_t))
        self.xe = <int32_t*>PyMem_RawMalloc(height * width * sizeof(int32_t))
        if self.model.ctx == NULL or self.model.w == NULL or self.e == NULL or self.xe == NULL:
            raise MemoryError()

    def __dealloc__(self):
        PyMem_RawFree(self.model.ctx)
        PyMem_RawFree(self.model.w)
        PyMem_RawFree(self.e)
        PyMem_RawFree(self.xe)


cdef ExtParams ext_params(int n, int qz, int zb, int setting, int split_offset, int64_t channels,
                          int64_t height, int64_t width):
    cdef ExtParams p
    p.n = n
    p.qz = qz
    p.zb = zb
    p.setting = setting
    p.split_offset = split_offset
    p.channels = channels
    p.height = height
    p.width = width
    ext_params_derive(&p)
    return p


def _ext_encode_payload(q, int n, int qz, int zb, int setting, int split_offset):
    """SPEC §11.2 ext_payload() of a C-contiguous uint16 (C, H, W) array of
    values in 0 .. 2^n - 1; returns the payload."""
    cdef const uint16_t[:, :, ::1] v = q
    cdef ExtParams p = ext_params(n, qz, zb, setting, split_offset, v.shape[0], v.shape[1], v.shape[2])
    cdef ExtBuffers buf = ExtBuffers(v.shape[1], v.shape[2])
    cdef RangeEncoder enc
    cdef int rc
    with nogil:
        re_init(&enc, <size_t>(p.channels * p.height * p.width // 2 + 256))
        rc = -1 if enc.oom else ext_encode_payload(&v[0, 0, 0], &enc, &p, &buf.model, buf.e, buf.xe)
    try:
        if rc != 0:
            raise MemoryError()
        return PyBytes_FromStringAndSize(<char*>enc.buf, enc.size)
    finally:
        PyMem_RawFree(enc.buf)


def _ext_decode_payload(const uint8_t[::1] data, header, ext, out):
    """Decode the profile 1 payload of a framed, header-checked stream into out
    (uint16, C-contiguous, header.shape); ext is its ExtParams (reference).
    Raises DecodeError."""
    cdef uint16_t[:, :, ::1] o = out
    cdef int64_t start = header.header_size
    cdef int64_t size = header.payload_size
    cdef ExtParams p = ext_params(ext.n, ext.qz, ext.zb, ext.setting, ext.split_offset,
                                  o.shape[0], o.shape[1], o.shape[2])
    cdef ExtBuffers buf = ExtBuffers(o.shape[1], o.shape[2])
    cdef ExtError err
    cdef int rc
    if start + size > data.shape[0]:
        raise ValueError("dfc.fast: header does not describe this stream")
    memset(&err, 0, sizeof(err))
    with nogil:
        rc = ext_decode_payload(&data[start], size, &o[0, 0, 0], &p, &buf.model, buf.e, buf.xe, &err)
    if rc != 0:
        raise ext_decode_error(&err, start)
