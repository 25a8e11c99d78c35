"""`bitprop growth`: specs, the sweep's rows against the evaluator's own statistics, budgets
that end a series cleanly, Ctrl-C, and the CSV / JSON / PNG files."""

import json
import math
import os
import signal
import subprocess
import sys
import time

import pytest

import bitprop
from bitprop.cli import run
from bitprop.errors import BitpropInputError
from bitprop.experiments import growth
from bitprop.experiments.tables import read_csv

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _config(activations=("relu", "square"), depths=(1, 2, 3, 4), **options):
    options.setdefault("widths", (3,))
    options.setdefault("seeds", (0, 1))
    options.setdefault("samples", 2)
    return growth.GrowthConfig(tuple(growth.parse_activation(a) for a in activations),
                               tuple(depths), **options)


# --- specs -----------------------------------------------------------------------------------
def test_activation_specs():
    assert growth.parse_activation("square")[1].coefficients == (0, 0, 1)
    assert growth.parse_activation("cube")[1].degree == 3
    assert growth.parse_activation("relu")[1].kind == "relu"
    assert growth.parse_activation("leaky_relu")[1].slope == bitprop.rational("1/8")
    assert growth.parse_activation("leaky_relu:1/10")[1].slope == bitprop.rational("1/10")
    assert growth.parse_activation("pwl")[1].kind == "piecewise_linear"
    label, rounded = growth.parse_activation("rounded-8")
    assert label == "rounded-8" and rounded.bits == 8 and rounded.inner.degree == 2
    assert rounded.clip == (-1, 1) and rounded.mode == "nearest"
    assert growth.parse_activation("rounded-4:relu")[1].inner.kind == "relu"
    assert growth.parse_activation("z^2 - z")[1].coefficients == (0, -1, 1)
    for bad in ("sigmoid", "rounded-x", "leaky_relu:abc", "z^^2"):
        with pytest.raises(BitpropInputError) as info:
            growth.parse_activation(bad)
        assert info.value.path == "--activation"


def test_depth_specs():
    assert growth.parse_depths("1-4,8-32*2") == [1, 2, 3, 4, 8, 16, 32]
    assert growth.parse_depths("6,2,2-3") == [2, 3, 6]
    assert growth.parse_depths("1-10*1.5") == [1, 2, 3, 5, 8]
    for bad in ("0", "5-2", "x", "1-8*1", "1-4*-2"):
        with pytest.raises(BitpropInputError):
            growth.parse_depths(bad)


# --- the rows are the evaluator's own statistics -----------------------------------------------
def test_rows_equal_the_evaluators_bit_statistics():
    config = _config(("relu", "square", "rounded-4"), (1, 3), weights="rational")
    result = growth.sweep(config)
    assert not result.stops and not result.interrupted
    assert len(result.rows) == 3 * 2 * 2
    activations = dict(config.activations)
    for row in result.rows:
        assert list(row) == list(growth.COLUMNS)
        network, data = growth.build(activations[row["activation"]], row["width"],
                                     row["depth"], row["seed"], config)
        assert network.depth == row["depth"] + 1
        evaluated = network.grad(data)
        bits = evaluated.bits
        assert row["value_bits_max"] == bits.max_value
        assert row["adjoint_bits_max"] == bits.max_adjoint
        assert row["grad_bits_max"] == bits.max_grad
        assert row["bits_max"] == max(bits.max_value, bits.max_adjoint, bits.max_grad)
        # means recomputed from exact Fractions, independently of the harness
        hidden = [v for v in network.names if v not in network.inputs]
        values = [bits.per_vertex[v][q] for v in hidden for q in ("z", "f")]
        assert row["value_bits_mean"] == pytest.approx(sum(values) / len(values))
        adjoints = [bits.per_vertex[v]["adjoint"] for v in hidden]
        assert row["adjoint_bits_mean"] == pytest.approx(sum(adjoints) / len(adjoints))
        grads = [bitprop.bit_length(q)
                 for q in list(evaluated.grad_weight) + list(evaluated.grad_bias)]
        assert row["grad_bits_mean"] == pytest.approx(sum(grads) / len(grads))
        assert max(grads) == bits.max_grad
        assert row["parameters"] == len(grads)
        assert row["forward_s"] >= 0 and row["backward_s"] >= 0


