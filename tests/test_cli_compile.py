"""The command line: bitprop compile erm|backprop, bitprop solve, bitprop slp eval --via-network."""

import io
import json
from fractions import Fraction

import pytest

from bitprop.cli import run
from bitprop.slp import (Program, factorial, near_cancellation, negated, parse_polynomial,
                         tower, tower_minus_one, zero_through_huge)
from reference.slp import gate_values
from test_circuit import SIGMAS
from test_cli_slp import assert_error, run_json


@pytest.fixture
def files(tmp_path):
    programs = {"fact.json": factorial(7), "neg.slp": negated(tower_minus_one(3)),
                "half.json": Program([("*", 0, 0)], Fraction(1, 2)),
                "zero.slp": zero_through_huge(3), "near.json": near_cancellation(3, 2, -9)}
    for name, program in programs.items():
        program.save(tmp_path / name)
    paths = {name: str(tmp_path / name) for name in programs}
    paths["values"] = {name: gate_values(p.ops, p.constant)[-1] for name, p in programs.items()}
    paths["dir"] = tmp_path
    return paths


# --- compile erm + solve -------------------------------------------------------------------

@pytest.mark.parametrize("sigma", SIGMAS)
def test_compile_erm_and_solve(files, capsys, sigma):
    out = str(files["dir"] / "erm.json")
    x = files["values"]["fact.json"]                        # 5040 = 0b1001110110000
    for k in (4, 5, 12):
        doc = run_json(capsys, "compile", "erm", files["fact.json"], "--bit", str(k),
                       "--sigma", sigma, "-o", out)
        assert {"vertices", "edges", "samples"} <= doc.keys()
        assert doc["samples"] == doc["main_samples"] + doc["forcing_samples"]
        assert doc["output"] == out and doc["problem"] == "erm"
        solved = run_json(capsys, "solve", out)
        assert {"loss", "answer"} <= solved.keys()
        assert solved["answer"] == bool((x >> k) & 1)
        assert solved["loss"] == ("0" if solved["answer"] else "1")
        assert solved["losses"]["forcing"] == "0"


def test_compile_erm_options(files, capsys):
    out = str(files["dir"] / "erm.json")
    doc = run_json(capsys, "compile", "erm", files["near.json"], "--bit", "1", "--sigma",
                   "z^2", "--gap", "1/2", "4", "--forcing", "paper", "--bounded", "-o", out)
    assert doc["gap"] == ["1/2", "4"] and doc["threshold"] == "1/2"
    solved = run_json(capsys, "solve", out)                  # -18 = -0b10010: bit 1 is 1
    assert solved["answer"] is True and solved["loss"] == "0"
    run_json(capsys, "compile", "erm", files["near.json"], "--bit", "2", "--sigma", "z^2",
             "--gap", "1/2", "4", "-o", out)
    solved = run_json(capsys, "solve", out)
    assert solved["answer"] is False and solved["loss"] == "4"


def test_compile_erm_text_output(files, capsys):
    out = str(files["dir"] / "erm.json")
    assert run(["compile", "erm", files["fact.json"], "--bit", "4", "--sigma", "z^2",
                "-o", out]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"wrote {out}: erm, ") and "forcing, compact" in text
    assert run(["solve", out]) == 0
    text = capsys.readouterr().out
    assert "problem: erm\nloss: 0\n" in text and "answer: YES" in text


# --- compile backprop + solve --------------------------------------------------------------

@pytest.mark.parametrize("name", ["fact.json", "neg.slp", "zero.slp", "near.json"])
@pytest.mark.parametrize("bounded", [[], ["--bounded"]], ids=["plain", "bounded"])
def test_compile_backprop_sign(files, capsys, name, bounded):
    out = str(files["dir"] / "bp.json")
    x = files["values"][name]
    doc = run_json(capsys, "compile", "backprop", files[name], "--sign", "--sigma", "z^3",
                   *bounded, "-o", out)
    assert {"vertices", "edges", "query"} <= doc.keys()
    assert doc["query"]["coordinate"] == "weight" and doc["query"]["bit"] is None
    assert doc["query"]["edge"] == doc["edges"] - 1 and doc["problem"] == "backprop-sign"
    solved = run_json(capsys, "solve", out)
    assert {"loss", "answer", "gradient", "sign", "bit"} <= solved.keys()
    assert solved["sign"] == (x > 0) - (x < 0) and solved["answer"] == (x > 0)
    if not bounded:
        assert solved["gradient"] == str(2 * x)


