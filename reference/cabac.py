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
    """One adaptive probability model: SPEC §7.1, §7.3 (pStateIdx, valMps)."""

    __slots__ = ("pStateIdx", "valMps")

    def __init__(self, pStateIdx: int = INIT_STATE, valMps: int = INIT_MPS) -> None:
        self.pStateIdx = pStateIdx
        self.valMps = valMps

    def update(self, binVal: int) -> None:
        """SPEC §7.3 state transition after coding ``binVal``."""
        if binVal == self.valMps:
            self.pStateIdx = TRANS_IDX_MPS[self.pStateIdx]
        else:
            if self.pStateIdx == 0:
                self.valMps = 1 - self.valMps
            self.pStateIdx = TRANS_IDX_LPS[self.pStateIdx]


def initial_contexts() -> list[ContextModel]:
    """SPEC §7.5: every context model starts at pStateIdx 0, valMps 0."""
    return [ContextModel() for _ in range(NUM_CONTEXTS)]


def copy_contexts(contexts: list[ContextModel]) -> list[ContextModel]:
    """A snapshot of the context models, for the encoder's trial coding."""
    return [ContextModel(c.pStateIdx, c.valMps) for c in contexts]


class ArithmeticEncoder:
    """SPEC §7.6: the encoding engine (low, range, firstBitFlag, bitsOutstanding)."""

    def __init__(self) -> None:
        self.low = 0
        self.range = 510
        self.firstBitFlag = 1
        self.bitsOutstanding = 0
        self.bits: list[int] = []

    def put_bit(self, b: int) -> None:
        """SPEC §7.6 PutBit: the first bit is dropped (it is always 0)."""
        if self.firstBitFlag:
            self.firstBitFlag = 0
        else:
            self.bits.append(b)
        while self.bitsOutstanding > 0:
            self.bits.append(1 - b)
            self.bitsOutstanding -= 1

    def renorm_e(self) -> None:
        """SPEC §7.6.1 RenormE."""
        while self.range < 256:
            if self.low < 256:
                self.put_bit(0)
            elif self.low >= 512:
                self.low -= 512
                self.put_bit(1)
            else:
                self.low -= 256
                self.bitsOutstanding += 1
            self.range <<= 1
            self.low <<= 1

    def encode_decision(self, ctx: ContextModel, binVal: int) -> None:
        """SPEC §7.6.1 EncodeDecision."""
        qRangeIdx = (self.range >> 6) & 3
        ivlLpsRange = RANGE_TAB_LPS[ctx.pStateIdx][qRangeIdx]
        self.range -= ivlLpsRange
        if binVal != ctx.valMps:
            self.low += self.range
            self.range = ivlLpsRange
        ctx.update(binVal)
        self.renorm_e()

    def encode_bypass(self, binVal: int) -> None:
        """SPEC §7.6.2 EncodeBypass."""
        self.low <<= 1
        if binVal:
            self.low += self.range
        if self.low >= 1024:
            self.put_bit(1)
            self.low -= 1024
        elif self.low < 512:
            self.put_bit(0)
        else:
            self.low -= 512
            self.bitsOutstanding += 1

    def encode_terminate(self, binVal: int) -> None:
        """SPEC §7.6.3 EncodeTerminate; a 1 ends the arithmetic code with a flush."""
        self.range -= 2
        if binVal:
            self.low += self.range
            self.flush()
        else:
            self.renorm_e()

    def flush(self) -> None:
        """SPEC §7.6.4: the last bits of the arithmetic code, the final one a 1."""
        self.range = 2
        self.renorm_e()
        self.put_bit((self.low >> 9) & 1)
        self.bits.append((self.low >> 8) & 1)
        self.bits.append(1)

    def payload(self) -> bytes:
        """The flushed bits and the alignment_zero_bits up to a whole byte (SPEC §5.1)."""
        bits = self.bits + [0] * (-len(self.bits) % 8)
        out = bytearray()
        for i in range(0, len(bits), 8):
            byte = 0
            for bit in bits[i : i + 8]:
                byte = (byte << 1) | bit
            out.append(byte)
        return bytes(out)


