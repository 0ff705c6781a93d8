"""The constant tables (reference/tables.py) and the arithmetic coding engine (SPEC §7)."""

from __future__ import annotations

import inspect
import math
import random
import re
from itertools import pairwise
from pathlib import Path

import pytest
from conftest import decoder_bit_pos

from dfc.reference import tables
from dfc.reference.cabac import ArithmeticDecoder, ArithmeticEncoder, ContextModel
from dfc.reference.tables import (
    BYPASS_BITS,
    FRAC_BITS,
    MAX_PALETTE_SIZE,
    NUM_CONTEXTS,
    NUM_MODES,
    RANGE_TAB_LPS,
    TRANS_IDX_LPS,
    TRANS_IDX_MPS,
)

# --- SPEC §7.2, Table 3: rangeTabLPS ------------------------------------------

def test_range_tab_lps_is_64_by_4() -> None:
    assert len(RANGE_TAB_LPS) == 64
    assert all(len(row) == 4 and all(isinstance(v, int) for v in row) for row in RANGE_TAB_LPS)


@pytest.mark.parametrize("q", range(4))
def test_range_tab_lps_non_increasing_with_state(q: int) -> None:
    column = [RANGE_TAB_LPS[s][q] for s in range(63)]
    assert all(a >= b for a, b in pairwise(column))


def test_range_tab_lps_increasing_with_range_and_leaves_room_for_the_mps() -> None:
    for s in range(63):
        row = RANGE_TAB_LPS[s]
        assert all(a < b for a, b in pairwise(row)), s
        for q in range(4):
            # qRangeIdx q covers ranges 256 + 64q .. 319 + 64q: the MPS keeps a part
            assert 0 < row[q] < 256 + 64 * q


def test_range_tab_lps_row_63_is_the_terminate_state() -> None:
    assert RANGE_TAB_LPS[63] == (2, 2, 2, 2)


# --- SPEC §7.3, Table 4: state transitions -------------------------------------

def test_trans_idx_mps() -> None:
    assert len(TRANS_IDX_MPS) == 64
    assert list(TRANS_IDX_MPS[:63]) == [min(s + 1, 62) for s in range(63)]
    assert TRANS_IDX_MPS[63] == 63


def test_trans_idx_lps() -> None:
    assert len(TRANS_IDX_LPS) == 64
    assert TRANS_IDX_LPS[0] == 0
    assert all(0 <= TRANS_IDX_LPS[s] <= s for s in range(63))  # an LPS never raises confidence
    assert all(a <= b for a, b in pairwise(TRANS_IDX_LPS[:63]))
    assert max(TRANS_IDX_LPS[:63]) <= 62  # adaptation never enters state 63
    assert TRANS_IDX_LPS[63] == 63


def test_context_update_flips_mps_only_from_state_0() -> None:
    ctx = ContextModel()
    ctx.update(1)  # LPS at state 0: valMPS flips, state stays 0
    assert (ctx.pStateIdx, ctx.valMps) == (0, 1)
    ctx.update(1)  # now the MPS
    assert (ctx.pStateIdx, ctx.valMps) == (1, 1)
    ctx.update(0)  # LPS at state 1: back to TRANS_IDX_LPS[1] = 0, valMPS kept
    assert (ctx.pStateIdx, ctx.valMps) == (0, 1)


# --- SPEC §8.5, Table 5: estimated bit costs ------------------------------------

def p_lps(state: int) -> float:
    """HEVC's LPS probability model: 0.5 at state 0 down to 0.01875 at state 63."""
    return 0.5 * (0.01875 / 0.5) ** (state / 63)


def test_frac_bits_shape_and_state_0() -> None:
    assert len(FRAC_BITS) == 64 and all(len(row) == 2 for row in FRAC_BITS)
    assert FRAC_BITS[0] == (32768, 32768)
    assert BYPASS_BITS == 32768


def test_frac_bits_monotone() -> None:
    mps = [row[0] for row in FRAC_BITS]
    lps = [row[1] for row in FRAC_BITS]
    assert all(a > b for a, b in pairwise(mps))
    assert all(a < b for a, b in pairwise(lps))


@pytest.mark.parametrize("state", range(64))
def test_frac_bits_match_the_probability_model(state: int) -> None:
    p = p_lps(state)
    mps_cost, lps_cost = FRAC_BITS[state]
    assert abs(mps_cost - round(-math.log2(1 - p) * 32768)) <= 1
    assert abs(lps_cost - round(-math.log2(p) * 32768)) <= 1


