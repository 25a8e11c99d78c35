"""Problem instances (``bitprop.instance/1``): read, validate, write, and solve at theta*.

A document (docs/formats.md, "Problem instances")::

    {"format": "bitprop.instance/1", "problem": "erm" | "backprop-sign" | "backprop-bit",
     "network": {bitprop.network/1}, "dataset": {bitprop.dataset/1},
     "query": {"edge": e, "coordinate": "weight" | "bias", "bit": j | null},
     "threshold": "0", "gap": [a, b] | null,
     "source": {"slp": {bitprop.slp/1}, "question": "pos" | "bit", "bit": k | null,
                "relation": "..."}}

What ``solve`` answers, at the network's own parameters theta*:

- ``erm``: L(theta*) <= threshold (the promise: min L <= a, or min L >= b, gap [a, b]), with
  the main and forcing parts of L reported apart (``losses``);
- ``backprop-sign``: dL/dtheta_q > threshold at the query coordinate q (threshold 0);
- ``backprop-bit``: bit ``query.bit`` of |dL/dtheta_q| is 1. Bit j of a rational g is
  floor(|g| * 2^-j) mod 2, so j may be negative (a bit below the binary point).

That is the *restricted* problem at theta* (Theorem E.2's: theta given). ``verify`` asks the
same at any theta (``read_theta``): for erm, L(theta) <= threshold is the NP certificate check.

Extensions of the first version of the format (optional keys, in docs/formats.md):

- ``forcing`` (``erm`` only): ``{"outputs": [vertex names], "dataset": {bitprop.dataset/1}}``.
  A dataset has one loss (docs/formats.md), but Lemma 3.2 needs two: the bit extractor on the
  output for main samples, exact fit (exact_fit) on every vertex for the forcing samples. So
  ``dataset`` holds the main samples (loss ``bit``, the network's ``outputs``), and
  ``forcing.dataset`` the forcing samples, evaluated with ``forcing.outputs`` as the output
  coordinates (loss ``exact_fit``). L(theta) is the sum of the two; each part alone is a valid
  network + dataset pair for ``bitprop eval``/``grad`` (with the outputs replaced for forcing).
- ``regularizer`` (``erm`` only, Remark B.2): ``{"center": [2E rationals], "weight": lambda,
  "witness_bits": B}``; the objective adds lambda * sum_i (theta_i - center_i)^2 over theta's
  coordinates (edges[i].weight, edges[i].bias in edge order). ``witness_bits`` records the
  bit length of the witnesses lambda was chosen for (see ``slp/compile_scalar.py``).
- ``query.bit`` and ``source.e`` may be decimal strings (integers too long for JSON readers).
- ``source`` may carry ``sigma`` (the polynomial's coefficients c_0..c_d), ``e`` (the exponent
  of Lemma A.5 when compiled ``--bounded``: the network computes x_n * 2^-e) and ``forcing``
  (the forcing scheme of compile_erm: ``compact`` or ``paper``).
"""

import json
from dataclasses import dataclass, field
from fractions import Fraction

from .dataset import Dataset
from .documents import check_object
from .errors import BitpropInputError
from .files import write_atomically
from .network import Network
from .numbers import rational, rational_list, shown, to_str
from .powers import parse_power

FORMAT = "bitprop.instance/1"
PROBLEMS = ("erm", "backprop-sign", "backprop-bit")
COORDINATES = ("weight", "bias")
QUESTIONS = ("pos", "bit")
FORCING_SCHEMES = ("compact", "paper")
_TOP_KEYS = ("format", "problem", "network", "dataset", "query", "threshold", "gap", "source",
             "forcing", "regularizer")
_REGULARIZER_KEYS = ("center", "weight", "witness_bits")
_QUERY_KEYS = ("edge", "coordinate", "bit")
_SOURCE_KEYS = ("slp", "question", "bit", "relation", "sigma", "e", "forcing")
_FORCING_KEYS = ("outputs", "dataset")
#: Integers longer than this many decimal digits are written as strings.
_JSON_INT_DIGITS = 18


