# cython: language_level=3, cdivision=True
"""Denominators factored over the primes below 64: gcds by divisibility tests, not Euclid.

Every denominator the dense kernel meets divides a product of the layers' weight
denominators, the samples' input and label denominators and the activations' coefficient
denominators. For float32-exact data that is a power of two, for small rationals n/d a
product of small primes. Knowing a denominator's primes makes each entry's gcd with it a few
O(size) divisibility tests (a random integer is divisible by p with probability 1/p) instead
of an O(size^2) Euclid. Two ways to know them: when the base denominators are all products of
primes below 64, one list of primes serves every denominator of the pass and the exponents
are read off each denominator as needed (``factored_set_primes``); otherwise each
denominator is factored once per column or layer (``factor``) and its rough cofactor goes
through fmpz_gcd. Either way the result is exact for every denominator.
"""

from bitprop._flint cimport *

cdef ulong[18] SMALL_PRIMES = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59,
                               61]
#: Powers of p tested directly stay below this (fmpz_divisible_si takes a signed word).
cdef ulong POWER_LIMIT = (<ulong>1) << 62


cdef void factored_init(Factored *f) noexcept nogil:
    f.count = 0
    f.exact = True
    fmpz_init(&f.rough)
    fmpz_one(&f.rough)


cdef void factored_clear(Factored *f) noexcept nogil:
    fmpz_clear(&f.rough)


cdef void factor(Factored *f, const fmpz *den) noexcept nogil:
    """f := den (> 0) as small-prime powers times a rough cofactor."""
    cdef fmpz_t p, rest
    cdef ulong e
    cdef int k
    fmpz_init(p); fmpz_init(rest)
    f.count, f.exact = 0, True
    e = fmpz_val2(den)
    fmpz_tdiv_q_2exp(&f.rough, den, e)
    if e:
        f.prime[0], f.exp[0], f.count = 2, e, 1
    for k in range(1, N_SMALL_PRIMES):
        if fmpz_is_one(&f.rough):
            break
        if fmpz_divisible_si(&f.rough, <slong>SMALL_PRIMES[k]):
            fmpz_set_ui(p, SMALL_PRIMES[k])
            e = fmpz_remove(rest, &f.rough, p)
            fmpz_swap(rest, &f.rough)
            f.prime[f.count], f.exp[f.count] = SMALL_PRIMES[k], e
            f.count += 1
    fmpz_clear(p); fmpz_clear(rest)


cdef void factored_set_primes(Factored *f, unsigned int mask) noexcept nogil:
    """f := the primes of ``mask`` (bit k: SMALL_PRIMES[k]) for every denominator at once."""
    cdef int k
    f.count, f.exact = 0, False
    fmpz_one(&f.rough)
    for k in range(N_SMALL_PRIMES):
        if mask & (1u << k):
            f.prime[f.count] = SMALL_PRIMES[k]
            f.count += 1


cdef bint small_primes(const fmpz *x, unsigned int *mask, fmpz *tmp) noexcept nogil:
    """Add the primes below 64 dividing x (> 0) to mask; True when they are all of x's."""
    cdef int k
    cdef fmpz_t p, rest
    fmpz_init(p); fmpz_init(rest)
    fmpz_set(tmp, x)
    for k in range(N_SMALL_PRIMES):
        if fmpz_is_one(tmp):
            break
        if fmpz_divisible_si(tmp, <slong>SMALL_PRIMES[k]):
            mask[0] |= 1u << k
            fmpz_set_ui(p, SMALL_PRIMES[k])
            fmpz_remove(rest, tmp, p)
            fmpz_swap(rest, tmp)
    fmpz_clear(p); fmpz_clear(rest)
    return fmpz_is_one(tmp)


cdef ulong exponent(const Factored *f, int k, const fmpz *den, ulong bound,
                    fmpz *tmp) noexcept nogil:
    """min(v_p(den), bound) for p = f.prime[k]: known when f is exact, else a few tests."""
    if f.exact:
        return f.exp[k] if f.exp[k] < bound else bound
    return valuation(den, f.prime[k], bound, tmp) if bound else 0


