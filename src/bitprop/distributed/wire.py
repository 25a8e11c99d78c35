"""Exact rational vectors on Dask's wire, and the exact arithmetic the reduction performs.

A vector travels as ``Vector.pack()``: the pickle (protocol 5) of its numerators and
denominators as Python ints, which pickle writes as little-endian two's-complement bytes
(``int.to_bytes``): linear in the bit length, never decimal text. A value that repeats travels
once on request, with a slot index (after a step, the per-edge biases into one vertex mostly
hold the same value).

The arithmetic works on (numerator, denominator) pairs of ints in lowest terms with a positive
denominator, the invariant Fraction keeps, without Fraction's per-object overhead. Every result
is again in lowest terms, so a rational has exactly one representation: the bits of a sum cannot
depend on how the shards were split or in which order the partial sums were added.
"""

import pickle
from fractions import Fraction
from math import gcd

from flint import fmpz

from .._convert import ratios_vector
from ..errors import DamagedBytesError

#: First element of every packed vector: a format tag, so that a stray payload is caught.
_TAG = "bitprop.vector/1"

if hasattr(Fraction, "_from_coprime_ints"):          # Python >= 3.12
    _fraction = Fraction._from_coprime_ints
else:
    def _fraction(numerator, denominator):
        return Fraction(numerator, denominator, _normalize=False)


#: Above this many bits an addition runs on FLINT's integers (python-flint's fmpz): CPython's
#: gcd is quadratic, FLINT's subquadratic; below it, crossing into FLINT costs more (about
#: 2,000 to 4,000 bits on x86-64, measured).
FLINT_BITS = 3000


