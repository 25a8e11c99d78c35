# cython: language_level=3
# Integer columns over one denominator each: how the dense-block engine keeps a layer's values
# (samples are columns), and what a worker shares of a layer for the gradient rows.
from bitprop._flint cimport (fmpz, fmpq, slong, ulong, fmpz_mat_struct, fmpz_mat_clear,
                             fmpz_mat_init)
from bitprop._factored cimport Factored


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
    ulong *residues             # its samples' share of the residues of dL/dW_l (all rows)
                                # by the groups of the common denominator's powers, or NULL


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

cdef inline void empty(fmpz_mat_struct *m) noexcept nogil:
    """Free a matrix's entries now (it stays a valid 0 x 0 matrix)."""
    fmpz_mat_clear(m)
    fmpz_mat_init(m, 0, 0)

cdef bint columns_init(Columns *c, const slong *width, slong layers, slong cols) noexcept nogil
cdef void columns_clear(Columns *c) noexcept nogil
cdef void load_columns(fmpz_mat_struct *m, fmpz *den, const fmpq *base, const slong *rows,
                       slong row_stride, slong col_stride, fmpz *tmp) noexcept nogil
cdef void normalize(fmpz_mat_struct *m, fmpz *den, Factored *f, fmpz *g,
                    fmpz *tmp) noexcept nogil
cdef void share(Shared *x, fmpz_mat_struct *G, fmpz *gd, fmpz_mat_struct *H, const fmpz *hd,
                slong cols) noexcept nogil
cdef void release(Shared *x) noexcept nogil
cdef void product(fmpz_mat_struct *C, const fmpz_mat_struct *A,
                  const fmpz_mat_struct *B) noexcept nogil
cdef void column_lcm(fmpz *out, const fmpz *dens, slong n) noexcept nogil
