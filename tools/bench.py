"""Throughput and memory of dfc.fast, dfc.reference and PNG on real feature tensors.

For every tensor (float32 .npy, C x H x W) it measures, single-threaded and as the
median of --repeat runs:

* dfc.fast ``encode`` and ``decode`` (to float32) on the whole tensor;
* dfc.reference on a slice of leading channels (it codes ~10 us per value), its
  time per value extrapolated to the whole tensor (marked "slice" in the table);
* PNG (Pillow, compress_level=9) of the tiled quantized matrix (SPEC §4.4,
  ``dfc.reference.tiling.tile_matrix``), 8-bit for bits <= 8 else 16-bit. Its
  times cover tiling + PNG coding (encode) and PNG decoding only, not the Q-layer.

Throughput is given in million values per second and in MB/s of float32 input
(4 bytes per value). "peak" is the tracemalloc peak during one call, as a multiple
of the float32 input size: every allocation made through Python's allocators,
which includes numpy arrays and dfc.fast's C buffers (PyMem_Raw*), but not the
input array itself nor memory a library takes from malloc directly (zlib inside
Pillow). Tracing slows the call, so it is measured in a separate, untimed run.

    python -m dfc.tools.bench                      # tests/data and ../shared/corpus*
    python -m dfc.tools.bench x.npy y.npy --repeat 9 --bits 8
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

import dfc.reference
from dfc.reference.quantizer import quantize
from dfc.reference.tiling import tile_matrix

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIRS = [REPO_ROOT / "tests" / "data"] + sorted((REPO_ROOT.parent / "shared").glob("corpus*"))


@dataclass
class Row:
    file: str
    shape: tuple[int, ...]
    codec: str
    values: int
    bits_per_value: float
    enc_s: float  # seconds for the whole tensor (extrapolated for a slice)
    dec_s: float
    enc_peak: float | None  # tracemalloc peak / float32 input bytes
    dec_peak: float | None
    note: str = ""


def median_time(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def traced_peak(fn: Callable[[], object]) -> int:
    """Peak bytes allocated through Python's allocators during fn()."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result = fn()
        peak = tracemalloc.get_traced_memory()[1] - base
        del result
    finally:
        tracemalloc.stop()
    return peak


def bench_dfc(name: str, impl: ModuleType, x: npt.NDArray[np.float32], bits: int, repeat: int,
              total_values: int, shape: tuple[int, ...], note: str, memory: bool) -> Row:
    encode: Callable[[object, int], bytes] = impl.encode
    decode: Callable[[bytes], npt.NDArray[np.float32]] = impl.decode
    stream = encode(x, bits)
    enc = median_time(lambda: encode(x, bits), repeat)
    dec = median_time(lambda: decode(stream), repeat)
    scale = total_values / x.size
    input_bytes = 4 * x.size
    enc_peak = traced_peak(lambda: encode(x, bits)) / input_bytes if memory else None
    dec_peak = traced_peak(lambda: decode(stream)) / input_bytes if memory else None
    return Row(name, shape, f"dfc.{name}", total_values, 8 * len(stream) / x.size,
               enc * scale, dec * scale, enc_peak, dec_peak, note)


def bench_png(x: npt.NDArray[np.float32], bits: int, repeat: int, shape: tuple[int, ...]) -> Row | None:
    try:
        from PIL import Image
    except ImportError:
        return None
    q, _, _ = quantize(x, bits)
    dtype = np.uint8 if bits <= 8 else np.uint16
    qd: npt.NDArray[np.integer[Any]] = q.astype(dtype)

    def encode() -> bytes:
        matrix = tile_matrix(qd)
        buf = io.BytesIO()
        image = Image.fromarray(matrix) if bits <= 8 else Image.fromarray(matrix.astype(np.uint16), mode="I;16")
        image.save(buf, format="PNG", compress_level=9)
        return buf.getvalue()

    png = encode()

    def decode() -> npt.NDArray[np.generic]:
        with Image.open(io.BytesIO(png)) as image:
            return np.asarray(image)

    assert np.array_equal(decode().astype(np.int64), tile_matrix(qd).astype(np.int64))
    enc = median_time(encode, repeat)
    dec = median_time(decode, repeat)
    input_bytes = 4 * x.size
    return Row("png", shape, "PNG level 9 (Pillow)", x.size, 8 * len(png) / x.size, enc, dec,
               traced_peak(encode) / input_bytes, traced_peak(decode) / input_bytes,
               "tiled matrix")


def fmt_rate(values: int, seconds: float) -> tuple[str, str]:
    if seconds <= 0:
        return "-", "-"
    return f"{values / seconds / 1e6:.2f}", f"{4 * values / seconds / 1e6:.1f}"


