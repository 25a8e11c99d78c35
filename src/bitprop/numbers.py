"""Every way a rational comes into bitprop and goes out of it, converted exactly, once.

In: int, Fraction, Decimal, strings ``"p/q"``, ``"-0.125"``, ``"1e-3"``, python-flint
``fmpz``/``fmpq``, numpy integer scalars and arrays (object or integer dtype); floats only
with ``allow_float=True``, and then as the exact binary value of the double.
Out: Fraction (default), python-flint ``fmpq``, or the canonical string ``"p/q"`` / ``"p"``.

Big numbers never go through CPython's decimal ``int <-> str`` (quadratic, and capped at 4300
digits by default): long digit strings are parsed and printed by FLINT through python-flint,
imported only then (it takes longer to import than a small ``bitprop grad`` takes to run).
"""

import math
import numbers as _abc
import re
import reprlib
import sys
from decimal import Decimal
from fractions import Fraction

from .errors import BitpropInputError

#: Largest decimal exponent accepted in a string such as "1e-3" (10^1000000 has 3.3 million bits).
MAX_EXPONENT = 1_000_000
#: Digit strings longer than this are parsed by FLINT instead of CPython.
_LONG_DIGITS = 4000

_FRACTION = re.compile(r"([+-]?)([0-9]+)(?:/([0-9]+))?")
_DECIMAL = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?")

OUTPUT_KINDS = ("fraction", "fmpq", "str")


def _digits_to_int(digits):
    if len(digits) <= _LONG_DIGITS:
        return int(digits)
    import flint
    return int(flint.fmpz(digits))


#: Powers of ten from this exponent on are made by FLINT: CPython takes 0.5 s for 10^1000000
#: (FLINT 15 ms), so a file of sixty such weights took half a minute to read.
_LONG_POWER = 20_000


def _power_of_ten(k):
    if k < _LONG_POWER:
        return 10 ** k
    import flint
    return int(flint.fmpz(10) ** k)


def integer_from_text(text):
    """A decimal integer ``"-123"`` of any length (CPython's int() refuses 4300+ digits)."""
    negative = text.startswith("-")
    value = _digits_to_int(text.lstrip("+-") if text[:1] in "+-" else text)
    return -value if negative else value


def _parse_string(text, where):
    match = _FRACTION.fullmatch(text)
    if match:
        sign, num, den = match.groups()
        numerator = _digits_to_int(num)
        if sign == "-":
            numerator = -numerator
        if den is None:
            return Fraction(numerator)
        denominator = _digits_to_int(den)
        if denominator == 0:
            raise BitpropInputError(f"{_show(text)} has a zero denominator", path=where)
        return Fraction(numerator, denominator)
    match = _DECIMAL.fullmatch(text)
    if match and (match.group(2) or match.group(3)):
        sign, whole, frac, exponent = match.groups()
        frac = frac or ""
        scale = -len(frac)
        if exponent is not None:
            # leading zeros ("1e-0000005") do not make an exponent large
            significant = exponent.lstrip("+-").lstrip("0") or "0"
            exp = int(significant) if len(significant) < 12 else MAX_EXPONENT + 1
            exp = -exp if exponent.startswith("-") else exp
            if abs(exp) > MAX_EXPONENT:
                raise BitpropInputError(
                    f"{_show(text)} has exponent {_show(exponent)}, beyond the limit of "
                    f"{MAX_EXPONENT}", path=where)
            scale += exp
        mantissa = _digits_to_int((whole or "0") + frac)
        if sign == "-":
            mantissa = -mantissa
        if scale >= 0:
            return Fraction(mantissa * _power_of_ten(scale))
        return Fraction(mantissa, _power_of_ten(-scale))
    raise BitpropInputError(
        f"{_show(text)} is not a rational (expected an integer, 'p/q', or an exact decimal "
        "such as '-0.125' or '1e-3')", path=where)


def _show(text, limit=40):
    """A value as it appears in an error message: quoted, and shortened when huge."""
    text = str(text)
    if len(text) > limit:
        text = f"{text[:limit // 2]}...{text[-8:]} ({len(text)} characters)"
    return repr(text)


class _ShortRepr(reprlib.Repr):
    """repr() for error messages: bounded in length and nesting, and safe for huge integers
    (CPython refuses ``repr`` of integers over 4300 digits)."""

    def __init__(self):
        super().__init__()
        self.maxlevel, self.maxlist, self.maxtuple, self.maxdict = 3, 4, 4, 4
        self.maxstring, self.maxother, self.maxlong = 40, 40, 40

    def repr1(self, value, level):
        if isinstance(value, float):        # a float read from JSON may keep its text
            return getattr(value, "text", None) or repr(float(value))
        if isinstance(value, int) and not isinstance(value, bool):
            text = _int_to_str(value)
            if len(text) > self.maxlong:
                text = f"{text[:12]}...{text[-8:]} ({len(text.lstrip('-'))} digits)"
            return text
        return super().repr1(value, level)

    def repr_str(self, value, level):
        return _show(value, self.maxstring)


def shown(value):
    """Any value (a JSON value, typically) as it appears in an error message: its repr, cut
    short when long or deep, never raising."""
    return _ShortRepr().repr(value)


def _from_float(value, where, allow_float):
    # a float read from JSON keeps its text: "1e400" is what the file says, not "inf"
    text = shown(value)
    if not allow_float:
        raise BitpropInputError(
            f"{text} is a float; write it as a string such as \"1/10\", or allow floats "
            "(allow_float=True, --allow-float) to take the double's exact binary value",
            path=where)
    if not math.isfinite(value):
        raise BitpropInputError(f"{text} is not a finite double", path=where)
    return Fraction(float(value))


