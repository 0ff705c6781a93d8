"""The bin trace: every bin the arithmetic decoder decodes, and the decoder's
registers after it (SPEC §10), for implementers who debug their decoder bin by bin.

    python -m dfc.tools.bin_trace STREAM [-o FILE]      (also: dfc trace --bins STREAM)
    python -m dfc.tools.bin_trace --worked-example conformance_streams/worked_example

The stream is decoded by the reference decoder. Its syntax functions are used
as they are; only the engines are subclassed so that each bin is recorded as it
is decoded: ``ArithmeticDecoder`` (profile 0, SPEC §7.4) and ``RangeDecoder``
(profile 1, SPEC §11.10), with context models that know their index and, in
profile 1, a mixer that reports its output. The trace is the one of SPEC §10
(the same ``H``, ``P``, ``E`` and ``S`` lines) with a ``B`` line for every bin
before the line of the element it belongs to, and an ``I`` line for the
engine's initialization.

``--worked-example DIR`` writes the files that conformance_streams/WORKED_EXAMPLE.md
walks through: a hex dump and the bin trace of one small vector per profile.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np

from dfc.cliutil import CliError, StagedFiles, atomic_output, read_bytes, run_tool
from dfc.reference.cabac import ArithmeticDecoder, ContextModel
from dfc.reference.decoder import DecodedStream, ext_params
from dfc.reference.ext_model import ExtContext, Mixer
from dfc.reference.ext_syntax import ExtState, read_ext_tile
from dfc.reference.header import Header, check_framing, read_header
from dfc.reference.palette import update_palette
from dfc.reference.quantizer import max_level
from dfc.reference.rangecoder import RangeDecoder, check_end
from dfc.reference.state import PayloadState
from dfc.reference.syntax import read_end_of_payload, read_tile
from dfc.reference.tables import NUM_CONTEXTS, NUM_EXT_CONTEXTS, PROFILE_EXTENDED, RANGE_TAB_LPS
from dfc.reference.trace import TextTrace

#: The vectors of conformance_streams/valid/ that the worked example traces: small
#: enough to read, and between them every kind of bin of both profiles.
WORKED_EXAMPLES = ("tile_1x1_inferred_sig_flag", "ext_tile_1x1")

#: Elements whose bins continue an enclosing element: the escape of SPEC §11.6 is
#: traced on its own, but its bins are bins of band_depth() or magnitude().
ESCAPE_OF = {"depth_escape": "band_depth", "magnitude_escape": "magnitude"}

LEGEND_BASELINE = """\
# Bins of profile 0. I: the registers after the initialization (SPEC §7.4.1). Then for each bin
#   B <bin number> <payload bits read after it> <channel, block> <element> binIdx=<bin of the element>
#     ctxIdx= pStateIdx= valMps= ivlLpsRange= MPS|LPS   (context-coded, SPEC §7.4.2: its context before it)
#     | bypass (SPEC §7.4.3) | terminate (SPEC §7.4.4)
#     -> binVal= ivlCurrRange= ivlOffset=   (after the bin and its renormalization)
# and after an element's bins, its P or E line.
"""

LEGEND_EXTENDED = """\
# Bins of profile 1. I: the registers after the initialization (SPEC §11.10). Then for each bin
#   B <bin number> <payload bytes read after it> <channel, sample> <element> binIdx=<bin of the element>
#     S= pS= [X= pX= V= pV= st= ws= p12=] p= bound=   (a decision: its contexts and their p before it,
#        SPEC §11.7-§11.8; for a mixed one the mixer's inputs and output, SPEC §11.9; p, decode_bin's argument)
#     | bypass
#     -> bin= range= code=   (after the bin and its renormalization, SPEC §11.10)
# and after an element's bins, its S line.
"""


@dataclass
class Bin:
    """One decoded bin: where the decoder was after it, how it was coded and the
    engine's registers after it, each as ``name=value`` in SPEC's names."""

    pos: int  # payload bits (profile 0) or bytes (profile 1) read after the bin
    value: str  # binVal=... (SPEC §7.4) or bin=... (SPEC §11.10)
    coding: list[str]  # the context and its state, or bypass / terminate
    state: list[str]  # the engine's registers after the bin
    contexts: list[tuple[int, int]] = field(default_factory=list)  # profile 1: (index, p) of S, X, V


class BinLog:
    """The TraceSink of the bin trace: writes the header and element lines of
    SPEC §10 and, before each element's line, the bins decoded since the last
    element, which are that element's bins."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.text = TextTrace(out)
        self.pending: list[Bin] = []
        self.count = 0  # bins written so far
        self.last_pos = 0  # the position after the last bin written
        self.bin_idx = 0  # bins of the current element written so far
        self.mixing: list[str] = []  # profile 1: the mixer's last output, for the bin it codes

    # --- what the engines report -------------------------------------------------

    def initialized(self, pos: int, state: list[str]) -> None:
        """The I line: the registers once the engine is initialized."""
        self.out.write(f"I {pos:8d} {' '.join(state)}\n")

    def add(self, b: Bin) -> None:
        """A bin, held until the element it belongs to is traced."""
        self.pending.append(b)

    def mixed(self, tokens: list[str]) -> None:
        """Profile 1: the mixer's inputs and output, for the bin decoded next."""
        self.mixing = tokens

    def take_mixing(self) -> list[str]:
        """The mixer's report for this bin; none for a single-context decision."""
        tokens, self.mixing = self.mixing, []
        return tokens

    def context_adapted(self, index: int, p: int) -> None:
        """A profile 1 context adapts right after the bin it coded (SPEC §11.8)."""
        self.pending[-1].contexts.append((index, p))

    # --- TraceSink (dfc.reference.syntax) -------------------------------------------

    def header_field(self, byte_offset: int, name: str, value: object) -> None:
        self.text.header_field(byte_offset, name, value)

    def payload_element(self, bit_pos: int, channel: int, block: tuple[int, int] | None,
                        name: str, value: int) -> None:
        where = f"c={channel}" if block is None else f"c={channel} b=({block[0]},{block[1]})"
        self.flush(where, name)
        self.text.payload_element(bit_pos, channel, block, name, value)

    def end_of_payload(self, bit_pos: int) -> None:
        self.flush("", "end_of_payload")
        self.text.end_of_payload(bit_pos)

    def ext_element(self, byte_pos: int, channel: int, x: int, y: int, name: str, value: int) -> None:
        self.flush(f"c={channel} s=({x},{y})", ESCAPE_OF.get(name, name), continued=name in ESCAPE_OF)
        self.text.ext_element(byte_pos, channel, x, y, name, value)

    # --- writing -----------------------------------------------------------------------

    def flush(self, where: str, element: str, continued: bool = False) -> None:
        """Write the pending bins as bins of ``element``; an escape's bins are
        numbered on with the bins after it."""
        for b in self.pending:
            coding = context_tokens(b.contexts) + b.coding
            label = f"{where} {element}".strip()
            self.out.write(f"B {self.count:5d} {b.pos:6d} {label} binIdx={self.bin_idx} "
                           f"{' '.join(coding)} -> {b.value} {' '.join(b.state)}\n")
            self.count += 1
            self.bin_idx += 1
            self.last_pos = b.pos
        self.pending = []
        if not continued:
            self.bin_idx = 0

    def unfinished(self) -> None:
        """The bins of the element a DecodeError interrupted."""
        self.flush("", "(unfinished)")


