/* Profile 1's probability modelling: SPEC §11.8 (estimation) and §11.9 (mixing).
 * The counterpart of reference/ext_model.py.
 *
 * A context is (p, n): the probability of a 1 in 1/65536 and how many decisions
 * it has seen (counted up to EXT_COUNT_LIMIT, where the warm-up ends). A mixed
 * decision (setting 0) stretches the three contexts' probabilities, weighs them
 * with one of NUM_WEIGHT_SETS weight sets and squashes the sum.
 */
#ifndef DFC_EXT_MODEL_H
#define DFC_EXT_MODEL_H

#include <stdint.h>
#include "platform.h"
#include "tables.h"
#include "ext_rangecoder.h"

typedef struct {
    uint16_t p;
    uint16_t n;
} ExtContext;

typedef struct {
    ExtContext* ctx;              /* NUM_EXT_CONTEXTS */
    int32_t (*w)[3];              /* NUM_WEIGHT_SETS */
} ExtModel;

DFC_INLINE void ext_model_init(ExtModel* m) {
    for (int i = 0; i < NUM_EXT_CONTEXTS; i++) {
        m->ctx[i].p = PROB_INIT;
        m->ctx[i].n = 0;
    }
    for (int i = 0; i < NUM_WEIGHT_SETS; i++) {
        m->w[i][0] = m->w[i][1] = m->w[i][2] = WEIGHT_INIT;
    }
}

/* SPEC §11.8: p moves toward PROB_MAX or PROB_MIN by EXT_RATE[n] / 65536 (1 / (n + 2)
 * while warming up, then 1 / 2^RATE_SHIFT), so it never leaves the range coder's bounds. */
DFC_ALWAYS_INLINE void ext_update(ExtContext* c, int bin) {
    int32_t target = bin ? PROB_MAX : PROB_MIN;
    int32_t n = c->n;
    c->p = (uint16_t)(c->p + (((target - (int32_t)c->p) * EXT_RATE[n]) >> 16));
    c->n = (uint16_t)(n + (n < EXT_COUNT_LIMIT));
}

/* One decision of set S alone (setting 1, and the unmixed decisions). */
DFC_ALWAYS_INLINE int ext_decode_single(RangeDecoder* d, ExtContext* s) {
    int bin = rd_decode_bin(d, s->p);
    ext_update(s, bin);
    return bin;
}

DFC_ALWAYS_INLINE void ext_encode_single(RangeEncoder* e, ExtContext* s, int bin) {
    re_encode_bin(e, bin, s->p);
    ext_update(s, bin);
}

/* SPEC §11.9: the mixed probability of a 1, in 1/4096. */
DFC_ALWAYS_INLINE int ext_mix(const int32_t* w, int st0, int st1, int st2) {
    int64_t dot = ((int64_t)w[0] * st0 + (int64_t)w[1] * st1 + (int64_t)w[2] * st2) >> 16;
    if (dot > STRETCH_LIMIT) dot = STRETCH_LIMIT;
    if (dot < -STRETCH_LIMIT) dot = -STRETCH_LIMIT;
    return EXT_SQUASH[dot + STRETCH_LIMIT];
}

DFC_ALWAYS_INLINE void ext_learn(int32_t* w, int st0, int st1, int st2, int p12, int bin,
                                 ExtContext* s, ExtContext* x, ExtContext* v) {
    int32_t err = ((bin << 12) - p12) * MIX_RATE;
    w[0] += (st0 * err) >> 16;
    w[1] += (st1 * err) >> 16;
    w[2] += (st2 * err) >> 16;
    ext_update(s, bin);
    ext_update(x, bin);
    ext_update(v, bin);
}

/* A mixed decision (setting 0). */
DFC_ALWAYS_INLINE int ext_decode_mixed(RangeDecoder* d, ExtContext* s, ExtContext* x, ExtContext* v,
                                       int32_t* w) {
    int st0 = EXT_STRETCH[s->p >> 4], st1 = EXT_STRETCH[x->p >> 4], st2 = EXT_STRETCH[v->p >> 4];
    int p12 = ext_mix(w, st0, st1, st2);
    int bin = rd_decode_bin(d, (uint32_t)p12 << 4);
    ext_learn(w, st0, st1, st2, p12, bin, s, x, v);
    return bin;
}

DFC_ALWAYS_INLINE void ext_encode_mixed(RangeEncoder* e, ExtContext* s, ExtContext* x, ExtContext* v,
                                        int32_t* w, int bin) {
    int st0 = EXT_STRETCH[s->p >> 4], st1 = EXT_STRETCH[x->p >> 4], st2 = EXT_STRETCH[v->p >> 4];
    int p12 = ext_mix(w, st0, st1, st2);
    re_encode_bin(e, bin, (uint32_t)p12 << 4);
    ext_learn(w, st0, st1, st2, p12, bin, s, x, v);
}

#endif
