"""dfc.fast against dfc.reference: tables, byte-identical streams, identical outputs
and identical errors, memory safety on hostile streams, and the GIL release.

The reference codes ~10 us per value, so every comparison with it keeps tensors
small (or compares on a channel slice); dfc.fast alone handles whole tensors.
"""

from __future__ import annotations

import random
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from conftest import fit_shape, load_impl, real_files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dfc.reference
import dfc.reference.tables as ref_tables
from dfc.errors import DecodeError
from dfc.reference.quantizer import dequantize, quantize

MAX_VALUES = 4000  # per generated tensor: the reference must code it quickly


@pytest.fixture(scope="module")
def fast() -> ModuleType:
    return load_impl("fast")


def budget(max_examples: int) -> settings:
    return settings(deadline=None, max_examples=max_examples, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# --- (1) constant tables and the mode decision's cost ---------------------------

FAST_DIR = Path(__file__).resolve().parent.parent / "fast"


def test_generated_tables_are_up_to_date() -> None:
    """fast/tables.h and fast/tables.pxi are exactly what the generator makes from
    reference/tables.py: after changing a table, run python -m dfc.tools.gen_fast_tables."""
    from dfc.tools import gen_fast_tables

    for name, text in gen_fast_tables.render().items():
        assert (FAST_DIR / name).read_bytes() == text.encode("utf-8"), (
            f"fast/{name} is stale: run python -m dfc.tools.gen_fast_tables")


@pytest.mark.parametrize("name,value", [
    ("NUM_MODES", 6),            # rem_mode has 2 bins
    ("CTX_GT2_FLAG", 29),        # overlaps the gt1_flag contexts
    ("RICE_PREFIX_LIMIT", 8),    # a Rice code longer than the decoder's look-ahead
    ("TRANS_IDX_MPS", (64,) * 64),
    ("RANGE_TAB_LPS", ((200, 200, 200, 200),) * 64),  # an MPS needing two shifts
])
def test_table_generator_refuses_tables_the_code_cannot_use(monkeypatch: pytest.MonkeyPatch,
                                                            name: str, value: object) -> None:
    from dfc.tools import gen_fast_tables

    monkeypatch.setattr(ref_tables, name, value)
    with pytest.raises(gen_fast_tables.TableError):
        gen_fast_tables.render()


def test_compiled_tables_equal_reference(fast: ModuleType) -> None:
    """The tables compiled into the extension equal dfc.reference.tables (a build
    from stale generated files fails here)."""
    from dfc.fast import _codec

    compiled = _codec._tables()
    for name, value in compiled.items():
        assert value == getattr(ref_tables, name), name
    # every table of the engine and the syntax is covered
    for name in ("RANGE_TAB_LPS", "TRANS_IDX_LPS", "TRANS_IDX_MPS", "FRAC_BITS", "BYPASS_BITS",
                 "FILTER_TAPS", "SCAN_FOR_MODE", "NUM_MODES", "MODE_PAL", "MODE_FIL_B",
                 "CTX_PALETTE_IDX", "CTX_SIGN_FLAG", "NUM_CONTEXTS", "INIT_STATE", "INIT_MPS",
                 "MAX_GT1_FLAGS", "MAX_RICE_PARAM", "MAX_STAT_COEFF", "RICE_PREFIX_LIMIT",
                 "MAX_REMAINDER_PREFIX", "MAX_PALETTE_SIZE"):
        assert name in compiled


class ElementLog:
    """A reference TraceSink that keeps (channel, block, name, value) of each element."""

    def __init__(self) -> None:
        self.elements: list[tuple[int, tuple[int, int] | None, str, int]] = []

    def header_field(self, byte_offset: int, name: str, value: object) -> None:
        pass

    def payload_element(self, bit_pos: int, channel: int, block: tuple[int, int] | None,
                        name: str, value: int) -> None:
        self.elements.append((channel, block, name, value))

    def end_of_payload(self, bit_pos: int) -> None:
        pass

    def value(self, block: tuple[int, int] | None, name: str) -> int:
        return next(v for _, b, n, v in self.elements if b == block and n == name)


def test_mode_costs_pick_the_encoders_mode(fast: ModuleType, small_real_tensor: Path) -> None:
    """_mode_costs gives NUM_MODES non-negative costs, and the least (ties to the
    lower mode) is the mode the encoder codes: block (0, 0) of real channels, each
    coded alone, so that it starts from the initial contexts and StatCoeff 0."""
    from dfc.fast import _codec

    x = np.load(small_real_tensor)
    initial = bytes([(ref_tables.INIT_STATE << 1) | ref_tables.INIT_MPS] * ref_tables.NUM_CONTEXTS)
    chosen = set()
    for c in range(x.shape[0]):
        channel = np.ascontiguousarray(x[c:c + 1])
        stream = fast.encode(channel, 8)
        log = ElementLog()
        header = dfc.reference.decode_stream(stream, trace=log).header
        tile = quantize(channel, 8)[0][0].astype(np.uint16)
        pal = header.palette[log.value(None, "palette_idx")]
        costs = _codec._mode_costs(tile, 0, 0, pal, ref_tables.MODE_PAL, 0, initial, 0)
        assert len(costs) == ref_tables.NUM_MODES
        assert all(isinstance(cost, int) and cost >= 0 for cost in costs), costs
        mode = log.value((0, 0), "pred_mode")
        assert costs.index(min(costs)) == mode, (c, costs, mode)
        chosen.add(mode)
    assert len(chosen) >= 3, chosen  # the check is not one mode winning everywhere


# --- helpers -------------------------------------------------------------------

def assert_same_decode(fast: ModuleType, stream: bytes) -> str | None:
    """Both decoders return identical headers, integers and float bits, or raise
    the same error class with the same code, offset and section (returned)."""
    ref_exc: Exception | None = None
    fast_exc: Exception | None = None
    try:
        ref = dfc.reference.decode_stream(stream)
    except DecodeError as exc:
        ref_exc = exc
    try:
        got = fast.decode_stream(stream)
    except DecodeError as exc:
        fast_exc = exc
    if ref_exc is not None or fast_exc is not None:
        assert type(fast_exc) is type(ref_exc), (ref_exc, fast_exc)
        assert isinstance(ref_exc, DecodeError) and isinstance(fast_exc, DecodeError)
        assert (fast_exc.code, fast_exc.offset, fast_exc.section) == (
            ref_exc.code, ref_exc.offset, ref_exc.section), (ref_exc, fast_exc)
        assert str(fast_exc) == str(ref_exc)
        with pytest.raises(type(ref_exc)):
            fast.decode(stream)
        return fast_exc.code
    assert got.header == ref.header
    assert got.integers.dtype == np.uint16 and got.integers.shape == ref.integers.shape
    np.testing.assert_array_equal(got.integers, ref.integers)
    ref_floats = ref.floats()
    np.testing.assert_array_equal(fast.decode(stream).view(np.uint32), ref_floats.view(np.uint32))
    np.testing.assert_array_equal(got.floats().view(np.uint32), ref_floats.view(np.uint32))
    return None


def assert_identical(fast: ModuleType, x: np.ndarray, bits: int) -> bytes:
    stream = fast.encode(x, bits=bits)
    assert isinstance(stream, bytes)
    assert stream == dfc.reference.encode(x, bits=bits)
    assert_same_decode(fast, stream)
    return stream


# --- (2) differential: byte-identical streams, identical outputs --------------

Shape = tuple[int, int, int]


@st.composite
def shapes(draw: st.DrawFn) -> Shape:
    c = draw(st.integers(1, 64))
    h = draw(st.integers(1, 40))
    w = draw(st.integers(1, 40))
    return fit_shape(c, h, w, MAX_VALUES)  # keep the reference quick: fewer channels first


scales = st.sampled_from([1e-30, 1e-3, 0.37, 1.0, 6.0, 1e3, 1e30])


def relu(draw: st.DrawFn, rng: np.random.Generator, shape: Shape) -> np.ndarray:
    nonzero = draw(st.floats(0.02, 0.6))
    x = np.abs(rng.standard_normal(shape)) * draw(scales)
    return np.where(rng.random(shape) < nonzero, x, 0.0).astype(np.float32)


def leaky_relu(draw: st.DrawFn, rng: np.random.Generator, shape: Shape) -> np.ndarray:
    z = rng.normal(draw(st.floats(-1.0, 0.5)), 1.0, shape) * draw(scales)
    return np.where(z > 0, z, 0.1 * z).astype(np.float32)


def uniform(draw: st.DrawFn, rng: np.random.Generator, shape: Shape) -> np.ndarray:
    scale = draw(scales)
    low = draw(st.floats(-2.0, 2.0)) * scale
    return rng.uniform(low, low + scale, shape).astype(np.float32)


def constant(draw: st.DrawFn, rng: np.random.Generator, shape: Shape) -> np.ndarray:
    value = draw(st.floats(width=32, allow_nan=False, allow_infinity=False))
    return np.full(shape, value, dtype=np.float32)


def few_values(draw: st.DrawFn, rng: np.random.Generator, shape: Shape) -> np.ndarray:
    distinct = draw(st.integers(1, 12))
    values = np.asarray(draw(st.lists(
        st.floats(width=32, allow_nan=False, allow_infinity=False),
        min_size=distinct, max_size=distinct, unique=True)), dtype=np.float32)
    weights = rng.dirichlet(np.ones(distinct) * 0.5)
    return values[rng.choice(distinct, size=shape, p=weights)]


def smooth(draw: st.DrawFn, rng: np.random.Generator, shape: Shape) -> np.ndarray:
    """Spatially correlated (like real features): Hor/Ver/filter modes win blocks."""
    x = np.cumsum(np.cumsum(rng.normal(size=shape), axis=1), axis=2)
    return np.maximum(x, draw(st.floats(-5.0, 5.0))).astype(np.float32)


DISTRIBUTIONS: dict[str, Callable[[st.DrawFn, np.random.Generator, Shape], np.ndarray]] = {
    "relu": relu, "leaky_relu": leaky_relu, "uniform": uniform,
    "constant": constant, "few_values": few_values, "smooth": smooth,
}


@pytest.mark.parametrize("kind", list(DISTRIBUTIONS))
@budget(25)
@given(data=st.data(), bits=st.integers(1, 16))
def test_encode_byte_identical_to_reference(fast: ModuleType, kind: str, data: st.DataObject,
                                            bits: int) -> None:
    shape = data.draw(shapes())
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    assert_identical(fast, DISTRIBUTIONS[kind](data.draw, rng, shape), bits)


@pytest.mark.parametrize("bits", [1, 2, 8, 12, 16])
def test_identical_on_extremes(fast: ModuleType, bits: int) -> None:
    f32 = np.finfo(np.float32)
    cases = [
        np.zeros((1, 1, 1), np.float32),
        np.array([f32.min, -1.0, -0.0, 0.0, f32.tiny, f32.max], np.float32).reshape(1, 2, 3),
        (np.indices((3, 9, 11)).sum(axis=0) % 2).astype(np.float32),  # +-L residuals
        (np.arange(2 * 17 * 19, dtype=np.float32).reshape(2, 17, 19) ** 2),
        np.maximum(np.random.default_rng(bits).normal(size=(300, 2, 3)), 0).astype(np.float32),
        np.random.default_rng(bits).random((2, 5, 41)).astype(np.float32),
    ]
    for x in cases:
        assert_identical(fast, x, bits)


def test_non_contiguous_and_other_dtypes(fast: ModuleType) -> None:
    rng = np.random.default_rng(7)
    base = rng.normal(size=(6, 9, 8))
    for x in (base, base.transpose(2, 0, 1), base[:, ::2, ::-1], (base * 10).astype(np.int16),
              base > 0, np.asfortranarray(base.astype(np.float32))):
        assert fast.encode(x, 7) == dfc.reference.encode(x, 7)


@pytest.mark.parametrize("tensor,bits", [
    (np.zeros((2, 3, 4), np.float32), 0),
    (np.zeros((2, 3, 4), np.float32), 17),
    (np.zeros((2, 3, 4), np.float32), True),
    (np.zeros((2, 3, 4), np.float32), 8.0),
    (np.zeros((3, 4), np.float32), 8),
    (np.zeros((0, 3, 4), np.float32), 8),
    (np.full((1, 2, 2), np.nan, np.float32), 8),
    (np.full((1, 2, 2), np.inf), 8),
    (np.full((1, 2, 2), 1e300), 8),
    (np.array([[["a"]]]), 8),
])
@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_rejects_bad_encoder_input_like_reference(fast: ModuleType, tensor: np.ndarray,
                                                  bits: int) -> None:
    with pytest.raises(ValueError) as ref_err:
        dfc.reference.encode(tensor, bits)
    with pytest.raises(ValueError) as fast_err:
        fast.encode(tensor, bits)
    assert type(fast_err.value) is type(ref_err.value)
    assert str(fast_err.value) == str(ref_err.value)


# --- (3) corrupted and truncated streams: same error as the reference -------------

def refix(stream: bytes, header_size: int, payload: bytes) -> bytes:
    """A stream with another payload: payload_size and the CRC made consistent, so
    that the payload parser (not the framing) meets the damage."""
    head = bytearray(stream[:header_size])
    head[28:32] = len(payload).to_bytes(4, "big")
    body = bytes(head) + payload
    return body + (zlib.crc32(body) & 0xFFFFFFFF).to_bytes(4, "big")


def mutate(stream: bytes, rng: random.Random, keep_crc_valid: bool) -> bytes:
    header = dfc.reference.read_header(stream)
    hs = header.header_size
    payload = bytearray(stream[hs:-4])
    data = bytearray(stream)
    op = rng.randrange(8)
    if not keep_crc_valid:
        if op == 0:
            return bytes(data[: rng.randrange(len(data))])
        if op == 1:
            return bytes(data) + bytes(rng.randrange(256) for _ in range(rng.randint(1, 3)))
        i = rng.randrange(len(data))
        data[i] ^= 1 << rng.randrange(8) if op < 5 else rng.randrange(1, 256)
        return bytes(data)
    if op == 0 and payload:  # truncate the payload
        payload = payload[: rng.randrange(len(payload))]
    elif op == 1:  # extend it
        payload += bytes(rng.choice([0, 0, 255, rng.randrange(256)]) for _ in range(rng.randint(1, 4)))
    elif op == 2 and payload:  # zero or saturate a run
        i = rng.randrange(len(payload))
        fill = rng.choice([0, 255])
        for j in range(i, min(len(payload), i + rng.randint(1, 8))):
            payload[j] = fill
    elif payload:  # flip bits
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(payload))
            payload[i] ^= 1 << rng.randrange(8)
    return refix(stream, hs, bytes(payload))


