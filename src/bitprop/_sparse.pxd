# cython: language_level=3
# Sparse blocks: runs of a DAG's vertices level by level on integer columns (see _sparse.pyx).
from bitprop._flint cimport fmpz, fmpq, slong, fmpz_mat_struct
from bitprop._plan cimport Plan
from bitprop._pass cimport Pass, Worker
from bitprop._factored cimport PrimeBase
from bitprop._columns cimport Columns
from bitprop._rules cimport ColumnRule


cdef struct BlockState:
    # One worker's values of one block: Columns by level (H, Z over hd, zd), and backward
    # dL/df by level (adjoint.H over adjoint.hd).
    Columns values
    Columns adjoint


cdef struct Product:
    # A level's sum over one level it reads as a matrix product (a convolution's im2col):
    # row dst[a * n_patches + p] (or -1) of the reading level sums kernel row a of K times
    # patch p, slot j of which is row src[p * n_slots + j] of the level read (or -1: zero).
    slong n_kernels, n_slots, n_patches
    fmpz_mat_struct K                # n_kernels x n_slots: weights * D of the level
    fmpz_mat_struct KT
    slong *src
    slong *dst


cdef class SparseBlocks:
    cdef Plan plan
    cdef readonly slong n_blocks
    cdef readonly slong most_levels  # the largest block's levels, its input level included
    cdef slong *level_off            # n_blocks + 1: block b's levels; the first is its input
    cdef slong *row_off              # levels + 1: level L's rows
    cdef slong *width                # per level
    cdef slong *pos                  # per row: position in the sweep
    cdef char *exported              # per row: read outside its block, or an output
    cdef char *wanted                # per level: its dL/df serves a gradient (not all sources)
    cdef ColumnRule *rule            # per level (code ACT_NONE: an input level)
    cdef fmpz *act_p                 # per level: the rule's p and q
    cdef fmpz *act_q
    cdef slong *edge_off             # rows + 1: row r's in-edges (input rows have none)
    cdef slong *edge_id              # per in-edge, grouped by source level
    cdef slong *src_level            # per in-edge: its source's level within the block
    cdef slong *src_row              # per in-edge: its source's row within that level
    cdef slong *read_off             # levels + 1: the levels (within the block) level L reads
    cdef slong *reads
    cdef readonly slong n_edges
    cdef fmpz *wn                    # per in-edge: weight * D of its level
    # The in-edges of each level again, sorted by (source level, source row): what
    # backward's dL/df sums for each source row read (out_wn, out_row: the reading row).
    cdef fmpz *out_wn
    cdef slong *out_level
    cdef slong *out_src
    cdef slong *out_row
    cdef fmpz *bn                    # per row: bias sum * D of its level
    cdef fmpz *D                     # per level: lcm of its weights' and bias sums' dens
    cdef PrimeBase primes            # of the network's own denominators
    cdef slong *product_of           # per read (as reads): its Product, or -1 (row by row)
    cdef Product *products
    cdef readonly slong n_products

    cdef slong mark(self, slong *block_of, char *vertex_set_once,
                    char *edge_set_once) noexcept
    cdef int forward(self, Pass run, Worker *w, slong b, BlockState *state, fmpq *F,
                     slong step) noexcept nogil
    cdef int backward(self, Pass run, Worker *w, slong b, BlockState *states, slong stride,
                      fmpq *F, fmpq *GF, slong step) noexcept nogil
    cdef void _connect(self) except *
    cdef void _scale_weights(self) noexcept
    cdef void _transpose(self) except *
    cdef int _forward_level(self, Pass run, Worker *w, Columns *c, slong L0, slong k,
                            slong step) noexcept nogil
    cdef int _record(self, Pass run, Worker *w, slong L, slong step, fmpz_mat_struct *m,
                     const fmpz *den, int what, long *bits, int f_rule,
                     long *f_bits) noexcept nogil
    cdef void _gather_adjoints(self, Pass run, Worker *w, slong L, fmpz_mat_struct *G,
                               fmpz *gd, fmpq *F, fmpq *GF) noexcept nogil
    cdef int _adjoint(self, Pass run, Worker *w, Columns *c, Columns *a, slong L, slong k,
                      slong step) noexcept nogil
    cdef void _send_all(self, Worker *w, Columns *c, Columns *a, slong L0,
                        slong k) noexcept nogil
    cdef void _gradient_rows(self, Pass run, Worker *w, BlockState *states, slong stride,
                             slong L0, slong k) noexcept nogil
    cdef void _send(self, Worker *w, Columns *a, slong L, slong k, slong m,
                    fmpz_mat_struct *G, const fmpz *gd) noexcept nogil
