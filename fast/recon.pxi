# Prediction and reconstruction, SPEC §6.2-6.4 and §6.8. Counterpart:
# reference/prediction.py (and the reconstruction loop of reference/decoder.py).
#
# The decoder reconstructs a block with one small function per kind of mode
# (reconstruct_pal, _hor, _ver, _fil): each walks the block in raster order, so
# every neighbour is known (SPEC §6.8), and stops at the first sample outside
# 0..L, returning its raster index y * 4 + x (and the sample in *bad), or -1.
# The encoder predicts every mode at once (block_residuals). A neighbour outside
# the tile is PalPred (SPEC §6.2); a prediction always lies in 0..L.

from libc.stdint cimport int32_t, uint16_t
from libc.string cimport memset


cdef inline int reconstruct_pal(uint16_t* row, Py_ssize_t width, int bw, int bh, int PalPred,
                                const int32_t* res, int level, int* bad) noexcept nogil:
    """SPEC §6.3 Pal: every sample is PalPred + residual."""
    cdef int x, y, sample
    for y in range(bh):
        for x in range(bw):
            sample = PalPred + res[y * 4 + x]
            if <unsigned int>sample > <unsigned int>level:
                bad[0] = sample
                return y * 4 + x
            row[x] = <uint16_t>sample
        row += width
    return -1


cdef inline int reconstruct_hor(uint16_t* row, Py_ssize_t width, Py_ssize_t x0, int bw, int bh,
                                int PalPred, const int32_t* res, int level,
                                int* bad) noexcept nogil:
    """SPEC §6.3 Hor: each sample from its left neighbour (PalPred in the tile's
    first column); row is the block's top-left sample, x0 its tile column."""
    cdef int x, y, pred, sample
    for y in range(bh):
        pred = (row - 1)[0] if x0 > 0 else PalPred
        for x in range(bw):
            sample = pred + res[y * 4 + x]
            if <unsigned int>sample > <unsigned int>level:
                bad[0] = sample
                return y * 4 + x
            row[x] = <uint16_t>sample
            pred = sample
        row += width
    return -1


cdef inline int reconstruct_ver(uint16_t* row, Py_ssize_t width, Py_ssize_t y0, int bw, int bh,
                                int PalPred, const int32_t* res, int level,
                                int* bad) noexcept nogil:
    """SPEC §6.3 Ver: each sample from its top neighbour (PalPred in the tile's
    first row); y0 is the block's tile row."""
    cdef int x, y, pred, sample
    cdef uint16_t* above
    for y in range(bh):
        above = row - width
        for x in range(bw):
            pred = above[x] if y0 + y > 0 else PalPred
            sample = pred + res[y * 4 + x]
            if <unsigned int>sample > <unsigned int>level:
                bad[0] = sample
                return y * 4 + x
            row[x] = <uint16_t>sample
        row += width
    return -1


cdef inline int reconstruct_fil(uint16_t* row, Py_ssize_t width, Py_ssize_t x0, Py_ssize_t y0,
                                int bw, int bh, int mode, int PalPred, const int32_t* res,
                                int level, int* bad) noexcept nogil:
    """SPEC §6.4 filter modes: (wTL * N(x-1, y-1) + wT * N(x, y-1) + wL * N(x-1, y)
    + 16) >> 5 with the mode's weights (Table 7)."""
    cdef int x, y, left, top, topleft, pred, sample
    cdef int w_tl = FILTER_TAPS[mode][0]
    cdef int w_t = FILTER_TAPS[mode][1]
    cdef int w_l = FILTER_TAPS[mode][2]
    cdef uint16_t* above
    for y in range(bh):
        above = row - width
        for x in range(bw):
            left = row[x - 1] if x0 + x > 0 else PalPred
            if y0 + y > 0:
                top = above[x]
                topleft = above[x - 1] if x0 + x > 0 else PalPred
            else:
                top = PalPred
                topleft = PalPred
            pred = (w_tl * topleft + w_t * top + w_l * left + 16) >> 5
            sample = pred + res[y * 4 + x]
            if <unsigned int>sample > <unsigned int>level:
                bad[0] = sample
                return y * 4 + x
            row[x] = <uint16_t>sample
        row += width
    return -1