def corpus_of_streams() -> list[tuple[np.ndarray, int]]:
    rng = np.random.default_rng(11)
    relu_x = np.maximum(rng.normal(size=(4, 9, 10)), 0).astype(np.float32)
    return [
        (relu_x, 8),
        (relu_x, 16),
        (relu_x, 1),
        (rng.random((2, 7, 13)).astype(np.float32), 12),  # dense: escapes, big residuals
        ((np.indices((2, 6, 7)).sum(axis=0) % 2).astype(np.float32), 16),
        (rng.integers(0, 3, (3, 5, 6)).astype(np.float32), 4),
    ]


@pytest.mark.parametrize("keep_crc_valid", [False, True])
def test_corrupt_streams_same_error_as_reference(fast: ModuleType, keep_crc_valid: bool) -> None:
    rng = random.Random(1234 + keep_crc_valid)
    codes: set[str] = set()
    for x, bits in corpus_of_streams():
        stream = dfc.reference.encode(x, bits)
        for _ in range(60):
            code = assert_same_decode(fast, mutate(stream, rng, keep_crc_valid))
            if code is not None:
                codes.add(code)
    if keep_crc_valid:  # the payload parser's errors were reached
        assert {"payload_overrun", "sample_out_of_range"} <= codes, codes


def test_hand_made_payload_errors_same_as_reference(fast: ModuleType) -> None:
    x = np.maximum(np.random.default_rng(3).normal(size=(2, 5, 6)), 0).astype(np.float32)
    stream = dfc.reference.encode(x, 8)
    hs = dfc.reference.read_header(stream).header_size
    payload = stream[hs:-4]
    cases = {
        "payload_overrun": [b"", b"\x00", payload[:-1], payload[: len(payload) // 2]],
        "bad_arith_init": [b"\xff\xff" + payload[2:]],
        "payload_unused_bytes": [payload + b"\x00", payload + b"\x00\x00\x00"],
    }
    for code, payloads in cases.items():
        for p in payloads:
            bad = refix(stream, hs, p)
            assert_same_decode(fast, bad)
            with pytest.raises(DecodeError) as err:
                fast.decode_stream(bad)
            assert err.value.code == code, (code, p.hex())
    # every non-zero padding bit pattern after the stop bit
    for bit in range(8):
        p = bytearray(payload)
        p[-1] |= 1 << bit
        assert_same_decode(fast, refix(stream, hs, bytes(p)))


def test_remainder_prefix_too_long_same_as_reference(fast: ModuleType) -> None:
    # 16-bit checkerboard: long abs_remaining codes; all-ones payload runs inside them.
    x = (np.indices((1, 8, 8)).sum(axis=0) % 2).astype(np.float32)
    stream = dfc.reference.encode(x, 16)
    hs = dfc.reference.read_header(stream).header_size
    payload = stream[hs:-4]
    seen: set[str] = set()
    for start in range(2, len(payload)):
        for length in (4, 8):
            p = payload[:start] + b"\xff" * length + payload[start + length:]
            code = assert_same_decode(fast, refix(stream, hs, p))
            if code is not None:
                seen.add(code)
    assert "remainder_prefix_too_long" in seen or "residual_out_of_range" in seen, seen


# --- (4) fuzz: the fast decoder only returns or raises DecodeError -----------------

def test_fuzz_fast_decoder_only_raises_decode_error(fast: ModuleType) -> None:
    rng = random.Random(99)
    streams = [fast.encode(x, bits) for x, bits in corpus_of_streams()]
    big = np.maximum(np.random.default_rng(5).normal(size=(16, 24, 24)), 0).astype(np.float32)
    streams += [fast.encode(big, 8), fast.encode(big, 3)]
    deadline = time.monotonic() + 15.0
    done = 0
    outcomes = {"ok": 0, "error": 0}
    for i in range(4000):
        if time.monotonic() > deadline:
            break
        stream = streams[i % len(streams)]
        bad = mutate(stream, rng, keep_crc_valid=i % 4 != 0)
        try:
            out = fast.decode_stream(bad)
        except DecodeError:
            outcomes["error"] += 1
        else:
            outcomes["ok"] += 1
            level = (1 << out.header.bit_depth) - 1
            assert out.integers.shape == out.header.shape
            assert int(out.integers.max()) <= level
        done += 1
    assert done >= 500, done
    assert outcomes["error"] > 0


# --- (5) several tensors on several threads ---------------------------------------

def test_threads_give_serial_results(fast: ModuleType) -> None:
    rng = np.random.default_rng(21)
    tensors = [np.maximum(rng.normal(size=(24, 30 + i, 28)), 0).astype(np.float32) for i in range(8)]
    bits = [8, 4, 12, 16, 1, 8, 10, 6]
    serial = [fast.encode(x, b) for x, b in zip(tensors, bits, strict=True)]
    serial_dec = [fast.decode(s) for s in serial]
    with ThreadPoolExecutor(max_workers=4) as pool:
        for _ in range(3):
            threaded = list(pool.map(fast.encode, tensors, bits))
            assert threaded == serial
            decoded = list(pool.map(fast.decode, threaded))
            for a, b in zip(decoded, serial_dec, strict=True):
                np.testing.assert_array_equal(a.view(np.uint32), b.view(np.uint32))


@pytest.mark.parametrize("entry", ["_encode_payload", "_decode_payload", "_dequantize",
                                   "encode", "decode"])
def test_releases_the_gil(fast: ModuleType, entry: str) -> None:
    """The per-sample work runs without the GIL: while the main thread is inside a
    call, a second thread keeps counting. The switch interval is raised beyond the
    test's length, so that a thread waiting for the GIL gets it only when the holder
    releases it: inside a call that kept the GIL no tick could happen at all (in
    encode and decode, only during numpy's own GIL-free loops), however fast or slow
    the machine. Released, the counter ticks about as often as it does while the
    main thread sleeps (measured first): hundreds of times in the 0.4 s of calls."""
    import sys
    import threading

    from dfc.fast import _codec

    x = np.maximum(np.random.default_rng(8).normal(size=(64, 64, 64)), 0).astype(np.float32)
    mn, mx = float(x.min()), float(x.max())
    stream = fast.encode(x, 8)
    header = dfc.reference.read_header(stream)
    integers = fast.decode_stream(stream).integers  # _dequantize needs values <= L
    call = {
        "_encode_payload": lambda: _codec._encode_payload(x, 8, mn, mx),
        "_decode_payload": lambda: _codec._decode_payload(stream, header, integers),
        "_dequantize": lambda: _codec._dequantize(integers, 8, mn, mx),
        "encode": lambda: fast.encode(x, 8),
        "decode": lambda: fast.decode(stream),
    }[entry]
    ticks = 0
    stop = threading.Event()

    def spin() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0.0005)  # releases the GIL, so the main thread never waits long

    interval = sys.getswitchinterval()
    sys.setswitchinterval(100.0)
    thread = threading.Thread(target=spin)
    thread.start()
    inside = 0.0
    inside_ticks = calls = 0
    try:
        before = ticks
        time.sleep(0.2)
        rate = (ticks - before) / 0.2  # ticks per second with the GIL free
        while inside < 0.4:
            before = ticks
            start = time.perf_counter()
            call()
            inside += time.perf_counter() - start
            inside_ticks += ticks - before  # the thread can only have ticked inside call()
            calls += 1
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(interval)
    assert inside_ticks >= max(20.0, 0.25 * rate * inside), (entry, inside_ticks, rate, calls)


# --- (6) real feature tensors --------------------------------------------------------

@pytest.mark.parametrize("path", real_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_real_features_identical(fast: ModuleType, path: Path) -> None:
    x = np.load(path)
    # the reference on a slice of channels (it is slow) ...
    channels = max(1, min(x.shape[0], 12000 // (x.shape[1] * x.shape[2])))
    part = np.ascontiguousarray(x[:channels])
    for bits in (8, 4):
        assert_identical(fast, part, bits)
    # ... and dfc.fast on the whole tensor against the quantizer (SPEC §4)
    for bits in (8, 16):
        stream = fast.encode(x, bits)
        decoded = fast.decode_stream(stream)
        q, mn, mx = quantize(x.astype(np.float32), bits)
        np.testing.assert_array_equal(decoded.integers.astype(np.int64), q)
        np.testing.assert_array_equal(fast.decode(stream).view(np.uint32),
                                      dequantize(q, bits, mn, mx).view(np.uint32))


def test_public_api_matches_reference(fast: ModuleType) -> None:
    x = np.maximum(np.random.default_rng(4).normal(size=(3, 5, 5)), 0).astype(np.float32)
    stream = fast.encode(x)
    assert stream == fast.encode(x, bits=8) == dfc.reference.encode(x)
    for data in (stream, bytearray(stream), memoryview(stream)):
        out = fast.decode_stream(data)
        assert type(out) is dfc.reference.DecodedStream
        assert type(out.header) is dfc.reference.Header
    assert fast.decode(stream).dtype == np.float32


# --- conformance vectors (when present): same outcome as the reference --------------

CONFORMANCE_DIR = Path(__file__).resolve().parent.parent / "conformance_streams"


@pytest.mark.parametrize("path", sorted(CONFORMANCE_DIR.glob("*/*.dfc")),
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_conformance_stream_same_as_reference(fast: ModuleType, path: Path) -> None:
    stream = path.read_bytes()
    assert_same_decode(fast, stream)
    source = path.with_suffix(".input.npy")
    if source.exists():
        header = dfc.reference.read_header(stream)
        if header.profile == 1:
            setting = "fast" if header.setting else "default"
            assert fast.encode(np.load(source), header.bit_depth, profile="extended", setting=setting) == stream
        else:
            assert fast.encode(np.load(source), header.bit_depth) == stream
