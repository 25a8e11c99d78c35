# cython: language_level=3
"""JSON at C speed, both ways: a key repeated in a file, a network's edges read into columns,
and gradients printed as text.

Reading: json.loads keeps the last of two equal keys. Counting the ``:`` outside strings of a
valid document gives its key-value pairs; the dicts json built hold as many entries exactly
when no object repeats a key. So a file is read by json's own C decoder, and only a file that
repeats a key is read again, slowly, to name it (cli/common.py). A network's edge objects
become columns in one C loop (edge_columns).

Writing: a RationalVector's entries are printed by FLINT straight into buffers, by worker
threads with the GIL released, and handed out block by block (JsonWriter), never as a Python
str per entry.
"""

cimport cython
from cpython.bytearray cimport (PyByteArray_AS_STRING, PyByteArray_FromStringAndSize,
                                PyByteArray_Resize)
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.stdlib cimport calloc, free
from libc.string cimport memchr, memcpy, strlen

from bitprop._convert cimport RationalVector
from bitprop._flint cimport (fmpz, fmpq, ulong, slong, fmpz_bits, fmpz_clear, fmpz_equal,
                             fmpz_fits_si, fmpz_get_si, fmpz_get_str, fmpz_get_ui, fmpz_is_one,
                             fmpz_set, fmpz_sizeinbase, fmpq_numref, fmpq_denref)


def pairs_in_text(str text):
    """The key-value pairs of the valid JSON ``text``: its ``:`` outside strings (scanned as
    UTF-8, whose multi-byte sequences never hold a quote, backslash or colon)."""
    cdef const char *s
    cdef Py_ssize_t n, i = 0
    cdef long pairs = 0
    cdef bytes encoded
    if text.isascii():
        s = PyUnicode_AsUTF8AndSize(text, &n)
    else:                                   # may hold lone surrogates (command-line text)
        encoded = text.encode("utf-8", "surrogatepass")
        s, n = encoded, len(encoded)
    with nogil:
        while i < n:
            if s[i] == 34:                  # '"': on to the string's end
                i = _string_end(s, i, n)
            elif s[i] == 58:                # ':'
                pairs += 1
            i += 1
    return pairs


cdef Py_ssize_t _string_end(const char *s, Py_ssize_t start, Py_ssize_t n) noexcept nogil:
    """The offset of the quote that ends the string opened at ``start``: the next quote
    after an even number of backslashes (memchr finds quotes at memory speed)."""
    cdef const char *quote
    cdef Py_ssize_t at = start + 1, end, back
    while True:
        quote = <const char *>memchr(s + at, 34, n - at)
        if quote == NULL:
            return n
        end = quote - s
        back = end - 1
        while back > start and s[back] == 92:   # backslashes just before the quote
            back -= 1
        if (end - 1 - back) % 2 == 0:
            return end
        at = end + 1


def pairs_in_document(document):
    """The entries of every dict in a parsed JSON document (iterative: any depth)."""
    cdef long pairs = 0
    cdef list stack = [document]
    while stack:
        value = stack.pop()
        if type(value) is dict:
            pairs += len(<dict>value)
            for item in (<dict>value).values():
                if type(item) is dict or type(item) is list:
                    stack.append(item)
        elif type(value) is list:
            for item in <list>value:
                if type(item) is dict or type(item) is list:
                    stack.append(item)
    return pairs


def edge_columns(list edges, dict index):
    """(sources, targets, weights, biases, trainable) of a network's edges when every one is
    an object with known keys only, 'from' and 'to' naming two distinct vertices of
    ``index`` and 'trainable' (if any) a boolean; None when any is not (Network then reads
    them one by one, to name the problem). Weights and biases are as given, defaults 1, 0."""
    cdef Py_ssize_t n = len(edges), i, found
    cdef list sources = [None] * n, targets = [None] * n, weights = [None] * n
    cdef list biases = [None] * n, trainable = [None] * n
    cdef dict edge
    for i in range(n):
        if type(edges[i]) is not dict:
            return None
        edge = edges[i]
        source, target = edge.get("from"), edge.get("to")
        if type(source) is not str or type(target) is not str:
            return None
        u, v = index.get(source), index.get(target)
        if u is None or v is None or u == v:
            return None
        found = 2
        weight = edge.get("weight", _MISSING)
        found += weight is not _MISSING
        bias = edge.get("bias", _MISSING)
        found += bias is not _MISSING
        flag = edge.get("trainable", _MISSING)
        found += flag is not _MISSING
        if found != len(edge) or not (flag is _MISSING or flag is True or flag is False):
            return None
        sources[i], targets[i] = u, v
        weights[i] = 1 if weight is _MISSING else weight
        biases[i] = 0 if bias is _MISSING else bias
        trainable[i] = True if flag is _MISSING else flag
    return sources, targets, weights, biases, trainable


cdef object _MISSING = object()


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


cdef enum:
    _SEEN_BITS = 10                             # slots of a worker's _Seen table: 2^10
    _SEEN = 1 << _SEEN_BITS


cdef struct _Seen:
    # A denominator printed earlier in the block, and where its digits are: gradients share
    # few denominators (float32-exact data: some 50 powers of two in 65k weights).
    fmpz value
    char *text
    size_t length


cdef char *_put_denominator(char *out, const fmpz *d, _Seen *seen) noexcept nogil:
    """Decimal d at ``out``, copied from where it was printed before when it was."""
    cdef _Seen *slot
    cdef char *start = out
    if fmpz_fits_si(d):                         # short: printing is as quick as looking
        return _put_fmpz(out, d)
    slot = &seen[(fmpz_bits(d) * <ulong>0x9E3779B97F4A7C15 + fmpz_get_ui(d)) >> (64 - _SEEN_BITS)]
    if slot.text != NULL and fmpz_equal(&slot.value, d):
        memcpy(out, slot.text, slot.length)
        return out + slot.length
    out = _put_fmpz(out, d)
    fmpz_set(&slot.value, d)
    slot.text, slot.length = start, out - start
    return out


cdef size_t _print(const fmpq *data, Py_ssize_t first, Py_ssize_t last, bint separated,
                   char *out, size_t *ends, _Seen *seen, const int *stop) noexcept nogil:
    """Print data[first:last] at ``out`` as '"p/q"' each, after ', ' when ``separated`` (but
    for entry 0); ends[j] is the offset after value j. Returns the bytes written."""
    cdef char *at = out
    cdef Py_ssize_t j
    for j in range(_SEEN):                      # forget the texts of the previous block
        seen[j].text = NULL
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
            at = _put_denominator(at + 1, fmpq_denref(&data[j]), seen)
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


cdef class JsonWriter:
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
    cdef _Seen *seen                    # per worker: _SEEN denominators it printed

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
        self.seen = <_Seen *>calloc(self.threads * _SEEN, sizeof(_Seen))   # fmpz 0: set
        if (self.first == NULL or self.out == NULL or self.used == NULL or self.size == NULL
                or self.ends == NULL or self.text == NULL or self.length == NULL
                or self.seen == NULL):
            raise MemoryError()

    def __dealloc__(self):
        cdef Py_ssize_t j
        if self.seen != NULL:
            for j in range(self.threads * _SEEN):
                fmpz_clear(&self.seen[j].value)
        free(self.first); free(self.out); free(self.used); free(self.size); free(self.ends)
        free(self.text); free(self.length); free(self.seen)

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
                                      self.phase == _PRINT, self.out[t], self.ends,
                                      self.seen + (t % self.threads) * _SEEN, &self.stop)
