"""``dfc batch``: code every .npy tensor of a folder into a .dfc stream (with
--decode, every .dfc stream back into a float32 .npy), in parallel, resumably.

    dfc batch features/ streams/                       # threads, one per CPU
    dfc batch features/ streams/ -r --bits 6 --json report.json
    dfc batch features/ streams/ --scheduler local:4   # a local Dask cluster, 4 worker processes
    dfc batch features/ streams/ --scheduler tcp://10.0.0.5:8786
    dfc batch --decode streams/ restored/

Each input IN_DIR/REL.npy becomes OUT_DIR/REL.dfc (-r: also in subfolders,
keeping their relative paths), coded as ``dfc encode`` codes it: a (C, H, W)
tensor as ``dfc.encode(x, bits, profile=..., setting=..., range=...)``, an
(N, C, H, W) array as a sequence of N streams (``dfc.encode_many``, SPEC §3.6).
--decode writes what ``dfc decode`` writes: float32 (C, H, W), or (N, C, H, W)
for a sequence of several streams.

Where the work runs. By default on a pool of --workers threads in this process:
dfc.fast codes with the GIL released, so threads scale with cores. With
--scheduler, on a Dask cluster through ``dask.distributed.Client``: ADDRESS is
any scheduler address the Client takes (``tcp://host:8786``), and ``local:N``
starts a ``LocalCluster`` of N worker processes of one thread each here
(``local`` alone: one per CPU). Workers load the inputs and write the outputs
themselves, so they must import the same dfc and see IN_DIR and OUT_DIR at the
same absolute paths (a shared filesystem); only file names and small results
travel through the scheduler. Dask is imported only with --scheduler.

Resuming. An existing output is kept, not re-coded, when it verifies, which
costs reading it and the input's header(s), never a decode or a load of the
input:

* encoding: the output is not older than the input (mtime); every stream in it
  has a header that parses (SPEC §3.3) and the length and CRC-32 it announces
  (SPEC §3.4); they are as many, and of the shape, as the input's .npy header
  says; their bit depth, profile, setting (extended) and, with --range,
  min_value and max_value are the ones asked for. A stream coded with --range
  cannot be told from one coded without it (that needs the input's extremes):
  after changing --range alone, use --force.
* decoding: the output is not older than the input; it is a float32 .npy of
  the shape the stream headers give, whose size is its header plus its data.

Anything else (missing, older, truncated, corrupted, other options) is coded
again; --force codes everything. Outputs are written to a temporary file beside
them and renamed into place, so an interrupted or failed run leaves whole
outputs or none; even a stream damaged by a power cut (nothing is fsynced)
fails the CRC check and is coded again on the next run.

A file that cannot be coded (not a .npy, not 3-D or 4-D, NaN ...) is reported on
standard error with its one-line reason and the run exits 1; the others are
coded all the same. --json writes every file's result and the totals.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shlex
import sys
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, replace
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dfc.cliutil import CliError, atomic_output, load_npy, run_tool, write_json

if TYPE_CHECKING:
    from dfc.reference.header import Header

PROG = "dfc batch"


class BatchError(CliError):
    """A failure reported as one line with exit status 1."""


@dataclass(frozen=True)
class Options:
    """What every job does: decode, or encode with these dfc.encode arguments."""

    decode: bool = False
    bits: int = 8
    profile: str = "extended"
    setting: str = "default"
    range: tuple[float, float] | None = None
    force: bool = False


@dataclass(frozen=True)
class Job:
    """One file to code; the paths are absolute so that any worker can use them."""

    src: str
    dst: str
    name: str  # the input, relative to IN_DIR
    out_name: str  # the output, relative to OUT_DIR
    options: Options


@dataclass(frozen=True)
class Result:
    """What became of one job; status is "coded", "skipped" (verified) or "failed"."""

    input: str
    output: str
    status: str
    shape: tuple[int, ...] | None = None
    values: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    seconds: float = 0.0
    error: str | None = None

    @classmethod
    def failure(cls, job: Job, error: str) -> Result:
        return cls(job.name, job.out_name, "failed", error=error)


# --------------------------------------------------------------------------
# One job: runs on a thread here or on a Dask worker, and never raises.


def process(job: Job) -> Result:
    """Code one file unless its output verifies; any failure becomes a Result."""
    start = time.perf_counter()
    try:
        kept = None if job.options.force else verified(job)
        result = kept if kept is not None else (decode_file(job) if job.options.decode else encode_file(job))
    except Exception as exc:  # noqa: BLE001 (reported per file, never swallowed)
        return Result.failure(job, one_line(exc, job.src))
    return replace(result, seconds=time.perf_counter() - start)


def one_line(exc: BaseException, path: str = "") -> str:
    """The exception as one line, without the leading path that the report
    gives already; with its type unless it is an expected kind."""
    text = " ".join(str(exc).split()).removeprefix(f"{path}: ") or type(exc).__name__
    return text if isinstance(exc, (ValueError, OSError, CliError)) else f"{type(exc).__name__}: {text}"


def read_file(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def encode_file(job: Job) -> Result:
    import dfc

    x = load_npy(job.src)
    o = job.options
    # (N, C, H, W): a sequence of N streams (SPEC §3.6), as dfc encode makes of it
    coder = dfc.encode_many if x.ndim == 4 else dfc.encode
    stream = coder(x, o.bits, profile=o.profile, setting=o.setting, range=o.range)
    write_atomically(job.dst, stream)
    return Result(job.name, job.out_name, "coded", tuple(x.shape), int(x.size), os.path.getsize(job.src),
                  len(stream))


def decode_file(job: Job) -> Result:
    import dfc

    stream = read_file(job.src)
    floats = dfc.decode_many(stream)  # (N, C, H, W); one member gives (C, H, W), as dfc decode does
    if len(floats) == 1:
        floats = floats[0]
    npy = io.BytesIO()
    np.save(npy, floats, allow_pickle=False)
    write_atomically(job.dst, npy.getvalue())
    return Result(job.name, job.out_name, "coded", tuple(floats.shape), int(floats.size), len(stream),
                  len(npy.getvalue()))


def write_atomically(path: str, data: bytes) -> None:
    """A temporary file beside ``path``, renamed into place once whole."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(target) as out:
        out.write(data)


