"""The exact evaluator against the independent Fraction reference, on random DAGs of every
activation kind (hypothesis), with every thread count, and on hand-checked cases."""

from fractions import Fraction
from unittest import mock

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import bitprop
from bitprop import _pass
from reference import evaluator as reference
from strategies import SMOOTH_KINDS, network_and_dataset

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


#: Descents whose numbers grow past this are skipped by the reference comparison.
STEP_MAX_BITS = 20_000


def _load(network_doc, dataset_doc):
    return bitprop.Network.from_json(network_doc), bitprop.Dataset.from_json(dataset_doc)


@SETTINGS
@given(network_and_dataset(varied_numbers=True), st.integers(1, 3))
def test_grad_equals_reference_on_random_dags(case, threads):
    network_doc, dataset_doc = case
    net, data = _load(network_doc, dataset_doc)
    loss, grad_weight, grad_bias = reference.loss_and_grad(network_doc, dataset_doc)
    result = net.grad(data, threads=threads)
    assert result.loss == loss
    assert result.grad_weight == grad_weight
    assert result.grad_bias == grad_bias


@SETTINGS
@given(network_and_dataset())
def test_forward_values_equal_reference(case):
    network_doc, dataset_doc = case
    net, data = _load(network_doc, dataset_doc)
    result = net.forward(data, keep_all=True)
    for s, sample in enumerate(dataset_doc["samples"]):
        z, f = reference.forward(network_doc, sample["x"])
        assert result.values[s]["z"] == z
        assert result.values[s]["f"] == f
        assert result.outputs[s] == reference.outputs(network_doc, sample["x"])
    assert result.loss == reference.total_loss(network_doc, dataset_doc)


@SETTINGS
@given(network_and_dataset(kinds=SMOOTH_KINDS, loss_kinds=("square",)),
       st.sampled_from([Fraction(1, 3), Fraction(-2), Fraction(0)]), st.sampled_from([1, 2, 3]))
def test_step_equals_reference_descent(case, lr, threads):
    network_doc, dataset_doc = case
    net, data = _load(network_doc, dataset_doc)
    try:        # two steps of a cubic descent can reach millions of bits: too slow for Fractions
        with mock.patch.object(_pass, "STEP_EDGES_PER_THREAD", 1):   # the threaded step
            trained, losses = net.step(data, lr, steps=2, max_bits=STEP_MAX_BITS,
                                       threads=threads)
    except bitprop.BitLimitError:
        assume(False)
    doc = network_doc
    for step in range(2):
        loss, gw, gb = reference.loss_and_grad(doc, dataset_doc)
        assert losses[step] == loss
        doc = _descend(doc, gw, gb, lr)
    assert losses[2] == reference.total_loss(doc, dataset_doc)
    assert trained.to_json() == bitprop.Network.from_json(doc).to_json()


def _descend(doc, grad_weight, grad_bias, lr):
    edges = []
    for edge, gw, gb in zip(doc["edges"], grad_weight, grad_bias):
        edge = dict(edge)
        if edge.get("trainable", True):
            edge["weight"] = reference.parse_rational(edge.get("weight", 1)) - lr * gw
            edge["bias"] = reference.parse_rational(edge.get("bias", 0)) - lr * gb
        edges.append(edge)
    return {**doc, "edges": edges}


def test_contract_example():
    """docs/formats.md's 3-vertex ReLU net: loss 25, weight grads [45, 20], bias grads [30, 10]."""
    net = bitprop.Network(["x", ("h", "relu"), ("o", "identity")],
                          [("x", "h", 2, -1), ("h", "o", 3, 0)], ["x"], ["o"])
    result = net.grad(bitprop.Dataset([["3/2"]], [[1]]))
    assert (result.loss, result.grad_weight, result.grad_bias) == (25, [45, 20], [30, 10])


def test_polynomial_gradient_by_exact_interpolation():
    """A second method: L is a polynomial in one weight; interpolate it exactly at deg+1
    points and differentiate, against backprop's dL/dw."""
    net = bitprop.Network.chain(3, "cube", weight=["1/2", "-2/3", "3/4"], bias=["1/5", 0, -1])
    data = bitprop.Dataset([["3/2"], ["-1/3"]], [[1], ["1/7"]])
    w0 = Fraction(1, 2)
    degree = 2 * 27            # square loss of a composition of three cubes
    points = [w0 + k for k in range(degree + 1)]
    values = [bitprop.grad(net.with_parameters(weights=[w, "-2/3", "3/4"]), data).loss
              for w in points]
    derivative = _lagrange_derivative(points, values, w0)
    assert net.grad(data).grad_weight[0] == derivative


