# cython: language_level=3
"""Exact crossing between Python ints/Fractions and FLINT fmpz/fmpq, through machine words.

Big integers travel as little-endian two's-complement limb arrays (``int.to_bytes`` and
FLINT's ``fmpz_set_signed_ui_array``), never as decimal strings: linear time, no digit limits.
Text read in bulk ('p/q' of network files) is parsed in C into fmpq (``parse_rationals``);
JSON text is printed by ``bitprop._json``.
"""

from fractions import Fraction

from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.stdlib cimport malloc, free

from bitprop._flint cimport (
    fmpz, fmpq, ulong, slong, fmpz_set_si, fmpz_set_ui, fmpz_set_str, fmpz_one, fmpz_neg,
    fmpz_is_zero, fmpq_canonicalise, fmpz_get_si, fmpz_fits_si, fmpz_bits, fmpz_size,
    fmpz_set_signed_ui_array, fmpz_get_signed_ui_array, fmpz_get_str, fmpz_is_one,
    fmpq_numref, fmpq_denref, flint_free, fmpq_set, fmpq_swap, fmpq_equal, _fmpq_vec_init,
    _fmpq_vec_clear)

cdef object _from_coprime_ints = getattr(Fraction, "_from_coprime_ints", None)  # >= 3.12
cdef object _new_object = object.__new__


cdef object _make_fraction(object numerator, object denominator):
    """A Fraction of coprime integers (denominator > 0), not normalised again: 4x faster
    than Fraction(n, d, _normalize=False) on Python 3.11, where this sets the two slots
    that Python 3.12's Fraction._from_coprime_ints sets."""
    if _from_coprime_ints is not None:
        return _from_coprime_ints(numerator, denominator)
    cdef object q = _new_object(Fraction)
    q._numerator = numerator
    q._denominator = denominator
    return q

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


cdef int set_digits(fmpz *out, const char *digits, Py_ssize_t n) except -1:
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
    """set_ratio_chars on the text of a str (False for non-ASCII text)."""
    cdef Py_ssize_t n
    cdef const char *s
    if not text.isascii():
        return False
    s = PyUnicode_AsUTF8AndSize(text, &n)
    return set_ratio_chars(out, s, n)


cdef bint set_ratio_chars(fmpq *out, const char *s, Py_ssize_t n) except -1:
    """out = s[0:n] when it is '[+-]digits[/digits]' with a non-zero denominator (how network
    files write their numbers), in lowest terms; False for anything else (out is then some
    valid rational)."""
    cdef Py_ssize_t i, start = 0, slash = -1
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
        set_digits(fmpq_denref(out), s + slash + 1, n - slash - 1)
        if fmpz_is_zero(fmpq_denref(out)):
            fmpz_one(fmpq_denref(out))          # out stays a valid rational (0)
            return False
    set_digits(fmpq_numref(out), s + start, slash - start)
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
        from ._json import JsonWriter
        return JsonWriter(self, threads).pieces()

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
        return (_from_words, (self._words(),))

    cdef bytes _words(self):
        """The vector as 64-bit words: n, m, whether indexed, the n indices (if indexed),
        then per stored value a header word (the word counts k of its numerator and of its
        denominator, 32 bits each) and their words: for k = 0 one word holding a small
        value, else k words of two's complement (FLINT's signed ui arrays: linear time, no
        decimal text; what pickle, and so Dask, carries)."""
        cdef Py_ssize_t i, words = 3 + (self.n if self.index != NULL else 0), at
        cdef fmpq *q
        for i in range(self.m):
            words += 1 + _words_of(fmpq_numref(&self.data[i])) + \
                _words_of(fmpq_denref(&self.data[i]))
        cdef bytearray out = bytearray(8 * words)
        cdef ulong *w = <ulong *><char *>out
        w[0], w[1], w[2] = self.n, self.m, self.index != NULL
        at = 3
        if self.index != NULL:
            for i in range(self.n):
                w[at + i] = self.index[i]
            at += self.n
        for i in range(self.m):
            q = &self.data[i]
            w[at] = _limbs_of(fmpq_numref(q)) | (<ulong>_limbs_of(fmpq_denref(q)) << 32)
            at = _put_words(w, at + 1, fmpq_numref(q))
            at = _put_words(w, at, fmpq_denref(q))
        return bytes(out)


cdef inline slong _limbs_of(const fmpz *x) noexcept:
    """0 for a value that fits in a signed word, else its two's complement word count."""
    return 0 if fmpz_fits_si(x) else fmpz_size(x) + 1


cdef inline slong _words_of(const fmpz *x) noexcept:
    return max(1, _limbs_of(x))


cdef Py_ssize_t _put_words(ulong *w, Py_ssize_t at, const fmpz *x) noexcept:
    cdef slong k = _limbs_of(x)
    if k == 0:
        w[at] = <ulong>fmpz_get_si(x)
        return at + 1
    fmpz_get_signed_ui_array(w + at, k, x)
    return at + k


cdef Py_ssize_t _get_words(fmpz *x, const ulong *w, Py_ssize_t at, slong k,
                           Py_ssize_t words) except -1:
    if at + max(1, k) > words:
        raise ValueError("a truncated pickled RationalVector")
    if k == 0:
        fmpz_set_si(x, <slong>w[at])
        return at + 1
    fmpz_set_signed_ui_array(x, w + at, k)
    return at + k


def _from_words(bytes data):
    """The vector of RationalVector._words (unpickling)."""
    cdef const ulong *w = <const ulong *><const char *>data
    cdef Py_ssize_t i, at = 3, words = len(data) // 8
    cdef ulong header
    cdef RationalVector vector = RationalVector.__new__(RationalVector)
    if words < 3:
        raise ValueError("not a pickled RationalVector")
    vector.n, vector.m = w[0], w[1]
    vector.data = _fmpq_vec_init(vector.m + 1)
    if w[2]:
        vector.index = <long *>malloc((vector.n + 1) * sizeof(long))
        if vector.index == NULL:
            raise MemoryError()
        for i in range(vector.n):
            vector.index[i] = w[at + i]
        at += vector.n
    for i in range(vector.m):
        if at >= words:
            raise ValueError("a truncated pickled RationalVector")
        header = w[at]
        at = _get_words(fmpq_numref(&vector.data[i]), w, at + 1, header & 0xFFFFFFFF, words)
        at = _get_words(fmpq_denref(&vector.data[i]), w, at, header >> 32, words)
    return vector


cdef RationalVector vector_adopt(fmpq *data, Py_ssize_t n):
    """A new vector that owns data, an array of n + 1 entries (_fmpq_vec_init(n + 1))."""
    cdef RationalVector vector = RationalVector.__new__(RationalVector)
    vector.n = vector.m = n
    vector.data = data
    return vector


cdef RationalVector vector_copy(const fmpq *src, Py_ssize_t n):
    """A new vector of copies of src[0..n)."""
    cdef RationalVector vector = RationalVector.__new__(RationalVector)
    cdef Py_ssize_t i
    vector.n = vector.m = n
    vector.data = _fmpq_vec_init(n + 1)
    for i in range(n):
        fmpq_set(&vector.data[i], &src[i])
    return vector


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
