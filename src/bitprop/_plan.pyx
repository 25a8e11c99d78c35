# cython: language_level=3
"""Network -> Plan: flat C arrays (topological order, CSR in-edges, activation codes, the fmpq
parameter vector), built once; every array is owned here and freed in ``__dealloc__``."""

from array import array

from libc.stdlib cimport calloc, free
from bitprop._flint cimport (fmpq, slong, fmpq_add, fmpq_zero, fmpq_set, fmpq_mul_si,
                             _fmpq_vec_init, _fmpq_vec_clear)
from bitprop._convert cimport RationalVector, vector_copy, fmpq_set_fraction


cdef slong *_slongs(Py_ssize_t n) except NULL:
    cdef slong *p = <slong *>calloc(n + 1, sizeof(slong))
    if p == NULL:
        raise MemoryError()
    return p


cdef int *_ints(Py_ssize_t n) except NULL:
    cdef int *p = <int *>calloc(n + 1, sizeof(int))
    if p == NULL:
        raise MemoryError()
    return p


cdef class Plan:
    """The compiled form of a Network that every kernel reads (read-only while kernels run)."""

    def __cinit__(self, network):
        self.d.n = network.num_vertices
        self.d.n_edges = network.num_edges
        self.d.n_inputs = network.num_inputs
        self.d.n_outputs = network.num_outputs
        self.d.in_ptr, self.d.last_use = _slongs(self.d.n + 1), _slongs(self.d.n)
        self.d.in_edge, self.d.edge_src = _slongs(self.d.n_edges), _slongs(self.d.n_edges)
        self.d.edge_dst = _slongs(self.d.n_edges)
        self.d.input_slot, self.d.output_pos = _slongs(self.d.n), _slongs(self.d.n_outputs)
        self.d.is_output = <char *>calloc(self.d.n + 1, 1)
        self.d.vertex_act = _ints(self.d.n)
        self.d.weight = _fmpq_vec_init(self.d.n_edges + 1)
        self.d.bias = _fmpq_vec_init(self.d.n_edges + 1)
        self.d.bias_sum = _fmpq_vec_init(self.d.n + 1)
        if self.d.is_output == NULL:
            raise MemoryError()

    def __init__(self, network):
        self._build_topology(network)
        self._build_activations(network)
        self.set_parameters(network._weights, network._biases)

    def __dealloc__(self):
        free(self.d.in_ptr); free(self.d.in_edge); free(self.d.edge_src); free(self.d.edge_dst)
        free(self.d.last_use); free(self.d.input_slot); free(self.d.output_pos); free(self.d.is_output)
        free(self.d.vertex_act); free(self.d.act_code); free(self.d.act_inner); free(self.d.act_flags)
        free(self.column_of)
        free(self.d.act_off); free(self.d.act_len); free(self.d.act_bits)
        if self.d.weight != NULL:
            _fmpq_vec_clear(self.d.weight, self.d.n_edges + 1)
        if self.d.bias != NULL:
            _fmpq_vec_clear(self.d.bias, self.d.n_edges + 1)
        if self.d.bias_sum != NULL:
            _fmpq_vec_clear(self.d.bias_sum, self.d.n + 1)
        if self.d.pool != NULL:
            _fmpq_vec_clear(self.d.pool, self.d.pool_len + 1)

    def _build_topology(self, network):
        cdef slong p, e, k, n = self.d.n
        cdef const long[:] sources = network._sources, targets = network._targets
        cdef slong *position = _slongs(n)
        cdef slong *fill = _slongs(n)
        try:
            self.order = list(network._order)
            self.position = [0] * n
            for p, v in enumerate(self.order):
                self.position[v] = p
                position[<slong>v] = p
            self.depth = [network._depths[v] for v in self.order]
            self.names = [network._names[v] for v in self.order]
            for e in range(self.d.n_edges):        # in_ptr[p + 1] counts the in-edges of p
                self.d.edge_src[e] = position[<slong>sources[e]]
                self.d.edge_dst[e] = position[<slong>targets[e]]
                self.d.in_ptr[self.d.edge_dst[e] + 1] += 1
            for p in range(n):
                self.d.in_ptr[p + 1] += self.d.in_ptr[p]
                fill[p] = self.d.in_ptr[p]
                self.d.last_use[p] = -1
                self.d.input_slot[p] = -1
            for e in range(self.d.n_edges):
                k = fill[self.d.edge_dst[e]]
                self.d.in_edge[k] = e
                fill[self.d.edge_dst[e]] = k + 1
                if self.d.edge_dst[e] > self.d.last_use[self.d.edge_src[e]]:
                    self.d.last_use[self.d.edge_src[e]] = self.d.edge_dst[e]
        finally:
            free(position)
            free(fill)
        for slot, v in enumerate(network._inputs):
            self.d.input_slot[self.position[v]] = slot
        for o, v in enumerate(network._outputs):
            self.d.output_pos[o] = self.position[v]
            self.d.is_output[self.position[v]] = 1

    def _build_activations(self, network):
        entries, params = [], []
        index = {}

        def flatten(act):
            if act in index:
                return index[act]
            inner = flatten(act.inner) if act.kind == "rounded" else -1
            code, values, length, bits, flags = _encode(act)
            entries.append((code, inner, flags, len(params), length, bits))
            params.extend(values)
            index[act] = len(entries) - 1
            return index[act]

        kinds, labels = [], {}
        for p, v in enumerate(self.order):
            act = network._activations[v]
            self.d.vertex_act[p] = -1 if act is None else flatten(act)
            kinds.append("source" if act is None else labels.setdefault(act, str(act)))
        self.activation_kinds = kinds
        self.d.n_acts = len(entries)
        m = self.d.n_acts
        self.d.act_code, self.d.act_inner, self.d.act_flags = _ints(m), _ints(m), _ints(m)
        self.d.act_off, self.d.act_len, self.d.act_bits = _slongs(m), _slongs(m), _slongs(m)
        for a, (code, inner, flags, off, length, bits) in enumerate(entries):
            self.d.act_code[a], self.d.act_inner[a], self.d.act_flags[a] = code, inner, flags
            self.d.act_off[a], self.d.act_len[a], self.d.act_bits[a] = off, length, bits
        self.d.pool_len = len(params)
        self.d.pool = _fmpq_vec_init(self.d.pool_len + 1)
        for i, q in enumerate(params):
            fmpq_set_fraction(&self.d.pool[i], q)

    def set_parameters(self, RationalVector weights, RationalVector biases):
        """Load edge weights and biases (edge order) and refresh the bias sums."""
        cdef slong e
        for e in range(self.d.n_edges):
            fmpq_set(&self.d.weight[e], weights._entry(e))
            fmpq_set(&self.d.bias[e], biases._entry(e))
        self.refresh_bias_sums()

    cdef void refresh_bias_sums(self) noexcept nogil:
        cdef slong p, e
        for p in range(self.d.n):
            fmpq_zero(&self.d.bias_sum[p])
        for e in range(self.d.n_edges):
            fmpq_add(&self.d.bias_sum[self.d.edge_dst[e]], &self.d.bias_sum[self.d.edge_dst[e]],
                     &self.d.bias[e])

    def parameters(self):
        """(weights, biases) in edge order, as RationalVectors (copies, so that the plan's
        own may change in the next step)."""
        return (vector_copy(self.d.weight, self.d.n_edges),
                vector_copy(self.d.bias, self.d.n_edges))

    def in_sources(self):
        """Per position: the positions its in-edges come from, sorted (repeats kept)."""
        cdef slong p, k
        return [tuple(sorted(self.d.edge_src[self.d.in_edge[k]]
                             for k in range(self.d.in_ptr[p], self.d.in_ptr[p + 1])))
                for p in range(self.d.n)]

    def last_uses(self):
        """Per position: the last position that reads its f (-1: none)."""
        cdef slong p
        return [self.d.last_use[p] for p in range(self.d.n)]

    def out_degrees(self):
        """Per position: how many edges leave it, as an array('q')."""
        cdef slong e
        degrees = array("q", [0]) * self.d.n
        cdef long long[::1] out = degrees
        for e in range(self.d.n_edges):
            out[self.d.edge_src[e]] += 1
        return degrees

    def matrix_edges(self, rows, columns):
        """Edge ids of the weight matrix from positions ``columns`` into positions ``rows``,
        row-major as an array('q') with -1 where there is no edge; None when a row vertex
        has an in-edge from outside ``columns`` or two from one column (layers.py). Costs
        the rows' in-edges and the columns, not the network's size: the position -> column
        scratch is allocated once and only the columns' entries are set and reset."""
        cdef slong n_cols = len(columns), i, j, k, e, p
        if self.column_of == NULL:
            self.column_of = _slongs(self.d.n)      # all 0 between calls: not a column
        ids = array("q", [-1]) * (len(rows) * n_cols)
        cdef long long[::1] out = ids
        try:
            for j, p in enumerate(columns):
                self.column_of[p] = j + 1
            for i, p in enumerate(rows):
                for k in range(self.d.in_ptr[p], self.d.in_ptr[p + 1]):
                    e = self.d.in_edge[k]
                    j = self.column_of[self.d.edge_src[e]] - 1
                    if j < 0 or out[i * n_cols + j] >= 0:
                        return None
                    out[i * n_cols + j] = e
        finally:
            for p in columns:
                self.column_of[p] = 0
        return ids

    @property
    def n(self):
        return self.d.n

    @property
    def n_edges(self):
        return self.d.n_edges

    @property
    def n_inputs(self):
        return self.d.n_inputs

    @property
    def n_outputs(self):
        return self.d.n_outputs


