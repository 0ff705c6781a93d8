"""Every verb against every kind of output target: a bad one fails in one line
and leaves everything as it was; a symlink is written through, a FIFO in place;
"-" is standard input and output."""

from __future__ import annotations

import importlib.util
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import dfc
from dfc.cli import main

Argv = Callable[[Path, Path, str], list[str]]

#: verb -> argv for (tensor .npy, stream .dfc, output target)
VERBS: dict[str, Argv] = {
    "encode": lambda x, s, out: ["encode", str(x), out],
    "decode": lambda x, s, out: ["decode", str(s), out],
    "trace": lambda x, s, out: ["trace", str(s), "-o", out],
    "trace --bins": lambda x, s, out: ["trace", "--bins", str(s), "-o", out],
    "analyze --json": lambda x, s, out: ["analyze", str(x), "--no-image", "--json", out],
    "compare --json": lambda x, s, out: ["compare", str(x), "--json", out],
    "speed --json": lambda x, s, out: ["speed", str(x), "--json", out],
}
if all(importlib.util.find_spec(m) for m in ("torch", "pytorch_msssim", "efficientnet_lite_pytorch")):
    VERBS["reconstruct describe --json"] = lambda x, s, out: ["reconstruct", "describe", "--json", out]

#: the input each verb reads, to point its output at
INPUT_OF = {"encode": "x", "decode": "s", "trace": "s", "trace --bins": "s"}


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    x = np.random.default_rng(3).normal(size=(2, 5, 6)).astype(np.float32)
    tensor, stream = tmp_path / "x.npy", tmp_path / "x.dfc"
    np.save(tensor, x)
    stream.write_bytes(dfc.encode(x, 8))
    return tensor, stream


def _snapshot(folder: Path) -> dict[str, bytes | str]:
    """Every entry under ``folder``: a file's bytes, a link's target, a folder's mode."""
    out: dict[str, bytes | str] = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        if path.is_symlink():
            out[key] = "link -> " + os.readlink(path)
        elif path.is_file():
            out[key] = path.read_bytes()
        else:
            out[key] = f"mode {stat.S_IMODE(path.stat().st_mode):o}"
    return out


def _bad_target(kind: str, tmp_path: Path, files: tuple[Path, Path], verb: str) -> str:
    if kind == "missing folder":
        return str(tmp_path / "missing" / "out")
    if kind == "existing folder":
        return str(tmp_path)
    if kind == "empty path":
        return ""
    if kind == "read-only file":
        target = tmp_path / "locked"
        target.write_bytes(b"keep me")
        target.chmod(0o444)
        return str(target)
    if kind == "input":
        tensor, stream = files
        return str(tensor if INPUT_OF.get(verb, "x") == "x" else stream)
    raise AssertionError(kind)


KINDS = ["missing folder", "existing folder", "empty path", "read-only file", "input"]
#: verbs that read no input: their output may be any file
READ_NOTHING = {"reconstruct describe --json"}


@pytest.mark.parametrize("verb, kind", [(verb, kind) for verb in sorted(VERBS) for kind in KINDS
                                        if not (kind == "input" and verb in READ_NOTHING)])