class ArithmeticDecoder:
    """SPEC §7.4: the decoding engine (ivlCurrRange, ivlOffset), reading the
    payload one bit at a time."""

    def __init__(self, data: bytes, start: int, end: int) -> None:
        """SPEC §7.4.1 initialization on the payload ``data[start:end]``; byte
        offsets in errors are absolute."""
        self.data = data
        self.start = start
        self.end = end
        self.bit_pos = 0  # payload bits read so far
        self.ivlCurrRange = 510
        self.ivlOffset = self.read_bits(9)
        if self.ivlOffset >= 510:
            raise DecodeError(
                "bad_arith_init", start, "7.4.1",
                f"arithmetic decoder initial offset {self.ivlOffset} is not below 510",
            )

    def byte_offset(self) -> int:
        """Absolute byte offset of the byte holding the next bit to read (SPEC §9)."""
        return self.start + (self.bit_pos >> 3)

    def read_bits(self, n: int) -> int:
        """SPEC §7.4.1 read_bits(n), most significant first; reading past the
        payload is an error."""
        value = 0
        for _ in range(n):
            byte_index = self.start + (self.bit_pos >> 3)
            if byte_index >= self.end:
                raise TruncatedStreamError(
                    "payload_overrun", byte_index, "7.4.1",
                    "arithmetic decoder needs bits past the end of the payload",
                )
            value = (value << 1) | ((self.data[byte_index] >> (7 - (self.bit_pos & 7))) & 1)
            self.bit_pos += 1
        return value

    def last_bit(self) -> int:
        """The payload bit read last (SPEC §5.1 requires it to be 1 after end_of_payload)."""
        pos = self.bit_pos - 1
        return (self.data[self.start + (pos >> 3)] >> (7 - (pos & 7))) & 1

    def renorm_d(self) -> None:
        """The renormalization that ends SPEC §7.4.2 and §7.4.4."""
        while self.ivlCurrRange < 256:
            self.ivlCurrRange <<= 1
            self.ivlOffset = (self.ivlOffset << 1) | self.read_bits(1)

    def decode_decision(self, ctx: ContextModel) -> int:
        """SPEC §7.4.2 DecodeDecision."""
        qRangeIdx = (self.ivlCurrRange >> 6) & 3
        ivlLpsRange = RANGE_TAB_LPS[ctx.pStateIdx][qRangeIdx]
        self.ivlCurrRange -= ivlLpsRange
        if self.ivlOffset >= self.ivlCurrRange:
            binVal = 1 - ctx.valMps
            self.ivlOffset -= self.ivlCurrRange
            self.ivlCurrRange = ivlLpsRange
        else:
            binVal = ctx.valMps
        ctx.update(binVal)
        self.renorm_d()
        return binVal

    def decode_bypass(self) -> int:
        """SPEC §7.4.3 DecodeBypass."""
        self.ivlOffset = (self.ivlOffset << 1) | self.read_bits(1)
        if self.ivlOffset >= self.ivlCurrRange:
            self.ivlOffset -= self.ivlCurrRange
            return 1
        return 0

    def decode_terminate(self) -> int:
        """SPEC §7.4.4 DecodeTerminate."""
        self.ivlCurrRange -= 2
        if self.ivlOffset >= self.ivlCurrRange:
            return 1  # no renormalization: the arithmetic code ends here
        self.renorm_d()
        return 0


class BitCostEstimator:
    """SPEC §8.5: adds up estimated bin costs in 1/32768 bit, adapting the contexts
    it is given exactly as coding would."""

    def __init__(self) -> None:
        self.cost = 0

    def encode_decision(self, ctx: ContextModel, binVal: int) -> None:
        self.cost += FRAC_BITS[ctx.pStateIdx][0 if binVal == ctx.valMps else 1]
        ctx.update(binVal)

    def encode_bypass(self, binVal: int) -> None:
        self.cost += BYPASS_BITS
