"""Sparse blocks (bitprop._sparse): runs of vertices of any wiring run level by level on
integer columns, against the Fraction reference and the scalar kernel: convolutions and
pooling trees, rows that read several earlier levels, parallel edges, outputs and scalar
readers inside a run, every activation the column rules know, awkward denominators,
bit-limit faults, and which positions the layouts give to sparse and to dense blocks."""

from fractions import Fraction

import numpy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bitprop
from bitprop.layers import find_dense_blocks, find_sparse_blocks
from reference import evaluator as reference
from test_dense import AWKWARD, SMALL, check_against_reference
from test_mixed import DENSE_ACTIVATIONS, SCALAR_ACTIVATIONS


@st.composite
def sparse_cases(draw, numbers=SMALL):
    """A DAG grown vertex by vertex: each new vertex reads 1-4 earlier vertices (any of
    them, so rows read several levels; sometimes one twice: parallel edges), mostly with an
    activation the column rules implement, sometimes a scalar-only one or an injected input
    (which end a run); outputs anywhere."""
    n_inputs = draw(st.integers(1, 3))
    vertices = [{"name": f"x{i}"} for i in range(n_inputs)]
    inputs = [f"x{i}" for i in range(n_inputs)]
    edges = []
    for k in range(draw(st.integers(2, 14))):
        names = [v["name"] for v in vertices]
        name = f"v{k}"
        scalar = draw(st.integers(0, 5)) == 0
        vertices.append({"name": name, "activation": draw(st.sampled_from(
            SCALAR_ACTIVATIONS if scalar else DENSE_ACTIVATIONS))})
        for u in draw(st.lists(st.sampled_from(names), min_size=1, max_size=4)):
            edges.append({"from": u, "to": name, "weight": str(draw(numbers)),
                          "bias": str(draw(numbers))})
        if draw(st.integers(0, 9)) == 0:
            inputs.append(name)
    hidden = [v["name"] for v in vertices if "activation" in v]
    outputs = draw(st.lists(st.sampled_from(hidden), min_size=1, max_size=3, unique=True))
    doc = {"vertices": vertices, "edges": draw(st.permutations(edges)), "inputs": inputs,
           "outputs": outputs}
    data = {"samples": [{"x": [str(draw(numbers)) for _ in inputs],
                         "y": [str(draw(numbers)) for _ in outputs],
                         "weight": str(draw(st.sampled_from([1, 2, Fraction(1, 3)])))}
                        for _ in range(draw(st.integers(1, 5)))],
            "loss": draw(st.sampled_from([{"kind": "square"}, {"kind": "hinge"}])),
            "reduction": draw(st.sampled_from(["sum", "mean"]))}
    return doc, data


def check_blocks(doc, data, threads):
    """check_against_reference on the mixed kernel (every run a block, however small), for a
    DAG that has a run at all (else the mixed kernel refuses it)."""
    net = bitprop.Network.from_json(doc)
    if find_sparse_blocks(net, net.plan(), min_edges=1) is not None:
        check_against_reference(doc, data, threads, "mixed")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sparse_cases(), st.integers(1, 3))
def test_sparse_blocks_equal_reference(case, threads):
    check_blocks(*case, threads)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sparse_cases(AWKWARD), st.integers(1, 2))
def test_sparse_blocks_exact_for_awkward_denominators(case, threads):
    check_blocks(*case, threads)


def _cnn(seed=0, side=6):
    """conv 3x3 (2 channels, padding 1, ReLU) -> 2x2 max pool -> conv 2x2 (3 channels,
    z^2) -> 2x2 average pool -> flatten -> dense 2: every layer but the head is sparse."""
    b = bitprop.Builder((1, side, side), seed=seed)
    b.conv2d(2, 3, padding=1, activation="relu").max_pool(2)
    b.conv2d(3, 2, activation="square").avg_pool(2).flatten().dense(2)
    return b.network()


def _data(net, seed, samples=3):
    rng = numpy.random.default_rng(seed)
    x = rng.integers(-4, 5, size=(samples, net.num_inputs)) / 4
    y = rng.integers(-1, 2, size=(samples, net.num_outputs))
    return bitprop.Dataset.from_numpy(x, y)


def _layouts(net, choice="auto"):
    dense = net.compiled()._dense_layers(net, choice)
    return dense.layout, dense.sparse_layout


def test_a_convolutional_network_is_one_sparse_block():
    net = _cnn()
    plan = net.plan()
    dense, sparse = _layouts(net)         # auto: the head (6 edges) is too small to be dense
    assert dense is None and len(sparse.blocks) == 1
    block = sparse.blocks[0]
    assert set(block[0]) == {plan.position[v] for v in net._inputs}      # level 0: the image
    names = [plan.names[p] for level in block[1:] for p in level]
    assert sorted(names) == sorted(name for name in plan.names if not name.startswith("x["))
    # levels by depth; a max-pool tree's sums read two levels (the gap and one side)
    depths = [plan.depth[level[0]] for level in block[1:]]
    assert depths == sorted(depths)
    assert {plan.names[p] for p in sparse.exported} == {"dense1[0]", "dense1[1]"}


