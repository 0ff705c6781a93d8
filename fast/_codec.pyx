# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False, embedsignature=True
"""dfc.fast._codec: the compiled encoder and decoder (SPEC §4-§8).

Every per-sample step runs in C without the GIL: the Q-layer, the palette
statistics, prediction, the mode decision, binarization and the arithmetic coder.
Per-stream work (argument checks, the header, framing and the CRC) reuses
dfc.reference, so both implementations accept, produce and reject exactly the
same streams.

One extension module, built from this file and the files it includes (so that
everything inlines), each named after its reference counterpart:

    tables.h, tables.pxi   constant tables, GENERATED from reference/tables.py by
                           python -m dfc.tools.gen_fast_tables (never edit them)
    platform.h, .pxi       byte swap, bit scans, DecodeDecision's branch-free choice
    errors.pxi             decoder errors -> dfc.errors.DecodeError (SPEC §9)
    quantizer.pxi          SPEC §4.2-4.3 Q-layer              (reference/quantizer.py)
    palette.pxi            SPEC §5.4, §8.2-8.3 palette         (reference/palette.py)
    cabac_enc.pxi          SPEC §7.6 encoding engine           (reference/cabac.py)
    cabac_dec.pxi          SPEC §7.4 decoding engine           (reference/cabac.py)
    recon.pxi              SPEC §6.2-6.4, §6.8 prediction      (reference/prediction.py)
    cost.pxi               SPEC §8.4-8.5 mode decision         (BitCostEstimator, choose_mode)
    syntax.pxi             SPEC §5-§6 read_/write_<structure>  (reference/syntax.py)
    ext.pxi, ext_*.h       SPEC §11 profile 1                  (reference/ext_*.py, rangecoder.py)

This file holds the Python entry points only. A context model is one byte,
(pStateIdx << 1) | valMps.
"""

from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t
from libc.string cimport memcpy, memset
from cpython.mem cimport PyMem_RawFree, PyMem_RawMalloc
from cpython.bytes cimport PyBytes_FromStringAndSize

import zlib

import numpy as np

from dfc.reference import tables as _ref
from dfc.reference.decoder import DecodedStream, ext_params as _ext_params
from dfc.reference.encoder import PROFILES, validate_input, validate_range
from dfc.reference.ext_encoder import choose_split_offset, setting_code, trial_channels
from dfc.reference.header import Header, check_framing, read_header, write_header
from dfc.reference.quantizer import zero_level

include "tables.pxi"
include "platform.pxi"
include "errors.pxi"
include "quantizer.pxi"
include "palette.pxi"
include "cabac_enc.pxi"
include "cabac_dec.pxi"
include "recon.pxi"
include "cost.pxi"
include "syntax.pxi"
include "ext.pxi"


def _tables():
    """The raw tables compiled into this module (fast/tables.h), as Python values:
    a test checks that they equal dfc.reference.tables, which catches a build
    made from stale generated files."""
    cdef int s, m, i
    return {
        "RANGE_TAB_LPS": tuple(tuple(int(RANGE_TAB_LPS[s][i]) for i in range(4))
                               for s in range(NUM_STATES)),
        "TRANS_IDX_LPS": tuple(int(TRANS_IDX_LPS[s]) for s in range(NUM_STATES)),
        "TRANS_IDX_MPS": tuple(int(TRANS_IDX_MPS[s]) for s in range(NUM_STATES)),
        "FRAC_BITS": tuple((int(FRAC_BITS[s][0]), int(FRAC_BITS[s][1])) for s in range(NUM_STATES)),
        "BYPASS_BITS": int(BYPASS_BITS),
        "NUM_MODES": int(NUM_MODES),
        "MODE_PAL": int(MODE_PAL), "MODE_HOR": int(MODE_HOR), "MODE_VER": int(MODE_VER),
        "MODE_FIL_A": int(MODE_FIL_A), "MODE_FIL_B": int(MODE_FIL_B),
        "FILTER_TAPS": {int(m): tuple(int(FILTER_TAPS[m][i]) for i in range(3))
                        for m in (MODE_FIL_A, MODE_FIL_B)},
        "SCAN_FOR_MODE": {m: tuple((int(SCAN_FOR_MODE[m][i][0]), int(SCAN_FOR_MODE[m][i][1]))
                                   for i in range(BLOCK_AREA))
                          for m in range(NUM_MODES)},
        "CTX_PALETTE_IDX": int(CTX_PALETTE_IDX), "CTX_MPM_FLAG": int(CTX_MPM_FLAG),
        "CTX_SKIP_FLAG": int(CTX_SKIP_FLAG), "CTX_SIG_FLAG": int(CTX_SIG_FLAG),
        "CTX_GT1_FLAG": int(CTX_GT1_FLAG), "CTX_GT2_FLAG": int(CTX_GT2_FLAG),
        "CTX_SIGN_FLAG": int(CTX_SIGN_FLAG), "NUM_CONTEXTS": int(NUM_CONTEXTS),
        "INIT_STATE": int(INIT_STATE), "INIT_MPS": int(INIT_MPS),
        "MAX_GT1_FLAGS": int(MAX_GT1_FLAGS), "MAX_RICE_PARAM": int(MAX_RICE_PARAM),
        "MAX_STAT_COEFF": int(MAX_STAT_COEFF), "RICE_PREFIX_LIMIT": int(RICE_PREFIX_LIMIT),
        "MAX_REMAINDER_PREFIX": int(MAX_REMAINDER_PREFIX),
        "MAX_BIT_DEPTH": int(MAX_BIT_DEPTH), "MAX_PALETTE_SIZE": int(MAX_PALETTE_SIZE),
    }


