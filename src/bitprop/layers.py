"""Find dense layers in a network, so that whole layers run as integer matrix products.

A network qualifies when it is a stack of fully connected layers: the sources are exactly the
inputs (no input injected at a non-source), every vertex at depth l >= 1 has exactly one
in-edge from each vertex at depth l - 1 and no other, all vertices of a layer share one
activation of a kind the dense kernel implements, and the outputs are distinct vertices of the
last layer. Anything else (any DAG) runs on the scalar kernel; both are exact and agree.
"""

from array import array
from dataclasses import dataclass
from functools import cached_property

#: Activation kinds the dense kernel implements (codes shared with _plan.pxd).
_DENSE_CODES = {"identity": 0, "relu": 1, "leaky_relu": 2, "monomial": 4}


@dataclass(frozen=True)
class DenseLayout:
    """Layer l's vertices by topological position; edge ids of its weight matrix (row i =
    layer l vertex i, column j = layer l-1 vertex j); the activation of each layer >= 1."""

    layers: tuple            # tuple of tuples of positions
    edge_ids: tuple          # per layer l >= 1: n_l * n_(l-1) edge ids, row-major
    activations: tuple       # per layer l >= 1: (code, Activation)
    output_rows: tuple       # per output coordinate: row in the last layer

    @property
    def widths(self):
        return [len(layer) for layer in self.layers]

    @cached_property
    def flat_edge_ids(self):
        """Every layer's edge ids, concatenated (what the kernel copies in one loop)."""
        return array("q", (e for ids in self.edge_ids for e in ids))


def _dense_code(activation):
    if activation.kind in ("identity", "relu", "leaky_relu"):
        return _DENSE_CODES[activation.kind]
    if activation.kind == "polynomial":
        c = activation.coefficients
        if len(c) >= 3 and all(x == 0 for x in c[:-1]):
            return _DENSE_CODES["monomial"]
    return None


def find_dense_layout(network, plan):
    """The DenseLayout of ``network`` (compiled as ``plan``), or None if it is not a stack of
    dense layers the dense kernel implements."""
    sources = [v for v in range(network.num_vertices) if network._activations[v] is None]
    if sorted(network._inputs) != sorted(sources) or not network.num_edges:
        return None
    by_depth = {}
    for position, depth in enumerate(plan.depth):
        by_depth.setdefault(depth, []).append(position)
    depth_count = max(by_depth) + 1
    layers = [tuple(plan.position[v] for v in network._inputs)]
    if sorted(layers[0]) != sorted(by_depth[0]):
        return None
    in_edges = {}
    for e in range(network.num_edges):
        in_edges.setdefault(plan.position[network._targets[e]], []).append(e)
    edge_ids, activations = [], []
    for depth in range(1, depth_count):
        layer = tuple(by_depth[depth])
        previous = {p: j for j, p in enumerate(layers[-1])}
        first = network._activations[plan.order[layer[0]]]
        code = _dense_code(first)
        if code is None:
            return None
        ids = []
        for position in layer:
            if network._activations[plan.order[position]] != first:
                return None
            row = [None] * len(previous)
            for e in in_edges.get(position, ()):
                j = previous.get(plan.position[network._sources[e]])
                if j is None or row[j] is not None:
                    return None
                row[j] = e
            if None in row:
                return None
            ids.extend(row)
        layers.append(layer)
        edge_ids.append(tuple(ids))
        activations.append((code, first))
    last = {p: i for i, p in enumerate(layers[-1])}
    outputs = [plan.position[v] for v in network._outputs]
    if len(set(outputs)) != len(outputs) or any(p not in last for p in outputs):
        return None
    return DenseLayout(tuple(layers), tuple(edge_ids), tuple(activations),
                       tuple(last[p] for p in outputs))