def _encode(act):
    """(code, pool values, length, bits, flags) of one activation entry."""
    from fractions import Fraction
    kind = act.kind
    if kind == "identity":
        return ACT_IDENTITY, [], 0, 0, 0
    if kind == "relu":
        return ACT_RELU, [], 0, 0, 0
    if kind == "leaky_relu":
        return ACT_LEAKY, [act.slope], 1, 0, 0
    if kind == "polynomial":
        c = list(act.coefficients)
        degree = len(c) - 1
        if degree >= 2 and all(x == 0 for x in c[:-1]):   # c z^d: powers, no Horner
            return ACT_MONO, [c[-1], degree * c[-1]], 2, degree, 0
        derivative = [i * c[i] for i in range(1, degree + 1)]
        return ACT_POLY, c + derivative, degree + 1, 0, 0
    if kind == "piecewise_linear":
        values = list(act.breakpoints) + list(act.slopes) + list(act.intercepts)
        return ACT_PWL, values, len(act.breakpoints), 0, 0
    flags = (ROUND_NEAREST if act.mode == "nearest" else 0) | \
            (ROUND_BACKWARD_ZERO if act.backward == "zero" else 0)
    values = []
    if act.clip is not None:
        flags |= ROUND_CLIP
        values = list(act.clip)
    return ACT_ROUNDED, values, len(values), act.bits, flags


