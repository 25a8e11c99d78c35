"""The benchmark instances of issue 9: deterministic MLPs, their bitprop JSON, and the canonical hash.

Every instance is an MLP with widths [n_0, ..., n_L]: z_l = W_l h_(l-1) + b_l, h_l = sigma(z_l)
for the hidden layers l < L, h_L = z_L (identity output), square loss summed over samples and
output coordinates. All numbers are `fractions.Fraction`; generation uses only
`random.Random(str).getrandbits` and exact integer arithmetic, so an id gives the same instance
on every platform and Python version (tests pin one instance's hash).

Ids (D = number of layers L, W = width of every layer including input and output, B = batch):

    relu-wW-dD-bB          ReLU, small rationals n/d, n in [-8, 8], d in [1, 8]
    relu-wW-dD-qK-bB       ReLU, general rationals p/q, |p| < 2^K, q in [1, 2^K - 1]
    sq-wW-dD-qK-bB         z^2, the same divided by 8
    relu-wW-dD-dyadic-bB   ReLU, exact float32 values (weights and biases ~ N(0, 1/sqrt(W)),
                           inputs and labels ~ N(0, 1), rounded to float32, taken exactly)
    sq-wW-dD-bB            z^2, small rationals n/(8d) (the rationals above divided by 8, so every
                           number lies in [-1, 1] and values stay O(1) through depth 10)
    chain-sq-dD            the chain x <- x^2 + 1/3 from x_0 = 3/2, D steps; output x_D (below)

The chain as an MLP of width 1 and L = D + 1 layers: every weight is 1, layer 1's bias is 0 and
every later bias is 1/3, input 3/2, label 0. Then z_1 = 3/2 = x_0 and z_l = z_(l-1)^2 + 1/3 =
x_(l-1), so the D hidden z^2 units square x_0 .. x_(D-1) and the output is exactly x_D; the loss is
x_D^2.

Weights and data come from two seeds, "bitprop-bench:<id without -bB>" (so b8 and b64 share the
network) and "bitprop-bench:<id>:data".
"""

from __future__ import annotations

import hashlib
import math
import re
import struct
from dataclasses import dataclass
from fractions import Fraction
from functools import partial
from random import Random

#: The instances of issue 9's table, smallest first within each family.
TABLE = [
    "chain-sq-d16", "chain-sq-d20",
    "relu-w16-d16-b8", "relu-w16-d16-b64",
    "relu-w16-d128-b8", "relu-w16-d128-b64",
    "relu-w64-d16-b8", "relu-w64-d16-b64",
    "relu-w64-d16-dyadic-b8", "relu-w64-d16-dyadic-b64",
    "relu-w64-d128-dyadic-b8", "relu-w64-d128-dyadic-b64",
    "sq-w8-d6-b8", "sq-w8-d6-b64",
    "sq-w8-d8-b8", "sq-w8-d8-b64",
    "sq-w8-d10-b8", "sq-w8-d10-b64",
] + [  # general rationals: denominators of 8, 16 and 32 bits
    f"{net}-q{bits}-b{batch}" for bits in (8, 16, 32)
    for net in ("relu-w16-d16", "relu-w16-d128", "relu-w64-d16", "sq-w8-d6", "sq-w8-d8",
                "sq-w8-d10")
    for batch in (8, 64)]
#: The three instances `run.py --quick` uses.
QUICK = ["relu-w16-d16-b8", "sq-w8-d6-b8", "relu-w64-d16-dyadic-b8"]

NUMERATOR_MAX = 8      # small rationals: numerator uniform in [-8, 8]
DENOMINATOR_MAX = 8    # denominator uniform in [1, 8]
SQUARE_SCALE = 8       # z^2 instances divide every small rational by this

_MLP_ID = re.compile(r"(relu|sq)-w([1-9][0-9]*)-d([1-9][0-9]*)(-dyadic|-q[1-9][0-9]*)?"
                     r"-b([1-9][0-9]*)")
_CHAIN_ID = re.compile(r"chain-sq-d([1-9][0-9]*)")
_ACTIVATIONS = {"relu": "relu", "sq": "square"}
# Numbers with fewer bits than this go through CPython's int -> str (at most ~3900 digits,
# below its 4300-digit limit); bigger ones through FLINT, which is also subquadratic.
_SMALL_BITS = 13_000


