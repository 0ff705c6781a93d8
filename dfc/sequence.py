"""Sequences of streams (SPEC §3.6): a camera's frames, a batch, a dataset's
tensors, one stream after another. Each stream says how long it is, so a
sequence is just their concatenation; this module splits one and codes many."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import DecodeError, TruncatedStreamError
from .reference.header import read_header
from .reference.tables import CRC_SIZE


def _rebased(exc: DecodeError, k: int, base: int) -> DecodeError:
    """``exc`` of member ``k`` (which starts at byte ``base``) with its offset
    counted from the start of the sequence, as SPEC §3.6 reports it."""
    kind = TruncatedStreamError if isinstance(exc, TruncatedStreamError) else DecodeError
    return kind(exc.code, base + exc.offset, exc.section, f"member {k} (from byte {base}): {exc.detail}")


def member_bounds(data: bytes) -> Iterator[tuple[int, int]]:
    """(start, end) of each member of a sequence in turn, from its header alone
    (SPEC §3.6); raises DecodeError for a header that breaks a rule or a member
    cut short, when the walk reaches it."""
    base = k = 0
    while True:
        try:
            header = read_header(data[base:])
        except DecodeError as exc:
            raise _rebased(exc, k, base) from None
        end = base + header.header_size + header.payload_size + CRC_SIZE
        if end > len(data):
            raise TruncatedStreamError("truncated_payload", len(data), "3.6",
                                       f"member {k} (from byte {base}) needs {end - base} bytes, "
                                       f"the sequence has {len(data) - base} left")
        yield base, end
        if end == len(data):
            return
        base, k = end, k + 1


def split_streams(data: bytes) -> list[bytes]:
    """The member streams of a sequence (one stream is a sequence of one)."""
    return [bytes(data[start:end]) for start, end in member_bounds(data)]


def encode_many(tensors: Iterable[object] | npt.NDArray[Any], bits: int = 8, **options: Any) -> bytes:
    """A sequence of one stream per tensor: an (N, C, H, W) array or any iterable
    of (C, H, W) tensors, each coded by :func:`dfc.encode` with ``options``
    (profile, setting, range)."""
    import dfc

    streams = [dfc.encode(tensor, bits, **options) for tensor in tensors]
    if not streams:
        raise ValueError("no tensors to encode")
    return b"".join(streams)


def decode_many(data: bytes) -> npt.NDArray[np.float32]:
    """The float32 (N, C, H, W) tensors of a sequence whose members share one shape."""
    import dfc

    tensors = []
    for k, (start, end) in enumerate(member_bounds(data)):
        try:
            tensors.append(dfc.decode(data[start:end]))
        except DecodeError as exc:
            raise _rebased(exc, k, start) from None
        if tensors[-1].shape != tensors[0].shape:
            raise ValueError(f"member {k} is {tensors[-1].shape}, member 0 {tensors[0].shape}: "
                             "no (N, C, H, W) array holds both")
    return np.stack(tensors)
