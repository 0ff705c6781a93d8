"""What the conformance vectors cover (SPEC.md Annex B), written to
conformance_streams/COVERAGE.md:

    python -m dfc.tools.conformance_coverage conformance_streams

1. Value classes: every vector is decoded by the reference decoder with a trace
   sink (SPEC §10) that sorts each header field and syntax element into a class
   (each prediction mode as MPM and not, every palette_idx, each scan, every
   Rice parameter and the escape, the largest residual at each bit depth, the
   profile 1 equivalents, ...); the table lists the vectors that hit each class.
2. Branch coverage: the vectors alone, decoded (plainly and traced) by
   dfc.reference, run every line and branch of its decoder (coverage.py in
   branch mode; the encoder's functions are left out, and checked to be
   untouched by decoding).
3. Readings told apart: the misreadings of dfc.tools.misreadings, each with
   the vectors whose result it changes.

``--check`` compares the file with what it would write and fails when they
differ, when a class is not hit or when coverage is below 100 %.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dfc.errors import DecodeError
from dfc.reference.tables import RICE_PREFIX_LIMIT

GENERATOR = "python -m dfc.tools.conformance_coverage conformance_streams"
MAX_LISTED = 4  # vectors named per class; the count says how many hit it

#: Functions of dfc.reference that only the encoder runs, by module.
ENCODER_ONLY: dict[str, tuple[str, ...]] = {
    "cabac.py": ("copy_contexts", "ArithmeticEncoder.", "BitCostEstimator."),
    "encoder.py": ("",),  # the whole module
    "ext_encoder.py": ("",),
    "ext_syntax.py": ("write_",),
    "header.py": ("write_header", "frame_stream", "Header.palette_size"),
    "palette.py": ("select_palette", "initial_palette_order", "choose_palette_idx"),
    "prediction.py": ("remaining_modes", "block_residuals"),
    "quantizer.py": ("quantize",),
    "rangecoder.py": ("RangeEncoder.",),
    "state.py": ("PayloadState.copy",),
    "syntax.py": ("write_",),
    "tiling.py": ("",),
    "blocks.py": ("blocks_in_tile",),
}


# --- value classes ---------------------------------------------------------------------

def expected_classes() -> list[tuple[str, str, str]]:
    """(profile, element, class) for every class the vectors must hit."""
    from dfc.reference.tables import MAX_PALETTE_SIZE, MAX_RICE_PARAM, NUM_MODES

    base = [("header", f"bit_depth {n}") for n in range(1, 17)]
    base += [("header", f"palette_size {k}") for k in range(1, MAX_PALETTE_SIZE + 1)]
    base += [("palette_idx", str(j)) for j in range(MAX_PALETTE_SIZE)]
    base += [("pred_mode", f"{m} {how}") for m in range(NUM_MODES) for how in ("as MPM", "not MPM")]
    base += [("rem_mode", str(r)) for r in range(NUM_MODES - 1)]
    base += [("skip_flag", v) for v in "01"]
    base += [("block", f"width {w}") for w in range(1, 5)] + [("block", f"height {h}") for h in range(1, 5)]
    base += [("scan", s) for s in ("SCAN_ZIGZAG", "SCAN_HORIZONTAL", "SCAN_VERTICAL")]
    base += [("sig_flag", v) for v in ("0", "1", "inferred")]
    base += [(e, v) for e in ("gt1_flag", "gt2_flag", "sign_flag") for v in "01"]
    base += [("Rice", str(k)) for k in range(MAX_RICE_PARAM + 1)]
    base += [("abs_remaining", c) for c in ("Rice code", "Exp-Golomb escape")]
    base += [("residual", f"magnitude L at bit_depth {n}") for n in range(1, 17)]
    ext = [("header", f"bit_depth {n}") for n in range(1, 17)]
    ext += [("header", f"setting {s}") for s in (0, 1)] + [("header", f"band_flag {b}") for b in (0, 1)]
    ext += [("header", f"split_offset {s}") for s in ("0", "1..14", "15")]
    ext += [(e, v) for e in ("in_band", "at_prediction", "below_prediction") for v in "01"]
    ext += [("band_depth", c) for c in ("0", "1..23", "24 or more")] + [("depth_escape", "present")]
    ext += [("magnitude", c) for c in ("0", "1..23", "24 or more")] + [("magnitude_escape", "present")]
    ext += [("sample", f"L via magnitude MaxM at bit_depth {n}") for n in range(2, 17)]
    return [("0", e, c) for e, c in base] + [("1", e, c) for e, c in ext]


@dataclass
class ClassSink:
    """A TraceSink (SPEC §10) that sorts what it sees into value classes."""

    hits: set[tuple[str, str]] = field(default_factory=set)
    profile: str = "0"
    header: dict[str, Any] = field(default_factory=dict)
    _mpm: int = -1  # the block's mpm_flag
    _mode: int = 0  # the block's pred_mode
    _block_sig: list[int] = field(default_factory=list)  # its coded sig_flags
    _block_sig_done: bool = False  # its first gt1_flag seen
    _rice: int = 0
    _last_ext: str = ""

    def hit(self, element: str, cls: str) -> None:
        self.hits.add((element, cls))

    def header_field(self, byte_offset: int, name: str, value: object) -> None:
        self.header[name] = value
        if name == "profile":
            self.profile = str(value)
        if name in ("bit_depth", "setting", "band_flag"):
            self.hit("header", f"{name} {value}")
        if name == "palette_size" and self.profile == "0":
            self.hit("header", f"palette_size {value}")
        if name == "split_offset":
            self.hit("header", f"split_offset {value if value in (0, 15) else '1..14'}")

    def payload_element(self, bit_pos: int, channel: int, block: tuple[int, int] | None,
                        name: str, value: int) -> None:
        key = name.split("[")[0]
        if key in ("palette_idx", "rem_mode", "skip_flag", "gt1_flag", "gt2_flag", "sign_flag"):
            self.hit(key, str(value))
        if key == "mpm_flag":
            self._mpm = value
        elif key == "pred_mode":
            self._pred_mode(block, value)
        elif key == "skip_flag" and value == 0:
            self.hit("scan", SCAN_NAME[self._mode])
        elif key == "sig_flag":
            self.hit("sig_flag", str(value))
            self._block_sig.append(value)
        elif key == "gt1_flag" and not self._block_sig_done:
            self._block_sig_done = True
            if not any(self._block_sig):
                self.hit("sig_flag", "inferred")
        elif key == "Rice":
            self._rice = value
            self.hit("Rice", str(value))
        elif key == "abs_remaining":
            self.hit("abs_remaining", "Rice code" if value < (RICE_PREFIX_LIMIT << self._rice) else "Exp-Golomb escape")
        elif key == "residual":
            n = int(self.header["bit_depth"])
            if abs(value) == (1 << n) - 1:
                self.hit("residual", f"magnitude L at bit_depth {n}")

    def _pred_mode(self, block: tuple[int, int] | None, mode: int) -> None:
        assert block is not None
        self._mode, self._block_sig, self._block_sig_done = mode, [], False
        self.hit("pred_mode", f"{mode} {'as MPM' if self._mpm == 1 else 'not MPM'}")
        bx, by = block
        width, height = int(self.header["width"]), int(self.header["height"])
        self.hit("block", f"width {min(4, width - 4 * bx)}")
        self.hit("block", f"height {min(4, height - 4 * by)}")

    def end_of_payload(self, bit_pos: int) -> None:
        return None

    def ext_element(self, byte_pos: int, channel: int, x: int, y: int, name: str, value: int) -> None:
        if name in ("in_band", "at_prediction", "below_prediction"):
            self.hit(name, str(value))
        elif name in ("band_depth", "magnitude"):
            self.hit(name, "0" if value == 0 else "1..23" if value < 24 else "24 or more")
        elif name in ("depth_escape", "magnitude_escape"):
            self.hit(name, "present")
        elif name == "sample" and self._last_ext == "magnitude":
            n = int(self.header["bit_depth"])
            if value == (1 << n) - 1:
                self.hit("sample", f"L via magnitude MaxM at bit_depth {n}")
        self._last_ext = name


def _scan_names() -> dict[int, str]:
    from dfc.reference import tables as t

    names = {t.SCAN_ZIGZAG: "SCAN_ZIGZAG", t.SCAN_HORIZONTAL: "SCAN_HORIZONTAL", t.SCAN_VERTICAL: "SCAN_VERTICAL"}
    return {mode: names[scan] for mode, scan in t.SCAN_FOR_MODE.items()}


SCAN_NAME = _scan_names()


def vector_streams(folder: Path) -> Iterator[tuple[str, bytes]]:
    manifest = json.loads((folder / "manifest.json").read_text())
    for entry in manifest["valid"] + manifest["invalid"]:
        yield entry["name"], (folder / entry["files"]["stream"]["path"]).read_bytes()


def value_classes(folder: Path) -> dict[tuple[str, str, str], list[str]]:
    """(profile, element, class) -> the vectors that hit it."""
    from dfc.reference import decode_stream

    found: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for name, data in vector_streams(folder):
        sink = ClassSink()
        try:
            decode_stream(data, trace=sink)
        except DecodeError:
            pass  # an invalid vector's classes count up to its error
        for element, cls in sorted(sink.hits):
            found[(sink.profile, element, cls)].append(name)
    return found


# --- branch coverage ----------------------------------------------------------------------

@dataclass(frozen=True)
class FileCoverage:
    module: str
    statements: int
    missing_lines: list[int]
    branches: int
    missing_branches: list[tuple[int, int]]


def _encoder_only(module: str, function: str) -> bool:
    """Whether the decoder's coverage leaves out ``function`` ("" for the module's
    own lines, left out only with a whole module)."""
    prefixes = ENCODER_ONLY.get(module, ())
    if function == "":
        return prefixes == ("",)
    return any(function.startswith(p) for p in prefixes)


def _decode_all(folder: Path) -> None:
    """Every vector but the large ones (which add no branch), decoded three ways."""
    from dfc.reference import decode, decode_stream
    from dfc.reference.trace import trace_stream

    large = {e["name"] for e in json.loads((folder / "manifest.json").read_text())["valid"]
             if "integers" not in e["files"]}
    for name, data in vector_streams(folder):
        if name in large:
            continue
        for run in (decode, lambda d: trace_stream(d, io.StringIO()), decode_stream):
            try:
                run(data)
            except DecodeError:
                pass


#: Run in a fresh interpreter, so that coverage starts before dfc.reference is imported.
MEASURE = """
import sys
from pathlib import Path
import coverage
cov = coverage.Coverage(branch=True, source=[sys.argv[1]], data_file=None)
cov.exclude(r"class \\w+\\(Protocol\\):")  # interfaces: no code to run
cov.start()
from dfc.tools.conformance_coverage import _decode_all
_decode_all(Path(sys.argv[2]))
cov.stop()
cov.json_report(outfile=sys.argv[3])
"""


def branch_coverage(folder: Path) -> list[FileCoverage]:
    """The reference decoder's line and branch coverage by the vectors alone."""
    import dfc
    import dfc.reference

    source = str(Path(dfc.reference.__file__).resolve().parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(Path(dfc.__file__).resolve().parent.parent), os.environ.get("PYTHONPATH", "")]))
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "coverage.json"
        # from an empty folder: `python -c` puts the working folder first on sys.path,
        # and a checkout there would shadow the dfc being measured
        subprocess.run([sys.executable, "-c", MEASURE, source, str(folder.resolve()), str(report)],
                       check=True, env=env, cwd=tmp)
        data = json.loads(report.read_text())
    return [_file_coverage(Path(path).name, info) for path, info in sorted(data["files"].items())]