@dataclass(frozen=True)
class Instance:
    """One MLP with its batch; weights[l][i][j] is row i, column j of W_(l+1)."""

    id: str
    activation: str                      # hidden layers: "relu" or "square"; output: identity
    widths: tuple[int, ...]              # n_0 .. n_L
    weights: list[list[list[Fraction]]]  # L matrices, n_l x n_(l-1)
    biases: list[list[Fraction]]         # L vectors, n_l
    inputs: list[list[Fraction]]         # X: B rows of n_0
    labels: list[list[Fraction]]         # Y: B rows of n_L

    @property
    def depth(self) -> int:
        return len(self.weights)

    @property
    def batch(self) -> int:
        return len(self.inputs)


# ---------------------------------------------------------------------------------------------
# Generation


def generate(instance_id: str) -> Instance:
    """The instance named `instance_id` (see the module docstring for the grammar)."""
    chain = _CHAIN_ID.fullmatch(instance_id)
    if chain:
        return _chain(instance_id, int(chain[1]))
    mlp = _MLP_ID.fullmatch(instance_id)
    if not mlp:
        raise ValueError(f"unknown instance id {instance_id!r} (expected e.g. relu-w16-d16-b8, "
                         "relu-w64-d16-dyadic-b8, sq-w8-d6-b8, chain-sq-d20)")
    kind, width, depth, batch = mlp[1], int(mlp[2]), int(mlp[3]), int(mlp[5])
    dyadic = mlp[4] == "-dyadic"
    bound = 2 ** int(mlp[4][2:]) - 1 if mlp[4] and not dyadic else None
    network_seed = instance_id[: instance_id.rindex("-b")]
    params = Random(f"bitprop-bench:{network_seed}")
    data = Random(f"bitprop-bench:{instance_id}:data")
    if dyadic:
        scale = 1 / math.sqrt(width)   # IEEE sqrt and division are correctly rounded
        weight = partial(_float32_normal, params, scale)
        value = partial(_float32_normal, data, 1.0)
    else:
        divisor = SQUARE_SCALE if kind == "sq" else 1
        numerators, denominators = (bound, bound) if bound else (NUMERATOR_MAX, DENOMINATOR_MAX)
        weight = partial(_small_rational, params, divisor, numerators, denominators)
        value = partial(_small_rational, data, divisor, numerators, denominators)
    widths = (width,) * (depth + 1)
    weights = [[[weight() for _ in range(widths[l])] for _ in range(widths[l + 1])]
               for l in range(depth)]
    biases = [[weight() for _ in range(widths[l + 1])] for l in range(depth)]
    inputs = [[value() for _ in range(widths[0])] for _ in range(batch)]
    labels = [[value() for _ in range(widths[-1])] for _ in range(batch)]
    return Instance(instance_id, _ACTIVATIONS[kind], widths, weights, biases, inputs, labels)


def is_valid_id(instance_id: str) -> bool:
    return bool(_CHAIN_ID.fullmatch(instance_id) or _MLP_ID.fullmatch(instance_id))


def _chain(instance_id: str, steps: int) -> Instance:
    third = Fraction(1, 3)
    depth = steps + 1
    return Instance(
        id=instance_id, activation="square", widths=(1,) * (depth + 1),
        weights=[[[Fraction(1)]] for _ in range(depth)],
        biases=[[Fraction(0) if l == 0 else third] for l in range(depth)],
        inputs=[[Fraction(3, 2)]], labels=[[Fraction(0)]])


def _uniform_int(rng: Random, low: int, high: int) -> int:
    """Uniform in [low, high] by rejection on getrandbits (randint's algorithm is not a contract)."""
    span = high - low + 1
    bits = span.bit_length()
    while True:
        r = rng.getrandbits(bits)
        if r < span:
            return low + r


def _small_rational(rng: Random, divisor: int, numerators: int, denominators: int) -> Fraction:
    """n / (d * divisor), n uniform in [-numerators, numerators], d in [1, denominators]."""
    numerator = _uniform_int(rng, -numerators, numerators)
    return Fraction(numerator, _uniform_int(rng, 1, denominators) * divisor)


def _float32_normal(rng: Random, scale: float) -> Fraction:
    """An exact float32 ~ N(0, scale): Irwin-Hall sum of 12 uniforms in exact integers, then one
    correctly rounded division to double and IEEE rounding to float32 (no libm call)."""
    total = sum(rng.getrandbits(53) for _ in range(12)) - 6 * 2**53
    as_double = float(Fraction(total, 2**53) * Fraction(scale))
    (as_float32,) = struct.unpack("<f", struct.pack("<f", as_double))
    return Fraction(as_float32)