def context_tokens(contexts: list[tuple[int, int]]) -> list[str]:
    """Profile 1: the decision's contexts in SPEC §11.7's order, S, X, V."""
    return [f"{label}={index} p{label}={p}" for label, (index, p) in zip("SXV", contexts, strict=False)]


# --- profile 0: SPEC §7.4 --------------------------------------------------------------

class IndexedContext(ContextModel):
    """A context model that knows its index ctxIdx (SPEC §7.5, Table 9)."""

    __slots__ = ("ctxIdx",)

    def __init__(self, ctxIdx: int) -> None:
        super().__init__()
        self.ctxIdx = ctxIdx


class TracedArithmeticDecoder(ArithmeticDecoder):
    """SPEC §7.4's engine, reporting every bin to ``log``."""

    def __init__(self, data: bytes, start: int, end: int, log: BinLog) -> None:
        self.log = log
        super().__init__(data, start, end)
        log.initialized(self.bit_pos, self.registers())

    def registers(self) -> list[str]:
        """SPEC §7.4.1's two registers, as name=value."""
        return [f"ivlCurrRange={self.ivlCurrRange}", f"ivlOffset={self.ivlOffset}"]

    def decode_decision(self, ctx: ContextModel) -> int:
        """SPEC §7.4.2, recorded with the context's index and state before the bin."""
        assert isinstance(ctx, IndexedContext), "trace_baseline gives every context its index"
        ctxIdx = ctx.ctxIdx
        pStateIdx, valMps = ctx.pStateIdx, ctx.valMps
        ivlLpsRange = RANGE_TAB_LPS[pStateIdx][(self.ivlCurrRange >> 6) & 3]  # as SPEC §7.4.2
        binVal = super().decode_decision(ctx)
        coding = [f"ctxIdx={ctxIdx}", f"pStateIdx={pStateIdx}", f"valMps={valMps}",
                  f"ivlLpsRange={ivlLpsRange}", "MPS" if binVal == valMps else "LPS"]
        self.log.add(Bin(self.bit_pos, f"binVal={binVal}", coding, self.registers()))
        return binVal

    def decode_bypass(self) -> int:
        """SPEC §7.4.3, recorded."""
        binVal = super().decode_bypass()
        self.log.add(Bin(self.bit_pos, f"binVal={binVal}", ["bypass"], self.registers()))
        return binVal

    def decode_terminate(self) -> int:
        """SPEC §7.4.4, recorded."""
        binVal = super().decode_terminate()
        self.log.add(Bin(self.bit_pos, f"binVal={binVal}", ["terminate"], self.registers()))
        return binVal


