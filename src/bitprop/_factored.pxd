# cython: language_level=3
# Denominators factored over the primes below 64, so that gcds with them are divisibility
# tests instead of Euclid's algorithm (see _factored.pyx).
from bitprop._flint cimport fmpz, fmpq, ulong

cdef enum:
    N_SMALL_PRIMES = 18         # 2, 3, 5, ..., 61


cdef struct Factored:
    # exact: den = prime[0]^exp[0] * ... * prime[count-1]^exp[count-1] * rough, every exp > 0,
    # rough coprime to all primes below 64. Not exact: every denominator of the computation
    # is a product of the listed primes (exp unknown, rough 1): the exponent a gcd needs is
    # read off the denominator itself, bounded by the numerator's (usually 0).
    bint exact
    int count
    ulong prime[N_SMALL_PRIMES]
    ulong exp[N_SMALL_PRIMES]
    fmpz rough


cdef void factored_init(Factored *f) noexcept nogil
cdef void factored_clear(Factored *f) noexcept nogil
cdef void factor(Factored *f, const fmpz *den) noexcept nogil
cdef void factored_set_primes(Factored *f, unsigned int mask) noexcept nogil
cdef bint small_primes(const fmpz *x, unsigned int *mask, fmpz *tmp) noexcept nogil
cdef ulong exponent(const Factored *f, int k, const fmpz *den, ulong bound,
                    fmpz *tmp) noexcept nogil
cdef ulong valuation(const fmpz *x, ulong p, ulong bound, fmpz *tmp) noexcept nogil
cdef void mul_prime_power(fmpz *g, ulong p, ulong v, fmpz *tmp) noexcept nogil
cdef void divide_exact(fmpz *out, const fmpz *x, const fmpz *d) noexcept nogil
cdef void gcd_with(fmpz *g, const fmpz *num, const fmpz *den, const Factored *f,
                   fmpz *tmp) noexcept nogil
cdef long canonical_bits(const fmpz *num, const fmpz *den, const Factored *f, fmpz *g,
                         fmpz *tmp) noexcept nogil
cdef void set_canonical(fmpq *q, fmpz *num, const fmpz *den, const Factored *f, fmpz *g,
                        bint consume) noexcept nogil
