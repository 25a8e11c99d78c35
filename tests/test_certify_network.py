"""eval/grad/solve --certify: certified signs and answers agree with the exact ones wherever
both exist, and past exact reach the instances' answers are the SLPs' (Theorem 1.3)."""

import json
from fractions import Fraction

import pytest

import bitprop
from bitprop.certify import Ball
from bitprop.certify_network import certify_forward, certify_grad, certify_solve
from bitprop.cli import run as cli_run
from bitprop.experiments.random_networks import random_dataset, random_mlp
from bitprop.instance import solve
from bitprop.slp import (factorial, negated, random_program, tower, tower_minus_one)
from bitprop.slp.program import cancelling_towers, odd_tower_difference, tower_sum
from bitprop.slp.compile_backprop import compile_backprop
from bitprop.slp.compile_erm import compile_erm


def sign(q):
    return (q > 0) - (q < 0)


@pytest.mark.parametrize("activation", ["relu", {"kind": "leaky_relu", "slope": "1/4"}, "square",
                                        {"kind": "polynomial", "coefficients": [0, -1, 0, 1]}])
@pytest.mark.parametrize("seed", range(4))
def test_grad_signs_equal_the_exact_ones_where_decided(activation, seed):
    net = random_mlp([3, 4, 4, 2], activation, seed=seed)
    data = random_dataset(3, 2, 3, seed=seed)
    exact = bitprop.grad(net, data)
    result = certify_grad(net, data, precision=16, max_precision=64, max_bits=None)
    wanted = {("loss",): exact.loss}
    for kind, values in (("weight", exact.grad_weight), ("bias", exact.grad_bias)):
        wanted.update(((kind, e), q) for e, q in enumerate(values))
    assert result.answers.keys() == wanted.keys()
    for name, q in wanted.items():
        assert result.balls[name].contains(q)
        assert result.answers[name] in (None, sign(q))


@pytest.mark.parametrize("seed", range(3))
def test_forward_signs_and_balls(seed):
    net = random_mlp([2, 5, 5, 3], "square", seed=seed)
    data = random_dataset(2, 3, 4, seed=seed)
    exact = bitprop.forward(net, data)
    result = certify_forward(net, data, max_bits=None)
    assert result.decided and result.method == "ball"
    for s, row in enumerate(exact.outputs):
        for i, q in enumerate(row):
            assert result.balls[("output", s, i)].contains(q)
            assert result.answers[("output", s, i)] == sign(q)
    assert result.answers[("loss",)] == sign(exact.loss)


@pytest.mark.parametrize("program", [tower(40), tower(100), negated(tower_minus_one(40)),
                                     tower_sum(60, [(-1, 59), (1, 2)]),
                                     negated(odd_tower_difference(40))],
                         ids=["tower40", "tower100", "-tower40-1", "sum60", "-odd40"])
def test_backprop_sign_past_exact_reach_is_the_slp_sign(program):
    """Theorem 1.3: sign(dL/dw) = sign(x_n), here with x_n of 2^40 bits and more."""
    slp_sign = bitprop.certify_slp(program).sign
    assert slp_sign in (1, -1)
    result = certify_solve(compile_backprop(program, "z^2"), max_bits=None)
    assert result.answers["sign"] == slp_sign
    assert result.answers["answer"] == (slp_sign > 0)


def test_mixed_magnitudes_in_a_gadget_stay_undecided_not_wrong():
    """(T - 1)(2^100 + 1) - (T - 1) 2^100 with T = 2^(2^40): the SLP's sign needs 128 bits,
    but the circuit's gadget squares T + 2^100 and subtracts T^2, which no ball resolves below
    2^40 bits: undecided at every precision tried."""
    program = negated(cancelling_towers(40, 100))
    assert bitprop.certify_slp(program).sign == -1
    result = certify_solve(compile_backprop(program, "z^2"), max_precision=1024, max_bits=None)
    assert result.answers == {"sign": None, "answer": None}


def test_bounded_instances_are_decided_only_when_the_balls_can():
    """Lemma A.5's network keeps every value in [-1, 1] and makes dL/dw = 2^(1-e) x_n tiny
    (e ~ 2^41 here), while its gadgets lose absolute precision: a power of two stays exact
    and is decided; 2^(2^40) - 1 stays undecided, never wrong."""
    exact_tower = certify_solve(compile_backprop(tower(40), "z^2", bounded=True), max_bits=None)
    assert exact_tower.answers["sign"] == 1 and exact_tower.precisions == [64]
    near = certify_solve(compile_backprop(negated(tower_minus_one(40)), "z^2", bounded=True),
                         max_precision=512, max_bits=None)
    assert near.answers == {"sign": None, "answer": None} and near.stopped == "max_precision"


