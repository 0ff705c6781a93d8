"""``dfc reconstruct``: the input image back from decoded features (paper, Section IV).

The cloud holds only the decoded feature tensor; a *mirror* of the device's
front end (``dfc.tools.mirror``) is trained to turn it back into the image.
Everything follows the paper's Section IV except the size of the run:

- loss L = 0.6 (1 - SSIM) + 1 * MSE on RGB in [0, 1] (SSIM: pytorch-msssim,
  11 x 11 Gaussian window, sigma 1.5, as Wang et al.);
- Adam, learning rate 1e-4, batch 32, at most 50 epochs, 20 % of the
  training images held out for validation, training stops at the first epoch
  has gone 5 epochs without a better validation loss (``--patience``; the
  literal "stop when it starts increasing" is ``--patience 1``, which on a
  small validation set stops on the first noisy epoch) and the best epoch's
  mirror is kept;
- the mirror's input is this codec's output: the front end's tensor quantized
  to n bits, encoded, decoded and dequantized (``--raw``: the float tensor).

The front end is EfficientNet-Lite0 (``dfc.tools.effnet``), split after a
block's depthwise convolution.  Training images are random crops of the
photographs in ``dfc.tools.photos.TRAIN_PHOTOS`` (or ``--data DIR``); the
test images are five 224 x 224 crops (centre and corners, after the
classifier's resize) of each of ``TEST_PHOTOS``, never seen in training.

Quality is measured as the paper's Table IV: PSNR and SSIM per channel of
YCbCr, the JPEG (JFIF) full-range BT.601 conversion of Pillow, on the 8-bit
images (the reconstruction rounded to 8 bits, as it would be stored).

Needs ``pip install 'dfc[reconstruct]'``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from dfc.cliutil import CliError, atomic_output, check_output, figure_png, run_tool, write_json
from dfc.tools import effnet, mirror, photos

__all__ = [
    "LAMBDA_MSE",
    "LAMBDA_SSIM",
    "TrainConfig",
    "code_features",
    "evaluate",
    "main",
    "reconstruction_loss",
    "test_crops",
    "train",
]

EXAMPLES = """examples:
  dfc reconstruct describe --split deep
      the front end up to the split and its mirror, layer by layer, with shapes
  dfc reconstruct train --split shallow --bits 8 --out runs/shallow-8
      train a mirror on 8-bit coded features of random crops of the built-in
      photographs (Ctrl-C and the same command again resumes)
  dfc reconstruct train --split deep --raw --data ~/VOC2012/JPEGImages --out runs/deep-raw
      on your own photographs, from the uncoded float tensor
  dfc reconstruct run runs/shallow-8 runs/deep-8 --grid fig7.png --json table4.json
      Table IV (PSNR and SSIM per Y, Cb, Cr over the test images) and a
      Fig. 7-style picture: originals, then one row per mirror
