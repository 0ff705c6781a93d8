"""dfc conformance check-decoder and check-encoder (SPEC Annex B) cannot be fooled.

dfc itself, wrapped as an external decoder and an external encoder (small
programs written into tmp_path), passes every vector of the manifest; each kind
of broken program fails every vector it breaks, with a reason that says what it
did wrong. The wrapped programs use dfc.fast when it is built (the reference's
profile 1 coder is slow), else dfc.reference. Every vector subset is chosen from
the manifest, not written down.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import load_impl

import dfc
from dfc.cli import main
from dfc.errors import DecodeError
from dfc.sequence import decode_many
from dfc.tools.conformance import default_vectors, load_manifest
from dfc.tools.conformance_checks import error_lines

FOLDER = Path(__file__).resolve().parent.parent / "conformance_streams"
MANIFEST = json.loads((FOLDER / "manifest.json").read_text())
ENTRIES = {entry["name"]: entry for entry in MANIFEST["valid"] + MANIFEST["invalid"]}
VALID = [entry["name"] for entry in MANIFEST["valid"]]
INVALID = [entry["name"] for entry in MANIFEST["invalid"]]
#: The valid vectors an encoder is given: those that ship their input tensor.
ENCODABLE = [name for name in VALID if "input" in ENTRIES[name]["files"] and ENTRIES[name]["encoder_input"]]
#: The valid vectors that ship only the checksums of their outputs.
LARGE = [name for name in VALID if "integers" not in ENTRIES[name]["files"]]
#: The folder that holds this dfc package, for the programs' sys.path.
DFC_ROOT = Path(dfc.__file__).resolve().parent.parent

# --- choosing vectors from the manifest ---------------------------------------------------------


def _smallest(names: list[str], count: int = 1) -> list[str]:
    """The ``count`` vectors of ``names`` with the shortest streams (quick to run)."""
    size = {name: (FOLDER / ENTRIES[name]["files"]["stream"]["path"]).stat().st_size for name in names}
    return sorted(names, key=lambda name: (size[name], name))[:count]


def _valid(profile: str, setting: str | None = None) -> list[str]:
    """The valid vectors of a profile (and setting) with an input, whose integers
    take more than two values: a constant tensor hides too many mistakes."""
    return [name for name in ENCODABLE if ENTRIES[name]["profile"] == profile
            and setting in (None, ENTRIES[name]["setting"]) and _varied(name)]


def _varied(name: str) -> bool:
    files = ENTRIES[name]["files"]
    return "integers" in files and len(np.unique(np.load(FOLDER / files["integers"]["path"]))) > 2


def _input(name: str) -> np.ndarray:
    array: np.ndarray = np.load(FOLDER / ENTRIES[name]["files"]["input"]["path"])
    return array


def _has_inner_value(name: str) -> bool:
    """A value strictly between the tensor's minimum and maximum, which can move
    without moving min_value or max_value."""
    x = _input(name)
    return bool(np.any((x > x.min()) & (x < x.max())))


def _uses_modes_other_than_0(name: str) -> bool:
    return any(int(mode) != 0 and count for mode, count in ENTRIES[name]["blocks_per_mode"].items())


#: The smallest varied valid vector of each profile, and the first and last invalid ones.
SAMPLE = _smallest(_valid("baseline")) + _smallest(_valid("extended")) + INVALID[:1] + INVALID[-1:]
SAMPLE_VALID = [name for name in SAMPLE if name in VALID]
SAMPLE_INVALID = [name for name in SAMPLE if name in INVALID]
#: Invalid vectors whose name is not their error code: a decoder that prints
#: "error: NAME" says the wrong code there.
NAMED_APART = [name for name in INVALID if ENTRIES[name]["expect_error"] != name]


def test_samples_cover_what_they_claim() -> None:
    assert SAMPLE_VALID and SAMPLE_INVALID and NAMED_APART and LARGE
    assert {ENTRIES[name]["profile"] for name in SAMPLE_VALID} == {"baseline", "extended"}


# --- the programs -------------------------------------------------------------------------------

#: Every program starts here: it imports this dfc, the compiled backend when built.
PROLOGUE = f"""\
import sys
sys.path.insert(0, {str(DFC_ROOT)!r})
"""

IMPL = """\
try:
    from dfc import fast as impl
except ImportError:  # not built: the reference
    from dfc import reference as impl
