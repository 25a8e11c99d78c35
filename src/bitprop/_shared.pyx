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


#: Parameters a share of sums_into takes in a row before the next share's turn.
cdef Py_ssize_t SUM_BLOCK = 64


cdef inline const fmpq *_at(RationalVector v, Py_ssize_t i) noexcept nogil:
    """Entry i of a vector (its storage may be indexed: bias gradients share dL/dz)."""
    return v.data + (v.index[i] if v.index != NULL else i)


cdef inline const fmpq *_coordinate(RationalVector weights, RationalVector biases,
                                    long long c) noexcept nogil:
    return _at(biases, c >> 1) if c & 1 else _at(weights, c >> 1)


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
        out = self.new_sums()
        self.sums_into(out, grad_w, grad_b, 0, 1)
        return None if self.stop else out

    def new_sums(self):
        """A RationalVector of zeros, one per parameter, for sums_into."""
        return vector_adopt(_fmpq_vec_init(self.n_params + 1), self.n_params)

    def sums_into(self, RationalVector out, RationalVector grad_w, RationalVector grad_b,
                  int part, int parts):
        """Share ``part`` of ``parts`` of ``sums`` into ``out`` (new_sums), for one thread
        each: blocks of parameters dealt round-robin (a layer's parameters have as many
        coordinates each, so the shares cost alike)."""
        cdef Py_ssize_t block
        self._check(grad_w, grad_b)
        if out.n != self.n_params:
            raise ValueError(f"{out.n} sums for {self.n_params} parameters")
        with nogil:
            block = part * SUM_BLOCK
            while block < self.n_params and not self.stop:
                self._sum_into(out.data, grad_w, grad_b, block,
                               min(block + SUM_BLOCK, self.n_params))
                block += parts * SUM_BLOCK

    cdef void _sum_into(self, fmpq *out, RationalVector grad_w, RationalVector grad_b,
                        Py_ssize_t first, Py_ssize_t last) noexcept nogil:
        """out[p] for first <= p < last: the sum of trainable parameter p's coordinates'
        gradients, over one common denominator and put in lowest terms once (float data:
        every denominator a power of 2, so a shift, not a gcd, per term). A run of coordinates
        that read one stored value (the biases of a vertex's in-edges all hold its dL/dz) is
        added once, times its length."""
        cdef Py_ssize_t p, k, run
        cdef long twos
        cdef ulong shift
        cdef const fmpq *value
        cdef fmpz_t num, den, g, scale
        fmpz_init(num); fmpz_init(den); fmpz_init(g); fmpz_init(scale)
        for p in range(first, last):
            if self.stop:
                break
            if not self.param_trainable[p]:
                continue
            if self.ptr[p + 1] - self.ptr[p] == 1:
                fmpq_set(out + p, _coordinate(grad_w, grad_b, self.coords[self.ptr[p]]))
                continue
            fmpz_zero(num)
            fmpz_one(den)
            twos = self._dyadic_exponent(grad_w, grad_b, p)
            if twos >= 0:                   # float data: every term shifted to 2^twos
                fmpz_one(den)
                fmpz_mul_2exp(den, den, twos)
            k = self.ptr[p]
            while k < self.ptr[p + 1]:
                value = _coordinate(grad_w, grad_b, self.coords[k])
                run = 1
                while (k + run < self.ptr[p + 1] and
                       _coordinate(grad_w, grad_b, self.coords[k + run]) == value):
                    run += 1
                k += run
                if fmpq_is_zero(value):
                    continue
                if twos < 0:
                    _add_term(num, den, value, run, g, scale)
                    continue
                fmpz_mul_si(scale, fmpq_numref(value), run)
                power_of_two(fmpq_denref(value), &shift)
                fmpz_mul_2exp(scale, scale, twos - shift)
                fmpz_add(num, num, scale)
            fmpq_set_fmpz_frac(out + p, num, den)
        fmpz_clear(num); fmpz_clear(den); fmpz_clear(g); fmpz_clear(scale)

    cdef long _dyadic_exponent(self, RationalVector grad_w, RationalVector grad_b,
                               Py_ssize_t p) noexcept nogil:
        """The largest exponent of parameter p's coordinates' gradients' denominators when
        every one is a power of 2, else -1."""
        cdef Py_ssize_t k
        cdef ulong twos
        cdef long most = 0
        for k in range(self.ptr[p], self.ptr[p + 1]):
            if not power_of_two(fmpq_denref(_coordinate(grad_w, grad_b, self.coords[k])),
                                &twos):
                return -1
            most = max(most, <long>twos)
        return most

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
        fmpq_init(rate)
        try:
            fmpq_set_fraction(rate, lr)
            with nogil:
                self._sum_into(sums, grad_w, grad_b, 0, self.n_params)
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


cdef void _add_term(fmpz *num, fmpz *den, const fmpq *value, Py_ssize_t times, fmpz *g,
                    fmpz *scale) noexcept nogil:
    """num / den += times * value, over lcm(den, value's denominator) (not reduced)."""
    cdef const fmpz *d = fmpq_denref(value)
    cdef ulong a, b
    if fmpz_equal(den, d):
        fmpz_set_si(scale, times)
    elif power_of_two(den, &a) and power_of_two(d, &b):     # float data: shifts
        if b > a:
            fmpz_mul_2exp(num, num, b - a)
            fmpz_mul_2exp(den, den, b - a)
            a = b
        fmpz_set_si(scale, times)
        fmpz_mul_2exp(scale, scale, a - b)
    else:
        fmpz_gcd(g, den, d)
        if not fmpz_equal(g, d):            # den grows to the lcm: num scales with it
            fmpz_divexact(scale, d, g)
            fmpz_mul(num, num, scale)
            fmpz_mul(den, den, scale)
        fmpz_divexact(scale, den, d)
        fmpz_mul_si(scale, scale, times)
    fmpz_addmul(num, fmpq_numref(value), scale)