"""

INSTALL_HINT = "pip install 'dfc[reconstruct]'"

#: The paper's loss weights (Section IV, equation 4).
LAMBDA_SSIM = 0.6
LAMBDA_MSE = 1.0
#: The colour space of Table IV's channels, as written into reports.
COLOUR = "YCbCr, JPEG/JFIF full-range BT.601 (Pillow's convert('YCbCr')), 8-bit, peak 255"
CHANNELS = ("Y", "Cb", "Cr")


class ReconstructError(CliError):
    """A failure reported as one line with exit status 1."""


def _torch() -> Any:
    try:
        import pytorch_msssim  # noqa: F401
        import torch
    except ImportError as exc:
        raise ReconstructError(f"dfc reconstruct needs torch and pytorch-msssim; {INSTALL_HINT}") from exc
    return torch


# --------------------------------------------------------------------------
# features as the cloud receives them


def code_features(z: npt.NDArray[np.float32], bits: int | None, profile: str) -> tuple[npt.NDArray[np.float32], int]:
    """Each (C, H, W) tensor of the batch ``z`` as the cloud decodes it: quantized
    to ``bits``, encoded with ``profile``, decoded; ``bits=None`` sends the
    float32 tensor.  Returns the decoded batch and the bytes sent."""
    import dfc

    if bits is None:
        return z, z.size * 4
    out = np.empty_like(z)
    sent = 0
    for i, tensor in enumerate(z):
        stream = dfc.encode(tensor, bits, profile=profile)
        out[i] = dfc.decode(stream)
        sent += len(stream)
    return out, sent


def split_features(model: Any, split: str, rgb: npt.NDArray[np.float32], bits: int | None, profile: str,
                   batch: int = 32) -> tuple[npt.NDArray[np.float32], int]:
    """The front end on RGB images (N, 3, H, W) in [0, 1], then :func:`code_features`."""
    torch = _torch()
    parts: list[npt.NDArray[np.float32]] = []
    sent = 0
    with torch.no_grad():
        for i in range(0, len(rgb), batch):
            x = effnet.network_input(torch.from_numpy(rgb[i:i + batch]))
            coded, size = code_features(effnet.front_end(model, split, x).numpy(), bits, profile)
            parts.append(coded)
            sent += size
    return np.concatenate(parts), sent


# --------------------------------------------------------------------------
# training


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run; a checkpoint resumes only under the same."""

    split: str
    bits: int | None  # None: the raw float tensor
    profile: str = "extended"
    samples: int = 1600  # random crops, before the validation hold-out
    crop: int = 64
    epochs: int = 50
    batch: int = 32
    lr: float = 1e-4
    patience: int = 5
    val_fraction: float = 0.2
    seed: int = 0
    data: tuple[str, ...] = field(default=photos.TRAIN_PHOTOS)

    def label(self) -> str:
        return f"{self.split}, {'raw float' if self.bits is None else f'{self.bits}-bit'}"


def reconstruction_loss(recon: Any, target: Any) -> Any:
    """L = 0.6 (1 - SSIM) + MSE, on RGB in [0, 1] (paper, equation 4)."""
    import torch.nn.functional as functional
    from pytorch_msssim import ssim

    return LAMBDA_SSIM * (1 - ssim(recon, target, data_range=1.0)) + LAMBDA_MSE * functional.mse_loss(recon, target)


def _training_set(cfg: TrainConfig, model: Any, quiet: bool) -> tuple[Any, Any, float]:
    torch = _torch()
    sources = [photos.resolve_photo(spec) for spec in cfg.data]
    images = photos.open_pool(sources)
    rng = np.random.default_rng(cfg.seed)
    if not quiet:
        print(f"preparing {cfg.samples} crops of {cfg.crop}x{cfg.crop} from {len(images)} photographs, "
              f"features at {cfg.split} {'raw' if cfg.bits is None else f'coded at {cfg.bits} bits'}", file=sys.stderr)
    crops = photos.random_crops(images, cfg.samples, cfg.crop, rng)
    feats, sent = split_features(model, cfg.split, crops, cfg.bits, cfg.profile)
    return torch.from_numpy(feats), torch.from_numpy(crops), 8 * sent / feats.size


def _save(path: Path, state: dict[str, Any]) -> None:
    torch = _torch()
    with atomic_output(path) as handle:
        torch.save(state, handle)


def _load(path: Path) -> dict[str, Any]:
    torch = _torch()
    try:
        state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # a truncated or foreign file: pickle, zip or torch errors alike
        raise ReconstructError(f"{path}: not a dfc reconstruct checkpoint ({type(exc).__name__})") from exc
    if not isinstance(state, dict) or "config" not in state or "mirror" not in state:
        raise ReconstructError(f"{path}: not a dfc reconstruct checkpoint")
    return state


def _config_of(state: dict[str, Any]) -> TrainConfig:
    raw = dict(state["config"])
    raw["data"] = tuple(raw["data"])
    return TrainConfig(**raw)


def _same_run(a: TrainConfig, b: TrainConfig) -> bool:
    """Whether a run under ``b`` continues one under ``a``: only the stopping
    rule (``epochs``, ``patience``) may change."""
    return replace(a, epochs=b.epochs, patience=b.patience) == b


@contextlib.contextmanager
def _resumable(out: Path, history: list[dict[str, float]]) -> Iterator[None]:
    """On Ctrl-C, say where the run stands before the interrupt ends the command."""
    try:
        yield
    except KeyboardInterrupt:
        print(f"\nstopped in epoch {len(history) + 1}; the same command resumes after epoch {len(history)} "
              f"({out / 'last.pt'})", file=sys.stderr)
        raise


