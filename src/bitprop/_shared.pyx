# cython: language_level=3
"""Shared parameters in FLINT: a parameter's gradient is the exact sum of the gradients of the
edge coordinates bound to it, and a step moves every one of them by lr times that sum.

A coordinate is ``2 e`` (edge e's weight) or ``2 e + 1`` (its bias). The binding is CSR:
parameter p holds ``coords[ptr[p]:ptr[p + 1]]``. The kernels know nothing of sharing: they
give per-edge gradients, and this module turns them into per-parameter ones, with the GIL
released and the stop flag polled between operations (run through bitprop.workers).
"""

from libc.stdlib cimport calloc, free

from bitprop._flint cimport *
from bitprop._convert cimport RationalVector, fmpq_set_fraction, vector_adopt
from bitprop._factored cimport power_of_two


#: Parameters a share of combine takes in a row before the next share's turn.
cdef Py_ssize_t SUM_BLOCK = 64


cdef inline const fmpq *_at(RationalVector v, Py_ssize_t i) noexcept nogil:
    """Entry i of a vector (its storage may be indexed: bias gradients share dL/dz)."""
    return v.data + (v.index[i] if v.index != NULL else i)


cdef inline const fmpq *_coordinate(RationalVector weights, RationalVector biases,
                                    long long c) noexcept nogil:
    return _at(biases, c >> 1) if c & 1 else _at(weights, c >> 1)


cdef struct Sum:
    # A running sum num / den (den = 2^twos while every term is over a power of 2, twos
    # -1 once one is not), and a term not yet added: ``count`` times ``*pending``.
    fmpz num
    fmpz den
    long twos
    const fmpq *pending
    Py_ssize_t count


cdef class PartialSums:
    """Per slice of the coordinates and per parameter, a running Sum (Sharing.accumulate),
    read by Sharing.combine."""

    cdef Sum *sums                  # parts * n_params
    cdef readonly Py_ssize_t n_params
    cdef readonly int parts

    def __cinit__(self, Py_ssize_t n_params, int parts):
        cdef Py_ssize_t k
        self.n_params, self.parts = n_params, max(1, parts)
        self.sums = <Sum *>calloc(self.parts * n_params + 1, sizeof(Sum))
        if self.sums == NULL:
            raise MemoryError()
        for k in range(self.parts * n_params):
            fmpz_one(&self.sums[k].den)     # num 0 (zeroed memory), den 1 = 2^0

    def __dealloc__(self):
        cdef Py_ssize_t k
        if self.sums != NULL:
            for k in range(self.parts * self.n_params):
                fmpz_clear(&self.sums[k].num)
                fmpz_clear(&self.sums[k].den)
            free(self.sums)


