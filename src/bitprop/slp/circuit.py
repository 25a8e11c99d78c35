"""Lemma 3.2's circuit network: an SLP as a network over the activations {identity, sigma}.

For an SLP x_0 = c, x_i = x_j op x_k and a polynomial sigma of degree mu >= 2, the network has

- a vertex ``x{i}`` per gate: ``x0`` is the source (its input is c), every other gate vertex
  has the identity activation;
- a gate x_i = x_j + x_k (or x_j - x_k): edges (x_j, x_i) and (x_k, x_i) with weights +1 and +1
  (or +1 and -1), bias 0. When j = k the two edges are one edge of weight 2 (or 0): parallel
  edges would only pin the sum of their weights (the forcing of compile_erm needs one edge per
  pair of vertices);
- a gate x_i = x_j * x_k: the gadget of Lemma 3.1. For every shift s with lambda_s != 0
  (a shift with lambda_s = 0 adds nothing to the sum, so it gets no vertices) three identity
  vertices ``x{i}:x+y+{s}`` (edges from x_j with bias s and from x_k with bias 0, both weight 1;
  one edge of weight 2 when j = k), ``x{i}:x+{s}`` and ``x{i}:y+{s}`` (one edge from x_j,
  resp. x_k, weight 1, bias s), a sigma vertex after each (``x{i}:s(x+y+{s})`` ..., edge weight
  1, bias 0: the sigma-edges), and edges from the three sigma vertices into x_i with weights
  lambda_s, -lambda_s, -lambda_s, bias 0, so that
  z_{x_i} = sum_s lambda_s (sigma(x+y+s) - sigma(x+s) - sigma(y+s)) = x_j x_k.
  (The paper routes the sum through one more vertex with a weight-1 edge into x_i; summing
  straight into x_i computes the same and saves a vertex per gate.)

These parameters are theta*, the network's parameters as built. With ``inject=True`` (the
ERM network of Lemma 3.2) every vertex is listed in ``inputs``, x0 first, so an input is added
to every pre-activation; on the main input (c, 0, ..., 0) every gate vertex x{i} computes x_i
exactly, by induction over the gates. With ``inject=False`` the only input is x0 (the
one-dimensional input of Theorem 1.3).
"""

from dataclasses import dataclass
from fractions import Fraction

from ..activations import Activation
from ..network import Edge, Network
from .gadget import gadget_coefficients
from .polynomial import parse_polynomial

#: The activation table's name of the polynomial activation.
SIGMA = "sigma"


@dataclass(frozen=True)
class Circuit:
    """The circuit network of an SLP with theta* as its parameters.

    ``roles[v]`` says what vertex v (network order) is: ``("source", 0)``, ``("gate", i)``,
    ``("gadget", i, q)`` (the q-th identity vertex of gate i's gadget, in the order
    x+y+s, x+s, y+s for each shift s) or ``("sigma", u)`` (a sigma vertex whose only in-edge
    comes from vertex index u).
    """

    network: Network
    program: object
    sigma: tuple            # c_0..c_mu
    lambdas: tuple          # lambda_0..lambda_mu of Lemma 3.1
    shifts: tuple           # the shifts s with lambda_s != 0: the gadget's columns
    roles: tuple
    vertices: tuple         # the network's parts, for networks that extend it (Theorem 1.3)
    edges: tuple
    activations: dict

    @property
    def output(self):
        """The vertex computing x_n."""
        return f"x{len(self.program)}"

    def main_input(self):
        """The input on which the network computes the SLP: x0 = c, 0 at every other input."""
        return [self.program.constant] + [Fraction(0)] * (self.network.num_inputs - 1)


def circuit_network(program, sigma, *, inject=True, where="sigma"):
    """Lemma 3.2's network of ``program`` for the polynomial ``sigma`` (POLY text or list).

    Raises BitpropInputError (at ``where``) when sigma has degree < 2 (Lemma 3.1).
    """
    coefficients = tuple(parse_polynomial(sigma, where))
    lambdas = tuple(gadget_coefficients(list(coefficients), where))
    shifts = tuple(s for s, lam in enumerate(lambdas) if lam != 0)
    builder = _Builder()
    builder.vertex("x0", None, ("source", 0))
    for i, (op, j, k) in enumerate(program.ops, start=1):
        if op == "*":
            builder.product(i, j, k, shifts, lambdas)
        else:
            builder.linear(i, op, j, k)
    names = [v if isinstance(v, str) else v[0] for v in builder.vertices]
    table = {SIGMA: Activation.polynomial(list(coefficients))}
    network = Network(builder.vertices, builder.edges, names if inject else ["x0"],
                      [f"x{len(program)}"], table)
    return Circuit(network, program, coefficients, lambdas, shifts, tuple(builder.roles),
                   tuple(builder.vertices), tuple(builder.edges), table)


def evaluate_via_network(program, sigma, *, max_bits=None, time_budget=None, threads=None,
                         where="sigma"):
    """x_n computed by bitprop's evaluator on the circuit network (a Fraction)."""
    circuit = circuit_network(program, sigma, where=where)
    result = circuit.network.forward([circuit.main_input()], max_bits=max_bits,
                                     time_budget=time_budget, threads=threads)
    return result.outputs[0][0]


class _Builder:
    """Collects vertices (with their roles) and edges in topological order."""

    def __init__(self):
        self.vertices, self.roles, self.edges = [], [], []
        self.index = {}

    def vertex(self, name, activation, role):
        self.index[name] = len(self.vertices)
        self.vertices.append(name if activation is None else (name, activation))
        self.roles.append(role)
        return name

    def edge(self, source, target, weight=1, bias=0):
        self.edges.append(Edge(source, target, Fraction(weight), Fraction(bias)))

    def linear(self, i, op, j, k):
        gate = self.vertex(f"x{i}", "identity", ("gate", i))
        sign = 1 if op == "+" else -1
        if j == k:
            self.edge(f"x{j}", gate, 1 + sign)
        else:
            self.edge(f"x{j}", gate, 1)
            self.edge(f"x{k}", gate, sign)

    def product(self, i, j, k, shifts, lambdas):
        """The gadget's vertices and edges, then the gate vertex summing it."""
        x, y = f"x{j}", f"x{k}"
        terms = []
        for s in shifts:
            for q, (label, coefficient) in enumerate(
                    ((f"x+y+{s}", lambdas[s]), (f"x+{s}", -lambdas[s]), (f"y+{s}", -lambdas[s]))):
                column = len(terms)
                identity = self.vertex(f"x{i}:{label}", "identity", ("gadget", i, column))
                if q == 0 and j == k:
                    self.edge(x, identity, 2, s)
                elif q == 0:
                    self.edge(x, identity, 1, s)
                    self.edge(y, identity, 1, 0)
                else:
                    self.edge(x if q == 1 else y, identity, 1, s)
                activated = self.vertex(f"x{i}:s({label})", SIGMA,
                                        ("sigma", self.index[identity]))
                self.edge(identity, activated)              # a sigma-edge
                terms.append((activated, coefficient))
        gate = self.vertex(f"x{i}", "identity", ("gate", i))
        for activated, coefficient in terms:
            self.edge(activated, gate, coefficient)