def _epoch(net: Any, optimiser: Any, feats: Any, images: Any, order: Any, batch: int, progress: Any) -> float:
    net.train()
    total = 0.0
    for start in range(0, len(order), batch):
        idx = order[start:start + batch]
        loss = reconstruction_loss(net(feats[idx]), images[idx])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        total += float(loss.detach()) * len(idx)
        progress.update(len(idx))
    return total / len(order)


def _validate(net: Any, feats: Any, images: Any, batch: int) -> float:
    torch = _torch()
    net.eval()
    total = 0.0
    with torch.no_grad():
        for start in range(0, len(feats), batch):
            total += float(reconstruction_loss(net(feats[start:start + batch]), images[start:start + batch])) \
                * len(feats[start:start + batch])
    return total / len(feats)


def train(cfg: TrainConfig, out: Path, *, restart: bool = False, quiet: bool = False) -> dict[str, Any]:
    """Train a mirror under ``cfg`` into the folder ``out`` (``last.pt`` after
    every epoch, ``best.pt`` at the best validation loss) and return the
    history; a ``last.pt`` already there with the same settings is resumed."""
    torch = _torch()
    from tqdm import tqdm

    model = effnet.load_classifier()
    last, best = out / "last.pt", out / "best.pt"
    state: dict[str, Any] | None = None
    if last.exists() and not restart:
        state = _load(last)
        if not _same_run(_config_of(state), cfg):
            raise ReconstructError(f"{out} holds a run with other settings ({_config_of(state)}); "
                                   "give another --out, the same settings, or --restart")
    torch.manual_seed(cfg.seed)
    net = mirror.build_mirror(effnet.front_layers(model, cfg.split))
    optimiser = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    shuffle = torch.Generator().manual_seed(cfg.seed)
    history: list[dict[str, float]] = []
    best_val, best_epoch, worse = math.inf, 0, 0
    if state is not None:
        net.load_state_dict(state["mirror"])
        optimiser.load_state_dict(state["optimiser"])
        shuffle.set_state(state["shuffle"])
        history, best_val, best_epoch, worse = state["history"], state["best_val"], state["best_epoch"], state["worse"]
    done = len(history)
    stopped = worse >= cfg.patience
    feats, images, bpv = _training_set(cfg, model, quiet)
    n_val = max(1, round(cfg.val_fraction * len(feats)))
    held = torch.randperm(len(feats), generator=torch.Generator().manual_seed(cfg.seed + 1))
    val, fit = held[:n_val], held[n_val:]
    if len(fit) == 0:
        raise ReconstructError(f"--samples {cfg.samples} leaves nothing to train on after the validation hold-out")
    if not quiet and done:
        print(f"resuming {out} after epoch {done} (best {best_val:.4f} at epoch {best_epoch})", file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)  # only now: a run that failed to start leaves nothing
    bar = tqdm(total=cfg.epochs, initial=done, desc=cfg.label(), unit="epoch", disable=quiet, file=sys.stderr)
    with bar, _resumable(out, history):
        for epoch in range(done + 1, cfg.epochs + 1):
            if stopped:
                break
            began = time.perf_counter()
            order = fit[torch.randperm(len(fit), generator=shuffle)]
            with tqdm(total=len(fit), desc=f"epoch {epoch}", unit="img", leave=False, disable=quiet,
                      file=sys.stderr) as inner:
                train_loss = _epoch(net, optimiser, feats, images, order, cfg.batch, inner)
            val_loss = _validate(net, feats[val], images[val], cfg.batch)
            history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
                            "seconds": time.perf_counter() - began})
            if val_loss < best_val:
                best_val, best_epoch, worse = val_loss, epoch, 0
                _save(best, {"config": asdict(cfg), "mirror": net.state_dict(), "epoch": epoch,
                             "val_loss": val_loss, "bits_per_value": bpv})
            else:
                worse += 1
            stopped = worse >= cfg.patience
            _save(last, {"config": asdict(cfg), "mirror": net.state_dict(), "optimiser": optimiser.state_dict(),
                         "shuffle": shuffle.get_state(), "history": history, "best_val": best_val,
                         "best_epoch": best_epoch, "worse": worse})
            bar.update(1)
            bar.set_postfix(train=f"{train_loss:.4f}", val=f"{val_loss:.4f}", best=best_epoch)
    report = {"config": asdict(cfg), "bits_per_value": bpv, "best_epoch": best_epoch, "best_val_loss": best_val,
              "stopped_early": stopped and len(history) < cfg.epochs, "history": history,
              "train_images": len(fit), "val_images": len(val)}
    with atomic_output(out / "history.json", "w") as handle:  # quietly: train is also a library call
        json.dump(report, handle, indent=1)
        handle.write("\n")
    return report


