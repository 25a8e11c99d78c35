# cython: language_level=3
"""Exact crossing between Python ints/Fractions and FLINT fmpz/fmpq, through machine words.

Big integers travel as little-endian two's-complement limb arrays (``int.to_bytes`` and
FLINT's ``fmpz_set_signed_ui_array``), never as decimal strings: linear time, no digit limits.
"""

from fractions import Fraction

cimport cython
from cpython.bytearray cimport (PyByteArray_AS_STRING, PyByteArray_FromStringAndSize,
                                PyByteArray_Resize)
from libc.stdlib cimport calloc, malloc, free
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.string cimport memcpy, strlen

from bitprop._flint cimport (
    fmpz, fmpq, ulong, slong, fmpz_set_si, fmpz_set_ui, fmpz_set_str, fmpz_one, fmpz_neg,
    fmpz_is_zero, fmpq_canonicalise, fmpz_get_si, fmpz_fits_si, fmpz_bits, fmpz_size,
    fmpz_set_signed_ui_array, fmpz_get_signed_ui_array, fmpz_get_str, fmpz_is_one, fmpz_sizeinbase,
    fmpq_numref, fmpq_denref, flint_free, fmpq_set, fmpq_swap, fmpq_equal, _fmpq_vec_init,
    _fmpq_vec_clear)

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


cdef str fmpz_get_decimal(const fmpz *value):
    """Decimal text by FLINT's subquadratic radix conversion (no CPython digit limit)."""
    cdef char *text = fmpz_get_str(NULL, 10, value)
    try:
        return text.decode("ascii")
    finally:
        flint_free(text)


cdef object fmpq_get_str(const fmpq *value):
    """Canonical ``"p/q"`` or ``"p"`` by FLINT's subquadratic radix conversion."""
    if fmpz_is_one(fmpq_denref(value)):
        return fmpz_get_decimal(fmpq_numref(value))
    return fmpz_get_decimal(fmpq_numref(value)) + "/" + fmpz_get_decimal(fmpq_denref(value))


cdef int _set_digits(fmpz *out, const char *digits, Py_ssize_t n) except -1:
    """out = the decimal digits[0:n] (ASCII 0-9, n >= 1): a word by hand, more by GMP."""
    cdef ulong u = 0
    cdef Py_ssize_t i
    if n <= 19:                                 # 10^19 - 1 < 2^64
        for i in range(n):
            u = 10 * u + <ulong>(digits[i] - 48)
        fmpz_set_ui(out, u)
    else:
        fmpz_set_str(out, digits[:n], 10)       # a NUL-terminated copy
    return 0


cdef bint _set_ratio_text(fmpq *out, str text) except -1:
    """out = text when it is '[+-]digits[/digits]' with a non-zero denominator (how network
    files write their numbers), in lowest terms; False for anything else (out is then still a valid rational)."""
    cdef Py_ssize_t n, i, start = 0, slash = -1
    cdef const char *s
    if not text.isascii():
        return False
    s = PyUnicode_AsUTF8AndSize(text, &n)
    if n and (s[0] == 45 or s[0] == 43):       # '-' or '+'
        start = 1
    for i in range(start, n):
        if s[i] == 47 and slash < 0:            # '/'
            slash = i
        elif not 48 <= s[i] <= 57:
            return False
    if slash < 0:
        slash = n
    if slash == start or slash == n - 1:
        return False
    if slash == n:
        fmpz_one(fmpq_denref(out))
    else:
        _set_digits(fmpq_denref(out), s + slash + 1, n - slash - 1)
        if fmpz_is_zero(fmpq_denref(out)):
            fmpz_one(fmpq_denref(out))          # out stays a valid rational (0)
            return False
    _set_digits(fmpq_numref(out), s + start, slash - start)
    if s[0] == 45:
        fmpz_neg(fmpq_numref(out), fmpq_numref(out))
    fmpq_canonicalise(out)
    return True


def parse_rationals(values, bint allow_float=False):
    """(vector, bad): ``values`` as a RationalVector, 'p/q' text parsed in C without a
    Fraction per entry, the rest through numbers.rational; bad is the index of the first
    value rational refuses (the vector holds zeros from there), or -1."""
    from .numbers import rational
    from .errors import BitpropInputError
    cdef RationalVector vector = RationalVector.__new__(RationalVector)
    cdef Py_ssize_t i
    cdef fmpq *q
    vector.n = vector.m = len(values)
    vector.data = _fmpq_vec_init(vector.n + 1)
    for i in range(vector.n):
        value = values[i]
        q = &vector.data[i]
        if type(value) is str and _set_ratio_text(q, value):
            continue
        if type(value) is int:
            fmpz_set_pyint(fmpq_numref(q), value)
            fmpz_one(fmpq_denref(q))
            continue
        if type(value) is not Fraction:
            try:
                value = rational(value, allow_float=allow_float)
            except BitpropInputError:
                return vector, i
        fmpq_set_fraction(q, value)
    return vector, -1


