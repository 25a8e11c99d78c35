"""Hypothesis strategies for random valid `bitprop.network/1` and `bitprop.dataset/1` dicts.

Library tests draw from these and compare bitprop with tests/reference. Numbers come mostly
from a small set of "special" values (kinks, breakpoints, rounding ties) so that exact edge
cases are hit often; files are shuffled so they are never topologically sorted by accident.
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from math import gcd

from hypothesis import strategies as st

from reference.evaluator import activation_value, parse_rational, resolve_activation, topological_order
from reference.evaluator import forward as reference_forward
from reference.evaluator import outputs as reference_outputs

ALL_KINDS = (
    "identity", "relu", "leaky_relu", "square", "cube", "polynomial", "piecewise_linear", "rounded",
)
_UNROUNDED_KINDS = tuple(k for k in ALL_KINDS if k != "rounded")
SMOOTH_KINDS = ("identity", "square", "cube", "polynomial")
LOSS_KINDS = ("square", "hinge", "zero_one", "bit", "exact_fit")

# Where relu/leaky kinks, breakpoints and rounding ties are: sums and products of these land
# exactly on 0, on each other and on odd multiples of 2^-(k+1) far more often than random values.
SPECIAL = tuple(Fraction(v) for v in ("-2", "-1", "-1/2", "0", "1/4", "1/2", "3/4", "1", "2"))
SAMPLE_WEIGHTS = tuple(Fraction(v) for v in ("0", "1/2", "1", "2", "3", "5/3"))
BUILTIN_NAMES = ("identity", "relu", "square", "cube")
_BOOLEANS = st.booleans()


def dag_depth(network: dict) -> int:
    """Edges on the longest path of the network's DAG (0 without edges)."""
    order = topological_order(network)
    depth = {name: 0 for name in order}
    targets = {}
    for edge in network["edges"]:
        targets.setdefault(edge["from"], []).append(edge["to"])
    for u in order:
        for v in targets.get(u, []):
            depth[v] = max(depth[v], depth[u] + 1)
    return max(depth.values(), default=0)


@lru_cache(maxsize=None)
def _integers(low: int, high: int):
    """st.integers, built once per range: strategy construction dominates drawing otherwise."""
    return st.integers(low, high)


@lru_cache(maxsize=None)
def _choice(options: tuple):
    """st.sampled_from over a fixed tuple, built once."""
    return st.sampled_from(options)


def _one_in(draw, n: int) -> bool:
    """True with probability about 1/n (shrinks to False)."""
    return draw(_integers(0, n - 1)) == n - 1


# ---------------------------------------------------------------------------------------------
# Numbers


@st.composite
def rationals(draw, max_size: int = 20) -> Fraction:
    """A small rational: usually one of SPECIAL, otherwise p/q with |p|, q <= max_size."""
    if not _one_in(draw, 4):
        return draw(_choice(SPECIAL))
    return Fraction(draw(_integers(-max_size, max_size)), draw(_integers(1, max_size)))


_RATIONALS = rationals()
_BREAKPOINTS = st.lists(_RATIONALS, min_size=1, max_size=3, unique=True)
_CLIP = st.lists(_RATIONALS, min_size=2, max_size=2, unique=True)


def canonical_text(q: Fraction) -> str:
    """The writer's form: reduced "p/q", or "p" for an integer."""
    return str(q.numerator) if q.denominator == 1 else f"{q.numerator}/{q.denominator}"


def _decimal_text(q: Fraction, exponent: bool) -> str | None:
    """q as an exact decimal ("-0.125" or "-125e-3"), or None if 10^n * q is never an integer."""
    rest = q.denominator
    for prime in (2, 5):
        while rest % prime == 0:
            rest //= prime
    if rest != 1:
        return None
    places = 0
    while (q * 10**places).denominator != 1:
        places += 1
    digits = q * 10**places
    if exponent:
        return f"{digits.numerator}e-{places}"
    sign, body = ("-" if q < 0 else ""), str(abs(digits.numerator)).rjust(places + 1, "0")
    if not places:
        return f"{sign}{body}"
    return f"{sign}{body[:-places]}.{body[-places:]}"