#: Short strings already parsed: network files repeat their numbers ("0", "1", "-1/2") across
#: hundreds of thousands of fields. Fractions are immutable, so sharing them is safe. Only
#: small values are kept: a short string such as "9e1000000" stands for 3.3 Mbit, and the
#: cache outlives the network that held it (its size stays below 2^16 entries of 512 bits).
_PARSED = {}
_PARSED_LIMIT = 1 << 16
_PARSED_LENGTH = 32
_PARSED_BITS = 512


def rational(value, where="", *, allow_float=False):
    """``value`` as an exact Fraction, or BitpropInputError naming ``where`` and the problem.

    >>> rational("4/6"), rational("-0.125"), rational("1e-3"), rational(7)
    (Fraction(2, 3), Fraction(-1, 8), Fraction(1, 1000), Fraction(7, 1))
    >>> rational(0.1, allow_float=True)         # the double's exact binary value
    Fraction(3602879701896397, 36028797018963968)
    >>> rational("1/0", "edges[0].weight")
    Traceback (most recent call last):
    ...
    bitprop.errors.BitpropInputError: edges[0].weight: '1/0' has a zero denominator
    """
    if type(value) is str and len(value) <= _PARSED_LENGTH:
        parsed = _PARSED.get(value)
        if parsed is None:
            parsed = _parse_string(value, where)
            if len(_PARSED) < _PARSED_LIMIT and (parsed.numerator.bit_length() +
                                                 parsed.denominator.bit_length() <= _PARSED_BITS):
                _PARSED[value] = parsed
        return parsed
    if isinstance(value, bool):
        raise BitpropInputError(f"{value!r} is a boolean, not a number", path=where)
    if isinstance(value, Fraction):
        return value
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, str):
        return _parse_string(value, where)
    if isinstance(value, float):
        return _from_float(value, where, allow_float)
    flint = sys.modules.get("flint")         # a value can be python-flint's only once imported
    if flint is not None and isinstance(value, flint.fmpq):
        return Fraction(int(value.p), int(value.q))
    if flint is not None and isinstance(value, flint.fmpz):
        return Fraction(int(value))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise BitpropInputError(f"{value!r} is not a finite number", path=where)
        return Fraction(value)
    if isinstance(value, _abc.Integral):  # numpy integer scalars and friends
        return Fraction(int(value))
    if isinstance(value, _abc.Real) and type(value).__module__ == "numpy":
        return _from_float(float(value), where, allow_float)
    if isinstance(value, _abc.Rational):
        return Fraction(int(value.numerator), int(value.denominator))
    raise BitpropInputError(
        f"{shown(value)} of type {type(value).__name__} is not a rational number", path=where)


#: Lists at least this long are parsed in C (bitprop._convert.parse_rationals); shorter ones
#: are cheaper through rational() and its memo.
_PARSED_IN_C = 16


def rational_vector(values, where="", *, allow_float=False):
    """A sequence of rationals as a RationalVector (exact values kept in FLINT); a
    RationalVector is taken as it is. Errors as rational_list's."""
    from ._convert import RationalVector, parse_rationals
    if type(values) is RationalVector:
        return values
    if type(values) is not list:
        values = rational_list(values, where, allow_float=allow_float)
    vector, bad = parse_rationals(values, allow_float)
    if bad >= 0:
        rational(values[bad], f"{where}[{bad}]", allow_float=allow_float)   # raises
    return vector


def rational_list(values, where="", *, allow_float=False):
    """A sequence (list, tuple or 1-d numpy array) of rationals as a list of Fractions."""
    if type(values) is list and len(values) >= _PARSED_IN_C:
        return list(rational_vector(values, where, allow_float=allow_float))
    if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__len__"):
        raise BitpropInputError(f"expected a list of numbers, got {shown(values)}", path=where)
    if getattr(values, "ndim", 1) != 1:
        raise BitpropInputError(
            f"expected a 1-dimensional list of numbers, got an array of shape {values.shape}",
            path=where)
    return [rational(v, f"{where}[{i}]", allow_float=allow_float) for i, v in enumerate(values)]


def to_str(q):
    """The canonical text of a rational: ``"p/q"`` in lowest terms, or ``"p"``.

    >>> to_str(Fraction(6, 4)), to_str(-5), to_str("0.125")
    ('3/2', '-5', '1/8')
    """
    q = q if isinstance(q, Fraction) else Fraction(q)
    num = _int_to_str(q.numerator)
    return num if q.denominator == 1 else f"{num}/{_int_to_str(q.denominator)}"


def _int_to_str(n):
    n = int(n)
    if n.bit_length() < 3 * _LONG_DIGITS:
        return str(n)
    import flint
    return flint.fmpz(n).str()


def bit_length(q):
    """The paper's size of a rational: bitlen(|p|) + bitlen(q) in lowest terms (0 has 1 bit).

    >>> bit_length(0), bit_length(3), bit_length("3/2"), bit_length(-8), bit_length("4/6")
    (1, 3, 4, 5, 4)
    """
    q = q if isinstance(q, Fraction) else rational(q)
    return abs(q.numerator).bit_length() + q.denominator.bit_length()


def convert_out(q, kind="fraction"):
    """A Fraction as the requested output kind: ``fraction``, ``fmpq`` or ``str``."""
    if kind == "fraction":
        return q
    if kind == "fmpq":
        import flint
        return flint.fmpq(q.numerator, q.denominator)
    if kind == "str":
        return to_str(q)
    raise ValueError(f"output kind must be one of {OUTPUT_KINDS}, not {kind!r}")
