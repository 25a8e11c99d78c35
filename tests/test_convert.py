"""RationalVector's JSON text (printed by FLINT in worker threads) is exactly json.dumps of
its canonical strings, for every size of number, thread count and block cut."""

import json
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bitprop
from bitprop import _convert
from bitprop._convert import RationalVector
from reference.evaluator import loss_and_grad

#: Numbers around the word boundaries of FLINT's small fmpz (2^62) and of slong (2^63).
EDGES = [0, 1, -1, 9, 10, -10, 2**62 - 1, 2**62, -(2**62), 2**63 - 1, -(2**63), 2**63,
         -(2**64) - 1, 10**40, -(10**200) - 7]
integers = st.one_of(st.sampled_from(EDGES), st.integers(),
                     st.integers(-(2**3000), 2**3000))
rationals = st.builds(lambda p, q: Fraction(p, q), integers,
                      st.one_of(st.sampled_from([1, 2, 3, 2**62, 2**63, 2**64 + 1]),
                                st.integers(1, 2**400)))


def _text(vector, threads):
    return b"".join(vector.json_text(threads)).decode("ascii")


def _expected(values):
    return json.dumps([bitprop.to_str(q) for q in values])


@pytest.fixture
def always_threaded(monkeypatch):
    """Cut even tiny vectors into one block per thread."""
    monkeypatch.setattr(_convert, "THREADED_BYTES", 0)


@settings(max_examples=200, deadline=None)
@given(st.lists(rationals, max_size=40), st.integers(1, 9))
def test_json_text_is_json_dumps_of_the_strings(values, threads):
    vector = RationalVector.from_values(values)
    assert _text(vector, threads) == _expected(values) == json.dumps(vector.strings())


@settings(max_examples=100, deadline=None)
@given(st.lists(rationals, max_size=30), st.integers(2, 9))
def test_json_text_with_a_block_per_thread(values, threads):
    saved = _convert.THREADED_BYTES
    _convert.THREADED_BYTES = 0
    try:
        assert _text(RationalVector.from_values(values), threads) == _expected(values)
    finally:
        _convert.THREADED_BYTES = saved


def test_large_vector_on_two_threads():
    values = [Fraction((-3) ** k + k, 2 ** (k % 97) * 7 ** (k % 5)) for k in range(4000)]
    vector = RationalVector.from_values(values)
    assert sum(len(s) for s in vector.strings()) > _convert.THREADED_BYTES
    assert _text(vector, 2) == _text(vector, 1) == _expected(values)


@pytest.mark.parametrize("threads", [1, 2, 5])
def test_indexed_bias_gradient(always_threaded, threads):
    """grad_bias stores dL/dz once per vertex and repeats it per in-edge."""
    net = bitprop.Network.mlp([3, 4, 2], "relu",
                              weights=[[[1, "-1/2", 3], [2, 3, "1/7"], ["1/3", 0, 1], [5, -1, 1]],
                                       [[1, 1, -1, "2/3"], ["-5/11", 2, 1, 1]]],
                              biases=[[0, "1/4", 0, "-1/9"], [1, 0]])
    data = bitprop.Dataset([[1, 2, "1/3"], [3, -1, 2]], [["1/2", 0], [2, "-7/3"]])
    result = net.grad(data)
    _, grad_weight, grad_bias = loss_and_grad(net.to_json(), data.to_json())
    assert json.loads(_text(result.grad_bias, threads)) == [bitprop.to_str(q) for q in grad_bias]
    assert _text(result.grad_bias, threads) == _expected(grad_bias)
    assert _text(result.grad_weight, threads) == _expected(grad_weight)


def test_empty_vector():
    assert _text(RationalVector.from_values([]), 4) == "[]"


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


def test_reader_stopping_early_stops_the_workers(always_threaded):
    """A reader that stops (a closed pipe) leaves the workers to stop at their next entry;
    the vector and a new reading are unharmed."""
    values = [Fraction(7**k, 2**k) for k in range(300)]
    vector = RationalVector.from_values(values)
    pieces = vector.json_text(2)
    assert next(pieces) == b"[" and len(next(pieces)) > 0
    pieces.close()
    assert _text(vector, 2) == _expected(values)
