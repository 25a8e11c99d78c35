"""The float reference: a network's loss and gradient in float32 or float64 with numpy, as a
framework computes them, for ``bitprop compare`` to hold against the exact ones.

This is not a second exact path: every value is a float, rounded at every operation. The
pass follows the same DAG and the same rules as the kernels (docs/formats.md: the activation
and loss tables, sigma'(0) of relu is 0), level by level: the vertices of one depth (longest
path from a source) only read vertices of smaller depths, so each level is a few vectorised
numpy operations over all samples and all its in-edges at once. Parameters and inputs are
rounded to the float type once (to the nearest double, then to float32 for float32).
"""

from dataclasses import dataclass, field

import numpy

from .evaluation import as_dataset, loss_scales

DTYPES = {"float32": numpy.float32, "float64": numpy.float64}
#: ldexp's exponents are clamped here: past it every float scaled by 2^e is 0 or inf anyway.
_EXPONENT_LIMIT = 4200


@dataclass
class FloatGradResult:
    """L(theta), dL/dw and dL/db per edge (edge order), and each shared parameter's gradient
    (the float sum of its coordinates'), computed in ``dtype``.

    >>> net = bitprop.Network(["x", ("h", "relu"), ("o", "identity")],
    ...                       [("x", "h", 2, -1), ("h", "o", 3, 0)], ["x"], ["o"])
    >>> result = float_grad(net, bitprop.Dataset([["3/2"]], [[1]]))
    >>> float(result.loss), result.grad_weight.tolist(), result.grad_bias.tolist()
    (25.0, [45.0, 20.0], [30.0, 10.0])
    """

    dtype: str
    loss: numpy.floating
    grad_weight: numpy.ndarray
    grad_bias: numpy.ndarray
    outputs: numpy.ndarray          # (samples, outputs)
    parameters: dict = field(default_factory=dict)


class FloatGraph:
    """A network's levels as index arrays, built once: per level its vertices, its in-edges
    sorted by target (for the forward sums) and by source (for the backward sums)."""

    def __init__(self, network):
        # the network's edge columns (vertex indices, in edge order), read as they are
        names = network.names
        index = {name: v for v, name in enumerate(names)}
        self.n, self.n_edges = len(names), network.num_edges
        depth = numpy.array([network.vertex_depth(name) for name in names], dtype=numpy.int64)
        source = numpy.asarray(network._sources, dtype=numpy.int64)
        target = numpy.asarray(network._targets, dtype=numpy.int64)
        self.weights = [_float(w) for w in network.weights]
        self.biases = [_float(b) for b in network.biases]
        self.inputs = numpy.array([index[name] for name in network.inputs], dtype=numpy.int64)
        self.outputs = numpy.array([index[name] for name in network.outputs], dtype=numpy.int64)
        activations = [network.activation(name) for name in names]
        self.levels = [_Level(numpy.flatnonzero(depth == d), source, target, depth, d,
                              activations) for d in range(1, int(depth.max(initial=0)) + 1)]
        at_source = depth[self.inputs] == 0
        self.source_slots = numpy.flatnonzero(at_source)
        self.injected = {}          # level -> [(position in the level, input slot)]
        for slot in numpy.flatnonzero(~at_source):
            v = self.inputs[slot]
            level = self.levels[depth[v] - 1]
            self.injected.setdefault(depth[v] - 1, []).append(
                (int(numpy.searchsorted(level.vertices, v)), int(slot)))
        self.parameter_edges = network.parameter_edges

    def grad(self, dataset, dtype):
        """(FloatGradResult) of ``dataset`` (checked against the network) in ``dtype``;
        overflows give inf and nan, as in any float evaluation, without warnings."""
        with numpy.errstate(all="ignore"):
            return self._grad(dataset, dtype)

    def _grad(self, dataset, dtype):
        kind = numpy.dtype(dtype)
        weights = numpy.array(self.weights, dtype=numpy.float64).astype(kind)
        biases = numpy.array(self.biases, dtype=numpy.float64).astype(kind)
        x = _matrix(dataset.inputs, len(self.inputs), kind)
        f = numpy.zeros((len(dataset), self.n), dtype=kind)
        z = numpy.zeros_like(f)
        f[:, self.inputs[self.source_slots]] = x[:, self.source_slots]
        for d, level in enumerate(self.levels):
            level.forward(f, z, weights, biases, x, self.injected.get(d, ()))
        outputs = f[:, self.outputs]
        y = _matrix(dataset.labels, len(self.outputs), kind)
        scales = numpy.array([float(s) for s in loss_scales(dataset)]).astype(kind)
        loss, adjoint_out = _loss(dataset.loss, outputs, y, scales)
        df = numpy.zeros_like(f)
        numpy.add.at(df, (slice(None), self.outputs), adjoint_out)
        grad_weight = numpy.zeros(self.n_edges, dtype=kind)
        grad_bias = numpy.zeros(self.n_edges, dtype=kind)
        for level in reversed(self.levels):
            level.backward(f, z, df, weights, grad_weight, grad_bias)
        result = FloatGradResult(kind.name, loss, grad_weight, grad_bias, outputs)
        for name, coordinates in self.parameter_edges.items():
            column = {"weight": grad_weight, "bias": grad_bias}
            result.parameters[name] = sum((column[c][e] for e, c in coordinates), kind.type(0))
        return result


