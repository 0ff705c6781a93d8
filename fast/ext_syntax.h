/* Profile 1's payload: SPEC §11.2, §11.5-§11.7. The counterpart of
 * reference/ext_syntax.py.
 *
 * One function, ext_code_sample(), codes or decodes a sample: written once for
 * both directions (ENC), both settings (MIX: setting 0 mixes three contexts)
 * and both band modes (BAND: zb > 0), and specialized by those constants, so
 * that the encoder and the decoder cannot drift apart and each runs only the
 * code of its case. ext_encode_payload() and ext_decode_payload() pick the case.
 */
#ifndef DFC_EXT_SYNTAX_H
#define DFC_EXT_SYNTAX_H

#include <stdint.h>
#include <string.h>
#include "platform.h"
#include "tables.h"
#include "ext_rangecoder.h"
#include "ext_model.h"
#include "ext_predict.h"

/* Decoder errors of profile 1 (SPEC §9, Table 10). */
enum {
    EXT_OK = 0,
    EXT_ERR_OVERRUN = 1,        /* payload_overrun */
    EXT_ERR_PREFIX = 2,         /* remainder_prefix_too_long */
    EXT_ERR_DEPTH = 3,          /* residual_out_of_range: band depth beyond zb */
    EXT_ERR_MAGNITUDE = 4,      /* residual_out_of_range: magnitude beyond its maximum */
    EXT_ERR_FINAL_CODE = 5,     /* bad_final_code */
    EXT_ERR_UNUSED = 6,         /* payload_unused_bytes */
    EXT_ERR_NOMEM = 7
};

typedef struct {
    int code;
    int64_t offset;    /* bytes from the start of the payload */
    int64_t v[2];      /* details for the message */
} ExtError;

/* SPEC §11.2: what the header fixes, and what is derived from it once. */
typedef struct {
    int32_t n, L, qz, zb, setting, split_offset;
    int32_t k;                   /* Max(n - 8, 0) */
    int32_t lsh, rsh;            /* norm8(v) = (v << lsh) >> rsh */
    int32_t t1, t2, t3;          /* GAP_THRESHOLDS at n bits */
    int64_t channels, height, width;
} ExtParams;

DFC_INLINE void ext_params_derive(ExtParams* p) {
    int32_t thresholds[3] = {GAP_T1, GAP_T2, GAP_T3};
    int32_t* out[3] = {&p->t1, &p->t2, &p->t3};
    p->L = (1 << p->n) - 1;
    p->k = p->n > 8 ? p->n - 8 : 0;
    p->lsh = p->n < 8 ? 8 - p->n : 0;
    p->rsh = p->n > 8 ? p->n - 8 : 0;
    for (int i = 0; i < 3; i++)
        *out[i] = p->n >= 8 ? thresholds[i] << (p->n - 8) : thresholds[i] >> (8 - p->n);
}

/* The coder of one direction: exactly one of enc, dec is used. */
typedef struct {
    RangeEncoder* enc;
    RangeDecoder* dec;
    ExtModel* m;
    const ExtParams* p;
} ExtCoder;

/* SPEC §11.5 norm8; N8 (n = 8, the common case) makes it the identity at compile time. */
#define ext_norm8(p, v) (N8 ? (v) : (((v) << (p)->lsh) >> (p)->rsh))

DFC_ALWAYS_INLINE int32_t ext_class_act(int32_t v) { return v >= 64 ? 7 : EXT_QC_ACT[v]; }
DFC_ALWAYS_INLINE int32_t ext_class_depth(int32_t v) { return v >= 16 ? 8 : EXT_QC_DEPTH[v]; }

/* One decision with contexts S (and X, V and weight set ws when mixed). In the
 * decoder ``bin`` is ignored and the decoded bin returned. */
DFC_ALWAYS_INLINE int ext_bin(ExtCoder* c, int bin, ExtContext* s, ExtContext* x, ExtContext* v,
                              int32_t* w, const int ENC, const int MIX) {
    if (MIX) {
        if (ENC) {
            ext_encode_mixed(c->enc, s, x, v, w, bin);
            return bin;
        }
        return ext_decode_mixed(c->dec, s, x, v, w);
    }
    if (ENC) {
        ext_encode_single(c->enc, s, bin);
        return bin;
    }
    return ext_decode_single(c->dec, s);
}

DFC_ALWAYS_INLINE int ext_bin_single(ExtCoder* c, int bin, ExtContext* s, const int ENC) {
    if (ENC) {
        ext_encode_single(c->enc, s, bin);
        return bin;
    }
    return ext_decode_single(c->dec, s);
}

