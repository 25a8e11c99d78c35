"""Lemma 3.2's circuit network: it computes x_n exactly, gate by gate, for every sigma."""

from fractions import Fraction
from math import factorial as fact

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitprop import Network
from bitprop.errors import BitpropInputError
from bitprop.slp import (Program, factorial, fibonacci, gadget_coefficients, near_cancellation,
                         negated, tower, tower_minus_one, zero_through_huge)
from bitprop.slp.circuit import circuit_network, evaluate_via_network
from reference.evaluator import forward as reference_forward
from reference.slp import gate_values, random_ops

#: z^2, z^3 and a degree-4 polynomial whose lower coefficients are all non-zero.
SIGMAS = ["z^2", "z^3", "z^4 - 3*z^3 + 1/2*z^2 - 7*z + 5/3"]


def fib(n):
    a, b = 1, 1
    for _ in range(n - 1):
        a, b = b, a + b
    return a


#: Programs with closed forms: (program, x_n).
FAMILIES = [
    (tower(5), 2 ** 32),
    (tower_minus_one(6), 2 ** 64 - 1),
    (fibonacci(40), fib(40)),
    (factorial(15), fact(15)),
    (zero_through_huge(5), 0),
    (near_cancellation(5, 3, -7), -21),
    (negated(factorial(8)), -fact(8)),
    (negated(tower_minus_one(4)), -(2 ** 16 - 1)),
    (Program([], 5), 5),
    (Program([("*", 0, 0), ("-", 1, 0), ("-", 2, 2)], Fraction(-3, 2)), 0),
    (Program([("*", 0, 0), ("-", 1, 0)], Fraction(-3, 2)), Fraction(15, 4)),
]
FAMILY_IDS = ["tower5", "tower6-1", "fib40", "fact15", "zero", "near", "-fact8", "-tower4",
              "empty", "zero-rational", "rational"]


@pytest.mark.parametrize("sigma", SIGMAS)
@pytest.mark.parametrize("program, expected", FAMILIES, ids=FAMILY_IDS)
def test_network_output_is_x_n(program, expected, sigma):
    assert gate_values(program.ops, program.constant)[-1] == expected   # the closed form
    assert evaluate_via_network(program, sigma) == expected


@pytest.mark.parametrize("sigma", SIGMAS)
def test_every_gate_vertex_holds_its_gate_value(sigma):
    """On the main input (c, 0, ..., 0), x{i} = x_i and the gadget computes x+y+s, x+s,
    y+s and sigma of them; checked with bitprop and with the reference evaluator."""
    program = Program([("+", 0, 0), ("*", 1, 1), ("-", 2, 0), ("*", 3, 1), ("-", 4, 4),
                       ("+", 5, 3), ("*", 4, 0)], Fraction(3, 2))
    circuit = circuit_network(program, sigma)
    xs = gate_values(program.ops, program.constant)
    values = circuit.network.forward([circuit.main_input()], keep_all=True).values[0]["f"]
    _, reference = reference_forward(circuit.network.to_json(), circuit.main_input())
    assert values == reference
    coefficients = circuit.sigma
    for i, x in enumerate(xs):
        assert values[f"x{i}"] == x
    for i, (op, j, k) in enumerate(program.ops, start=1):
        if op != "*":
            continue
        for s in circuit.shifts:
            for label, t in ((f"x+y+{s}", xs[j] + xs[k] + s), (f"x+{s}", xs[j] + s),
                             (f"y+{s}", xs[k] + s)):
                assert values[f"x{i}:{label}"] == t
                assert values[f"x{i}:s({label})"] == sum(c * t ** d
                                                         for d, c in enumerate(coefficients))


@settings(max_examples=25, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(0, 25), st.integers(-3, 3),
       st.sampled_from(SIGMAS))
def test_random_programs(rng, n, constant, sigma):
    ops = random_ops(rng, n, max_bits=300)
    assert evaluate_via_network(Program(ops, constant), sigma) == \
        gate_values(ops, constant)[-1]


@pytest.mark.parametrize("sigma", SIGMAS)
def test_structure(sigma):
    program = Program([("+", 0, 0), ("*", 1, 0), ("*", 2, 2), ("-", 3, 3), ("+", 4, 1)])
    circuit = circuit_network(program, sigma)
    net = circuit.network
    lambdas = gadget_coefficients(sigma)
    assert circuit.lambdas == tuple(lambdas)
    assert circuit.shifts == tuple(s for s, lam in enumerate(lambdas) if lam != 0)
    m = len(circuit.shifts)
    assert net.num_vertices == 1 + 5 + 2 * 6 * m
    assert net.inputs == net.names and net.inputs[0] == "x0"     # injected everywhere
    assert net.outputs == ["x5"]
    assert all(net.trainable)
    pairs = [(e.source, e.target) for e in net.edges]
    assert len(pairs) == len(set(pairs))                          # no parallel edges
    kinds = {name: net.activation(name) for name in net.names}
    assert kinds["x0"] is None
    for name, activation in kinds.items():
        if name != "x0":
            expected = "polynomial" if ":s(" in name else "identity"
            assert activation.kind == expected
            if expected == "polynomial":
                assert list(activation.coefficients) == list(circuit.sigma)
    weights = {(e.source, e.target): (e.weight, e.bias) for e in net.edges}
    assert weights[("x0", "x1")] == (2, 0)                        # x0 + x0: one edge
    assert weights[("x3", "x4")] == (0, 0)                        # x3 - x3: one edge
    for s in circuit.shifts:
        assert weights[("x2", "x3:x+y+" + str(s))] == (2, s)      # x2 * x2
        assert weights[("x1", "x2:x+y+" + str(s))] == (1, s)
        assert weights[("x0", "x2:x+y+" + str(s))] == (1, 0)
        assert weights[(f"x2:s(x+y+{s})", "x2")] == (lambdas[s], 0)
        assert weights[(f"x2:s(x+{s})", "x2")] == (-lambdas[s], 0)
        assert weights[(f"x2:s(y+{s})", "x2")] == (-lambdas[s], 0)
    assert Network.from_json(net.to_json()) == net


def test_one_dimensional_variant():
    circuit = circuit_network(factorial(5), "z^3", inject=False)
    assert circuit.network.inputs == ["x0"] and circuit.main_input() == [1]
    assert circuit.network.forward([[1]]).outputs == [[120]]


def test_square_needs_one_shift():
    assert circuit_network(tower(2), "z^2").shifts == (0,)


@pytest.mark.parametrize("sigma", ["z", "3", "1/2*z + 1"])
def test_linear_sigma_is_an_error(sigma):
    with pytest.raises(BitpropInputError, match="a linear sigma cannot multiply"):
        circuit_network(tower(2), sigma)