cdef class Sharing:
    """A network's sharing map in C: what sums and steps over shared parameters need."""

    cdef long long *ptr             # P + 1
    cdef long long *coords          # ptr[P] coordinates
    cdef long long *param_of        # per coordinate (2 E): its parameter, or -1
    cdef char *param_trainable      # P
    cdef char *edge_trainable       # E
    cdef Py_ssize_t n_params, n_edges
    cdef public int stop

    def __cinit__(self, ptr, coords, param_trainable, edge_trainable):
        cdef Py_ssize_t p, k, c
        self.n_params, self.n_edges = len(param_trainable), len(edge_trainable)
        self.ptr = <long long *>calloc(self.n_params + 1, sizeof(long long))
        self.coords = <long long *>calloc(len(coords) + 1, sizeof(long long))
        self.param_of = <long long *>calloc(2 * self.n_edges + 1, sizeof(long long))
        self.param_trainable = <char *>calloc(self.n_params + 1, 1)
        self.edge_trainable = <char *>calloc(self.n_edges + 1, 1)
        if (self.ptr == NULL or self.coords == NULL or self.param_of == NULL
                or self.param_trainable == NULL or self.edge_trainable == NULL):
            raise MemoryError()
        for p in range(self.n_params + 1):
            self.ptr[p] = ptr[p]
        for k in range(len(coords)):
            self.coords[k] = coords[k]
        for c in range(2 * self.n_edges):
            self.param_of[c] = -1
        for p in range(self.n_params):
            self.param_trainable[p] = 1 if param_trainable[p] else 0
            for k in range(self.ptr[p], self.ptr[p + 1]):
                self.param_of[self.coords[k]] = p
        for k in range(self.n_edges):
            self.edge_trainable[k] = 1 if edge_trainable[k] else 0

    def __dealloc__(self):
        free(self.ptr)
        free(self.coords)
        free(self.param_of)
        free(self.param_trainable)
        free(self.edge_trainable)

    def halt(self):
        self.stop = 1

    def _check(self, RationalVector weights, RationalVector biases):
        if weights.n != self.n_edges or biases.n != self.n_edges:
            raise ValueError(f"vectors of {weights.n} and {biases.n} entries for "
                             f"{self.n_edges} edges")

    def first_unequal(self, RationalVector weights, RationalVector biases):
        """The first position k in ``coords`` whose value differs from its parameter's first
        coordinate, or -1 when every parameter's coordinates are equal."""
        cdef Py_ssize_t p, k, found = -1
        self._check(weights, biases)
        with nogil:
            for p in range(self.n_params):
                for k in range(self.ptr[p] + 1, self.ptr[p + 1]):
                    if found < 0 and not fmpq_equal(
                            _coordinate(weights, biases, self.coords[k]),
                            _coordinate(weights, biases, self.coords[self.ptr[p]])):
                        found = k
        return found

    def sums(self, RationalVector grad_w, RationalVector grad_b):
        """Per parameter, the exact sum of its coordinates' gradients (a RationalVector in
        parameter order; 0 for a frozen parameter, which nothing reports); None when stopped."""
        partial = self.partial_sums(1)
        out = self.new_sums()
        self.accumulate(partial, grad_w, grad_b, 0)
        self.combine(partial, out, 0)
        return None if self.stop else out

    def new_sums(self):
        """A RationalVector of zeros, one per parameter, for combine."""
        return vector_adopt(_fmpq_vec_init(self.n_params + 1), self.n_params)

    def partial_sums(self, int parts):
        """Empty partial sums of ``parts`` slices of the coordinates, for accumulate."""
        return PartialSums(self.n_params, parts)

    def accumulate(self, PartialSums partial, RationalVector grad_w, RationalVector grad_b,
                   int part):
        """Slice ``part`` of the coordinates (in edge order, so memory is read in the order
        the kernels wrote it) added to its partial sum per parameter, for one thread each."""
        cdef Py_ssize_t c0, c1
        self._check(grad_w, grad_b)
        if partial.n_params != self.n_params or not 0 <= part < partial.parts:
            raise ValueError(f"part {part} of partial sums for {partial.n_params} parameters")
        c0 = 2 * self.n_edges * part // partial.parts
        c1 = 2 * self.n_edges * (part + 1) // partial.parts
        with nogil:
            self._accumulate(partial.sums + part * self.n_params, grad_w, grad_b, c0, c1)

    def combine(self, PartialSums partial, RationalVector out, int part):
        """Share ``part`` of the parameters (blocks of SUM_BLOCK dealt round-robin over the
        partial's parts): the sum of their partial sums, in lowest terms, into ``out``."""
        cdef Py_ssize_t block
        if out.n != self.n_params or partial.n_params != self.n_params:
            raise ValueError(f"{out.n} sums for {self.n_params} parameters")
        with nogil:
            block = part * SUM_BLOCK
            while block < self.n_params and not self.stop:
                _combine(out.data, partial.sums, partial.parts, self.n_params, block,
                         min(block + SUM_BLOCK, self.n_params))
                block += partial.parts * SUM_BLOCK

    cdef void _accumulate(self, Sum *sums, RationalVector grad_w, RationalVector grad_b,
                          Py_ssize_t c0, Py_ssize_t c1) noexcept nogil:
        """sums[p] += the gradients of parameter p's coordinates among c0 <= c < c1, for
        every trainable p. Consecutive coordinates of a parameter that read one stored value
        (the biases of a vertex's in-edges all hold its dL/dz) are added once, times their
        count."""
        cdef Py_ssize_t c
        cdef long long p
        cdef const fmpq *value
        cdef fmpz_t tmp
        fmpz_init(tmp)
        for c in range(c0, c1):
            if (c & 1023) == 0 and self.stop:
                break
            p = self.param_of[c]
            if p < 0 or not self.param_trainable[p]:
                continue
            value = _coordinate(grad_w, grad_b, c)
            if value == sums[p].pending:
                sums[p].count += 1
                continue
            _flush(sums + p, tmp)
            sums[p].pending, sums[p].count = value, 1
        for p in range(self.n_params):
            _flush(sums + p, tmp)
        fmpz_clear(tmp)

    def descend(self, RationalVector weights, RationalVector biases, RationalVector grad_w,
                RationalVector grad_b, lr):
        """(weights, biases) after one step theta := theta - lr * g: a coordinate bound to a
        trainable parameter moves by lr times the parameter's summed gradient (so the
        coordinates of a parameter stay equal), one bound to a frozen parameter stays, and
        an unbound one moves by its own gradient when its edge is trainable. None when
        stopped."""
        self._check(weights, biases)
        self._check(grad_w, grad_b)
        cdef fmpq_t rate
        cdef fmpq *sums = _fmpq_vec_init(self.n_params + 1)
        cdef fmpq *moved = _fmpq_vec_init(2 * self.n_edges + 2)
        cdef PartialSums partial = PartialSums(self.n_params, 1)
        fmpq_init(rate)
        try:
            fmpq_set_fraction(rate, lr)
            with nogil:
                self._accumulate(partial.sums, grad_w, grad_b, 0, 2 * self.n_edges)
                _combine(sums, partial.sums, 1, self.n_params, 0, self.n_params)
                self._move(moved, weights, biases, grad_w, grad_b, sums, rate)
            if self.stop:
                return None
            return (_vector_from(moved, 0, self.n_edges),
                    _vector_from(moved, self.n_edges + 1, self.n_edges))
        finally:
            fmpq_clear(rate)
            _fmpq_vec_clear(sums, self.n_params + 1)
            _fmpq_vec_clear(moved, 2 * self.n_edges + 2)

    cdef void _move(self, fmpq *moved, RationalVector weights, RationalVector biases,
                    RationalVector grad_w, RationalVector grad_b, const fmpq *sums,
                    const fmpq_t rate) noexcept nogil:
        """moved[0..E) the new weights, moved[E + 1..2 E + 1) the new biases."""
        cdef Py_ssize_t e, c, kind
        cdef long long p
        cdef fmpq *out
        for e in range(self.n_edges):
            if self.stop:
                return
            for kind in range(2):
                c = 2 * e + kind
                out = moved + (self.n_edges + 1 + e if kind else e)
                fmpq_set(out, _coordinate(weights, biases, c))
                p = self.param_of[c]
                if p >= 0:
                    if self.param_trainable[p]:
                        fmpq_submul(out, rate, sums + p)
                elif self.edge_trainable[e]:
                    fmpq_submul(out, rate, _coordinate(grad_w, grad_b, c))