DFC_ALWAYS_INLINE int32_t ext_floor_log2(uint32_t v) { return 31 - DFC_CLZ32(v); }  /* v >= 1 */

/* SPEC §11.6 escape: Exp-Golomb of order 0, the prefix bin j on s[Min(j, cap)].
 * Returns the value, or -1 after MAX_EG_PREFIX + 1 ones. */
DFC_ALWAYS_INLINE int32_t ext_escape(ExtCoder* c, int32_t value, ExtContext* s, int32_t cap,
                                     const int ENC) {
    int32_t g = 0;
    if (ENC) {
        int32_t ones = ext_floor_log2((uint32_t)value + 1);
        for (g = 0; g < ones; g++) ext_bin_single(c, 1, s + (g < cap ? g : cap), 1);
        ext_bin_single(c, 0, s + (g < cap ? g : cap), 1);
        re_encode_bits(c->enc, (uint32_t)(value + 1 - (1 << g)), g);
        return value;
    }
    while (ext_bin_single(c, 0, s + (g < cap ? g : cap), 0)) {
        if (++g > MAX_EG_PREFIX) return -1;
    }
    return (int32_t)((1u << g) + rd_decode_bits(c->dec, g)) - 1;
}

/* SPEC §11.6 ext_sample(x, y) of tile row pointers; returns the sample, or a
 * negative error (the decoder). e and xe are the residual and cross-channel maps
 * at the sample; first is 1 in channel 0. */
