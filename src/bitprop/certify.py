"""Certified answers past exact reach: balls, what they decide, and precision escalation.

A ``Ball`` is mid +- rad with both dyadic (mantissa * 2^exponent, Python ints), as an Arb
kernel returns it; it provably contains the exact value. Its decisions (a sign, bit K of an
integer, log2 |x| to D digits) are certain when given and ``None`` when the ball cannot
settle them: nothing here guesses. Exponents can be 2^100, so no function ever shifts by an
exponent difference; every comparison first compares leading-bit positions.

``escalate`` is the generic loop (any "evaluate at precision p" function, SLP or network):
double the precision until every requested answer is decided, stop at ``max_precision`` or
the time budget. ``certify_slp`` is PosSLP / BitSLP on top of it.
"""

import math
import time
from dataclasses import dataclass, field
from fractions import Fraction

from ._ball_slp import MAX_PRECISION, MIN_PRECISION, ball_evaluator
from ._slp import evaluate
from .errors import BitLimitError, BitpropInputError, TimeBudgetError
from .numbers import to_str

#: Where escalation starts and where it stops by default (bits of working precision).
DEFAULT_PRECISION = 64
DEFAULT_MAX_PRECISION = 1 << 16

#: log2 bounds are floats, good to about 15 significant digits.
MAX_DIGITS = 15

#: When the smaller term of a sum lies this many bits below the larger one's last bit, the
#: sum is rounded outward onto the larger one's grid instead of being formed exactly (the
#: exact sum could need 2^40 bits).
_GUARD = 64


# --- dyadic numbers (m, e) = m * 2^e, never expanded --------------------------------------------

def _sign(m):
    return (m > 0) - (m < 0)


def _top(x):
    """t with 2^(t-1) <= |x| < 2^t, for x != 0."""
    return x[0].bit_length() + x[1]


def _compare(x, y):
    """The sign of x - y, exactly."""
    sx, sy = _sign(x[0]), _sign(y[0])
    if sx != sy or sx == 0:
        return _sign(sx - sy)
    tx, ty = _top(x), _top(y)
    if tx != ty:
        return sx if tx > ty else -sx
    low = min(x[1], y[1])         # equal tops: the shifts are at most a mantissa's length
    return _sign((x[0] << (x[1] - low)) - (y[0] << (y[1] - low)))


def _add(x, y, direction):
    """x + y, exact unless y is far below x's last bit (or x below y's); then rounded up
    (``direction`` 1) or down (-1) by one unit 2^GUARD times finer than the larger term's."""
    if x[0] == 0:
        return y
    if y[0] == 0:
        return x
    if _top(x) < _top(y):
        x, y = y, x
    (m, e), (n, f) = x, y
    if _top(y) < e - _GUARD:      # |y| < 2^(e - GUARD - 1): one unit of the finer grid
        bumped = (m << _GUARD) + (direction if _sign(n) == direction else 0)
        return (bumped, e - _GUARD)
    low = min(e, f)               # both shifts are bounded by the mantissas' lengths
    return ((m << (e - low)) + (n << (f - low)), low)


def _negate(x):
    return (-x[0], x[1])


def _floor(x):
    """The greatest integer <= x, as a dyadic with exponent >= 0."""
    return x if x[1] >= 0 else (x[0] >> -x[1], 0)


def _ceil(x):
    return _negate(_floor(_negate(x)))


def _shift_down(x, k):
    """floor(x / 2^k) for an integer dyadic x >= 0."""
    m, e = x
    return (m, e - k) if e >= k else (m >> (k - e), 0)


def _parity(x):
    """x mod 2 for an integer dyadic x >= 0."""
    m, e = x
    return m & 1 if e == 0 else 0


def _log2_bounds(x):
    """(lower, upper) with lower <= log2 |x| <= upper for x != 0: floats, or ints when the
    exponent is past a float's range."""
    m, e = abs(x[0]), x[1]
    n = m.bit_length()
    drop = max(n - 53, 0)
    head = m >> drop              # m / 2^drop lies in [head, head + 1]
    base = e + drop
    if abs(base) > 1 << 1000:
        return base + head.bit_length() - 1, base + head.bit_length()
    low, high = math.log2(head), math.log2(head + 1 if drop else head)
    base_f = float(base)
    slack = 4 * (math.ulp(high) + math.ulp(base_f) + math.ulp(base_f + high))
    return base_f + low - slack, base_f + high + slack