cdef RationalVector _vector_from(fmpq *src, Py_ssize_t first, Py_ssize_t n):
    """A new vector of src[first..first + n), moved out of src."""
    cdef fmpq *data = _fmpq_vec_init(n + 1)
    cdef Py_ssize_t i
    for i in range(n):
        fmpq_swap(data + i, src + first + i)
    return vector_adopt(data, n)


cdef void _flush(Sum *sum, fmpz *tmp) noexcept nogil:
    """Add the pending term into the running sum."""
    cdef const fmpq *value = sum.pending
    cdef ulong b
    sum.pending = NULL
    if value == NULL or fmpq_is_zero(value):
        return
    if sum.twos >= 0 and power_of_two(fmpq_denref(value), &b):     # float data: shifts
        if <long>b > sum.twos:
            fmpz_mul_2exp(&sum.num, &sum.num, b - sum.twos)
            fmpz_mul_2exp(&sum.den, &sum.den, b - sum.twos)
            sum.twos = b
        if sum.count == 1:
            if <long>b == sum.twos:
                fmpz_add(&sum.num, &sum.num, fmpq_numref(value))
                return
            fmpz_mul_2exp(tmp, fmpq_numref(value), sum.twos - b)
        else:
            fmpz_mul_si(tmp, fmpq_numref(value), sum.count)
            fmpz_mul_2exp(tmp, tmp, sum.twos - b)
        fmpz_add(&sum.num, &sum.num, tmp)
        return
    sum.twos = -1
    _add_term(&sum.num, &sum.den, value, sum.count, tmp)


cdef void _add_term(fmpz *num, fmpz *den, const fmpq *value, Py_ssize_t times,
                    fmpz *tmp) noexcept nogil:
    """num / den += times * value, over lcm(den, value's denominator) (not reduced)."""
    cdef const fmpz *d = fmpq_denref(value)
    cdef fmpz_t g
    fmpz_init(g)
    fmpz_gcd(g, den, d)
    if not fmpz_equal(g, d):            # den grows to the lcm: num scales with it
        fmpz_divexact(tmp, d, g)
        fmpz_mul(num, num, tmp)
        fmpz_mul(den, den, tmp)
    fmpz_divexact(tmp, den, d)
    fmpz_mul_si(tmp, tmp, times)
    fmpz_addmul(num, fmpq_numref(value), tmp)
    fmpz_clear(g)


cdef void _combine(fmpq *out, const Sum *sums, int parts, Py_ssize_t n_params,
                   Py_ssize_t first, Py_ssize_t last) noexcept nogil:
    """out[p] for first <= p < last: the sum of the parts' running sums of p, in lowest
    terms."""
    cdef Py_ssize_t p
    cdef int t
    cdef const Sum *part
    cdef fmpz_t num, den, tmp, g
    fmpz_init(num); fmpz_init(den); fmpz_init(tmp); fmpz_init(g)
    for p in range(first, last):
        fmpz_set(num, &sums[p].num)
        fmpz_set(den, &sums[p].den)
        for t in range(1, parts):
            part = sums + t * n_params + p
            if fmpz_is_zero(&part.num):
                continue
            fmpz_gcd(g, den, &part.den)     # powers of 2: the smaller one
            fmpz_divexact(tmp, &part.den, g)
            fmpz_mul(num, num, tmp)
            fmpz_divexact(tmp, den, g)
            fmpz_mul(den, den, &part.den)
            fmpz_divexact(den, den, g)
            fmpz_addmul(num, &part.num, tmp)
        fmpq_set_fmpz_frac(out + p, num, den)
    fmpz_clear(num); fmpz_clear(den); fmpz_clear(tmp); fmpz_clear(g)
