"""Lemma 3.2: BitSLP -> ERM_bit, with the forcing samples of Claim B.1.

The network is the SLP's circuit (``circuit.py``) with an input injected at every vertex;
theta* (its parameters as built, all trainable) is the witness. Given the promise gap [a, b]
(0 <= a < b) the dataset is

- one **main** sample: input (c, 0, ..., 0), on which theta* computes x_n at the output
  vertex; label 1, loss the bit extractor ``{"kind": "bit", "index": k, "shift": 0}``
  ([bit k of floor(|f|) != 1]), M = ceil(b) identical copies;
- S **forcing** (auxiliary) samples, each with every vertex as an output coordinate and the
  auxiliary loss ``exact_fit`` (one indicator per sample vector: [f(x) != y]), M copies each.
  The paper's "b identical copies" are this integer multiplicity M >= b (a sample weight).

So L(theta*) = 0 when bit k of |x_n| is 1 and M when it is 0, and every theta that misfits a
forcing sample has L >= M >= b: min L <= a iff bit k is 1 (YES), else min L >= b (NO). The two
losses live in one instance through the ``forcing`` extension of ``bitprop.instance/1``
(see ``bitprop.instance``).

**Templates.** A forcing sample is a template: a value f^_v for every vertex and a
pre-activation z^_v for every non-source v with f^_v = sigma_v(z^_v). Its input is
x_v = z^_v - sum over in-edges (w*_e f^_u + b*_e) (x_v = f^_v at the source), so theta*
reproduces the template exactly, and the label is f^ at every vertex. If theta fits the
sample exactly, every vertex has its template value, so at an identity vertex v

    sum over in-edges e = (u, v) of (w_e - w*_e) f^_u + sum_e (b_e - b*_e) = 0,

one linear equation per sample in the unknowns (w_e - w*_e)_e and the bias sum. At a sigma
vertex v whose in-edge comes from u, with x_v = 0 (z^_v = f^_u = t): sigma(w t + b) = sigma(t).
Claim B.1 follows when (i) at every identity vertex the rows (f^_u for u in in(v), 1) over
the samples have full column rank, pinning each in-edge weight to theta* and the sum of its
in-edge biases to theta*'s (only that sum enters z_v: a bias may move between the in-edges
of one vertex, nothing else), and (ii) every sigma-edge sees mu + 1 distinct t, so the
polynomial sigma(w t + b) - sigma(t) of degree <= mu has mu + 1 roots and is zero.

Two schemes build such templates (alpha: the least positive integer with
sigma(alpha) != sigma(0); beta_1..beta_(mu-1): the least positive integers other than alpha):

- ``paper`` (Claim B.1 as written): a baseline (z^ = 0 everywhere, the source 0), one
  template per identity-head edge (u, v) that moves u alone (f^_u = 1, or z^_u = alpha when u
  is a sigma vertex), and per sigma-edge (u, v) one template per point t in alpha, beta_r with
  f^_u = z^_v = t. 1 + |E_id| + mu |E_sigma| samples of |V| coordinates: quadratic size.
- ``compact`` (default; the same equations, all edges at once): S = max(3, 3m + mu) samples
  (m = the gadget's shifts, 3m its identity vertices per gate; S = 3 without products). Gate
  vertex x_i (and the source) takes r_i^(s mod 3) in sample s with r_i = (i+2)/(i+1): distinct
  nodes in (1, 2], so for every identity vertex reading gates the rows s = 0, 1, 2 form a
  Vandermonde matrix in r_j, r_k and 1, full rank. The gadget vertices of every product gate
  follow one pattern: row 0 all 0, row q (1 <= q <= 3m) alpha in column q and 0 elsewhere,
  rows 3m+1..3m+mu-1 all beta_r. A product gate reads sigma of them: after subtracting row 0,
  (sigma(alpha) - sigma(0)) times the identity, full rank; and each column takes the mu + 1
  values 0, alpha, beta_r. Every template value is bounded by a constant (depending on sigma),
  and the size is linear in the program.

``bounded=True`` compiles the BN-SLP of Lemma A.5 (every vertex value on the main sample in a
constant range) and reads bit k of floor(|y_n| 2^e) = bit k of |x_n| (the bit loss's shift e).
"""

from fractions import Fraction

import flint

from ..dataset import Dataset
from ..errors import BitpropInputError
from ..instance import Forcing, Instance, Source
from ..numbers import rational, to_str
from .bnslp import bounded_norm
from .circuit import circuit_network

