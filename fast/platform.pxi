# Cython declarations of fast/platform.h, which says what each helper does and
# gives its portable fallback.

from libc.stdint cimport uint8_t, uint32_t, uint64_t

cdef extern from "platform.h":
    uint64_t dfc_load_be64(const uint8_t* p) nogil
    int DFC_CLZ32(uint32_t x) nogil  # x != 0
    int DFC_CTZ32(uint32_t x) nogil  # x != 0
    int dfc_decide(uint32_t offset, uint32_t rmps, uint32_t* rng, uint32_t* n,
                   uint32_t rng_lps, uint32_t n_lps, uint64_t* win, uint64_t win_lps,
                   uint32_t* ctx, uint32_t ctx_lps) nogil
