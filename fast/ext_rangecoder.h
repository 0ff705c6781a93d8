/* Profile 1's binary range coder: SPEC §11.10 (decoder) and §11.11 (encoder).
 * The counterpart of reference/rangecoder.py, names as there.
 *
 * The decoder reads past the payload's end as zeros and only records that it
 * did (overrun): the callers check it wherever the reference, which stops at
 * the first such read, could have raised payload_overrun, so both report the
 * same error without a check in every bin.
 */
#ifndef DFC_EXT_RANGECODER_H
#define DFC_EXT_RANGECODER_H

#include <stdint.h>
#include <stddef.h>
#include "platform.h"

#define DFC_RC_TOP (1u << 24)

typedef struct {
    const uint8_t* pos;   /* the next payload byte */
    const uint8_t* end;
    uint32_t range;
    uint32_t code;
    int overrun;          /* a byte past the payload was needed */
} RangeDecoder;

DFC_ALWAYS_INLINE uint32_t rd_read_byte(RangeDecoder* d) {
    uint32_t b = 0;
    if (DFC_LIKELY(d->pos < d->end)) b = *d->pos;
    else d->overrun = 1;
    d->pos++;
    return b;
}

/* SPEC §11.10 initialization: code from the first four payload bytes. */
DFC_INLINE void rd_init(RangeDecoder* d, const uint8_t* begin, const uint8_t* end) {
    d->pos = begin;
    d->end = end;
    d->range = 0xFFFFFFFFu;
    d->code = 0;
    d->overrun = 0;
    for (int i = 0; i < 4; i++) d->code = (d->code << 8) | rd_read_byte(d);
}

/* SPEC §11.10 decode_bin: one bin, p = the probability of a 1 in 1/65536. */
DFC_ALWAYS_INLINE int rd_decode_bin(RangeDecoder* d, uint32_t p) {
    uint32_t bound = (d->range >> 16) * p;
    int bin = d->code < bound;
    if (bin) {
        d->range = bound;
    } else {
        d->code -= bound;
        d->range -= bound;
    }
    while (d->range < DFC_RC_TOP) {
        d->range <<= 8;
        d->code = (d->code << 8) | rd_read_byte(d);
    }
    return bin;
}

/* SPEC §11.10 decode_bypass: probability one half, the upper half meaning 1. */
DFC_ALWAYS_INLINE uint32_t rd_decode_bypass(RangeDecoder* d) {
    uint32_t bin;
    d->range >>= 1;
    bin = d->code >= d->range;
    d->code -= d->range & (0u - bin);
    while (d->range < DFC_RC_TOP) {
        d->range <<= 8;
        d->code = (d->code << 8) | rd_read_byte(d);
    }
    return bin;
}

/* n bypass bins, most significant first. */
DFC_INLINE uint32_t rd_decode_bits(RangeDecoder* d, int n) {
    uint32_t v = 0;
    for (int i = 0; i < n; i++) v = (v << 1) | rd_decode_bypass(d);
    return v;
}

typedef struct {
    uint64_t low;         /* 32 bits and the carry */
    uint32_t range;
    uint32_t cache;       /* the delayed byte */
    int64_t pending;      /* the cache and the 0xFF bytes after it */
    int first;            /* the first byte is always 0 and not written */
    uint8_t* buf;         /* the payload so far (PyMem_Raw*) */
    size_t size;
    size_t cap;
    int oom;
} RangeEncoder;

DFC_INLINE void re_put(RangeEncoder* e, uint32_t byte) {
    if (DFC_UNLIKELY(e->size >= e->cap)) {
        size_t cap = e->cap + (e->cap >> 1) + 256;
        uint8_t* nb = (uint8_t*)PyMem_RawRealloc(e->buf, cap);
        if (nb == NULL) {
            e->oom = 1;
            e->size = 0;  /* keep going without writing; the caller raises MemoryError */
            return;
        }
        e->buf = nb;
        e->cap = cap;
    }
    e->buf[e->size++] = (uint8_t)byte;
}

DFC_INLINE void re_init(RangeEncoder* e, size_t cap) {
    e->low = 0;
    e->range = 0xFFFFFFFFu;
    e->cache = 0;
    e->pending = 1;
    e->first = 1;
    e->size = 0;
    e->oom = 0;
    e->cap = cap < 256 ? 256 : cap;
    e->buf = (uint8_t*)PyMem_RawMalloc(e->cap);
    if (e->buf == NULL) {
        e->oom = 1;
        e->cap = 0;
    }
}

/* SPEC §11.11 shift_low: the top byte of low leaves through the cache once no
 * carry can reach it. */
DFC_ALWAYS_INLINE void re_shift_low(RangeEncoder* e) {
    if ((uint32_t)e->low < 0xFF000000u || (e->low >> 32) != 0) {
        uint32_t carry = (uint32_t)(e->low >> 32);
        uint32_t byte = e->cache;
        do {
            if (e->first) e->first = 0;
            else if (!e->oom) re_put(e, (byte + carry) & 0xFF);
            byte = 0xFF;
        } while (--e->pending != 0);
        e->cache = ((uint32_t)e->low >> 24) & 0xFF;
    }
    e->pending++;
    e->low = (uint64_t)((uint32_t)e->low << 8);
}

/* SPEC §11.11 encode_bin. */
DFC_ALWAYS_INLINE void re_encode_bin(RangeEncoder* e, int bin, uint32_t p) {
    uint32_t bound = (e->range >> 16) * p;
    if (bin) {
        e->range = bound;
    } else {
        e->low += bound;
        e->range -= bound;
    }
    while (e->range < DFC_RC_TOP) {
        e->range <<= 8;
        re_shift_low(e);
    }
}

/* SPEC §11.11 encode_bypass. */
DFC_ALWAYS_INLINE void re_encode_bypass(RangeEncoder* e, uint32_t bin) {
    e->range >>= 1;
    e->low += e->range & (0u - bin);
    while (e->range < DFC_RC_TOP) {
        e->range <<= 8;
        re_shift_low(e);
    }
}

DFC_INLINE void re_encode_bits(RangeEncoder* e, uint32_t v, int n) {
    for (int i = n - 1; i >= 0; i--) re_encode_bypass(e, (v >> i) & 1);
}

/* SPEC §11.11 flush. */
DFC_INLINE void re_finish(RangeEncoder* e) {
    for (int i = 0; i < 5; i++) re_shift_low(e);
}

#endif
