"""``dfc batch`` (dfc.tools.batch): every output is the stream dfc.encode makes
of its input, each failure is one line and exit status 1, a second run keeps
exactly the outputs that verify, the JSON report adds up, and the same holds on
a Dask cluster. The inputs are the repository's real tensors (data/corpus and
dfc/data), cut small so that the reference backend codes them quickly too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import REPO_ROOT

import dfc
from dfc.cli import main

CORPUS = sorted((REPO_ROOT / "data" / "corpus").glob("*.npy"))
PACKAGED = sorted((REPO_ROOT / "dfc" / "data").glob("*.npy"))
#: File times set by the tests (ns): inputs, then outputs, both in the past, so
#: that an output the run writes again gets a time different from OUT_TIME.
IN_TIME = 1_600_000_000 * 10**9
OUT_TIME = 1_700_000_000 * 10**9


@pytest.fixture()
def in_dir(tmp_path: Path) -> Path:
    """The 11 real tensors cut to 3 x 10 x 10: data/corpus's as DEPTH/IMAGE.npy
    (ppocrv4_det-deep-astronaut.npy -> deep/astronaut.npy), dfc/data's at the top."""
    assert len(CORPUS) == 9 and len(PACKAGED) == 2
    root = tmp_path / "in"
    for src in CORPUS + PACKAGED:
        _, depth, image = src.stem.split("-")
        dst = root / depth / f"{image}.npy" if src in CORPUS else root / src.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        np.save(dst, np.load(src)[:3, :10, :10])
        os.utime(dst, ns=(IN_TIME, IN_TIME))
    return root


def batch(*args: object) -> int:
    """``dfc batch ARGS -q`` through the dfc command, as a user runs it."""
    return main(["batch", *(str(a) for a in args), "-q"])


def inputs(root: Path) -> list[Path]:
    return sorted(root.rglob("*.npy"))


