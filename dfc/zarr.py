"""dfc as a zarr format 3 array-to-bytes codec (a "serializer").

    >>> import zarr
    >>> from dfc.zarr import DfcArrayBytesCodec
    >>> z = zarr.create_array({}, shape=(3, 8, 12, 12), chunks=(1, 8, 12, 12), dtype="float32",
    ...                       serializer=DfcArrayBytesCodec(bits=8), compressors=None)

Each chunk is whole tensors: a chunk shape of (C, H, W), or (N, C, H, W) for N
tensors stored as N streams one after another (dfc.sequence); the array's
dtype is float32. Both are checked when the array is made, with one
ValueError naming what is wrong. ``compressors=None`` keeps zarr's default
zstd from recompressing the streams, which makes them longer and hides the dfc
magic. The coding is the numcodecs codec's (dfc.numcodecs.DfcCodec), so a
format 2 array and a format 3 array store the same streams.

Importing this module registers the codec under the name ``"dfc"``; an
installed dfc also registers it through the ``zarr.codecs`` entry point, so
zarr opens such an array without an import.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
from zarr.abc.codec import ArrayBytesCodec
from zarr.core.chunk_grids import RegularChunkGrid
from zarr.core.common import JSON, parse_named_configuration
from zarr.registry import register_codec

import dfc

from .numcodecs import CHUNK_DTYPE, DfcCodec, chunk_shape_error

if TYPE_CHECKING:
    from collections.abc import Sequence

    from typing_extensions import Self
    from zarr.core.array_spec import ArraySpec
    from zarr.core.buffer import Buffer, NDBuffer
    from zarr.core.chunk_grids import ChunkGrid
    from zarr.core.dtype.wrapper import TBaseDType, TBaseScalar, ZDType

#: The codec's name in zarr.json and in zarr's registry.
CODEC_NAME = "dfc"


@dataclass(frozen=True)
class DfcArrayBytesCodec(ArrayBytesCodec):
    """zarr 3 codec ``"dfc"``: each (C, H, W) tensor of a chunk becomes one dfc
    stream; the options are dfc.encode's (``range`` None or (lo, hi))."""

    is_fixed_size = False

    bits: int
    profile: str
    setting: str
    range: tuple[float, float] | None

    def __init__(self, *, bits: int = 8, profile: str = dfc.DEFAULT_PROFILE, setting: str = "default",
                 range: Sequence[float] | None = None) -> None:  # noqa: A002 (dfc.encode's word)
        checked = DfcCodec(bits=bits, profile=profile, setting=setting, range=range)
        object.__setattr__(self, "bits", checked.bits)
        object.__setattr__(self, "profile", checked.profile)
        object.__setattr__(self, "setting", checked.setting)
        # A tuple: the dataclass is frozen and hashed.
        object.__setattr__(self, "range", None if checked.range is None else tuple(checked.range))

    @classmethod
    def from_dict(cls, data: dict[str, JSON]) -> Self:
        """The codec that ``to_dict`` describes (zarr.json's ``codecs`` entry)."""
        _, configuration = parse_named_configuration(data, CODEC_NAME, require_configuration=False)
        options: dict[str, Any] = dict(configuration or {})  # checked by __init__
        return cls(**options)

    def to_dict(self) -> dict[str, JSON]:
        """``{"name": "dfc", "configuration": {bits, profile, setting, range}}``."""
        config: dict[str, Any] = self._numcodec.get_config()
        del config["id"]
        return {"name": CODEC_NAME, "configuration": config}

    @cached_property
    def _numcodec(self) -> DfcCodec:
        return DfcCodec(bits=self.bits, profile=self.profile, setting=self.setting, range=self.range)

    def validate(self, *, shape: tuple[int, ...], dtype: ZDType[TBaseDType, TBaseScalar],
                 chunk_grid: ChunkGrid) -> None:
        """A float32 array whose chunks are whole tensors; else one ValueError."""
        if dtype.to_native_dtype() != CHUNK_DTYPE:
            raise ValueError(f"dfc stores float32 arrays (it decodes to float32), got dtype {dtype.to_native_dtype()}")
        if isinstance(chunk_grid, RegularChunkGrid) and len(chunk_grid.chunk_shape) not in (3, 4):
            raise chunk_shape_error(chunk_grid.chunk_shape)

    def compute_encoded_size(self, input_byte_length: int, chunk_spec: ArraySpec) -> int:
        raise NotImplementedError("dfc streams vary in size")

    def _encode_sync(self, chunk_array: NDBuffer, chunk_spec: ArraySpec) -> Buffer | None:
        # Logical C order: a format 3 chunk's memory order is zarr's business, not the stream's.
        chunk = np.ascontiguousarray(chunk_array.as_numpy_array())
        return chunk_spec.prototype.buffer.from_bytes(self._numcodec.encode(chunk))

    def _decode_sync(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> NDBuffer:
        values = self._numcodec.decode(chunk_bytes.as_numpy_array())
        if values.shape != chunk_spec.shape and (1, *values.shape) != chunk_spec.shape:
            raise ValueError(f"a dfc chunk decodes to shape {values.shape}, the array's chunks are {chunk_spec.shape}")
        return chunk_spec.prototype.nd_buffer.from_numpy_array(values.reshape(chunk_spec.shape))

    async def _encode_single(self, chunk_array: NDBuffer, chunk_spec: ArraySpec) -> Buffer | None:
        return await asyncio.to_thread(self._encode_sync, chunk_array, chunk_spec)

    async def _decode_single(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> NDBuffer:
        return await asyncio.to_thread(self._decode_sync, chunk_bytes, chunk_spec)


register_codec(CODEC_NAME, DfcArrayBytesCodec)