@pytest.mark.parametrize("seed", range(6))
def test_backprop_bit_and_sign_agree_with_exact_solve(seed):
    program = random_program(8, seed=seed)
    for bit in (None, 0, 3):
        instance = compile_backprop(program, "z^2", bit=bit)
        exact = solve(instance)
        result = certify_solve(instance, max_bits=None)
        assert result.balls["gradient"].contains(exact.gradient)
        assert result.answers["sign"] in (None, exact.sign)
        assert result.answers["answer"] in (None, exact.answer)
        if bit is not None:
            assert result.answers["bit"] in (None, exact.bit)


def test_erm_answer_agrees_with_exact_solve():
    """A YES instance has L(theta*) = 0 = threshold exactly, which no inexact ball decides:
    the exact fallback does; a NO instance's L > 0 is decided by the balls."""
    for program, bit in ((factorial(4), 3), (factorial(4), 4), (tower(3), 8), (tower(3), 7)):
        instance = compile_erm(program, bit, "z^2")
        exact = solve(instance)
        balls_only = certify_solve(instance, max_precision=256, max_bits=None)
        assert balls_only.balls["loss"].contains(exact.loss)
        assert balls_only.answers["answer"] in (None, exact.answer)
        if not exact.answer:
            assert balls_only.answers["answer"] is False
        settled = certify_solve(instance, max_precision=256, max_bits=10 ** 5)
        assert settled.answers["answer"] == exact.answer


def test_undecided_is_reported_and_exact_fallback_settles_it():
    """An exact 0 out of rational parameters: no ball pins it at any precision; the exact
    pass does when it is allowed."""
    net = bitprop.Network(["x", ("h", "identity"), ("o", "identity")],
                          [("x", "h", "1/3", 0), ("x", "o", "-1/3", 0), ("h", "o", 1, 0)],
                          ["x"], ["o"])
    undecided = certify_forward(net, [["1/7"]], max_precision=256, max_bits=None)
    assert undecided.answers[("output", 0, 0)] is None and not undecided.decided
    assert undecided.stopped == "max_precision" and undecided.precisions[-1] == 256
    settled = certify_forward(net, [["1/7"]], max_precision=256, max_bits=1000)
    assert settled.answers[("output", 0, 0)] == 0 and settled.method == "exact"


def test_ball_helpers_for_thresholds_and_bits():
    ball = Ball((5, -2), (1, -3))                     # [9/8, 11/8]
    assert ball.compare(1) == 1 and ball.compare(Fraction(3, 2)) == -1
    assert ball.compare(Fraction(5, 4)) is None and Ball((5, -2)).compare(Fraction(5, 4)) == 0
    assert Ball((5, -2)).floor_bit(-2) == 1 and Ball((5, -2)).floor_bit(1) == 0
    assert ball.floor_bit(0) == 1 and ball.floor_bit(-1) == 0 and ball.floor_bit(-2) is None
    total = Ball.enclosing(Fraction(1, 3), 30).plus(Ball.enclosing(Fraction(2, 3), 30))
    assert total.contains(1) and total.compare(Fraction(999, 1000)) == 1


def run(capsys, *args):
    code = cli_run(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_certify_json(tmp_path, capsys):
    net_path, data_path, inst_path = (str(tmp_path / n) for n in ("n.json", "d.json", "i.json"))
    bitprop.Network.chain(40, "square", weight=1, bias=0).save(net_path)
    bitprop.Dataset([["3/2"]], [[0]]).save(data_path)
    code, out, _ = run(capsys, "eval", net_path, "--input", '[["3/2"]]', "--certify", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["certified"] and doc["outputs"][0][0]["sign"] == 1
    assert doc["loss"] is None and doc["precisions"] == [64]
    code, out, _ = run(capsys, "grad", net_path, data_path, "--certify", "--json")
    doc = json.loads(out)
    assert doc["loss"]["sign"] == 1 and len(doc["grad"]["weight"]) == 40
    assert all(entry["sign"] == 1 for entry in doc["grad"]["weight"])
    compile_backprop(negated(tower(50)), "z^2").save(inst_path)
    code, out, _ = run(capsys, "solve", inst_path, "--certify", "--json")
    doc = json.loads(out)
    assert (doc["sign"], doc["answer"], doc["problem"]) == (-1, False, "backprop-sign")
    assert doc["gradient"]["log2_abs"][0] > 2 ** 50 - 2       # |dL/dw| = 2^(2^50 + 1)
    code, out, _ = run(capsys, "solve", inst_path, "--certify")
    assert "sign: -1" in out and "answer: False" in out


def test_cli_certify_usage_errors(tmp_path, capsys):
    net_path = str(tmp_path / "n.json")
    bitprop.Network.chain(2, "relu").save(net_path)
    code, _, err = run(capsys, "eval", net_path, "--input", "[[1]]", "--precision", "128")
    assert code == 2 and "--precision goes with --certify" in err
    code, _, err = run(capsys, "eval", net_path, "--input", "[[1]]", "--certify", "--all")
    assert code == 2 and "--all goes without --certify" in err
    code, _, err = run(capsys, "eval", net_path, "--input", "[[1]]", "--certify",
                       "--precision", "512", "--max-precision", "128")
    assert code == 2 and "above --max-precision" in err
