"""dfc in zarr: the numcodecs codec (format 2 arrays) and the array-to-bytes codec
(format 3 arrays), with real zarr on a stack of real features.

Needs the ``zarr`` extra; .ci/run installs it, so these run in CI.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import REPO_ROOT

zarr = pytest.importorskip("zarr", reason="zarr not installed (pip install 'dfc[zarr]')")
numcodecs = pytest.importorskip("numcodecs", reason="numcodecs not installed (pip install 'dfc[zarr]')")

import dfc
from dfc.numcodecs import DfcCodec
from dfc.sequence import split_streams
from dfc.zarr import DfcArrayBytesCodec

#: The same layer (PP-OCRv4 detector, deep) of three photographs, cut to 8 channels.
PHOTOS = ("astronaut", "camera", "coffee")
METADATA = {".zarray", ".zattrs", ".zgroup", "zarr.json"}
OPTIONS = [
    {"bits": 8},
    {"bits": 6, "profile": "baseline"},
    {"bits": 10, "profile": "extended", "setting": "fast"},
]


@pytest.fixture(scope="module")
def stack() -> np.ndarray:
    """(3, 8, 12, 12) float32: real hardswish features, one tensor per photograph."""
    tensors = [np.load(REPO_ROOT / "data" / "corpus" / f"ppocrv4_det-deep-{name}.npy")[:8] for name in PHOTOS]
    return np.stack(tensors).astype(np.float32)


def streams_of(tensors: np.ndarray, **options: Any) -> list[bytes]:
    """What dfc.encode makes of each (C, H, W) tensor: the oracle for a chunk."""
    bits = options.pop("bits", 8)
    if options.get("range") is not None:
        options["range"] = tuple(options["range"])
    return [dfc.encode(x, bits, **options) for x in tensors]


def decoded(tensors: np.ndarray, **options: Any) -> np.ndarray:
    return np.stack([dfc.decode(s) for s in streams_of(tensors, **options)])


def create(path: Path, zarr_format: int, shape: tuple[int, ...], chunks: tuple[int, ...],
           dtype: str = "float32", **options: Any) -> Any:
    """A dfc array on disk: a format 2 array with the numcodecs codec as its
    compressor, or a format 3 array with the zarr 3 codec as its serializer."""
    if zarr_format == 2:
        return zarr.create_array(str(path), shape=shape, chunks=chunks, dtype=dtype, zarr_format=2,
                                 compressors=DfcCodec(**options), filters=None)
    return zarr.create_array(str(path), shape=shape, chunks=chunks, dtype=dtype, zarr_format=3,
                             serializer=DfcArrayBytesCodec(**options), compressors=None)


def chunk_files(path: Path) -> dict[tuple[int, ...], bytes]:
    """The stored chunks, by chunk index, read from the store's files."""
    found = {}
    for file in path.rglob("*"):
        if file.is_file() and file.name not in METADATA:
            key = file.relative_to(path).as_posix().removeprefix("c/").replace("/", ".")
            found[tuple(int(i) for i in key.split("."))] = file.read_bytes()
    return found