cdef long fmpq_bit_length(const fmpq *value) noexcept nogil:
    """bitlen(|p|) + bitlen(q): the paper's size of an encoding (0 has 1 bit)."""
    return <long>(fmpz_bits(fmpq_numref(value)) + fmpz_bits(fmpq_denref(value)))


cdef class RationalVector:
    """An immutable vector of exact rationals kept in FLINT, converted only when read.

    Indexing and iteration give Fractions; ``strings()`` prints every entry with FLINT (the
    fast path for JSON); ``tolist(kind)`` gives Fractions, python-flint fmpq or strings.
    Compares equal to any sequence with the same exact values. Entries that repeat one value
    (every in-edge of a vertex has its dL/dz as bias gradient) can share its storage.
    """

    def __dealloc__(self):
        if self.data != NULL:
            _fmpq_vec_clear(self.data, self.m + 1)
        free(self.index)

    @staticmethod
    def from_values(values):
        """A vector from any sequence of Fractions (or what numbers.rational accepts)."""
        from .numbers import rational
        cdef RationalVector vector = RationalVector.__new__(RationalVector)
        cdef Py_ssize_t i
        values = [rational(v, f"[{i}]") for i, v in enumerate(values)]
        vector.n = vector.m = len(values)
        vector.data = _fmpq_vec_init(vector.n + 1)
        for i in range(vector.n):
            fmpq_set_fraction(&vector.data[i], values[i])
        return vector

    def __len__(self):
        return self.n

    def __getitem__(self, index):
        cdef Py_ssize_t i
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.n))]
        i = index
        if i < 0:
            i += self.n
        if not 0 <= i < self.n:
            raise IndexError("RationalVector index out of range")
        return fmpq_get_fraction(self._entry(i))

    cdef const fmpq *_entry(self, Py_ssize_t i):
        return &self.data[self.index[i] if self.index != NULL else i]

    def __iter__(self):
        cdef Py_ssize_t i
        for i in range(self.n):
            yield fmpq_get_fraction(self._entry(i))

    def __eq__(self, other):
        cdef RationalVector that
        cdef Py_ssize_t i
        if isinstance(other, RationalVector):
            that = other
            if that.n != self.n:
                return False
            for i in range(self.n):
                if not fmpq_equal(self._entry(i), that._entry(i)):
                    return False
            return True
        try:
            if len(other) != self.n:
                return False
        except TypeError:
            return NotImplemented
        return all(a == b for a, b in zip(self, other))

    def __ne__(self, other):
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = None

    def __repr__(self):
        shown = ", ".join(self.strings()[:6]) if self.n else ""
        return f"RationalVector([{shown}{', ...' if self.n > 6 else ''}], n={self.n})"

    def strings(self):
        """Every entry as canonical "p/q" text, printed by FLINT."""
        cdef Py_ssize_t i
        stored = [fmpq_get_str(&self.data[i]) for i in range(self.m)]
        if self.index == NULL:
            return stored
        return [stored[self.index[i]] for i in range(self.n)]

    def json_text(self, int threads=1):
        """The text of ``json.dumps(self.strings())`` as an iterator of bytes-like pieces,
        each given once printed (by FLINT, on ``threads`` threads with the GIL released), so
        that writing the first overlaps printing the next; no Python str per entry."""
        return _JsonWriter(self, threads).pieces()

    def tolist(self, kind="fraction"):
        if kind == "str":
            return self.strings()
        if kind == "fmpq":
            import flint
            return [flint.fmpq(q.numerator, q.denominator) for q in self]
        if kind == "fraction":
            return list(self)
        raise ValueError(f"output kind must be fraction, fmpq or str, not {kind!r}")

    def bit_lengths(self):
        cdef Py_ssize_t i
        return [fmpq_bit_length(self._entry(i)) for i in range(self.n)]

    def __reduce__(self):
        return (RationalVector.from_values, (list(self),))


cdef RationalVector vector_take(fmpq *src, Py_ssize_t n):
    """A new vector of src[0..n), moved out of src (left holding zeros), not copied."""
    cdef RationalVector vector = RationalVector.__new__(RationalVector)
    cdef Py_ssize_t i
    vector.n = vector.m = n
    vector.data = _fmpq_vec_init(n + 1)
    for i in range(n):
        fmpq_swap(&vector.data[i], &src[i])
    return vector


