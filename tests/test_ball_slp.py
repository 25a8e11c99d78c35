"""bitprop._ball_slp: the SLP ball kernel against exact Python values (Fractions)."""

import gc
import os
import random
import signal
import threading
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitprop._ball_slp import evaluate_ball
from bitprop.errors import BitpropInputError, TimeBudgetError
from bitprop.slp import Program, evaluate, factorial, tower, tower_minus_one, zero_through_huge
from reference.slp import gate_values, random_ops, value

PRECISIONS = (2, 8, 16, 64, 256)


def as_fractions(parts):
    """(mid, rad) of a ball's parts as Fractions (only for the small exponents of tests)."""
    m, e, r, f = parts
    return Fraction(m) * Fraction(2) ** e, Fraction(r) * Fraction(2) ** f


def assert_holds(program, exact):
    """At every precision the ball holds the exact value, by Arb's test and by Fractions."""
    for precision in PRECISIONS:
        ball = evaluate_ball(program, precision)
        mid, rad = as_fractions(ball.parts())
        assert abs(Fraction(exact) - mid) <= rad, (precision, exact, mid, rad)
        assert ball.contains(exact)
        assert ball.precision == precision


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2 ** 32), n=st.integers(0, 40),
       constant=st.sampled_from(["1", "2", "-3", "1/3", "-5/7", "7/2", "1/1024", "0"]))
def test_random_programs_lie_in_every_ball(seed, n, constant):
    ops = random_ops(random.Random(seed), n, max_bits=600)
    program = Program(ops, constant)
    assert_holds(program, value(ops, constant))


@pytest.mark.parametrize("program", [tower(6), tower_minus_one(7), factorial(30),
                                     zero_through_huge(5), Program([], "-4/9"), Program()],
                         ids=repr)
def test_families_lie_in_every_ball(program):
    assert_holds(program, value(program.ops, program.constant))


def test_a_wrong_value_is_outside_a_tight_ball():
    ball = evaluate_ball(Program([("*", 0, 0)], "1/3"), 64)
    assert ball.contains(Fraction(1, 9)) and not ball.contains(Fraction(1, 9) + Fraction(1, 2 ** 60))
    assert not ball.is_exact


def test_integers_that_fit_the_precision_are_exact():
    """Every gate of factorial(20) has under 64 bits: the ball is the exact value."""
    ball = evaluate_ball(factorial(20), 64)
    m, e, r, f = ball.parts()
    assert ball.is_exact and (r, f) == (0, 0) and m * 2 ** e == 2432902008176640000
    assert not evaluate_ball(factorial(30), 64).is_exact      # 30! has 108 bits


def test_squarings_of_two_stay_exact_at_any_size():
    """2^(2^100): a one-bit mantissa and an exponent of 2^100, at 16 bits of precision."""
    assert evaluate_ball(tower(100), 16).parts() == (1, 2 ** 100, 0, 0)


def test_huge_values_round_outward():
    """2^(2^100) - 1 = (2^64 - 2^-s) 2^s with s = 2^100 - 64; the ball's ends, scaled by
    2^-s, are integers, so they hold it when mid - rad <= 2^64 - 1 and mid + rad >= 2^64."""
    m, e, r, f = evaluate_ball(tower_minus_one(100), 64).parts()
    s = 2 ** 100 - 64
    assert e >= s and f >= s
    mid, rad = m << (e - s), r << (f - s)
    assert mid - rad <= 2 ** 64 - 1 and mid + rad >= 2 ** 64
    assert rad <= 2                          # and the ball is tight: 64 bits are right


def test_only_needed_gates_are_evaluated():
    ops = list(tower(5).ops) + [("*", 1, 1), ("+", 0, 0)]     # x7 reads x0 only
    ball = evaluate_ball(Program(ops), 32)
    assert ball.gates_evaluated == evaluate(Program(ops)).gates_evaluated == 1


def test_values_read_late_stay_alive():
    ops = list(tower(6).ops) + [("+", 1, 7), ("*", 8, 1), ("-", 9, 1)]
    ball = evaluate_ball(Program(ops), 256)
    assert ball.is_exact and ball.contains(value(ops))
    assert gate_values(ops)[-1] == value(ops)


@pytest.mark.parametrize("precision", [1, 0, -5, 2.5, True, "64", 1 << 40])
def test_bad_precisions_are_named(precision):
    with pytest.raises(BitpropInputError, match="precision"):
        evaluate_ball(tower(3), precision)


def slow_program():
    """Squarings of 3 at a large precision, then many more gates: seconds of work."""
    ops = [("+", 0, 0), ("+", 1, 0)]
    for _ in range(40000):
        ops.append(("*", len(ops), len(ops)))
        ops.append(("+", len(ops), 0))
    return Program(ops)


def test_time_budget_stops_the_kernel_and_it_stays_usable():
    with pytest.raises(TimeBudgetError):
        evaluate_ball(slow_program(), 1 << 16, time_budget=0.2)
    assert evaluate_ball(tower(10), 8).parts() == (1, 1024, 0, 0)


def test_ctrl_c_interrupts_the_kernel():
    # gc off: a KeyboardInterrupt raised inside a gc callback (hypothesis installs one) is
    # reported as unraisable and lost, and the kernel would then run to its end
    timer = threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT))
    gc.disable()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            evaluate_ball(slow_program(), 1 << 16)
    finally:
        timer.cancel()
        gc.enable()
    assert evaluate_ball(factorial(5), 8).contains(120)
