"""The binary range coder of profile 1: SPEC §11.10 (decoder) and §11.11 (encoder).

A 32-bit range coder that codes one bin at a time with a probability of a 1 in
1/65536, byte by byte, in the manner of LZMA's: the encoder keeps ``low`` (33
bits with the carry) and delays bytes while a carry may still reach them. The
stream has one valid byte form: the decoder ends with ``code`` = 0 having read
every payload byte.
"""

from __future__ import annotations

from dfc.errors import DecodeError, TruncatedStreamError

TOP = 1 << 24  # the range is renormalized to at least this
MASK32 = 0xFFFFFFFF


class RangeDecoder:
    """SPEC §11.10: ``range`` and ``code`` (32 bits each), reading the payload
    ``data[start:end]`` one byte at a time. Byte offsets in errors are absolute."""

    def __init__(self, data: bytes, start: int, end: int) -> None:
        self.data = data
        self.start = start
        self.end = end
        self.pos = start  # the next payload byte
        self.range = MASK32
        self.code = 0
        for _ in range(4):
            self.code = (self.code << 8) | self.read_byte()

    def read_byte(self) -> int:
        """The next payload byte; there is none past the payload (SPEC §11.10)."""
        if self.pos >= self.end:
            raise TruncatedStreamError(
                "payload_overrun", self.end, "11.10",
                "range decoder needs bytes past the end of the payload",
            )
        byte = self.data[self.pos]
        self.pos += 1
        return byte

    def bytes_read(self) -> int:
        """Payload bytes read so far (SPEC §10's position in profile 1)."""
        return self.pos - self.start

    def byte_offset(self) -> int:
        """Absolute offset of the next byte the decoder would read (SPEC §9)."""
        return self.pos

    def decode_bin(self, p: int) -> int:
        """SPEC §11.10 decode_bin: one bin with probability ``p``/65536 of a 1."""
        bound = (self.range >> 16) * p
        if self.code < bound:
            binVal = 1
            self.range = bound
        else:
            binVal = 0
            self.code -= bound
            self.range -= bound
        while self.range < TOP:
            self.range = (self.range << 8) & MASK32
            self.code = ((self.code << 8) | self.read_byte()) & MASK32
        return binVal

    def decode_bypass(self) -> int:
        """SPEC §11.10 decode_bypass: one bin of probability one half, the upper
        half of the range meaning 1."""
        self.range >>= 1
        if self.code >= self.range:
            binVal = 1
            self.code -= self.range
        else:
            binVal = 0
        while self.range < TOP:
            self.range = (self.range << 8) & MASK32
            self.code = ((self.code << 8) | self.read_byte()) & MASK32
        return binVal

    def decode_bits(self, n: int) -> int:
        """n bypass bins, most significant first (SPEC §11.10)."""
        value = 0
        for _ in range(n):
            value = (value << 1) | self.decode_bypass()
        return value


class RangeEncoder:
    """SPEC §11.11: ``low``, ``range``, the delayed byte ``cache`` and the count
    ``pending`` of 0xFF bytes after it."""

    def __init__(self) -> None:
        self.low = 0
        self.range = MASK32
        self.cache = 0
        self.pending = 1  # the cache counts too; the first byte is never written
        self.first = True
        self.out = bytearray()

    def shift_low(self) -> None:
        """SPEC §11.11 shift_low: move the top byte of ``low`` out, through the
        cache, once no carry can reach it any more."""
        if self.low < 0xFF000000 or self.low >= 1 << 32:
            carry = self.low >> 32
            byte = self.cache
            while True:
                if self.first:
                    self.first = False  # always 0, so not written (SPEC §11.11)
                else:
                    self.out.append((byte + carry) & 0xFF)
                byte = 0xFF
                self.pending -= 1
                if self.pending == 0:
                    break
            self.cache = (self.low >> 24) & 0xFF
        self.pending += 1
        self.low = (self.low << 8) & MASK32

    def encode_bin(self, binVal: int, p: int) -> None:
        """SPEC §11.11 encode_bin, the inverse of decode_bin."""
        bound = (self.range >> 16) * p
        if binVal:
            self.range = bound
        else:
            self.low += bound
            self.range -= bound
        while self.range < TOP:
            self.range = (self.range << 8) & MASK32
            self.shift_low()

    def encode_bypass(self, binVal: int) -> None:
        """SPEC §11.11 encode_bypass, the inverse of decode_bypass."""
        self.range >>= 1
        if binVal:
            self.low += self.range
        while self.range < TOP:
            self.range = (self.range << 8) & MASK32
            self.shift_low()

    def encode_bits(self, value: int, n: int) -> None:
        """n bypass bins, most significant first."""
        for i in range(n - 1, -1, -1):
            self.encode_bypass((value >> i) & 1)

    def finish(self) -> bytes:
        """SPEC §11.11 flush: the last bytes of ``low``; returns the payload."""
        for _ in range(5):
            self.shift_low()
        return bytes(self.out)


def check_end(dec: RangeDecoder) -> None:
    """SPEC §11.10: after the last bin, ``code`` is 0 and every payload byte has
    been read: the one byte form of the flush (SPEC §11.11)."""
    if dec.code != 0:
        raise DecodeError("bad_final_code", dec.byte_offset(), "11.10",
                          f"range decoder ends with code {dec.code:#x}, not 0")
    if dec.pos != dec.end:
        raise DecodeError("payload_unused_bytes", dec.pos, "11.10",
                          f"{dec.end - dec.pos} payload bytes follow the end of the range code")