def _to_digits(bounds, digits):
    """``bounds`` (lower, upper) when their width is at most 10^-digits max(1, |bound|): they
    agree to ``digits`` significant digits; None otherwise (or when a bound is missing)."""
    if bounds is None or bounds[0] is None:
        return None
    lower, upper = Fraction(bounds[0]), Fraction(bounds[1])
    scale = max(1, abs(lower), abs(upper))
    return bounds if (upper - lower) * 10 ** digits <= scale else None


def _approx(x, digits=6):
    """A short decimal for people, e.g. '1.23457e+330985' (not exact: the ball is)."""
    if x[0] == 0:
        return "0"
    if abs(_top(x)) < 1000:
        return f"{float(Fraction(x[0]) * Fraction(2) ** x[1]):.{digits}g}"
    lower, upper = _log2_bounds(x)
    sign = "-" if x[0] < 0 else ""
    if isinstance(lower, int):
        return f"{sign}2^{(lower + upper) // 2}"
    log10 = (lower + upper) / 2 * math.log10(2)
    shown = min(digits, int(-math.log10(16 * math.ulp(log10) + 1e-300)))
    if shown >= 1:
        exponent = math.floor(log10)
        lead = 10 ** (log10 - exponent)
        return f"{sign}{lead:.{shown - 1}f}e{exponent:+d}"
    return f"{sign}2^{(lower + upper) / 2:.{digits}g}"


def _dyadic_json(x):
    return {"mantissa": to_str(x[0]), "exponent": to_str(x[1])}


# --- a ball and its decisions -------------------------------------------------------------------

