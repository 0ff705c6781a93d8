"""Measure the format readings that SPEC.md's annex A had to choose between.

Each variant patches one decision of the reference encoder and codes the same real
feature tensors; the table gives the total stream size per variant. Used to fill
SPEC.md annex A. Slow (pure Python): run on a subset with --files.

    python -m dfc.tools.measure_variants ../shared/corpus/*-astronaut.npy
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from dfc.reference import encoder, prediction, state, syntax
from dfc.reference.cabac import ContextModel
from dfc.reference.state import PayloadState, Tile
from dfc.reference.tables import (
    CTX_GT1_FLAG,
    CTX_GT2_FLAG,
    CTX_MPM_FLAG,
    MODE_HOR,
    MODE_VER,
)

Patch = Callable[[], contextlib.AbstractContextManager[None]]
Samples = list[list[int]]
#: Contexts of a variant that needs more than the specification's: from here on.
EXTRA = 100


@contextlib.contextmanager
def _patched(module: object, name: str, value: object) -> Iterator[None]:
    old = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, old)


def _many_contexts() -> list[ContextModel]:
    return [ContextModel() for _ in range(EXTRA + 60)]


def _more_contexts() -> contextlib.AbstractContextManager[None]:
    """Every payload starts with EXTRA + 60 contexts instead of NUM_CONTEXTS."""
    return _patched(state, "initial_contexts", _many_contexts)


@contextlib.contextmanager
def baseline() -> Iterator[None]:
    yield


@contextlib.contextmanager
def hor_ver_block_edge() -> Iterator[None]:
    """Hor/Ver predict every sample of a row/column from the sample just outside
    the block (H.264 intra style) instead of its immediate neighbour (DPCM)."""
    original = prediction.predict_sample

    def predict(mode: int, samples: Samples, x: int, y: int, PalPred: int) -> int:
        if mode == MODE_HOR:
            x0 = (x // 4) * 4 - 1
            return PalPred if x0 < 0 else samples[y][x0]
        if mode == MODE_VER:
            y0 = (y // 4) * 4 - 1
            return PalPred if y0 < 0 else samples[y0][x]
        return original(mode, samples, x, y, PalPred)

    with _patched(prediction, "predict_sample", predict):
        yield


@contextlib.contextmanager
def sig_ctx_position() -> Iterator[None]:
    """sig_flag context by position in the block (16 contexts) instead of
    mode and significant left/top neighbours (15 contexts)."""
    with _more_contexts(), _patched(syntax, "CTX_SIG_FLAG", EXTRA), \
            _patched(syntax, "sig_ctx_inc", lambda mode, sig, x, y: 4 * y + x):
        yield


@contextlib.contextmanager
def sig_ctx_single() -> Iterator[None]:
    """One context for every sig_flag."""
    with _patched(syntax, "sig_ctx_inc", lambda mode, sig, x, y: 0):
        yield


@contextlib.contextmanager
def sig_ctx_neighbours_only() -> Iterator[None]:
    """sig_flag context from the left/top neighbours only (3 contexts, all modes)."""
    def inc(mode: int, sig: Samples, x: int, y: int) -> int:
        return int(x > 0 and sig[y][x - 1] != 0) + int(y > 0 and sig[y - 1][x] != 0)

    with _patched(syntax, "sig_ctx_inc", inc):
        yield


@contextlib.contextmanager
def rem_mode_context() -> Iterator[None]:
    """rem_mode's two bins context-coded (3 contexts) instead of bypass."""
    def write_pred_mode(enc: syntax.BinSink, st: PayloadState, mode: int, MpmMode: int) -> None:
        ctx = st.contexts
        if mode == MpmMode:
            enc.encode_decision(ctx[CTX_MPM_FLAG], 1)
            return
        enc.encode_decision(ctx[CTX_MPM_FLAG], 0)
        rem = mode if mode < MpmMode else mode - 1
        enc.encode_decision(ctx[EXTRA], rem >> 1)
        enc.encode_decision(ctx[EXTRA + 1 + (rem >> 1)], rem & 1)

    with _more_contexts(), _patched(syntax, "write_pred_mode", write_pred_mode):
        yield


@contextlib.contextmanager
def palette_idx_bypass() -> Iterator[None]:
    """palette_idx bins bypass-coded instead of one context per bin."""
    def write_palette_idx(enc: syntax.BinSink, st: PayloadState, palette_idx: int) -> None:
        for i in range(len(st.PaletteOrder) - 1):
            b = 1 if palette_idx > i else 0
            enc.encode_bypass(b)
            if b == 0:
                return

    with _patched(syntax, "write_palette_idx", write_palette_idx):
        yield