@pytest.mark.parametrize("bounded", [[], ["--bounded"]], ids=["plain", "bounded"])
def test_compile_backprop_bit(files, capsys, bounded):
    out = str(files["dir"] / "bp.json")
    x = abs(files["values"]["neg.slp"])                      # 255
    for k in (0, 7, 8):
        doc = run_json(capsys, "compile", "backprop", files["neg.slp"], "--bit", str(k),
                       "--sigma", "z^2", *bounded, "-o", out)
        assert doc["problem"] == "backprop-bit"
        assert f"= bit {k} of |x_n|" in doc["relation"]
        solved = run_json(capsys, "solve", out)
        assert solved["bit"] == (x >> k) & 1 and solved["answer"] == bool((x >> k) & 1)


def test_solve_text_and_stdin(files, capsys, monkeypatch):
    out = str(files["dir"] / "bp.json")
    assert run(["compile", "backprop", files["fact.json"], "--bit", "4", "--sigma", "z^2",
                "-o", out]) == 0
    assert "backprop-bit" in capsys.readouterr().out
    with open(out) as handle:
        monkeypatch.setattr("sys.stdin", io.StringIO(handle.read()))
    assert run(["solve", "-"]) == 0
    text = capsys.readouterr().out
    assert "gradient" not in text and "dL/dweight[" in text and "answer: YES" in text


# --- errors --------------------------------------------------------------------------------

def test_errors(files, capsys):
    out = str(files["dir"] / "x.json")
    prog = files["fact.json"]
    assert_error(capsys, ["compile", "backprop", prog, "--sigma", "z^2", "-o", out], 2,
                 "exactly one of --sign and --bit")
    assert_error(capsys, ["compile", "backprop", prog, "--sign", "--bit", "1", "--sigma",
                          "z^2", "-o", out], 2, "exactly one of --sign and --bit")
    assert_error(capsys, ["compile", "erm", prog, "--bit", "1", "--sigma", "z", "-o", out],
                 2, "--sigma: ", "a linear sigma cannot multiply")
    assert_error(capsys, ["compile", "erm", prog, "--bit", "1", "--sigma", "z^2", "--gap",
                          "2", "1", "-o", out], 2, "--gap: ")
    assert_error(capsys, ["compile", "erm", files["half.json"], "--bit", "1", "--sigma",
                          "z^2", "--bounded", "-o", out], 2, files["half.json"] + ": constant")
    assert_error(capsys, ["compile", "erm", str(files["dir"] / "none.slp"), "--bit", "1",
                          "--sigma", "z^2", "-o", out], 2, "no such file")
    bad = files["dir"] / "bad.json"
    bad.write_text(json.dumps({"format": "bitprop.instance/1", "problem": "erm"}))
    assert_error(capsys, ["solve", str(bad)], 2, f"{bad}: missing key 'network'")
    assert run(["compile", "backprop", files["neg.slp"], "--sign", "--sigma", "z^2",
                "-o", out]) == 0
    capsys.readouterr()
    assert_error(capsys, ["solve", out, "--max-bits", "4"], 1, "more than max_bits=4")


# --- slp eval --via-network ----------------------------------------------------------------

@pytest.mark.parametrize("program", [factorial(12), negated(tower_minus_one(5)), tower(6),
                                     zero_through_huge(4), near_cancellation(4, 3, -11),
                                     Program([("+", 0, 0), ("*", 1, 1), ("-", 2, 0)],
                                             Fraction(-2, 3))],
                         ids=["fact12", "-tower5-1", "tower6", "zero", "near", "rational"])
