# cython: language_level=3
"""The big arrays of bitprop's files read in C, from the bytes straight into FLINT: a
network's edges (Network.load) and a dataset's samples (Dataset.load).

json.loads builds a dict and four strs per edge, so the memory of those objects, not of the
numbers, would bound the largest network that can be read (bench/results/load.md; README,
"Measurements"). Here the top-level array is found in the bytes (find_array) and read by a
strict parser of the plain form bitprop and other writers emit (EdgesText, SamplesText):
objects with known keys at most once, strings without escapes, numbers as
'[+-]digits[/digits]' text or JSON integers (other number text, such as "0.125", goes
through numbers.rational). Anything else gives None, and the file is then read by the full
reader, which names the problem: these readers never report one, so what they accept is
exactly what the full reader accepts, read to the same values.
"""

from array import array

from cpython cimport array as carray
from cpython.exc cimport PyErr_CheckSignals
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport uint64_t
from libc.stdlib cimport calloc, free, realloc
from libc.string cimport memchr, memcmp

from bitprop._convert cimport (RationalVector, vector_adopt, vector_take, set_ratio_chars,
                               set_digits, fmpq_set_fraction, fmpq_get_fraction)
from bitprop._flint cimport (fmpq, fmpz_one, fmpz_neg, fmpq_init, fmpq_numref, fmpq_denref,
                             flint_realloc, _fmpq_vec_clear)


# --- the top level: where an array is ---------------------------------------------------

cdef inline bint _space(char c) noexcept nogil:
    return c == 32 or c == 10 or c == 13 or c == 9