DFC_ALWAYS_INLINE int32_t ext_code_sample(ExtCoder* c, uint16_t* row, int32_t* erow, int32_t* xerow,
                                          int64_t x, int64_t y, int first, int32_t* P_out, ExtError* err,
                                          const int ENC, const int MIX, const int BAND, const int N8) {
    const ExtParams* p = c->p;
    ExtContext* ctx = c->m->ctx;
    int64_t width = p->width;
    int32_t L = p->L, zb = BAND ? p->zb : 0, qz = p->qz;
    ExtNeighbours nb;
    ext_neighbours(row, x, y, width, &nb);
    int32_t eW = x > 0 ? erow[x - 1] : 0;
    int32_t eN = y > 0 ? erow[x - width] : 0;
    int32_t eNW = (x > 0 && y > 0) ? erow[x - width - 1] : 0;
    int32_t eNE = (y > 0 && x + 1 < width) ? erow[x - width + 1] : 0;
    int32_t P = ext_predict(&nb, zb, L, p->t1, p->t2, p->t3, BAND);
    *P_out = P;

    /* SPEC §11.5 features */
    int32_t aeW = ext_abs(eW), aeN = ext_abs(eN), aeNW = ext_abs(eNW), aeNE = ext_abs(eNE);
    int32_t ae = 2 * (aeW + aeN) + aeNW + aeNE;
    int32_t a0 = ae + ext_abs(nb.W - nb.NW) + ext_abs(nb.N - nb.NW) + ext_abs(nb.NE - nb.N);
    int32_t xe = first ? 0 : xerow[x];
    int32_t ac = ext_class_act(ext_norm8(p, a0 + (xe >> 2)));
    int32_t xc = MIX ? ext_class_act(ext_norm8(p, xe >> 2)) : 0;
    int32_t pc = (!BAND || P >= zb) ? ext_class_act(ext_norm8(p, P - zb))
                                    : 8 + ext_class_act(ext_norm8(p, zb - P));
    int32_t nz = (nb.W <= zb) + (nb.N <= zb) + (nb.NW <= zb) + (nb.NE <= zb);
    int32_t a08 = ext_norm8(p, a0);
    int32_t wsb = ((a08 >= A0_T1) + (a08 >= A0_T2) + (a08 >= A0_T3)) * NUM_MIX_OFFSETS;
    int32_t (*w)[3] = c->m->w;
    int32_t value = ENC ? row[x] : 0;

    /* in_band */
    int32_t npc = (nz * 16 + pc) * 8;
    int32_t vband = 0;
    if (BAND) {
        int32_t d = P - zb;
        vband = (d < BAND_DIFF_MIN ? BAND_DIFF_MIN : (d > BAND_DIFF_MAX ? BAND_DIFF_MAX : d)) - BAND_DIFF_MIN;
    }
    if (ext_bin(c, value <= zb, ctx + S_BAND + npc + ac, ctx + X_BAND + npc + xc, ctx + V_BAND + vband,
                w[(wsb + MIX_OFF_BAND) * 2], ENC, MIX)) {
        if (!BAND) return 0;
        /* band_depth */
        int32_t depth = zb - value;
        int32_t dP = zb > P ? zb - P : 0;
        int32_t dc = ext_class_depth(ext_norm8(p, dP));
        int32_t dW = zb > nb.W ? zb - nb.W : 0, dN = zb > nb.N ? zb - nb.N : 0;
        int32_t dNW = zb > nb.NW ? zb - nb.NW : 0, dNE = zb > nb.NE ? zb - nb.NE : 0;
        int32_t dmean = (2 * (dW + dN) + dNW + dNE + 3) / 6;
        int32_t dn = ext_class_depth(ext_norm8(p, dmean));
        int32_t kd = 0;  /* low bits of the depth at probability one half */
        if (p->split_offset > 0) {
            int32_t t = ext_floor_log2((uint32_t)ext_norm8(p, dmean) + 1) - (p->split_offset - DEPTH_SPLIT_BIAS);
            kd = t > 0 ? t : 0;
        }
        int32_t dh = depth >> kd, zbh = zb >> kd;
        ExtContext* sD = ctx + S_DEPTH + ((dc * 5 + nz) * 8 + ac) * 8;
        ExtContext* xD = ctx + X_DEPTH + (dn * 8 + xc) * 8;
        ExtContext* vD = ctx + V_DEPTH + (dP < BAND_VALUE_CAP ? dP : BAND_VALUE_CAP) * 16;
        int32_t limit = zbh < UNARY_LIMIT ? zbh : UNARY_LIMIT, d = 0;
        while (d < limit) {
            int32_t ib = d < BAND_CTX_CAP ? d : BAND_CTX_CAP;
            if (!ext_bin(c, dh > d, sD + ib, xD + ib, vD + (d < BAND_VALUE_CAP ? d : BAND_VALUE_CAP),
                         w[(wsb + MIX_OFF_DEPTH + ib) * 2], ENC, MIX))
                break;
            d++;
        }
        if (d == UNARY_LIMIT && zbh > UNARY_LIMIT) {
            int32_t r = ext_escape(c, dh - UNARY_LIMIT, ctx + S_DEPTH_EG, BAND_EG_CTX_CAP, ENC);
            if (!ENC) {
                if (r < 0) {
                    err->code = EXT_ERR_PREFIX;
                    return -1;
                }
                d += r;
            }
        }
        if (ENC) re_encode_bits(c->enc, (uint32_t)(depth & ((1 << kd) - 1)), kd);
        else {
            d = (int32_t)(((uint32_t)d << kd) | rd_decode_bits(c->dec, kd));
            if (d > zb) {
                err->code = EXT_ERR_DEPTH;
                err->v[0] = d;
                err->v[1] = zb;
                return -1;
            }
        }
        return ENC ? value : zb - d;
    }

    /* at_prediction */
    int32_t Pp = P > zb ? P : zb + 1;
    int32_t nq = (!BAND && qz > 0) ? (nb.W == qz) + (nb.N == qz) + (nb.NW == qz) + (nb.NE == qz) : 0;
    int zl = !BAND && qz > 0 && Pp == qz;
    if (ext_bin(c, value == Pp, ctx + (zl ? S_ZERO_LEVEL + nq * 3 : S_ZERO + ac * 16 + pc),
                ctx + X_ZERO + xc * 16 + pc, ctx + V_ZERO + ext_norm8(p, Pp),
                w[(wsb + MIX_OFF_ZERO) * 2 + zl], ENC, MIX))
        return Pp;

    /* below_prediction */
    int below;
    if (zb + 1 < Pp && Pp < L) {
        int32_t sW = eW < 0 ? 0 : (eW == 0 ? 1 : 2), sN = eN < 0 ? 0 : (eN == 0 ? 1 : 2);
        below = ext_bin_single(c, value < Pp, ctx + S_SIGN + (ac * 16 + pc) * 9 + sW * 3 + sN, ENC);
    } else {
        below = Pp == L;
    }

    /* magnitude */
    int32_t mmax = below ? Pp - zb - 2 : L - 1 - Pp;
    int32_t m = ENC ? ext_abs(value - Pp) - 1 : 0;
    int32_t kk = p->k;
    if (p->split_offset > 0) {
        int32_t s = ext_floor_log2((uint32_t)ext_norm8(p, ae) + 1) - p->split_offset;
        kk += s > 0 ? s : 0;
    }
    int32_t high = m >> kk, maxh = mmax >> kk;
    int32_t limit = maxh < UNARY_LIMIT ? maxh : UNARY_LIMIT;
    int32_t step = below ? -(1 << kk) : (1 << kk);
    /* the unary bin whose candidate is the zero level, if any (SPEC §11.7) */
    int32_t jz = -1;
    if (!BAND && qz > 0) {
        int32_t dist = below ? Pp - qz : qz - Pp;
        if (dist > 0 && (dist & ((1 << kk) - 1)) == 0) jz = (dist >> kk) - 1;
    }
    ExtContext* sU = ctx + S_UNARY + ((ac * 16 + pc) * 2 + below) * 6;
    ExtContext* xU = ctx + X_UNARY + ((xc * 16 + pc) * 2 + below) * 6;
    ExtContext* vU = ctx + V_UNARY + below;
    int32_t wU = (wsb + MIX_OFF_UNARY + below * 6) * 2;
    int32_t h = 0, vc = Pp;
    while (h < limit) {
        int32_t iu = h < UNARY_CTX_CAP ? h : UNARY_CTX_CAP;
        vc += step;
        int bin;
        if (DFC_UNLIKELY(h == jz)) {
            bin = ext_bin(c, high > h, ctx + S_ZERO_LEVEL + nq * 3 + 1 + below, xU + iu,
                          vU + ext_norm8(p, vc) * 2, w[wU + iu * 2 + 1], ENC, MIX);
        } else {
            bin = ext_bin(c, high > h, sU + iu, xU + iu, vU + ext_norm8(p, vc) * 2, w[wU + iu * 2],
                          ENC, MIX);
        }
        if (!bin) break;
        h++;
    }
    if (h == UNARY_LIMIT && maxh > UNARY_LIMIT) {
        int32_t r = ext_escape(c, high - UNARY_LIMIT, ctx + S_EG + ((ac * 16 + pc) * 2 + below) * 20,
                               EG_CTX_CAP, ENC);
        if (!ENC && r < 0) {
            err->code = EXT_ERR_PREFIX;
            return -1;
        }
        h += r;
    }
    if (ENC) {
        re_encode_bits(c->enc, (uint32_t)(m & ((1 << kk) - 1)), kk);
        return value;
    }
    m = (int32_t)(((uint32_t)h << kk) | rd_decode_bits(c->dec, kk));
    if (DFC_UNLIKELY(m > mmax || m < 0)) {
        err->code = EXT_ERR_MAGNITUDE;
        err->v[0] = m;
        err->v[1] = mmax;
        return -1;
    }
    return below ? Pp - 1 - m : Pp + 1 + m;
}

