"""Throughput and memory of dfc.fast, dfc.reference and PNG on real feature tensors.

For every tensor (float32 .npy, C x H x W) and every coding configuration asked
for by --profile (the baseline profile; the extended profile, SPEC §11, in its
settings default and fast) it measures, single-threaded and as the median of
--repeat runs:

* dfc.fast ``encode`` and ``decode`` (to float32) on the whole tensor;
* dfc.reference on a slice of leading channels (it codes 10-150 us per value),
  its time per value extrapolated to the whole tensor (marked "slice" in the
  table);
* PNG (Pillow, compress_level=9) of the tiled quantized matrix (SPEC §4.4,
  ``dfc.reference.tiling.tile_matrix``), 8-bit for bits <= 8 else 16-bit. Its
  times cover tiling + PNG coding (encode) and PNG decoding only, not the Q-layer.

Throughput is given in million values per second and in MB/s of float32 input
(4 bytes per value). "peak" is the tracemalloc peak during one call, as a multiple
of the float32 input size: every allocation made through Python's allocators,
which includes numpy arrays and dfc.fast's C buffers (PyMem_Raw*), but not the
input array itself nor memory a library takes from malloc directly (zlib inside
Pillow). Tracing slows the call, so it is measured in a separate, untimed run.

    dfc bench                      # data/corpus and dfc/data
    dfc bench x.npy y.npy --repeat 9 --bits 8 --profile baseline
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
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

import dfc
import dfc.reference
from dfc.cliutil import CliError, load_npy, run_tool
from dfc.reference.quantizer import quantize
from dfc.reference.tiling import tile_matrix

# The repository's real tensors: data/corpus of the checkout it runs in (the
# current folder) and the two tensors installed with the package (dfc/data).
DEFAULT_DIRS = [Path("data") / "corpus", Path(str(resources.files("dfc") / "data"))]

# --profile choice -> the (label, encode keyword arguments) of each configuration timed.
CONFIGS: dict[str, list[tuple[str, dict[str, str]]]] = {
    "baseline": [("baseline", {"profile": "baseline"})],
    "extended": [("extended", {"profile": "extended", "setting": "default"}),
                 ("extended fast", {"profile": "extended", "setting": "fast"})],
}
CONFIGS["all"] = CONFIGS["baseline"] + CONFIGS["extended"]


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


def bench_dfc(name: str, config: tuple[str, dict[str, str]], impl: ModuleType, x: npt.NDArray[np.float32],
              bits: int, repeat: int, total_values: int, shape: tuple[int, ...], note: str,
              memory: bool) -> Row:
    label, options = config
    encode: Callable[..., bytes] = impl.encode
    decode: Callable[[bytes], npt.NDArray[np.float32]] = impl.decode
    stream = encode(x, bits, **options)
    enc = median_time(lambda: encode(x, bits, **options), repeat)
    dec = median_time(lambda: decode(stream), repeat)
    scale = total_values / x.size
    input_bytes = 4 * x.size
    enc_peak = traced_peak(lambda: encode(x, bits, **options)) / input_bytes if memory else None
    dec_peak = traced_peak(lambda: decode(stream)) / input_bytes if memory else None
    return Row(name, shape, f"dfc.{name} {label}", total_values, 8 * len(stream) / x.size,
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


def print_table(rows: list[Row], ratios: dict[tuple[str, str], tuple[float, float]]) -> None:
    print("| tensor | shape | codec | bits/value | enc Mval/s | enc MB/s | dec Mval/s | dec MB/s "
          "| enc peak | dec peak | note |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        enc_v, enc_mb = fmt_rate(r.values, r.enc_s)
        dec_v, dec_mb = fmt_rate(r.values, r.dec_s)
        peaks = [f"{p:.2f}x" if p is not None else "-" for p in (r.enc_peak, r.dec_peak)]
        shape = "x".join(str(s) for s in r.shape)
        bits = "-" if r.note.startswith("slice") else f"{r.bits_per_value:.3f}"  # a slice's bits are not the tensor's
        print(f"| {r.file} | {shape} | {r.codec} | {bits} | {enc_v} | {enc_mb} "
              f"| {dec_v} | {dec_mb} | {peaks[0]} | {peaks[1]} | {r.note} |")
    if ratios:
        print()
        print("| tensor | configuration | fast/reference encode | fast/reference decode |")
        print("|---|---|---:|---:|")
        for (name, label), (e, d) in ratios.items():
            print(f"| {name} | {label} | {e:.0f}x | {d:.0f}x |")


def print_summary(rows: list[Row]) -> None:
    """One line per codec over all tensors: summed values over summed time, the slowest tensor, the largest peak."""
    print("| codec | bits/value | encode Mval/s (slowest tensor) | decode Mval/s (slowest tensor) "
          "| peak encode / decode (max) |")
    print("|---|---:|---:|---:|---:|")
    for codec in dict.fromkeys(r.codec for r in rows):
        mine = [r for r in rows if r.codec == codec]
        values = sum(r.values for r in mine)
        sliced = any(r.note.startswith("slice") for r in mine)  # a slice's bits are not the tensor's
        bits = "-" if sliced else f"{sum(r.bits_per_value * r.values for r in mine) / values:.3f}"
        enc = values / sum(r.enc_s for r in mine) / 1e6
        dec = values / sum(r.dec_s for r in mine) / 1e6
        enc_min = min(r.values / r.enc_s for r in mine) / 1e6
        dec_min = min(r.values / r.dec_s for r in mine) / 1e6
        enc_peaks = [r.enc_peak for r in mine if r.enc_peak is not None]
        dec_peaks = [r.dec_peak for r in mine if r.dec_peak is not None]
        peak = f"{max(enc_peaks):.2f}x / {max(dec_peaks):.2f}x" if enc_peaks and dec_peaks else "-"
        extrapolated = " (extrapolated)" if ".reference" in codec else ""
        print(f"| {codec}{extrapolated} | {bits} | {enc:.3g} ({enc_min:.3g}) | {dec:.3g} ({dec_min:.3g}) "
              f"| {peak} |")


def collect_files(paths: list[str]) -> list[Path]:
    if paths:
        return [Path(p) for p in paths]
    files: list[Path] = []
    for d in DEFAULT_DIRS:
        files += sorted(d.glob("*.npy"))
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="dfc bench",
        description="Encode/decode throughput and peak memory of dfc.fast, dfc.reference "
                    "(on a channel slice, extrapolated) and PNG on real feature tensors, in the "
                    "baseline and the extended profile; prints markdown tables. Single-threaded.",
        epilog="examples:\n"
               "  dfc bench --repeat 5\n"
               "      the repository's 11 tensors (data/corpus, dfc/data), both profiles\n"
               "  dfc bench x.npy --profile baseline --reference-values 0 --no-memory\n"
               "      dfc.fast's baseline alone, quickly",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="*", metavar="FILES",
                        help="float32 .npy tensors (C, H, W); default: data/corpus/*.npy of the "
                             "current folder and the package's own dfc/data/*.npy")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (median); default 5")
    parser.add_argument("--bits", type=int, default=8, help="bit depth; default 8")
    parser.add_argument("--profile", choices=sorted(CONFIGS), default="all",
                        help="baseline, extended (both settings) or all (default)")
    parser.add_argument("--reference-values", type=int, default=12000,
                        help="values in the channel slice coded by dfc.reference (fewer for the slower "
                             "extended profile: a quarter); 0 skips it (default 12000)")
    parser.add_argument("--no-png", action="store_true", help="skip the PNG comparison")
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc runs")
    return run_tool("dfc bench", parser, lambda args, _: run(args), argv)


def load_tensors(files: list[Path]) -> list[tuple[Path, np.ndarray]]:
    """Every file as a float32 (C, H, W) tensor; a file that is not one is an
    error, not a silent skip (a benchmark over fewer tensors than asked misleads)."""
    tensors = []
    for path in files:
        x = load_npy(path)
        if x.ndim != 3 or x.size == 0:
            raise CliError(f"{path}: {x.shape} is not a (C, H, W) tensor")
        tensors.append((path, np.ascontiguousarray(x, dtype=np.float32)))
    return tensors


def run(args: argparse.Namespace) -> int:
    if args.repeat < 1:
        raise CliError("--repeat must be at least 1")
    fast, why = dfc._import_fast()
    if fast is None:
        raise CliError(f"dfc.fast is not built ({why})")
    files = collect_files(args.files)
    if not files:
        raise CliError("no .npy files found; give some as arguments")

    rows: list[Row] = []
    ratios: dict[tuple[str, str], tuple[float, float]] = {}
    for path, x in load_tensors(files):
        shape = tuple(int(s) for s in x.shape)
        name = path.name
        print(f"{name} {shape} ...", file=sys.stderr, flush=True)
        for config in CONFIGS[args.profile]:
            fast_row = bench_dfc("fast", config, fast, x, args.bits, args.repeat, x.size, shape, "",
                                 not args.no_memory)
            fast_row.file = name
            rows.append(fast_row)
            slice_values = args.reference_values // (4 if config[1]["profile"] == "extended" else 1)
            if slice_values > 0:
                channels = max(1, min(x.shape[0], slice_values // (x.shape[1] * x.shape[2])))
                part = np.ascontiguousarray(x[:channels])
                same = (dfc.reference.encode(part, args.bits, **config[1])
                        == fast.encode(part, args.bits, **config[1]))
                note = (f"slice {channels}/{x.shape[0]} ch, extrapolated; "
                        + ("same bytes as dfc.fast on it" if same else "BYTES DIFFER from dfc.fast on it"))
                ref_row = bench_dfc("reference", config, dfc.reference, part, args.bits, min(args.repeat, 3),
                                    x.size, shape, note, False)
                ref_row.file = name
                rows.append(ref_row)
                ratios[(name, config[0])] = (ref_row.enc_s / fast_row.enc_s, ref_row.dec_s / fast_row.dec_s)
        if not args.no_png:
            png_row = bench_png(x, args.bits, args.repeat, shape)
            if png_row is not None:
                png_row.file = name
                rows.append(png_row)

    print(f"bits={args.bits}, repeat={args.repeat} (median), single thread; "
          f"dfc backend under test: dfc.fast")
    print()
    print_table(rows, ratios)
    print()
    print(f"all {len({r.file for r in rows})} tensors, {sum(r.values for r in rows if r.codec == rows[0].codec)} "
          "values (rates: summed values over summed time):")
    print()
    print_summary(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