def number_text(draw, q: Fraction, varied: bool):
    """How a rational is written in a file: canonical, or (if varied) any accepted spelling."""
    if not varied:
        return canonical_text(q)
    style = draw(_choice(("canonical", "int", "unreduced", "decimal", "exponent")))
    if style == "int" and q.denominator == 1:
        return q.numerator
    if style == "unreduced":
        k = draw(_integers(2, 5))
        return f"{q.numerator * k}/{q.denominator * k}"
    if style in ("decimal", "exponent"):
        return _decimal_text(q, style == "exponent") or canonical_text(q)
    return canonical_text(q)


def _number(draw, varied: bool):
    return number_text(draw, draw(_RATIONALS), varied)


# ---------------------------------------------------------------------------------------------
# Activations


def _fresh_name(table: dict) -> str:
    return f"act{len(table)}"


def _spec(draw, kind: str, table: dict, kinds: tuple, varied: bool) -> dict:
    """A spec dict of one non-built-in kind (identity and relu may also be spelled as kinds)."""
    if kind in ("identity", "relu"):
        return {"kind": kind}
    if kind == "square":
        return {"kind": "polynomial", "coefficients": ["0", "0", "1"]}
    if kind == "cube":
        return {"kind": "polynomial", "coefficients": ["0", "0", "0", "1"]}
    if kind == "leaky_relu":
        return {"kind": "leaky_relu", "slope": _number(draw, varied)}
    if kind == "polynomial":
        degree = draw(_integers(0, 4))
        return {"kind": "polynomial", "coefficients": [_number(draw, varied) for _ in range(degree + 1)]}
    if kind == "piecewise_linear":
        return _piecewise_linear(draw, varied)
    return _rounded(draw, table, kinds, varied)


def _piecewise_linear(draw, varied: bool) -> dict:
    """1-3 breakpoints, mostly from SPECIAL, with a slope and an intercept per piece."""
    breakpoints = sorted(draw(_BREAKPOINTS))
    pieces = len(breakpoints) + 1
    return {
        "kind": "piecewise_linear",
        "breakpoints": [number_text(draw, b, varied) for b in breakpoints],
        "slopes": [_number(draw, varied) for _ in range(pieces)],
        "intercepts": [_number(draw, varied) for _ in range(pieces)],
    }


def _rounded(draw, table: dict, kinds: tuple, varied: bool) -> dict:
    """A rounded activation over any non-rounded inner, with every optional key sometimes."""
    inner_kinds = tuple(k for k in kinds if k != "rounded") or _UNROUNDED_KINDS
    inner = _inner(draw, table, inner_kinds, varied)
    spec = {"kind": "rounded", "inner": inner, "bits": draw(_integers(0, 6))}
    mode = draw(_choice((None, "floor", "nearest", "nearest")))
    if mode:
        spec["mode"] = mode
    if _one_in(draw, 3):
        low, high = sorted(draw(_CLIP))
        spec["clip"] = [number_text(draw, low, varied), number_text(draw, high, varied)]
    backward = draw(_choice((None, "ste", "zero")))
    if backward:
        spec["backward"] = backward
    return spec


def _inner(draw, table: dict, kinds: tuple, varied: bool):
    """`inner` of a rounded activation: an inline spec, a built-in name or a table name."""
    kind = draw(_choice(kinds))
    spelling = draw(_choice(("inline", "name", "table")))
    if spelling == "name" and kind in BUILTIN_NAMES:
        return kind
    spec = _spec(draw, kind, table, kinds, varied)
    if spelling == "inline":
        return spec
    name = _fresh_name(table)
    table[name] = spec
    return name


