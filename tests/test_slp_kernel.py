"""bitprop._slp: the FLINT evaluation kernel against Python ints and Fractions."""

import time
import os
import signal
import threading
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitprop.errors import BitLimitError, BitpropInputError
from bitprop.numbers import bit_length, to_str
from bitprop.slp import (Program, evaluate, factorial, fibonacci, integer, near_cancellation,
                         negated, tower, tower_minus_one, zero_through_huge)
from reference.slp import gate_values, random_ops, value

FAMILIES = [tower(6), tower_minus_one(7), fibonacci(90), factorial(30), zero_through_huge(6),
            near_cancellation(7, 3, 5), near_cancellation(6, -2, 9), negated(factorial(12)),
            negated(tower_minus_one(5)), integer(-(2 ** 100) + 7), integer(0), Program(),
            Program([], -4)]


def sign(q):
    return (q > 0) - (q < 0)


def check_against_reference(result, expected):
    """Every accessor of an SlpValue against the exact Python value."""
    expected = Fraction(expected)
    assert result.value == expected
    assert result.sign == sign(expected)
    assert result.bit_length == bit_length(expected)
    assert result.is_integer == (expected.denominator == 1)
    assert result.to_str() == to_str(expected)
    if expected.denominator == 1:
        magnitude = abs(expected.numerator)
        for k in {0, 1, 2, 5, magnitude.bit_length() - 1, magnitude.bit_length(),
                  magnitude.bit_length() + 70}:
            if k >= 0:
                assert result.bit(k) == (magnitude >> k) & 1


@pytest.mark.parametrize("program", FAMILIES, ids=repr)
def test_families_match_python(program):
    check_against_reference(evaluate(program), value(program.ops, program.constant))


def test_closed_forms():
    assert evaluate(tower(10)).value == 2 ** 1024
    assert evaluate(tower_minus_one(10)).value == 2 ** 1024 - 1
    assert evaluate(zero_through_huge(10)).sign == 0
    assert evaluate(near_cancellation(10, 4, -6)).value == -24
    assert evaluate(negated(tower(3))).value == -256


def test_big_tower_bits_without_python_ints():
    result = evaluate(tower_minus_one(16))          # 2^65536 - 1: every bit is 1
    assert result.bit_length == 65536 + 1
    assert all(result.bit(k) == 1 for k in (0, 1, 4097, 65535))
    assert result.bit(65536) == 0 and result.bit(10 ** 30) == 0
    negative = evaluate(negated(tower(16)))        # -2^65536: |x| read, not two's complement
    assert negative.sign == -1
    assert [negative.bit(k) for k in (0, 65535, 65536, 65537)] == [0, 0, 1, 0]


@pytest.mark.parametrize("constant", [Fraction(1, 3), Fraction(-2, 5), Fraction(7, 2),
                                      Fraction(2 ** 80 + 1, 3 ** 50)])
def test_rational_constant_uses_fractions(constant):
    program = Program([("+", 0, 0), ("*", 1, 0), ("-", 2, 1), ("*", 3, 3)], constant)
    check_against_reference(evaluate(program), value(program.ops, constant))


def test_bit_of_a_non_integer_is_an_error_that_says_so():
    result = evaluate(Program([("*", 0, 0)], Fraction(1, 3)))
    with pytest.raises(BitpropInputError, match="x_n is not an integer.*BitSLP"):
        result.bit(0)
    # a rational constant can still give an integer output
    assert evaluate(Program([("+", 0, 0)], Fraction(1, 2))).bit(0) == 1


@pytest.mark.parametrize("k", [-1, 1.0, "2", True])
def test_bad_bit_index(k):
    with pytest.raises(BitpropInputError, match="bit index"):
        evaluate(factorial(5)).bit(k)


def test_huge_constants_cross_into_flint_exactly():
    for c in (2 ** 62 - 1, 2 ** 62, -(2 ** 62), -(2 ** 62) - 1, 2 ** 63, -(2 ** 64), 3 ** 500,
              -(3 ** 500)):
        program = Program([("*", 0, 0), ("-", 1, 0)], c)
        check_against_reference(evaluate(program), c * c - c)


@settings(max_examples=100, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(0, 40), st.integers(-3, 3))
def test_random_programs_match_python(rng, n, constant):
    ops = random_ops(rng, n)
    check_against_reference(evaluate(Program(ops, constant)), value(ops, constant))


@settings(max_examples=40, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(0, 25),
       st.builds(Fraction, st.integers(-60, 60), st.integers(2, 30)))
def test_random_rational_programs_match_python(rng, n, constant):
    ops = random_ops(rng, n, max_bits=300, constant_bits=12)
    check_against_reference(evaluate(Program(ops, constant)), value(ops, constant))


# --- max_bits ------------------------------------------------------------------------------

def test_max_bits_stops_at_the_first_gate_over_the_limit():
    program = tower_minus_one(12)
    values = gate_values(program.ops)
    first = next(i for i, v in enumerate(values) if bit_length(v) > 100)
    with pytest.raises(BitLimitError) as info:
        evaluate(program, max_bits=100)
    assert info.value.vertex == f"x{first}"
    # a product is stopped before it is computed: its bits are then a lower bound
    assert 100 < info.value.bits <= bit_length(values[first]) and info.value.limit == 100
    assert f"gate x{first} would have at least {info.value.bits} bits" in str(info.value)
    assert evaluate(program, max_bits=bit_length(max(values, key=abs))).value == values[-1]


def test_max_bits_checks_the_constant_and_rationals():
    with pytest.raises(BitLimitError, match="gate x0"):
        evaluate(Program([], 2 ** 100), max_bits=50)
    with pytest.raises(BitLimitError, match="gate x2"):
        evaluate(Program([("*", 0, 0), ("*", 1, 1)], Fraction(1, 3 ** 10)), max_bits=60)


@pytest.mark.parametrize("bad", [-1, 2.0, "10", True])
def test_bad_max_bits(bad):
    with pytest.raises(BitpropInputError, match="max_bits"):
        evaluate(factorial(3), max_bits=bad)


# --- liveness: only needed gates, freed after their last use -------------------------------

def test_gates_the_output_does_not_need_are_not_evaluated():
    ops = list(tower(40).ops) + [("+", 0, 0)]       # x41 = 2 ignores the 2^(2^40) tower
    result = evaluate(Program(ops))
    assert result.value == 2 and result.gates_evaluated == 1


def test_values_are_freed_after_their_last_use():
    result = evaluate(tower(18))                    # live: x_(i-1) and x_i only
    assert result.max_gate_bits == 2 ** 18 + 2
    assert result.peak_live_bits < 1.6 * result.max_gate_bits
    # a value read again much later stays alive until then, and is right
    ops = list(tower(6).ops) + [("+", 1, 7), ("*", 8, 1), ("-", 9, 1)]
    assert evaluate(Program(ops)).value == value(ops)


def test_ctrl_c_interrupts_and_leaves_the_kernel_usable():
    ops = list(tower(21).ops)                       # x22 = 2^(2^21), then slow squarings
    x, total = len(ops), len(ops)
    for _ in range(20000):
        ops += [("*", x, x), ("+", total, len(ops) + 1)]
        total = len(ops)
    program = Program(ops)
    start = time.monotonic()
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))   # Ctrl-C
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            evaluate(program)
    finally:
        timer.cancel()
    assert time.monotonic() - start < 5
    assert evaluate(factorial(20)).value == 2432902008176640000
