# cython: language_level=3, cdivision=True
"""Denominators over the pass's own primes: gcds by remainders, not Euclid's algorithm.

Every denominator of a pass divides a product of its base denominators: the weights', the
biases', the activations' parameters', the samples' inputs', labels' and loss scales'
(bitprop._dense collects them). Those are factored once per pass (``PrimeBase``: FLINT's
word factoring; a multi-word denominator by trial division, any cofactor it leaves makes the
base *incomplete*). Knowing the primes, gcd(num, den) is read off which primes divide num:
the odd primes are packed into groups whose product fits a word, so one remainder of num by a
group's product (one pass over num's words) tells which of the group's primes divide it,
instead of a Euclid whose cost grows with the square of the size. A factor 2 is a bit count.

When the base is incomplete, each denominator's rough cofactor (its part free of the base's
primes) still goes through fmpz_gcd; it is computed once per column (``factor``).

The measured rule (``by_euclid``): testing costs a pass over the number per group, Euclid
about GROUP_PASSES_PER_GCD[log2 size] such passes (bench/gcd_rule.py measures both; see
bench/results/gcd_rule.md). A base with more groups than that for a number's size takes
Euclid for it: many large primes (denominators up to 2^16 and beyond) are cheaper as gcds.
Either way the result is exact.

Where Euclid is taken, many numbers over one denominator (a column's entries for their bit
statistics, a layer's gradient rows over their common denominator) share it in a *batch*
(``batch_start``, ``batch_add``, ``batch_end``): their product mod den and one gcd of it with
den give the primes of den that divide some member; den's part over those primes (``part``,
usually a few words, often 1) then has the same gcd with each member as den itself. One
Euclid and a multiplication mod den per member replace a Euclid per member, which costs
MULMODS_PER_GCD such multiplications (bench/gcd_rule.py measures it too). Where the members
share most of den's primes, part is most of den and the batch is given up (``batch_end``):
so it is for the gradient rows of ReLU networks, where a sample whose adjoint or activation
is 0 leaves its share of the common denominator in the entry (on relu-w16-d16-q16-b8, part
is 60-85% of den there, 10-40% in the columns), so they take no batch.

Many numbers of den's size over a long den (the gradient sums of a large batch,
bitprop._dense) take their residues by den's prime powers from a remainder tree (``Tree``): one
division by the powers' product, then smaller ones down the levels, where a remainder per
group and a valuation per shared prime read the whole number once each.
"""

from libc.stdlib cimport qsort, malloc, calloc, realloc, free

from bitprop._flint cimport *
from bitprop._convert cimport fmpz_set_pyint, fmpz_get_pyint

cdef extern from *:
    """
    #include <flint/ulong_extras.h>
    /* sum a[i] b[i] mod m, for a[i], b[i] < m: in three words, reduced once */
    static ulong bitprop_dot_mod(const ulong *a, const ulong *b, slong n, ulong m,
                                 ulong minv)
    {
        unsigned __int128 acc = 0, product;
        ulong top = 0;
        slong i;
        for (i = 0; i < n; i++) {
            product = (unsigned __int128) a[i] * b[i];
            acc += product;
            top += acc < product;
        }
        return n_lll_mod_preinv(top % m, (ulong) (acc >> 64), (ulong) acc, m, minv);
    }
    static ulong bitprop_mul_mod(ulong a, ulong b, ulong m, ulong minv)
    {
        return n_mulmod2_preinv(a, b, m, minv);
    }
    static ulong bitprop_add_mod(ulong a, ulong b, ulong m)
    {
        return n_addmod(a, b, m);
    }
    """
    ulong bitprop_dot_mod(const ulong *a, const ulong *b, slong n, ulong m, ulong minv) nogil
    ulong bitprop_mul_mod(ulong a, ulong b, ulong m, ulong minv) nogil
    ulong bitprop_add_mod(ulong a, ulong b, ulong m) nogil
    ulong n_preinvert_limb(ulong n) nogil
#: Powers of p tested directly stay below this (fmpz_divisible_si takes a signed word).
cdef ulong POWER_LIMIT = (<ulong>1) << 62
#: Euclid's cost in passes over a number of 2^k words, k = 0, 1, ..., 12 (and beyond: the
#: last): bench/gcd_rule.py, this machine.
cdef slong[13] GROUP_PASSES_PER_GCD = [7, 19, 36, 66, 109, 223, 385, 661, 1030, 1625, 2498,
                                       3490, 4582]
