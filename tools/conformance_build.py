"""Building blocks of the conformance vectors (SPEC.md Annex B), shared by the
generator (make_conformance) and its coverage-driven vectors (conformance_edges):
seeded inputs, real tensors, the vector records, an element counter for the
sidecars, and streams written or patched by hand."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from dfc.reference import encode
from dfc.reference.cabac import ArithmeticEncoder, initial_contexts
from dfc.reference.ext_syntax import (
    ExtParams,
    ExtState,
    ExtTile,
    Features,
    at_prediction_decision,
    features,
    in_band_decision,
    write_decision,
)
from dfc.reference.header import Header, crc32, frame_stream, read_header
from dfc.reference.quantizer import zero_level
from dfc.reference.rangecoder import RangeEncoder
from dfc.reference.tables import CTX_GT1_FLAG, CTX_GT2_FLAG, CTX_MPM_FLAG, CTX_SIGN_FLAG, CTX_SKIP_FLAG

Array = npt.NDArray[Any]


@dataclass
class ElementCounter:
    """A TraceSink that counts syntax elements and their values (for sidecars)."""

    counts: Counter[str] = field(default_factory=Counter)
    modes: Counter[int] = field(default_factory=Counter)
    max_remaining: int = 0
    max_abs_residual: int = 0
    max_sample_after_magnitude: int = -1  # profile 1: the largest value coded by a magnitude
    block_modes: dict[int, list[int]] = field(default_factory=dict)  # channel -> pred_mode per block
    _last_ext: str = ""
    _block: tuple[int, tuple[int, int] | None] = (-1, None)
    _block_sig_ones = 0
    _block_levels = 0

    def header_field(self, byte_offset: int, name: str, value: object) -> None:
        return None

    def payload_element(self, bit_pos: int, channel: int, block: tuple[int, int] | None,
                        name: str, value: int) -> None:
        key = name.split("[")[0]
        if key == "residual":  # derived lines (SPEC §10), not syntax elements
            self.max_abs_residual = max(self.max_abs_residual, abs(value))
            return
        if key == "Rice":
            return
        self.counts[key] += 1
        if (channel, block) != self._block:
            self._block, self._block_sig_ones, self._block_levels = (channel, block), 0, 0
        if key == "sig_flag":
            self._block_sig_ones += value
        if key == "gt1_flag":
            # the block's first gt1_flag: with no coded sig_flag equal to 1 before
            # it, its one significant residual is at an inferred sig_flag (SPEC §6.7)
            if self._block_levels == 0 and self._block_sig_ones == 0:
                self.counts["inferred_sig_flag"] += 1
            self._block_levels += 1
        if key == "abs_remaining":
            self.max_remaining = max(self.max_remaining, value)
        if key == "pred_mode":
            self.modes[value] += 1
            self.block_modes.setdefault(channel, []).append(value)
        if key == "skip_flag" and value:
            self.counts["skipped_blocks"] += 1

    def end_of_payload(self, bit_pos: int) -> None:
        return None

    def ext_element(self, byte_pos: int, channel: int, x: int, y: int, name: str, value: int) -> None:
        self.counts[name] += 1
        if name == "in_band" and value:
            self.counts["samples_in_band"] += 1
        if name == "magnitude":
            self.max_remaining = max(self.max_remaining, value)
        if name == "sample" and self._last_ext == "magnitude":
            self.max_sample_after_magnitude = max(self.max_sample_after_magnitude, value)
        self._last_ext = name


# --- inputs -----------------------------------------------------------------

def seeded(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def relu_like(shape: tuple[int, int, int], seed: int, zero_fraction: float = 0.6) -> Array:
    rng = seeded(seed)
    x = np.abs(rng.normal(0.0, 1.5, size=shape))
    x[rng.random(shape) < zero_fraction] = 0.0
    return x.astype(np.float32)


def leaky_like(shape: tuple[int, int, int], seed: int) -> Array:
    rng = seeded(seed)
    x = rng.normal(0.0, 1.0, size=shape)
    return np.where(x < 0, 0.1 * x, x).astype(np.float32)


def smooth(shape: tuple[int, int, int], seed: int) -> Array:
    """Spatially smooth channels, so that Hor, Ver and the filters win blocks."""
    rng = seeded(seed)
    c, h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.empty(shape, dtype=np.float64)
    for ch in range(c):
        fx, fy = rng.uniform(0.05, 0.4, size=2)
        kind = ch % 4
        if kind == 0:
            out[ch] = np.sin(fx * xx)  # varies along x only: Ver wins
        elif kind == 1:
            out[ch] = np.sin(fy * yy)  # varies along y: Hor wins
        elif kind == 2:
            out[ch] = np.sin(fx * xx + fy * yy)
        else:
            out[ch] = rng.normal(size=(h, w)) * 0.05 + np.sin(fx * xx)
    return out.astype(np.float32)


def real(name: str, channels: int) -> Array:
    from importlib import resources

    path = resources.files("dfc") / "data" / name
    with resources.as_file(path) as p:
        array: Array = np.load(p)
    return array[:channels].astype(np.float32)


@dataclass(frozen=True)
class ValidVector:
    name: str
    description: str
    sections: tuple[str, ...]
    make: Callable[[], Array]
    bits: int = 8
    check: Callable[[ElementCounter, Header], bool] | None = None
    profile: str = "baseline"
    setting: str = "default"
    large: bool = False  # shipped as the stream and its outputs' checksums only (SPEC Annex B)


@dataclass(frozen=True)
class CraftedVector:
    """A valid stream written by hand, one the reference encoder never writes:
    it has no input tensor, so encoder checks skip it."""

    name: str
    description: str
    sections: tuple[str, ...]
    make: Callable[[], bytes]
    check: Callable[[ElementCounter, Header], bool] | None = None


REPO = Path(__file__).resolve().parent.parent


def repo_real(relative: str, channels: int, height: int | None = None, width: int | None = None) -> Array:
    array: Array = np.load(REPO / relative)
    return np.ascontiguousarray(array[:channels, :height, :width].astype(np.float32))


def smooth_leaky(shape: tuple[int, int, int], seed: int) -> Array:
    z = np.cumsum(np.cumsum(seeded(seed).normal(size=shape), axis=1), axis=2)
    return np.where(z > 0, z, 0.1 * z).astype(np.float32)


def hardswish_like(shape: tuple[int, int, int], seed: int) -> Array:
    z = seeded(seed).normal(-0.5, 2.0, size=shape)
    return (z * np.clip(z + 3, 0, 6) / 6).astype(np.float32)


def ext_vector(name: str, description: str, sections: tuple[str, ...], make: Callable[[], Array], bits: int = 8,
         setting: str = "default", check: Callable[[ElementCounter, Header], bool] | None = None) -> ValidVector:
    return ValidVector(name, description, ("11",) + sections, make, bits, check, "extended", setting)


# --- invalid streams ------------------------------------------------------------

def base_stream() -> bytes:
    return encode(relu_like((2, 5, 5), 20), 8)


def reframe(header: Header, payload: bytes) -> bytes:
    return frame_stream(dataclasses.replace(header, payload_size=len(payload)), payload)


def patch_header(data: bytes, offset: int, new: bytes, fix_crc: bool = True) -> bytes:
    out = bytearray(data)
    out[offset:offset + len(new)] = new
    if fix_crc:
        out[-4:] = crc32(bytes(out[:-4])).to_bytes(4, "big")
    return bytes(out)


def one_sample_stream(build: Callable[[ArithmeticEncoder], None], bits: int = 8,
                       palette: tuple[int, ...] = (0,), flush: bool = True) -> bytes:
    """A 1x1x1 stream whose payload ``build`` writes by hand after palette_idx
    (which has no bins when the palette has one entry)."""
    enc = ArithmeticEncoder()
    build(enc)
    if flush:
        enc.encode_terminate(1)
    payload = enc.payload()
    header = Header(1, 0, bits, 1, 1, 1, 0.0, 1.0, len(payload), palette)
    return frame_stream(header, payload)


def skipped_one_sample() -> bytes:
    """A 1x1x1 stream whose one block is Pal (the MPM) and skipped: its payload
    ends mid-byte, so it has alignment bits."""
    def build(enc: ArithmeticEncoder) -> None:
        ctx = initial_contexts()
        enc.encode_decision(ctx[CTX_MPM_FLAG], 1)
        enc.encode_decision(ctx[CTX_SKIP_FLAG], 1)
    return one_sample_stream(build)


def residual_prefix(enc: ArithmeticEncoder, sign: int, gt1: int, gt2: int | None) -> None:
    """mpm_flag = 1 (Pal), skip_flag = 0, the single (inferred) significant
    residual's flags for a 1x1 block in Pal mode (mode 0)."""
    ctx = initial_contexts()
    enc.encode_decision(ctx[CTX_MPM_FLAG], 1)
    enc.encode_decision(ctx[CTX_SKIP_FLAG], 0)
    enc.encode_decision(ctx[CTX_GT1_FLAG + 1], gt1)
    if gt1 and gt2 is not None:
        enc.encode_decision(ctx[CTX_GT2_FLAG], gt2)
    enc.encode_decision(ctx[CTX_SIGN_FLAG + 0], sign)


