"""Network: parameters read from JSON into FLINT (no Fraction per edge) are the exact values,
still readable as Fractions, and a bad file is refused with the same error as edge by edge."""

import pickle
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bitprop
from reference.evaluator import parse_rational


def _document(edges):
    return {"vertices": [{"name": "x"}, {"name": "h", "activation": "relu"},
                         {"name": "o", "activation": "identity"}],
            "edges": edges, "inputs": ["x"], "outputs": ["o"]}


def _edges(weights, biases):
    return [{"from": "x" if e % 2 == 0 else "h", "to": "h" if e % 2 == 0 else "o",
             "weight": w, "bias": b} for e, (w, b) in enumerate(zip(weights, biases))]


numbers = st.one_of(
    st.integers(-(10**30), 10**30),
    st.builds(lambda p, q: f"{p}/{q}", st.integers(-(10**40), 10**40), st.integers(1, 10**25)),
    st.builds(lambda p, q: f"{p}.{q}", st.integers(-999, 999), st.integers(0, 999)),
    st.sampled_from(["-0", "+3", "4/6", "1e-3", "007/010", "0.125"]))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(numbers, numbers), min_size=2, max_size=8))
def test_parameters_are_the_reference_values(pairs):
    weights, biases = zip(*pairs)
    net = bitprop.Network.from_json(_document(_edges(weights, biases)))
    assert net.weights == [parse_rational(w) for w in weights]
    assert net.biases == [parse_rational(b) for b in biases]
    assert all(type(q) is Fraction for q in net.weights + net.biases)
    assert [(e.weight, e.bias) for e in net.edges] == list(zip(net.weights, net.biases))
    assert net.plan().parameters() == (net.weights, net.biases)
    assert bitprop.Network.from_json(net.to_json()) == net


def test_weights_are_a_fresh_list():
    net = bitprop.Network.from_json(_document(_edges(["1/2", "3"], [0, "-1/4"])))
    net.weights.append(Fraction(9))
    assert net.weights == [Fraction(1, 2), Fraction(3)]


def test_with_parameters_and_pickle():
    net = bitprop.Network.from_json(_document(_edges(["1/2", "3"], [0, "-1/4"])))
    other = net.with_parameters(weights=[Fraction(5), "2/3"])
    assert other.weights == [5, Fraction(2, 3)] and other.biases == net.biases
    assert net.weights == [Fraction(1, 2), 3]
    assert pickle.loads(pickle.dumps(other)) == other


@pytest.mark.parametrize("edges, message", [
    # the first problem in file order wins, whether a number or the edge itself
    (_edges(["1", "x", "1/0"], ["0", "0", "0"]) + [{"from": "x", "to": "nowhere"}],
     "edges[1].weight: 'x' is not a rational"),
    (_edges(["1", "2"], ["0", "1/0"]) + [{"from": "x", "to": "nowhere"}],
     "edges[1].bias: '1/0' has a zero denominator"),
    (_edges(["1", "2/0"], ["1/0", "0"]), "edges[0].bias: '1/0' has a zero denominator"),
    (_edges(["1", "2/0"], ["0", "1/0"]), "edges[1].weight: '2/0' has a zero denominator"),
    (_edges(["1"], ["0"]) + [{"from": "x", "to": "nowhere", "weight": "1/0"}],
     "edges[1].to: unknown vertex 'nowhere'"),
    (_edges(["1", "2"], [True, "0"]), "edges[0].bias: True is a boolean, not a number"),
    (_edges(["1", 0.5], ["0", "0"]), "edges[1].weight: 0.5 is a float"),
    (_edges(["1"], ["0"]) + [{"from": "x", "to": "h", "trainable": 1, "weight": "1/0"}],
     "edges[1].trainable: trainable is true or false, not 1"),
])
def test_first_error_in_file_order(edges, message):
    with pytest.raises(bitprop.BitpropInputError) as err:
        bitprop.Network.from_json(_document(edges), file="net.json")
    assert str(err.value).startswith(f"net.json: {message}")


def test_floats_when_allowed():
    net = bitprop.Network.from_json(_document(_edges([0.1, "1"], [0, -2.5])), allow_float=True)
    assert net.weights == [Fraction(0.1), 1] and net.biases == [0, Fraction(-5, 2)]


def test_python_flint_parameters():
    flint = pytest.importorskip("flint")
    net = bitprop.Network.from_json(_document(_edges([flint.fmpq(-3, 6), flint.fmpz(7)],
                                                     ["1/3", flint.fmpq(5, 1)])))
    assert net.weights == [Fraction(-1, 2), 7] and net.biases == [Fraction(1, 3), 5]


def test_an_error_about_a_huge_key_stays_one_short_line():
    """Issue 21: an unknown key of 10^6 characters made a 1 MB error line (the JSON path
    holds the key as the file wrote it); paths are shown cut in the middle."""
    doc = {"vertices": ["x"], "inputs": ["x"], "outputs": ["x"], "k" * 10 ** 6: 1}
    with pytest.raises(bitprop.BitpropInputError) as err:
        bitprop.Network.from_json(doc, file="big.json")
    text = str(err.value)
    assert len(text) < 600 and "\n" not in text
    assert text.startswith("big.json: kkkk") and "(1000000 characters)" in text
    assert "unknown key" in text