class _Level:
    """The vertices of one depth and their in-edges."""

    def __init__(self, vertices, source, target, depth, d, activations):
        self.vertices = vertices                            # sorted vertex indices
        edges = numpy.flatnonzero(depth[target] == d)
        local = numpy.searchsorted(vertices, target[edges])
        order = numpy.argsort(local, kind="stable")
        self.edges, self.local = edges[order], local[order]     # sorted by target
        self.source = source[self.edges]
        self.starts = numpy.flatnonzero(numpy.r_[True, self.local[1:] != self.local[:-1]])
        by_source = numpy.argsort(self.source, kind="stable")
        self.by_source = by_source
        sorted_sources = self.source[by_source]
        self.source_starts = numpy.flatnonzero(
            numpy.r_[True, sorted_sources[1:] != sorted_sources[:-1]])
        self.sources = sorted_sources[self.source_starts]
        by_object = {}                  # grouped by object first: an Activation hashes slowly
        for position, v in enumerate(vertices):
            by_object.setdefault(id(activations[v]), []).append(position)
        groups = {}
        for positions in by_object.values():
            groups.setdefault(activations[vertices[positions[0]]], []).extend(positions)
        self.groups = [(act, numpy.array(sorted(positions))) for act, positions in groups.items()]

    def forward(self, f, z, weights, biases, x, injected):
        terms = f[:, self.source] * weights[self.edges] + biases[self.edges]
        sums = numpy.add.reduceat(terms, self.starts, axis=1)
        for position, slot in injected:
            sums[:, position] += x[:, slot]
        z[:, self.vertices] = sums
        out = numpy.empty_like(sums)
        for act, positions in self.groups:
            out[:, positions] = value(act, sums[:, positions])
        f[:, self.vertices] = out

    def backward(self, f, z, df, weights, grad_weight, grad_bias):
        pre = z[:, self.vertices]
        dz = numpy.empty_like(pre)
        for act, positions in self.groups:
            dz[:, positions] = df[:, self.vertices[positions]] * derivative(
                act, pre[:, positions])
        per_edge = dz[:, self.local]
        grad_weight[self.edges] = (per_edge * f[:, self.source]).sum(axis=0)
        grad_bias[self.edges] = per_edge.sum(axis=0)
        back = (per_edge * weights[self.edges])[:, self.by_source]
        df[:, self.sources] += numpy.add.reduceat(back, self.source_starts, axis=1)


def _float(q):
    """The double nearest the rational ``q`` (int / int rounds correctly), +-inf past the
    largest."""
    try:
        return q.numerator / q.denominator
    except OverflowError:
        return float("inf") if q > 0 else float("-inf")


def _matrix(vectors, width, kind):
    """Rows of Fractions as a (rows, width) array of ``kind``."""
    rows = numpy.array([[_float(q) for q in row] for row in vectors], dtype=numpy.float64)
    return rows.reshape(len(vectors), width).astype(kind)


def value(act, z):
    """sigma(z) of the activation table, in z's float type."""
    kind = act.kind
    if kind == "identity":
        return z.copy()
    if kind == "relu":
        return numpy.maximum(z, z.dtype.type(0))
    if kind == "leaky_relu":
        return numpy.where(z > 0, z, z * z.dtype.type(float(act.slope)))
    if kind == "polynomial":
        return _horner([float(c) for c in act.coefficients], z)
    if kind == "piecewise_linear":
        piece = numpy.searchsorted(_floats(act.breakpoints, z), z, side="left")
        return _floats(act.slopes, z)[piece] * z + _floats(act.intercepts, z)[piece]
    rounded = _round(value(act.inner, z), act.bits, act.mode)
    if act.clip is not None:
        rounded = numpy.clip(rounded, *(_floats(act.clip, z)))
    return rounded


