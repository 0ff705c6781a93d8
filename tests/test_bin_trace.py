"""The bin trace (dfc.tools.bin_trace, ``dfc trace --bins``) and the worked
example built from it (conformance_streams/WORKED_EXAMPLE.md).

The bin trace is the ordinary trace of SPEC §10 with a line per bin, so its
element lines must equal ``dfc.reference.trace``'s and its bins must spell the
elements' values; the engine's registers must stay within what SPEC §7.4 and
§11.10 allow; the committed worked example must be what the tool writes now,
and the walk-through may only quote what the traces say.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from dfc.cli import main as dfc_main
from dfc.reference import decode_stream
from dfc.reference.header import read_header
from dfc.reference.trace import trace_stream
from dfc.tools.bin_trace import WORKED_EXAMPLES, bin_trace, main, write_worked_example

CONFORMANCE = Path(__file__).resolve().parent.parent / "conformance_streams"
VALID = CONFORMANCE / "valid"
INVALID = CONFORMANCE / "invalid"
WORKED = CONFORMANCE / "worked_example"
WALKTHROUGH = CONFORMANCE / "WORKED_EXAMPLE.md"

#: Small vectors of both profiles and both settings, between them every kind of
#: bin: rem_mode (palette_3_values), escapes (ext_depth_escape), setting 1 (ext_bit_depth_12).
VECTORS = ("tile_1x1", "tile_1x1_inferred_sig_flag", "tile_7x5_partial_blocks", "bit_depth_1",
           "palette_3_values", "ext_tile_1x1", "ext_one_row", "ext_bit_depth_1", "ext_depth_escape",
           "ext_bit_depth_12")


@dataclass(frozen=True)
class BinLine:
    """One B line, parsed."""

    number: int
    pos: int
    element: str
    binIdx: int
    coding: list[str]
    value: int
    registers: dict[str, int]


def parse_bin(line: str) -> BinLine:
    left, right = line.split(" -> ")
    tokens = left.split()
    k = next(i for i, t in enumerate(tokens) if t.startswith("binIdx="))
    value_token, *register_tokens = right.split()
    registers = {name: int(v, 0) for name, v in (t.split("=") for t in register_tokens)}
    return BinLine(number=int(tokens[1]), pos=int(tokens[2]), element=tokens[k - 1],
                   binIdx=int(tokens[k].split("=")[1]), coding=tokens[k + 1:],
                   value=int(value_token.split("=")[1]), registers=registers)


def element_of(line: str) -> tuple[str, int]:
    """(name, value) of a P, E or S line."""
    name, value = line.split(" = ")
    return name.split()[-1], int(value)


def traces(name: str, folder: Path = VALID) -> tuple[str, str]:
    data = (folder / f"{name}.dfc").read_bytes()
    bins, plain = io.StringIO(), io.StringIO()
    bin_trace(data, bins)
    trace_stream(data, plain)
    return bins.getvalue(), plain.getvalue()


def bins_by_element(text: str) -> list[tuple[str, int, list[BinLine]]]:
    """Each element line of the trace with its bins: those written before it,
    and for band_depth and magnitude also those before their escape's line."""
    found: list[tuple[str, int, list[BinLine]]] = []
    pending: list[BinLine] = []
    for line in text.splitlines():
        if line.startswith("B "):
            pending.append(parse_bin(line))
        elif line[:1] in ("P", "E", "S"):
            name, value = element_of(line)
            if not name.endswith("_escape"):  # an escape's bins are its element's (SPEC §11.6)
                found.append((name, value, pending))
                pending = []
    return found


# --- the trace is the ordinary trace, plus bins ------------------------------------

@pytest.mark.parametrize("name", VECTORS)
def test_element_lines_are_the_ordinary_trace(name: str) -> None:
    bins, plain = traces(name)
    kept = [line for line in bins.splitlines() if line[:1] not in ("B", "I", "#")]
    assert kept == plain.splitlines()


