"""Reference evaluator: the paper's forward pass and reverse-mode gradient on Fractions.

Everything bitprop computes is checked against this module, so it is written for
obviousness, not speed: stdlib only (never bitprop), exact `fractions.Fraction` arithmetic,
reading the `bitprop.network/1` and `bitprop.dataset/1` dicts of docs/formats.md as `json.load`
gives them. Graph walks are iterative (Kahn's algorithm) so depth is not limited by Python's
recursion limit. Bad data raises ValueError (KeyError for a missing required key); full
validation is bitprop's job, not this one's.
"""

from __future__ import annotations

import math
import re
from collections import deque
from dataclasses import dataclass
from fractions import Fraction

__all__ = [
    "BUILTIN_ACTIVATIONS",
    "parse_rational",
    "resolve_activation",
    "activation_value",
    "activation_derivative",
    "round_to_bits",
    "loss_value",
    "loss_derivative",
    "topological_order",
    "forward",
    "outputs",
    "total_loss",
    "loss_and_grad",
    "parameter_gradients",
]

# ---------------------------------------------------------------------------------------------
# Numbers

_RATIO = re.compile(r"([+-]?)(\d+)/(\d+)")
_DECIMAL = re.compile(r"([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?")


def parse_rational(value) -> Fraction:
    """The exact rational of a docs/formats.md number: a JSON int, "p/q", "-0.125" or "1e-3".

    Fractions pass through; floats and bools are refused because they are not exact numbers
    of the format (bitprop only takes floats under `allow_float`, which this reference lacks).
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is a boolean, not a rational")
    if isinstance(value, (int, Fraction)):
        return Fraction(value)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a rational (need an int or a string)")
    ratio = _RATIO.fullmatch(value)
    if ratio:
        return _parse_ratio(value, *ratio.groups())
    decimal = _DECIMAL.fullmatch(value)
    if decimal and (decimal[2] or decimal[3]):
        return _parse_decimal(*decimal.groups())
    raise ValueError(f"{value!r} is not a rational")


def _parse_ratio(text: str, sign: str, numerator: str, denominator: str) -> Fraction:
    """"p/q" with q > 0; Fraction reduces it ("4/6" is 2/3)."""
    if int(denominator) == 0:
        raise ValueError(f"{text!r} has a zero denominator")
    value = Fraction(int(numerator), int(denominator))
    return -value if sign == "-" else value


def _parse_decimal(sign: str, whole: str, fraction: str | None, exponent: str | None) -> Fraction:
    """An exact decimal: digits * 10^(exponent - number of fraction digits)."""
    fraction = fraction or ""
    digits = int((whole or "") + fraction or "0")
    power = int(exponent or 0) - len(fraction)
    value = Fraction(digits) * Fraction(10) ** power
    return -value if sign == "-" else value


def _parse_integer(value, what: str) -> int:
    """A JSON int (not a bool, not a string) for `bits`, `index`, `shift`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what}: {value!r} is not an integer")
    return value


# ---------------------------------------------------------------------------------------------
# Activations

BUILTIN_ACTIVATIONS = {
    "identity": {"kind": "identity"},
    "relu": {"kind": "relu"},
    "square": {"kind": "polynomial", "coefficients": [0, 0, 1]},
    "cube": {"kind": "polynomial", "coefficients": [0, 0, 0, 1]},
}


def resolve_activation(ref, table: dict | None = None) -> dict:
    """The activation `ref` (a name or a spec dict) with every name, also `inner`, resolved.

    A name is looked up among the built-ins and in `table` (a network's `activations`); a
    name found in both is refused as ambiguous, and so is a table entry that refers to itself.
    """
    return _resolve(ref, table or {}, frozenset())


def _resolve(ref, table: dict, seen: frozenset) -> dict:
    """One step of resolve_activation; `seen` holds the table names being resolved."""
    if isinstance(ref, str):
        return _resolve_name(ref, table, seen)
    if not isinstance(ref, dict) or "kind" not in ref:
        raise ValueError(f"activation {ref!r} is neither a name nor a spec with a 'kind'")
    spec = dict(ref)
    if spec["kind"] == "rounded":
        spec["inner"] = _resolve(spec["inner"], table, seen)
    return spec


