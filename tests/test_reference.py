"""The reference evaluator checked on its own: closed forms by hand, then gradients by other methods.

bitprop is tested against tests/reference, so the reference must be right independently:
hand-computed cases pin the conventions (kinks, ties, defaults), and on random networks the
reverse-mode gradient is compared with exact polynomial interpolation of L (smooth networks),
with sympy on a symbolic network, and with forward-mode tangents (all networks).
"""

import math
from fractions import Fraction as Q

import pytest
import sympy
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

from reference.evaluator import (
    activation_derivative,
    activation_value,
    forward,
    loss_and_grad,
    loss_derivative,
    loss_value,
    outputs,
    parse_rational,
    resolve_activation,
    round_to_bits,
    topological_order,
    total_loss,
)
from strategies import (
    ALL_KINDS,
    SMOOTH_KINDS,
    dag_depth,
    network_and_dataset,
    networks,
    number_text,
    rationals,
)


def net(vertices, edges, inputs, outs, activations=None):
    """A network dict from short tuples: vertices (name[, activation]), edges (from, to[, w, b])."""
    network = {
        "format": "bitprop.network/1",
        "vertices": [{"name": v[0], **({"activation": v[1]} if len(v) > 1 else {})} for v in vertices],
        "edges": [_edge(*e) for e in edges],
        "inputs": inputs,
        "outputs": outs,
    }
    if activations is not None:
        network["activations"] = activations
    return network


def _edge(source, target, weight=None, bias=None):
    edge = {"from": source, "to": target}
    if weight is not None:
        edge["weight"] = weight
    if bias is not None:
        edge["bias"] = bias
    return edge


def data(samples, loss="square", reduction=None, **loss_fields):
    """A dataset dict from (x, y) or (x, y, weight) tuples."""
    dataset = {"samples": [_sample(*s) for s in samples], "loss": {"kind": loss, **loss_fields}}
    if reduction:
        dataset["reduction"] = reduction
    return dataset


def _sample(x, y, weight=None):
    return {"x": x, "y": y, **({"weight": weight} if weight is not None else {})}


# ---------------------------------------------------------------------------------------------
# Numbers


@pytest.mark.parametrize("text, value", [
    ("3", Q(3)), ("-7/12", Q(-7, 12)), ("4/6", Q(2, 3)), ("0.125", Q(1, 8)), ("-0.125", Q(-1, 8)),
    ("1e-3", Q(1, 1000)), ("-2.5E+2", Q(-250)), ("0", Q(0)), ("-0/5", Q(0)), (7, Q(7)), (-3, Q(-3)),
    (Q(5, 3), Q(5, 3)), ("+1/2", Q(1, 2)), ("12e0", Q(12)),
])
def test_parse_rational_accepts_the_format(text, value):
    assert parse_rational(text) == value


@pytest.mark.parametrize("text", [
    "1/0", "-3/0", "1/-2", "0.1.2", "", "-", "1/2/3", "abc", " 1", "1 ", "e3", ".",
    0.5, 1.0, True, None, [1],
])
def test_parse_rational_rejects_the_rest(text):
    with pytest.raises(ValueError):
        parse_rational(text)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_every_spelling_the_strategies_write_parses_back(data_):
    q = data_.draw(rationals())
    assert parse_rational(number_text(data_.draw, q, varied=True)) == q


# ---------------------------------------------------------------------------------------------
# Activations, losses, rounding


def test_builtin_activations():
    for z in (Q(-3, 2), Q(0), Q(2, 3)):
        assert activation_value("identity", z) == z and activation_derivative("identity", z) == 1
        assert activation_value("square", z) == z * z and activation_derivative("square", z) == 2 * z
        assert activation_value("cube", z) == z**3 and activation_derivative("cube", z) == 3 * z * z
    assert [activation_value("relu", z) for z in (Q(-1), Q(0), Q(1, 2))] == [0, 0, Q(1, 2)]
    assert [activation_derivative("relu", z) for z in (Q(-1), Q(0), Q(1, 2))] == [0, 0, 1]


