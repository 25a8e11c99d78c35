"""bitprop._factored's gcds against math.gcd: one number at a time over a base of primes, and
in batches (many numbers over one denominator, one Euclid for all), on denominators built to
take every path: shared primes, 16-bit primes by the hundred, primes and prime powers past a
word, bases that miss some primes (rough cofactors) and none at all."""

from fractions import Fraction
from math import gcd, prod

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitprop._factored import batch_gcds, canonical_forms, tree_gcds

SMALL_PRIMES = [3, 5, 7, 11, 13]
PRIMES_16 = [p for p in range(65000, 65536) if all(p % d for d in range(2, 256))]
BIG = [2 ** 61 - 1, 2 ** 89 - 1]
POOL = [2] + SMALL_PRIMES + PRIMES_16 + BIG

prime_powers = st.lists(st.tuples(st.sampled_from(POOL), st.integers(1, 40)), min_size=1,
                        max_size=12)


@st.composite
def column(draw):
    """(numbers, den): den a product of prime powers; each number a product of some of them
    (or of others), times a random cofactor, or 0."""
    powers = draw(prime_powers)
    den = prod(p ** e for p, e in powers)
    numbers = []
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["shares", "random", "zero", "den"]))
        if kind == "zero":
            numbers.append(0)
        elif kind == "den":
            numbers.append(den * draw(st.integers(-3, 3)))
        else:
            share = [(p, draw(st.integers(0, e + 2))) for p, e in powers] if kind == "shares" \
                else []
            cofactor = draw(st.integers(-(2 ** 200), 2 ** 200))
            numbers.append(prod(p ** e for p, e in share) * cofactor)
    return numbers, den


@settings(max_examples=300, deadline=None)
@given(column(), st.sampled_from(["none", "complete", "partial"]), st.booleans())
def test_batch_gcds_equal_math_gcd(case, base, force):
    numbers, den = case
    # a base holds every prime of den, or is incomplete (2^127 - 1 is past trial division):
    # then den's other primes are its rough cofactor
    base_denominators = {"none": None, "complete": [den],
                         "partial": [3 * 65003, 2 ** 61 - 1, 4, 2 ** 127 - 1]}[base]
    gcds, batched, part = batch_gcds(numbers, den, base_denominators, force)
    assert gcds == [gcd(x, den) if x else den for x in numbers]
    if batched:                         # part: den's part over the primes the members share
        assert den % part == 0
        assert all(gcd(x, part) == gcd(x, den) for x in numbers if x)


def test_batch_is_taken_for_large_denominators_without_a_base():
    den = prod(PRIMES_16[:40]) ** 3
    numbers = [PRIMES_16[0] * 7 ** 90, PRIMES_16[1] ** 5 * 11 ** 80, 13 ** 100, 0]
    gcds, batched, part = batch_gcds(numbers, den)
    assert batched and part == PRIMES_16[0] ** 3 * PRIMES_16[1] ** 3
    assert gcds == [PRIMES_16[0], PRIMES_16[1] ** 3, 1, den]


def test_batch_falls_back_when_the_members_share_most_of_den():
    den = prod(PRIMES_16[:60]) ** 2
    numbers = [den // PRIMES_16[i] * (2 ** 300 + 1) for i in range(8)]
    gcds, batched, _ = batch_gcds(numbers, den)
    assert not batched                  # part would be den: each member alone
    assert gcds == [gcd(x, den) for x in numbers]


@pytest.mark.parametrize("numbers", [[1], [5, 10], [-(2 ** 100), 3 ** 70]])
def test_batch_of_a_one_denominator_is_not_taken(numbers):
    assert batch_gcds(numbers, 1) == ([1] * len(numbers), False, None)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-(2 ** 300), 2 ** 300), min_size=1, max_size=8),
       st.integers(0, 300), st.integers(0, 3), st.sampled_from(["none", "complete", "partial"]))
def test_canonical_forms_equal_fractions(numbers, twos, odd, base):
    """Over a power of 2 (float data: shifts, no gcds) and over 2^k times small odd primes,
    every x / den in lowest terms, with its bit length, is what Fraction gives."""
    den = 2 ** twos * [1, 3, 45, 65003][odd]
    numbers = numbers + [x * 2 ** twos for x in numbers] + [0]
    base_denominators = {"none": None, "complete": [den],
                         "partial": [3 * 65003, 2 ** 61 - 1, 4, 2 ** 127 - 1]}[base]
    forms = canonical_forms(numbers, den, base_denominators)
    for x, (p, q, bits) in zip(numbers, forms):
        exact = Fraction(x, den)
        assert (p, q) == (exact.numerator, exact.denominator)
        assert bits == (abs(p).bit_length() + q.bit_length() if p else 1)


def test_gcds_with_many_primes_past_their_first_power():
    """150 word-size primes (a base of many groups, read by remainders), each dividing den
    twice or three times, against numbers holding each 0 to 3 times: every exponent of the
    gcd is learnt from num and den, none assumed."""
    primes = [p for p in range(40000, 65536) if all(p % d for d in range(2, 256))][:150]
    den = prod(p ** (2 + i % 2) for i, p in enumerate(primes))
    numbers = [prod(p ** ((i * 7 + k) % 4) for i, p in enumerate(primes)) * (2 ** 300 + k)
               for k in range(6)] + [prod(primes), -prod(primes) ** 2]
    forms = canonical_forms(numbers, den, primes)     # word-size: factored, not trial-divided
    assert [(p, q) for p, q, _ in forms] == [
        (Fraction(x, den).numerator, Fraction(x, den).denominator) for x in numbers]
    assert [bits for _, _, bits in forms] == [
        abs(Fraction(x, den).numerator).bit_length() + Fraction(x, den).denominator.bit_length()
        for x in numbers]


@settings(max_examples=200, deadline=None)
@given(column(), st.integers(0, 6))
def test_tree_gcds_equal_math_gcd(case, twos):
    """Residues by a remainder tree of den's prime powers (powers past a word cut, trees of
    one group and of odd counts) give every gcd with den exactly."""
    numbers, den = case
    den *= 2 ** twos
    numbers = [x for x in numbers if x] + [den * 3 + 2 ** twos, -(2 ** twos)]
    result = tree_gcds(numbers, den, [p for p in POOL if den % p == 0])
    if den & (den - 1) == 0 or den % BIG[1] == 0:   # a power of 2, or a prime past a word
        assert result is None                       # (an incomplete base): no tree
        return
    gcds, groups = result
    assert groups >= 1
    assert gcds == [gcd(x, den) for x in numbers]


def test_tree_over_hundreds_of_groups():
    """300 16-bit primes, squared and cubed: a tree of many levels, odd widths among them."""
    primes = [p for p in range(30000, 65536) if all(p % d for d in range(2, 256))][:300]
    den = prod(p ** (2 + i % 2) for i, p in enumerate(primes)) * 3 ** 50
    numbers = [prod(p ** ((i * 5 + k) % 4) for i, p in enumerate(primes)) * (2 ** 99 + k)
               for k in range(4)] + [3 ** 60 * primes[7], -den // primes[0]]
    gcds, groups = tree_gcds(numbers, den, primes + [3])
    assert groups > 100
    assert gcds == [gcd(x, den) for x in numbers]
