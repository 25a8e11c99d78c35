# cython: language_level=3
"""The SLP evaluation kernel: x_n of a straight-line program, exactly, in FLINT.

Gates are fmpz when the constant is an integer and fmpq otherwise. Only the gates the output
depends on are evaluated, and each value is freed right after its last use, so memory holds
the live values only. The loop runs without the GIL in a worker thread (bitprop.workers) and
polls a stop flag between gates, so Ctrl-C stops it without leaving anything half-written.
Sign, bits and bit length of the result are read from FLINT; a Python Fraction is made only
when ``SlpValue.value`` is asked for.
"""

from fractions import Fraction

from libc.stdlib cimport calloc, free

from bitprop._flint cimport (
    flint_bitcnt_t, flint_free, fmpq, fmpq_denref, fmpq_numref, fmpz, fmpz_abs, fmpz_add,
    fmpz_bits, fmpz_clear, fmpz_fits_si, fmpz_get_si, fmpz_get_signed_ui_array,
    fmpz_get_str, fmpz_init, fmpz_is_one, fmpz_is_zero, fmpz_mul, fmpz_one, fmpz_set_si,
    fmpz_set_signed_ui_array, fmpz_sgn, fmpz_sub, fmpz_swap, fmpz_t, fmpz_tstbit, fmpz_zero,
    fmpq_add, fmpq_mul, fmpq_sub, fmpq_zero, _fmpq_vec_clear, _fmpq_vec_init,
    _fmpz_vec_clear, _fmpz_vec_init, slong, ulong)

from bitprop._convert cimport fmpz_get_pyint, fmpz_set_pyint

from .errors import BitLimitError, BitpropInputError
from .workers import run_workers

_OP_CODES = {"+": ADD, "-": SUB, "*": MUL}

# The gate operations by code, for each kind of value.
ctypedef void (*fmpz_op)(fmpz *, const fmpz *, const fmpz *) noexcept nogil
ctypedef void (*fmpq_op)(fmpq *, const fmpq *, const fmpq *) noexcept nogil
cdef fmpz_op[3] FMPZ_OPS = [<fmpz_op>fmpz_add, <fmpz_op>fmpz_sub, <fmpz_op>fmpz_mul]
cdef fmpq_op[3] FMPQ_OPS = [<fmpq_op>fmpq_add, <fmpq_op>fmpq_sub, <fmpq_op>fmpq_mul]


# --- the program as flat arrays, with the liveness the kernel needs --------------------------

cdef struct Stats:
    slong evaluated
    flint_bitcnt_t max_gate_bits
    flint_bitcnt_t live_bits
    flint_bitcnt_t peak_live_bits
    flint_bitcnt_t stop_bits     # the bits of the gate over the limit ...
    bint predicted               # ... a lower bound, found before computing it


cdef class _Schedule:
    """Owns the Gates arrays of one program (allocated and freed here only; Gates and the
    gate codes are declared in _slp.pxd, shared with the ball kernel)."""

    def __cinit__(self, program):
        ops = program.ops
        cdef slong n = len(ops), i, j, k
        self.g.n = n
        self.g.code = <unsigned char *>calloc(n + 1, sizeof(unsigned char))
        self.g.needed = <unsigned char *>calloc(n + 1, sizeof(unsigned char))
        self.g.left = <slong *>calloc(n + 1, sizeof(slong))
        self.g.right = <slong *>calloc(n + 1, sizeof(slong))
        self.g.last_use = <slong *>calloc(n + 1, sizeof(slong))
        if (self.g.code == NULL or self.g.needed == NULL or self.g.left == NULL
                or self.g.right == NULL or self.g.last_use == NULL):
            raise MemoryError()
        for i in range(1, n + 1):
            op, j, k = ops[i - 1]
            self.g.code[i] = _OP_CODES[op]
            self.g.left[i] = j
            self.g.right[i] = k
        # Backwards: a gate is needed when a needed gate reads it; the output is needed.
        self.g.needed[n] = 1
        for i in range(n, 0, -1):
            if self.g.needed[i]:
                self.g.needed[self.g.left[i]] = 1
                self.g.needed[self.g.right[i]] = 1
        for i in range(1, n + 1):
            if self.g.needed[i]:
                self.g.last_use[self.g.left[i]] = i
                self.g.last_use[self.g.right[i]] = i

    def __dealloc__(self):
        free(self.g.code)
        free(self.g.needed)
        free(self.g.left)
        free(self.g.right)
        free(self.g.last_use)


