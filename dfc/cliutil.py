"""What every ``dfc`` verb shares: one-line errors, .npy loading, and output
files that appear whole or not at all."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt


class CliError(Exception):
    """A failure to report as one line and exit status 1."""


#: The path that means standard input (for inputs) or standard output (for outputs).
STDIO = "-"
NPY_MAGIC = b"\x93NUMPY"


def is_stdio(path: str | Path) -> bool:
    return str(path) == STDIO


def read_bytes(path: str | Path) -> bytes:
    """The file's bytes (standard input for "-"), or a CliError saying why not."""
    if is_stdio(path):
        return sys.stdin.buffer.read()
    path = Path(path)
    if path.is_dir():
        raise CliError(f"{path}: is a folder, not a file")
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise CliError(f"{path}: no such file") from exc
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror}") from exc


def load_npy(path: str | Path) -> npt.NDArray[Any]:
    """Load one array from a .npy file (standard input for "-"), or raise
    CliError saying why not."""
    data = read_bytes(path)
    if not data.startswith(NPY_MAGIC):
        raise CliError(f"{path}: not a .npy file (it does not start with \\x93NUMPY)")
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise CliError(f"{path}: holds Python objects, not numbers") from exc
        raise CliError(f"{path}: not a readable .npy file ({exc})") from exc
    except (OSError, EOFError) as exc:
        raise CliError(f"{path}: not a readable .npy file ({exc})") from exc
    return np.asarray(array)


def write_target(path: str | Path) -> Path:
    """Where writing to ``path`` lands (a symlink's final target, so that the
    link is written through and never replaced), or a CliError when nothing
    can be written there: an empty path, a folder, a missing folder, a
    read-only file."""
    if str(path) == "":
        raise CliError("the output path is empty")
    target = Path(os.path.realpath(path)) if Path(path).is_symlink() else Path(path)
    if target.is_dir():
        raise CliError(f"{path}: is a folder; give a file name")
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise CliError(f"{path}: no such folder {folder}")
    if target.is_file() and not target.stat().st_mode & 0o222:
        raise CliError(f"{path}: is read-only")
    return target


def check_output(path: str | Path, inputs: Sequence[str | Path] = (), overwrite: bool = True) -> None:
    """Refuse an output that is one of the inputs, or that exists when
    ``overwrite`` is False (-n); checked before any work is done."""
    if is_stdio(path):
        return
    target = write_target(path)
    if not target.exists():
        return
    for source in inputs:
        if not is_stdio(source) and Path(source).exists() and os.path.samefile(target, source):
            raise CliError(f"{path}: is also the input; write the output elsewhere")
    if not overwrite and target.is_file():
        raise CliError(f"{path}: exists (-n/--no-overwrite); remove it or use -y")


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
def atomic_output(path: str | Path, mode: str = "wb") -> Iterator[Any]:
    """Write the output of the block to ``path`` so that it appears whole or not
    at all: a regular file through a temporary file beside it, moved into place
    only if the block succeeds. "-" is standard output; a symlink is written
    through to its target; a device or FIFO is written in place."""
    if is_stdio(path):
        stream = sys.stdout.buffer if "b" in mode else sys.stdout
        yield stream
        stream.flush()
        return
    target = write_target(path)
    if target.exists() and not target.is_file():
        with open(target, mode) as handle:
            yield handle
        return
    fd, tmp = _temporary_beside(target)
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
        os.replace(tmp, target)
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
        target = write_target(path)
        fd, tmp = _temporary_beside(target)
        self._staged.append((tmp, target))
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


def figure_png(fig: Any, dpi: int = 110) -> bytes:
    """A matplotlib figure as PNG bytes; the figure is closed."""
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()


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


#: Options of the tool verbs that name an output file, an output folder, or a
#: figure: checked before any work, so that a bad target or a missing plotting
#: library fails in one line at once instead of after a long run.
OUTPUT_FILE_OPTIONS = ("json", "junit", "plot", "output")
OUTPUT_DIR_OPTIONS = ("plots", "out")
PLOT_OPTIONS = ("plot", "plots")


INPUT_OPTIONS = ("files", "stream", "input", "inputs")


def check_tool_outputs(args: argparse.Namespace) -> None:
    inputs: list[str | Path] = []
    for name in INPUT_OPTIONS:
        value = getattr(args, name, None)
        inputs += value if isinstance(value, list) else [value] if isinstance(value, (str, Path)) else []
    for name in OUTPUT_FILE_OPTIONS:
        value = getattr(args, name, None)
        if isinstance(value, (str, Path)):
            check_output(value, inputs)
    for name in OUTPUT_DIR_OPTIONS:
        value = getattr(args, name, None)
        if isinstance(value, (str, Path)) and Path(value).exists() and not Path(value).is_dir():
            raise CliError(f"{value}: is a file, not a folder")
    if any(getattr(args, name, None) is not None for name in PLOT_OPTIONS):
        try:
            import matplotlib  # noqa: F401
        except ImportError as exc:
            raise CliError("plots need matplotlib: pip install 'dfc[compare]'") from exc


def run_tool(prog: str, parser: argparse.ArgumentParser,
             run: Callable[[argparse.Namespace, list[str]], int],
             argv: list[str] | None) -> int:
    """The ``main`` of a tool verb: parse, check the outputs, then run under
    :func:`guarded`."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["--"]:  # `dfc VERB -- --option ...` passes the separator on
        args_list = args_list[1:]
    args = parser.parse_args(args_list)

    def checked() -> int:
        check_tool_outputs(args)
        return run(args, args_list)
    return guarded(prog, checked)
