"""Tests for ``dfc compare`` (dfc.tools.compare) and the committed corpus it is
run on (data/corpus)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import dfc
from dfc.reference.quantizer import quantize
from dfc.tools import compare, peers
from dfc.tools.analyze import most_frequent

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "data" / "corpus"
FAST_PEERS = ["png", "jpegls", "webp"]


def _available(keys: list[str]) -> list[str]:
    ok = [p.key for p in peers.all_peers() if p.key in keys and p.available() is None]
    if not ok:
        pytest.skip(f"none of the peers {keys} is installed (pip install 'dfc[compare]')")
    return ok


# --------------------------------------------------------------------------
# the corpus


def test_corpus_manifest_matches_files() -> None:
    manifest = json.loads((CORPUS / "manifest.json").read_text())
    assert manifest["command"].startswith("dfc extract ")
    names = sorted(p.name for p in CORPUS.glob("*.npy"))
    assert sorted(e["file"] for e in manifest["files"]) == names and len(names) == 9
    total = 0
    for entry in manifest["files"]:
        path = CORPUS / entry["file"]
        total += path.stat().st_size
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
        x = np.load(path)
        assert x.dtype == np.float32 and list(x.shape) == entry["shape"]
        assert (float(x.min()), float(x.max())) == (entry["min"], entry["max"])
        assert json.loads(path.with_suffix(".json").read_text()) == entry  # sidecar = entry
        for key in ("model_sha256", "package", "layer", "activation", "image_source", "image_sha256",
                    "preprocessing", "depth"):
            assert entry[key], key
        assert entry["activation"] == "hardswish"
    assert total < 5_000_000


# --------------------------------------------------------------------------
# the figure of merit


def test_percent_more_sign() -> None:
    # a peer that needs 110 bytes where dfc needs 100 needs 10 % more: positive
    assert compare.percent_more(110, 100) == pytest.approx(10.0)
    assert compare.percent_more(90, 100) == pytest.approx(-10.0)
    assert compare.percent_more(100, 100) == 0.0


def _record(name: str, group: str, values: int, dfc_bytes: int, **peer_bytes: int | None) -> dict[str, Any]:
    results: dict[str, Any] = {"dfc": {"bytes": dfc_bytes}}
    for key, b in peer_bytes.items():
        results[key] = ({"unsupported": "too small"} if b is None else
                        {"bytes": b, "vs_dfc_percent": compare.percent_more(b, dfc_bytes)})
    return {"name": name, "group": group, "values": values, "results": results}


def test_figure_of_merit_by_hand() -> None:
    records = [
        # group A: peer "a" +10 % and +30 %, peer "b" -10 % and cannot code the second
        _record("t1", "A", 800, 100, a=110, b=90),
        _record("t2", "A", 800, 100, a=130, b=None),
        # group B: peer "a" -20 %, peer "b" +50 %
        _record("t3", "B", 1600, 200, a=160, b=300),
    ]
    merit = compare.figure_of_merit(records, ["a", "b"])
    g = merit["groups"]
    assert list(g) == ["A", "B", "all"]
    assert g["A"]["a"] == {"mean_percent": pytest.approx(20.0), "tensors": 2}  # (10 + 30) / 2
    assert g["A"]["b"] == {"mean_percent": pytest.approx(-10.0), "tensors": 1}  # t2 not coded
    assert g["B"]["a"]["mean_percent"] == pytest.approx(-20.0)
    assert g["B"]["b"]["mean_percent"] == pytest.approx(50.0)
    assert g["all"]["a"]["mean_percent"] == pytest.approx((10 + 30 - 20) / 3)
    assert g["all"]["b"]["mean_percent"] == pytest.approx((-10 + 50) / 2)
    t = merit["totals"]
    # dfc: 400 bytes over 3200 values = 1 bit/value; "a": 400 bytes -> 0 %
    assert t["dfc"] == {"tensors": 3, "bytes": 400, "values": 3200, "bits_per_value": 1.0,
                        "vs_dfc_percent": None, "encode_seconds": 0.0, "decode_seconds": 0.0}
    assert t["a"]["vs_dfc_percent"] == pytest.approx(0.0)
    # "b" coded t1 and t3: 390 bytes where dfc needed 300 -> +30 %
    assert t["b"]["bytes"] == 390 and t["b"]["vs_dfc_percent"] == pytest.approx(30.0)


def test_peer_matrix_tiles_and_fill() -> None:
    # 3 channels of 1 x 2 -> 2 x 2 tiles (SPEC §4.4); the fill place gets the
    # most frequent value, 4
    q = np.array([[[4, 4]], [[9, 4]], [[1, 1]]])
    m = compare.peer_matrix(q, 8)
    assert m.dtype == np.uint8 and m.tolist() == [[4, 4, 9, 4], [1, 1, 4, 4]]
    assert compare.peer_matrix(q, 10).dtype == np.uint16


# --------------------------------------------------------------------------
# the command on a small real tensor


def test_compare_small_real_tensor(small_real_tensor: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keys = _available(FAST_PEERS)
    out = tmp_path / "report.json"
    assert compare.main([str(small_real_tensor), "--peers", *keys, "--json", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "bits per value" in text and "Fig. 6" in text and "deep16" in text

    report = json.loads(out.read_text())
    assert report["bits"] == 8 and report["dfc"]["backend"] == dfc.backend
    assert report["command"].startswith("dfc compare ")
    for key in keys:
        info = report["peers"][key]
        assert info["status"] == "ok" and info["version"] and info["settings"] and info["label"]
    (t,) = report["tensors"]
    x = np.load(small_real_tensor)
    q, _, _ = quantize(x, 8)
    assert t["shape"] == [16, 12, 12] and t["values"] == x.size
    assert t["matrix_shape"] == [48, 48] and t["fill"] == most_frequent(q, 1)[0]
    assert t["group"] == "ppocrv4_det deep" and t["meta"]["activation"] == "hardswish"
    stream = dfc.encode(x, bits=8, profile="baseline")  # "dfc": the baseline, reference of the figure of merit
    assert t["results"]["dfc"]["bytes"] == len(stream)
    assert t["results"]["dfc"]["bits_per_value"] == pytest.approx(8 * len(stream) / x.size)
    matrix = compare.peer_matrix(q, 8)
    for key in keys:
        r = t["results"][key]
        # the same bytes as running the peer on the matrix ourselves
        peer = next(p for p in peers.all_peers() if p.key == key)
        assert r["bytes"] == peer.run(matrix).nbytes
        assert r["vs_dfc_percent"] == pytest.approx(100 * (r["bytes"] - len(stream)) / len(stream))
        assert r["encode_seconds"] >= 0 and r["decode_seconds"] >= 0
        assert report["groups"]["ppocrv4_det deep"][key]["mean_percent"] == pytest.approx(r["vs_dfc_percent"])
        assert report["groups"]["all"][key]["tensors"] == 1
    assert report["totals"]["dfc"]["bytes"] == len(stream)
    # both settings of the extended profile, beside the peers, against the baseline
    for key, setting in (("dfc_ext", "default"), ("dfc_ext_fast", "fast")):
        ext = dfc.encode(x, bits=8, profile="extended", setting=setting)
        r = t["results"][key]
        assert r["bytes"] == len(ext) < len(stream)
        assert r["vs_dfc_percent"] == pytest.approx(100 * (len(ext) - len(stream)) / len(stream))


def test_compare_missing_peer_is_named(small_real_tensor: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    keys = _available(["png", "jpegls"])
    monkeypatch.setattr(peers.JPEGLSPeer, "available", lambda self: "pip install imaginary-charls")
    out = tmp_path / "r.json"
    assert compare.main([str(small_real_tensor), "--peers", "png", "jpegls", "--json", str(out), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "skipping JPEG-LS (CharLS): pip install imaginary-charls" in err
    report = json.loads(out.read_text())
    assert report["peers"]["jpegls"] == {"label": "JPEG-LS (CharLS)", "status": "skipped",
                                         "reason": "pip install imaginary-charls"}
    assert "jpegls" not in report["tensors"][0]["results"]
    assert ("png" in report["tensors"][0]["results"]) == ("png" in keys)


def test_compare_reports_unsupported_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _available(["x265_ctu32"])
    tiny = tmp_path / "tiny.npy"
    np.save(tiny, np.arange(2 * 4 * 4, dtype=np.float32).reshape(2, 4, 4))  # a 4 x 8 matrix
    out = tmp_path / "r.json"
    assert compare.main([str(tiny), "--peers", "x265_ctu32", "--json", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "note: tiny: HEVC (x265) CTU32 cannot code it" in text
    r = json.loads(out.read_text())["tensors"][0]["results"]["x265_ctu32"]
    assert ">= 32" in r["unsupported"]


def test_compare_errors_leave_no_output(small_real_tensor: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.json"
    assert compare.main([str(small_real_tensor), "--peers", "nosuchcodec", "--json", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("dfc compare: error: unknown peer nosuchcodec") and "\n" not in err
    assert compare.main([str(tmp_path / "missing.npy"), "--json", str(out)]) == 1
    assert "no such file" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep16.json", "deep16.npy"]


def test_compare_plot(small_real_tensor: Path, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="matplotlib not installed")
    keys = _available(FAST_PEERS)
    png = tmp_path / "fig6.png"
    assert compare.main([str(small_real_tensor), "--peers", *keys, "--plot", str(png), "--no-progress"]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
