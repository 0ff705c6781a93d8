"""The conformance suite's own measures (SPEC Annex B): the vectors hit every
value class, drive the reference decoder through every line and branch, tell
every listed misreading apart, and regenerate byte for byte."""

from __future__ import annotations

import filecmp
import math
import shutil
from pathlib import Path

import pytest

from dfc.tools import conformance_build, conformance_coverage, make_conformance

FOLDER = Path(__file__).resolve().parent.parent / "conformance_streams"


@pytest.fixture(scope="module")
def measured() -> tuple[str, list[str]]:
    return conformance_coverage.report(FOLDER)


def test_every_class_reading_and_branch_is_covered(measured: tuple[str, list[str]]) -> None:
    _, problems = measured
    assert problems == []


def test_coverage_md_is_up_to_date(measured: tuple[str, list[str]]) -> None:
    text, _ = measured
    assert (FOLDER / "COVERAGE.md").read_text() == text, f"run {conformance_coverage.GENERATOR}"


def test_an_uncovered_class_is_reported() -> None:
    found = {("0", "skip_flag", "1"): ["v"]}
    _, missing = conformance_coverage.classes_markdown(found)
    assert "profile 0 skip_flag 1" not in missing
    assert "profile 0 skip_flag 0" in missing


def test_regenerating_gives_the_same_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conformance_build, "REPO", FOLDER.parent)  # the real tensors of data/corpus
    out = tmp_path / "conformance_streams"
    out.mkdir()
    make_conformance.generate(out)
    for sub in ("valid", "invalid"):
        left, right = sorted(p.name for p in (FOLDER / sub).iterdir()), sorted(p.name for p in (out / sub).iterdir())
        assert left == right
        _, mismatch, errors = filecmp.cmpfiles(FOLDER / sub, out / sub, left, shallow=False)
        assert mismatch == [] and errors == []
    assert (FOLDER / "manifest.json").read_bytes() == (out / "manifest.json").read_bytes()
    shutil.rmtree(out)


@pytest.mark.parametrize("n", range(1, 17))
def test_both_quantizer_orders_round_exact_halves_up(n: int) -> None:
    # SPEC §4.2 / Annex B.4: where t * L is exactly k + 0.5 (t = (2k + 1) / 2L),
    # the specified order and (v - min) * L / (max - min) both give k + 1.
    L = (1 << n) - 1
    for k in range(L):
        t = (2 * k + 1) / (2 * L)
        assert math.floor(t * L + 0.5) == k + 1
        assert math.floor((2 * k + 1) * L / (2 * L) + 0.5) == k + 1