def test_leaky_relu_at_and_around_zero():
    leaky = {"kind": "leaky_relu", "slope": "-1/4"}
    assert [activation_value(leaky, z) for z in (Q(-2), Q(0), Q(3))] == [Q(1, 2), 0, 3]
    assert [activation_derivative(leaky, z) for z in (Q(-2), Q(0), Q(3))] == [Q(-1, 4), Q(-1, 4), 1]


def test_polynomial_value_and_derivative():
    poly = {"kind": "polynomial", "coefficients": ["1", "-2", "0", "1/3"]}  # 1 - 2z + z^3/3
    assert activation_value(poly, Q(3)) == 1 - 6 + 9
    assert activation_derivative(poly, Q(3)) == -2 + 9
    constant = {"kind": "polynomial", "coefficients": ["5/7"]}
    assert activation_value(constant, Q(9)) == Q(5, 7) and activation_derivative(constant, Q(9)) == 0


PIECEWISE = {"kind": "piecewise_linear", "breakpoints": ["0", "1"], "slopes": ["1/2", "2", "-1"],
             "intercepts": ["0", "0", "3"]}


@pytest.mark.parametrize("z, value, slope", [
    (Q(-2), Q(-1), Q(1, 2)), (Q(0), Q(0), Q(1, 2)),      # b_1 = 0 belongs to piece 0
    (Q(1, 2), Q(1), Q(2)), (Q(1), Q(2), Q(2)),           # b_2 = 1 belongs to piece 1
    (Q(3, 2), Q(3, 2), Q(-1)),
])
def test_piecewise_linear_breakpoints_belong_to_the_piece_below(z, value, slope):
    assert activation_value(PIECEWISE, z) == value
    assert activation_derivative(PIECEWISE, z) == slope


def test_piecewise_linear_relu_form_matches_relu():
    relu = {"kind": "piecewise_linear", "breakpoints": ["0"], "slopes": ["0", "1"],
            "intercepts": ["0", "0"]}
    for z in (Q(-1), Q(0), Q(1, 3)):
        assert activation_value(relu, z) == activation_value("relu", z)
        assert activation_derivative(relu, z) == activation_derivative("relu", z)


@pytest.mark.parametrize("v, bits, mode, rounded", [
    (Q(5, 8), 2, "nearest", Q(1, 2)), (Q(7, 8), 2, "nearest", Q(1)), (Q(-5, 8), 2, "nearest", Q(-1, 2)),
    (Q(-7, 8), 2, "nearest", Q(-1)), (Q(1, 2), 0, "nearest", Q(0)), (Q(3, 2), 0, "nearest", Q(2)),
    (Q(2, 3), 2, "nearest", Q(3, 4)), (Q(7, 8), 2, "floor", Q(3, 4)), (Q(-5, 8), 2, "floor", Q(-3, 4)),
    (Q(-1, 3), 0, "floor", Q(-1)), (Q(5, 4), 6, "floor", Q(5, 4)),
])
def test_round_to_bits(v, bits, mode, rounded):
    assert round_to_bits(v, bits, mode) == rounded


def test_rounded_activation_value_clip_and_backward_rules():
    inner = {"kind": "polynomial", "coefficients": ["0", "0", "1"]}  # z^2, derivative 2z
    ste = {"kind": "rounded", "inner": inner, "bits": 1, "mode": "nearest", "clip": ["-1", "1/2"]}
    # z = 3/4: z^2 = 9/16 -> 9/8 halves -> 1/2; derivative 3/2 = 3 halves exactly.
    assert activation_value(ste, Q(3, 4)) == Q(1, 2)
    assert activation_derivative(ste, Q(3, 4)) == Q(3, 2)  # clip does not touch the derivative
    # z = 5/4: z^2 = 25/16 -> 3/2, clipped to 1/2; derivative 5/2 = 5 halves.
    assert activation_value(ste, Q(5, 4)) == Q(1, 2) and activation_derivative(ste, Q(5, 4)) == Q(5, 2)
    floor0 = {"kind": "rounded", "inner": "square", "bits": 0}  # mode floor, backward ste by default
    assert activation_value(floor0, Q(3, 2)) == 2 and activation_derivative(floor0, Q(3, 2)) == 3
    assert activation_derivative(floor0, Q(3, 4)) == 1  # floor(3/2)
    nearest0 = {**floor0, "mode": "nearest"}
    assert activation_derivative(nearest0, Q(3, 4)) == 2  # 3/2 is a tie, to even
    assert activation_derivative(nearest0, Q(5, 4)) == 2  # 5/2 is a tie, to even
    assert activation_derivative({**floor0, "backward": "zero"}, Q(3, 2)) == 0