SCHEMES = ("compact", "paper")


def compile_erm(program, bit, sigma, *, gap=(0, 1), forcing="compact", bounded=False,
                where="sigma"):
    """The ERM_bit instance of the BitSLP question 'is bit ``bit`` of |x_n| equal to 1?'."""
    if isinstance(bit, bool) or not isinstance(bit, int) or bit < 0:
        raise BitpropInputError(f"bit index {bit!r} must be an integer >= 0", path="bit")
    if forcing not in SCHEMES:
        raise BitpropInputError(f"{forcing!r} is not a forcing scheme (compact or paper)",
                                path="forcing")
    low, high = promise_gap(gap)
    compiled, e, shift = program, None, 0
    if bounded:
        bn = bounded_norm(program)
        compiled, e, shift = bn.program, bn.e, bn.e
    circuit = circuit_network(compiled, sigma, where=where)
    network = circuit.network
    copies = copies_for(high)
    main = Dataset([circuit.main_input()], [[1]], weights=[copies], kinds=["main"],
                   loss={"kind": "bit", "index": bit, "shift": shift})
    inputs, labels = forcing_samples(circuit, forcing)
    aux = Dataset(inputs, labels, loss="exact_fit", weights=[copies] * len(inputs),
                  kinds=["aux"] * len(inputs))
    source = Source(program, "bit", bit, _relation(bit, low, copies, e), circuit.sigma, e,
                    forcing)
    return Instance("erm", network, main, None, low, (low, high), source,
                    Forcing(tuple(network.names), aux))


def promise_gap(gap):
    """(a, b) of a promise gap, 0 <= a < b."""
    low, high = (rational(q, f"gap[{i}]") for i, q in enumerate(gap))
    if not 0 <= low < high:
        raise BitpropInputError(f"the promise gap [{to_str(low)}, {to_str(high)}] needs "
                                "0 <= a < b", path="gap")
    return low, high


