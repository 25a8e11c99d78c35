"""Lemma 3.2: theta* fits every forcing sample, the forcing really forces, and solve answers
YES exactly when bit k of |x_n| is 1."""

from fractions import Fraction
from math import factorial as fact

import pytest

from bitprop.errors import BitpropInputError
from bitprop.instance import solve
from bitprop.slp import (Program, bounded_norm, factorial, fibonacci, gadget_coefficients,
                         near_cancellation, negated, random_program, tower, tower_minus_one,
                         zero_through_huge)
from bitprop.slp.compile_erm import compile_erm, forcing_points
from reference.evaluator import forward as reference_forward
from reference.slp import gate_values
from test_circuit import SIGMAS

SCHEMES = ["compact", "paper"]

#: (program, x_n): closed forms, including zero, near-cancellation and negative outputs.
FAMILIES = [
    (tower(4), 2 ** 16),
    (tower_minus_one(4), 2 ** 16 - 1),
    (fibonacci(25), 75025),
    (factorial(9), fact(9)),
    (zero_through_huge(3), 0),
    (near_cancellation(3, 5, -7), -35),
    (negated(factorial(6)), -720),
    (random_program(12, seed=3, max_bits=40), None),
]
FAMILY_IDS = ["tower4", "tower4-1", "fib25", "fact9", "zero", "near", "-fact6", "random12"]

#: Every kind of gate: x+x, x*y, x*x, x-x, x-y, a constant other than 1.
SMALL = Program([("+", 0, 0), ("*", 1, 0), ("*", 2, 2), ("-", 3, 3), ("-", 3, 1),
                 ("+", 5, 4)], 3)
#: For the paper's scheme (|E| + mu |E_sigma| samples): x+x, x*y, x-x, x-y, one product.
SMALL_PAPER = Program([("+", 0, 0), ("*", 1, 0), ("-", 2, 2), ("-", 3, 1)], 3)
PROGRAMS = {"compact": SMALL, "paper": SMALL_PAPER}


def bit(x, k):
    return (abs(x) >> k) & 1


def fits_exactly(view, dataset):
    """Every forcing sample reproduced at every output coordinate, by the reference."""
    doc = view.to_json()
    for x, y in zip(dataset.inputs, dataset.labels):
        _, f = reference_forward(doc, x)
        if [f[name] for name in view.outputs] != y:
            return False
    return True


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("sigma", SIGMAS)
def test_theta_star_fits_every_forcing_sample(sigma, scheme):
    instance = compile_erm(PROGRAMS[scheme], 2, sigma, forcing=scheme)
    view = instance.forcing.network(instance.network)
    assert view.outputs == view.names                       # exact fit at every vertex
    assert fits_exactly(view, instance.forcing.dataset)
    assert view.forward(instance.forcing.dataset).loss == 0
    assert set(instance.forcing.dataset.kinds) == {"aux"}
    assert instance.dataset.kinds == ["main"]


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("sigma", SIGMAS)
def test_perturbing_any_parameter_breaks_a_forcing_sample(sigma, scheme):
    """Claim B.1: theta* is forced. Each weight and bias moved by 3/7 alone (a generic
    amount: sigma(w t + b) = sigma(t) has only finitely many solutions (w, b)) misfits."""
    instance = compile_erm(PROGRAMS[scheme], 0, sigma, forcing=scheme)
    view = instance.forcing.network(instance.network)
    data = instance.forcing.dataset
    weights, biases = view.weights, view.biases
    assert all(view.trainable)
    for e in range(view.num_edges):
        for parameters in (weights, biases):
            moved = list(parameters)
            moved[e] += Fraction(3, 7)
            network = (view.with_parameters(weights=moved) if parameters is weights
                       else view.with_parameters(biases=moved))
            loss = network.forward(data, threads=1).loss
            assert loss >= 1, (view.edges[e], "weight" if parameters is weights else "bias")


