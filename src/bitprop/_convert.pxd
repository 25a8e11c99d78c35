# cython: language_level=3
# Crossing between Python numbers and bitprop's own FLINT (never python-flint's C structs).
from bitprop._flint cimport fmpz, fmpq

cdef int fmpz_set_pyint(fmpz *out, object value) except -1
cdef object fmpz_get_pyint(const fmpz *value)
cdef str fmpz_get_decimal(const fmpz *value)
cdef int fmpq_set_fraction(fmpq *out, object value) except -1
cdef object fmpq_get_fraction(const fmpq *value)
cdef object fmpq_get_str(const fmpq *value)
cdef long fmpq_bit_length(const fmpq *value) noexcept nogil


cdef class RationalVector:
    cdef fmpq *data
    cdef Py_ssize_t n


cdef RationalVector vector_gather(const fmpq *src, Py_ssize_t n, const long *index)
