# cython: language_level=3
"""Exact sums kept as integer numerators over a few shared denominators, not in lowest terms:
what a Dask shard sends up the reduction tree.

A dense layer's gradient rows come out of the kernel as integers over one common denominator.
Putting each entry in lowest terms costs a gcd, and so does *checking* that a received value is
in lowest terms: a shard that canonicalised its gradient, and every tree node that checked and
added two canonical partial sums, would each pay a gcd per entry. A PartialSums pays it once,
at the end (``canonical``), over the pass's primes (bitprop._factored) and on threads; adding
two is integer work with one lcm per pair of denominators; and its bytes need no lowest-terms
check, since they claim none (each denominator is checked positive, every count and index
against the bytes left, as RationalVector's).
"""

from libc.stdlib cimport malloc, free
from libc.string cimport memcpy

from bitprop._flint cimport *
from bitprop._convert cimport (RationalVector, vector_adopt, fmpz_get_pyint, fmpz_set_pyint,
                               put_count, integer_size, put_integer, get_count, get_integer,
                               put_index, get_index_flag, get_index)
from bitprop._factored cimport (PrimeBase, Factored, factored_init, factored_clear,
                                factored_set_base, factor, set_canonical)
from bitprop.errors import DamagedBytesError
from bitprop.workers import run_workers

#: ``canonical`` also factors the denominators themselves (FLINT's word factoring, trial
#: division for longer ones) when there are at most this many: a dense pass has one per layer;
#: a scalar pass's canonical entries have one each, and rely on ``primes`` instead.
cdef Py_ssize_t FACTORED_DENOMINATORS = 1024
#: A table of every pair of the two sides' denominators is kept up to this many pairs (more
#: and each run of equal pairs gets its own denominator).
cdef slong PAIR_TABLE_LIMIT = 1 << 20