def test_named_inner_activations_resolve_through_the_table():
    table = {"sq": {"kind": "polynomial", "coefficients": [0, 0, 1]},
             "r": {"kind": "rounded", "inner": "sq", "bits": 2, "mode": "nearest"}}
    spec = resolve_activation("r", table)
    assert spec["inner"] == table["sq"]
    assert activation_value(spec, Q(3, 4)) == Q(1, 2)  # 9/16 = 2.25 quarters -> 2 quarters
    with pytest.raises(ValueError):
        resolve_activation("nope", table)
    with pytest.raises(ValueError):
        resolve_activation("loop", {"loop": {"kind": "rounded", "inner": "loop", "bits": 0}})
    with pytest.raises(ValueError):
        resolve_activation("relu", {"relu": {"kind": "identity"}})


def test_losses_at_their_kinks():
    square, hinge = {"kind": "square"}, {"kind": "hinge"}
    assert loss_value(square, Q(3), "1/2") == Q(25, 4) and loss_derivative(square, Q(3), "1/2") == 5
    assert loss_value(hinge, Q(1), "1") == 0 and loss_derivative(hinge, Q(1), "1") == 0  # 1 - yf = 0
    assert loss_value(hinge, Q(1, 2), "-1") == Q(3, 2) and loss_derivative(hinge, Q(1, 2), "-1") == 1
    assert loss_value(hinge, Q(2), "1") == 0 and loss_derivative(hinge, Q(2), "1") == 0
    zero_one = {"kind": "zero_one"}
    assert loss_value(zero_one, Q(1, 3), "1/3") == 0 and loss_value(zero_one, Q(1, 3), "0") == 1
    assert loss_derivative(zero_one, Q(1, 3), "0") == 0


@pytest.mark.parametrize("index, shift, y, lost", [
    (0, 2, "1", 0), (1, 2, "0", 0), (2, 2, "1", 0), (3, 2, "1", 0), (4, 2, "0", 0), (1, 2, "1", 1),
    (0, 0, "1", 0), (1, 0, "1", 0), (0, -1, "1", 0), (1, -1, "0", 0), (0, -2, "0", 0),
])
def test_bit_loss_reads_floor_of_abs_f_times_two_to_the_shift(index, shift, y, lost):
    # |f| = 13/4: shift 2 -> 13 = 0b1101, shift 0 -> 3 = 0b11, shift -1 -> 1, shift -2 -> 0.
    spec = {"kind": "bit", "index": index, "shift": shift}
    assert loss_value(spec, Q(-13, 4), y) == lost
    assert loss_derivative(spec, Q(-13, 4), y) == 0


def test_bit_loss_shift_defaults_to_zero():
    assert loss_value({"kind": "bit", "index": 1}, Q(5, 2), "1") == 0  # floor(5/2) = 0b10


# ---------------------------------------------------------------------------------------------
# Whole networks by hand


def relu_net():
    """x -> h (relu, w = 2, b = -1) -> o (identity, w = 3)."""
    return net([("x",), ("h", "relu"), ("o", "identity")], [("x", "h", "2", "-1"), ("h", "o", "3")],
               ["x"], ["o"])


def test_relu_net_from_the_brief():
    network = relu_net()
    z, f = forward(network, ["3/2"])
    assert z == {"h": 2, "o": 6} and f == {"x": Q(3, 2), "h": 2, "o": 6}
    assert loss_and_grad(network, data([(["3/2"], ["1"])])) == (25, [45, 20], [30, 10])


def test_relu_kink_passes_no_gradient():
    network = relu_net()
    # x = 1/2: z_h = 0, f_h = 0, o = 0; dl/do = -2, adjoint of z_h = 3 * -2 * relu'(0) = 0.
    assert loss_and_grad(network, data([(["1/2"], ["1"])])) == (1, [0, 0], [0, -2])