# --- SPEC §7.5, Table 9: context index ranges ----------------------------------

def declared_context_ranges() -> dict[str, tuple[int, int]]:
    """{CTX_NAME: (offset, count)}: offsets from the module, counts from the
    "# N contexts" note on each line of tables.py."""
    source = inspect.getsource(tables)
    ranges = {}
    for name, offset, count in re.findall(
        r"^(CTX_\w+): Final = (\d+)\s*#\s*(\d+) contexts?\b", source, flags=re.MULTILINE
    ):
        assert getattr(tables, name) == int(offset)
        ranges[name] = (int(offset), int(count))
    return ranges


def test_every_context_offset_declares_its_count() -> None:
    names = {n for n in dir(tables) if n.startswith("CTX_")}
    assert names == set(declared_context_ranges())


def test_context_ranges_contiguous_and_non_overlapping() -> None:
    ranges = sorted(declared_context_ranges().values())
    position = 0
    for offset, count in ranges:
        assert count >= 1
        assert offset == position, f"gap or overlap at context {position}"
        position = offset + count
    assert position == NUM_CONTEXTS
    assert sum(count for _, count in ranges) == NUM_CONTEXTS


def test_context_ranges_cover_every_ctx_inc() -> None:
    counts = {name: count for name, (_, count) in declared_context_ranges().items()}
    assert counts["CTX_PALETTE_IDX"] == MAX_PALETTE_SIZE - 1  # one per truncated-unary bin
    assert counts["CTX_MPM_FLAG"] == 1
    assert counts["CTX_SKIP_FLAG"] == 3  # left skipped + top skipped: 0..2
    assert counts["CTX_SIG_FLAG"] == 3 * NUM_MODES  # 3 * mode + 0..2
    assert counts["CTX_GT1_FLAG"] == 4  # greater1Ctx 0..3
    assert counts["CTX_GT2_FLAG"] == 1
    if "CTX_SIGN_FLAG" in counts:
        assert counts["CTX_SIGN_FLAG"] == NUM_MODES


# --- SPEC §7.4, §7.6: the engine -------------------------------------------------

def test_terminate_only_payload_hand_worked() -> None:
    # low 0, range 510 -> 508; bin 1: low = 508, range = 2. Seven shifts bring range
    # to 256; low sits in [256, 512) each time until it reaches 0, so 7 outstanding
    # bits. Flush: put_bit(0) (the first bit, dropped) releases seven 1s, then
    # (low >> 8) & 1 = 0 and the stop bit 1: 1111111 0 1 -> FE 80.
    enc = ArithmeticEncoder()
    enc.encode_terminate(1)
    assert enc.bits == [1, 1, 1, 1, 1, 1, 1, 0, 1]
    assert enc.payload() == b"\xfe\x80"
    dec = ArithmeticDecoder(b"\xfe\x80", 0, 2)
    assert dec.ivlOffset == 0b111111101  # 509 < 510
    assert dec.decode_terminate() == 1  # 509 >= 510 - 2
    assert dec.bit_pos == 9 == len(enc.bits)


def test_one_mps_then_terminate_hand_worked() -> None:
    # State 0, range 510: qRangeIdx 3, rLPS 240, MPS (0) leaves range 270, no shift.
    # Terminate: range 268, low 268, range 2; shifts: 268 -> outstanding; 24, 48,
    # 96, 192 emit 0s (the first dropped, releasing a 1); 384 and 256 -> outstanding;
    # flush put_bit(0) releases 1 1; then 0 and the stop bit: 1000011 0 1 -> 86 80.
    enc = ArithmeticEncoder()
    enc.encode_decision(ContextModel(), 0)
    enc.encode_terminate(1)
    assert enc.bits == [1, 0, 0, 0, 0, 1, 1, 0, 1]
    assert enc.payload() == b"\x86\x80"
    dec = ArithmeticDecoder(b"\x86\x80", 0, 2)
    assert dec.ivlOffset == 269
    assert dec.decode_decision(ContextModel()) == 0  # 269 < 270
    assert dec.decode_terminate() == 1  # 269 >= 268


def random_bins(rng: random.Random, n: int) -> list[tuple[str, int, int]]:
    """(kind, context, bin): decisions in 6 contexts with different skews (so states
    run up to 62 and LPSs happen there too), bypass bins, terminate(0)s."""
    ops = []
    for _ in range(n):
        r = rng.random()
        if r < 0.7:
            c = rng.randrange(6)
            p_one = (0.5, 0.02, 0.98, 0.2, 0.001, 0.999)[c]
            ops.append(("decision", c, int(rng.random() < p_one)))
        elif r < 0.97:
            ops.append(("bypass", 0, rng.randrange(2)))
        else:
            ops.append(("terminate", 0, 0))
    return ops


