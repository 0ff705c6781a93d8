"""The dfc command line: each verb's output, and for failures a non-zero exit,
one line on stderr and no partial output file."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from conftest import load_data, load_impl

import dfc
from dfc.cli import main


@pytest.fixture()
def tensor_file(tmp_path: Path) -> Path:
    path = tmp_path / "x.npy"
    np.save(path, load_data("yolofastest_xl-deep-kodim02-c64.npy")[:8])
    return path


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


def _one_error_line(capsys: pytest.CaptureFixture[str], verb: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"dfc {verb}: error: "), err
    return err[0]


@pytest.mark.parametrize("backend", ["reference", "fast"])
def test_encode_decode_round_trip(tmp_path: Path, tensor_file: Path, backend: str,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    if backend == "fast":
        load_impl("fast")  # skips when dfc.fast is not built (fails under DFC_REQUIRE_FAST=1)
    stream, out = tmp_path / "x.dfc", tmp_path / "y.npy"
    assert main(["encode", str(tensor_file), str(stream), "--bits", "8", "--backend", backend]) == 0
    assert "bits/value" in capsys.readouterr().out
    assert stream.read_bytes() == dfc.reference.encode(np.load(tensor_file), bits=8, profile="extended")
    assert main(["decode", str(stream), str(out), "--backend", backend]) == 0
    np.testing.assert_array_equal(np.load(out), dfc.reference.decode(stream.read_bytes()))
    assert main(["decode", str(stream), str(tmp_path / "q.npy"), "--integers"]) == 0
    assert np.load(tmp_path / "q.npy").dtype == np.uint16
    assert _leftovers(tmp_path) == []


def test_decode_truncated_stream_fails_without_output(tmp_path: Path, tensor_file: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    stream = tmp_path / "x.dfc"
    stream.write_bytes(dfc.encode(np.load(tensor_file))[:-9])
    out = tmp_path / "y.npy"
    assert main(["decode", str(stream), str(out)]) == 1
    assert "truncated_payload" in _one_error_line(capsys, "decode")
    assert not out.exists() and _leftovers(tmp_path) == []


def test_encode_nan_fails_without_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "nan.npy"
    np.save(bad, np.array([[[0.0, np.nan]]], dtype=np.float32))
    out = tmp_path / "nan.dfc"
    assert main(["encode", str(bad), str(out)]) == 1
    assert "NaN" in _one_error_line(capsys, "encode")
    assert not out.exists() and _leftovers(tmp_path) == []


def test_encode_missing_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["encode", str(tmp_path / "none.npy"), str(tmp_path / "o.dfc")]) == 1
    assert "no such file" in _one_error_line(capsys, "encode")


def test_encode_not_npy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "text.npy"
    bad.write_text("hello")
    assert main(["encode", str(bad), str(tmp_path / "o.dfc")]) == 1
    assert "not a .npy file" in _one_error_line(capsys, "encode")


def test_info_text_and_json(tmp_path: Path, tensor_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stream = tmp_path / "x.dfc"
    data = dfc.encode(np.load(tensor_file))
    stream.write_bytes(data)
    assert main(["info", str(stream)]) == 0
    assert "8 x 10 x 10" in capsys.readouterr().out
    assert main(["info", str(stream), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["shape"] == [8, 10, 10] and info["stream_bytes"] == len(data)


def test_info_rejects_bad_crc(tmp_path: Path, tensor_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = bytearray(dfc.encode(np.load(tensor_file)))
    data[-1] ^= 0xFF
    stream = tmp_path / "x.dfc"
    stream.write_bytes(bytes(data))
    assert main(["info", str(stream)]) == 1
    assert "crc_mismatch" in _one_error_line(capsys, "info")


def test_trace_lines_and_failure(tmp_path: Path, tensor_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stream, out = tmp_path / "x.dfc", tmp_path / "t.txt"
    data = dfc.encode(np.load(tensor_file), profile="baseline")
    stream.write_bytes(data)
    assert main(["trace", str(stream), "-o", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0].startswith("H      0 magic = 89444643")
    assert {line[0] for line in lines} == {"H", "P", "E"}
    assert lines[-1].startswith("E ") and lines[-1].endswith("end_of_payload = 1")
    assert sum(" palette_idx = " in line for line in lines) == 8  # one per channel
    stream.write_bytes(data[:-1])
    out2 = tmp_path / "t2.txt"
    assert main(["trace", str(stream), "-o", str(out2)]) == 1
    _one_error_line(capsys, "trace")
    assert not out2.exists() and _leftovers(tmp_path) == []


def test_trace_extended_profile(tmp_path: Path, tensor_file: Path) -> None:
    stream, out = tmp_path / "x.dfc", tmp_path / "t.txt"
    x = np.load(tensor_file)[:2]
    stream.write_bytes(dfc.encode(x))  # the extended profile, dfc.encode's default
    assert main(["trace", str(stream), "-o", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert "H      5 profile = 1" in lines and "H     32 setting = 0" in lines
    assert {line[0] for line in lines} == {"H", "S"}
    assert sum(" sample = " in line for line in lines) == x.size  # one per sample


def test_demo_round_trip_exact(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--backend", "reference", "--profile", "baseline"]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().endswith("round trip exact: yes")
    assert out.count("bits/value") == 2


def test_demo_extended_profile_by_default(fast: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    for setting in ("default", "fast"):
        assert main(["demo", "--backend", "fast", "--setting", setting]) == 0
        out = capsys.readouterr().out
        assert "extended profile" in out and out.rstrip().endswith("round trip exact: yes")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert f"format {dfc.FORMAT_VERSION}" in capsys.readouterr().out


def test_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["encode", "--bogus", "a", "b"])
    assert info.value.code == 2


def test_unwritable_output_is_one_line(tmp_path: Path, tensor_file: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["encode", str(tensor_file), str(tmp_path / "missing" / "x.dfc")]) == 1
    assert "no such folder" in _one_error_line(capsys, "encode")