def _vertex_activation(draw, table: dict, kinds: tuple, varied: bool) -> str:
    """The activation name of a non-source: a built-in, a new table entry or a reused one."""
    if table and _one_in(draw, 5):
        return draw(st.sampled_from(sorted(table)))
    kind = draw(_choice(kinds))
    if kind in ("square", "cube") or (kind in BUILTIN_NAMES and draw(_BOOLEANS)):
        return kind
    spec = _spec(draw, kind, table, kinds, varied)
    name = _fresh_name(table)
    table[name] = spec
    return name


# ---------------------------------------------------------------------------------------------
# Networks


def _edge(draw, source: str, target: str, varied: bool) -> dict:
    """One edge; weight, bias and trainable each omitted sometimes to exercise the defaults."""
    edge = {"from": source, "to": target}
    if not _one_in(draw, 4):
        edge["weight"] = _number(draw, varied)
    if not _one_in(draw, 3):
        edge["bias"] = _number(draw, varied)
    trainable = draw(_choice((None, True, False)))
    if trainable is not None:
        edge["trainable"] = trainable
    return edge


def _hidden_dag(draw, n: int, max_depth: int, max_edges: int) -> list[tuple[int, int]]:
    """Edges (i, j) between vertices 0..n-1 with level[i] < level[j], so depth <= max_depth.

    Levels climb by 1 (two times in three) or 0 along the hidden order, and most vertices
    above level 0 get one in-edge first, often from the level just below, so that deep chains
    are common; then random extra edges, and sometimes a parallel edge.
    """
    levels = [0]
    for _ in range(n - 1):
        levels.append(min(levels[-1] + (not _one_in(draw, 3)), max_depth))
    edges = []
    for j in range(n):
        lower = [i for i in range(n) if levels[i] < levels[j]]
        if lower and len(edges) < max_edges and not _one_in(draw, 5):
            below = [i for i in lower if levels[i] == levels[lower[-1]]]
            edges.append((draw(st.sampled_from(below if draw(_BOOLEANS) else lower)), j))
    pairs = [(i, j) for i in range(n) for j in range(n) if levels[i] < levels[j]]
    if pairs and len(edges) < max_edges:
        edges += draw(st.lists(st.sampled_from(pairs), max_size=max_edges - len(edges)))
    if edges and len(edges) < max_edges and _one_in(draw, 3):
        edges.append(draw(st.sampled_from(edges)))  # a parallel edge
    return edges


@st.composite
def networks(
    draw,
    max_vertices: int = 8,
    min_vertices: int = 1,
    max_depth: int = 5,
    max_edges: int | None = None,
    kinds: tuple = ALL_KINDS,
    varied_numbers: bool = False,
) -> dict:
    """A random valid `bitprop.network/1` dict over activations of `kinds`, depth <= max_depth.

    Vertex, edge and input lists are shuffled; names do not reveal the hidden order; outputs
    (1-3, repeats allowed) may be any vertex; some non-sources also receive an input.
    """
    n = draw(_integers(min_vertices, max_vertices))
    pairs = _hidden_dag(draw, n, max_depth, 2 * n if max_edges is None else max_edges)
    names = [f"v{k}" for k in draw(st.permutations(range(n)))]
    has_in_edges = {j for _, j in pairs}
    table: dict = {}
    vertices = []
    for i, name in enumerate(names):
        vertex = {"name": name}
        if i in has_in_edges:
            vertex["activation"] = _vertex_activation(draw, table, kinds, varied_numbers)
        vertices.append(vertex)
    edges = [_edge(draw, names[i], names[j], varied_numbers) for i, j in pairs]
    inputs = [names[i] for i in range(n) if i not in has_in_edges or _one_in(draw, 4)]
    network = {"format": "bitprop.network/1"}
    if table or draw(_BOOLEANS):
        network["activations"] = table
    network["vertices"] = draw(st.permutations(vertices))
    network["edges"] = draw(st.permutations(edges))
    network["inputs"] = draw(st.permutations(inputs))
    # deepest first: sampled_from favours its first options, and the last vertex is rarely a source
    network["outputs"] = draw(st.lists(st.sampled_from(names[::-1]), min_size=1, max_size=3))
    return network