def _resolve_name(name: str, table: dict, seen: frozenset) -> dict:
    """The spec a name stands for."""
    if name in table and name in BUILTIN_ACTIVATIONS:
        raise ValueError(f"activation name {name!r} is both a built-in and a table entry")
    if name in seen:
        raise ValueError(f"activation {name!r} refers to itself")
    if name in BUILTIN_ACTIVATIONS:
        return dict(BUILTIN_ACTIVATIONS[name])
    if name in table:
        return _resolve(table[name], table, seen | {name})
    raise ValueError(f"unknown activation {name!r}")


def activation_value(spec, z) -> Fraction:
    """sigma(z) for a resolved activation spec (or a built-in name)."""
    spec = _spec(spec)
    return _ACTIVATIONS[_kind(spec)][0](spec, parse_rational(z))


def activation_derivative(spec, z) -> Fraction:
    """The sigma'(z) backprop uses, with the table's conventions at kinks and for `rounded`."""
    spec = _spec(spec)
    return _ACTIVATIONS[_kind(spec)][1](spec, parse_rational(z))


def _spec(spec) -> dict:
    """A spec dict; a bare name may only be a built-in here (no table is at hand)."""
    return resolve_activation(spec) if isinstance(spec, str) else spec


def _kind(spec: dict) -> str:
    kind = spec.get("kind")
    if kind not in _ACTIVATIONS:
        raise ValueError(f"unknown activation kind {kind!r}")
    return kind


def _identity(spec, z):
    return z


def _identity_derivative(spec, z):
    return Fraction(1)


def _relu(spec, z):
    return z if z > 0 else Fraction(0)


def _relu_derivative(spec, z):
    return Fraction(1) if z > 0 else Fraction(0)


def _leaky_relu(spec, z):
    return z if z > 0 else parse_rational(spec["slope"]) * z


def _leaky_relu_derivative(spec, z):
    return Fraction(1) if z > 0 else parse_rational(spec["slope"])


def _coefficients(spec) -> list[Fraction]:
    return [parse_rational(c) for c in spec["coefficients"]]


def _polynomial(spec, z):
    return sum((c * z**i for i, c in enumerate(_coefficients(spec))), Fraction(0))


def _polynomial_derivative(spec, z):
    terms = (i * c * z ** (i - 1) for i, c in enumerate(_coefficients(spec)) if i > 0)
    return sum(terms, Fraction(0))


def _piece(spec, z) -> tuple[Fraction, Fraction]:
    """(s_i, t_i) of the piece holding z: i = number of breakpoints strictly below z."""
    breakpoints = [parse_rational(b) for b in spec["breakpoints"]]
    slopes = [parse_rational(s) for s in spec["slopes"]]
    intercepts = [parse_rational(t) for t in spec["intercepts"]]
    if any(a >= b for a, b in zip(breakpoints, breakpoints[1:])):
        raise ValueError(f"breakpoints {spec['breakpoints']!r} are not strictly increasing")
    if not len(slopes) == len(intercepts) == len(breakpoints) + 1:
        raise ValueError("piecewise_linear needs one slope and one intercept per piece")
    i = sum(1 for b in breakpoints if b < z)
    return slopes[i], intercepts[i]


def _piecewise_linear(spec, z):
    slope, intercept = _piece(spec, z)
    return slope * z + intercept


def _piecewise_linear_derivative(spec, z):
    return _piece(spec, z)[0]


def round_to_bits(v, bits: int, mode: str = "floor") -> Fraction:
    """v rounded to a multiple of 2^-bits: `floor`, or `nearest` with ties to even."""
    scale = Fraction(2) ** _parse_integer(bits, "bits")
    scaled = parse_rational(v) * scale
    if mode == "floor":
        return math.floor(scaled) / scale
    if mode == "nearest":
        return _round_half_even(scaled) / scale
    raise ValueError(f"unknown rounding mode {mode!r}")


def _round_half_even(q: Fraction) -> int:
    """The integer nearest q; at exactly half-way, the even one of the two neighbours."""
    below = math.floor(q)
    rest = q - below
    if rest != Fraction(1, 2):
        return below + 1 if rest > Fraction(1, 2) else below
    return below + below % 2


def _rounded(spec, z):
    inner_value = activation_value(spec["inner"], z)
    value = round_to_bits(inner_value, spec["bits"], spec.get("mode", "floor"))
    if "clip" not in spec:
        return value
    low, high = (parse_rational(c) for c in spec["clip"])
    if low > high:
        raise ValueError(f"clip {spec['clip']!r} has lo > hi")
    return min(max(value, low), high)