@pytest.mark.parametrize("name", VECTORS)
def test_bins_spell_the_elements(name: str) -> None:
    bins, _ = traces(name)
    for element, value, its_bins in bins_by_element(bins):
        values = [b.value for b in its_bins]
        assert all(b.element == element for b in its_bins)
        assert [b.binIdx for b in its_bins] == list(range(len(its_bins)))
        if element in ("mpm_flag", "skip_flag", "gt1_flag", "gt2_flag", "sign_flag", "in_band",
                       "at_prediction", "below_prediction") or element.startswith("sig_flag["):
            assert values == [value], element
        elif element == "palette_idx":  # truncated unary (SPEC §5.3)
            assert values[:value] == [1] * value and values[value:] in ([0], [])
        elif element == "rem_mode":  # two bypass bins, most significant first (SPEC §6.5)
            assert values[0] * 2 + values[1] == value and all(b.coding == ["bypass"] for b in its_bins)
        elif element == "abs_remaining":
            assert its_bins and all(b.coding == ["bypass"] for b in its_bins)
        elif element == "end_of_payload":
            assert values == [1] and its_bins[0].coding == ["terminate"]
        elif element in ("pred_mode", "sample"):
            assert its_bins == []  # derived, not coded


@pytest.mark.parametrize("name", VECTORS)
def test_bin_trace_decodes_like_the_reference(name: str) -> None:
    data = (VALID / f"{name}.dfc").read_bytes()
    decoded = bin_trace(data, io.StringIO())
    assert (decoded.integers == decode_stream(data).integers).all()


@pytest.mark.parametrize("name", VECTORS)
def test_bin_count_and_final_state(name: str) -> None:
    data = (VALID / f"{name}.dfc").read_bytes()
    header = read_header(data)
    text, _ = traces(name)
    lines = text.splitlines()
    all_bins = [parse_bin(line) for line in lines if line.startswith("B ")]
    assert [b.number for b in all_bins] == list(range(len(all_bins)))
    assert lines[-1].startswith(f"# {len(all_bins)} bins;")
    assert [b.pos for b in all_bins] == sorted(b.pos for b in all_bins)
    last = all_bins[-1]
    if header.profile == 0:
        for b in all_bins[:-1]:  # SPEC §7.4: renormalized to 256..510, offset below the range
            assert 256 <= b.registers["ivlCurrRange"] <= 510 and b.registers["ivlOffset"] < b.registers["ivlCurrRange"]
        assert last.element == "end_of_payload" and last.coding == ["terminate"] and last.value == 1
        assert last.registers["ivlOffset"] == last.registers["ivlCurrRange"] + 1  # the flush's final 1 (SPEC §5.1)
        end = next(line for line in lines if line.startswith("E "))
        assert int(end.split()[1]) == last.pos and 8 * header.payload_size - 8 < last.pos <= 8 * header.payload_size
    else:
        for b in all_bins:  # SPEC §11.10: renormalized to at least 2^24, code below range
            assert (1 << 24) <= b.registers["range"] <= 0xFFFFFFFF and b.registers["code"] < b.registers["range"]
        assert last.registers["code"] == 0 and last.pos == header.payload_size


def test_profile_1_decisions_name_their_contexts() -> None:
    text, _ = traces("ext_one_row")  # setting 0: mixed and single-context decisions
    decisions = [parse_bin(line) for line in text.splitlines() if line.startswith("B ") and " bypass " not in line]
    mixed = [b for b in decisions if "p12=" in " ".join(b.coding)]
    single = [b for b in decisions if b not in mixed]
    assert mixed and single
    for b in mixed:
        assert [t.split("=")[0] for t in b.coding] == ["S", "pS", "X", "pX", "V", "pV", "st", "ws", "p12", "p", "bound"]
        p12 = int(b.coding[8].split("=")[1])
        assert int(b.coding[9].split("=")[1]) == p12 << 4  # SPEC §11.9: decode_bin(p12 << 4)
    for b in single:
        assert [t.split("=")[0] for t in b.coding] == ["S", "pS", "p", "bound"]
        assert b.coding[1].split("=")[1] == b.coding[2].split("=")[1]  # the context's p as it is (SPEC §11.8)


# --- the command line ---------------------------------------------------------------------

def test_module_and_dfc_trace_bins_agree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stream = VALID / "tile_1x1.dfc"
    assert main([str(stream)]) == 0
    printed = capsys.readouterr().out
    out = tmp_path / "bins.txt"
    assert dfc_main(["trace", "--bins", str(stream), "-o", str(out)]) == 0
    assert out.read_text() == printed == traces("tile_1x1")[0]


@pytest.mark.parametrize("name", ["payload_overrun", "remainder_prefix_too_long", "missing_end_of_payload",
                                  "ext_escape_prefix_too_long", "ext_payload_overrun", "crc_mismatch"])
