# cython: language_level=3
from bitprop._flint cimport fmpq, slong
from bitprop._codes cimport *


cdef struct PlanData:
    # Vertices are renumbered by topological position; edges keep their file order.
    slong n, n_edges, n_inputs, n_outputs
    slong *in_ptr        # n + 1: in-edges of position p are in_edge[in_ptr[p]:in_ptr[p+1]]
    slong *in_edge       # n_edges edge ids grouped by head
    slong *edge_src      # per edge: position of its tail
    slong *edge_dst      # per edge: position of its head
    slong *last_use      # per position: last position reading f (-1: none)
    fmpq *weight         # per edge
    fmpq *bias           # per edge
    fmpq *bias_sum       # per position: sum of in-edge biases (the constant part of z)
    slong *input_slot    # per position: input coordinate, or -1
    slong *output_pos    # per output coordinate: position
    char *is_output      # per position
    int *vertex_act      # per position: activation entry, or -1 for a source
    int n_acts
    int *act_code
    int *act_inner
    int *act_flags
    slong *act_off       # offset of the entry's parameters in pool
    slong *act_len
    slong *act_bits      # degree of a monomial; k of a rounded activation
    fmpq *pool
    slong pool_len


cdef class Plan:
    cdef PlanData d                   # read-only while kernels run
    cdef readonly list order          # position -> vertex index in the network
    cdef readonly list position       # vertex index -> position
    cdef readonly list depth          # position -> depth (longest path from a source)
    cdef readonly list names          # position -> vertex name
    cdef readonly list activation_kinds   # position -> str(activation) or "source"
    cdef slong *column_of             # matrix_edges' scratch, all 0 between its calls
    cdef void refresh_bias_sums(self) noexcept nogil