# --------------------------------------------------------------------------
# evaluation (Table IV) and the picture (Fig. 7)


def test_crops(specs: Sequence[str], size: int = effnet.INPUT_SIZE) -> tuple[list[str], npt.NDArray[np.float32]]:
    """Five ``size`` x ``size`` crops of each photograph (centre, then the four
    corners) after the classifier's resize of the shorter side to 256/224 of
    ``size``: names and (5 N, 3, size, size) RGB in [0, 1]; centre crops come first."""
    from PIL import Image

    names: list[str] = []
    centre: list[npt.NDArray[np.float32]] = []
    corners: list[npt.NDArray[np.float32]] = []
    for spec in specs:
        src = photos.resolve_photo(spec)
        im: Any = photos.load_rgb(src)
        short = round(size * 256 / 224)
        scale = short / min(im.size)
        w, h = max(size, round(im.size[0] * scale)), max(size, round(im.size[1] * scale))
        resized = np.asarray(im.resize((w, h), Image.Resampling.BICUBIC), dtype=np.float32) / np.float32(255.0)
        top, left = (h - size) // 2, (w - size) // 2
        centre.append(resized[top:top + size, left:left + size].transpose(2, 0, 1))
        names.append(f"{src.key}/centre")
        for corner, (y, x) in {"top-left": (0, 0), "top-right": (0, w - size), "bottom-left": (h - size, 0),
                               "bottom-right": (h - size, w - size)}.items():
            corners.append(resized[y:y + size, x:x + size].transpose(2, 0, 1))
            names.append(f"{src.key}/{corner}")
    order = [n for n in names if n.endswith("/centre")] + [n for n in names if not n.endswith("/centre")]
    return order, np.ascontiguousarray(np.stack(centre + corners))