@dataclass(frozen=True)
class Query:
    """The gradient coordinate asked about: edge index, weight or bias, and a bit (or None)."""

    edge: int
    coordinate: str = "weight"
    bit: int = None

    def to_json(self):
        return {"edge": self.edge, "coordinate": self.coordinate, "bit": _int_out(self.bit)}


@dataclass(frozen=True)
class Source:
    """Where an instance came from and how its answer maps back (``relation``)."""

    slp: object = None            # a bitprop.slp.Program
    question: str = None          # "pos" or "bit"
    bit: int = None
    relation: str = None
    sigma: tuple = None
    e: int = None
    forcing: str = None

    def to_json(self):
        doc = {"slp": None if self.slp is None else self.slp.to_json(),
               "question": self.question, "bit": _int_out(self.bit), "relation": self.relation}
        if self.sigma is not None:
            doc["sigma"] = [to_str(c) for c in self.sigma]
        if self.e is not None:
            doc["e"] = _int_out(self.e)
        if self.forcing is not None:
            doc["forcing"] = self.forcing
        return doc


@dataclass(frozen=True)
class Forcing:
    """Lemma 3.2's forcing samples and the vertices they fit exactly (their outputs)."""

    outputs: tuple
    dataset: Dataset
    _views: dict = field(default_factory=dict, compare=False, repr=False)

    def network(self, network):
        """``network`` with ``outputs`` as its output coordinates (built once per network)."""
        cached = self._views.get(id(network))
        if cached is None or cached[0] is not network:
            view = Network.from_json({**network.to_json(), "outputs": list(self.outputs)})
            cached = self._views[id(network)] = (network, view)
        return cached[1]

    def to_json(self):
        return {"outputs": list(self.outputs), "dataset": self.dataset.to_json()}


@dataclass(frozen=True)
class Regularizer:
    """Remark B.2's centred quadratic regulariser: weight * ||theta - center||^2."""

    center: tuple                   # 2E rationals, theta's order
    weight: Fraction
    witness_bits: int = None

    def value(self, network):
        """weight * sum (theta_i - center_i)^2 at ``network``'s parameters."""
        theta = [q for pair in zip(network.weights, network.biases) for q in pair]
        return self.weight * sum(((t - c) ** 2 for t, c in zip(theta, self.center)),
                                 Fraction(0))

    def to_json(self):
        return {"center": [to_str(q) for q in self.center], "weight": to_str(self.weight),
                "witness_bits": self.witness_bits}


@dataclass
class Instance:
    """One problem instance; ``network``'s parameters are theta*."""

    problem: str
    network: Network
    dataset: Dataset
    query: Query = None
    threshold: Fraction = Fraction(0)
    gap: tuple = None
    source: Source = field(default_factory=Source)
    forcing: Forcing = None
    regularizer: Regularizer = None

    # --- reading -----------------------------------------------------------------------
    @classmethod
    def from_json(cls, document, *, file=None, allow_float=False):
        """An Instance from a parsed ``bitprop.instance/1`` document; errors name ``file``.
        ``allow_float``: JSON floats are read as the exact binary value of the double."""
        try:
            return _read(document, allow_float)
        except BitpropInputError as err:
            raise err.at(file=file) from None

    @classmethod
    def load(cls, path, *, allow_float=False):
        from .jsonfiles import read_json
        document, name = read_json(path)
        return cls.from_json(document, file=name, allow_float=allow_float)

    # --- writing -----------------------------------------------------------------------
    def to_json(self):
        doc = {"format": FORMAT, "problem": self.problem, "network": self.network.to_json(),
               "dataset": self.dataset.to_json(),
               "query": None if self.query is None else self.query.to_json(),
               "threshold": to_str(self.threshold),
               "gap": gap_to_json(self.gap),
               "source": self.source.to_json()}
        if self.forcing is not None:
            doc["forcing"] = self.forcing.to_json()
        if self.regularizer is not None:
            doc["regularizer"] = self.regularizer.to_json()
        return doc

    def save(self, path):
        text = json.dumps(self.to_json(), separators=(",", ":")) + "\n"
        write_atomically(path, lambda handle: handle.write(text))


# --- validation --------------------------------------------------------------------------

