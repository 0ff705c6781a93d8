"""Ways to misread SPEC.md, each built into a copy of the reference decoder or
encoder, and the conformance vectors that tell it apart (SPEC Annex B).

A misreading is a patch of dfc.reference, active only inside its context
manager. A vector tells it apart when, under the patch, a decoder gives another
result for the vector's stream (other outputs, or another error code or offset)
or an encoder writes other bytes from the vector's input. COVERAGE.md lists the
vectors per misreading; a test fails when one is told apart by none.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
import struct
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import numpy.typing as npt

from dfc.errors import DecodeError, TruncatedStreamError
from dfc.reference import cabac, decoder, encoder, ext_encoder, ext_syntax, header, syntax
from dfc.reference.tables import FIXED_HEADER_SIZE, MAX_DIMENSION, MAX_VALUES, NUM_MODES


@dataclass(frozen=True)
class Misreading:
    name: str
    reading: str  # the wrong reading, in words
    section: str
    side: str  # "decoder" or "encoder"
    patch: Callable[[], AbstractContextManager[Any]]
    vectors: tuple[str, ...]  # name patterns of the vectors to try


# --- decoder misreadings -------------------------------------------------------------------

def _wrap(target: Any, name: str, make: Callable[[Any], Any]) -> Callable[[], AbstractContextManager[Any]]:
    """A patch replacing ``target.name`` by ``make(original)``."""
    return lambda: mock.patch.object(target, name, make(getattr(target, name)))


def _recode(original: Callable[..., Any], when: Callable[[DecodeError, tuple[Any, ...]], DecodeError | None],
            ) -> Callable[..., Any]:
    """``original``, with the DecodeError it raises replaced by ``when``'s (if any)."""
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return original(*args, **kwargs)
        except DecodeError as exc:
            other = when(exc, args)
            raise (other or exc) from None
    return call


def _offset_before_renorm(original: Callable[..., Any]) -> Callable[..., Any]:
    def call(dec: cabac.ArithmeticDecoder, *args: Any, **kwargs: Any) -> Any:
        before = dec.byte_offset()
        try:
            return original(dec, *args, **kwargs)
        except DecodeError as exc:
            if exc.code != "missing_end_of_payload":
                raise
            raise DecodeError(exc.code, before, exc.section, exc.detail) from None
    return call


def _read_ahead_one_byte(original: Callable[..., Any]) -> Callable[..., Any]:
    """read_bits that fails as soon as the byte after the next bit's is missing."""
    def call(self: cabac.ArithmeticDecoder, n: int) -> int:
        if self.start + (self.bit_pos >> 3) + 1 >= self.end:
            raise TruncatedStreamError("payload_overrun", self.end, "7.4.1", "read-ahead past the payload")
        result: int = original(self, n)
        return result
    return call


def _arith_init_offset_after_read(original: Callable[..., Any]) -> Callable[..., Any]:
    def call(self: cabac.ArithmeticDecoder, data: bytes, start: int, end: int) -> None:
        try:
            original(self, data, start, end)
        except DecodeError as exc:
            if exc.code != "bad_arith_init":
                raise
            raise DecodeError(exc.code, start + 1, exc.section, exc.detail) from None
    return call


def _truncation_first(original: Callable[..., Any]) -> Callable[..., Any]:
    def call(data: bytes, *args: Any, **kwargs: Any) -> Any:
        if len(data) < FIXED_HEADER_SIZE:
            raise TruncatedStreamError("truncated_header", len(data), "3.2", "shorter than the fixed header")
        return original(data, *args, **kwargs)
    return call


def _product_before_width(original: Callable[..., Any]) -> Callable[..., Any]:
    def call(data: bytes, *args: Any, **kwargs: Any) -> Any:
        if 16 <= len(data) < 20:
            channels, height = struct.unpack(">II", data[8:16])
            if channels * height > MAX_VALUES:
                raise DecodeError("too_many_values", 8, "3.3", "C*H exceeds MAX_VALUES")
        return original(data, *args, **kwargs)
    return call


def _min_checked_with_max(exc: DecodeError, args: tuple[Any, ...]) -> DecodeError | None:
    data = args[0]
    if exc.code == "bad_min_max" and exc.offset == 20 and len(data) < 28:
        return TruncatedStreamError("truncated_header", len(data), "3.2", "min and max read before checks")
    return None


def _palette_size_after_min(exc: DecodeError, args: tuple[Any, ...]) -> DecodeError | None:
    data = args[0]
    if exc.code == "bad_palette_size" and 0 < data[7] <= min(8, 1 << data[6]) and len(data) >= 24:
        if not math.isfinite(struct.unpack(">f", data[20:24])[0]):
            return DecodeError("bad_min_max", 20, "3.3", "min_value checked before the palette size")
    return None


