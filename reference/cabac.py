"""The binary arithmetic coding engine: SPEC §7 (HEVC's CABAC engine).

Three coders share one interface so that the syntax functions can be written once
for each direction:

* :class:`ArithmeticEncoder` writes bins to bytes (SPEC §7.6);
* :class:`ArithmeticDecoder` reads bins from the payload (SPEC §7.4);
* :class:`BitCostEstimator` only adds up the estimated cost of bins (SPEC §8.5),
  which the reference encoder uses for its mode decision.
"""

from __future__ import annotations

from dfc.errors import DecodeError, TruncatedStreamError

from .tables import (
    BYPASS_BITS,
    FRAC_BITS,
    INIT_MPS,
    INIT_STATE,
    NUM_CONTEXTS,
    RANGE_TAB_LPS,
    TRANS_IDX_LPS,
    TRANS_IDX_MPS,
)


class ContextModel:
    """One adaptive probability model: SPEC §7.3 (pStateIdx, valMPS)."""

    __slots__ = ("state", "mps")

    def __init__(self, state: int = INIT_STATE, mps: int = INIT_MPS) -> None:
        self.state = state
        self.mps = mps

    def update(self, bin_val: int) -> None:
        """SPEC §7.3 state transition after coding ``bin_val``."""
        if bin_val == self.mps:
            self.state = TRANS_IDX_MPS[self.state]
        else:
            if self.state == 0:
                self.mps = 1 - self.mps
            self.state = TRANS_IDX_LPS[self.state]


def initial_contexts() -> list[ContextModel]:
    """SPEC §7.5: every context model starts at pStateIdx 0, valMPS 0."""
    return [ContextModel() for _ in range(NUM_CONTEXTS)]


def copy_contexts(contexts: list[ContextModel]) -> list[ContextModel]:
    """A snapshot of the context models, for the encoder's trial coding."""
    return [ContextModel(c.state, c.mps) for c in contexts]


class ArithmeticEncoder:
    """SPEC §7.6: the encoding engine (low, range, outstanding bits)."""

    def __init__(self) -> None:
        self.low = 0
        self.range = 510
        self.first_bit = True
        self.bits_outstanding = 0
        self.bits: list[int] = []

    def _put_bit(self, bit: int) -> None:
        if self.first_bit:
            self.first_bit = False
        else:
            self.bits.append(bit)
        while self.bits_outstanding > 0:
            self.bits.append(1 - bit)
            self.bits_outstanding -= 1

    def _renormalize(self) -> None:
        while self.range < 256:
            if self.low < 256:
                self._put_bit(0)
            elif self.low >= 512:
                self.low -= 512
                self._put_bit(1)
            else:
                self.low -= 256
                self.bits_outstanding += 1
            self.range <<= 1
            self.low <<= 1

    def encode_decision(self, ctx: ContextModel, bin_val: int) -> None:
        """SPEC §7.6.1 EncodeDecision."""
        lps = RANGE_TAB_LPS[ctx.state][(self.range >> 6) & 3]
        self.range -= lps
        if bin_val != ctx.mps:
            self.low += self.range
            self.range = lps
        ctx.update(bin_val)
        self._renormalize()

    def encode_bypass(self, bin_val: int) -> None:
        """SPEC §7.6.2 EncodeBypass."""
        self.low <<= 1
        if bin_val:
            self.low += self.range
        if self.low >= 1024:
            self._put_bit(1)
            self.low -= 1024
        elif self.low < 512:
            self._put_bit(0)
        else:
            self.low -= 512
            self.bits_outstanding += 1

    def encode_terminate(self, bin_val: int) -> None:
        """SPEC §7.6.3 EncodeTerminate; a 1 flushes the engine (SPEC §7.6.4)."""
        self.range -= 2
        if bin_val:
            self.low += self.range
            self.range = 2
            self._renormalize()
            self._put_bit((self.low >> 9) & 1)
            self.bits.append((self.low >> 8) & 1)
            self.bits.append(1)  # the stop bit: last bit of the arithmetic code
        else:
            self._renormalize()

    def payload(self) -> bytes:
        """The flushed bits, zero-padded to a whole number of bytes (SPEC §7.6.4)."""
        bits = self.bits + [0] * (-len(self.bits) % 8)
        out = bytearray()
        for i in range(0, len(bits), 8):
            byte = 0
            for bit in bits[i : i + 8]:
                byte = (byte << 1) | bit
            out.append(byte)
        return bytes(out)


class ArithmeticDecoder:
    """SPEC §7.4: the decoding engine, reading the payload one bit at a time."""

    def __init__(self, data: bytes, start: int, end: int) -> None:
        """Decode the payload ``data[start:end]``; offsets in errors are absolute."""
        self.data = data
        self.start = start
        self.end = end
        self.bit_pos = 0  # bits consumed from the payload
        self.range = 510
        self.offset = self.read_bits(9)
        if self.offset >= 510:
            raise DecodeError(
                "bad_arith_init", start, "7.4.1",
                f"arithmetic decoder initial offset {self.offset} is not below 510",
            )

    def byte_offset(self) -> int:
        """Absolute byte offset of the next bit to read."""
        return self.start + (self.bit_pos >> 3)

    def read_bit(self) -> int:
        """SPEC §7.4.1 read_bits(1); reading past the payload is an error."""
        byte_index = self.start + (self.bit_pos >> 3)
        if byte_index >= self.end:
            raise TruncatedStreamError(
                "payload_overrun", byte_index, "7.4.1",
                "arithmetic decoder needs bits past the end of the payload",
            )
        bit = (self.data[byte_index] >> (7 - (self.bit_pos & 7))) & 1
        self.bit_pos += 1
        return bit

    def read_bits(self, n: int) -> int:
        value = 0
        for _ in range(n):
            value = (value << 1) | self.read_bit()
        return value

    def decode_decision(self, ctx: ContextModel) -> int:
        """SPEC §7.4.2 DecodeDecision."""
        lps = RANGE_TAB_LPS[ctx.state][(self.range >> 6) & 3]
        self.range -= lps
        if self.offset >= self.range:
            bin_val = 1 - ctx.mps
            self.offset -= self.range
            self.range = lps
        else:
            bin_val = ctx.mps
        ctx.update(bin_val)
        while self.range < 256:
            self.range <<= 1
            self.offset = (self.offset << 1) | self.read_bit()
        return bin_val

    def decode_bypass(self) -> int:
        """SPEC §7.4.3 DecodeBypass."""
        self.offset = (self.offset << 1) | self.read_bit()
        if self.offset >= self.range:
            self.offset -= self.range
            return 1
        return 0

    def decode_terminate(self) -> int:
        """SPEC §7.4.4 DecodeTerminate."""
        self.range -= 2
        if self.offset >= self.range:
            return 1
        while self.range < 256:
            self.range <<= 1
            self.offset = (self.offset << 1) | self.read_bit()
        return 0


class BitCostEstimator:
    """SPEC §8.5: adds up estimated bin costs in 1/32768 bit, adapting the contexts
    it is given exactly as coding would."""

    def __init__(self) -> None:
        self.cost = 0

    def encode_decision(self, ctx: ContextModel, bin_val: int) -> None:
        self.cost += FRAC_BITS[ctx.state][0 if bin_val == ctx.mps else 1]
        ctx.update(bin_val)

    def encode_bypass(self, bin_val: int) -> None:
        self.cost += BYPASS_BITS