def _file_coverage(module: str, info: dict[str, Any]) -> FileCoverage:
    statements, branches = 0, 0
    missing: list[int] = []
    missing_branches: list[tuple[int, int]] = []
    for function, region in info["functions"].items():
        summary = region["summary"]
        if _encoder_only(module, function):
            if function and summary["covered_lines"]:
                raise RuntimeError(f"{module} {function} is listed as encoder-only but decoding runs it")
            continue
        statements += summary["num_statements"]
        branches += summary.get("num_branches", 0)
        missing += region["missing_lines"]
        missing_branches += [(a, b) for a, b in region["missing_branches"]]
    return FileCoverage(module, statements, sorted(missing), branches, sorted(missing_branches))


# --- the report -------------------------------------------------------------------------------

def classes_markdown(found: dict[tuple[str, str, str], list[str]]) -> tuple[str, list[str]]:
    """The value-class tables and the classes no vector hits."""
    lines, missing = [], []
    for profile, title in (("0", "Profile 0 (baseline)"), ("1", "Profile 1 (extended)")):
        lines += [f"### {title}", "", "| element | class | vectors |", "|---|---|---|"]
        for p, element, cls in expected_classes():
            if p != profile:
                continue
            names = found.get((p, element, cls), [])
            if not names:
                missing.append(f"profile {p} {element} {cls}")
            shown = ", ".join(f"`{n}`" for n in names[:MAX_LISTED])
            more = f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else ""
            lines.append(f"| `{element}` | {cls} | {shown + more if names else '**none**'} |")
        lines.append("")
    return "\n".join(lines), missing


