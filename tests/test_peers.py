"""Tests for the lossless peer-codec wrappers (dfc.tools.peers)."""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest


def _load_peers() -> ModuleType:
    try:
        import dfc.tools.peers as mod

        return mod
    except ImportError:
        # not installed: load tools/peers.py straight from the work tree
        path = Path(__file__).resolve().parents[1] / "tools" / "peers.py"
        spec = importlib.util.spec_from_file_location("dfc_tools_peers_under_test", path)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod
        spec.loader.exec_module(mod)
        return mod


peers = _load_peers()

REQUIRED_KEYS = ["x265_ctu32", "x265_ctu16", "vp9", "png", "jpeg2000", "jpegls", "jpegxl", "jpegxl_e7", "webp"]
PEERS = {p.key: p for p in peers.all_peers()}


def _peer(key: str) -> Any:
    peer = PEERS[key]
    msg = peer.available()
    if msg is not None:
        pytest.skip(f"{peer.label} unavailable: {msg}")
    return peer


def feature_like(h: int, w: int, seed: int = 0, dtype: Any = np.uint8) -> np.ndarray:
    """Mostly one value (a ReLU floor) with sparse other values, like a
    quantised, tiled deep-feature tensor."""
    rng = np.random.default_rng(seed)
    m = np.full((h, w), 3, dtype=dtype)
    mask = rng.random((h, w)) < 0.12
    top = 255 if dtype == np.uint8 else 4095
    m[mask] = rng.integers(0, top + 1, size=int(mask.sum()), dtype=dtype)
    return m


def _roundtrip(peer: Any, m: np.ndarray) -> Any:
    res = peer.run(m)
    assert isinstance(res.codestream, bytes) and len(res.codestream) > 0
    assert res.encode_seconds >= 0 and res.decode_seconds >= 0
    out = peer.decode(res.codestream, m.shape, m.dtype)
    assert out.dtype == m.dtype and out.shape == m.shape
    assert np.array_equal(out, m)
    return res


def test_all_peers_keys() -> None:
    keys = [p.key for p in peers.all_peers()]
    assert keys == REQUIRED_KEYS
    assert len(set(keys)) == len(keys)


def test_x265_labels() -> None:
    for key in ("x265_ctu32", "x265_ctu16"):
        assert "HEVC (x265)" in PEERS[key].label
    for p in peers.all_peers():
        if "HEVC" in p.label:
            assert "HEVC (x265)" in p.label


@pytest.mark.parametrize("key", REQUIRED_KEYS)
def test_version_and_settings(key: str) -> None:
    peer = _peer(key)
    v = peer.version()
    assert isinstance(v, str) and any(c.isdigit() for c in v) and "unknown" not in v
    s = peer.settings()
    assert isinstance(s, str) and len(s) > 20


@pytest.mark.parametrize("key", REQUIRED_KEYS)
def test_roundtrip_feature_like(key: str) -> None:
    peer = _peer(key)
    m = feature_like(52, 84, seed=1)
    res = _roundtrip(peer, m)
    assert len(res.codestream) < m.nbytes  # it does compress


@pytest.mark.parametrize("key", REQUIRED_KEYS)
def test_roundtrip_constant_and_extremes(key: str) -> None:
    peer = _peer(key)
    h, w = max(peer.min_side, 40), max(peer.min_side, 40) + 3
    _roundtrip(peer, np.zeros((h, w), np.uint8))
    _roundtrip(peer, np.full((h, w), 255, np.uint8))
    rng = np.random.default_rng(7)
    _roundtrip(peer, rng.integers(0, 256, (h, w), dtype=np.uint8))


@pytest.mark.parametrize("shape", [(13, 7), (7, 13), (1, 1), (1, 9), (2, 1)])
@pytest.mark.parametrize("key", REQUIRED_KEYS)
def test_roundtrip_odd_sizes(key: str, shape: tuple[int, int]) -> None:
    peer = _peer(key)
    m = feature_like(*shape, seed=2)
    reason = peer.supports(m)
    if reason is None:
        _roundtrip(peer, m)
    else:
        # documented limit (x265 through ffmpeg: both sides >= max(16, CTU))
        assert key.startswith("x265"), reason
        assert str(peer.min_side) in reason
        with pytest.raises(peers.PeerUnsupported):
            peer.encode(m)


@pytest.mark.parametrize("key", REQUIRED_KEYS)
def test_roundtrip_smallest_odd_size(key: str) -> None:
    """The smallest accepted side, made odd, and a size not a multiple of 8."""
    peer = _peer(key)
    n = peer.min_side
    for shape in [(n + 1, n + 3), (n, n), (n + 5, 2 * n + 7)]:
        _roundtrip(peer, feature_like(*shape, seed=3))


@pytest.mark.parametrize("key", REQUIRED_KEYS)
def test_uint16(key: str) -> None:
    peer = _peer(key)
    rng = np.random.default_rng(4)
    h, w = max(peer.min_side, 24) + 1, max(peer.min_side, 24) + 6
    m12 = rng.integers(0, 4096, (h, w), dtype=np.uint16)
    m16 = rng.integers(0, 65536, (h, w), dtype=np.uint16)
    m16[0, 0] = 65535
    if np.dtype(np.uint16) not in peer.dtypes:
        assert peer.supports(m12) is not None
        with pytest.raises(peers.PeerUnsupported):
            peer.run(m12)
        return
    _roundtrip(peer, m12)
    if peer.max_bits_uint16 >= 16:
        _roundtrip(peer, m16)
    else:
        assert "does not fit" in (peer.supports(m16) or "")
        with pytest.raises(peers.PeerUnsupported):
            peer.run(m16)


