"""The Q-layer and its inverse (SPEC §4.1-4.3), with hand-worked values."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from dfc.reference.quantizer import dequantize, max_level, quantize


def f32(values: list[float]) -> np.ndarray:
    return np.asarray(values, dtype=np.float32)


@pytest.mark.parametrize(("bits", "level"), [(1, 1), (2, 3), (8, 255), (12, 4095), (16, 65535)])
def test_max_level_is_2_to_the_n_minus_1(bits: int, level: int) -> None:
    assert max_level(bits) == level


def test_quantize_two_bits_hand_worked() -> None:
    # min -1, max 3, L = 3: t = (v + 1) / 4 = 0, 0.25, 1
    # floor(3t + 0.5) = floor(0.5), floor(1.25), floor(3.5) = 0, 1, 3
    q, mn, mx = quantize(f32([-1.0, 0.0, 3.0]), 2)
    assert q.tolist() == [0, 1, 3]
    assert (mn, mx) == (-1.0, 3.0)


def test_quantize_rounds_half_up() -> None:
    # t = 0.5 exactly. 1 bit: floor(0.5 * 1 + 0.5) = 1; 8 bits: floor(127.5 + 0.5) = 128.
    assert quantize(f32([0.0, 1.0, 2.0]), 1)[0].tolist() == [0, 1, 1]
    assert quantize(f32([0.0, 1.0, 2.0]), 8)[0].tolist() == [0, 128, 255]
    # t = 0.25 at 1 bit: floor(0.75) = 0; t = 0.75: floor(1.25) = 1.
    assert quantize(f32([0.0, 1.0, 3.0, 4.0]), 1)[0].tolist() == [0, 0, 1, 1]


def test_quantize_constant_tensor_is_all_zero() -> None:
    q, mn, mx = quantize(np.full((2, 3, 4), -7.25, dtype=np.float32), 16)
    assert not q.any()
    assert mn == mx == -7.25


def test_quantize_keeps_min_and_max_as_float32_values() -> None:
    # 0.1 is not a float32; the header carries float32(0.1) = 0.100000001490116...
    q, mn, mx = quantize(f32([0.1, 0.7]), 8)
    assert mn == float(np.float32(0.1)) and mn != 0.1
    assert mx == float(np.float32(0.7))
    assert q.tolist() == [0, 255]


def test_dequantize_two_bits_hand_worked() -> None:
    # min -1, max 3, L = 3, binary64 then rounded to float32:
    #   q=1: -1 + (1 * 4) / 3 = 0.33333333333333326 -> float32 0.3333333432674408
    #   q=2: -1 + (2 * 4) / 3 = 1.6666666666666665  -> float32 1.6666666269302368
    out = dequantize(np.array([0, 1, 2, 3]), 2, -1.0, 3.0)
    assert out.dtype == np.float32
    assert [float(v) for v in out] == [-1.0, 0.3333333432674408, 1.6666666269302368, 3.0]


def test_dequantize_endpoints_are_exact_despite_cancellation() -> None:
    # min = float32(-1e30), max = 1: min + (1 * (max - min)) / 1 = 0.0 in binary64
    # (the 1 is lost in max - min), but q = L must give max_value exactly (SPEC §4.3).
    mn = float(np.float32(-1e30))
    assert mn + (1 * (1.0 - mn)) / 1 == 0.0
    out = dequantize(np.array([0, 1]), 1, mn, 1.0)
    assert [float(v) for v in out] == [mn, 1.0]


def test_dequantize_min_equals_max() -> None:
    out = dequantize(np.zeros((1, 2, 2), dtype=np.uint16), 8, 2.5, 2.5)
    assert out.tolist() == [[[2.5, 2.5], [2.5, 2.5]]]


finite32 = st.floats(width=32, allow_nan=False, allow_infinity=False, allow_subnormal=False)


@settings(max_examples=200, deadline=None, database=None)
@given(
    x=hnp.arrays(np.float32, st.integers(1, 64), elements=st.floats(-1e6, 1e6, width=32)),
    bits=st.integers(1, 16),
)
def test_quantization_error_at_most_half_a_step(x: np.ndarray, bits: int) -> None:
    q, mn, mx = quantize(x, bits)
    assert q.min() >= 0 and q.max() <= max_level(bits)
    y = dequantize(q, bits, mn, mx).astype(np.float64)
    step = (mx - mn) / max_level(bits)
    # half a step, plus float32 rounding of the output and of the binary64 maths
    slack = 2 * np.spacing(np.float32(max(abs(mn), abs(mx)))) + 1e-12 * step
    assert np.all(np.abs(y - x.astype(np.float64)) <= step / 2 + slack)


@settings(max_examples=100, deadline=None, database=None)
@given(
    x=hnp.arrays(np.float32, st.integers(2, 64), elements=finite32),
    bits=st.integers(1, 16),
)
def test_quantize_is_monotone_and_hits_both_ends(x: np.ndarray, bits: int) -> None:
    order = np.argsort(x, kind="stable")
    q, mn, mx = quantize(x, bits)
    assert np.all(np.diff(q[order]) >= 0)
    if mn < mx:
        assert q[np.argmin(x)] == 0 and q[np.argmax(x)] == max_level(bits)
        out = dequantize(q, bits, mn, mx)
        assert out.min() == np.float32(mn) and out.max() == np.float32(mx)


def test_min_value_sign_does_not_depend_on_value_order(impl: ModuleType) -> None:
    """min_value (and max_value) are properties of the tensor's values, not of their
    positions. +0.0 == -0.0, so "the minimum" of a tensor holding both must be
    pinned down by SPEC §4.2 (e.g. -0.0 treated as +0.0, or as the smaller);
    numpy's np.min returns whichever zero its reduction happens to keep."""
    a = f32([0.0, -0.0, 1.0]).reshape(1, 1, 3)
    b = f32([-0.0, 0.0, 1.0]).reshape(1, 1, 3)
    ha = impl.decode_stream(impl.encode(a, bits=8)).header
    hb = impl.decode_stream(impl.encode(b, bits=8)).header
    assert np.float32(ha.min_value).view(np.uint32) == np.float32(hb.min_value).view(np.uint32)
    c = f32([-1.0, -0.0, 0.0]).reshape(1, 1, 3)
    d = f32([-1.0, 0.0, -0.0]).reshape(1, 1, 3)
    hc = impl.decode_stream(impl.encode(c, bits=8)).header
    hd = impl.decode_stream(impl.encode(d, bits=8)).header
    assert np.float32(hc.max_value).view(np.uint32) == np.float32(hd.max_value).view(np.uint32)