@contextlib.contextmanager
def skip_ctx_single() -> Iterator[None]:
    """One context for skip_flag instead of three chosen by the neighbours."""
    original = syntax.write_skip_flag

    def write_skip_flag(enc: syntax.BinSink, st: PayloadState, flag: int, ctxInc: int) -> None:
        original(enc, st, flag, 0)

    with _patched(syntax, "write_skip_flag", write_skip_flag):
        yield


@contextlib.contextmanager
def rice_reset_per_block() -> Iterator[None]:
    """HEVC version 1 Rice adaptation: Rice starts at 0 in every block
    (no StatCoeff carried from block to block)."""
    with _patched(syntax, "initial_rice", lambda StatCoeff: 0), \
            _patched(syntax, "update_stat_coeff", lambda StatCoeff, remaining: 0):
        yield


@contextlib.contextmanager
def sign_bypass() -> Iterator[None]:
    """sign_flag bypass-coded (as in HEVC) instead of one context per mode."""
    def write_sign_flag(enc: syntax.BinSink, st: PayloadState, mode: int, sign_flag: int) -> None:
        enc.encode_bypass(sign_flag)

    with _patched(syntax, "write_sign_flag", write_sign_flag):
        yield


@contextlib.contextmanager
def gt1_ctx_by_mode() -> Iterator[None]:
    """gt1_flag and gt2_flag contexts split by prediction mode (5 x 4 and 5 x 1)."""
    original = syntax.write_residual_block

    def write_residual_block(enc: syntax.BinSink, st: PayloadState, mode: int,
                             ScanPos: list[tuple[int, int]], residual: Samples) -> None:
        # This block's gt1/gt2 contexts are a per-mode set kept at EXTRA + 5 * mode.
        view = PayloadState(list(st.contexts), st.PaletteOrder, st.PaletteCount, st.StatCoeff)
        for i in range(4):
            view.contexts[CTX_GT1_FLAG + i] = st.contexts[EXTRA + 5 * mode + i]
        view.contexts[CTX_GT2_FLAG] = st.contexts[EXTRA + 5 * mode + 4]
        original(enc, view, mode, ScanPos, residual)
        st.StatCoeff = view.StatCoeff

    with _more_contexts(), _patched(syntax, "write_residual_block", write_residual_block):
        yield


@contextlib.contextmanager
def skip_ctx_by_mode() -> Iterator[None]:
    """skip_flag contexts split by prediction mode (5 x 3)."""
    original_block = syntax.write_block
    mode_now = [0]

    def write_block(enc: syntax.BinSink, st: PayloadState, tile: Tile, bx: int, by: int,
                    mode: int) -> None:
        mode_now[0] = mode
        original_block(enc, st, tile, bx, by, mode)

    def write_skip_flag(enc: syntax.BinSink, st: PayloadState, flag: int, ctxInc: int) -> None:
        enc.encode_decision(st.contexts[EXTRA + 3 * mode_now[0] + ctxInc], flag)

    with _more_contexts(), _patched(syntax, "write_block", write_block), \
            _patched(encoder, "write_block", write_block), \
            _patched(syntax, "write_skip_flag", write_skip_flag):
        yield


VARIANTS: dict[str, Patch] = {
    "baseline (as specified)": baseline,
    "Hor/Ver from block edge": hor_ver_block_edge,
    "sig_flag ctx by position (16)": sig_ctx_position,
    "sig_flag single ctx": sig_ctx_single,
    "sig_flag ctx neighbours only (3)": sig_ctx_neighbours_only,
    "rem_mode context-coded": rem_mode_context,
    "palette_idx bypass": palette_idx_bypass,
    "skip_flag single ctx": skip_ctx_single,
    "Rice reset per block (HEVC v1)": rice_reset_per_block,
    "sign_flag bypass (HEVC)": sign_bypass,
    "gt1/gt2 ctx by mode": gt1_ctx_by_mode,
    "skip_flag ctx by mode": skip_ctx_by_mode,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", type=Path, help=".npy feature tensors (C, H, W)")
    parser.add_argument("--bits", type=int, default=8)
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), help="variant names to run")
    args = parser.parse_args(argv)
    tensors = [(f.name, np.load(f)) for f in args.files]
    values = sum(t.size for _, t in tensors)
    base = 0
    print(f"{len(tensors)} tensors, {values} values, {args.bits}-bit")
    print(f"{'variant':34s} {'bytes':>10s} {'bits/value':>11s} {'vs baseline':>12s}")
    for name in args.variants:
        start = time.time()
        with VARIANTS[name]():
            total = sum(len(encoder.encode(t, args.bits)) for _, t in tensors)
        if not base:
            base = total
        print(f"{name:34s} {total:10d} {8 * total / values:11.4f} {100 * (total - base) / base:+11.2f}%"
              f"   ({time.time() - start:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
