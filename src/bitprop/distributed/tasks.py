"""What runs on the Dask workers: one shard's exact partial sums, the exact sum of two partials,
and the gradient step. Plain functions of plain values with no Dask inside.

Results are NamedTuples of bytes and small values, so Dask's size estimate of a result (it sums
a tuple's items) is the number of bytes that travel. A bitprop error on a worker (a bit limit, a
time budget) is returned as a ``Failure`` value instead of raised: it is deterministic, so Dask's
retries, which are for lost workers and other accidents, must not repeat it; the Failure flows
up the reduction tree like a partial sum and the driver raises it.
"""

from fractions import Fraction
from typing import NamedTuple

from .. import evaluation
from .._factored import base_of
from .._sums import PartialSums
from ..dataset import Dataset
from ..errors import BitpropError
from ..network import Network
from ..numbers import rational_vector
from .wire import Vector, pack_fractions, unpack_fractions


class Shard(NamedTuple):
    """Samples [first, first + len(dataset)); weights are the global per-sample scales
    (w_i, or w_i / W_total for ``mean``) under reduction ``sum``, so partial sums add up."""

    first: int
    dataset: Dataset


class Partial(NamedTuple):
    """The exact sums of consecutive samples [first, first + count)."""

    first: int
    count: int
    loss: bytes                  # packed [L]
    weight_gradient: bytes       # PartialSums bytes of dL/dw per edge (None: forward only)
    bias_gradient: bytes         # PartialSums bytes of dL/db per edge, one value per head
    outputs: tuple               # PartialSums bytes of the outputs, one per shard, in order
    per_vertex: dict             # name -> {"z", "f", "adjoint"}: max bits over the samples
    per_depth: tuple             # ({"depth", "z", "f", "adjoint"}, ...)
    timing: tuple                # (compile, forward, backward) seconds of the slowest shard


class Failure(NamedTuple):
    """A bitprop error raised on a worker, carried to the driver as a value."""

    error: BaseException


class Parameters(NamedTuple):
    """Every edge's weight and bias, packed, in edge order."""

    weights: bytes
    biases: bytes


class SharedNetwork(NamedTuple):
    """A network as it is scattered: its structure with every parameter the same Fraction 0
    (pickled once), and its parameters packed. Pickling a Network pickles 2 E Fractions one
    by one and unpickling re-reduces each; this is several times faster on both ends."""

    skeleton: Network
    parameters: Parameters


def share(network):
    """The SharedNetwork of ``network`` (on the driver, before the scatter)."""
    zeros = [Fraction(0)] * network.num_edges
    skeleton = network.with_parameters(zeros, zeros)
    return SharedNetwork(skeleton, Parameters(pack_fractions(network.weights),
                                              pack_fractions(network.biases, repeats=True)))


def denominator_primes(network, dataset=None):
    """The primes of the network's (and the samples') denominators: those of a gradient's
    denominators, over which ``canonical`` takes its gcds."""
    denominators = {q.denominator for q in network.weights}
    denominators.update(q.denominator for q in network.biases)
    if dataset is not None:
        for rows in (dataset.inputs, dataset.labels or ()):
            denominators.update(q.denominator for row in rows for q in row)
    return base_of(denominators)[0]


def canonical(sums, primes, threads=1):
    """The RationalVector of PartialSums (or their bytes) in lowest terms: one gcd per stored
    value, over ``primes`` (denominator_primes), on ``threads``."""
    return _sums(sums).canonical(primes, threads)


_built = [None, None]            # (Parameters, Network): the tasks of one step on one worker


def _network(shared, parameters):
    """The Network of ``shared`` with ``parameters`` (None: the shared ones), built once per
    parameter object in this process."""
    parameters = shared.parameters if parameters is None else parameters
    if _built[0] is not parameters:
        network = shared.skeleton.with_parameters(
            Vector.unpack_rational_vector(parameters.weights),
            Vector.unpack_rational_vector(parameters.biases))
        _built[:] = [parameters, network]
    return _built[1]


def hold(value):
    """Keep a value on a worker as a task result (recomputable, unlike scattered data)."""
    return value


def shard_partial(shared, parameters, shard, options, backward=True, outputs=True):
    """The exact loss (and with ``backward`` the gradient) of one shard, with the same kernels
    as a single process."""
    if isinstance(parameters, Failure):
        return parameters
    network = _network(shared, parameters)
    try:
        if backward:      # sums over a common denominator: lowest terms once, at the end
            result = evaluation.grad(network, shard.dataset, canonical=False, **options)
        else:
            result = evaluation.forward(network, shard.dataset, **options)
    except BitpropError as error:
        return Failure(error)
    weight_gradient = bias_gradient = None
    if backward:
        weight_gradient = result.grad_weight.to_bytes()
        bias_gradient = result.grad_bias.to_bytes()
    rows = ()
    if outputs:
        rows = (PartialSums.from_pairs((q.numerator, q.denominator)
                                       for row in result.outputs for q in row).to_bytes(),)
    timing = tuple(result.timing.get(key, 0.0) for key in ("compile", "forward", "backward"))
    return Partial(shard.first, len(shard.dataset), pack_fractions([result.loss]),
                   weight_gradient, bias_gradient, rows, result.bits.per_vertex,
                   tuple(result.bits.per_depth), timing)