/* SPEC §11.2 ext_tile(c): the samples in raster order; the maps after each. */
DFC_ALWAYS_INLINE int ext_code_tile(ExtCoder* c, uint16_t* tile, int32_t* e, int32_t* xe, int first,
                                    ExtError* err, const int ENC, const int MIX, const int BAND,
                                    const int N8) {
    int64_t width = c->p->width, height = c->p->height;
    for (int64_t y = 0; y < height; y++) {
        uint16_t* row = tile + y * width;
        int32_t* erow = e + y * width;
        int32_t* xerow = xe + y * width;
        for (int64_t x = 0; x < width; x++) {
            int32_t P;
            int32_t v = ext_code_sample(c, row, erow, xerow, x, y, first, &P, err, ENC, MIX, BAND, N8);
            if (!ENC) {
                if (DFC_UNLIKELY(v < 0)) return -1;
                row[x] = (uint16_t)v;
            }
            /* SPEC §11.5: the residual and cross-channel maps */
            int32_t ev = v - P;
            erow[x] = ev;
            int32_t ae = 16 * ext_abs(ev);
            xerow[x] = first ? ae : xerow[x] + ((ae - xerow[x]) >> 4);
        }
    }
    return 0;
}

/* The cases of each direction: SPEC §11.1 setting, §11.2 band level, and n = 8 or not. */
#define DFC_EXT_TILE(name, ENC, MIX, BAND, N8)                                              \
    static int name(ExtCoder* c, uint16_t* tile, int32_t* e, int32_t* xe, int first,      \
                    ExtError* err) {                                                        \
        return ext_code_tile(c, tile, e, xe, first, err, ENC, MIX, BAND, N8);               \
    }