#: A gcd's cost in multiplications mod den (of two numbers of den's size), den of 2^k words,
#: k = 0, 1, ..., 12 (and beyond: the last): bench/gcd_rule.py, this machine.
cdef double[13] MULMODS_PER_GCD = [2.6, 3.3, 8.0, 8.0, 6.1, 6.6, 5.1, 4.4, 4.3, 4.0, 4.7, 4.0,
                                   4.1]
#: Trial division of a multi-word denominator stops at the 3512th prime (32749).
cdef slong TRIAL_PRIMES = 3512


# --- the base: primes of the pass's denominators --------------------------------------------

cdef int _compare(const void *a, const void *b) noexcept nogil:
    cdef ulong x = (<const ulong *>a)[0], y = (<const ulong *>b)[0]
    return (x > y) - (x < y)


cdef class PrimeBase:
    """The primes of a set of denominators (``add``), grouped for remainders (``finish``)."""

    def __cinit__(self):
        self.capacity = 64
        self.d.prime = <ulong *>malloc(self.capacity * sizeof(ulong))
        self.d.complete = True
        if self.d.prime == NULL:
            raise MemoryError()

    def __dealloc__(self):
        free(self.d.prime); free(self.d.product); free(self.d.start)

    cdef void add_prime(self, ulong p) noexcept:
        cdef ulong *grown
        if p == 2:
            self.d.has_two = True
            return
        if self.d.count == self.capacity:
            grown = <ulong *>realloc(self.d.prime, 2 * self.capacity * sizeof(ulong))
            if grown == NULL:           # without memory: forget the base, Euclid will do
                self.d.complete = False
                return
            self.d.prime, self.capacity = grown, 2 * self.capacity
        self.d.prime[self.d.count] = p
        self.d.count += 1

    cdef void add(self, const fmpz *den) noexcept:
        """Add the primes of den (> 0)."""
        cdef n_factor_t small
        cdef fmpz_factor_t big
        cdef ulong d
        cdef slong i, j
        if fmpz_is_one(den):
            return
        if fmpz_abs_fits_ui(den):
            d = fmpz_get_ui(den)
            if d == self.last:
                return
            self.last = d
            if d & (d - 1) == 0:        # a power of two: float32-exact data
                self.add_prime(2)
                return
            n_factor_init(&small)
            n_factor(&small, d, 1)
            for i in range(small.num):
                self.add_prime(small.p[i])
            return
        fmpz_factor_init(big)
        fmpz_factor_trial(big, den, TRIAL_PRIMES)   # the last factor may be a cofactor
        for i in range(big.num):
            if not fmpz_abs_fits_ui(big.p + i):
                self.d.complete = False
                continue
            n_factor_init(&small)
            n_factor(&small, fmpz_get_ui(big.p + i), 1)
            for j in range(small.num):
                self.add_prime(small.p[j])
        fmpz_factor_clear(big)

    cdef void add_denominators(self, const fmpq *values, slong n) noexcept:
        cdef slong i
        for i in range(n):
            self.add(fmpq_denref(values + i))

    cdef PrimeBase copy(self):
        """A base with the same primes, to add more to (finish it again)."""
        cdef PrimeBase other = PrimeBase()
        cdef slong i
        for i in range(self.d.count):
            other.add_prime(self.d.prime[i])
        other.d.has_two = self.d.has_two
        other.d.complete = self.d.complete
        return other

    cdef void finish(self) noexcept:
        """Sort, drop repeats and pack the odd primes into groups whose product fits a word."""
        cdef slong i, k = 0, g = 0
        cdef ulong product = 1
        qsort(self.d.prime, self.d.count, sizeof(ulong), _compare)
        for i in range(self.d.count):
            if k == 0 or self.d.prime[i] != self.d.prime[k - 1]:
                self.d.prime[k] = self.d.prime[i]
                k += 1
        self.d.count = k
        free(self.d.product); free(self.d.start)
        self.d.product = <ulong *>malloc((k + 1) * sizeof(ulong))
        self.d.start = <slong *>malloc((k + 2) * sizeof(slong))
        if self.d.product == NULL or self.d.start == NULL:
            self.d.groups, self.d.complete = 0, False
            return
        for i in range(k):
            if i == 0 or product > (<ulong>-1) // self.d.prime[i]:
                if i:
                    self.d.product[g] = product
                    g += 1
                self.d.start[g], product = i, 1
            product *= self.d.prime[i]
        if k:
            self.d.product[g] = product
            g += 1
        self.d.start[g] = k
        self.d.groups = g

    @property
    def primes(self):
        """The base's primes, 2 first when it has it (for tests and reports)."""
        cdef slong i
        return ([2] if self.d.has_two else []) + [self.d.prime[i] for i in range(self.d.count)]

    @property
    def complete(self):
        return bool(self.d.complete)


