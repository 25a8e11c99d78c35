"""Every file of the bad-input corpus (tests/data/bad/MANIFEST.json) is refused the same way:
exit status 2 and exactly one line ``bitprop: error: FILE: PATH: PROBLEM`` on stderr, naming
the file, the JSON path (or line) and the problem, quickly, never a traceback.

The corpus and its manifest are written by tests/data/bad/generate.py.
"""

import json
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import pytest

import bitprop
from bitprop.cli import run
from bitprop.slp import Program

DATA = Path(__file__).resolve().parent / "data"
BAD = DATA / "bad"
GOOD = DATA / "good"
MANIFEST = json.loads((BAD / "MANIFEST.json").read_text(encoding="utf-8"))["cases"]
#: A malformed file is refused at once: reading, not computing (the 10^6-digit cases included).
SECONDS = 10.0
#: An error message is one readable line, not an echo of a huge input.
MAX_LINE = 2000


def _argv(entry, tmp_path):
    """The case's command line with the placeholders filled in."""
    path = BAD / entry["file"]
    contents = path.read_bytes().decode("utf-8", "surrogateescape").rstrip("\n")
    fill = {"{case}": str(path), "{good}": str(GOOD), "{tmp}": str(tmp_path),
            "{contents}": contents}
    argv = []
    for arg in entry["command"]:
        for key, value in fill.items():
            arg = arg.replace(key, value)
        argv.append(arg)
    return argv


def _check(entry, status, err, seconds):
    lines = err.splitlines()
    assert status == 2, f"exit status {status}, stderr: {err[:500]}"
    assert len(lines) == 1 and err.endswith("\n"), f"not one line: {err[:1000]}"
    line = lines[0]
    assert line.startswith("bitprop: error: "), line[:500]
    assert "Traceback" not in line and len(line) <= MAX_LINE, line[:500]
    if entry.get("names_file", True):
        assert f"bitprop: error: {BAD / entry['file']}: " in line, line[:500]
    for fragment in entry["expect"]:
        assert fragment in line, f"{fragment!r} not in {line[:500]!r}"
    assert seconds < SECONDS, f"took {seconds:.1f} s"


def _params(entries):
    marks = lambda e: [pytest.mark.xfail(reason=e["xfail"], strict=True)] if e.get("xfail") else []  # noqa: E731
    return [pytest.param(e, id=e["file"], marks=marks(e)) for e in entries]


@pytest.mark.parametrize("entry", _params(MANIFEST))
def test_bad_input_is_refused_in_one_line(entry, tmp_path, capsys):
    argv = _argv(entry, tmp_path)
    started = time.monotonic()
    try:
        status = run(argv)
    except BaseException as err:                       # a crash: show it as a failure
        pytest.fail(f"run() raised {type(err).__name__}: {str(err)[:300]}")
    seconds = time.monotonic() - started
    captured = capsys.readouterr()
    _check(entry, status, captured.err, seconds)
    assert list(tmp_path.iterdir()) == [], "a refused input must not write an output file"


#: One case of each reader through a real process: the console entry point, no capsys.
SUBPROCESS_CASES = ["network/weight_zero_denominator.json", "network/utf8_bom.json",
                    "dataset/x_too_long.json", "dataset/deep_array_100000.json",
                    "slp_json/operand_million_digits.json", "slp_text/constant_twice.slp",
                    "polynomial/degree_100000_digits.txt", "instance/query_edge_out_of_range.json"]


@pytest.mark.parametrize("entry", _params([e for e in MANIFEST if e["file"] in SUBPROCESS_CASES]))
def test_bad_input_through_a_process(entry, tmp_path):
    argv = _argv(entry, tmp_path)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "bitprop", *argv], capture_output=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    seconds = time.monotonic() - started
    assert done.stdout == b""
    _check(entry, done.returncode, done.stderr.decode("utf-8", "backslashreplace"),
           seconds - 2.0)     # less the interpreter's start-up


@pytest.mark.parametrize("argv", [
    ["eval", "network.json", "--input", "inputs.json"], ["grad", "network.json", "dataset.json"],
    ["slp", "eval", "slp.json"], ["slp", "eval", "program.slp"], ["solve", "instance.json"],
    ["gadget", "--sigma", "3/2*z^3 - z + 1/5"]])
def test_the_valid_companions_are_accepted(argv, capsys):
    """Each bad case is one edit away from these files: they themselves must pass."""
    argv = [str(GOOD / a) if (GOOD / a).is_file() else a for a in argv]
    assert run(argv) == 0, capsys.readouterr().err
    assert capsys.readouterr().err == ""


def test_the_subprocess_sample_exists():
    assert {e["file"] for e in MANIFEST} >= set(SUBPROCESS_CASES)


def test_the_corpus_covers_every_reader():
    readers = {}
    for entry in MANIFEST:
        readers.setdefault(entry["file"].split("/")[0], []).append(entry)
    assert set(readers) == {"network", "dataset", "inputs", "slp_json", "slp_text", "polynomial",
                            "instance"}
    assert len(MANIFEST) >= 100
    on_disk = {str(p.relative_to(BAD)) for p in BAD.glob("*/*")}
    assert on_disk == {e["file"] for e in MANIFEST}, "MANIFEST.json and the files disagree"


def _big_network(tmp_path):
    """The good network with a 10^6-digit rational weight and a 100,001-digit JSON integer
    weight (json.dumps refuses ints over 4300 digits: that one is printed by FLINT)."""
    from bitprop.numbers import to_str
    network = json.loads((GOOD / "network.json").read_text())
    network["edges"][0]["weight"] = "7" * 10 ** 6 + "/" + "3" * 10 ** 6 + "1"
    network["edges"][1]["weight"] = "@BIG@"
    path = tmp_path / "big.json"
    path.write_text(json.dumps(network).replace('"@BIG@"', to_str(Fraction(10 ** 100_000))))
    return path


def test_a_million_digit_rational_is_legal_and_read_quickly(tmp_path):
    """The huge numbers of the corpus are refused for where they stand, not for their size."""
    path = _big_network(tmp_path)
    started = time.monotonic()
    network = bitprop.Network.load(str(path))
    program = Program.parse(json.dumps({"constant": "-" + "9" * 10 ** 6, "ops": [["*", 0, 0]]}))
    data = bitprop.Dataset.from_json({"samples": [{"x": ["1/" + "3" * 10 ** 6, "0"]}]})
    assert time.monotonic() - started < SECONDS
    assert network.weights[1] == 10 ** 100_000
    assert network.weights[0].denominator % 10 == 1 and bitprop.bit_length(network.weights[0]) > 6e6
    assert program.constant == -(10 ** 10 ** 6 - 1) and data.inputs[0][0] * 3 < 1


def test_a_million_digit_rational_evaluates(tmp_path):
    """``bitprop eval`` on it, then one more pass in the same process (repeated passes with
    such a weight once crashed: a use-after-free in DensePass.__dealloc__), in a process of
    its own so that a crash fails this test, not the run."""
    path = _big_network(tmp_path)
    script = ("import sys, bitprop\n"
              "from bitprop.cli import run\n"
              "assert run(['eval', sys.argv[1], '--input', sys.argv[2], '--json']) == 0\n"
              "bitprop.Network.load(sys.argv[1]).forward([['2', '1']], threads=2)\n")
    done = subprocess.run([sys.executable, "-c", script, str(path), str(GOOD / "inputs.json")],
                          capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-2000:]
    outputs = json.loads(done.stdout)["outputs"]
    assert len(outputs) == 2 and len(outputs[1][0]) > 10 ** 6