cdef inline int reconstruct_block(uint16_t* tile, Py_ssize_t width, Py_ssize_t bx, Py_ssize_t by,
                                  int bw, int bh, int mode, int PalPred, const int32_t* res,
                                  int level, int* bad) noexcept nogil:
    """SPEC §6.8: sample = Pred(mode, x, y) + residual over block (bx, by) of the
    tile; res in raster order. Returns -1, or the raster index of the first
    sample outside 0..L (that sample in *bad)."""
    cdef Py_ssize_t x0 = 4 * bx, y0 = 4 * by
    cdef uint16_t* row = tile + y0 * width + x0
    if mode == MODE_PAL:
        return reconstruct_pal(row, width, bw, bh, PalPred, res, level, bad)
    if mode == MODE_HOR:
        return reconstruct_hor(row, width, x0, bw, bh, PalPred, res, level, bad)
    if mode == MODE_VER:
        return reconstruct_ver(row, width, y0, bw, bh, PalPred, res, level, bad)
    return reconstruct_fil(row, width, x0, y0, bw, bh, mode, PalPred, res, level, bad)


cdef inline void block_residuals(const uint16_t* tile, Py_ssize_t width, Py_ssize_t bx,
                                 Py_ssize_t by, int bw, int bh, int PalPred,
                                 int32_t res[][BLOCK_AREA]) noexcept nogil:
    """SPEC §6.3-6.4 prediction in every mode at once, for the encoder:
    res[mode][y * 4 + x] = sample - prediction, 0 outside the bw x bh block.
    Prediction from the original samples equals the decoder's, which predicts
    from reconstructed ones: dfc is lossless on the quantized values (SPEC §6.2)."""
    # nb[1 + y][1 + x] = sample (x, y) of the block; row 0 and column 0 hold the
    # samples above and left of it, or PalPred outside the tile. Then each mode is
    # a fixed pattern of whole-block arithmetic, which vectorizes.
    cdef int32_t nb[BLOCK_SIZE + 1][BLOCK_SIZE + 1]
    cdef int32_t sv
    cdef int x, y, i
    cdef Py_ssize_t x0 = 4 * bx, y0 = 4 * by
    cdef const uint16_t* row
    cdef int fa0 = FILTER_TAPS[MODE_FIL_A][0], fa1 = FILTER_TAPS[MODE_FIL_A][1]
    cdef int fa2 = FILTER_TAPS[MODE_FIL_A][2], fb0 = FILTER_TAPS[MODE_FIL_B][0]
    cdef int fb1 = FILTER_TAPS[MODE_FIL_B][1], fb2 = FILTER_TAPS[MODE_FIL_B][2]
    cdef int32_t* r_pal = res[MODE_PAL]
    cdef int32_t* r_hor = res[MODE_HOR]
    cdef int32_t* r_ver = res[MODE_VER]
    cdef int32_t* r_fa = res[MODE_FIL_A]
    cdef int32_t* r_fb = res[MODE_FIL_B]
    if bw < 4 or bh < 4:
        memset(nb, 0, sizeof(nb))  # the samples outside the block: masked below
    if by > 0:
        row = tile + (y0 - 1) * width
        nb[0][0] = row[x0 - 1] if bx > 0 else PalPred
        for x in range(bw):
            nb[0][1 + x] = row[x0 + x]
    else:
        for x in range(BLOCK_SIZE + 1):
            nb[0][x] = PalPred
    for y in range(bh):
        row = tile + (y0 + y) * width
        nb[1 + y][0] = row[x0 - 1] if bx > 0 else PalPred
        for x in range(bw):
            nb[1 + y][1 + x] = row[x0 + x]
    for y in range(4):
        for x in range(4):
            i = 4 * y + x
            sv = nb[1 + y][1 + x]
            r_pal[i] = sv - PalPred
            r_hor[i] = sv - nb[1 + y][x]
            r_ver[i] = sv - nb[y][1 + x]
            r_fa[i] = sv - ((fa0 * nb[y][x] + fa1 * nb[y][1 + x] + fa2 * nb[1 + y][x] + 16) >> 5)
            r_fb[i] = sv - ((fb0 * nb[y][x] + fb1 * nb[y][1 + x] + fb2 * nb[1 + y][x] + 16) >> 5)
    if bw < 4 or bh < 4:
        for y in range(4):
            for x in range(4):
                if x >= bw or y >= bh:
                    i = 4 * y + x
                    r_pal[i] = 0
                    r_hor[i] = 0
                    r_ver[i] = 0
                    r_fa[i] = 0
                    r_fb[i] = 0
