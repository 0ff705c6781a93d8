"""What every ``dfc`` verb shares: one-line errors, .npy loading, and output
files that appear whole or not at all."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt


class CliError(Exception):
    """A failure to report as one line and exit status 1."""


def load_npy(path: Path) -> npt.NDArray[Any]:
    """Load one array from a .npy file, or raise CliError saying why not."""
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError as exc:
        raise CliError(f"{path}: no such file") from exc
    except (ValueError, OSError) as exc:
        raise CliError(f"{path}: not a readable .npy file ({exc})") from exc
    if not isinstance(array, np.ndarray):
        raise CliError(f"{path}: not a single array")
    return array


def read_bytes(path: Path) -> bytes:
    """The file's bytes, or a CliError saying why not."""
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise CliError(f"{path}: no such file") from exc
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror}") from exc


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _temporary_beside(path: Path) -> tuple[int, str]:
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=directory)
    except OSError as exc:
        raise CliError(f"{path}: cannot write there ({exc.strerror})") from exc
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual mode
    return fd, tmp


@contextlib.contextmanager
def atomic_output(path: Path, mode: str = "wb") -> Iterator[Any]:
    """Write to a temporary file beside ``path`` and move it into place only if
    the block succeeds, so a failed command leaves no partial output."""
    fd, tmp = _temporary_beside(path)
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


_Staged = TypeVar("_Staged", bound="StagedFiles")


class StagedFiles:
    """Write several output files so that either all appear or none does.

    Each file is written to a temporary name beside its target; :meth:`commit`
    moves them all into place, and leaving the ``with`` block without commit
    (an exception) removes the temporaries.
    """

    def __init__(self) -> None:
        self._staged: list[tuple[str, Path]] = []

    def __enter__(self: _Staged) -> _Staged:
        return self

    def __exit__(self, *exc: object) -> None:
        for tmp, _ in self._staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        self._staged.clear()

    def write_bytes(self, path: Path, data: bytes) -> None:
        fd, tmp = _temporary_beside(path)
        self._staged.append((tmp, path))
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)

    def write_text(self, path: Path, text: str) -> None:
        self.write_bytes(path, text.encode("utf-8"))

    def write_json(self, path: Path, report: object) -> None:
        self.write_text(path, json.dumps(report, indent=1) + "\n")

    def commit(self) -> None:
        for tmp, path in self._staged:
            os.replace(tmp, path)
        self._staged.clear()


def write_json(path: Path, report: object) -> None:
    """Write one JSON report, whole or not at all, and say where."""
    with StagedFiles() as staged:
        staged.write_json(path, report)
        staged.commit()
    print(f"wrote {path}")


def guarded(prog: str, call: Callable[[], int]) -> int:
    """Run a verb: CliError becomes one line on standard error and exit status 1;
    an interrupt 130; a closed output pipe (``| head``) ends quietly with 141."""
    try:
        return call()
    except CliError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (left open for interpreter exit)
        return 141


def run_tool(prog: str, parser: argparse.ArgumentParser,
             run: Callable[[argparse.Namespace, list[str]], int],
             argv: list[str] | None) -> int:
    """The ``main`` of a tool verb: parse, then run under :func:`guarded`."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["--"]:  # `dfc VERB -- --option ...` passes the separator on
        args_list = args_list[1:]
    args = parser.parse_args(args_list)
    return guarded(prog, lambda: run(args, args_list))
