"""Remark B.2: BitSLP -> ERM_bit with one input and one output, through a centred quadratic
regulariser in the objective instead of the forcing samples.

The network is Lemma 3.2's circuit of the SLP with its only input at x_0 (``inject=False``):
input c, output x_n at theta*. The data term is M = ceil(b) identical copies of (c, label 1)
under the bit loss at index k, [bit k of floor(|f|) != 1]. There are no forcing samples;
the objective adds lambda ||theta - theta*||^2 (the instance's ``regularizer``, centred at
theta*, part of L as ``solve`` and ``verify`` compute it).

**lambda** (the remark's "large enough", made exact): the witnesses are the thetas whose every
coordinate is a rational with denominator at most 2^B (B = ``witness_bits``). A witness
theta != theta* differs from theta* in some coordinate, and two distinct rationals p/q and
p'/q' differ by at least 1/(q q') >= 1/(2^B D), D the largest denominator in theta*. So
||theta - theta*||^2 >= (2^B D)^-2 and lambda = M (2^B D)^2 makes the regulariser cost at
least M >= b. At theta* it is 0 and L = M [bit k of |x_n| != 1]: the minimum over witnesses
is <= a (YES) iff bit k of |x_n| is 1, else >= b.
"""

from ..dataset import Dataset
from ..errors import BitpropInputError
from ..instance import Instance, Regularizer, Source
from ..numbers import to_str
from .circuit import circuit_network
from .compile_erm import copies_for, promise_gap

#: The default bit bound B of a witness's denominators.
WITNESS_BITS = 64


def compile_scalar(program, bit, sigma, *, gap=(0, 1), witness_bits=WITNESS_BITS,
                   where="sigma"):
    """The scalar-input, scalar-output ERM_bit instance of 'is bit ``bit`` of |x_n| 1?'."""
    if isinstance(bit, bool) or not isinstance(bit, int) or bit < 0:
        raise BitpropInputError(f"bit index {bit!r} must be an integer >= 0", path="bit")
    if isinstance(witness_bits, bool) or not isinstance(witness_bits, int) or witness_bits < 1:
        raise BitpropInputError(f"{witness_bits!r} is not a number of bits >= 1",
                                path="witness_bits")
    low, high = promise_gap(gap)
    circuit = circuit_network(program, sigma, inject=False, where=where)
    network = circuit.network
    copies = copies_for(high)
    main = Dataset([[program.constant]], [[1]], weights=[copies], kinds=["main"],
                   loss={"kind": "bit", "index": bit, "shift": 0})
    center = tuple(q for pair in zip(network.weights, network.biases) for q in pair)
    largest = max(q.denominator for q in center)
    weight = copies * (2 ** witness_bits * largest) ** 2
    relation = (f"L(theta*) = 0 if bit {bit} of |x_n| is 1, and {copies} if it is 0; every "
                f"other theta with denominators <= 2^{witness_bits} pays >= {copies} through "
                f"lambda ||theta - theta*||^2; so min L <= {to_str(low)} (YES) iff bit {bit} "
                f"of |x_n| = 1, else min L >= {to_str(high)} (Remark B.2)")
    source = Source(program, "bit", bit, relation, circuit.sigma)
    return Instance("erm", network, main, None, low, (low, high), source,
                    regularizer=Regularizer(center, weight, witness_bits))