# --- encoder ---------------------------------------------------------------------------

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
    cdef uint16_t palette[MAX_PALETTE_SIZE]
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
            quantize(&v[0, 0, 0], n, mn, mx, level, q, hist)
            # the payload is usually far smaller than the tensor; it grows as needed
            rc = out_init(&out, <size_t>(n // 8 + 256))
            if rc == 0:
                rc = write_payload(q, channels, height, width, level, hist, palette, &P,
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


def encode(tensor, bits=8, *, profile="baseline", setting="default", range=None):
    """Encode a (C, H, W) tensor into a dfc stream: profile "baseline" (SPEC §8) or
    "extended" (SPEC §11.12, setting "default" or "fast"), ``range`` (lo, hi)
    fixing the quantizer's range (SPEC §4.2); byte-identical to
    dfc.reference.encode, with the same ValueError for bad input."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}, got {profile!r}")
    values = validate_input(tensor, bits)
    fixed_range = validate_range(range)
    bit_depth = int(bits)
    if profile == "extended":
        return _encode_extended(values, bit_depth, setting, fixed_range)
    if setting != "default":
        raise ValueError(f"the baseline profile has no setting {setting!r}")
    values, min_value, max_value = _extremes(values, fixed_range)
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


def _quantize(values, int bits, double mn, double mx):
    """SPEC §4.2 on a validated C-contiguous float32 (C, H, W) array: uint16 values."""
    cdef const float[:, :, ::1] v = values
    cdef Py_ssize_t n = v.shape[0] * v.shape[1] * v.shape[2]
    cdef int level = (1 << bits) - 1
    q = np.empty(values.shape, dtype=np.uint16)
    cdef uint16_t[:, :, ::1] o = q
    cdef uint32_t* hist = <uint32_t*>PyMem_RawMalloc((level + 1) * sizeof(uint32_t))
    if hist == NULL:
        raise MemoryError()
    try:
        memset(hist, 0, (level + 1) * sizeof(uint32_t))
        with nogil:
            quantize(&v[0, 0, 0], n, mn, mx, level, &o[0, 0, 0], hist)
    finally:
        PyMem_RawFree(hist)
    return q


def _extremes(values, fixed_range):
    """SPEC §4.2: the C-contiguous tensor to quantize and its (min_value,
    max_value): its own extremes, or the fixed range with the values clipped to it."""
    if fixed_range is not None:
        lo, hi = fixed_range
        values = np.clip(values, np.float32(lo), np.float32(hi))
        return np.ascontiguousarray(values), lo + 0.0, hi + 0.0
    values = np.ascontiguousarray(values)
    # -0.0 counts as +0.0. The reference adds 0.0 to the whole tensor before
    # min/max; since x + 0.0 == x for every other value, adding it to the
    # extremes gives the same header without a copy of the tensor.
    return values, float(np.min(values)) + 0.0, float(np.max(values)) + 0.0


def _encode_extended(values, int bits, setting, fixed_range):
    """SPEC §11.12: the profile 1 stream of a validated float32 tensor (the choices
    of dfc.reference.ext_encoder.encode_extended)."""
    code = setting_code(setting)
    values, min_value, max_value = _extremes(values, fixed_range)
    q = _quantize(values, bits, min_value, max_value)
    del values
    level = (1 << bits) - 1
    qz = zero_level(min_value, max_value, bits)
    band_flag = 0
    if 0 < qz < level:
        trial = q[:trial_channels(q.shape[0])]
        sizes = [len(_ext_encode_payload(trial, bits, qz, qz if flag else 0, code,
                                         choose_split_offset(code, qz, flag))) for flag in (0, 1)]
        band_flag = 1 if sizes[1] < sizes[0] else 0
    split_offset = choose_split_offset(code, qz, band_flag)
    payload = _ext_encode_payload(q, bits, qz, qz if band_flag else 0, code, split_offset)
    channels, height, width = q.shape
    header = Header(
        format_version=_ref.FORMAT_VERSION, profile=_ref.PROFILE_EXTENDED,
        bit_depth=bits, channels=channels, height=height, width=width,
        min_value=min_value, max_value=max_value, payload_size=len(payload),
        setting=code, band_flag=band_flag, split_offset=split_offset,
    )
    head = write_header(header)
    crc = zlib.crc32(payload, zlib.crc32(head)) & 0xFFFFFFFF
    return b"".join((head, payload, crc.to_bytes(_ref.CRC_SIZE, "big")))


def _mode_costs(tile, Py_ssize_t bx, Py_ssize_t by, int PalPred, int MpmMode, int skip_ctx_inc,
                contexts, int StatCoeff):
    """SPEC §8.4-8.5, for tests: the estimated cost, in 1/32768 bit, of coding block
    (bx, by) of ``tile`` (a C-contiguous uint16 (H, W) array holding the samples of
    the block and of its left and top neighbours) in each mode: mode bins, skip_flag,
    and residual_block() when not skipped, from the context states ``contexts``
    (NUM_CONTEXTS bytes, each (pStateIdx << 1) | valMps). Returns a tuple of
    NUM_MODES ints; the encoder codes the block in the first of the least."""
    cdef const uint16_t[:, ::1] t = tile
    cdef const uint8_t[::1] ctx = contexts
    cdef Py_ssize_t height = t.shape[0]
    cdef Py_ssize_t width = t.shape[1]
    cdef int32_t res[NUM_MODES][BLOCK_AREA]
    cdef int64_t cost[NUM_MODES]
    cdef int bw, bh, m
    if not (0 <= bx and 4 * bx < width and 0 <= by and 4 * by < height):
        raise ValueError(f"block ({bx}, {by}) is outside a {height} x {width} tile")
    if ctx.shape[0] != NUM_CONTEXTS or any(b >= NUM_CTX_BYTES for b in bytes(contexts)):
        raise ValueError(f"contexts must be {NUM_CONTEXTS} bytes below {NUM_CTX_BYTES}")
    if not (0 <= PalPred < NUM_LEVELS and 0 <= MpmMode < NUM_MODES and 0 <= skip_ctx_inc <= 2
            and 0 <= StatCoeff <= MAX_STAT_COEFF):
        raise ValueError("PalPred, MpmMode, skip_ctx_inc or StatCoeff out of range")
    bw = <int>(width - 4 * bx) if width - 4 * bx < 4 else 4
    bh = <int>(height - 4 * by) if height - 4 * by < 4 else 4
    block_residuals(&t[0, 0], width, bx, by, bw, bh, PalPred, res)
    mode_costs(&ctx[0], res, bw, bh, StatCoeff, MpmMode, skip_ctx_inc, cost)
    return tuple(int(cost[m]) for m in range(NUM_MODES))


# --- decoder ---------------------------------------------------------------------------

def _decode_payload(const uint8_t[::1] data, header, out):
    """Decode the payload of a framed, header-checked stream into out
    (uint16, C-contiguous, header.shape); raises DecodeError."""
    cdef uint16_t[:, :, ::1] o = out
    cdef Py_ssize_t channels = o.shape[0]
    cdef Py_ssize_t height = o.shape[1]
    cdef Py_ssize_t width = o.shape[2]
    cdef int level = (1 << <int>header.bit_depth) - 1
    cdef uint16_t palette[MAX_PALETTE_SIZE]
    cdef int P = len(header.palette)
    cdef int j, rc = 0
    cdef Err err
    cdef Py_ssize_t start = header.header_size
    cdef Py_ssize_t payload_size = header.payload_size
    cdef Py_ssize_t nrows = 4 * ((width + 3) // 4) + 16
    cdef uint8_t* rows
    if not 1 <= P <= MAX_PALETTE_SIZE or start + payload_size > data.shape[0]:
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
    try:
        with nogil:
            rc = read_payload(rows + nrows, payload_size, start, &o[0, 0, 0], channels, height,
                              width, level, palette, P, rows, &err)
    finally:
        PyMem_RawFree(rows)
    if rc != 0:
        raise decode_error(&err)


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
                dequantize(&q[0], n, level, min_value, max_value, &o[0], lut)
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
    if header.profile == _ref.PROFILE_EXTENDED:
        _ext_decode_payload(data, header, _ext_params(header), integers)
    else:
        _decode_payload(data, header, integers)
    return DecodedStream(header=header, integers=integers)


def decode(stream):
    """Decode a dfc stream to its float32 (C, H, W) tensor (SPEC §4.3)."""
    decoded = decode_stream(stream)
    h = decoded.header
    return _dequantize(decoded.integers, h.bit_depth, h.min_value, h.max_value)