def _rounded_derivative(spec, z):
    """`ste`: inner'(z) rounded like the value (clip ignored); `zero`: 0."""
    backward = spec.get("backward", "ste")
    if backward == "zero":
        return Fraction(0)
    if backward != "ste":
        raise ValueError(f"unknown backward rule {backward!r}")
    inner_derivative = activation_derivative(spec["inner"], z)
    return round_to_bits(inner_derivative, spec["bits"], spec.get("mode", "floor"))


_ACTIVATIONS = {
    "identity": (_identity, _identity_derivative),
    "relu": (_relu, _relu_derivative),
    "leaky_relu": (_leaky_relu, _leaky_relu_derivative),
    "polynomial": (_polynomial, _polynomial_derivative),
    "piecewise_linear": (_piecewise_linear, _piecewise_linear_derivative),
    "rounded": (_rounded, _rounded_derivative),
}

# ---------------------------------------------------------------------------------------------
# Losses (per output coordinate)


def loss_value(spec: dict, f, y) -> Fraction:
    """l(f, y) for one output coordinate."""
    f, y = parse_rational(f), parse_rational(y)
    kind = spec.get("kind")
    if kind == "square":
        return (f - y) ** 2
    if kind == "hinge":
        return max(Fraction(0), 1 - y * f)
    if kind == "zero_one":
        return Fraction(int(f != y))
    if kind == "bit":
        return Fraction(int(_bit(spec, f) != y))
    raise ValueError(f"unknown loss kind {kind!r}")


def loss_derivative(spec: dict, f, y) -> Fraction:
    """dl/df, the seed of the adjoint at an output (0 at the hinge's kink, 0 for 0/1 losses)."""
    f, y = parse_rational(f), parse_rational(y)
    kind = spec.get("kind")
    if kind == "square":
        return 2 * (f - y)
    if kind == "hinge":
        return -y if 1 - y * f > 0 else Fraction(0)
    if kind in ("zero_one", "bit", "exact_fit"):
        return Fraction(0)
    raise ValueError(f"unknown loss kind {kind!r}")


def _bit(spec: dict, f: Fraction) -> int:
    """Bit `index` of floor(|f| * 2^shift) (Lemma 3.2's bit extractor)."""
    index = _parse_integer(spec["index"], "loss.index")
    shift = _parse_integer(spec.get("shift", 0), "loss.shift")
    if index < 0:
        raise ValueError(f"loss.index: {index} is negative")
    return (math.floor(abs(f) * Fraction(2) ** shift) >> index) & 1


# ---------------------------------------------------------------------------------------------
# The graph


@dataclass
class _Edge:
    source: str
    target: str
    weight: Fraction
    bias: Fraction


@dataclass
class _Graph:
    """A network read once: edges in file order, in-edges per vertex, a topological order."""

    edges: list[_Edge]
    in_edges: dict[str, list[int]]
    activation: dict[str, dict]  # non-sources only
    inputs: list[str]
    outputs: list[str]
    order: list[str]


def _read_graph(network: dict) -> _Graph:
    """The network dict as a _Graph, with the format's defaults filled in."""
    names = [vertex["name"] for vertex in network["vertices"]]
    if len(set(names)) != len(names):
        raise ValueError("vertex names are not unique")
    parameters = _read_parameters(network)
    edges = [_read_edge(edge, set(names), parameters) for edge in network["edges"]]
    in_edges = {name: [] for name in names}
    for i, edge in enumerate(edges):
        in_edges[edge.target].append(i)
    table = network.get("activations", {})
    activation = {
        vertex["name"]: _vertex_activation(vertex, table, bool(in_edges[vertex["name"]]))
        for vertex in network["vertices"]
    }
    inputs, outputs = list(network["inputs"]), list(network["outputs"])
    _check_inputs_outputs(names, in_edges, inputs, outputs)
    order = _kahn(names, edges, in_edges)
    activation = {v: spec for v, spec in activation.items() if spec is not None}
    return _Graph(edges, in_edges, activation, inputs, outputs, order)


def _read_parameters(network: dict) -> dict:
    """Shared parameters: name -> value; a value is a rational or {"value": q, ...}."""
    parameters = {}
    for name, spec in network.get("parameters", {}).items():
        parameters[name] = parse_rational(spec["value"] if isinstance(spec, dict) else spec)
    return parameters


def _coordinate(value, parameters: dict) -> Fraction:
    """An edge's weight or bias: a rational, or {"param": name} standing for that value."""
    if isinstance(value, dict):
        return parameters[value["param"]]
    return parse_rational(value)