def test_leaky_relu_at_zero_uses_the_slope():
    network = net([("x",), ("h", "leaky"), ("o", "identity")], [("x", "h", "1", "-1"), ("h", "o", "2")],
                  ["x"], ["o"], {"leaky": {"kind": "leaky_relu", "slope": "1/4"}})
    # z_h = 0, f_h = 0, o = 0, L = 1, dl/do = -2; adjoint z_h = 2 * -2 * 1/4 = -1.
    assert loss_and_grad(network, data([(["1"], ["1"])])) == (1, [-1, 0], [-1, -2])


def test_piecewise_linear_exactly_at_a_breakpoint():
    network = net([("x",), ("h", "pw"), ("o", "identity")],
                  [("x", "h", "1/2", "1/2"), ("h", "o", "-1", "1")], ["x"], ["o"], {"pw": PIECEWISE})
    # x = 1: z_h = 1 = b_2, piece 1: f_h = 2, slope 2; o = -1; L = (-1 - 0)^2 = 1, dl/do = -2.
    loss, grad_weight, grad_bias = loss_and_grad(network, data([(["1"], ["0"])]))
    assert (loss, grad_weight, grad_bias) == (1, [4, -4], [4, -2])


def test_rounded_tie_in_a_network():
    rounded = {"kind": "rounded", "inner": "identity", "bits": 2, "mode": "nearest", "backward": "ste"}
    network = net([("x",), ("r", "r2")], [("x", "r", "1")], ["x"], ["r"], {"r2": rounded})
    assert outputs(network, ["5/8"]) == [Q(1, 2)]
    assert outputs(network, ["7/8"]) == [1]
    # f = 1/2 for x = 5/8, L = (1/2)^2, dl/df = 1, ste derivative round(1) = 1.
    assert loss_and_grad(network, data([(["5/8"], ["0"])])) == (Q(1, 4), [Q(5, 8)], [1])


def test_hinge_kink_in_a_network():
    network = net([("x",), ("o", "identity")], [("x", "o", "2", "-1")], ["x"], ["o"])
    assert loss_and_grad(network, data([(["1"], ["1"])], loss="hinge")) == (0, [0], [0])  # 1 - yf = 0
    assert loss_and_grad(network, data([(["1/4"], ["1"])], loss="hinge")) == (Q(3, 2), [Q(-1, 4)], [-1])


def test_bit_loss_with_shift_in_a_network():
    network = net([("x",), ("o", "identity")], [("x", "o", "1")], ["x"], ["o"])
    dataset = data([(["-13/4"], ["1"]), (["-13/4"], ["0"])], loss="bit", index=2, shift=2)
    assert loss_and_grad(network, dataset) == (1, [0], [0])


def test_mean_reduction_with_sample_weights():
    network = net([("x",), ("o", "identity")], [("x", "o", "2")], ["x"], ["o"])
    dataset = data([(["1"], ["0"], "3"), (["2"], ["1"], "1")], reduction="mean")
    # L = (3 * 2^2 + 1 * 3^2) / 4; dL/dw = (3 * 4 * 1 + 1 * 6 * 2) / 4; dL/db = (3 * 4 + 6) / 4.
    assert loss_and_grad(network, dataset) == (Q(21, 4), [6], [Q(9, 2)])
    assert loss_and_grad(network, {**dataset, "reduction": "sum"}) == (21, [24], [18])
    assert total_loss(network, dataset) == Q(21, 4)


def test_zero_total_weight_cannot_be_averaged():
    network = net([("x",), ("o", "identity")], [("x", "o")], ["x"], ["o"])
    with pytest.raises(ValueError):
        loss_and_grad(network, data([(["1"], ["0"], "0")], reduction="mean"))


def test_parallel_edges_each_count():
    network = net([("x",), ("o", "identity")], [("x", "o", "2", "1"), ("x", "o", "-1", "1/2")],
                  ["x"], ["o"])
    # z_o = 2x + 1 - x + 1/2 = 5/2 at x = 1; dl/do = 5.
    assert loss_and_grad(network, data([(["1"], ["0"])])) == (Q(25, 4), [5, 5], [5, 5])