def _read(doc, allow_float):
    check_object(doc, _TOP_KEYS, format=FORMAT, required=("problem", "network", "dataset"))
    problem = doc["problem"]
    if problem not in PROBLEMS:
        raise BitpropInputError(f"{shown(problem)} is not a problem (one of "
                                f"{', '.join(PROBLEMS)})",
                                path="problem")
    network = _nested(lambda: Network.from_json(doc["network"], allow_float=allow_float),
                      "network")
    dataset = _read_dataset(doc["dataset"], network, "dataset", allow_float)
    query = _read_query(doc.get("query"), problem, network)
    threshold = rational(doc.get("threshold", 0), "threshold", allow_float=allow_float)
    gap = _read_gap(doc.get("gap"), allow_float)
    source = _read_source(doc.get("source"))
    forcing = _read_forcing(doc.get("forcing"), problem, network, allow_float)
    regularizer = _read_regularizer(doc.get("regularizer"), problem, network, allow_float)
    return Instance(problem, network, dataset, query, threshold, gap, source, forcing,
                    regularizer)


def _nested(read, prefix):
    try:
        return read()
    except BitpropInputError as err:
        raise err.at(path_prefix=prefix) from None


def _read_dataset(doc, network, where, allow_float):
    def read():
        dataset = Dataset.from_json(doc, allow_float=allow_float)
        dataset.check_against(network)
        if dataset.labels is None:
            raise BitpropInputError("the samples need labels 'y'", path="samples")
        return dataset
    return _nested(read, where)