# --------------------------------------------------------------------------
# Resuming: the cheap checks that let an existing output stand (module docstring).


def verified(job: Job) -> Result | None:
    """A "skipped" Result if the job's output exists and verifies, else None."""
    try:
        if os.stat(job.dst).st_mtime_ns < os.stat(job.src).st_mtime_ns:
            return None
        return kept_npy(job) if job.options.decode else kept_stream(job)
    except (OSError, ValueError, EOFError):
        return None  # missing or unreadable: code it (and report why if that fails)


def npy_header(path: str) -> tuple[tuple[int, ...], np.dtype[Any], int]:
    """Shape, dtype and data offset of a .npy file, from its header alone."""
    array = np.load(path, mmap_mode="r", allow_pickle=False)
    if not isinstance(array, np.memmap):
        raise ValueError("not a .npy file")
    return tuple(array.shape), array.dtype, int(array.offset)


def member_headers(data: bytes, check_crc: bool) -> list[Header]:
    """The header of each stream of a sequence (one stream is a sequence of one,
    SPEC §3.6), each stream's length and CRC-32 checked if asked (SPEC §3.4)."""
    from dfc.reference.header import check_framing, read_header
    from dfc.sequence import member_bounds

    headers = []
    for start, end in member_bounds(data):
        headers.append(read_header(data[start:end]))
        if check_crc:
            check_framing(data[start:end], headers[-1])
    return headers


