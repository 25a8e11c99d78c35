"""The dense-layer kernel (integer matrices, one denominator per sample column) against the
Fraction reference and the scalar kernel: values, loss, gradients, bit statistics, guards."""

import random
from contextlib import contextmanager
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bitprop
from bitprop._dense import set_tree_min_words
from bitprop.layers import find_dense_layout
from reference import evaluator as reference

SMALL = st.sampled_from([Fraction(v) for v in ("-2", "-1", "-1/2", "0", "1/3", "1/2", "1", "3/2",
                                               "2", "-5/7")])
# Denominators that take every path of bitprop._factored: high powers of small primes (past
# what a word holds, 3^45 and 2^70), primes shared by many denominators and their squares,
# a word-size prime (2^61 - 1) and, past what trial division factors, a multi-word prime
# and a product of two large primes: the rough cofactors of an incomplete base.
ROUGH = (2 ** 61 - 1) * (2 ** 31 - 1)
AWKWARD = st.sampled_from([Fraction(n, d) for n, d in (
    (1, 3 ** 45), (-2, 3 ** 45 * 5), (7, 2 ** 70), (1, 61), (-5, 59 ** 2), (3, 67), (1, 1009),
    (-1, 2 ** 61 - 1), (2 ** 61 - 1, 1009 * 3), (3 ** 44, 1), (1, 1), (0, 1), (-1, 2),
    (5, 2 ** 89 - 1), (-3, ROUGH * 7), (ROUGH, 1009 ** 2))])
# Many distinct primes above 2^13: a base of many groups, so that the measured rule takes
# Euclid for small numbers and remainders for big ones within one pass.
PRIMES = [p for p in range(10007, 10700) if all(p % d for d in range(2, 104))]
MANY_PRIMES = st.builds(lambda n, p: Fraction(n, p), st.integers(-9, 9), st.sampled_from(PRIMES))
# 16-bit primes shared across layers, with 2, 3 and 5: after a few layers the columns' and
# the gradient rows' denominators are many words over a base of many groups, where the
# measured rule takes batches (one Euclid for a column's gcds) or remainders by groups.
PRIMES_16 = [p for p in range(65000, 65536) if all(p % d for d in range(2, 256))]
WIDE = st.builds(lambda n, ps: Fraction(n, ps[0] * ps[1]), st.integers(-(2 ** 20), 2 ** 20),
                 st.tuples(st.sampled_from(PRIMES_16 + [1, 2, 3, 5]),
                           st.sampled_from(PRIMES_16 + [1, 9, 25])))
ACTIVATIONS = st.sampled_from(["relu", "identity", "square", "cube",
                               bitprop.Activation.leaky_relu("1/4"),
                               bitprop.Activation.leaky_relu("-3/2"),
                               bitprop.Activation.polynomial(["0", "0", "0", "-2/3"])])


@st.composite
def mlp_cases(draw, numbers=SMALL, width=4, samples=5):
    widths = draw(st.lists(st.integers(1, width), min_size=2, max_size=5))
    activations = [draw(ACTIVATIONS) for _ in widths[1:]]
    weights = [[[draw(numbers) for _ in range(widths[l])] for _ in range(widths[l + 1])]
               for l in range(len(widths) - 1)]
    biases = [[draw(numbers) for _ in range(widths[l + 1])] for l in range(len(widths) - 1)]
    vertices = [f"x{i}" for i in range(widths[0])]
    edges = []
    for l in range(1, len(widths)):
        prev = vertices[-widths[l - 1]:] if l > 1 else vertices[:widths[0]]
        layer = [f"L{l}_{i}" for i in range(widths[l])]
        for i, name in enumerate(layer):
            for j, source in enumerate(prev):    # biases spread over edges on purpose
                edges.append({"from": source, "to": name, "weight": str(weights[l - 1][i][j]),
                              "bias": str(biases[l - 1][i] / widths[l - 1])})
        vertices += layer
    table = {f"a{l}": (a.to_json() if isinstance(a, bitprop.Activation) else a)
             for l, a in enumerate(activations, 1)}
    doc = {"activations": {k: v for k, v in table.items() if isinstance(v, dict)},
           "vertices": [{"name": v} if v.startswith("x") else
                        {"name": v, "activation": table[f"a{int(v[1:].split('_')[0])}"]
                         if isinstance(table[f"a{int(v[1:].split('_')[0])}"], str)
                         else f"a{int(v[1:].split('_')[0])}"} for v in vertices],
           "edges": draw(st.permutations(edges)),
           "inputs": vertices[:widths[0]],
           "outputs": draw(st.permutations(vertices[-widths[-1]:]))}
    samples = draw(st.integers(1, samples))
    loss = draw(st.sampled_from([{"kind": "square"}, {"kind": "hinge"}]))
    data = {"samples": [{"x": [str(draw(numbers)) for _ in range(widths[0])],
                         "y": [str(draw(numbers)) for _ in range(widths[-1])],
                         "weight": str(draw(st.sampled_from([1, 2, Fraction(1, 3)])))}
                        for _ in range(samples)],
            "loss": loss, "reduction": draw(st.sampled_from(["sum", "mean"]))}
    return doc, data