def trace_baseline(data: bytes, header: Header, log: BinLog) -> DecodedStream:
    """SPEC §5.1 payload(), as dfc.reference.syntax.read_payload reads it, with
    context models that know their index."""
    start = header.header_size
    dec = TracedArithmeticDecoder(data, start, start + header.payload_size, log)
    state = PayloadState.initial(header.palette)
    contexts: list[ContextModel] = [IndexedContext(i) for i in range(NUM_CONTEXTS)]
    state.contexts = contexts
    integers = np.empty(header.shape, dtype=np.uint16)
    for c in range(header.channels):
        tile = read_tile(dec, state, c, header.height, header.width, max_level(header.bit_depth), log)
        state.PaletteOrder = update_palette(state.PaletteOrder, state.PaletteCount, tile.samples)
        integers[c] = tile.samples
    read_end_of_payload(dec, header.payload_size, log)
    log.out.write(f"# {log.count} bins; the arithmetic code ends after {log.last_pos} payload bits, "
                  f"alignment_zero_bits fill them up to {dec.bit_pos} = 8 * payload_size (SPEC §5.1)\n")
    return DecodedStream(header=header, integers=integers)


# --- profile 1: SPEC §11.8-§11.10 ----------------------------------------------------------

class TracedExtContext(ExtContext):
    """A profile 1 context that reports its index and p when it adapts, which
    it does right after each bin it coded (SPEC §11.8, §11.9)."""

    __slots__ = ("index", "log")

    def __init__(self, index: int, log: BinLog) -> None:
        super().__init__()
        self.index = index
        self.log = log

    def update(self, binVal: int) -> None:
        """SPEC §11.8, after reporting the context's index and p before the bin."""
        self.log.context_adapted(self.index, self.p)
        super().update(binVal)


class TracedMixer(Mixer):
    """SPEC §11.9's mixer, reporting its inputs and output for the bin it codes."""

    def __init__(self, log: BinLog) -> None:
        super().__init__()
        self.log = log

    def mix(self, ws: int, st: tuple[int, int, int]) -> int:
        """SPEC §11.9's p12, reported with its inputs."""
        p12 = super().mix(ws, st)
        self.log.mixed([f"st={st[0]},{st[1]},{st[2]}", f"ws={ws}", f"p12={p12}"])
        return p12


