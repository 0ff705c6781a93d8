"""``dfc split-eval``: what the bits cost on the task.

Splits a real network, codes the tensor(s) crossing the cut with dfc at each
bit depth, finishes inference on the decoded tensors and compares the answer
with the unsplit network's on the same image (:mod:`dfc.tools.split` holds the
machinery and the metric definitions).  For each split and each bit depth
n (default 2..8), plus the raw float32 tensors as the control, it reports

* bits per value and bytes per image in both profiles (baseline, extended),
  every crossing tensor coded as its own stream, every byte counted;
* the time to encode (device side) and decode (cloud side) per image, one thread;
* agreement with the unsplit network.  Classifier (EfficientNet-Lite0):
  top-1 agreement, top-5 agreement (the unsplit top-1 class is in the split
  network's top 5), top-5 set agreement (the two top-5 sets are equal) and the
  mean KL divergence KL(p_unsplit || p_split) in nats.  Detector (PP-OCRv4):
  the mean absolute difference of the probability maps, and precision, recall
  and F1 at IoU 0.5 of the split network's text boxes against the unsplit
  network's, pooled over all images (boxes: connected components of the map
  above 0.3, a documented simplification of DB post-processing).

The quantizer's dequantized values are the same in both profiles (they differ
only in how they code the integers), so the back end runs once per bit depth
and the agreement holds for both; the tool checks that the two decode alike.

Images: the 19 photographs that scikit-image and matplotlib ship
(:mod:`dfc.tools.photos`), each as the network sees it, plus ``--crops``
random crops with random flips of them; ``--images DIR`` uses a folder's
images instead.  Agreement is with the unsplit network, not accuracy against labels.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from dfc.cliutil import CliError, StagedFiles, figure_png, run_tool

__all__ = ["NETWORKS", "build_parser", "main", "summarize"]

EXAMPLES = """examples:
  dfc split-eval
      EfficientNet-Lite0 at its shallow, middle and deep splits, n = 2..8 and raw
      floats, on the 19 built-in photos plus 13 random crops (a few minutes)
  dfc split-eval --network ppocrv4_det --json det.json --plot det.png
      the PP-OCRv4 text detector (every tensor crossing each cut is coded)
  dfc split-eval --network all --crops 45 --markdown --json docs/split-eval.json --plot docs/split-eval.png
      both networks, 64 images each, tables as markdown (docs/split-eval.md)
  dfc split-eval --images photos/ --crops 0 --bits 4 6 8 --range 0 6
      your own images, three bit depths, a fixed quantizer range [0, 6]
  dfc split-eval --network ppocrv4_det --splits head hardswish_70.tmp_0
      other cut points: a depth alias or any tensor name of the ONNX graph