@pytest.mark.parametrize("sigma", SIGMAS)
def test_slp_eval_via_network_agrees_with_the_kernel(tmp_path, capsys, program, sigma):
    path = str(tmp_path / "p.json")
    program.save(path)
    bit = [] if program.constant.denominator != 1 else ["--bit", "3"]
    direct = run_json(capsys, "slp", "eval", path, "--sign", *bit)
    via = run_json(capsys, "slp", "eval", path, "--sign", *bit, "--via-network", sigma)
    for key in ("value", "sign", "bit", "bit_length", "gates"):
        assert via[key] == direct[key]
    assert via["via_network"] == [str(c) for c in parse_polynomial(sigma)]


def test_slp_eval_via_network_text_and_errors(files, capsys):
    assert run(["slp", "eval", files["fact.json"], "--via-network", "z^3"]) == 0
    assert capsys.readouterr().out == "x12 = 5040\nsign: 1\nbit_length: 14\n"
    assert_error(capsys, ["slp", "eval", files["fact.json"], "--via-network", "2*z"], 2,
                 "--via-network: ", "a linear sigma cannot multiply")
    assert_error(capsys, ["slp", "eval", files["half.json"], "--bit", "0", "--via-network",
                          "z^2"], 2, files["half.json"] + ": bit: ", "not an integer")


# --- verify: the certificate check at any theta ----------------------------------------------

def _reference_loss(instance, weights, biases):
    """L(theta) of an erm instance by tests/reference (Fractions): main plus forcing part."""
    from reference.evaluator import total_loss
    network = json.loads(json.dumps(instance["network"]))
    for edge, w, b in zip(network["edges"], weights, biases):
        edge["weight"], edge["bias"] = str(w), str(b)
    forcing = instance["forcing"]
    return (total_loss(network, instance["dataset"])
            + total_loss({**network, "outputs": forcing["outputs"]}, forcing["dataset"]))


def test_verify_checks_any_theta_against_the_threshold(files, capsys):
    out, theta = str(files["dir"] / "erm.json"), files["dir"] / "theta.json"
    run_json(capsys, "compile", "erm", files["fact.json"], "--bit", "4", "--sigma", "z^2",
             "-o", out)
    with open(out) as handle:
        instance = json.load(handle)
    edges = instance["network"]["edges"]
    weights = [Fraction(e.get("weight", "1")) for e in edges]
    biases = [Fraction(e.get("bias", "0")) for e in edges]
    solved = run_json(capsys, "solve", out)
    assert solved["answer"] is True and "restricted problem at theta*" in solved["decides"]
    for shift in (0, Fraction(1, 3), 2):                # theta*, then two other thetas
        moved = [weights[0] + shift] + weights[1:]
        theta.write_text(json.dumps([str(q) for pair in zip(moved, biases) for q in pair]))
        checked = run_json(capsys, "verify", out, "--theta", str(theta))
        expected = _reference_loss(instance, moved, biases)
        assert Fraction(checked["loss"]) == expected
        assert checked["answer"] is (expected <= 0) and checked["threshold"] == "0"
        assert (shift == 0) is checked["answer"]
    network = dict(instance["network"], edges=[dict(edges[0], weight="7")] + edges[1:])
    theta.write_text(json.dumps(network))                  # a network file works too
    checked = run_json(capsys, "verify", out, "--theta", str(theta))
    assert Fraction(checked["loss"]) == _reference_loss(instance, [7] + weights[1:], biases)
    assert run(["verify", out, "--theta", str(theta)]) == 0
    assert "certificate rejected: L(theta) > threshold 0" in capsys.readouterr().out


