# cython: language_level=3
# Denominators factored over the primes below 64, so that gcds with them are divisibility
# tests instead of Euclid's algorithm (see _factored.pyx).
from bitprop._flint cimport fmpz, fmpq, ulong

cdef enum:
    N_SMALL_PRIMES = 18         # 2, 3, 5, ..., 61


cdef struct Factored:
    # den = prime[0]^exp[0] * ... * prime[count-1]^exp[count-1] * rough, with every exp > 0
    # and rough coprime to all primes below 64 (1 for float32-exact or n/d-with-small-d data)
    int count
    ulong prime[N_SMALL_PRIMES]
    ulong exp[N_SMALL_PRIMES]
    fmpz rough


cdef void factored_init(Factored *f) noexcept nogil
cdef void factored_clear(Factored *f) noexcept nogil
cdef void factor(Factored *f, const fmpz *den) noexcept nogil
cdef ulong valuation(const fmpz *x, ulong p, ulong bound, fmpz *tmp) noexcept nogil
cdef void mul_prime_power(fmpz *g, ulong p, ulong v, fmpz *tmp) noexcept nogil
cdef void gcd_with(fmpz *g, const fmpz *num, const fmpz *den, const Factored *f,
                   fmpz *tmp) noexcept nogil
cdef long canonical_bits(const fmpz *num, const fmpz *den, const Factored *f, fmpz *g,
                         fmpz *tmp) noexcept nogil
cdef void set_canonical(fmpq *q, fmpz *num, const fmpz *den, const Factored *f, fmpz *g,
                        bint consume) noexcept nogil