def _read_int(value, where, low=None):
    """An integer written as a JSON integer or a decimal string; None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        q = rational(value, where)
        if q.denominator != 1 or "/" in value or "." in value or "e" in value.lower():
            raise BitpropInputError(f"{shown(value)} is not an integer", path=where)
        value = q.numerator
    if isinstance(value, bool) or not isinstance(value, int):
        raise BitpropInputError(f"{shown(value)} is not an integer", path=where)
    if low is not None and value < low:
        raise BitpropInputError(f"{shown(value)} is below {low}", path=where)
    return value


def _int_out(value):
    """An integer for JSON: a JSON integer, or a decimal string when it is long."""
    if value is None or abs(value) < 10 ** _JSON_INT_DIGITS:
        return value
    return to_str(Fraction(value))


def _read_query(doc, problem, network):
    if problem == "erm":
        if doc is not None:
            raise BitpropInputError("an erm instance asks no gradient query (use null)",
                                    path="query")
        return None
    if doc is None:
        raise BitpropInputError(f"a {problem} instance needs a query", path="query")
    check_object(doc, _QUERY_KEYS, path="query", required=("edge",))
    edge = _read_int(doc["edge"], "query.edge", low=0)
    if edge is None:
        raise BitpropInputError("null is not an edge index", path="query.edge")
    if edge >= network.num_edges:
        raise BitpropInputError(f"edge {shown(edge)} does not exist (the network has "
                                f"{network.num_edges} edges)", path="query.edge")
    coordinate = doc.get("coordinate", "weight")
    if coordinate not in COORDINATES:
        raise BitpropInputError(f"{shown(coordinate)} is not a coordinate (weight or bias)",
                                path="query.coordinate")
    bit = _read_int(doc.get("bit"), "query.bit")
    if problem == "backprop-bit" and bit is None:
        raise BitpropInputError("a backprop-bit instance needs the bit asked about",
                                path="query.bit")
    return Query(edge, coordinate, bit)


def gap_to_json(gap):
    """A promise gap as written in files and --json: two strings, "p/q" or "2^K"."""
    return None if gap is None else [to_str(q) if isinstance(q, Fraction) else str(q)
                                     for q in gap]


def _read_gap(doc, allow_float):
    """[a, b]: rationals, or powers "2^K" too long to write in digits (powers.py)."""
    if doc is None:
        return None
    if not isinstance(doc, list):
        return rational_list(doc, "gap")            # raises its "expected a list" error
    gap = [_gap_bound(q, f"gap[{i}]", allow_float) for i, q in enumerate(doc)]
    if len(gap) != 2 or gap[0] > gap[1]:
        raise BitpropInputError("the gap is [a, b] with a <= b", path="gap")
    return tuple(gap)


def _gap_bound(value, where, allow_float):
    power = parse_power(value)
    return rational(value, where, allow_float=allow_float) if power is None else power


def _read_source(doc):
    if doc is None:
        return Source()
    check_object(doc, _SOURCE_KEYS, path="source")
    from .slp import Program
    slp = doc.get("slp")
    if slp is not None:
        slp = _nested(lambda: Program.from_json(slp), "source.slp")
    question = doc.get("question")
    if question is not None and question not in QUESTIONS:
        raise BitpropInputError(f"{shown(question)} is not a question (pos or bit)",
                                path="source.question")
    relation = doc.get("relation")
    if relation is not None and not isinstance(relation, str):
        raise BitpropInputError("the relation is a string", path="source.relation")
    sigma = doc.get("sigma")
    if sigma is not None:
        sigma = tuple(rational_list(sigma, "source.sigma"))
    forcing = doc.get("forcing")
    if forcing is not None and forcing not in FORCING_SCHEMES:
        raise BitpropInputError(f"{shown(forcing)} is not a forcing scheme (compact or paper)",
                                path="source.forcing")
    return Source(slp, question, _read_int(doc.get("bit"), "source.bit", low=0), relation,
                  sigma, _read_int(doc.get("e"), "source.e"), forcing)


def _read_forcing(doc, problem, network, allow_float):
    if doc is None:
        return None
    if problem != "erm":
        raise BitpropInputError("forcing samples belong to erm instances only", path="forcing")
    check_object(doc, _FORCING_KEYS, path="forcing", required=_FORCING_KEYS,
                 lists={"outputs": "vertex names"})
    outputs = doc["outputs"]
    known = set(network.names)
    for i, name in enumerate(outputs):
        if not isinstance(name, str):
            raise BitpropInputError(f"a vertex name is a string, not {shown(name)}",
                                    path=f"forcing.outputs[{i}]")
        if name not in known:
            raise BitpropInputError(f"unknown vertex {shown(name)}",
                                    path=f"forcing.outputs[{i}]")
    view = Network.from_json({**network.to_json(), "outputs": outputs})
    forcing = Forcing(tuple(outputs), _read_dataset(doc["dataset"], view, "forcing.dataset",
                                                    allow_float))
    forcing._views[id(network)] = (network, view)          # built once: solve reuses it
    return forcing


def _read_regularizer(doc, problem, network, allow_float):
    if doc is None:
        return None
    if problem != "erm":
        raise BitpropInputError("a regularizer belongs to erm instances only",
                                path="regularizer")
    check_object(doc, _REGULARIZER_KEYS, path="regularizer", required=("center", "weight"))
    center = rational_list(doc["center"], "regularizer.center", allow_float=allow_float)
    if len(center) != 2 * network.num_edges:
        raise BitpropInputError(f"{len(center)} values for {network.num_edges} edges (a "
                                "weight and a bias each)", path="regularizer.center")
    weight = rational(doc["weight"], "regularizer.weight", allow_float=allow_float)
    if weight < 0:
        raise BitpropInputError(f"{to_str(weight)} is negative", path="regularizer.weight")
    bits = _read_int(doc.get("witness_bits"), "regularizer.witness_bits", low=1)
    return Regularizer(tuple(center), weight, bits)


# --- solving -----------------------------------------------------------------------------

@dataclass
class Solution:
    """What ``solve`` found: L(theta*), the answer, and for backprop the gradient and its
    sign and queried bit; for erm the loss of the main and the forcing samples apart."""

    problem: str
    loss: Fraction
    answer: bool
    gradient: Fraction = None
    sign: int = None
    bit: int = None
    parts: dict = None

    def to_json(self):
        doc = {"problem": self.problem, "loss": self.loss, "answer": self.answer}
        if self.problem == "erm":
            doc["losses"] = self.parts
        else:
            doc.update(gradient=self.gradient, sign=self.sign, bit=self.bit)
        return doc


def rational_bit(q, j):
    """Bit j of |q|: floor(|q| * 2^-j) mod 2 (j < 0 reads below the binary point).

    Never builds 2^|j|: above the numerator's length every bit is 0, and below the point
    floor(n 2^m / d) mod 2 = (n 2^m mod 2d) // d with 2^m mod 2d by modular powering."""
    q = abs(Fraction(q))
    numerator, denominator = q.numerator, q.denominator
    if j >= 0:
        if numerator.bit_length() <= j:
            return 0
        return (numerator // (denominator << j)) & 1
    modulus = 2 * denominator
    return (numerator * pow(2, -j, modulus) % modulus) // denominator


def read_theta(document, network, *, file=None, allow_float=False):
    """(weights, biases) of a parameter vector for ``network``: a JSON list of its 2E
    parameters in docs/formats.md's order (edges[0].weight, edges[0].bias, edges[1].weight,
    ...), or a bitprop.network/1 document with the same vertices and edges. A frozen edge
    (``trainable: false``) must keep its value: a certificate chooses trainable ones only."""
    try:
        weights, biases = _theta(document, network, allow_float)
        for i, edge in enumerate(network.edges):
            if not edge.trainable and (weights[i], biases[i]) != (edge.weight, edge.bias):
                raise BitpropInputError(
                    f"edge {i} ({edge.source} -> {edge.target}) is frozen: its weight and bias "
                    f"stay {to_str(edge.weight)}, {to_str(edge.bias)}", path="theta")
    except BitpropInputError as err:
        raise err.at(file=file) from None
    return weights, biases


def _theta(document, network, allow_float):
    if isinstance(document, dict):
        other = Network.from_json(document, allow_float=allow_float)
        shape = lambda net: [(e.source, e.target) for e in net.edges]        # noqa: E731
        if other.names != network.names or shape(other) != shape(network):
            raise BitpropInputError("the network's vertices and edges differ from the "
                                    "instance's (same names, same edges in the same order)")
        return other.weights, other.biases
    if not isinstance(document, list):
        raise BitpropInputError("theta is a JSON list of rationals or a bitprop.network/1 "
                                "document")
    values = rational_list(document, "theta", allow_float=allow_float)
    if len(values) != 2 * network.num_edges:
        raise BitpropInputError(f"{len(values)} values for {network.num_edges} edges (a weight "
                                "and a bias each)", path="theta")
    return values[0::2], values[1::2]


def verify(instance, weights, biases, **options):
    """The certificate check: ``instance`` solved at the parameters (weights, biases)
    instead of theta*; for erm, whether L(theta) <= threshold (Theorem E.2: a theta with
    polynomially many bits that passes is an NP certificate of a YES instance)."""
    at_theta = Instance(instance.problem, instance.network.with_parameters(weights, biases),
                        instance.dataset, instance.query, instance.threshold, instance.gap,
                        instance.source, instance.forcing, instance.regularizer)
    return solve(at_theta, **options)


def solve(instance, **options):
    """Evaluate ``instance`` at its parameters through the exact evaluator.

    ``options`` go to :func:`bitprop.forward` / :func:`bitprop.grad` (max_bits, threads,
    time_budget, progress).
    """
    if instance.problem == "erm":
        return _solve_erm(instance, options)
    result = instance.network.grad(instance.dataset, **options)
    query = instance.query
    gradients = result.grad_weight if query.coordinate == "weight" else result.grad_bias
    gradient = gradients[query.edge]
    sign = (gradient > 0) - (gradient < 0)
    bit = None if query.bit is None else rational_bit(gradient, query.bit)
    if instance.problem == "backprop-sign":
        answer = gradient > instance.threshold
    else:
        answer = bit == 1
    return Solution(instance.problem, result.loss, answer, gradient, sign, bit)


def _solve_erm(instance, options):
    main = instance.network.forward(instance.dataset, **options).loss
    forcing = Fraction(0)
    if instance.forcing is not None:
        view = instance.forcing.network(instance.network)
        forcing = view.forward(instance.forcing.dataset, **options).loss
    parts = {"main": main, "forcing": forcing}
    if instance.regularizer is not None:
        parts["regularizer"] = instance.regularizer.value(instance.network)
    loss = sum(parts.values(), Fraction(0))
    return Solution("erm", loss, loss <= instance.threshold, parts=parts)