def _sum_packed(left, right):
    if left is None or right is None:
        return None
    return Vector.unpack(left).plus(Vector.unpack(right)).pack()


def _sum_sums(left, right, encode):
    if left is None or right is None:
        return None
    total = _sums(left).plus(_sums(right))
    return total.to_bytes() if encode else total


def _sums(value):
    """PartialSums (or None) as they are, their bytes decoded."""
    if value is None or isinstance(value, PartialSums):
        return value
    return PartialSums.from_bytes(value)


def opened(partial):
    """``partial`` (on the driver) with its gradients and outputs decoded to PartialSums:
    what the driver does with a partial while it waits for the next."""
    if isinstance(partial, Failure):
        return partial
    return partial._replace(weight_gradient=_sums(partial.weight_gradient),
                            bias_gradient=_sums(partial.bias_gradient),
                            outputs=tuple(map(_sums, partial.outputs)))


def output_vectors(outputs, count, width, primes, threads=1):
    """The ``count`` samples' output vectors (RationalVectors of ``width`` entries) of a
    partial's ``outputs``. They travel as PartialSums, not as canonical values: checking
    that a received value is in lowest terms takes Euclid's gcd, several times the cost of
    ``canonical``'s remainders over ``primes`` (0.29 s against 0.03 s for
    4,096 outputs of ~20,000 bits)."""
    if width == 0:
        return [rational_vector([]) for _ in range(count)]
    return [vector for sums in outputs for vector in canonical(sums, primes, threads).split(width)]


def _max_bits(left, right, key):
    merged = {}
    for a, b in zip(left, right):
        if a[key] != b[key]:
            raise ValueError(f"partial sums of different networks ({a[key]!r}, {b[key]!r})")
        merged[a[key]] = {k: a[k] if k == key else max(a[k], b[k]) for k in a}
    return merged


def add_partials(left, right, encode=True):
    """The exact sum of two partials of adjacent sample ranges (left first), their
    gradients as bytes or PartialSums (``opened``); without ``encode`` (the driver's last
    addition) the sum's gradients stay PartialSums."""
    for side in (left, right):
        if isinstance(side, Failure):
            return side
    if left.first + left.count != right.first:
        raise ValueError(f"partial sums of samples [{left.first}, {left.first + left.count}) "
                         f"and [{right.first}, ...) are not adjacent")
    per_vertex = {name: {k: max(bits[k], right.per_vertex[name][k]) for k in bits}
                  for name, bits in left.per_vertex.items()}
    per_depth = tuple(_max_bits(left.per_depth, right.per_depth, "depth").values())
    return Partial(left.first, left.count + right.count,
                   _sum_packed(left.loss, right.loss),
                   _sum_sums(left.weight_gradient, right.weight_gradient, encode),
                   _sum_sums(left.bias_gradient, right.bias_gradient, encode),
                   left.outputs + right.outputs, per_vertex, per_depth,
                   tuple(map(max, left.timing, right.timing)))


def loss_of(total):
    """L of a whole-dataset partial (or its Failure)."""
    if isinstance(total, Failure):
        return total
    return unpack_fractions(total.loss)[0]


def descend(shared, parameters, total, rate):
    """theta - rate * dL/dtheta on the trainable edges: the next step's Parameters."""
    for value in (parameters, total):
        if isinstance(value, Failure):
            return value
    network = _network(shared, parameters)
    trainable = network.trainable
    parameters = shared.parameters if parameters is None else parameters
    weights, biases = Vector.unpack(parameters.weights), Vector.unpack(parameters.biases)
    primes = denominator_primes(network)
    weight_step = Vector.from_fractions(
        canonical(total.weight_gradient, primes).tolist()).scaled(rate)
    bias_step = Vector.from_fractions(
        canonical(total.bias_gradient, primes).tolist()).scaled(rate)
    return Parameters(weights.minus(weight_step, trainable).pack(),
                      biases.minus(bias_step, trainable).pack(repeats=True))


def call_configuration(function, configuration):
    """``function(configuration)``; a bitprop error comes back as a Failure (not retried)."""
    try:
        return function(configuration)
    except BitpropError as error:
        return Failure(error)
