"""Activation.is_piecewise_linear follows Remark 1.5's conditions, checked against the bits of
a 1-wide chain computed independently (tests/reference, Fractions) and classified by
bitprop.experiments.fit."""

from fractions import Fraction

import pytest

from bitprop.activations import Activation, as_activation
from bitprop.experiments.fit import EXPONENTIAL, fit_growth
from reference.evaluator import activation_value

SQUARE_8 = Activation.rounded("square", 8)


@pytest.mark.parametrize("activation, polynomial_bits", [
    ("identity", True), ("relu", True), (Activation.leaky_relu("1/8"), True),
    (Activation.piecewise_linear([-1, 1], [0, 1, 0], [-1, 0, 1]), True),
    ("square", False), ("cube", False),
    (SQUARE_8, False),                                          # the counterexample
    (Activation.rounded("square", 8, "nearest", clip=(-1, 1)), True),   # Remark 1.5 (ii)
    (Activation.rounded("relu", 8), True),                      # a rounded PWL map
    (Activation.rounded(SQUARE_8, 4), False),                   # nested, never clipped
    (Activation.rounded(SQUARE_8, 4, clip=(-2, 2)), True),      # the outer clip bounds it
])
def test_polynomial_bits_by_remark_1_5(activation, polynomial_bits):
    activation = as_activation(activation)
    assert activation.is_piecewise_linear is polynomial_bits
    spec = activation.to_json()
    value, bits = Fraction(3, 2), []
    for _ in range(10):                 # x -> sigma(1/3 + (3/2) * x), 10 layers
        value = activation_value(spec, Fraction(3, 2) * value + Fraction(1, 3))
        bits.append(max(1, value.numerator.bit_length() + value.denominator.bit_length()))
    law = fit_growth(range(1, 11), bits).law
    assert (law == EXPONENTIAL) is not polynomial_bits, (law, bits)
