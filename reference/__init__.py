"""dfc.reference: the pure-Python encoder and decoder, the executable form of SPEC.md.

Written to be read next to the spec: each module is one part of it, each function
cites the section it implements. It is slow; use dfc.fast for real work.
"""

from __future__ import annotations

from dfc.errors import DecodeError, TruncatedStreamError

from .decoder import DecodedStream, decode, decode_stream
from .encoder import encode
from .header import Header, read_header

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