def test_verify_errors(files, capsys):
    out, theta = str(files["dir"] / "bb.json"), files["dir"] / "theta.json"
    run_json(capsys, "compile", "backprop", files["fact.json"], "--bit", "4", "--sigma", "z^2",
             "-o", out)
    with open(out) as handle:
        edges = json.load(handle)["network"]["edges"]
    theta.write_text(json.dumps(["1"] * 3))
    assert_error(capsys, ["verify", out, "--theta", str(theta)], 2,
                 f"theta.json: theta: 3 values for {len(edges)} edges")
    frozen = next(i for i, e in enumerate(edges) if e.get("trainable") is False)
    values = [q for e in edges for q in (e.get("weight", "1"), e.get("bias", "0"))]
    values[2 * frozen] = "12345"
    theta.write_text(json.dumps(values))
    assert_error(capsys, ["verify", out, "--theta", str(theta)], 2, f"edge {frozen} (",
                 "is frozen")
    theta.write_text('{"vertices": [{"name": "x"}], "inputs": ["x"], "outputs": ["x"]}')
    assert_error(capsys, ["verify", out, "--theta", str(theta)], 2,
                 "vertices and edges differ")
    values[2 * frozen] = edges[frozen].get("weight", "1")
    theta.write_text(json.dumps(values))                  # theta* itself: as solve says
    assert run_json(capsys, "verify", out, "--theta", str(theta))["answer"] is True


def test_compile_backprop_gap(files, capsys):
    out = str(files["dir"] / "bs.json")
    doc = run_json(capsys, "compile", "backprop", files["fact.json"], "--sign", "--sigma",
                   "z^2", "--gap", "1/2", "100", "-o", out)
    assert doc["gap"] == ["1/2", "100"] and doc["threshold"] == "1/2" and doc["copies"] == 50
    solved = run_json(capsys, "solve", out)
    assert solved["gradient"] == str(2 * 50 * 5040) and solved["answer"] is True
    doc = run_json(capsys, "compile", "backprop", files["fact.json"], "--sign", "--sigma",
                   "z^2", "--bounded", "-o", out)
    assert doc["gap"][0] == "0" and doc["gap"][1].startswith("1/") and doc["copies"] == 1
    assert run(["compile", "backprop", files["fact.json"], "--bit", "1", "--sigma", "z^2",
                "--gap", "0", "2", "-o", out]) == 2
    assert "--gap goes with --sign" in capsys.readouterr().err
    assert_error(capsys, ["compile", "backprop", files["fact.json"], "--sign", "--sigma", "z^2",
                          "--gap", "3", "1", "-o", out], 2, "--gap: ")


def test_compile_erm_sign_uses_the_hinge_loss(files, capsys):
    """Remark B.3 from the command line: YES iff x_n > 0 (7! > 0, -(2^8 - 1) < 0)."""
    out = str(files["dir"] / "hinge.json")
    for name, positive in (("fact.json", True), ("neg.slp", False)):
        doc = run_json(capsys, "compile", "erm", files[name], "--sign", "--sigma", "z^3",
                       "-o", out)
        assert doc["problem"] == "erm" and "Remark B.3" in doc["relation"]
        solved = run_json(capsys, "solve", out)
        assert solved["answer"] is positive and solved["losses"]["forcing"] == "0"
    for extra in (["--bit", "1"], ["--bounded"]):
        assert run(["compile", "erm", files["fact.json"], "--sign", "--sigma", "z^2", *extra,
                    "-o", out]) == 2
        capsys.readouterr()


def test_compile_erm_scalar_regularized(files, capsys):
    """Remark B.2 from the command line: one input, one output, a regularizer in L."""
    out = str(files["dir"] / "scalar.json")
    doc = run_json(capsys, "compile", "erm", files["fact.json"], "--bit", "4", "--scalar",
                   "--sigma", "z^2", "--witness-bits", "8", "-o", out)
    assert doc["forcing_samples"] == 0 and doc["main_samples"] == 1
    assert int(doc["regularizer_weight"]) > 0 and "Remark B.2" in doc["relation"]
    solved = run_json(capsys, "solve", out)
    assert solved["answer"] is True and solved["losses"]["regularizer"] == "0"
    assert run(["solve", out]) == 0
    assert "regularizer: 0" in capsys.readouterr().out
    assert run(["compile", "erm", files["fact.json"], "--sign", "--scalar", "--sigma", "z^2",
                "-o", out]) == 2
    assert "--scalar goes with --bit alone" in capsys.readouterr().err
