"""Dense blocks inside arbitrary DAGs (the sweep kernel, bitprop._sweep) against the
Fraction reference and the scalar kernel: skip connections, injected inputs, scalar-only
activations, outputs inside blocks, blocks feeding blocks; values, loss, gradients, bit
statistics, guards, steps."""

from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bitprop
from bitprop.layers import find_dense_blocks
from reference import evaluator as reference
from test_dense import AWKWARD, MANY_PRIMES, SMALL, check_against_reference

DENSE_ACTIVATIONS = ["relu", "identity", "square", "cube", {"kind": "leaky_relu", "slope": "1/4"},
                     {"kind": "polynomial", "coefficients": ["0", "0", "0", "-2/3"]}]
# Activations only the scalar kernel runs: they keep their vertices out of every block.
SCALAR_ACTIVATIONS = [{"kind": "polynomial", "coefficients": ["1", "-1/2", "1"]},
                      {"kind": "piecewise_linear", "breakpoints": ["-1", "1/3"],
                       "slopes": ["1/2", "2", "-1"], "intercepts": ["0", "1/2", "1"]},
                      {"kind": "rounded", "inner": "square", "bits": 3, "mode": "nearest"}]


@st.composite
def dag_cases(draw, numbers=SMALL):
    """A DAG of stages: dense layers (fed by the previous stage, sometimes by earlier
    vertices too, sometimes with one more skip edge per vertex) and scalar vertices (random
    predecessors, scalar-only activations, sometimes an injected input); outputs anywhere,
    including inside would-be blocks."""
    n_inputs = draw(st.integers(1, 3))
    vertices = [{"name": f"x{i}"} for i in range(n_inputs)]
    inputs = [f"x{i}" for i in range(n_inputs)]
    edges, previous = [], list(inputs)

    def edge(u, v):
        edges.append({"from": u, "to": v, "weight": str(draw(numbers)),
                      "bias": str(draw(numbers))})

    for stage in range(draw(st.integers(1, 5))):
        names = [v["name"] for v in vertices]
        if draw(st.booleans()) or stage == 0:        # a dense layer
            activation = draw(st.sampled_from(DENSE_ACTIVATIONS))
            skip = draw(st.lists(st.sampled_from(names), max_size=2, unique=True))
            sources = previous + [u for u in skip if u not in previous]
            layer = [f"d{stage}_{i}" for i in range(draw(st.integers(1, 4)))]
            others = [u for u in names if u not in sources]
            residual = others and draw(st.booleans())    # each vertex adds a skip of its own
            for name in layer:
                vertices.append({"name": name, "activation": activation})
                for u in sources + ([draw(st.sampled_from(others))] if residual else []):
                    edge(u, name)
            previous = layer
        else:                                          # a scalar vertex
            name = f"s{stage}"
            sources = draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True))
            vertices.append({"name": name, "activation": draw(st.sampled_from(
                SCALAR_ACTIVATIONS + DENSE_ACTIVATIONS))})
            for u in sources:
                edge(u, name)
            if draw(st.integers(0, 3)) == 0:
                inputs.append(name)                  # an input injected at a non-source
            previous = draw(st.sampled_from([previous, [name], previous + [name]]))
    hidden = [v["name"] for v in vertices if "activation" in v]
    outputs = draw(st.lists(st.sampled_from(hidden), min_size=1, max_size=3, unique=True))
    doc = {"vertices": vertices, "edges": draw(st.permutations(edges)), "inputs": inputs,
           "outputs": outputs}
    loss = draw(st.sampled_from([{"kind": "square"}, {"kind": "hinge"}]))
    data = {"samples": [{"x": [str(draw(numbers)) for _ in inputs],
                         "y": [str(draw(numbers)) for _ in outputs],
                         "weight": str(draw(st.sampled_from([1, 2, Fraction(1, 3)])))}
                        for _ in range(draw(st.integers(1, 5)))],
            "loss": loss, "reduction": draw(st.sampled_from(["sum", "mean"]))}
    return doc, data


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dag_cases(), st.integers(1, 3))
def test_mixed_kernel_equals_reference(case, threads):
    check_against_reference(*case, threads, "mixed")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dag_cases(AWKWARD), st.integers(1, 2))
def test_mixed_kernel_exact_for_awkward_denominators(case, threads):
    check_against_reference(*case, threads, "mixed")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dag_cases(MANY_PRIMES), st.integers(1, 2))
def test_mixed_kernel_exact_for_many_prime_denominators(case, threads):
    """Blocks whose base of primes is past the measured rule for small numbers."""
    check_against_reference(*case, threads, "mixed")


