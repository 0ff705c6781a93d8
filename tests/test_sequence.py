"""Sequences of streams (SPEC §3.6): members found from their headers, errors
reported for the first broken member with offsets from the sequence's start."""

from __future__ import annotations

import numpy as np
import pytest

import dfc
from dfc.sequence import member_bounds, split_streams

FRAMES = np.random.default_rng(9).normal(size=(3, 2, 5, 7)).astype(np.float32)


@pytest.fixture(scope="module")
def sequence() -> bytes:
    return dfc.encode_many(FRAMES, 8, profile="baseline")


def test_members_are_the_single_streams(sequence: bytes) -> None:
    singles = [dfc.encode(f, 8, profile="baseline") for f in FRAMES]
    assert split_streams(sequence) == singles
    assert [end - start for start, end in member_bounds(sequence)] == [len(s) for s in singles]
    assert np.array_equal(dfc.decode_many(sequence), np.stack([dfc.decode(s) for s in singles]))


def test_one_stream_is_a_sequence_of_one() -> None:
    stream = dfc.encode(FRAMES[0], 8)
    assert split_streams(stream) == [stream]
    assert dfc.decode_many(stream).shape == (1, 2, 5, 7)


def test_members_may_differ_but_not_in_an_array() -> None:
    data = dfc.encode(FRAMES[0], 8) + dfc.encode(FRAMES[1, :1], 6)
    assert len(split_streams(data)) == 2
    with pytest.raises(ValueError, match="member 1"):
        dfc.decode_many(data)


def test_a_cut_last_member_is_truncated_at_the_sequence_length(sequence: bytes) -> None:
    for cut in (len(sequence) - 1, len(sequence) - 40):
        with pytest.raises(dfc.TruncatedStreamError) as info:
            dfc.decode_many(sequence[:cut])
        assert info.value.code in ("truncated_payload", "truncated_header") and info.value.offset == cut
        assert "member 2" in str(info.value)


def test_a_broken_member_is_reported_from_the_sequence_start(sequence: bytes) -> None:
    (_, _), (start, end), _ = member_bounds(sequence)
    broken = bytearray(sequence)
    broken[end - 1] ^= 1  # member 1's CRC
    with pytest.raises(dfc.DecodeError) as info:
        dfc.decode_many(bytes(broken))
    assert info.value.code == "crc_mismatch" and info.value.offset == end - 4
    broken[start + 4] = 2  # member 1's format_version, before its CRC is checked
    with pytest.raises(dfc.DecodeError) as info:
        dfc.decode_many(bytes(broken))
    assert (info.value.code, info.value.offset) == ("unsupported_version", start + 4)


def test_zero_bytes_are_not_a_sequence() -> None:
    with pytest.raises(dfc.TruncatedStreamError) as info:
        dfc.decode_many(b"")
    assert (info.value.code, info.value.offset) == ("truncated_header", 0)


def test_a_single_stream_decoder_rejects_a_sequence(sequence: bytes) -> None:
    first_end = next(iter(member_bounds(sequence)))[1]
    with pytest.raises(dfc.DecodeError) as info:
        dfc.decode(sequence)
    assert (info.value.code, info.value.offset) == ("trailing_data", first_end)


def test_the_first_broken_member_wins(sequence: bytes) -> None:
    (_, end0), (start1, _), _ = member_bounds(sequence)
    broken = bytearray(sequence)
    broken[end0 - 1] ^= 1  # member 0's CRC, found when member 0 is decoded
    broken[start1 + 4] = 2  # member 1's header
    with pytest.raises(dfc.DecodeError) as info:
        dfc.decode_many(bytes(broken))
    assert (info.value.code, info.value.offset) == ("crc_mismatch", end0 - 4)


def test_members_with_headers_of_every_length() -> None:
    # profile 0 with 8 palette entries (48-byte header), at 1 bit (2 entries, 36) and profile 1 (35)
    x = FRAMES[0]
    streams = [dfc.encode(x, 8, profile="baseline"), dfc.encode(x, 1, profile="baseline"),
               dfc.encode(x, 8, profile="extended", setting="fast")]
    assert [dfc.decode_stream(s).header.header_size for s in streams] == [48, 36, 35]
    assert split_streams(b"".join(streams)) == streams
    assert split_streams(memoryview(b"".join(streams))) == streams


def test_bytes_after_the_last_member_are_a_member_that_is_not_a_stream(sequence: bytes) -> None:
    with pytest.raises(dfc.DecodeError) as info:
        split_streams(sequence + b"\x00")
    assert (info.value.code, info.value.offset) == ("bad_magic", len(sequence))
