# cython: language_level=3, cdivision=True
"""A layer's values as an integer matrix with one positive denominator per sample column,
normalised by one gcd over the column instead of one gcd per entry; what a worker shares of
a layer with the others for the gradient rows (share, release)."""

from libc.stdlib cimport calloc, free

from bitprop._flint cimport *
from bitprop._factored cimport Factored, factor, gcd_with, divide_exact


cdef void share(Shared *x, fmpz_mat_struct *G, fmpz *gd, fmpz_mat_struct *H, const fmpz *hd,
                slong cols) noexcept nogil:
    """Hand G and gd over to x (the caller re-initialises both before reuse) and move
    H (not read again by its owner) into x.HT, transposed."""
    cdef slong i, s
    x.G, x.gd, x.cols = G[0], gd, cols
    fmpz_mat_init(&x.HT, cols, H.r)
    for i in range(H.r):
        for s in range(cols):
            fmpz_swap(at(&x.HT, s, i), at(H, i, s))
    x.scaled = _fmpz_vec_init(cols + 1)
    for s in range(cols):
        fmpz_mul(x.scaled + s, gd + s, hd + s)
    fmpz_init(&x.lcm_scaled)
    fmpz_init(&x.lcm_gd)
    column_lcm(&x.lcm_scaled, x.scaled, cols)
    column_lcm(&x.lcm_gd, gd, cols)
    x.residues = NULL
    x.live = True


cdef void release(Shared *x) noexcept nogil:
    if x.live:
        fmpz_mat_clear(&x.G)
        fmpz_mat_clear(&x.HT)
        _fmpz_vec_clear(x.gd, x.cols + 1)
        _fmpz_vec_clear(x.scaled, x.cols + 1)
        fmpz_clear(&x.lcm_scaled)
        fmpz_clear(&x.lcm_gd)
        free(x.residues)
        x.live = False


cdef bint columns_init(Columns *c, const slong *width, slong layers, slong cols) noexcept nogil:
    """Empty matrices of every layer (Z of layer 0 has no rows); False without memory."""
    cdef slong l
    c.layers, c.cols = layers, cols
    c.H = <fmpz_mat_struct *>calloc(layers + 1, sizeof(fmpz_mat_struct))
    c.Z = <fmpz_mat_struct *>calloc(layers + 1, sizeof(fmpz_mat_struct))
    c.hd = <fmpz **>calloc(layers + 1, sizeof(fmpz *))
    c.zd = <fmpz **>calloc(layers + 1, sizeof(fmpz *))
    if c.H == NULL or c.Z == NULL or c.hd == NULL or c.zd == NULL:
        free(c.H); free(c.Z); free(c.hd); free(c.zd)
        c.H = NULL
        return False
    for l in range(layers):
        fmpz_mat_init(c.H + l, width[l], cols)
        fmpz_mat_init(c.Z + l, width[l] if l else 0, cols)
        c.hd[l] = _fmpz_vec_init(cols + 1)
        c.zd[l] = _fmpz_vec_init(cols + 1)
    return True


cdef void columns_clear(Columns *c) noexcept nogil:
    cdef slong l
    if c.H == NULL:
        return
    for l in range(c.layers):
        fmpz_mat_clear(c.H + l)
        fmpz_mat_clear(c.Z + l)
        _fmpz_vec_clear(c.hd[l], c.cols + 1)
        _fmpz_vec_clear(c.zd[l], c.cols + 1)
    free(c.H); free(c.Z); free(c.hd); free(c.zd)
    c.H = NULL