def kept_stream(job: Job) -> Result | None:
    from dfc.reference.tables import PROFILE_BASELINE, PROFILE_EXTENDED, SETTING_FAST, SETTING_MIXING

    shape, _, _ = npy_header(job.src)
    stream = read_file(job.dst)
    headers = member_headers(stream, check_crc=True)
    o = job.options
    if o.profile == "extended":
        wanted = (PROFILE_EXTENDED, SETTING_FAST if o.setting == "fast" else SETTING_MIXING)
    else:
        wanted = (PROFILE_BASELINE, 0)
    members = [shape[1:]] * shape[0] if len(shape) == 4 else [shape]
    if [h.shape for h in headers] != members:
        return None
    for h in headers:
        if (h.bit_depth, h.profile, h.setting if h.profile == PROFILE_EXTENDED else 0) != (o.bits, *wanted):
            return None
        if o.range is not None and (h.min_value, h.max_value) != o.range:
            return None
    return Result(job.name, job.out_name, "skipped", shape, int(np.prod(shape)), os.path.getsize(job.src),
                  len(stream))


def kept_npy(job: Job) -> Result | None:
    stream = read_file(job.src)
    members = [h.shape for h in member_headers(stream, check_crc=False)]
    wanted = (len(members), *members[0]) if len(members) > 1 else members[0]
    shape, dtype, offset = npy_header(job.dst)
    size = os.path.getsize(job.dst)
    if shape != wanted or dtype != np.float32 or size != offset + 4 * int(np.prod(shape)):
        return None
    return Result(job.name, job.out_name, "skipped", shape, int(np.prod(shape)), len(stream), size)


# --------------------------------------------------------------------------
# Where the jobs run.


#: Jobs submitted ahead of the ones running: enough to keep every worker busy,
#: few enough that a million files never make a million futures at once.
THREADS_AHEAD = 4  # per thread
DASK_AHEAD = 1000  # per cluster, which may grow


@dataclass
class Pool:
    """A place to run jobs: its name for the report, and a generator that runs
    them and yields their results as they complete (closing it cancels the
    jobs not started)."""

    label: str
    run: Callable[[list[Job]], Generator[Result, None, None]]


def thread_pool(workers: int) -> Pool:
    def run(jobs: list[Job]) -> Generator[Result, None, None]:
        waiting = iter(jobs)
        # Leaving early (Ctrl-C) cancels the jobs not started; the pool's exit
        # waits for the running ones, which finish writing whole files.
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dfc-batch") as executor:
            running = {executor.submit(process, job) for job in islice(waiting, THREADS_AHEAD * workers)}
            try:
                while running:
                    done, running = wait(running, return_when=FIRST_COMPLETED)
                    running |= {executor.submit(process, job) for job in islice(waiting, len(done))}
                    for future in done:
                        yield future.result()
            finally:
                for future in running:
                    future.cancel()

    return Pool(f"{workers} thread{'s' if workers != 1 else ''}", run)


def local_workers(scheduler: str) -> int | None:
    """N of ``local:N`` (``local``: the CPU count), None for a scheduler address."""
    if scheduler != "local" and not scheduler.startswith("local:"):
        return None
    count = scheduler.partition(":")[2]
    if not count:
        return cpu_count()
    if not count.isdigit() or int(count) < 1:
        raise BatchError(f"--scheduler {scheduler}: expected local:N with N a positive whole number")
    return int(count)


@contextlib.contextmanager
def dask_pool(scheduler: str) -> Iterator[Pool]:
    """A Client of the cluster at ``scheduler``, or of a LocalCluster it starts."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:
        raise BatchError(f"--scheduler needs dask.distributed ({exc}); pip install 'dfc[dask]'") from exc
    workers = local_workers(scheduler)
    with contextlib.ExitStack() as stack:
        try:
            if workers is not None:
                cluster = stack.enter_context(LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None))
                client = stack.enter_context(Client(cluster))
            else:
                client = stack.enter_context(Client(scheduler))
        except (OSError, TimeoutError, ValueError, RuntimeError) as exc:
            raise BatchError(f"--scheduler {scheduler}: cannot start or reach the cluster ({one_line(exc)})") from exc
        where = "a local Dask cluster" if workers is not None else f"the Dask cluster at {scheduler}"
        count = check_workers(client)
        yield Pool(f"{where}, {count} worker{'s' if count != 1 else ''}", lambda jobs: on_dask(client, jobs))


def worker_dfc() -> str:
    """Run on every worker: its dfc's version and backend. Importing dfc there
    now keeps the import out of the first jobs' time."""
    import dfc

    return dfc.version()


