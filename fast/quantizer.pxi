# The Q-layer and its inverse, SPEC §4.2-4.3. Counterpart: reference/quantizer.py.
#
# Binary64 one operation at a time, exactly as the reference computes with numpy:
# the build passes -ffp-contract=off (no fused multiply-add) and -fno-fast-math.

from libc.stdint cimport int32_t, uint16_t, uint32_t
from libc.string cimport memset


cdef void quantize(const float* v, Py_ssize_t n, double mn, double mx, int level,
                   uint16_t* q, uint32_t* hist) noexcept nogil:
    """SPEC §4.2: q = clip(floor((v - mn) / (mx - mn) * L + 0.5), 0, L); all 0
    when mn == mx. Also counts each value into hist (L + 1 entries), which the
    palette selection needs (SPEC §8.2)."""
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


cdef void dequantize(const uint16_t* q, Py_ssize_t n, int level, double mn, double mx,
                     float* out, float* lut) noexcept nogil:
    """SPEC §4.3: mn + (q * (mx - mn)) / L, q = 0 -> mn, q = L -> mx, to float32.
    With a lut (L + 1 floats), each value is computed once and looked up."""
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
