"""`bitprop figure1`: exact log10 norms without overflow, the float64 path against the exact
gradient, the overflow marked, and the CSV header / PNG."""

import json
import math
from fractions import Fraction

import numpy as np
import pytest

from bitprop.cli import run
from bitprop.experiments import figure1
from bitprop.experiments.random_networks import random_dataset, random_parameters
from bitprop.experiments.tables import read_csv
from bitprop.network import Network


def test_log10_of_exact_rationals_without_overflow():
    assert figure1.log10_norm([Fraction(3), Fraction(-4)]) == pytest.approx(math.log10(5))
    assert figure1.log10_norm([Fraction(0)]) == -math.inf
    huge = Fraction(3 * 2 ** 100_000, 7)                # ~10^30103: no float holds it
    assert figure1.log10_abs(huge) == pytest.approx(
        100_000 * math.log10(2) + math.log10(3 / 7), rel=1e-14)
    assert figure1.log10_abs(1 / huge) == pytest.approx(-figure1.log10_abs(huge), rel=1e-14)
    two = [huge, -huge]
    assert figure1.log10_norm(two) == pytest.approx(figure1.log10_abs(huge) + math.log10(2) / 2,
                                                    rel=1e-14)


def test_log10_norm_matches_an_exact_sum_of_squares():
    values = [Fraction(n, d) for n, d in ((123456789, 1024), (-5, 3), (2 ** 70 + 1, 2 ** 13))]
    exact_square = sum(q * q for q in values)
    expected = (figure1.log10_abs_int(exact_square.numerator)
                - figure1.log10_abs_int(exact_square.denominator)) / 2
    assert figure1.log10_norm(values) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("activation", ["relu", "square"])
def test_float64_gradient_equals_the_exact_one_while_finite(activation):
    widths = [4, 8, 8, 1]
    weights, biases = random_parameters(widths, seed=3, kind="dyadic", scale=3, bias="positive")
    data = random_dataset(4, 1, 4, seed=3, kind="dyadic")
    floats = figure1.float64_first_layer_gradient(weights, biases, data.inputs, data.labels,
                                                  activation)
    exact = Network.mlp(widths, activation, weights, biases).grad(data).grad_weight
    expected = np.array([float(exact[e]) for e in range(32)]).reshape(8, 4)
    assert np.allclose(floats, expected, rtol=1e-12, atol=0)


def test_float64_status():
    assert figure1.float64_log10_norm(np.array([[3.0, 4.0]])) == (pytest.approx(math.log10(5)),
                                                                   "finite")
    assert figure1.float64_log10_norm(np.array([[1e300, 1e300]]))[1] == "finite"
    assert figure1.float64_log10_norm(np.array([[np.inf, 1.0]]))[1] == "inf"
    assert figure1.float64_log10_norm(np.array([[np.nan, 1.0]]))[1] == "nan"
    assert figure1.float64_log10_norm(np.zeros((2, 2))) == (-math.inf, "zero")