def _signed_zero_ordered(original: Callable[..., Any]) -> Callable[..., Any]:
    def call(data: bytes, *args: Any, **kwargs: Any) -> Any:
        h = original(data, *args, **kwargs)
        if math.copysign(1.0, h.min_value) > math.copysign(1.0, h.max_value) and h.min_value == h.max_value:
            raise DecodeError("bad_min_max", 24, "3.3", "+0.0 taken as above -0.0")
        return h
    return call


def _residual_limit(delta: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def call(dec: Any, state: Any, mode: int, scan: Any, L: int, *args: Any) -> Any:
            return original(dec, state, mode, scan, L + delta, *args)
        return call
    return make


def _sample_checked_below_only(original: Callable[..., Any]) -> Callable[..., Any]:
    def call(tile: Any, *args: Any) -> Any:
        L, tile.L = tile.L, 1 << 20
        try:
            return original(tile, *args)
        finally:
            tile.L = L
    return call


def _magnitude_limit_exclusive(original: Callable[..., Any]) -> Callable[..., Any]:
    return lambda pr, Pp, below: original(pr, Pp, below) - 1


def _qz_below_L(original: Callable[..., Any]) -> Callable[..., Any]:
    return lambda lo, hi, n: min(original(lo, hi, n), (1 << n) - 2)


DECODER = (
    Misreading("final_bit_unchecked", "the last bit read by end_of_payload = 1 may be 0", "5.1", "decoder",
               lambda: mock.patch.object(cabac.ArithmeticDecoder, "last_bit", lambda self: 1),
               ("bad_final_bit", "pair_final_bit_*")),
    Misreading("end_of_payload_offset_before_renorm", "missing_end_of_payload's offset taken before the "
               "renormalization", "5.1", "decoder", _wrap(syntax, "read_end_of_payload", _offset_before_renorm),
               ("missing_end_of_payload*",)),
    Misreading("payload_read_ahead", "the engine reads a byte ahead and fails when it is missing", "7.4.1",
               "decoder", _wrap(cabac.ArithmeticDecoder, "read_bits", _read_ahead_one_byte),
               ("tile_1x1", "constant_tensor", "missing_end_of_payload_overrun")),
    Misreading("arith_init_offset_after_read", "bad_arith_init's offset after the 9 bits read (header + 1)",
               "7.4.1", "decoder", _wrap(cabac.ArithmeticDecoder, "__init__", _arith_init_offset_after_read),
               ("bad_arith_init",)),
    Misreading("truncation_first", "a stream shorter than the fixed header is truncated_header before any "
               "field is checked", "3.5", "decoder", _wrap(decoder, "read_header", _truncation_first),
               ("bad_magic_short", "pair_bit_depth_cut", "pair_min_max_missing")),
    Misreading("product_before_width", "C*H checked against MAX_VALUES before width is read", "3.5", "decoder",
               _wrap(decoder, "read_header", _product_before_width), ("pair_values_width_missing",)),
    Misreading("min_checked_with_max", "min_value checked only once max_value is read", "3.5", "decoder",
               _wrap(decoder, "read_header", lambda f: _recode(f, _min_checked_with_max)),
               ("pair_min_max_missing",)),
    Misreading("palette_size_rule_after_min_max", "palette_size > C*H*W checked after min_value and max_value",
               "3.5", "decoder", _wrap(decoder, "read_header", lambda f: _recode(f, _palette_size_after_min)),
               ("pair_palette_size_values_min",)),
    Misreading("signed_zero_ordered", "-0.0 ordered below +0.0 in min_value > max_value", "3.5", "decoder",
               _wrap(decoder, "read_header", _signed_zero_ordered), ("signed_zero_range",)),
    Misreading("dimension_limit_exclusive", "a dimension must be below MAX_DIMENSION", "3.3", "decoder",
               lambda: mock.patch.object(header, "MAX_DIMENSION", MAX_DIMENSION - 1), ("width_at_limit",)),
    Misreading("dimension_limit_plus_one", "a dimension may be MAX_DIMENSION + 1", "3.3", "decoder",
               lambda: mock.patch.object(header, "MAX_DIMENSION", MAX_DIMENSION + 1), ("*_above_limit",)),
    Misreading("values_limit_exclusive", "C*H*W must be below MAX_VALUES", "3.3", "decoder",
               lambda: mock.patch.object(header, "MAX_VALUES", MAX_VALUES - 1), ("values_at_limit",)),
    Misreading("values_limit_plus_one", "C*H*W may be MAX_VALUES + 1", "3.3", "decoder",
               lambda: mock.patch.object(header, "MAX_VALUES", MAX_VALUES + 1), ("values_above_limit",)),
    Misreading("residual_limit_exclusive", "a residual magnitude must be below L", "6.7.4", "decoder",
               _wrap(syntax, "read_residual_block", _residual_limit(-1)), ("max_residual_n*",)),
    Misreading("residual_limit_plus_one", "a residual magnitude may be L + 1", "6.7.4", "decoder",
               _wrap(syntax, "read_residual_block", _residual_limit(+1)), ("residual_L_plus_1",)),
    Misreading("sample_checked_below_only", "only samples below 0 are out of range", "6.8", "decoder",
               _wrap(syntax, "reconstruct_block", _sample_checked_below_only), ("sample_above_max",)),
    Misreading("remainder_prefix_limit_plus_one", "an abs_remaining prefix may have 25 ones", "6.7.3", "decoder",
               lambda: mock.patch.object(syntax, "MAX_REMAINDER_PREFIX", 25), ("remainder_prefix_too_long",)),
    Misreading("remainder_prefix_limit_exclusive", "an abs_remaining prefix must have fewer than 24 ones",
               "6.7.3", "decoder", lambda: mock.patch.object(syntax, "MAX_REMAINDER_PREFIX", 23),
               ("remainder_prefix_at_limit",)),
    Misreading("escape_prefix_limit_exclusive", "a profile 1 escape prefix must have fewer than 16 ones",
               "11.6", "decoder", lambda: mock.patch.object(ext_syntax, "MAX_EG_PREFIX", 15),
               ("ext_escape_prefix_at_limit",)),
    Misreading("magnitude_limit_exclusive", "a profile 1 magnitude must be below MaxM", "11.6", "decoder",
               _wrap(ext_syntax, "magnitude_max", _magnitude_limit_exclusive), ("ext_max_magnitude_n*",)),
    Misreading("band_flag_qz_L_allowed", "band_flag 1 allowed where qz = L", "11.1", "decoder",
               _wrap(header, "zero_level", _qz_below_L), ("ext_band_flag_at_qz_L",)),
)


# --- encoder misreadings -------------------------------------------------------------------

def _quantize_with(step: Callable[[npt.NDArray[Any], float, float, int], npt.NDArray[Any]],
                   keep_negative_zero: bool = False) -> Callable[[], AbstractContextManager[Any]]:
    """A patch of both encoders' quantizer (SPEC §4.2) computing q by ``step``."""
    def quantize(tensor: npt.NDArray[np.float32], bits: int, fixed_range: tuple[float, float] | None = None,
                 ) -> tuple[npt.NDArray[np.int64], float, float]:
        if fixed_range is not None:
            tensor = np.clip(tensor, np.float32(fixed_range[0]), np.float32(fixed_range[1]))
        if not keep_negative_zero:
            tensor = tensor + np.float32(0.0)
        lo, hi = (float(np.min(tensor)), float(np.max(tensor))) if fixed_range is None else fixed_range
        if lo == hi:
            return np.zeros(tensor.shape, dtype=np.int64), lo, hi
        L = (1 << bits) - 1
        return np.clip(step(tensor, lo, hi, L), 0, L).astype(np.int64), lo, hi

    @contextmanager
    def patch() -> Iterator[None]:
        with mock.patch.object(encoder, "quantize", quantize), mock.patch.object(ext_encoder, "quantize", quantize):
            yield
    return patch


def _binary32(v: npt.NDArray[Any], lo: float, hi: float, L: int) -> npt.NDArray[Any]:
    f = np.float32
    q: npt.NDArray[Any] = np.floor((v.astype(f) - f(lo)) / (f(hi) - f(lo)) * f(L) + f(0.5))
    return q


def _half_even(v: npt.NDArray[Any], lo: float, hi: float, L: int) -> npt.NDArray[Any]:
    return np.rint((v.astype(np.float64) - lo) / (hi - lo) * L)


def _specified(v: npt.NDArray[Any], lo: float, hi: float, L: int) -> npt.NDArray[Any]:
    return np.floor((v.astype(np.float64) - lo) / (hi - lo) * L + 0.5)


def _skip_flag_free(original: Callable[..., Any]) -> Callable[..., Any]:
    """write_skip_flag that costs nothing in the mode estimate (§8.4 without its term)."""
    def call(enc: Any, *args: Any) -> None:
        if not isinstance(enc, cabac.BitCostEstimator):
            original(enc, *args)
    return call


def _ties_to_higher_mode(state: Any, tile: Any, bx: int, by: int) -> int:
    costs: list[int] = encoder.mode_costs(state, tile, bx, by)
    return max(range(len(costs)), key=lambda m: (-costs[m], m))


def _one_copy_for_all_modes(state: Any, tile: Any, bx: int, by: int) -> list[int]:
    shared = state.copy()
    costs = []
    for mode in range(NUM_MODES):
        estimator = cabac.BitCostEstimator()
        syntax.write_block(estimator, shared, tile, bx, by, mode)
        costs.append(estimator.cost)
    return costs


def _palette_ties_to_larger(state: Any, samples: Any) -> int:
    sads = [sum(abs(s - p) for row in samples for s in row) for p in state.PaletteOrder]
    return max(range(len(sads)), key=lambda j: (-sads[j], j))


#: the baseline vectors made by the reference encoder from an input
BASELINE = ("relu6_*", "leaky_*", "tile_*", "channels_*", "modes_all", "constant_tensor", "palette_*",
            "bit_depth_*", "rice_escape_16bit", "sparse_relu", "max_residual_*", "quantizer_*", "mode_*")

ENCODER = (
    Misreading("quantizer_binary32", "the quantizer computed in binary32", "4.2", "encoder",
               _quantize_with(_binary32), ("quantizer_*",)),
    Misreading("quantizer_half_even", "t * L rounded half to even", "4.2", "encoder",
               _quantize_with(_half_even), ("quantizer_*",)),
    Misreading("quantizer_keeps_negative_zero", "-0.0 kept as min_value or max_value", "4.2", "encoder",
               _quantize_with(_specified, keep_negative_zero=True), ("quantizer_neg_zero_*",)),
    Misreading("mode_cost_without_skip_flag", "the mode estimate leaves out skip_flag's cost", "8.4", "encoder",
               _wrap(syntax, "write_skip_flag", _skip_flag_free), BASELINE),
    Misreading("mode_ties_to_higher", "mode ties go to the higher mode", "8.4", "encoder",
               lambda: mock.patch.object(encoder, "choose_mode", _ties_to_higher_mode), BASELINE),
    Misreading("mode_estimates_share_contexts", "the five candidates' estimates adapt one copy of the "
               "contexts in turn", "8.4", "encoder",
               lambda: mock.patch.object(encoder, "mode_costs", _one_copy_for_all_modes), BASELINE),
    Misreading("palette_idx_ties_to_larger", "palette_idx ties go to the larger index", "8.3", "encoder",
               lambda: mock.patch.object(encoder, "choose_palette_idx", _palette_ties_to_larger), BASELINE),
    Misreading("band_trial_on_every_channel", "band_flag chosen by a trial on every channel", "11.12", "encoder",
               lambda: mock.patch.object(ext_encoder, "trial_channels", lambda c: c), ("ext_*",)),
)

MISREADINGS = DECODER + ENCODER


# --- telling them apart ----------------------------------------------------------------------

def _entries(folder: Path, patterns: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    manifest = json.loads((folder / "manifest.json").read_text())
    for entry in manifest["valid"] + manifest["invalid"]:
        if any(fnmatch.fnmatchcase(entry["name"], p) for p in patterns):
            yield entry


def _decoder_differs(folder: Path, entry: dict[str, Any]) -> bool:
    from dfc.reference import decode_stream

    data = (folder / entry["files"]["stream"]["path"]).read_bytes()
    try:
        got = decode_stream(data)
    except DecodeError as exc:
        return (exc.code, exc.offset) != (entry.get("expect_error"), entry.get("expect_offset"))
    if "expect_error" in entry:
        return True
    raw = {"integers": np.ascontiguousarray(got.integers, "<u2").tobytes(),
           "floats": np.ascontiguousarray(got.floats(), "<f4").tobytes()}
    return any(hashlib.sha256(raw[k]).hexdigest() != v["sha256"] for k, v in entry["outputs"].items())


def _encoder_differs(folder: Path, entry: dict[str, Any]) -> bool:
    from dfc.reference import encode

    if "input" not in entry.get("files", {}):
        return False  # invalid, written by hand, or large: nothing to encode here
    x = np.load(folder / entry["files"]["input"]["path"])
    stream = (folder / entry["files"]["stream"]["path"]).read_bytes()
    try:
        ours = encode(x, entry["bits"], profile=entry["profile"], setting=entry["setting"])
    except (ValueError, DecodeError):
        return True
    return bool(ours != stream)


def vectors_told_apart(m: Misreading, folder: Path) -> list[str]:
    """The vectors among ``m.vectors`` whose result changes under ``m``."""
    differs = _decoder_differs if m.side == "decoder" else _encoder_differs
    entries = list(_entries(folder, m.vectors))
    with m.patch():
        return [e["name"] for e in entries if differs(folder, e)]
