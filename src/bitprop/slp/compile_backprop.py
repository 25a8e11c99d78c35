"""Theorem 1.3: PosSLP -> Backprop-Sign and BitSLP -> Backprop-Bit.

The SLP's circuit network (``circuit.py``, input only at x0: a one-dimensional input c) gets
a target vertex ``t`` (identity) and one free edge (x_n, t) with weight w* = 0 and bias 0;
every other edge is fixed (``trainable: false``) at theta*. One sample x = (c), label -1,
square loss. Then f_t = w x_n + b, L = (w x_n + b + 1)^2 and at w = 0, b = 0

    dL/dw = 2 (f_t - y) x_n = 2 (0 + 1) x_n = 2 x_n,

a known positive multiple of x_n: sign(dL/dw) = sign(x_n) (PosSLP: x_n > 0 iff dL/dw > 0;
an integer x_n makes dL/dw >= 2 or <= 0, the promise gap [0, 2]), and |dL/dw| = 2 |x_n|, so
bit k + 1 of |dL/dw| is bit k of |x_n| (Backprop-Bit, ``query.bit = k + 1``).

``bounded=True`` compiles the BN-SLP of Lemma A.5 instead (constant 1/2, every gate in
[-1, 1], output y_n = x_n 2^-e): every vertex then stays in a range that depends on sigma
only (gadget vertices in [-2, mu + 2], sigma vertices within max |sigma| there), and
dL/dw = 2 y_n = 2^(1-e) x_n: the sign is unchanged, and bit k of |x_n| is bit k + 1 - e of
|dL/dw| (bit j of a rational g is floor(|g| 2^-j) mod 2).

**Promise gap** (Backprop-Sign, Definition 4.2): x_n is an integer (an SLP with an integer
constant), so dL/dw <= 0 (NO) or dL/dw >= 2^(1-e) (YES): the gap [0, 2^(1-e)], e = 0 without
``bounded``. A wider gap [a, b] (0 <= a < b) takes M = ceil(b 2^(e-1)) identical copies of the
sample (an integer multiplicity, the sample's weight): dL/dw = 2^(1-e) M x_n, so NO has
dL/dw <= 0 <= a and YES has dL/dw >= b; the threshold is a. Writing 2^(1-e) needs e + 1 bits,
so beyond e = 2^20 the default gap's bound is a ``PowerOfTwo`` (written "2^K", compared without
being built); a wider gap then needs M with about e bits, which no instance file can hold: an
error.
"""

from dataclasses import replace
from fractions import Fraction

from ..dataset import Dataset
from ..errors import BitpropInputError
from ..instance import Instance, Query, Source
from ..network import Edge, Network
from ..numbers import to_str
from ..powers import MAX_WRITTEN_EXPONENT, power_of_two
from .bnslp import bounded_norm
from .circuit import circuit_network
from .compile_erm import promise_gap

#: The label of the one sample: dL/dw = 2 (0 - LABEL) x_n = 2^SCALE x_n at w = 0.
LABEL = Fraction(-1)
SCALE = 1
TARGET = "t"


def compile_backprop(program, sigma, *, bit=None, bounded=False, gap=None, where="sigma"):
    """Backprop-Sign (``bit=None``: the sign of x_n) or Backprop-Bit (bit ``bit`` of |x_n|);
    ``gap`` (a, b): Backprop-Sign with that promise gap (see the module docstring)."""
    if bit is not None and (isinstance(bit, bool) or not isinstance(bit, int) or bit < 0):
        raise BitpropInputError(f"bit index {bit!r} must be an integer >= 0", path="bit")
    if gap is not None and bit is not None:
        raise BitpropInputError("a promise gap belongs to Backprop-Sign (no bit)", path="gap")
    compiled, e = program, 0
    if bounded:
        bn = bounded_norm(program)
        compiled, e = bn.program, bn.e
    circuit = circuit_network(compiled, sigma, inject=False, where=where)
    network = _with_target(circuit)
    shift = SCALE - e                # dL/dw = 2^(SCALE - e) x_n per copy of the sample
    copies, threshold, gap = _promise(program, bit, e, gap)
    dataset = Dataset([[compiled.constant]], [[LABEL]], loss="square", weights=[copies])
    query = Query(network.num_edges - 1, "weight", None if bit is None else bit + shift)
    problem = "backprop-sign" if bit is None else "backprop-bit"
    source = Source(program, "pos" if bit is None else "bit", bit,
                    _relation(bit, shift, e if bounded else None, copies), circuit.sigma,
                    e if bounded else None)
    return Instance(problem, network, dataset, query, threshold, gap, source)


def _promise(program, bit, e, gap):
    """(copies M, threshold, gap or None) of the instance: see the module docstring."""
    integer = program.constant.denominator == 1
    if gap is None:
        if bit is not None or not integer:
            return 1, Fraction(0), None
        return 1, Fraction(0), (Fraction(0), power_of_two(SCALE - e))
    low, high = promise_gap(gap)
    if not integer:
        raise BitpropInputError(f"a promise gap needs integer values, but the constant is "
                                f"{to_str(program.constant)}", path="gap")
    if e > MAX_WRITTEN_EXPONENT:
        raise BitpropInputError(f"the gap [{to_str(low)}, {to_str(high)}] needs "
                                f"M = ceil(B 2^(e-1)) copies of the sample with e = {e}: an "
                                f"integer of about e bits; without --gap the gap is "
                                f"[0, 2^{SCALE - e}]", path="gap")
    step = Fraction(2 ** SCALE, 2 ** e)            # dL/dw per copy when x_n = 1
    copies = max(1, -(-high // step))
    return int(copies), low, (low, high)


def _with_target(circuit):
    """The circuit with every edge fixed, plus t and the free edge (x_n, t), w = b = 0."""
    edges = [replace(edge, trainable=False) for edge in circuit.edges]
    edges.append(Edge(circuit.output, TARGET, Fraction(0), Fraction(0), True))
    return Network(list(circuit.vertices) + [(TARGET, "identity")], edges,
                   circuit.network.inputs, [TARGET], circuit.activations)


def _relation(bit, shift, e, copies=1):
    scale = (f"2^({SCALE}-e) x_n with e = {to_str(Fraction(e))} (Lemma A.5)" if e is not None
             else f"{2 ** SCALE} x_n")
    if copies != 1:
        scale = f"{copies} * {scale} ({copies} copies of the sample)"
    text = f"dL/dw = {scale} at w = 0: sign(dL/dw) = sign(x_n)"
    if bit is not None:
        text += f"; bit {to_str(Fraction(bit + shift))} of |dL/dw| = bit {bit} of |x_n|"
    return text
