# The palette: SPEC §5.4 update_palette (both directions) and the encoder's
# choices, SPEC §8.2 (the palette) and §8.3 (palette_idx). Counterpart:
# reference/palette.py.
#
# PaletteOrder holds the palette values in their current order. PaletteCount is
# indexed by a value's slot in the header's order, which never changes, and
# slot_of (NUM_LEVELS bytes) maps a sample value to its slot, or to
# MAX_PALETTE_SIZE for a value outside the palette: counting a tile is then one
# table load per sample.

from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t
from libc.string cimport memset


cdef inline void set_palette_slots(uint8_t* slot_of, const uint16_t* PaletteOrder,
                                   int palette_size) noexcept nogil:
    """slot_of[value] = the value's index in PaletteOrder, MAX_PALETTE_SIZE for
    every other value."""
    cdef int j
    memset(slot_of, MAX_PALETTE_SIZE, NUM_LEVELS)
    for j in range(palette_size):
        slot_of[PaletteOrder[j]] = <uint8_t>j


cdef inline void count_palette_values(const uint16_t* tile, Py_ssize_t n, const uint8_t* slot_of,
                                      int64_t* counts) noexcept nogil:
    """SPEC §5.4: adds each palette value's occurrences in the tile to counts
    (indexed by slot)."""
    cdef Py_ssize_t i
    cdef int64_t local[4][MAX_PALETTE_SIZE + 1]  # 4 interleaved histograms: a run of
    memset(local, 0, sizeof(local))               # equal values would otherwise wait on each add
    i = 0
    while i + 4 <= n:
        local[0][slot_of[tile[i]]] += 1
        local[1][slot_of[tile[i + 1]]] += 1
        local[2][slot_of[tile[i + 2]]] += 1
        local[3][slot_of[tile[i + 3]]] += 1
        i += 4
    while i < n:
        local[0][slot_of[tile[i]]] += 1
        i += 1
    for i in range(MAX_PALETTE_SIZE):
        counts[i] += local[0][i] + local[1][i] + local[2][i] + local[3][i]


cdef inline void sort_palette(uint16_t* PaletteOrder, int palette_size, const int64_t* counts,
                              const uint8_t* slot_of) noexcept nogil:
    """SPEC §5.4: stable sort of PaletteOrder by descending count (insertion sort:
    at most MAX_PALETTE_SIZE entries)."""
    cdef int i, j
    cdef uint16_t v
    cdef int64_t key
    for i in range(1, palette_size):
        v = PaletteOrder[i]
        key = counts[slot_of[v]]
        j = i - 1
        while j >= 0 and counts[slot_of[PaletteOrder[j]]] < key:
            PaletteOrder[j + 1] = PaletteOrder[j]
            j -= 1
        PaletteOrder[j + 1] = v


cdef inline void update_palette(const uint16_t* tile, Py_ssize_t n, const uint8_t* slot_of,
                                int64_t* PaletteCount, uint16_t* PaletteOrder,
                                int palette_size) noexcept nogil:
    """SPEC §5.4 update_palette(c) after tile c: the running counts, then the re-sort."""
    count_palette_values(tile, n, slot_of, PaletteCount)
    sort_palette(PaletteOrder, palette_size, PaletteCount, slot_of)


# --- the encoder's choices ---------------------------------------------------------

cdef int select_palette(const uint32_t* hist, int level, uint16_t* palette) noexcept nogil:
    """SPEC §8.2: up to MAX_PALETTE_SIZE most frequent values (hist counts the
    whole tensor), most frequent first, ties to the smaller value. Returns the
    palette size."""
    cdef int n = 0
    cdef int v, j
    cdef uint32_t cnt
    cdef uint32_t counts[MAX_PALETTE_SIZE]
    for v in range(level + 1):
        cnt = hist[v]
        if cnt == 0:
            continue
        if n == MAX_PALETTE_SIZE and cnt <= counts[MAX_PALETTE_SIZE - 1]:
            continue
        j = n if n < MAX_PALETTE_SIZE else MAX_PALETTE_SIZE - 1
        # values arrive in increasing order: an equal count stays behind
        while j > 0 and counts[j - 1] < cnt:
            if j < MAX_PALETTE_SIZE:
                counts[j] = counts[j - 1]
                palette[j] = palette[j - 1]
            j -= 1
        counts[j] = cnt
        palette[j] = <uint16_t>v
        if n < MAX_PALETTE_SIZE:
            n += 1
    return n


cdef int initial_palette_order(const uint16_t* first_tile, Py_ssize_t tile_size,
                               const uint32_t* hist, int level, uint16_t* PaletteOrder,
                               uint8_t* slot_of) noexcept nogil:
    """SPEC §8.2: the header's palette, select_palette() re-sorted (stable) by count
    in tile 0; slot_of is left set for that order. Returns palette_size."""
    cdef int64_t counts[MAX_PALETTE_SIZE]
    cdef int palette_size = select_palette(hist, level, PaletteOrder)
    set_palette_slots(slot_of, PaletteOrder, palette_size)
    memset(counts, 0, sizeof(counts))
    count_palette_values(first_tile, tile_size, slot_of, counts)
    sort_palette(PaletteOrder, palette_size, counts, slot_of)
    set_palette_slots(slot_of, PaletteOrder, palette_size)
    return palette_size


cdef int64_t tile_sad(const uint16_t* tile, Py_ssize_t n, int value) noexcept nogil:
    """SPEC §8.3: the sum of |sample - value| over the tile. Summed in uint32
    over runs of 65536 samples (each term <= 65535, so a run cannot overflow),
    which the compiler vectorizes."""
    cdef int64_t total = 0
    cdef uint32_t part
    cdef int32_t d
    cdef Py_ssize_t i = 0, j, end
    while i < n:
        end = i + 65536 if n - i > 65536 else n
        part = 0
        for j in range(i, end):
            d = <int32_t>tile[j] - value
            part += <uint32_t>(d if d >= 0 else -d)
        total += part
        i = end
    return total


cdef int choose_palette_idx(const uint16_t* tile, Py_ssize_t n, const uint16_t* PaletteOrder,
                            int palette_size) noexcept nogil:
    """SPEC §8.3: the index j of PaletteOrder with the least SAD over the tile,
    the smallest on ties."""
    cdef int64_t sad[MAX_PALETTE_SIZE]
    cdef int j, best_j = 0
    for j in range(palette_size):
        sad[j] = tile_sad(tile, n, PaletteOrder[j])
    for j in range(1, palette_size):
        if sad[j] < sad[best_j]:
            best_j = j
    return best_j