# --- one worker's gcds ----------------------------------------------------------------------

cdef void factored_init(Factored *f) noexcept nogil:
    f.base, f.divides, f.group_used, f.exponent, f.exact = NULL, NULL, NULL, NULL, NULL
    f.batching, f.batched, f.dyadic = False, False, False
    fmpz_init(&f.rough)
    fmpz_init(&f.acc)
    fmpz_init(&f.part)


cdef void _free_arrays(Factored *f) noexcept nogil:
    free(f.divides); free(f.group_used); free(f.exponent); free(f.exact)
    f.base, f.divides, f.group_used, f.exponent, f.exact = NULL, NULL, NULL, NULL, NULL


cdef void factored_clear(Factored *f) noexcept nogil:
    _free_arrays(f)
    fmpz_clear(&f.rough)
    fmpz_clear(&f.acc)
    fmpz_clear(&f.part)


cdef int factored_set_base(Factored *f, const Primes *base) except -1:
    """Take gcds over ``base`` (kept alive by its owner while f is used)."""
    _free_arrays(f)
    f.batching, f.batched = False, False
    f.base = base
    f.divides = <char *>calloc(base.count + 1, 1)
    f.group_used = <char *>calloc(base.groups + 1, 1)
    f.exponent = <ulong *>calloc(base.count + 1, sizeof(ulong))
    f.exact = <char *>calloc(base.count + 1, 1)
    if (f.divides == NULL or f.group_used == NULL or f.exponent == NULL
            or f.exact == NULL):
        raise MemoryError()
    return 0


cdef bint by_euclid(const Factored *f, const fmpz *x) noexcept nogil:
    """Whether Euclid beats one remainder per group of the base (the measured rule; always
    without a base)."""
    return f.base == NULL or _euclid_cheaper(f.base.groups, x)


cdef bint _euclid_cheaper(slong groups, const fmpz *x) noexcept nogil:
    """Whether a gcd with numbers of x's size costs less than ``groups`` passes over x."""
    cdef slong words = fmpz_size(x), k = 0
    while words > 1 and k < 12:
        words >>= 1
        k += 1
    return groups > GROUP_PASSES_PER_GCD[k]


cdef inline bint _by_residue(slong primes, const fmpz *x) noexcept nogil:
    """Whether one remainder by a group's product (which pays for a precomputed inverse)
    beats one divisibility test per prime of the group, for x's size."""
    cdef slong words = fmpz_size(x)
    return primes * (3 * words + 40) > 3 * words + 300


cdef ulong group_residue(const fmpz *x, const Primes *base, slong group) noexcept nogil:
    """x mod the product of the group's primes (0 <= result < product)."""
    return fmpz_fdiv_ui(x, base.product[group])


cdef void factor(Factored *f, const fmpz *den, fmpz *tmp) noexcept nogil:
    """Ready f for gcds with den (> 0): which base primes divide den (f.divides, and
    which groups hold any), and, for an incomplete base, den's rough cofactor; nothing where
    the rule takes Euclid for numbers of den's size. The primes' exponents in den are
    learnt by the gcds themselves (``gcd_with``), as far as they need them."""
    cdef const Primes *base = f.base
    cdef slong group, k
    cdef ulong r, p
    f.batching, f.batched = False, False
    f.dyadic = power_of_two(den, &f.twos)
    if base == NULL:
        return
    if by_euclid(f, den):
        fmpz_zero(&f.rough)
        return
    f.twos = fmpz_val2(den)
    if base.complete:
        fmpz_one(&f.rough)
    else:
        fmpz_tdiv_q_2exp(&f.rough, den, f.twos)
    f.used_groups = 0
    for group in range(base.groups):
        f.group_used[group] = False
        r = group_residue(den, base, group)
        for k in range(base.start[group], base.start[group + 1]):
            p = base.prime[k]
            f.divides[k] = r % p == 0
            if f.divides[k]:
                f.group_used[group] = True
                f.exponent[k], f.exact[k] = 1, False
                if not base.complete:
                    fmpz_set_ui(tmp, p)
                    fmpz_remove(&f.rough, &f.rough, tmp)
        f.used_groups += f.group_used[group]


