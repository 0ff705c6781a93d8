"""Sequences of streams (SPEC §3.6): a camera's frames, a batch, a dataset's
tensors, one stream after another. Each stream says how long it is, so a
sequence is just their concatenation; this module splits one and codes many."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
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


def decode_members(data: bytes, decode_stream: Callable[[bytes], Any] | None = None) -> Iterator[Any]:
    """Each member of a sequence decoded in turn by ``decode_stream`` (default
    :func:`dfc.decode_stream`), a member's errors reported with offsets from
    the sequence's start (SPEC §3.6)."""
    if decode_stream is None:
        import dfc

        decode_stream = dfc.decode_stream
    for k, (start, end) in enumerate(member_bounds(data)):
        try:
            yield decode_stream(data[start:end])
        except DecodeError as exc:
            raise (_rebased(exc, k, start) if start else exc) from None


def stack_members(arrays: Iterable[npt.NDArray[Any]]) -> npt.NDArray[Any]:
    """The members' arrays as one (N, C, H, W) array; ValueError when their shapes differ."""
    stacked: list[npt.NDArray[Any]] = []
    for k, array in enumerate(arrays):
        if stacked and array.shape != stacked[0].shape:
            raise ValueError(f"the members have different shapes: member {k} is {array.shape}, "
                             f"member 0 {stacked[0].shape}")
        stacked.append(array)
    return np.stack(stacked)


def decode_many(data: bytes) -> npt.NDArray[np.float32]:
    """The float32 (N, C, H, W) tensors of a sequence whose members share one shape."""
    return stack_members(d.floats() for d in decode_members(data))