cdef inline Py_ssize_t _skip_space(const char *s, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    while i < n and _space(s[i]):
        i += 1
    return i


cdef int _next(const char *s, Py_ssize_t *i, Py_ssize_t n, char close) noexcept nogil:
    """After a value at s[*i]: past ',' and spaces, 1; past ``close`` (the ']' or '}' of
    the array or object), 0; anything else, -1."""
    cdef Py_ssize_t j = _skip_space(s, i[0], n)
    if j < n and s[j] == 44:
        i[0] = _skip_space(s, j + 1, n)
        return 1
    if j < n and s[j] == close:
        i[0] = j + 1
        return 0
    return -1


cdef Py_ssize_t _string_end(const char *s, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    """The offset just past the JSON string that opens at s[i] == '"' (escapes skipped),
    or -1 when it does not end."""
    i += 1
    while i < n:
        if s[i] == 92:                      # backslash: the next byte is escaped
            i += 2
        elif s[i] == 34:
            return i + 1
        else:
            i += 1
    return -1


cdef Py_ssize_t _value_end(const char *s, Py_ssize_t i, Py_ssize_t n,
                           Py_ssize_t *commas) noexcept nogil:
    """The offset just past the JSON value at s[i], found by its brackets and strings only
    (what lies between them is checked by json when the rest of the file is read), or -1;
    the commas directly inside an array or object are added to *commas."""
    cdef long depth = 0
    if i >= n:
        return -1
    if s[i] == 34:
        return _string_end(s, i, n)
    if s[i] != 91 and s[i] != 123:          # a number or literal: up to a delimiter
        while i < n and not _space(s[i]) and s[i] != 44 and s[i] != 93 and s[i] != 125:
            i += 1
        return i
    while i < n:
        if s[i] == 34:
            i = _string_end(s, i, n)
            if i < 0:
                return -1
            continue
        if s[i] == 44 and depth == 1:
            commas[0] += 1
        elif s[i] == 91 or s[i] == 123:
            depth += 1
        elif s[i] == 93 or s[i] == 125:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return -1


def find_array(bytes data, bytes name):
    """(start, end, items) of the value of the top-level key ``name`` in a JSON object's
    text when it is an array and the key appears once, unescaped (items: a bound on how
    many it holds); None otherwise."""
    cdef const char *s = data
    cdef Py_ssize_t n = len(data), i, key, key_end, start = -1, end = -1, commas = 0, other
    cdef int more
    i = _skip_space(s, 0, n)
    if i >= n or s[i] != 123:
        return None
    i = _skip_space(s, i + 1, n)
    if i < n and s[i] == 125:
        return None
    while True:
        if i >= n or s[i] != 34:
            return None
        key = i + 1
        i = _string_end(s, i, n)
        if i < 0:
            return None
        key_end = i - 1
        if memchr(s + key, 92, key_end - key) != NULL:
            return None                     # an escaped key: json decides what it names
        i = _skip_space(s, i, n)
        if i >= n or s[i] != 58:
            return None
        i = _skip_space(s, i + 1, n)
        if key_end - key == len(name) and memcmp(s + key, <const char *>name, len(name)) == 0:
            if start >= 0 or i >= n or s[i] != 91:
                return None
            start = i
            i = end = _value_end(s, i, n, &commas)
        else:
            i = _value_end(s, i, n, &other)
        if i < 0:
            return None
        more = _next(s, &i, n, 125)
        if more < 0:
            return None
        if not more:
            break
    if _skip_space(s, i, n) != n or start < 0:
        return None
    return start, end, commas + 1


# --- vertex names: bytes -> index ---------------------------------------------------------

cdef struct _Slot:
    const char *name                # UTF-8 bytes of a vertex name (NULL: an empty slot)
    Py_ssize_t length
    long index


cdef inline uint64_t _hash(const char *s, Py_ssize_t n) noexcept nogil:
    cdef uint64_t h = 14695981039346656037ULL     # FNV-1a
    cdef Py_ssize_t i
    for i in range(n):
        h = (h ^ <unsigned char>s[i]) * 1099511628211ULL
    return h


cdef class _Names:
    """The vertex index of a name given as bytes: an open-addressing table over the UTF-8
    encodings of the names of a Network's index (name -> vertex)."""

    cdef _Slot *slots
    cdef uint64_t mask
    cdef list encoded               # keeps the bytes the slots point into

    def __dealloc__(self):
        free(self.slots)

    cdef bint build(self, dict index) except -1:
        """False when a name has no UTF-8 encoding (a lone surrogate)."""
        cdef uint64_t size = 8, h
        cdef bytes name
        while size < <uint64_t>(2 * len(index) + 2):
            size *= 2
        self.slots = <_Slot *>calloc(size, sizeof(_Slot))
        if self.slots == NULL:
            raise MemoryError()
        self.mask = size - 1
        self.encoded = []
        for text, vertex in index.items():
            try:
                name = text.encode("utf-8")
            except UnicodeEncodeError:
                return False
            self.encoded.append(name)
            h = _hash(name, len(name)) & self.mask
            while self.slots[h].name != NULL:
                h = (h + 1) & self.mask
            self.slots[h].name = name
            self.slots[h].length = len(name)
            self.slots[h].index = vertex
        return True

    cdef long find(self, const char *s, Py_ssize_t n) noexcept nogil:
        """The vertex named by s[0:n], or -1."""
        cdef uint64_t h = _hash(s, n) & self.mask
        while self.slots[h].name != NULL:
            if self.slots[h].length == n and memcmp(self.slots[h].name, s, n) == 0:
                return self.slots[h].index
            h = (h + 1) & self.mask
        return -1


# --- the edges array ------------------------------------------------------------------------

#: The keys of an item object, the bit of key j being 1 << j in the set of keys seen.
cdef struct _Keys:
    int count
    const char *name[8]
    Py_ssize_t length[8]


cdef _Keys _keys(tuple names):
    """The table of ``names`` (bytes that must outlive it: module constants)."""
    cdef _Keys keys
    cdef bytes name
    keys.count = len(names)
    for j, name in enumerate(names):
        keys.name[j], keys.length[j] = name, len(name)
    return keys


cdef inline int _key_bit(const _Keys *keys, const char *s, Py_ssize_t n) noexcept nogil:
    """The bit of the key s[0:n], or 0 when it is not one of ``keys``."""
    cdef int j
    for j in range(keys.count):
        if keys.length[j] == n and memcmp(keys.name[j], s, n) == 0:
            return 1 << j
    return 0


#: The keys an edge may have, and their bits.
cdef tuple _EDGE_NAMES = (b"from", b"to", b"weight", b"bias", b"trainable")
cdef _Keys _EDGE_KEYS = _keys(_EDGE_NAMES)
cdef enum:
    K_FROM = 1
    K_TO = 2
    K_WEIGHT = 4
    K_BIAS = 8
    K_TRAINABLE = 16


cdef Py_ssize_t _plain_string_end(const char *s, Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    """The offset of the quote closing the string opened at s[i - 1] when it holds no
    backslash and no control character (which JSON forbids raw); -1 otherwise."""
    while i < n:
        if s[i] == 34:
            return i
        if s[i] == 92 or <unsigned char>s[i] < 32:
            return -1
        i += 1
    return -1


cdef Py_ssize_t _member(const char *s, Py_ssize_t i, Py_ssize_t n, const _Keys *keys,
                        int *key, int *seen) noexcept nogil:
    """The object member at s[i], a plain string key and ':': the offset of its value
    (spaces skipped), with its key's bit in ``keys`` (0 for an unknown key) in *key and added
    to *seen; -1 when there is none, or its key is unknown or seen before."""
    cdef Py_ssize_t end
    if i >= n or s[i] != 34:
        return -1
    end = _plain_string_end(s, i + 1, n)
    if end < 0:
        return -1
    key[0] = _key_bit(keys, s + i + 1, end - i - 1)
    if key[0] == 0 or seen[0] & key[0]:
        return -1
    seen[0] |= key[0]
    i = _skip_space(s, end + 1, n)
    if i >= n or s[i] != 58:
        return -1
    i = _skip_space(s, i + 1, n)
    return i if i < n else -1


cdef class _Columns:
    """The columns being read, grown as edges come: vertex indices, trainable flags, and the
    weights and biases as fmpq arrays (handed to RationalVectors at the end)."""

    cdef carray.array sources       # array('l'), handed to Network as they are
    cdef carray.array targets
    cdef char *trainable
    cdef fmpq *weights
    cdef fmpq *biases
    cdef Py_ssize_t n, capacity
    cdef list pending               # (2 * edge + is_bias, text): see _number

    def __cinit__(self):
        self.pending = []
        self.sources, self.targets = array("l"), array("l")

    def __dealloc__(self):
        free(self.trainable)
        if self.weights != NULL:
            _fmpq_vec_clear(self.weights, self.capacity)
        if self.biases != NULL:
            _fmpq_vec_clear(self.biases, self.capacity)

    cdef int grow(self, Py_ssize_t edges=0) except -1:
        """Room for one more edge (or for ``edges``, as read from the array's commas), and
        one entry to spare (what vector_adopt expects)."""
        cdef Py_ssize_t size = max(2 * self.capacity + 1024, edges + 2), i
        if max(self.n, edges) + 2 <= self.capacity:
            return 0
        carray.resize(self.sources, size)
        carray.resize(self.targets, size)
        self.trainable = <char *>_resized(self.trainable, size)
        # fmpq entries are words (small values or tagged pointers): realloc moves them intact
        self.weights = <fmpq *>flint_realloc(self.weights, size * sizeof(fmpq))
        self.biases = <fmpq *>flint_realloc(self.biases, size * sizeof(fmpq))
        for i in range(self.capacity, size):
            fmpq_init(&self.weights[i])
            fmpq_init(&self.biases[i])
        self.capacity = size
        return 0

    cdef RationalVector take(self, bint biases):
        """The weights (or biases) read, as a vector that now owns them."""
        cdef fmpq *data = self.biases if biases else self.weights
        if biases:
            self.biases = NULL
        else:
            self.weights = NULL
        return vector_adopt(data, self.n)        # entries past n + 1 are zeros: no memory


cdef void *_resized(void *block, size_t size) except NULL:
    cdef void *grown = realloc(block, size)
    if grown == NULL:
        raise MemoryError()
    return grown


cdef Py_ssize_t _number(list pending, Py_ssize_t slot, fmpq *q, const char *s, Py_ssize_t i,
                        Py_ssize_t n) except -2:
    """Reads the number at s[i] into q: offset past it, or -1 when it is not a plain number
    (a literal, text with escapes). Number text other than 'p/q' is noted in ``pending`` as
    (slot, text), for numbers.rational (resolve). A JSON float's fraction or exponent is
    left for the caller, which finds no ',', '}' or ']' there."""
    cdef Py_ssize_t start = i, end, digits
    if s[i] == 34:
        end = _plain_string_end(s, i + 1, n)
        if end < 0:
            return -1
        if not set_ratio_chars(q, s + i + 1, end - i - 1):
            try:
                text = PyUnicode_DecodeUTF8(s + i + 1, end - i - 1, NULL)
            except UnicodeDecodeError:
                return -1
            pending.append((slot, text))
        return end + 1
    if s[i] == 45:                          # JSON integer: -?(0|[1-9][0-9]*)
        i += 1
    if i >= n or not 48 <= s[i] <= 57:
        return -1
    if s[i] == 48:
        i += 1
    else:
        while i < n and 48 <= s[i] <= 57:
            i += 1
    digits = start + 1 if s[start] == 45 else start
    set_digits(fmpq_numref(q), s + digits, i - digits)
    fmpz_one(fmpq_denref(q))
    if s[start] == 45:
        fmpz_neg(fmpq_numref(q), fmpq_numref(q))
    return i


cdef bint resolve(fmpq *q, str text, bint allow_float) except -1:
    """q = the number text that is not 'p/q', as numbers.rational reads it; False when it
    refuses it (the full reader then names the problem)."""
    from .errors import BitpropInputError
    from .numbers import rational
    try:
        fmpq_set_fraction(q, rational(text, allow_float=allow_float))
    except BitpropInputError:
        return False
    return True


cdef class _ArrayText:
    """A top-level array at data[start:end] (see find_array; items: a bound on how many it
    holds), read item by item by the subclass's _item."""

    cdef bytes data
    cdef Py_ssize_t start, end, items
    cdef int seen                   # the keys of the item object read last, as bits

    def __init__(self, bytes data, Py_ssize_t start, Py_ssize_t end, Py_ssize_t items=0):
        self.data, self.start, self.end, self.items = data, start, end, items

    cdef Py_ssize_t _item(self, const char *s, Py_ssize_t i, Py_ssize_t n) except -2:
        """Reads the item at s[i]: the offset past it, or -1 when it is not in plain form."""
        return -1

    cdef Py_ssize_t _value(self, int key, const char *s, Py_ssize_t i,
                           Py_ssize_t n) except -2:
        """Reads the value at s[i] of the item's member ``key``: the offset past it, or -1."""
        return -1

    cdef Py_ssize_t _object(self, const _Keys *keys, const char *s, Py_ssize_t i,
                            Py_ssize_t n) except -2:
        """Reads the item object at s[i], each member's value by _value, its keys (as
        ``keys`` gives them) into seen: the offset past it, or -1 when it is not plain (a
        member that is not, an unknown key, a key seen before)."""
        cdef int seen = 0, key, more = 1
        if i >= n or s[i] != 123:
            return -1
        i = _skip_space(s, i + 1, n)
        while more:
            i = _member(s, i, n, keys, &key, &seen)
            if i < 0:
                return -1
            i = self._value(key, s, i, n)
            if i < 0:
                return -1
            more = _next(s, &i, n, 125)
            if more < 0:
                return -1
        self.seen = seen
        return i

    cdef bint _read(self) except -1:
        """Reads every item; False when one is not in plain form, or the array is not."""
        cdef const char *s = self.data
        cdef Py_ssize_t n = self.end, count = 0
        cdef Py_ssize_t i = _skip_space(s, self.start + 1, n)
        cdef int more = 1
        if i < n and s[i] == 93:
            return i + 1 == n
        while more:
            i = self._item(s, i, n)
            if i < 0:
                return False
            count += 1
            if count % 4096 == 0:
                PyErr_CheckSignals()
            more = _next(s, &i, n, 93)
            if more < 0:
                return False
        return i == n


#: The fewest bytes an edge takes in the edges array: '{"from":"","to":""}' and a comma.
cdef Py_ssize_t MIN_EDGE_BYTES = 20


cdef class EdgesText(_ArrayText):
    """A network's edges array, read once the vertices are known."""

    cdef _Names names
    cdef _Columns out

    cdef Py_ssize_t _item(self, const char *s, Py_ssize_t i, Py_ssize_t n) except -2:
        """Reads the edge object at s[i] into entry out.n."""
        cdef _Columns out = self.out
        cdef Py_ssize_t e
        out.grow()
        e = out.n
        fmpz_one(fmpq_numref(&out.weights[e]))          # the defaults: weight 1, bias 0
        fmpz_one(fmpq_denref(&out.weights[e]))
        out.trainable[e] = 1
        i = self._object(&_EDGE_KEYS, s, i, n)
        if (i < 0 or (self.seen & (K_FROM | K_TO)) != (K_FROM | K_TO)
                or out.sources.data.as_longs[e] == out.targets.data.as_longs[e]):
            return -1
        out.n += 1
        return i

    cdef Py_ssize_t _value(self, int key, const char *s, Py_ssize_t i,
                           Py_ssize_t n) except -2:
        cdef _Columns out = self.out
        cdef Py_ssize_t e = out.n, end
        cdef long vertex
        if key == K_FROM or key == K_TO:
            end = _plain_string_end(s, i + 1, n) if s[i] == 34 else -1
            vertex = self.names.find(s + i + 1, end - i - 1) if end >= 0 else -1
            if vertex < 0:
                return -1
            (out.sources if key == K_FROM else out.targets).data.as_longs[e] = vertex
            return end + 1
        if key == K_WEIGHT or key == K_BIAS:
            return _number(out.pending, 2 * e + (key == K_BIAS),
                           &out.biases[e] if key == K_BIAS else &out.weights[e], s, i, n)
        if n - i >= 4 and memcmp(s + i, b"true", 4) == 0:
            return i + 4
        if n - i >= 5 and memcmp(s + i, b"false", 5) == 0:
            out.trainable[e] = 0
            return i + 5
        return -1

    def columns(self, dict index, bint allow_float=False):
        """(sources, targets, weights, biases, trainable) as Network keeps them (vertex
        arrays, RationalVectors, a list of bools), the vertices named through ``index``
        (name -> vertex); None when an edge is not in plain form, or names no vertex of
        ``index`` (the reader that checks edges then reads them, and names any problem)."""
        cdef _Columns out = _Columns()
        self.names, self.out = _Names(), out
        # presized for the edges the array can hold, not for its commas: "[" and 10^8
        # commas are 10^8 "items" but room for no edge (the columns would take 5 GB)
        out.grow(min(self.items, (self.end - self.start) // MIN_EDGE_BYTES + 1))
        if not self.names.build(index) or not self._read():
            return None
        out.grow()
        for slot, text in out.pending:          # slot 2e: edge e's weight, 2e + 1: its bias
            if not resolve(&out.biases[slot // 2] if slot % 2 else &out.weights[slot // 2],
                           text, allow_float):
                return None
        trainable = [out.trainable[e] == 1 for e in range(out.n)]
        carray.resize(out.sources, out.n)
        carray.resize(out.targets, out.n)
        return out.sources, out.targets, out.take(False), out.take(True), trainable


# --- the samples array ------------------------------------------------------------------------

#: The keys a sample may have, and their bits.
cdef tuple _SAMPLE_NAMES = (b"x", b"y", b"weight", b"kind")
cdef _Keys _SAMPLE_KEYS = _keys(_SAMPLE_NAMES)
cdef enum:
    S_X = 1
    S_Y = 2
    S_WEIGHT = 4
    S_KIND = 8


cdef class _Values:
    """Every number of the samples in file order, in one growing fmpq array."""

    cdef fmpq *data
    cdef Py_ssize_t n, capacity
    cdef list pending               # (index, text): see _number

    def __cinit__(self):
        self.pending = []

    def __dealloc__(self):
        if self.data != NULL:
            _fmpq_vec_clear(self.data, self.capacity)

    cdef int grow(self) except -1:
        """Room for one more value."""
        cdef Py_ssize_t size = 2 * self.capacity + 1024, i
        if self.n < self.capacity:
            return 0
        self.data = <fmpq *>flint_realloc(self.data, size * sizeof(fmpq))   # see _Columns
        for i in range(self.capacity, size):
            fmpq_init(&self.data[i])
        self.capacity = size
        return 0


cdef Py_ssize_t _vector(_Values values, const char *s, Py_ssize_t i, Py_ssize_t n) except -2:
    """Reads the JSON array of numbers at s[i] onto values: offset past it, or -1."""
    cdef int more
    if i >= n or s[i] != 91:
        return -1
    i = _skip_space(s, i + 1, n)
    if i < n and s[i] == 93:
        return i + 1
    while True:
        values.grow()
        i = _number(values.pending, values.n, values.data + values.n, s, i, n)
        if i < 0:
            return -1
        values.n += 1
        more = _next(s, &i, n, 93)
        if more < 0:
            return -1
        if not more:
            return i


cdef class SamplesText(_ArrayText):
    """A dataset's samples array."""

    cdef _Values values
    cdef list spans                 # per sample: (x0, x1, y0, y1, w, kind), see _item
    cdef Py_ssize_t x0, x1, y0, y1, w
    cdef object kind

    cdef Py_ssize_t _item(self, const char *s, Py_ssize_t i, Py_ssize_t n) except -2:
        """Reads the sample object at s[i]: its numbers onto values, and onto spans its
        (x first, x end, y first or -1, y end, weight index or -1, kind: None, "aux" or
        "main")."""
        self.x0 = self.x1 = self.y0 = self.y1 = self.w = -1
        self.kind = None
        i = self._object(&_SAMPLE_KEYS, s, i, n)
        if i < 0 or not self.seen & S_X:
            return -1
        self.spans.append((self.x0, self.x1, self.y0, self.y1, self.w, self.kind))
        return i

    cdef Py_ssize_t _value(self, int key, const char *s, Py_ssize_t i,
                           Py_ssize_t n) except -2:
        cdef _Values values = self.values
        cdef Py_ssize_t start = values.n, end
        if key == S_X or key == S_Y:
            i = _vector(values, s, i, n)
            if key == S_X:
                self.x0, self.x1 = start, values.n
            else:
                self.y0, self.y1 = start, values.n
            return i
        if key == S_WEIGHT:
            values.grow()
            self.w = values.n
            i = _number(values.pending, self.w, values.data + self.w, s, i, n)
            values.n += i >= 0
            return i
        end = _plain_string_end(s, i + 1, n) if s[i] == 34 else -1     # kind, as written
        if end - i - 1 == 3 and memcmp(s + i + 1, b"aux", 3) == 0:
            self.kind = "aux"
        elif end - i - 1 == 4 and memcmp(s + i + 1, b"main", 4) == 0:
            self.kind = "main"
        else:
            return -1
        return end + 1

    def rows(self, bint allow_float=False):
        """(inputs, labels, weights, kinds) as Dataset takes them: rows as RationalVectors,
        labels None when no sample has a 'y', weights None when none has a 'weight'; None
        when a sample is not in plain form, or some samples have a 'y' and others not."""
        cdef _Values values = _Values()
        cdef list spans = []
        self.values, self.spans = values, spans
        if not self._read():
            return None
        labelled = {y0 >= 0 for _, _, y0, _, _, _ in spans}
        if len(labelled) > 1:
            return None
        for slot, text in values.pending:
            if not resolve(values.data + <Py_ssize_t>slot, text, allow_float):
                return None
        weighted = any(w >= 0 for *_, w, _ in spans)
        weights = [1 if w < 0 else fmpq_get_fraction(values.data + <Py_ssize_t>w)
                   for *_, w, _ in spans] if weighted else None
        inputs = [vector_take(values.data + <Py_ssize_t>x0, x1 - x0)
                  for x0, x1, *_ in spans]
        labels = [vector_take(values.data + <Py_ssize_t>y0, y1 - y0)
                  for _, _, y0, y1, _, _ in spans] if True in labelled else None
        return inputs, labels, weights, [kind for *_, kind in spans]
