# cython: language_level=3, cdivision=True
"""Activations on integer columns: H = sigma(Z / zd) as integers over hd, and
G := G * sigma'(Z / zd) in place, for the identity, ReLU, leaky ReLU and c z^d."""

from bitprop._flint cimport *
from bitprop._codes cimport ACT_IDENTITY, ACT_RELU, ACT_LEAKY, ACT_MONO
from bitprop._columns cimport at
from bitprop._convert cimport fmpq_bit_length


cdef void activate(const ColumnRule *rule, fmpz_mat_struct *z, fmpz *zd, fmpz_mat_struct *h,
                   fmpz *hd) noexcept nogil:
    """H = sigma(Z / zd) as integers over hd. Identity and ReLU move Z's entries into H
    (Z is not read again: backward takes ReLU's signs from H)."""
    cdef slong i, s
    cdef int code = rule.code
    for s in range(z.c):
        if code == ACT_MONO:           # (p/q) (z/zd)^d = p z^d / (q zd^d)
            fmpz_pow_ui(hd + s, zd + s, rule.degree)
            fmpz_mul(hd + s, hd + s, rule.q)
        elif code == ACT_LEAKY:        # z > 0: q z / (q zd); else p z / (q zd)
            fmpz_mul(hd + s, zd + s, rule.q)
        else:
            fmpz_set(hd + s, zd + s)
        for i in range(z.r):
            if code == ACT_IDENTITY:
                fmpz_swap(at(h, i, s), at(z, i, s))
            elif code == ACT_RELU:
                if fmpz_sgn(at(z, i, s)) > 0:
                    fmpz_swap(at(h, i, s), at(z, i, s))
                else:
                    fmpz_zero(at(h, i, s))
            elif code == ACT_LEAKY:
                fmpz_mul(at(h, i, s), at(z, i, s),
                         rule.q if fmpz_sgn(at(z, i, s)) > 0 else rule.p)
            else:
                fmpz_pow_ui(at(h, i, s), at(z, i, s), rule.degree)
                fmpz_mul(at(h, i, s), at(h, i, s), rule.p)


cdef void derivative(const ColumnRule *rule, fmpz_mat_struct *z, const fmpz *zd,
                     const fmpz_mat_struct *h, bint h_transposed, fmpz_mat_struct *gm,
                     fmpz *gd, fmpz *tmp) noexcept nogil:
    """G := G * sigma'(Z / zd) entrywise, in place (integers over gd). ReLU reads the sign
    of z off h = relu(z) (h > 0 exactly where z > 0), kept as H or as H^T."""
    cdef slong i, s, d = rule.degree
    cdef int code = rule.code
    for s in range(gm.c):
        if code == ACT_MONO:           # sigma' = d p z^(d-1) / (q zd^(d-1))
            fmpz_pow_ui(tmp, zd + s, d - 1)
            fmpz_mul(tmp, tmp, rule.q)
            fmpz_mul(gd + s, gd + s, tmp)
        elif code == ACT_LEAKY:
            fmpz_mul(gd + s, gd + s, rule.q)
        for i in range(gm.r):
            if code == ACT_RELU:
                if fmpz_sgn(at(<fmpz_mat_struct *>h, s, i) if h_transposed
                            else at(<fmpz_mat_struct *>h, i, s)) <= 0:
                    fmpz_zero(at(gm, i, s))
            elif code == ACT_LEAKY:
                fmpz_mul(at(gm, i, s), at(gm, i, s),
                         rule.q if fmpz_sgn(at(z, i, s)) > 0 else rule.p)
            elif code == ACT_MONO and not fmpz_is_zero(at(gm, i, s)):
                fmpz_pow_ui(tmp, at(z, i, s), d - 1)
                fmpz_mul_si(tmp, tmp, d)
                fmpz_mul(tmp, tmp, rule.p)
                fmpz_mul(at(gm, i, s), at(gm, i, s), tmp)


cdef slong first_power_over(const ColumnRule *rule, fmpz_mat_struct *z, const fmpz *zd,
                            slong first, long max_bits, fmpq *f, fmpq *c,
                            long *bits) noexcept nogil:
    """For a monomial rule whose entry ``first`` (s * rows + i) is predicted over max_bits:
    the first entry before it, in record order (by column, then row), whose f = c z^d has
    more than max_bits bits (its bits in ``bits``), or -1. An earlier f may be over without
    being predicted, so each is computed (each within about twice the limit, being
    predicted within it): the fault is then the one recording f would find."""
    cdef slong k, i, s
    fmpz_set(fmpq_numref(c), rule.p)
    fmpz_set(fmpq_denref(c), rule.q)
    for k in range(first):
        s, i = k // z.r, k % z.r
        if fmpz_is_zero(at(z, i, s)):
            continue
        fmpq_set_fmpz_frac(f, at(z, i, s), zd + s)
        fmpz_pow_ui(fmpq_numref(f), fmpq_numref(f), rule.degree)
        fmpz_pow_ui(fmpq_denref(f), fmpq_denref(f), rule.degree)
        fmpq_mul(f, f, c)
        bits[0] = fmpq_bit_length(f)
        if bits[0] > max_bits:
            return k
    return -1
