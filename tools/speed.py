"""``dfc speed``: bits and speed of dfc's profiles against the
fastest strong lossless peers, in one run, on one core.

For each float C x H x W tensor, quantized at --bits (SPEC §4.2):

* dfc.fast codes it in the baseline profile and in the extended profile's two
  settings (SPEC §11), every round trip checked against the quantizer;
* JPEG XL (libjxl, efforts 9 and 7), JPEG-LS (CharLS) and PNG (Pillow, level 9)
  code the same SPEC §4.4 feature matrix through dfc.tools.peers (bare
  codestreams, round trips checked), libjxl with ``numthreads=1``.

Timings are interleaved: each of --repeat rounds encodes and decodes every codec
once, in turn, and the best round counts, so that every codec sees the same
machine. The tables give bits per value and encode/decode speed in million
values per second per (model, depth) group, with each dfc setting's decode speed
as a multiple of libjxl's (effort 9 stream) and its encode speed as a multiple
of libjxl effort 9's encoder; --json writes everything.

    dfc speed data/corpus/*.npy
    dfc speed ../shared/corpus/*.npy ../shared/corpus_leaky/*.npy --json speed.json
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

from dfc.cliutil import CliError, load_npy, run_tool, write_json

#: (key, label, profile, setting) of the dfc codecs measured.
DFC_CODECS = (
    ("dfc_baseline", "dfc baseline (profile 0)", "baseline", "default"),
    ("dfc_extended", "dfc extended (profile 1, default)", "extended", "default"),
    ("dfc_extended_fast", "dfc extended (profile 1, fast)", "extended", "fast"),
)
REFERENCE_PEER = "jpegxl"  # speeds are also given as multiples of this peer's


class SpeedError(CliError):
    """A failure reported as one line with exit status 1."""


@dataclass
class Tensor:
    path: Path
    group: str
    x: npt.NDArray[np.float32]
    q: npt.NDArray[np.int64]
    matrix: npt.NDArray[Any]
    results: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class Codec:
    """One codec in one setting: how it codes a tensor, decodes its stream and
    checks that the decoded result is the tensor's."""

    key: str
    label: str
    encode: Callable[[Tensor], bytes]
    decode: Callable[[Tensor, bytes], Any]
    exact: Callable[[Tensor, Any], bool]


def dfc_codecs(bits: int) -> list[Codec]:
    import dfc.fast

    def dfc_codec(key: str, label: str, profile: str, setting: str) -> Codec:
        return Codec(
            key, label,
            lambda t: bytes(dfc.fast.encode(t.x, bits, profile=profile, setting=setting)),
            lambda t, stream: dfc.fast.decode_stream(stream),
            lambda t, out: bool(np.array_equal(out.integers, t.q)),
        )

    return [dfc_codec(*spec) for spec in DFC_CODECS]


def peer_codecs(keys: Sequence[str]) -> list[Codec]:
    from dfc.tools.peers import JPEGLSPeer, JPEGXLPeer, Peer, PNGPeer

    def peer_codec(peer: Peer) -> Codec:
        return Codec(
            peer.key, peer.label,
            lambda t: peer.encode(t.matrix),
            lambda t, stream: peer.decode(stream, (t.matrix.shape[0], t.matrix.shape[1]), t.matrix.dtype),
            lambda t, out: bool(np.array_equal(out, t.matrix)),
        )

    codecs = []
    for peer in (JPEGXLPeer(9), JPEGXLPeer(7), JPEGLSPeer(), PNGPeer()):
        if peer.key not in keys:
            continue
        reason = peer.available()
        if reason is not None:
            print(f"dfc speed: skipping {peer.label}: {reason}", file=sys.stderr)
            continue
        codecs.append(peer_codec(peer))
    return codecs


def time_tensor(t: Tensor, codecs: list[Codec], repeat: int) -> None:
    """Best-of-``repeat`` encode and decode times, every codec once per round,
    after a round trip that must be exact."""
    streams = {c.key: c.encode(t) for c in codecs}
    for c in codecs:
        if not c.exact(t, c.decode(t, streams[c.key])):
            raise SpeedError(f"{t.path}: {c.label} does not give back the quantized tensor")
    best = {c.key: [float("inf"), float("inf")] for c in codecs}
    for _ in range(repeat):
        for c in codecs:
            start = time.perf_counter()
            c.encode(t)
            middle = time.perf_counter()
            c.decode(t, streams[c.key])
            end = time.perf_counter()
            best[c.key][0] = min(best[c.key][0], middle - start)
            best[c.key][1] = min(best[c.key][1], end - middle)
    for c in codecs:
        t.results[c.key] = {"bytes": len(streams[c.key]), "encode_seconds": best[c.key][0],
                            "decode_seconds": best[c.key][1]}