def outputs(root: Path) -> list[str]:
    """Every file under root, relative, temporaries included."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def output_of(in_root: Path, out_root: Path, path: Path) -> Path:
    return out_root / path.relative_to(in_root).with_suffix(".dfc")


def set_times(paths: list[Path], ns: int) -> None:
    for path in paths:
        os.utime(path, ns=(ns, ns))


def report(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def statuses(path: Path) -> dict[str, str]:
    return {f["input"]: f["status"] for f in report(path)["files"]}


def assert_same_floats(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype == np.float32 and a.shape == b.shape
    np.testing.assert_array_equal(a.view(np.uint32), b.view(np.uint32))


def test_every_output_is_dfc_encode_of_its_input_at_its_relative_path(
        in_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert batch(in_dir, out, "-r", "--workers", "2") == 0
    assert "11 files: 11 coded, 0 skipped (verified), 0 failed" in capsys.readouterr().out
    assert outputs(out) == sorted(p.relative_to(in_dir).with_suffix(".dfc").as_posix() for p in inputs(in_dir))
    for path in inputs(in_dir):
        x = np.load(path)
        stream = output_of(in_dir, out, path).read_bytes()
        assert stream == dfc.encode(x), path
        assert_same_floats(dfc.decode(stream), dfc.decode(dfc.encode(x)))


def test_without_recursive_only_the_top_folder_is_coded(in_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert batch(in_dir, out) == 0
    assert outputs(out) == sorted(p.with_suffix(".dfc").name for p in PACKAGED)


@pytest.mark.parametrize(("args", "options"), [
    (["--bits", "6", "--profile", "baseline", "--range", "-0.25", "4"],
     {"bits": 6, "profile": "baseline", "range": (-0.25, 4.0)}),
    (["--bits", "10", "--setting", "fast"], {"bits": 10, "setting": "fast"}),
])
def test_coding_options_are_dfc_encodes(in_dir: Path, tmp_path: Path, args: list[str],
                                        options: dict[str, Any]) -> None:
    out = tmp_path / "out"
    assert batch(in_dir, out, "-r", *args) == 0
    for path in inputs(in_dir):
        assert output_of(in_dir, out, path).read_bytes() == dfc.encode(np.load(path), **options), path


def test_an_n_c_h_w_array_is_a_sequence_of_streams_and_decodes_back(tmp_path: Path) -> None:
    frames = tmp_path / "in"
    frames.mkdir()
    x = np.stack([np.load(src)[:3, :10, :10] for src in CORPUS[:4]])  # 4 images of one layer
    np.save(frames / "four.npy", x)
    np.save(frames / "one.npy", x[:1])
    streams, restored, log = tmp_path / "streams", tmp_path / "restored", tmp_path / "run.json"
    assert batch(frames, streams) == 0
    assert (streams / "four.dfc").read_bytes() == dfc.encode_many(x)
    assert (streams / "one.dfc").read_bytes() == dfc.encode(x[0])
    assert batch(frames, streams, "--json", log) == 0
    assert statuses(log) == {"four.npy": "skipped", "one.npy": "skipped"}
    four = (streams / "four.dfc").read_bytes()
    (streams / "four.dfc").write_bytes(four[: len(four) // 2])  # a member short: coded again
    assert batch(frames, streams, "--json", log) == 0
    assert statuses(log) == {"four.npy": "coded", "one.npy": "skipped"}
    assert batch("--decode", streams, restored) == 0
    assert_same_floats(np.load(restored / "four.npy"), dfc.decode_many(four))  # (4, C, H, W)
    assert_same_floats(np.load(restored / "one.npy"), dfc.decode(dfc.encode(x[0])))  # (C, H, W), as dfc decode
    assert batch("--decode", streams, restored, "--json", log) == 0
    assert statuses(log) == {"four.dfc": "skipped", "one.dfc": "skipped"}


def _encode_error(x: np.ndarray) -> str:
    with pytest.raises(ValueError) as info:
        dfc.encode(x)
    return str(info.value)


def test_each_failure_is_one_line_the_others_are_coded_exit_1(in_dir: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    x = np.load(in_dir / PACKAGED[0].name)
    flat, with_nan = x[0], x.copy()
    with_nan[1, 2, 3] = np.nan
    np.save(in_dir / "deep" / "flat.npy", flat)
    np.save(in_dir / "with_nan.npy", with_nan)
    (in_dir / "text.npy").write_text("not an array\n")
    out = tmp_path / "out"
    assert batch(in_dir, out, "-r") == 1
    captured = capsys.readouterr()
    assert "14 files: 11 coded, 0 skipped (verified), 3 failed" in captured.out
    assert captured.err.splitlines() == [
        f"dfc batch: failed: deep/flat.npy: {_encode_error(flat)}",
        "dfc batch: failed: text.npy: not a .npy file (it does not start with \\x93NUMPY)",
        f"dfc batch: failed: with_nan.npy: {_encode_error(with_nan)}",
    ]
    coded = [p for p in inputs(in_dir) if p.stem not in ("flat", "with_nan", "text")]
    assert outputs(out) == sorted(p.relative_to(in_dir).with_suffix(".dfc").as_posix() for p in coded)


def test_second_run_keeps_verified_outputs_and_recodes_the_rest(in_dir: Path, tmp_path: Path) -> None:
    out, log = tmp_path / "out", tmp_path / "run.json"
    assert batch(in_dir, out, "-r") == 0
    files = inputs(in_dir)
    streams = [output_of(in_dir, out, p) for p in files]
    set_times(streams, OUT_TIME)
    corrupted, truncated, deleted, stale, reshaped = files[:5]
    data = bytearray(output_of(in_dir, out, corrupted).read_bytes())
    data[len(data) // 2] ^= 0x10  # a payload byte: the header still parses, the CRC fails
    output_of(in_dir, out, corrupted).write_bytes(bytes(data))
    output_of(in_dir, out, truncated).write_bytes(output_of(in_dir, out, truncated).read_bytes()[:-7])
    set_times([output_of(in_dir, out, corrupted), output_of(in_dir, out, truncated)], OUT_TIME)
    output_of(in_dir, out, deleted).unlink()
    set_times([stale], OUT_TIME + 10**9)  # the input changed after its output was written
    np.save(reshaped, np.load(reshaped)[:2])  # another shape, under the old time
    set_times([reshaped], IN_TIME)

    assert batch(in_dir, out, "-r", "--json", log) == 0
    redone = {corrupted, truncated, deleted, stale, reshaped}
    expected = {p.relative_to(in_dir).as_posix(): "coded" if p in redone else "skipped" for p in files}
    assert statuses(log) == expected
    for path, stream in zip(files, streams, strict=True):
        assert stream.read_bytes() == dfc.encode(np.load(path)), path
        assert (stream.stat().st_mtime_ns == OUT_TIME) == (path not in redone), path


def test_other_options_are_coded_again_and_force_codes_all(in_dir: Path, tmp_path: Path) -> None:
    out, log = tmp_path / "out", tmp_path / "run.json"
    runs = [([], "coded"), ([], "skipped"), (["--bits", "6"], "coded"), (["--bits", "6"], "skipped"),
            (["--bits", "6", "--profile", "baseline"], "coded"), (["--bits", "6", "--setting", "fast"], "coded"),
            (["--bits", "6", "--setting", "fast"], "skipped"),
            (["--bits", "6", "--setting", "fast", "--range", "0", "4"], "coded"),
            (["--bits", "6", "--setting", "fast", "--range", "0", "4"], "skipped"),
            (["--bits", "6", "--setting", "fast", "--range", "0", "5"], "coded"),
            (["--bits", "6", "--setting", "fast", "--range", "0", "5", "--force"], "coded")]
    for args, status in runs:
        assert batch(in_dir, out, *args, "--json", log) == 0
        assert set(statuses(log).values()) == {status}, args


def test_json_report_totals_add_up(in_dir: Path, tmp_path: Path) -> None:
    out, log = tmp_path / "out", tmp_path / "run.json"
    assert batch(in_dir, out, "-r") == 0
    redone = inputs(in_dir)[:3]
    for path in redone:
        output_of(in_dir, out, path).unlink()
    (in_dir / "broken.npy").write_bytes(b"\x93NUMPY\x01\x00")
    assert batch(in_dir, out, "-r", "--workers", "3", "--json", log) == 1
    rep = report(log)
    files, totals = rep["files"], rep["totals"]
    good = [f for f in files if f["status"] != "failed"]
    assert [f["input"] for f in files] == sorted(p.relative_to(in_dir).as_posix() for p in inputs(in_dir))
    assert (totals["files"], totals["coded"], totals["skipped"], totals["failed"]) == (12, 3, 8, 1)
    readable = [p for p in inputs(in_dir) if p.name != "broken.npy"]
    assert totals["values"] == sum(f["values"] for f in good) == sum(np.load(p).size for p in readable)
    assert totals["bytes_in"] == sum(f["bytes_in"] for f in good) == sum(p.stat().st_size for p in readable)
    assert totals["bytes_out"] == sum(f["bytes_out"] for f in good) == sum(
        p.stat().st_size for p in out.rglob("*.dfc"))
    assert totals["bits_per_value"] == 8 * totals["bytes_out"] / totals["values"]
    assert totals["coded_values"] == sum(f["values"] for f in files if f["status"] == "coded") == sum(
        np.load(p).size for p in redone)
    assert totals["mvalues_per_s"] == totals["coded_values"] / totals["seconds"] / 1e6
    broken = next(f for f in files if f["status"] == "failed")
    assert broken["input"] == "broken.npy" and broken["error"] and broken["values"] == 0
    assert rep["command"] == f"dfc batch {in_dir} {out} -r --workers 3 --json {log} -q"


def test_decode_writes_dfc_decode_of_each_stream_and_resumes(in_dir: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    streams, restored, log = tmp_path / "streams", tmp_path / "restored", tmp_path / "run.json"
    assert batch(in_dir, streams, "-r") == 0
    assert batch("--decode", streams, restored, "-r", "--json", log) == 0
    names = [p.relative_to(streams).with_suffix(".npy").as_posix() for p in sorted(streams.rglob("*.dfc"))]
    assert outputs(restored) == sorted(names) and len(names) == 11
    for name in names:
        assert_same_floats(np.load(restored / name), dfc.decode((streams / name).with_suffix(".dfc").read_bytes()))
    assert set(statuses(log).values()) == {"coded"}

    set_times(list(streams.rglob("*.dfc")), OUT_TIME)
    set_times(list(restored.rglob("*.npy")), OUT_TIME + 10**9)  # newer than their streams
    short, long, flat, ints = (restored / name for name in names[:4])
    short.write_bytes(short.read_bytes()[:-4])  # a float missing
    long.write_bytes(long.read_bytes() + bytes(4))  # a float too many
    np.save(flat, np.load(flat).ravel())  # the right floats in the wrong shape
    np.save(ints, np.load(ints).view(np.uint32))  # the right bits and shape in the wrong dtype
    set_times([short, long, flat, ints], OUT_TIME + 10**9)
    bad = streams / "bad.dfc"
    bad.write_bytes(b"\x89DFC" + bytes(40))
    capsys.readouterr()
    assert batch("--decode", streams, restored, "-r", "--json", log) == 1
    with pytest.raises(dfc.DecodeError) as info:
        dfc.decode_many(bad.read_bytes())  # what dfc decode says of it too
    assert capsys.readouterr().err.splitlines() == [f"dfc batch: failed: bad.dfc: {info.value}"]
    assert statuses(log) == {**{n.replace(".npy", ".dfc"): "skipped" for n in names},
                             **{n.replace(".npy", ".dfc"): "coded" for n in names[:4]}, "bad.dfc": "failed"}
    for name in names[:4]:
        assert_same_floats(np.load(restored / name), dfc.decode((streams / name).with_suffix(".dfc").read_bytes()))


@pytest.mark.parametrize(("args", "message"), [
    (["--bits", "17"], "bits must be in 1..16, got 17"),
    (["--range", "1", "0"], "range (1.0, 0.0) has lo above hi"),
    (["--profile", "baseline", "--setting", "fast"], "the baseline profile has no setting 'fast'"),
    (["--workers", "0"], "--workers 0: must be at least 1"),
    (["--scheduler", "local:0"], "--scheduler local:0: expected local:N with N a positive whole number"),
    (["--decode", "--bits", "8"], "--decode takes no coding options (got --bits)"),
])
def test_bad_options_are_one_line_before_any_work(in_dir: Path, tmp_path: Path, args: list[str], message: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert batch(in_dir, out, *args) == 1
    assert capsys.readouterr().err.splitlines() == [f"dfc batch: error: {message}"]
    assert not out.exists()


def test_a_folder_without_inputs_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "sub").mkdir()
    np.save(tmp_path / "sub" / "x.npy", np.zeros((1, 2, 2), np.float32))
    assert batch(tmp_path, tmp_path / "out") == 1
    assert capsys.readouterr().err.splitlines() == [
        f"dfc batch: error: {tmp_path}: no .npy files (-r for subfolders)"]
    assert batch(tmp_path / "missing", tmp_path / "out") == 1
    assert capsys.readouterr().err.splitlines() == [f"dfc batch: error: {tmp_path / 'missing'}: not a folder"]


def test_an_interrupt_leaves_whole_outputs_only(in_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    encode, target = dfc.encode, inputs(in_dir)[5]
    interrupted = np.load(target)

    def interrupted_on_target(x: Any, *args: Any, **kwargs: Any) -> bytes:
        if np.array_equal(x, interrupted):
            raise KeyboardInterrupt  # as Ctrl-C would, in the middle of the run
        return encode(x, *args, **kwargs)

    monkeypatch.setattr(dfc, "encode", interrupted_on_target)
    out = tmp_path / "out"
    assert batch(in_dir, out, "-r", "--workers", "1") == 130
    assert capsys.readouterr().err.strip() == "dfc batch: interrupted"
    written = outputs(out)
    assert all(name.endswith(".dfc") for name in written)  # no temporaries
    assert output_of(in_dir, out, target).relative_to(out).as_posix() not in written
    for name in written:
        assert (out / name).read_bytes() == encode(np.load((in_dir / name).with_suffix(".npy")))


def _assert_coded_like_dfc_encode(in_dir: Path, out: Path) -> None:
    for path in inputs(in_dir):
        if path.name != "text.npy":
            assert output_of(in_dir, out, path).read_bytes() == dfc.encode(np.load(path)), path


def test_dask_local_cluster_of_two_worker_processes(in_dir: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("distributed", reason="the Dask test needs the extra: pip install '.[dask]'")
    (in_dir / "text.npy").write_text("not an array\n")
    out = tmp_path / "out"
    assert batch(in_dir, out, "-r", "--scheduler", "local:2") == 1
    captured = capsys.readouterr()
    assert "on a local Dask cluster, 2 workers" in captured.out
    assert "12 files: 11 coded, 0 skipped (verified), 1 failed" in captured.out
    assert captured.err.splitlines() == [
        "dfc batch: failed: text.npy: not a .npy file (it does not start with \\x93NUMPY)"]
    _assert_coded_like_dfc_encode(in_dir, out)


def test_dask_cluster_by_scheduler_address(in_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    distributed = pytest.importorskip("distributed", reason="the Dask test needs the extra: pip install '.[dask]'")
    from dfc.tools import batch as tool

    process = tool.process

    def lost_on_coffee(job: tool.Job) -> tool.Result:
        if job.name == "deep/coffee.npy":
            raise RuntimeError("worker lost (simulated)")
        return process(job)

    monkeypatch.setattr(tool, "DASK_AHEAD", 3)  # fewer futures than files: more are submitted as they finish
    monkeypatch.setattr(tool, "process", lost_on_coffee)
    out = tmp_path / "out"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        assert batch(in_dir, out, "-r", "--scheduler", cluster.scheduler_address) == 1
        captured = capsys.readouterr()
        assert f"on the Dask cluster at {cluster.scheduler_address}, 2 workers" in captured.out
        ours = [line for line in captured.err.splitlines() if line.startswith("dfc batch")]  # not Dask's log
        assert ours == ["dfc batch: failed: deep/coffee.npy: the Dask task failed: "
                        "RuntimeError: worker lost (simulated)"]
        assert not (out / "deep" / "coffee.dfc").exists()
        monkeypatch.undo()
        assert batch(in_dir, out, "-r", "--scheduler", cluster.scheduler_address) == 0
        assert "11 files: 1 coded, 10 skipped (verified), 0 failed" in capsys.readouterr().out
        _assert_coded_like_dfc_encode(in_dir, out)


def test_threads_do_not_import_dask(in_dir: Path, tmp_path: Path) -> None:
    code = ("import sys\nfrom dfc.cli import main\n"
            f"assert main(['batch', {str(in_dir)!r}, {str(tmp_path / 'out')!r}, '-q']) == 0\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(dfc.__file__).parent.parent),
                                                      env.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines()[-1] == "[]"


def test_help_shows_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["batch", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert "examples:\n  dfc batch features/ streams/" in text and "--scheduler local:4" in text


def test_an_empty_output_folder_is_refused_not_taken_for_the_working_folder(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((1, 2, 2), np.float32))
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(SystemExit) as info:
        main(["batch", str(tmp_path), ""])
    assert info.value.code == 2 and sorted(p.name for p in tmp_path.iterdir()) == before
