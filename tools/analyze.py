"""``dfc analyze``: the deep-feature statistics of the paper's Section II.

For each feature tensor (a float C x H x W ``.npy``) the tool quantizes it
(SPEC §4.2, n bits), and reports

* the zero-order entropy of the quantized values, bits per value (the
  entropies in the legends of the paper's Fig. 3);
* the paper's Table I: for every value x, in this order of testing, whether
  it is similar to one of the 8 most frequent values m_i of the tensor
  (``AD_m``), else to its left (``l``), top (``t``), top-left (``tl``),
  bottom-left (``bl``) or top-right (``tr``) neighbour, else to nothing
  (``none``), as percentages. Similar means ``|x - k| < T`` (strict, as in the
  paper; T = 2 by default, so a difference of at most 1).

The statistics are those of the tiled feature matrix (SPEC §4.4), with
neighbours taken **within the same tile only**: a neighbour position outside
the channel's tile (matrix edge, another channel, or a fill place) does not
count as similar. Fill places are not counted as values. This is the same as
computing them channel by channel on the tensor. The 8 most frequent values
are those of the whole quantized tensor, ranked by count, ties to the smaller
value (the palette rule of SPEC §8.2).

The same statistics are given for the luma of input photographs (ITU-R BT.601
Y = 0.299 R + 0.587 G + 0.114 B, rounded to 8 bits; one tile) for contrast,
as the paper's "Input image" row.

With ``--plots DIR`` it draws the paper's Fig. 3 (histograms, entropy in the
legend) and Fig. 2 (the tiled quantized features, contrast-enhanced).

    dfc analyze data/corpus/*.npy --plots docs/
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from dfc.cliutil import CliError, StagedFiles, figure_png, load_npy, run_tool, write_json

__all__ = [
    "CATEGORIES",
    "Analysis",
    "analyze_image",
    "analyze_tensor",
    "entropy",
    "feature_matrix",
    "luma_bt601",
    "main",
    "most_frequent",
    "similarity_counts",
]

EXAMPLES = """examples:
  dfc analyze data/corpus/*.npy
      Table I and entropy for each tensor, the scikit-image astronaut photo's luma for contrast
  dfc analyze features.npy --bits 6 -T 3 --image photo.png skimage:coffee
  dfc analyze data/corpus/*-astronaut.npy --plots figures/ --json table1.json
      also write fig3.png (histograms) and fig2.png (tiled features; --tile-images: one PNG each)
"""

#: Table I's columns, in the paper's order of testing.
CATEGORIES = ("m", "l", "t", "tl", "bl", "tr", "none")

#: (dy, dx) of each neighbour tested after the most frequent values.
NEIGHBOURS: dict[str, tuple[int, int]] = {
    "l": (0, -1),
    "t": (-1, 0),
    "tl": (-1, -1),
    "bl": (1, -1),
    "tr": (-1, 1),
}

# A value that no quantized value (0 .. 65535) is within any sane T of: stands
# for "outside the tile".
_OUTSIDE = -(1 << 40)


class AnalyzeError(CliError):
    """A failure reported as one line with exit status 1."""


def most_frequent(q: npt.NDArray[np.integer], count: int = 8) -> list[int]:
    """The ``count`` most frequent values of ``q``, by count descending, ties
    to the smaller value (SPEC §8.2's ranking); fewer if fewer are distinct."""
    values, counts = np.unique(np.asarray(q).ravel(), return_counts=True)
    order = np.lexsort((values, -counts))  # last key is primary
    return [int(v) for v in values[order[:count]]]


def entropy(q: npt.NDArray[np.integer]) -> float:
    """Zero-order (first-order empirical) entropy of the values, bits per value."""
    _, counts = np.unique(np.asarray(q).ravel(), return_counts=True)
    if counts.size == 0:
        return 0.0
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum()) + 0.0  # + 0.0: no -0.0 for one value


def similarity_counts(
    q: npt.NDArray[np.integer], threshold: int = 2, frequent: Sequence[int] | None = None
) -> dict[str, int]:
    """Table I counts for a (C, H, W) tensor of integers, or an (H, W) matrix
    (one tile).

    Each value goes to the first category it is similar to (``|x - k| <
    threshold``): ``m`` (any of ``frequent``, default the 8 most frequent
    values of ``q``), then the neighbours ``l``, ``t``, ``tl``, ``bl``, ``tr``
    of the same channel, else ``none``. A neighbour outside the channel's
    H x W tile is never similar.
    """
    a = np.asarray(q).astype(np.int64)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3:
        raise ValueError(f"expected a (C, H, W) tensor or an (H, W) matrix, got shape {a.shape}")
    if threshold < 0:
        raise ValueError("threshold must be >= 0")
    c, h, w = a.shape
    m = most_frequent(a) if frequent is None else [int(v) for v in frequent]
    near_m = np.zeros(a.shape, dtype=bool)
    for v in m:
        near_m |= np.abs(a - v) < threshold
    counts = {"m": int(near_m.sum())}
    remaining = ~near_m
    padded = np.full((c, h + 2, w + 2), _OUTSIDE, dtype=np.int64)
    padded[:, 1:-1, 1:-1] = a
    for key, (dy, dx) in NEIGHBOURS.items():
        neighbour = padded[:, 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
        hit = remaining & (np.abs(a - neighbour) < threshold)
        counts[key] = int(hit.sum())
        remaining &= ~hit
    counts["none"] = int(remaining.sum())
    return counts


def feature_matrix(q: npt.NDArray[np.integer]) -> npt.NDArray[np.integer]:
    """SPEC §4.4: the tiled feature matrix, tile places past the last channel
    filled with the most frequent value (ties to the smaller)."""
    from dfc.reference.tiling import tile_matrix

    return tile_matrix(q, fill=most_frequent(q, 1)[0])


def luma_bt601(rgb: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    """ITU-R BT.601 luma of an 8-bit RGB (H, W, 3) image, rounded half up to
    8 bits; an (H, W) grey image is returned as it is."""
    a = np.asarray(rgb)
    if a.ndim == 2:
        return a.astype(np.uint8)
    f = a[..., :3].astype(np.float64)
    y = 0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]
    return np.clip(np.floor(y + 0.5), 0, 255).astype(np.uint8)


@dataclass
class Analysis:
    """Statistics of one tensor or image."""

    name: str
    kind: str  # "features" or "image"
    shape: tuple[int, ...]
    values: npt.NDArray[np.int64]  # quantized (C, H, W) or luma (1, H, W)
    threshold: int
    counts: dict[str, int]
    entropy: float
    frequent: list[int]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def percent(self) -> dict[str, float]:
        total = sum(self.counts.values())
        return {k: 100.0 * self.counts[k] / total for k in CATEGORIES}

    @property
    def group(self) -> str:
        """Model and depth (or layer), from the sidecar; else the name."""
        if self.kind == "image":
            return "input image"
        model = self.meta.get("model")
        where = self.meta.get("depth") or self.meta.get("layer")
        return f"{model} {where}" if model and where else self.name

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "group": self.group,
            "shape": list(self.shape),
            "threshold": self.threshold,
            "most_frequent": self.frequent,
            "entropy_bits": self.entropy,
            "counts": self.counts,
            "percent": self.percent,
            "activation": self.meta.get("activation"),
        }


def analyze_tensor(name: str, x: npt.NDArray[Any], bits: int, threshold: int,
                   meta: dict[str, Any] | None = None) -> Analysis:
    """Quantize a float (C, H, W) tensor (SPEC §4.2) and compute its statistics."""
    from dfc.reference.quantizer import quantize

    if x.ndim != 3:
        raise AnalyzeError(f"{name}: expected a (C, H, W) tensor, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.number) or x.size == 0:
        raise AnalyzeError(f"{name}: expected a non-empty numeric tensor, got {x.dtype}")
    x32 = x.astype(np.float32)
    if not np.all(np.isfinite(x32)):
        raise AnalyzeError(f"{name}: holds NaN or infinite values")
    q, _, _ = quantize(x32, bits)
    return Analysis(name, "features", tuple(x.shape), q, threshold,
                    similarity_counts(q, threshold), entropy(q), most_frequent(q), meta or {})


def analyze_image(name: str, luma: npt.NDArray[np.uint8], threshold: int) -> Analysis:
    """Statistics of an 8-bit luma image (one tile)."""
    y = luma.astype(np.int64)[None]
    return Analysis(name, "image", tuple(luma.shape), y, threshold,
                    similarity_counts(y, threshold), entropy(y), most_frequent(y))


def _load_luma(spec: str) -> tuple[str, npt.NDArray[np.uint8]]:
    from dfc.tools.extract import ExtractError, resolve_image

    try:
        image = resolve_image(spec)
    except ExtractError as exc:
        raise AnalyzeError(str(exc)) from exc
    try:
        from PIL import Image
    except ImportError as exc:
        raise AnalyzeError("--image needs Pillow; pip install Pillow") from exc
    try:
        with Image.open(image.path) as im:
            grey = im.mode in ("L", "I;16", "I", "1")
            arr = np.asarray(im.convert("L" if grey else "RGB"))
    except OSError as exc:
        raise AnalyzeError(f"{image.path}: not a readable image ({exc})") from exc
    return image.key, luma_bt601(arr)


DEPTH_ORDER = ("shallow", "middle", "deep", "head")


def _in_depth_order(tensors: list[Analysis]) -> list[Analysis]:
    """Grouped by model (first seen first), then shallow, middle, deep, other,
    keeping the given order otherwise."""
    models: dict[str, int] = {}
    for a in tensors:
        models.setdefault(str(a.meta.get("model", a.name)), len(models))

    def key(item: tuple[int, Analysis]) -> tuple[int, int, int]:
        i, a = item
        depth = a.meta.get("depth")
        rank = DEPTH_ORDER.index(depth) if depth in DEPTH_ORDER else len(DEPTH_ORDER)
        return models[str(a.meta.get("model", a.name))], rank, i

    return [a for _, a in sorted(enumerate(tensors), key=key)]


def _default_image() -> str | None:
    from dfc.tools.extract import ExtractError, resolve_image

    try:
        resolve_image("skimage:astronaut")
    except ExtractError:
        return None
    return "skimage:astronaut"


# --------------------------------------------------------------------------
# printing


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape)


def format_table(rows: list[Analysis], bits: int, threshold: int) -> str:
    """Table I with the entropy, plus the mean of each group of 2 or more."""
    lines = [
        (f"Table I: share of values similar (|x - k| < T, T = {threshold}) to one of the 8 most frequent "
         f"values (AD_m), else to the left, top, top-left, bottom-left, top-right neighbour in the same "
         f"tile, else none; features quantized to {bits} bits, image luma 8-bit; E = zero-order entropy"),
        f"{'tensor':<34} {'shape':>11} {'E bits':>7} " + " ".join(f"{'AD_' + k if k != 'none' else k:>7}"
                                                                 for k in CATEGORIES),
    ]

    def row(label: str, shape: str, ent: float, pct: dict[str, float]) -> str:
        return f"{label:<34} {shape:>11} {ent:>7.3f} " + " ".join(f"{pct[k]:>6.2f}%" for k in CATEGORIES)

    groups: dict[str, list[Analysis]] = {}
    for a in rows:
        label = f"{a.name} (luma)" if a.kind == "image" else a.name
        lines.append(row(label, _shape(a.shape), a.entropy, a.percent))
        groups.setdefault(a.group, []).append(a)
    means = [(g, members) for g, members in groups.items() if len(members) > 1]
    if means:
        lines.append("mean of each group (unweighted over its tensors/images):")
        for g, members in means:
            pct = {k: float(np.mean([m.percent[k] for m in members])) for k in CATEGORIES}
            ent = float(np.mean([m.entropy for m in members]))
            lines.append(row(f"  {g} ({len(members)})", "", ent, pct))
    return "\n".join(lines)


# --------------------------------------------------------------------------
# plots


def _enhanced(m: npt.NDArray[np.integer]) -> npt.NDArray[np.float64]:
    """Contrast enhancement for display only: a linear stretch of the 1st..99.5th
    percentile to [0, 1], clipped, then gamma 0.5 (lifts the many small values)."""
    f = m.astype(np.float64)
    lo, hi = (float(v) for v in np.percentile(f, [1.0, 99.5]))
    if hi <= lo:
        lo, hi = float(f.min()), float(f.max())
    if hi <= lo:
        return np.zeros_like(f)
    out: npt.NDArray[np.float64] = np.clip((f - lo) / (hi - lo), 0.0, 1.0) ** 0.5
    return out


def write_plots(directory: Path, images: list[Analysis], tensors: list[Analysis], bits: int,
                each: bool = False) -> list[Path]:
    """fig3.png (histograms with entropies, as the paper's Fig. 3), fig2.png
    (all tiled feature matrices, contrast-enhanced, as Fig. 2) and, with
    ``each``, fig2-<tensor>.png for each tensor at one pixel per value.
    Returns the paths written."""
    try:
        import matplotlib
    except ImportError as exc:
        raise AnalyzeError("--plots needs matplotlib; pip install matplotlib (or 'dfc[compare]')") from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt


    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    level = (1 << bits) - 1

    def save(fig: Any, name: str, staged: StagedFiles) -> None:
        staged.write_bytes(directory / name, figure_png(fig))
        written.append(directory / name)

    groups: dict[str, list[Analysis]] = {}
    for a in tensors:
        groups.setdefault(f"{a.meta.get('model', '')} on {a.meta.get('image', a.name)}"
                          if a.meta.get("model") else a.name, []).append(a)
    panels: list[tuple[str, list[Analysis], int]] = []
    if images:
        panels.append(("input image luma", images, 255))
    panels.extend((g, members, level) for g, members in groups.items())
    with StagedFiles() as staged:
        cols = min(3, len(panels))
        rows_n = -(-len(panels) // cols)
        fig, axes = plt.subplots(rows_n, cols, figsize=(4.6 * cols, 3.4 * rows_n), squeeze=False)
        for ax, (title, members, top) in zip(axes.ravel(), panels, strict=False):  # spare axes off below
            for a in members:
                counts = np.bincount(a.values.ravel(), minlength=top + 1)
                label = a.name if a.kind == "image" else str(a.meta.get("depth") or a.meta.get("layer") or a.name)
                ax.plot(np.arange(top + 1), counts / counts.sum(), drawstyle="steps-mid", linewidth=1,
                        label=f"{label} (E = {a.entropy:.2f} bits)")
            ax.set_title(title, fontsize=9)
            ax.set_xlim(0, top)
            ax.set_xlabel("value" if members[0].kind == "image" else f"quantized value ({bits}-bit)", fontsize=8)
            ax.set_yscale("log")  # feature histograms fall by orders of magnitude from the zero level
            ax.set_ylabel("probability (log scale)", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.legend(fontsize=7)
        for ax in axes.ravel()[len(panels):]:
            ax.axis("off")
        fig.tight_layout()
        save(fig, "fig3.png", staged)

        if tensors:
            mats = [(a, _enhanced(feature_matrix(a.values))) for a in tensors]
            cols = min(3, len(mats))
            rows_n = -(-len(mats) // cols)
            fig, axes = plt.subplots(rows_n, cols, figsize=(4.2 * cols, 3.2 * rows_n), squeeze=False)
            for ax, (a, mat) in zip(axes.ravel(), mats, strict=False):  # spare axes off below
                ax.imshow(mat, cmap="gray", interpolation="nearest", vmin=0, vmax=1)
                ax.set_title(f"{a.name}\n{_shape(a.shape)} -> {mat.shape[0]}x{mat.shape[1]}", fontsize=8)
                ax.axis("off")
            for ax in axes.ravel()[len(mats):]:
                ax.axis("off")
            fig.tight_layout()
            save(fig, "fig2.png", staged)
            for a, mat in mats if each else []:
                h, w = mat.shape
                fig = plt.figure(figsize=(max(2.0, w / 110), max(2.0, h / 110)))
                ax = fig.add_axes((0, 0, 1, 1))
                ax.imshow(mat, cmap="gray", interpolation="nearest", vmin=0, vmax=1)
                ax.axis("off")
                save(fig, f"fig2-{a.name}.png", staged)
        staged.commit()
    return written


# --------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dfc analyze",
        description="Table I of the paper (similarity of each quantized value to the 8 most frequent values "
                    "and to its neighbours in the same tile) and the entropy of feature tensors, "
                    "with an input photo's luma for contrast.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="*", type=Path, metavar="FILE", help="float (C, H, W) .npy tensors")
    parser.add_argument("--bits", type=int, default=8, help="quantizer bit depth, 1..16 (default 8)")
    parser.add_argument("-T", "--threshold", type=int, default=2,
                        help="similar means |x - k| < T (default 2, the paper's)")
    parser.add_argument("--image", nargs="+", metavar="IMAGE",
                        help="photos whose BT.601 luma to analyse for contrast: files or skimage:NAME "
                             "(default skimage:astronaut when scikit-image is installed)")
    parser.add_argument("--no-image", action="store_true", help="analyse no photo")
    parser.add_argument("--plots", type=Path, metavar="DIR",
                        help="write fig3.png and fig2.png here (needs matplotlib)")
    parser.add_argument("--tile-images", action="store_true",
                        help="with --plots, also fig2-<tensor>.png for each tensor, one pixel per value")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the statistics as JSON")
    return parser


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.bits <= 16:
        raise AnalyzeError(f"--bits {args.bits}: must be 1..16")
    if args.threshold < 0:
        raise AnalyzeError(f"-T {args.threshold}: must be >= 0")
    from dfc.tools.extract import tensor_metadata

    tensors: list[Analysis] = []
    for path in args.files:
        x = load_npy(path)
        tensors.append(analyze_tensor(path.stem, x, args.bits, args.threshold, tensor_metadata(path)))
    tensors = _in_depth_order(tensors)
    specs: list[str] = []
    if args.image:
        specs = list(args.image)
    elif not args.no_image:
        default = _default_image()
        if default is None:
            print("dfc analyze: no --image and scikit-image is not installed: no input-image row",
                  file=sys.stderr)
        else:
            specs = [default]
    images = [analyze_image(*_load_luma(s), args.threshold) for s in specs]
    if not tensors and not images:
        raise AnalyzeError("nothing to analyse: give .npy files and/or --image")
    print(format_table(images + tensors, args.bits, args.threshold))
    if args.plots is not None:
        for path in write_plots(args.plots, images, tensors, args.bits, args.tile_images):
            print(f"wrote {path}")
    if args.json is not None:

        report = {"bits": args.bits, "threshold": args.threshold,
                  "neighbours": "same tile only (SPEC §4.4 feature matrix); outside the tile is never similar",
                  "rows": [a.to_json() for a in images + tensors]}
        write_json(args.json, report)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``dfc analyze``; returns the exit status."""
    return run_tool("dfc analyze", build_parser(), lambda args, argv: run(args), argv)


if __name__ == "__main__":
    sys.exit(main())