def print_table(rows: list[Row], ratios: dict[str, tuple[float, float]]) -> None:
    print("| tensor | shape | codec | bits/value | enc Mval/s | enc MB/s | dec Mval/s | dec MB/s "
          "| enc peak | dec peak | note |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        enc_v, enc_mb = fmt_rate(r.values, r.enc_s)
        dec_v, dec_mb = fmt_rate(r.values, r.dec_s)
        peaks = [f"{p:.2f}x" if p is not None else "-" for p in (r.enc_peak, r.dec_peak)]
        shape = "x".join(str(s) for s in r.shape)
        print(f"| {r.file} | {shape} | {r.codec} | {r.bits_per_value:.3f} | {enc_v} | {enc_mb} "
              f"| {dec_v} | {dec_mb} | {peaks[0]} | {peaks[1]} | {r.note} |")
    if ratios:
        print()
        print("| tensor | fast/reference encode | fast/reference decode |")
        print("|---|---:|---:|")
        for name, (e, d) in ratios.items():
            print(f"| {name} | {e:.0f}x | {d:.0f}x |")


def collect_files(paths: list[str]) -> list[Path]:
    if paths:
        return [Path(p) for p in paths]
    files: list[Path] = []
    for d in DEFAULT_DIRS:
        files += sorted(d.glob("*.npy"))
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dfc.tools.bench",
        description="Encode/decode throughput and peak memory of dfc.fast, dfc.reference "
                    "(on a channel slice, extrapolated) and PNG on real feature tensors; "
                    "prints markdown tables. Single-threaded.",
        epilog="example: python -m dfc.tools.bench ../shared/corpus/*-astronaut.npy --repeat 7",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="*", metavar="FILES",
                        help="float32 .npy tensors (C, H, W); default: tests/data/*.npy and "
                             "../shared/corpus*/*.npy")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (median); default 5")
    parser.add_argument("--bits", type=int, default=8, help="bit depth; default 8")
    parser.add_argument("--reference-values", type=int, default=12000,
                        help="values in the channel slice coded by dfc.reference; 0 skips it "
                             "(default 12000)")
    parser.add_argument("--no-png", action="store_true", help="skip the PNG comparison")
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc runs")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    try:
        import dfc.fast as fast
    except ImportError as exc:
        print(f"error: dfc.fast is not built ({exc})", file=sys.stderr)
        return 1
    files = collect_files(args.files)
    if not files:
        print("error: no .npy files found; give some as arguments", file=sys.stderr)
        return 1

    rows: list[Row] = []
    ratios: dict[str, tuple[float, float]] = {}
    totals = {"values": 0, "fast_enc": 0.0, "fast_dec": 0.0, "ref_enc": 0.0, "ref_dec": 0.0}
    for path in files:
        x = np.ascontiguousarray(np.load(path), dtype=np.float32)
        if x.ndim != 3:
            print(f"skipping {path}: not (C, H, W)", file=sys.stderr)
            continue
        shape = tuple(int(s) for s in x.shape)
        name = path.name
        print(f"{name} {shape} ...", file=sys.stderr, flush=True)
        fast_row = bench_dfc("fast", fast, x, args.bits, args.repeat, x.size, shape, "",
                             not args.no_memory)
        fast_row.file = name
        rows.append(fast_row)
        totals["values"] += x.size
        totals["fast_enc"] += fast_row.enc_s
        totals["fast_dec"] += fast_row.dec_s
        if args.reference_values > 0:
            channels = max(1, min(x.shape[0], args.reference_values // (x.shape[1] * x.shape[2])))
            part = np.ascontiguousarray(x[:channels])
            ref_row = bench_dfc("reference", dfc.reference, part, args.bits, min(args.repeat, 3),
                                x.size, shape, f"slice {channels}/{x.shape[0]} ch, extrapolated",
                                False)
            ref_row.file = name
            rows.append(ref_row)
            ratios[name] = (ref_row.enc_s / fast_row.enc_s, ref_row.dec_s / fast_row.dec_s)
            totals["ref_enc"] += ref_row.enc_s
            totals["ref_dec"] += ref_row.dec_s
        if not args.no_png:
            png_row = bench_png(x, args.bits, args.repeat, shape)
            if png_row is not None:
                png_row.file = name
                rows.append(png_row)

    print(f"bits={args.bits}, repeat={args.repeat} (median), single thread; "
          f"dfc backend under test: dfc.fast")
    print()
    print_table(rows, ratios)
    n = totals["values"]
    print()
    print(f"all tensors: {n} values; dfc.fast encode {n / totals['fast_enc'] / 1e6:.2f} Mval/s, "
          f"decode {n / totals['fast_dec'] / 1e6:.2f} Mval/s", end="")
    if totals["ref_enc"] > 0:
        print(f"; dfc.reference (extrapolated) encode {n / totals['ref_enc'] / 1e6:.4f} Mval/s, "
              f"decode {n / totals['ref_dec'] / 1e6:.4f} Mval/s; fast/reference "
              f"{totals['ref_enc'] / totals['fast_enc']:.0f}x encode, "
              f"{totals['ref_dec'] / totals['fast_dec']:.0f}x decode")
    else:
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
