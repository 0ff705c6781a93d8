"""Lossless peer codecs for ``dfc compare``.

Each :class:`Peer` wraps one standard image codec in one fixed, documented,
*lossless* configuration and codes a 2-D grayscale matrix (``uint8``, and
``uint16`` where the codec allows it).  :meth:`Peer.encode` returns the bare
codestream: every container byte that only exists to wrap the codestream in a
file format (PNG chunk framing, RIFF/WebP headers, IVF headers, SPIFF headers,
encoder comment markers) is removed, so that sizes are comparable with the
bare ``dfc`` bitstream.  The decoder side re-creates that wrapper from the
side information that every codec is given (shape and dtype) before decoding.

:meth:`Peer.run` encodes, decodes, verifies bit-exact equality (raising
:class:`PeerMismatch` otherwise) and times both directions.

The exact settings and the container-removal rules are described in
``docs/peers.md``; :meth:`Peer.settings` and :meth:`Peer.version` report them
at run time.
"""

from __future__ import annotations

import functools
import io
import re
import shutil
import struct
import subprocess
import tempfile
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "TOOL_TIMEOUT_SECONDS",
    "JPEG2000Peer",
    "JPEGLSPeer",
    "JPEGXLPeer",
    "PNGPeer",
    "Peer",
    "PeerError",
    "PeerMismatch",
    "PeerResult",
    "PeerUnsupported",
    "VP9Peer",
    "WebPPeer",
    "X265Peer",
    "all_peers",
]

#: Timeout for every external process (ffmpeg); a 1000x1000 matrix takes < 3 s.
TOOL_TIMEOUT_SECONDS = 300.0

PIP_HINT = "pip install 'imagecodecs>=2024.1.1' (or: pip install 'dfc[compare]')"
PILLOW_HINT = "pip install 'Pillow>=10' (or: pip install 'dfc[compare]')"
FFMPEG_HINT = "apt-get install ffmpeg (Debian package; or run .ci/install-peers.sh)"


class PeerError(RuntimeError):
    """A peer codec failed (tool missing, non-zero exit, malformed output...)."""


class PeerMismatch(PeerError):
    """The decoded matrix is not bit-identical to the input: not lossless."""


class PeerUnsupported(PeerError, ValueError):
    """This peer cannot code a matrix of this shape, dtype or value range."""


@dataclass(frozen=True)
class PeerResult:
    """Outcome of :meth:`Peer.run`: the codestream and wall-clock times."""

    codestream: bytes
    encode_seconds: float
    decode_seconds: float

    @property
    def nbytes(self) -> int:
        """Size of the codestream in bytes."""
        return len(self.codestream)


# --------------------------------------------------------------------------
# helpers


def _run_tool(args: list[str], what: str) -> subprocess.CompletedProcess[bytes]:
    """Run an external tool with a timeout; raise PeerError on any failure."""
    try:
        proc = subprocess.run(
            args,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=TOOL_TIMEOUT_SECONDS,
            check=False,
        )
    except FileNotFoundError as exc:
        raise PeerError(f"{what}: {args[0]!r} not found; {FFMPEG_HINT}") from exc
    except subprocess.TimeoutExpired as exc:
        raise PeerError(
            f"{what}: timed out after {TOOL_TIMEOUT_SECONDS:.0f} s: {' '.join(args)}"
        ) from exc
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip()
        tail = "\n".join(err.splitlines()[-15:])
        raise PeerError(
            f"{what}: exit status {proc.returncode}: {' '.join(args)}\n{tail}"
        )
    return proc


