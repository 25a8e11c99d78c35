"""Remark B.3: PosSLP -> ERM with the hinge loss. At theta* the output is 2 x_n - 1, the loss
is M max(0, 2 - 2 x_n) by closed form and by the Fraction reference, and solve answers YES
exactly when x_n > 0; theta* is still forced."""

from fractions import Fraction
from math import factorial as fact

import pytest

from bitprop.errors import BitpropInputError
from bitprop.instance import solve
from bitprop.slp import (Program, factorial, fibonacci, near_cancellation, negated,
                         tower_minus_one, zero_through_huge)
from bitprop.slp.compile_hinge import compile_hinge, sign_program
from reference.evaluator import total_loss
from reference.slp import gate_values
from test_circuit import SIGMAS

FAMILIES = [(factorial(6), fact(6)), (negated(factorial(5)), -fact(5)),
            (zero_through_huge(3), 0), (near_cancellation(3, 5, -7), -35),
            (fibonacci(12), 144), (tower_minus_one(3), 255),
            (Program([("-", 0, 0)]), 0), (Program([("+", 0, 0), ("-", 0, 1)]), -1)]
IDS = ["6!", "-5!", "zero", "near", "fib12", "tower3-1", "1-1", "1-2"]


@pytest.mark.parametrize("sigma", SIGMAS)
@pytest.mark.parametrize("program, x", FAMILIES, ids=IDS)
def test_hinge_loss_decides_the_sign(program, x, sigma):
    assert gate_values(program.ops, program.constant)[-1] == x
    extended = sign_program(program)
    assert gate_values(extended.ops, extended.constant)[-1] == 2 * x - 1
    instance = compile_hinge(program, sigma, gap=(0, "5/2"))
    copies = 3                                                     # ceil(5/2)
    assert instance.dataset.loss.kind == "hinge" and instance.dataset.weights == [copies]
    assert instance.forcing.dataset.loss.kind == "exact_fit"
    solution = solve(instance)
    assert solution.loss == copies * max(0, 2 - 2 * x)
    assert solution.parts["forcing"] == 0
    assert solution.answer == (x > 0) and instance.source.question == "pos"
    if x <= 0:
        assert solution.loss >= Fraction(5, 2)
    network = instance.network.to_json()
    assert solution.parts["main"] == total_loss(network, instance.dataset.to_json())


def test_a_misfitting_theta_pays_at_least_b():
    instance = compile_hinge(factorial(4), "z^2", gap=(0, 2))
    biases = instance.network.biases
    biases[1] += Fraction(3, 7)
    moved = instance.network.with_parameters(biases=biases)
    view = instance.forcing.network(moved)
    assert view.forward(instance.forcing.dataset).loss >= 2


def test_errors():
    with pytest.raises(BitpropInputError, match="x_0 = 1"):
        compile_hinge(Program([("*", 0, 0)], 3), "z^2")
    with pytest.raises(BitpropInputError, match="0 <= a < b"):
        compile_hinge(factorial(3), "z^2", gap=(1, 1))