def test_a_dense_head_reads_what_leaves_the_sparse_block():
    net = _cnn()
    plan = net.plan()
    dense, sparse = _layouts(net, "mixed")      # every dense layer a block, however small
    assert [[plan.names[p] for p in layer] for layer in dense.layers[1:]] == [
        ["dense1[0]", "dense1[1]"]]
    assert len(sparse.blocks) == 1
    assert {plan.names[p] for p in sparse.exported} == {plan.names[p] for p in dense.layers[0]}


def test_convolution_slices_are_not_dense_blocks():
    """One small dense layer per output position used to become one dense block each; the
    whole convolution now runs as one sparse level."""
    net = _cnn()
    layout = find_dense_blocks(net, net.plan(), min_edges=1)
    names = {net.plan().names[p] for layer in layout.layers[1:] for p in layer}
    assert not any(name.startswith("conv") for name in names)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("kernel", ["auto", "mixed"])
def test_cnn_equals_reference(kernel, threads):
    net = _cnn(seed=threads)
    data = _data(net, threads)
    document, dataset = net.to_json(), data.to_json()
    result = net.grad(data, kernel=kernel, threads=threads)
    loss, grad_weight, grad_bias = reference.loss_and_grad(document, dataset)
    assert (result.loss, result.grad_weight, result.grad_bias) == (loss, grad_weight, grad_bias)
    assert result.parameters == reference.parameter_gradients(document, dataset)
    scalar = net.grad(data, kernel="scalar")
    assert result.bits == scalar.bits
    forward = net.forward(data, kernel=kernel, threads=threads)
    assert forward.outputs == [reference.outputs(document, s["x"]) for s in dataset["samples"]]
    assert forward.bits == net.forward(data, kernel="scalar").bits


def test_rows_reading_three_levels_with_different_denominators():
    """A row reading level 0 and two levels whose column denominators differ (3 and 7):
    the cofactors of the common denominator, and dL/df merged from three readers."""
    vertices = [{"name": "x"}, {"name": "a", "activation": "relu"},
                {"name": "b", "activation": "identity"}, {"name": "c", "activation": "relu"},
                {"name": "o", "activation": "identity"}]
    edges = [("x", "a", "1/3", "0"), ("x", "b", "2/7", "1/5"), ("a", "c", "3", "0"),
             ("b", "c", "-1", "1/2"), ("x", "c", "5/11", "0"), ("c", "o", "1", "0"),
             ("a", "o", "-2/3", "0"), ("b", "o", "1/9", "0"), ("x", "o", "1", "0")]
    doc = {"vertices": vertices, "inputs": ["x"], "outputs": ["o", "a"],
           "edges": [{"from": u, "to": v, "weight": w, "bias": q} for u, v, w, q in edges]}
    data = {"samples": [{"x": [x], "y": ["1", "-1"]} for x in ("2", "-3/4", "5/13")],
            "loss": {"kind": "square"}}
    net = bitprop.Network.from_json(doc)
    sparse = find_sparse_blocks(net, net.plan(), min_edges=1)
    assert len(sparse.blocks) == 1 and len(sparse.blocks[0]) == 5     # x; a, b; c; o
    for threads in (1, 2, 3):
        check_against_reference(doc, data, threads, "mixed")


def test_a_scalar_vertex_splits_runs_and_reads_inside_them():
    """A piecewise-linear vertex between two runs reads the first run's middle (exported
    there) and feeds the second."""
    vertices = [{"name": "x0"}, {"name": "x1"}]
    edges = []
    for i in range(4):
        vertices.append({"name": f"a{i}", "activation": "relu"})
        edges += [("x0", f"a{i}", f"{i - 1}/2", "1/3"), ("x1", f"a{i}", "1", f"-{i}/4")]
    vertices.append({"name": "s", "activation": SCALAR_ACTIVATIONS[1]})
    edges += [("a1", "s", "2", "0"), ("a2", "s", "-1", "0")]
    for i in range(3):
        vertices.append({"name": f"b{i}", "activation": "square"})
        edges += [("s", f"b{i}", "1/2", "0"), (f"a{i}", f"b{i}", "1", "1"), ("x0", f"b{i}", "1", "0")]
    doc = {"vertices": vertices, "inputs": ["x0", "x1"], "outputs": ["b0", "b2", "a3"],
           "edges": [{"from": u, "to": v, "weight": w, "bias": q} for u, v, w, q in edges]}
    data = {"samples": [{"x": [x0, x1], "y": ["1", "0", "2"]}
                        for x0, x1 in (("1", "2"), ("-1/2", "3/5"), ("7/3", "-1"))],
            "loss": {"kind": "square"}}
    net = bitprop.Network.from_json(doc)
    sparse = find_sparse_blocks(net, net.plan(), min_edges=1)
    plan = net.plan()
    assert len(sparse.blocks) == 2
    assert {plan.names[p] for p in sparse.exported} >= {"a1", "a2", "a3", "b0", "b2"}
    for threads in (1, 2):
        check_against_reference(doc, data, threads, "mixed")