def test_a_bad_target_fails_in_one_line_and_changes_nothing(
        verb: str, kind: str, tmp_path: Path, files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    target = _bad_target(kind, tmp_path, files, verb)
    before = _snapshot(tmp_path)
    assert main(VERBS[verb](*files, target)) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "error:" in err and "Traceback" not in err
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("verb", ["encode", "decode", "trace", "trace --bins"])
def test_a_symlink_is_written_through(verb: str, tmp_path: Path, files: tuple[Path, Path]) -> None:
    real = tmp_path / "real.out"
    link = tmp_path / "link.out"
    link.symlink_to(real.name)
    assert main(VERBS[verb](*files, str(link))) == 0
    assert link.is_symlink() and os.readlink(link) == real.name
    assert real.is_file() and real.stat().st_size > 0


@pytest.mark.parametrize("verb", ["encode", "decode", "trace"])
def test_a_fifo_is_written_in_place(verb: str, tmp_path: Path, files: tuple[Path, Path]) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    assert main(VERBS[verb](*files, str(fifo))) == 0
    reader.join(timeout=30)
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert received and received[0]


def test_no_overwrite_refuses_and_overwrite_replaces(tmp_path: Path, files: tuple[Path, Path],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.dfc"
    out.write_bytes(b"old")
    assert main(["encode", str(files[0]), str(out), "-n"]) == 1
    assert "exists" in capsys.readouterr().err and out.read_bytes() == b"old"
    assert main(["encode", str(files[0]), str(out), "-y"]) == 0
    assert out.read_bytes() == files[1].read_bytes()


def _dfc(*args: str, data: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    # from the folder of the dfc under test: `python -m` puts the working folder
    # first on sys.path, where a checkout would shadow an installed dfc
    home = Path(dfc.__file__).resolve().parent.parent
    return subprocess.run([sys.executable, "-m", "dfc", *args], input=data, capture_output=True, check=False,
                          cwd=home)


def test_encode_to_a_pipe_and_decode_from_it(tmp_path: Path, files: tuple[Path, Path]) -> None:
    tensor, stream = files
    encoded = _dfc("encode", str(tensor), "-")
    assert encoded.returncode == 0 and encoded.stdout == stream.read_bytes()
    decoded = _dfc("decode", "-", str(tmp_path / "y.npy"), data=encoded.stdout)
    assert decoded.returncode == 0
    assert np.array_equal(np.load(tmp_path / "y.npy"), dfc.decode(stream.read_bytes()))
    npy = _dfc("decode", str(stream), "-")
    assert npy.stdout.startswith(b"\x93NUMPY")


def test_sequences_from_several_inputs_and_a_4d_array(tmp_path: Path) -> None:
    frames = np.random.default_rng(4).normal(size=(3, 2, 5, 6)).astype(np.float32)
    np.save(tmp_path / "batch.npy", frames)
    for n in range(3):
        np.save(tmp_path / f"f{n}.npy", frames[n])
    assert main(["encode", str(tmp_path / "batch.npy"), str(tmp_path / "a.dfc"), "-q"]) == 0
    assert main(["encode", *(str(tmp_path / f"f{n}.npy") for n in range(3)), str(tmp_path / "b.dfc"), "-q"]) == 0
    data = (tmp_path / "a.dfc").read_bytes()
    assert data == (tmp_path / "b.dfc").read_bytes() == dfc.encode_many(frames, 8)
    assert main(["decode", str(tmp_path / "a.dfc"), str(tmp_path / "y.npy"), "-q"]) == 0
    assert np.array_equal(np.load(tmp_path / "y.npy"), dfc.decode_many(data))
    assert np.load(tmp_path / "y.npy").shape == (3, 2, 5, 6)


def test_info_lists_a_sequence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frames = np.random.default_rng(5).normal(size=(2, 1, 4, 4)).astype(np.float32)
    (tmp_path / "s.dfc").write_bytes(dfc.encode_many(frames, 6))
    assert main(["info", str(tmp_path / "s.dfc")]) == 0
    out = capsys.readouterr().out
    assert "a sequence of 2 dfc streams" in out and out.count("1 x 4 x 4, 6-bit") == 2


def test_encode_range_counts_the_clipped_values(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    x = np.array([-1.0, 0.0, 3.0, 6.0, 7.0, 2.0], np.float32).reshape(1, 2, 3)
    np.save(tmp_path / "x.npy", x)
    assert main(["encode", str(tmp_path / "x.npy"), str(tmp_path / "x.dfc"), "--range", "0", "6", "--json"]) == 0
    import json

    report = json.loads(capsys.readouterr().out)
    assert report["clipped"] == 2 and report["range"] == [0.0, 6.0]
    header = dfc.decode_stream((tmp_path / "x.dfc").read_bytes()).header
    assert (header.min_value, header.max_value) == (0.0, 6.0)


@pytest.mark.parametrize(("content", "message"), [
    (b"hello", "not a .npy file"),
    (None, "holds Python objects"),
])
def test_unreadable_inputs_say_why(tmp_path: Path, content: bytes | None, message: str,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.npy"
    if content is None:
        np.save(bad, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    else:
        bad.write_bytes(content)
    assert main(["encode", str(bad), str(tmp_path / "o.dfc")]) == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_float64_beyond_float32_is_one_line_without_warnings(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    np.save(tmp_path / "big.npy", np.full((1, 2, 2), 1e300))
    assert main(["encode", str(tmp_path / "big.npy"), str(tmp_path / "o.dfc")]) == 1
    err = capsys.readouterr().err
    assert "beyond the float32 range" in err and len(err.strip().splitlines()) == 1
