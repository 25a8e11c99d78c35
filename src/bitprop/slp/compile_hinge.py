"""Remark B.3: PosSLP -> ERM with the standard hinge loss (the sign of x_n instead of Lemma
3.2's bit: a slightly weaker hardness, with a loss used in practice).

The text lost the remark's formulas; reconstructed so that the stated property holds. The
SLP P computing the integer N = x_n (constant 1) is extended by two gates to P' computing
N' = 2N - 1 = (x_n + x_n) - x_0: odd, so never 0, with N' >= 1 iff N > 0 and N' <= -1
iff N <= 0. Lemma 3.2's network of P' and its forcing samples (``compile_erm``: loss
``exact_fit``, theta* pinned) are kept; the main sample is (c, label 1) with the hinge loss
max(0, 1 - y f) on the output. Every sample comes in M = ceil(b) identical copies. At theta*,
f = N', so the main loss is M max(0, 2 - 2N): 0 when N > 0 and at least 2M > b when N <= 0,
and a theta misfitting a forcing sample pays M >= b. Hence min L <= a (YES) iff x_n > 0,
else min L >= b: the promise gap [a, b] (0 <= a < b), threshold a.
"""

from ..dataset import Dataset
from ..errors import BitpropInputError
from ..instance import Forcing, Instance, Source
from ..numbers import to_str
from .circuit import circuit_network
from .compile_erm import SCHEMES, copies_for, forcing_samples, promise_gap
from .program import Program


def sign_program(program):
    """P' computing 2 x_n - 1 from P (constant 1)."""
    if program.constant != 1:
        raise BitpropInputError(f"PosSLP programs start from x_0 = 1, not "
                                f"{to_str(program.constant)}", path="constant")
    n = len(program.ops)
    return Program(list(program.ops) + [("+", n, n), ("-", n + 1, 0)], program.constant)


def compile_hinge(program, sigma, *, gap=(0, 1), forcing="compact", where="sigma"):
    """The ERM instance (hinge loss) of the PosSLP question 'is x_n > 0?'."""
    if forcing not in SCHEMES:
        raise BitpropInputError(f"{forcing!r} is not a forcing scheme (compact or paper)",
                                path="forcing")
    low, high = promise_gap(gap)
    circuit = circuit_network(sign_program(program), sigma, where=where)
    network = circuit.network
    copies = copies_for(high)
    main = Dataset([circuit.main_input()], [[1]], loss="hinge", weights=[copies],
                   kinds=["main"])
    inputs, labels = forcing_samples(circuit, forcing)
    aux = Dataset(inputs, labels, loss="exact_fit", weights=[copies] * len(inputs),
                  kinds=["aux"] * len(inputs))
    relation = (f"the output at theta* is 2 x_n - 1 (odd): L(theta*) = {copies} max(0, 2 - 2 "
                f"x_n), 0 if x_n > 0 and >= {2 * copies} if x_n <= 0; every theta misfitting "
                f"a forcing sample has L >= {copies}; so min L <= {to_str(low)} (YES) iff "
                f"x_n > 0, else min L >= {to_str(high)} (Remark B.3)")
    source = Source(program, "pos", None, relation, circuit.sigma, None, forcing)
    return Instance("erm", network, main, None, low, (low, high), source,
                    Forcing(tuple(network.names), aux))