@dataclass(frozen=True)
class Ball:
    """mid +- rad, each a (mantissa, exponent) pair of ints (m * 2^e), holding an exact value.

    ``integer``: the value is known to be an integer, so a ball that holds a single integer
    decides it and bits can be asked.

    >>> ball = Ball((3, 10), (1, 0))          # 3072 +- 1
    >>> ball.sign, ball.contains(3073), ball.contains(3074)
    (1, True, False)
    """

    mid: tuple
    rad: tuple = (0, 0)
    integer: bool = False

    @classmethod
    def from_parts(cls, parts, integer=False):
        """A ball from (mid mantissa, mid exponent, rad mantissa, rad exponent)."""
        if parts is None:
            raise ValueError("the kernel returned a non-finite ball")
        m, e, r, f = parts
        if r < 0:
            raise ValueError(f"a ball's radius is >= 0, got mantissa {r}")
        return cls((m, e), (r, f), integer)

    @property
    def is_exact(self):
        """True when the radius is 0: the ball is one dyadic number."""
        return self.rad[0] == 0

    @property
    def lower(self):
        """mid - rad (rounded down when the two are over 64 bits apart in scale)."""
        return _add(self.mid, _negate(self.rad), -1)

    @property
    def upper(self):
        return _add(self.mid, self.rad, 1)

    def _integer_range(self):
        """(ceil(lower), floor(upper)): the integers the ball holds."""
        low, high = _ceil(self.lower), _floor(self.upper)
        if _compare(low, high) > 0:
            raise ValueError("this ball holds no integer, yet its value is said to be one")
        return low, high

    def _range(self):
        """(lower, upper) of the value, shrunk to integers when the value is one."""
        return self._integer_range() if self.integer else (self.lower, self.upper)

    @property
    def sign(self):
        """1 or -1 when the ball excludes 0, 0 when it is exactly 0 (or, for an integer, holds
        no other integer), None when undecided.

        >>> Ball((1, 100), (1, 99)).sign, Ball((1, 0), (1, 0)).sign
        (1, None)
        """
        low, high = self._range()
        if low[0] == 0 and high[0] == 0:
            return 0
        if low[0] > 0:
            return 1
        if high[0] < 0:
            return -1
        return None

    def contains(self, value):
        """True when the rational ``value`` lies in the ball (a test of soundness).

        >>> Ball((1, -1), (1, -3)).contains(Fraction(5, 8))
        True
        """
        value = Fraction(value)
        q = value.denominator        # compare q * bound with the numerator, both dyadic
        low, high = self.lower, self.upper
        return (_compare((low[0] * q, low[1]), (value.numerator, 0)) <= 0
                <= _compare((high[0] * q, high[1]), (value.numerator, 0)))

    def _magnitude_range(self):
        """(a, b) with a <= |x| <= b (a = (0, 0) when the ball holds 0)."""
        low, high = self._range()
        if low[0] >= 0:
            return low, high
        if high[0] <= 0:
            return _negate(high), _negate(low)
        return (0, 0), (high if _compare(high, _negate(low)) >= 0 else _negate(low))

    def bit(self, k):
        """Bit k of |x| (k = 0 least significant) for an integer x, or None when the ball's
        ends differ in floor(|x| / 2^k); low bits of a huge x need a precision near its size.

        >>> Ball((5, 40), (1, 30), integer=True).bit(42), Ball((5, 40), (1, 30), True).bit(3)
        (1, None)
        """
        if not self.integer:
            raise BitpropInputError(f"bit {k} asked for, but the value is not known to be an "
                                    "integer; BitSLP is defined for integer outputs",
                                    path="bit")
        a, b = self._magnitude_range()
        high, low = _shift_down(b, k), _shift_down(a, k)
        return _parity(low) if _compare(low, high) == 0 else None

    @property
    def log2_abs(self):
        """(lower, upper) bounds on log2 |x|; lower is None when the ball holds 0, and the
        whole is None for an exact 0.

        >>> Ball((1, 100)).log2_abs[0] <= 100 <= Ball((1, 100)).log2_abs[1]
        True
        """
        a, b = self._magnitude_range()
        if b[0] == 0:
            return None
        upper = _log2_bounds(b)[1]
        return (None if a[0] == 0 else _log2_bounds(a)[0]), upper

    def magnitude(self, digits):
        """The log2_abs bounds when they agree to ``digits`` significant digits, (None, None)
        for an exact 0 (log2 0 = -inf), else None (undecided).

        >>> Ball((1, 100), (1, 40)).magnitude(6) is not None
        True
        """
        if self.sign == 0:
            return (None, None)
        return _to_digits(self.log2_abs, digits)

    def compare(self, q):
        """Where the ball lies from the rational q: 1 above it, -1 below, 0 exactly at it,
        None when it holds q and other numbers.

        >>> Ball((1, 0), (1, -2)).compare(Fraction(1, 2)), Ball((1, 0), (1, -2)).compare(1)
        (1, None)
        """
        q = Fraction(q)
        low = _compare((self.lower[0] * q.denominator, self.lower[1]), (q.numerator, 0))
        high = _compare((self.upper[0] * q.denominator, self.upper[1]), (q.numerator, 0))
        if low > 0:
            return 1
        if high < 0:
            return -1
        return 0 if low == 0 and high == 0 else None

    def floor_bit(self, k):
        """Bit k of |x| for any real x, as bitprop reads bits of rationals: floor(|x| 2^-k)
        mod 2 (k may be negative), or None when the ball's ends differ in floor(|x| 2^-k).

        >>> Ball((3, -2)).floor_bit(-1), Ball((3, -2)).floor_bit(0)      # 3/4: 0.11 in binary
        (1, 0)
        """
        a, b = self._magnitude_range()
        high, low = _shift_down(b, k), _shift_down(a, k)
        return _parity(low) if _compare(low, high) == 0 else None

    @classmethod
    def from_interval(cls, lower, upper):
        """A ball holding [lower, upper] (two dyadics (mantissa, exponent), lower <= upper):
        exactly that interval unless the ends are far apart in scale, then a little wider."""
        total = _add(lower, upper, 0)              # exact, or truncated when far apart
        mid = (total[0], total[1] - 1)
        above, below = _add(upper, _negate(mid), 1), _add(mid, _negate(lower), 1)
        return cls(mid, above if _compare(above, below) >= 0 else below)

    @classmethod
    def enclosing(cls, q, precision):
        """A ball of radius at most 2^-precision holding the rational q (q itself when it is
        dyadic with at most ``precision`` bits after the point)."""
        q = Fraction(q)
        scaled = q * 2 ** precision
        low = scaled.numerator // scaled.denominator
        high = -(-scaled.numerator // scaled.denominator)
        return cls.from_interval((low, -precision), (high, -precision))

    def plus(self, other):
        """A ball holding the sum of any value of self and any of ``other``."""
        return Ball.from_interval(_add(self.lower, other.lower, -1),
                                  _add(self.upper, other.upper, 1))

    def approx(self):
        """'mid +/- rad' in short decimals, for people."""
        return f"{_approx(self.mid)} +/- {_approx(self.rad, 3)}"

    __str__ = approx

    def to_json(self):
        """{"mid": {"mantissa", "exponent"}, "rad": {...}, "approx"}: decimal strings, exact."""
        return {"mid": _dyadic_json(self.mid), "rad": _dyadic_json(self.rad),
                "approx": self.approx()}


# --- escalation ---------------------------------------------------------------------------------

@dataclass
class Escalation:
    """What ``escalate`` reached: the last result, the answers (None: undecided), the
    precisions tried and why it stopped (None when everything was decided)."""

    result: object
    answers: dict
    precision: int
    precisions: list = field(default_factory=list)
    stopped: object = None
    seconds: float = 0.0

    @property
    def decided(self):
        return all(answer is not None for answer in self.answers.values())


def check_precisions(precision, max_precision):
    """Both precisions, validated (integers, MIN_PRECISION <= precision <= max_precision)."""
    for name, value in (("precision", precision), ("max_precision", max_precision)):
        if (isinstance(value, bool) or not isinstance(value, int)
                or not MIN_PRECISION <= value <= MAX_PRECISION):
            raise BitpropInputError(f"{value!r} must be an integer from {MIN_PRECISION} to "
                                    f"{MAX_PRECISION} (bits)", path=name)
    if precision > max_precision:
        raise BitpropInputError(f"the starting precision {precision} is above the maximum "
                                f"{max_precision}", path="max_precision")


def escalate(evaluate_at, decide, *, precision=DEFAULT_PRECISION,
             max_precision=DEFAULT_MAX_PRECISION, time_budget=None):
    """Run ``evaluate_at(p, seconds_left)`` at p = precision, 2p, 4p ... max_precision until
    ``decide(result)`` (a dict name -> answer or None) has decided every answer.

    An answer once decided is kept (it is certain). TimeBudgetError from an evaluation ends
    the loop with the last finished result; it propagates only when none finished.

    >>> run = escalate(lambda p, s: p, lambda p: {"enough": p >= 256 or None})
    >>> run.precisions, run.answers
    ([64, 128, 256], {'enough': True})
    """
    check_precisions(precision, max_precision)
    start = time.monotonic()
    result, answers, tried, stopped = None, {}, [], None
    while True:
        left = None if time_budget is None else time_budget - (time.monotonic() - start)
        if left is not None and left <= 0 and result is not None:
            stopped = "time_budget"
            break
        try:
            result = evaluate_at(precision, left)
        except TimeBudgetError:
            if result is None:
                raise
            stopped = "time_budget"
            break
        tried.append(precision)
        for name, answer in decide(result).items():
            if answers.get(name) is None:
                answers[name] = answer
        if all(answer is not None for answer in answers.values()):
            break
        if precision >= max_precision:
            stopped = "max_precision"
            break
        precision = min(2 * precision, max_precision)
    return Escalation(result, answers, tried[-1], tried, stopped, time.monotonic() - start)


# --- PosSLP / BitSLP ----------------------------------------------------------------------------

@dataclass
class CertifiedSlp:
    """The certified answers about x_n of an SLP: sign, bit, magnitude (None: undecided),
    the last ball, the precision it was computed at, and how the answers were reached."""

    ball: Ball
    answers: dict
    precision: int
    precisions: list
    method: str
    stopped: object
    bit_index: object = None
    seconds: float = 0.0

    @property
    def sign(self):
        return self.answers.get("sign")

    @property
    def bit(self):
        return self.answers.get("bit")

    @property
    def magnitude(self):
        return self.answers.get("magnitude")

    @property
    def decided(self):
        return all(answer is not None for answer in self.answers.values())

    def to_json(self):
        """The keys of ``bitprop slp eval --certify --json`` (docs/formats.md)."""
        bounds = self.ball.log2_abs
        magnitude = self.magnitude
        return {"certified": True, "sign": self.sign, "bit": self.bit,
                "magnitude": None if magnitude is None else list(magnitude),
                "decided": self.decided, "method": self.method,
                "precision": self.precision, "precisions": list(self.precisions),
                "stopped": self.stopped, "ball": self.ball.to_json(),
                "log2_abs": None if bounds is None else list(bounds)}


def certify_slp(program, *, sign=True, bit=None, digits=None, precision=DEFAULT_PRECISION,
                max_precision=DEFAULT_MAX_PRECISION, time_budget=None, max_bits=None):
    """Certified PosSLP (``sign``), BitSLP (``bit`` = K) and log2 |x_n| to ``digits``
    significant digits, for SLPs whose exact values are far too large to compute.

    Balls first, exact last: a ball pass at precision p costs about what an exact pass with
    p-bit values costs, and most questions settle at 64 to a few thousand bits even when the
    exact values have 2^40 bits. Only when the balls stop undecided at ``max_precision`` (a
    cancellation deeper than that, or an exact 0 out of rational constants, which balls never
    pin down) is the exact evaluator run, within ``max_bits`` (when given) and what is left of
    the time budget; its answers are then certain too (method "exact"), and when it also stops
    the answers stay None. An integer program becomes exact by itself once the precision
    exceeds every gate's bits, so exact runs rarely help it.

    >>> from bitprop.slp import tower_minus_one
    >>> result = certify_slp(tower_minus_one(40), bit=2 ** 40 - 1, max_precision=256)
    >>> result.sign, result.bit, result.precisions, result.stopped    # x_n = 2^(2^40) - 1
    (1, None, [64, 128, 256], 'max_precision')

    The sign is certain at 64 bits; the top bit is not, as x_n lies within one unit of
    2^(2^40), a cell edge of every bit, and the ball cannot tell the two apart.
    """
    check_precisions(precision, max_precision)
    integer = program.constant.denominator == 1
    if bit is not None:
        if isinstance(bit, bool) or not isinstance(bit, int) or bit < 0:
            raise BitpropInputError(f"bit index {bit!r} must be an integer >= 0", path="bit")
        if not integer:
            raise BitpropInputError(f"bit {bit} asked for, but x_n is not an integer (the "
                                    "constant is not); BitSLP is defined for integer outputs",
                                    path="bit")
    if digits is not None and (isinstance(digits, bool) or not isinstance(digits, int)
                               or not 1 <= digits <= MAX_DIGITS):
        raise BitpropInputError(f"{digits!r} must be an integer from 1 to {MAX_DIGITS} "
                                "(log2 bounds are floats)", path="digits")

    ball_at = ball_evaluator(program)

    def evaluate_at(p, seconds):
        return Ball.from_parts(ball_at(p, seconds).parts(), integer)

    def decide(ball):
        answers = {}
        if sign:
            answers["sign"] = ball.sign
        if bit is not None:
            answers["bit"] = ball.bit(bit)
        if digits is not None:
            answers["magnitude"] = ball.magnitude(digits)
        return answers

    def exactly(answers, bits, seconds):
        return _answer_exactly(program, answers, bit, digits, bits, seconds)

    run, method = balls_then_exact(evaluate_at, decide, exactly, precision=precision,
                                   max_precision=max_precision, time_budget=time_budget,
                                   max_bits=max_bits)
    return CertifiedSlp(run.result, run.answers, run.precision, run.precisions, method,
                        None if method == "exact" else run.stopped, bit, run.seconds)


def balls_then_exact(evaluate_at, decide, exactly, *, precision, max_precision, time_budget,
                     max_bits):
    """``escalate``; then, only when it stops undecided at ``max_precision`` and ``max_bits``
    is given, one exact pass: ``exactly(answers, max_bits, seconds left)`` fills the answers
    in place and says whether all are decided (it may raise BitLimitError or TimeBudgetError:
    it could not). Returns (the Escalation, method "exact" when that pass decided it all,
    else "ball")."""
    run = escalate(evaluate_at, decide, precision=precision, max_precision=max_precision,
                   time_budget=time_budget)
    if not run.decided and run.stopped == "max_precision" and max_bits is not None:
        left = None if time_budget is None else max(time_budget - run.seconds, 1e-3)
        try:
            if exactly(run.answers, max_bits, left):
                return run, "exact"
        except (BitLimitError, TimeBudgetError):
            pass
    return run, "ball"


def _answer_exactly(program, answers, bit, digits, max_bits, seconds):
    """Fill the undecided ``answers`` from the exact evaluator; whether all are decided."""
    value = evaluate(program, max_bits=max_bits, time_budget=seconds)
    if "sign" in answers:
        answers["sign"] = value.sign
    if "bit" in answers:
        answers["bit"] = value.bit(bit)
    if answers.get("magnitude", True) is None:
        answers["magnitude"] = _exact_magnitude(value.value, digits)
    return all(answer is not None for answer in answers.values())


def _exact_magnitude(value, digits):
    """log2 |value| bounds of an exact rational, as a Ball's magnitude would give them."""
    if value == 0:
        return (None, None)
    num, den = _log2_bounds((value.numerator, 0)), _log2_bounds((value.denominator, 0))
    return _to_digits((num[0] - den[1], num[1] - den[0]), digits)