def check_workers(client: Any) -> int:
    """How many workers there are; a warning if their dfc is not this one (a
    worker on the reference backend codes about a thousand times slower)."""
    import dfc

    try:
        versions: dict[str, str] = client.run(worker_dfc)
    except Exception as exc:  # noqa: BLE001 (whatever fails there: dfc missing, a worker gone)
        raise BatchError(f"the Dask workers cannot run dfc ({one_line(exc)}); install the same dfc there") from exc
    others = sorted(set(versions.values()) - {dfc.version()})
    if others:
        print(f"{PROG}: warning: Dask workers run dfc {', '.join(others)}; this dfc is {dfc.version()}",
              file=sys.stderr)
    return len(versions)


def on_dask(client: Any, jobs: list[Job]) -> Generator[Result, None, None]:
    from dask.distributed import as_completed as dask_completed

    waiting = iter(jobs)
    job_of: dict[Any, Job] = {}  # the futures not yet reported

    def submit(job: Job) -> Any:
        future = client.submit(process, job, pure=False)
        job_of[future] = job
        return future

    completed = dask_completed([submit(job) for job in islice(waiting, DASK_AHEAD)])
    try:
        for future in completed:
            for job in islice(waiting, 1):
                completed.add(submit(job))
            job = job_of.pop(future)
            try:
                result: Result = future.result()
            except Exception as exc:  # noqa: BLE001 (a lost worker: this file failed, the rest go on)
                result = Result.failure(job, f"the Dask task failed: {one_line(exc)}")
            yield result
    finally:
        completed.clear()
        client.cancel(list(job_of))