def test_dyadic_default_init_is_exact_float32_and_he_scaled():
    config = _config(("relu",), (2,))
    assert config.weight_scale == pytest.approx(math.sqrt(2))
    network, data = growth.build("relu", 3, 2, 0, config)
    for w in network.weights + [x for row in data.inputs for x in row]:
        assert w.denominator & (w.denominator - 1) == 0          # a power of two
        assert float(w) == float(__import__("numpy").float32(float(w)))
    assert all(b >= 0 for b in network.biases)


# --- budgets and interrupts --------------------------------------------------------------------
def test_max_bits_ends_only_the_exploding_series():
    config = _config(("relu", "square"), tuple(range(1, 9)), seeds=(0,), max_bits=3000)
    result = growth.sweep(config)
    (stop,) = result.stops
    assert (stop.activation, stop.reason) == ("square", "max_bits")
    square = [r["depth"] for r in result.rows if r["activation"] == "square"]
    assert square == list(range(1, stop.depth))               # every finished row kept
    assert all(r["bits_max"] <= 3000 for r in result.rows)
    assert [r["depth"] for r in result.rows if r["activation"] == "relu"] == list(range(1, 9))
    assert "max_bits=3000" in stop.message


def test_time_budget_ends_a_series():
    config = _config(("square",), (1, 2, 9, 10), widths=(8,), seeds=(0,), time_budget=0.01,
                     max_bits=10 ** 8)
    result = growth.sweep(config)
    assert [s.reason for s in result.stops] == ["time_budget"]
    assert result.stops[0].depth in (9, 10)
    assert [r["depth"] for r in result.rows] == [1, 2, 9][:len(result.rows)]


def test_keyboard_interrupt_keeps_the_finished_rows(monkeypatch, tmp_path):
    calls = []
    real = growth.run_one

    def interrupted_third_run(*args):
        calls.append(args)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(growth, "run_one", interrupted_third_run)
    result = growth.sweep(_config(("relu",), (1, 2, 3)))
    assert result.interrupted and len(result.rows) == 2
    calls.clear()
    status = run(["growth", "-a", "relu", "--depths", "1-3", "--widths", "3", "--seeds", "0,1",
                  "-o", str(tmp_path), "--no-plots"])
    assert status == 130
    _, rows = read_csv(tmp_path / "growth.csv")
    assert len(rows) == 2


def test_ctrl_c_on_the_command_line_writes_the_rows_and_exits_130(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "bitprop", "growth", "-a", "square", "--depths", "1-40",
         "--seeds", "0", "--max-bits", "1000000000", "--time-budget", "1000", "-o",
         str(tmp_path), "--no-plots"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3.0)                      # depths 1..~11 done, the next ones take many seconds
    assert process.poll() is None, process.communicate()
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert err.strip().splitlines()[-1] == "bitprop: error: interrupted"
    comments, rows = read_csv(tmp_path / "growth.csv")
    assert len(rows) >= 3 and [int(r["depth"]) for r in rows] == list(range(1, len(rows) + 1))
    assert any(line.startswith("interrupted") for line in comments)
    assert json.loads((tmp_path / "growth.json").read_text())["interrupted"] is True