def _mlp_with_head(width=4, depth=3, head="relu"):
    """x (2) -> dense relu layers -> y (1 vertex), plus a skip edge x0 -> y and a scalar
    vertex s reading y and x1 (a piecewise-linear activation): the output."""
    vertices = [{"name": "x0"}, {"name": "x1"}]
    edges, previous = [], ["x0", "x1"]
    for l in range(depth):
        layer = [f"h{l}_{i}" for i in range(width)]
        for name in layer:
            vertices.append({"name": name, "activation": "relu"})
            for u in previous:
                edges.append({"from": u, "to": name, "weight": f"{len(edges) % 5 - 2}/3",
                              "bias": "1/4"})
        previous = layer
    vertices.append({"name": "y", "activation": head})
    edges += [{"from": u, "to": "y", "weight": "1/2", "bias": "0"} for u in previous + ["x0"]]
    vertices.append({"name": "s", "activation": SCALAR_ACTIVATIONS[1]})
    edges += [{"from": "y", "to": "s", "weight": "3", "bias": "-1"},
              {"from": "x1", "to": "s", "weight": "-1/7", "bias": "0"}]
    return {"vertices": vertices, "edges": edges, "inputs": ["x0", "x1"], "outputs": ["s"]}


def _block_names(doc, **options):
    net = bitprop.Network.from_json(doc)
    plan = net.plan()
    layout = find_dense_blocks(net, plan, **options)
    names = [[plan.names[p] for p in layer] for layer in layout.layers]
    bounds = list(layout.starts) + [len(names)]
    return [names[bounds[b]:bounds[b + 1]] for b in range(len(layout.starts))]


def test_blocks_chain_layers_read_only_by_the_next():
    blocks = _block_names(_mlp_with_head(), min_edges=1)
    hidden = [[f"h{l}_{i}" for i in range(4)] for l in range(3)]
    # the hidden stack is one block from the inputs; y reads h2 and x0, so it starts its own
    assert blocks == [[["x0", "x1"]] + hidden, [["x0"] + hidden[2], ["y"]]]
    assert _block_names(_mlp_with_head(), min_edges=33) == [[["x0", "x1"]] + hidden]
    assert find_dense_blocks(bitprop.Network.from_json(_mlp_with_head()),
                             bitprop.Network.from_json(_mlp_with_head()).plan(),
                             min_edges=1000) is None


def test_an_output_or_an_outside_reader_ends_a_block():
    doc = _mlp_with_head()
    doc["outputs"].append("h1_0")
    hidden = [[f"h{l}_{i}" for i in range(4)] for l in range(3)]
    assert _block_names(doc, min_edges=1)[0] == [["x0", "x1"]] + hidden[:2]
    doc = _mlp_with_head()
    doc["edges"].append({"from": "h0_3", "to": "s", "weight": "1", "bias": "0"})
    blocks = _block_names(doc, min_edges=1)
    assert blocks[0] == [["x0", "x1"], hidden[0]]
    assert blocks[1] == [hidden[0], hidden[1], hidden[2]]


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_auto_runs_blocks_and_matches_the_reference(threads):
    doc = _mlp_with_head(width=8, depth=4)
    data = {"samples": [{"x": [str(Fraction(i, 3)), str(Fraction(-i, 5) + 1)], "y": ["1/2"]}
                        for i in range(7)], "loss": {"kind": "square"}}
    net = bitprop.Network.from_json(doc)
    assert find_dense_blocks(net, net.plan()) is not None
    result = net.grad(bitprop.Dataset.from_json(data), threads=threads)
    assert (result.loss, result.grad_weight, result.grad_bias) == reference.loss_and_grad(doc, data)


def test_mixed_step_equals_scalar_step():
    doc = _mlp_with_head()
    data = bitprop.Dataset.from_json(
        {"samples": [{"x": ["1", "-1/2"], "y": ["2"]}, {"x": ["1/3", "2"], "y": ["-1"]}],
         "loss": {"kind": "square"}})
    net = bitprop.Network.from_json(doc)
    mixed_net, mixed_losses = net.step(data, "1/16", steps=3, kernel="mixed")
    scalar_net, scalar_losses = net.step(data, "1/16", steps=3, kernel="scalar")
    assert mixed_losses == scalar_losses
    assert mixed_net == scalar_net