def topological_order(Py_ssize_t n, const long[:] sources, const long[:] targets):
    """(order, depths) of the graph on vertices 0..n-1 with edges sources[e] -> targets[e]:
    Kahn's algorithm with a FIFO queue, each vertex's out-edges in edge order, in C (as
    Python loops it was a visible part of loading a network). On a cycle, (None, indegree): the
    vertices left with indegree > 0 are those on or after a cycle."""
    cdef Py_ssize_t m = sources.shape[0], e, k, head = 0, tail = 0, u, v
    cdef slong *out_ptr = _slongs(n + 1)
    cdef slong *out_vertex = NULL
    cdef slong *indegree = NULL
    cdef slong *depth = NULL
    cdef slong *order = NULL
    try:
        out_vertex, indegree = _slongs(m), _slongs(n)
        depth, order = _slongs(n), _slongs(n)
        for e in range(m):
            out_ptr[<slong>sources[e] + 1] += 1
            indegree[<slong>targets[e]] += 1
        for u in range(n):
            out_ptr[u + 1] += out_ptr[u]
        for e in range(m):                      # out_vertex filled in edge order per source
            u = sources[e]
            out_vertex[out_ptr[u]] = targets[e]
            out_ptr[u] += 1
        for u in range(n - 1, 0, -1):           # undo the fill's shift of out_ptr
            out_ptr[u] = out_ptr[u - 1]
        out_ptr[0] = 0
        for u in range(n):
            if indegree[u] == 0:
                order[tail] = u
                tail += 1
        while head < tail:
            u = order[head]
            head += 1
            for k in range(out_ptr[u], out_ptr[u + 1]):
                v = out_vertex[k]
                if depth[v] < depth[u] + 1:
                    depth[v] = depth[u] + 1
                indegree[v] -= 1
                if indegree[v] == 0:
                    order[tail] = v
                    tail += 1
        if tail < n:
            return None, [indegree[u] for u in range(n)]
        return [order[k] for k in range(n)], [depth[u] for u in range(n)]
    finally:
        free(out_ptr); free(out_vertex); free(indegree); free(depth); free(order)
