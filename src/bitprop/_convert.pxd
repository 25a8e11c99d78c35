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
cdef bint set_ratio_chars(fmpq *out, const char *s, Py_ssize_t n) except -1
cdef int set_digits(fmpz *out, const char *digits, Py_ssize_t n) except -1

# The byte codec of RationalVector (and of _sums.PartialSums): counts as varints, integers as
# small varints or two's-complement words; every read checked against the bytes left.
from bitprop._flint cimport ulong
cdef Py_ssize_t put_count(unsigned char *b, Py_ssize_t at, ulong u) noexcept
cdef Py_ssize_t integer_size(const fmpz *x) noexcept
cdef Py_ssize_t put_integer(unsigned char *b, Py_ssize_t at, const fmpz *x) noexcept
cdef Py_ssize_t get_count(const unsigned char *b, Py_ssize_t at, Py_ssize_t n,
                          ulong *u) except -1
cdef Py_ssize_t get_integer(fmpz *x, const unsigned char *b, Py_ssize_t at,
                            Py_ssize_t n) except -1
cdef Py_ssize_t put_index(unsigned char *b, Py_ssize_t at, const long *index,
                          Py_ssize_t n) noexcept
cdef Py_ssize_t get_index_flag(const unsigned char *b, Py_ssize_t at, Py_ssize_t size,
                               ulong n, ulong m, ulong *indexed) except -1
cdef Py_ssize_t get_index(long *index, ulong n, ulong m, const unsigned char *b,
                          Py_ssize_t at, Py_ssize_t size) except -1


cdef class RationalVector:
    cdef fmpq *data                 # the m stored values
    cdef Py_ssize_t m
    cdef long *index                # entry i is data[index[i]]; NULL: entry i is data[i]
    cdef Py_ssize_t n
    cdef const fmpq *_entry(self, Py_ssize_t i)
    cdef bytes _bytes(self)


cdef RationalVector vector_adopt(fmpq *data, Py_ssize_t n)
cdef RationalVector vector_copy(const fmpq *src, Py_ssize_t n)
cdef RationalVector vector_take(fmpq *src, Py_ssize_t n)
cdef RationalVector vector_indexed(const fmpq *src, Py_ssize_t m, const long *index,
                                   Py_ssize_t n)
