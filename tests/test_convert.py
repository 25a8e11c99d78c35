"""_convert: the text of network files parsed in C is what numbers.rational
reads, up to the first value it refuses; a RationalVector pickles exactly."""

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

import bitprop
from bitprop import _convert
from strategies import BIG_FORM_PAIRS, big_integers as integers, big_rationals as rationals

#: Texts near the forms parse_rationals reads itself ('[+-]digits[/digits]'), and others.
_TEXT = st.one_of(
    st.from_regex(r"[+-]?[0-9]{0,25}(/[0-9]{0,25})?", fullmatch=True),
    st.from_regex(r"[+-]?[0-9]{0,3}(\.[0-9]{0,3})?([eE][+-]?[0-9]{1,2})?", fullmatch=True),
    st.sampled_from(["1/0", "-0/5", "+7", "--1", "1//2", "٣", "1/٣", "\ud800", " 1", "1 ",
                     "0" * 30 + "1/" + "0" * 25 + "3", "9" * 60 + "/" + "6" * 45]),
    st.text(max_size=6))


def _rational_or_none(value, allow_float=False):
    try:
        return bitprop.rational(value, allow_float=allow_float)
    except bitprop.BitpropInputError:
        return None


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_TEXT, integers, rationals, st.floats(), st.booleans(), st.none()),
                max_size=8), st.booleans())
def test_parse_rationals_is_rational(values, allow_float):
    """Every value comes out as numbers.rational reads it, up to the first it refuses."""
    vector, bad = _convert.parse_rationals(values, allow_float)
    expected = [_rational_or_none(v, allow_float) for v in values]
    stop = expected.index(None) if None in expected else -1
    assert bad == stop
    read = len(values) if stop < 0 else stop
    assert list(vector)[:read] == expected[:read]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(integers, rationals), max_size=12))
def test_a_pickled_vector_comes_back_exact(values):
    """RationalVector pickles as varints and FLINT's signed word arrays (what Dask carries)."""
    import pickle
    vector = _convert.RationalVector.from_values(values)
    again = pickle.loads(pickle.dumps(vector))
    assert list(again) == [Fraction(v) for v in values] and len(again) == len(values)


def test_a_pickled_vector_comes_back_exact_at_the_word_edges():
    """The buffer is sized for the big form of word-size values of 2^62 or more (many of
    them and nothing smaller, so that no slack hides a short buffer)."""
    import pickle
    values = [Fraction(n, d) for n, d in BIG_FORM_PAIRS] * 4
    vector = _convert.RationalVector.from_values(values)
    assert list(pickle.loads(pickle.dumps(vector))) == values


def test_a_pickled_indexed_vector_keeps_its_sharing():
    """grad_bias stores one value per vertex, read through an index per edge."""
    import pickle
    net = bitprop.Network.mlp([3, 4, 2], weights=[[[1, -2, "1/3"]] * 4, [["2/5"] * 4] * 2])
    data = bitprop.Dataset([["1", "2/7", "-3"]], [["1", "-1/2"]])
    bias = net.grad(data).grad_bias
    again = pickle.loads(pickle.dumps(bias))
    assert again == bias and list(again) == list(bias) and len(again) == net.num_edges


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(integers, rationals), max_size=4), st.integers(0, 4))
def test_split_cuts_a_vector_into_equal_pieces(row, count):
    """split(width) gives count vectors of the row's values; a width that does not divide
    the length (or is not positive) is refused."""
    vector = _convert.RationalVector.from_values(row * count)
    if not row:
        return
    pieces = vector.split(len(row))
    assert len(pieces) == count
    assert all(list(piece) == [Fraction(v) for v in row] for piece in pieces)
    for width in (0, -1) + ((len(row) * count + 1,) if count else ()):
        try:
            vector.split(width)
        except ValueError:
            continue
        raise AssertionError(f"split({width}) of {len(row) * count} entries was accepted")