def check_against_reference(doc, data, threads, kernel):
    """``kernel``'s grad and forward of (doc, data) equal the Fraction reference, and its bit
    statistics the scalar kernel's."""
    net, dataset = bitprop.Network.from_json(doc), bitprop.Dataset.from_json(data)
    result = net.grad(dataset, kernel=kernel, threads=threads)
    loss, grad_weight, grad_bias = reference.loss_and_grad(doc, data)
    assert (result.loss, result.grad_weight, result.grad_bias) == (loss, grad_weight, grad_bias)
    scalar = net.grad(dataset, kernel="scalar")
    assert result.bits.per_vertex == scalar.bits.per_vertex
    assert result.bits.max_grad == scalar.bits.max_grad
    forward = net.forward(dataset, kernel=kernel, threads=threads)
    assert forward.outputs == [reference.outputs(doc, s["x"]) for s in data["samples"]]
    assert forward.bits.per_vertex == net.forward(dataset, kernel="scalar").bits.per_vertex


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mlp_cases(), st.integers(1, 3))
def test_dense_kernel_equals_reference(case, threads):
    doc, data = case
    net = bitprop.Network.from_json(doc)
    assert find_dense_layout(net, net.plan()) is not None
    check_against_reference(doc, data, threads, "dense")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mlp_cases(AWKWARD), st.integers(1, 2))
def test_dense_kernel_exact_for_awkward_denominators(case, threads):
    check_against_reference(*case, threads, "dense")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mlp_cases(MANY_PRIMES), st.integers(1, 2))
def test_dense_kernel_exact_for_many_prime_denominators(case, threads):
    check_against_reference(*case, threads, "dense")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mlp_cases(WIDE), st.integers(1, 2))
def test_dense_kernel_exact_for_wide_denominators(case, threads):
    check_against_reference(*case, threads, "dense")


def layered_case(number, widths, samples, activation):
    """(doc, data): a fully connected MLP of ``widths`` whose weights, biases, inputs and
    labels are number() (square loss, summed)."""
    vertices = [f"x{i}" for i in range(widths[0])]
    edges = []
    for l in range(1, len(widths)):
        prev = vertices[-widths[l - 1]:]
        layer = [f"L{l}_{i}" for i in range(widths[l])]
        edges += [{"from": source, "to": name, "weight": str(number()), "bias": str(number())}
                  for name in layer for source in prev]
        vertices += layer
    doc = {"vertices": [{"name": v} if v.startswith("x") else {"name": v, "activation": activation}
                        for v in vertices],
           "edges": edges, "inputs": vertices[:widths[0]], "outputs": vertices[-widths[-1]:]}
    data = {"samples": [{"x": [str(number()) for _ in range(widths[0])],
                         "y": [str(number()) for _ in range(widths[-1])]}
                        for _ in range(samples)],
            "loss": {"kind": "square"}, "reduction": "sum"}
    return doc, data