def test_input_injected_at_a_non_source():
    network = net([("x",), ("h", "square")], [("x", "h", "1")], ["h", "x"], ["h"])
    z, f = forward(network, ["2", "1"])  # x = 1, injected 2 at h: z_h = 1 + 2
    assert z == {"h": 3} and f["h"] == 9
    # L = (9 - 0)^2, dl/df = 18, adjoint z_h = 18 * 2 * 3 = 108.
    assert loss_and_grad(network, data([(["2", "1"], ["0"])])) == (81, [108], [108])


def test_repeated_output_and_source_output_contribute_per_appearance():
    network = net([("x",), ("o", "identity")], [("x", "o", "3")], ["x"], ["o", "x", "o"])
    assert outputs(network, ["1"]) == [3, 1, 3]
    # L = (3-1)^2 + (1-0)^2 + (3-2)^2; dL/dw = (4 + 2) * x, the source output passes no gradient.
    assert loss_and_grad(network, data([(["1"], ["1", "0", "2"])])) == (6, [6], [6])


def test_edge_defaults_and_trainable_flag():
    network = net([("x",), ("o", "cube")], [("x", "o")], ["x"], ["o"])
    frozen = {**network, "edges": [{"from": "x", "to": "o", "trainable": False}]}
    for n in (network, frozen):
        # o = x^3 = 8, L = 64, adjoint z = 16 * 3 * 4 = 192.
        assert loss_and_grad(n, data([(["2"], ["0"])])) == (64, [384], [192])


def test_files_need_not_be_topologically_sorted():
    network = net([("o", "identity"), ("h", "relu"), ("x",)], [("h", "o", "3"), ("x", "h", "2", "-1")],
                  ["x"], ["o"])
    assert topological_order(network) == ["x", "h", "o"]
    assert loss_and_grad(network, data([(["3/2"], ["1"])])) == (25, [20, 45], [10, 30])


@pytest.mark.parametrize("change", [
    lambda n: n["edges"].append({"from": "o", "to": "h"}),        # a cycle
    lambda n: n["edges"].append({"from": "x", "to": "nowhere"}),
    lambda n: n["vertices"][1].update(activation="sigmoid"),
    lambda n: n["vertices"][1].pop("activation"),
    lambda n: n["vertices"][0].update(activation="relu"),          # a source has no activation
    lambda n: n.update(inputs=[]),                                  # a source must be an input
    lambda n: n.update(inputs=["x", "x"]),
    lambda n: n["edges"][0].update(weight="1/0"),
])
def test_broken_networks_are_refused(change):
    network = net([("x",), ("h", "relu"), ("o", "identity")], [("x", "h"), ("h", "o")], ["x"], ["o"])
    change(network)
    with pytest.raises(ValueError):
        forward(network, ["1"] * len(network["inputs"]))


def test_cycle_error_names_a_vertex_on_it():
    network = net([("x",), ("a", "relu"), ("b", "relu")], [("x", "a"), ("a", "b"), ("b", "a")],
                  ["x"], ["b"])
    with pytest.raises(ValueError, match="'(a|b)'"):
        topological_order(network)


def test_deep_chain_has_no_recursion_limit():
    depth = 3000
    names = [f"v{i}" for i in range(depth + 1)]
    vertices = [(names[0],)] + [(name, "identity") for name in names[1:]]
    edges = [(names[i], names[i + 1], "1", "1/2") for i in range(depth)]
    network = net(list(reversed(vertices)), list(reversed(edges)), [names[0]], [names[-1]])
    loss, grad_weight, grad_bias = loss_and_grad(network, data([(["0"], ["0"])]))
    assert loss == Q(depth, 2) ** 2
    assert grad_bias == [depth] * depth  # dl/df = 2 * depth/2 flows back unchanged
    assert grad_weight == [depth * Q(i, 2) for i in reversed(range(depth))]  # f_u = i/2, edges reversed


# ---------------------------------------------------------------------------------------------
# The gradient by a second method: sympy on a symbolic network


