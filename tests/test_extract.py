"""Tests for ``dfc extract`` (dfc.tools.extract) on tiny ONNX networks built here
with the onnx helper API: outputs, sidecars, activation detection, errors.

Needs the ``extract`` extra (onnx, onnxruntime, Pillow); skipped without it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="onnx not installed (pip install 'dfc[extract]')")
pytest.importorskip("onnxruntime", reason="onnxruntime not installed (pip install 'dfc[extract]')")
Image = pytest.importorskip("PIL.Image", reason="Pillow not installed (pip install 'dfc[extract]')")

from onnx import TensorProto, helper, numpy_helper

from dfc.tools import extract

REPO = Path(__file__).resolve().parents[1]
RNG = np.random.default_rng(7)
W1 = RNG.normal(size=(4, 3, 1, 1)).astype(np.float32)
B1 = RNG.normal(size=4).astype(np.float32)
W2 = RNG.normal(size=(5, 4, 1, 1)).astype(np.float32)
ALPHA = 0.25


def _save(model: Any, path: Path) -> Path:
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture()
def tiny_model(tmp_path: Path) -> Path:
    """x (1, 3, 8, 8) -> Conv 1x1 -> Relu -> Conv 1x1 -> LeakyRelu(0.25)."""
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["conv1"], name="Conv_1"),
        helper.make_node("Relu", ["conv1"], ["relu1"], name="Relu_1"),
        helper.make_node("Conv", ["relu1", "w2"], ["conv2"], name="Conv_2"),
        helper.make_node("LeakyRelu", ["conv2"], ["leaky1"], name="Leaky_1", alpha=ALPHA),
    ]
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("leaky1", TensorProto.FLOAT, [1, 5, 8, 8])],
        initializer=[numpy_helper.from_array(W1, "w1"), numpy_helper.from_array(B1, "b1"),
                     numpy_helper.from_array(W2, "w2")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return _save(model, tmp_path / "tiny.onnx")


@pytest.fixture()
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    Image.fromarray(RNG.integers(0, 256, size=(10, 12, 3), dtype=np.uint8)).save(path)
    return path


def _expected(photo: Path) -> tuple[np.ndarray, np.ndarray]:
    """The two activations computed with numpy from the same preprocessing
    (RGB, Pillow bilinear to 8 x 8, x / 255)."""
    with Image.open(photo) as im:
        x = np.asarray(im.convert("RGB").resize((8, 8), Image.Resampling.BILINEAR), dtype=np.float32) / 255
    x = x.transpose(2, 0, 1)
    conv1 = np.einsum("oc,chw->ohw", W1[:, :, 0, 0], x) + B1[:, None, None]
    relu1 = np.maximum(conv1, 0)
    conv2 = np.einsum("oc,chw->ohw", W2[:, :, 0, 0], relu1)
    return relu1, np.where(conv2 >= 0, conv2, ALPHA * conv2)


def test_extract_tiny_model(tiny_model: Path, photo: Path, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    argv = ["--model", str(tiny_model), "--layers", "relu1", "leaky1", "--images", str(photo), "--out", str(out)]
    assert extract.main(argv) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "manifest.json", "tiny-leaky1-photo.json", "tiny-leaky1-photo.npy",
        "tiny-relu1-photo.json", "tiny-relu1-photo.npy"]
    relu_expected, leaky_expected = _expected(photo)
    for layer, activation, expected in (("relu1", "relu", relu_expected),
                                        ("leaky1", f"leaky_relu({ALPHA:g})", leaky_expected)):
        npy = out / f"tiny-{layer}-photo.npy"
        arr = np.load(npy)
        assert arr.dtype == np.float32 and arr.shape == expected.shape  # batch dimension dropped
        np.testing.assert_allclose(arr, expected, rtol=1e-5, atol=1e-5)
        meta = json.loads(npy.with_suffix(".json").read_text())
        assert meta["file"] == npy.name and meta["layer"] == layer and meta["activation"] == activation
        assert meta["model"] == "tiny" and meta["package"] is None and meta["depth"] is None
        assert meta["model_file"] == str(tiny_model)
        assert meta["model_sha256"] == hashlib.sha256(tiny_model.read_bytes()).hexdigest()
        assert meta["sha256"] == hashlib.sha256(npy.read_bytes()).hexdigest()
        assert meta["image"] == "photo" and meta["image_source"] == {"file": str(photo)}
        assert meta["image_sha256"] == hashlib.sha256(photo.read_bytes()).hexdigest()
        assert meta["image_size"] == [12, 10] and meta["image_mode"] == "RGB"
        assert "8x8" in meta["preprocessing"] and "RGB" in meta["preprocessing"]
        assert meta["input_shape"] == [1, 3, 8, 8] and meta["shape"] == list(arr.shape)
        assert meta["channels"] == "all" and meta["dtype"] == "float32"
        assert (meta["min"], meta["max"]) == (float(arr.min()), float(arr.max()))
        assert meta["framework"].startswith("onnxruntime==")
        assert meta["node"] in ("Relu Relu_1", "LeakyRelu Leaky_1")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["command"] == "dfc extract " + " ".join(argv)
    assert [e["file"] for e in manifest["files"]] == ["tiny-relu1-photo.npy", "tiny-leaky1-photo.npy"]
    assert "2 tensors" in capsys.readouterr().out


def test_extract_channel_crop(tiny_model: Path, photo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert extract.main(["--model", str(tiny_model), "--layers", "leaky1", "--images", str(photo),
                         "--out", str(out), "--channels", "2"]) == 0
    meta = json.loads((out / "tiny-leaky1-photo.json").read_text())
    assert meta["shape"] == [2, 8, 8] and meta["source_shape"] == [5, 8, 8]
    assert meta["channels"] == "first 2 of 5"
    np.testing.assert_allclose(np.load(out / "tiny-leaky1-photo.npy"), _expected(photo)[1][:2],
                               rtol=1e-5, atol=1e-5)


def test_list_layers(tiny_model: Path, photo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert extract.main(["--model", str(tiny_model), "--images", str(photo), "--list-layers"]) == 0
    lines = capsys.readouterr().out.splitlines()
    relu = next(s for s in lines if s.startswith("relu1"))
    leaky = next(s for s in lines if s.startswith("leaky1"))
    assert "relu" in relu and "4 x 8 x 8" in relu
    assert "leaky_relu(0.25)" in leaky and "5 x 8 x 8" in leaky
    assert not any(s.startswith("conv") for s in lines)  # not activations


def test_errors_are_one_line_and_leave_nothing(tiny_model: Path, photo: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    assert extract.main(["--model", str(tiny_model), "--layers", "relu1", "nosuch", "--images", str(photo),
                         "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("dfc extract: error: no tensor named 'nosuch'") and "\n" not in err
    # a missing image is found before anything runs
    assert extract.main(["--model", str(tiny_model), "--layers", "relu1", "--images", str(photo),
                         str(tmp_path / "missing.png"), "--out", str(out)]) == 1
    assert "no such image file" in capsys.readouterr().err
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    assert extract.main(["--model", str(tiny_model), "--layers", "relu1", "--images", str(photo), str(bad),
                         "--out", str(out)]) == 1
    assert "not a readable image" in capsys.readouterr().err
    assert list(out.iterdir()) == []  # nothing written, no temporaries
    assert extract.main(["--model", str(tiny_model), "--layers", "relu1", "--images", str(photo)]) == 1
    assert "--out" in capsys.readouterr().err
    assert extract.main(["--model", str(tmp_path / "none.onnx"), "--out", str(out)]) == 1
    assert "no such ONNX file" in capsys.readouterr().err


def _activation_graph(tmp_path: Path) -> Path:
    """One input through relu6 (Clip), SiLU (x * Sigmoid(x)), hardswish as
    PaddlePaddle exports it (x * Clip(x + 3, 0, 6) / 6) and HardSwish."""
    c = [numpy_helper.from_array(np.array(v, dtype=np.float32), n)
         for n, v in (("zero", 0.0), ("six", 6.0), ("three", 3.0))]
    nodes = [
        helper.make_node("Clip", ["x", "zero", "six"], ["r6"], name="relu6"),
        helper.make_node("Sigmoid", ["r6"], ["sig"], name="sig"),
        helper.make_node("Mul", ["r6", "sig"], ["silu"], name="silu_mul"),
        helper.make_node("Add", ["silu", "three"], ["p3"], name="add3"),
        helper.make_node("Clip", ["p3", "zero", "six"], ["clip3"], name="clip3"),
        helper.make_node("Mul", ["silu", "clip3"], ["prod"], name="prod"),
        helper.make_node("Div", ["prod", "six"], ["hsw"], name="hsw_div"),
        helper.make_node("HardSwish", ["hsw"], ["hsw2"], name="hsw_op"),
    ]
    graph = helper.make_graph(nodes, "acts", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])],
                              [helper.make_tensor_value_info("hsw2", TensorProto.FLOAT, [1, 2, 4, 4])],
                              initializer=c)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    return _save(model, tmp_path / "acts.onnx")


def test_activation_detection(tmp_path: Path) -> None:
    g = extract._Graph(onnx.load(str(_activation_graph(tmp_path))))
    found = [(name, kind) for name, kind, _ in extract.activation_tensors(g)]
    # the sigmoid inside the SiLU and the Clip inside the hardswish are not listed
    assert found == [("r6", "relu6"), ("silu", "silu"), ("hsw", "hardswish"), ("hsw2", "hardswish")]
    assert extract.activation_of(g, "p3")[0] is None  # an Add is no activation


def test_builtin_model_matches_committed_corpus(tmp_path: Path) -> None:
    """Re-extract one committed tensor with the built-in network (when its
    package and scikit-image are installed): the same values."""
    try:
        extract.BUILTIN_MODELS["ppocrv4_det"].file()
        extract.resolve_image("skimage:astronaut")
    except extract.ExtractError as exc:
        pytest.skip(str(exc))
    out = tmp_path / "out"
    assert extract.main(["--layers", "deep", "--images", "skimage:astronaut", "--out", str(out)]) == 0
    name = "ppocrv4_det-deep-astronaut"
    committed = REPO / "data" / "corpus" / f"{name}.npy"
    np.testing.assert_allclose(np.load(out / f"{name}.npy"), np.load(committed), rtol=0, atol=1e-4)
    meta = json.loads((out / f"{name}.json").read_text())
    old = json.loads(committed.with_suffix(".json").read_text())
    for key in ("model_sha256", "layer", "node", "activation", "image_sha256", "preprocessing", "shape"):
        assert meta[key] == old[key], key