"""

#: dfc as a decoder, and the ways to break it. argv: MODE STREAM INTEGERS FLOATS.
#: The modes that need no decoding come first, before the slow imports.
DECODER = PROLOGUE + """\
import hashlib, json, os, resource, signal, subprocess

mode, stream, integers, floats = sys.argv[1:5]
if mode == "echo":  # what the old checker passed: the arguments, then exit 1
    print("decoding", " ".join(sys.argv[2:]))
    sys.exit(1)
if mode in ("name", "error_name"):  # looks the vector up by its hash
    manifest = json.loads(open(MANIFEST).read())
    digest = hashlib.sha256(open(stream, "rb").read()).hexdigest()
    name = next(e["name"] for e in manifest["valid"] + manifest["invalid"]
                if e["files"]["stream"]["sha256"] == digest)
    print(("error: " if mode == "error_name" else "") + name, file=sys.stderr)
    sys.exit(1)
if mode == "hang":  # and its child, which holds the output pipes open
    child = subprocess.Popen(["sleep", "60"])
    if "DFC_TEST_PIDS" in os.environ:
        with open(os.environ["DFC_TEST_PIDS"], "a") as pids:
            pids.write(f"{os.getpid()} {child.pid} ")
    child.wait()
if mode.startswith("signal"):
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.kill(os.getpid(), getattr(signal, mode.split("_")[1]))
""" + IMPL + """\
import numpy as np
from dfc.errors import DecodeError

def save(path, array, dtype):
    if mode == "npy":
        np.save(path, array.astype(dtype))
    else:
        array.astype(dtype).tofile(path)


try:
    decoded = impl.decode_stream(open(stream, "rb").read())
except DecodeError as exc:
    code, offset = exc.code, exc.offset
    if mode in ("write_then_fail", "accept"):
        save(integers, np.zeros(1), "<u2")
        save(floats, np.zeros(1), "<f4")
        sys.exit(0 if mode == "accept" else 1)
    if mode == "wrong_code":
        code = "crc_mismatch" if code == "bad_magic" else "bad_magic"
    line = {"no_offset": f"error: {code}", "wrong_offset": f"error: {code} at {offset + 1}",
            "bare": f"error: {code} at {offset}"}.get(mode, f"mydec: error: {code} at {offset} ({exc.detail})")
    print(line, file=sys.stderr)
    if mode == "twice":
        print(line)
    sys.exit(1)
ints, values = decoded.integers, decoded.floats()
if mode == "flip_integers":
    ints = ints.copy()
    ints.flat[-1] ^= 1
if mode == "flip_floats":
    values = values.copy()
    values.view(np.uint32).flat[0] ^= 1  # the last bit of one value
save(integers, ints, ">u2" if mode == "big_endian" else "<u2")
save(floats, values, "<f8" if mode == "float64" else "<f4")
if mode == "error_on_valid":
    print("error: bad_magic at 0")
"""

#: dfc as an encoder, and the ways to break it.
ENCODER = PROLOGUE + IMPL + """\
import argparse
import numpy as np

p = argparse.ArgumentParser()
p.add_argument("mode")
p.add_argument("input")
p.add_argument("stream")
p.add_argument("--shape", type=int, nargs=3)
p.add_argument("--bits", type=int, default=8)
p.add_argument("--profile", default="extended")
p.add_argument("--setting", default="default")
args = p.parse_args()
if args.shape:
    x = np.fromfile(args.input, dtype="<f4").reshape(args.shape)
else:
    x = np.load(args.input)
bits, setting = args.bits, args.setting
if args.mode == "other_bits":
    bits = bits - 1 if bits > 1 else 2
if args.mode == "always_fast" and args.profile == "extended":
    setting = "fast"
if args.mode == "move_inner_value":  # to the minimum: min_value and max_value stay
    x = x.copy()
    inner = np.flatnonzero((x > x.min()) & (x < x.max()))[0]
    x.flat[inner] = x.min()
if args.mode == "other_choices":  # valid, not the reference's choices (SPEC §8.4, §11.12)
    import dfc.reference.encoder as baseline
    import dfc.reference.ext_encoder as extended
    from dfc import reference as impl

    baseline.choose_mode = lambda *_: 0
    extended.choose_split_offset = lambda *_: 0
data = impl.encode(x, bits, profile=args.profile, setting=setting)
if args.mode == "corrupt":
    data = data[:-1] + bytes([data[-1] ^ 1])
if args.mode != "no_stream":
    open(args.stream, "wb").write(data)