@pytest.mark.parametrize("sigma", SIGMAS)
@pytest.mark.parametrize("program, closed_form", FAMILIES, ids=FAMILY_IDS)
def test_solve_answers_bit_k(program, closed_form, sigma):
    x = gate_values(program.ops, program.constant)[-1]
    if closed_form is not None:
        assert x == closed_form
    top = abs(x).bit_length()
    for k in sorted({0, top // 2, max(top - 1, 0), top + 1}):
        instance = compile_erm(program, k, sigma)
        solution = solve(instance)
        assert instance.network.forward([instance.dataset.inputs[0]]).outputs == [[x]]
        assert solution.parts["forcing"] == 0
        assert solution.loss == (0 if bit(x, k) else 1)
        assert solution.answer == (bit(x, k) == 1)


def test_gap_sets_threshold_and_weights():
    x = fact(9)
    for k in (7, 8):                                        # 9! = 362880: bit 7 is 1, 8 is 0
        instance = compile_erm(factorial(9), k, "z^2", gap=("1/2", 3))
        assert instance.threshold == Fraction(1, 2) and instance.gap == (Fraction(1, 2), 3)
        assert instance.dataset.weights == [3]
        assert set(instance.forcing.dataset.weights) == {3}
        solution = solve(instance)
        assert solution.loss == (0 if bit(x, k) else 3) and solution.answer == bool(bit(x, k))


@pytest.mark.parametrize("high, copies", [("1/2", 1), ("5/2", 3), (4, 4)])
def test_copies_are_an_integer_multiplicity(high, copies):
    """The paper's "b identical copies": an integer M = ceil(b) >= b, never a weight 1/2."""
    instance = compile_erm(factorial(5), 2, "z^2", gap=(0, high))   # 120: bit 2 is 0
    assert instance.dataset.weights == [copies]
    assert set(instance.forcing.dataset.weights) == {copies}
    assert solve(instance).loss == copies >= Fraction(high)


def test_auxiliary_loss_is_one_indicator_per_sample_vector():
    """Lemma 3.2's auxiliary loss counts the misfit forcing samples, not their misfit
    coordinates: a theta off theta* pays M per sample it misfits, checked against the
    Fraction reference's outputs."""
    instance = compile_erm(SMALL, 1, "z^2", gap=(0, 2))
    assert instance.forcing.dataset.loss.kind == "exact_fit"
    biases = instance.network.biases
    biases[0] += Fraction(3, 7)
    moved = instance.forcing.network(instance.network.with_parameters(biases=biases))
    doc, data = moved.to_json(), instance.forcing.dataset
    wrong = []
    for x, y in zip(data.inputs, data.labels):
        _, f = reference_forward(doc, x)
        wrong.append(sum(f[name] != label for name, label in zip(moved.outputs, y)))
    assert max(wrong) > 1                          # a sample misfit in several coordinates
    assert moved.forward(data).loss == 2 * sum(1 for count in wrong if count)


def test_misfitting_theta_costs_at_least_b():
    """A theta off theta* (any one bias moved) pays >= b even where the main bit is right."""
    instance = compile_erm(factorial(5), 3, "z^3", gap=(0, 5))      # 120: bit 3 is 1
    biases = instance.network.biases
    biases[-1] += 1
    moved = instance.network.with_parameters(biases=biases)
    view = instance.forcing.network(moved)
    assert view.forward(instance.forcing.dataset).loss >= 5


@pytest.mark.parametrize("sigma, mu", zip(SIGMAS, (2, 3, 4)))
def test_sample_counts(sigma, mu):
    """compact: max(3, 3m + mu) samples whatever the program's length; paper: one baseline,
    one per identity-head edge, mu per sigma-edge."""
    m = sum(1 for lam in gadget_coefficients(sigma) if lam != 0)
    for program in (SMALL, random_program(80, seed=1, max_bits=64)):
        compact = compile_erm(program, 0, sigma)
        assert len(compact.forcing.dataset) == max(3, 3 * m + mu)
    paper = compile_erm(SMALL, 0, sigma, forcing="paper")
    sigma_edges = sum(1 for e in paper.network.edges if ":s(" in e.target)
    identity_edges = paper.network.num_edges - sigma_edges
    assert len(paper.forcing.dataset) == 1 + identity_edges + mu * sigma_edges
    assert len(compile_erm(tower_minus_one(0), 0, sigma).forcing.dataset) == 3   # no products


@pytest.mark.parametrize("sigma", SIGMAS)
def test_compact_forcing_values_are_bounded_by_a_constant(sigma):
    """Every input and label of the compact forcing samples is bounded by a constant that
    depends on sigma only, not on the program (Theorem 1.1 (ii))."""
    instance = compile_erm(SMALL, 0, sigma)
    coefficients = instance.source.sigma
    mu = len(coefficients) - 1
    alpha, betas = forcing_points(coefficients)
    points = [0, alpha, *betas]
    assert len(set(points)) == mu + 1 and max(points) <= mu
    sigma_max = max(abs(sum(c * t ** d for d, c in enumerate(coefficients))) for t in points)
    lambda_max = max(abs(w) for w in instance.network.weights)
    columns = 3 * (mu + 1)
    bound = max(12, 2 * mu + 8, sigma_max, 4 + columns * lambda_max * sigma_max)
    for program in (SMALL, random_program(300, seed=7, max_bits=512)):
        data = compile_erm(program, 0, sigma).forcing.dataset
        largest = max(abs(q) for rows in (data.inputs, data.labels) for row in rows for q in row)
        assert largest <= bound


@pytest.mark.parametrize("sigma", SIGMAS)
def test_bounded_variant(sigma):
    """Through Lemma A.5 every vertex value on the main sample stays in a constant range,
    and the bit loss with shift e reads bit k of |x_n|."""
    program = near_cancellation(2, 5, -7)                  # (16+5)(16-7) - 16(16+5-7)
    x = -35
    bn = bounded_norm(program)
    for k in (1, 2, 5):
        instance = compile_erm(program, k, sigma, bounded=True)
        assert instance.source.e == bn.e and instance.dataset.loss.shift == bn.e
        assert instance.dataset.inputs[0][0] == Fraction(1, 2)
        assert solve(instance).answer == bool(bit(x, k))
    coefficients = instance.source.sigma
    mu = len(coefficients) - 1
    reach = mu + 2
    bound = max(reach, sum(abs(c) * reach ** d for d, c in enumerate(coefficients)))
    values = instance.network.forward(instance.dataset, keep_all=True).values[0]
    assert all(abs(q) <= bound for kind in ("f", "z") for q in values[kind].values())


@pytest.mark.parametrize("squarings", [46, 70])
def test_bounded_beyond_a_machine_word(squarings):
    """Lemma A.5's e is 2^(n+1): past 2^40 after 46 squarings (once the bit loss's largest
    shift), past a machine word after 63. The shift is an integer of any size, the kernel
    never builds 2^shift, and a bit index past 2^64 compiles and reads back too."""
    from bitprop.instance import Instance
    e = bounded_norm(tower(squarings)).e
    instance = compile_erm(tower(squarings), 2 ** 70 + 3, "z^2", bounded=True)
    assert e > 2 ** 40 and instance.dataset.loss.shift == instance.source.e == e
    assert instance.dataset.loss.index == 2 ** 70 + 3
    again = Instance.from_json(instance.to_json())
    assert again.dataset.loss.shift == e and again.source.e == e
    assert again.dataset.loss.index == 2 ** 70 + 3


def test_errors():
    with pytest.raises(BitpropInputError, match="0 <= a < b"):
        compile_erm(tower(2), 0, "z^2", gap=(1, 1))
    with pytest.raises(BitpropInputError, match="must be an integer >= 0"):
        compile_erm(tower(2), -1, "z^2")
    with pytest.raises(BitpropInputError, match="not a forcing scheme"):
        compile_erm(tower(2), 0, "z^2", forcing="dense")
    with pytest.raises(BitpropInputError, match="linear sigma"):
        compile_erm(tower(2), 0, "2*z + 1")
    with pytest.raises(BitpropInputError, match="integer values"):
        compile_erm(Program([], Fraction(1, 3)), 0, "z^2", bounded=True)