def _to_8bit(rgb: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
    """(3, H, W) in [0, 1] -> (H, W, 3) uint8, rounded as an image file stores it."""
    scaled: npt.NDArray[np.float32] = np.clip(np.rint(rgb.transpose(1, 2, 0) * np.float32(255.0)), 0, 255)
    return scaled.astype(np.uint8)


def channel_quality(original: npt.NDArray[np.uint8], recon: npt.NDArray[np.uint8]) -> dict[str, tuple[float, float]]:
    """PSNR (dB) and SSIM of each YCbCr channel of two (H, W, 3) RGB images."""
    torch = _torch()
    from PIL import Image
    from pytorch_msssim import ssim

    a = np.asarray(Image.fromarray(original).convert("YCbCr"), dtype=np.float64)
    b = np.asarray(Image.fromarray(recon).convert("YCbCr"), dtype=np.float64)
    out: dict[str, tuple[float, float]] = {}
    for c, name in enumerate(CHANNELS):
        mse = float(np.mean((a[..., c] - b[..., c]) ** 2))
        psnr = math.inf if mse == 0 else 10 * math.log10(255.0 ** 2 / mse)
        ta = torch.from_numpy(a[None, None, ..., c])
        tb = torch.from_numpy(b[None, None, ..., c])
        out[name] = (psnr, float(ssim(ta, tb, data_range=255.0)))
    return out


def load_mirror(path: Path) -> tuple[TrainConfig, Any, dict[str, Any]]:
    """A trained mirror from a checkpoint file or a training folder (its best.pt)."""
    file = path / "best.pt" if path.is_dir() else path
    if not file.is_file():
        where = " (the folder has no best.pt)" if path.is_dir() else ""
        raise ReconstructError(f"{path}: no such checkpoint{where}")
    state = _load(file)
    cfg = _config_of(state)
    model = effnet.load_classifier()
    net = mirror.build_mirror(effnet.front_layers(model, cfg.split))
    net.load_state_dict(state["mirror"])
    net.eval()
    return cfg, net, state


def _statistics(per_image: Sequence[dict[str, tuple[float, float]]]) -> dict[str, dict[str, float]]:
    """Mean and sample standard deviation of PSNR and SSIM per channel."""
    out: dict[str, dict[str, float]] = {}
    for c in CHANNELS:
        psnr = np.array([q[c][0] for q in per_image])
        ssim_ = np.array([q[c][1] for q in per_image])
        spread = len(per_image) > 1
        out[c] = {"psnr_mean": float(psnr.mean()), "psnr_std": float(psnr.std(ddof=1)) if spread else 0.0,
                  "ssim_mean": float(ssim_.mean()), "ssim_std": float(ssim_.std(ddof=1)) if spread else 0.0}
    return out


def mean_colour_row(cfg: TrainConfig, originals: Sequence[npt.NDArray[np.uint8]]) -> dict[str, Any]:
    """The baseline a mirror must beat: every pixel the mean colour of the
    training crops of ``cfg`` (what a network that learnt nothing outputs)."""
    crops = photos.random_crops(photos.open_pool([photos.resolve_photo(s) for s in cfg.data]), cfg.samples,
                                cfg.crop, np.random.default_rng(cfg.seed))
    colour = crops.mean(axis=(0, 2, 3)).astype(np.float32)
    flat = _to_8bit(np.broadcast_to(colour[:, None, None], (3, *originals[0].shape[:2])).copy())
    row: dict[str, Any] = {"checkpoint": None, "label": "mean training colour", "split": None, "bits": None,
                           "profile": None, "epoch": None, "bits_per_value": 0.0, "bytes_per_image": 0.0,
                           "feature_shape": None}
    row.update(_statistics([channel_quality(o, flat) for o in originals]))
    return row


def evaluate(checkpoints: Sequence[Path], specs: Sequence[str], quiet: bool = False,
             baseline: bool = False) -> dict[str, Any]:
    """Table IV for each checkpoint over the test crops of ``specs`` (and with
    ``baseline`` a last row for :func:`mean_colour_row` of the first one's
    settings); also the reconstructions of the centre crops (for the picture)
    under ``"centre"``."""
    torch = _torch()
    from tqdm import tqdm

    mirrors = [(path, *load_mirror(path)) for path in checkpoints]  # every bad path fails before any work
    names, rgb = test_crops(specs)
    originals = [_to_8bit(x) for x in rgb]
    model = effnet.load_classifier()
    rows: list[dict[str, Any]] = []
    pictures: list[list[npt.NDArray[np.uint8]]] = []
    for path, cfg, net, state in tqdm(mirrors, desc="mirrors", unit="mirror", disable=quiet, file=sys.stderr):
        feats, sent = split_features(model, cfg.split, rgb, cfg.bits, cfg.profile)
        with torch.no_grad():
            recon = [_to_8bit(r) for r in net(torch.from_numpy(feats)).numpy()]
        per_image = [channel_quality(o, r) for o, r in zip(originals, recon, strict=True)]
        row: dict[str, Any] = {"checkpoint": str(path), "label": cfg.label(), "split": cfg.split, "bits": cfg.bits,
                               "profile": cfg.profile, "epoch": state["epoch"],
                               "bits_per_value": 8 * sent / feats.size, "bytes_per_image": sent / len(feats),
                               "feature_shape": list(feats.shape[1:])}
        row.update(_statistics(per_image))
        rows.append(row)
        pictures.append(recon[:len(specs)])
    if baseline and mirrors:
        rows.append(mean_colour_row(mirrors[0][1], originals))
    return {"colour": COLOUR, "test_images": names, "photos": list(specs), "mirrors": rows,
            "centre": {"original": originals[:len(specs)], "reconstructions": pictures}}


def markdown_table(report: dict[str, Any]) -> str:
    """Table IV as a Markdown table (for docs/): one row per mirror and channel."""
    lines = ["| mirror | bits/value | ch | PSNR avg (dB) | PSNR std | SSIM avg | SSIM std |",
             "|---|---:|---|---:|---:|---:|---:|"]
    for row in report["mirrors"]:
        for i, c in enumerate(CHANNELS):
            q = row[c]
            head = f"| {row['label']} | {row['bits_per_value']:.3f} " if i == 0 else "| | "
            lines.append(f"{head}| {c} | {q['psnr_mean']:.2f} | {q['psnr_std']:.2f} | {q['ssim_mean']:.4f} "
                         f"| {q['ssim_std']:.4f} |")
    return "\n".join(lines)


def table(report: dict[str, Any]) -> str:
    """Table IV as text: one row per mirror and channel."""
    lines = [f"{'mirror':<24} {'ch':<3} {'PSNR avg':>9} {'std':>7} {'SSIM avg':>9} {'std':>7}   bits/value",
             "-" * 78]
    for row in report["mirrors"]:
        for i, c in enumerate(CHANNELS):
            q = row[c]
            tail = f"   {row['bits_per_value']:.3f}" if i == 0 else ""
            lines.append(f"{row['label'] if i == 0 else '':<24} {c:<3} {q['psnr_mean']:9.4f} {q['psnr_std']:7.4f} "
                         f"{q['ssim_mean']:9.4f} {q['ssim_std']:7.4f}{tail}")
    lines.append(f"{len(report['test_images'])} test images ({', '.join(report['photos'])}: centre and corner "
                 f"crops); {report['colour']}")
    return "\n".join(lines)


def draw_grid(report: dict[str, Any], path: Path) -> None:
    """Fig. 7: originals on the top row, then one row of reconstructions per mirror."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [("original", report["centre"]["original"])]
    rows += [(m["label"], pics) for m, pics in zip(report["mirrors"], report["centre"]["reconstructions"],
                                                   strict=False)]  # the baseline row has no picture
    cols = len(rows[0][1])
    fig, axes = plt.subplots(len(rows), cols, figsize=(2.2 * cols + 0.6, 2.2 * len(rows)), squeeze=False)
    for r, (label, pics) in enumerate(rows):
        for c, pic in enumerate(pics):
            ax = axes[r][c]
            ax.imshow(pic)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, fontsize=9)
    fig.tight_layout()
    png = figure_png(fig, dpi=100)
    with atomic_output(path) as handle:
        handle.write(png)


def _json_report(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k != "centre"}


# --------------------------------------------------------------------------
# the command line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dfc reconstruct", description="Reconstruct the input image from decoded features with a mirror "
        "of the front end (paper, Section IV): describe the mirror, train it, run it.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    d = sub.add_parser("describe", help="the front end and its mirror, layer by layer",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    d.add_argument("--split", default="deep", help="shallow, middle, deep or blockN (default deep)")
    d.add_argument("--size", type=int, default=effnet.INPUT_SIZE, help="input image side for the shapes (224)")
    d.add_argument("--json", default=None, help="also write the table as JSON here")

    t = sub.add_parser("train", help="train a mirror on coded features (resumes after an interruption)",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("--split", required=True, help="shallow, middle, deep or blockN")
    what = t.add_mutually_exclusive_group(required=True)
    what.add_argument("--bits", type=int, help="code the features at this bit depth (1-16)")
    what.add_argument("--raw", action="store_true", help="the uncoded float32 features (the control)")
    t.add_argument("--profile", choices=("extended", "baseline"), default="extended",
                   help="the dfc profile that codes the features (the decoded tensor is the same; default extended)")
    t.add_argument("--out", required=True, help="folder for last.pt, best.pt and history.json")
    t.add_argument("--data", default=None, help="a folder of your own training photographs "
                   "(default: the built-in ones, see dfc.tools.photos)")
    t.add_argument("--samples", type=int, default=TrainConfig.samples,
                   help=f"random crops to train and validate on (default {TrainConfig.samples})")
    t.add_argument("--crop", type=int, default=TrainConfig.crop, help=f"crop side (default {TrainConfig.crop})")
    t.add_argument("--epochs", type=int, default=TrainConfig.epochs, help="at most this many epochs (50)")
    t.add_argument("--batch", type=int, default=TrainConfig.batch, help="batch size (32)")
    t.add_argument("--lr", type=float, default=TrainConfig.lr, help="Adam's learning rate (1e-4)")
    t.add_argument("--patience", type=int, default=TrainConfig.patience,
                   help="stop after this many epochs without a better validation loss (default 5; 1 is the "
                        "paper's rule read literally, which stops on the first noisy epoch)")
    t.add_argument("--seed", type=int, default=TrainConfig.seed, help="crops, hold-out, initialisation, order (0)")
    t.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    t.add_argument("--restart", action="store_true", help="start over even if OUT holds a run")
    t.add_argument("-q", "--quiet", action="store_true", help="no progress bars")

    r = sub.add_parser("run", help="Table IV and a Fig. 7 picture from trained mirrors",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("checkpoints", nargs="+", help="training folders (their best.pt) or checkpoint files")
    r.add_argument("--images", nargs="+", default=None,
                   help="test photographs: files or skimage:NAME / matplotlib:NAME "
                   "(default: the built-in test photographs, never used in training)")
    r.add_argument("--grid", default=None, help="write the Fig. 7-style picture here (PNG)")
    r.add_argument("--json", default=None, help="write the table here as JSON")
    r.add_argument("--markdown", action="store_true", help="print the table as Markdown (as docs/ shows it)")
    r.add_argument("--baseline", action="store_true",
                   help="add a row for an image of the training crops' mean colour (what a mirror must beat)")
    r.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    return parser


def _describe(args: argparse.Namespace) -> int:
    _torch()
    model = effnet.load_classifier()
    front = effnet.front_layers(model, args.split)
    rows = mirror.layer_table(front, args.size, args.size)
    print(f"front end: EfficientNet-Lite0 up to {args.split} ({len(front)} convolutions)")
    for spec in front:
        print(f"  {spec.name:<28} {spec.kind:<9} {spec.in_channels:>4} -> {spec.out_channels:<4} "
              f"k{spec.kernel} s{spec.stride} {spec.activation}")
    print(f"mirror ({len(rows)} layers, {sum(r['parameters'] for r in rows):,} parameters), "
          f"for a {args.size}x{args.size} image:")
    for row in rows:
        shape = "x".join(str(v) for v in row["output"])
        print(f"  {row['mirrors']:<28} {row['layer']:<44} {shape:>12} {row['parameters']:>9,}")
    if args.json:
        write_json(Path(args.json), {"split": args.split, "front_end": [asdict(s) for s in front], "mirror": rows})
    return 0


def _train(args: argparse.Namespace) -> int:
    torch = _torch()
    if args.bits is not None and not 1 <= args.bits <= 16:
        raise ReconstructError(f"--bits {args.bits}: the codec takes 1 to 16 bits")
    for name in ("samples", "crop", "epochs", "batch", "patience"):
        if getattr(args, name) < 1:
            raise ReconstructError(f"--{name} must be at least 1")
    if args.crop % 16:
        raise ReconstructError(f"--crop {args.crop}: must be a multiple of 16 (the front end's stride)")
    effnet.split_block(args.split)
    data = tuple(str(s.path) for s in photos.photos_in(args.data)) if args.data else photos.TRAIN_PHOTOS
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = TrainConfig(split=args.split, bits=None if args.raw else args.bits, profile=args.profile,
                      samples=args.samples, crop=args.crop, epochs=args.epochs, batch=args.batch, lr=args.lr,
                      patience=args.patience, seed=args.seed, data=data)
    report = train(cfg, Path(args.out), restart=args.restart, quiet=args.quiet)
    print(f"{cfg.label()}: best validation loss {report['best_val_loss']:.4f} at epoch {report['best_epoch']} "
          f"of {len(report['history'])}" + (" (stopped: validation loss rose)" if report["stopped_early"] else "")
          + f"; features at {report['bits_per_value']:.3f} bits/value; {args.out}/best.pt")
    return 0


def _run(args: argparse.Namespace) -> int:
    torch = _torch()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.grid:
        check_output(args.grid)
    specs = args.images or list(photos.TEST_PHOTOS)
    report = evaluate([Path(p) for p in args.checkpoints], specs, quiet=args.quiet, baseline=args.baseline)
    # the files first: a reader that stops early (`| head`) must not cost them
    if args.grid:
        draw_grid(report, Path(args.grid))
    if args.json:
        write_json(Path(args.json), _json_report(report))
    print(markdown_table(report) if args.markdown else table(report))
    return 0


def run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    return {"describe": _describe, "train": _train, "run": _run}[args.action](args)


def main(argv: list[str] | None = None) -> int:
    return run_tool("dfc reconstruct", build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
