/* dfc.fast platform helpers: the few instructions the codec wants, each with a
 * portable fallback.
 *
 *   dfc_load_be64(p)   the 8 bytes at p as a big-endian integer (the decoder's
 *                      window refill, SPEC §1.4: bits are read most significant first)
 *   DFC_CLZ32(x)       count leading zeros, x != 0
 *   DFC_CTZ32(x)       count trailing zeros, x != 0
 *   dfc_decide(...)    the branch-free choice at the heart of DecodeDecision
 *                      (SPEC §7.4.2), see below
 *
 * GCC and Clang get builtins (and, on x86-64, dfc_decide as conditional moves);
 * other compilers, or any build with -DDFC_PORTABLE, the plain C versions, which
 * give identical results. Declared to Cython in fast/platform.pxi.
 */
#ifndef DFC_PLATFORM_H
#define DFC_PLATFORM_H

#include <stdint.h>
#include <string.h>

#if (defined(__GNUC__) || defined(__clang__)) && !defined(DFC_PORTABLE)
#define DFC_GNUC 1
#endif

#if defined(_MSC_VER) && !defined(__cplusplus)
#define DFC_INLINE static __inline
#else
#define DFC_INLINE static inline
#endif

/* Hot paths of profile 1 are written once for both directions and both settings
 * and specialized by constant arguments (SPEC §11): they must be inlined. */
#ifdef DFC_GNUC
#define DFC_ALWAYS_INLINE static inline __attribute__((always_inline))
#define DFC_LIKELY(x) __builtin_expect(!!(x), 1)
#define DFC_UNLIKELY(x) __builtin_expect(!!(x), 0)
#elif defined(_MSC_VER)
#define DFC_ALWAYS_INLINE static __forceinline
#define DFC_LIKELY(x) (x)
#define DFC_UNLIKELY(x) (x)
#else
#define DFC_ALWAYS_INLINE static inline
#define DFC_LIKELY(x) (x)
#define DFC_UNLIKELY(x) (x)
#endif

/* --- byte order ---------------------------------------------------------------- */

#ifdef DFC_GNUC
#define DFC_BSWAP64(x) __builtin_bswap64(x)
#else
DFC_INLINE uint64_t DFC_BSWAP64(uint64_t x) {
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

DFC_INLINE uint64_t dfc_load_be64(const uint8_t* p) {
    uint64_t w;
    memcpy(&w, p, 8);  /* an unaligned load where the target allows one */
    return DFC_BE64(w);
}

/* --- bit scans ------------------------------------------------------------------ */

#ifdef DFC_GNUC
#define DFC_CLZ32(x) __builtin_clz(x)
#define DFC_CTZ32(x) __builtin_ctz(x)
#else
DFC_INLINE int DFC_CLZ32(uint32_t x) {
    int n = 0;
    while (!(x & 0x80000000u)) { x <<= 1; n++; }
    return n;
}
DFC_INLINE int DFC_CTZ32(uint32_t x) {
    int n = 0;
    while (!(x & 1u)) { x >>= 1; n++; }
    return n;
}
#endif

/* --- DecodeDecision's choice ------------------------------------------------------
 *
 * From rMPS = ivlCurrRange - ivlLpsRange, the MPS outcome (the range renormalized
 * by at most one bit) and then the choice between it and the prepared LPS outcome
 * (rng_lps and n_lps: the LPS range already renormalized and its shift; win_lps:
 * the window less rMPS; ctx_lps: the context after an LPS). Returns 1 for an LPS.
 * Bins are close to random, so a branch here mispredicts often; compilers turn the
 * choice into such a branch or into longer mask arithmetic, so on x86-64 it is
 * spelled out as conditional moves, one cycle each after the comparisons.
 */
#if defined(DFC_GNUC) && defined(__x86_64__)
static inline __attribute__((always_inline)) int dfc_decide(
        uint32_t offset, uint32_t rmps, uint32_t* rng, uint32_t* n, uint32_t rng_lps,
        uint32_t n_lps, uint64_t* win, uint64_t win_lps, uint32_t* ctx, uint32_t ctx_lps) {
    uint32_t r = rmps, k = 0, c = *ctx;
    uint64_t w = *win;
    uint8_t lps;
    __asm__("cmpl $256, %[rmps]\n\t"        /* MPS: rmps < 256 -> one shift */
            "cmovbl %[rmps2], %[r]\n\t"
            "adcl $0, %[k]\n\t"
            "cmpl %[rmps], %[off]\n\t"      /* offset >= rmps: the LPS path */
            "cmovael %[rl], %[r]\n\t"
            "cmovael %[kl], %[k]\n\t"
            "cmovaeq %[wl], %[w]\n\t"
            "cmovael %[cl], %[c]\n\t"
            "setae %[lps]"
            : [r] "+&r"(r), [k] "+&r"(k), [w] "+r"(w), [c] "+r"(c), [lps] "=&q"(lps)
            : [off] "r"(offset), [rmps] "r"(rmps), [rmps2] "r"(rmps + rmps),
              [rl] "rm"(rng_lps), [kl] "rm"(n_lps), [wl] "rm"(win_lps), [cl] "rm"(ctx_lps)
            : "cc");
    *rng = r; *n = k; *win = w; *ctx = c;
    return lps;
}
#else
DFC_INLINE int dfc_decide(
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

#endif  /* DFC_PLATFORM_H */