# Deeper and wider, 16-bit primes shared across layers: gradient rows of tens of words, whose
# entries' gcds with their common denominator come from residues of the product's factors by
# its prime powers, each worker's samples' share added up after a barrier
# (bitprop._dense._shared_residues; the rule takes it here). A layer of 2 units leaves a
# third worker without rows: it still computes its share and meets the barrier.
@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("seed", range(3))
def test_dense_gradient_rows_exact_by_residues(seed, threads):
    rng = random.Random(f"residues-{seed}")
    number = (lambda: Fraction(rng.randint(-2 ** 64, 2 ** 64),
                               rng.choice(PRIMES_16[:12]) * rng.choice(PRIMES_16[:12] + [1, 3])))
    doc, data = layered_case(number, [8, 12, 2, 12, 3], 5, "relu" if seed != 1 else "square")
    check_against_reference(doc, data, threads, "dense")


# Layers of 12 units or more over 13 samples and entries of hundreds of bits: the integer
# products (bitprop._columns.product) take FLINT's own choice, Strassen's, where neither
# factor has zeros (all of z^2's, ReLU's first layer), and the classical product where
# ReLU's masks leave zeros. (Breaking either branch fails these.)
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("activation", ["square", "relu"])
def test_dense_products_exact_with_and_without_zeros(activation, threads):
    rng = random.Random(f"products-{activation}")
    number = (lambda: Fraction(rng.randint(-2 ** 64, 2 ** 64), rng.choice(PRIMES_16[:6] + [1])))
    doc, data = layered_case(number, [12, 14, 13, 12], 13, activation)
    check_against_reference(doc, data, threads, "dense")


@contextmanager
def tree_for_every_sum():
    """Gradient sums take the remainder tree whatever their denominator's size."""
    old = set_tree_min_words(1)
    try:
        yield
    finally:
        set_tree_min_words(old)


# With more samples than the residues' rule takes (M's entries are then read, not G's and
# H's), every gradient sum's gcd comes from a remainder tree of its denominator's prime
# powers (bitprop._factored.tree_residues), here forced for short denominators too.
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("seed", range(3))
def test_dense_gradient_rows_exact_by_tree(seed, threads):
    rng = random.Random(f"tree-{seed}")
    number = (lambda: Fraction(rng.randint(-2 ** 40, 2 ** 40),
                               rng.choice(PRIMES_16[:10] + [4, 9, 25])
                               * rng.choice(PRIMES_16[:10] + [1, 2, 3])))
    doc, data = layered_case(number, [3, 4, 2, 4, 2], 16, "relu" if seed != 1 else "square")
    with tree_for_every_sum():
        check_against_reference(doc, data, threads, "dense")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mlp_cases(WIDE, samples=12), st.integers(1, 2))
def test_dense_kernel_exact_by_tree_for_wide_denominators(case, threads):
    with tree_for_every_sum():
        check_against_reference(*case, threads, "dense")


def test_prime_base_factors_every_denominator_it_can():
    """The base of a pass: every prime of word-size denominators, trial-divided primes of
    bigger ones, and incomplete only where a multi-word cofactor is left."""
    from bitprop._factored import base_of
    assert base_of([12, 35, 2 ** 61 - 1]) == ([2, 3, 5, 7, 2 ** 61 - 1], True)
    assert base_of([3 ** 45 * 11, 2 ** 70]) == ([2, 3, 11], True)
    assert base_of([5 * (2 ** 89 - 1)]) == ([5], False)
    assert base_of([1, 1]) == ([], True)


