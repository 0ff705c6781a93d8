"""The ``dfc`` command line.

    dfc demo                          code the real features shipped with dfc, check the round trip
    dfc encode IN.npy... OUT.dfc [--bits N] [--profile P] [--setting S] [--range LO HI]
    dfc decode IN.dfc OUT.npy [--integers] [--stack]
    dfc info IN.dfc
    dfc trace IN.dfc [-o TRACE.txt] [--bins]

"-" is standard input or output. Several inputs, or an (N, C, H, W) array,
make a sequence of streams (SPEC §3.6), which decodes to (N, C, H, W). Every
verb exits 0 on success and 1 with one line on standard error on failure; a
failed command leaves no partial output and never replaces its input or a
symlink (it writes through the link).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

import numpy as np

from .cliutil import CliError, atomic_output, check_output, guarded, is_stdio, load_npy, read_bytes
from .errors import DecodeError

EXAMPLES = """examples:
  dfc demo
  dfc encode features.npy features.dfc --bits 8
  dfc encode features.npy - | dfc decode - restored.npy        # through a pipe
  dfc encode frame*.npy frames.dfc                     # a sequence, one stream per tensor
  dfc decode frames.dfc frames.npy                     # (N, C, H, W)
  dfc encode features.npy features.dfc --range 0 6     # ReLU6's fixed range
  dfc encode features.npy features.dfc --setting fast           # decodes about twice as fast
  dfc encode features.npy features.dfc --profile baseline       # the paper's method
  dfc decode features.dfc restored.npy
  dfc info features.dfc
  dfc trace features.dfc -o features.trace.txt
  dfc trace --bins features.dfc                  # every bin and the arithmetic decoder's state
  dfc conformance check-decoder --codes -- ./mydec {stream} {integers} {floats}   # your decoder
  DFC_PUREPYTHON=1 dfc encode features.npy features.dfc   # force the reference backend
"""


VERB_EXAMPLES = {
    "demo": """examples:
  dfc demo
  dfc demo --profile baseline --bits 6
""",
    "encode": """examples:
  dfc encode features.npy features.dfc
  dfc encode features.npy features.dfc --bits 6 --profile baseline
  dfc encode features.npy features.dfc --range 0 6           # ReLU6: every frame on one scale
  dfc encode frame0.npy frame1.npy frame2.npy frames.dfc     # a sequence of three streams
  dfc encode batch.npy batch.dfc                             # (N, C, H, W): a sequence of N
  dfc encode features.npy - | ssh cloud 'dfc decode - features.npy'
The output is replaced if it exists (-n refuses); its input never is.
""",
    "decode": """examples:
  dfc decode features.dfc features.npy
  dfc decode frames.dfc frames.npy                 # a sequence: (N, C, H, W)
  dfc decode features.dfc ints.npy --integers      # the quantized values, uint16
  cat features.dfc | dfc decode - - > features.npy
""",
    "info": """examples:
  dfc info features.dfc
  dfc info frames.dfc --json
""",
    "trace": """examples:
  dfc trace features.dfc | head -40
  dfc trace features.dfc -o features.trace.txt
  dfc trace --bins features.dfc | less             # every bin and the decoder's registers
