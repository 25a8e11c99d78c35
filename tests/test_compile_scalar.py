"""Remark B.2: one input, one output, theta* pinned by a centred quadratic regulariser. The
bit is read at theta*; every other witness (denominators <= 2^B) pays >= b through the
regulariser, by closed form and through verify; the regulariser round-trips as JSON."""

from fractions import Fraction
from math import factorial as fact

import pytest

from bitprop.errors import BitpropInputError
from bitprop.instance import Instance, solve, verify
from bitprop.slp import factorial, fibonacci, near_cancellation, negated, tower_minus_one
from bitprop.slp.compile_scalar import compile_scalar
from reference.evaluator import total_loss
from test_circuit import SIGMAS

FAMILIES = [(factorial(6), fact(6)), (negated(factorial(5)), -fact(5)),
            (near_cancellation(3, 5, -7), -35), (fibonacci(12), 144),
            (tower_minus_one(3), 255)]


@pytest.mark.parametrize("sigma", SIGMAS)
@pytest.mark.parametrize("program, x", FAMILIES)
def test_scalar_instance_reads_bit_k(program, x, sigma):
    for k in (0, 3, 5):
        instance = compile_scalar(program, k, sigma, gap=(0, 3), witness_bits=8)
        network = instance.network
        assert (network.num_inputs, network.num_outputs) == (1, 1)
        assert instance.forcing is None and instance.dataset.weights == [3]
        solution = solve(instance)
        is_one = (abs(x) >> k) & 1
        assert solution.parts["regularizer"] == 0
        assert solution.loss == (0 if is_one else 3) and solution.answer == bool(is_one)
        assert solution.parts["main"] == total_loss(network.to_json(),
                                                    instance.dataset.to_json())


def test_every_other_witness_pays_at_least_b():
    """theta* moved in one coordinate by the smallest step a witness can take, 1/(2^B D)
    (D theta*'s largest denominator), or by 1, or in two coordinates: the regulariser is
    lambda ||delta||^2 >= M, and verify's L is the reference data term plus it."""
    instance = compile_scalar(factorial(5), 3, "z^2", gap=(0, 2), witness_bits=6)
    regularizer = instance.regularizer
    center = list(regularizer.center)
    largest = max(q.denominator for q in center)
    assert regularizer.weight == 2 * (2 ** 6 * largest) ** 2
    for moves in ([(0, Fraction(1, 2 ** 6 * largest))], [(5, 1)], [(1, -1), (2, 1)]):
        theta = list(center)
        for i, step in moves:
            theta[i] += step
        solution = verify(instance, theta[0::2], theta[1::2])
        penalty = regularizer.weight * sum(step ** 2 for _, step in moves)
        moved = instance.network.with_parameters(theta[0::2], theta[1::2])
        data = total_loss(moved.to_json(), instance.dataset.to_json())
        assert solution.parts["regularizer"] == penalty >= 2
        assert solution.loss == data + penalty and solution.answer is False


def test_regularizer_round_trips_and_is_checked():
    instance = compile_scalar(factorial(4), 2, "z^3", witness_bits=4)
    document = instance.to_json()
    again = Instance.from_json(document)
    assert again.regularizer == instance.regularizer and solve(again).loss == solve(instance).loss
    for change, message in ((dict(center=["1"]), "values for"),
                            (dict(weight="-1"), "negative"),
                            (dict(witness_bits=0), "below 1"),
                            (dict(extra=1), "unknown key")):
        bad = dict(document, regularizer=dict(document["regularizer"], **change))
        with pytest.raises(BitpropInputError, match=message):
            Instance.from_json(bad, file="i.json")
    with pytest.raises(BitpropInputError, match="erm instances only"):
        Instance.from_json(dict(document, problem="backprop-sign",
                                query={"edge": 0}), file="i.json")
    with pytest.raises(BitpropInputError, match="number of bits"):
        compile_scalar(factorial(4), 2, "z^2", witness_bits=0)
