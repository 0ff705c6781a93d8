"""dfc.sequence: streams written one after another are split by their headers'
sizes (SPEC §3.1, §3.2), whatever each header's length (palette, profile)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import load_data

import dfc
from dfc.sequence import split_streams


def mixed_streams() -> list[bytes]:
    """Three real tensors, coded so that the headers differ in length: profile 0
    with a full palette (48 bytes), profile 0 at 1 bit (palette of 2, 36 bytes)
    and profile 1 (35 bytes)."""
    x = load_data("ppocrv4_det-shallow-astronaut-c2.npy")[:, :16, :16]
    y = load_data("effnet_lite0-shallow-astronaut-c4.npy")[:2, :8, :24]
    return [dfc.encode(x, 8, profile="baseline"), dfc.encode(y, 1, profile="baseline"),
            dfc.encode(y, 8, profile="extended", setting="fast")]


def test_split_returns_each_stream_whole() -> None:
    streams = mixed_streams()
    header_sizes = [dfc.decode_stream(s).header.header_size for s in streams]
    assert header_sizes == [48, 36, 35]
    assert split_streams(b"".join(streams)) == streams


def test_split_of_one_stream_and_of_nothing() -> None:
    stream = mixed_streams()[0]
    assert split_streams(stream) == [stream]
    assert split_streams(b"") == []


def test_split_accepts_any_buffer() -> None:
    streams = mixed_streams()
    joined = np.frombuffer(b"".join(streams), dtype=np.uint8)
    assert split_streams(memoryview(joined)) == streams


def test_split_rejects_a_last_stream_cut_short() -> None:
    streams = mixed_streams()
    data = b"".join(streams)[:-1]
    with pytest.raises(dfc.TruncatedStreamError, match="stream 2 at byte") as info:
        split_streams(data)
    assert info.value.code == "truncated_payload" and info.value.offset == len(data)


def test_split_rejects_bytes_after_the_last_stream() -> None:
    streams = mixed_streams()
    with pytest.raises(dfc.DecodeError, match="stream 3: not a dfc stream") as info:
        split_streams(b"".join(streams) + b"\x00")
    assert info.value.code == "bad_magic" and info.value.offset == sum(map(len, streams))


def test_split_reports_a_broken_header_at_its_offset_in_the_whole() -> None:
    streams = mixed_streams()
    data = bytearray(b"".join(streams))
    bit_depth_of_second = len(streams[0]) + 6  # SPEC §3.2: bit_depth at byte 6
    data[bit_depth_of_second] = 17
    with pytest.raises(dfc.DecodeError, match="stream 1: bit_depth 17") as info:
        split_streams(bytes(data))
    assert (info.value.code, info.value.offset, info.value.section) == ("bad_bit_depth", bit_depth_of_second, "3.3")


def test_split_reports_a_header_cut_short_as_truncated() -> None:
    streams = mixed_streams()
    data = b"".join(streams[:2]) + streams[2][:20]
    with pytest.raises(dfc.TruncatedStreamError, match="stream 2: stream ends inside the header field min_value"):
        split_streams(data)
