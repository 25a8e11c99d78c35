# cython: language_level=3
from bitprop._flint cimport fmpz, fmpq, slong


cdef class PartialSums:
    cdef fmpz *num                  # m stored numerators
    cdef slong *slot                # per stored value: its denominator's place in den
    cdef fmpz *den                  # k denominators (> 0), room for capacity
    cdef long *index                # NULL, or per entry its stored value
    cdef Py_ssize_t n, m, k, capacity
    cdef Py_ssize_t _stored(self, Py_ssize_t i)


cdef PartialSums sums_from(fmpq *values, Py_ssize_t m, const long *index, Py_ssize_t n)