def _read_edge(edge: dict, names: set, parameters: dict) -> _Edge:
    """One edge with weight 1 and bias 0 by default (`trainable` does not matter here)."""
    for end in ("from", "to"):
        if edge[end] not in names:
            raise ValueError(f"edge {end} unknown vertex {edge[end]!r}")
    weight = _coordinate(edge.get("weight", 1), parameters)
    bias = _coordinate(edge.get("bias", 0), parameters)
    return _Edge(edge["from"], edge["to"], weight, bias)


def _vertex_activation(vertex: dict, table: dict, has_in_edges: bool) -> dict | None:
    """The resolved activation of a non-source; None for a source, which must not name one."""
    if not has_in_edges:
        if "activation" in vertex:
            raise ValueError(f"source {vertex['name']!r} has an activation")
        return None
    if "activation" not in vertex:
        raise ValueError(f"vertex {vertex['name']!r} has in-edges but no activation")
    return resolve_activation(vertex["activation"], table)


def _check_inputs_outputs(names, in_edges, inputs, outputs) -> None:
    """Every source is an input, no input twice, and every listed vertex exists."""
    for name in inputs + outputs:
        if name not in in_edges:
            raise ValueError(f"unknown vertex {name!r} in inputs/outputs")
    if len(set(inputs)) != len(inputs):
        raise ValueError("a vertex is listed twice in inputs")
    missing = [name for name in names if not in_edges[name] and name not in inputs]
    if missing:
        raise ValueError(f"source {missing[0]!r} is not in inputs")


def _kahn(names: list[str], edges: list[_Edge], in_edges: dict) -> list[str]:
    """A topological order by Kahn's algorithm; a cycle is an error naming a vertex on it."""
    waiting = {name: len(in_edges[name]) for name in names}  # parallel edges each count
    out_edges = {name: [] for name in names}
    for edge in edges:
        out_edges[edge.source].append(edge.target)
    ready = deque(name for name in names if waiting[name] == 0)
    order = []
    while ready:
        u = ready.popleft()
        order.append(u)
        for v in out_edges[u]:
            waiting[v] -= 1
            if waiting[v] == 0:
                ready.append(v)
    if len(order) != len(names):
        stuck = next(name for name in names if waiting[name] > 0)
        raise ValueError(f"the graph has a cycle through {stuck!r}")
    return order


def topological_order(network: dict) -> list[str]:
    """The vertex names in an order where every edge goes forward."""
    return _read_graph(network).order


# ---------------------------------------------------------------------------------------------
# Forward and backward


def _forward(graph: _Graph, x) -> tuple[dict, dict]:
    """(z, f): pre-activations of non-sources and values of all vertices for one input x."""
    if len(x) != len(graph.inputs):
        raise ValueError(f"input has {len(x)} coordinates, the network {len(graph.inputs)}")
    injected = {name: parse_rational(value) for name, value in zip(graph.inputs, x)}
    z, f = {}, {}
    for v in graph.order:
        if v not in graph.activation:
            f[v] = injected[v]
            continue
        z[v] = _preactivation(graph, v, f, injected.get(v, Fraction(0)))
        f[v] = activation_value(graph.activation[v], z[v])
    return z, f


def _preactivation(graph: _Graph, v: str, f: dict, injected: Fraction) -> Fraction:
    """z_v = sum over in-edges (u, v) of (w_uv * f_u + b_uv), plus the input injected at v."""
    z = injected
    for e in graph.in_edges[v]:
        edge = graph.edges[e]
        z += edge.weight * f[edge.source] + edge.bias
    return z


def forward(network: dict, x: list) -> tuple[dict, dict]:
    """(z, f) for one input vector x in `inputs` order; z only for non-source vertices."""
    return _forward(_read_graph(network), x)


def outputs(network: dict, x: list) -> list[Fraction]:
    """The network's outputs for input x, in `outputs` order (repeats included)."""
    graph = _read_graph(network)
    _, f = _forward(graph, x)
    return [f[o] for o in graph.outputs]


def _samples(graph: _Graph, dataset: dict):
    """(x, y, weight) per sample, weight 1 by default, y checked against the outputs."""
    for sample in dataset["samples"]:
        if len(sample["y"]) != len(graph.outputs):
            raise ValueError(f"target has {len(sample['y'])} coordinates, "
                             f"the network {len(graph.outputs)} outputs")
        yield sample["x"], sample["y"], parse_rational(sample.get("weight", 1))