cdef ulong valuation_from(const fmpz *x, ulong p, ulong bound, fmpz *tmp) noexcept nogil:
    """min(v_p(x), bound) for an odd prime p dividing x != 0, bound >= 1. One remainder by
    the largest power p^e (e <= bound) that fits a word settles any valuation below e: the
    remainder, a word, has x's valuation then. Only past it is p^e divided out (into tmp,
    which must not alias x) and the search repeated."""
    cdef ulong v = 0, e, q, r
    cdef const fmpz *y = x
    while True:
        e, q = 0, 1
        while e < bound - v and q <= POWER_LIMIT // p:
            q *= p
            e += 1
        r = fmpz_fdiv_ui(y, q)
        if r != 0:
            while r % p == 0:
                r //= p
                v += 1
            return v
        v += e
        if v >= bound:
            return bound
        fmpz_divexact_ui(tmp, y, q)
        y = tmp


cdef inline ulong min_ulong(ulong a, ulong b) noexcept nogil:
    return a if a < b else b


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
    cdef ulong twos
    if power_of_two(d, &twos):
        fmpz_tdiv_q_2exp(out, x, twos)
    else:
        fmpz_divexact(out, x, d)


cdef inline ulong _common_exponent(const fmpz *num, const fmpz *den, ulong p,
                                   const Factored *f, slong k, fmpz *tmp) noexcept nogil:
    """min(v_p(num), v_p(den)) for the k-th base prime p, dividing both. What a gcd learns of
    v_p(den) is kept in f (a lower bound, exact once seen below num's or found to be 1), so
    that the gcds of a column's or a row's entries with one denominator seldom read it
    again; where it is 1, num is not read either."""
    cdef ulong v, d
    cdef ulong *known = <ulong *>f.exponent
    cdef char *exact = <char *>f.exact
    if known[k] == 1 and not exact[k]:  # first time: is p's exponent in den 1?
        known[k] = valuation_from(den, p, 2, tmp)
        exact[k] = known[k] == 1
    if exact[k]:
        if known[k] == 1:               # p divides num: no need to read num again
            return 1
        return valuation_from(num, p, known[k], tmp)
    v = valuation_from(num, p, <ulong>-1, tmp)
    if v <= known[k]:
        return v
    d = valuation_from(den, p, v, tmp)
    known[k] = d
    exact[k] = d < v
    return d


cdef inline slong _size_class(const fmpz *x) noexcept nogil:
    """k with 2^k <= words of x < 2^(k+1), at most 12 (the rules' tables)."""
    cdef slong words = fmpz_size(x), k = 0
    while words > 1 and k < 12:
        words >>= 1
        k += 1
    return k


cdef double _alone(const Factored *f, const fmpz *den) noexcept nogil:
    """What one gcd with den costs f without a batch, in passes over a number of den's size:
    Euclid, or a remainder by each group of the base that holds a prime of den (and Euclid
    with a rough cofactor)."""
    cdef double gcd = GROUP_PASSES_PER_GCD[_size_class(den)]
    if (f.base != NULL and fmpz_is_one(&f.rough) and f.used_groups < gcd):
        return f.used_groups
    return gcd


cdef bint _batch_pays(const Factored *f, const fmpz *den, slong members) noexcept nogil:
    """Whether one gcd and ``members`` multiplications mod den cost less than ``members``
    gcds taken alone (the measured rule, in passes over a number of den's size). It assumes
    that the members share few of den's primes; batch_end checks that they did."""
    cdef slong k = _size_class(den)
    cdef double gcd = GROUP_PASSES_PER_GCD[k]
    return members * gcd / MULMODS_PER_GCD[k] + gcd < members * _alone(f, den)


cdef bint batch_start(Factored *f, const fmpz *den, slong members) noexcept nogil:
    """Begin a batch of at most ``members`` numbers whose gcds with den (> 0, f readied for
    it by ``factor``) are to be taken: True when the batch pays (the measured rule); then
    every member goes through ``batch_add``, then ``batch_end``, and only members' gcds are
    taken until den is factored again."""
    f.batched = False
    f.batching = not fmpz_is_one(den) and _batch_pays(f, den, members)
    fmpz_one(&f.acc)
    return f.batching


cdef void batch_add(Factored *f, const fmpz *x, const fmpz *den) noexcept nogil:
    """Take x into the batch (a zero is left out: its gcd is den)."""
    if not f.batching or fmpz_is_zero(x):
        return
    if fmpz_is_one(&f.acc):
        fmpz_mod(&f.acc, x, den)
    else:
        fmpz_mul(&f.acc, &f.acc, x)
        fmpz_mod(&f.acc, &f.acc, den)