# ---------------------------------------------------------------------------------------------
# bitprop's formats


def vertex_name(layer: int, unit: int) -> str:
    return f"L{layer}_{unit}"


def edge_index(instance: Instance, layer: int, row: int, column: int) -> int:
    """File position of the edge for W_layer[row][column] (layer 1..L) in `to_bitprop_json`."""
    widths = instance.widths
    offset = sum(widths[l] * widths[l + 1] for l in range(layer - 1))
    return offset + row * widths[layer - 1] + column


def to_bitprop_json(instance: Instance) -> tuple[dict, dict]:
    """(network, dataset) dicts in docs/formats.md's bitprop.network/1 and bitprop.dataset/1.

    Edges come layer by layer, row-major (see `edge_index`); the bias of unit i of layer l sits
    on its edge from unit 0 of layer l-1, and every other edge has bias 0.
    """
    widths, depth = instance.widths, instance.depth
    vertices = [{"name": vertex_name(0, j)} for j in range(widths[0])]
    edges = []
    for l in range(1, depth + 1):
        activation = instance.activation if l < depth else "identity"
        vertices += [{"name": vertex_name(l, i), "activation": activation}
                     for i in range(widths[l])]
        for i, row in enumerate(instance.weights[l - 1]):
            bias = fraction_str(instance.biases[l - 1][i])
            edges += [{"from": vertex_name(l - 1, j), "to": vertex_name(l, i),
                       "weight": fraction_str(w), "bias": bias if j == 0 else "0"}
                      for j, w in enumerate(row)]
    network = {
        "format": "bitprop.network/1",
        "vertices": vertices,
        "edges": edges,
        "inputs": [vertex_name(0, j) for j in range(widths[0])],
        "outputs": [vertex_name(depth, i) for i in range(widths[depth])],
    }
    dataset = {
        "format": "bitprop.dataset/1",
        "samples": [{"x": [fraction_str(v) for v in x], "y": [fraction_str(v) for v in y]}
                    for x, y in zip(instance.inputs, instance.labels)],
        "loss": {"kind": "square"},
        "reduction": "sum",
    }
    return network, dataset


# ---------------------------------------------------------------------------------------------
# Canonical strings, bit lengths and the hash every peer's result is compared by


def _parts(x) -> tuple[int, int]:
    """(numerator, denominator) as Python ints of an int, Fraction, gmpy2 mpq or flint fmpq."""
    if isinstance(x, int):
        return x, 1
    return int(x.numerator), int(x.denominator)


def _int_str(n: int) -> str:
    if n.bit_length() < _SMALL_BITS:
        return str(n)
    import flint
    return str(flint.fmpz(n))


def fraction_str(x) -> str:
    """The canonical "p/q" (or "p" when q = 1) of a rational; strings are taken as canonical."""
    if isinstance(x, str):
        return x
    if type(x).__module__.startswith(("flint", "gmpy2")):
        return str(x)  # FLINT's and GMP's printers: reduced "p/q" or "p", and fast
    numerator, denominator = _parts(x)
    if denominator == 1:
        return _int_str(numerator)
    return f"{_int_str(numerator)}/{_int_str(denominator)}"


def bit_length(x) -> int:
    """docs/formats.md's size of p/q in lowest terms: bitlen(|p|) + bitlen(q)."""
    numerator, denominator = _parts(x)
    return abs(numerator).bit_length() + denominator.bit_length()


def iter_canonical(loss, grads_W, grads_b):
    """The values in hash order: loss, dW_1 .. dW_L (each row-major), db_1 .. db_L."""
    yield loss
    for matrix in grads_W:
        for row in matrix:
            yield from row
    for vector in grads_b:
        yield from vector


def canonical_hash(loss, grads_W, grads_b) -> str:
    """sha256 of the canonical strings in `iter_canonical` order, each followed by a newline."""
    digest = hashlib.sha256()
    for value in iter_canonical(loss, grads_W, grads_b):
        digest.update(fraction_str(value).encode("ascii"))
        digest.update(b"\n")
    return digest.hexdigest()


def max_bit_length(loss, grads_W, grads_b) -> int:
    return max(bit_length(v) for v in iter_canonical(loss, grads_W, grads_b))
