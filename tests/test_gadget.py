"""Lemma 3.1: the gadget identity, checked with SymPy and on random polynomials; POLY parsing."""

from fractions import Fraction

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from bitprop.errors import BitpropInputError
from bitprop.slp import gadget_coefficients, parse_polynomial
from bitprop.slp.polynomial import MAX_DEGREE, polynomial_text

x, y, z = sympy.symbols("x y z")


def sympy_poly(coefficients):
    return sum(sympy.Rational(c.numerator, c.denominator) * z ** d
               for d, c in enumerate(coefficients))


def gadget_sum(sigma, lambdas):
    return sum(sympy.Rational(lam.numerator, lam.denominator)
               * (sigma.subs(z, x + y + j) - sigma.subs(z, x + j) - sigma.subs(z, y + j))
               for j, lam in enumerate(lambdas))


@pytest.mark.parametrize("spec", ["z^2", "z^3", "z^4 - 3*z^3 + 1/2*z^2 - 7*z + 5/3",
                                  "-2/3*z^5 + z", [1, 2, 3]])
def test_identity_symbolically(spec):
    coefficients = parse_polynomial(spec)
    lambdas = gadget_coefficients(spec)
    assert len(lambdas) == len(coefficients)          # mu + 1 of them
    assert sympy.expand(gadget_sum(sympy_poly(coefficients), lambdas) - x * y) == 0


def test_square_needs_only_lambda_0():
    assert gadget_coefficients("z^2") == [Fraction(1, 2), 0, 0]


def horner(coefficients, t):
    result = Fraction(0)
    for c in reversed(coefficients):
        result = result * t + c
    return result


small_rationals = st.builds(Fraction, st.integers(-20, 20), st.integers(1, 7))


@settings(max_examples=40, deadline=None)
@given(st.lists(small_rationals, min_size=2, max_size=5), small_rationals.filter(bool))
def test_identity_on_more_points_than_the_degree(lower, leading):
    coefficients = lower + [leading]                  # degree mu = len(lower) >= 2
    mu = len(coefficients) - 1
    lambdas = gadget_coefficients(coefficients)
    # A polynomial in x, y of degree <= mu in each that vanishes on a (mu+2) x (mu+2) grid
    # of distinct points is zero.
    points = [Fraction(i, 3) - 1 for i in range(mu + 2)]
    sigma = {t: horner(coefficients, t) for t in
             {p + q + j for p in points + [0] for q in points for j in range(mu + 1)}}
    for a in points:
        for b in points:
            total = sum(lam * (sigma[a + b + j] - sigma[a + j] - sigma[b + j])
                        for j, lam in enumerate(lambdas))
            assert total == a * b


@pytest.mark.parametrize("spec", ["z", "7", "0", "1/2*z + 3", [], [0, 5], "z^2 - z^2 + z"])
def test_degree_below_two_is_an_error_that_says_why(spec):
    with pytest.raises(BitpropInputError) as info:
        gadget_coefficients(spec, "--sigma")
    assert info.value.path == "--sigma"
    assert "a linear sigma cannot multiply" in info.value.problem
    assert "Appendix F" in info.value.problem


# --- POLY parsing --------------------------------------------------------------------------

F = Fraction


@pytest.mark.parametrize("text, expected", [
    ("z^2", [0, 0, 1]),
    ("3/2*z^3 - z + 1/5", [F(1, 5), -1, 0, F(3, 2)]),
    (" - z^2 + 0.5*z ", [0, F(1, 2), -1]),
    ("z**2 + 1e-3", [F(1, 1000), 0, 1]),
    ("z^2 + z^2 - 4", [-4, 0, 2]),
    ("z^3 - z^3 + z", [0, 1]),
    ("z^0 + z^1", [1, 1]),
    ("0", []),
    ('["0", "0", "1"]', [0, 0, 1]),
    ('[1, "-1/2", 0, 0]', [1, F(-1, 2)]),
])
def test_parse_polynomial(text, expected):
    assert parse_polynomial(text) == expected


def test_parse_lists():
    assert parse_polynomial(["1/3", 0, 2]) == [F(1, 3), 0, 2]
    assert parse_polynomial((F(1), F(0))) == [1]


@pytest.mark.parametrize("text, problem", [
    ("z^^2", "'z^^2': unexpected '^' at column 3"),
    ("x^2", "'x^2': unexpected 'x' at column 1 (the variable is z)"),
    ("2z", "'2z': unexpected 'z' at column 2 (write 2*z)"),
    ("z^-1", "'z^-1': unexpected '-' at column 3 (exponents are integers >= 0"),
    ("z^2.5", "'z^2.5': unexpected '2.5' at column 3"),
    ("z^2 +", "'z^2 +': unexpected end of input at column 6"),
    ("z^2 z", "'z^2 z': unexpected 'z' at column 5"),
    ("3*4", "'3*4': unexpected '4' at column 3"),
    ("", "empty polynomial"),
    ("1/0*z", "'1/0' has a zero denominator"),
    (f"z^{MAX_DEGREE + 1}", "beyond the limit"),
    ("[1, 2", "not a JSON list of coefficients"),
    ('["a"]', "'a' is not a rational"),
    ("[1.5]", "is a float"),
])
def test_parse_errors_point_at_the_problem(text, problem):
    with pytest.raises(BitpropInputError) as info:
        parse_polynomial(text, "--sigma")
    assert info.value.path.startswith("--sigma")
    assert problem in info.value.problem


@settings(max_examples=50, deadline=None)
@given(st.lists(st.builds(Fraction, st.integers(-10 ** 6, 10 ** 6), st.integers(1, 100)),
                max_size=8))
def test_text_round_trip(coefficients):
    while coefficients and coefficients[-1] == 0:
        coefficients.pop()
    assert parse_polynomial(polynomial_text(coefficients)) == coefficients