def clear_final_bit(payload: bytes) -> bytes:
    """The payload with its last 1 bit, the flush's final 1 (SPEC §7.6.4), cleared."""
    data = bytearray(payload)
    i = max(k for k, byte in enumerate(data) if byte)
    data[i] &= data[i] - 1
    return bytes(data)


def with_payload(data: bytes, change: Callable[[bytes], bytes]) -> bytes:
    header = read_header(data)
    payload = data[header.header_size:header.header_size + header.payload_size]
    return reframe(header, change(payload))


@dataclass(frozen=True)
class InvalidVector:
    name: str
    code: str
    rule: str
    section: str
    make: Callable[[], bytes]


def ext_base_stream() -> bytes:
    return encode(hardswish_like((2, 5, 5), 40), 8, profile="extended")


def ext_one_sample(build: Callable[[RangeEncoder, ExtState, Features], None], *, band_flag: int = 0,
                    split_offset: int = 4) -> bytes:
    """A profile 1 stream of one sample (setting 1) whose decisions ``build``
    writes by hand with the reference's contexts: min -1, max 1 (qz = 128) with
    a band, else min 0, max 1 (qz = 0)."""
    lo = -1.0 if band_flag else 0.0
    qz = zero_level(lo, 1.0, 8)
    params = ExtParams(n=8, L=255, qz=qz, zb=qz if band_flag else 0, setting=1, split_offset=split_offset,
                       channels=1, height=1, width=1)
    state = ExtState(params)
    enc = RangeEncoder()
    _, f = features(state, ExtTile(0, [[0]], [[0]]), 0, 0)
    build(enc, state, f)
    payload = enc.finish()
    header = Header(1, 1, 8, 1, 1, 1, lo, 1.0, len(payload), (), setting=1, band_flag=band_flag,
                    split_offset=split_offset)
    return frame_stream(header, payload)


def above_prediction(enc: RangeEncoder, state: ExtState, f: Features) -> None:
    """in_band 0 and at_prediction 0 for the floor-mode sample of ext_one_sample:
    P = 0, so Pp = 1, only the side above is possible and MaxM = 253."""
    write_decision(enc, state, in_band_decision(state.params, f), 0)
    write_decision(enc, state, at_prediction_decision(state.params, f, 1), 0)