cdef void batch_end(Factored *f, const fmpz *den, fmpz *tmp) noexcept nogil:
    """Close the batch: part := den's part over the primes that divide some member, so that
    gcd(x, den) = gcd(x, part) for every member x. c = gcd(product, den) holds each such
    prime at least once; while c != 1, c is taken into part and out of den's rest, whose
    gcd with c then holds each prime that den still has more of."""
    if not f.batching:
        return
    f.batching = False
    fmpz_gcd(tmp, &f.acc, den)
    fmpz_one(&f.part)
    fmpz_set(&f.acc, den)                       # den's rest
    while not fmpz_is_one(tmp):
        fmpz_mul(&f.part, &f.part, tmp)
        fmpz_divexact(&f.acc, &f.acc, tmp)
        fmpz_gcd(tmp, &f.acc, tmp)
    # a gcd with part (a remainder, then Euclid at part's size) must beat one taken alone;
    # else the members took most of den's primes, and each takes its gcd as without a batch
    f.batched = (fmpz_size(&f.part) * (1 + GROUP_PASSES_PER_GCD[_size_class(&f.part)]
                                       / <double>fmpz_size(den)) < _alone(f, den))


cdef void gcd_with(fmpz *g, const fmpz *num, const fmpz *den, const Factored *f,
                   fmpz *tmp) noexcept nogil:
    """g := gcd(num, den), f readied for den by ``factor`` (g must not alias num, den or
    tmp). The base primes dividing both are found by one remainder per group that holds
    any of den's primes (or a test per prime, for small numbers and groups); each one's
    power by a few divisibility tests."""
    cdef const Primes *base = f.base
    cdef slong group, k
    cdef ulong r, v, p
    cdef bint residue
    if fmpz_is_zero(num):
        fmpz_set(g, den)
        return
    if f.dyadic:
        fmpz_one_2exp(g, min(fmpz_val2(num), f.twos))
        return
    if f.batched:                       # num is a member of the batch closed last
        if fmpz_is_one(&f.part):
            fmpz_one(g)
        else:
            fmpz_gcd(g, num, &f.part)
        return
    if base == NULL or fmpz_is_zero(&f.rough) or _euclid_cheaper(f.used_groups, num):
        fmpz_gcd(g, num, den)
        return
    fmpz_one(g)
    if f.twos:
        v = fmpz_val2(num)
        fmpz_mul_2exp(g, g, v if v < f.twos else f.twos)
    for group in range(base.groups):
        if not f.group_used[group]:
            continue
        residue = _by_residue(base.start[group + 1] - base.start[group], num)
        r = group_residue(num, base, group) if residue else 0
        for k in range(base.start[group], base.start[group + 1]):
            p = base.prime[k]
            if not f.divides[k]:
                continue
            if residue:
                if r % p:
                    continue
            elif not fmpz_divisible_si(num, <slong>p):
                continue
            v = _common_exponent(num, den, p, f, k, tmp)
            mul_prime_power(g, p, v, tmp)
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
    if f.dyadic:                        # dividing by 2^k shortens both by exactly k bits
        return <long>(fmpz_bits(num) + f.twos + 1 - 2 * min(fmpz_val2(num), f.twos))
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
    cdef ulong twos
    if fmpz_is_zero(num):
        fmpq_zero(q)
        return
    if f.dyadic:
        twos = min(fmpz_val2(num), f.twos)
        if consume:
            fmpz_swap(fmpq_numref(q), num)
            fmpz_tdiv_q_2exp(fmpq_numref(q), fmpq_numref(q), twos)
        else:
            fmpz_tdiv_q_2exp(fmpq_numref(q), num, twos)
        fmpz_one_2exp(fmpq_denref(q), f.twos - twos)
        return
    gcd_with(g, num, den, f, fmpq_denref(q))
    set_reduced(q, num, den, g, consume)


cdef void set_reduced(fmpq *q, fmpz *num, const fmpz *den, const fmpz *g,
                      bint consume) noexcept nogil:
    """q := (num / g) / (den / g), g = gcd(num, den) and num != 0 (``consume``: as in
    set_canonical)."""
    if consume:
        fmpz_swap(fmpq_numref(q), num)
    else:
        fmpz_set(fmpq_numref(q), num)
    if fmpz_is_one(g):
        fmpz_set(fmpq_denref(q), den)
    else:
        divide_exact(fmpq_numref(q), fmpq_numref(q), g)
        divide_exact(fmpq_denref(q), den, g)


# --- residues by a denominator's prime powers ------------------------------------------------

cdef void powers_clear(Powers *P) noexcept nogil:
    free(P.prime); free(P.power); free(P.exponent); free(P.cut)
    free(P.modulus); free(P.inverse); free(P.start)
    P.prime, P.power, P.exponent, P.cut = NULL, NULL, NULL, NULL
    P.modulus, P.inverse, P.start = NULL, NULL, NULL
    P.count, P.groups = 0, 0


