"""Lemma A.5: every BN-SLP has constant 1/2, all gates in [-1, 1], and output x_n * 2^-e."""

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitprop.errors import BitpropInputError
from bitprop.slp import (Program, bounded_norm, evaluate, factorial, fibonacci, integer,
                         near_cancellation, negated, random_program, tower, tower_minus_one,
                         zero_through_huge)
from reference.slp import gate_values, random_ops

FAMILIES = [tower(5), tower_minus_one(5), fibonacci(25), factorial(12), zero_through_huge(4),
            near_cancellation(4, 3, -5), negated(factorial(6)), negated(tower_minus_one(3)),
            integer(-1000), integer(0), Program(), Program([], -1), Program([], 12),
            Program([("*", 0, 0), ("-", 1, 0)], -(2 ** 70) - 3),
            random_program(60, seed=5, max_bits=64)]


def check_lemma_a5(program):
    """The lemma's properties, checked gate by gate with Fractions."""
    bn = bounded_norm(program)
    xs = gate_values(program.ops, program.constant)
    ys = gate_values(bn.program.ops, bn.program.constant)
    n = len(program)
    assert bn.program.constant == Fraction(1, 2)
    assert all(-1 <= y <= 1 for y in ys)
    assert ys[-1] == Fraction(xs[-1], 2 ** bn.e)
    assert bn.e == bn.exponents[-1] and bn.length == len(bn.program)
    assert bn.gates[-1] == len(bn.program)          # y_n is the output gate
    for x, g, e in zip(xs, bn.gates, bn.exponents):
        assert ys[g] == Fraction(x, 2 ** e)          # the invariant y_i = x_i 2^-e_i
    constant_gates = 2 * abs(program.constant.numerator).bit_length() + 3
    assert bn.length <= n + n + 2 * n * (n + 1) + constant_gates
    return bn


@pytest.mark.parametrize("program", FAMILIES, ids=repr)
def test_families(program):
    check_lemma_a5(program)


@settings(max_examples=60, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(0, 14), st.integers(-3, 3))
def test_random_programs(rng, n, constant):
    check_lemma_a5(Program(random_ops(rng, n), constant))


def test_exponents_follow_the_rule():
    bn = bounded_norm(Program([("+", 0, 0), ("*", 1, 1), ("-", 2, 0), ("*", 3, 2)]))
    assert bn.exponents == (1, 2, 4, 5, 9)           # e_0 = 1; +- : max + 1; * : sum
    assert bounded_norm(Program()).e == 1 and bounded_norm(Program()).length == 0


def test_kernel_evaluates_the_bn_slp_to_the_scaled_output():
    program = tower_minus_one(9)
    bn = bounded_norm(program)
    result = evaluate(bn.program)
    assert result.value == Fraction(2 ** 2 ** 9 - 1, 2 ** bn.e)
    assert result.sign == 1 and not result.is_integer


def test_length_is_polynomial_on_a_long_program():
    program = random_program(300, seed=2, max_bits=40)
    bn = bounded_norm(program)
    n = len(program)
    assert bn.length <= n + n + 2 * n * (n + 1)
    assert evaluate(bn.program).value == Fraction(evaluate(program).value, 2 ** bn.e)


def test_non_integer_constant_is_rejected():
    with pytest.raises(BitpropInputError, match="constant: Lemma A.5 takes an SLP with "
                                                "integer values, but the constant is 1/3"):
        bounded_norm(Program([("*", 0, 0)], Fraction(1, 3)))