def test_gradient_matches_sympy_on_a_symbolic_network():
    """x -> h (z^2/2 - z) -> o (cube), a parallel edge x -> o and an input injected at o."""
    w1, b1, w2, b2, w3, b3 = params = sympy.symbols("w1 b1 w2 b2 w3 b3")
    values = dict(zip(params, [Q(3, 2), Q(-1, 3), Q(-2), Q(1, 2), Q(1, 5), Q(0)]))
    network = net([("o", "cube"), ("x",), ("h", "p")],
                  [("x", "h", *_texts(values, w1, b1)), ("h", "o", *_texts(values, w2, b2)),
                   ("x", "o", *_texts(values, w3, b3))],
                  ["x", "o"], ["o", "h"],
                  {"p": {"kind": "polynomial", "coefficients": ["0", "-1", "1/2"]}})
    samples = [(["2", "-1"], ["1", "0"], "2"), (["-1/2", "1/3"], ["-1", "1/4"], None)]

    def symbolic_loss(x, injected, y, weight):
        h = w1 * x + b1
        f_h = h**2 / 2 - h
        f_o = (w2 * f_h + b2 + w3 * x + b3 + injected) ** 3
        return weight * ((f_o - y[0]) ** 2 + (f_h - y[1]) ** 2)

    symbolic = sum(symbolic_loss(sympy.Rational(x[0]), sympy.Rational(x[1]),
                                 [sympy.Rational(t) for t in y], sympy.Rational(w or 1))
                   for x, y, w in samples)
    at = {p: sympy.Rational(v.numerator, v.denominator) for p, v in values.items()}
    expected = [_fraction(sympy.diff(symbolic, p).subs(at)) for p in params]
    loss, grad_weight, grad_bias = loss_and_grad(network, data(samples))
    assert loss == _fraction(symbolic.subs(at))
    assert [g for pair in zip(grad_weight, grad_bias) for g in pair] == expected


def _texts(values, *symbols):
    return [f"{values[s].numerator}/{values[s].denominator}" for s in symbols]


def _fraction(value) -> Q:
    value = sympy.Rational(value)
    return Q(int(value.p), int(value.q))


# ---------------------------------------------------------------------------------------------
# The gradient by a second method: exact interpolation of L along a direction (smooth networks)


def _sigma_degree(spec) -> int:
    """Degree of a smooth activation as a polynomial (identity 1, polynomial len - 1)."""
    spec = resolve_activation(spec) if isinstance(spec, str) else spec
    return 1 if spec["kind"] == "identity" else max(len(spec["coefficients"]) - 1, 0)


def _loss_degree(network, direction) -> int:
    """An upper bound on deg L(theta + t d) in t for a smooth network and square loss."""
    table = network.get("activations", {})
    activation = {v["name"]: resolve_activation(v["activation"], table) for v in network["vertices"]
                  if "activation" in v}
    incoming = {}
    for edge, (dw, db) in zip(network["edges"], direction):
        incoming.setdefault(edge["to"], []).append((edge["from"], int(dw != 0), int(db != 0)))
    degree = {}
    for v in topological_order(network):
        terms = [max(degree[u] + moves_w, moves_b) for u, moves_w, moves_b in incoming.get(v, [])]
        degree[v] = _sigma_degree(activation[v]) * max(terms) if v in activation else 0
    return 2 * max(degree[o] for o in network["outputs"])


def _moved(network, direction, t):
    """The network at theta + t * direction (Fractions in place of number strings)."""
    edges = [{**edge, "weight": parse_rational(edge.get("weight", 1)) + t * dw,
              "bias": parse_rational(edge.get("bias", 0)) + t * db}
             for edge, (dw, db) in zip(network["edges"], direction)]
    return {**network, "edges": edges}


def _derivative_at_zero(nodes, values) -> Q:
    """p'(0) of the polynomial through (nodes[i], values[i]), where 0 is one of the nodes.

    Lagrange: p'(0) = sum_j values[j] * l_j'(0); for x_j != 0 only the factor (t - 0) of l_j
    is differentiated, and l_0'(0) = sum over the other nodes m of 1/(0 - x_m).
    """
    total = Q(0)
    for j, x_j in enumerate(nodes):
        others = [x_m for m, x_m in enumerate(nodes) if m != j]
        if x_j == 0:
            total += values[j] * sum(Q(1) / (0 - x_m) for x_m in others)
        else:
            numerator = math.prod((0 - x_m) for x_m in others if x_m != 0)
            total += values[j] * Q(numerator) / math.prod((x_j - x_m) for x_m in others)
    return total


