"""dfc as a numcodecs codec, for zarr format 2 arrays (and anything else that
takes numcodecs codecs).

    >>> import numcodecs, zarr
    >>> from dfc.numcodecs import DfcCodec     # or numcodecs.get_codec({"id": "dfc"}) once installed
    >>> z = zarr.create_array({}, shape=(3, 8, 12, 12), chunks=(1, 8, 12, 12), dtype="float32",
    ...                       zarr_format=2, compressors=DfcCodec(bits=8), filters=None)

dfc codes whole tensors, so a chunk must be one float32 (C, H, W) tensor or a
stack of them, (N, C, H, W); a stack is stored as N streams one after another
(dfc.sequence). The codec needs the chunk's shape, which a numcodecs
*compressor* is not promised: it receives "any buffer". zarr-python (2 and 3)
hands a format 2 compressor the chunk as an ndarray of the chunk's shape, and
this codec relies on that; a flat buffer is refused with a ValueError rather
than guessed at. Decoding returns float32 (C, H, W), or (N, C, H, W) for
several streams, which zarr reshapes to the chunk. Importing this module
registers the codec with numcodecs; an installed dfc also registers it through
the ``numcodecs.codecs`` entry point, so ``numcodecs.get_codec`` finds it
without an import.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numcodecs.registry
import numpy as np
import numpy.typing as npt
from numcodecs.abc import Codec
from numcodecs.compat import ensure_bytes, ensure_ndarray, ndarray_copy

import dfc

from .reference.encoder import PROFILES, validate_range
from .reference.ext_encoder import SETTINGS
from .reference.tables import MAX_BIT_DEPTH, MIN_BIT_DEPTH

#: What every chunk is made of: dfc decodes to float32, so arrays must be float32
#: (native byte order) for a chunk to read back as it was written.
CHUNK_DTYPE = np.dtype(np.float32)


def chunk_shape_error(shape: tuple[int, ...]) -> ValueError:
    """The one error for a chunk that is not whole tensors."""
    return ValueError(f"dfc codes whole tensors: a chunk must be (C, H, W) or (N, C, H, W), got shape {shape}")


class DfcCodec(Codec):
    """numcodecs codec ``"dfc"``: each (C, H, W) tensor of a float32 chunk becomes
    one dfc stream, coded as ``dfc.encode(x, bits, profile=, setting=, range=)``.

    Options are checked here, so a bad configuration fails when the array is
    made, not at its first write. ``range`` is ``None`` (each tensor's own
    extremes) or ``[lo, hi]``, fixed for every chunk (values outside clipped).
    """

    codec_id = "dfc"

    def __init__(self, *, bits: int = 8, profile: str = dfc.DEFAULT_PROFILE, setting: str = "default",
                 range: Sequence[float] | None = None) -> None:  # noqa: A002 (dfc.encode's word)
        check_options(bits, profile, setting)
        validate_range(range)
        self.bits = int(bits)
        self.profile = profile
        self.setting = setting
        # The caller's numbers, not their float32 roundings: the config says what was asked.
        self.range = None if range is None else [float(v) for v in range]

    def get_config(self) -> dict[str, Any]:
        """``{"id": "dfc", "bits", "profile", "setting", "range"}``, all JSON values."""
        return {"id": self.codec_id, "bits": self.bits, "profile": self.profile,
                "setting": self.setting, "range": self.range}

    def encode(self, buf: Any) -> bytes:
        """The chunk's tensors as dfc streams, one after another."""
        fixed = None if self.range is None else (self.range[0], self.range[1])
        return b"".join(dfc.encode(x, self.bits, profile=self.profile, setting=self.setting, range=fixed)
                        for x in chunk_tensors(ensure_ndarray(buf)))

    def decode(self, buf: Any, out: Any = None) -> Any:
        """float32 (C, H, W) for one stream, (N, C, H, W) for N; copied into ``out``
        (any shape of the same size) when given."""
        decoded = dfc.decode_many(ensure_bytes(buf))
        return ndarray_copy(decoded[0] if len(decoded) == 1 else decoded, out)


def check_options(bits: object, profile: str, setting: str) -> None:
    """The encoder's rules for its options (range apart), checked without a tensor."""
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)):
        raise ValueError(f"bits must be an integer, got {type(bits).__name__}")
    if not MIN_BIT_DEPTH <= bits <= MAX_BIT_DEPTH:
        raise ValueError(f"bits must be in {MIN_BIT_DEPTH}..{MAX_BIT_DEPTH}, got {bits}")
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}, got {profile!r}")
    if setting not in SETTINGS:
        raise ValueError(f"setting must be one of {', '.join(SETTINGS)}, got {setting!r}")
    if profile == "baseline" and setting != "default":
        raise ValueError(f"the baseline profile has no setting {setting!r}")


def chunk_tensors(chunk: npt.NDArray[Any]) -> list[npt.NDArray[np.float32]]:
    """The (C, H, W) tensors of a (C, H, W) or (N, C, H, W) float32 chunk."""
    if chunk.ndim not in (3, 4):  # first: a flat buffer's dtype says nothing
        raise chunk_shape_error(chunk.shape)
    if chunk.dtype != CHUNK_DTYPE:
        raise ValueError(f"dfc stores float32 chunks (it decodes to float32), got dtype {chunk.dtype}")
    if chunk.flags.f_contiguous and not chunk.flags.c_contiguous:
        # zarr format 2 reads an F-order chunk's bytes back in F order; dfc decodes in C order.
        raise ValueError("dfc stores C-order chunks, got an F-order chunk (make the array with order='C')")
    return [chunk] if chunk.ndim == 3 else list(chunk)


numcodecs.registry.register_codec(DfcCodec)