# ---------------------------------------------------------------------------------------------
# Datasets


def _loss(draw, kinds: tuple) -> dict:
    """A loss spec; `bit` gets an index 0-4 and sometimes a shift in -3..3."""
    loss = {"kind": draw(_choice(kinds))}
    if loss["kind"] == "bit":
        loss["index"] = draw(_integers(0, 4))
        if draw(_BOOLEANS):
            loss["shift"] = draw(_integers(-3, 3))
    return loss


def _targets(draw, network: dict, loss: dict, x: list, varied: bool) -> list:
    """y for one sample: bits for `bit`, sometimes the true outputs (or all but the first
    of them) for `zero_one` and `exact_fit`."""
    count = len(network["outputs"])
    if loss["kind"] == "bit":
        return [str(draw(_integers(0, 1))) for _ in range(count)]
    if loss["kind"] in ("zero_one", "exact_fit") and draw(_BOOLEANS):
        true = [number_text(draw, y, varied) for y in reference_outputs(network, x)]
        return ([_number(draw, varied)] + true[1:]) if draw(_BOOLEANS) else true
    return [_number(draw, varied) for _ in range(count)]


def _input(draw, network: dict, varied: bool) -> list:
    """An input vector in `inputs` order."""
    return [_number(draw, varied) for _ in network["inputs"]]


def _sample(draw, network: dict, loss: dict, varied: bool, x: list | None = None) -> dict:
    """One sample with x in `inputs` order (drawn unless given) and optional weight and kind."""
    x = _input(draw, network, varied) if x is None else x
    sample = {"x": x, "y": _targets(draw, network, loss, x, varied)}
    if _one_in(draw, 3):
        sample["weight"] = number_text(draw, draw(_choice(SAMPLE_WEIGHTS)), varied)
    kind = draw(_choice((None, "aux", "main")))
    if kind:
        sample["kind"] = kind
    return sample


def _total_weight(samples: list) -> Fraction:
    """sum of sample weights; Fraction reads every spelling number_text writes."""
    return sum((Fraction(s.get("weight", 1)) for s in samples), Fraction(0))


@st.composite
def datasets(draw, network: dict, loss_kinds: tuple = LOSS_KINDS, max_samples: int = 4,
             varied_numbers: bool = False, first_x: list | None = None) -> dict:
    """A `bitprop.dataset/1` dict for `network`: 1..max_samples samples, any of `loss_kinds`.

    `mean` reduction is only drawn when the total sample weight is non-zero; `first_x`, if
    given, is the first sample's input (the one network_and_dataset aimed the network at).
    """
    loss = _loss(draw, loss_kinds)
    count = draw(_integers(1, max_samples))
    xs = [first_x] + [None] * (count - 1)
    samples = [_sample(draw, network, loss, varied_numbers, x) for x in xs]
    dataset = {"format": "bitprop.dataset/1", "samples": samples, "loss": loss}
    reductions = (None, "sum", "mean") if _total_weight(samples) != 0 else (None, "sum")
    reduction = draw(_choice(reductions))
    if reduction:
        dataset["reduction"] = reduction
    return dataset


# ---------------------------------------------------------------------------------------------
# Aiming pre-activations at kinks, breakpoints and rounding ties


def _tie_points(spec: dict) -> list[Fraction]:
    """z where inner(z) * 2^bits is exactly half-way between integers, for inners easy to invert.

    Candidates come from inverting every linear piece of the inner activation; the reference
    then keeps only those that really are ties.
    """
    inner, scale = spec["inner"], Fraction(2) ** spec["bits"]
    ties = [(m + Fraction(1, 2)) / scale for m in (-2, -1, 0, 1)]
    pieces = [(Fraction(1), Fraction(0))]  # (slope, intercept) of identity, relu, leaky z > 0
    if inner["kind"] == "leaky_relu":
        pieces.append((parse_rational(inner["slope"]), Fraction(0)))
    if inner["kind"] == "polynomial" and len(inner["coefficients"]) == 2:
        c0, c1 = (parse_rational(c) for c in inner["coefficients"])
        pieces.append((c1, c0))
    if inner["kind"] == "piecewise_linear":
        pieces += [(parse_rational(a), parse_rational(b))
                   for a, b in zip(inner["slopes"], inner["intercepts"])]
    candidates = {(t - b) / a for t in ties for a, b in pieces if a != 0}
    return sorted(z for z in candidates if _is_tie(activation_value(inner, z) * scale))


