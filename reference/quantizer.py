"""The Q-layer and its inverse: SPEC §4.

Both are defined in IEEE-754 binary64 arithmetic with round-to-nearest-even, one
operation at a time (no fused multiply-add), which numpy's element-wise float64
operations follow exactly; the results are therefore identical on every
conforming platform.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt


def max_level(bit_depth: int) -> int:
    """SPEC §4.1: L = 2^n - 1, the largest quantized value."""
    return (1 << bit_depth) - 1


def quantize(
    tensor: npt.NDArray[np.float32], bit_depth: int, fixed_range: tuple[float, float] | None = None
) -> tuple[npt.NDArray[np.int64], float, float]:
    """SPEC §4.2: map a finite float32 tensor to integers 0..L (-0.0 taken as +0.0),
    between its extremes or, given ``fixed_range`` (lo, hi) (float32 values,
    lo <= hi), between lo and hi after clipping every value to them.

    Returns the quantized tensor and (min_value, max_value) as the float32 values
    that the header carries.
    """
    if fixed_range is not None:
        tensor = np.clip(tensor, np.float32(fixed_range[0]), np.float32(fixed_range[1]))
    tensor = tensor + np.float32(0.0)  # -0.0 + 0.0 is +0.0 (round to nearest)
    v = tensor.astype(np.float64)
    if fixed_range is None:
        mn, mx = float(np.min(tensor)), float(np.max(tensor))
    else:
        mn, mx = fixed_range[0] + 0.0, fixed_range[1] + 0.0
    if mn == mx:
        return np.zeros(tensor.shape, dtype=np.int64), mn, mx
    level = max_level(bit_depth)
    t = (v - mn) / (mx - mn)
    q = np.floor(t * level + 0.5)
    q = np.clip(q, 0, level)
    return q.astype(np.int64), mn, mx


def zero_level(min_value: float, max_value: float, bit_depth: int) -> int:
    """SPEC §11.2: qz, the quantized value of 0.0 when min_value < 0 < max_value
    (SPEC §4.2's formula, in binary64), else 0."""
    if not min_value < 0.0 < max_value:
        return 0
    level = max_level(bit_depth)
    t = (0.0 - min_value) / (max_value - min_value)
    return min(max(math.floor(t * level + 0.5), 0), level)


def dequantize(
    q: npt.NDArray[np.integer], bit_depth: int, min_value: float, max_value: float
) -> npt.NDArray[np.float32]:
    """SPEC §4.3: the decoder's float32 output for quantized values q."""
    level = max_level(bit_depth)
    qf = q.astype(np.float64)
    out = min_value + (qf * (max_value - min_value)) / level
    out = np.where(q == 0, min_value, out)
    out = np.where(q == level, max_value, out)
    return out.astype(np.float32)