"""


def _program(tmp_path: Path, name: str, text: str) -> list[str]:
    path = tmp_path / name
    path.write_text(text.replace("MANIFEST", repr(str(FOLDER / "manifest.json"))))
    return [sys.executable, str(path)]


def decoder(tmp_path: Path, mode: str) -> list[str]:
    """The command line of dfc as a decoder that behaves as ``mode`` says."""
    return _program(tmp_path, "dec.py", DECODER) + [mode, "{stream}", "{integers}", "{floats}"]


def encoder(tmp_path: Path, mode: str, fmt: str = "raw") -> list[str]:
    shape = ["--shape", "{channels}", "{height}", "{width}"] if fmt == "raw" else []
    return _program(tmp_path, "enc.py", ENCODER) + [
        mode, "{input}", "{stream}", *shape, "--bits", "{bits}", "--profile", "{profile}", "--setting", "{setting}"]


# --- running the checker ------------------------------------------------------------------------

@dataclass
class Outcome:
    status: int
    out: str
    err: str
    report: dict[str, Any]
    seconds: float

    def results(self) -> dict[str, dict[str, Any]]:
        """The JSON report's result per vector, of its one check."""
        (check,) = self.report["checks"]
        return {r["vector"]: r for r in check["results"]}

    def failed(self) -> dict[str, str]:
        return {name: r["reason"] for name, r in self.results().items() if not r["passed"]}


def run_checker(folder: Path, verb: str, options: list[str], command: list[str]) -> Outcome:
    """``dfc conformance VERB OPTIONS --json R -- COMMAND`` through dfc's main, in
    process, a vector per CPU at a time (each run starts Python and numpy)."""
    report = folder / "report.json"
    argv = ["conformance", verb, "--jobs", "0", *options, "--json", str(report), "--", *command]
    out, err = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    seconds = time.perf_counter() - start
    return Outcome(status, out.getvalue(), err.getvalue(), json.loads(report.read_text()), seconds)


def only(names: list[str]) -> list[str]:
    return [arg for name in names for arg in ("--only", name)]


# --- dfc passes every vector ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def dfc_as_decoder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Outcome, ET.Element]:
    """Every vector through dfc as a decoder, codes and offsets required, both reports."""
    tmp = tmp_path_factory.mktemp("decoder")
    junit = tmp / "report.xml"
    outcome = run_checker(tmp, "check-decoder", ["--codes", "--offsets", "--junit", str(junit)],
                          decoder(tmp, "good"))
    return outcome, ET.parse(junit).getroot()


