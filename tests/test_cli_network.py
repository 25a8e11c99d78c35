"""`bitprop eval|grad|step` on files: JSON keys, exit codes, one-line errors."""

import json
import sys
import subprocess
from fractions import Fraction

import pytest

import bitprop

from bitprop.cli import run

NET = {"format": "bitprop.network/1",
       "vertices": [{"name": "x"}, {"name": "h", "activation": "relu"},
                    {"name": "o", "activation": "identity"}],
       "edges": [{"from": "x", "to": "h", "weight": "2", "bias": "-1"},
                 {"from": "h", "to": "o", "weight": "3", "bias": "0"}],
       "inputs": ["x"], "outputs": ["o"]}
DATA = {"format": "bitprop.dataset/1", "samples": [{"x": ["3/2"], "y": ["1"]}],
        "loss": {"kind": "square"}}


def _write(tmp_path, name, document):
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return str(path)


def _json(capsys, argv):
    assert run(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_grad_json_keys_and_values(tmp_path, capsys):
    out = _json(capsys, ["grad", _write(tmp_path, "n.json", NET), _write(tmp_path, "d.json", DATA),
                         "--json"])
    assert out["loss"] == "25"
    assert out["grad"] == {"weight": ["45", "20"], "bias": ["30", "10"]}
    assert {"max_value", "max_grad"} <= set(out["bits"])
    assert out["bits"]["per_depth"][1] == {"depth": 1, "z": 3, "f": 3, "adjoint": 6}
    assert set(out["timing"]) == {"load", "compile", "forward", "backward"}


def test_grad_per_vertex_bits(tmp_path, capsys):
    out = _json(capsys, ["grad", _write(tmp_path, "n.json", NET), _write(tmp_path, "d.json", DATA),
                         "--per-vertex", "--json"])
    # z_h = 2 (2 + 1 bits), dL/dz_h = 30 (5 + 1 bits); f_o = 6
    assert out["bits"]["per_vertex"]["h"] == {"z": 3, "f": 3, "adjoint": 6}
    assert out["bits"]["per_vertex"]["o"]["f"] == 4


def test_eval_inline_inputs_and_all(tmp_path, capsys):
    out = _json(capsys, ["eval", _write(tmp_path, "n.json", NET), "--input",
                         '[["3/2"], ["-1/4"]]', "--all", "--json"])
    assert out["outputs"] == [["6"], ["0"]]
    assert out["values"][0]["z"] == {"h": "2", "o": "6"}
    assert out["values"][1]["f"]["h"] == "0"
    assert isinstance(out["bits"]["max"], int)
    assert {"load", "compile", "forward"} <= set(out["timing"])


def test_step_writes_network_and_losses(tmp_path, capsys):
    net2 = tmp_path / "n2.json"
    out = _json(capsys, ["step", _write(tmp_path, "n.json", NET), _write(tmp_path, "d.json", DATA),
                         "--lr", "1/100", "--steps", "2", "-o", str(net2), "--json"])
    assert len(out["losses"]) == 3 and out["losses"][0] == "25"
    written = json.loads(net2.read_text())
    # one step: w1 = 2 - 45/100, b1 = -1 - 30/100
    assert Fraction(written["edges"][0]["weight"]) < 2
    assert [Fraction(q) for q in out["losses"]] == sorted(Fraction(q) for q in out["losses"])[::-1]


def test_readable_output(tmp_path, capsys):
    assert run(["grad", _write(tmp_path, "n.json", NET), _write(tmp_path, "d.json", DATA)]) == 0
    text = capsys.readouterr().out
    assert "loss: 25" in text and "dL/dweight" in text


BAD = [
    ("broken JSON", "n.json", '{"vertices": [', "n.json: not valid JSON"),
    ("unknown top key", "n.json", {**NET, "vertexes": []}, "n.json: vertexes: unknown key"),
    ("unknown edge key", "n.json", {**NET, "edges": [{**NET["edges"][0], "wieght": "1"},
                                                       NET["edges"][1]]},
     "n.json: edges[0].wieght: unknown key"),
    ("zero denominator", "n.json", {**NET, "edges": [{**NET["edges"][0], "weight": "1/0"},
                                                       NET["edges"][1]]},
     "n.json: edges[0].weight: '1/0' has a zero denominator"),
    ("double sign", "n.json", {**NET, "edges": [NET["edges"][0], {**NET["edges"][1],
                                                                   "bias": "--3"}]},
     "n.json: edges[1].bias: '--3' is not a rational"),
    ("float without opt-in", "n.json", {**NET, "edges": [{**NET["edges"][0], "weight": 0.5},
                                                           NET["edges"][1]]},
     "n.json: edges[0].weight: 0.5 is a float"),
    ("unknown activation", "n.json",
     {**NET, "vertices": [{"name": "x"}, {"name": "h", "activation": "relu6"},
                          {"name": "o", "activation": "identity"}]},
     "n.json: vertices[1].activation: unknown activation 'relu6'"),
    ("cycle", "n.json", {**NET, "vertices": NET["vertices"] + [{"name": "c", "activation": "relu"}],
                         "edges": NET["edges"] + [{"from": "o", "to": "c"}, {"from": "c", "to": "h"}]},
     "n.json: edges: the graph has a cycle through vertex"),
    ("edge to unknown vertex", "n.json", {**NET, "edges": NET["edges"] + [{"from": "x", "to": "y"}]},
     "n.json: edges[2].to: unknown vertex 'y'"),
    ("duplicate vertex", "n.json", {**NET, "vertices": NET["vertices"] + [{"name": "h"}]},
     "n.json: vertices[3].name: duplicate vertex name 'h'"),
    ("NaN constant", "n.json", json.dumps(NET).replace('"weight": "2"', '"weight": NaN'),
     "n.json: NaN is not a number"),
]


@pytest.mark.parametrize("label,name,document,message", BAD, ids=[b[0] for b in BAD])
def test_bad_network_exits_2_with_path(tmp_path, capsys, label, name, document, message):
    path = _write(tmp_path, name, document)
    data = _write(tmp_path, "d.json", DATA)
    assert run(["grad", path, data, "--json"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("bitprop: error: ")
    assert message.replace("n.json", path) in err


@pytest.mark.parametrize("data,message", [
    ({**DATA, "samples": [{"x": ["1", "2"], "y": ["1"]}]},
     "d.json: samples[0].x: has 2 entries but the network has 1 inputs"),
    ({**DATA, "samples": [{"x": ["1"], "y": ["1", "2"]}]},
     "d.json: samples[0].y: has 2 entries but the network has 1 outputs"),
    ({**DATA, "loss": {"kind": "l2"}}, "d.json: loss.kind: unknown loss kind 'l2'"),
    ({**DATA, "reduction": "max"}, "d.json: reduction: 'max' is not a reduction"),
    ({**DATA, "samples": [{"x": ["1"]}]}, "d.json: samples: the samples have no labels"),
])
def test_bad_dataset_exits_2_with_path(tmp_path, capsys, data, message):
    net = _write(tmp_path, "n.json", NET)
    path = _write(tmp_path, "d.json", data)
    assert run(["grad", net, path]) == 2
    assert message.replace("d.json", path) in capsys.readouterr().err


def test_missing_file(capsys):
    assert run(["grad", "/nonexistent/n.json", "/nonexistent/d.json"]) == 2
    assert "bitprop: error: /nonexistent/n.json: no such file" in capsys.readouterr().err


def test_stdin_network(tmp_path, monkeypatch, capsys):
    import io
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(NET)))
    out = _json(capsys, ["eval", "-", "--input", '[["3/2"]]', "--json"])
    assert out["outputs"] == [["6"]]


def test_entry_point_as_a_process(tmp_path):
    """The real executable path: ``python -m bitprop`` with exit status and one JSON object."""
    done = subprocess.run([sys.executable, "-m", "bitprop", "grad", _write(tmp_path, "n.json", NET),
                           _write(tmp_path, "d.json", DATA), "--json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["loss"] == "25"
    bad = subprocess.run([sys.executable, "-m", "bitprop", "grad", _write(tmp_path, "b.json", "{"),
                          _write(tmp_path, "d.json", DATA)], capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("bitprop: error: ")


@pytest.mark.parametrize("closed, data, status, message", [
    (1, "d.json", 1, "bitprop: error: standard output is closed"),
    (0, "-", 2, "bitprop: error: <stdin>: not valid JSON"),
    (2, "d.json", 0, None),
])
def test_closed_standard_streams(tmp_path, closed, data, status, message):
    """A standard stream closed by the shell (``>&-``, ``<&-``, ``2>&-``): Python leaves it
    None, and the command used to fail on it with an AttributeError traceback."""
    import os
    data = _write(tmp_path, data, DATA) if data != "-" else data
    done = subprocess.run([sys.executable, "-m", "bitprop", "grad",
                           _write(tmp_path, "n.json", NET), data, "--json"],
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, preexec_fn=lambda: os.close(closed),
                          timeout=120, text=True)
    assert done.returncode == status, done.stderr
    assert "Traceback" not in done.stderr
    if message:
        assert done.stderr.startswith(message)


def _wide_files(tmp_path):
    """A network and dataset whose grad --json is far longer than a pipe's buffer."""
    widths = [40, 40, 40, 40, 1]
    weights = [[[f"{(i * 7 + j) % 11 - 5}/{j % 4 + 3}" for j in range(n)] for i in range(m)]
               for n, m in zip(widths, widths[1:])]
    net = bitprop.Network.mlp(widths, weights=weights)
    data = bitprop.Dataset([[f"{k + s}/{s + 3}" for k in range(40)] for s in range(3)],
                           [["1"], ["-2"], ["1/2"]])
    net.save(tmp_path / "w.json")
    data.save(tmp_path / "wd.json")
    return str(tmp_path / "w.json"), str(tmp_path / "wd.json"), net, data


def test_the_command_leaves_after_exit_handlers_with_all_its_output(tmp_path):
    """main() skips the interpreter's teardown: exit handlers still run, and every byte of a
    long output is written, through a pipe, before the process ends."""
    net_path, data_path, net, data = _wide_files(tmp_path)
    code = ("import atexit, sys; atexit.register(lambda: print('handled', file=sys.stderr)); "
            "from bitprop.cli import main; sys.argv[0] = 'bitprop'; main()")
    done = subprocess.run([sys.executable, "-c", code, "grad", net_path, data_path, "--json"],
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout) > 1 << 17              # a pipe buffers 64 KiB
    result = json.loads(done.stdout)
    assert result["grad"]["weight"] == [bitprop.to_str(q) for q in net.grad(data).grad_weight]
    assert done.stderr.decode().strip() == "handled"


def test_a_reader_that_stops_early_gets_status_1_and_no_traceback(tmp_path):
    net_path, data_path, _, _ = _wide_files(tmp_path)
    process = subprocess.Popen([sys.executable, "-m", "bitprop", "grad", net_path, data_path,
                                "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout.read(10) == b'{"loss": "'
    process.stdout.close()
    err = process.stderr.read().decode()
    assert process.wait(timeout=120) == 1
    assert "Traceback" not in err and "Exception ignored" not in err, err


def test_grad_imports_only_what_it_needs(tmp_path):
    """python-flint, numpy, tqdm and Dask cost more to import than a small grad takes to run:
    ``bitprop grad --json`` loads none of them."""
    code = ("import sys; from bitprop.cli import run; status = run(sys.argv[1:]); "
            "print(sorted(m for m in ('flint', 'numpy', 'tqdm', 'dask', 'matplotlib') "
            "if m in sys.modules), file=sys.stderr); sys.exit(status)")
    done = subprocess.run([sys.executable, "-c", code, "grad", _write(tmp_path, "n.json", NET),
                           _write(tmp_path, "d.json", DATA), "--json"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["grad"] == {"weight": ["45", "20"], "bias": ["30", "10"]}
    assert done.stderr.strip() == "[]"


def test_grad_json_is_the_same_for_every_thread_count(tmp_path, capsys):
    """--threads also counts the threads printing the gradients; the text is the same."""
    net, data = _write(tmp_path, "n.json", NET), _write(tmp_path, "d.json", DATA)
    outputs = []
    for threads in ("1", "3"):
        out = _json(capsys, ["grad", net, data, "--json", "--threads", threads])
        out.pop("timing")
        outputs.append(out)
    assert outputs[0] == outputs[1]