@pytest.mark.parametrize("seed", range(40))
def test_engine_round_trip(seed: int) -> None:
    rng = random.Random(seed)
    ops = random_bins(rng, rng.choice([0, 1, 5, 50, 500, 3000]))
    enc = ArithmeticEncoder()
    enc_ctx = [ContextModel() for _ in range(6)]
    expected_pos = []
    for kind, c, b in ops:
        if kind == "decision":
            enc.encode_decision(enc_ctx[c], b)
        elif kind == "bypass":
            enc.encode_bypass(b)
        else:
            enc.encode_terminate(b)
        expected_pos.append(decoder_bit_pos(enc))
    enc.encode_terminate(1)
    payload = enc.payload()
    assert len(payload) == (len(enc.bits) + 7) // 8
    assert enc.bits[-1] == 1  # the stop bit; zeros pad to the byte

    dec = ArithmeticDecoder(payload, 0, len(payload))
    dec_ctx = [ContextModel() for _ in range(6)]
    for (kind, c, b), pos in zip(ops, expected_pos, strict=True):
        if kind == "decision":
            got = dec.decode_decision(dec_ctx[c])
        elif kind == "bypass":
            got = dec.decode_bypass()
        else:
            got = dec.decode_terminate()
        assert got == b
        assert dec.bit_pos == pos
    assert dec.decode_terminate() == 1
    assert dec.bit_pos == len(enc.bits)
    assert [(c.pStateIdx, c.valMps) for c in dec_ctx] == [(c.pStateIdx, c.valMps) for c in enc_ctx]


def test_engine_reaches_the_most_skewed_state() -> None:
    enc = ArithmeticEncoder()
    ctx = ContextModel()
    for _ in range(100):
        enc.encode_decision(ctx, 0)
    assert ctx.pStateIdx == 62
    enc.encode_decision(ctx, 1)  # an LPS at state 62
    enc.encode_terminate(1)
    payload = enc.payload()
    dec = ArithmeticDecoder(payload, 0, len(payload))
    dctx = ContextModel()
    assert [dec.decode_decision(dctx) for _ in range(101)] == [0] * 100 + [1]
    assert dec.decode_terminate() == 1
    assert dec.bit_pos == len(enc.bits)


# --- SPEC.md is the source: its numbered tables equal reference/tables.py ------

SPEC_PATH = Path(__file__).resolve().parents[1] / "SPEC.md"
NAME = r"`([A-Z][A-Z0-9_]+)`"


def spec_table(number: int) -> str:
    """The text of SPEC.md's Table ``number``: from its caption to the next caption
    or heading."""
    text = SPEC_PATH.read_text(encoding="utf-8")
    match = re.search(rf"^Table {number} [—-].*$", text, flags=re.MULTILINE)
    assert match, f"SPEC.md has no Table {number}"
    end = re.compile(r"^(Table \d+ [—-]|#{1,6} )", flags=re.MULTILINE).search(text, match.end())
    return text[match.start(): end.start() if end else len(text)]


def spec_section(number: str) -> str:
    text = SPEC_PATH.read_text(encoding="utf-8")
    match = re.search(rf"^#+ {re.escape(number)} .*$", text, flags=re.MULTILINE)
    assert match, f"SPEC.md has no section {number}"
    end = re.compile(r"^#{1,6} ", flags=re.MULTILINE).search(text, match.end())
    return text[match.start(): end.start() if end else len(text)]


def rows(table: str) -> list[list[str]]:
    """The body rows of a markdown table, cells stripped (header and rule skipped)."""
    out = []
    for line in table.splitlines():
        if line.startswith("|") and not re.fullmatch(r"[|\s:-]+", line):
            out.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return out[1:]


def number(text: str) -> int:
    """'16', '2^24', '-16' -> int."""
    text = text.strip().replace("−", "-")
    if "^" in text:
        base, exp = text.split("^")
        return int(base) ** int(exp)
    return int(text)


def code_list(text: str, after: str) -> tuple[int, ...]:
    """The comma-separated integers of the indented block that follows ``after``."""
    start = text.index(after)
    block = re.search(r"\n\n((?:    .*\n)+)", text[start:])
    assert block, after
    return tuple(int(v) for v in re.findall(r"\d+", block.group(1)))