def test_square_overflows_in_float64_but_not_exactly(tmp_path, capsys):
    status = run(["figure1", "--depths", "1-9", "--seeds", "0", "-o", str(tmp_path)])
    assert status == 0
    out = capsys.readouterr().out
    assert "square  float64 inf/nan from depth" in out and "relu    float64 finite" in out
    comments, rows = read_csv(tmp_path / "figure1.csv")
    header = "\n".join(comments)
    for fact in ("widths [4] + [8] * depth + [1]", "3 * N(0, 1/fan_in)", "seeds [0]",
                 "loss L = sum over samples of (f(x) - y)^2", "label: log10 ||dL/dW_1||_2"):
        assert fact in header
    assert list(rows[0]) == list(figure1.COLUMNS)
    square = [r for r in rows if r["activation"] == "square"]
    broken = [r for r in square if r["float64_status"] in ("inf", "nan")]
    assert broken, "float64 should overflow for x^2 by depth 9"
    assert all(r["exact_status"] == "ok" and float(r["log10_norm_exact"]) > 300 for r in broken)
    for r in rows:
        if r["float64_status"] == "finite":
            assert abs(float(r["difference"])) < 1e-9
    assert all(r["float64_status"] == "finite" for r in rows if r["activation"] == "relu")
    document = json.loads((tmp_path / "figure1.json").read_text())
    assert document["summary"]["square"]["float64_overflow_depth"] == min(
        int(r["depth"]) for r in broken)
    assert (tmp_path / "figure1.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "figure1.png").stat().st_size > 10_000


def test_exact_line_stops_at_the_bit_limit(tmp_path, capsys):
    status = run(["figure1", "--depths", "1-8", "--seeds", "0", "--width", "3", "--max-bits",
                  "3000", "-o", str(tmp_path), "--no-plots", "--json"])
    assert status == 0
    document = json.loads(capsys.readouterr().out)
    square = [r for r in document["rows"] if r["activation"] == "square"]
    statuses = [r["exact_status"] for r in square]
    first_stop = statuses.index("max_bits")
    assert set(statuses[:first_stop]) == {"ok"}
    assert set(statuses[first_stop + 1:]) <= {"skipped"}
    assert all("log10_norm_float64" in r for r in square)          # float64 goes on


def test_summary_reports_the_plotted_median(capsys):
    """The printed and JSON summary give the median over seeds at the deepest depth every
    seed reached (what the plot's line shows), not one seed's value."""
    import statistics
    config = figure1.Figure1Config(depths=(1, 2, 3, 4), seeds=(0, 1, 2), max_bits=4000)
    rows, _ = figure1.figure1_rows(config)
    facts = figure1.summary(rows, config)
    for activation in config.activations:
        mine = [r for r in rows if r["activation"] == activation]
        complete = [d for d in config.depths if all(
            r["exact_status"] == "ok" for r in mine if r["depth"] == d)]
        deepest = max(complete)
        values = [r["log10_norm_exact"] for r in mine if r["depth"] == deepest]
        assert len(values) == 3
        assert facts[activation]["exact_deepest_depth"] == deepest
        assert facts[activation]["exact_log10_norm_at_deepest"] == statistics.median(values)
    square = [r for r in rows if r["activation"] == "square"]
    assert {r["exact_status"] for r in square} != {"ok"}      # the limit cut some seeds short


# --- the certified part (ball arithmetic past exact reach) ------------------------------------
def _exact_log10_norm(network, data, config):
    """log10 ||dL/dW_1||_2 to 80 digits (mpmath) from the exact gradient's sum of squares."""
    import mpmath
    gradient = network.grad(data).grad_weight
    square = sum(gradient[e] ** 2 for e in range(config.inputs * config.width))
    with mpmath.workdps(80):
        return mpmath.log10(mpmath.mpf(square.numerator) / square.denominator) / 2


def _network(activation, depth, seed, config):
    widths, weights, biases, data = figure1.draw(depth, seed, config)
    return Network.mlp(widths, activation, weights, biases), data


@pytest.mark.parametrize("activation", ["relu", "square"])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_certified_interval_holds_the_exact_log10_norm(activation, seed):
    """At every precision, wide or narrow, the certified interval holds the exact value
    (compared to 80 digits); at 128 bits it is decided for these depths."""
    import mpmath
    from bitprop.balls import ball_grad
    config = figure1.Figure1Config(width=4, inputs=3)
    for depth in range(1, 9):
        network, data = _network(activation, depth, seed, config)
        exact = _exact_log10_norm(network, data, config)
        for precision in (8, 24, 128):
            balls = ball_grad(network, data, precision).grad_weight[:12]
            lower, upper = figure1.certified_log10_norm(balls)
            with mpmath.workdps(80):
                assert lower == -math.inf or mpmath.mpf(lower.numerator) / lower.denominator \
                    <= exact, (depth, precision, lower, exact)
                assert upper == math.inf or exact <= \
                    mpmath.mpf(upper.numerator) / upper.denominator, (depth, precision)
            if precision == 128:
                assert figure1.decided(lower, upper), (depth, lower, upper)


def test_square_at_depth_40_gets_a_narrow_certified_point():
    """Values of ~2^40 bits: the certified interval is at most 0.01 wide, and the interval at
    a far higher precision lies inside it (both hold the exact value)."""
    config = figure1.Figure1Config()
    network, data = _network("square", 40, 0, config)
    part = figure1.CertifiedPart(config)
    row = {"activation": "square", "seed": 0}
    part.fill(row, network, data)
    assert row["certified"] is True and row["certified_status"] == "certified"
    lower, upper = Fraction(row["log10_norm_lower"]), Fraction(row["log10_norm_upper"])
    assert 0 < upper - lower <= Fraction(1, 100)
    assert 10 ** 12 < lower                               # the norm has ~2^41 bits
    assert part.start[("square", 0)] == row["precision"] <= 256
    from bitprop.balls import ball_grad
    finer = figure1.certified_log10_norm(ball_grad(network, data, 1024).grad_weight[:32])
    assert lower <= finer[0] <= finer[1] <= upper


def test_the_cli_continues_square_past_the_bit_limit(tmp_path, capsys):
    status = run(["figure1", "--depths", "1-6,40", "--seeds", "0", "--max-bits", "3000",
                  "-o", str(tmp_path)])
    assert status == 0
    out = capsys.readouterr().out
    assert "square" in out and "certified to depth 40" in out
    _, rows = read_csv(tmp_path / "figure1.csv")
    assert list(rows[0]) == list(figure1.COLUMNS)
    square = [r for r in rows if r["activation"] == "square"]
    past = [r for r in square if r["exact_status"] != "ok"]
    assert past and past[-1]["depth"] == "40"
    for r in past:
        assert r["certified"] == "True" and r["certified_status"] == "certified"
        assert Fraction(r["log10_norm_upper"]) - Fraction(r["log10_norm_lower"]) <= 0.01
        assert int(r["precision"]) >= figure1.FIRST_PRECISION
    for r in square:
        if r["exact_status"] == "ok":
            assert r["log10_norm_lower"] == "" and r["certified"] == ""
    document = json.loads((tmp_path / "figure1.json").read_text())
    facts = document["summary"]["square"]
    assert facts["certified_deepest_depth"] == 40 and facts["undecided_points"] == 0
    assert (tmp_path / "figure1.png").read_bytes()[:4] == b"\x89PNG"


def test_no_certified_part_with_a_zero_budget(capsys):
    config = figure1.Figure1Config(depths=(1, 2, 3, 4, 5, 6), seeds=(0,), max_bits=3000,
                                   certify_budget=0)
    rows, _ = figure1.figure1_rows(config)
    assert any(r["exact_status"] != "ok" for r in rows)
    assert not any("certified" in r for r in rows)