cdef RationalVector vector_indexed(const fmpq *src, Py_ssize_t m, const long *index,
                                   Py_ssize_t n):
    """A new vector with entry i = src[index[i]], storing src[0..m) once."""
    cdef RationalVector vector = RationalVector.__new__(RationalVector)
    cdef Py_ssize_t i
    vector.index = <long *>malloc((n + 1) * sizeof(long))
    if vector.index == NULL:
        raise MemoryError()
    vector.n, vector.m = n, m
    vector.data = _fmpq_vec_init(m + 1)
    for i in range(m):
        fmpq_set(&vector.data[i], &src[i])
    for i in range(n):
        vector.index[i] = index[i]
    return vector



# --- JSON text: workers print blocks of entries, each block written out once printed ----------

#: Vectors whose text is shorter than this are printed by the calling thread alone; longer
#: ones are cut into blocks of about this size or more (up to 8 per thread), so that the
#: first blocks are written out while the workers print the next ones.
THREADED_BYTES = 1 << 16
_BLOCKS_PER_THREAD = 8
cdef enum:
    _PRINT = 0        # print the values as the array's entries: '"p/q"', then ', "p/q"'
    _STAGE = 1        # an indexed vector: print each stored value once, '"p/q"'
    _COPY = 2         # an indexed vector: copy the printed stored value of each entry


@cython.cdivision(True)
cdef char *_put_fmpz(char *out, const fmpz *x) noexcept nogil:
    """Decimal x at ``out``, returning its end: a word by hand (no mpz temporary), larger
    values by FLINT (GMP's subquadratic conversion)."""
    cdef char digits[24]
    cdef int k = 0
    cdef ulong u
    cdef slong v
    if not fmpz_fits_si(x):
        fmpz_get_str(out, 10, x)
        return out + strlen(out)
    v = fmpz_get_si(x)
    u = <ulong>v
    if v < 0:
        out[0] = 45                             # '-'
        out += 1
        u = <ulong>0 - u
    while True:
        digits[k] = <char>(48 + u % 10)
        k += 1
        u = u // 10
        if u == 0:
            break
    while k > 0:
        k -= 1
        out[0] = digits[k]
        out += 1
    return out


cdef size_t _print_bound(const fmpq *q) noexcept nogil:
    """Bytes that ', "p/q"' may take while printed: digits (sizeinbase may exceed them by
    one), sign, slash, quotes, separator and the NUL that GMP writes after each number."""
    return fmpz_sizeinbase(fmpq_numref(q), 10) + fmpz_sizeinbase(fmpq_denref(q), 10) + 8


cdef size_t _print(const fmpq *data, Py_ssize_t first, Py_ssize_t last, bint separated,
                   char *out, size_t *ends, const int *stop) noexcept nogil:
    """Print data[first:last] at ``out`` as '"p/q"' each, after ', ' when ``separated`` (but
    for entry 0); ends[j] is the offset after value j. Returns the bytes written."""
    cdef char *at = out
    cdef Py_ssize_t j
    for j in range(first, last):
        if stop[0]:
            break
        if separated and j > 0:
            at[0], at[1] = 44, 32               # ', '
            at += 2
        at[0] = 34                              # '"'
        at = _put_fmpz(at + 1, fmpq_numref(&data[j]))
        if not fmpz_is_one(fmpq_denref(&data[j])):
            at[0] = 47                          # '/'
            at = _put_fmpz(at + 1, fmpq_denref(&data[j]))
        at[0] = 34
        at += 1
        ends[j] = at - out
    return at - out


cdef size_t _copy(const long *index, Py_ssize_t first, Py_ssize_t last, char **text,
                  const size_t *length, char *out, const int *stop) noexcept nogil:
    """Copy the printed stored value index[i] of each entry i in [first, last) to ``out``,
    after ', ' but for entry 0."""
    cdef char *at = out
    cdef Py_ssize_t i
    for i in range(first, last):
        if stop[0]:
            break
        if i > 0:
            at[0], at[1] = 44, 32
            at += 2
        memcpy(at, text[index[i]], length[index[i]])
        at += length[index[i]]
    return at - out


