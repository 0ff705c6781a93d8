"""Check an implementation of dfc against the conformance vectors (SPEC.md Annex B).

    dfc conformance                                    # dfc's own backends
    dfc conformance check-decoder [OPTIONS] -- CMD ARG...
    dfc conformance check-encoder [OPTIONS] -- CMD ARG...

The checks themselves are in :mod:`dfc.tools.conformance_checks`; this module is
the command line: options, the pass/fail table, the JSON and JUnit reports.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shlex
import signal
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from dfc.cliutil import CliError, StagedFiles, guarded

from .conformance_checks import (
    DECODER_PLACEHOLDERS,
    ENCODER_PLACEHOLDERS,
    BackendCheck,
    Check,
    DecoderCheck,
    EncoderCheck,
    Result,
    Suite,
    Vectors,
    load_manifest,
    require_placeholders,
    require_program,
    run_check,
)

__all__ = ["default_vectors", "load_manifest", "main"]

DEFAULT_TIMEOUT = 60.0

#: The encoder placeholders without which it cannot know its input; it may take the
#: bit depth, profile and setting from its own defaults and fail the vectors that differ.
ENCODER_REQUIRED = {"raw": ("input", "stream", "channels", "height", "width"), "npy": ("input", "stream")}


def default_vectors() -> Path:
    """The vectors installed with this dfc (the package's conformance_streams; in a
    checkout, the symlink dfc/conformance_streams -> ../conformance_streams)."""
    return Path(str(resources.files("dfc") / "conformance_streams")).resolve()


USAGE = """
  dfc conformance [OPTIONS] [--backend reference|fast|both]   dfc's own decoders
  dfc conformance check-decoder [OPTIONS] -- CMD ARG...       your decoder, run once per vector
  dfc conformance check-encoder [OPTIONS] -- CMD ARG...       your encoder, once per valid vector"""

OVERVIEW = """\
Check an implementation of dfc against the conformance vectors (SPEC.md Annex B).
'dfc conformance check-decoder --help' (or check-encoder) says what the program
is given and must do. Each check prints one row per vector (PASS or FAIL, its
name, the reason), then a summary; exit status 0 when every vector passes, 1
otherwise. --json and --junit also write the results as reports.

The vectors are those installed with this dfc (--vectors DIR for others):
  {folder}
"""

OVERVIEW_EXAMPLES = """\
examples:
  dfc conformance
  dfc conformance --backend fast --junit conformance.xml
  dfc conformance check-decoder --codes --offsets -- ./mydec {stream} {integers} {floats}
  dfc conformance check-encoder --identical -- \\
      ./myenc {input} {channels} {height} {width} {bits} {profile} {setting} {stream}
  dfc conformance --decoder './mydec {stream} {integers} {floats}' --codes   # older spelling of check-decoder
"""

VECTORS = """
The vectors are those installed with this dfc (--vectors DIR for others):
  {folder}
"""

DECODER_HELP = """\
Run a decoder once per vector, valid and invalid, each time on a copy of the
stream named stream.dfc in a fresh temporary folder: nothing the program is
given names the vector. The command comes after '--' (or as one string after
--decoder) and runs without a shell, in the current folder; its arguments may
hold these placeholders:

  {stream}    the .dfc stream to decode
  {integers}  where to write the decoded integers: raw little-endian uint16,
              C*H*W values in (C, H, W) order, no header (.npy with --format npy)
  {floats}    where to write the dequantized values (SPEC §4.3): raw
              little-endian float32 in the same order (.npy with --format npy)

A valid vector passes when the decoder exits 0 and both files hold exactly the
expected values, the floats bit for bit (the large vectors ship only the SHA-256
of those raw bytes, which is compared instead); with --codes, it must also print
no error line. An invalid vector passes when the decoder exits with a non-zero
status (a signal or the timeout is a failure) and leaves both files absent or
empty (SPEC §9); with --codes, when it also prints exactly one line of the form

  error: CODE
  error: CODE at OFFSET

on stdout or stderr together, CODE being the vector's code of SPEC Table 10 and
OFFSET a decimal byte offset. The line may start with "PROGRAM: " and end with
a note in parentheses, as 'dfc decode' prints it:

  dfc decode: error: crc_mismatch at 86 (x.dfc: CRC-32 ... does not match ...; SPEC §3.4)