@pytest.mark.parametrize("seed", range(4))
def test_mixed_max_bits_fault_is_the_same_for_every_thread_count(seed):
    """Blocks record their layers between the steps of the scalar vertices around them, in
    one-thread sweep order, so the reported value does not depend on the split."""
    from bitprop.experiments.random_networks import random_dataset
    doc = _mlp_with_head(width=3, depth=4, head="square")
    for v in doc["vertices"]:
        if v["name"].startswith("h2"):
            v["activation"] = "square"
    net = bitprop.Network.from_json(doc)
    data = random_dataset(2, 1, 7, seed=seed)
    values = net.grad(data, kernel="mixed", threads=1)
    limit = max(values.bits.max_value, values.bits.max_adjoint) * 3 // 4
    faults = set()
    for threads in (1, 2, 3, 4):
        with pytest.raises(bitprop.BitLimitError) as info:
            net.grad(data, kernel="mixed", threads=threads, max_bits=limit)
        faults.add((info.value.vertex, info.value.bits, str(info.value)))
    assert len(faults) == 1


def test_dense_kernel_refuses_a_graph_without_dense_layers():
    chain = bitprop.Network(["x", ("h", "relu"), ("o", "identity")],
                            [("x", "h"), ("h", "o"), ("x", "o")], ["x"], ["o"])
    with pytest.raises(bitprop.BitpropInputError, match="no dense layers"):
        chain.grad(bitprop.Dataset([[1]], [[1]]), kernel="dense")
    with pytest.raises(bitprop.BitpropInputError, match="kernel must be one of"):
        chain.grad(bitprop.Dataset([[1]], [[1]]), kernel="blocks")


def test_a_blocks_layers_fault_in_sweep_order_across_workers():
    """Later samples blow up layers earlier than the first ones: a worker with late samples
    must win with its shallower fault, though another worker faults on an earlier sample."""
    vertices, edges, previous = [{"name": "x"}], [], ["x"]
    for l in range(8):
        layer = [f"h{l}_{i}" for i in range(2)]
        for name in layer:
            vertices.append({"name": name, "activation": "square"})
            edges += [{"from": u, "to": name, "weight": "1/2", "bias": "1/3"} for u in previous]
        previous = layer
    net = bitprop.Network.from_json({"vertices": vertices, "edges": edges, "inputs": ["x"],
                                     "outputs": previous})
    data = bitprop.Dataset([["3/2"]] * 4 + [[str(Fraction(2 ** 40 + 1, 3))]] * 3)
    small = net.forward(bitprop.Dataset([["3/2"]]), kernel="scalar").bits.per_vertex
    limit = small["h6_0"]["z"] - 1          # the small samples fault at layer 6, big ones before
    faults = set()
    for threads in (1, 2, 3, 4):
        with pytest.raises(bitprop.BitLimitError) as info:
            net.forward(data, kernel="mixed", threads=threads, max_bits=limit)
        faults.add((info.value.vertex, info.value.bits))
    assert len(faults) == 1 and faults.pop()[0] < "h6"


def test_a_residual_layer_is_one_block_with_zero_weights():
    """h2_i = relu(W h1 + u_i x_i): one layer over h1 and x, its missing edges zeros."""
    vertices = [{"name": f"x{i}"} for i in range(4)]
    edges = []
    for l in (1, 2):
        for i in range(4):
            vertices.append({"name": f"h{l}_{i}", "activation": "relu"})
            for j in range(4):
                edges.append({"from": f"h1_{j}" if l == 2 else f"x{j}", "to": f"h{l}_{i}",
                              "weight": f"{(i * 3 + j) % 7 - 3}/5", "bias": "1/3"})
            if l == 2:
                edges.append({"from": f"x{i}", "to": f"h2_{i}", "weight": "1", "bias": "0"})
    doc = {"vertices": vertices, "edges": edges, "inputs": [f"x{i}" for i in range(4)],
           "outputs": [f"h2_{i}" for i in range(4)]}
    blocks = _block_names(doc, min_edges=1)
    x, h1, h2 = ([f"{k}{i}" for i in range(4)] for k in ("x", "h1_", "h2_"))
    assert blocks == [[x, h1], [x + h1, h2]]
    net = bitprop.Network.from_json(doc)
    layout = find_dense_blocks(net, net.plan(), min_edges=1)
    assert list(layout.edge_ids[-1]).count(-1) == 12     # 32 entries, 20 edges
    data = {"samples": [{"x": ["1", "-2/3", "1/2", "3"], "y": ["0", "1", "0", "1/7"]},
                        {"x": ["-1", "2", "0", "1/9"], "y": ["1", "1", "1", "1"]}],
            "loss": {"kind": "square"}}
    check_against_reference(doc, data, 2, "mixed")