def cpu_count() -> int:
    """The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


# --------------------------------------------------------------------------
# The run: find the files, run the jobs, report.


def find_jobs(in_dir: Path, out_dir: Path, options: Options, recursive: bool) -> list[Job]:
    suffix, out_suffix = (".dfc", ".npy") if options.decode else (".npy", ".dfc")
    pattern = f"**/*{suffix}" if recursive else f"*{suffix}"
    files = sorted(p for p in in_dir.glob(pattern) if p.is_file())
    root, out_root = in_dir.resolve(), out_dir.resolve()
    jobs = []
    for path in files:
        rel = path.relative_to(in_dir)
        out = rel.with_suffix(out_suffix)
        jobs.append(Job(str(root / rel), str(out_root / out), rel.as_posix(), out.as_posix(), options))
    return jobs


def largest_first(jobs: list[Job]) -> list[Job]:
    """Long jobs first, so that the last to finish are short ones and the
    workers run out of work at about the same time."""
    def size(job: Job) -> int:
        try:
            return os.path.getsize(job.src)
        except OSError:
            return 0  # gone since it was listed: its job will say so

    return sorted(jobs, key=size, reverse=True)


class Progress:
    """A tqdm bar on standard error (hidden with -q, when it is not a terminal,
    or when tqdm is not installed)."""

    def __init__(self, total: int, quiet: bool, what: str) -> None:
        self.failed = 0
        self._bar: Any = None
        if not quiet:
            with contextlib.suppress(ImportError):
                from tqdm import tqdm

                self._bar = tqdm(total=total, unit="file", desc=what, file=sys.stderr, disable=None)

    def step(self, result: Result) -> None:
        if self._bar is None:
            return
        if result.status == "failed":
            self.failed += 1
            self._bar.set_postfix_str(f"{self.failed} failed")
        self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def totals(results: list[Result], seconds: float, decode: bool) -> dict[str, Any]:
    """Files by status; values and bytes of every output there is (coded or
    skipped) and the streams' bits per value; the coding rate over this run's
    wall time."""
    done = [r for r in results if r.status != "failed"]
    coded = [r for r in results if r.status == "coded"]
    values = sum(r.values for r in done)
    stream_bytes = sum(r.bytes_in if decode else r.bytes_out for r in done)
    coded_values = sum(r.values for r in coded)
    return {
        "files": len(results),
        "coded": len(coded),
        "skipped": sum(r.status == "skipped" for r in results),
        "failed": len(results) - len(done),
        "values": values,
        "bytes_in": sum(r.bytes_in for r in done),
        "bytes_out": sum(r.bytes_out for r in done),
        "bits_per_value": 8 * stream_bytes / values if values else None,
        "coded_values": coded_values,
        "seconds": seconds,
        "mvalues_per_s": coded_values / seconds / 1e6 if coded and seconds > 0 else None,
    }


def print_summary(t: dict[str, Any], pool: Pool, results: list[Result]) -> None:
    print(f"{t['files']} files: {t['coded']} coded, {t['skipped']} skipped (verified), {t['failed']} failed")
    if t["values"]:
        print(f"{t['values']:,} values, {t['bytes_in']:,} bytes in -> {t['bytes_out']:,} bytes out, "
              f"{t['bits_per_value']:.4f} bits/value (streams)")
    if t["coded"]:
        print(f"coded {t['coded_values']:,} values in {t['seconds']:.2f} s: {t['mvalues_per_s']:.2f} M values/s "
              f"on {pool.label}")
    for r in sorted(results, key=lambda r: r.input):
        if r.status == "failed":
            print(f"{PROG}: failed: {r.input}: {r.error}", file=sys.stderr)


def options_from(args: argparse.Namespace) -> Options:
    """Check the coding options once, here, by coding one value as each job will."""
    coding = {"--bits": args.bits, "--profile": args.profile, "--setting": args.setting, "--range": args.range}
    if args.decode:
        given = [name for name, value in coding.items() if value is not None]
        if given:
            raise BatchError(f"--decode takes no coding options (got {', '.join(given)})")
        return Options(decode=True, force=args.force)
    import dfc

    options = Options(bits=8 if args.bits is None else args.bits, profile=args.profile or "extended",
                      setting=args.setting or "default", force=args.force)
    try:
        from dfc.reference.encoder import validate_range

        options = replace(options, range=validate_range(args.range))
        dfc.encode(np.zeros((1, 1, 1), np.float32), options.bits, profile=options.profile,
                   setting=options.setting, range=options.range)
    except ValueError as exc:
        raise BatchError(str(exc)) from exc
    return options


def describe(options: Options) -> str:
    if options.decode:
        return "decoding to float32"
    setting = f" ({options.setting})" if options.profile == "extended" else ""
    fixed = f", range [{options.range[0]!r}, {options.range[1]!r}]" if options.range else ""
    return f"{options.bits}-bit, {options.profile} profile{setting}{fixed}"


def check_pool(args: argparse.Namespace) -> None:
    """Refuse a bad --workers or local:N before any work."""
    if args.workers is not None and args.workers < 1:
        raise BatchError(f"--workers {args.workers}: must be at least 1")
    if args.scheduler is not None:
        local_workers(args.scheduler)


@contextlib.contextmanager
def pool_for(args: argparse.Namespace) -> Iterator[Pool]:
    if args.scheduler is None:
        yield thread_pool(args.workers or cpu_count())
    else:
        with dask_pool(args.scheduler) as pool:
            yield pool


def run_jobs(pool: Pool, jobs: list[Job], progress: Progress) -> list[Result]:
    results: list[Result] = []
    try:
        with contextlib.closing(pool.run(largest_first(jobs))) as running:
            for result in running:
                results.append(result)
                progress.step(result)
    finally:
        progress.close()
    return results


def _folder(text: str) -> Path:
    """An output folder's path; "" would silently mean the working folder."""
    if not text:
        raise argparse.ArgumentTypeError("the output folder is empty")
    return Path(text)