def _lagrange_derivative(xs, ys, at):
    """d/dx of the interpolating polynomial through (xs, ys), evaluated at ``at`` (= xs[0])."""
    total = Fraction(0)
    for i, (xi, yi) in enumerate(zip(xs, ys)):
        others = [xj for j, xj in enumerate(xs) if j != i]
        denominator = Fraction(1)
        for xj in others:
            denominator *= xi - xj
        derivative = Fraction(0)   # d/dx prod (x - xj) at `at` = sum_k prod_{j != k} (at - xj)
        for k in range(len(others)):
            term = Fraction(1)
            for j, xj in enumerate(others):
                if j != k:
                    term *= at - xj
            derivative += term
        total += yi * derivative / denominator
    return total


def test_threads_give_identical_bits():
    net = bitprop.Network.chain(12, "square", weight=1, bias="1/3")
    data = bitprop.Dataset([[f"{k}/7"] for k in range(1, 8)], [[k] for k in range(7)])
    results = [net.grad(data, threads=t) for t in (1, 2, 3, 7)]
    for r in results[1:]:
        assert (r.loss, r.grad_weight, r.grad_bias) == \
               (results[0].loss, results[0].grad_weight, results[0].grad_bias)


def test_bit_statistics_match_the_values():
    net = bitprop.Network.chain(6, "square", weight=1, bias="1/3")
    result = net.forward([["3/2"]], keep_all=True)
    values = result.values[0]
    for name, f in values["f"].items():
        assert result.bits.per_vertex[name]["f"] == bitprop.bit_length(f)
    assert result.bits.max_value == max(bitprop.bit_length(q) for q in
                                        [*values["f"].values(), *values["z"].values()])
    assert [level["depth"] for level in result.bits.per_depth] == list(range(7))


def test_deep_chain_has_no_recursion_limit():
    depth = 100_000
    net = bitprop.Network.chain(depth, "relu", weight=1, bias=0)
    result = net.grad(bitprop.Dataset([["3/2"]], [[1]]))
    assert result.loss == Fraction(1, 4)
    assert result.grad_weight[0] == 2 * Fraction(1, 2) * Fraction(3, 2)


def test_outputs_in_every_requested_kind():
    import flint
    net = bitprop.Network.chain(2, "square", weight="1/2")
    data = bitprop.Dataset([[3]], [[0]])
    assert net.grad(data, output="str").loss == "6561/4096"
    assert net.grad(data, output="fmpq").loss == flint.fmpq(6561, 4096)


def test_numpy_and_fmpq_inputs():
    import flint
    import numpy as np
    net = bitprop.Network.mlp([2, 2, 1], "relu", np.array([[[1, 2], [3, -4]], [[1, 1]]],
                                                          dtype=object),
                              [np.array([0, 1]), [flint.fmpq(1, 3)]])
    out = net.forward(np.array([[1, 1], [2, -1]])).outputs
    # h = relu(x0 + 2 x1), relu(3 x0 - 4 x1 + 1); out = h0 + h1 + 1/3
    assert out == [[Fraction(10, 3)], [Fraction(34, 3)]]


def test_float_inputs_need_opt_in():
    net = bitprop.Network.chain(1, "identity")
    with pytest.raises(bitprop.BitpropInputError, match="float"):
        bitprop.Dataset([[0.1]])
    assert net.forward(bitprop.Dataset([[0.1]], allow_float=True)).outputs == [[Fraction(0.1)]]


@settings(max_examples=150, deadline=None)
@given(st.fractions().filter(lambda q: q != 0), st.integers(0, 2 ** 200),
       st.integers(-(2 ** 200), 2 ** 200), st.integers(-300, 300), st.booleans())
def test_bit_loss_reads_bits_far_past_2_to_the_40(f, index, shift, offset, near):
    """The bit loss at any index and shift, past a machine word too (Lemma A.5's e passes
    2^40 after 45 squarings, 2^64 after 63), against instance.rational_bit's modular
    powering in Python: bit k of floor(|f| 2^s) is bit k - s of |f|. ``near`` puts k - s
    within 300 of 0, where bits are neither all 0 nor read by powering alone."""
    from bitprop.instance import rational_bit
    if near:
        index = max(shift + offset, 0)
    net = bitprop.Network(["x", ("o", "identity")], [("x", "o", 0, f)], ["x"], ["o"])
    for label in (0, 1):
        data = bitprop.Dataset([[0]], [[label]],
                               loss={"kind": "bit", "index": index, "shift": shift})
        assert net.forward(data).loss == int(rational_bit(f, index - shift) != label)