def test_layout_is_refused_for_non_layered_graphs():
    skip = bitprop.Network(["x", ("h", "relu"), ("o", "identity")],
                           [("x", "h"), ("h", "o"), ("x", "o")], ["x"], ["o"])
    assert find_dense_layout(skip, skip.plan()) is None
    injected = bitprop.Network(["x", ("h", "relu")], [("x", "h")], ["x", "h"], ["h"])
    assert find_dense_layout(injected, injected.plan()) is None
    poly = bitprop.Network.mlp([1, 1], bitprop.Activation.polynomial([1, 0, 1]), [[[1]]],
                               output_activation=bitprop.Activation.polynomial([1, 0, 1]))
    assert find_dense_layout(poly, poly.plan()) is None
    with pytest.raises(bitprop.BitpropInputError, match="dense layers"):
        skip.grad(bitprop.Dataset([[1]], [[1]]), kernel="dense")


def test_dense_step_equals_scalar_step():
    from bitprop.experiments.random_networks import random_dataset, random_mlp
    net = random_mlp([3, 4, 4, 2], "relu", seed=5)
    data = random_dataset(3, 2, 6, seed=6)
    dense_net, dense_losses = net.step(data, "1/16", steps=3, kernel="dense")
    scalar_net, scalar_losses = net.step(data, "1/16", steps=3, kernel="scalar")
    assert dense_losses == scalar_losses
    assert dense_net == scalar_net


def test_dense_max_bits_names_a_vertex():
    from bitprop.experiments.random_networks import random_dataset, random_mlp
    net = random_mlp([2, 2, 2, 2, 2, 2, 2, 2], "square", seed=1)
    data = random_dataset(2, 2, 2, seed=1)
    with pytest.raises(bitprop.BitLimitError) as dense:
        net.forward(data, kernel="dense", max_bits=300)
    with pytest.raises(bitprop.BitLimitError) as scalar:
        net.forward(data, kernel="scalar", max_bits=300)
    assert dense.value.depth == scalar.value.depth


def test_copies_of_an_evaluated_network_use_their_own_parameters():
    """The dense kernel's integer weights are cached for one plan object: a copy made by
    with_parameters (or step) after a grad, whose plan may be allocated where a freed one
    was, must not run on them (it did, silently, before the cache held its plan)."""
    import gc
    import pickle
    widths = [6, 8, 8, 2]
    weights = [[[f"{(i + 2 * j) % 5 - 2}/{j % 3 + 1}" for j in range(n)] for i in range(m)]
               for n, m in zip(widths, widths[1:])]
    net = bitprop.Network.mlp(widths, weights=weights)
    data = bitprop.Dataset([[f"{k - s}/{s + 2}" for k in range(6)] for s in range(3)],
                           [["1", "-1"], ["0", "2"], ["1/2", "1/3"]])
    net.grad(data)
    pickle.loads(pickle.dumps(net))              # the cache does not travel
    for i in range(6):      # no other plan is made in between: a freed one's place is reused
        copy = net.with_parameters([w + i + 1 for w in net.weights])
        assert copy.grad(data).grad_weight == copy.grad(data, kernel="scalar").grad_weight, i
        del copy
        gc.collect()


def test_matrix_edges_leaves_no_trace_between_calls():
    """Plan.matrix_edges reuses one scratch array (a whole-network array per layer made
    compiling a depth-10^6 chain quadratic): a call must see nothing of the one before,
    including one that stopped early on an edge from outside its columns."""
    net = bitprop.Network.mlp([2, 3, 2],
                              weights=[[[1, 2], [3, 4], [5, 6]], [[1, 2, 3], [4, 5, 6]]])
    plan = net.plan()
    inputs, hidden, outputs = ([plan.position[net.names.index(v)] for v in names]
                               for names in (["x0", "x1"], ["h1_0", "h1_1", "h1_2"],
                                             ["out0", "out1"]))
    assert plan.matrix_edges(outputs, inputs) is None          # their edges come from hidden
    fresh = bitprop.Network.from_json(net.to_json()).plan()
    assert plan.matrix_edges(hidden, inputs) == fresh.matrix_edges(hidden, inputs)
    assert plan.matrix_edges(outputs, hidden) == fresh.matrix_edges(outputs, hidden)
    assert plan.matrix_edges(hidden, hidden[:1]) is None        # x0, x1 are no longer columns
    assert list(plan.matrix_edges(hidden, inputs)) == list(range(6))