# --- the loop, once for fmpz and once for fmpq (a fused type) ---------------------------------

ctypedef fused number:
    fmpz
    fmpq


cdef inline flint_bitcnt_t _bit_length(number *v) noexcept nogil:
    """The bit length of docs/formats.md: bitlen(|p|) + bitlen(q)."""
    if number is fmpz:
        return fmpz_bits(v) + 1
    else:
        return fmpz_bits(fmpq_numref(v)) + fmpz_bits(fmpq_denref(v))


cdef inline void _release(number *x, slong g, Stats *stats) noexcept nogil:
    stats.live_bits -= _bit_length(x + g)
    if number is fmpz:
        fmpz_zero(x + g)
    else:
        fmpq_zero(x + g)


cdef inline flint_bitcnt_t _product_floor(number *a, number *b) noexcept nogil:
    """A lower bound of the bit length of a * b (a, b != 0): for integers |a b| >= 2^(bits a
    + bits b - 2); for rationals in lowest terms, a square has no common factor to cancel,
    and a product's numerator loses at most the bits of the denominators it cancels with
    (and the denominator the same)."""
    cdef flint_bitcnt_t na, nb, da, db, num, den
    if number is fmpz:
        return fmpz_bits(a) + fmpz_bits(b)
    else:
        na, nb = fmpz_bits(fmpq_numref(a)), fmpz_bits(fmpq_numref(b))
        da, db = fmpz_bits(fmpq_denref(a)), fmpz_bits(fmpq_denref(b))
        if a == b:
            return 2 * (na + da) - 2
        num = na + nb - 1 - da - db if na + nb > da + db + 1 else 1
        den = da + db - 1 - na - nb if da + db > na + nb + 1 else 1
        return num + den


cdef inline bint _is_zero(number *v) noexcept nogil:
    if number is fmpz:
        return fmpz_is_zero(v)
    else:
        return fmpz_is_zero(fmpq_numref(v))


cdef slong _run(const Gates *g, number *x, slong limit, Stats *stats,
               const int *stop) noexcept nogil:
    """Evaluate the needed gates into x[1..n]; the gate over ``limit`` bits (its bits in
    stats), -1 when done, STOPPED when ``*stop`` was set. A product is predicted first
    (_product_floor): a chain of squarings stops before building the square over the
    limit. A sum is at most one bit longer than its longer operand, which passed: no
    prediction needed."""
    cdef slong i, j, k
    cdef flint_bitcnt_t bits
    for i in range(1, g.n + 1):
        if not g.needed[i]:
            continue
        if stop[0]:
            return STOPPED
        j, k = g.left[i], g.right[i]
        if (limit >= 0 and g.code[i] == MUL and not _is_zero(x + j) and not _is_zero(x + k)):
            bits = _product_floor(x + j, x + k)
            if bits > <flint_bitcnt_t>limit:
                stats.stop_bits, stats.predicted = bits, True
                return i
        if number is fmpz:
            FMPZ_OPS[g.code[i]](x + i, x + j, x + k)
        else:
            FMPQ_OPS[g.code[i]](x + i, x + j, x + k)
        bits = _bit_length(x + i)
        stats.evaluated += 1
        stats.live_bits += bits
        if bits > stats.max_gate_bits:
            stats.max_gate_bits = bits
        if stats.live_bits > stats.peak_live_bits:
            stats.peak_live_bits = stats.live_bits
        if g.last_use[j] == i:
            _release(x, j, stats)
        if k != j and g.last_use[k] == i:
            _release(x, k, stats)
        if limit >= 0 and bits > <flint_bitcnt_t>limit:
            stats.stop_bits, stats.predicted = bits, False
            return i
    return -1


