"""Type stub for the compiled module dfc.fast._codec (fast/_codec.pyx)."""

from typing import Any

import numpy as np
import numpy.typing as npt

from dfc.reference.decoder import DecodedStream, TraceSink
from dfc.reference.header import Header

def encode(tensor: object, bits: int = 8, *, profile: str = "baseline", setting: str = "default") -> bytes:
    """Encode a (C, H, W) tensor into a dfc stream: profile "baseline" (SPEC §8) or
    "extended" (SPEC §11.12); byte-identical to dfc.reference.encode."""

def decode_stream(stream: bytes | bytearray | memoryview,
                  trace: TraceSink | None = None) -> DecodedStream:
    """Decode a whole stream (SPEC §3.1); raises dfc.errors.DecodeError."""

def decode(stream: bytes | bytearray | memoryview) -> npt.NDArray[np.float32]:
    """Decode a dfc stream to its float32 (C, H, W) tensor (SPEC §4.3)."""

def _tables() -> dict[str, Any]:
    """The raw tables compiled in (fast/tables.h, generated from
    dfc.reference.tables), for the test that they equal the reference's."""

def _encode_payload(values: npt.NDArray[np.float32], bits: int, mn: float,
                    mx: float) -> tuple[bytes, tuple[int, ...]]: ...
def _decode_payload(data: bytes, header: Header, out: npt.NDArray[np.uint16]) -> None: ...
def _dequantize(integers: npt.NDArray[np.uint16], bits: int, min_value: float,
                max_value: float) -> npt.NDArray[np.float32]: ...
def _mode_costs(tile: npt.NDArray[np.uint16], bx: int, by: int, PalPred: int, MpmMode: int,
                skip_ctx_inc: int, contexts: bytes, StatCoeff: int) -> tuple[int, ...]:
    """SPEC §8.4-8.5: the estimated cost of block (bx, by) of the tile in each mode,
    in 1/32768 bit, from context bytes (pStateIdx << 1) | valMps."""
def _quantize(values: npt.NDArray[np.float32], bits: int, mn: float, mx: float) -> npt.NDArray[np.uint16]: ...
def _ext_encode_payload(q: npt.NDArray[np.uint16], n: int, qz: int, zb: int, setting: int,
                        split_offset: int) -> bytes: ...
def _ext_decode_payload(data: bytes, header: Header, ext: Any, out: npt.NDArray[np.uint16]) -> None: ...
