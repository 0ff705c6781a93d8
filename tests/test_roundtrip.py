"""Round trips through each implementation, checked against the quantizer (SPEC §4).

Generated tensors are shaped like real features (ReLU, ReLU6, leaky ReLU,
hardswish), plus uniform, constant and few-valued tensors. They are kept small
(at most ~3000 values) because the reference codes ~10 us per value.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import numpy as np
import pytest
from conftest import check_roundtrip
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dfc.reference

MAX_VALUES = 3000


def budget(max_examples: int) -> settings:
    """Hypothesis settings: no deadline (the reference is slow), few examples."""
    return settings(deadline=None, max_examples=max_examples, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


Shape = tuple[int, int, int]
Rng = np.random.Generator


@st.composite
def shapes(draw: st.DrawFn, min_channels: int = 1, max_channels: int = 512) -> Shape:
    """(C, H, W) with C*H*W <= MAX_VALUES: many channels come with tiny tiles."""
    c = draw(st.one_of(
        st.integers(min_channels, min(max_channels, 8)),
        st.integers(min_channels, max_channels),
    ))
    room = MAX_VALUES // c
    h = draw(st.integers(1, min(64, room)))
    w = draw(st.integers(1, min(64, room // h)))
    return c, h, w


scales = st.sampled_from([1e-30, 1e-3, 0.37, 1.0, 6.0, 1e3, 1e30])


def relu(draw: st.DrawFn, rng: Rng, shape: Shape) -> np.ndarray:
    """Most values exactly 0, the rest half-normal."""
    nonzero = draw(st.floats(0.02, 0.6))
    scale = draw(scales)
    x = np.abs(rng.standard_normal(shape)) * scale
    return np.where(rng.random(shape) < nonzero, x, 0.0).astype(np.float32)


def relu6(draw: st.DrawFn, rng: Rng, shape: Shape) -> np.ndarray:
    """Pre-activations spread over [-3, 9], clipped to [0, 6]: spikes at 0 and 6."""
    loc = draw(st.floats(-3.0, 6.0))
    return np.clip(rng.normal(loc, 3.0, shape), 0.0, 6.0).astype(np.float32)


def leaky_relu(draw: st.DrawFn, rng: Rng, shape: Shape) -> np.ndarray:
    """Slope 0.1 below zero: a negative minimum and most mass near zero."""
    scale = draw(scales)
    z = rng.normal(draw(st.floats(-1.0, 0.5)), 1.0, shape) * scale
    return np.where(z > 0, z, 0.1 * z).astype(np.float32)


def hardswish(draw: st.DrawFn, rng: Rng, shape: Shape) -> np.ndarray:
    """x * relu6(x + 3) / 6: minimum -0.375, exact (negative) zeros below -3."""
    z = rng.normal(draw(st.floats(-3.0, 1.0)), 3.0, shape)
    return (z * np.clip(z + 3.0, 0.0, 6.0) / 6.0).astype(np.float32)


def uniform(draw: st.DrawFn, rng: Rng, shape: Shape) -> np.ndarray:
    scale = draw(scales)
    low = draw(st.floats(-2.0, 2.0)) * scale
    return rng.uniform(low, low + scale, shape).astype(np.float32)


def constant(draw: st.DrawFn, rng: Rng, shape: Shape) -> np.ndarray:
    """min == max: every value quantizes to 0."""
    value = draw(st.floats(width=32, allow_nan=False, allow_infinity=False))
    return np.full(shape, value, dtype=np.float32)


DISTRIBUTIONS: dict[str, Callable[[st.DrawFn, Rng, Shape], np.ndarray]] = {
    "relu": relu,
    "relu6": relu6,
    "leaky_relu": leaky_relu,
    "hardswish": hardswish,
    "uniform": uniform,
    "constant": constant,
}


@st.composite
def feature_tensors(draw: st.DrawFn, kind: str, max_channels: int = 512) -> np.ndarray:
    shape = draw(shapes(max_channels=max_channels))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return DISTRIBUTIONS[kind](draw, rng, shape)


@st.composite
def few_valued_tensors(draw: st.DrawFn, distinct: int) -> np.ndarray:
    """A tensor holding exactly ``distinct`` float32 values (each at least once when
    the tensor has room), in random positions and proportions."""
    values = draw(st.lists(
        st.floats(width=32, allow_nan=False, allow_infinity=False),
        min_size=distinct, max_size=distinct, unique=True,
    ))
    c, h, w = draw(shapes())
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    weights = rng.dirichlet(np.ones(distinct) * 0.5)
    idx = rng.choice(distinct, size=c * h * w, p=weights)
    idx[: min(distinct, idx.size)] = np.arange(min(distinct, idx.size))
    rng.shuffle(idx)
    return np.asarray(values, dtype=np.float32)[idx].reshape(c, h, w)


bit_depths = st.integers(1, 16)


@pytest.mark.parametrize("kind", list(DISTRIBUTIONS))
@budget(50)
@given(data=st.data(), bits=bit_depths)
def test_roundtrip_feature_like(impl: ModuleType, kind: str, data: st.DataObject, bits: int) -> None:
    check_roundtrip(impl, data.draw(feature_tensors(kind)), bits)


@pytest.mark.parametrize("distinct", range(1, 10))
@budget(20)
@given(data=st.data(), bits=bit_depths)
def test_roundtrip_few_distinct_values(impl: ModuleType, distinct: int, data: st.DataObject, bits: int) -> None:
    # 1..8 distinct values fit the palette (SPEC §5.3); 9 overflow it.
    check_roundtrip(impl, data.draw(few_valued_tensors(distinct)), bits)


@budget(30)
@given(data=st.data(), bits=bit_depths, kind=st.sampled_from(["relu", "leaky_relu", "hardswish"]))
def test_roundtrip_many_channels_tiny_tiles(impl: ModuleType, data: st.DataObject, bits: int, kind: str) -> None:
    c = data.draw(st.integers(100, 512))
    shape = (c, data.draw(st.integers(1, 3)), data.draw(st.integers(1, 2)))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    check_roundtrip(impl, DISTRIBUTIONS[kind](data.draw, rng, shape), bits)


@pytest.mark.parametrize("bits", [1, 2, 8, 15, 16])
def test_roundtrip_single_value_tensor(impl: ModuleType, bits: int) -> None:
    check_roundtrip(impl, np.full((1, 1, 1), 2.5, dtype=np.float32), bits)


@pytest.mark.parametrize("bits", [1, 16])
def test_roundtrip_1x1_tiles_512_channels(impl: ModuleType, bits: int) -> None:
    x = np.maximum(np.random.default_rng(5).normal(size=(512, 1, 1)), 0).astype(np.float32)
    check_roundtrip(impl, x, bits)


def test_roundtrip_16bit_checkerboard_extreme_residuals(impl: ModuleType) -> None:
    # 0 next to 65535: residuals of +-L under every mode, the longest abs_remaining codes.
    board = (np.indices((2, 9, 11)).sum(axis=0) % 2).astype(np.float32)
    stream = check_roundtrip(impl, board, 16)
    assert np.array_equal(impl.decode_stream(stream).integers, board.astype(np.uint16) * 65535)


def test_roundtrip_16bit_ramp_every_level_step(impl: ModuleType) -> None:
    x = np.arange(3 * 17 * 19, dtype=np.float32).reshape(3, 17, 19) ** 2
    check_roundtrip(impl, x, 16)


def test_roundtrip_negative_only_values(impl: ModuleType) -> None:
    x = -np.abs(np.random.default_rng(1).normal(size=(3, 6, 7))).astype(np.float32) - 100.0
    check_roundtrip(impl, x, 8)


def test_roundtrip_extreme_float32_range(impl: ModuleType) -> None:
    f32 = np.finfo(np.float32)
    x = np.array([f32.min, -1.0, 0.0, f32.tiny, 1.0, f32.max], dtype=np.float32).reshape(1, 2, 3)
    for bits in (1, 8, 16):
        check_roundtrip(impl, x, bits)


def test_default_bit_depth_is_8(impl: ModuleType) -> None:
    x = np.random.default_rng(2).random((2, 5, 6)).astype(np.float32)
    assert impl.decode_stream(impl.encode(x)).header.bit_depth == 8
    assert impl.encode(x) == impl.encode(x, bits=8)


def test_encoding_is_deterministic(impl: ModuleType) -> None:
    x = np.maximum(np.random.default_rng(3).normal(size=(6, 9, 10)), 0).astype(np.float32)
    assert impl.encode(x, bits=6) == impl.encode(x.copy(), bits=6)


def test_float64_input_is_cast_to_float32(impl: ModuleType) -> None:
    # Values that float32 cannot hold exactly: the stream is that of the float32 cast.
    x = np.random.default_rng(4).normal(size=(3, 7, 5))
    assert x.dtype == np.float64
    stream = check_roundtrip(impl, x, 10)
    assert stream == impl.encode(x.astype(np.float32), bits=10)


@pytest.mark.parametrize("dtype", [np.bool_, np.int8, np.uint8, np.int16, np.uint16, np.int32, np.int64, np.float16])
def test_non_float32_inputs_are_accepted(impl: ModuleType, dtype: type) -> None:
    rng = np.random.default_rng(6)
    x = rng.integers(0, 2 if dtype is np.bool_ else 100, size=(2, 5, 6)).astype(dtype)
    stream = check_roundtrip(impl, x, 7)
    assert stream == impl.encode(x.astype(np.float32), bits=7)


def test_nested_list_input_is_accepted(impl: ModuleType) -> None:
    x = [[[0.0, 1.0, 2.0], [3.0, 0.0, 0.0]]]
    assert impl.encode(x, bits=4) == impl.encode(np.asarray(x, dtype=np.float32), bits=4)


def test_non_contiguous_input_gives_same_stream(impl: ModuleType) -> None:
    base = np.maximum(np.random.default_rng(7).normal(size=(6, 14, 22)), 0).astype(np.float32)
    for view in (base[::2, 1::3, ::2], base.transpose(0, 2, 1), np.asfortranarray(base)):
        assert impl.encode(view, bits=8) == impl.encode(np.ascontiguousarray(view), bits=8)


def test_numpy_integer_bits_accepted(impl: ModuleType) -> None:
    x = np.random.default_rng(8).random((2, 3, 4)).astype(np.float32)
    assert impl.encode(x, bits=np.int64(5)) == impl.encode(x, bits=5)


def test_decoder_accepts_bytes_like(impl: ModuleType) -> None:
    x = np.random.default_rng(9).random((2, 4, 5)).astype(np.float32)
    stream = impl.encode(x, bits=8)
    expected = impl.decode(stream)
    for data in (bytearray(stream), memoryview(stream)):
        np.testing.assert_array_equal(impl.decode(data), expected)


@budget(100)
@given(data=st.data(), bits=bit_depths, kind=st.sampled_from(list(DISTRIBUTIONS)))
def test_fast_stream_identical_to_reference(fast: ModuleType, data: st.DataObject, bits: int, kind: str) -> None:
    """Every conforming encoder produces the same bytes (SPEC §8)."""
    x = data.draw(feature_tensors(kind))
    assert fast.encode(x, bits=bits) == dfc.reference.encode(x, bits=bits)

