"""The command line's boundaries: input size, time budget over loading, the number cache,
the C reader's presizing, out of memory inside FLINT/GMP, SIGTERM (issue 21)."""

import json
import os
import resource
import signal
import subprocess
import sys
import textwrap
import time
from fractions import Fraction

import pytest

import bitprop
from bitprop import numbers
from bitprop.cli import run
from bitprop.jsonfiles import read_bytes, set_max_input_bytes

#: Where the bitprop under test lives (the source tree built in place, or the installed
#: package): the child processes import the same one.
SRC = os.path.dirname(os.path.dirname(os.path.abspath(bitprop.__file__)))


def _bitprop(args, *, script=None, limit_bytes=None, **options):
    """A bitprop command line in a child process (``script``: Python run before main)."""
    code = (script or "") + "\nimport sys\nfrom bitprop.cli import main\n" \
        f"sys.argv = ['bitprop'] + {list(args)!r}\nmain()\n"

    def limit():
        if limit_bytes is not None:
            resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))

    env = dict(os.environ, PYTHONPATH=SRC)
    return subprocess.Popen([sys.executable, "-c", code], env=env, preexec_fn=limit,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **options)


def _network(tmp_path):
    path = tmp_path / "net.json"
    bitprop.Network.chain(2, "relu").save(path)
    return path


# --- --max-input-bytes ------------------------------------------------------------------------

def test_an_endless_input_stops_at_the_limit_naming_the_file(tmp_path, capsys):
    data = tmp_path / "data.json"
    data.write_text('{"samples": [{"x": ["1"], "y": ["1"]}]}')
    assert run(["grad", "/dev/zero", str(data), "--max-input-bytes", "100000"]) == 2
    assert capsys.readouterr().err == (
        "bitprop: error: /dev/zero: has more than the input limit of 100000 bytes "
        "(--max-input-bytes)\n")


def test_a_large_regular_file_is_refused_before_it_is_read(tmp_path, capsys):
    net = _network(tmp_path)
    size = net.stat().st_size
    assert run(["eval", str(net), "--input", '[["1"]]', "--max-input-bytes", str(size - 1)]) == 2
    assert f"{net}: has {size} bytes, more than the input limit of {size - 1} bytes" in \
        capsys.readouterr().err
    assert run(["eval", str(net), "--input", '[["1"]]', "--max-input-bytes", str(size)]) == 0


def test_the_limit_is_back_to_its_default_after_a_command(tmp_path):
    net = _network(tmp_path)
    assert run(["eval", str(net), "--input", '[["1"]]', "--max-input-bytes", "10"]) == 2
    assert read_bytes(str(net))[0] == net.read_bytes()


def test_a_pipe_is_read_in_chunks_up_to_the_limit(monkeypatch):
    read, write = os.pipe()
    os.write(write, b"x" * 5000)
    os.close(write)
    monkeypatch.setattr("bitprop.jsonfiles._CHUNK", 1000)
    set_max_input_bytes(4999)
    try:
        with open(read, "rb") as handle, pytest.raises(bitprop.BitpropInputError,
                                                       match="input limit of 4999"):
            monkeypatch.setattr(sys, "stdin", type("In", (), {"buffer": handle})())
            read_bytes("-")
    finally:
        set_max_input_bytes(None)


def test_every_command_that_reads_files_takes_the_option():
    from bitprop.cli import COMMAND_MODULES, cli
    from click import Context
    ctx = Context(cli)
    with_files = []
    for name in COMMAND_MODULES:
        command = cli.get_command(ctx, name)
        for sub in [command, *getattr(command, "commands", {}).values()]:
            if any(param.param_type_name == "argument" for param in sub.params):
                with_files.append(sub.name)
                assert "--max-input-bytes" in [o for p in sub.params for o in p.opts], sub.name
    assert {"eval", "grad", "step", "solve", "verify", "fit"} <= set(with_files)


# --- the time budget covers loading; the number cache ----------------------------------------

