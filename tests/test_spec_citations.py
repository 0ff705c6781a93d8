"""The code and SPEC.md point at each other: every "SPEC §x.y" cited in reference/,
dfc/ and fast/ is a numbered heading of SPEC.md, every SPEC section named by a
DecodeError is one too, every "Table N" cited exists, and the error codes the
reference raises are exactly those of SPEC Table 10.

A missing SPEC.md fails these tests: it is the document that wins a conflict.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "SPEC.md"

#: "SPEC §6.7", "SPEC §6.2-6.5", "SPEC §3-§6", "SPEC §2's": each number is a citation.
CITATION = re.compile(r"SPEC\s*§\s*(\d+(?:\.\d+)*)(?:\s*[-–]\s*§?\s*(\d+(?:\.\d+)*))?")
#: "## 6.7 residual_block()", "#### 6.7.1 sig_flag", "## 9 Decoder error conditions".
HEADING = re.compile(r"^#{1,6}\s+(?:§\s*)?(\d+(?:\.\d+)*)\.?(?:\s|$)")
#: The SPEC section argument of DecodeError(code, offset, "section", message).
ERROR_SECTION = re.compile(
    r"\b(?:DecodeError|TruncatedStreamError)\(\s*[^,()]+,\s*[^,()]+(?:\([^()]*\))?[^,()]*,\s*\"(\d+(?:\.\d+)*)\"",
    re.DOTALL,
)
#: The code argument of DecodeError("code", ...), TruncatedStreamError("code", ...), _reject("code", ...).
ERROR_CODE = re.compile(r"\b(?:DecodeError|TruncatedStreamError|_reject)\(\s*\"([a-z_]+)\"", re.DOTALL)
TABLE_CITATION = re.compile(r"\bTable (\d+)\b")
TABLE_CAPTION = re.compile(r"^Table (\d+)\s+[—-]", re.MULTILINE)
ERROR_TABLE_ROW = re.compile(r"^\|\s*`([a-z_]+)`\s*\|", re.MULTILINE)


def source_files() -> list[Path]:
    """reference/*.py, dfc/*.py and every text file of fast/ (sources and stubs;
    compiled objects are skipped)."""
    files = sorted(ROOT.glob("reference/*.py")) + sorted(ROOT.glob("dfc/*.py"))
    fast = ROOT / "fast"
    if fast.is_dir():
        for path in sorted(fast.rglob("*")):
            if path.is_file() and path.suffix not in {".so", ".pyd", ".o", ".obj", ".dll", ".dylib"}:
                files.append(path)
    return files


def read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None


def spec_text() -> str:
    if not SPEC.is_file():
        pytest.fail(f"{SPEC} does not exist: the code cites it and it wins every conflict")
    return SPEC.read_text(encoding="utf-8")


def spec_sections() -> set[str]:
    return {m.group(1) for line in spec_text().splitlines() if (m := HEADING.match(line))}


def citations() -> list[tuple[str, int, str]]:
    """(file, line, section) for every SPEC § citation in the code."""
    found = []
    for path in source_files():
        text = read_text(path)
        if text is None:
            continue
        for lineno, line in enumerate(text.splitlines(), 1):
            for match in CITATION.finditer(line):
                for number in match.groups():
                    if number:
                        found.append((str(path.relative_to(ROOT)), lineno, number))
    return found


def reference_sources() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(ROOT.glob("reference/*.py")))


def test_spec_exists() -> None:
    spec_text()


def test_spec_has_numbered_headings() -> None:
    assert {"1", "3", "3.2"} <= spec_sections()


def test_code_cites_spec() -> None:
    # guards the pattern: if it stopped matching, the next test would pass vacuously
    assert len(citations()) >= 20


def test_every_cited_section_is_a_spec_heading() -> None:
    sections = spec_sections()
    missing = [f"{file}:{line}: SPEC §{number}" for file, line, number in citations() if number not in sections]
    assert not missing, "cited but not a heading of SPEC.md:\n" + "\n".join(missing)


def test_every_error_section_is_a_spec_heading() -> None:
    sections = spec_sections()
    cited = set(ERROR_SECTION.findall(reference_sources()))
    assert cited, "no DecodeError sections found"
    assert not cited - sections, f"DecodeError sections not in SPEC.md: {sorted(cited - sections)}"


def test_every_cited_table_exists() -> None:
    captions = set(TABLE_CAPTION.findall(spec_text()))
    missing = []
    for path in source_files():
        text = read_text(path)
        if text is None:
            continue
        for lineno, line in enumerate(text.splitlines(), 1):
            if "SPEC" not in line:
                continue  # "SPEC Table 10", "SPEC §3.2, Table 1": other tables are not the spec's
            for number in TABLE_CITATION.findall(line):
                if number not in captions:
                    missing.append(f"{path.relative_to(ROOT)}:{lineno}: Table {number}")
    assert not missing, "cited but not captioned in SPEC.md:\n" + "\n".join(missing)


def test_error_codes_match_spec_table_10() -> None:
    spec = spec_text()
    start = spec.index("Table 10 — error codes")
    table = spec[start:spec.index("\n## ", start)]
    in_spec = set(ERROR_TABLE_ROW.findall(table))
    raised = set(ERROR_CODE.findall(reference_sources()))
    assert raised, "no error codes found in reference/"
    assert raised == in_spec, (
        f"raised but not in Table 10: {sorted(raised - in_spec)}; "
        f"in Table 10 but never raised: {sorted(in_spec - raised)}"
    )


# --- SPEC's names spelled the same in the reference (SPEC §1.2) ----------------

#: Notation of SPEC §1.3 and the descriptors of §1.5: not names of the format.
NOTATION = {"Min", "Max", "Clip3", "Abs", "Ceil4", "ae", "at", "f", "u", "b", "r"}
#: Names of other documents that SPEC mentions for comparison.
FOREIGN = {"coeff_abs_level_remaining"}
#: Sample arrays that SPEC writes as functions of the position: N(x, y), sample(x, y).
ARRAYS = {"N", "sample", "residual"}


def spec_names(first: int, last: int) -> tuple[set[str], set[str], set[str]]:
    """(names, processes, structures) written in SPEC §first-§last: every
    identifier in a backtick span or an indented code block; those written as a
    call, name(...); and the syntax structures, written name(...) { in a syntax table."""
    text = spec_text()
    start = re.search(rf"^## {first} ", text, flags=re.MULTILINE)
    end = re.search(rf"^## {last + 1} ", text, flags=re.MULTILINE)
    assert start and end
    body = text[start.start(): end.start()]
    snippets = re.findall(r"`([^`\n]+)`", body) + re.findall(r"^    (\S.*)$", body, flags=re.MULTILINE)
    names, processes, structures = set(), set(), set()
    for snippet in snippets:
        names |= set(re.findall(r"\b[A-Za-z_][A-Za-z0-9_]*\b", snippet))
        processes |= set(re.findall(r"\b([A-Za-z_][A-Za-z0-9_]*)\(", snippet))
        structures |= set(re.findall(r"^([a-z_]+)\([^)]*\)\s*\{$", snippet.strip()))
    error_codes = set(ERROR_TABLE_ROW.findall(text[text.index("Table 10 — error codes"):]))
    names -= NOTATION | FOREIGN | error_codes
    processes -= NOTATION | FOREIGN
    return names, processes, structures


def snake(name: str) -> str:
    """H.265's CamelCase process names as the code spells them: PutBit -> put_bit."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def reference_identifiers() -> tuple[set[str], set[str]]:
    """(every NAME token, every function or method name) of reference/*.py."""
    import ast

    tokens: set[str] = set()
    functions: set[str] = set()
    for path in sorted(ROOT.glob("reference/*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                tokens.add(node.id)
            elif isinstance(node, ast.Attribute):
                tokens.add(node.attr)
            elif isinstance(node, ast.arg):
                tokens.add(node.arg)
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                functions.add(node.name)
            elif isinstance(node, ast.alias):
                tokens.add(node.asname or node.name)
    return tokens | functions, functions


def test_spec_names_are_found() -> None:
    names, processes, structures = spec_names(5, 7)
    # guards the extraction: if it stopped matching, the next tests would pass vacuously
    assert {"StatCoeff", "PaletteOrder", "ivlCurrRange", "valMps", "NumSig"} <= names
    assert {"derive_mpm", "base_level", "PutBit"} <= processes
    assert {"payload", "tile", "block", "residual_block"} == structures


def test_spec_variables_and_elements_are_spelled_the_same_in_reference() -> None:
    names, processes, _ = spec_names(5, 7)
    tokens, _ = reference_identifiers()
    words = {n for n in names - processes if "_" in n or re.search(r"[A-Z]", n) and re.search(r"[a-z]", n)}
    constants = {n for n in names if re.fullmatch(r"[A-Z][A-Z0-9_]+", n) and "_" in n}
    missing = sorted(n for n in words | constants if n not in tokens)
    assert not missing, f"SPEC §5-§7 names that reference/ never spells: {missing}"


def test_spec_processes_are_functions_of_reference() -> None:
    _, processes, structures = spec_names(5, 7)
    _, functions = reference_identifiers()
    missing = sorted(p for p in processes - structures - ARRAYS
                     if p not in functions and snake(p) not in functions)
    assert not missing, f"SPEC §5-§7 processes with no function in reference/: {missing}"


def test_each_syntax_structure_has_a_read_and_a_write_function() -> None:
    _, _, structures = spec_names(5, 7)
    _, functions = reference_identifiers()
    missing = sorted(f"{d}_{s}" for s in structures for d in ("read", "write") if f"{d}_{s}" not in functions)
    assert not missing, f"syntax structures without their reader/writer: {missing}"
