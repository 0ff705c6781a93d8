"""The reference encoder: SPEC §8 (informative, but every decision is pinned
down so that all conforming dfc encoders produce the same bytes)."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import numpy.typing as npt

from .cabac import ArithmeticEncoder, BitCostEstimator
from .ext_encoder import encode_extended
from .header import Header, frame_stream
from .palette import choose_palette_idx, initial_palette_order, select_palette
from .quantizer import max_level, quantize
from .state import PayloadState, Samples, Tile
from .syntax import write_block, write_payload
from .tables import (
    FORMAT_VERSION,
    MAX_BIT_DEPTH,
    MAX_DIMENSION,
    MAX_VALUES,
    MIN_BIT_DEPTH,
    NUM_MODES,
    PROFILE_BASELINE,
)


def validate_input(tensor: object, bits: int) -> npt.NDArray[np.float32]:
    """SPEC §8.1: the encoder's input rules; raises ValueError naming the problem."""
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)):
        raise ValueError(f"bits must be an integer, got {type(bits).__name__}")
    if not MIN_BIT_DEPTH <= bits <= MAX_BIT_DEPTH:
        raise ValueError(f"bits must be in {MIN_BIT_DEPTH}..{MAX_BIT_DEPTH}, got {bits}")
    array = np.asarray(tensor)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"tensor must be numeric (bool, int or float), got dtype {array.dtype}")
    if array.ndim != 3:
        hint = " (an (N, C, H, W) batch is coded by dfc.encode_many)" if array.ndim == 4 else ""
        raise ValueError(f"tensor must have 3 dimensions (C, H, W), got {array.ndim}{hint}")
    if array.size == 0:
        raise ValueError(f"tensor is empty: shape {array.shape}")
    if max(array.shape) > MAX_DIMENSION or array.size > MAX_VALUES:
        raise ValueError(f"tensor shape {array.shape} exceeds SPEC §3.3 limits")
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise ValueError("tensor contains NaN or infinity")
    with np.errstate(over="ignore"):  # beyond float32's range: infinite, refused below
        values = array.astype(np.float32)
    if not np.all(np.isfinite(values)):
        raise ValueError("tensor has values beyond the float32 range")
    return values


def validate_range(fixed_range: object) -> tuple[float, float] | None:
    """SPEC §4.2: a fixed quantizer range (lo, hi) as two float32 values, or None;
    raises ValueError naming the problem."""
    if fixed_range is None:
        return None
    try:
        lo, hi = (float(v) for v in fixed_range)  # type: ignore[attr-defined]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"range must be two numbers (lo, hi), got {fixed_range!r}") from exc
    with np.errstate(over="ignore"):  # beyond float32: infinite, refused below
        lo32, hi32 = float(np.float32(lo)), float(np.float32(hi))
    if not (math.isfinite(lo32) and math.isfinite(hi32)):
        raise ValueError(f"range ({lo}, {hi}) is not finite in float32")
    if lo32 > hi32:
        raise ValueError(f"range ({lo}, {hi}) has lo above hi")
    return lo32, hi32


def mode_costs(state: PayloadState, tile: Tile, bx: int, by: int) -> list[int]:
    """SPEC §8.4-§8.5: for each mode, the estimated cost in 1/32768 bit of coding
    block (bx, by) in that mode (mpm_flag/rem_mode, skip_flag, residual_block()),
    each from a copy of the current state, adapted bin by bin as coding would."""
    costs = []
    for mode in range(NUM_MODES):
        estimator = BitCostEstimator()
        write_block(estimator, state.copy(), tile, bx, by, mode)
        costs.append(estimator.cost)
    return costs


def choose_mode(state: PayloadState, tile: Tile, bx: int, by: int) -> int:
    """SPEC §8.4: the mode of least estimated cost, the lower mode on ties."""
    costs = mode_costs(state, tile, bx, by)
    return costs.index(min(costs))


class ReferenceChoices:
    """The reference encoder's decisions (SPEC §8.3, §8.4), for write_payload."""

    def palette_idx(self, state: PayloadState, samples: Samples) -> int:
        return choose_palette_idx(state, samples)

    def pred_mode(self, state: PayloadState, tile: Tile, bx: int, by: int) -> int:
        return choose_mode(state, tile, bx, by)


PROFILES = ("baseline", "extended")


def encode(tensor: object, bits: int = 8, *, profile: str = "baseline", setting: str = "default",
           range: object = None) -> bytes:  # noqa: A002 (the API's word for it)
    """Encode a (C, H, W) tensor into a dfc stream: profile "baseline" (SPEC §8)
    or "extended" (SPEC §11.12, with setting "default" or "fast"); ``range``
    (lo, hi) fixes the quantizer's range, values outside it clipped (SPEC §4.2)."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}, got {profile!r}")
    values = validate_input(tensor, bits)
    fixed_range = validate_range(range)
    if profile == "extended":
        return encode_extended(values, int(bits), setting, fixed_range)
    if setting != "default":
        raise ValueError(f"the baseline profile has no setting {setting!r}")
    q, min_value, max_value = quantize(values, int(bits), fixed_range)
    channels, height, width = q.shape
    tiles: list[Samples] = [plane.tolist() for plane in q]  # (range is the argument here)

    uniques, freq = np.unique(q, return_counts=True)  # SPEC §8.2
    counts = Counter({int(v): int(n) for v, n in zip(uniques, freq, strict=True)})
    palette = tuple(initial_palette_order(select_palette(counts), tiles[0]))

    enc = ArithmeticEncoder()
    write_payload(enc, palette, tiles, max_level(int(bits)), ReferenceChoices())
    payload = enc.payload()

    header = Header(
        format_version=FORMAT_VERSION, profile=PROFILE_BASELINE, bit_depth=int(bits),
        channels=channels, height=height, width=width,
        min_value=min_value, max_value=max_value,
        payload_size=len(payload), palette=palette,
    )
    return frame_stream(header, payload)