@pytest.fixture(scope="module")
def dfc_as_encoder(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    """Every valid vector through dfc as an encoder, byte identity required."""
    tmp = tmp_path_factory.mktemp("encoder")
    return run_checker(tmp, "check-encoder", ["--identical"], encoder(tmp, "good"))


@pytest.mark.parametrize("name", VALID + INVALID)
def test_dfc_as_decoder_passes(dfc_as_decoder: tuple[Outcome, ET.Element], name: str) -> None:
    result = dfc_as_decoder[0].results()[name]
    assert result["passed"], result
    entry = ENTRIES[name]
    if name in VALID:
        assert result["reason"] == "integers and floats exact", result
    else:
        assert result["reason"] == f"rejected: error: {entry['expect_error']} at {entry['expect_offset']}"


@pytest.mark.parametrize("name", ENCODABLE)
def test_dfc_as_encoder_passes_byte_identical(dfc_as_encoder: Outcome, name: str) -> None:
    result = dfc_as_encoder.results()[name]
    assert result["passed"] and result["reason"].startswith("byte-identical"), result


def test_decoder_run_summary_and_json_report(dfc_as_decoder: tuple[Outcome, ET.Element]) -> None:
    outcome = dfc_as_decoder[0]
    total = len(VALID) + len(INVALID)
    assert outcome.status == 0, outcome.out
    assert f"check-decoder: {total} vectors, {total} passed, 0 failed" in outcome.out
    assert sum(line.startswith("  PASS  ") for line in outcome.out.splitlines()) == total
    report = outcome.report
    assert report["passed"] is True and report["vectors"] == str(default_vectors())
    (check,) = report["checks"]
    assert check["check"] == "decoder" and check["passed"] is True
    assert check["tests"] == total and check["failures"] == 0
    assert check["command"][-4:] == ["good", "{stream}", "{integers}", "{floats}"]
    assert [r["vector"] for r in check["results"]] == VALID + INVALID
    assert [r["valid"] for r in check["results"]] == [True] * len(VALID) + [False] * len(INVALID)


def test_decoder_run_junit_report(dfc_as_decoder: tuple[Outcome, ET.Element]) -> None:
    root = dfc_as_decoder[1]
    total = len(VALID) + len(INVALID)
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == (str(total), "0", "0")
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert [case.get("name") for case in cases] == VALID + INVALID
    assert [case.get("classname") for case in cases] == (
        ["decoder.valid"] * len(VALID) + ["decoder.invalid"] * len(INVALID))
    assert not list(root.iter("failure"))


def test_encoder_run_summary(dfc_as_encoder: Outcome) -> None:
    out = dfc_as_encoder.out
    assert dfc_as_encoder.status == 0, out
    assert f"check-encoder: {len(ENCODABLE)} vectors, {len(ENCODABLE)} passed, 0 failed" in out
    assert list(dfc_as_encoder.results()) == ENCODABLE  # nor invalid vectors, nor those without input
    without_input = [name for name in VALID if name not in ENCODABLE]
    assert f"left out: {len(INVALID)} invalid vectors, and {len(without_input)} valid ones" in out
    assert all(name in out for name in without_input)


def test_npy_format_both_ways(tmp_path: Path) -> None:
    dec = run_checker(tmp_path, "check-decoder", ["--format", "npy", "--codes", *only(SAMPLE)],
                      decoder(tmp_path, "npy"))
    assert dec.status == 0 and dec.failed() == {}, dec.out
    enc = run_checker(tmp_path, "check-encoder", ["--format", "npy", "--identical", *only(SAMPLE_VALID)],
                      encoder(tmp_path, "good", fmt="npy"))
    assert enc.status == 0 and enc.failed() == {}, enc.out


def test_error_line_without_prefix_or_note(tmp_path: Path) -> None:
    outcome = run_checker(tmp_path, "check-decoder", ["--offsets", *only(SAMPLE_INVALID)], decoder(tmp_path, "bare"))
    assert outcome.status == 0 and outcome.failed() == {}, outcome.out


# --- broken decoders fail -----------------------------------------------------------------------

@pytest.mark.parametrize(("mode", "reason"), [
    ("flip_integers", "integers differ in 1 of "),
    ("flip_floats", "floats differ in 1 of "),
    ("float64", "floats: "),  # twice the bytes
    ("big_endian", "integers differ in "),
])
def test_decoder_with_wrong_outputs_fails_every_valid_vector(tmp_path: Path, mode: str, reason: str) -> None:
    outcome = run_checker(tmp_path, "check-decoder", only(SAMPLE), decoder(tmp_path, mode))
    assert outcome.status == 1
    failed = outcome.failed()
    assert sorted(failed) == sorted(SAMPLE_VALID)
    assert all(why.startswith(reason) for why in failed.values()), failed


@pytest.mark.parametrize("name", _smallest(LARGE))
def test_large_vector_checked_by_checksum(tmp_path: Path, name: str) -> None:
    """A vector that ships the SHA-256 of its outputs, not the outputs."""
    outcome = run_checker(tmp_path, "check-decoder", ["--only", name], decoder(tmp_path, "flip_integers"))
    assert outcome.failed() == {name: "integers differ from the manifest's SHA-256 (a large vector: no .npy "
                                      "to say where)"}


def test_echo_decoder_fails_under_codes(tmp_path: Path) -> None:
    """Prints its arguments and exits 1, as a decoder that rejects everything: the
    old checker found the code in the path (invalid/bad_magic.dfc)."""
    outcome = run_checker(tmp_path, "check-decoder", ["--codes", *only(SAMPLE)], decoder(tmp_path, "echo"))
    assert outcome.status == 1
    failed = outcome.failed()
    assert sorted(failed) == sorted(SAMPLE)
    for name in SAMPLE_INVALID:
        assert failed[name].startswith("exit 1 with no 'error: CODE' lines, expected one"), failed[name]
        said = outcome.results()[name]["output"]
        assert "stream.dfc" in said and name not in said and ENTRIES[name]["expect_error"] not in said
    for name in SAMPLE_VALID:
        assert failed[name].startswith("exit 1: decoding "), failed[name]


def test_echo_decoder_passes_invalid_vectors_without_codes(tmp_path: Path) -> None:
    """Without --codes a rejection is only a non-zero exit, as the help says."""
    outcome = run_checker(tmp_path, "check-decoder", only(SAMPLE), decoder(tmp_path, "echo"))
    assert sorted(outcome.failed()) == sorted(SAMPLE_VALID)


def test_decoder_printing_the_vector_name_fails(tmp_path: Path) -> None:
    """Finds the vector by its hash and prints its name: not an error line, even
    where the name is the code."""
    names = SAMPLE_INVALID + _smallest(NAMED_APART, 2)
    assert any(ENTRIES[name]["expect_error"] == name for name in names)
    outcome = run_checker(tmp_path, "check-decoder", ["--codes", *only(names)], decoder(tmp_path, "name"))
    assert sorted(outcome.failed()) == sorted(set(names))


@pytest.mark.parametrize("name", _smallest(NAMED_APART, 3))
def test_decoder_printing_error_and_the_vector_name_fails(tmp_path: Path, name: str) -> None:
    outcome = run_checker(tmp_path, "check-decoder", ["--codes", "--only", name], decoder(tmp_path, "error_name"))
    assert outcome.failed() == {name: f"said 'error: {name}', expected 'error: {ENTRIES[name]['expect_error']}'"}


@pytest.mark.parametrize(("mode", "options", "reason"), [
    ("twice", ["--codes"], "exit 1 with 2 'error: CODE' lines, expected one"),
    ("wrong_code", ["--codes"], "said 'error: "),
    ("no_offset", ["--offsets"], "said 'error: "),
    ("wrong_offset", ["--offsets"], "said 'error: "),
    ("write_then_fail", [], "exit 1 but wrote integers and floats"),
    ("accept", [], "exit 0: accepted an invalid stream"),
])
def test_decoder_with_wrong_rejections_fails_every_invalid_vector(tmp_path: Path, mode: str, options: list[str],
                                                                  reason: str) -> None:
    outcome = run_checker(tmp_path, "check-decoder", [*options, *only(SAMPLE)], decoder(tmp_path, mode))
    assert outcome.status == 1
    failed = outcome.failed()
    assert sorted(failed) == sorted(SAMPLE_INVALID)
    assert all(why.startswith(reason) for why in failed.values()), failed
    if reason.startswith("said"):
        for name in SAMPLE_INVALID:
            entry = ENTRIES[name]
            at = f" at {entry['expect_offset']}" if "--offsets" in options else ""
            want = f"error: {entry['expect_error']}{at}"
            assert failed[name].endswith(f", expected '{want}'")


def test_wrong_offset_passes_under_codes_alone(tmp_path: Path) -> None:
    outcome = run_checker(tmp_path, "check-decoder", ["--codes", *only(SAMPLE_INVALID)],
                          decoder(tmp_path, "wrong_offset"))
    assert outcome.status == 0 and outcome.failed() == {}


def test_decoder_printing_an_error_for_a_valid_vector_fails_under_codes(tmp_path: Path) -> None:
    outcome = run_checker(tmp_path, "check-decoder", ["--codes", *only(SAMPLE_VALID)],
                          decoder(tmp_path, "error_on_valid"))
    assert outcome.failed() == {name: "exit 0 but printed 'error: bad_magic'" for name in SAMPLE_VALID}


def test_hanging_decoder_times_out(tmp_path: Path) -> None:
    timeout, names = 0.5, [SAMPLE_VALID[0], SAMPLE_INVALID[0]]
    outcome = run_checker(tmp_path, "check-decoder", ["--codes", "--timeout", str(timeout), *only(names)],
                          decoder(tmp_path, "hang"))
    assert outcome.status == 1
    failed = outcome.failed()
    assert sorted(failed) == sorted(names)
    assert all(why.startswith(f"timed out after {timeout:g} s") for why in failed.values()), failed
    # The child `sleep 60` was killed with it: nothing kept the pipes open.
    assert outcome.seconds < len(names) * (timeout + 10)


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie left for init is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().rpartition(")")[2].split()[0] != "Z"


def test_terminated_checker_leaves_no_program_running(tmp_path: Path) -> None:
    """SIGTERM (a CI time limit) kills the programs, which run in sessions of their
    own, and their children."""
    pids = tmp_path / "pids"
    env = {**os.environ, "PYTHONPATH": str(DFC_ROOT), "DFC_TEST_PIDS": str(pids)}
    names = SAMPLE[:2]
    argv = [sys.executable, "-m", "dfc", "conformance", "check-decoder", "--jobs", str(len(names)), *only(names),
            "--", *decoder(tmp_path, "hang")]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    deadline = time.monotonic() + 60
    while len(pids.read_text().split() if pids.exists() else []) < 2 * len(names):
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and err == "dfc conformance: interrupted\n", (out, err)
    assert not [pid for pid in map(int, pids.read_text().split()) if _running(pid)]


@pytest.mark.parametrize("signal_name", ["SIGSEGV", "SIGKILL"])
def test_decoder_killed_by_a_signal_fails(tmp_path: Path, signal_name: str) -> None:
    outcome = run_checker(tmp_path, "check-decoder", only(SAMPLE), decoder(tmp_path, f"signal_{signal_name}"))
    assert outcome.status == 1
    failed = outcome.failed()
    assert sorted(failed) == sorted(SAMPLE)
    assert all(why.startswith(f"killed by {signal_name}") for why in failed.values()), failed


# --- broken encoders fail -----------------------------------------------------------------------

def test_encoder_writing_an_invalid_stream_fails(tmp_path: Path) -> None:
    outcome = run_checker(tmp_path, "check-encoder", only(SAMPLE_VALID), encoder(tmp_path, "corrupt"))
    assert outcome.status == 1
    failed = outcome.failed()
    assert sorted(failed) == sorted(SAMPLE_VALID)
    assert all(why.startswith("invalid stream: error: crc_mismatch at ") for why in failed.values()), failed


def test_encoder_writing_no_stream_fails(tmp_path: Path) -> None:
    outcome = run_checker(tmp_path, "check-encoder", only(SAMPLE_VALID), encoder(tmp_path, "no_stream"))
    assert outcome.failed() == {name: "exit 0 but wrote no stream" for name in SAMPLE_VALID}


def test_encoder_with_another_bit_depth_fails(tmp_path: Path) -> None:
    outcome = run_checker(tmp_path, "check-encoder", only(SAMPLE_VALID), encoder(tmp_path, "other_bits"))
    failed = outcome.failed()
    assert sorted(failed) == sorted(SAMPLE_VALID)
    for name in SAMPLE_VALID:
        bits = ENTRIES[name]["bits"]
        assert failed[name] == f"header bit_depth {bits - 1 if bits > 1 else 2}, asked for {bits}"


MOVABLE = _smallest([name for name in _valid("baseline") if _has_inner_value(name)]) + _smallest(
    [name for name in _valid("extended") if _has_inner_value(name)])


def test_encoder_of_another_tensor_fails(tmp_path: Path) -> None:
    """One value moved to the minimum: a valid stream of the asked header that
    decodes to other integers."""
    outcome = run_checker(tmp_path, "check-encoder", only(MOVABLE), encoder(tmp_path, "move_inner_value"))
    failed = outcome.failed()
    assert sorted(failed) == sorted(MOVABLE)
    assert all(why.startswith("integers differ in 1 of ") for why in failed.values()), failed


#: Vectors where the other choices make another stream: baseline ones with blocks
#: in modes other than 0 (SPEC §8.4), and extended ones (split_offset 0 in the header).
OTHER_CHOICES = _smallest([name for name in _valid("baseline") if _uses_modes_other_than_0(name)], 2) + _smallest(
    _valid("extended", "default")) + _smallest(_valid("extended", "fast"))


@pytest.mark.parametrize("identical", [False, True])
def test_valid_stream_of_other_choices_fails_only_identical(tmp_path: Path, identical: bool) -> None:
    options = ["--identical"] * identical + only(OTHER_CHOICES)
    outcome = run_checker(tmp_path, "check-encoder", options, encoder(tmp_path, "other_choices"))
    failed = outcome.failed()
    if not identical:
        assert outcome.status == 0 and failed == {}, outcome.out
        assert all(r["reason"].startswith("decodes exactly; ") for r in outcome.results().values())
    else:
        assert outcome.status == 1 and sorted(failed) == sorted(OTHER_CHOICES)
        for name, why in failed.items():
            assert why.startswith(f"decodes exactly but differs from {name}.dfc from byte "), why


SETTING_RULE = _smallest(_valid("baseline")) + _smallest(_valid("extended", "default")) + _smallest(
    _valid("extended", "fast"))


def test_encoder_ignoring_the_setting_fails_the_header_rule(tmp_path: Path) -> None:
    """Always setting 1 (fast): a valid stream with the right outputs, but not the
    setting asked for where that is default."""
    outcome = run_checker(tmp_path, "check-encoder", only(SETTING_RULE), encoder(tmp_path, "always_fast"))
    asked_default = [name for name in SETTING_RULE if ENTRIES[name]["profile"] == "extended"
                     and ENTRIES[name]["setting"] == "default"]
    assert outcome.failed() == {name: "header setting 1, asked for 0 (default)" for name in asked_default}


# --- the command line ---------------------------------------------------------------------------

def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dfc conformance: error: "), err
    assert "Traceback" not in err
    return lines[0]


#: Command lines that cannot run, and what their one error line says. DEC and ENC
#: stand for the programs' whole commands, DEC: and ENC: for the program and its
#: mode alone, TMP for a fresh folder.
USAGE_ERRORS = [
    (["check-decoder", "--"], "no decoder command"),
    (["check-decoder"], "no decoder command"),
    (["check-decoder", "--", "DEC:", "{stream}", "{integers}"], "the decoder command has no {floats}"),
    (["check-decoder", "--", "DEC:", "{stream}", "{integers}", "{float}"], "{float}, which is not a placeholder"),
    (["check-decoder", "--", "TMP/missing", "{stream}", "{integers}", "{floats}"], "cannot run TMP/missing"),
    (["check-encoder", "--", "ENC:", "{stream}", "--shape", "{channels}", "{height}", "{width}"],
     "the encoder command has no {input}"),
    (["check-encoder", "--only", INVALID[0], "--", "ENC"], "no vector for the encoder to run"),
    (["check-decoder", "--only", "no_such_vector*", "--", "DEC"], "--only no_such_vector*: no vector"),
    (["check-decoder", "--json", "TMP/none/r.json", "--", "DEC"], "no folder"),
    (["check-decoder", "--vectors", "TMP", "--", "DEC"], "manifest.json is missing"),
    (["--backend", "fast", "check-decoder", "--", "DEC"], "--backend chooses among dfc's own decoders"),
    (["--", "DEC"], "needs check-decoder or check-encoder"),
]


@pytest.mark.parametrize(("argv", "message"), USAGE_ERRORS)
def test_usage_error_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                 message: str) -> None:
    dec, enc = decoder(tmp_path, "good"), encoder(tmp_path, "good")
    commands = {"DEC": dec, "ENC": enc, "DEC:": dec[:3], "ENC:": enc[:3]}
    expanded = [part for arg in argv for part in commands.get(arg, [arg.replace("TMP", str(tmp_path))])]
    assert main(["conformance", *expanded]) == 1
    assert message.replace("TMP", str(tmp_path)) in _one_error_line(capsys)