class TracedRangeDecoder(RangeDecoder):
    """SPEC §11.10's range decoder, reporting every bin to ``log``."""

    def __init__(self, data: bytes, start: int, end: int, log: BinLog) -> None:
        self.log = log
        super().__init__(data, start, end)
        log.initialized(self.bytes_read(), self.registers())

    def registers(self) -> list[str]:
        """SPEC §11.10's two registers, as name=value."""
        return [f"range={self.range:#010x}", f"code={self.code:#010x}"]

    def decode_bin(self, p: int) -> int:
        """SPEC §11.10 decode_bin, recorded with p and bound."""
        bound = (self.range >> 16) * p  # as SPEC §11.10
        binVal = super().decode_bin(p)
        coding = self.log.take_mixing() + [f"p={p}", f"bound={bound:#010x}"]
        self.log.add(Bin(self.bytes_read(), f"bin={binVal}", coding, self.registers()))
        return binVal

    def decode_bypass(self) -> int:
        """SPEC §11.10 decode_bypass, recorded."""
        binVal = super().decode_bypass()
        self.log.add(Bin(self.bytes_read(), f"bin={binVal}", ["bypass"], self.registers()))
        return binVal


def trace_extended(data: bytes, header: Header, log: BinLog) -> DecodedStream:
    """SPEC §11.2 ext_payload(), as dfc.reference.ext_syntax.read_ext_payload
    reads it, with contexts and a mixer that report to ``log``."""
    start = header.header_size
    dec = TracedRangeDecoder(data, start, start + header.payload_size, log)
    contexts: list[ExtContext] = [TracedExtContext(i, log) for i in range(NUM_EXT_CONTEXTS)]
    state = ExtState(ext_params(header), contexts=contexts, mixer=TracedMixer(log))
    integers = np.empty(header.shape, dtype=np.uint16)
    for c in range(header.channels):
        integers[c] = read_ext_tile(dec, state, c, ext_tracer(log, c))
    check_end(dec)
    log.out.write(f"# {log.count} bins; code = 0 and all {header.payload_size} payload bytes read "
                  f"(SPEC §11.10)\n")
    return DecodedStream(header=header, integers=integers)


def ext_tracer(log: BinLog, c: int) -> Callable[[int, int, int, str, int], None]:
    """The tracer read_ext_tile takes, for channel ``c``."""
    return lambda pos, x, y, name, value: log.ext_element(pos, c, x, y, name, value)


# --- the whole stream ------------------------------------------------------------------------

def bin_trace(data: bytes, out: TextIO) -> DecodedStream:
    """Decode ``data`` with the reference decoder, writing the bin trace to ``out``.

    On a DecodeError, the bins decoded before it are written (those of the
    element it interrupted marked as unfinished) and the error is raised.
    """
    data = bytes(data)
    log = BinLog(out)
    header = read_header(data, log.header_field)
    check_framing(data, header)
    extended = header.profile == PROFILE_EXTENDED
    out.write(LEGEND_EXTENDED if extended else LEGEND_BASELINE)
    try:
        if extended:
            return trace_extended(data, header, log)
        return trace_baseline(data, header, log)
    except ValueError:
        log.unfinished()
        raise


# --- the worked example ------------------------------------------------------------------------