def coverage_markdown(files: list[FileCoverage]) -> tuple[str, bool]:
    lines = ["| module | lines | branches | not run |", "|---|---|---|---|"]
    complete = True
    for f in files:
        if not f.statements:
            continue
        gaps = [str(n) for n in f.missing_lines] + [f"{a}->{b}" for a, b in f.missing_branches]
        complete &= not gaps
        lines.append(f"| `{f.module}` | {f.statements - len(f.missing_lines)}/{f.statements} | "
                     f"{f.branches - len(f.missing_branches)}/{f.branches} | {', '.join(gaps) or '—'} |")
    return "\n".join(lines) + "\n", complete


def readings_markdown(folder: Path) -> tuple[str, list[str]]:
    from .misreadings import MISREADINGS, vectors_told_apart

    lines = ["| reading | SPEC | side | vectors that tell it apart |", "|---|---|---|---|"]
    untold = []
    for m in MISREADINGS:
        names = vectors_told_apart(m, folder)
        if not names:
            untold.append(m.name)
        shown = ", ".join(f"`{n}`" for n in names[:MAX_LISTED])
        more = f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else ""
        lines.append(f"| {m.reading} | §{m.section} | {m.side} | {shown + more if names else '**none**'} |")
    return "\n".join(lines) + "\n", untold