def run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    import dfc

    options = options_from(args)
    check_pool(args)
    if not args.in_dir.is_dir():
        raise BatchError(f"{args.in_dir}: not a folder")
    jobs = find_jobs(args.in_dir, args.out, options, args.recursive)
    if not jobs:
        kind = ".dfc" if options.decode else ".npy"
        raise BatchError(f"{args.in_dir}: no {kind} files" + ("" if args.recursive else " (-r for subfolders)"))
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BatchError(f"{args.out}: cannot make the folder ({exc.strerror})") from exc
    with pool_for(args) as pool:
        print(f"{PROG}: {len(jobs)} files {args.in_dir} -> {args.out}, {describe(options)}, on {pool.label} "
              f"(dfc {dfc.version()})", flush=True)
        start = time.perf_counter()
        results = run_jobs(pool, jobs, Progress(len(jobs), args.quiet, "decoding" if options.decode else "coding"))
        seconds = time.perf_counter() - start
    summary = totals(results, seconds, options.decode)
    print_summary(summary, pool, results)
    if args.json is not None:
        write_json(args.json, {
            "command": f"{PROG} " + shlex.join(list(argv)),
            "dfc": dfc.version(),
            "in_dir": str(args.in_dir), "out_dir": str(args.out),
            "options": asdict(options), "pool": pool.label,
            "totals": summary,
            "files": [asdict(r) for r in sorted(results, key=lambda r: r.input)],
        })
    return 1 if summary["failed"] else 0


EPILOG = """examples:
  dfc batch features/ streams/                     # every features/*.npy -> streams/*.dfc, one thread per CPU
  dfc batch features/ streams/ -r --bits 6         # and in subfolders, keeping their paths; 6-bit
  dfc batch features/ streams/ --range -0.5 8      # a fixed quantizer range for every tensor
  dfc batch features/ streams/ --json report.json  # every file's result and the totals
  dfc batch features/ streams/ --force             # code again even what verifies
  dfc batch features/ streams/ --scheduler local:4 # a LocalCluster of 4 worker processes
  dfc batch features/ streams/ --scheduler tcp://10.0.0.5:8786   # any Dask cluster
  dfc batch --decode streams/ restored/            # every .dfc -> float32 .npy

Run again, dfc batch keeps every output that verifies (no older than its input,
header, length and CRC-32 intact, the input's shape, the options asked for) and
codes the rest; outputs appear whole or not at all. A file that fails is named
on standard error with its reason, and the exit status is 1.
Dask workers must import dfc and see both folders at the same absolute paths.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Code every .npy tensor of IN_DIR into OUT_DIR as .dfc streams (or, with --decode,\n"
                    "every .dfc back into .npy), in parallel on threads or a Dask cluster, skipping\n"
                    "the outputs that already verify.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("in_dir", type=Path, metavar="IN_DIR",
                        help="folder of float (C, H, W) .npy tensors (an (N, C, H, W) one becomes a sequence of "
                             "N streams, SPEC §3.6)")
    # dest "out": run_tool refuses an OUT_DIR that is a file before any work (dfc.cliutil)
    parser.add_argument("out", type=_folder, metavar="OUT_DIR", help="folder for the .dfc streams (made if need be)")
    parser.add_argument("-r", "--recursive", action="store_true", help="also the subfolders, keeping relative paths")
    parser.add_argument("--bits", type=int, default=None, help="quantizer bit depth, 1..16 (default 8)")
    parser.add_argument("--profile", choices=["baseline", "extended"], default=None,
                        help="extended (default: the smallest streams, SPEC §11) or baseline (the paper's)")
    parser.add_argument("--setting", choices=["default", "fast"], default=None,
                        help="extended profile: default (smallest) or fast (decodes about twice as fast)")
    parser.add_argument("--range", type=float, nargs=2, metavar=("LO", "HI"), default=None,
                        help="fixed quantizer range for every tensor, values outside clipped (SPEC §4.2)")
    parser.add_argument("--decode", action="store_true",
                        help="decode IN_DIR's .dfc streams into float32 .npy tensors instead")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None, metavar="N",
                       help=f"threads (default: one per CPU, here {cpu_count()})")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="run on a Dask cluster: a scheduler address (tcp://HOST:8786), or local:N to "
                            "start a LocalCluster of N single-threaded worker processes (local: one per CPU); "
                            "needs dfc[dask]")
    parser.add_argument("--force", action="store_true", help="code every file, even where an output verifies")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write every file's result and the totals")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bar (else one on standard error when it is a terminal and tqdm is "
                             "installed)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """``dfc batch``; returns the exit status."""
    return run_tool(PROG, build_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