def test_bit_limit_fault_is_the_same_for_every_thread_count():
    net = _cnn(seed=5)
    data = _data(net, 5, samples=4)
    values = net.grad(data)
    limit = max(values.bits.max_value, values.bits.max_adjoint) * 3 // 4
    faults = set()
    for threads in (1, 2, 3, 4):
        with pytest.raises(bitprop.BitLimitError) as info:
            net.grad(data, threads=threads, max_bits=limit)
        faults.add((info.value.vertex, info.value.bits, str(info.value)))
    assert len(faults) == 1


def test_partial_sums_add_up_to_the_gradient():
    """Dask's shards keep gradients as partial sums (canonical=False): sparse blocks' edges
    sum over workers like scalar ones, to the same exact gradient."""
    from bitprop.evaluation import grad
    net = _cnn(seed=2)
    data = _data(net, 2, samples=4)
    whole = net.grad(data, threads=2)
    partial = grad(net, data, threads=2, canonical=False)
    assert partial.grad_weight.canonical().tolist() == whole.grad_weight.tolist()
    assert partial.grad_bias.canonical().tolist() == whole.grad_bias.tolist()


def test_steps_with_sparse_blocks_equal_the_scalar_kernel():
    net = _cnn(seed=4)
    data = _data(net, 4)
    stepped, losses = net.step(data, "1/8", steps=2)
    scalar, scalar_losses = net.step(data, "1/8", steps=2, kernel="scalar")
    assert losses == scalar_losses
    assert stepped.parameters == scalar.parameters


def test_frozen_parameters_are_not_reported():
    net = _cnn()
    result = net.grad(_data(net, 0))
    frozen = {name for name, trainable in net.parameter_trainable.items() if not trainable}
    assert frozen and not frozen & set(result.parameters)
    assert set(result.parameters) == set(net.parameter_trainable) - frozen


@pytest.mark.parametrize("fraction", [1 / 4, 1 / 2, 3 / 4])
def test_predicted_powers_fault_the_same_for_every_thread_count(fraction):
    """Levels of c z^3 whose powers the guard predicts over the limit before computing
    them: the reported fault (an earlier power computed over, or the predicted one) does
    not depend on how the samples are split."""
    b = bitprop.Builder((1, 5, 5), seed=7)
    b.conv2d(2, 2, activation="cube").conv2d(2, 2, activation="cube").flatten().dense(1)
    net = b.network()
    rng = numpy.random.default_rng(7)
    x = rng.integers(1, 9, size=(5, net.num_inputs)) * 3 / 7
    data = bitprop.Dataset.from_numpy(x, numpy.ones((5, 1)))
    limit = int(net.grad(data).bits.max_value * fraction)
    faults = set()
    for threads in (1, 2, 3, 5):
        with pytest.raises(bitprop.BitLimitError) as info:
            net.grad(data, threads=threads, max_bits=limit)
        faults.add(str(info.value))
    assert len(faults) == 1


def test_numbers_past_the_stack_accumulator_take_the_general_path():
    """Sums whose products need more than 48 words (3072 bits) fall back from the limb
    accumulator to fmpz_addmul; both agree with the reference."""
    huge = Fraction(2 ** 3500 + 1, 3 ** 5)
    vertices = [{"name": "x0"}, {"name": "x1"}]
    edges = []
    for i in range(3):          # parallel edges: no dense layer
        vertices.append({"name": f"h{i}", "activation": "identity"})
        edges += [("x0", f"h{i}", str(huge * (i + 1)), "1/7"), ("x0", f"h{i}", "1", "0"),
                  ("x1", f"h{i}", "-3/5", "0")]
    vertices.append({"name": "o", "activation": "relu"})
    edges += [(f"h{i}", "o", str(-huge if i else huge), "0") for i in range(3)]
    edges += [("x0", "o", "1/2", "0"), ("x0", "o", "1", "0")]
    doc = {"vertices": vertices, "inputs": ["x0", "x1"], "outputs": ["o"],
           "edges": [{"from": u, "to": v, "weight": w, "bias": q} for u, v, w, q in edges]}
    data = {"samples": [{"x": [str(huge), "1/3"], "y": ["2"]}, {"x": ["-1", "5"], "y": ["0"]}],
            "loss": {"kind": "square"}}
    net = bitprop.Network.from_json(doc)
    dense, sparse = _layouts(net, "mixed")
    assert dense is None and len(sparse.blocks) == 1
    for threads in (1, 2):
        check_blocks(doc, data, threads)


