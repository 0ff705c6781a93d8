"""The measurement tools whose numbers go into README.md and SPEC.md Annex A.3:
``dfc bench`` and ``dfc speed``. Timings are never
asserted (benchmarks are not timed tests); what they report about the streams is:
every configuration is there, and its bits per value are the stream's."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import DATA_DIR, REPO_ROOT, load_impl

from dfc.tools import bench, speed

TENSOR = DATA_DIR / "ppocrv4_det-deep-astronaut-c32.npy"


def _bits(impl: object, x: np.ndarray, **options: str) -> float:
    return 8 * len(impl.encode(x, 8, **options)) / x.size  # type: ignore[attr-defined]


def test_bench_times_every_profile_and_reports_the_streams_bits(capsys: pytest.CaptureFixture[str]) -> None:
    fast = load_impl("fast")
    x = np.load(TENSOR).astype(np.float32)
    assert bench.main([str(TENSOR), "--repeat", "1", "--reference-values", "1600", "--no-png"]) == 0
    out = capsys.readouterr().out
    summary_start = next(i for i, line in enumerate(out.splitlines()) if line.startswith("all 1 tensors"))
    summary = {cells[1].strip(): cells[2].strip()
               for cells in (line.split("|") for line in out.splitlines()[summary_start:])
               if len(cells) > 2 and cells[1].startswith(" dfc")}
    expected = {"dfc.fast baseline": _bits(fast, x, profile="baseline"),
                "dfc.fast extended": _bits(fast, x, profile="extended"),
                "dfc.fast extended fast": _bits(fast, x, profile="extended", setting="fast")}
    for codec, bits in expected.items():
        assert summary[codec] == f"{bits:.3f}", codec
    for label in ("baseline", "extended", "extended fast"):
        # a slice's bits are not the tensor's, so the reference rows give none
        assert summary[f"dfc.reference {label} (extrapolated)"] == "-"


def test_bench_profile_choice_limits_the_configurations(capsys: pytest.CaptureFixture[str]) -> None:
    load_impl("fast")
    assert bench.main([str(TENSOR), "--repeat", "1", "--reference-values", "0", "--no-png", "--no-memory",
                       "--profile", "baseline"]) == 0
    out = capsys.readouterr().out
    assert "dfc.fast baseline" in out and "extended" not in out and "dfc.reference" not in out


def test_bench_default_files_are_the_repositorys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # from a checkout: data/corpus and the packaged tensors; elsewhere the packaged ones alone
    monkeypatch.chdir(REPO_ROOT)
    names = sorted(f.name for f in bench.collect_files([]))
    corpus = sorted(f.name for f in (REPO_ROOT / "data" / "corpus").glob("*.npy"))
    packaged = sorted(f.name for f in (REPO_ROOT / "dfc" / "data").glob("*.npy"))
    assert len(corpus) == 9 and len(packaged) == 2 and names == sorted(corpus + packaged)
    monkeypatch.chdir(tmp_path)
    assert sorted(f.name for f in bench.collect_files([])) == packaged


def test_speed_json_counts_each_codecs_stream(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fast = load_impl("fast")
    x = np.load(TENSOR).astype(np.float32)
    out = tmp_path / "speed.json"
    assert speed.main([str(TENSOR), "--repeat", "1", "--peers", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    results = report["tensors"][0]["results"]
    assert results["dfc_baseline"]["bytes"] == len(fast.encode(x, 8, profile="baseline"))
    assert results["dfc_extended"]["bytes"] == len(fast.encode(x, 8, profile="extended"))
    assert results["dfc_extended_fast"]["bytes"] == len(fast.encode(x, 8, profile="extended", setting="fast"))
    assert "dfc_extended_fast" in capsys.readouterr().out