def equal_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Same shape and float32 values, bit for bit."""
    if a.dtype != np.float32 or b.dtype != np.float32:
        return False
    return np.array_equal(a.view(np.uint32), b.view(np.uint32))


# --- round trips ----------------------------------------------------------------

@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(map(str, o.values())))
@pytest.mark.parametrize("per_chunk", [1, 3])
@pytest.mark.parametrize("zarr_format", [2, 3])
def test_stack_reads_back_as_dfc_decodes_each_tensor(tmp_path: Path, stack: np.ndarray, zarr_format: int,
                                                     per_chunk: int, options: dict[str, Any]) -> None:
    create(tmp_path, zarr_format, stack.shape, (per_chunk, *stack.shape[1:]), **options)[:] = stack
    read = zarr.open_array(str(tmp_path), mode="r")[:]
    assert equal_bits(read, decoded(stack, **options))


@pytest.mark.parametrize("per_chunk", [1, 3])
@pytest.mark.parametrize("zarr_format", [2, 3])
def test_stored_chunks_are_the_tensors_dfc_streams(tmp_path: Path, stack: np.ndarray, zarr_format: int,
                                                   per_chunk: int) -> None:
    create(tmp_path, zarr_format, stack.shape, (per_chunk, *stack.shape[1:]), bits=7)[:] = stack
    expected = streams_of(stack, bits=7)
    chunks = chunk_files(tmp_path)
    assert sorted(chunks) == [(n, 0, 0, 0) for n in range(0, len(stack) // per_chunk)]
    for (n, *_), data in chunks.items():
        assert dfc.check(data) and data.startswith(b"\x89DFC")
        rows = slice(n * per_chunk, (n + 1) * per_chunk)
        members = split_streams(data)
        assert members == expected[rows]
        for member, x in zip(members, stack[rows], strict=True):
            header = dfc.decode_stream(member).header
            assert (header.shape, header.bit_depth, header.profile) == (x.shape, 7, 1)


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_one_tensor_array_is_one_stream(tmp_path: Path, stack: np.ndarray, zarr_format: int) -> None:
    x = stack[1]
    create(tmp_path, zarr_format, x.shape, x.shape)[:] = x
    assert equal_bits(zarr.open_array(str(tmp_path), mode="r")[:], decoded(x[None])[0])
    assert list(chunk_files(tmp_path).values()) == streams_of(x[None])


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_range_clips_every_chunk_to_it(tmp_path: Path, stack: np.ndarray, zarr_format: int) -> None:
    lo, hi = 0.0, 1.5
    assert dfc.outside_range(stack, (lo, hi)) > 0  # the option has something to clip
    create(tmp_path, zarr_format, stack.shape, (1, *stack.shape[1:]), range=[lo, hi])[:] = stack
    read = zarr.open_array(str(tmp_path), mode="r")[:]
    assert equal_bits(read, decoded(stack, range=(lo, hi)))
    assert read.min() == lo and read.max() == hi
    for data in chunk_files(tmp_path).values():
        header = dfc.decode_stream(data).header
        assert (header.min_value, header.max_value) == (lo, hi)


def test_numcodecs_decode_fills_out_of_any_shape(stack: np.ndarray) -> None:
    codec = DfcCodec(bits=8)
    out = np.empty(stack.size, dtype=np.float32)
    assert codec.decode(codec.encode(stack), out=out) is out
    assert equal_bits(out.reshape(stack.shape), decoded(stack))
    assert codec.decode(codec.encode(stack[0])).shape == stack[0].shape


# --- configuration --------------------------------------------------------------

@pytest.mark.parametrize("options", [*OPTIONS, {"bits": 4, "range": [-0.5, 2.25]}], ids=str)
def test_numcodecs_config_survives_json(options: dict[str, Any]) -> None:
    codec = DfcCodec(**options)
    config = json.loads(json.dumps(codec.get_config()))
    assert config["id"] == "dfc" and config["bits"] == options["bits"]
    again = numcodecs.get_codec(config)
    assert type(again) is DfcCodec and again == codec and again.get_config() == codec.get_config()


@pytest.mark.parametrize("options", [*OPTIONS, {"bits": 4, "range": [-0.5, 2.25]}], ids=str)
def test_zarr3_config_survives_json(options: dict[str, Any]) -> None:
    codec = DfcArrayBytesCodec(**options)
    described = json.loads(json.dumps(codec.to_dict()))
    assert described["name"] == "dfc" and described["configuration"]["bits"] == options["bits"]
    assert DfcArrayBytesCodec.from_dict(described) == codec
    assert zarr.registry.get_codec_class("dfc") is DfcArrayBytesCodec


def test_array_metadata_holds_the_options(tmp_path: Path, stack: np.ndarray) -> None:
    options = {"bits": 5, "profile": "baseline", "setting": "default", "range": [0.0, 2.0]}
    create(tmp_path / "v2", 2, stack.shape, (1, *stack.shape[1:]), **options)
    create(tmp_path / "v3", 3, stack.shape, (1, *stack.shape[1:]), **options)
    v2 = json.loads((tmp_path / "v2" / ".zarray").read_text())
    v3 = json.loads((tmp_path / "v3" / "zarr.json").read_text())
    assert v2["compressor"] == {"id": "dfc", **options}
    assert v3["codecs"] == [{"name": "dfc", "configuration": options}]


BAD_OPTIONS = [
    ({"bits": 0}, "bits must be in 1..16"),
    ({"bits": 8.0}, "bits must be an integer"),
    ({"profile": "main"}, "profile must be one of"),
    ({"setting": "slow"}, "setting must be one of"),
    ({"profile": "baseline", "setting": "fast"}, "baseline profile has no setting"),
    ({"range": [2.0, 1.0]}, "lo above hi"),
    ({"range": [0.0]}, "range must be two numbers"),
]


@pytest.mark.parametrize(("options", "message"), BAD_OPTIONS, ids=[m for _, m in BAD_OPTIONS])
@pytest.mark.parametrize("codec", [DfcCodec, DfcArrayBytesCodec])
def test_bad_options_fail_when_the_codec_is_made(codec: type, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        codec(**options)


# --- chunks that are not whole float32 tensors ------------------------------------------

def one_line(error: pytest.ExceptionInfo[ValueError]) -> str:
    text = str(error.value)
    assert "\n" not in text
    return text


@pytest.mark.parametrize("zarr_format", [2, 3])
@pytest.mark.parametrize("chunks", [(8, 144), (1, 1, 8, 12, 12)], ids=["2-D", "5-D"])
def test_chunk_that_is_not_tensors_is_one_value_error(tmp_path: Path, stack: np.ndarray, zarr_format: int,
                                                      chunks: tuple[int, ...]) -> None:
    shape = (24, 144) if len(chunks) == 2 else (1, *stack.shape)
    values = stack.reshape(shape)
    with pytest.raises(ValueError, match="whole tensors") as error:
        # Format 3 refuses the array when it is made, format 2 the chunk when it is written.
        create(tmp_path, zarr_format, shape, chunks)[:] = values
    assert f"got shape {chunks}" in one_line(error)


@pytest.mark.parametrize(("flat", "size"), [(np.ravel, 1152), (np.ndarray.tobytes, 4608)], ids=["ravel", "bytes"])
def test_numcodecs_refuses_a_flat_buffer(stack: np.ndarray, flat: Any, size: int) -> None:
    with pytest.raises(ValueError, match=rf"got shape \({size},\)") as error:
        DfcCodec().encode(flat(stack[0]))
    one_line(error)


@pytest.mark.parametrize("zarr_format", [2, 3])
def test_non_float32_array_is_one_value_error(tmp_path: Path, stack: np.ndarray, zarr_format: int) -> None:
    with pytest.raises(ValueError, match="float32") as error:
        create(tmp_path, zarr_format, stack.shape, (1, *stack.shape[1:]), dtype="float64")[:] = stack
    assert "float64" in one_line(error)


def test_format2_refuses_f_order_chunks(tmp_path: Path, stack: np.ndarray) -> None:
    # Format 2 reads an F-order chunk's bytes back in F order: a C-order stream would come back transposed.
    z = zarr.create_array(str(tmp_path), shape=stack.shape, chunks=(1, *stack.shape[1:]), dtype="float32",
                          zarr_format=2, compressors=DfcCodec(), filters=None, order="F")
    with pytest.raises(ValueError, match="F-order") as error:
        z[:] = stack
    one_line(error)


def test_decode_refuses_streams_of_different_shapes(stack: np.ndarray) -> None:
    data = dfc.encode(stack[0]) + dfc.encode(stack[1, :4])
    with pytest.raises(ValueError, match="different shapes"):
        DfcCodec().decode(data)


def test_zarr3_refuses_a_chunk_of_the_wrong_shape(tmp_path: Path, stack: np.ndarray) -> None:
    create(tmp_path, 3, stack.shape, (1, *stack.shape[1:]))[:] = stack
    (tmp_path / "c" / "0" / "0" / "0" / "0").write_bytes(dfc.encode(stack[0, :4]))
    with pytest.raises(ValueError, match=r"decodes to shape \(4, 12, 12\), the array's chunks are \(1, 8, 12, 12\)"):
        zarr.open_array(str(tmp_path), mode="r")[0]


# --- registration through entry points -------------------------------------------

ENTRY_POINTS = {"numcodecs.codecs": ("dfc.numcodecs:DfcCodec", DfcCodec),
                "zarr.codecs": ("dfc.zarr:DfcArrayBytesCodec", DfcArrayBytesCodec)}


def declared_entry_points() -> dict[str, dict[str, str]]:
    import tomllib  # Python >= 3.11, as zarr 3 is

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    return {group: dict(project["entry-points"][group]) for group in ENTRY_POINTS}


def test_pyproject_entry_points_name_the_codecs() -> None:
    declared = declared_entry_points()
    for group, (target, cls) in ENTRY_POINTS.items():
        assert declared[group] == {"dfc": target}
        module, _, name = target.partition(":")
        assert getattr(importlib.import_module(module), name) is cls


def test_installed_entry_points_are_the_declared_ones() -> None:
    """An installed dfc (as CI tests it) carries pyproject's entry points; a
    checkout run without installing has none, and the next test makes its own."""
    try:
        importlib.metadata.distribution("dfc")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("dfc is not installed: no installed entry points to check")
    for group, names in declared_entry_points().items():
        installed = {ep.name: ep.value for ep in importlib.metadata.entry_points(group=group) if ep.name == "dfc"}
        assert installed == names


READER = """
import sys
import numcodecs, numpy as np, zarr
assert not any(m == "dfc" or m.startswith("dfc.") for m in sys.modules), "dfc imported early"
codec = numcodecs.get_codec({"id": "dfc", "bits": 6, "range": [0, 2]})
assert (type(codec).__module__, codec.bits, codec.range) == ("dfc.numcodecs", 6, [0.0, 2.0]), codec
for fmt in ("v2", "v3"):
    np.save(sys.argv[1] + f"/{fmt}.npy", zarr.open_array(sys.argv[1] + f"/{fmt}", mode="r")[:])
"""


def test_codecs_are_found_through_entry_points_without_importing_dfc(tmp_path: Path, stack: np.ndarray) -> None:
    """A fresh interpreter that never imports dfc reads both formats: numcodecs
    and zarr load the codecs from the entry points (pyproject's, written into a
    dist-info folder here, so that a checkout that is not installed is tested
    the same way)."""
    dist_info = tmp_path / "site" / "dfc_entry_points-0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: dfc-entry-points\nVersion: 0\n")
    (dist_info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{name} = {target}\n" for name, target in names.items())
        for group, names in declared_entry_points().items()))
    for fmt, zarr_format in (("v2", 2), ("v3", 3)):
        create(tmp_path / fmt, zarr_format, stack.shape, (1, *stack.shape[1:]), bits=6)[:] = stack
    dfc_root = Path(dfc.__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(dfc_root)])}
    proc = subprocess.run([sys.executable, "-c", READER, str(tmp_path)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    for fmt in ("v2", "v3"):
        assert equal_bits(np.load(tmp_path / f"{fmt}.npy"), decoded(stack, bits=6))
