"""bitprop._json. Reading: a repeated key is found by counting, and reported by
parse_json_text exactly as before, on random JSON texts with tricky strings, nesting and
spacing. Writing: RationalVector.json_text (printed by FLINT in worker threads, block by
block) is exactly json.dumps of the canonical strings, for every size of number, thread
count and cut into blocks."""

import json
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bitprop
from bitprop import BitpropInputError, _json
from bitprop._convert import RationalVector
from bitprop._json import pairs_in_document, pairs_in_text
from bitprop.jsonfiles import parse_json_text
from reference.evaluator import loss_and_grad
from strategies import big_rationals as rationals

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


def test_escaped_quotes_and_backslashes():
    text = r'{"a\\": 1, "b\"": {"c": "\\\":"}, "d": ["\\", ":"]}'
    assert json.loads(text) == {"a\\": 1, 'b"': {"c": '\\":'}, "d": ["\\", ":"]}
    assert pairs_in_text(text) == pairs_in_document(json.loads(text)) == 4


def test_lone_surrogate_text():
    assert pairs_in_text('{"\ud800:": 1}') == 1


def _vector_text(vector, threads):
    return b"".join(vector.json_text(threads)).decode("ascii")


def _expected(values):
    return json.dumps([bitprop.to_str(q) for q in values])


def _text_in_blocks(values, threads):
    """The text of ``values`` cut into blocks however short (hypothesis tests cannot take
    the always_threaded fixture)."""
    saved, _json.THREADED_BYTES = _json.THREADED_BYTES, 0
    try:
        return _vector_text(RationalVector.from_values(values), threads)
    finally:
        _json.THREADED_BYTES = saved


@pytest.fixture
def always_threaded(monkeypatch):
    """Cut even tiny vectors into blocks (up to 8 per thread)."""
    monkeypatch.setattr(_json, "THREADED_BYTES", 0)


@settings(max_examples=200, deadline=None)
@given(st.lists(rationals, max_size=40), st.integers(1, 9))
def test_json_text_is_json_dumps_of_the_strings(values, threads):
    vector = RationalVector.from_values(values)
    assert _vector_text(vector, threads) == _expected(values) == json.dumps(vector.strings())


@settings(max_examples=100, deadline=None)
@given(st.lists(rationals, max_size=30), st.integers(2, 9))
def test_json_text_with_a_block_per_thread(values, threads):
    assert _text_in_blocks(values, threads) == _expected(values)


def test_large_vector_on_two_threads():
    values = [Fraction((-3) ** k + k, 2 ** (k % 97) * 7 ** (k % 5)) for k in range(4000)]
    vector = RationalVector.from_values(values)
    assert sum(len(s) for s in vector.strings()) > _json.THREADED_BYTES
    assert _vector_text(vector, 2) == _vector_text(vector, 1) == _expected(values)


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
    assert _vector_text(result.grad_bias, threads) == _expected(grad_bias)
    assert _vector_text(result.grad_weight, threads) == _expected(grad_weight)


def test_empty_vector():
    assert _vector_text(RationalVector.from_values([]), 4) == "[]"


def test_reader_stopping_early_stops_the_workers(always_threaded):
    """A reader that stops (a closed pipe) leaves the workers to stop at their next entry;
    the vector and a new reading are unharmed."""
    values = [Fraction(7**k, 2**k) for k in range(300)]
    vector = RationalVector.from_values(values)
    pieces = vector.json_text(2)
    assert next(pieces) == b"[" and len(next(pieces)) > 0
    pieces.close()
    assert _vector_text(vector, 2) == _expected(values)


_NAMES = ["x", "h", "o"]
_EDGE_VALUES = st.one_of(st.sampled_from(_NAMES + ["nowhere", "1/2", "0"]), st.integers(0, 2),
                         st.booleans(), st.none(), st.lists(st.just("x"), max_size=1))
_EDGE = st.one_of(
    st.dictionaries(st.sampled_from(["from", "to", "weight", "bias", "trainable", "kind"]),
                    _EDGE_VALUES, max_size=6),
    st.tuples(st.sampled_from(_NAMES), st.sampled_from(_NAMES)))


@settings(max_examples=300, deadline=None)
@given(st.lists(_EDGE, max_size=5))
def test_edge_columns_read_as_edge_by_edge(edges):
    """Columns exactly when every edge reads without error one by one, and then the same."""
    net = bitprop.Network(["x", ("h", "relu"), ("o", "identity")], [("x", "h"), ("h", "o")],
                          ["x"], ["o"])
    try:
        expected = [net._edge_fields(edge, f"edges[{i}]") for i, edge in enumerate(edges)]
    except BitpropInputError:
        expected = None
    columns = _json.edge_columns(edges, net._index)
    if columns is not None:
        assert expected is not None and list(zip(*columns)) == expected
    elif expected is not None:      # refused only for a form it does not read (tuples)
        assert any(type(edge) is not dict for edge in edges)


#: Denominators that share a slot of the printer's table (same bit length and lowest limb).
_SHARED = [2**100, 2**100 + 2**70, 2**100 + 2**80, 3 * 2**98, 2**64 + 1, 2**200, 1, 7, 2**63]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(-(2**300), 2**300), st.sampled_from(_SHARED)),
                max_size=60), st.integers(1, 3))
def test_repeated_denominators(pairs, threads):
    """Denominators printed before are copied, never confused with one in the same slot."""
    values = [Fraction(2 * p + 1, q) for p, q in pairs]     # odd: mostly left unreduced
    assert _text_in_blocks(values, threads) == _expected(values)
    assert _vector_text(RationalVector.from_values(values), threads) == _expected(values)