def derivative(act, z):
    """sigma'(z) as backprop uses it (the table's last column), in z's float type."""
    kind = act.kind
    one, zero = z.dtype.type(1), z.dtype.type(0)
    if kind == "identity":
        return numpy.full_like(z, one)
    if kind == "relu":
        return numpy.where(z > 0, one, zero)
    if kind == "leaky_relu":
        return numpy.where(z > 0, one, z.dtype.type(float(act.slope)))
    if kind == "polynomial":
        coefficients = [float(i * c) for i, c in enumerate(act.coefficients)][1:] or [0.0]
        return _horner(coefficients, z)
    if kind == "piecewise_linear":
        piece = numpy.searchsorted(_floats(act.breakpoints, z), z, side="left")
        return _floats(act.slopes, z)[piece]
    if act.backward == "zero":
        return numpy.zeros_like(z)
    return _round(derivative(act.inner, z), act.bits, act.mode)


def _floats(values, like):
    return numpy.array([float(v) for v in values], dtype=numpy.float64).astype(like.dtype)


def _horner(coefficients, z):
    out = numpy.full_like(z, z.dtype.type(coefficients[-1]))
    for c in reversed(coefficients[:-1]):
        out = out * z + z.dtype.type(c)
    return out


def _round(v, bits, mode):
    """``v`` rounded to a multiple of 2^-bits (floor, or nearest with ties to even). Where
    v * 2^bits overflows, v is a multiple of 2^-bits already (its last bit is worth more)."""
    scaled = numpy.ldexp(v, min(bits, _EXPONENT_LIMIT))
    whole = numpy.floor(scaled) if mode == "floor" else numpy.rint(scaled)
    with numpy.errstate(invalid="ignore"):
        return numpy.where(numpy.isfinite(scaled),
                           numpy.ldexp(whole, -min(bits, _EXPONENT_LIMIT)), v).astype(v.dtype)


def _loss(loss, f, y, scales):
    """(L, dL/df per sample and output) of the loss table, samples weighted by ``scales``."""
    kind, zero = loss.kind, f.dtype.type(0)
    if kind == "square":
        gap = f - y
        per = gap * gap
        slope = 2 * gap
    elif kind == "hinge":
        margin = 1 - y * f
        per = numpy.where(margin > 0, margin, zero)
        slope = numpy.where(margin > 0, -y, zero)
    elif kind in ("zero_one", "exact_fit"):
        per = (f != y).astype(f.dtype)
        if kind == "exact_fit":
            per = per.max(axis=1, keepdims=True, initial=zero)
        slope = numpy.zeros_like(f)
    else:                       # bit: bit k of floor(|f| 2^s), held against y
        shift = max(-_EXPONENT_LIMIT, min(loss.shift, _EXPONENT_LIMIT))
        index = max(-_EXPONENT_LIMIT, min(loss.index, _EXPONENT_LIMIT))
        with numpy.errstate(invalid="ignore", over="ignore"):
            whole = numpy.floor(numpy.ldexp(numpy.abs(f), shift))
            bit = numpy.mod(numpy.floor(numpy.ldexp(whole, -index)), 2)
        per = (bit != y).astype(f.dtype)
        slope = numpy.zeros_like(f)
    total = (per.sum(axis=1) * scales).sum()
    return total, slope * scales[:, None]


def float_grad(network, dataset, dtype="float64"):
    """The loss and gradient of ``network`` on ``dataset`` in ``dtype`` ("float32" or
    "float64"): a float reference for comparisons, see FloatGradResult.

    >>> net = bitprop.Network(["x", ("h", "square"), ("o", "identity")],
    ...                       [("x", "h", "1/3", 0), ("h", "o", 1, 0)], ["x"], ["o"])
    >>> data = bitprop.Dataset([[1]], [[0]])
    >>> float(bitprop.float_grad(net, data, "float32").loss), float(net.grad(data).loss)
    (0.012345680966973305, 0.012345679012345678)
    """
    dataset = as_dataset(dataset, network, require_labels=True)
    return FloatGraph(network).grad(dataset, DTYPES.get(dtype, dtype))
