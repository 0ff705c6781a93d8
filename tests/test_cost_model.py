"""The fast encoder's mode decision against the reference's cost estimator
(SPEC §8.4-§8.5), block by block, on real feature tensors.

The reference costs each mode by coding the block into a BitCostEstimator from a
copy of the state (dfc.reference.encoder.mode_costs); dfc.fast computes the same
numbers with its own closed forms (fast/cost.pxi). Both must agree exactly for
every mode, not just in which mode wins, or the two encoders could drift apart
on blocks that no end-to-end test happens to reach.
"""

from __future__ import annotations

import random
from types import ModuleType

import numpy as np
import pytest
from conftest import data_files, load_data

from dfc.reference.encoder import choose_mode, mode_costs
from dfc.reference.prediction import derive_mpm
from dfc.reference.quantizer import max_level, quantize
from dfc.reference.state import PayloadState, Tile
from dfc.reference.syntax import skip_ctx_inc
from dfc.reference.tables import MAX_STAT_COEFF, NUM_CONTEXTS, NUM_MODES

BLOCKS_PER_FILE = 60


def context_bytes(state: PayloadState) -> bytes:
    """The contexts as dfc.fast stores them: (pStateIdx << 1) | valMps per byte."""
    return bytes((c.pStateIdx << 1) | c.valMps for c in state.contexts)


def random_state(rng: random.Random, palette: tuple[int, ...]) -> PayloadState:
    """A state as one could meet mid-stream: every context at a random state
    (0 .. 62, both MPS values) and a random StatCoeff."""
    state = PayloadState.initial(palette)
    if rng.random() < 0.9:  # and now and then the initial state itself
        for ctx in state.contexts:
            ctx.pStateIdx = rng.randrange(63)
            ctx.valMps = rng.randrange(2)
        state.StatCoeff = rng.randrange(MAX_STAT_COEFF + 1)
    return state


def real_blocks(name: str, bits: int, seed: int) -> list[tuple[PayloadState, Tile, int, int]]:
    """Blocks of a real tensor quantized to ``bits``, each with a random state and
    random modes and skip flags for the blocks before it (so MpmMode and the
    skip_flag context vary); partial blocks at the right and bottom included."""
    rng = random.Random(seed)
    q, _, _ = quantize(load_data(name).astype(np.float32), bits)
    channels, height, width = q.shape
    L = max_level(bits)
    out = []
    for _ in range(BLOCKS_PER_FILE):
        c = rng.randrange(channels)
        samples = q[c].tolist()
        PalPred = rng.choice([0, L, int(np.median(q[c])), int(rng.randrange(L + 1))])
        tile = Tile(c=c, height=height, width=width, L=L, PalPred=PalPred, samples=samples)
        for row in tile.modes:
            row[:] = [rng.randrange(NUM_MODES) for _ in row]
        for row in tile.skip_flags:
            row[:] = [rng.randrange(2) for _ in row]
        bx = rng.randrange((width + 3) // 4)
        by = rng.randrange((height + 3) // 4)
        palette = tuple(sorted({PalPred, 0, L}))
        out.append((random_state(rng, palette), tile, bx, by))
    return out


@pytest.mark.parametrize("bits", [8, 4, 12])
@pytest.mark.parametrize("name", data_files())
def test_fast_mode_costs_equal_reference(fast: ModuleType, name: str, bits: int) -> None:
    from dfc.fast import _codec

    for state, tile, bx, by in real_blocks(name, bits, seed=bits):
        expected = mode_costs(state, tile, bx, by)
        got = _codec._mode_costs(
            np.asarray(tile.samples, dtype=np.uint16), bx, by, tile.PalPred,
            derive_mpm(tile.modes, bx, by), skip_ctx_inc(tile, bx, by),
            context_bytes(state), state.StatCoeff,
        )
        assert list(got) == expected, (name, bits, tile.c, bx, by)
        # and so the same decision, ties to the lower mode
        assert got.index(min(got)) == choose_mode(state, tile, bx, by)


def test_reference_mode_costs_leave_the_state_alone() -> None:
    # the trial coding works on copies: the state the real coding starts from is intact
    state, tile, bx, by = real_blocks(data_files()[0], 8, seed=1)[0]
    before = context_bytes(state), state.StatCoeff
    costs = mode_costs(state, tile, bx, by)
    assert len(costs) == NUM_MODES and min(costs) > 0
    assert (context_bytes(state), state.StatCoeff) == before
    assert len(context_bytes(state)) == NUM_CONTEXTS
