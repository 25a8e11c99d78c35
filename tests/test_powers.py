"""powers.py: 2^K kept as its exponent, ordered exactly against rationals."""

from fractions import Fraction

import pytest
from hypothesis import given, strategies as st

from bitprop.powers import MAX_WRITTEN_EXPONENT, PowerOfTwo, parse_power, power_of_two

rationals = st.fractions(max_denominator=1 << 70).filter(lambda q: abs(q) < 1 << 70)


@given(st.integers(-200, 200), rationals)
def test_order_against_rationals_matches_the_built_power(k, q):
    power, exact = PowerOfTwo(k), Fraction(2) ** k
    assert (power < q, power == q, power > q) == (exact < q, exact == q, exact > q)
    assert (q < power, q == power, q > power) == (q < exact, q == exact, q > exact)


@given(st.integers(-300, 300), st.integers(-300, 300))
def test_order_between_powers_is_by_exponent(j, k):
    assert (PowerOfTwo(j) < PowerOfTwo(k)) == (j < k)
    assert (PowerOfTwo(j) == PowerOfTwo(k)) == (j == k)


def test_huge_exponents_are_never_built():
    tiny, huge = PowerOfTwo(-(1 << 46)), PowerOfTwo(1 << 46)
    assert 0 < tiny < Fraction(1, 10 ** 100) < 1 < 10 ** 100 < huge
    assert not tiny == 0 and tiny != huge and sorted([huge, 1, tiny]) == [tiny, 1, huge]


def test_written_and_symbolic_forms():
    assert power_of_two(-MAX_WRITTEN_EXPONENT) == Fraction(1, 2 ** MAX_WRITTEN_EXPONENT)
    assert isinstance(power_of_two(-MAX_WRITTEN_EXPONENT - 1), PowerOfTwo)
    assert parse_power("2^-3") == Fraction(1, 8) and parse_power(" 2^+4 ") == 16
    assert str(parse_power("2^-1099511627777")) == "2^-1099511627777"
    assert parse_power("3^2") is None and parse_power("1/8") is None and parse_power(8) is None


def test_unrelated_types_do_not_compare():
    with pytest.raises(TypeError):
        PowerOfTwo(3) < "8"
    assert PowerOfTwo(3) != "8"