""",
}


def _backend(name: str | None) -> ModuleType:
    if name == "reference":
        from dfc import reference

        return reference
    import dfc

    if name == "fast":
        fast, why = dfc._import_fast()
        if fast is None:
            raise CliError(f"the fast backend is not built ({why}); reinstall with 'pip install .' "
                           "(needs a C compiler)")
        return fast
    return dfc


def _say(args: argparse.Namespace, text: str, report: dict[str, Any]) -> None:
    """A verb's summary: a line, or JSON with --json; on standard error when
    standard output carries the data, nowhere with -q."""
    if args.quiet:
        return
    out = sys.stderr if is_stdio(getattr(args, "output", "")) else sys.stdout
    print(json.dumps(report) if args.json else text, file=out)


def _tensors(args: argparse.Namespace) -> list[tuple[str, np.ndarray]]:
    """(name, (C, H, W) tensor) for every input; an (N, C, H, W) array gives N."""
    tensors = []
    for path in args.inputs:
        array = load_npy(path)
        if array.ndim == 4:
            tensors += [(f"{path}[{n}]", array[n]) for n in range(array.shape[0])]
        else:
            tensors.append((str(path), array))
    return tensors


def _rejected(path: Path, exc: ValueError) -> CliError:
    """The error line for a stream that breaks SPEC.md, code and offset first:
    'CODE at OFFSET (PATH: why; SPEC §x)', the form SPEC Annex B asks of decoders
    (and 'dfc conformance check-decoder --codes' reads)."""
    if isinstance(exc, DecodeError):
        return CliError(f"{exc.code} at {exc.offset} ({path}: {exc.detail}; SPEC §{exc.section})")
    return CliError(f"{path}: {exc}")


def cmd_encode(args: argparse.Namespace) -> int:
    import dfc

    impl = _backend(args.backend)
    check_output(args.output, args.inputs, args.overwrite)
    fixed = None if args.range is None else (args.range[0], args.range[1])
    start = time.perf_counter()
    streams, shapes, clipped = [], [], 0
    for name, tensor in _tensors(args):
        try:
            streams.append(impl.encode(tensor, bits=args.bits, profile=args.profile, setting=args.setting,
                                       range=fixed))
            clipped += 0 if fixed is None else dfc.outside_range(tensor, fixed)
        except ValueError as exc:
            raise CliError(f"{name}: {exc}") from exc
        shapes.append(tuple(tensor.shape))
    seconds = time.perf_counter() - start
    data = b"".join(streams)
    with atomic_output(args.output) as out:
        out.write(data)
    values = sum(int(np.prod(shape)) for shape in shapes)
    bpv = 8 * len(data) / values
    what = f"{len(streams)} tensors" if len(streams) > 1 else str(shapes[0])
    note = "" if fixed is None else f", {clipped} of {values} values clipped to [{fixed[0]:g}, {fixed[1]:g}]"
    _say(args, f"{' '.join(map(str, args.inputs))} {what} -> {args.output}: {len(data)} bytes, "
         f"{bpv:.4f} bits/value ({args.bits}-bit, {args.profile}"
         f"{', ' + args.setting if args.profile == 'extended' else ''}), {seconds:.2f} s{note}",
         {"inputs": [str(p) for p in args.inputs], "output": str(args.output), "members": len(streams),
          "values": values, "bytes": len(data), "bits_per_value": bpv, "seconds": seconds,
          "range": None if fixed is None else list(fixed), "clipped": clipped})
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    from dfc.sequence import decode_members, stack_members

    impl = _backend(args.backend)
    check_output(args.output, [args.input], args.overwrite)
    data = read_bytes(args.input)
    try:
        arrays = [d.integers if args.integers else d.floats() for d in decode_members(data, impl.decode_stream)]
        array = stack_members(arrays) if len(arrays) > 1 or args.stack else arrays[0]
    except ValueError as exc:
        raise _rejected(args.input, exc) from exc
    npy = io.BytesIO()  # np.save needs a seekable file; a pipe or FIFO is not one
    np.save(npy, array, allow_pickle=False)
    with atomic_output(args.output) as out:
        out.write(npy.getbuffer())
    _say(args, f"{args.input} -> {args.output}: {array.dtype} {tuple(array.shape)}",
         {"input": str(args.input), "output": str(args.output), "members": len(arrays),
          "dtype": str(array.dtype), "shape": list(array.shape)})
    return 0


def _header_dict(data: bytes) -> dict[str, Any]:
    from dfc.reference.header import check_framing, read_header

    header = read_header(data)
    check_framing(data, header)
    values = header.channels * header.height * header.width
    return {
        "format_version": header.format_version,
        "profile": header.profile,
        "bit_depth": header.bit_depth,
        "shape": list(header.shape),
        "min_value": header.min_value,
        "max_value": header.max_value,
        "palette": list(header.palette),
        "setting": header.setting,
        "band_flag": header.band_flag,
        "split_offset": header.split_offset,
        "header_bytes": header.header_size,
        "payload_bytes": header.payload_size,
        "stream_bytes": len(data),
        "bits_per_value": 8 * len(data) / values,
    }


def cmd_info(args: argparse.Namespace) -> int:
    from dfc.sequence import member_bounds

    data = read_bytes(args.input)
    try:
        members = [_header_dict(data[start:end]) | {"offset": start} for start, end in member_bounds(data)]
    except ValueError as exc:
        raise _rejected(args.input, exc) from exc
    if args.json:
        print(json.dumps(members[0] if len(members) == 1 else {"members": members}, indent=1))
        return 0
    if len(members) > 1:
        print(f"{args.input}: a sequence of {len(members)} dfc streams (SPEC §3.6), {len(data)} bytes")
        for k, info in enumerate(members):
            c, h, w = info["shape"]
            print(f"  {k:4d}  byte {info['offset']:10d}  {c} x {h} x {w}, {info['bit_depth']}-bit, "
                  f"profile {info['profile']}, {info['stream_bytes']} bytes, "
                  f"{info['bits_per_value']:.4f} bits/value")
        return 0
    _print_info(args.input, members[0])
    return 0


def _print_info(name: object, info: dict[str, Any]) -> None:
    c, h, w = info["shape"]
    extended = info["profile"] == 1
    print(f"{name}: dfc format {info['format_version']}, profile {info['profile']} "
          f"({'extended' if extended else 'baseline'})")
    print(f"  tensor      {c} x {h} x {w} = {c * h * w} values, {info['bit_depth']}-bit")
    print(f"  range       [{info['min_value']!r}, {info['max_value']!r}]")
    if extended:
        print(f"  setting     {info['setting']} ({'fast' if info['setting'] else 'default: mixing'}), "
              f"band_flag {info['band_flag']}, split_offset {info['split_offset']}")
    else:
        print(f"  palette     {info['palette']}")
    print(f"  size        {info['stream_bytes']} bytes (header {info['header_bytes']}, "
          f"payload {info['payload_bytes']}, CRC 4), {info['bits_per_value']:.4f} bits/value")
    print("  CRC         ok (payload not decoded; use 'dfc decode' or 'dfc trace' to check it)")


def cmd_trace(args: argparse.Namespace) -> int:
    from dfc.reference.trace import trace_stream
    from dfc.tools.bin_trace import bin_trace

    if args.output is not None:
        check_output(args.output, [args.input], args.overwrite)
    data = read_bytes(args.input)
    tracer = bin_trace if args.bins else trace_stream

    def run(out: TextIO) -> None:
        try:
            tracer(data, out)
        except ValueError as exc:
            out.flush()
            raise _rejected(args.input, exc) from exc

    if args.output is None:
        run(sys.stdout)
    else:
        with atomic_output(args.output, "w") as out:
            run(out)
    return 0


def _demo_files() -> list[tuple[str, Path]]:
    data = resources.files("dfc") / "data"
    names = sorted(p.name for p in data.iterdir() if p.name.endswith(".npy"))
    return [(name, Path(str(data / name))) for name in names]


def cmd_demo(args: argparse.Namespace) -> int:
    """Encode and decode the real features shipped in dfc/data and check the
    round trip exactly (integers equal the quantizer's, floats equal SPEC §4.3)."""
    import dfc
    from dfc.reference.quantizer import dequantize, quantize

    impl = _backend(args.backend)
    manifest = json.loads((resources.files("dfc") / "data" / "manifest.json").read_text())
    about = {entry["file"]: entry for entry in manifest["files"]}
    print(f"dfc {dfc.version()}: dfc.{args.backend or dfc.backend} backend, {args.bits}-bit, "
          f"{args.profile} profile" + (f" ({args.setting})" if args.profile == "extended" else ""))
    ok = True
    for name, path in _demo_files():
        x = np.load(path)
        meta = about.get(name, {})
        start = time.perf_counter()
        stream = impl.encode(x, bits=args.bits, profile=args.profile, setting=args.setting)
        t_enc = time.perf_counter() - start
        start = time.perf_counter()
        decoded = impl.decode_stream(stream)
        t_dec = time.perf_counter() - start
        q, mn, mx = quantize(x.astype(np.float32), args.bits)
        ints_equal = bool(np.array_equal(decoded.integers, q))
        floats = decoded.floats()
        expected = dequantize(q, args.bits, mn, mx)
        floats_equal = bool(np.array_equal(floats.view(np.uint32), expected.view(np.uint32)))
        ok = ok and ints_equal and floats_equal
        print(f"\n{name}: {meta.get('model', '?')} {meta.get('layer', '')} ({meta.get('activation', '?')}), "
              f"image {meta.get('image', '?')}")
        print(f"  tensor     {x.shape[0]} x {x.shape[1]} x {x.shape[2]} float32 = {x.nbytes} bytes")
        print(f"  stream     {len(stream)} bytes = {8 * len(stream) / x.size:.4f} bits/value "
              f"({x.nbytes / len(stream):.1f}x smaller than float32)")
        print(f"  time       encode {t_enc:.3f} s, decode {t_dec:.3f} s")
        print(f"  round trip integers {'identical' if ints_equal else 'DIFFER'}, "
              f"float32 {'bit-identical to SPEC §4.3' if floats_equal else 'DIFFER'}; "
              f"max |error| {float(np.max(np.abs(floats - x))):.6f} "
              f"(quantizer step {(mx - mn) / ((1 << args.bits) - 1):.6f})")
    print("\nround trip exact: " + ("yes" if ok else "NO"))
    return 0 if ok else 1


def build_parser() -> argparse.ArgumentParser:
    import dfc

    parser = argparse.ArgumentParser(
        prog="dfc",
        description="Near-lossless deep-feature codec (Choi & Bajic 2018), as specified in SPEC.md.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"dfc {dfc.version()}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")

    def verb(name: str, func: Callable[[argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help, epilog=VERB_EXAMPLES[name],
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(func=func)
        return p

    def backend_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--backend", choices=["reference", "fast"], default=None,
                       help="implementation to use (default: fast when built, else reference; "
                            "DFC_PUREPYTHON=1 also forces the reference)")

    def overwrite_options(p: argparse.ArgumentParser) -> None:
        group = p.add_mutually_exclusive_group()
        group.add_argument("-y", "--overwrite", dest="overwrite", action="store_true", default=True,
                           help="replace an existing output file (the default, as cp does)")
        group.add_argument("-n", "--no-overwrite", dest="overwrite", action="store_false",
                           help="refuse to replace an existing output file")

    def output_options(p: argparse.ArgumentParser) -> None:
        overwrite_options(p)
        p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
        p.add_argument("--json", action="store_true", help="print the summary as one line of JSON")

    def coding_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--profile", choices=["baseline", "extended"], default="extended",
                       help="extended: the smallest streams (SPEC §11; the default); baseline: the "
                            "paper's method (SPEC §5-§8)")
        p.add_argument("--setting", choices=["default", "fast"], default="default",
                       help="extended profile only: default (smallest) or fast (decodes faster)")

    p = verb("demo", cmd_demo, "encode and decode the real feature tensors shipped with dfc and check the round trip")
    p.add_argument("--bits", type=int, default=8, help="quantizer bit depth, 1..16 (default 8)")
    coding_options(p)
    backend_option(p)

    p = verb("encode", cmd_encode, "quantize and encode float (C, H, W) .npy tensors: one stream, or a "
             "sequence of streams for several inputs or an (N, C, H, W) array (SPEC §3.6)")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="input .npy, (C, H, W) or (N, C, H, W), any real dtype; - for standard input")
    p.add_argument("output", help="output .dfc stream; - for standard output")
    p.add_argument("--bits", type=int, default=8, help="quantizer bit depth, 1..16 (default 8)")
    p.add_argument("--range", type=float, nargs=2, metavar=("LO", "HI"), default=None,
                   help="fixed quantizer range instead of each tensor's extremes, e.g. 0 6 for ReLU6; "
                        "values outside are clipped and counted (SPEC §4.2)")
    coding_options(p)
    backend_option(p)
    output_options(p)

    p = verb("decode", cmd_decode, "decode a .dfc stream to a float32 (C, H, W) .npy tensor, or a sequence "
             "to (N, C, H, W)")
    p.add_argument("input", help="input .dfc stream or sequence; - for standard input")
    p.add_argument("output", help="output .npy; - for standard output")
    p.add_argument("--integers", action="store_true",
                   help="write the decoded integers (uint16) instead of the dequantized float32")
    p.add_argument("--stack", action="store_true", help="(N, C, H, W) even for a single stream")
    backend_option(p)
    output_options(p)

    p = verb("info", cmd_info, "print a stream's header, or list a sequence's members, and check lengths "
             "and CRCs")
    p.add_argument("input", help="input .dfc stream or sequence; - for standard input")
    p.add_argument("--json", action="store_true", help="print the header (or the members) as JSON")

    p = verb("trace", cmd_trace, "print every syntax element the reference decoder parses (SPEC §10)")
    p.add_argument("input", help="input .dfc stream; - for standard input")
    p.add_argument("-o", "--output", default=None, help="write the trace here instead of stdout")
    p.add_argument("--bins", action="store_true",
                   help="also every bin the arithmetic decoder decodes, its context and the decoder's "
                        "registers after it (dfc.tools.bin_trace)")
    overwrite_options(p)

    _add_tool_verbs(sub)
    return parser


def _add_tool_verbs(sub: Any) -> None:
    """Verbs implemented in dfc.tools, imported only when used."""
    tools = {
        "bench": ("dfc.tools.bench", "throughput and memory of the reference and fast codecs, and PNG"),
        "conformance": ("dfc.tools.conformance", "check a decoder or encoder, dfc's or yours, on the test vectors"),
        "extract": ("dfc.tools.extract", "save a pretrained ONNX network's activations on photos as .npy features"),
        "analyze": ("dfc.tools.analyze", "the paper's Table I statistics, entropy and Fig. 2/3 plots of features"),
        "compare": ("dfc.tools.compare", "dfc against lossless image codecs on the same features (Fig. 6)"),
        "speed": ("dfc.tools.speed", "bits and speed of both profiles against JPEG XL, JPEG-LS and PNG, one core"),
        "batch": ("dfc.tools.batch", "code every .npy of a folder (or decode every .dfc), on threads or a Dask "
                                     "cluster, resumably"),
        "reconstruct": ("dfc.tools.reconstruct", "train a mirror network that rebuilds the input image from decoded "
                                                 "features (paper, Section IV), and measure it as Table IV"),
        "split-eval": ("dfc.tools.split_eval", "split a real network, code the split tensor, finish inference: "
                                               "bits per image against agreement with the unsplit network"),
    }
    for name, (module, help) in tools.items():
        p = sub.add_parser(name, help=help, add_help=False)
        p.add_argument("rest", nargs=argparse.REMAINDER)
        p.set_defaults(func=None, tool=module)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    # Tool verbs take their own options; argparse.REMAINDER does not capture
    # options that come first, so unknown arguments go to the tool too.
    args, extra = parser.parse_known_args(argv)
    if args.verb is None:
        parser.print_help()
        return 2
    if args.func is not None and extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.func is None:
        import importlib

        try:
            module = importlib.import_module(args.tool)
        except ImportError as exc:
            print(f"dfc {args.verb}: unavailable ({exc})", file=sys.stderr)
            return 1
        result: int = module.main(extra + args.rest)
        return result
    return guarded(f"dfc {args.verb}", lambda: int(args.func(args)))


if __name__ == "__main__":
    sys.exit(main())