cdef void load_columns(fmpz_mat_struct *m, fmpz *den, const fmpq *base, const slong *rows,
                       slong row_stride, slong col_stride, fmpz *tmp) noexcept nogil:
    """m, den := the rationals base[rows[i] * row_stride + s * col_stride] (rows NULL: i) as
    integers over one denominator per column (the lcm of the column's)."""
    cdef slong i, s
    cdef const fmpq *x
    for s in range(m.c):
        fmpz_one(den + s)
        for i in range(m.r):
            x = base + (rows[i] if rows != NULL else i) * row_stride + s * col_stride
            if not fmpz_is_one(fmpq_denref(x)):
                fmpz_lcm(den + s, den + s, fmpq_denref(x))
        for i in range(m.r):
            x = base + (rows[i] if rows != NULL else i) * row_stride + s * col_stride
            if fmpz_is_one(fmpq_denref(x)):
                fmpz_mul(at(m, i, s), fmpq_numref(x), den + s)
            else:
                fmpz_divexact(tmp, den + s, fmpq_denref(x))
                fmpz_mul(at(m, i, s), fmpq_numref(x), tmp)


cdef void normalize(fmpz_mat_struct *m, fmpz *den, Factored *f, fmpz *g,
                    fmpz *tmp) noexcept nogil:
    """Divide every column and its denominator by their gcd: the column's canonical form."""
    cdef slong i, s
    for s in range(m.c):
        factor(f, den + s, tmp)
        _column_content(g, m, s, den + s, f, tmp)
        if not fmpz_is_one(g):
            divide_exact(den + s, den + s, g)
            for i in range(m.r):
                divide_exact(at(m, i, s), at(m, i, s), g)


cdef void _column_content(fmpz *g, fmpz_mat_struct *m, slong s, const fmpz *den,
                          const Factored *f, fmpz *tmp) noexcept nogil:
    """g := gcd of column s and its denominator (f readied for it): the gcd of the first
    nonzero entry with the denominator, then of that (usually small) gcd with the others."""
    cdef slong i, first = 0
    cdef ulong k
    while first < m.r and fmpz_is_zero(at(m, first, s)):
        first += 1
    if first == m.r:                    # a zero column: nothing to divide but den by itself
        fmpz_set(g, den)
        return
    gcd_with(g, at(m, first, s), den, f, tmp)
    if f.dyadic:                        # g = 2^k: the least power of 2 in the entries
        k = fmpz_val2(g)
        for i in range(first + 1, m.r):
            if k == 0:
                break
            if not fmpz_is_zero(at(m, i, s)):
                k = min(k, fmpz_val2(at(m, i, s)))
        fmpz_one_2exp(g, k)
        return
    for i in range(first + 1, m.r):
        if fmpz_is_one(g):
            return
        fmpz_gcd(g, g, at(m, i, s))


cdef void product(fmpz_mat_struct *C, const fmpz_mat_struct *A,
                  const fmpz_mat_struct *B) noexcept nogil:
    """C := A B (C aliasing neither). FLINT's classical product where at least an eighth of
    the terms a_ik b_kj have a zero factor (an estimate from A's and B's shares of zeros),
    else FLINT's own choice (Strassen's, for large entries and dimensions): each zero skips
    a product in the classical sum, while Strassen's sums of blocks fill the zeros in.
    ReLU's masks leave about half of H and of dL/dz zero. Measured with callgrind, one
    thread, whole runs: relu-w16-d16-q16-b64 60.6 G instructions before, 51.3 G after;
    relu-w16-d16-q8-b64 -11%, relu-w64-d16-q8-b8 -9%, relu-w16-d16-q16-b8 -6%; the z^2
    networks (no zeros) unchanged."""
    if _nonzero_fraction(A) * _nonzero_fraction(B) <= 0.875:
        fmpz_mat_mul_classical_inline(C, A, B)
    else:
        fmpz_mat_mul(C, A, B)


cdef double _nonzero_fraction(const fmpz_mat_struct *m) noexcept nogil:
    """The share of m's entries that are not zero (1 for an empty m)."""
    cdef slong i, j, nonzero = 0
    if m.r == 0 or m.c == 0:
        return 1
    for i in range(m.r):
        for j in range(m.c):
            nonzero += not fmpz_is_zero(m.rows[i] + j)
    return nonzero / <double>(m.r * m.c)


cdef void column_lcm(fmpz *out, const fmpz *dens, slong n) noexcept nogil:
    """out := the lcm of dens[0..n) (1 for none)."""
    cdef slong s
    fmpz_one(out)
    for s in range(n):
        fmpz_lcm(out, out, dens + s)