def _knuth_sum(a, b, c, d, gcd):
    """a/b + c/d in lowest terms, given both in lowest terms (Knuth's gcd-saving form; the
    same steps as FLINT's fmpq_add)."""
    if b == d:
        n = a + c
        g = gcd(n, b)
        return (n, b) if g == 1 else (n // g, b // g)
    g = gcd(b, d)
    if g == 1:                     # gcd(a d + c b, b d) = 1 when b, d are coprime
        return a * d + c * b, b * d
    s = b // g
    t = a * (d // g) + c * s
    g2 = gcd(t, g)                 # the only common factor t and s d can share divides g
    return (t, s * d) if g2 == 1 else (t // g2, s * (d // g2))


def _sum(a, b, c, d):
    if max(a.bit_length(), b.bit_length(), c.bit_length(), d.bit_length()) <= FLINT_BITS:
        return _knuth_sum(a, b, c, d, gcd)
    n, q = _knuth_sum(fmpz(a), fmpz(b), fmpz(c), fmpz(d), fmpz.gcd)
    return int(n), int(q)


class Vector:
    """An exact rational vector as two lists of ints (lowest terms, positive denominators)."""

    __slots__ = ("numerators", "denominators")

    def __init__(self, numerators, denominators):
        self.numerators = numerators
        self.denominators = denominators

    @classmethod
    def from_fractions(cls, values):
        values = list(values)
        return cls([q.numerator for q in values], [q.denominator for q in values])

    @classmethod
    def zeros(cls, n):
        return cls([0] * n, [1] * n)

    def fractions(self):
        return [_fraction(n, d) for n, d in zip(self.numerators, self.denominators)]

    def __len__(self):
        return len(self.numerators)

    # --- on the wire --------------------------------------------------------------------
    def pack(self, repeats=False):
        """bytes: the pickled ints; with ``repeats``, each distinct value once and a slot index
        (worth its hashing where values repeat, as per-edge biases after a step do)."""
        numerators, denominators, slots = self.numerators, self.denominators, None
        if repeats:
            numerators, denominators, slots, seen = [], [], [], {}
            for pair in zip(self.numerators, self.denominators):
                slot = seen.get(pair)
                if slot is None:
                    slot = seen[pair] = len(numerators)
                    numerators.append(pair[0])
                    denominators.append(pair[1])
                slots.append(slot)
            if len(numerators) == len(slots):
                slots = None
        return pickle.dumps((_TAG, numerators, denominators, slots),
                            protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def unpack(cls, data):
        """The vector of ``pack()``'s bytes; bytes that are not one (truncated, damaged, a
        slot past the values, a denominator out of canonical form) raise DamagedBytesError."""
        numerators, denominators, slots = _unpack_fields(data)
        _check_values(numerators, denominators)
        if slots is not None:
            numerators = [numerators[s] for s in slots]
            denominators = [denominators[s] for s in slots]
        return cls(numerators, denominators)

    @staticmethod
    def unpack_rational_vector(data):
        """``unpack(data)`` as a RationalVector, built and checked in C, each stored value
        converted once and no Fraction made (how a worker reads a network's parameters)."""
        numerators, denominators, slots = _unpack_fields(data)
        if type(numerators) is not list or type(denominators) is not list \
                or len(numerators) != len(denominators):
            _check_values(numerators, denominators)                           # raises
        vector, bad = ratios_vector(numerators, denominators, slots)
        if bad >= 0:
            _check_values(numerators, denominators)                           # names it
            raise _damaged(f"value {bad} is not in lowest terms")
        return vector

    # --- exact arithmetic ---------------------------------------------------------------
    def plus(self, other):
        """self + other, entry by entry."""
        if len(self) != len(other):
            raise ValueError(f"adding vectors of lengths {len(self)} and {len(other)}")
        numerators, denominators = [], []
        for a, b, c, d in zip(self.numerators, self.denominators,
                              other.numerators, other.denominators):
            if c == 0:
                n, q = a, b
            elif a == 0:
                n, q = c, d
            else:
                n, q = _sum(a, b, c, d)
            numerators.append(n)
            denominators.append(q)
        return Vector(numerators, denominators)

    def scaled(self, rate):
        """rate * self for a Fraction ``rate``."""
        p, q = rate.numerator, rate.denominator
        if p == 0:
            return Vector.zeros(len(self))
        numerators, denominators = [], []
        for a, b in zip(self.numerators, self.denominators):
            g1, g2 = gcd(p, b), gcd(a, q)        # cross-cancel: both factors are reduced
            numerators.append((p // g1) * (a // g2))
            denominators.append((q // g2) * (b // g1))
        return Vector(numerators, denominators)

    def minus(self, other, mask):
        """self - other on the entries where ``mask`` is true; self elsewhere."""
        numerators, denominators = [], []
        for a, b, c, d, take in zip(self.numerators, self.denominators,
                                    other.numerators, other.denominators, mask):
            if not take or c == 0:
                n, q = a, b
            elif a == 0:
                n, q = -c, d
            else:
                n, q = _sum(a, b, -c, d)
            numerators.append(n)
            denominators.append(q)
        return Vector(numerators, denominators)


def _unpack_fields(data):
    """(numerators, denominators, slots) of ``pack()``'s bytes, the slots checked."""
    try:
        tag, numerators, denominators, slots = pickle.loads(data)
    except Exception as error:
        raise _damaged(f"not a pickle of four fields ({error})") from None
    if tag != _TAG:
        raise _damaged(f"not a packed bitprop vector (tag {str(tag)[:80]!r})")
    if slots is not None:
        if type(slots) is not list or type(numerators) is not list or not all(
                type(s) is int and 0 <= s < len(numerators) for s in slots):
            raise _damaged(f"a slot is not an index below {len(numerators)}")
    return numerators, denominators, slots


def _damaged(problem):
    return DamagedBytesError(f"damaged packed vector: {problem}")


def _check_values(numerators, denominators):
    """Refuses values that are not ints in canonical form (what the arithmetic relies on)."""
    if type(numerators) is not list or type(denominators) is not list \
            or len(numerators) != len(denominators):
        raise _damaged("numerators and denominators are not two lists of one length")
    for i, (p, q) in enumerate(zip(numerators, denominators)):
        if type(p) is not int or type(q) is not int:
            raise _damaged(f"value {i} is not a pair of ints")
        if q <= 0:
            raise _damaged(f"value {i} has a {'zero' if q == 0 else 'negative'} denominator")
        if q != 1 and _gcd(p, q) != 1:
            raise _damaged(f"value {i} is not in lowest terms")


def _gcd(a, b):
    if max(a.bit_length(), b.bit_length()) <= FLINT_BITS:
        return gcd(a, b)
    return int(fmpz.gcd(fmpz(a), fmpz(b)))


def pack_fractions(values, repeats=False):
    return Vector.from_fractions(values).pack(repeats)


def unpack_fractions(data):
    return Vector.unpack(data).fractions()