# --- the result ----------------------------------------------------------------------------

cdef class SlpValue:
    """x_n = p/q, held in FLINT: sign, bits and bit length without converting to Python."""
    cdef fmpz_t num
    cdef fmpz_t den
    cdef object _value
    cdef readonly slong gates_evaluated
    cdef readonly object max_gate_bits
    cdef readonly object peak_live_bits

    def __cinit__(self):
        fmpz_init(self.num)
        fmpz_init(self.den)
        fmpz_one(self.den)

    def __dealloc__(self):
        fmpz_clear(self.num)
        fmpz_clear(self.den)

    @property
    def sign(self):
        """-1, 0 or 1: PosSLP asks whether this is 1."""
        return fmpz_sgn(self.num)

    @property
    def is_integer(self):
        return bool(fmpz_is_one(self.den))

    @property
    def bit_length(self):
        """bitlen(|p|) + bitlen(q) (docs/formats.md), so an integer m has m.bit_length() + 1."""
        return fmpz_bits(self.num) + fmpz_bits(self.den)

    def bit(self, k):
        """Bit k of |x_n| (k = 0 least significant): BitSLP, for integer outputs only."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            raise BitpropInputError(f"bit index {k!r} must be an integer >= 0", path="bit")
        if not fmpz_is_one(self.den):
            raise BitpropInputError(
                f"bit {k} asked for, but x_n is not an integer (its denominator has "
                f"{fmpz_bits(self.den)} bits); BitSLP is defined for integer outputs", path="bit")
        if k >= fmpz_bits(self.num):
            return 0
        cdef fmpz_t magnitude
        fmpz_init(magnitude)
        try:
            fmpz_abs(magnitude, self.num)       # FLINT reads negative numbers in two's complement
            return fmpz_tstbit(magnitude, k)
        finally:
            fmpz_clear(magnitude)

    @property
    def value(self):
        """x_n as a Fraction (converted on first access, then kept)."""
        if self._value is None:
            numerator = fmpz_get_pyint(self.num)
            if fmpz_is_one(self.den):
                self._value = Fraction(numerator)
            else:
                self._value = Fraction(numerator, fmpz_get_pyint(self.den))
        return self._value

    def to_str(self):
        """The canonical decimal ``"p/q"`` (or ``"p"``), printed by FLINT in a worker thread,
        so that Ctrl-C (and SIGTERM) stop the wait at once: a 134-Mbit value takes seconds."""
        text = _Decimal(self, False).text()
        if fmpz_is_one(self.den):
            return text
        return text + "/" + _Decimal(self, True).text()

    def __repr__(self):
        return f"SlpValue(sign={self.sign}, bit_length={self.bit_length})"


cdef class _Decimal:
    """The decimal text of a value's numerator or denominator. FLINT's conversion cannot be
    stopped midway, so it runs in a worker thread that an interrupt abandons: the thread
    keeps this object, and with it the value, alive until it is done (then the text is
    freed); the process meanwhile goes on to exit."""
    cdef SlpValue value
    cdef bint denominator
    cdef char *digits

    def __cinit__(self, SlpValue value, bint denominator):
        self.value, self.denominator = value, denominator

    def __dealloc__(self):
        if self.digits != NULL:
            flint_free(self.digits)

    def work(self):
        cdef const fmpz *number = &self.value.num[0]
        if self.denominator:
            number = &self.value.den[0]
        with nogil:
            self.digits = fmpz_get_str(NULL, 10, number)

    def text(self):
        run_workers([self.work], _nothing_to_stop)
        return self.digits.decode("ascii")


def _nothing_to_stop():
    """An abandoned conversion ends on its own (see _Decimal)."""


# --- entry point ---------------------------------------------------------------------------

def evaluate(program, *, max_bits=None, time_budget=None):
    """x_n of ``program`` (a bitprop.slp.Program) as an SlpValue.

    ``max_bits``: stop with BitLimitError at the first gate whose bit length (docs/formats.md:
    bitlen(|p|) + bitlen(q)) exceeds it; ``time_budget``: stop with TimeBudgetError after that
    many seconds.
    """
    if max_bits is not None and (isinstance(max_bits, bool) or not isinstance(max_bits, int)
                                 or max_bits < 0):
        raise BitpropInputError(f"max_bits {max_bits!r} must be an integer >= 0",
                                path="max_bits")
    cdef _SlpRun run = _SlpRun(_Schedule(program), program.constant,
                               -1 if max_bits is None else min(max_bits, (1 << 62)))

    def stop():
        run.stop = 1

    run_workers([run.work], stop, time_budget=time_budget)
    return run.result()


cdef class _SlpRun:
    """One evaluation: owns the gate values, so a worker abandoned after Ctrl-C never reads
    freed memory (the thread keeps this object alive until it has seen the stop flag)."""
    cdef _Schedule schedule
    cdef fmpz *integers          # the gate values: fmpz for an integer constant ...
    cdef fmpq *rationals         # ... fmpq otherwise (the other pointer is NULL)
    cdef slong size, limit, stopped
    cdef Stats stats
    cdef public int stop

    def __cinit__(self, _Schedule schedule, constant, slong limit):
        self.schedule, self.limit, self.size = schedule, limit, schedule.g.n + 1
        if constant.denominator == 1:
            self.integers = _fmpz_vec_init(self.size)
            fmpz_set_pyint(self.integers, constant.numerator)
            _start(&self.stats, _bit_length(self.integers), limit)
        else:
            self.rationals = _fmpq_vec_init(self.size)
            fmpz_set_pyint(fmpq_numref(self.rationals), constant.numerator)
            fmpz_set_pyint(fmpq_denref(self.rationals), constant.denominator)
            _start(&self.stats, _bit_length(self.rationals), limit)

    def __dealloc__(self):
        if self.integers != NULL:
            _fmpz_vec_clear(self.integers, self.size)
        if self.rationals != NULL:
            _fmpq_vec_clear(self.rationals, self.size)

    def work(self):
        with nogil:
            if self.integers != NULL:
                self.stopped = _run(&self.schedule.g, self.integers, self.limit, &self.stats,
                                    &self.stop)
            else:
                self.stopped = _run(&self.schedule.g, self.rationals, self.limit, &self.stats,
                                    &self.stop)

    def result(self):
        """Move x_n into an SlpValue, or raise BitLimitError at the gate that outgrew max_bits."""
        cdef SlpValue value = SlpValue()
        cdef slong n = self.schedule.g.n
        if self.stopped >= 0:
            _raise_bit_limit(self.stopped, self.stats.stop_bits, self.limit,
                             self.stats.predicted)
        if self.integers != NULL:
            fmpz_swap(value.num, self.integers + n)
        else:
            fmpz_swap(value.num, fmpq_numref(self.rationals + n))
            fmpz_swap(value.den, fmpq_denref(self.rationals + n))
        value.gates_evaluated = self.stats.evaluated
        value.max_gate_bits = self.stats.max_gate_bits
        value.peak_live_bits = self.stats.peak_live_bits
        return value


cdef int _start(Stats *stats, flint_bitcnt_t constant_bits, slong limit) except -1:
    stats.evaluated = 0
    stats.max_gate_bits = stats.live_bits = stats.peak_live_bits = constant_bits
    if limit >= 0 and constant_bits > <flint_bitcnt_t>limit:
        _raise_bit_limit(0, constant_bits, limit)
    return 0


cdef int _raise_bit_limit(slong gate, flint_bitcnt_t bits, slong limit,
                         bint predicted=False) except -1:
    has = f"would have at least {bits} bits (predicted)" if predicted else f"has {bits} bits"
    raise BitLimitError(f"gate x{gate} {has}, over the limit of {limit} (max_bits)",
                        vertex=f"x{gate}", bits=bits, limit=limit)