cdef class _JsonWriter:
    """Prints one RationalVector as JSON array text. A phase cuts its items into blocks of
    about equal printed size, each printed into its own bytearray by the worker thread
    ``block % threads``, and yields the blocks in order as they are done. An indexed vector
    prints its stored values once (_STAGE), then copies them into place (_COPY)."""

    cdef RationalVector vector          # owns the values the workers read
    cdef int threads, blocks, phase
    cdef public int stop
    cdef Py_ssize_t *first              # blocks + 1 boundaries of the phase's items
    cdef size_t *size                   # per item of the phase: (a bound on) its size
    cdef size_t *ends                   # per stored value: its end in its block
    cdef char **text                    # per stored value: its printed text (indexed)
    cdef size_t *length
    cdef char **out                     # per block: its bytearray's bytes
    cdef size_t *used

    def __cinit__(self, RationalVector vector, int threads):
        cdef Py_ssize_t items = max(vector.m, vector.n) + 1
        cdef int most = max(1, threads) * _BLOCKS_PER_THREAD
        self.vector = vector
        self.threads = max(1, threads)
        self.first = <Py_ssize_t *>calloc(most + 1, sizeof(Py_ssize_t))
        self.out = <char **>calloc(most, sizeof(char *))
        self.used = <size_t *>calloc(most, sizeof(size_t))
        self.size = <size_t *>calloc(items, sizeof(size_t))
        self.ends = <size_t *>calloc(items, sizeof(size_t))
        self.text = <char **>calloc(items, sizeof(char *))
        self.length = <size_t *>calloc(items, sizeof(size_t))
        if (self.first == NULL or self.out == NULL or self.used == NULL or self.size == NULL
                or self.ends == NULL or self.text == NULL or self.length == NULL):
            raise MemoryError()

    def __dealloc__(self):
        free(self.first); free(self.out); free(self.used); free(self.size); free(self.ends)
        free(self.text); free(self.length)

    def pieces(self):
        """Yield the array's text: "[", its blocks as each is printed, "]"."""
        cdef RationalVector v = self.vector
        cdef Py_ssize_t j
        with nogil:
            for j in range(v.m):
                self.size[j] = _print_bound(&v.data[j])
        yield b"["
        if v.index == NULL:
            yield from self._fill(_PRINT, v.n)
        elif v.n:
            staged = list(self._fill(_STAGE, v.m))    # read by the copies: kept till done
            self._locate(staged)
            with nogil:
                for j in range(v.n):
                    self.size[j] = self.length[v.index[j]] + 2
            yield from self._fill(_COPY, v.n)
            del staged
        yield b"]"

    cdef void _locate(self, list blocks):
        """text[j], length[j]: where stored value j was printed, and its size."""
        cdef int t
        cdef Py_ssize_t j
        cdef char *base
        for t in range(self.blocks):
            base = PyByteArray_AS_STRING(blocks[t])
            for j in range(self.first[t], self.first[t + 1]):
                self.length[j] = self.ends[j] - (self.ends[j - 1] if j > self.first[t] else 0)
                self.text[j] = base + self.ends[j] - self.length[j]

    def _fill(self, int phase, Py_ssize_t count):
        """Yield the blocks of items [0, count), in order, each once it is filled."""
        from threading import Event
        from .workers import start_workers, wait_for
        cdef int t
        blocks = self._allocate(phase, count)
        if self.blocks == 1:
            self.work(0)
            PyByteArray_Resize(blocks[0], self.used[0])
            yield blocks[0]
            return
        done = [Event() for _ in range(self.blocks)]

        def worker(int w):
            for t in range(w, self.blocks, self.threads):
                self.work(t)
                done[t].set()

        start_workers([lambda w=w: worker(w) for w in range(min(self.threads, self.blocks))])
        finished = False
        try:
            for t in range(self.blocks):
                wait_for(done[t], self._halt)
                PyByteArray_Resize(blocks[t], self.used[t])
                yield blocks[t]
            finished = True
        finally:
            if not finished:                # interrupted, or the reader stopped reading
                self.stop = 1

    cdef list _allocate(self, int phase, Py_ssize_t count):
        """Cut items [0, count) into blocks by size[] and give each a bytearray."""
        cdef size_t total = 0, start = 0
        cdef Py_ssize_t i
        cdef int t
        for i in range(count):
            total += self.size[i]
        self.phase = phase
        self.blocks = 1 if total < THREADED_BYTES else min(
            self.threads * _BLOCKS_PER_THREAD,
            max(self.threads, total // max(1, THREADED_BYTES)))
        self.first[0] = 0
        t = 1
        for i in range(count):              # block t starts at the first item past t/blocks
            while t < self.blocks and start * self.blocks >= total * t:
                self.first[t] = i
                t += 1
            start += self.size[i]
        while t <= self.blocks:
            self.first[t] = count
            t += 1
        blocks = []
        for t in range(self.blocks):
            start = 0
            for i in range(self.first[t], self.first[t + 1]):
                start += self.size[i]
            blocks.append(PyByteArray_FromStringAndSize(NULL, start))
            self.out[t] = PyByteArray_AS_STRING(blocks[t])
        return blocks

    def _halt(self):
        self.stop = 1

    def work(self, int t):
        """Fill block t (GIL released)."""
        cdef RationalVector v = self.vector
        with nogil:
            if self.phase == _COPY:
                self.used[t] = _copy(v.index, self.first[t], self.first[t + 1], self.text,
                                     self.length, self.out[t], &self.stop)
            else:
                self.used[t] = _print(v.data, self.first[t], self.first[t + 1],
                                      self.phase == _PRINT, self.out[t], self.ends, &self.stop)