A code anywhere else in the output counts for nothing, and two error lines
fail. With --offsets (which implies --codes), OFFSET must be there and equal
the vector's offset, the one dfc reports (Table 10).
"""

DECODER_EXAMPLES = """\
examples:
  dfc conformance check-decoder -- ./mydec {stream} {integers} {floats}
  dfc conformance check-decoder --codes --offsets --jobs 0 --junit report.xml -- ./mydec {stream} {integers} {floats}
  dfc conformance check-decoder --format npy --only 'ext_*' -- python3 mydec.py {stream} {integers} {floats}
"""

ENCODER_HELP = """\
Run an encoder once per valid vector that ships its input tensor (not the large
vectors, which keep only its hash, nor hand-written streams, which have none),
each time in a fresh temporary folder, on the input written as input.f32: raw
little-endian float32, C*H*W values in (C, H, W) order, no header (input.npy,
float32 (C, H, W), with --format npy). The command comes after '--' (or as one
string after --encoder) and runs without a shell; its arguments may hold these
placeholders:

  {input}                       the input tensor file
  {stream}                      where to write the .dfc stream
  {channels} {height} {width}   the tensor's shape (C, H, W)
  {bits}                        the quantizer's bit depth, 1..16
  {profile}                     baseline or extended (SPEC §3.2 profile 0 or 1)
  {setting}                     default or fast (the extended profile's setting,
                                SPEC §11.1; default for the baseline profile)

Placeholders left out are not passed: an encoder that takes the bit depth,
profile or setting from its own defaults fails the vectors that ask otherwise.