def test_the_time_budget_stops_a_slow_load(tmp_path, monkeypatch, capsys):
    """Loading that would take 30 s is stopped by the budget, and never finishes."""
    finished = []

    def slow_load(path, allow_float=False):
        for _ in range(3000):
            time.sleep(0.01)
        finished.append(path)

    monkeypatch.setattr(bitprop.Network, "load", staticmethod(slow_load))
    net = _network(tmp_path)
    assert run(["eval", str(net), "--input", '[["1"]]', "--time-budget", "0.2"]) == 1
    assert capsys.readouterr().err == "bitprop: error: stopped after the time budget of 0.2 s\n"
    assert finished == []
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)     # disarmed after the command


def test_huge_powers_of_ten_are_exact_and_not_cached():
    numbers._PARSED.clear()
    value = numbers.rational("9e30000")
    assert value == 9 * 10 ** 30000
    assert numbers.rational("-3e-25000") == Fraction(-3, 10 ** 25000)
    assert "9e30000" not in numbers._PARSED and "-3e-25000" not in numbers._PARSED
    assert numbers.rational("5e3") == 5000 and "5e3" in numbers._PARSED


# --- the C edge reader's presizing -----------------------------------------------------------

def test_a_million_commas_in_the_edges_are_not_presized_for(tmp_path, capsys):
    document = json.dumps({"vertices": [{"name": "x"}, {"name": "y", "activation": "relu"}],
                           "edges": [], "inputs": ["x"], "outputs": ["y"]})
    path = tmp_path / "net.json"
    path.write_text(document.replace('"edges": []', '"edges": [' + "," * 10 ** 6 + "]"))
    from bitprop._plain_json import find_array
    data = path.read_bytes()
    assert find_array(data, b"edges")[2] == 10 ** 6 + 1       # the bound the reader is given
    probe = ("import sys\n"
             "from bitprop import Network\n"
             "try:\n    Network.load(sys.argv[1])\n"
             "except Exception as err:\n    print(err)\n"
             # this process's peak (ru_maxrss would carry over pytest's across exec)
             "print(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])\n")
    env = dict(os.environ, PYTHONPATH=SRC)
    out = subprocess.run([sys.executable, "-c", probe, str(path)], env=env, text=True,
                         capture_output=True, check=True).stdout.splitlines()
    assert out[0].startswith(f"{path}: not valid JSON")
    # 10^6 presized edges would hold 49 MB of columns; 1 MB of text holds 50,000 at most
    assert int(out[1]) < 150_000, out


# --- out of memory inside FLINT/GMP ----------------------------------------------------------

def test_out_of_memory_inside_gmp_is_one_error_line(tmp_path):
    program = tmp_path / "squares.slp"
    program.write_text("x0 = 3\n" + "".join(f"x{i} = x{i - 1} * x{i - 1}\n"
                                            for i in range(1, 41)))
    child = _bitprop(["slp", "eval", str(program), "--max-bits", str(1 << 40)],
                     limit_bytes=300 << 20)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 1, err
    assert err == ("bitprop: error: out of memory inside FLINT/GMP (consider --max-bits to stop "
                   "runaway growth early)\n")


# --- SIGTERM ---------------------------------------------------------------------------------

_ANNOUNCE_WORKERS = textwrap.dedent("""
    import sys
    import bitprop.workers as workers
    start = workers.start_workers
    def announced(targets):
        threads = start(targets)
        print("started", file=sys.stderr, flush=True)
        return threads
    workers.start_workers = announced
""")


@pytest.mark.parametrize("sent, status, message", [
    (signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")])
def test_sigterm_and_ctrl_c_stop_a_run_with_one_line(tmp_path, sent, status, message):
    """SIGTERM stops a run as Ctrl-C does; neither message has a blank line before it."""
    net = tmp_path / "chain.json"
    bitprop.Network.chain(40, "square", weight=1, bias="1/3").save(net)
    child = _bitprop(["eval", str(net), "--input", '[["3/2"]]', "--threads", "1"],
                     script=_ANNOUNCE_WORKERS)
    assert child.stderr.readline() == "started\n"
    child.send_signal(sent)
    out, err = child.communicate(timeout=60)
    assert (child.returncode, err) == (status, f"bitprop: error: {message}\n")
