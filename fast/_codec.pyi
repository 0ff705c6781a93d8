"""Type stub for the compiled module dfc.fast._codec (fast/_codec.pyx)."""

from typing import Any

import numpy as np
import numpy.typing as npt

from dfc.reference.decoder import DecodedStream, TraceSink
from dfc.reference.header import Header

def encode(tensor: object, bits: int = 8) -> bytes:
    """Encode a (C, H, W) tensor into a dfc stream (SPEC §8), byte-identical to
    dfc.reference.encode."""

def decode_stream(stream: bytes | bytearray | memoryview,
                  trace: TraceSink | None = None) -> DecodedStream:
    """Decode a whole stream (SPEC §3.1); raises dfc.errors.DecodeError."""

def decode(stream: bytes | bytearray | memoryview) -> npt.NDArray[np.float32]:
    """Decode a dfc stream to its float32 (C, H, W) tensor (SPEC §4.3)."""

def _tables() -> dict[str, Any]:
    """The C copies of dfc.reference.tables, for the equality test."""

def _encode_payload(values: npt.NDArray[np.float32], bits: int, mn: float,
                    mx: float) -> tuple[bytes, tuple[int, ...]]: ...
def _decode_payload(data: bytes, header: Header, out: npt.NDArray[np.uint16]) -> None: ...
def _dequantize(integers: npt.NDArray[np.uint16], bits: int, min_value: float,
                max_value: float) -> npt.NDArray[np.float32]: ...
def _load_tables() -> None: ...