# --- convolutions as matrix products -----------------------------------------------------------

def _products(net, choice="mixed"):
    """The product shapes of ``net``'s sparse blocks under ``choice`` (built by one pass)."""
    dense = net.compiled()._dense_layers(net, choice)
    net.grad(_data(net, 0, samples=1), kernel=choice)
    return dense.sparse.product_shapes()


def test_convolutions_run_as_matrix_products():
    """A convolution's level is K (out channels x in channels * kernel^2) times its
    patches (im2col), padding included (border patches have empty slots); max-pool trees,
    whose edges each own their weight, sum row by row."""
    net = _cnn()
    # conv1: 2 kernels of 1 * 3 * 3 slots on 6 * 6 positions; conv2: 3 kernels of 2 * 2 * 2
    # slots on 2 * 2 positions, reading the max pool's last level (5 within the block)
    assert _products(net) == [(1, 0, 2, 9, 36), (6, 5, 3, 8, 4)]
    assert _products(net, "auto") == _products(net)     # both reads have 64 edges or more


def _tied(row_params):
    """Inputs x0..x3 and rows h0, h1, ... reading x0, x1, x2, x3 and x0 again (a parallel
    edge: no dense layer) with weights named by ``row_params`` (one parameter name per
    edge); o sums the rows."""
    vertices = [{"name": f"x{i}"} for i in range(4)]
    edges = []
    for r, names in enumerate(row_params):
        vertices.append({"name": f"h{r}", "activation": "relu"})
        edges += [{"from": f"x{i % 4}", "to": f"h{r}", "weight": {"param": name},
                   "bias": "1/3"} for i, name in enumerate(names)]
        edges.append({"from": f"h{r}", "to": "o", "weight": str(r + 2), "bias": "0"})
    vertices.append({"name": "o", "activation": "identity"})
    names = sorted({name for names in row_params for name in names})
    parameters = {name: f"{k + 1}/{7 if k % 2 else 5}" for k, name in enumerate(names)}
    doc = {"vertices": vertices, "edges": edges, "inputs": [f"x{i}" for i in range(4)],
           "outputs": ["o"], "parameters": parameters}
    data = {"samples": [{"x": ["1", "-2/3", "5", "1/2"], "y": ["3"]},
                        {"x": ["-1/9", "4", "0", "2"], "y": ["-1"]}],
            "loss": {"kind": "square"}}
    return doc, data


@pytest.mark.parametrize("rows, products", [
    ("abcdp efghq", [(1, 0, 2, 5, 1)]),     # own weights: a dense product, one patch
    ("abcdp abcdp", []),                    # one kernel row, one patch, two rows
    ("aabcp defgq", []),                    # a parameter twice in a row
    ("abcdp befgq", []),                    # kernel rows that share a parameter
])
def test_shared_weights_that_are_no_product_sum_row_by_row(rows, products):
    doc, data = _tied(rows.split())
    net = bitprop.Network.from_json(doc)
    assert _products(net) == products
    for threads in (1, 2):
        check_against_reference(doc, data, threads, "mixed")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 2), st.integers(1, 3), st.integers(1, 3), st.integers(1, 2),
       st.integers(0, 1), st.sampled_from(["relu", "identity", "square", "cube"]),
       st.integers(1, 2), st.integers(0, 99))
def test_random_convolutions_equal_reference(channels, out, kernel, stride, padding,
                                             activation, threads, seed):
    """Convolutions of any channels, kernel, stride and padding, one or two deep, as
    products (kernel "mixed": every read, however small) against the reference."""
    side = 5
    b = bitprop.Builder((channels, side, side), seed=seed)
    b.conv2d(out, kernel, stride=stride, padding=min(padding, kernel - 1),
             activation=activation)
    if b.shape[1] >= 2:
        b.conv2d(2, 2, activation="relu")
    net = b.flatten().dense(1).network()
    rng = numpy.random.default_rng(seed)
    x = rng.integers(-8, 9, size=(3, net.num_inputs)) / 8
    data = bitprop.Dataset.from_numpy(x, rng.integers(-2, 3, size=(3, 1)))
    document, dataset = net.to_json(), data.to_json()
    result = net.grad(data, kernel="mixed", threads=threads)
    loss, grad_weight, grad_bias = reference.loss_and_grad(document, dataset)
    assert (result.loss, result.grad_weight, result.grad_bias) == (loss, grad_weight, grad_bias)
    assert result.parameters == reference.parameter_gradients(document, dataset)
    if out >= 2:
        assert _products(net)[0][:2] == (1, 0)      # the first convolution is a product
