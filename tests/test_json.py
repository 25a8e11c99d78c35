"""A repeated key is found by counting (bitprop._json), and reported by parse_json_text
exactly as before: on random JSON texts with tricky strings, nesting and spacing."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitprop import BitpropInputError
from bitprop._json import pairs_in_document, pairs_in_text
from bitprop.cli.common import parse_json_text

#: Keys and strings with the characters a scan could trip on: quotes, backslashes, colons.
_STRINGS = st.one_of(st.sampled_from(["a", "b", ":", '"', "\\", '\\":', "é:", "\u2028", ""]),
                     st.text(alphabet='ab:"\\/{}[], é\u00ff\U0001f600', max_size=5))


def _values():
    leaves = st.one_of(st.none(), st.booleans(), st.integers(-10**30, 10**30), _STRINGS)
    return st.recursive(leaves, lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(st.tuples(_STRINGS, inner), max_size=4).map(_Object)), max_leaves=20)


class _Object(list):
    """An object as its (key, value) pairs, keys possibly repeated."""


def _text(value, spacing):
    if isinstance(value, _Object):
        items = (f"{json.dumps(k)}{spacing}:{spacing}{_text(v, spacing)}" for k, v in value)
        return "{" + f",{spacing}".join(items) + "}"
    if isinstance(value, list):
        return "[" + f",{spacing}".join(_text(v, spacing) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _repeats(value):
    if isinstance(value, _Object):
        keys = [k for k, _ in value]
        return len(set(keys)) < len(keys) or any(_repeats(v) for _, v in value)
    return isinstance(value, list) and any(_repeats(v) for v in value)


@settings(max_examples=300, deadline=None)
@given(_values(), st.sampled_from(["", " ", "\n  "]))
def test_repeated_keys_found_by_counting(value, spacing):
    text = _text(value, spacing)
    document = json.loads(text)
    assert (pairs_in_document(document) != pairs_in_text(text)) == _repeats(value)
    if _repeats(value):
        with pytest.raises(BitpropInputError, match="duplicate key"):
            parse_json_text(text, "f.json")
    else:
        assert parse_json_text(text, "f.json") == document


def test_first_repeated_key_is_named():
    text = '{"a": [{"x": 1, "y": ":\\"", "x": 2}], "b": {"c": 1, "c": 1}}'
    with pytest.raises(BitpropInputError) as err:
        parse_json_text(text, "f.json")
    assert str(err.value) == "f.json: a[0].x: duplicate key 'x' (each key may appear once)"


def test_lone_surrogate_text():
    assert pairs_in_text('{"\ud800:": 1}') == 1