"""

INSTALL_HINT = "pip install 'dfc[split]'"
DEFAULT_BITS = (2, 3, 4, 5, 6, 7, 8)
PROFILES = ("baseline", "extended")
#: The agreement a split must reach to count as near-lossless here.
TARGET = 0.99

Array = npt.NDArray[np.float32]


class SplitEvalError(CliError):
    """A failure reported as one line with exit status 1."""


# --------------------------------------------------------------------------
# the networks


@dataclass
class Network:
    """A network ``dfc split-eval`` knows how to split and feed."""

    key: str
    name: str
    task: str  # "classifier" or "detector"
    default_splits: tuple[str, ...]
    input_size: int
    package: str = ""
    preprocessing: str = ""
    splits: dict[str, Any] = field(default_factory=dict)  # split name -> dfc.tools.split.Split
    # (photo sources, PIL images, crops, rng) -> network inputs (N, 3, S, S)
    make_inputs: Callable[[list[Any], list[Any], int, np.random.Generator], Array] | None = None


def _effnet(split_names: Sequence[str]) -> Network:
    try:
        import torch
    except ImportError as exc:
        raise SplitEvalError(f"EfficientNet-Lite0 needs torch; {INSTALL_HINT}") from exc
    from dfc.tools import effnet
    from dfc.tools.photos import random_crops
    from dfc.tools.split import EffNetSplit

    torch.set_num_threads(1)  # one-thread timings, as onnxruntime's
    model = effnet.load_classifier()
    net = Network("effnet", "EfficientNet-Lite0 ImageNet classifier (PyTorch, CPU)", "classifier",
                  tuple(effnet.SPLITS), effnet.INPUT_SIZE, effnet.PACKAGES,
                  "photos: RGB, shorter side to 256 (bicubic), centre crop 224; crops: random scale, position "
                  "and flip at 224; then (x - 127) / 128 on 0..255")
    net.splits = {s: EffNetSplit(model, s) for s in split_names or net.default_splits}

    def inputs(sources: list[Any], images: list[Any], crops: int, rng: np.random.Generator) -> Array:
        rgb = [effnet.preprocess(im) for im in images]
        x = np.stack(rgb) if rgb else np.empty((0, 3, effnet.INPUT_SIZE, effnet.INPUT_SIZE), np.float32)
        if crops:
            x = np.concatenate([x, random_crops(images, crops, effnet.INPUT_SIZE, rng)])
        out: Array = effnet.network_input(torch.from_numpy(x)).numpy().astype(np.float32)
        return out

    net.make_inputs = inputs
    return net


def _ppocr(split_names: Sequence[str]) -> Network:
    from dfc.tools.extract import BUILTIN_MODELS, load_image, normalize_image
    from dfc.tools.photos import random_crops
    from dfc.tools.split import OnnxSplit

    try:
        import onnx
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise SplitEvalError(f"PP-OCRv4 needs onnx and onnxruntime; {INSTALL_HINT}") from exc
    spec = BUILTIN_MODELS["ppocrv4_det"]
    model = onnx.load(str(spec.file()))
    size = spec.size[0]
    net = Network("ppocrv4_det", spec.name + " (ONNX, onnxruntime CPU, 1 thread, optimisations off)", "detector",
                  spec.default_depths, size, spec.package(),
                  f"photos: resized to {size}x{size} (bilinear, aspect not kept); crops: random scale, position "
                  f"and flip at {size}; then BGR, (x - 0.5) / 0.5")
    for s in split_names or net.default_splits:
        net.splits[s] = OnnxSplit(model, spec.depths.get(s, s), s)

    def inputs(sources: list[Any], images: list[Any], crops: int, rng: np.random.Generator) -> Array:
        parts = [load_image(src, 3, (size, size), spec.bgr, spec.mean, spec.std)[0] for src in sources]
        if crops:
            parts.append(normalize_image(random_crops(images, crops, size, rng), spec.bgr, spec.mean, spec.std))
        return np.concatenate(parts) if parts else np.empty((0, 3, size, size), np.float32)

    net.make_inputs = inputs
    return net


#: Network key -> loader (split names -> Network).
NETWORKS: dict[str, Callable[[Sequence[str]], Network]] = {"effnet": _effnet, "ppocrv4_det": _ppocr}


# --------------------------------------------------------------------------
# measuring


@dataclass
class Cell:
    """Per-image measurements at one split and bit depth (None: raw floats)."""

    bits: int | None
    nbytes: dict[str, list[int]] = field(default_factory=lambda: {p: [] for p in PROFILES})
    encode_s: dict[str, list[float]] = field(default_factory=lambda: {p: [] for p in PROFILES})
    decode_s: dict[str, list[float]] = field(default_factory=lambda: {p: [] for p in PROFILES})
    clipped: list[int] = field(default_factory=list)
    outputs: list[Array] = field(default_factory=list)


def _task_metrics(task: str, refs: Sequence[Array], outs: Sequence[Array]) -> dict[str, Any]:
    from dfc.tools import split

    ref, out = np.concatenate(refs), np.concatenate(outs)
    if task == "classifier":
        kl = split.kl_divergence(ref, out)
        return {
            "top1": float(split.top_k_agreement(ref, out, 1).mean()),
            "top5": float(split.top_k_agreement(ref, out, 5).mean()),
            "top5_set": float(split.top_k_sets_equal(ref, out, 5).mean()),
            "kl_mean": float(kl.mean()),
            "kl_max": float(kl.max()),
        }
    matched = found = expected = 0
    for r, o in zip(ref, out, strict=True):
        ref_boxes, boxes = split.boxes_from_map(r[0]), split.boxes_from_map(o[0])
        matched += split.match_boxes(ref_boxes, boxes)
        found += len(boxes)
        expected += len(ref_boxes)
    prf = split.precision_recall_f1(matched, found, expected)
    return {
        "map_mad": float(np.abs(ref - out).mean()),
        "map_max_abs": float(np.abs(ref - out).max()),
        "precision": prf.precision, "recall": prf.recall, "f1": prf.f1,
        "boxes_unsplit": expected, "boxes_split": found, "boxes_matched": matched,
    }


#: The agreement each task's plot and summary use.
AGREEMENT = {"classifier": ("top1", "top-1 agreement"), "detector": ("f1", "box F1 at IoU 0.5")}


def _row(cell: Cell, values: int, task: str, refs: Sequence[Array]) -> dict[str, Any]:
    row: dict[str, Any] = {"bits": cell.bits if cell.bits is not None else "raw"}
    if cell.bits is None:
        row["bits_per_value"] = {p: 32.0 for p in PROFILES}
        row["bytes_per_image"] = {p: 4.0 * values for p in PROFILES}
    else:
        row["bits_per_value"] = {p: 8 * float(np.mean(cell.nbytes[p])) / values for p in PROFILES}
        row["bytes_per_image"] = {p: float(np.mean(cell.nbytes[p])) for p in PROFILES}
        row["encode_ms"] = {p: 1e3 * float(np.mean(cell.encode_s[p])) for p in PROFILES}
        row["decode_ms"] = {p: 1e3 * float(np.mean(cell.decode_s[p])) for p in PROFILES}
        if cell.clipped:
            row["clipped_fraction"] = float(np.sum(cell.clipped)) / (values * len(cell.clipped))
    row.update(_task_metrics(task, refs, cell.outputs))
    return row


def _evaluate_split(split: Any, x: Array, bits: Sequence[int], rng_range: tuple[float, float] | None,
                    cells: list[Cell], timing: dict[str, list[float]]) -> None:
    """One image through one split: raw control, then every bit depth."""
    import dfc
    from dfc.tools.split import code_arrays

    t0 = time.perf_counter()
    z = split.front(x)
    t1 = time.perf_counter()
    cells[0].outputs.append(split.back(z))
    timing["front"].append(t1 - t0)
    timing["back"].append(time.perf_counter() - t1)
    for cell, n in zip(cells[1:], bits, strict=True):
        decoded: dict[str, list[Array]] = {}
        for p in PROFILES:
            decoded[p], nbytes, t_enc, t_dec = code_arrays(z, n, p, rng_range)
            cell.nbytes[p].append(nbytes)
            cell.encode_s[p].append(t_enc)
            cell.decode_s[p].append(t_dec)
        if not all(np.array_equal(a, b) for a, b in zip(decoded["baseline"], decoded["extended"], strict=True)):
            raise SplitEvalError(f"split {split.name}, {n} bits: the two profiles decode to different values")
        if rng_range is not None:
            cell.clipped.append(sum(dfc.outside_range(a[0], rng_range) for a in z))
        cell.outputs.append(split.back(decoded["extended"]))


def evaluate(net: Network, x: Array, bits: Sequence[int], rng_range: tuple[float, float] | None,
             progress: Any) -> list[dict[str, Any]]:
    """Every image through every split of ``net``: one record per split."""
    names = list(net.splits)
    cells = {s: [Cell(None)] + [Cell(n) for n in bits] for s in names}
    timing: dict[str, dict[str, list[float]]] = {s: {"front": [], "back": []} for s in names}
    shapes: dict[str, list[list[int]]] = {}
    refs: list[Array] = []
    for i in range(len(x)):
        xi = x[i:i + 1]
        refs.append(next(iter(net.splits.values())).full(xi))
        for s in names:
            split = net.splits[s]
            if s not in shapes:
                shapes[s] = [list(a.shape[1:]) for a in split.front(xi)]
            _evaluate_split(split, xi, bits, rng_range, cells[s], timing[s])
            progress.step(f"{net.key} image {i + 1} {s}")
    records = []
    for s in names:
        split = net.splits[s]
        values = sum(int(np.prod(shape)) for shape in shapes[s])
        records.append({
            "split": s,
            "crossing": [{"tensor": t, "shape": shape} for t, shape in zip(split.crossing, shapes[s], strict=True)],
            "values": values,
            "front_ms": 1e3 * float(np.mean(timing[s]["front"])),
            "back_ms": 1e3 * float(np.mean(timing[s]["back"])),
            "rows": [_row(c, values, net.task, refs) for c in cells[s]],
        })
    return records


def summarize(task: str, splits: Sequence[dict[str, Any]], profile: str = "extended") -> dict[str, Any]:
    """The reading against the paper's claim: per split, the lowest n from which
    agreement stays >= 99 % at every larger n measured, and the largest n below
    99 %; over all splits, the (split, n) with the fewest bytes per image at >= 99 %."""
    key, label = AGREEMENT[task]
    per_split: dict[str, Any] = {}
    best: dict[str, Any] | None = None
    for rec in splits:
        coded = [r for r in rec["rows"] if r["bits"] != "raw"]
        below = [r["bits"] for r in coded if r[key] < TARGET]
        ok = [r for r in coded if not below or r["bits"] > max(below)]
        per_split[rec["split"]] = {
            "lowest_bits_at_target": ok[0]["bits"] if ok else None,
            "highest_bits_below_target": max(below) if below else None,
            "raw_agreement": next(r[key] for r in rec["rows"] if r["bits"] == "raw"),
        }
        for r in ok[:1]:
            if best is None or r["bytes_per_image"][profile] < best["bytes_per_image"]:
                best = {"split": rec["split"], "bits": r["bits"], "bytes_per_image": r["bytes_per_image"][profile],
                        "agreement": r[key]}
    return {"agreement": f"{key} ({label})", "target": TARGET, "profile": profile, "splits": per_split,
            "fewest_bytes_at_target": best}


# --------------------------------------------------------------------------
# output


def _columns(task: str) -> list[tuple[str, str, Callable[[dict[str, Any]], str]]]:
    def prof(field_: str, p: str, fmt: str) -> Callable[[dict[str, Any]], str]:
        return lambda r: format(r[field_][p], fmt) if field_ in r else "-"

    cols: list[tuple[str, str, Callable[[dict[str, Any]], str]]] = [
        ("n", "n", lambda r: str(r["bits"])),
        ("bpv base", "bits/value baseline", prof("bits_per_value", "baseline", ".3f")),
        ("bpv ext", "bits/value extended", prof("bits_per_value", "extended", ".3f")),
        ("kB base", "kB/image baseline", lambda r: f"{r['bytes_per_image']['baseline'] / 1e3:.1f}"),
        ("kB ext", "kB/image extended", lambda r: f"{r['bytes_per_image']['extended'] / 1e3:.1f}"),
    ]
    if task == "classifier":
        cols += [
            ("top-1", "top-1 %", lambda r: f"{100 * r['top1']:.1f}"),
            ("top-5", "top-5 %", lambda r: f"{100 * r['top5']:.1f}"),
            ("top5 set", "top-5 set %", lambda r: f"{100 * r['top5_set']:.1f}"),
            ("KL", "mean KL (nats)", lambda r: f"{r['kl_mean']:.2e}"),
        ]
    else:
        cols += [
            ("map MAD", "map MAD", lambda r: f"{r['map_mad']:.2e}"),
            ("P", "box P %", lambda r: f"{100 * r['precision']:.1f}"),
            ("R", "box R %", lambda r: f"{100 * r['recall']:.1f}"),
            ("F1", "box F1 %", lambda r: f"{100 * r['f1']:.1f}"),
        ]
    def ms(field_: str) -> Callable[[dict[str, Any]], str]:
        return lambda r: f"{r[field_]['baseline']:.1f} / {r[field_]['extended']:.1f}" if field_ in r else "-"

    cols += [("enc ms b/e", "encode ms base / ext", ms("encode_ms")),
             ("dec ms b/e", "decode ms base / ext", ms("decode_ms"))]
    return cols


def _crossing_text(rec: dict[str, Any]) -> str:
    return " + ".join(f"{c['tensor']} {'x'.join(map(str, c['shape']))}" for c in rec["crossing"])


def format_tables(net: dict[str, Any], markdown: bool) -> str:
    """One table per split (plain text, or markdown for docs/)."""
    cols = _columns(net["task"])
    lines = []
    for rec in net["splits"]:
        head = (f"{net['key']} split {rec['split']}: {rec['values']} values per image "
                f"({_crossing_text(rec)}); front {rec['front_ms']:.1f} ms, back {rec['back_ms']:.1f} ms per image")
        rows = [[f(r) for _, _, f in cols] for r in rec["rows"]]
        if markdown:
            lines += [f"**{head}**", "", "| " + " | ".join(c[1] for c in cols) + " |",
                      "|" + "|".join("---:" for _ in cols) + "|"]
            lines += ["| " + " | ".join(row) + " |" for row in rows]
        else:
            widths = [max(len(c[0]), *(len(row[i]) for row in rows)) for i, c in enumerate(cols)]
            lines += [head, "  ".join(c[0].rjust(w) for c, w in zip(cols, widths, strict=True))]
            lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) for row in rows]
        lines.append("")
    return "\n".join(lines)


def format_summary(net: dict[str, Any]) -> str:
    s = net["summary"]
    lines = [f"{net['key']}: agreement = {s['agreement']}, target {100 * s['target']:.0f} %"]
    for name, v in s["splits"].items():
        low, below = v["lowest_bits_at_target"], v["highest_bits_below_target"]
        lines.append(f"  {name}: >= 99 % from n = {low if low is not None else 'none measured'}"
                     + (f"; below 99 % at n = {below}" if below is not None else "; never below 99 %")
                     + f"; raw floats {100 * v['raw_agreement']:.1f} %")
    best = s["fewest_bytes_at_target"]
    if best is not None:
        lines.append(f"  fewest bytes at >= 99 % ({s['profile']}): split {best['split']}, n = {best['bits']}, "
                     f"{best['bytes_per_image'] / 1e3:.1f} kB per image")
    return "\n".join(lines)


def _plot(nets: Sequence[dict[str, Any]]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(nets), figsize=(6.4 * len(nets), 4.6), squeeze=False)
    for ax, net in zip(axes[0], nets, strict=True):
        key, label = AGREEMENT[net["task"]]
        colors = plt.get_cmap("tab10")
        for i, rec in enumerate(net["splits"]):
            coded = [r for r in rec["rows"] if r["bits"] != "raw"]
            raw = next(r for r in rec["rows"] if r["bits"] == "raw")
            for p, style in (("extended", "-"), ("baseline", ":")):
                xs = [8 * r["bytes_per_image"][p] for r in coded]
                ax.plot(xs, [100 * r[key] for r in coded], style, marker="o" if p == "extended" else None,
                        markersize=4, color=colors(i), label=f"{rec['split']} ({p})")
            for r in coded:
                ax.annotate(str(r["bits"]), (8 * r["bytes_per_image"]["extended"], 100 * r[key]), fontsize=6,
                            xytext=(2, 3), textcoords="offset points", color=colors(i))
            ax.plot([8 * raw["bytes_per_image"]["extended"]], [100 * raw[key]], "*", color=colors(i), markersize=8)
        ax.axhline(100 * TARGET, color="grey", linewidth=0.7, linestyle="--")
        ax.set_xscale("log")
        ax.set_xlabel("bits per image (log; numbers: n; star: raw float32)")
        ax.set_ylabel(f"{label} with the unsplit network (%)")
        ax.set_title(f"{net['key']}: {net['images']} images", fontsize=10)
        ax.grid(linewidth=0.3, which="both")
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return figure_png(fig)


# --------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dfc split-eval",
        description="Split a real network, code the split tensor with dfc at each bit depth, finish inference, "
                    "and measure bits per image against agreement with the unsplit network.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--network", choices=[*NETWORKS, "all"], default="effnet",
                        help="effnet (EfficientNet-Lite0 classifier, default), ppocrv4_det (PP-OCRv4 text detector) "
                             "or all")
    parser.add_argument("--splits", nargs="+", metavar="NAME",
                        help="split points: shallow, middle, deep (default: all three), effnet's blockN, "
                             "ppocrv4_det's head or any tensor name of its graph")
    parser.add_argument("--bits", nargs="+", type=int, default=list(DEFAULT_BITS), metavar="N",
                        help="bit depths, 1..16 (default 2..8)")
    parser.add_argument("--range", nargs=2, type=float, metavar=("LO", "HI"),
                        help="fix the quantizer's range (default: each tensor's own min and max)")
    parser.add_argument("--images", type=Path, metavar="DIR",
                        help="the images of this folder instead of the 19 built-in photographs")
    parser.add_argument("--crops", type=int, default=13, metavar="K",
                        help="add K random crops (random scale, position, flip) of the images (default 13)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random crops (default 0)")
    parser.add_argument("--json", type=Path, metavar="OUT", help="write the full report as JSON")
    parser.add_argument("--plot", type=Path, metavar="OUT.png", help="write the rate-agreement plot")
    parser.add_argument("--markdown", action="store_true", help="print the tables as markdown (docs/split-eval.md)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _photos(folder: Path | None) -> tuple[list[Any], list[Any]]:
    from dfc.tools.photos import TEST_PHOTOS, TRAIN_PHOTOS, load_rgb, photos_in, resolve_photo

    sources = photos_in(folder) if folder is not None else [resolve_photo(s) for s in TRAIN_PHOTOS + TEST_PHOTOS]
    return sources, [load_rgb(s) for s in sources]


def run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    import dfc
    from dfc.tools.compare import Progress

    if not args.bits or any(not 1 <= n <= 16 for n in args.bits):
        raise SplitEvalError(f"--bits {' '.join(map(str, args.bits))}: each must be 1..16")
    if args.crops < 0:
        raise SplitEvalError(f"--crops {args.crops}: must be 0 or more")
    rng_range = tuple(args.range) if args.range is not None else None
    if rng_range is not None and not rng_range[0] < rng_range[1]:
        raise SplitEvalError(f"--range {rng_range[0]} {rng_range[1]}: LO must be below HI")
    bits = sorted(set(args.bits))
    keys = list(NETWORKS) if args.network == "all" else [args.network]
    nets = [NETWORKS[k](args.splits or ()) for k in keys]
    sources, images = _photos(args.images)
    count = len(sources) + args.crops
    print(f"dfc {dfc.version()}; {count} images ({len(sources)} photos + {args.crops} crops), "
          f"n = {', '.join(map(str, bits))} and raw floats")
    reports = []
    progress = Progress(count * sum(len(n.splits) for n in nets), not args.no_progress)
    try:
        for net in nets:
            assert net.make_inputs is not None
            x = net.make_inputs(sources, images, args.crops, np.random.default_rng(args.seed))
            records = evaluate(net, x, bits, rng_range, progress)
            reports.append({
                "key": net.key, "name": net.name, "task": net.task, "package": net.package,
                "input": f"1x3x{net.input_size}x{net.input_size}", "preprocessing": net.preprocessing,
                "images": len(x), "splits": records, "summary": summarize(net.task, records),
            })
    finally:
        progress.close()
    for rep in reports:
        print(format_tables(rep, args.markdown))
        print(format_summary(rep))
        print()
    report = {
        "command": "dfc split-eval " + shlex.join(list(argv)),
        "dfc": {"version": dfc.version(), "backend": dfc.backend},
        "images": {"photos": [s.key for s in sources], "crops": args.crops, "seed": args.seed,
                   "source": str(args.images) if args.images else "TRAIN_PHOTOS + TEST_PHOTOS (dfc.tools.photos)"},
        "bits": bits, "range": list(rng_range) if rng_range else None,
        "definitions": {
            "reference": "the unsplit network's output on the same image (agreement, not accuracy)",
            "bytes_per_image": "sum over the tensors crossing the cut of their dfc streams (every byte), "
                               "mean over images; raw = 4 bytes per value",
            "top1": "fraction of images where the split network's top-1 class is the unsplit one's",
            "top5": "fraction of images where the unsplit top-1 class is among the split network's top 5",
            "top5_set": "fraction of images where both networks' top-5 class sets are equal",
            "kl_mean": "mean over images of KL(p_unsplit || p_split), nats",
            "map_mad": "mean absolute difference of the probability maps over all pixels and images",
            "boxes": "connected components (8-neighbour) of map > 0.3, bounding boxes, shorter side >= 3 px; "
                     "matched one to one, greedily by IoU, at IoU >= 0.5; P, R, F1 pooled over images",
            "timing": "perf_counter per image, one thread; encode = dfc.encode of every crossing tensor, "
                      "decode = dfc.decode of them",
        },
        "networks": reports,
    }
    with StagedFiles() as staged:
        if args.json is not None:
            staged.write_json(args.json, report)
        if args.plot is not None:
            staged.write_bytes(args.plot, _plot(reports))
        staged.commit()
    for out in (args.json, args.plot):
        if out is not None:
            print(f"wrote {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``dfc split-eval``; returns the exit status."""
    return run_tool("dfc split-eval", build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
