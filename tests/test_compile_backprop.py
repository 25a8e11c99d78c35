"""Theorem 1.3: dL/dw = 2 x_n at theta* (2^(1-e) x_n through Lemma A.5), so its sign is
PosSLP's answer and its bit k + 1 (k + 1 - e) is bit k of |x_n|; bounded values stay bounded."""

import json
from fractions import Fraction
from math import factorial as fact

import pytest

from bitprop.errors import BitpropInputError
from bitprop.instance import Instance, rational_bit, solve
from bitprop.powers import MAX_WRITTEN_EXPONENT, PowerOfTwo
from bitprop.slp import (Program, bounded_norm, factorial, fibonacci, near_cancellation,
                         negated, random_program, tower, tower_minus_one, zero_through_huge)
from bitprop.slp.compile_backprop import compile_backprop
from reference.evaluator import loss_and_grad
from reference.slp import gate_values
from test_circuit import SIGMAS


FAMILIES = [
    (tower(5), 2 ** 32),
    (tower_minus_one(5), 2 ** 32 - 1),
    (fibonacci(30), 832040),
    (factorial(10), fact(10)),
    (zero_through_huge(4), 0),
    (near_cancellation(4, 5, -7), -35),
    (negated(factorial(7)), -fact(7)),
    (negated(tower_minus_one(3)), -255),
    (random_program(15, seed=4, max_bits=48), None),
]
FAMILY_IDS = ["tower5", "tower5-1", "fib30", "fact10", "zero", "near", "-fact7", "-tower3-1",
              "random15"]

#: Smaller programs for the bounded variant (its BN-SLP is about n^2 gates long).
BOUNDED_FAMILIES = [
    (tower(3), 256),
    (tower_minus_one(3), 255),
    (fibonacci(8), 21),
    (factorial(4), 24),
    (zero_through_huge(1), 0),
    (near_cancellation(1, 2, -3), -6),
    (negated(factorial(3)), -6),
    (random_program(8, seed=2, max_bits=12), None),
]
BOUNDED_IDS = ["tower3", "tower3-1", "fib8", "fact4", "zero", "near", "-fact3", "random8"]


def bit(x, k):
    return (abs(x) >> k) & 1


def sign(x):
    return (x > 0) - (x < 0)


def closed(program, closed_form):
    x = gate_values(program.ops, program.constant)[-1]
    assert closed_form is None or x == closed_form
    return x


@pytest.mark.parametrize("sigma", SIGMAS)
@pytest.mark.parametrize("program, closed_form", FAMILIES, ids=FAMILY_IDS)
def test_sign_and_bits(program, closed_form, sigma):
    x = closed(program, closed_form)
    instance = compile_backprop(program, sigma)
    solution = solve(instance)
    assert instance.problem == "backprop-sign" and instance.query.bit is None
    assert solution.gradient == 2 * x
    assert solution.sign == sign(x) and solution.answer == (x > 0)
    assert instance.gap == (0, 2) and instance.source.relation.startswith("dL/dw = 2 x_n")
    for k in sorted({0, 1, abs(x).bit_length() - 1, abs(x).bit_length()} - {-1}):
        instance = compile_backprop(program, sigma, bit=k)
        solution = solve(instance)
        assert instance.problem == "backprop-bit" and instance.query.bit == k + 1
        assert f"bit {k + 1} of |dL/dw| = bit {k} of |x_n|" in instance.source.relation
        assert solution.bit == bit(x, k) and solution.answer == (bit(x, k) == 1)


@pytest.mark.parametrize("sigma", SIGMAS)
def test_gradient_matches_the_reference(sigma):
    """The whole gradient, independently: the Fraction reference's reverse mode."""
    program = Program([("+", 0, 0), ("*", 1, 1), ("-", 2, 0), ("*", 3, 1), ("-", 0, 4)], 2)
    x = closed(program, None)
    instance = compile_backprop(program, sigma)
    loss, grad_weight, grad_bias = loss_and_grad(instance.network.to_json(),
                                                 instance.dataset.to_json())
    result = instance.network.grad(instance.dataset)
    assert result.loss == loss == 1
    assert result.grad_weight == grad_weight and result.grad_bias == grad_bias
    assert grad_weight[instance.query.edge] == 2 * x


