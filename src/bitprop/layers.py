"""Find dense layers in a network, so that whole layers run as integer matrix products.

A whole network is a *dense stack* (``find_dense_layout``) when it is a stack of fully
connected layers: the sources are exactly the inputs (no input injected at a non-source),
every vertex at depth l >= 1 has exactly one in-edge from each vertex at depth l - 1 and no
other, all vertices of a layer share one activation of a kind the dense kernel implements, and
the outputs are distinct vertices of the last layer.

Any other DAG may still hold *dense blocks* (``find_dense_blocks``): a layer is a set of
vertices with the same activation (of those kinds), no injected input, and one in-edge from
each vertex of the same predecessor set (or, merged, the vertices of one depth and activation
with zero weights for their missing edges, while at least half the matrix is edges);
consecutive layers chain into one block while every vertex of a layer is read only by the
next layer and is no output. Blocks run as matrix products inside the scalar kernel's sweep
(bitprop._sweep, on the dense-block engine of bitprop._dense).

What is left may still hold *sparse blocks* (``find_sparse_blocks``): runs of consecutive
positions whose vertices have one of those activations and no injected input, however they
are wired (convolutions, pooling trees, skip connections, unrolled recurrences). They run
level by level on integer columns (bitprop._sparse); everything else stays scalar.
"""

from array import array
from dataclasses import dataclass
from functools import cached_property

from ._codes import ActivationCode

#: Activation kinds the dense kernel implements, and their kernel codes.
_DENSE_CODES = {"identity": ActivationCode.ACT_IDENTITY, "relu": ActivationCode.ACT_RELU,
                "leaky_relu": ActivationCode.ACT_LEAKY, "monomial": ActivationCode.ACT_MONO}


@dataclass(frozen=True)
class DenseLayout:
    """Layer l's vertices by topological position; edge ids of its weight matrix (row i =
    layer l vertex i, column j = layer l-1 vertex j); the activation of each layer >= 1."""

    layers: tuple            # tuple of tuples of positions
    edge_ids: tuple          # per layer l >= 1: n_l * n_(l-1) edge ids, row-major, array('q')
                             # (-1: no such edge, a zero weight; only in blocks, not stacks)
    activations: tuple       # per layer l >= 1: (code, Activation)
    output_rows: tuple       # per output coordinate: row in the last layer
    # Several blocks, one after the other: the layers that are a block's inputs (layer 0 of
    # a dense stack; in a mixed plan each block's predecessors, whose edge_ids are empty and
    # activation None: no weights lead into them).
    starts: tuple = (0,)

    @property
    def widths(self):
        return [len(layer) for layer in self.layers]

    @cached_property
    def flat_edge_ids(self):
        """Every layer's edge ids, concatenated (what the kernel copies in one loop)."""
        flat = array("q")
        for ids in self.edge_ids:
            flat.extend(ids)
        return flat


def _dense_code(activation):
    if activation.kind in ("identity", "relu", "leaky_relu"):
        return _DENSE_CODES[activation.kind]
    if activation.kind == "polynomial":
        c = activation.coefficients
        if len(c) >= 3 and not any(c[:-1]):
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
    edge_ids, activations = [], []
    for depth in range(1, depth_count):
        layer = tuple(by_depth[depth])
        first = network._activations[plan.order[layer[0]]]
        code = _dense_code(first)
        if code is None or any(network._activations[plan.order[p]] != first for p in layer):
            return None
        ids = plan.matrix_edges(layer, layers[-1])     # every entry an edge, no other edge
        if ids is None or -1 in ids:
            return None
        layers.append(layer)
        edge_ids.append(ids)
        activations.append((code, first))
    last = {p: i for i, p in enumerate(layers[-1])}
    outputs = [plan.position[v] for v in network._outputs]
    if len(set(outputs)) != len(outputs) or any(p not in last for p in outputs):
        return None
    return DenseLayout(tuple(layers), tuple(edge_ids), tuple(activations),
                       tuple(last[p] for p in outputs))


#: A layer merged from several (see _dense_layers) keeps at least this share of its weight
#: matrix as edges; the other entries are zeros the products multiply for nothing.
MIN_LAYER_DENSITY = 0.5

#: Blocks with fewer edges stay on the scalar kernel: there a matrix product's conversions
#: (one common denominator per column in, one canonical value per entry out) cost more than
#: the scalar multiply-adds they replace.
MIN_BLOCK_EDGES = 32


def find_dense_blocks(network, plan, min_edges=MIN_BLOCK_EDGES):
    """The dense blocks of any network (compiled as ``plan``), as one DenseLayout whose
    ``starts`` are each block's input layer, in the order the blocks run; None if none."""
    layers = _dense_layers(network, plan)
    reading = {frozenset(sources): g for g, (_, sources, _, _) in enumerate(layers)}
    out_degree = plan.out_degrees()
    outputs = {plan.position[v] for v in network._outputs}

    def follows(g):
        """The layer that layer g chains into (the one that reads exactly g's vertices, and
        every edge out of them), or None."""
        members = layers[g][0]
        h = reading.get(frozenset(members))
        if h is None or any(p in outputs for p in members):
            return None
        return h if sum(out_degree[p] for p in members) == layers[h][2] else None

    successor = {g: follows(g) for g in range(len(layers))}
    chained = set(h for h in successor.values() if h is not None)
    blocks = []
    for g in range(len(layers)):
        if g in chained:
            continue
        chain = [g]
        while successor[chain[-1]] is not None:
            chain.append(successor[chain[-1]])
        if sum(layers[h][2] for h in chain) >= min_edges:
            blocks.append(chain)
    if not blocks:
        return None
    blocks.sort(key=lambda chain: min(layers[chain[0]][0]))     # by trigger position
    all_layers, edge_ids, activations, starts = [], [], [], []
    for chain in blocks:
        starts.append(len(all_layers))
        all_layers.append(layers[chain[0]][1])
        edge_ids.append(array("q"))
        activations.append(None)
        for h in chain:
            members, _, _, activation = layers[h]
            edge_ids.append(plan.matrix_edges(members, all_layers[-1]))
            all_layers.append(members)
            activations.append(activation)
    return DenseLayout(tuple(all_layers), tuple(edge_ids[1:]), tuple(activations[1:]), (),
                       tuple(starts))


