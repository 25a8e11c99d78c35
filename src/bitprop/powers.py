"""Powers of two too long to write out in digits: Lemma A.5's promise gap 2^(1-e).

A bounded-norm SLP (Lemma A.5) scales x_n by 2^-e, and e itself can have 2^46 and more bits'
worth of magnitude (46 squarings of 2 give e = 2^46), so the Backprop-Sign gap [0, 2^(1-e)]
cannot be written as "p/q". Such a bound is kept as its exponent, written ``"2^K"`` (K a
decimal integer) and compared with rationals through bit lengths, never built.
"""

import functools
import re
from dataclasses import dataclass
from fractions import Fraction

#: Powers 2^K with |K| up to this are ordinary Fractions (written "p/q"); beyond it they stay
#: PowerOfTwo: 2^20 bits is the most a bound is written out in digits.
MAX_WRITTEN_EXPONENT = 1 << 20

_POWER = re.compile(r"2\^([+-]?[0-9]+)")


@functools.total_ordering
@dataclass(frozen=True, eq=False)
class PowerOfTwo:
    """The exact number 2^exponent, compared with ints, Fractions and other powers."""

    exponent: int

    def __str__(self):
        return f"2^{self.exponent}"

    def __eq__(self, other):
        order = _compare(self, other)
        return order if order is NotImplemented else order == 0

    def __lt__(self, other):
        order = _compare(self, other)
        return order if order is NotImplemented else order < 0

    def __hash__(self):
        return hash(("2^", self.exponent))


def power_of_two(exponent):
    """2^exponent as a Fraction when it is short enough to write, else a PowerOfTwo.

    >>> power_of_two(-3), power_of_two(-(1 << 40))
    (Fraction(1, 8), PowerOfTwo(exponent=-1099511627776))
    """
    if abs(exponent) <= MAX_WRITTEN_EXPONENT:
        return Fraction(2) ** exponent
    return PowerOfTwo(exponent)


def parse_power(text):
    """The power of ``text`` if it is written "2^K", else None (then it is a rational).

    >>> parse_power("2^-5"), parse_power("1/32")
    (Fraction(1, 32), None)
    """
    match = _POWER.fullmatch(text.strip()) if isinstance(text, str) else None
    return None if match is None else power_of_two(int(match.group(1)))


def _compare(power, other):
    """-1, 0 or 1 as 2^power.exponent is below, at or above ``other`` (int, Fraction, power)."""
    if isinstance(other, PowerOfTwo):
        return (power.exponent > other.exponent) - (power.exponent < other.exponent)
    if not isinstance(other, (int, Fraction)):
        return NotImplemented
    if other <= 0:
        return 1
    other = Fraction(other)
    # other lies in [2^(low - 1), 2^(low + 1)) with low the difference of bit lengths.
    low = other.numerator.bit_length() - other.denominator.bit_length()
    if power.exponent <= low - 2:
        return -1
    if power.exponent >= low + 1:
        return 1
    exact = Fraction(2) ** power.exponent     # |exponent| is then at most a written bound's bits
    return (exact > other) - (exact < other)