@pytest.mark.parametrize("bounded", [False, True])
@pytest.mark.parametrize("program, closed_form", FAMILIES, ids=FAMILY_IDS)
def test_promise_gap_by_integer_copies(program, closed_form, bounded):
    """Definition 4.2: with gap [a, b], NO has dL/dw <= a and YES has dL/dw >= b, made by
    M identical copies of the sample (an integer weight): dL/dw = 2^(1-e) M x_n."""
    x = closed(program, closed_form)
    if program.constant.denominator != 1:
        with pytest.raises(BitpropInputError, match="integer values"):
            compile_backprop(program, "z^2", gap=(1, 10), bounded=bounded)
        return
    e = bounded_norm(program).e if bounded else 0
    instance = compile_backprop(program, "z^2", gap=(1, 10), bounded=bounded)
    copies = instance.dataset.weights[0]
    assert copies.denominator == 1 and copies == -(-10 * 2 ** e // 2)     # ceil(b 2^(e-1))
    assert instance.gap == (1, 10) and instance.threshold == 1
    gradient = solve(instance).gradient
    assert gradient == Fraction(2 * copies * x, 2 ** e)
    assert (gradient >= 10) if x > 0 else (gradient <= 0)
    assert solve(instance).answer == (x > 0)
    assert f"{copies} copies of the sample" in instance.source.relation


def test_promise_gap_errors():
    with pytest.raises(BitpropInputError, match="0 <= a < b"):
        compile_backprop(factorial(3), "z^2", gap=(2, 1))
    with pytest.raises(BitpropInputError, match="Backprop-Sign"):
        compile_backprop(factorial(3), "z^2", bit=1, gap=(0, 2))


@pytest.mark.parametrize("sigma", SIGMAS)
def test_instance_shape(sigma):
    """One free edge (x_n, t) at w = b = 0, everything else fixed; one input; square loss."""
    program = factorial(4)
    instance = compile_backprop(program, sigma, bit=2)
    network, dataset = instance.network, instance.dataset
    free = [e for e, trainable in enumerate(network.trainable) if trainable]
    assert free == [instance.query.edge] and instance.query.coordinate == "weight"
    edge = network.edges[instance.query.edge]
    assert (edge.source, edge.target, edge.weight, edge.bias) == (f"x{len(program)}", "t", 0, 0)
    assert network.inputs == ["x0"] and network.outputs == ["t"]
    assert network.activation("t").kind == "identity"
    assert dataset.loss.kind == "square" and dataset.inputs == [[1]] and dataset.labels == [[-1]]


def value_bound(coefficients):
    """A range every vertex of a bounded circuit stays in: gate values in [-1, 1], the
    gadget's identity vertices in [-2, mu + 2], sigma vertices within max |sigma| there."""
    reach = len(coefficients) + 1
    return max(reach, sum(abs(c) * reach ** d for d, c in enumerate(coefficients)))


@pytest.mark.parametrize("sigma", SIGMAS)
@pytest.mark.parametrize("program, closed_form", BOUNDED_FAMILIES, ids=BOUNDED_IDS)
def test_bounded_variant(program, closed_form, sigma):
    x = closed(program, closed_form)
    e = bounded_norm(program).e
    instance = compile_backprop(program, sigma, bounded=True)
    assert instance.source.e == e and instance.gap == (0, Fraction(2, 2 ** e))
    assert instance.dataset.inputs == [[Fraction(1, 2)]]
    solution = solve(instance)
    assert solution.gradient == Fraction(2 * x, 2 ** e)
    assert solution.sign == sign(x) and solution.answer == (x > 0)
    bound = value_bound(instance.source.sigma)
    values = instance.network.forward(instance.dataset, keep_all=True).values[0]
    assert all(abs(q) <= bound for kind in ("f", "z") for q in values[kind].values())
    assert all(abs(values["f"][name]) <= 1 for name in values["f"] if ":" not in name)
    for k in (0, abs(x).bit_length() - 1):
        if k < 0:
            continue
        instance = compile_backprop(program, sigma, bit=k, bounded=True)
        assert instance.query.bit == k + 1 - e
        assert solve(instance).bit == bit(x, k) == rational_bit(solution.gradient, k + 1 - e)


def test_bounded_keeps_huge_programs_small():
    """2^(2^6) through the BN-SLP: no vertex leaves the constant range."""
    instance = compile_backprop(tower(6), "z^2", bit=64, bounded=True)
    values = instance.network.forward(instance.dataset, keep_all=True).values[0]
    assert max(abs(q) for q in values["f"].values()) <= value_bound(instance.source.sigma)
    assert solve(instance).bit == 1


def test_gap_past_written_powers_is_a_power_of_two(tmp_path):
    """e > 2^20 (tower(22) has e = 2^23): the gap [0, 2^(1-e)] is kept as 2^(1-e), written
    "2^K" and read back; a wider gap would need an e-bit multiplicity and is refused."""
    program = tower(22)
    e = bounded_norm(program).e
    assert e > MAX_WRITTEN_EXPONENT
    instance = compile_backprop(program, "z^2", bounded=True)
    assert instance.gap == (0, PowerOfTwo(1 - e)) and isinstance(instance.gap[1], PowerOfTwo)
    path = tmp_path / "inst.json"
    instance.save(path)
    assert json.loads(path.read_text())["gap"] == ["0", f"2^{1 - e}"]
    assert Instance.load(path).gap == instance.gap
    with pytest.raises(BitpropInputError, match=r"copies of the sample with e = \d+"):
        compile_backprop(program, "z^2", bounded=True, gap=(0, 1))


def test_errors():
    with pytest.raises(BitpropInputError, match="must be an integer >= 0"):
        compile_backprop(tower(2), "z^2", bit=-1)
    with pytest.raises(BitpropInputError, match="linear sigma"):
        compile_backprop(tower(2), "z")
    with pytest.raises(BitpropInputError, match="integer values"):
        compile_backprop(Program([], Fraction(1, 3)), "z^2", bounded=True)
