# cython: language_level=3
# The dense-block engine: layers of dense units as integer matrix products (see _dense.pyx).
# Owned by the kernels that run dense layers: bitprop._stack (a whole stack) and
# bitprop._sweep (blocks inside any DAG).
from bitprop._flint cimport fmpz, fmpq, slong, fmpz_mat_struct
from bitprop._plan cimport Plan
from bitprop._pass cimport Pass, Worker
from bitprop._factored cimport PrimeBase, Factored
from bitprop._rules cimport ColumnRule

# How a layer's values f relate to its pre-activations z, for bit statistics (record).
cdef enum:
    F_OWN = 0          # f has sizes of its own: record them
    F_SAME = 1         # identity: f = z
    F_RELU = 2         # relu: f = z where z > 0, else 0 (1 bit)


cdef class DenseWeights:
    cdef slong L
    cdef fmpz_mat_struct *Wn         # index l - 1
    cdef fmpz_mat_struct *WnT
    cdef fmpz *bn                    # layer l's bias sums at bn_off[l]
    cdef slong *bn_off
    cdef slong bn_len
    cdef fmpz *D                     # index l
    cdef PrimeBase primes            # of the network's own denominators


cdef class DenseEngine:
    cdef Plan plan
    cdef readonly slong L            # layers after the first (of all blocks)
    cdef slong *width                # L + 1
    cdef slong *pos_off              # L + 2: layer l's positions are pos[pos_off[l]:pos_off[l+1]]
    cdef slong *pos
    cdef slong *edge_off             # L + 1: layer l's edge ids start at edge_off[l]
    cdef slong *edge_id
    cdef int *code                   # per layer: ACT_* (ACT_NONE: a block's input layer)
    cdef slong *degree               # monomial degree
    cdef fmpz *act_p                 # leaky slope p/q, or monomial coefficient p/q
    cdef fmpz *act_q
    cdef readonly DenseWeights weights
    # Backward: before a layer's barrier (Pass.barrier) a worker shares the layer in its
    # slot shared[k & 1], k the layers it shared before (Worker.shares); after the barrier
    # every worker computes its rows of that layer's gradients from all workers' slots
    # (taking one more barrier where they share residues). A slot is rewritten two layers
    # later, after the next layer's barrier, which nobody passes while still reading it.

    cdef void _scale_weights(self, DenseWeights dw) noexcept
    cdef void prepare(self, Pass run) except *
    cdef bint start(self, Pass run, Worker *w) noexcept nogil
    cdef void leave(self, Pass run, Worker *w, int result) noexcept nogil
    cdef int record(self, Pass run, Worker *w, slong l, slong step, fmpz_mat_struct *m,
                    const fmpz *den, int what, long *bits, int f_rule,
                    long *f_bits) noexcept nogil
    cdef int forward_layers(self, Pass run, Worker *w, slong l0, slong last,
                            slong step) noexcept nogil
    cdef int backward_layers(self, Pass run, Worker *w, slong l0, slong last, slong step,
                             fmpz_mat_struct *G, fmpz **gd, bint to_input) noexcept nogil
    cdef void column_ready(self, Worker *w, const fmpz *den) noexcept nogil
    cdef int _forward_layer(self, Pass run, Worker *w, slong l, slong step) noexcept nogil
    cdef void _activate(self, slong l, fmpz_mat_struct *z, fmpz *zd, fmpz_mat_struct *h,
                        fmpz *hd) noexcept nogil
    cdef void _derivative(self, slong l, fmpz_mat_struct *z, const fmpz *zd,
                          const fmpz_mat_struct *h, bint h_transposed, fmpz_mat_struct *gm,
                          fmpz *gd, fmpz *tmp) noexcept nogil
    cdef ColumnRule _rule(self, slong l) noexcept nogil
    cdef int _adjoint(self, Pass run, Worker *w, slong l, slong step,
                      const fmpz_mat_struct *h, bint h_transposed, fmpz_mat_struct *G,
                      fmpz *gd) noexcept nogil
    cdef int _gradient_rows(self, Pass run, Worker *w, slong l, int slot, slong r0,
                            slong rows) noexcept nogil
    cdef void _propagate(self, Worker *w, slong l, fmpz_mat_struct *out, fmpz *outd,
                         const fmpz_mat_struct *G, const fmpz *gd, slong cols,
                         bint leaves) noexcept nogil


cdef int activate_layer(Pass run, Worker *w, const ColumnRule *rule, fmpz_mat_struct *Z,
                        fmpz *zd, fmpz_mat_struct *H, fmpz *hd, const slong *positions,
                        slong step) noexcept nogil
cdef int predict_powers(Pass run, Worker *w, const ColumnRule *rule, fmpz_mat_struct *z,
                        const fmpz *zd, const slong *positions, slong step) noexcept nogil
cdef void set_sum(Pass run, fmpq *q, fmpz *num, const fmpz *den, const Factored *f,
                  fmpz *g, long *bits) noexcept nogil
cdef int record_rows(Pass run, Worker *w, fmpz_mat_struct *m, const fmpz *den,
                     const slong *positions, slong step, int what, long *bits, int f_rule,
                     long *f_bits) noexcept nogil