A vector passes when the encoder exits 0 and its stream decodes without error
(by dfc's decoder), its header has the shape, bit depth, profile and setting
asked for, and it decodes to exactly the vector's integers and floats (so
min_value and max_value are the input's, SPEC §4.2). The encoder may choose
its own modes, palette, band flag and split offset: any such stream conforms
(SPEC §1.1). With --identical the stream must also be byte-identical to the
vector's NAME.dfc, as from any encoder that follows SPEC §8 and §11.12.
Invalid vectors do not apply to encoders.
"""

ENCODER_EXAMPLES = """\
examples:
  dfc conformance check-encoder -- ./myenc {input} {channels} {height} {width} {bits} {profile} {setting} {stream}
  dfc conformance check-encoder --identical --json enc.json -- \\
      ./myenc {input} {channels} {height} {width} {bits} {profile} {setting} {stream}
  dfc conformance check-encoder --format npy -- python3 myenc.py {input} {stream} --bits {bits} --profile {profile}
"""


# --- options -------------------------------------------------------------------------------

def _common_options(p: argparse.ArgumentParser, folder: Path, defaults: bool) -> None:
    """Options of every check. A subcommand's copies default to SUPPRESS, so that
    the same option given before the subcommand is not overwritten."""
    def default(value: Any) -> Any:
        return value if defaults else argparse.SUPPRESS

    p.add_argument("--vectors", type=Path, metavar="DIR", default=default(folder),
                   help="a conformance_streams folder (default: the vectors installed with this dfc, above)")
    p.add_argument("--only", action="append", metavar="GLOB", default=default(None),
                   help="only the vectors whose names match GLOB ('ext_*', bad_magic); repeat for more")
    p.add_argument("--timeout", type=float, metavar="SECONDS", default=default(DEFAULT_TIMEOUT),
                   help="time the program may take on one vector; one that takes longer fails it "
                        f"(default {DEFAULT_TIMEOUT:g})")
    p.add_argument("--jobs", "-j", type=_jobs, metavar="N", default=default(1),
                   help="check N vectors at a time (default 1; 0: one per CPU)")
    p.add_argument("--json", type=Path, metavar="OUT", default=default(None),
                   help="also write the results as JSON")
    p.add_argument("--junit", type=Path, metavar="OUT", default=default(None),
                   help="also write the results as JUnit XML, which CI systems show as test results")
    p.add_argument("-v", "--verbose", action="store_true", default=default(False),
                   help="print the end of the program's output under each failure")


def _jobs(text: str) -> int:
    """--jobs N: N >= 1, or 0 for one per CPU."""
    try:
        jobs = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if jobs < 0:
        raise argparse.ArgumentTypeError("must be 0 (one per CPU) or more")
    return jobs or os.cpu_count() or 1


def _decoder_options(p: argparse.ArgumentParser, defaults: bool, hidden: bool) -> None:
    def default(value: Any) -> Any:
        return value if defaults else argparse.SUPPRESS

    def show(text: str) -> str:
        return argparse.SUPPRESS if hidden else text

    p.add_argument("--format", choices=["raw", "npy"], default=default("raw"),
                   help=show("the files the program reads or writes: raw (the default) or .npy"))
    p.add_argument("--codes", action="store_true", default=default(False),
                   help=show("require the line 'error: CODE' with the vector's code for each invalid vector"))
    p.add_argument("--offsets", action="store_true", default=default(False),
                   help=show("require 'error: CODE at OFFSET' with the vector's offset too (implies --codes)"))


def build_parser() -> argparse.ArgumentParser:
    folder = default_vectors()
    parser = argparse.ArgumentParser(prog="dfc conformance", usage=USAGE, description=OVERVIEW.format(folder=folder),
                                     epilog=OVERVIEW_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common_options(parser, folder, defaults=True)
    parser.add_argument("--backend", choices=["reference", "fast", "both"], default=None,
                        help="which of dfc's own decoders to check (default both)")
    parser.add_argument("--decoder", metavar="CMD",
                        help="the older spelling of 'check-decoder --decoder CMD' (its options apply)")
    _decoder_options(parser, defaults=True, hidden=True)
    parser.set_defaults(check=None, encoder=None, identical=False)
    sub = parser.add_subparsers(dest="check", title="checks of another implementation", metavar="CHECK")

    p = sub.add_parser("check-decoder", help="run your decoder on every vector",
                       usage="dfc conformance check-decoder [OPTIONS] -- CMD ARG...",
                       description=DECODER_HELP + VECTORS.format(folder=folder), epilog=DECODER_EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _common_options(p, folder, defaults=False)
    p.add_argument("--decoder", metavar="CMD", default=argparse.SUPPRESS,
                   help="the command as one string, split like a POSIX shell would, instead of after '--'")
    _decoder_options(p, defaults=False, hidden=False)

    p = sub.add_parser("check-encoder", help="run your encoder on every valid vector with an input",
                       usage="dfc conformance check-encoder [OPTIONS] -- CMD ARG...",
                       description=ENCODER_HELP + VECTORS.format(folder=folder), epilog=ENCODER_EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _common_options(p, folder, defaults=False)
    p.add_argument("--encoder", metavar="CMD", default=argparse.SUPPRESS,
                   help="the command as one string, split like a POSIX shell would, instead of after '--'")
    p.add_argument("--format", choices=["raw", "npy"], default=argparse.SUPPRESS,
                   help="the input file the encoder reads: raw (the default) or .npy")
    p.add_argument("--identical", action="store_true", default=argparse.SUPPRESS,
                   help="require streams byte-identical to the vectors' (an encoder that follows SPEC §8, §11.12)")
    return parser


def _split_command(argv: list[str]) -> tuple[list[str], list[str]]:
    """Options, and the program's command line after the first '--'."""
    if "--" not in argv:
        return argv, []
    cut = argv.index("--")
    return argv[:cut], argv[cut + 1:]


def _command(after: list[str], string: str | None, what: str) -> list[str]:
    """The program's argv, from after '--' or from one string (split like a shell)."""
    if after and string:
        raise CliError(f"give the {what} command once: after '--' or with --{what}")
    if string:
        after = shlex.split(string)
    elif len(after) == 1 and any(c.isspace() for c in after[0]):
        after = shlex.split(after[0])  # one quoted string after '--'
    if not after:
        raise CliError(f"no {what} command: put it after '--', e.g. -- ./my{what[:3]} "
                       + ("{stream} {integers} {floats}" if what == "decoder" else "{input} ... {stream}"))
    return after


# --- the checks the options ask for --------------------------------------------------------

def _backend_checks(name: str | None) -> tuple[list[Check], list[Suite]]:
    """dfc's backends that can run, and a failed suite for each that cannot."""
    import dfc
    from dfc import reference

    checks: list[Check] = []
    unavailable = []
    for which in (["reference", "fast"] if name in (None, "both") else [name]):
        module, why = dfc._import_fast() if which == "fast" else (reference, "")
        if module is None:
            unavailable.append(Suite(BackendCheck(f"dfc.{which}", None), error=f"not built ({why})"))
        else:
            checks.append(BackendCheck(f"dfc.{which}", module))
    return checks, unavailable


def _checks(args: argparse.Namespace, command: list[str]) -> tuple[list[Check], list[Suite]]:
    if args.check is None and args.decoder is None:
        if command:
            raise CliError("a command after '--' needs check-decoder or check-encoder before it")
        return _backend_checks(args.backend)
    if args.backend is not None:
        raise CliError("--backend chooses among dfc's own decoders; it does not go with another program")
    if args.check == "check-encoder":
        if args.decoder is not None:
            raise CliError("--decoder names a decoder; check-encoder takes an encoder")
        argv = _command(command, args.encoder, "encoder")
        # The shape is in a .npy's header, not in a raw file.
        require_placeholders(argv, ENCODER_REQUIRED[args.format], ENCODER_PLACEHOLDERS, "encoder")
        require_program(argv)
        return [EncoderCheck(argv, args.format, args.identical, args.timeout)], []
    argv = _command(command, args.decoder, "decoder")
    require_placeholders(argv, DECODER_PLACEHOLDERS, DECODER_PLACEHOLDERS, "decoder")
    require_program(argv)
    return [DecoderCheck(argv, args.format, args.codes or args.offsets, args.offsets, args.timeout)], []


# --- the table -----------------------------------------------------------------------------

def _printer(width: int, verbose: bool) -> Any:
    def emit(result: Result) -> None:
        print(f"  {'PASS' if result.passed else 'FAIL'}  {result.vector:{width}s}  {result.reason}", flush=True)
        if verbose and result.output:
            print("\n".join("        | " + line for line in result.output.splitlines()), flush=True)

    return emit


def _vectors_count(n: int) -> str:
    return f"{n} vector" + ("" if n == 1 else "s")


def _summary(suite: Suite) -> str:
    passed = sum(r.passed for r in suite.results)
    name = suite.check.name if suite.check.kind == "backend" else f"check-{suite.check.kind}"
    return (f"{name}: {_vectors_count(len(suite.results))}, {passed} passed, "
            f"{len(suite.results) - passed} failed" + (f"; {suite.error}" if suite.error else ""))


def _left_out(vectors: Vectors, applies: Vectors) -> str:
    """The selected vectors a check does not run, and why (encoders: SPEC Annex B.2)."""
    given = {e["name"] for e in applies.entries}
    left = [e for e in vectors.entries if e["name"] not in given]
    invalid = sum(not vectors.is_valid(e) for e in left)
    no_input = [e["name"] for e in left if vectors.is_valid(e)]
    parts = [f"{_vectors_count(invalid).replace(' ', ' invalid ', 1)}"] if invalid else []
    if no_input:
        what = f"{len(no_input)} valid ones" if invalid else _vectors_count(len(no_input)).replace(" ", " valid ", 1)
        parts.append(f"{what} that ship no input tensor ({', '.join(no_input)})")
    return "  left out: " + ", and ".join(parts) if parts else ""


def _run_all(checks: list[Check], vectors: Vectors, args: argparse.Namespace) -> list[Suite]:
    width = max((len(e["name"]) for e in vectors.entries), default=0)
    suites = []
    for check in checks:
        applies = check.applies(vectors)
        print(check.title())
        print(f"  {_vectors_count(len(applies.entries))} of {vectors.folder}; {check.requires()}")
        left = _left_out(vectors, applies)
        if left:
            print(left)
        sys.stdout.flush()
        suites.append(run_check(check, vectors, _printer(width, args.verbose), args.jobs))
        print(_summary(suites[-1]))
    return suites


# --- reports -------------------------------------------------------------------------------

def json_report(vectors: Vectors, suites: list[Suite]) -> dict[str, Any]:
    import dfc

    return {
        "dfc": dfc.version(),
        "vectors": str(vectors.folder),
        "passed": all(s.failures == 0 for s in suites),
        "checks": [{
            "check": s.check.kind,
            "title": s.check.title(),
            "command": s.check.command if isinstance(s.check, DecoderCheck | EncoderCheck) else None,
            "requires": s.check.requires(),
            "error": s.error or None,
            "passed": s.failures == 0,
            "tests": len(s.results),
            "failures": sum(not r.passed for r in s.results),
            "results": [dataclasses.asdict(r) for r in s.results],
        } for s in suites],
    }


#: Characters XML 1.0 cannot hold, which a program's output may contain.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _junit_suite(root: ET.Element, vectors: Vectors, suite: Suite) -> None:
    node = ET.SubElement(root, "testsuite", name=f"dfc conformance {suite.check.title()}",
                         tests=str(len(suite.results) + bool(suite.error)),
                         failures=str(sum(not r.passed for r in suite.results)), errors=str(int(bool(suite.error))),
                         skipped="0", time=f"{sum(r.seconds for r in suite.results):.3f}")
    props = ET.SubElement(node, "properties")
    for key, value in (("title", suite.check.title()), ("vectors", str(vectors.folder)),
                       ("requires", suite.check.requires())):
        ET.SubElement(props, "property", name=key, value=_xml(value))
    if suite.error:
        case = ET.SubElement(node, "testcase", classname=suite.check.name, name="setup")
        ET.SubElement(case, "error", message=_xml(suite.error), type="unavailable")
    for r in suite.results:
        case = ET.SubElement(node, "testcase", classname=f"{suite.check.name}.{'valid' if r.valid else 'invalid'}",
                             name=r.vector, time=f"{r.seconds:.3f}")
        if not r.passed:
            failure = ET.SubElement(case, "failure", message=_xml(r.reason), type="conformance")
            failure.text = _xml(r.reason + ("\n\n" + r.output if r.output else ""))


def junit_report(vectors: Vectors, suites: list[Suite]) -> bytes:
    """JUnit XML: one testsuite per check, one testcase per vector."""
    root = ET.Element("testsuites", name="dfc conformance",
                      tests=str(sum(len(s.results) + bool(s.error) for s in suites)),
                      failures=str(sum(not r.passed for s in suites for r in s.results)),
                      errors=str(sum(bool(s.error) for s in suites)),
                      time=f"{sum(r.seconds for s in suites for r in s.results):.3f}")
    for suite in suites:
        _junit_suite(root, vectors, suite)
    ET.indent(root)
    xml: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return xml + b"\n"


def _write_reports(args: argparse.Namespace, vectors: Vectors, suites: list[Suite]) -> None:
    """Both reports, whole or not at all."""
    with StagedFiles() as staged:
        if args.json:
            staged.write_json(args.json, json_report(vectors, suites))
        if args.junit:
            staged.write_bytes(args.junit, junit_report(vectors, suites))
        staged.commit()
    for path in (args.json, args.junit):
        if path:
            print(f"wrote {path}")


def _vectors(args: argparse.Namespace) -> Vectors:
    try:
        return Vectors.load(args.vectors, args.only)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        raise CliError(f"{exc} (--vectors DIR names another folder)") from exc


def _require_vectors(checks: list[Check], vectors: Vectors) -> None:
    """A check with no vector to run would pass having checked nothing."""
    for check in checks:
        if not check.applies(vectors).entries:
            raise CliError(f"no vector for the {check.kind} to run: --only selects only vectors an encoder "
                           "is not given (invalid ones, and valid ones that ship no input tensor)")


def _require_report_folders(args: argparse.Namespace) -> None:
    """Before the run, not after it: a report with nowhere to go."""
    for path in (args.json, args.junit):
        if path is not None and not path.resolve().parent.is_dir():
            raise CliError(f"{path}: no folder {path.parent} to write the report in")


def run(args: argparse.Namespace, command: list[str]) -> int:
    checks, unavailable = _checks(args, command)
    vectors = _vectors(args)
    _require_vectors(checks, vectors)
    _require_report_folders(args)
    for suite in unavailable:
        print(f"{suite.check.name}: {suite.error}", file=sys.stderr)
    suites = _run_all(checks, vectors, args) + unavailable
    if args.json or args.junit:
        _write_reports(args, vectors, suites)
    return 0 if all(s.failures == 0 for s in suites) else 1


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (a CI job's time limit) ends the run as Ctrl-C does: the programs,
    in sessions of their own that neither signal reaches, are killed and the
    temporary folder removed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    options, command = _split_command(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(options)
    with _terminate_as_interrupt():
        return guarded("dfc conformance", lambda: run(args, command))


if __name__ == "__main__":
    sys.exit(main())
