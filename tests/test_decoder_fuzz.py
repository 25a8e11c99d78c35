"""The RationalVector byte decoder (unpickling, every Dask transfer) against damaged bytes:
each mutant decodes to what tests/reference/vector_bytes reads, or raises DamagedBytesError;
never a crash (every case runs in this process, so a crash fails the whole run)."""

import pickle
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bitprop
from bitprop import _convert
from reference.vector_bytes import decode, fields, varint
from strategies import big_integers, big_rationals

#: Small and big values, repeats (an index), an empty vector.
_VECTORS = [
    [], [0], [Fraction(3, 7), -1, 2 ** 70, Fraction(-5, 2 ** 65 + 1)], [Fraction(1, 3)] * 4]


def _encode(vector):
    """A RationalVector's bytes, as pickle takes them."""
    return vector.__reduce__()[1][0]


def _valid_encodings():
    encodings = [_encode(_convert.RationalVector.from_values(v)) for v in _VECTORS]
    net = bitprop.Network.mlp([2, 3, 1], weights=[[[1, "1/3"]] * 3, [["2/5"] * 3]])
    bias = net.grad(bitprop.Dataset([["1", "2/7"]], [["1"]])).grad_bias
    return encodings + [_encode(bias)]


ENCODINGS = _valid_encodings()


def _outcome(data):
    """The decoded values, or None where the decoder refused the bytes cleanly."""
    try:
        return list(_convert._from_bytes(bytes(data)))
    except bitprop.DamagedBytesError as error:
        assert str(error).startswith("damaged bytes of an exact vector, at byte ")
        return None


def _check(data):
    assert _outcome(data) == decode(bytes(data))


def test_the_issue_reproductions_are_refused():
    for data, problem in [
            (varint(1) + varint(2 ** 40) + varint(0), "stored values"),
            (varint(1) + varint(2 ** 40) + varint(1) + varint(0), "stored values"),
            (varint(2 ** 61 - 1) + varint(1) + varint(1) + bytes(20), "index entries"),
            (varint(2) + varint(1) + varint(1) + varint(0) + varint(1) + bytes([2, 2]),
             "index entry 1 is 1, past the 1 stored values")]:
        with pytest.raises(bitprop.DamagedBytesError, match=problem):
            _convert._from_bytes(data)


@pytest.mark.parametrize("q, problem", [(0, "zero denominator"), (-3, "negative denominator"),
                                        (4, "not in lowest terms")])
def test_denominators_out_of_canonical_form_are_refused(q, problem):
    zigzag = lambda v: varint(((v << 1) ^ (v >> 63)) << 1)    # noqa: E731
    data = varint(1) + varint(1) + varint(0) + zigzag(2) + zigzag(q)
    with pytest.raises(bitprop.DamagedBytesError, match=problem):
        _convert._from_bytes(data)


def test_valid_encodings_decode_exactly():
    for data in ENCODINGS:
        assert _outcome(data) == decode(data) is not None


def test_every_truncation_and_extension_is_refused():
    for data in ENCODINGS:
        for end in range(len(data)):
            assert _outcome(data[:end]) is None
        assert _outcome(data + b"\0") is None


_EXTREMES = [0, 1] + [2 ** k - 1 for k in (7, 8, 14, 31, 32, 40, 61, 62, 63, 64)] + [2 ** 64]


def test_every_varint_field_at_the_extremes():
    for data in ENCODINGS:
        for start, end in fields(data):
            for u in _EXTREMES:
                _check(data[:start] + varint(u) + data[end:])


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(ENCODINGS), st.lists(st.tuples(st.integers(0, 10 ** 6),
                                                      st.integers(0, 255)), max_size=4))
def test_random_byte_changes(data, changes):
    data = bytearray(data)
    for at, value in changes:
        if data:
            data[at % len(data)] = value
    _check(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes(data):
    _check(data)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(big_integers, big_rationals), max_size=8))
def test_random_vectors_round_trip(values):
    vector = _convert.RationalVector.from_values(values)
    data = _encode(vector)
    assert _outcome(data) == decode(data) == [Fraction(v) for v in values]
    assert pickle.loads(pickle.dumps(vector)) == vector


# --- the packed vectors of distributed/wire.py ------------------------------------------------
# Their bytes are a pickle: random byte changes test CPython's unpickler (a memo index changed
# to 2^31 makes it allocate gigabytes), not bitprop, so the fields are damaged instead.
wire = pytest.importorskip("bitprop.distributed.wire")

_PACKED = [wire.pack_fractions([Fraction(1, 3), -2, Fraction(2 ** 80, 3)]),
           wire.pack_fractions([Fraction(1, 3)] * 3 + [5], repeats=True)]


def _unpacked(data):
    try:
        return wire.Vector.unpack(data).fractions()
    except bitprop.DamagedBytesError as error:
        assert str(error).startswith("damaged packed vector: ")
        return None


def test_packed_vectors_truncated_are_refused():
    for data in _PACKED:
        assert _unpacked(data) is not None
        assert all(_unpacked(data[:end]) is None for end in range(len(data)))


@pytest.mark.parametrize("fields, problem", [
    (([1], [0], None), "zero denominator"), (([1], [-2], None), "negative denominator"),
    (([2], [4], None), "not in lowest terms"), (([1], [1, 2], None), "one length"),
    (([1.5], [1], None), "pair of ints"), (([1], [1], [1]), "slot"),
    (([1], [1], [-1]), "slot"), (([1], [1], [2 ** 61 - 1]), "slot")])
def test_packed_vectors_out_of_form_are_refused(fields, problem):
    data = pickle.dumps((wire._TAG,) + fields)
    with pytest.raises(bitprop.DamagedBytesError, match=problem):
        wire.Vector.unpack(data)