def summarize(tensors: list[Tensor], codecs: list[Codec]) -> dict[str, Any]:
    """Per group (and "all"): bits per value, M values/s and, for dfc, the
    multiples of libjxl effort 9's speeds; groups in first-seen order."""
    groups = list(dict.fromkeys(t.group for t in tensors)) + ["all"]
    out: dict[str, Any] = {}
    for g in groups:
        members = [t for t in tensors if g == "all" or t.group == g]
        values = sum(t.x.size for t in members)
        row: dict[str, Any] = {"tensors": len(members), "values": values}
        for c in codecs:
            nbytes = sum(t.results[c.key]["bytes"] for t in members)
            enc = sum(t.results[c.key]["encode_seconds"] for t in members)
            dec = sum(t.results[c.key]["decode_seconds"] for t in members)
            row[c.key] = {"bits_per_value": 8 * nbytes / values,
                          "encode_mvalues_s": values / enc / 1e6, "decode_mvalues_s": values / dec / 1e6}
        ref = row.get(REFERENCE_PEER)
        if ref is not None:
            for c in codecs:
                r = row[c.key]
                r["bits_vs_jpegxl_percent"] = 100 * (r["bits_per_value"] / ref["bits_per_value"] - 1)
                r["decode_x_jpegxl"] = r["decode_mvalues_s"] / ref["decode_mvalues_s"]
                r["encode_x_jpegxl"] = r["encode_mvalues_s"] / ref["encode_mvalues_s"]
        out[g] = row
    return out


def tables(summary: dict[str, Any], codecs: list[Codec]) -> str:
    keys = [c.key for c in codecs]
    gw = max(len(g) for g in summary)
    lines = ["bits per value:", f"| {'group':<{gw}} | " + " | ".join(keys) + " |",
             "|---|" + "---:|" * len(keys)]
    for g, row in summary.items():
        lines.append(f"| {g:<{gw}} | " + " | ".join(f"{row[k]['bits_per_value']:.3f}" for k in keys) + " |")
    lines += ["", "decode M values/s (encode M values/s):", f"| {'group':<{gw}} | " + " | ".join(keys) + " |",
              "|---|" + "---:|" * len(keys)]
    for g, row in summary.items():
        lines.append(f"| {g:<{gw}} | " + " | ".join(
            f"{row[k]['decode_mvalues_s']:.2f} ({row[k]['encode_mvalues_s']:.2f})" for k in keys) + " |")
    if REFERENCE_PEER in keys:
        dfc_keys = [k for k in keys if k.startswith("dfc")]
        lines += ["", "dfc against JPEG XL effort 9: bits, decode speed and encode speed as multiples of libjxl's:",
                  f"| {'group':<{gw}} | " + " | ".join(dfc_keys) + " |", "|---|" + "---:|" * len(dfc_keys)]
        for g, row in summary.items():
            lines.append(f"| {g:<{gw}} | " + " | ".join(
                f"{row[k]['bits_vs_jpegxl_percent']:+.1f}%, {row[k]['decode_x_jpegxl']:.2f}x, "
                f"{row[k]['encode_x_jpegxl']:.1f}x" for k in dfc_keys) + " |")
    return "\n".join(lines)


#: The points of --curve: (setting, split_offset), split_offset 0 = no split.
CURVE_POINTS = tuple((setting, split) for setting in (0, 1) for split in (0, 6, 5, 4, 3, 2))


def curve(tensors: list[Tensor], bits: int, repeat: int) -> str:
    """Bits against decode speed of profile 1's settings and split offsets (the
    curve behind SPEC Annex A.3's choices): each point codes every tensor with a
    fixed split_offset and the band flag the encoder would pick, and is timed
    round-robin with libjxl's decoder."""
    from dfc.fast import _codec
    from dfc.reference.quantizer import zero_level
    from dfc.tools.peers import JPEGXLPeer

    jxl = JPEGXLPeer(9)
    rows: dict[tuple[int, int], list[float]] = {p: [0.0, 0.0, 0.0] for p in CURVE_POINTS}  # bytes, dec s, jxl s
    for t in tensors:
        header = dfc_header(t.x, bits)
        qz = zero_level(header.min_value, header.max_value, bits)
        q = np.ascontiguousarray(t.q.astype(np.uint16))
        codestream = jxl.encode(t.matrix)
        for point in CURVE_POINTS:
            setting, split = point
            payload = _codec._ext_encode_payload(q, bits, qz, qz if header.band_flag else 0, setting, split)
            ext = (header.band_flag, setting, split, qz)
            best_dfc = best_jxl = float("inf")
            for _ in range(repeat):
                start = time.perf_counter()
                decode_payload(payload, t.q.shape, bits, ext)
                middle = time.perf_counter()
                jxl.decode(codestream, (t.matrix.shape[0], t.matrix.shape[1]), t.matrix.dtype)
                end = time.perf_counter()
                best_dfc, best_jxl = min(best_dfc, middle - start), min(best_jxl, end - middle)
            rows[point][0] += len(payload) + 39  # header and CRC
            rows[point][1] += best_dfc
            rows[point][2] += best_jxl
    values = sum(t.x.size for t in tensors)
    jxl_bits = 8 * sum(len(jxl.encode(t.matrix)) for t in tensors) / values
    lines = [f"bits against decode speed, {len(tensors)} tensors (JPEG XL effort 9: {jxl_bits:.3f} bits/value):",
             "| setting | split_offset | bits/value | vs JPEG XL | decode x libjxl |", "|---|---:|---:|---:|---:|"]
    for (setting, split), (nbytes, dec, jx) in rows.items():
        bpv = 8 * nbytes / values
        lines.append(f"| {setting} | {split} | {bpv:.3f} | {100 * (bpv / jxl_bits - 1):+.1f}% | {jx / dec:.2f} |")
    return "\n".join(lines)


