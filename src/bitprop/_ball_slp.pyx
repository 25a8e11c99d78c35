# cython: language_level=3
"""The SLP ball kernel: x_n of a straight-line program as an Arb ball at a working precision.

The same gate schedule as the exact kernel (_slp.pxd: only needed gates, each value released
after its last use), but every gate is an arb_t rounded to ``precision`` bits, so a squaring
costs M(precision) however large the exact value: 2^(2^100) is a 1-bit mantissa and a
101-bit exponent. Arb's rounding is sound, so the ball provably contains the exact x_n; when
every gate fits the precision (integers of fewer bits), the ball is exact (radius 0).
The loop runs without the GIL in a worker thread (bitprop.workers) and polls a stop flag
between gates, like _slp.evaluate. Decisions (sign, bits, magnitude) live in certify.py.
"""

from bitprop._arb cimport (
    arb_add, arb_clear, arb_contains_fmpq, arb_init, arb_is_exact, arb_is_finite, arb_midref,
    arb_mul, arb_ptr, arb_radref, arb_set, arb_set_fmpq, arb_set_fmpz, arb_sqr, arb_sub, arb_t,
    arb_zero, arf_clear, arf_get_fmpz_2exp, arf_init, arf_set_mag, arf_t, _arb_vec_clear,
    _arb_vec_init)
from bitprop._flint cimport (
    fmpq_clear, fmpq_init, fmpq_t, fmpz_clear,
    fmpz_init, fmpz_t, slong)
from bitprop._convert cimport fmpq_set_fraction, fmpz_get_pyint, fmpz_set_pyint
from bitprop._slp cimport ADD, SUB, STOPPED, Gates, _Schedule

from .errors import BitpropInputError
from .numbers import rational
from .workers import run_workers

#: Precisions accepted, in bits: Arb needs at least 2, and 2^32 bits (512 MiB a gate) is
#: already past any machine this runs on.
MIN_PRECISION = 2
MAX_PRECISION = 1 << 32


cdef slong _run(const Gates *g, arb_ptr x, slong prec, slong *evaluated,
                const int *stop) noexcept nogil:
    """Evaluate the needed gates into x[1..n] at ``prec`` bits; -1 when done, STOPPED when
    ``*stop`` was set. A released value is set to 0, which frees its limbs."""
    cdef slong i, j, k
    for i in range(1, g.n + 1):
        if not g.needed[i]:
            continue
        if stop[0]:
            return STOPPED
        j, k = g.left[i], g.right[i]
        if g.code[i] == ADD:
            arb_add(x + i, x + j, x + k, prec)
        elif g.code[i] == SUB:
            arb_sub(x + i, x + j, x + k, prec)
        elif j == k:
            arb_sqr(x + i, x + j, prec)
        else:
            arb_mul(x + i, x + j, x + k, prec)
        evaluated[0] += 1
        if g.last_use[j] == i:
            arb_zero(x + j)
        if k != j and g.last_use[k] == i:
            arb_zero(x + k)
    return -1


cdef class SlpBall:
    """A ball [mid - rad, mid + rad] that contains x_n, at the precision it was computed."""
    cdef arb_t ball
    cdef readonly slong precision
    cdef readonly slong gates_evaluated

    def __cinit__(self):
        arb_init(self.ball)

    def __dealloc__(self):
        arb_clear(self.ball)

    @property
    def is_exact(self):
        """True when the radius is 0: the midpoint is x_n itself."""
        return bool(arb_is_exact(self.ball))

    @property
    def is_finite(self):
        return bool(arb_is_finite(self.ball))

    def parts(self):
        """(mid mantissa, mid exponent, rad mantissa, rad exponent) as Python ints: the ball
        is m 2^e +- r 2^f exactly (mantissas odd or 0); None for a non-finite ball.

        >>> from bitprop.slp import tower
        >>> evaluate_ball(tower(3), 64).parts()        # 2^(2^3) = 1 * 2^8, radius 0
        (1, 8, 0, 0)
        """
        if not arb_is_finite(self.ball):
            return None
        cdef fmpz_t m, e
        cdef arf_t radius
        fmpz_init(m)
        fmpz_init(e)
        arf_init(radius)
        try:
            arf_get_fmpz_2exp(m, e, arb_midref(self.ball))
            mid = (fmpz_get_pyint(m), fmpz_get_pyint(e))
            arf_set_mag(radius, arb_radref(self.ball))
            arf_get_fmpz_2exp(m, e, radius)
            return mid + (fmpz_get_pyint(m), fmpz_get_pyint(e))
        finally:
            fmpz_clear(m)
            fmpz_clear(e)
            arf_clear(radius)

    def contains(self, value):
        """True when the exact rational ``value`` lies in the ball (Arb's own test)."""
        cdef fmpq_t q
        fmpq_init(q)
        try:
            fmpq_set_fraction(q, rational(value, "value"))
            return bool(arb_contains_fmpq(self.ball, q))
        finally:
            fmpq_clear(q)

    def __repr__(self):
        return (f"SlpBall(precision={self.precision}, exact={self.is_exact}, "
                f"gates_evaluated={self.gates_evaluated})")