#: Sparse blocks with fewer in-edges stay scalar (the same trade as MIN_BLOCK_EDGES).
MIN_SPARSE_EDGES = 32

#: A sparse level's read of fewer in-edges sums row by row, not as a matrix product (a
#: product's fixed cost, its views and one fmpz_mat_mul call, is spread over too little; the
#: value is a choice, not a measured rule: "mixed" takes every read as a product it can).
MIN_PRODUCT_EDGES = 64


@dataclass(frozen=True)
class SparseLayout:
    """Sparse blocks in the order they run: each a tuple of levels (tuples of positions),
    level 0 the positions it reads from outside, then its vertices by depth and
    activation; ``exported``: the positions read outside their block, or outputs;
    ``weight_class``: per edge, a number that edges share only when their weights are one
    shared parameter (so equal), which lets convolutions run as matrix products (reads of
    at least ``min_product_edges`` in-edges, bitprop._sparse)."""

    blocks: tuple
    exported: frozenset
    weight_class: object = None
    min_product_edges: int = MIN_PRODUCT_EDGES


def find_sparse_blocks(network, plan, taken=(), min_edges=MIN_SPARSE_EDGES,
                       min_product_edges=MIN_PRODUCT_EDGES):
    """The sparse blocks of ``network`` (compiled as ``plan``) outside the positions
    ``taken`` (dense blocks' vertices), as a SparseLayout; None if there is none. A block is
    a maximal run of consecutive positions that qualify, so that everything it reads from
    outside comes before it in the sweep and everything else that reads it after."""
    taken = set(taken)
    injected = {plan.position[v] for v in network._inputs}
    in_sources = plan.in_sources()
    last_use = plan.last_uses()
    outputs = {plan.position[v] for v in network._outputs}

    def qualifies(p):
        return (p not in taken and p not in injected and in_sources[p]
                and _dense_code(network._activations[plan.order[p]]) is not None)

    runs, run = [], []
    for p in range(plan.n + 1):
        if p < plan.n and qualifies(p):
            run.append(p)
            continue
        if run and sum(len(in_sources[q]) for q in run) >= min_edges:
            runs.append(run)
        run = []
    if not runs:
        return None
    blocks, exported = [], set()
    for run in runs:
        members, end = set(run), run[-1]
        reads = sorted({u for p in run for u in in_sources[p] if u not in members})
        levels = {}
        for p in run:
            key = (plan.depth[p], network._activations[plan.order[p]])
            levels.setdefault(key, []).append(p)
        ordered = sorted(levels.values(), key=lambda level: (plan.depth[level[0]], level[0]))
        blocks.append((tuple(reads),) + tuple(tuple(level) for level in ordered))
        exported.update(p for p in run if last_use[p] > end or p in outputs)
    return SparseLayout(tuple(blocks), frozenset(exported), weight_classes(network),
                        min_product_edges)


def weight_classes(network):
    """Per edge: the shared parameter its weight is bound to, else a number of its own
    (one past the parameters' numbers and up)."""
    classes = array("q", range(len(network._parameter_names),
                               len(network._parameter_names) + network.num_edges))
    ptr, coords = network._param_ptr, network._param_coords
    for p in range(len(network._parameter_names)):
        for c in coords[ptr[p]:ptr[p + 1]]:
            if not c & 1:
                classes[c >> 1] = p
    return classes


def _dense_layers(network, plan):
    """Every maximal layer: (member positions, predecessor positions, number of edges,
    (code, activation)); members and predecessors in topological order. Vertices fed by the
    same predecessors make one layer; the layers of one depth and activation merge into one
    whose missing edges are zero weights, while that keeps at least MIN_LAYER_DENSITY of its
    matrix (a residual layer: every vertex adds a skip edge); when they do not merge, they are
    slices of one sparse layer (a convolution: one small dense layer per position) and are
    left to the sparse blocks, which run the whole layer at once."""
    injected = {plan.position[v] for v in network._inputs}
    groups = {}
    for p, sources in enumerate(plan.in_sources()):
        activation = network._activations[plan.order[p]]
        if (not sources or _dense_code(activation) is None or p in injected
                or len(set(sources)) != len(sources)):
            continue
        groups.setdefault((sources, activation), []).append(p)
    levels = {}
    for (sources, activation), members in groups.items():
        levels.setdefault((plan.depth[members[0]], activation), []).append((sources, members))
    layers = []
    for (_, activation), parts in levels.items():
        union = tuple(sorted(set().union(*(sources for sources, _ in parts))))
        members = tuple(sorted(p for _, part in parts for p in part))
        edges = sum(len(sources) * len(part) for sources, part in parts)
        # merged only when every predecessor comes before every member in the sweep: a
        # block runs at its first member and reads all of its layer 0 there
        dense = edges >= MIN_LAYER_DENSITY * len(union) * len(members)
        if len(parts) > 1 and not (dense and union[-1] < members[0]):
            continue        # slices of a sparse layer (a convolution's positions): sparse
        if len(parts) == 1:
            union, members = parts[0]
        layers.append((tuple(members), union, edges, (_dense_code(activation), activation)))
    return layers