def test_invalid_stream_bins_then_one_error_line(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    stream = INVALID / f"{name}.dfc"
    code = json.loads((INVALID / f"{name}.json").read_text())["expect_error"]
    for run in (lambda: main([str(stream)]), lambda: dfc_main(["trace", "--bins", str(stream)])):
        assert run() == 1
        out, err = capsys.readouterr()
        errors = err.splitlines()
        assert len(errors) == 1 and ": error: " in errors[0] and code in errors[0], err
        lines = out.splitlines()
        all_bins = [parse_bin(line) for line in lines if line.startswith("B ")]
        assert [b.number for b in all_bins] == list(range(len(all_bins)))
        assert bool(all_bins) == (name != "crc_mismatch")  # a header error comes before any bin
        assert not [line for line in lines if re.match(r"# \d+ bins;", line)]  # no end summary


def test_invalid_stream_with_output_file_leaves_none(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bins.txt"
    assert main([str(INVALID / "payload_overrun.dfc"), "-o", str(out)]) == 1
    assert len(capsys.readouterr().err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []  # like every dfc verb: no partial output


def test_needs_a_stream_or_the_worked_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 1
    assert "error: give a STREAM" in capsys.readouterr().err


# --- the worked example -------------------------------------------------------------------

def test_worked_example_regenerates_identically(tmp_path: Path) -> None:
    written = write_worked_example(tmp_path, VALID)
    names = sorted(p.name for p in written)
    assert names == sorted(f"{n}.{kind}.txt" for n in WORKED_EXAMPLES for kind in ("hex", "bins"))
    assert sorted(p.name for p in WORKED.iterdir()) == names
    for path in written:
        assert (WORKED / path.name).read_bytes() == path.read_bytes(), f"{path.name} differs: regenerate it"


def test_worked_example_covers_every_kind_of_bin() -> None:
    profile_0 = (WORKED / f"{WORKED_EXAMPLES[0]}.bins.txt").read_text()
    profile_1 = (WORKED / f"{WORKED_EXAMPLES[1]}.bins.txt").read_text()
    assert all(kind in profile_0 for kind in (" MPS -> ", " LPS -> ", " bypass -> ", " terminate -> "))
    assert all(kind in profile_1 for kind in (" p12=", " bypass -> ", " bin=0 ", " bin=1 "))
    assert " pS=32768 p=32768 " in profile_1  # a single-context decision (escape_bin)
    for text in (profile_0, profile_1):
        assert 100 < text.count("\n") < 300  # readable


def walkthrough_sections() -> list[tuple[str, list[str], list[str], list[str]]]:
    """(title, example names, quoted lines, backticked name=value tokens) of
    each section of WORKED_EXAMPLE.md that names worked_example files."""
    sections = []
    for part in re.split(r"^## ", WALKTHROUGH.read_text(), flags=re.MULTILINE)[1:]:
        names = sorted(set(re.findall(r"worked_example/([a-z0-9_]+)\.(?:bins|hex)\.txt", part)))
        quoted = [line for block in re.findall(r"^```\n(.*?)^```", part, flags=re.MULTILINE | re.DOTALL)
                  for line in block.splitlines() if line.strip()]
        prose = re.sub(r"^```\n.*?^```", "", part, flags=re.MULTILINE | re.DOTALL)
        tokens = re.findall(r"`([A-Za-z0-9_]+=[^`\s]+)`", prose)
        sections.append((part.splitlines()[0], names, quoted, tokens))
    return sections


def test_walkthrough_quotes_only_the_traces() -> None:
    sections = walkthrough_sections()
    assert sum(len(quoted) for _, _, quoted, _ in sections) > 20  # the extraction works
    for title, names, quoted, tokens in sections:
        if not quoted and not tokens:
            continue
        assert names, f"section {title!r} quotes numbers but names no worked_example file"
        lines = set()
        for n in names:
            for kind in ("bins", "hex"):
                lines |= set((WORKED / f"{n}.{kind}.txt").read_text().splitlines())
        words = {word for line in lines for word in line.split()}
        assert not [q for q in quoted if q not in lines], f"{title}: quoted lines not in the traces"
        assert not [t for t in tokens if t not in words], f"{title}: values not in the traces"


def test_walkthrough_covers_both_examples() -> None:
    named = {n for _, names, _, _ in walkthrough_sections() for n in names}
    assert named == set(WORKED_EXAMPLES)
