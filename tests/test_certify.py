"""bitprop.certify: balls' decisions against Fractions, escalation, certified PosSLP/BitSLP."""

import json
import random
from fractions import Fraction

import mpmath
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitprop import certify
from bitprop.certify import Ball, certify_slp, escalate
from bitprop.cli import run
from bitprop.errors import BitpropInputError, TimeBudgetError
from bitprop.slp import Program, evaluate, integer, negated, tower, zero_through_huge
from bitprop.slp.program import (_Builder, cancelling_towers, odd_tower_difference,
                                 tower_sum)
from reference.slp import random_ops, value


def exact(x):
    return Fraction(x[0]) * Fraction(2) ** x[1]


def sign(q):
    return (q > 0) - (q < 0)


dyadics = st.tuples(st.integers(-2 ** 70, 2 ** 70), st.integers(-80, 80))


# --- dyadics ------------------------------------------------------------------------------------

@given(dyadics, dyadics)
def test_compare_is_exact(x, y):
    assert certify._compare(x, y) == sign(exact(x) - exact(y))


@given(dyadics, dyadics, st.sampled_from([1, -1]))
def test_add_is_exact_or_rounded_the_asked_way(x, y, direction):
    total = certify._add(x, y, direction)
    truth = exact(x) + exact(y)
    assert sign(exact(total) - truth) in (0, direction)
    if x[0] and y[0] and abs(x[1] - y[1]) < 64:         # close scales: no rounding at all
        assert exact(total) == truth


def test_add_far_apart_rounds_by_one_unit_and_never_shifts_by_the_gap():
    huge = (3, 2 ** 80)                                  # 3 * 2^(2^80): never expanded
    up, down = certify._add(huge, (1, 0), 1), certify._add(huge, (1, 0), -1)
    assert up == (3 << 64, 2 ** 80 - 64) or up == ((3 << 64) + 1, 2 ** 80 - 64)
    assert certify._compare(down, huge) == 0 and certify._compare(up, huge) == 1
    assert certify._compare(certify._add(huge, (-1, 0), -1), huge) == -1