def assigned(text: str) -> dict[str, int]:
    """Every "`NAME` = value" (also "`NAME` = `OTHER` = value") stated in ``text``."""
    found = {}
    for match in re.finditer(rf"((?:{NAME}\s*=\s*)+)(\d+)\b", text):
        for name in re.findall(NAME, match.group(1)):
            found[name] = int(match.group(3))
    return found


def name_in(cell: str) -> str:
    """The `NAME` a table cell starts with."""
    match = re.match(NAME, cell)
    assert match, cell
    return match.group(1)


def spec_constants() -> dict[str, object]:
    """Every constant that SPEC.md gives, by name, as parsed from its text."""
    spec: dict[str, object] = {}
    for cells in rows(spec_table(1)):
        name = name_in(cells[0])
        if name == "MAGIC":
            spec[name] = bytes.fromhex(cells[1].split("`")[1])
        else:
            spec[name] = number(cells[1])
    for cells in rows(spec_table(2)):
        for name, value in zip(re.findall(NAME, cells[0]), cells[1].split(","), strict=True):
            spec[name] = number(value)
    spec["RANGE_TAB_LPS"] = tuple(tuple(int(v) for v in cells[1:]) for cells in rows(spec_table(3)))
    assert [int(cells[0]) for cells in rows(spec_table(3))] == list(range(64))
    table4 = spec_table(4)
    spec["TRANS_IDX_MPS"] = code_list(table4, "`TRANS_IDX_MPS[s]`")
    spec["TRANS_IDX_LPS"] = code_list(table4, "`TRANS_IDX_LPS[s]`")
    frac: dict[int, tuple[int, int]] = {}
    for cells in rows(spec_table(5)):
        for i in range(0, len(cells), 3):
            frac[int(cells[i])] = (int(cells[i + 1]), int(cells[i + 2]))
    spec["FRAC_BITS"] = tuple(frac[s] for s in range(len(frac)))
    scan_names: dict[int, str] = {}
    for cells in rows(spec_table(6)):
        mode = int(cells[0])
        spec[name_in(cells[1])] = mode
        scan_names[mode] = name_in(cells[3])
    spec["FILTER_TAPS"] = {
        spec[name_in(cells[0])]: tuple(int(v) for v in cells[1:])
        for cells in rows(spec_table(7))
    }
    for cells in rows(spec_table(8)):
        spec[name_in(cells[0])] = tuple((int(x), int(y)) for x, y in re.findall(r"\((\d),(\d)\)", cells[1]))
    spec["SCAN_FOR_MODE"] = {mode: spec[name] for mode, name in scan_names.items()}
    for cells in rows(spec_table(9)):
        spec.update(assigned(cells[0]))
    for cells in rows(spec_table(11)):
        spec[name_in(cells[0])] = number(cells[1])
    # profile 1 (SPEC §11): name | value rows, a value a number or a tuple
    for table in (12, 13, 14, 16, 17):
        for cells in rows(spec_table(table)):
            value = cells[1].strip()
            if value.startswith("("):
                spec[name_in(cells[0])] = tuple(number(v) for v in value.strip("()").split(","))
            else:
                spec[name_in(cells[0])] = number(value)
    for cells in rows(spec_table(15)):
        spec[name_in(cells[0])] = number(cells[1])
    spec["SQUASH_POINTS"] = code_list(spec_section("11.9"), "`SQUASH_POINTS`:")
    # constants stated in the text that explains a table
    for text in (spec_table(6), spec_table(9), spec_section("8.5"), spec_section("11.7")):
        spec.update(assigned(text))
    return spec


def reference_constants() -> dict[str, object]:
    return {name: getattr(tables, name) for name in dir(tables) if re.fullmatch(r"[A-Z][A-Z0-9_]+", name)}


def test_spec_tables_parse() -> None:
    # guards the parser: a table it stopped reading would otherwise compare as missing
    spec = spec_constants()
    for table in ("RANGE_TAB_LPS", "FRAC_BITS", "TRANS_IDX_LPS", "TRANS_IDX_MPS"):
        value = spec[table]
        assert isinstance(value, tuple) and len(value) == 64, table
    assert spec["MAGIC"] == b"\x89DFC"


def test_every_reference_constant_is_given_by_spec() -> None:
    assert sorted(reference_constants()) == sorted(spec_constants())


@pytest.mark.parametrize("name", sorted(reference_constants()))
def test_reference_constant_equals_spec(name: str) -> None:
    assert reference_constants()[name] == spec_constants()[name]