def test_png_container_removed() -> None:
    peer = _peer("png")
    from PIL import Image

    m = feature_like(52, 84, seed=5)
    buf = io.BytesIO()
    Image.fromarray(m).save(buf, format="PNG", compress_level=9)
    png_file = buf.getvalue()
    cs = peer.encode(m)
    assert len(cs) < len(png_file)
    # signature 8 + IHDR 25 + IDAT framing 12 + IEND 12 = 57 bytes for one IDAT
    assert len(png_file) - len(cs) >= 57
    assert not cs.startswith(b"\x89PNG")
    assert cs[0] & 0x0F == 8  # a zlib stream (CM = deflate)


def test_codestreams_are_bare() -> None:
    m = feature_like(52, 84, seed=6)
    checks = {
        "x265_ctu32": lambda b: b.startswith(b"\x00\x00\x00\x01\x40\x01"),  # VPS NAL
        "vp9": lambda b: not b.startswith(b"DKIF") and (b[0] >> 6) == 0b10,  # frame marker
        "jpeg2000": lambda b: b.startswith(b"\xff\x4f\xff\x51")
        and b"\xff\x64" not in b[: b.index(b"\xff\x90")],
        "jpegls": lambda b: b.startswith(b"\xff\xd8\xff\xf7"),  # SOI, SOF55: no SPIFF
        "jpegxl": lambda b: b.startswith(b"\xff\x0a"),
        "webp": lambda b: b[0] == 0x2F,  # VP8L signature, no RIFF
    }
    tested = 0
    for key, check in checks.items():
        if PEERS[key].available() is not None:
            continue
        cs = PEERS[key].encode(m)
        assert check(cs), (key, cs[:16].hex())
        tested += 1
    if tested == 0:
        pytest.skip("no peer available")


def test_mismatch_is_detected(monkeypatch: pytest.MonkeyPatch) -> None:
    peer = _peer("png")
    orig = peer._decode

    def corrupt(cs: bytes, shape: tuple[int, int], dtype: Any) -> np.ndarray:
        out = np.array(orig(cs, shape, dtype))
        out[1, 2] ^= 1
        return out

    monkeypatch.setattr(peer, "_decode", corrupt)
    with pytest.raises(peers.PeerMismatch, match=r"first at \(1, 2\)"):
        peer.run(feature_like(20, 30, seed=8))


def test_rejects_bad_input() -> None:
    peer = PEERS["png"]
    with pytest.raises(peers.PeerUnsupported):
        peer.run(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(peers.PeerUnsupported):
        peer.run(np.zeros((4, 4), np.float32))
    assert PEERS["webp"].supports(np.zeros((4, 4), np.uint16)) is not None


def test_unavailable_messages_name_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(peers, "_ffmpeg_path", lambda: None)
    for key in ("x265_ctu32", "x265_ctu16", "vp9"):
        msg = PEERS[key].available()
        assert msg is not None and "apt-get install ffmpeg" in msg
        with pytest.raises(peers.PeerError, match="apt-get install ffmpeg"):
            PEERS[key].run(np.zeros((64, 64), np.uint8))
    monkeypatch.setitem(sys.modules, "imagecodecs", None)  # import -> ImportError
    monkeypatch.setitem(sys.modules, "PIL", None)
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    for key in ("jpeg2000", "jpegls", "jpegxl", "webp"):
        msg = PEERS[key].available()
        assert msg is not None and "pip install" in msg and "imagecodecs" in msg
    msg = PEERS["png"].available()
    assert msg is not None and "pip install" in msg and "Pillow" in msg


def test_subprocess_failure_is_reported() -> None:
    with pytest.raises(peers.PeerError, match="exit status"):
        peers._run_tool([sys.executable, "-c", "import sys; sys.exit(3)"], "probe")


@pytest.mark.parametrize(
    "key, tool, suffix",
    [("jpegxl", "djxl", ".jxl"), ("jpeg2000", "opj_decompress", ".j2k")],
)
def test_independent_decoder(key: str, tool: str, suffix: str, tmp_path: Path) -> None:
    """The bare codestream is complete: Debian's own decoder (libjxl-tools /
    libopenjp2-tools, a different library build) reconstructs the matrix."""
    import shutil
    import subprocess

    peer = _peer(key)
    exe = shutil.which(tool)
    if exe is None:
        pytest.skip(f"{tool} not found (apt-get install libjxl-tools libopenjp2-tools)")
    from PIL import Image

    for m in (feature_like(52, 84, seed=9), feature_like(13, 7, seed=10, dtype=np.uint16)):
        src, dst = tmp_path / f"in{suffix}", tmp_path / "out.pgm"
        src.write_bytes(peer.encode(m))
        args = [exe, str(src), str(dst)] if tool == "djxl" else [exe, "-i", str(src), "-o", str(dst)]
        proc = subprocess.run(args, capture_output=True, timeout=60, check=False)
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")
        with Image.open(dst) as im:
            out = np.asarray(im)
        assert out.shape == m.shape
        assert np.array_equal(out.astype(np.int64), m.astype(np.int64))
