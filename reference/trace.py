"""The decoder trace: every header field and payload element in stream order
(SPEC §10), like the HM decoder's trace."""

from __future__ import annotations

from typing import TextIO

from .decoder import DecodedStream, decode_stream


class TextTrace:
    """A TraceSink that writes SPEC §10 lines to a text stream."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def header_field(self, byte_offset: int, name: str, value: object) -> None:
        self.out.write(f"H {byte_offset:6d} {name} = {value}\n")

    def payload_element(self, bit_pos: int, channel: int, block: tuple[int, int] | None,
                        name: str, value: int) -> None:
        where = f"c={channel}" if block is None else f"c={channel} b=({block[0]},{block[1]})"
        self.out.write(f"P {bit_pos:8d} {where} {name} = {value}\n")

    def end_of_payload(self, bit_pos: int) -> None:
        self.out.write(f"E {bit_pos:8d} end_of_payload = 1\n")

    def ext_element(self, byte_pos: int, channel: int, x: int, y: int, name: str, value: int) -> None:
        self.out.write(f"S {byte_pos:8d} c={channel} s=({x},{y}) {name} = {value}\n")


def trace_stream(data: bytes, out: TextIO) -> DecodedStream:
    """Decode ``data`` with the reference decoder, writing its trace to ``out``.

    Lines already written stay written when the stream turns out to be invalid:
    the trace then shows how far decoding got before the DecodeError.
    """
    sink = TextTrace(out)
    return decode_stream(data, trace=sink)
