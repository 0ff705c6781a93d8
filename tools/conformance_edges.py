"""The coverage-driven conformance vectors (SPEC.md Annex B): each header limit
from both sides, a truncation inside each header field, each pair of errors
whose order SPEC §3.5 and Table 10 fix, the payload limits, the largest
residual at every bit depth, the encoder readings of §4.2 and §8.4 that a
wrong encoder gets wrong, streams no reference encoder writes, and tensors
shaped like the paper's layers. make_conformance writes them with the others.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import numpy as np

from dfc.reference import encode
from dfc.reference.cabac import ArithmeticEncoder
from dfc.reference.ext_syntax import (
    ExtParams,
    ExtState,
    Features,
    in_band_decision,
    magnitude_decision,
    magnitude_escape_decision,
    write_band_depth,
    write_decision,
    write_escape,
    write_ext_payload,
    write_magnitude,
)
from dfc.reference.header import Header, frame_stream
from dfc.reference.quantizer import max_level, quantize, zero_level
from dfc.reference.rangecoder import RangeEncoder
from dfc.reference.syntax import write_abs_remaining
from dfc.reference.tables import (
    FORMAT_VERSION,
    MAX_DIMENSION,
    MAX_EG_PREFIX,
    MAX_REMAINDER_PREFIX,
    MAX_VALUES,
    PROFILE_EXTENDED,
    UNARY_LIMIT,
)

from .conformance_build import (
    Array,
    CraftedVector,
    ElementCounter,
    InvalidVector,
    ValidVector,
    above_prediction,
    base_stream,
    clear_final_bit,
    ext_base_stream,
    ext_one_sample,
    ext_vector,
    leaky_like,
    one_sample_stream,
    patch_header,
    relu_like,
    repo_real,
    residual_prefix,
    seeded,
    skipped_one_sample,
    with_payload,
)

U32 = struct.Struct(">I")
F32 = struct.Struct(">f")
NEG_ZERO = b"\x80\x00\x00\x00"


def _u32(*values: int) -> bytes:
    return b"".join(U32.pack(v) for v in values)


def _f32(*values: float) -> bytes:
    return b"".join(F32.pack(v) for v in values)


def _patched(*changes: tuple[int, bytes], fix_crc: bool = True, source: Callable[[], bytes] = base_stream,
             cut: int | None = None) -> Callable[[], bytes]:
    """A vector maker: ``source``'s stream with header bytes replaced, then cut."""
    def make() -> bytes:
        data = source()
        for offset, new in changes:
            data = patch_header(data, offset, new, fix_crc)
        return data if cut is None else data[:cut]
    return make


def _cut(length: int, source: Callable[[], bytes] = base_stream) -> Callable[[], bytes]:
    return lambda: source()[:length]


# --- header limits, both sides ------------------------------------------------------