def evaluate_ball(program, precision, *, time_budget=None):
    """x_n of ``program`` (a bitprop.slp.Program) as an SlpBall at ``precision`` bits.

    ``time_budget``: stop with TimeBudgetError after that many seconds.

    >>> from bitprop.slp import tower_minus_one
    >>> ball = evaluate_ball(tower_minus_one(40), 64)   # 2^(2^40) - 1: a 2^40-bit integer
    >>> ball.is_exact, ball.precision
    (False, 64)
    """
    return ball_evaluator(program)(precision, time_budget)


def ball_evaluator(program):
    """``evaluate_at(precision, time_budget=None)`` -> SlpBall for ``program``, its gate
    schedule built once: the form certify.escalate calls at each precision.

    >>> from bitprop.slp import tower
    >>> evaluate_at = ball_evaluator(tower(5))
    >>> [evaluate_at(p).parts() for p in (8, 64)]
    [(1, 32, 0, 0), (1, 32, 0, 0)]
    """
    cdef _Schedule schedule = _Schedule(program)
    constant = program.constant

    def evaluate_at(precision, time_budget=None):
        _check_precision(precision)
        return _evaluate(schedule, constant, precision, time_budget)
    return evaluate_at


def _check_precision(precision):
    if (isinstance(precision, bool) or not isinstance(precision, int)
            or not MIN_PRECISION <= precision <= MAX_PRECISION):
        raise BitpropInputError(f"precision {precision!r} must be an integer from "
                                f"{MIN_PRECISION} to {MAX_PRECISION} (bits)", path="precision")


#: Below this many gate-bits (needed gates x precision: well under 10 ms of work) a pass runs
#: in the calling thread, still without the GIL: starting a worker thread would cost more
#: than the pass, and nothing that short needs to be interrupted.
INLINE_WORK = 1 << 22


cdef object _evaluate(_Schedule schedule, constant, slong precision, time_budget):
    cdef _BallRun run = _BallRun(schedule, constant, precision)

    def stop():
        run.stop = 1

    if _needed_gates(&schedule.g) * precision < INLINE_WORK:
        run.work()
    else:
        run_workers([run.work], stop, time_budget=time_budget)
    return run.result()


cdef slong _needed_gates(const Gates *g) noexcept:
    cdef slong i, count = 0
    for i in range(1, g.n + 1):
        count += g.needed[i]
    return count


cdef class _BallRun:
    """One ball evaluation: owns the gate balls, so a worker abandoned after Ctrl-C never
    reads freed memory (the thread keeps this object alive until it has seen the flag)."""
    cdef _Schedule schedule
    cdef arb_ptr x
    cdef slong size, precision, stopped, evaluated
    cdef public int stop

    def __cinit__(self, _Schedule schedule, constant, slong precision):
        self.schedule, self.precision, self.size = schedule, precision, schedule.g.n + 1
        self.x = _arb_vec_init(self.size)
        cdef fmpq_t c
        if constant.denominator == 1:
            _set_integer(self.x, constant.numerator)
        else:
            fmpq_init(c)
            try:
                fmpq_set_fraction(c, constant)
                arb_set_fmpq(self.x, c, precision)
            finally:
                fmpq_clear(c)

    def __dealloc__(self):
        if self.x != NULL:
            _arb_vec_clear(self.x, self.size)

    def work(self):
        """The pass, in the calling thread or a worker's (each keeps its FLINT caches)."""
        with nogil:
            self.stopped = _run(&self.schedule.g, self.x, self.precision, &self.evaluated,
                                &self.stop)

    def result(self):
        """Move x_n's ball into an SlpBall."""
        cdef SlpBall out = SlpBall()
        arb_set(out.ball, self.x + self.schedule.g.n)
        out.precision = self.precision
        out.gates_evaluated = self.evaluated
        return out


cdef int _set_integer(arb_ptr x, value) except -1:
    """x = value exactly (an integer constant is exact whatever the precision)."""
    cdef fmpz_t z
    fmpz_init(z)
    try:
        fmpz_set_pyint(z, value)
        arb_set_fmpz(x, z)
    finally:
        fmpz_clear(z)
    return 0