def dfc_header(x: npt.NDArray[np.float32], bits: int) -> Any:
    """The header dfc.fast's default encoder writes for x (its band flag)."""
    import dfc.fast
    from dfc.reference.header import read_header

    return read_header(dfc.fast.encode(x, bits, profile="extended"))


def decode_payload(payload: bytes, shape: tuple[int, ...], bits: int, ext: tuple[int, int, int, int]) -> None:
    """Decode a bare profile 1 payload with dfc.fast (for --curve)."""
    from dfc.fast import _codec
    from dfc.reference.ext_syntax import ExtParams
    from dfc.reference.header import Header

    band_flag, setting, split, qz = ext
    channels, height, width = shape
    header = Header(1, 1, bits, channels, height, width, 0.0, 1.0, len(payload), (), setting, band_flag, split)
    params = ExtParams(n=bits, L=(1 << bits) - 1, qz=qz, zb=qz if band_flag else 0, setting=setting,
                       split_offset=split, channels=channels, height=height, width=width)
    out = np.empty(shape, dtype=np.uint16)
    _codec._ext_decode_payload(b"\0" * header.header_size + payload, header, params, out)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dfc speed",
        description="Bits per value and encode/decode speed of dfc's profiles and of JPEG XL, JPEG-LS and "
                    "PNG on the same features, timed round-robin in one run on one core.",
        epilog="examples:\n  dfc speed data/corpus/*.npy\n"
               "  dfc speed FILES --repeat 9 --json speed.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="float (C, H, W) .npy tensors")
    parser.add_argument("--bits", type=int, default=8, help="quantizer bit depth, 1..16 (default 8)")
    parser.add_argument("--repeat", type=int, default=5, help="rounds; the best counts (default 5)")
    parser.add_argument("--peers", nargs="*", default=["jpegxl", "jpegxl_e7", "jpegls", "png"],
                        metavar="KEY", help="peers (default: jpegxl jpegxl_e7 jpegls png)")
    parser.add_argument("--json", type=Path, metavar="OUT", help="write every measurement as JSON")
    parser.add_argument("--curve", action="store_true",
                        help="instead: bits against decode speed of the extended profile's settings and "
                             "split offsets (SPEC Annex A.3)")
    return parser


def run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    import dfc
    from dfc.reference.quantizer import quantize
    from dfc.tools.compare import _group, peer_matrix
    from dfc.tools.extract import tensor_metadata

    if not 1 <= args.bits <= 16:
        raise SpeedError(f"--bits {args.bits}: must be 1..16")
    if args.repeat < 1:
        raise SpeedError("--repeat must be at least 1")
    if dfc._import_fast()[0] is None:  # timed directly, whatever DFC_PUREPYTHON chooses for dfc.encode
        raise SpeedError(f"dfc.fast is not built ({dfc._import_fast()[1]}): "
                         "speeds of the pure-Python reference mean nothing here")
    codecs = dfc_codecs(args.bits) + peer_codecs(args.peers)
    tensors = []
    for path in args.files:
        x = load_npy(path)
        if x.ndim != 3 or x.size == 0:
            raise SpeedError(f"{path}: expected a non-empty (C, H, W) tensor")
        x = np.ascontiguousarray(x.astype(np.float32))
        q, _, _ = quantize(x, args.bits)
        tensors.append(Tensor(path, _group(path.stem, tensor_metadata(path)), x, q, peer_matrix(q, args.bits)))
    print(f"dfc {dfc.version()}; {len(tensors)} tensors, {args.bits}-bit, best of {args.repeat} interleaved "
          f"rounds, one thread", flush=True)
    if args.curve:
        print(curve(tensors, args.bits, args.repeat))
        return 0
    for i, t in enumerate(tensors, 1):
        print(f"[{i}/{len(tensors)}] {t.path.name}", file=sys.stderr, flush=True)
        time_tensor(t, codecs, args.repeat)
    summary = summarize(tensors, codecs)
    print(tables(summary, codecs))
    if args.json is not None:
        report = {
            "command": "dfc speed " + shlex.join(list(argv)),
            "dfc": dfc.version(), "bits": args.bits, "repeat": args.repeat,
            "codecs": {c.key: c.label for c in codecs},
            "groups": summary,
            "tensors": [{"file": str(t.path), "group": t.group, "values": int(t.x.size), "results": t.results}
                        for t in tensors],
        }
        write_json(args.json, report)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``dfc speed``; returns the exit status."""
    return run_tool("dfc speed", build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