cdef bint powers_init(Powers *P, const fmpz *den, const Factored *f, fmpz *tmp) noexcept nogil:
    """P := den's odd prime powers over f's base, f readied for den (> 0) by ``factor``;
    False (P empty) where f takes no remainders for den (Euclid, or an incomplete base) or
    without memory. One valuation per prime of den: den is read once per prime, and the
    numbers over it never again after their residues."""
    cdef const Primes *base = f.base
    cdef slong k, n = 0, g = 0
    cdef ulong p, e, q, product = 1
    P.prime, P.power, P.exponent, P.cut = NULL, NULL, NULL, NULL
    P.modulus, P.inverse, P.start = NULL, NULL, NULL
    P.count, P.groups = 0, 0
    if base == NULL or not fmpz_is_one(&f.rough):
        return False
    for k in range(base.count):
        n += f.divides[k]
    P.prime = <ulong *>malloc((n + 1) * sizeof(ulong))
    P.power = <ulong *>malloc((n + 1) * sizeof(ulong))
    P.exponent = <ulong *>malloc((n + 1) * sizeof(ulong))
    P.cut = <char *>malloc(n + 1)
    P.modulus = <ulong *>malloc((n + 1) * sizeof(ulong))
    P.inverse = <ulong *>malloc((n + 1) * sizeof(ulong))
    P.start = <slong *>malloc((n + 2) * sizeof(slong))
    if (P.prime == NULL or P.power == NULL or P.exponent == NULL or P.cut == NULL
            or P.modulus == NULL or P.inverse == NULL or P.start == NULL):
        powers_clear(P)
        return False
    P.twos = fmpz_val2(den)
    n = 0
    for k in range(base.count):
        if not f.divides[k]:
            continue
        p = base.prime[k]
        q, e = p, 1                     # the largest power of p that fits a word
        while q <= (<ulong>-1) // p:
            q *= p
            e += 1
        P.prime[n] = p
        P.exponent[n] = valuation_from(den, p, e + 1, tmp)  # exact up to e
        P.cut[n] = P.exponent[n] > e
        while P.exponent[n] < e:
            q //= p
            e -= 1
        P.power[n] = q
        if n == 0 or product > (<ulong>-1) // q:
            if n:
                P.modulus[g] = product
                P.inverse[g] = n_preinvert_limb(product)
                g += 1
            P.start[g], product = n, 1
        product *= q
        n += 1
    if n:
        P.modulus[g] = product
        P.inverse[g] = n_preinvert_limb(product)
        g += 1
    P.start[g] = n
    P.count, P.groups = n, g
    return True


cdef void residues(ulong *out, slong stride, const fmpz *x, const Powers *P) noexcept nogil:
    """out[g * stride] := x mod the g-th group's product, for every group."""
    cdef slong g
    if fmpz_is_zero(x):
        for g in range(P.groups):
            out[g * stride] = 0
        return
    for g in range(P.groups):
        out[g * stride] = fmpz_fdiv_ui(x, P.modulus[g])


cdef void tree_clear(Tree *T) noexcept nogil:
    if T.levels == 0:
        return
    _fmpz_vec_clear(T.node, T.start[T.levels])
    _fmpz_vec_clear(T.work, T.start[T.levels])
    free(T.start)
    free(T.res)
    powers_clear(&T.powers)
    T.levels, T.start, T.node, T.work, T.res = 0, NULL, NULL, NULL, NULL


cdef bint tree_init(Tree *T, const fmpz *den, const Factored *f, slong min_groups,
                    fmpz *tmp) noexcept nogil:
    """T := the remainder tree of den's prime powers (f readied for den by ``factor``) where
    they form at least ``min_groups`` (>= 1) groups; False (T empty, levels 0) where they
    do not, where powers_init takes none (an incomplete base), or without memory."""
    cdef slong levels = 1, n, k, i, below, count
    T.levels, T.start, T.node, T.work, T.res = 0, NULL, NULL, NULL, NULL
    if not powers_init(&T.powers, den, f, tmp):
        return False
    if T.powers.groups < min_groups:
        powers_clear(&T.powers)
        return False
    n = T.powers.groups
    while n > 1:
        n = (n + 1) // 2
        levels += 1
    T.start = <slong *>malloc((levels + 1) * sizeof(slong))
    T.res = <ulong *>malloc(T.powers.groups * sizeof(ulong))
    if T.start == NULL or T.res == NULL:
        free(T.start)
        free(T.res)
        powers_clear(&T.powers)
        T.start, T.res = NULL, NULL
        return False
    T.start[0], n = 0, T.powers.groups
    for k in range(levels):
        T.start[k + 1] = T.start[k] + n
        n = (n + 1) // 2
    T.node = _fmpz_vec_init(T.start[levels])
    T.work = _fmpz_vec_init(T.start[levels])
    T.levels = levels
    for i in range(T.powers.groups):
        fmpz_set_ui(T.node + i, T.powers.modulus[i])
    for k in range(1, levels):
        below = T.start[k - 1]
        count = T.start[k] - below
        for i in range(T.start[k + 1] - T.start[k]):
            if 2 * i + 1 < count:
                fmpz_mul(T.node + T.start[k] + i, T.node + below + 2 * i,
                         T.node + below + 2 * i + 1)
            else:
                fmpz_set(T.node + T.start[k] + i, T.node + below + 2 * i)
    return True


