# cython: language_level=3
# Dense layers as integer matrix products (see _dense.pyx); shared with bitprop._mixed, which
# runs dense blocks inside the scalar kernel's sweep.
from bitprop._flint cimport fmpz, fmpq, slong, fmpz_mat_struct
from bitprop._kernels cimport Pass
from bitprop._factored cimport Factored

# Dense activation codes (layers.py); D_NONE marks a block's input layer.
cdef enum:
    D_NONE = -1
    D_IDENTITY = 0
    D_RELU = 1
    D_LEAKY = 2
    D_MONO = 4

# How a layer's values f relate to its pre-activations z, for bit statistics.
cdef enum:
    F_OWN = 0          # f has sizes of its own: record them
    F_SAME = 1         # identity: f = z
    F_RELU = 2         # relu: f = z where z > 0, else 0 (1 bit)


cdef struct Shared:
    # What a worker shares of layer l (its own samples as columns) while the gradient rows
    # of dL/dW_l and dL/db_l are computed from it.
    bint live
    slong cols
    fmpz_mat_struct G           # dL/dz_l, integers over gd
    fmpz *gd
    fmpz_mat_struct HT          # H_(l-1)^T
    fmpz *scaled                # gd * hd_(l-1): each column's denominator in G H^T
    fmpz lcm_scaled
    fmpz lcm_gd


cdef struct Columns:
    # One worker's layer values (columns = its samples), by layer: H[l], Z[l] integers over
    # one denominator per column hd[l][s], zd[l][s].
    slong layers
    slong cols
    fmpz_mat_struct *H
    fmpz_mat_struct *Z
    fmpz **hd
    fmpz **zd


cdef inline fmpz *at(fmpz_mat_struct *m, slong i, slong j) noexcept nogil:
    return m.rows[i] + j

cdef bint columns_init(Columns *c, const slong *width, slong layers, slong cols) noexcept nogil
cdef void columns_clear(Columns *c) noexcept nogil
cdef void load_columns(fmpz_mat_struct *m, fmpz *den, const fmpq *base, const slong *rows,
                       slong row_stride, slong col_stride, fmpz *tmp) noexcept nogil
cdef void normalize(fmpz_mat_struct *m, fmpz *den, Factored *f, fmpz *g,
                    fmpz *tmp) noexcept nogil
cdef void share(Shared *x, fmpz_mat_struct *G, fmpz *gd, fmpz_mat_struct *H, const fmpz *hd,
                slong cols) noexcept nogil
cdef void release(Shared *x) noexcept nogil


cdef class DenseWeights:
    cdef slong L
    cdef fmpz_mat_struct *Wn         # index l - 1
    cdef fmpz_mat_struct *WnT
    cdef fmpz *bn                    # layer l's bias sums at bn_off[l]
    cdef slong *bn_off
    cdef slong bn_len
    cdef fmpz *D                     # index l


cdef class DensePass(Pass):
    cdef slong L                     # weight layers
    cdef slong *width                # L + 1
    cdef slong *pos_off              # L + 2: layer l's positions are pos[pos_off[l]:pos_off[l+1]]
    cdef slong *pos
    cdef slong *edge_off             # L + 1: layer l's edge ids start at edge_off[l]
    cdef slong *edge_id
    cdef int *code                   # per layer l >= 1 (D_NONE: a block's input layer)
    cdef slong *degree               # monomial degree
    cdef fmpz *act_p                 # leaky slope p/q, or monomial coefficient p/q
    cdef fmpz *act_q
    cdef readonly DenseWeights weights
    cdef slong *out_row              # per output coordinate
    cdef Factored *fac               # per worker: scratch for factored denominators
    cdef int n_fac
    # Backward: worker t shares layer l in slot (l % 2) * threads + t; after a barrier every
    # worker computes its rows of layer l's gradients from all samples. Two slots per worker:
    # a slot is rewritten two layers later, when every worker has passed one more barrier.
    cdef Shared *shared
    cdef int arrived                 # arrivals at the layer barriers (atomic)
    cdef int left                    # workers done with shared memory (atomic)
    cdef int failed                  # a worker stopped early: nobody waits for it (atomic)
    cdef long *grad_bits             # per worker: max bits of the dL/dw, dL/db it set

    cdef void _scale_weights(self) noexcept
    cdef bint _smooth(self, unsigned int *mask, fmpz *tmp) noexcept
    cdef void _choose_factoring(self) noexcept
    cdef bint _barrier(self, int count) noexcept nogil
    cdef void _leave(self, int t, int result) noexcept nogil
    cdef int _record(self, int t, slong l, slong step, fmpz_mat_struct *m, const fmpz *den,
                     int what, long *bits, int f_rule, long *f_bits, fmpz *g,
                     fmpz *tmp) noexcept nogil
    cdef int _forward(self, int t, slong s0, Columns *c, fmpz *g, fmpz *tmp) noexcept nogil
    cdef int _forward_layer(self, int t, slong l, slong step, Columns *c, fmpz *g,
                            fmpz *tmp) noexcept nogil
    cdef void _activate(self, slong l, fmpz_mat_struct *z, fmpz *zd, fmpz_mat_struct *h,
                        fmpz *hd) noexcept nogil
    cdef void _derivative(self, slong l, fmpz_mat_struct *z, const fmpz *zd,
                          const fmpz_mat_struct *h, bint h_transposed, fmpz_mat_struct *gm,
                          fmpz *gd, fmpz *tmp) noexcept nogil
    cdef int _adjoint(self, int t, slong l, slong step, Columns *c, const fmpz_mat_struct *h,
                      bint h_transposed, fmpz_mat_struct *G, fmpz *gd, fmpz *g,
                      fmpz *tmp) noexcept nogil
    cdef void _propagate(self, int t, slong l, fmpz_mat_struct *out, fmpz *outd,
                         const Shared *x, fmpz *g, fmpz *tmp) noexcept nogil
    cdef int _outputs_and_loss(self, int t, slong s0, Columns *c, fmpz *g,
                               fmpz *tmp) noexcept nogil
    cdef int _backward(self, int t, slong s0, fmpq *gf, Columns *c, fmpz *g,
                       fmpz *tmp) noexcept nogil
    cdef void _gradient_rows(self, int t, slong l, const Shared *part, int parts, slong r0,
                             slong rows, fmpq *grad_w, fmpq *grad_z, fmpz *g,
                             fmpz *tmp) noexcept nogil