DFC_EXT_TILE(ext_decode_tile_000, 0, 0, 0, 0)
DFC_EXT_TILE(ext_decode_tile_010, 0, 0, 1, 0)
DFC_EXT_TILE(ext_decode_tile_100, 0, 1, 0, 0)
DFC_EXT_TILE(ext_decode_tile_110, 0, 1, 1, 0)
DFC_EXT_TILE(ext_decode_tile_001, 0, 0, 0, 1)
DFC_EXT_TILE(ext_decode_tile_011, 0, 0, 1, 1)
DFC_EXT_TILE(ext_decode_tile_101, 0, 1, 0, 1)
DFC_EXT_TILE(ext_decode_tile_111, 0, 1, 1, 1)
DFC_EXT_TILE(ext_encode_tile_000, 1, 0, 0, 0)
DFC_EXT_TILE(ext_encode_tile_010, 1, 0, 1, 0)
DFC_EXT_TILE(ext_encode_tile_100, 1, 1, 0, 0)
DFC_EXT_TILE(ext_encode_tile_110, 1, 1, 1, 0)
DFC_EXT_TILE(ext_encode_tile_001, 1, 0, 0, 1)
DFC_EXT_TILE(ext_encode_tile_011, 1, 0, 1, 1)
DFC_EXT_TILE(ext_encode_tile_101, 1, 1, 0, 1)
DFC_EXT_TILE(ext_encode_tile_111, 1, 1, 1, 1)
#undef DFC_EXT_TILE

typedef int (*ExtTileFn)(ExtCoder*, uint16_t*, int32_t*, int32_t*, int, ExtError*);

DFC_INLINE ExtTileFn ext_tile_fn(const ExtParams* p, int enc) {
    static const ExtTileFn fns[2][2][2][2] = {
        {{{ext_decode_tile_000, ext_decode_tile_001}, {ext_decode_tile_010, ext_decode_tile_011}},
         {{ext_decode_tile_100, ext_decode_tile_101}, {ext_decode_tile_110, ext_decode_tile_111}}},
        {{{ext_encode_tile_000, ext_encode_tile_001}, {ext_encode_tile_010, ext_encode_tile_011}},
         {{ext_encode_tile_100, ext_encode_tile_101}, {ext_encode_tile_110, ext_encode_tile_111}}},
    };
    return fns[enc != 0][p->setting == SETTING_MIXING][p->zb > 0][p->n == 8];
}

/* SPEC §11.2 ext_payload(), read, then the end of the range code (SPEC §11.10).
 * e and xe: scratch of height * width; returns 0 or -1 with err filled in. */
static int ext_decode_payload(const uint8_t* data, int64_t size, uint16_t* out, const ExtParams* p,
                              ExtModel* m, int32_t* e, int32_t* xe, ExtError* err) {
    RangeDecoder dec;
    ExtCoder c;
    int64_t plane = p->height * p->width;
    ExtTileFn tile_fn = ext_tile_fn(p, 0);
    rd_init(&dec, data, data + size);
    c.enc = NULL;
    c.dec = &dec;
    c.m = m;
    c.p = p;
    ext_model_init(m);
    for (int64_t ch = 0; ch < p->channels; ch++) {
        memset(e, 0, (size_t)plane * sizeof(int32_t));
        if (tile_fn(&c, out + ch * plane, e, xe, ch == 0, err)) {
            err->offset = dec.pos - data;
            break;
        }
    }
    if (dec.overrun) {  /* the reference stopped at the first byte past the payload */
        err->code = EXT_ERR_OVERRUN;
        err->offset = size;
        return -1;
    }
    if (err->code != EXT_OK) return -1;
    if (dec.code != 0) {
        err->code = EXT_ERR_FINAL_CODE;
        err->offset = dec.pos - data;
        err->v[0] = dec.code;
        return -1;
    }
    if (dec.pos != dec.end) {
        err->code = EXT_ERR_UNUSED;
        err->offset = dec.pos - data;
        err->v[0] = dec.end - dec.pos;
        return -1;
    }
    return 0;
}

/* SPEC §11.2 ext_payload(), written into enc (initialized by the caller). */
static int ext_encode_payload(const uint16_t* q, RangeEncoder* enc, const ExtParams* p, ExtModel* m,
                              int32_t* e, int32_t* xe) {
    ExtCoder c;
    ExtError err;
    int64_t plane = p->height * p->width;
    ExtTileFn tile_fn = ext_tile_fn(p, 1);
    memset(&err, 0, sizeof(err));
    c.enc = enc;
    c.dec = NULL;
    c.m = m;
    c.p = p;
    ext_model_init(m);
    for (int64_t ch = 0; ch < p->channels; ch++) {
        memset(e, 0, (size_t)plane * sizeof(int32_t));
        tile_fn(&c, (uint16_t*)q + ch * plane, e, xe, ch == 0, &err);
        if (enc->oom) return -1;
    }
    re_finish(enc);
    return enc->oom ? -1 : 0;
}

#endif