def _check_matrix(matrix: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Validate a 2-D uint8/uint16 matrix; return it C-contiguous."""
    if not isinstance(matrix, np.ndarray):
        raise TypeError(f"expected a numpy array, got {type(matrix).__name__}")
    if matrix.ndim != 2:
        raise PeerUnsupported(f"expected a 2-D matrix, got shape {matrix.shape}")
    if matrix.dtype not in (np.dtype(np.uint8), np.dtype(np.uint16)):
        raise PeerUnsupported(f"expected uint8 or uint16, got {matrix.dtype}")
    if matrix.shape[0] < 1 or matrix.shape[1] < 1:
        raise PeerUnsupported(f"empty matrix {matrix.shape}")
    return np.ascontiguousarray(matrix)


def _first_difference(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> str:
    if a.shape != b.shape:
        return f"shape {b.shape} != {a.shape}"
    if a.dtype != b.dtype:
        return f"dtype {b.dtype} != {a.dtype}"
    diff = np.argwhere(a != b)
    if diff.size == 0:
        return "no difference"
    r, c = (int(v) for v in diff[0])
    return (
        f"{len(diff)} of {a.size} samples differ; first at ({r}, {c}): "
        f"decoded {int(b[r, c])}, original {int(a[r, c])}"
    )


def _le_bytes(matrix: npt.NDArray[Any]) -> bytes:
    """Raw little-endian sample bytes (what ffmpeg's *le pixel formats expect)."""
    return matrix.astype(matrix.dtype.newbyteorder("<"), copy=False).tobytes()


def _from_le_bytes(
    data: bytes, shape: tuple[int, int], dtype: np.dtype[Any], what: str
) -> npt.NDArray[Any]:
    expected = shape[0] * shape[1] * dtype.itemsize
    if len(data) < expected:
        raise PeerError(f"{what}: decoder produced {len(data)} bytes, expected {expected}")
    arr = np.frombuffer(data[:expected], dtype=dtype.newbyteorder("<"))
    return arr.astype(dtype).reshape(shape)


# --------------------------------------------------------------------------
# base class


class Peer(ABC):
    """One peer codec in one fixed lossless configuration."""

    key: str
    label: str
    #: dtypes this peer can code
    dtypes: tuple[np.dtype[Any], ...] = (np.dtype(np.uint8),)
    #: for uint16 input: highest bit depth the peer codes (values must fit)
    max_bits_uint16: int = 16
    #: smallest side length the peer accepts, and largest
    min_side: int = 1
    max_side: int = 1 << 30

    # -- to implement --------------------------------------------------------
    @abstractmethod
    def available(self) -> str | None:
        """None if usable, else a message naming what to install."""

    @abstractmethod
    def version(self) -> str:
        """Library name and version, detected at run time."""

    @abstractmethod
    def settings(self) -> str:
        """The exact settings used."""

    @abstractmethod
    def _encode(self, matrix: npt.NDArray[Any]) -> bytes: ...

    @abstractmethod
    def _decode(
        self, codestream: bytes, shape: tuple[int, int], dtype: np.dtype[Any]
    ) -> npt.NDArray[Any]: ...

    # -- public API ----------------------------------------------------------
    def supports(self, matrix: npt.NDArray[Any]) -> str | None:
        """None if this peer can code ``matrix``, else the reason why not."""
        try:
            m = _check_matrix(matrix)
        except (PeerUnsupported, TypeError) as exc:
            return str(exc)
        if m.dtype not in self.dtypes:
            kinds = ", ".join(str(d) for d in self.dtypes)
            return f"{self.label} codes only {kinds}, not {m.dtype}"
        h, w = m.shape
        if min(h, w) < self.min_side:
            return f"{self.label} needs both sides >= {self.min_side}, got {h}x{w}"
        if max(h, w) > self.max_side:
            return f"{self.label} needs both sides <= {self.max_side}, got {h}x{w}"
        if m.dtype == np.uint16 and self.max_bits_uint16 < 16 and m.size:
            top = int(m.max())
            if top >= 1 << self.max_bits_uint16:
                return (
                    f"{self.label} codes uint16 at {self.max_bits_uint16} bits; "
                    f"max value {top} does not fit"
                )
        return None

    def _require(self) -> None:
        msg = self.available()
        if msg is not None:
            raise PeerError(f"{self.label} unavailable: {msg}")

    def encode(self, matrix: npt.NDArray[Any]) -> bytes:
        """Encode ``matrix`` losslessly; return the bare codestream."""
        self._require()
        m = _check_matrix(matrix)
        reason = self.supports(m)
        if reason is not None:
            raise PeerUnsupported(reason)
        return self._encode(m)

    def decode(
        self, codestream: bytes, shape: tuple[int, int], dtype: npt.DTypeLike
    ) -> npt.NDArray[Any]:
        """Decode a codestream from :meth:`encode` given the matrix shape/dtype."""
        self._require()
        dt = np.dtype(dtype)
        shp = (int(shape[0]), int(shape[1]))
        out = self._decode(bytes(codestream), shp, dt)
        if out.shape != shp:
            raise PeerMismatch(f"{self.label}: decoded shape {out.shape}, expected {shp}")
        return out

    def run(self, matrix: npt.NDArray[Any]) -> PeerResult:
        """Encode, decode, verify exact equality and time both directions."""
        m = _check_matrix(matrix)
        t0 = time.perf_counter()
        codestream = self.encode(m)
        t1 = time.perf_counter()
        decoded = self.decode(codestream, (m.shape[0], m.shape[1]), m.dtype)
        t2 = time.perf_counter()
        if decoded.shape != m.shape or decoded.dtype != m.dtype or not np.array_equal(
            decoded, m
        ):
            raise PeerMismatch(
                f"{self.label} is not lossless on a {m.shape[0]}x{m.shape[1]} "
                f"{m.dtype} matrix: {_first_difference(m, decoded)}"
            )
        return PeerResult(codestream, t1 - t0, t2 - t1)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.key!r}>"


# --------------------------------------------------------------------------
# ffmpeg-based peers


@functools.cache
def _ffmpeg_path() -> str | None:
    return shutil.which("ffmpeg")


@functools.cache
def _ffmpeg_help(kind: str, name: str) -> str:
    """Text of ``ffmpeg -h encoder=NAME`` / ``decoder=NAME`` ('' on failure)."""
    exe = _ffmpeg_path()
    if exe is None:
        return ""
    try:
        proc = subprocess.run(
            [exe, "-hide_banner", "-h", f"{kind}={name}"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    text = proc.stdout.decode("utf-8", "replace")
    if proc.returncode != 0 or f"{kind.capitalize()} {name} [" not in text:
        return ""
    return text


def _ffmpeg_pixfmts(kind: str, name: str) -> set[str]:
    m = re.search(r"Supported pixel formats:([^\n]*)", _ffmpeg_help(kind, name))
    return set(m.group(1).split()) if m else set()


@functools.cache
def _ffmpeg_version() -> str:
    exe = _ffmpeg_path()
    if exe is None:
        return "ffmpeg (not installed)"
    proc = _run_tool([exe, "-hide_banner", "-version"], "ffmpeg -version")
    first = proc.stdout.decode("utf-8", "replace").splitlines()[0]
    m = re.match(r"ffmpeg version (\S+)", first)
    return f"FFmpeg {m.group(1) if m else first}"


@functools.cache
def _ffmpeg_lib_version(encoder: str, pix_fmt: str, extra: tuple[str, ...], pattern: str) -> str:
    """Encode one tiny synthetic frame at verbose log level and grep a version."""
    exe = _ffmpeg_path()
    if exe is None:
        return "unknown"
    proc = _run_tool(
        [
            exe, "-nostdin", "-hide_banner", "-loglevel", "verbose",
            "-f", "lavfi", "-i", "color=c=gray:s=64x64:d=1",
            "-frames:v", "1", "-pix_fmt", pix_fmt, "-c:v", encoder, *extra,
            "-f", "null", "-",
        ],
        f"{encoder} version probe",
    )
    m = re.search(pattern, proc.stderr.decode("utf-8", "replace"))
    return m.group(1) if m else "unknown"


class _FFmpegPeer(Peer):
    encoder: str
    decoder: str

    def available(self) -> str | None:
        if _ffmpeg_path() is None:
            return f"ffmpeg not found on PATH; {FFMPEG_HINT}"
        if not _ffmpeg_help("encoder", self.encoder):
            return (
                f"this ffmpeg has no {self.encoder} encoder; install Debian's "
                f"ffmpeg (apt-get install ffmpeg), which is built with it"
            )
        if not _ffmpeg_help("decoder", self.decoder):
            return f"this ffmpeg has no {self.decoder} decoder; apt-get install ffmpeg"
        missing = [p for p in self._pix_fmts() if p not in _ffmpeg_pixfmts("encoder", self.encoder)]
        if missing:
            return (
                f"ffmpeg's {self.encoder} does not accept pixel format(s) "
                f"{', '.join(missing)}; apt-get install ffmpeg"
            )
        return None

    @abstractmethod
    def _pix_fmts(self) -> tuple[str, ...]: ...

    def _ffmpeg(self, *args: str, what: str) -> None:
        exe = _ffmpeg_path()
        if exe is None:
            raise PeerError(f"{self.label}: ffmpeg not found; {FFMPEG_HINT}")
        _run_tool([exe, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args], what)


class X265Peer(_FFmpegPeer):
    """HEVC intra, lossless, monochrome (4:0:0), x265 through ffmpeg."""

    encoder = "libx265"
    decoder = "hevc"
    dtypes = (np.dtype(np.uint8), np.dtype(np.uint16))
    max_bits_uint16 = 12
    PRESET = "veryslow"

    def __init__(self, ctu: int = 32) -> None:
        if ctu not in (16, 32, 64):
            raise ValueError(f"x265 CTU must be 16, 32 or 64, not {ctu}")
        self.ctu = ctu
        self.key = f"x265_ctu{ctu}"
        self.label = f"HEVC (x265) CTU{ctu}"
        # ffmpeg's libx265 wrapper refuses pictures below 16x16, and x265
        # refuses a picture smaller than one CTU.
        self.min_side = max(16, ctu)

    def _pix_fmts(self) -> tuple[str, ...]:
        return ("gray", "gray12le")

    @staticmethod
    def _pix_fmt(dtype: np.dtype[Any]) -> str:
        return "gray" if dtype == np.uint8 else "gray12le"

    def x265_params(self) -> str:
        return (
            f"lossless=1:ctu={self.ctu}:keyint=1:info=0:no-wpp=1:"
            "pools=1:frame-threads=1:log-level=error"
        )

    def version(self) -> str:
        v = _ffmpeg_lib_version(
            "libx265", "gray", ("-x265-params", "log-level=info:pools=1"),
            r"HEVC encoder version (\S+)",
        )
        return f"x265 {v} (libx265 via {_ffmpeg_version()}; decoder FFmpeg hevc)"

    def settings(self) -> str:
        return (
            f"ffmpeg -f rawvideo -pix_fmt gray|gray12le -c:v libx265 -preset {self.PRESET} "
            f"-x265-params {self.x265_params()} -frames:v 1 -f hevc; "
            "monochrome 4:0:0 (uint8 -> 8-bit gray, uint16 -> 12-bit gray12le, values < 4096), "
            "Main RExt profile, single intra (IDR) frame, CU transquant bypass (lossless=1), "
            "no WPP, single thread, no x265 info SEI; raw Annex-B stream "
            f"(VPS+SPS+PPS+slice NAL units with start codes) counted whole; "
            f"needs both sides >= {self.min_side}"
        )

    def _encode(self, matrix: npt.NDArray[Any]) -> bytes:
        h, w = matrix.shape
        with tempfile.TemporaryDirectory(prefix="dfc-x265-") as tmp:
            src, dst = Path(tmp, "in.raw"), Path(tmp, "out.hevc")
            src.write_bytes(_le_bytes(matrix))
            self._ffmpeg(
                "-f", "rawvideo", "-pix_fmt", self._pix_fmt(matrix.dtype),
                "-s", f"{w}x{h}", "-i", str(src),
                "-frames:v", "1", "-an",
                "-c:v", "libx265", "-preset", self.PRESET,
                "-x265-params", self.x265_params(),
                "-f", "hevc", str(dst),
                what=f"{self.label} encode",
            )
            data = dst.read_bytes()
        if not data.startswith((b"\x00\x00\x00\x01", b"\x00\x00\x01")):
            raise PeerError(f"{self.label}: output is not an Annex-B HEVC stream")
        return data

    def _decode(
        self, codestream: bytes, shape: tuple[int, int], dtype: np.dtype[Any]
    ) -> npt.NDArray[Any]:
        with tempfile.TemporaryDirectory(prefix="dfc-x265-") as tmp:
            src, dst = Path(tmp, "in.hevc"), Path(tmp, "out.raw")
            src.write_bytes(codestream)
            self._ffmpeg(
                "-threads", "1", "-f", "hevc", "-i", str(src),
                "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", self._pix_fmt(dtype),
                str(dst),
                what=f"{self.label} decode",
            )
            data = dst.read_bytes()
        return _from_le_bytes(data, shape, dtype, f"{self.label} decode")


_IVF_HEADER = struct.Struct("<4sHH4sHHIII4x")  # 32 bytes
_IVF_FRAME = struct.Struct("<IQ")  # 12 bytes


class VP9Peer(_FFmpegPeer):
    """VP9 lossless (profile 0 / 2, 4:2:0 with constant chroma), libvpx via ffmpeg."""

    key = "vp9"
    label = "VP9 (libvpx)"
    encoder = "libvpx-vp9"
    decoder = "vp9"
    dtypes = (np.dtype(np.uint8), np.dtype(np.uint16))
    max_bits_uint16 = 12
    max_side = 16384  # Debian's libvpx is configured with --size-limit=16384x16384

    ENCODER_ARGS = (
        "-lossless", "1", "-deadline", "good", "-cpu-used", "0",
        "-tile-columns", "0", "-row-mt", "0", "-threads", "1",
        "-auto-alt-ref", "0", "-lag-in-frames", "0", "-g", "1",
    )

    def _pix_fmts(self) -> tuple[str, ...]:
        return ("yuv420p", "yuv420p12le")

    @staticmethod
    def _pix_fmt(dtype: np.dtype[Any]) -> str:
        return "yuv420p" if dtype == np.uint8 else "yuv420p12le"

    def version(self) -> str:
        v = _ffmpeg_lib_version(
            "libvpx-vp9", "yuv420p", ("-lossless", "1"), r"\[libvpx-vp9 @ [^\]]*\] (v\d[^\s]*)"
        )
        return f"libvpx {v} (libvpx-vp9 via {_ffmpeg_version()}; decoder FFmpeg vp9)"

    def settings(self) -> str:
        return (
            "ffmpeg -f rawvideo -pix_fmt yuv420p|yuv420p12le -c:v libvpx-vp9 "
            + " ".join(self.ENCODER_ARGS)
            + " -frames:v 1 -f ivf; libvpx-vp9 has no gray input, so the matrix is the "
            "Y plane of a 4:2:0 frame whose two chroma planes are constant mid-grey "
            "(128, or 2048 at 12 bits) - they are coded too and cost a few bytes "
            "(4:2:0 was measured smaller than 4:4:4); uint8 -> profile 0 8-bit, "
            "uint16 -> profile 2 12-bit (values < 4096); one key frame; IVF container "
            "removed (32-byte file header + 12-byte frame header), frame bytes counted"
        )

    @staticmethod
    def _planes(matrix: npt.NDArray[Any]) -> bytes:
        h, w = matrix.shape
        mid = 128 if matrix.dtype == np.uint8 else 2048
        chroma = np.full(((h + 1) // 2, (w + 1) // 2), mid, dtype=matrix.dtype)
        c = _le_bytes(chroma)
        return _le_bytes(matrix) + c + c

    def _encode(self, matrix: npt.NDArray[Any]) -> bytes:
        h, w = matrix.shape
        with tempfile.TemporaryDirectory(prefix="dfc-vp9-") as tmp:
            src, dst = Path(tmp, "in.yuv"), Path(tmp, "out.ivf")
            src.write_bytes(self._planes(matrix))
            self._ffmpeg(
                "-f", "rawvideo", "-pix_fmt", self._pix_fmt(matrix.dtype),
                "-s", f"{w}x{h}", "-i", str(src),
                "-frames:v", "1", "-an", "-c:v", "libvpx-vp9", *self.ENCODER_ARGS,
                "-f", "ivf", str(dst),
                what=f"{self.label} encode",
            )
            ivf = dst.read_bytes()
        return self._strip_ivf(ivf)

    def _strip_ivf(self, ivf: bytes) -> bytes:
        if len(ivf) < _IVF_HEADER.size + _IVF_FRAME.size:
            raise PeerError(f"{self.label}: IVF output too short ({len(ivf)} bytes)")
        sig, _ver, hlen, fourcc, *_rest = _IVF_HEADER.unpack_from(ivf, 0)
        if sig != b"DKIF" or fourcc != b"VP90":
            raise PeerError(f"{self.label}: output is not a VP9 IVF file")
        pos, frames = hlen, []
        while pos < len(ivf):
            size, _pts = _IVF_FRAME.unpack_from(ivf, pos)
            pos += _IVF_FRAME.size
            frames.append(ivf[pos : pos + size])
            pos += size
        if len(frames) != 1 or pos != len(ivf):
            raise PeerError(
                f"{self.label}: expected exactly one frame in the IVF output, got {len(frames)}"
            )
        return frames[0]

    @staticmethod
    def _wrap_ivf(frame: bytes, shape: tuple[int, int]) -> bytes:
        h, w = shape
        head = _IVF_HEADER.pack(b"DKIF", 0, 32, b"VP90", w & 0xFFFF, h & 0xFFFF, 1, 1, 1)
        return head + _IVF_FRAME.pack(len(frame), 0) + frame

    def _decode(
        self, codestream: bytes, shape: tuple[int, int], dtype: np.dtype[Any]
    ) -> npt.NDArray[Any]:
        with tempfile.TemporaryDirectory(prefix="dfc-vp9-") as tmp:
            src, dst = Path(tmp, "in.ivf"), Path(tmp, "out.yuv")
            src.write_bytes(self._wrap_ivf(codestream, shape))
            self._ffmpeg(
                "-threads", "1", "-f", "ivf", "-i", str(src),
                "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", self._pix_fmt(dtype),
                str(dst),
                what=f"{self.label} decode",
            )
            data = dst.read_bytes()
        # only the Y plane carries the matrix; the chroma planes follow it
        return _from_le_bytes(data, shape, dtype, f"{self.label} decode")


# --------------------------------------------------------------------------
# PNG (Pillow)

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    import zlib

    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


class PNGPeer(Peer):
    """PNG via Pillow, zlib level 9; only the IDAT payload (zlib stream) is counted."""

    key = "png"
    label = "PNG (Pillow)"
    dtypes = (np.dtype(np.uint8), np.dtype(np.uint16))
    max_side = (1 << 31) - 1
    COMPRESS_LEVEL = 9

    def available(self) -> str | None:
        try:
            import PIL.Image  # noqa: F401
        except ImportError:
            return f"Pillow is not installed; {PILLOW_HINT}"
        return None

    def version(self) -> str:
        import PIL
        from PIL import features

        zlib_ng = features.version("zlib_ng") if "zlib_ng" in features.features else None
        z = f"zlib-ng {zlib_ng}" if zlib_ng else f"zlib {features.version('zlib')}"
        return f"Pillow {PIL.__version__} ({z})"

    def settings(self) -> str:
        return (
            f"Pillow Image.save(format='PNG', compress_level={self.COMPRESS_LEVEL}) "
            "(Pillow's default per-row adaptive filter choice, no interlace); "
            "uint8 -> 8-bit grayscale, uint16 -> 16-bit grayscale; counted: the "
            "IDAT chunk payloads (the zlib stream) only - PNG signature, IHDR, "
            "chunk length/type/CRC fields and IEND removed (57 bytes for one IDAT)"
        )

    def _encode(self, matrix: npt.NDArray[Any]) -> bytes:
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(matrix).save(buf, format="PNG", compress_level=self.COMPRESS_LEVEL)
        return self._idat(buf.getvalue())

    def _idat(self, png: bytes) -> bytes:
        if not png.startswith(_PNG_SIGNATURE):
            raise PeerError(f"{self.label}: Pillow did not write a PNG")
        pos, idat = len(_PNG_SIGNATURE), []
        while pos + 12 <= len(png):
            (length,) = struct.unpack_from(">I", png, pos)
            kind = png[pos + 4 : pos + 8]
            data = png[pos + 8 : pos + 8 + length]
            pos += 12 + length
            if kind == b"IDAT":
                idat.append(data)
            elif kind in (b"IHDR", b"IEND"):
                pass
            elif kind[0:1].isupper():  # an unexpected critical chunk (e.g. PLTE)
                raise PeerError(f"{self.label}: unexpected critical chunk {kind!r}")
            # ancillary chunks (none expected) carry no image data: dropped
        if not idat:
            raise PeerError(f"{self.label}: PNG has no IDAT chunk")
        return b"".join(idat)

    def _decode(
        self, codestream: bytes, shape: tuple[int, int], dtype: np.dtype[Any]
    ) -> npt.NDArray[Any]:
        from PIL import Image

        h, w = shape
        depth = 8 if dtype == np.uint8 else 16
        ihdr = struct.pack(">IIBBBBB", w, h, depth, 0, 0, 0, 0)
        png = (
            _PNG_SIGNATURE
            + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"IDAT", codestream)
            + _png_chunk(b"IEND", b"")
        )
        with Image.open(io.BytesIO(png)) as im:
            im.load()
            arr = np.asarray(im)
        if arr.dtype != dtype:
            if arr.size and (int(arr.min()) < 0 or int(arr.max()) > np.iinfo(dtype).max):
                raise PeerMismatch(f"{self.label}: decoded values out of {dtype} range")
            arr = arr.astype(dtype)
        return np.ascontiguousarray(arr)


# --------------------------------------------------------------------------
# imagecodecs-based peers


class _ImagecodecsPeer(Peer):
    codec_attr: str  # name of the imagecodecs codec class, e.g. "JPEGLS"
    version_func: str  # e.g. "jpegls_version"

    def available(self) -> str | None:
        try:
            import imagecodecs
        except ImportError:
            return f"imagecodecs is not installed; {PIP_HINT}"
        codec = getattr(imagecodecs, self.codec_attr, None)
        if codec is None or not getattr(codec, "available", False):
            return (
                f"this imagecodecs ({imagecodecs.__version__}) lacks the "
                f"{self.codec_attr} codec; {PIP_HINT} (the PyPI wheels include it)"
            )
        return None

    def version(self) -> str:
        import imagecodecs

        lib = str(getattr(imagecodecs, self.version_func)())
        return f"{lib} (imagecodecs {imagecodecs.__version__})"


def _j2k_resolutions(shape: tuple[int, int]) -> int:
    """6 resolution levels (5 decompositions), fewer when a side is < 32."""
    side = min(shape)
    return max(1, min(6, side.bit_length()))


class JPEG2000Peer(_ImagecodecsPeer):
    """JPEG 2000 Part 1, reversible 5/3, OpenJPEG through imagecodecs; raw .j2k."""

    key = "jpeg2000"
    label = "JPEG 2000 (OpenJPEG)"
    codec_attr = "JPEG2K"
    version_func = "jpeg2k_version"
    dtypes = (np.dtype(np.uint8), np.dtype(np.uint16))

    def settings(self) -> str:
        return (
            "imagecodecs.jpeg2k_encode(level=0, codecformat='J2K', reversible=True, "
            "mct=False, resolutions=min(6, bit_length(min(h, w))), numthreads=1): "
            "reversible 5/3 wavelet, 5 decomposition levels (fewer for sides < 32), "
            "one tile, one quality layer, 64x64 code blocks, LRCP, no MCT; "
            "raw J2K codestream (no JP2 boxes) counted whole except the encoder's "
            "'Created by OpenJPEG version ...' COM marker segment, which is removed"
        )

    def _encode(self, matrix: npt.NDArray[Any]) -> bytes:
        import imagecodecs

        data = bytes(
            imagecodecs.jpeg2k_encode(
                matrix,
                level=0,
                codecformat="J2K",
                reversible=True,
                mct=False,
                resolutions=_j2k_resolutions((matrix.shape[0], matrix.shape[1])),
                numthreads=1,
            )
        )
        return self._strip_com(data)

    def _strip_com(self, data: bytes) -> bytes:
        """Drop COM (0xFF64) segments from the J2K main header."""
        if not data.startswith(b"\xff\x4f\xff\x51"):
            raise PeerError(f"{self.label}: output is not a raw J2K codestream")
        out, pos = [data[:2]], 2
        while True:
            if pos + 4 > len(data) or data[pos] != 0xFF:
                raise PeerError(f"{self.label}: malformed J2K main header at {pos}")
            marker = data[pos + 1]
            if marker == 0x90:  # SOT: first tile-part, main header is over
                out.append(data[pos:])
                return b"".join(out)
            (length,) = struct.unpack_from(">H", data, pos + 2)
            if marker != 0x64:
                out.append(data[pos : pos + 2 + length])
            pos += 2 + length

    def _decode(
        self, codestream: bytes, shape: tuple[int, int], dtype: np.dtype[Any]
    ) -> npt.NDArray[Any]:
        import imagecodecs

        return np.asarray(imagecodecs.jpeg2k_decode(codestream, numthreads=1))


def _strip_jpeg_app_com(data: bytes, what: str) -> bytes:
    """Remove APPn (incl. SPIFF header/directory), COM and repeated SOI markers
    that precede the first frame header of a JPEG-family codestream."""
    if not data.startswith(b"\xff\xd8"):
        raise PeerError(f"{what}: output does not start with SOI")
    pos = 2
    while pos + 2 <= len(data):
        if data[pos] != 0xFF:
            raise PeerError(f"{what}: malformed marker segment at {pos}")
        marker = data[pos + 1]
        if marker == 0xD8:  # SOI repeated after the SPIFF end-of-directory entry
            pos += 2
        elif 0xE0 <= marker <= 0xEF or marker == 0xFE:
            (length,) = struct.unpack_from(">H", data, pos + 2)
            pos += 2 + length
        else:
            return b"\xff\xd8" + data[pos:]
    raise PeerError(f"{what}: no frame header found")


class JPEGLSPeer(_ImagecodecsPeer):
    """JPEG-LS lossless (NEAR=0), CharLS through imagecodecs."""

    key = "jpegls"
    label = "JPEG-LS (CharLS)"
    codec_attr = "JPEGLS"
    version_func = "jpegls_version"
    dtypes = (np.dtype(np.uint8), np.dtype(np.uint16))
    max_side = 65535

    def settings(self) -> str:
        return (
            "imagecodecs.jpegls_encode(level=0): NEAR=0 (lossless), default "
            "thresholds and RESET, one component, uint8 -> 8-bit, uint16 -> 16-bit "
            "samples; counted: SOI + SOF55 + SOS + scan data + EOI - the SPIFF "
            "header and its end-of-directory entry (APP8 segments and the repeated "
            "SOI, 44 bytes) that CharLS writes are removed"
        )

    def _encode(self, matrix: npt.NDArray[Any]) -> bytes:
        import imagecodecs

        return _strip_jpeg_app_com(bytes(imagecodecs.jpegls_encode(matrix, level=0)), self.label)

    def _decode(
        self, codestream: bytes, shape: tuple[int, int], dtype: np.dtype[Any]
    ) -> npt.NDArray[Any]:
        import imagecodecs

        return np.asarray(imagecodecs.jpegls_decode(codestream))


class JPEGXLPeer(_ImagecodecsPeer):
    """JPEG XL lossless (modular), libjxl through imagecodecs; bare codestream."""

    codec_attr = "JPEGXL"
    version_func = "jpegxl_version"
    dtypes = (np.dtype(np.uint8), np.dtype(np.uint16))

    def __init__(self, effort: int = 9) -> None:
        if not 1 <= effort <= 10:
            raise ValueError(f"JPEG XL effort must be 1..10, not {effort}")
        self.effort = effort
        self.key = "jpegxl" if effort == 9 else f"jpegxl_e{effort}"
        self.label = "JPEG XL (libjxl)" if effort == 9 else f"JPEG XL (libjxl) e{effort}"

    def settings(self) -> str:
        return (
            f"imagecodecs.jpegxl_encode(lossless=True, effort={self.effort}, "
            "usecontainer=False, numthreads=1): modular lossless (distance 0), "
            "one grey channel, uint8 -> 8-bit, uint16 -> 16-bit; bare codestream "
            "(starts 0xFF0A) counted whole; where libjxl wraps it in an ISOBMFF "
            "container (it does for 16-bit lossless, which needs codestream level 10 "
            "and a jxll box) the container boxes are removed. Effort "
            f"{self.effort} output depends on the libjxl version (see version())"
        )

    def _encode(self, matrix: npt.NDArray[Any]) -> bytes:
        import imagecodecs

        data = bytes(
            imagecodecs.jpegxl_encode(
                matrix, lossless=True, effort=self.effort, usecontainer=False, numthreads=1
            )
        )
        if data.startswith(b"\xff\x0a"):
            return data
        return self._unbox(data)

    def _unbox(self, data: bytes) -> bytes:
        """Bare codestream out of an ISOBMFF JPEG XL container.

        libjxl insists on the container when the codestream needs level 10
        (it then adds a ``jxll`` box), as for lossless 16-bit samples.  The
        codestream is the payload of the ``jxlc`` box, or the concatenated
        payloads of the ``jxlp`` boxes (each after a 4-byte part index).
        """
        if not data.startswith(b"\x00\x00\x00\x0cJXL \r\n\x87\n"):
            raise PeerError(f"{self.label}: output is neither a JPEG XL codestream nor container")
        pos, parts = 0, []
        while pos + 8 <= len(data):
            size, kind = struct.unpack_from(">I4s", data, pos)
            head = 8
            if size == 1:
                (size,) = struct.unpack_from(">Q", data, pos + 8)
                head = 16
            elif size == 0:
                size = len(data) - pos
            if size < head or pos + size > len(data):
                raise PeerError(f"{self.label}: malformed JPEG XL container box at {pos}")
            payload = data[pos + head : pos + size]
            if kind == b"jxlc":
                parts.append(payload)
            elif kind == b"jxlp":
                parts.append(payload[4:])
            pos += size
        codestream = b"".join(parts)
        if not codestream.startswith(b"\xff\x0a"):
            raise PeerError(f"{self.label}: no codestream in the JPEG XL container")
        return codestream

    def _decode(
        self, codestream: bytes, shape: tuple[int, int], dtype: np.dtype[Any]
    ) -> npt.NDArray[Any]:
        import imagecodecs

        arr = np.asarray(imagecodecs.jpegxl_decode(codestream, numthreads=1))
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[:, :, 0]
        return np.ascontiguousarray(arr)


class WebPPeer(_ImagecodecsPeer):
    """WebP lossless (VP8L), libwebp through imagecodecs; VP8L payload counted."""

    key = "webp"
    label = "WebP lossless (libwebp)"
    codec_attr = "WEBP"
    version_func = "webp_version"
    max_side = 16383

    def settings(self) -> str:
        return (
            "imagecodecs.webp_encode(level=100, lossless=True, method=6) "
            "(= cwebp -lossless -q 100 -m 6, the strongest lossless setting); "
            "WebP has no grey mode: the matrix is sent as R=G=B (the subtract-green "
            "transform then leaves R and B all-zero, which costs a few bytes); "
            "uint8 only; counted: the VP8L chunk payload - the 12-byte RIFF/WEBP "
            "header and 8-byte VP8L chunk header are removed"
        )

    def _encode(self, matrix: npt.NDArray[Any]) -> bytes:
        import imagecodecs

        rgb = np.ascontiguousarray(np.repeat(matrix[:, :, None], 3, axis=2))
        riff = bytes(imagecodecs.webp_encode(rgb, level=100, lossless=True, method=6))
        return self._strip_riff(riff)

    def _strip_riff(self, riff: bytes) -> bytes:
        if len(riff) < 20 or riff[:4] != b"RIFF" or riff[8:12] != b"WEBP":
            raise PeerError(f"{self.label}: output is not a RIFF/WEBP file")
        kind = riff[12:16]
        (size,) = struct.unpack_from("<I", riff, 16)
        end = 20 + size + (size & 1)
        if kind != b"VP8L" or end != len(riff):
            raise PeerError(
                f"{self.label}: expected one VP8L chunk (simple lossless format), got {kind!r}"
            )
        return riff[20 : 20 + size]

    def _decode(
        self, codestream: bytes, shape: tuple[int, int], dtype: np.dtype[Any]
    ) -> npt.NDArray[Any]:
        import imagecodecs

        n = len(codestream)
        pad = b"\x00" if n & 1 else b""
        riff = (
            b"RIFF" + struct.pack("<I", 4 + 8 + n + len(pad)) + b"WEBP"
            + b"VP8L" + struct.pack("<I", n) + codestream + pad
        )
        arr = np.asarray(imagecodecs.webp_decode(riff))
        if arr.ndim == 2:
            return arr
        rgb = arr[:, :, :3]
        if not (np.array_equal(rgb[:, :, 0], rgb[:, :, 1]) and np.array_equal(rgb[:, :, 0], rgb[:, :, 2])):
            raise PeerMismatch(f"{self.label}: decoded image is not grey (R, G, B differ)")
        return np.ascontiguousarray(rgb[:, :, 1])


# --------------------------------------------------------------------------


def all_peers() -> list[Peer]:
    """Every peer in its default configuration, available or not."""
    return [
        X265Peer(ctu=32),
        X265Peer(ctu=16),
        VP9Peer(),
        PNGPeer(),
        JPEG2000Peer(),
        JPEGLSPeer(),
        JPEGXLPeer(effort=9),
        JPEGXLPeer(effort=7),
        WebPPeer(),
    ]