cdef const ulong *tree_residues(Tree *T, const fmpz *x) noexcept nogil:
    """T.res[h] := x mod the h-th group product of T's powers, for every group (returned):
    x's remainder by the top, then each node's by its parent's, down to the words."""
    cdef slong k, i, top = T.levels - 1
    cdef const fmpz *above
    cdef fmpz *work = T.work
    if T.levels == 1:
        T.res[0] = fmpz_fdiv_ui(x, T.powers.modulus[0])
        return T.res
    fmpz_mod(work + T.start[top], x, T.node + T.start[top])
    for k in range(top - 1, 0, -1):
        for i in range(T.start[k + 1] - T.start[k]):
            above = work + T.start[k + 1] + i // 2
            if fmpz_cmp(above, T.node + T.start[k] + i) < 0:
                fmpz_set(work + T.start[k] + i, above)
            else:
                fmpz_mod(work + T.start[k] + i, above, T.node + T.start[k] + i)
    for i in range(T.powers.groups):
        T.res[i] = fmpz_fdiv_ui(work + T.start[1] + i // 2, T.powers.modulus[i])
    return T.res


cdef ulong dot_mod(const ulong *a, const ulong *b, slong n, ulong m, ulong minv) noexcept nogil:
    """sum a[i] b[i] mod m, residues a[i], b[i] < m of a group's product m."""
    return bitprop_dot_mod(a, b, n, m, minv)


cdef ulong mul_mod(ulong a, ulong b, ulong m, ulong minv) noexcept nogil:
    """a b mod m, residues a, b < m of a group's product m."""
    return bitprop_mul_mod(a, b, m, minv)


cdef ulong add_mod(ulong a, ulong b, ulong m) noexcept nogil:
    """a + b mod m, residues a, b < m of a group's product m."""
    return bitprop_add_mod(a, b, m)


cdef void gcd_from_residues(fmpz *g, const fmpz *num, const fmpz *den, const ulong *res,
                            slong stride, const Powers *P, fmpz *tmp) noexcept nogil:
    """g := gcd(num, den), num != 0, P den's powers and res[h * stride] num mod the h-th
    group's product: each prime's power in the gcd is read off a word (p^e divides the
    residue when it divides num); only a power cut to fit a word sends back to num and
    den. g must not alias num, den or tmp."""
    cdef slong h, k
    cdef ulong r, v, twos, p, word = 1
    fmpz_one(g)
    for h in range(P.groups):
        for k in range(P.start[h], P.start[h + 1]):
            p = P.prime[k]
            r = res[h * stride] % P.power[k]
            if r % p:
                continue
            if r == 0:
                v = P.exponent[k]
                if P.cut[k]:            # v_p(den) >= exponent[k] only: read num, then den
                    v = valuation_from(num, p, <ulong>-1, tmp)
                    if v > P.exponent[k]:
                        v = valuation_from(den, p, v, tmp)
            else:
                v = 0
                while r % p == 0:
                    r //= p
                    v += 1
            while v and word <= (<ulong>-1) // p:   # small powers gather in a word
                word *= p
                v -= 1
            if v:
                fmpz_mul_ui(g, g, word)
                word = 1
                mul_prime_power(g, p, v, tmp)
    fmpz_mul_ui(g, g, word)
    if P.twos:
        twos = fmpz_val2(num)
        fmpz_mul_2exp(g, g, twos if twos < P.twos else P.twos)


def base_of(denominators):
    """(primes, complete) of the base that ``denominators`` (positive ints) give."""
    cdef PrimeBase base = PrimeBase()
    cdef fmpz_t x
    fmpz_init(x)
    try:
        for d in denominators:
            fmpz_set_pyint(x, d)
            base.add(x)
        base.finish()
        return base.primes, base.complete
    finally:
        fmpz_clear(x)


cdef PrimeBase _test_base(Factored *f, base_denominators, fmpz *d):
    """For the test helpers below: f over the primes of ``base_denominators`` (None: no
    base). Returns the base, which must live as long as f is used."""
    cdef PrimeBase base = None
    if base_denominators is not None:
        base = PrimeBase()
        for value in base_denominators:
            fmpz_set_pyint(d, value)
            base.add(d)
        base.finish()
        factored_set_base(f, &base.d)
    return base


def batch_gcds(numbers, den, base_denominators=None, force=False):
    """For tests: gcd(x, den) for each x of ``numbers`` (ints; den > 0), taken as the kernels
    take them for a column over den: over the primes of ``base_denominators`` (None: no
    base), in one batch where the rule takes one (``force``: always, reading ``part`` even
    where batch_end would not). Returns (gcds, batched, part)."""
    cdef PrimeBase base
    cdef Factored f
    cdef fmpz_t d, g, tmp
    cdef fmpz *xs
    cdef slong i, n = len(numbers)
    cdef bint batched
    factored_init(&f)
    fmpz_init(d); fmpz_init(g); fmpz_init(tmp)
    xs = _fmpz_vec_init(n + 1)
    try:
        base = _test_base(&f, base_denominators, d)
        for i in range(n):
            fmpz_set_pyint(xs + i, numbers[i])
        fmpz_set_pyint(d, den)
        factor(&f, d, tmp)
        if batch_start(&f, d, n) or force:
            f.batching = True
            for i in range(n):
                batch_add(&f, xs + i, d)
            batch_end(&f, d, tmp)
            f.batched = f.batched or force
        batched = f.batched
        gcds = []
        for i in range(n):
            gcd_with(g, xs + i, d, &f, tmp)
            gcds.append(fmpz_get_pyint(g))
        return gcds, bool(batched), fmpz_get_pyint(&f.part) if batched else None
    finally:
        _fmpz_vec_clear(xs, n + 1)
        fmpz_clear(d); fmpz_clear(g); fmpz_clear(tmp)
        factored_clear(&f)


def canonical_forms(numbers, den, base_denominators=None):
    """For tests: (p, q, bits) of each x / den in lowest terms (ints; den > 0) as the kernels
    take them for a column over den (set_canonical, canonical_bits), over the primes of
    ``base_denominators`` (None: no base)."""
    cdef PrimeBase base
    cdef Factored f
    cdef fmpz_t d, x, g, tmp
    cdef fmpq_t q
    factored_init(&f)
    fmpz_init(d); fmpz_init(x); fmpz_init(g); fmpz_init(tmp); fmpq_init(q)
    try:
        base = _test_base(&f, base_denominators, d)
        fmpz_set_pyint(d, den)
        factor(&f, d, tmp)
        forms = []
        for number in numbers:
            fmpz_set_pyint(x, number)
            bits = canonical_bits(x, d, &f, g, tmp)
            set_canonical(q, x, d, &f, g, False)
            forms.append((fmpz_get_pyint(fmpq_numref(q)), fmpz_get_pyint(fmpq_denref(q)),
                          bits))
        return forms
    finally:
        fmpz_clear(d); fmpz_clear(x); fmpz_clear(g); fmpz_clear(tmp); fmpq_clear(q)
        factored_clear(&f)


def tree_gcds(numbers, den, base_denominators):
    """For tests: gcd(x, den) for each nonzero x of ``numbers`` (ints; den > 0, its odd part
    over the primes of ``base_denominators``) from x's residues by a remainder tree of den's
    prime powers, as gradient sums take them; None where there is no tree (a base that
    does not cover den, or den a power of 2).
    Returns (gcds, groups)."""
    cdef PrimeBase base
    cdef Factored f
    cdef Tree T
    cdef fmpz_t d, x, g, tmp
    factored_init(&f)
    fmpz_init(d); fmpz_init(x); fmpz_init(g); fmpz_init(tmp)
    T.levels = 0
    try:
        base = _test_base(&f, base_denominators, d)
        fmpz_set_pyint(d, den)
        factor(&f, d, tmp)
        if not tree_init(&T, d, &f, 1, tmp):
            return None
        gcds = []
        for number in numbers:
            fmpz_set_pyint(x, number)
            gcd_from_residues(g, x, d, tree_residues(&T, x), 1, &T.powers, tmp)
            gcds.append(fmpz_get_pyint(g))
        return gcds, T.powers.groups
    finally:
        tree_clear(&T)
        fmpz_clear(d); fmpz_clear(x); fmpz_clear(g); fmpz_clear(tmp)
        factored_clear(&f)
