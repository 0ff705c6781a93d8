"""Several dfc streams in one byte string.

A stream is ``stream_header() || payload || crc32`` with ``payload_size`` in
its header (SPEC §3.1, §3.2), so streams written one after another need no
container: each header says where its stream ends and the next one begins.
The zarr and numcodecs codecs store a chunk of N tensors that way.
"""

from __future__ import annotations

from .errors import DecodeError, TruncatedStreamError
from .reference.header import read_header
from .reference.tables import CRC_SIZE, FIXED_HEADER_SIZE, MAX_PALETTE_SIZE

#: The longest header there is: profile 0 with a full palette (SPEC §3.2;
#: profile 1's is FIXED_HEADER_SIZE + 3, §11.1).
_MAX_HEADER_SIZE = FIXED_HEADER_SIZE + max(2 * MAX_PALETTE_SIZE, 3)


def split_streams(data: bytes) -> list[bytes]:
    """The streams of a concatenation, in order, each ``header || payload || crc32``
    as SPEC §3.1 frames it; ``b""`` holds none.

    Only the headers are read (and checked, SPEC §3.3); each stream's payload and
    CRC are left to its decoder. A header that breaks the spec, or a last stream
    cut short, raises DecodeError (TruncatedStreamError) with the byte offset in
    ``data`` and the stream's index in the message.
    """
    data = bytes(data)
    streams: list[bytes] = []
    start = 0
    while start < len(data):
        end = start + _stream_size(data[start: start + _MAX_HEADER_SIZE], len(streams), start)
        if end > len(data):
            raise TruncatedStreamError(
                "truncated_payload", len(data), "3.4",
                f"stream {len(streams)} at byte {start} ends at byte {end}, after the data's {len(data)}",
            )
        streams.append(data[start:end])
        start = end
    return streams


def _stream_size(head: bytes, index: int, start: int) -> int:
    """Header + payload + CRC bytes of the stream whose first bytes are ``head``;
    a broken header is reported at its offset in the whole concatenation."""
    try:
        header = read_header(head)
    except DecodeError as exc:
        raise type(exc)(exc.code, start + exc.offset, exc.section, f"stream {index}: {exc.detail}") from None
    return header.header_size + header.payload_size + CRC_SIZE