def _header_limits() -> tuple[InvalidVector, ...]:
    over = MAX_DIMENSION + 1
    values_over = (17, 1, 15790321)  # 17 * 15790321 = MAX_VALUES + 1, each dimension allowed
    assert values_over[0] * values_over[2] == MAX_VALUES + 1 and values_over[2] <= MAX_DIMENSION
    return (
        InvalidVector("channels_0", "bad_dimensions", "channels is 0", "3.3", _patched((8, _u32(0)))),
        InvalidVector("width_0", "bad_dimensions", "width is 0", "3.3", _patched((16, _u32(0)))),
        InvalidVector("channels_above_limit", "bad_dimensions", "channels is MAX_DIMENSION + 1", "3.3",
                      _patched((8, _u32(over, 1, 1)))),
        InvalidVector("height_above_limit", "bad_dimensions", "height is MAX_DIMENSION + 1", "3.3",
                      _patched((8, _u32(1, over, 1)))),
        InvalidVector("width_above_limit", "bad_dimensions", "width is MAX_DIMENSION + 1", "3.3",
                      _patched((8, _u32(1, 1, over)))),
        InvalidVector("width_at_limit", "crc_mismatch",
                      "width is MAX_DIMENSION: the header passes; the CRC, left as it was, fails", "3.3",
                      _patched((8, _u32(1, 1, MAX_DIMENSION)), fix_crc=False)),
        InvalidVector("values_at_limit", "crc_mismatch",
                      "C*H*W is MAX_VALUES: the header passes; the CRC, left as it was, fails", "3.3",
                      _patched((8, _u32(1 << 12, 1 << 8, 1 << 8)), fix_crc=False)),
        InvalidVector("values_above_limit", "too_many_values", "C*H*W is MAX_VALUES + 1, every dimension allowed",
                      "3.3", _patched((8, _u32(*values_over)))),
        InvalidVector("palette_size_above_2n", "bad_palette_size", "palette_size 3 with bit_depth 1 (at most 2^n)",
                      "3.3", _patched((6, b"\x01\x03"))),
        InvalidVector("palette_size_above_values", "bad_palette_size",
                      "palette_size 2 for a 1x1x1 tensor (palette_size above C*H*W)", "3.3",
                      lambda: _one_value_header_stream(palette=(0, 255))),
        InvalidVector("min_inf", "bad_min_max", "min_value is -infinity", "3.3",
                      _patched((20, _f32(float("-inf"))))),
        InvalidVector("max_inf", "bad_min_max", "max_value is +infinity", "3.3",
                      _patched((24, _f32(float("inf"))))),
        InvalidVector("max_nan", "bad_min_max", "max_value is NaN", "3.3", _patched((24, _f32(float("nan"))))),
        InvalidVector("ext_band_flag_at_qz_L", "bad_band_flag",
                      "band_flag 1 where min -1, max 0.001 give qz = L: no level above the band", "11.1",
                      _patched((20, _f32(-1.0, 0.001)), source=ext_base_stream)),
    )


def _one_value_header_stream(palette: tuple[int, ...]) -> bytes:
    header = Header(FORMAT_VERSION, 0, 8, 1, 1, 1, 0.0, 1.0, 1, palette)
    return frame_stream(header, b"\x00")


# --- truncations inside each header field ------------------------------------------

#: (field, a length of stream that ends inside it); base_stream has 8 palette entries.
HEADER_CUTS = (("magic", 2), ("format_version", 4), ("profile", 5), ("bit_depth", 6), ("palette_size", 7),
               ("channels", 10), ("height", 14), ("width", 17), ("min_value", 22), ("max_value", 27),
               ("payload_size", 31), ("palette_0", 33), ("palette_7", 47))
EXT_HEADER_CUTS = (("setting", 32), ("split_offset", 34))


def _truncations() -> tuple[InvalidVector, ...]:
    vectors = [InvalidVector(f"truncated_in_{name}", "truncated_header", f"the stream ends inside {name}",
                             "3.5", _cut(length)) for name, length in HEADER_CUTS]
    vectors += [InvalidVector(f"ext_truncated_in_{name}", "truncated_header", f"the stream ends inside {name}",
                              "11.1", _cut(length, ext_base_stream)) for name, length in EXT_HEADER_CUTS]
    vectors.append(InvalidVector("bad_magic_short", "bad_magic",
                                 "3 bytes that are not the start of MAGIC: bad_magic, not truncated_header",
                                 "3.5", lambda: b"\x89PN"))
    return tuple(vectors)


# --- pairs of errors whose order SPEC §3.5 and Table 10 fix --------------------------

