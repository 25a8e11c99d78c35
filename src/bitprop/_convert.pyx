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
    fmpz_is_zero, fmpz_zero, fmpz_sgn, fmpq_canonicalise, fmpq_is_canonical, fmpz_get_si,
    fmpz_fits_si, fmpz_bits, fmpz_size, fmpz_set_signed_ui_array, fmpz_get_signed_ui_array,
    fmpz_get_str,
    fmpz_is_one, fmpq_numref, fmpq_denref, flint_free, fmpq_set, fmpq_swap, fmpq_equal,
    _fmpq_vec_init, _fmpq_vec_clear)

from bitprop.errors import DamagedBytesError

cdef object _from_coprime_ints = getattr(Fraction, "_from_coprime_ints", None)  # >= 3.12
cdef object _new_object = object.__new__


cdef object _make_fraction(object numerator, object denominator):
    """A Fraction of coprime integers (denominator > 0), not normalised again, made
    without Fraction(n, d, _normalize=False)'s checks: on Python 3.11 this sets the two
    slots that Python 3.12's Fraction._from_coprime_ints sets."""
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
    cdef Py_ssize_t i, n = len(values)
    cdef RationalVector vector = vector_adopt(_fmpq_vec_init(n + 1), n)
    cdef fmpq *q
    for i in range(n):
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