def test_usage_error_in_a_real_process(tmp_path: Path) -> None:
    """The console entry point: exit 1, one line on stderr, nothing on stdout."""
    env = {**os.environ, "PYTHONPATH": str(DFC_ROOT)}
    proc = subprocess.run([sys.executable, "-m", "dfc", "conformance", "check-decoder", "--", "mydec", "{stream}"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, check=False)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.splitlines() == ["dfc conformance: error: the decoder command has no {integers} {floats}"]


def test_old_spelling_of_check_decoder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    command = " ".join(decoder(tmp_path, "good"))
    report = tmp_path / "r.json"
    assert main(["conformance", "--decoder", command, "--codes", *only(SAMPLE), "--json", str(report)]) == 0
    (check,) = json.loads(report.read_text())["checks"]
    assert check["check"] == "decoder" and check["tests"] == len(SAMPLE) and check["failures"] == 0
    assert "invalid streams rejected with 'error: CODE'" in check["requires"]


def test_only_patterns_select_from_the_manifest(tmp_path: Path) -> None:
    prefix = VALID[-1][:5]
    outcome = run_checker(tmp_path, "check-decoder", ["--only", prefix + "*", "--only", INVALID[0]],
                          decoder(tmp_path, "echo"))  # quick: decodes nothing
    assert list(outcome.results()) == [name for name in VALID + INVALID
                                       if name.startswith(prefix) or name == INVALID[0]]


def test_failing_run_junit_report(tmp_path: Path) -> None:
    junit = tmp_path / "r.xml"
    outcome = run_checker(tmp_path, "check-decoder", ["--junit", str(junit), *only(SAMPLE)],
                          decoder(tmp_path, "flip_integers"))
    assert outcome.status == 1 and "wrote " + str(junit) in outcome.out
    root = ET.parse(junit).getroot()
    assert (root.get("tests"), root.get("failures")) == (str(len(SAMPLE)), str(len(SAMPLE_VALID)))
    failures = {case.get("name"): case.find("failure") for case in root.iter("testcase")}
    assert {name for name, failure in failures.items() if failure is not None} == set(SAMPLE_VALID)
    for name in SAMPLE_VALID:
        assert failures[name].get("message") == outcome.failed()[name]  # type: ignore[union-attr]
    assert outcome.report["passed"] is False and outcome.report["checks"][0]["failures"] == len(SAMPLE_VALID)


@pytest.mark.parametrize(("argv", "wants"), [
    ([], ["check-decoder", "check-encoder", "--backend", "examples:", "dfc conformance --backend fast"]),
    (["check-decoder"], ["{stream}", "{integers}", "{floats}", "error: CODE at OFFSET", "--codes", "--offsets",
                         "--timeout", "--only", "--junit", "examples:"]),
    (["check-encoder"], ["{input}", "{channels}", "{bits}", "{profile}", "{setting}", "--identical",
                         "--format", "examples:"]),
])
def test_help(capsys: pytest.CaptureFixture[str], argv: list[str], wants: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["conformance", *argv, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert str(default_vectors()) in out  # the default folder, shown
    missing = [want for want in wants if want not in out]
    assert not missing, out


def test_default_vectors_are_the_packages() -> None:
    """dfc/conformance_streams: in a checkout the symlink to this folder, in an
    installed dfc a copy of it, which the checks run unless told otherwise."""
    assert default_vectors() == (Path(dfc.__file__).resolve().parent / "conformance_streams").resolve()
    assert load_manifest(default_vectors()) == MANIFEST


@pytest.mark.parametrize("backend", ["reference", "fast"])
def test_dfc_backends_pass(tmp_path: Path, capsys: pytest.CaptureFixture[str], backend: str) -> None:
    """dfc's own backends through the command line; the reference on the sample
    only (slow on the large vectors; tests/test_conformance.py decodes them all)."""
    if backend == "fast":
        load_impl("fast")  # skips when not built (fails under DFC_REQUIRE_FAST=1)
    names = SAMPLE if backend == "reference" else VALID + INVALID
    report = tmp_path / "r.json"
    selection = only(names) if backend == "reference" else []
    assert main(["conformance", "--backend", backend, *selection, "--json", str(report)]) == 0
    (check,) = json.loads(report.read_text())["checks"]
    assert check["title"] == f"dfc.{backend}" and check["failures"] == 0
    assert [r["vector"] for r in check["results"]] == [name for name in VALID + INVALID if name in names]


@pytest.mark.parametrize("name", INVALID)
def test_dfc_decode_prints_the_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    """dfc's own command line keeps the contract it checks others against. It
    decodes sequences (SPEC §3.6), so bytes after a first stream are the next
    member, not trailing_data: there it says what dfc.sequence finds."""
    entry = ENTRIES[name]
    data = (FOLDER / entry["files"]["stream"]["path"]).read_bytes()
    try:
        decode_many(data)
    except DecodeError as exc:
        as_sequence = (exc.code, exc.offset)
    else:
        pytest.fail(f"{name} decodes as a sequence")
    if entry["expect_error"] != "trailing_data":
        assert as_sequence == (entry["expect_error"], entry["expect_offset"])
    out = tmp_path / "x.npy"
    assert main(["decode", str(FOLDER / entry["files"]["stream"]["path"]), str(out)]) == 1
    err = capsys.readouterr().err
    assert error_lines(err) == [as_sequence], err
    assert not out.exists()


def test_manifest_hashes_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A vector folder with one altered file is refused, not run."""
    copy = tmp_path / "vectors"
    for entry in ENTRIES.values():
        for item in entry["files"].values():
            (copy / item["path"]).parent.mkdir(parents=True, exist_ok=True)
            (copy / item["path"]).write_bytes((FOLDER / item["path"]).read_bytes())
    (copy / "manifest.json").write_text(json.dumps(MANIFEST))
    victim = copy / ENTRIES[SAMPLE_VALID[0]]["files"]["integers"]["path"]
    data = bytearray(victim.read_bytes())
    data[-1] ^= 1
    victim.write_bytes(bytes(data))
    assert main(["conformance", "--vectors", str(copy)]) == 1
    assert "does not match its SHA-256" in _one_error_line(capsys)
