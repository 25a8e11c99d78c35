# cython: language_level=3
"""Exact crossing between Python ints/Fractions and FLINT fmpz/fmpq, through machine words.

Big integers travel as little-endian two's-complement limb arrays (``int.to_bytes`` and
FLINT's ``fmpz_set_signed_ui_array``), never as decimal strings: linear time, no digit limits.
"""

from fractions import Fraction

from libc.stdlib cimport free
from bitprop._flint cimport (
    fmpz, fmpq, ulong, slong, fmpz_set_si, fmpz_get_si, fmpz_fits_si, fmpz_bits, fmpz_size,
    fmpz_set_signed_ui_array, fmpz_get_signed_ui_array, fmpz_get_str, fmpz_is_one,
    fmpq_numref, fmpq_denref, fmpz_sgn, flint_free, fmpz_is_zero)

cdef object _make_fraction
if hasattr(Fraction, "_from_coprime_ints"):   # Python >= 3.12
    _make_fraction = Fraction._from_coprime_ints
else:
    def _make_fraction(numerator, denominator):
        return Fraction(numerator, denominator, _normalize=False)

DEF_SMALL = 1 << 62


cdef int fmpz_set_pyint(fmpz *out, object value) except -1:
    cdef Py_ssize_t limbs
    cdef bytes data
    if -DEF_SMALL < value < DEF_SMALL:
        fmpz_set_si(out, <slong>value)
        return 0
    limbs = (value.bit_length() + 64) // 64
    data = value.to_bytes(8 * limbs, "little", signed=True)
    fmpz_set_signed_ui_array(out, <const ulong *><const char *>data, limbs)
    return 0


cdef object fmpz_get_pyint(const fmpz *value):
    cdef Py_ssize_t limbs
    cdef bytearray buffer
    if fmpz_fits_si(value):
        return fmpz_get_si(value)
    limbs = fmpz_size(value) + 1
    buffer = bytearray(8 * limbs)
    fmpz_get_signed_ui_array(<ulong *><char *>buffer, limbs, value)
    return int.from_bytes(buffer, "little", signed=True)


cdef int fmpq_set_fraction(fmpq *out, object value) except -1:
    """Set ``out`` from a Fraction (already in lowest terms with a positive denominator)."""
    fmpz_set_pyint(fmpq_numref(out), value.numerator)
    fmpz_set_pyint(fmpq_denref(out), value.denominator)
    return 0


cdef object fmpq_get_fraction(const fmpq *value):
    return _make_fraction(fmpz_get_pyint(fmpq_numref(value)),
                          fmpz_get_pyint(fmpq_denref(value)))


cdef object _fmpz_str(const fmpz *value):
    cdef char *text = fmpz_get_str(NULL, 10, value)
    try:
        return text.decode("ascii")
    finally:
        flint_free(text)


cdef object fmpq_get_str(const fmpq *value):
    """Canonical ``"p/q"`` or ``"p"`` by FLINT's subquadratic radix conversion."""
    if fmpz_is_one(fmpq_denref(value)):
        return _fmpz_str(fmpq_numref(value))
    return _fmpz_str(fmpq_numref(value)) + "/" + _fmpz_str(fmpq_denref(value))


cdef long fmpq_bit_length(const fmpq *value) noexcept nogil:
    """bitlen(|p|) + bitlen(q): the paper's size of an encoding (0 has 1 bit)."""
    return <long>(fmpz_bits(fmpq_numref(value)) + fmpz_bits(fmpq_denref(value)))
