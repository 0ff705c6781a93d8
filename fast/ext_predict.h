/* Profile 1's neighbourhood and predictor: SPEC §11.3-§11.4.
 * The counterpart of reference/ext_predict.py.
 */
#ifndef DFC_EXT_PREDICT_H
#define DFC_EXT_PREDICT_H

#include <stdint.h>
#include "platform.h"
#include "tables.h"

/* SPEC §11.3: the causal neighbours of a sample after the edge rules. */
typedef struct {
    int32_t W, N, NW, NE, NN, WW, NNE;
} ExtNeighbours;

DFC_ALWAYS_INLINE void ext_neighbours(const uint16_t* row, int64_t x, int64_t y, int64_t width,
                                      ExtNeighbours* nb) {
    if (DFC_LIKELY(x > 1 && y > 1 && x + 1 < width)) {
        nb->W = row[x - 1];
        nb->N = row[x - width];
        nb->NW = row[x - width - 1];
        nb->NE = row[x - width + 1];
        nb->NN = row[x - 2 * width];
        nb->WW = row[x - 2];
        nb->NNE = row[x - 2 * width + 1];
        return;
    }
    nb->W = x > 0 ? row[x - 1] : (y > 0 ? row[x - width] : 0);
    nb->N = y > 0 ? row[x - width] : nb->W;
    nb->NW = (x > 0 && y > 0) ? row[x - width - 1] : nb->W;
    nb->NE = (y > 0 && x + 1 < width) ? row[x - width + 1] : nb->N;
    nb->NN = y > 1 ? row[x - 2 * width] : nb->N;
    nb->WW = x > 1 ? row[x - 2] : nb->W;
    nb->NNE = (y > 1 && x + 1 < width) ? row[x - 2 * width + 1] : nb->NE;
}

DFC_ALWAYS_INLINE int32_t ext_abs(int32_t v) { return v < 0 ? -v : v; }

DFC_ALWAYS_INLINE int32_t ext_unfold(int32_t v, int32_t zb) {
    return v >= zb ? v : zb - ((zb - v) << UNFOLD_SHIFT);
}

/* SPEC §11.4 predict: t1..t3 are GAP_THRESHOLDS at n bits; BAND is zb > 0. */
DFC_ALWAYS_INLINE int32_t ext_predict(const ExtNeighbours* nb, int32_t zb, int32_t L, int32_t t1,
                                      int32_t t2, int32_t t3, const int BAND) {
    int32_t W = nb->W, N = nb->N, NW = nb->NW, NE = nb->NE, NN = nb->NN, WW = nb->WW, NNE = nb->NNE;
    if (BAND) {
        W = ext_unfold(W, zb); N = ext_unfold(N, zb); NW = ext_unfold(NW, zb);
        NE = ext_unfold(NE, zb); NN = ext_unfold(NN, zb); WW = ext_unfold(WW, zb);
        NNE = ext_unfold(NNE, zb);
    }
    int32_t dh = ext_abs(W - WW) + ext_abs(N - NW) + ext_abs(N - NE);
    int32_t dv = ext_abs(W - NW) + ext_abs(N - NN) + ext_abs(NE - NNE);
    int32_t g = dv - dh, P;
    if (g > t1) {
        P = W;
    } else if (-g > t1) {
        P = N;
    } else {
        int32_t t = 4 * (W + N) + (NE - NW);
        if (g > t2) t = (t + 8 * W) >> 1;
        else if (g > t3) t = (3 * t + 8 * W) >> 2;
        else if (-g > t2) t = (t + 8 * N) >> 1;
        else if (-g > t3) t = (3 * t + 8 * N) >> 2;
        P = (t + 4) >> 3;
    }
    if (BAND) {
        if (P >= zb) return P < L ? P : L;
        P = zb - ((zb - P + (1 << (UNFOLD_SHIFT - 1))) >> UNFOLD_SHIFT);
        return P > 0 ? P : 0;
    }
    return P < 0 ? 0 : (P > L ? L : P);
}

#endif