# --- files and the command line -----------------------------------------------------------------
def test_files_columns_units_and_pngs(tmp_path, capsys):
    status = run(["growth", "-a", "relu,square", "-a", "rounded-4", "--depths", "1-8",
                  "--widths", "3", "--seeds", "0,1", "--samples", "2", "--max-bits", "20000",
                  "-o", str(tmp_path), "--prefix", "g"])
    assert status == 0
    out = capsys.readouterr().out
    assert "square" in out and "exponential" in out and "stopped" in out
    assert str(tmp_path / "g.csv") in out

    comments, rows = read_csv(tmp_path / "g.csv")
    assert list(rows[0]) == list(growth.COLUMNS)
    assert any("biases positive" in line for line in comments)
    assert any(line.startswith("stopped: square") for line in comments)
    assert any(line.startswith("columns: grad_bits_mean = bits:") for line in comments)
    document = json.loads((tmp_path / "g.json").read_text())
    assert document["format"] == "bitprop.growth/1"
    for name, unit in document["columns"].items():
        if name.endswith("_bits_max") or name.endswith("_bits_mean") or name == "bits_max":
            assert unit.startswith("bits:")
        if name.endswith("_s"):
            assert unit.startswith("seconds:")
    assert len(document["rows"]) == len(rows)
    assert [float(r["grad_bits_mean"]) for r in rows] == [r["grad_bits_mean"]
                                                          for r in document["rows"]]
    assert set(document["fits"]) == {"relu", "square", "rounded-4"}
    assert document["stops"][0]["reason"] == "max_bits"
    for name in ("g-bits.png", "g-time.png"):
        data = (tmp_path / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 10_000
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_json_prints_one_object(tmp_path, capsys):
    status = run(["growth", "-a", "relu", "--depths", "1-4", "--widths", "2,3", "--seeds", "0",
                  "-o", str(tmp_path), "--no-plots", "--json"])
    assert status == 0
    document = json.loads(capsys.readouterr().out)
    assert set(document["fits"]) == {"relu w2", "relu w3"}
    assert document["fits"]["relu w2"]["law"] in ("polynomial", "exponential", "undetermined")
    assert {r["width"] for r in document["rows"]} == {2, 3}
    assert document["files"]["csv"].endswith("growth.csv")


def test_bad_options_exit_2(tmp_path, capsys):
    assert run(["growth", "-a", "sigmoid", "-o", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("bitprop: error: --activation: unknown activation")
    assert run(["growth", "--depths", "0-3", "-o", str(tmp_path)]) == 2
    assert run(["growth", "--seeds", "a", "-o", str(tmp_path)]) == 2


# --- --measure magnitude (certified log2 |value| from ball arithmetic) -------------------------
@pytest.mark.parametrize("activation", ["relu", "square", "rounded-8"])
def test_magnitude_bounds_hold_the_exact_max_log2_value(activation):
    """Where exact values exist, 2^lower <= max over non-input vertices of |f| <= 2^upper
    (compared to 60 digits), and the bounds are within a bit."""
    import mpmath
    config = _config((activation,), measure="magnitude")
    for depth in (1, 3, 6):
        for seed in (0, 1, 2):
            network, data = growth.build(growth.parse_activation(activation)[1], 3, depth,
                                         seed, config)
            exact = bitprop.forward(network, data.inputs, keep_all=True)
            largest = max(abs(value) for sample in exact.values
                          for name, value in sample["f"].items() if name not in network.inputs)
            columns = growth.magnitude_columns(network, data, config)
            assert columns["magnitude_decided"] is True
            assert columns["log2_magnitude_max"] - columns["log2_magnitude_lower"] <= 1
            with mpmath.workdps(60):
                log2 = mpmath.log(mpmath.mpf(largest.numerator) / largest.denominator, 2)
                assert columns["log2_magnitude_lower"] <= log2 <= columns["log2_magnitude_max"]


def test_magnitude_sweep_goes_on_past_the_exact_limit():
    """With a bit limit that ends the exact z^2 series at a small depth, the magnitude sweep
    has every depth, its log2 magnitudes increasing, doubling per layer (an exponential law
    of base 2 in the fit)."""
    depths = tuple(growth.parse_depths("1-12,16-48*1.25"))
    bits = growth.sweep(_config(("square",), depths=depths[:12], seeds=(0,), max_bits=4000))
    assert bits.stops and bits.stops[0].depth <= 8
    result = growth.sweep(_config(("square",), depths=depths, seeds=(0,), max_bits=4000,
                                  measure="magnitude"))
    assert not result.stops and [r["depth"] for r in result.rows] == list(depths)
    magnitudes = [r["log2_magnitude_max"] for r in result.rows]
    assert all(a < b for a, b in zip(magnitudes, magnitudes[1:]))
    assert magnitudes[-1] > 2.0 ** 40                       # values of ~2^40 bits at depth 48
    (label, fit), = growth.fit_sweep(result)
    base = fit.parameters["base"]
    assert fit.law == "exponential" and base["low"] <= 2 <= base["high"]
    assert abs(base["value"] - 2) < 0.02


def test_magnitude_cli_writes_its_columns_and_png(tmp_path, capsys):
    status = run(["growth", "--measure", "magnitude", "-a", "square", "--depths", "1-6,20",
                  "--widths", "3", "--seeds", "0", "-o", str(tmp_path)])
    assert status == 0
    assert "log2_magnitude_max" in capsys.readouterr().out
    comments, rows = read_csv(tmp_path / "growth.csv")
    assert list(rows[0]) == list(growth.MAGNITUDE_COLUMNS)
    assert rows[-1]["depth"] == "20" and float(rows[-1]["log2_magnitude_max"]) > 2 ** 19
    document = json.loads((tmp_path / "growth.json").read_text())
    assert document["fitted_column"] == "log2_magnitude_max"
    assert document["setup"]["measure"] == "magnitude"
    assert (tmp_path / "growth-magnitude.png").read_bytes()[:8] == PNG_MAGIC


# --- RNN sweeps (--family rnn) ---------------------------------------------------------------
def test_rnn_runs_the_same_model_one_step_longer():
    """Row T and row T + 1 share every parameter and the first T steps of every sequence; the
    unrolled network is h_t = relu(W_hh h_(t-1) + W_ih x_t + b), checked by hand."""
    config = _config(("relu",), (2, 3), family="rnn")
    short, short_data = growth.build(dict(config.activations)["relu"], 3, 2, 0, config)
    long, long_data = growth.build(dict(config.activations)["relu"], 3, 3, 0, config)
    assert short.parameters == {name: q for name, q in long.parameters.items()
                                if name in short.parameters}
    assert set(long.parameters) - set(short.parameters) == set()
    assert [list(row) for row in short_data.inputs] == [list(row)[:6] for row in long_data.inputs]
    assert short.depth == 3 and long.depth == 4 and long.num_inputs == 9
    p = long.parameters
    w_ih = [[p[f"rnn.weight_ih[{i},{k}]"] for k in range(3)] for i in range(3)]
    w_hh = [[p[f"rnn.weight_hh[{i},{j}]"] for j in range(3)] for i in range(3)]
    bias = [p[f"rnn.bias[{i}]"] for i in range(3)]
    x = list(long_data.inputs[0])
    h = [0, 0, 0]
    for t in range(3):
        h = [max(0, sum(w_hh[i][j] * h[j] for j in range(3)) +
                 sum(w_ih[i][k] * x[3 * t + k] for k in range(3)) + bias[i]) for i in range(3)]
    out = sum(p[f"head.weight[0,{j}]"] * h[j] for j in range(3)) + p["head.bias[0]"]
    assert long.forward([x]).outputs[0].tolist() == [out]


def test_rnn_sweep_z2_grows_exponentially_in_t_and_relu_polynomially():
    """The paper's remark on recurrent networks: unrolled for T steps, z^2's bits grow like
    2^T and ReLU's polynomially (like T), with the verdicts of depth sweeps."""
    config = _config(("relu", "square"), growth.parse_depths("1-10,12-60*1.3"), widths=(4,),
                     seeds=(0, 1), max_bits=30_000, family="rnn")
    result = growth.sweep(config)
    fits = dict(growth.fit_sweep(result))
    assert {label: fit.law for label, fit in fits.items()} == {"relu": "polynomial",
                                                               "square": "exponential"}
    assert fits["square"].base == pytest.approx(2.0, abs=0.25)
    assert 0.8 < fits["relu"].degree < 1.2                  # ~100 bits more per step
    assert max(r["depth"] for r in result.rows if r["activation"] == "relu") == 49
    assert {stop.activation for stop in result.stops} == {"square"}
    assert result.config.to_json()["family"] == "rnn"


def test_rnn_family_on_the_command_line(tmp_path, capsys):
    status = run(["growth", "--family", "rnn", "-a", "relu", "--depths", "1-3", "--widths", "2",
                  "--seeds", "0", "-o", str(tmp_path), "--no-plots", "--json"])
    assert status == 0
    document = json.loads(capsys.readouterr().out)
    assert document["setup"]["family"] == "rnn"
    assert [row["depth"] for row in document["rows"]] == [1, 2, 3]
    assert any("Elman RNN" in line for line in document["description"])
    assert run(["growth", "--family", "cnn", "-o", str(tmp_path)]) == 2
