"""PartialSums: exact sums over shared denominators, their bytes, their lowest terms."""

import math
import random
from fractions import Fraction

import pytest
from hypothesis import given, settings, strategies as st

import bitprop
from bitprop import evaluation
from bitprop._sums import PartialSums
from bitprop.errors import DamagedBytesError
from bitprop.experiments.random_networks import random_dataset, random_mlp
from reference.vector_bytes import varint
from strategies import BIG_FORM_PAIRS

SMALL_PRIMES = [2, 3, 5, 7, 11, 13, 251, 65521]

denominators = st.one_of(
    st.integers(1, 1 << 16),
    st.lists(st.sampled_from(SMALL_PRIMES), min_size=1, max_size=40).map(math.prod),
    st.integers(1, 1 << 200))
pairs = st.tuples(st.integers(-(1 << 300), 1 << 300), denominators)
vectors = st.lists(pairs, max_size=30)


def exact(entries):
    return [Fraction(n, d) for n, d in entries]


@given(vectors, st.lists(st.sampled_from(SMALL_PRIMES), unique=True), st.integers(1, 3))
def test_canonical_is_lowest_terms_whatever_primes_are_given(entries, primes, threads):
    canonical = PartialSums.from_pairs(entries).canonical(primes, threads).tolist()
    assert canonical == exact(entries)
    assert all(q.denominator == d for q, d in zip(canonical, (Fraction(n, d).denominator
                                                              for n, d in entries)))


@given(st.integers(0, 12).flatmap(lambda n: st.tuples(
    st.lists(pairs, min_size=n, max_size=n), st.lists(pairs, min_size=n, max_size=n))))
def test_plus_is_the_exact_sum(sides):
    left, right = sides
    total = PartialSums.from_pairs(left).plus(PartialSums.from_pairs(right))
    assert total.canonical().tolist() == [a + b for a, b in zip(exact(left), exact(right))]


def test_shared_denominators_stay_shared_and_indices_carry_over():
    entries = [(1, 6), (5, 6), (3, 6), (1, 10), (7, 10)]
    sums = PartialSums.from_pairs(entries, index=[0, 0, 4, 1])
    assert len(sums) == 4 and sums.pairs() == [(1, 6), (1, 6), (7, 10), (5, 6)]
    doubled = sums.plus(sums).canonical([2, 3, 5])
    assert doubled.tolist() == [Fraction(1, 3), Fraction(1, 3), Fraction(7, 5), Fraction(5, 3)]
    again = PartialSums.from_bytes(sums.to_bytes())
    assert again.pairs() == sums.pairs()
    with pytest.raises(ValueError, match="different shapes"):
        sums.plus(PartialSums.from_pairs(entries))
    with pytest.raises(ValueError, match="different indices"):
        sums.plus(PartialSums.from_pairs(entries, index=[0, 1, 4, 1]))
    with pytest.raises(ValueError, match="not positive"):
        PartialSums.from_pairs([(1, 0)])


@given(vectors, st.booleans())
def test_bytes_round_trip(entries, indexed):
    index = list(range(len(entries)))[::-1] if indexed else None
    sums = PartialSums.from_pairs(entries, index=index)
    assert PartialSums.from_bytes(sums.to_bytes()).pairs() == sums.pairs()


def test_bytes_round_trip_at_the_word_edges():
    """The buffer is sized for the big form of word-size values (many of them and nothing
    smaller, so that no slack hides a short buffer)."""
    sums = PartialSums.from_pairs(BIG_FORM_PAIRS * 4)
    assert PartialSums.from_bytes(sums.to_bytes()).pairs() == sums.pairs() == BIG_FORM_PAIRS * 4


@settings(max_examples=300)
@given(st.data())
def test_damaged_bytes_raise_or_decode_never_crash(data):
    entries = data.draw(st.lists(pairs, min_size=1, max_size=6))
    raw = bytearray(PartialSums.from_pairs(entries, index=[0] * 3).to_bytes())
    action = data.draw(st.sampled_from(["truncate", "flip", "insert"]))
    at = data.draw(st.integers(0, len(raw) - 1))
    if action == "truncate":
        raw = raw[:at]
    elif action == "flip":
        raw[at] ^= data.draw(st.integers(1, 255))
    else:
        raw[at:at] = bytes([data.draw(st.sampled_from([0, 127, 128, 255]))] * 9)
    try:
        sums = PartialSums.from_bytes(bytes(raw))
    except DamagedBytesError as error:
        assert str(error).startswith("damaged PartialSums bytes, at byte ") or \
            str(error).startswith("damaged bytes of an exact vector, at byte ")
        return
    assert all(d > 0 for _, d in sums.pairs())        # decoded: a valid vector of sums
    sums.canonical()


def test_huge_counts_are_refused_before_allocating():
    for counts in ([1 << 40, 1 << 40, 1, 0], [5, 5, 1 << 62, 0], [2, 2, 0, 0]):
        data = b"".join(varint(c) for c in counts) + b"\x02\x02"
        with pytest.raises(DamagedBytesError):
            PartialSums.from_bytes(data)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("denominator_bits", [3, 8, 16, 40])
def test_kernel_sums_equal_the_canonical_gradient(threads, denominator_bits):
    """Dense gradient rows left over their common denominator, then put in lowest terms,
    equal the canonical gradient exactly, for denominators with primes shared across layers,
    large primes, and multi-word ones (a base the kernel cannot factor completely)."""
    rng = random.Random(denominator_bits)
    net = random_mlp([4, 6, 6, 3], seed=denominator_bits)
    net = net.with_parameters(
        [Fraction(rng.randint(-255, 255), rng.randint(1, 1 << denominator_bits))
         for _ in net.weights],
        [Fraction(rng.randint(-255, 255), rng.randint(1, 1 << denominator_bits))
         for _ in net.biases])
    data = random_dataset(4, 3, 7, seed=denominator_bits)
    exact_result = bitprop.grad(net, data, threads=threads)
    sums = evaluation.grad(net, data, threads=threads, canonical=False)
    assert any(math.gcd(n, d) > 1 for n, d in sums.grad_weight.pairs())    # rows left whole
    for got, want in ((sums.grad_weight, exact_result.grad_weight),
                      (sums.grad_bias, exact_result.grad_bias)):
        assert got.canonical(threads=threads) == want
        assert got.canonical([2, 3], threads).tolist() == want.tolist()
    assert sums.loss == exact_result.loss


@settings(max_examples=200)
@given(st.lists(st.tuples(st.sampled_from([3, 5, 7, 251, 65521]), st.integers(0, 200),
                          st.integers(0, 200)), min_size=1, max_size=4),
       st.integers(-(1 << 70), 1 << 70).filter(bool), st.integers(1, 1 << 20),
       st.integers(1, 4))
def test_lowest_terms_with_high_prime_powers_on_both_sides(powers, unit, cofactor, copies):
    """Numerators and denominators sharing primes to powers past a word (3^40 > 2^62), as
    deep general-rational layers make them: each valuation is found whichever side is
    smaller, and what one gcd learns of the denominator serves the next exactly."""
    num = unit * math.prod(p ** a for p, a, _ in powers)
    den = cofactor * math.prod(p ** c for p, _, c in powers)
    entries = [(num * k, den) for k in range(1, copies + 1)] + [(num, den)]
    primes = sorted({p for p, _, _ in powers})
    sums = PartialSums.from_pairs(entries)
    assert sums.canonical(primes).tolist() == exact(entries)
    assert sums.canonical().tolist() == exact(entries)