def _normalizer(dataset: dict, weights: list[Fraction]) -> Fraction:
    """1 for `sum`, 1/total weight for `mean`."""
    reduction = dataset.get("reduction", "sum")
    if reduction == "sum":
        return Fraction(1)
    if reduction != "mean":
        raise ValueError(f"unknown reduction {reduction!r}")
    if sum(weights) == 0:
        raise ValueError("mean reduction with total sample weight 0")
    return 1 / sum(weights)


def _sample_loss(graph: _Graph, spec: dict, f: dict, y: list) -> Fraction:
    """sum over output coordinates of l(f_o, y_o); exact_fit: 1 when any coordinate differs."""
    if spec.get("kind") == "exact_fit":
        return Fraction(int(any(f[o] != parse_rational(t) for o, t in zip(graph.outputs, y))))
    return sum((loss_value(spec, f[o], t) for o, t in zip(graph.outputs, y)), Fraction(0))


def total_loss(network: dict, dataset: dict) -> Fraction:
    """L(theta) by forward passes only (no adjoints), for checking gradients independently."""
    graph = _read_graph(network)
    total, weights = Fraction(0), []
    for x, y, weight in _samples(graph, dataset):
        _, f = _forward(graph, x)
        total += weight * _sample_loss(graph, dataset["loss"], f, y)
        weights.append(weight)
    return total * _normalizer(dataset, weights)


def _backward(graph: _Graph, z: dict, f: dict, seeds: dict) -> tuple[list, list]:
    """dL/dw and dL/db of one sample from the output adjoints `seeds`.

    Reverse topological order guarantees that when v is reached every consumer of f_v has
    already added its share to adjoint_f[v], so adjoint_z[v] is final.
    """
    adjoint_f = {v: seeds.get(v, Fraction(0)) for v in graph.order}
    grad_weight = [Fraction(0)] * len(graph.edges)
    grad_bias = [Fraction(0)] * len(graph.edges)
    for v in reversed(graph.order):
        if v not in graph.activation:
            continue
        adjoint_z = adjoint_f[v] * activation_derivative(graph.activation[v], z[v])
        for e in graph.in_edges[v]:
            edge = graph.edges[e]
            grad_weight[e] += adjoint_z * f[edge.source]
            grad_bias[e] += adjoint_z
            adjoint_f[edge.source] += edge.weight * adjoint_z
    return grad_weight, grad_bias


def _output_seeds(graph: _Graph, spec: dict, f: dict, y: list, weight: Fraction) -> dict:
    """weight * dl/df_o per output vertex, summed over repeated appearances."""
    seeds = {}
    for o, t in zip(graph.outputs, y):
        seeds[o] = seeds.get(o, Fraction(0)) + weight * loss_derivative(spec, f[o], t)
    return seeds


def loss_and_grad(network: dict, dataset: dict) -> tuple[Fraction, list[Fraction], list[Fraction]]:
    """(L, dL/dweight, dL/dbias) with one entry per edge in file order; reverse mode per sample."""
    graph = _read_graph(network)
    spec = dataset["loss"]
    total, weights = Fraction(0), []
    grad_weight = [Fraction(0)] * len(graph.edges)
    grad_bias = [Fraction(0)] * len(graph.edges)
    for x, y, weight in _samples(graph, dataset):
        z, f = _forward(graph, x)
        total += weight * _sample_loss(graph, spec, f, y)
        weights.append(weight)
        sample_weight, sample_bias = _backward(graph, z, f, _output_seeds(graph, spec, f, y, weight))
        grad_weight = [a + b for a, b in zip(grad_weight, sample_weight)]
        grad_bias = [a + b for a, b in zip(grad_bias, sample_bias)]
    scale = _normalizer(dataset, weights)
    return total * scale, [g * scale for g in grad_weight], [g * scale for g in grad_bias]


def parameter_gradients(network: dict, dataset: dict) -> dict[str, Fraction]:
    """dL/dp for every trainable shared parameter p: the sum over the edge coordinates that
    name p of their gradients (the chain rule, since each of them is p). A frozen parameter
    (``{"value": q, "trainable": false}``) is a constant of the model: not reported."""
    _, grad_weight, grad_bias = loss_and_grad(network, dataset)
    sums = {name: Fraction(0) for name, spec in network.get("parameters", {}).items()
            if not (isinstance(spec, dict) and spec.get("trainable", True) is False)}
    for e, edge in enumerate(network["edges"]):
        for key, grads in (("weight", grad_weight), ("bias", grad_bias)):
            value = edge.get(key)
            if isinstance(value, dict) and value["param"] in sums:
                sums[value["param"]] += grads[e]
    return sums