# --- a fixed range (SPEC §4.2) ------------------------------------------------

def test_fixed_range_clips_and_sets_the_extremes() -> None:
    # ReLU6's [0, 6] at 2 bits: t = v / 6, q = floor(3t + 0.5); 7.5 clips to 6, -1 to 0.
    q, mn, mx = quantize(f32([-1.0, 0.0, 1.0, 3.0, 7.5]), 2, (0.0, 6.0))
    assert q.tolist() == [0, 0, 1, 2, 3]
    assert (mn, mx) == (0.0, 6.0)


@pytest.mark.parametrize("profile", ["baseline", "extended"])
def test_fixed_range_streams_carry_the_range_and_both_backends_agree(impl: ModuleType, profile: str) -> None:
    import dfc.reference

    x = np.random.default_rng(5).normal(0.0, 3.0, size=(3, 9, 7)).astype(np.float32)
    stream = impl.encode(x, 6, profile=profile, range=(0.0, 6.0))
    assert stream == dfc.reference.encode(x, 6, profile=profile, range=(0.0, 6.0))
    decoded = impl.decode_stream(stream)
    assert (decoded.header.min_value, decoded.header.max_value) == (0.0, 6.0)
    expected, _, _ = quantize(np.clip(x, 0.0, 6.0), 6, (0.0, 6.0))
    assert np.array_equal(decoded.integers, expected)


@pytest.mark.parametrize("bad", [(1.0,), (2.0, 1.0), (0.0, float("inf")), (0.0, 1e39), "ab", 3.0])
def test_a_bad_range_is_refused_by_name(impl: ModuleType, bad: object) -> None:
    with pytest.raises(ValueError, match="range"):
        impl.encode(np.zeros((1, 2, 2), np.float32), 8, range=bad)


def test_outside_range_counts_what_is_clipped() -> None:
    import dfc

    x = f32([-1.0, 0.0, 6.0, 6.5, 3.0]).reshape(1, 1, 5)
    assert dfc.outside_range(x, (0.0, 6.0)) == 2
    assert dfc.outside_range(x, (-1.0, 6.5)) == 0
