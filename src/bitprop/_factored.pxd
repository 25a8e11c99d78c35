# cython: language_level=3
# Denominators over the pass's own primes, so that gcds with them are a few remainders
# instead of Euclid's algorithm (see _factored.pyx).
from bitprop._flint cimport fmpz, fmpq, ulong, slong, fmpz_bits, fmpz_val2


cdef struct Primes:
    # The primes of a pass's base denominators (2 apart), packed into groups whose product
    # fits a word: one remainder of a number by a group's product tells which of the
    # group's primes divide it.
    slong count
    ulong *prime
    slong groups
    ulong *product              # per group
    slong *start                # groups + 1: group g holds prime[start[g]:start[g + 1]]
    bint has_two                # 2 divides some base denominator
    bint complete               # every base denominator is a product of these primes


cdef struct Factored:
    # How one worker takes gcds with the pass's denominators: over ``base`` (NULL: Euclid
    # only), knowing of the denominator last given to ``factor`` which base primes divide
    # it, which groups hold any of them, its power of 2, and its rough cofactor (its part
    # free of the base's primes; 0 where Euclid is taken).
    const Primes *base
    char *divides               # per base prime: whether it divides the denominator
    ulong *exponent             # per base prime that divides it: what is known of its
    char *exact                 # exponent in it (a lower bound, or exact where exact[k])
    char *group_used            # per group
    slong used_groups
    ulong twos                  # the denominator's power of 2
    bint dyadic                 # the denominator is 2^twos (float data): gcds are shifts
    fmpz rough
    # A batch (batch_start .. batch_end): the gcds of many numbers with one denominator
    # taken together, where Euclid would take each (see _factored.pyx).
    bint batching               # between batch_start and batch_end, products kept
    bint batched                # after batch_end: gcds of the batch's members read ``part``
    fmpz acc                    # the members' product mod den
    fmpz part                   # den's part over the primes dividing some member


cdef struct Powers:
    # A denominator's prime powers over a complete base, p^e with e = v_p(den) (capped at
    # what fits a word: ``cut``), packed into groups whose product fits a word:
    # the residues of a number by the groups' products give its gcd with den without
    # reading the number again (``gcd_from_residues``), and those of a product of matrices
    # come from its factors' (``dot_mod``).
    slong count
    ulong *prime
    ulong *power
    ulong *exponent             # v_p(den), or where cut a lower bound past power's
    char *cut                   # power = p^e' for some e' < v_p(den)
    slong groups
    ulong *modulus              # per group
    ulong *inverse              # per group: n_preinvert_limb(modulus)
    slong *start                # groups + 1
    ulong twos                  # v_2(den)


cdef struct Tree:
    # A remainder tree over a denominator's prime powers (``powers``): level 0 their group
    # products, each level above the products of pairs below, the last one node, their
    # product. A number's residues by every group (into ``res``) then take one division by
    # the top and smaller ones down the levels (``tree_residues``), not one pass over the
    # number per group. ``work`` holds a residue per node, reused from number to number.
    Powers powers
    slong levels                # 0: no tree
    slong *start                # levels + 1 offsets into node and work
    fmpz *node
    fmpz *work
    ulong *res


cdef class PrimeBase:
    cdef Primes d
    cdef slong capacity
    cdef ulong last                  # the last word-size denominator added (a repeat is free)

    cdef void add(self, const fmpz *den) noexcept
    cdef void add_denominators(self, const fmpq *values, slong n) noexcept
    cdef void add_prime(self, ulong p) noexcept
    cdef PrimeBase copy(self)
    cdef void finish(self) noexcept


cdef void factored_init(Factored *f) noexcept nogil
cdef void factored_clear(Factored *f) noexcept nogil
cdef int factored_set_base(Factored *f, const Primes *base) except -1
cdef void factor(Factored *f, const fmpz *den, fmpz *tmp) noexcept nogil
cdef void divide_exact(fmpz *out, const fmpz *x, const fmpz *d) noexcept nogil
cdef bint batch_start(Factored *f, const fmpz *den, slong members) noexcept nogil
cdef void batch_add(Factored *f, const fmpz *x, const fmpz *den) noexcept nogil
cdef void batch_end(Factored *f, const fmpz *den, fmpz *tmp) noexcept nogil
cdef bint powers_init(Powers *P, const fmpz *den, const Factored *f, fmpz *tmp) noexcept nogil
cdef void powers_clear(Powers *P) noexcept nogil
cdef void residues(ulong *out, slong stride, const fmpz *x, const Powers *P) noexcept nogil
cdef bint tree_init(Tree *T, const fmpz *den, const Factored *f, slong min_groups,
                    fmpz *tmp) noexcept nogil
cdef void tree_clear(Tree *T) noexcept nogil
cdef const ulong *tree_residues(Tree *T, const fmpz *x) noexcept nogil
cdef ulong dot_mod(const ulong *a, const ulong *b, slong n, ulong m, ulong minv) noexcept nogil
cdef ulong mul_mod(ulong a, ulong b, ulong m, ulong minv) noexcept nogil
cdef ulong add_mod(ulong a, ulong b, ulong m) noexcept nogil
cdef void gcd_from_residues(fmpz *g, const fmpz *num, const fmpz *den, const ulong *res,
                            slong stride, const Powers *P, fmpz *tmp) noexcept nogil
cdef void set_reduced(fmpq *q, fmpz *num, const fmpz *den, const fmpz *g,
                      bint consume) noexcept nogil
cdef void gcd_with(fmpz *g, const fmpz *num, const fmpz *den, const Factored *f,
                   fmpz *tmp) noexcept nogil
cdef long canonical_bits(const fmpz *num, const fmpz *den, const Factored *f, fmpz *g,
                         fmpz *tmp) noexcept nogil
cdef void set_canonical(fmpq *q, fmpz *num, const fmpz *den, const Factored *f, fmpz *g,
                        bint consume) noexcept nogil


cdef inline bint power_of_two(const fmpz *x, ulong *exponent) noexcept nogil:
    """Whether x > 0 is a power of 2 (float data's denominators), its exponent in *exponent."""
    exponent[0] = fmpz_val2(x)
    return fmpz_bits(x) - 1 == exponent[0]
