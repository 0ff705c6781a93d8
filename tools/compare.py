"""``dfc compare``: dfc against lossless image codecs, as in the paper's Fig. 6.

Each float C x H x W tensor is quantized (SPEC §4.2) and coded

* by dfc (``dfc.encode``, whichever backend is in use) in the baseline profile,
  the reference of every comparison ("dfc"), and in the extended profile's two
  settings ("dfc_ext", "dfc_ext_fast", shown beside the peers; not with
  --baseline-only); each stream is decoded and its integers checked equal to
  the quantizer's; every byte of a stream counts (header, palette, payload, CRC);
* by every available peer codec of :mod:`dfc.tools.peers` on the same n-bit
  feature matrix (SPEC §4.4: channels as tiles, tile places past the last
  channel filled with the most frequent value); each peer's round trip is
  verified exact (``Peer.run``) and only its bare codestream counts
  (``docs/peers.md``).

It prints bits per value (stream bits / C·H·W) per codec and tensor, and the
paper's figure of merit: the average bit difference of each peer against dfc,
``100 * (peer bits - dfc bits) / dfc bits`` averaged over the tensors of a
group (model and depth, from the tensors' sidecars or manifest) and over all
tensors; positive means the peer needs more bits than dfc.  Totals over all
tensors are given too.  ``--json`` writes everything (peer versions and
settings included), ``--plot`` a grouped bar chart like Fig. 6.

    dfc compare data/corpus/*.npy --json compare.json --plot fig6.png
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from dfc.cliutil import CliError, StagedFiles, figure_png, load_npy, run_tool

__all__ = ["CompareError", "Progress", "figure_of_merit", "main", "peer_matrix", "percent_more"]

EXAMPLES = """examples:
  dfc compare data/corpus/*.npy
      every available peer on the committed corpus, bits per value and the Fig. 6 figure of merit
  dfc compare data/corpus/*.npy --json compare.json --plot fig6.png
  dfc compare features.npy --peers png jpegls webp
      only these peers (keys: x265_ctu32 x265_ctu16 vp9 png jpeg2000 jpegls jpegxl jpegxl_e7 webp)
  DFC_PUREPYTHON=1 dfc compare features.npy    # dfc's pure-Python reference (slow: ~25 s per 1e6 values)
"""

DEPTH_ORDER = ("shallow", "middle", "deep", "head")


class CompareError(CliError):
    """A failure reported as one line with exit status 1."""


def percent_more(peer_bytes: int, dfc_bytes: int) -> float:
    """How many percent more bits the peer needs than dfc (negative: fewer)."""
    return 100.0 * (peer_bytes - dfc_bytes) / dfc_bytes


def peer_matrix(q: npt.NDArray[np.integer], bits: int) -> npt.NDArray[Any]:
    """The feature matrix the peers code: SPEC §4.4 tiling of the quantized
    tensor, fill = most frequent value (ties to the smaller), as uint8 for
    bits <= 8 and uint16 otherwise."""
    from dfc.tools.analyze import feature_matrix

    matrix = feature_matrix(q)
    return np.ascontiguousarray(matrix.astype(np.uint8 if bits <= 8 else np.uint16))


def figure_of_merit(tensors: Sequence[dict[str, Any]], keys: Sequence[str]) -> dict[str, Any]:
    """Average of each peer's per-tensor ``vs_dfc_percent`` by group and over
    all tensors, over the tensors the peer coded; plus totals over all
    tensors (bytes summed, then compared)."""
    groups: dict[str, dict[str, Any]] = {}
    names = list(dict.fromkeys(t["group"] for t in tensors))
    for g in names + ["all"]:
        members = [t for t in tensors if g == "all" or t["group"] == g]
        row: dict[str, Any] = {}
        for key in keys:
            diffs = [t["results"][key]["vs_dfc_percent"] for t in members
                     if "vs_dfc_percent" in t["results"].get(key, {})]
            row[key] = {"mean_percent": float(np.mean(diffs)) if diffs else None, "tensors": len(diffs)}
        groups[g] = row
    totals: dict[str, Any] = {}
    for key in ["dfc", *keys]:
        coded = [t for t in tensors if "bytes" in t["results"].get(key, {})]
        nbytes = sum(int(t["results"][key]["bytes"]) for t in coded)
        values = sum(int(t["values"]) for t in coded)
        dfc_same = sum(int(t["results"]["dfc"]["bytes"]) for t in coded)
        totals[key] = {
            "tensors": len(coded),
            "bytes": nbytes,
            "values": values,
            "bits_per_value": 8 * nbytes / values if values else None,
            "vs_dfc_percent": percent_more(nbytes, dfc_same) if coded and key != "dfc" else None,
            "encode_seconds": sum(float(t["results"][key].get("encode_seconds", 0.0)) for t in coded),
            "decode_seconds": sum(float(t["results"][key].get("decode_seconds", 0.0)) for t in coded),
        }
    return {"groups": groups, "totals": totals}


# --------------------------------------------------------------------------


class Progress:
    """A tqdm bar on standard error when tqdm is installed, else a plain
    counter; silent when standard error is not a terminal."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.done = total, 0
        self.enabled = enabled and sys.stderr.isatty()
        self._bar: Any = None
        if self.enabled:
            try:
                from tqdm import tqdm

                self._bar = tqdm(total=total, file=sys.stderr, unit="run", leave=False)
            except ImportError:
                self._bar = None

    def step(self, what: str) -> None:
        self.done += 1
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.set_description_str(what[:40])
            self._bar.update(1)
        else:
            sys.stderr.write(f"\r[{self.done}/{self.total}] {what[:60]:<60}")
            sys.stderr.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        elif self.enabled:
            sys.stderr.write("\r" + " " * 80 + "\r")
            sys.stderr.flush()


@dataclass
class Tensor:
    path: Path
    name: str
    meta: dict[str, Any]
    x: npt.NDArray[np.float32]
    group: str = ""
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    matrix_shape: tuple[int, int] = (0, 0)
    fill: int = 0


def _group(name: str, meta: dict[str, Any]) -> str:
    model = meta.get("model")
    where = meta.get("depth") or meta.get("layer")
    return f"{model} {where}" if model and where else name


def _group_order(group: str, first_seen: dict[str, int], model_seen: dict[str, int]) -> tuple[int, int, int]:
    model, _, depth = group.partition(" ")
    rank = DEPTH_ORDER.index(depth) if depth in DEPTH_ORDER else len(DEPTH_ORDER)
    return model_seen.get(model, 0), rank, first_seen[group]


def _load(path: Path) -> npt.NDArray[np.float32]:
    x = load_npy(path)
    if x.ndim != 3 or x.size == 0:
        raise CompareError(f"{path}: expected a non-empty (C, H, W) tensor")
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise CompareError(f"{path}: expected a real numeric tensor, got {x.dtype}")
    return x.astype(np.float32)


@dataclass(frozen=True)
class DfcVariant:
    """A dfc profile and setting shown beside the peers (its ``key`` and ``label``
    as a peer's), compared with the baseline profile like them."""

    key: str
    label: str
    profile: str
    setting: str


DFC_VARIANTS = (
    DfcVariant("dfc_ext", "dfc extended (profile 1)", "extended", "default"),
    DfcVariant("dfc_ext_fast", "dfc extended, fast", "extended", "fast"),
)


def _code_dfc(t: Tensor, q: npt.NDArray[np.int64], bits: int, profile: str = "baseline",
              setting: str = "default") -> dict[str, Any]:
    import dfc

    start = time.perf_counter()
    try:
        stream = dfc.encode(t.x, bits=bits, profile=profile, setting=setting)
    except ValueError as exc:
        raise CompareError(f"{t.path}: dfc cannot code it ({exc})") from exc
    t_enc = time.perf_counter() - start
    start = time.perf_counter()
    decoded = dfc.decode_stream(stream)
    t_dec = time.perf_counter() - start
    if decoded.integers.shape != q.shape or not np.array_equal(decoded.integers.astype(np.int64), q):
        raise CompareError(f"{t.path}: dfc ({dfc.backend}) round trip differs from the quantizer's integers")
    return {"bytes": len(stream), "bits_per_value": 8 * len(stream) / t.x.size,
            "encode_seconds": t_enc, "decode_seconds": t_dec}


def _select_peers(keys: list[str] | None) -> tuple[list[Any], dict[str, dict[str, Any]]]:
    from dfc.tools.peers import all_peers

    peers = all_peers()
    known = [p.key for p in peers]
    if keys:
        unknown = [k for k in keys if k not in known]
        if unknown:
            raise CompareError(f"unknown peer {', '.join(unknown)}; keys: {' '.join(known)}")
        peers = [p for p in peers if p.key in keys]
    usable, info = [], {}
    for p in peers:
        entry: dict[str, Any] = {"label": p.label}
        reason = p.available()
        if reason is not None:
            print(f"dfc compare: skipping {p.label}: {reason}", file=sys.stderr)
            entry.update(status="skipped", reason=reason)
        else:
            entry.update(status="ok", version=p.version(), settings=p.settings())
            usable.append(p)
        info[p.key] = entry
    return usable, info


def _table(tensors: list[Tensor], peers: list[Any], merit: dict[str, Any], dfc_backend: str) -> str:
    keys = [p.key for p in peers]
    width = max([len(t.name) for t in tensors] + [6])
    head = f"{'tensor':<{width}} {'values':>8} {'dfc':>7} " + " ".join(f"{k:>10}" for k in keys)
    lines = ["bits per value (stream bits / tensor values; '-' = peer cannot code this size):", head]
    for t in tensors:
        cells = []
        for k in keys:
            r = t.results.get(k, {})
            cells.append(f"{r['bits_per_value']:>10.3f}" if "bits_per_value" in r else f"{'-':>10}")
        lines.append(f"{t.name:<{width}} {t.x.size:>8} {t.results['dfc']['bits_per_value']:>7.3f} "
                     + " ".join(cells))
    groups = list(merit["groups"])
    labels = {p.key: p.label for p in peers}
    gw = max([len(g) for g in groups] + [8])
    lines += ["", ("average bit difference against dfc, % (the paper's Fig. 6; positive = the peer needs "
                   "more bits), mean over the group's tensors (keys as above):"),
              f"{'group':<{gw}} " + " ".join(f"{k:>10}" for k in keys)]
    for g in groups:
        cells = []
        for k in keys:
            v = merit["groups"][g][k]["mean_percent"]
            cells.append(f"{v:>+10.2f}" if v is not None else f"{'-':>10}")
        lines.append(f"{g:<{gw}} " + " ".join(cells))
    lw = max([len(v) for v in labels.values()] + [10])
    lines += ["", "totals over all tensors a codec coded:",
              (f"{'codec':<{lw}} {'tensors':>7} {'bytes':>11} {'bits/value':>10} {'vs dfc':>8} "
               f"{'encode s':>9} {'decode s':>9}")]
    for name, tot, bpv, vs in _totals(merit, keys, labels, f"dfc ({dfc_backend})"):
        lines.append(f"{name:<{lw}} {tot['tensors']:>7} {tot['bytes']:>11,} {bpv:>10} {vs:>8} "
                     f"{tot['encode_seconds']:>9.2f} {tot['decode_seconds']:>9.2f}")
    return "\n".join(lines)


def _totals(merit: dict[str, Any], keys: list[str], labels: dict[str, str],
            dfc_name: str) -> list[tuple[str, dict[str, Any], str, str]]:
    """(codec name, its totals, bits per value, difference to dfc) for the totals tables."""
    rows = []
    for k in ["dfc", *keys]:
        tot = merit["totals"][k]
        vs = "—" if tot["vs_dfc_percent"] is None else f"{tot['vs_dfc_percent']:+.2f}%"
        bpv = "-" if tot["bits_per_value"] is None else f"{tot['bits_per_value']:.3f}"
        rows.append((labels.get(k, dfc_name), tot, bpv, vs))
    return rows


#: Column heads of the markdown tables (docs/results.md), by codec key.
SHORT = {"dfc_ext": "dfc ext", "dfc_ext_fast": "dfc ext fast", "x265_ctu32": "HEVC CTU32",
         "x265_ctu16": "HEVC CTU16", "vp9": "VP9", "png": "PNG", "jpeg2000": "JPEG 2000", "jpegls": "JPEG-LS",
         "jpegxl": "JPEG XL e9", "jpegxl_e7": "JPEG XL e7", "webp": "WebP LL"}


def _markdown(tensors: list[Tensor], peers: list[Any], merit: dict[str, Any], dfc_backend: str) -> str:
    """The three tables of _table as markdown, the smallest stream of each row in bold."""
    keys = [p.key for p in peers]
    heads = ["dfc baseline"] + [SHORT.get(k, k) for k in keys]
    lines = ["Bits per value (stream bits / C·H·W):", "",
             "| tensor | C×H×W | " + " | ".join(heads) + " |", "|---|---|" + "---|" * len(heads)]
    for t in tensors:
        bits = [t.results["dfc"]["bits_per_value"]] + [t.results.get(k, {}).get("bits_per_value") for k in keys]
        best = min(b for b in bits if b is not None)
        cells = ["-" if b is None else f"**{b:.3f}**" if b == best else f"{b:.3f}" for b in bits]
        lines.append(f"| {t.name} | {'×'.join(map(str, t.x.shape))} | " + " | ".join(cells) + " |")
    lines += ["", "Average bit difference against the dfc baseline, % (Fig. 6; positive = the codec needs more "
              "bits than the baseline):", "", "| group | " + " | ".join(heads[1:]) + " |",
              "|---|" + "---|" * len(keys)]
    for g in merit["groups"]:
        means = [merit["groups"][g][k]["mean_percent"] for k in keys]
        lines.append(f"| {g} | " + " | ".join("-" if v is None else f"{v:+.2f}" for v in means) + " |")
    labels = {p.key: p.label for p in peers}
    lines += ["", "Totals:", "", "| codec | bytes | bits/value | vs dfc baseline | encode s | decode s |",
              "|---|---|---|---|---|---|"]
    for name, tot, bpv, vs in _totals(merit, keys, labels, f"dfc baseline (profile 0, {dfc_backend})"):
        lines.append(f"| {name} | {tot['bytes']:,} | {bpv} | {vs} | {tot['encode_seconds']:.2f} "
                     f"| {tot['decode_seconds']:.2f} |")
    return "\n".join(lines)


def _plot(merit: dict[str, Any], peers: list[Any], bits: int) -> bytes:
    try:
        import matplotlib
    except ImportError as exc:
        raise CompareError("--plot needs matplotlib; pip install matplotlib (or 'dfc[compare]')") from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = list(merit["groups"])
    n = max(1, len(peers))
    fig, ax = plt.subplots(figsize=(max(7.0, 1.25 * len(groups) + 3.5) + 2.2, 4.6))
    width = 0.8 / n
    # tab10 repeats after ten series; tab20 keeps every bar's colour its own.
    colors = plt.get_cmap("tab10" if n <= 10 else "tab20")
    for i, p in enumerate(peers):
        vals = [merit["groups"][g][p.key]["mean_percent"] for g in groups]
        xs = [j + (i - (n - 1) / 2) * width for j, v in enumerate(vals) if v is not None]
        ys = [v for v in vals if v is not None]
        own = p.key.startswith("dfc")  # dfc's other profiles, hatched apart from the peers
        ax.bar(xs, ys, width=width, label=p.label, color=colors(i % colors.N),
               hatch="//" if own else None, edgecolor="black" if own else None, linewidth=0.4 if own else 0)
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([g.replace(" ", "\n", 1) for g in groups], fontsize=8)
    ax.set_ylabel("average bit difference vs dfc baseline (%)")
    ax.set_title(f"Bits each codec needs more than the dfc baseline, {bits}-bit features "
                 "(positive = baseline smaller)", fontsize=10)
    ax.grid(axis="y", linewidth=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return figure_png(fig)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dfc compare",
        description="Code feature tensors with dfc and with lossless image codecs on the same feature matrix; "
                    "print bits per value and the paper's Fig. 6 figure of merit.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="float (C, H, W) .npy tensors")
    parser.add_argument("--bits", type=int, default=8, help="quantizer bit depth, 1..16 (default 8)")
    parser.add_argument("--peers", nargs="+", metavar="KEY", help="only these peers (default: all available)")
    parser.add_argument("--json", type=Path, metavar="OUT", help="write the full report as JSON")
    parser.add_argument("--plot", type=Path, metavar="OUT.png", help="write a Fig. 6-style bar chart")
    parser.add_argument("--markdown", action="store_true", help="print the tables as markdown (docs/results.md)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--baseline-only", action="store_true",
                        help="code dfc in the baseline profile only (default: also both extended settings)")
    return parser


def run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    import dfc
    from dfc.reference.quantizer import quantize
    from dfc.tools.analyze import most_frequent
    from dfc.tools.extract import tensor_metadata
    from dfc.tools.peers import PeerUnsupported

    if not 1 <= args.bits <= 16:
        raise CompareError(f"--bits {args.bits}: must be 1..16")
    for out in (args.json, args.plot):
        if out is not None and not (out.parent if str(out.parent) else Path(".")).is_dir():
            raise CompareError(f"{out}: its folder does not exist")
    peers, peer_info = _select_peers(args.peers)
    variants = [] if args.baseline_only else list(DFC_VARIANTS)
    tensors = []
    for path in args.files:
        meta = tensor_metadata(path)
        tensors.append(Tensor(path, path.stem, meta, _load(path), _group(path.stem, meta)))
    first_seen = {g: i for i, g in reversed(list(enumerate(t.group for t in tensors)))}
    model_seen = {m: i for i, m in reversed(list(enumerate(t.group.partition(" ")[0] for t in tensors)))}
    tensors.sort(key=lambda t: _group_order(t.group, first_seen, model_seen))

    print(f"dfc {dfc.version()}; {len(tensors)} tensors, {args.bits}-bit; peers: "
          + (", ".join(p.label for p in peers) or "none"))
    notes: list[str] = []
    progress = Progress(len(tensors) * (1 + len(variants) + len(peers)), not args.no_progress)
    try:
        for t in tensors:
            q, _, _ = quantize(t.x, args.bits)
            t.results["dfc"] = _code_dfc(t, q, args.bits)
            progress.step(f"{t.name} dfc")
            for v in variants:
                res_v = _code_dfc(t, q, args.bits, v.profile, v.setting)
                res_v["vs_dfc_percent"] = percent_more(res_v["bytes"], t.results["dfc"]["bytes"])
                t.results[v.key] = res_v
                progress.step(f"{t.name} {v.key}")
            matrix = peer_matrix(q, args.bits)
            t.matrix_shape, t.fill = (int(matrix.shape[0]), int(matrix.shape[1])), most_frequent(q, 1)[0]
            for p in peers:
                try:
                    res = p.run(matrix)
                except PeerUnsupported as exc:
                    t.results[p.key] = {"unsupported": str(exc)}
                    notes.append(f"{t.name}: {p.label} cannot code it: {exc}")
                except Exception as exc:  # PeerError, PeerMismatch: the comparison is void
                    raise CompareError(f"{t.name}: {p.label} failed: {str(exc).splitlines()[0]}") from exc
                else:
                    t.results[p.key] = {
                        "bytes": res.nbytes,
                        "bits_per_value": 8 * res.nbytes / t.x.size,
                        "encode_seconds": res.encode_seconds,
                        "decode_seconds": res.decode_seconds,
                        "vs_dfc_percent": percent_more(res.nbytes, t.results["dfc"]["bytes"]),
                    }
                progress.step(f"{t.name} {p.key}")
    finally:
        progress.close()

    records = []
    for t in tensors:
        records.append({
            "file": str(t.path),
            "name": t.name,
            "group": t.group,
            "shape": list(t.x.shape),
            "values": int(t.x.size),
            "matrix_shape": list(t.matrix_shape),
            "fill": t.fill,
            "meta": {k: t.meta.get(k) for k in ("model", "layer", "depth", "activation", "image")
                     if k in t.meta},
            "results": t.results,
        })
    columns: list[Any] = [*variants, *peers]
    keys = [c.key for c in columns]
    merit = figure_of_merit(records, keys)
    print((_markdown if args.markdown else _table)(tensors, columns, merit, dfc.backend))
    for note in notes:
        print(f"note: {note}")
    report = {
        "command": "dfc compare " + shlex.join(list(argv)),
        "dfc": {"version": dfc.version(), "backend": dfc.backend},
        "bits": args.bits,
        "matrix": "SPEC §4.4 feature matrix of the quantized tensor; tile places past the last channel "
                  "filled with the most frequent value (ties to the smaller); uint8 for bits <= 8, else uint16",
        "dfc_variants": {v.key: {"label": v.label, "profile": v.profile, "setting": v.setting} for v in variants},
        "counted": "dfc: the whole stream (header, palette, payload, CRC); peers: the bare codestream "
                   "(docs/peers.md); bits_per_value = 8 * bytes / (C * H * W)",
        "figure_of_merit": "vs_dfc_percent = 100 * (peer bytes - dfc bytes) / dfc bytes per tensor; "
                           "groups[g][peer].mean_percent = its mean over the group's tensors that the peer coded "
                           "(positive = the peer needs more bits); totals compare summed bytes",
        "peers": peer_info,
        "tensors": records,
        **merit,
    }
    with StagedFiles() as staged:
        if args.json is not None:
            staged.write_json(args.json, report)
        if args.plot is not None:
            staged.write_bytes(args.plot, _plot(merit, columns, args.bits))
        staged.commit()
    for out in (args.json, args.plot):
        if out is not None:
            print(f"wrote {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``dfc compare``; returns the exit status."""
    return run_tool("dfc compare", build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
