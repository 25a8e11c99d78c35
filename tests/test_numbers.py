"""numbers.rational_list: long lists parsed in C give the same Fractions as rational() one by
one, and the same error, at the same index, for the first bad value."""

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitprop import BitpropInputError, rational
from bitprop.numbers import _PARSED_IN_C, rational_list

values = st.one_of(
    st.integers(-(10**40), 10**40),
    st.builds(lambda p, q: f"{p}/{q}", st.integers(-(10**30), 10**30), st.integers(0, 10**20)),
    st.sampled_from(["0.125", "-1e-3", "+4/6", "x", "", True, None, 1.5, Fraction(-7, 3)]),
    st.floats(allow_nan=True))


def _one_by_one(items, allow_float):
    return [rational(v, f"v[{i}]", allow_float=allow_float) for i, v in enumerate(items)]


@settings(max_examples=200, deadline=None)
@given(st.lists(values, min_size=_PARSED_IN_C, max_size=3 * _PARSED_IN_C), st.booleans())
def test_long_lists_read_as_one_by_one(items, allow_float):
    try:
        expected = _one_by_one(items, allow_float)
    except BitpropInputError as err:
        with pytest.raises(BitpropInputError) as got:
            rational_list(items, "v", allow_float=allow_float)
        assert str(got.value) == str(err)
    else:
        assert rational_list(items, "v", allow_float=allow_float) == expected
