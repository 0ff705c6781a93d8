"""dfc.fast: the compiled (Cython) implementation of dfc, same API as dfc.reference.

``encode`` produces byte-identical streams to ``dfc.reference.encode``;
``decode``/``decode_stream`` return identical integers and floats and raise the
same :class:`DecodeError` (code, offset, SPEC section) for a broken stream. The
per-sample work runs without the GIL, so several tensors can be coded on several
threads at once. The header, framing and argument checks are dfc.reference's own.
"""

from __future__ import annotations

from dfc.errors import DecodeError, TruncatedStreamError
from dfc.reference.decoder import DecodedStream
from dfc.reference.header import Header, read_header

from ._codec import decode, decode_stream, encode

__all__ = [
    "DecodeError",
    "DecodedStream",
    "Header",
    "TruncatedStreamError",
    "decode",
    "decode_stream",
    "encode",
    "read_header",
]