def _error_pairs() -> tuple[InvalidVector, ...]:
    nan = _f32(float("nan"))
    return (
        InvalidVector("pair_magic_version", "bad_magic", "bad magic and format_version 2", "3.5",
                      _patched((0, b"\x89PNG\x02"))),
        InvalidVector("pair_version_profile", "unsupported_version", "format_version 2 and profile 2", "3.5",
                      _patched((4, b"\x02\x02"))),
        InvalidVector("pair_profile_bit_depth", "unsupported_profile", "profile 2 and bit_depth 0", "3.5",
                      _patched((5, b"\x02\x00"))),
        InvalidVector("pair_bit_depth_palette_size", "bad_bit_depth", "bit_depth 0 and palette_size 0", "3.5",
                      _patched((6, b"\x00\x00"))),
        InvalidVector("pair_palette_size_dimensions", "bad_palette_size", "palette_size 9 and channels 0", "3.5",
                      _patched((7, b"\x09" + _u32(0)))),
        InvalidVector("pair_channels_height", "bad_dimensions", "channels 0 and height 0: channels first", "3.5",
                      _patched((8, _u32(0, 0)))),
        InvalidVector("pair_values_min", "too_many_values", "C*H*W above MAX_VALUES and min_value NaN", "3.5",
                      _patched((8, _u32(1 << 12, 1 << 9, 1 << 8)), (20, nan))),
        InvalidVector("pair_values_width_missing", "truncated_header",
                      "C*H alone above MAX_VALUES, the stream ending inside width: width is read first", "3.5",
                      _patched((8, _u32(MAX_DIMENSION, 32)), cut=18)),
        InvalidVector("pair_palette_size_values_min", "bad_palette_size",
                      "palette_size above C*H*W and min_value NaN: the palette size rule comes first", "3.5",
                      lambda: patch_header(_one_value_header_stream((0, 255)), 20, nan)),
        InvalidVector("pair_min_max", "bad_min_max", "min_value and max_value NaN: min_value's offset", "3.5",
                      _patched((20, nan + nan))),
        InvalidVector("pair_min_max_missing", "bad_min_max",
                      "min_value NaN, the stream ending inside max_value: min_value is checked when read", "3.5",
                      _patched((20, nan), cut=26)),
        InvalidVector("pair_bit_depth_cut", "bad_bit_depth",
                      "bit_depth 0 in a stream that ends inside channels", "3.5",
                      _patched((6, b"\x00"), cut=9)),
        InvalidVector("pair_min_above_max_palette", "bad_min_max",
                      "min_value > max_value and a palette entry above L", "3.5",
                      _patched((20, _f32(2.0, 1.0)), (32, b"\x01\x00"))),
        InvalidVector("pair_palette_truncated_payload", "bad_palette",
                      "a palette entry above L in a stream cut inside the payload", "3.5",
                      _patched((32, b"\x01\x00"), cut=60)),
        InvalidVector("ext_pair_setting_band_flag", "bad_setting", "setting 2 and band_flag 2", "11.1",
                      _patched((32, b"\x02\x02"), source=ext_base_stream)),
        InvalidVector("ext_pair_band_flag_split_offset", "bad_band_flag", "band_flag 2 and split_offset 16",
                      "11.1", _patched((33, b"\x02\x10"), source=ext_base_stream)),
        InvalidVector("pair_trailing_data_crc", "trailing_data", "a byte after a wrong CRC", "3.5",
                      lambda: base_stream()[:-1] + bytes([base_stream()[-1] ^ 1]) + b"\x00"),
        InvalidVector("pair_crc_arith_init", "crc_mismatch", "a wrong CRC and an initial ivlOffset of 511", "3.5",
                      lambda: _bad_crc(with_payload(base_stream(), lambda p: b"\xff\xff" + p[2:]))),
        InvalidVector("pair_final_bit_unused_bytes", "bad_final_bit",
                      "the final 1 cleared and a byte after the payload's end", "5.1",
                      lambda: with_payload(base_stream(), lambda p: clear_final_bit(p) + b"\x00")),
        InvalidVector("pair_unused_bytes_padding", "payload_unused_bytes",
                      "a non-zero alignment bit and a byte after it: the unused byte is found first", "5.1",
                      lambda: with_payload(skipped_one_sample(), lambda p: p[:-1] + bytes([p[-1] | 1, 0]))),
    )