HEADER = """# What the conformance vectors cover

Generated by `{generator}` from the vectors in this folder; do not edit.
A test regenerates it and fails when it differs, when a class below is hit by
no vector, when a reading below is told apart by none, or when the vectors
leave a line or branch of the reference decoder unrun.

## Value classes

Each header field and syntax element of every vector, as the reference
decoder's trace (SPEC §10) shows it, sorted into classes. Invalid vectors
count up to their error.

"""

COVERAGE = """
## Branch coverage of the reference decoder

The vectors alone, decoded by `dfc.reference` (plainly and with its trace),
measured by coverage.py in branch mode. The encoder's functions are not
counted (checked to be untouched by decoding): `{encoder}`.

"""

READINGS = """
## Readings told apart

Each row is a way to misread SPEC.md, built into a copy of the reference
decoder or encoder (`dfc.tools.misreadings`); the vectors listed give another
result under it (another output, error code or offset, or other stream bytes
from the vector's input).

"""


def report(folder: Path) -> tuple[str, list[str]]:
    """COVERAGE.md's text and its problems (empty when every check passes)."""
    classes, problems = classes_markdown(value_classes(folder))
    text = HEADER.format(generator=GENERATOR) + classes
    readings, untold = readings_markdown(folder)
    problems += [f"reading not told apart: {name}" for name in untold]
    encoder = "; ".join(f"{m}: {', '.join(p or '(all)' for p in ps)}" for m, ps in ENCODER_ONLY.items())
    table, complete = coverage_markdown(branch_coverage(folder))
    text += COVERAGE.format(encoder=encoder) + table
    if not complete:
        problems.append("the vectors leave lines or branches of the reference decoder unrun")
    text += READINGS + readings
    return text, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dfc.tools.conformance_coverage", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="the conformance_streams folder")
    parser.add_argument("--check", action="store_true", help="fail if COVERAGE.md is not what it would write")
    args = parser.parse_args(argv)
    text, problems = report(args.folder)
    target = args.folder / "COVERAGE.md"
    if args.check:
        if not target.is_file() or target.read_text() != text:
            problems.append(f"{target} is out of date: run {GENERATOR}")
    else:
        target.write_text(text)
    for problem in problems:
        print(f"conformance_coverage: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