@given(dyadics)
def test_floor_and_ceil(x):
    q = exact(x)
    assert exact(certify._floor(x)) == q.numerator // q.denominator
    assert exact(certify._ceil(x)) == -((-q.numerator) // q.denominator)


@given(st.integers(1, 2 ** 200), st.integers(-300, 300))
def test_log2_bounds_hold(m, e):
    lower, upper = certify._log2_bounds((m, e))
    mpmath.mp.prec = 400
    truth = mpmath.log(mpmath.mpf(m), 2) + e
    assert mpmath.mpf(lower) <= truth <= mpmath.mpf(upper)
    assert upper - lower < 1e-9 * max(1, abs(upper))


def test_log2_bounds_of_exponents_past_floats():
    lower, upper = certify._log2_bounds((5, 2 ** 1200))
    assert (lower, upper) == (2 ** 1200 + 2, 2 ** 1200 + 3)      # log2 5 = 2.32...
    assert Ball((5, 2 ** 1200)).approx() == f"2^{2 ** 1200 + 2} +/- 0"


# --- a ball's decisions, against every value it holds ------------------------------------------

small_balls = st.tuples(st.integers(-300, 300), st.integers(-4, 3), st.integers(0, 40),
                        st.integers(-4, 3))


def integers_in(ball):
    low, high = exact(ball.mid) - exact(ball.rad), exact(ball.mid) + exact(ball.rad)
    return range(-((-low.numerator) // low.denominator), high.numerator // high.denominator + 1)


@settings(max_examples=300)
@given(small_balls, st.integers(0, 9))
def test_integer_decisions_are_exactly_what_the_held_integers_share(parts, k):
    """A sign or bit is decided iff every integer in the ball agrees, and then it is theirs."""
    ball = Ball.from_parts(parts, integer=True)
    held = list(integers_in(ball))
    if not held:
        with pytest.raises(ValueError, match="no integer"):
            ball.sign
        return
    signs = {sign(x) for x in held}
    bits = {(abs(x) >> k) & 1 for x in held}
    assert ball.sign == (signs.pop() if len(signs) == 1 else None)
    assert ball.bit(k) == (bits.pop() if len(bits) == 1 else None)
    for x in held:
        assert ball.contains(x)
    assert not ball.contains(held[-1] + 1) or exact(ball.rad) + exact(ball.mid) >= held[-1] + 1


@given(small_balls)
def test_real_sign_is_decided_exactly_when_the_ball_misses_zero(parts):
    ball = Ball.from_parts(parts)
    mid, rad = exact(ball.mid), exact(ball.rad)
    expected = 0 if mid == rad == 0 else sign(mid) if abs(mid) > rad else None
    assert ball.sign == expected


@given(small_balls)
def test_log2_abs_bounds_every_value(parts):
    ball = Ball.from_parts(parts)
    mid, rad = exact(ball.mid), exact(ball.rad)
    bounds = ball.log2_abs
    if mid == rad == 0:
        assert bounds is None
        return
    low_abs = max(abs(mid) - rad, 0)
    mpmath.mp.prec = 200
    high = abs(mid) + rad
    assert mpmath.mpf(bounds[1]) >= mpmath.log(mpmath.mpf(high.numerator) / high.denominator, 2)
    if low_abs == 0:
        assert bounds[0] is None
    else:
        low = mpmath.mpf(low_abs.numerator) / low_abs.denominator
        assert mpmath.mpf(bounds[0]) <= mpmath.log(low, 2)


def test_bits_of_a_huge_integer_ball():
    """5 * 2^(2^90) +- 2^(2^90 - 60): the top bits are known, the low bits are not."""
    n = 2 ** 90
    ball = Ball((5, n), (1, n - 60), integer=True)
    # floor(x / 2^n) is 4 or 5: x may lie just below 5 * 2^n
    assert [ball.bit(n + i) for i in (3, 2, 1, 0)] == [0, 1, 0, None]
    assert ball.bit(n - 1) is None and ball.bit(0) is None
    assert ball.sign == 1 and ball.magnitude(12) is not None


def test_exact_huge_ball_decides_every_bit():
    n = 2 ** 80
    ball = Ball((5, n), integer=True)
    assert (ball.bit(n), ball.bit(n + 1), ball.bit(n + 2), ball.bit(7)) == (1, 0, 1, 0)


def test_rad_far_above_mid_is_undecided_without_expanding():
    ball = Ball((1, 0), (1, 2 ** 70), integer=True)
    assert ball.sign is None and ball.bit(3) is None and ball.log2_abs[0] is None


def test_bits_need_an_integer():
    with pytest.raises(BitpropInputError, match="integer"):
        Ball((1, 0)).bit(0)


def test_json_is_exact_and_has_an_approximation():
    doc = Ball((-3, 2 ** 40), (1, 10)).to_json()
    assert doc["mid"] == {"mantissa": "-3", "exponent": str(2 ** 40)}
    assert doc["rad"] == {"mantissa": "1", "exponent": "10"}
    assert doc["approx"].startswith("-")
    assert Ball((3, -2), (1, -4)).to_json()["approx"] == "0.75 +/- 0.0625"


# --- escalation ---------------------------------------------------------------------------------

def test_escalation_doubles_until_decided_and_keeps_answers():
    seen = []

    def evaluate_at(p, seconds):
        seen.append(p)
        return p

    def decide(p):       # "a" is decided at 128 only (later None again), "b" from 512
        return {"a": "yes" if p == 128 else None, "b": p if p >= 512 else None}

    result = escalate(evaluate_at, decide, precision=64, max_precision=10 ** 4)
    assert seen == [64, 128, 256, 512] and result.answers == {"a": "yes", "b": 512}
    assert result.decided and result.stopped is None and result.precision == 512


def test_escalation_stops_at_max_precision_undecided():
    result = escalate(lambda p, s: p, lambda p: {"x": None}, precision=100, max_precision=300)
    assert result.precisions == [100, 200, 300]
    assert not result.decided and result.stopped == "max_precision" and result.result == 300


def test_escalation_reports_the_last_ball_when_time_runs_out():
    def evaluate_at(p, seconds):
        if p > 128:
            raise TimeBudgetError("stopped")
        return p

    result = escalate(evaluate_at, lambda p: {"x": None}, time_budget=5.0)
    assert result.stopped == "time_budget" and result.result == 128
    with pytest.raises(TimeBudgetError):
        escalate(lambda p, s: evaluate_at(1000, s), lambda p: {"x": None}, time_budget=5.0)


@pytest.mark.parametrize("precision, maximum", [(1, 64), (64, 32), (64.0, 128), (True, 64)])
def test_bad_precisions(precision, maximum):
    with pytest.raises(BitpropInputError, match="precision"):
        escalate(lambda p, s: p, lambda p: {}, precision=precision, max_precision=maximum)


# --- certified PosSLP / BitSLP ------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2 ** 32), n=st.integers(1, 30),
       constant=st.sampled_from(["1", "2", "-3", "1/3", "-5/7"]),
       top=st.sampled_from([2, 16, 64]), k=st.integers(0, 12))
def test_decided_answers_are_the_exact_ones(seed, n, constant, top, k):
    ops = random_ops(random.Random(seed), n, max_bits=300)
    program = Program(ops, constant)
    truth = Fraction(value(ops, constant))
    is_integer = truth.denominator == 1 and Fraction(constant).denominator == 1
    result = certify_slp(program, bit=k if is_integer else None, digits=6, precision=2,
                         max_precision=top)
    assert result.ball.contains(truth)
    assert result.sign in (None, sign(truth))
    if is_integer:
        assert result.bit in (None, (abs(truth.numerator) >> k) & 1)
    if result.magnitude not in (None, (None, None)):
        mpmath.mp.prec = 400
        log2 = mpmath.log(abs(mpmath.mpf(truth.numerator) / truth.denominator), 2)
        assert mpmath.mpf(result.magnitude[0]) <= log2 <= mpmath.mpf(result.magnitude[1])
    assert result.method == "ball" and result.precisions[-1] <= top


def test_the_families_closed_forms():
    assert value(tower_sum(4, [(-1, 3), (1, 0)]).ops) == 2 ** 16 - 2 ** 8 + 2
    assert value(odd_tower_difference(3).ops) == 3 ** 8 - 3 ** 4
    assert value(cancelling_towers(3, 5).ops) == 2 ** 8 - 1


@pytest.mark.parametrize("n", [40, 60, 100])
def test_towers_past_exact_reach_get_their_sign(n):
    """2^(2^n) - 2^(2^(n-1)) - 2^(2^(n-2)) + 1 > 0 (2^40 bits and more), and its negation."""
    program = tower_sum(n, [(-1, n - 1), (-1, n - 2), (1, 0)])
    result = certify_slp(program)
    assert (result.sign, result.precision, result.method) == (1, 64, "ball")
    assert certify_slp(negated(program)).sign == -1
    assert result.ball.log2_abs[0] <= 2 ** n <= result.ball.log2_abs[1]


@pytest.mark.parametrize("n", [8, 40, 100])
def test_top_bits_of_a_huge_integer(n):
    """The 80 bits below the top of 3^(2^n) - 3^(2^(n-1)), against mpmath at 400 bits (the
    subtracted term lies far below them for n >= 40) or Python ints (n = 8)."""
    if n == 8:
        x = 3 ** 256 - 3 ** 128
        top, bit_of = x.bit_length(), lambda k: (x >> k) & 1
    else:
        mpmath.mp.prec = 400
        man, exp = (mpmath.mpf(3) ** (2 ** n))._mpf_[1:3]
        top, bit_of = exp + man.bit_length(), lambda k: (man >> (k - exp)) & 1
    program = odd_tower_difference(n)
    for k in range(top - 80, top + 2):
        result = certify_slp(program, bit=k, max_precision=256)
        assert result.sign == 1 and result.bit == bit_of(k), k


def test_the_precision_needed_grows_with_the_cancellation():
    needed = []
    for k in (30, 100, 300, 1000, 3000):
        result = certify_slp(cancelling_towers(40, k), max_precision=1 << 14)
        assert result.sign == 1
        needed.append(result.precision)
        assert result.precision > k                      # fewer bits cannot see the difference
    assert needed == sorted(needed) and needed[-1] >= 16 * needed[0]


def test_too_little_precision_is_undecided_not_wrong():
    for program in (cancelling_towers(40, 500), negated(cancelling_towers(40, 500))):
        result = certify_slp(program, max_precision=256)
        assert result.sign is None and not result.decided
        assert result.stopped == "max_precision" and result.precision == 256


def test_cancelling_family_matches_exact_where_exact_reaches():
    for k in (10, 70):
        program = cancelling_towers(5, k)
        assert certify_slp(program).sign == evaluate(program).sign == 1


def test_an_exact_zero_is_certified_once_the_precision_holds_every_gate():
    result = certify_slp(zero_through_huge(8))          # gates of about 2^9 bits
    assert result.sign == 0 and result.precision == 1024 and result.ball.sign == 0
    undecided = certify_slp(zero_through_huge(40), max_precision=4096)
    assert undecided.sign is None


def test_exact_fallback_settles_rational_zeros():
    third = Program([("*", 0, 0), ("+", 1, 1), ("+", 2, 1), ("-", 3, 1), ("-", 4, 2)], "1/3")
    assert value(third.ops, third.constant) == 0
    balls_only = certify_slp(third, max_precision=256)
    assert balls_only.sign is None and balls_only.method == "ball"
    result = certify_slp(third, max_precision=256, max_bits=1000, digits=3)
    assert (result.sign, result.method, result.stopped) == (0, "exact", None)
    assert result.magnitude == (None, None)
    blocked = certify_slp(zero_through_huge(12), max_precision=128, max_bits=1000)
    assert blocked.sign is None and blocked.method == "ball"


def test_bit_of_a_rational_program_is_an_input_error():
    with pytest.raises(BitpropInputError, match="not an integer"):
        certify_slp(Program([("+", 0, 0)], "1/2"), bit=0)
    with pytest.raises(BitpropInputError, match="digits"):
        certify_slp(tower(3), digits=40)


def test_time_budget_reports_the_last_ball():
    """An exact 0 from 3^(2^40): every pass is 40 squarings at full precision, never exact."""
    b = _Builder()
    x = b.gate("+", b.gate("+", 0, 0), 0)
    for _ in range(40):
        x = b.gate("*", x, x)
    x1 = b.gate("+", x, 0)
    b.gate("-", b.gate("-", b.gate("*", x1, x1), b.gate("*", x, x)),
           b.gate("+", b.gate("+", x, x), 0))
    result = certify_slp(b.program(), max_precision=1 << 24, time_budget=0.3)
    assert result.sign is None and result.stopped == "time_budget"
    assert result.precisions and result.precision == result.precisions[-1] < 1 << 24
    assert result.ball.contains(0)


# --- the command line ---------------------------------------------------------------------------

def run_json(capsys, *args):
    assert run([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_cli_certify_json(tmp_path, capsys):
    path = str(tmp_path / "t.slp")
    tower_sum(60, [(-1, 59), (1, 0)]).save(path)
    doc = run_json(capsys, "slp", "eval", path, "--certify", "--sign", "--bit", str(2 ** 60 + 5))
    assert doc["certified"] is True and doc["sign"] == 1 and doc["bit"] == 0
    assert doc["precision"] == 64 and doc["decided"] is True and doc["method"] == "ball"
    mid, rad = doc["ball"]["mid"], doc["ball"]["rad"]
    assert int(mid["exponent"]) + int(mid["mantissa"]).bit_length() == 2 ** 60
    assert int(rad["mantissa"]) >= 0 and "approx" in doc["ball"]
    assert doc["log2_abs"][0] <= 2 ** 60 <= doc["log2_abs"][1]


def test_cli_certify_undecided_exits_zero(tmp_path, capsys):
    path = str(tmp_path / "c.json")
    cancelling_towers(40, 500).save(path)
    doc = run_json(capsys, "slp", "eval", path, "--certify", "--max-precision", "256")
    assert doc["sign"] is None and doc["decided"] is False
    assert doc["precision"] == 256 and doc["stopped"] == "max_precision"
    assert doc["precisions"] == [64, 128, 256]
    assert run(["slp", "eval", path, "--certify"]) == 0
    assert "certified at 512 bits" in capsys.readouterr().out


def test_cli_certify_text_and_usage(tmp_path, capsys):
    path = str(tmp_path / "z.slp")
    integer(7).save(path)
    assert run(["slp", "eval", path, "--certify", "--bit", "1", "--digits", "4"]) == 0
    out = capsys.readouterr().out
    assert "certified at 64 bits" in out and "bit 1: 1" in out and "sign: 1" in out
    for args, fragment in ((["--max-precision", "128"], "--certify"),
                           (["--certify", "--precision", "512", "--max-precision", "128"],
                            "above"),
                           (["--certify", "--via-network", "z^2"], "--via-network")):
        assert run(["slp", "eval", path, *args]) == 2
        assert fragment in capsys.readouterr().err