def _is_tie(scaled: Fraction) -> bool:
    """scaled is exactly half-way between two integers."""
    return (scaled - Fraction(1, 2)).denominator == 1


def _kink_points(spec: dict) -> list[Fraction]:
    """Pre-activations where a resolved activation has a kink, a breakpoint or a rounding tie."""
    if spec["kind"] in ("relu", "leaky_relu"):
        return [Fraction(0)]
    if spec["kind"] == "piecewise_linear":
        return [parse_rational(b) for b in spec["breakpoints"]]
    if spec["kind"] == "rounded":
        return _tie_points(spec) + _kink_points(spec["inner"])
    return []


def _aim(draw, network: dict, x: list, varied: bool) -> None:
    """Move biases so that, at input x, some pre-activations sit exactly on a kink point.

    Vertices are visited in topological order: a bias into v changes only z_v and what lies
    downstream of v, so earlier aims stay exact.
    """
    table = network.get("activations", {})
    activation = {v["name"]: v["activation"] for v in network["vertices"] if "activation" in v}
    for v in topological_order(network):
        points = _kink_points(resolve_activation(activation[v], table)) if v in activation else []
        if not points or _one_in(draw, 3):
            continue
        target = draw(st.sampled_from(points))
        z, _ = reference_forward(network, x)
        edge = draw(st.sampled_from([e for e in network["edges"] if e["to"] == v]))
        edge["bias"] = number_text(draw, parse_rational(edge.get("bias", 0)) + target - z[v], varied)


@st.composite
def network_and_dataset(draw, loss_kinds: tuple = LOSS_KINDS, max_samples: int = 4, aim: bool = True,
                        **network_options) -> tuple[dict, dict]:
    """(network, dataset): a network from networks(**network_options) and data that fits it.

    With `aim`, biases are moved so that at the first sample's input many pre-activations
    land exactly on relu/leaky kinks, piecewise-linear breakpoints and rounding ties.
    """
    network = draw(networks(**network_options))
    varied = network_options.get("varied_numbers", False)
    first_x = _input(draw, network, varied)
    if aim:
        _aim(draw, network, first_x, varied)
    return network, draw(datasets(network, loss_kinds, max_samples, varied, first_x))


#: Integers around the word boundaries of FLINT's small fmpz (2^62) and of slong (2^63), and
#: of thousands of bits: where printing and parsing change method.
_WORD_EDGES = [0, 1, -1, 9, 10, -10, 2**62 - 1, 2**62, -(2**62), 2**63 - 1, -(2**63), 2**63,
               -(2**64) - 1, 10**40, -(10**200) - 7]
#: Coprime (numerator, denominator) pairs of word-size integers of 2^62 or more in absolute
#: value: each number takes the bytes' big form (17 bytes), not a varint, so that a list of
#: them leaves no slack to hide a buffer sized for varints.
BIG_FORM_PAIRS = [(n, d) for n in (2**62, -(2**62), 2**63 - 1, -(2**63) + 1, -(2**63))
                  for d in (2**63 - 1, 2**62 + 1, 2**62 + 3) if gcd(n, d) == 1]
big_integers = st.one_of(st.sampled_from(_WORD_EDGES), st.integers(),
                         st.integers(-(2**3000), 2**3000))
big_rationals = st.builds(lambda p, q: Fraction(p, q), big_integers,
                          st.one_of(st.sampled_from([1, 2, 3, 2**62, 2**63, 2**64 + 1]),
                                    st.integers(1, 2**400)))