def copies_for(high):
    """M = ceil(b): the integer number of identical copies that makes a loss of one, per
    copy, at least b."""
    return max(1, -(-high.numerator // high.denominator))


def _relation(k, low, copies, e):
    a, b = to_str(low), str(copies)
    read = (f"bit {k} of floor(|y_n| 2^e), y_n = x_n 2^-e the BN-SLP's output (Lemma A.5, "
            f"e = {to_str(Fraction(e))}), which is bit {k} of |x_n|" if e is not None
            else f"bit {k} of |x_n|")
    return (f"L(theta*) = 0 if {read} is 1, and {b} if it is 0; every theta misfitting a "
            f"forcing sample has L >= {b}; so min L <= {a} (YES) iff bit {k} of |x_n| = 1, "
            f"else min L >= {b}")


# --- forcing samples ---------------------------------------------------------------------

def forcing_points(coefficients):
    """(alpha, [beta_1..beta_(mu-1)]): sigma(alpha) != sigma(0); 0, alpha, beta distinct."""
    mu = len(coefficients) - 1
    alpha = 1
    while _horner(coefficients, alpha) == _horner(coefficients, 0):
        alpha += 1                      # sigma(t) - sigma(0) has <= mu roots, 0 among them
    betas = [t for t in range(1, mu + 1) if t != alpha][:mu - 1]
    return Fraction(alpha), [Fraction(t) for t in betas]


def forcing_samples(circuit, scheme="compact"):
    """(inputs, labels) of the forcing samples: labels are every vertex's template value."""
    templates = (_compact_templates if scheme == "compact" else _paper_templates)(circuit)
    incoming = _in_edges(circuit.network)
    inputs, labels = [], []
    to_fmpq = _Converter()
    for f, z in templates:
        flint_f = [to_fmpq(q) for q in f]
        inputs.append([f[v] if z[v] is None else
                       _fraction(_input(to_fmpq(z[v]), flint_f, *incoming[v]))
                       for v in range(len(f))])
        labels.append(f)
    return inputs, labels


class _Converter:
    """Fraction -> fmpq, once per object: the sums run in FLINT (Fraction arithmetic
    dominated compile time), and templates share a few Fraction objects (per gate, per
    pattern entry), all alive while the samples are built, so their ids are stable."""

    def __init__(self):
        self.done = {}

    def __call__(self, q):
        value = self.done.get(id(q))
        if value is None:
            value = self.done[id(q)] = _fmpq(q)
        return value


def _input(z, f, bias, unit, weighted):
    """x_v = z^_v - sum over in-edges (w* f^_u + b*), from ``_in_edges``' summary of v."""
    x = z - bias
    for u in unit:
        x -= f[u]
    for u, w in weighted:
        x -= w * f[u]
    return x


def _in_edges(network):
    """Per vertex index: (the sum of its in-edges' b*, sources of in-edges with w* = 1,
    (source, w*) of the others), numbers as fmpq."""
    index = {name: v for v, name in enumerate(network.names)}
    biases = [Fraction(0)] * len(index)
    unit, weighted = [[] for _ in index], [[] for _ in index]
    for edge in network.edges:
        u, v = index[edge.source], index[edge.target]
        biases[v] += edge.bias
        if edge.weight == 1:
            unit[v].append(u)
        else:
            weighted[v].append((u, _fmpq(edge.weight)))
    return [(_fmpq(b), unit[v], weighted[v]) for v, b in enumerate(biases)]



def _fmpq(q):
    return flint.fmpq(q.numerator, q.denominator)


def _fraction(q):
    return _FRACTION_ZERO if not q else Fraction(int(q.p), int(q.q))


_FRACTION_ZERO = Fraction(0)


def _horner(coefficients, t):
    value = Fraction(0)
    for c in reversed(coefficients):
        value = value * t + c
    return value


class _Sigma:
    """sigma on the few distinct template points, each computed once."""

    def __init__(self, coefficients):
        self.coefficients, self.cache = coefficients, {}

    def __call__(self, t):
        if t not in self.cache:
            self.cache[t] = _horner(self.coefficients, t)
        return self.cache[t]


def _compact_templates(circuit):
    sigma, roles = _Sigma(circuit.sigma), circuit.roles
    alpha, betas = forcing_points(circuit.sigma)
    columns = 3 * len(circuit.shifts)
    has_products = any(role[0] == "gadget" for role in roles)
    count = max(3, columns + len(betas) + 1) if has_products else 3
    pattern = [[_pattern(s, q, columns, alpha, betas) for q in range(columns)]
               for s in range(count)]
    activated = [[sigma(t) for t in row] for row in pattern]
    nodes = {}                                              # gate i -> (1, r_i, r_i^2)
    templates = []
    for s in range(count):
        f, z = [], []
        for role in roles:
            if role[0] in ("source", "gate"):
                if role[1] not in nodes:
                    r = Fraction(role[1] + 2, role[1] + 1)
                    nodes[role[1]] = (Fraction(1), r, r * r)
                value = nodes[role[1]][s % 3]
                f.append(value)
                z.append(None if role[0] == "source" else value)
            elif role[0] == "gadget":
                f.append(pattern[s][role[2]])
                z.append(pattern[s][role[2]])
            else:                           # z^ = f^ of the gadget vertex before it, x = 0
                column = roles[role[1]][2]
                f.append(activated[s][column])
                z.append(pattern[s][column])
        templates.append((f, z))
    return templates


def _pattern(s, column, columns, alpha, betas):
    """The gadget's template value in sample s, column ``column``."""
    if s == 0:
        return Fraction(0)
    if s <= columns:
        return alpha if column == s - 1 else Fraction(0)
    return betas[s - columns - 1]


def _paper_templates(circuit):
    sigma, roles = _Sigma(circuit.sigma), circuit.roles
    alpha, betas = forcing_points(circuit.sigma)
    zero = sigma(Fraction(0))
    base_f = [zero if role[0] == "sigma" else Fraction(0) for role in roles]
    base_z = [None if role[0] == "source" else Fraction(0) for role in roles]
    network = circuit.network
    index = {name: v for v, name in enumerate(network.names)}
    templates = [(base_f, base_z)]
    for edge in network.edges:
        u, v = index[edge.source], index[edge.target]
        f, z = list(base_f), list(base_z)
        if roles[v][0] != "sigma":                          # an identity-head edge: move u
            if roles[u][0] == "sigma":
                z[u], f[u] = alpha, sigma(alpha)
            else:
                f[u] = Fraction(1)
                if z[u] is not None:
                    z[u] = Fraction(1)
            templates.append((f, z))
            continue
        for t in [alpha] + betas:                           # a sigma-edge: t = z^_v = f^_u
            f, z = list(base_f), list(base_z)
            f[u] = z[u] = z[v] = t
            f[v] = sigma(t)
            templates.append((f, z))
    return templates