def _bad_crc(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


# --- payload limits, both sides ------------------------------------------------------

def _sample_above_max() -> bytes:
    # Pal predicts L = 255 (the only palette entry); residual +1 makes 256.
    return one_sample_stream(lambda enc: residual_prefix(enc, sign=0, gt1=0, gt2=None), palette=(255,))


def _residual_L_plus_1() -> bytes:
    def build(enc: ArithmeticEncoder) -> None:
        residual_prefix(enc, sign=0, gt1=1, gt2=1)
        write_abs_remaining(enc, 256 - 3, 0)  # magnitude 3 + 253 = L + 1
    return one_sample_stream(build)


def _remainder_prefix_at_limit() -> bytes:
    # MAX_REMAINDER_PREFIX ones are allowed; the value they start is then too large.
    def build(enc: ArithmeticEncoder) -> None:
        residual_prefix(enc, sign=0, gt1=1, gt2=1)
        for _ in range(MAX_REMAINDER_PREFIX):
            enc.encode_bypass(1)
        enc.encode_bypass(0)
        for _ in range(MAX_REMAINDER_PREFIX - 4 + 1):  # Rice + 1 + e suffix bits, Rice 0
            enc.encode_bypass(0)
    return one_sample_stream(build)


def _ext_magnitude_above(m: int) -> Callable[[], bytes]:
    def build(enc: RangeEncoder, state: ExtState, f: Features) -> None:
        above_prediction(enc, state, f)
        write_magnitude(enc, state, f, 1, 0, m)
    return lambda: ext_one_sample(build)


def _ext_depth(depth: int) -> Callable[[], bytes]:
    def build(enc: RangeEncoder, state: ExtState, f: Features) -> None:
        write_decision(enc, state, in_band_decision(state.params, f), 1)
        write_band_depth(enc, state, f, depth)
    return lambda: ext_one_sample(build, band_flag=1, split_offset=0)


def _ext_escape_prefix_at_limit() -> bytes:
    def build(enc: RangeEncoder, state: ExtState, f: Features) -> None:
        above_prediction(enc, state, f)
        pr = state.params
        for i in range(UNARY_LIMIT):
            write_decision(enc, state, magnitude_decision(pr, f, 0, i, 1 + (i + 1)), 1)
        write_escape(enc, state, (1 << MAX_EG_PREFIX) - 1, lambda j: magnitude_escape_decision(f, 0, j))
    return ext_one_sample(build)


def _payload_limits() -> tuple[InvalidVector, ...]:
    return (
        InvalidVector("sample_above_max", "sample_out_of_range", "Pal L = 255 plus residual +1", "6.8",
                      _sample_above_max),
        InvalidVector("residual_L_plus_1", "residual_out_of_range", "residual magnitude L + 1 = 256 with n = 8",
                      "6.7.4", _residual_L_plus_1),
        InvalidVector("remainder_prefix_at_limit", "residual_out_of_range",
                      f"an abs_remaining prefix of exactly {MAX_REMAINDER_PREFIX} ones is read; its value is then "
                      "above L", "6.7.3", _remainder_prefix_at_limit),
        InvalidVector("ext_magnitude_MaxM_plus_1", "residual_out_of_range", "magnitude MaxM + 1 = 254", "11.6",
                      _ext_magnitude_above(254)),
        InvalidVector("ext_depth_zb_plus_1", "residual_out_of_range", "band depth zb + 1 = 129", "11.6",
                      _ext_depth(129)),
        InvalidVector("ext_escape_prefix_at_limit", "residual_out_of_range",
                      f"an escape prefix of exactly {MAX_EG_PREFIX} ones is read; the magnitude is then above MaxM",
                      "11.6", _ext_escape_prefix_at_limit),
    )


def invalid_edges() -> tuple[InvalidVector, ...]:
    return _header_limits() + _truncations() + _error_pairs() + _payload_limits()


# --- valid: the largest residual at every bit depth -----------------------------------

def _one_peak(shape: tuple[int, int, int]) -> Array:
    """Zeros with a single 1.0 at the first sample: quantized, 0s and one L."""
    x = np.zeros(shape, dtype=np.float32)
    x[0, 0, 0] = 1.0
    return x


def _largest_residual(n: int) -> Callable[[ElementCounter, Header], bool]:
    return lambda c, h: c.max_abs_residual == max_level(n)


def _largest_magnitude(n: int) -> Callable[[ElementCounter, Header], bool]:
    return lambda c, h: c.max_sample_after_magnitude == max_level(n)


def _largest_residuals() -> tuple[ValidVector, ...]:
    base = tuple(ValidVector(f"max_residual_n{n}", f"n = {n}: a residual of magnitude L = {max_level(n)}",
                             ("6.7.4",), lambda: _one_peak((1, 4, 4)), bits=n, check=_largest_residual(n))
                 for n in range(1, 17))
    ext = tuple(ext_vector(f"ext_max_magnitude_n{n}",
                           f"profile 1, n = {n}: a sample L above a prediction of 0, m = MaxM = L - 2",
                           ("11.6",), lambda: _one_peak((1, 2, 2)), bits=n, check=_largest_magnitude(n))
                for n in range(2, 17))
    return base + ext


# --- valid: readings of the encoder (SPEC §4.2, §8.4) --------------------------------

def _rounding_ties() -> Array:
    """min 0, max 255: t * L is exactly k + 0.5 for these values, which §4.2
    rounds up; rounding half to even would give k for even k."""
    values = [0.0, 0.5, 1.5, 2.5, 4.5, 100.5, 254.5, 255.0]
    return np.resize(np.array(values, dtype=np.float32), (2, 4, 4))


def _binary64_boundaries() -> Array:
    """min 0, max 0.7: the float32 values nearest (k + 0.5) * 0.7 / 255, where
    binary32 arithmetic rounds 117 of them to the other side."""
    k = np.arange(255, dtype=np.float64)
    x = np.concatenate([np.array([0.0, 0.7], dtype=np.float32), ((k + 0.5) * 0.7 / 255).astype(np.float32)])
    return np.resize(x, (1, 16, 16)).astype(np.float32)


def _neg_zero_min() -> Array:
    x = relu_like((2, 6, 6), 60)
    x[x == 0] = -0.0  # every zero, the minimum, as -0.0: the header's min_value is +0.0
    return x


def _neg_zero_max() -> Array:
    x = -relu_like((2, 6, 6), 61)  # every zero, the maximum, is -0.0
    return x


def _skip_cost_matters() -> Array:
    """34 channels of noise (levels 5 .. 11 of 0 .. 255), after which skip_flag = 1
    costs several bits, then one whose 1-wide block is exact under Hor but one
    level off under the MPM (the left block's mode): §8.4 with skip_flag's cost
    keeps the MPM, without it Hor would win. (The draws of the search that found it.)"""
    r = seeded(0)
    K, amp, P = int(r.integers(5, 40)), int(r.integers(1, 5)), 8
    x = (P + r.integers(-amp, amp + 1, size=(K + 1, 4, 5))).astype(np.float32)
    column = np.full(4, P)
    column[r.integers(0, 4)] += int(r.choice([-1, 1]))
    x[K, :, 3] = column
    x[K, :, 4] = column
    x[0, 0, :2] = (0, 255)
    return x


def _encoder_readings() -> tuple[ValidVector, ...]:
    return (
        ValidVector("mode_skip_cost", "a block where §8.4's skip_flag cost term decides the mode", ("8.4",),
                    _skip_cost_matters),
        ValidVector("quantizer_round_half_up", "t * L exactly k + 0.5 for even and odd k: floor(t * L + 0.5) "
                    "rounds each up, round-half-even would not", ("4.2",), _rounding_ties),
        ValidVector("quantizer_binary64", "values at the rounding boundaries of max 0.7: binary32 arithmetic "
                    "quantizes 117 of them differently", ("4.2",), _binary64_boundaries),
        ValidVector("quantizer_neg_zero_min", "zeros stored as -0.0, the minimum: min_value is +0.0", ("4.2",),
                    _neg_zero_min, check=lambda c, h: struct.pack(">f", h.min_value) == b"\x00" * 4),
        ValidVector("quantizer_neg_zero_max", "zeros stored as -0.0, the maximum: max_value is +0.0", ("4.2",),
                    _neg_zero_max, check=lambda c, h: struct.pack(">f", h.max_value) == b"\x00" * 4),
    )


# --- valid: streams no reference encoder writes -------------------------------------

def _signed_zero_range() -> bytes:
    """min_value +0.0 and max_value -0.0: equal as numbers, so a valid constant
    tensor (§3.5); a decoder that orders -0.0 below +0.0 rejects it."""
    data = encode(np.zeros((1, 4, 4), dtype=np.float32), 8)
    return patch_header(data, 24, NEG_ZERO)


def _ext_with(split_offset: int, source: Callable[[], Array], band_flag: int) -> Callable[[], bytes]:
    """A profile 1 stream (setting 1) of ``source`` with a split_offset the
    reference encoder never chooses."""
    def make() -> bytes:
        x = source()
        bits = 8
        q, lo, hi = quantize(x, bits)
        qz = zero_level(lo, hi, bits)
        c, h, w = q.shape
        params = ExtParams(n=bits, L=max_level(bits), qz=qz, zb=qz if band_flag else 0, setting=1,
                           split_offset=split_offset, channels=c, height=h, width=w)
        payload = write_ext_payload(params, [q[i].tolist() for i in range(c)])
        header = Header(FORMAT_VERSION, PROFILE_EXTENDED, bits, c, h, w, lo, hi, len(payload), (),
                        setting=1, band_flag=band_flag, split_offset=split_offset)
        return frame_stream(header, payload)
    return make


def crafted_vectors() -> tuple[CraftedVector, ...]:
    return (
        CraftedVector("signed_zero_range", "min_value +0.0, max_value -0.0: a valid constant tensor (§3.5)",
                      ("3.5", "4.3"), _signed_zero_range),
        CraftedVector("ext_split_offset_0", "profile 1, split_offset 0 (band mode): no low bits split off",
                      ("11.6",), _ext_with(0, lambda: leaky_like((3, 8, 8), 62), band_flag=1),
                      check=lambda c, h: h.split_offset == 0 and h.band_flag == 1),
        CraftedVector("ext_split_offset_15", "profile 1, split_offset 15, the largest allowed", ("11.6",),
                      _ext_with(15, lambda: leaky_like((3, 8, 8), 63), band_flag=0),
                      check=lambda c, h: h.split_offset == 15),
    )


# --- valid: the paper's layer shapes from real features --------------------------------

def _paper_layer(shape: tuple[int, int, int], layer: str) -> Callable[[], Array]:
    """Real PP-OCRv4 features of one layer, channels of two photographs stacked
    and cropped to ``shape``."""
    c, h, w = shape

    def make() -> Array:
        parts = [repo_real(f"data/corpus/ppocrv4_det-{layer}-{photo}.npy", c, h, w)
                 for photo in ("astronaut", "camera")]
        return np.ascontiguousarray(np.concatenate(parts)[:c])
    return make


def paper_vectors() -> tuple[ValidVector, ...]:
    """The shapes of the paper's YOLOv2 split layers (its Table I), shipped
    as streams with output checksums only (SPEC Annex B)."""
    return tuple(
        ValidVector(f"paper_{c}x{h}x{w}", f"a {c}x{h}x{w} tensor of real PP-OCRv4 {layer} features, the shape of "
                    "one of the paper's split layers", ("4.4", "5.4"), _paper_layer((c, h, w), layer),
                    large=True)
        for (c, h, w), layer in (((128, 52, 52), "shallow"), ((256, 26, 26), "middle"), ((512, 13, 13), "deep")))


def _k_values(k: int) -> Callable[[], Array]:
    return lambda: (seeded(70 + k).integers(0, k, size=(3, 8, 8)) * 0.25).astype(np.float32)


def _palette_of(k: int) -> Callable[[ElementCounter, Header], bool]:
    return lambda c, h: h.palette_size == k


def _palette_sizes() -> tuple[ValidVector, ...]:
    return tuple(ValidVector(f"palette_{k}_values", f"a tensor of {k} distinct values: palette_size {k}",
                             ("3.2", "5.3"), _k_values(k), check=_palette_of(k)) for k in (5, 6))


def _block_shapes() -> tuple[ValidVector, ...]:
    return (ValidVector("tile_6x7_partial_blocks", "6 wide, 7 high: 2x4, 4x3 and 2x3 partial blocks",
                        ("6.1", "6.6"), lambda: relu_like((3, 7, 6), 64)),)


def valid_edges() -> tuple[ValidVector, ...]:
    return _largest_residuals() + _encoder_readings() + _palette_sizes() + _block_shapes()


__all__ = ["crafted_vectors", "invalid_edges", "paper_vectors", "valid_edges"]