cdef class PartialSums:
    """n exact entries: entry i is num[j] / den[slot[j]] with j = index[i] (j = i without an
    index), den > 0, not necessarily in lowest terms. Built by ``sums_from`` out of a pass's
    accumulators; ``plus`` adds two; ``canonical`` gives the RationalVector."""

    def __dealloc__(self):
        if self.num != NULL:
            _fmpz_vec_clear(self.num, self.m + 1)
        if self.den != NULL:
            _fmpz_vec_clear(self.den, self.capacity + 1)
        free(self.slot)
        free(self.index)

    def __len__(self):
        return self.n

    @staticmethod
    def from_pairs(pairs, index=None):
        """Sums of (numerator, denominator > 0) int pairs, entry i being pairs[index[i]]
        (without ``index``, pairs[i]); runs of equal denominators share one.

        >>> PartialSums.from_pairs([(2, 4), (6, 4)]).canonical().tolist()
        [Fraction(1, 2), Fraction(3, 2)]
        """
        pairs = list(pairs)
        cdef Py_ssize_t i, m = len(pairs)
        cdef fmpq *values = _fmpq_vec_init(m + 1)
        cdef long *slots = NULL
        try:
            for i, (numerator, denominator) in enumerate(pairs):
                if denominator <= 0:
                    raise ValueError(f"pair {i}: denominator {denominator} is not positive")
                fmpz_set_pyint(fmpq_numref(values + i), numerator)
                fmpz_set_pyint(fmpq_denref(values + i), denominator)
            if index is None:
                return sums_from(values, m, NULL, m)
            index = list(index)
            slots = <long *>malloc((len(index) + 1) * sizeof(long))
            if slots == NULL:
                raise MemoryError()
            for i, j in enumerate(index):
                if not 0 <= j < m:
                    raise ValueError(f"index entry {i} is {j}, past the {m} pairs")
                slots[i] = j
            return sums_from(values, m, slots, len(index))
        finally:
            _fmpq_vec_clear(values, m + 1)
            free(slots)

    def pairs(self):
        """The entries as (numerator, denominator) int pairs, as stored (for tests)."""
        cdef Py_ssize_t i, j
        out = []
        for i in range(self.n):
            j = self._stored(i)
            out.append((fmpz_get_pyint(self.num + j), fmpz_get_pyint(self.den + self.slot[j])))
        return out

    cdef Py_ssize_t _stored(self, Py_ssize_t i):
        return self.index[i] if self.index != NULL else i

    # --- adding -------------------------------------------------------------------------
    def plus(self, PartialSums other):
        """The entrywise exact sum (same length and, if any, the same index)."""
        if (other.n != self.n or other.m != self.m
                or (self.index == NULL) != (other.index == NULL)):
            raise ValueError(f"partial sums of different shapes ({self.n} entries, {self.m} "
                             f"stored; {other.n}, {other.m})")
        cdef Py_ssize_t i
        if self.index != NULL:
            for i in range(self.n):
                if self.index[i] != other.index[i]:
                    raise ValueError(f"partial sums with different indices at entry {i}")
        cdef PartialSums out = _empty(self.n, self.m, self.m, self.index != NULL)
        if self.index != NULL:
            memcpy(out.index, self.index, self.n * sizeof(long))
        cdef slong pairs = self.k * other.k
        cdef slong *table = NULL
        if 0 < pairs <= PAIR_TABLE_LIMIT:
            table = <slong *>malloc(pairs * sizeof(slong))
            if table == NULL:
                raise MemoryError()
            for i in range(pairs):
                table[i] = -1
        try:
            with nogil:
                _add(out, self, other, table)
        finally:
            free(table)
        return out

    # --- lowest terms -------------------------------------------------------------------
    def canonical(self, primes=(), int threads=1):
        """The entries in lowest terms as a RationalVector (indexed like self).

        ``primes``: primes the denominators are likely made of (the network's and the data's,
        ``bitprop._factored.base_of``); gcds over them are a few remainders. Any other factor
        is still found (trial division, then Euclid on what is left): the result is exact
        whatever ``primes`` holds, provided each is a prime."""
        cdef PrimeBase base = PrimeBase()
        cdef Py_ssize_t j
        for p in primes:
            base.add_prime(p)
        if self.k <= FACTORED_DENOMINATORS:
            for j in range(self.k):
                base.add(self.den + j)
        base.finish()
        cdef fmpq *out = _fmpq_vec_init(self.m + 1)
        cdef RationalVector vector = vector_adopt(out, self.m)
        if self.index != NULL:
            vector.index = <long *>malloc((self.n + 1) * sizeof(long))
            if vector.index == NULL:
                raise MemoryError()
            memcpy(vector.index, self.index, self.n * sizeof(long))
            vector.n = self.n
        threads = max(1, min(threads, self.m // 64 + 1))
        # Thread t takes stored values t, t + threads, ...: a layer of dead ReLUs (zeros,
        # free) or of long numerators lands on every thread alike.
        jobs = [_canonical_job(self, base, vector, out, t, threads) for t in range(threads)]

        def stop():
            for job in jobs:
                (<_Canonical>job).stop = 1

        run_workers([job.work for job in jobs], stop)
        return vector

    # --- bytes --------------------------------------------------------------------------
    def to_bytes(self):
        """n, m, k, whether indexed (and the n indices), the k denominators, then per stored
        value its denominator's slot and its numerator: no decimal text, linear time."""
        cdef Py_ssize_t i, size = 40 + (10 * self.n if self.index != NULL else 0), at = 0
        for i in range(self.k):
            size += integer_size(self.den + i)
        for i in range(self.m):
            size += 10 + integer_size(self.num + i)
        cdef bytearray data = bytearray(size)
        cdef unsigned char *b = <unsigned char *><char *>data
        at = put_count(b, at, self.n)
        at = put_count(b, at, self.m)
        at = put_count(b, at, self.k)
        at = put_index(b, at, self.index, self.n)
        for i in range(self.k):
            at = put_integer(b, at, self.den + i)
        for i in range(self.m):
            at = put_count(b, at, self.slot[i])
            at = put_integer(b, at, self.num + i)
        return bytes(data[:at])

    @staticmethod
    def from_bytes(bytes data):
        """The sums of ``to_bytes``; damaged bytes raise DamagedBytesError (checked before
        anything is allocated or read), never a crash or a zero or negative denominator."""
        cdef const unsigned char *b = <const unsigned char *><const char *>data
        cdef Py_ssize_t i, at = 0, size = len(data)
        cdef ulong n, m, k, indexed, u, room
        at = get_count(b, at, size, &n)
        at = get_count(b, at, size, &m)
        at = get_count(b, at, size, &k)
        at = get_index_flag(b, at, size, n, m, &indexed)
        room = size - at
        if (indexed and n > room) or k > room or m > room // 2:
            raise _damaged(at, f"{n} entries, {m} stored values and {k} denominators, past "
                               f"the {room} bytes left")       # each takes a byte at least
        if m > 0 and k == 0:
            raise _damaged(at, f"{m} stored values but no denominator")
        cdef PartialSums sums = _empty(n, m, k, indexed)
        if indexed:
            at = get_index(sums.index, n, m, b, at, size)
        for i in range(sums.k):
            at = get_integer(sums.den + i, b, at, size)
            if fmpz_sgn(sums.den + i) <= 0:
                raise _damaged(at, f"denominator {i} is not positive")
        for i in range(sums.m):
            at = get_count(b, at, size, &u)
            if u >= k:
                raise _damaged(at - 1, f"stored value {i} has denominator {u}, past the {k}")
            sums.slot[i] = u
            at = get_integer(sums.num + i, b, at, size)
        if at != size:
            raise _damaged(at, f"{size - at} bytes left over after the last value")
        return sums


cdef object _damaged(Py_ssize_t at, str problem):
    return DamagedBytesError(f"damaged PartialSums bytes, at byte {at}: {problem}")


cdef PartialSums _empty(Py_ssize_t n, Py_ssize_t m, Py_ssize_t k, bint indexed):
    """Sums of n entries over m stored values (an index when ``indexed``, then unset) and
    room for k denominators, all zero."""
    cdef PartialSums sums = PartialSums.__new__(PartialSums)
    sums.n, sums.m, sums.k, sums.capacity = n, m, k, k
    sums.num = _fmpz_vec_init(m + 1)
    sums.den = _fmpz_vec_init(k + 1)
    sums.slot = <slong *>malloc((m + 1) * sizeof(slong))
    if sums.slot == NULL:
        raise MemoryError()
    if indexed:
        sums.index = <long *>malloc((n + 1) * sizeof(long))
        if sums.index == NULL:
            raise MemoryError()
    return sums


cdef PartialSums sums_from(fmpq *values, Py_ssize_t m, const long *index, Py_ssize_t n):
    """Sums whose stored values are ``values[:m]`` (numerators moved out: values keep zeros),
    entry i being values[index[i]] (index NULL: n = m, entry i is values[i]). Runs of equal
    denominators share one."""
    cdef PartialSums sums = _empty(n, m, m, index != NULL)
    cdef Py_ssize_t i, k = 0
    if index != NULL:
        memcpy(sums.index, index, n * sizeof(long))
    with nogil:
        for i in range(m):
            fmpz_swap(sums.num + i, fmpq_numref(values + i))
            if k == 0 or not fmpz_equal(sums.den + k - 1, fmpq_denref(values + i)):
                fmpz_set(sums.den + k, fmpq_denref(values + i))
                k += 1
            sums.slot[i] = k - 1
    sums.k = k
    return sums


cdef void _add(PartialSums out, PartialSums a, PartialSums b, slong *table) noexcept nogil:
    """out := a + b stored value by stored value. For each pair of denominators (da, db) met,
    out gets L = lcm(da, db) once (da itself when they are equal) and the two cofactors; a
    numerator is then na (L / da) + nb (L / db)."""
    cdef Py_ssize_t i
    cdef slong sa, sb, s, last_a = -1, last_b = -1, last = -1, k = 0
    cdef fmpz *ca = _fmpz_vec_init(out.k + 1)     # cofactors per out denominator
    cdef fmpz *cb = _fmpz_vec_init(out.k + 1)
    for i in range(a.m):
        sa, sb = a.slot[i], b.slot[i]
        if sa == last_a and sb == last_b:
            s = last
        else:
            s = table[sa * b.k + sb] if table != NULL else -1
            if s < 0:
                s = k
                k += 1
                if fmpz_equal(a.den + sa, b.den + sb):
                    fmpz_set(out.den + s, a.den + sa)
                    fmpz_one(ca + s)
                    fmpz_one(cb + s)
                else:
                    fmpz_lcm(out.den + s, a.den + sa, b.den + sb)
                    fmpz_divexact(ca + s, out.den + s, a.den + sa)
                    fmpz_divexact(cb + s, out.den + s, b.den + sb)
                if table != NULL:
                    table[sa * b.k + sb] = s
            last_a, last_b, last = sa, sb, s
        out.slot[i] = s
        if fmpz_is_one(ca + s) and fmpz_is_one(cb + s):
            fmpz_add(out.num + i, a.num + i, b.num + i)
        else:
            fmpz_mul(out.num + i, a.num + i, ca + s)
            fmpz_addmul(out.num + i, b.num + i, cb + s)
    _fmpz_vec_clear(ca, out.k + 1)
    _fmpz_vec_clear(cb, out.k + 1)
    out.k = k


cdef class _Canonical:
    """One thread's share of ``canonical``: stored values start, start + step, ... into out.
    Holds the sums, the base and the result vector, so that a thread abandoned after Ctrl-C
    never reads freed memory."""
    cdef PartialSums sums
    cdef PrimeBase base
    cdef object owner               # the RationalVector that owns out
    cdef fmpq *out
    cdef Py_ssize_t start, step
    cdef public int stop

    def work(self):
        cdef Factored f
        cdef fmpz_t g, tmp
        cdef Py_ssize_t i
        cdef slong last = -1
        cdef PartialSums sums = self.sums
        factored_init(&f)
        factored_set_base(&f, &self.base.d)
        fmpz_init(g); fmpz_init(tmp)
        with nogil:
            i = self.start - self.step
            while i + self.step < sums.m:
                i += self.step
                if self.stop:
                    break
                if sums.slot[i] != last:
                    last = sums.slot[i]
                    factor(&f, sums.den + last, tmp)
                set_canonical(self.out + i, sums.num + i, sums.den + last, &f, g, False)
            fmpz_clear(g); fmpz_clear(tmp)
            factored_clear(&f)


cdef _Canonical _canonical_job(PartialSums sums, PrimeBase base, RationalVector owner,
                               fmpq *out, Py_ssize_t start, Py_ssize_t step):
    cdef _Canonical job = _Canonical.__new__(_Canonical)
    job.sums, job.base, job.owner, job.out = sums, base, owner, out
    job.start, job.step = start, step
    return job