def ratios_vector(list numerators, list denominators, list slots=None):
    """(vector, bad): the RationalVector of numerators[j] / denominators[j] (two lists of one
    length) for j = slots[i], or for every j without slots, each stored pair converted once
    and without a Fraction; bad is the index of the first stored pair that is not two ints in
    lowest terms with a positive denominator (vector is then None), or -1. What bitprop's own
    wire format (distributed.wire) decodes parameters with."""
    if len(numerators) != len(denominators):
        raise ValueError(f"{len(numerators)} numerators for {len(denominators)} denominators")
    cdef Py_ssize_t i, j, m = len(numerators), n = m if slots is None else len(slots)
    cdef fmpq *stored = _fmpq_vec_init(m + 1)
    cdef fmpq *out
    for j in range(m):
        p, d = numerators[j], denominators[j]
        if type(p) is not int or type(d) is not int or d <= 0:
            _fmpq_vec_clear(stored, m + 1)
            return None, j
        fmpz_set_pyint(fmpq_numref(&stored[j]), p)
        fmpz_set_pyint(fmpq_denref(&stored[j]), d)
        if not fmpq_is_canonical(&stored[j]):
            _fmpq_vec_clear(stored, m + 1)
            return None, j
    if slots is None:
        return vector_adopt(stored, m), -1
    out = _fmpq_vec_init(n + 1)
    vector = vector_adopt(out, n)           # owns out from here, whatever is raised below
    try:
        for i in range(n):
            j = slots[i]
            if not 0 <= j < m:
                raise ValueError(f"slot {i} is {j}, not an index below {m}")
            fmpq_set(&out[i], &stored[j])
    finally:
        _fmpq_vec_clear(stored, m + 1)
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

    def split(self, Py_ssize_t width):
        """The vector cut into consecutive vectors of ``width`` entries each (copied in FLINT,
        no Fraction): a batch's flat outputs back into one vector per sample."""
        if width < 1 or self.n % width:
            raise ValueError(f"cannot cut {self.n} entries into vectors of {width}")
        cdef Py_ssize_t s, i
        cdef fmpq *data
        pieces = []
        for s in range(self.n // width):
            data = _fmpq_vec_init(width + 1)
            for i in range(width):
                fmpq_set(&data[i], self._entry(s * width + i))
            pieces.append(vector_adopt(data, width))
        return pieces

    def bit_lengths(self):
        cdef Py_ssize_t i
        return [fmpq_bit_length(self._entry(i)) for i in range(self.n)]

    def __reduce__(self):
        return (_from_bytes, (self._bytes(),))

    cdef bytes _bytes(self):
        """The vector as bytes, for pickle (and so Dask): n, m, whether indexed and the n
        indices, then each stored value's numerator and denominator (_put). Linear time,
        no decimal text; a small rational such as 3/7 takes 2 bytes."""
        cdef Py_ssize_t i, size = 30 + (10 * self.n if self.index != NULL else 0), at = 0
        for i in range(self.m):
            size += (integer_size(fmpq_numref(&self.data[i]))
                     + integer_size(fmpq_denref(&self.data[i])))
        cdef bytearray out = bytearray(size)
        cdef unsigned char *b = <unsigned char *><char *>out
        at = put_count(b, at, self.n)
        at = put_count(b, at, self.m)
        at = put_index(b, at, self.index, self.n)
        for i in range(self.m):
            at = put_integer(b, at, fmpq_numref(&self.data[i]))
            at = put_integer(b, at, fmpq_denref(&self.data[i]))
        return bytes(out[:at])


#: Below this in absolute value, zigzag(v) * 2 fits in a word.
cdef slong _SMALL_WORD = (<slong>1) << 62


cdef Py_ssize_t put_count(unsigned char *b, Py_ssize_t at, ulong u) noexcept:
    """u in 7-bit groups, low first, the high bit set on all but the last."""
    while u >= 128:
        b[at] = (u & 127) | 128
        u >>= 7
        at += 1
    b[at] = u
    return at + 1


cdef bint _small(const fmpz *x) noexcept:
    """Whether put_integer writes x as one varint: |x| < 2^62."""
    return fmpz_fits_si(x) and -_SMALL_WORD < fmpz_get_si(x) < _SMALL_WORD


cdef Py_ssize_t integer_size(const fmpz *x) noexcept:
    """A bound on the bytes put_integer writes for x (by the same _small rule: a word-size
    value of 2^62 or more takes the big form, 17 bytes)."""
    return 10 if _small(x) else 10 + 8 * (fmpz_size(x) + 1)


cdef Py_ssize_t put_integer(unsigned char *b, Py_ssize_t at, const fmpz *x) noexcept:
    """x as a varint: a small value v as zigzag(v) * 2, a big one as k * 2 + 1 followed by
    its k words of two's complement (FLINT's signed ui array, little-endian)."""
    cdef slong v, k
    if _small(x):
        v = fmpz_get_si(x)
        return put_count(b, at, ((<ulong>v << 1) ^ <ulong>(v >> 63)) << 1)
    k = fmpz_size(x) + 1
    at = put_count(b, at, (<ulong>k << 1) | 1)
    fmpz_get_signed_ui_array(<ulong *>(b + at), k, x)
    return at + 8 * k


cdef Py_ssize_t put_index(unsigned char *b, Py_ssize_t at, const long *index,
                          Py_ssize_t n) noexcept:
    """Whether the vector is indexed, then (if it is) its n index entries."""
    cdef Py_ssize_t i
    at = put_count(b, at, index != NULL)
    if index != NULL:
        for i in range(n):
            at = put_count(b, at, index[i])
    return at


cdef Py_ssize_t get_index_flag(const unsigned char *b, Py_ssize_t at, Py_ssize_t size,
                               ulong n, ulong m, ulong *indexed) except -1:
    """The index flag put_index wrote, checked: 0 or 1, and n = m without an index."""
    at = get_count(b, at, size, indexed)
    if indexed[0] > 1:
        raise _damaged(at - 1, f"the index flag is {indexed[0]}, not 0 or 1")
    if not indexed[0] and n != m:
        raise _damaged(at, f"{n} entries but {m} stored values, and no index")
    return at


cdef Py_ssize_t get_index(long *index, ulong n, ulong m, const unsigned char *b,
                          Py_ssize_t at, Py_ssize_t size) except -1:
    """The n index entries put_index wrote, each checked below the m stored values."""
    cdef ulong i, u
    for i in range(n):
        at = get_count(b, at, size, &u)
        if u >= m:
            raise _damaged(at - 1, f"index entry {i} is {u}, past the {m} stored values")
        index[i] = u
    return at


cdef object _damaged(Py_ssize_t at, str problem):
    return DamagedBytesError(f"damaged bytes of an exact vector, at byte {at}: {problem}")


cdef Py_ssize_t get_count(const unsigned char *b, Py_ssize_t at, Py_ssize_t n,
                            ulong *u) except -1:
    """The varint at b[at:n] into u; a value past 64 bits or past the end is refused."""
    cdef int shift = 0
    cdef ulong group
    u[0] = 0
    while True:
        if at >= n:
            raise _damaged(at, "the bytes end inside a number")
        group = b[at] & 127
        if shift > 63 or (shift == 63 and group > 1):
            raise _damaged(at, "a number of more than 64 bits")
        u[0] |= group << shift
        shift += 7
        at += 1
        if b[at - 1] < 128:
            return at


cdef Py_ssize_t get_integer(fmpz *x, const unsigned char *b, Py_ssize_t at,
                            Py_ssize_t n) except -1:
    """The integer _put wrote at b[at:n] into x."""
    cdef ulong u, k
    at = get_count(b, at, n, &u)
    if u & 1 == 0:
        u >>= 1
        fmpz_set_si(x, <slong>(u >> 1) ^ -<slong>(u & 1))
        return at
    k = u >> 1
    if k == 0:                      # FLINT reads the sign from the last of the k words
        raise _damaged(at, "a big integer of 0 words")
    if k > <ulong>(n - at) // 8:
        raise _damaged(at, f"a big integer of {k} words, past the {n - at} bytes left")
    fmpz_set_signed_ui_array(x, <const ulong *>(b + at), k)
    return at + 8 * k


def _from_bytes(bytes data):
    """The vector of RationalVector._bytes (unpickling), every count, index and value
    checked against the bytes before anything is allocated or read: damaged bytes raise
    DamagedBytesError, never a crash or a value out of canonical form."""
    cdef const unsigned char *b = <const unsigned char *><const char *>data
    cdef Py_ssize_t i, at = 0, size = len(data)
    cdef ulong n, m, indexed, room
    cdef RationalVector vector = RationalVector.__new__(RationalVector)
    at = get_count(b, at, size, &n)
    at = get_count(b, at, size, &m)
    at = get_index_flag(b, at, size, n, m, &indexed)
    room = size - at
    if indexed and n > room:        # each index entry takes a byte at least
        raise _damaged(at, f"{n} index entries, past the {room} bytes left")
    room -= n if indexed else 0
    if m > room // 2:               # each stored value takes two bytes at least
        raise _damaged(at, f"{m} stored values, past the {room} bytes left for them")
    vector.n, vector.m = n, m       # both now below len(data): no size below overflows
    vector.data = _fmpq_vec_init(vector.m + 1)
    if indexed:
        vector.index = <long *>malloc((vector.n + 1) * sizeof(long))
        if vector.index == NULL:
            raise MemoryError()
        at = get_index(vector.index, n, m, b, at, size)
    for i in range(vector.m):
        at = get_integer(fmpq_numref(&vector.data[i]), b, at, size)
        at = get_integer(fmpq_denref(&vector.data[i]), b, at, size)
        _check_canonical(&vector.data[i], i, at)
    if at != size:
        raise _damaged(at, f"{size - at} bytes left over after the last value")
    return vector


cdef int _check_canonical(const fmpq *q, Py_ssize_t i, Py_ssize_t at) except -1:
    """Refuses a decoded value out of canonical form (what every kernel relies on)."""
    cdef int sign = fmpz_sgn(fmpq_denref(q))
    if sign <= 0:
        raise _damaged(at, f"stored value {i} has a {'zero' if sign == 0 else 'negative'} "
                           "denominator")
    if not fmpq_is_canonical(q):
        raise _damaged(at, f"stored value {i} is not in lowest terms")
    return 0


cdef RationalVector vector_adopt(fmpq *data, Py_ssize_t n):
    """A new vector that owns data, an array of n + 1 entries (_fmpq_vec_init(n + 1))."""
    cdef RationalVector vector = RationalVector.__new__(RationalVector)
    vector.n = vector.m = n
    vector.data = data
    return vector


cdef RationalVector vector_copy(const fmpq *src, Py_ssize_t n):
    """A new vector of copies of src[0..n)."""
    return _vector_of(<fmpq *>src, n, False)        # only read: move is False


cdef RationalVector vector_take(fmpq *src, Py_ssize_t n):
    """A new vector of src[0..n), moved out of src (left holding zeros), not copied."""
    return _vector_of(src, n, True)


cdef RationalVector _vector_of(fmpq *src, Py_ssize_t n, bint move):
    """A new vector of src[0..n): its entries moved out of src (swapped with the new
    vector's zeros) or copied."""
    cdef RationalVector vector = vector_adopt(_fmpq_vec_init(n + 1), n)
    cdef Py_ssize_t i
    for i in range(n):
        if move:
            fmpq_swap(&vector.data[i], &src[i])
        else:
            fmpq_set(&vector.data[i], &src[i])
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
