"""Dataset rows: every input and label vector is kept in FLINT (a read-only RationalVector,
read as Fractions), whatever form it was given in, with the exact values of the reference."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bitprop
from reference.evaluator import parse_rational

_numbers = st.one_of(
    st.integers(-(10**30), 10**30),
    st.builds(lambda p, q: f"{p}/{q}", st.integers(-(10**25), 10**25), st.integers(1, 10**20)),
    st.builds(Fraction, st.integers(-99, 99), st.integers(1, 99)),
    st.sampled_from(["-0", "+3", "4/6", "1e-3", "0.125"]))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(_numbers, min_size=0, max_size=20), min_size=1, max_size=5))
def test_rows_hold_the_reference_values(rows):
    data = bitprop.Dataset(rows, rows)
    for given_row, row, label in zip(rows, data.inputs, data.labels):
        assert type(row).__name__ == "RationalVector"
        assert list(row) == [parse_rational(v) for v in given_row] == list(label)
        assert all(type(q) is Fraction for q in row)


def test_rows_of_numpy_arrays_and_of_rows():
    data = bitprop.Dataset(np.array([[1, -2], [3, 4]]), [["1/2"], ["3"]])
    assert data.inputs == [[1, -2], [3, 4]] and data.labels == [[Fraction(1, 2)], [3]]
    again = bitprop.Dataset(data.inputs, data.labels)     # rows taken as they are
    assert again.inputs[0] is data.inputs[0]


def test_rows_are_read_only():
    data = bitprop.Dataset([["1", "2"]])
    with pytest.raises(TypeError):
        data.inputs[0][0] = 5


def test_a_bad_number_names_its_sample_and_coordinate():
    with pytest.raises(bitprop.BitpropInputError, match=r"samples\[1\]\.x\[2\]"):
        bitprop.Dataset([["1", "2", "3"], ["1", "2", "1/0"]])