def hex_dump(name: str, data: bytes) -> str:
    """The stream's bytes by part (SPEC §3.1), 16 to a line at decimal offsets,
    then each payload byte in bits with its bit positions, which the trace counts."""
    header = read_header(data)
    start, end = header.header_size, header.header_size + header.payload_size
    lines = [f"# {name}: {len(data)} bytes = stream_header() {start} + payload {header.payload_size} "
             f"+ crc32 {len(data) - end} (SPEC §3.1)",
             f"# sha256 {hashlib.sha256(data).hexdigest()}",
             "# offset  bytes                                            part"]
    for part, lo, hi in (("stream_header()", 0, start), ("payload", start, end), ("crc32", end, len(data))):
        for i in range(lo, hi, 16):
            chunk = " ".join(f"{b:02x}" for b in data[i:min(i + 16, hi)])
            lines.append(f"{i:8d}  {chunk:<47}  {part}")
    lines.append("# the payload in bits, the most significant first (SPEC §1.4)")
    for k in range(header.payload_size):
        byte = data[start + k]
        lines.append(f"payload byte {k:3d} (offset {start + k:4d}): 0x{byte:02x} = {byte:08b}, "
                     f"bits {8 * k}..{8 * k + 7}")
    return "\n".join(lines) + "\n"


def trace_text(data: bytes) -> str:
    """The bin trace of a valid stream, as one string."""
    buffer = io.StringIO()
    bin_trace(data, buffer)
    return buffer.getvalue()


def write_worked_example(folder: Path, vectors: Path) -> list[Path]:
    """Write NAME.hex.txt and NAME.bins.txt for each of WORKED_EXAMPLES, read
    from ``vectors`` (conformance_streams/valid/), all or none."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    with StagedFiles() as staged:
        for name in WORKED_EXAMPLES:
            path = vectors / f"{name}.dfc"
            data = read_bytes(path)
            shown = f"{vectors.name}/{path.name}"
            staged.write_text(folder / f"{name}.hex.txt", hex_dump(shown, data))
            staged.write_text(folder / f"{name}.bins.txt", trace_text(data))
            written += [folder / f"{name}.hex.txt", folder / f"{name}.bins.txt"]
        staged.commit()
    return written


# --- command line ---------------------------------------------------------------------------------

def write_trace(path: Path, out: TextIO) -> None:
    """The bin trace of the stream at ``path``; a DecodeError, after the bins
    before it, becomes one CliError line."""
    data = read_bytes(path)
    try:
        bin_trace(data, out)
    except ValueError as exc:
        out.flush()
        raise CliError(f"{path}: {exc}") from exc


def build_parser() -> argparse.ArgumentParser:
    """The tool's options (``--help`` shows examples)."""
    parser = argparse.ArgumentParser(
        prog="python -m dfc.tools.bin_trace",
        description="Print every bin the reference decoder's arithmetic decoder decodes, with its "
                    "context, value and the decoder's registers after it (SPEC §10).",
        epilog="examples:\n  python -m dfc.tools.bin_trace conformance_streams/valid/tile_1x1.dfc\n"
               "  dfc trace --bins features.dfc -o features.bins.txt\n"
               "  python -m dfc.tools.bin_trace --worked-example conformance_streams/worked_example",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("stream", nargs="?", type=Path, help="a .dfc stream")
    parser.add_argument("-o", "--output", type=Path, default=None, help="write the trace here instead of stdout")
    parser.add_argument("--worked-example", type=Path, metavar="DIR", default=None,
                        help="write the hex dumps and bin traces of conformance_streams/WORKED_EXAMPLE.md to DIR")
    parser.add_argument("--vectors", type=Path, metavar="DIR", default=None,
                        help="with --worked-example: where the valid vectors are (default: DIR/../valid)")
    return parser


def run(args: argparse.Namespace, argv: list[str]) -> int:
    """Write one stream's trace, or the worked example."""
    if args.worked_example is not None:
        if args.stream is not None or args.output is not None:
            raise CliError("--worked-example takes no STREAM and no -o")
        vectors = args.vectors if args.vectors is not None else args.worked_example.parent / "valid"
        for path in write_worked_example(args.worked_example, vectors):
            print(f"wrote {path}")
        return 0
    if args.stream is None:
        raise CliError("give a STREAM, or --worked-example DIR")
    if args.output is None:
        write_trace(args.stream, sys.stdout)
    else:
        with atomic_output(args.output, "w") as out:
            write_trace(args.stream, out)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m dfc.tools.bin_trace``; returns the exit status."""
    return run_tool("bin_trace", build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