def _interpolated_directional_derivative(network, dataset, direction) -> Q:
    """d/dt L(theta + t d) at t = 0 from L alone, at deg + 1 integer points around 0."""
    degree = _loss_degree(network, direction)
    nodes = [Q(t) for t in range(-(degree // 2), degree - degree // 2 + 1)]
    losses = [total_loss(_moved(network, direction, t), dataset) for t in nodes]
    return _derivative_at_zero(nodes, losses)


def _directions(edge_count):
    """A random integer direction, or a single coordinate (weight or bias of one edge)."""
    pair = st.tuples(st.integers(-2, 2), st.integers(-2, 2))
    random = st.lists(pair, min_size=edge_count, max_size=edge_count)
    unit = st.tuples(st.integers(0, edge_count - 1), st.booleans()).map(
        lambda chosen: [(int(i == chosen[0] and not chosen[1]), int(i == chosen[0] and chosen[1]))
                        for i in range(edge_count)])
    return st.one_of(random, unit) if edge_count else st.just([])


@st.composite
def smooth_case(draw):
    """(network, dataset, direction) with polynomial activations only, so L is a polynomial in t."""
    network, dataset = draw(network_and_dataset(loss_kinds=("square",), kinds=SMOOTH_KINDS, max_depth=3,
                                                min_vertices=3, max_vertices=6, varied_numbers=True))
    return network, dataset, draw(_directions(len(network["edges"])))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(smooth_case())
def test_gradient_matches_interpolation_on_smooth_networks(case):
    network, dataset, direction = case
    _, grad_weight, grad_bias = loss_and_grad(network, dataset)
    # the reverse-mode gradient dotted with the direction
    reverse_mode = sum((dw * gw + db * gb
                        for (dw, db), gw, gb in zip(direction, grad_weight, grad_bias)), start=Q(0))
    assert reverse_mode == _interpolated_directional_derivative(network, dataset, direction)


def test_interpolation_helper_on_a_known_polynomial():
    nodes = [Q(t) for t in range(-2, 3)]
    assert _derivative_at_zero(nodes, [3 * t**4 - t**3 + 5 * t - 7 for t in nodes]) == 5


# ---------------------------------------------------------------------------------------------
# The gradient by a second method: forward-mode tangents (every network, kinks included)


def _tangent(order, activation, incoming, z, f, parameter) -> dict:
    """df_v/d parameter for every v by forward mode; parameter = (edge index, 0 weight / 1 bias)."""
    tangent = {}
    for v in order:
        dz = Q(0)
        for e, u, w in incoming.get(v, []):
            dz += w * tangent[u]
            if parameter == (e, 0):
                dz += f[u]  # d(w f_u + b)/dw
            if parameter == (e, 1):
                dz += 1  # d(w f_u + b)/db
        tangent[v] = activation_derivative(activation[v], z[v]) * dz if v in activation else Q(0)
    return tangent


def _forward_mode_gradient(network, dataset) -> tuple[list, list]:
    """(dL/dweight, dL/dbias) by one forward-mode tangent pass per parameter and sample.

    Uses the same local conventions (sigma' at kinks, STE, dl/df) as reverse mode, so it checks
    the adjoint bookkeeping (transposition, parallel edges, repeats, weights) on every kind.
    """
    table = network.get("activations", {})
    activation = {v["name"]: resolve_activation(v["activation"], table) for v in network["vertices"]
                  if "activation" in v}
    incoming = {}
    for e, edge in enumerate(network["edges"]):
        weight = parse_rational(edge.get("weight", 1))
        incoming.setdefault(edge["to"], []).append((e, edge["from"], weight))
    order, count = topological_order(network), len(network["edges"])
    grad = {(e, c): Q(0) for e in range(count) for c in (0, 1)}
    total_weight = Q(0)
    for sample in dataset["samples"]:
        z, f = forward(network, sample["x"])
        weight = parse_rational(sample.get("weight", 1))
        total_weight += weight
        for parameter in grad:
            tangent = _tangent(order, activation, incoming, z, f, parameter)
            grad[parameter] += weight * sum(loss_derivative(dataset["loss"], f[o], y) * tangent[o]
                                            for o, y in zip(network["outputs"], sample["y"]))
    scale = 1 / total_weight if dataset.get("reduction") == "mean" else 1
    return [grad[e, 0] * scale for e in range(count)], [grad[e, 1] * scale for e in range(count)]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(network_and_dataset(loss_kinds=("square", "hinge"), kinds=ALL_KINDS, varied_numbers=True))
def test_reverse_mode_matches_forward_mode_on_every_kind(case):
    network, dataset = case
    loss, grad_weight, grad_bias = loss_and_grad(network, dataset)
    assert loss == total_loss(network, dataset)
    assert (grad_weight, grad_bias) == _forward_mode_gradient(network, dataset)


@settings(max_examples=30, deadline=None)
@given(network_and_dataset(loss_kinds=("zero_one", "bit")))
def test_zero_one_and_bit_losses_have_zero_gradient(case):
    network, dataset = case
    loss, grad_weight, grad_bias = loss_and_grad(network, dataset)
    assert loss == total_loss(network, dataset)
    assert not any(grad_weight) and not any(grad_bias)


# ---------------------------------------------------------------------------------------------
# The strategies generate what they promise


def _sources(network):
    return {v["name"] for v in network["vertices"]} - {e["to"] for e in network["edges"]}


@settings(max_examples=100, deadline=None)
@given(network_and_dataset(max_depth=4))
def test_strategies_make_valid_networks_and_datasets(case):
    network, dataset = case
    names = [v["name"] for v in network["vertices"]]
    assert len(set(names)) == len(names)
    assert _sources(network) <= set(network["inputs"])
    assert len(set(network["inputs"])) == len(network["inputs"])
    assert all(("activation" in v) == (v["name"] not in _sources(network)) for v in network["vertices"])
    assert 1 <= len(network["outputs"]) <= 3 and dag_depth(network) <= 4
    assert 1 <= len(dataset["samples"]) <= 4
    for sample in dataset["samples"]:
        assert len(sample["x"]) == len(network["inputs"]) and len(sample["y"]) == len(network["outputs"])
    if dataset.get("reduction") == "mean":
        assert sum(parse_rational(s.get("weight", 1)) for s in dataset["samples"]) != 0
    loss_and_grad(network, dataset)  # evaluates without error


@settings(max_examples=50, deadline=None)
@given(networks(kinds=("rounded",)))
def test_rounded_networks_never_nest_rounding(network):
    for spec in network.get("activations", {}).values():
        if spec["kind"] == "rounded":
            inner = resolve_activation(spec["inner"], network["activations"])
            assert inner["kind"] != "rounded"


def _first_sample_hits(case, hit) -> bool:
    """Some vertex's (spec, z) at the first sample's input satisfies hit(spec, z)."""
    network, dataset = case
    table = network.get("activations", {})
    z, _ = forward(network, dataset["samples"][0]["x"])
    specs = {v["name"]: resolve_activation(v["activation"], table) for v in network["vertices"]
             if "activation" in v}
    return any(hit(specs[v], z_v) for v, z_v in z.items())


def _is_nearest_tie(spec, z) -> bool:
    if spec["kind"] != "rounded" or spec.get("mode") != "nearest":
        return False
    scaled = activation_value(spec["inner"], z) * 2 ** spec["bits"]
    return (scaled - Q(1, 2)).denominator == 1


@pytest.mark.parametrize("kinds, hit", [
    (("relu",), lambda spec, z: z == 0),
    (("leaky_relu",), lambda spec, z: z == 0),
    (("piecewise_linear",), lambda spec, z: z in [parse_rational(b) for b in spec["breakpoints"]]),
    (("rounded",), _is_nearest_tie),
])
def test_strategies_aim_at_kinks_breakpoints_and_ties(kinds, hit):
    quick = settings(max_examples=200, phases=[Phase.generate], database=None)
    find(network_and_dataset(kinds=kinds), lambda case: _first_sample_hits(case, hit), settings=quick)
