# cython: language_level=3
# Activations on integer columns (values over one denominator per column): the forward and
# backward rules that the dense-block engine (bitprop._dense) and the sparse blocks
# (bitprop._sparse) share.
from bitprop._flint cimport fmpz, fmpq, slong, fmpz_mat_struct


cdef struct ColumnRule:
    # One layer's activation: ACT_IDENTITY, ACT_RELU, ACT_LEAKY (slope p/q) or ACT_MONO
    # (p/q z^degree).
    int code
    slong degree
    const fmpz *p
    const fmpz *q


cdef void activate(const ColumnRule *rule, fmpz_mat_struct *z, fmpz *zd, fmpz_mat_struct *h,
                   fmpz *hd) noexcept nogil
cdef void derivative(const ColumnRule *rule, fmpz_mat_struct *z, const fmpz *zd,
                     const fmpz_mat_struct *h, bint h_transposed, fmpz_mat_struct *gm,
                     fmpz *gd, fmpz *tmp) noexcept nogil
cdef slong first_power_over(const ColumnRule *rule, fmpz_mat_struct *z, const fmpz *zd,
                            slong first, long max_bits, fmpq *f, fmpq *c,
                            long *bits) noexcept nogil