cdef ulong valuation(const fmpz *x, ulong p, ulong bound, fmpz *tmp) noexcept nogil:
    """min(v_p(x), bound) for x != 0; usually one divisibility test."""
    cdef ulong v, power
    cdef fmpz_t pz
    if p == 2:
        v = fmpz_val2(x)
        return v if v < bound else bound
    # divisibility by p, p^2, ... while the power fits a word: no copy, no division
    v, power = 0, p
    while v < bound and fmpz_divisible_si(x, <slong>power):
        v += 1
        if power > POWER_LIMIT // p:
            break
        power *= p
    else:
        return v
    if v == bound:
        return v
    fmpz_init(pz)                    # a huge power of p divides x: remove it all at once
    fmpz_set_ui(pz, p)
    v = fmpz_remove(tmp, x, pz)
    fmpz_clear(pz)
    return v if v < bound else bound


cdef void mul_prime_power(fmpz *g, ulong p, ulong v, fmpz *tmp) noexcept nogil:
    """g := g * p^v."""
    if p == 2:
        fmpz_mul_2exp(g, g, v)
    else:
        fmpz_set_ui(tmp, p)
        fmpz_pow_ui(tmp, tmp, v)
        fmpz_mul(g, g, tmp)


cdef void divide_exact(fmpz *out, const fmpz *x, const fmpz *d) noexcept nogil:
    """out := x / d for d dividing x: a shift when d is a power of two (float32-exact data)."""
    cdef ulong twos = fmpz_val2(d)
    if fmpz_bits(d) - 1 == twos:
        fmpz_tdiv_q_2exp(out, x, twos)
    else:
        fmpz_divexact(out, x, d)


cdef void gcd_with(fmpz *g, const fmpz *num, const fmpz *den, const Factored *f,
                   fmpz *tmp) noexcept nogil:
    """g := gcd(num, den), den factored as f (g must not alias num, den or tmp)."""
    cdef int k
    cdef ulong v
    if fmpz_is_zero(num):
        fmpz_set(g, den)
        return
    fmpz_one(g)
    for k in range(f.count):
        v = valuation(num, f.prime[k], f.exp[k] if f.exact else <ulong>-1, tmp)
        v = exponent(f, k, den, v, tmp)
        if v:
            mul_prime_power(g, f.prime[k], v, tmp)
    if not fmpz_is_one(&f.rough):
        fmpz_gcd(tmp, num, &f.rough)
        fmpz_mul(g, g, tmp)


cdef long canonical_bits(const fmpz *num, const fmpz *den, const Factored *f, fmpz *g,
                         fmpz *tmp) noexcept nogil:
    """Bit length of num/den in lowest terms (bitlen |p| + bitlen q; 0 has 1 bit)."""
    cdef long bits
    cdef ulong twos
    if fmpz_is_zero(num):
        return 1
    gcd_with(g, num, den, f, tmp)
    if fmpz_is_one(g):
        return <long>(fmpz_bits(num) + fmpz_bits(den))
    twos = fmpz_val2(g)
    if fmpz_bits(g) - 1 == twos:        # dividing by 2^k shortens both by exactly k bits
        return <long>(fmpz_bits(num) + fmpz_bits(den) - 2 * twos)
    fmpz_divexact(tmp, num, g)
    bits = fmpz_bits(tmp)
    fmpz_divexact(tmp, den, g)
    return bits + <long>fmpz_bits(tmp)


cdef void set_canonical(fmpq *q, fmpz *num, const fmpz *den, const Factored *f, fmpz *g,
                        bint consume) noexcept nogil:
    """q := num/den in lowest terms; with ``consume`` num is moved into q, not copied (its
    value afterwards is unspecified)."""
    if fmpz_is_zero(num):
        fmpq_zero(q)
        return
    gcd_with(g, num, den, f, fmpq_denref(q))
    if consume:
        fmpz_swap(fmpq_numref(q), num)
    else:
        fmpz_set(fmpq_numref(q), num)
    if fmpz_is_one(g):
        fmpz_set(fmpq_denref(q), den)
    else:
        divide_exact(fmpq_numref(q), fmpq_numref(q), g)
        divide_exact(fmpq_denref(q), den, g)
