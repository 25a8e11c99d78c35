"""bitprop.instance/1: reading (with file and JSON path in every error), writing, solving."""

import copy
import json
from fractions import Fraction

import pytest

from bitprop.errors import BitpropInputError
from bitprop.instance import Instance, rational_bit, solve
from bitprop.slp import factorial, tower_minus_one
from bitprop.slp.compile_backprop import compile_backprop
from bitprop.slp.compile_erm import compile_erm

NETWORK = {
    "format": "bitprop.network/1",
    "vertices": [{"name": "x"}, {"name": "h", "activation": "square"},
                 {"name": "t", "activation": "identity"}],
    "edges": [{"from": "x", "to": "h", "weight": "3", "bias": "0", "trainable": False},
              {"from": "h", "to": "t", "weight": "1/2", "bias": "0"}],
    "inputs": ["x"], "outputs": ["t"],
}


def backprop_doc(problem="backprop-sign", bit=None, label="-1"):
    """L(w) = (w (3x)^2 - y)^2 at x = 1, w = 1/2, y = label: dL/dw = 2 (9/2 - y) 9."""
    return {"format": "bitprop.instance/1", "problem": problem, "network": NETWORK,
            "dataset": {"samples": [{"x": ["1"], "y": [label]}], "loss": {"kind": "square"}},
            "query": {"edge": 1, "coordinate": "weight", "bit": bit},
            "threshold": "0", "gap": ["0", "1"],
            "source": {"slp": None, "question": "pos", "bit": None, "relation": "by hand"}}


def erm_doc(threshold="0"):
    """Square loss at theta: L = (9/2 - 5)^2 = 1/4."""
    return {"format": "bitprop.instance/1", "problem": "erm", "network": NETWORK,
            "dataset": {"samples": [{"x": ["1"], "y": ["5"]}], "loss": {"kind": "square"}},
            "query": None, "threshold": threshold, "gap": [threshold, "1"]}


def test_solve_backprop_by_hand():
    solution = solve(Instance.from_json(backprop_doc()))
    assert solution.loss == Fraction(121, 4) and solution.gradient == 99
    assert solution.sign == 1 and solution.answer is True and solution.bit is None
    solution = solve(Instance.from_json(backprop_doc(label="10")))       # 2 (9/2 - 10) 9
    assert solution.gradient == -99 and solution.sign == -1 and solution.answer is False
    for j, expected in ((0, 1), (1, 1), (2, 0), (5, 1), (6, 1), (7, 0)):  # 99 = 0b1100011
        solution = solve(Instance.from_json(backprop_doc("backprop-bit", bit=j)))
        assert solution.bit == expected and solution.answer == (expected == 1)


def test_solve_bias_coordinate():
    doc = backprop_doc()
    doc["query"]["coordinate"] = "bias"
    assert solve(Instance.from_json(doc)).gradient == 11              # 2 (9/2 + 1)


def test_solve_erm_by_hand():
    assert solve(Instance.from_json(erm_doc())).answer is False
    solution = solve(Instance.from_json(erm_doc("1/4")))
    assert solution.loss == Fraction(1, 4) and solution.answer is True
    assert solution.to_json()["losses"] == {"main": Fraction(1, 4), "forcing": 0}


@pytest.mark.parametrize("q, j, expected", [
    (Fraction(99), 0, 1), (Fraction(99), 2, 0), (Fraction(-99), 6, 1), (Fraction(99), 9, 0),
    (Fraction(3, 4), -1, 1), (Fraction(3, 4), -2, 1), (Fraction(3, 4), 0, 0),
    (Fraction(-5, 8), -3, 1), (Fraction(-5, 8), -2, 0), (Fraction(1, 3), -1, 0),
    (Fraction(1, 3), -2, 1), (Fraction(0), 0, 0)])
def test_rational_bit(q, j, expected):
    """Bit j of |q| is floor(|q| 2^-j) mod 2 (1/3 = 0.010101... in binary)."""
    assert rational_bit(q, j) == expected


@pytest.mark.parametrize("make", [
    lambda: compile_erm(factorial(4), 3, "z^3"),
    lambda: compile_erm(tower_minus_one(2), 1, "z^2", forcing="paper", gap=("1/3", 2)),
    lambda: compile_erm(factorial(3), 1, "z^2", bounded=True),
    lambda: compile_backprop(factorial(4), "z^2"),
    lambda: compile_backprop(factorial(4), "z^3", bit=4, bounded=True),
], ids=["erm", "erm-paper", "erm-bounded", "sign", "bit-bounded"])
def test_round_trip(make, tmp_path):
    instance = make()
    path = tmp_path / "instance.json"
    instance.save(path)
    again = Instance.load(str(path))
    assert again.to_json() == instance.to_json()
    assert json.loads(path.read_text()) == json.loads(json.dumps(instance.to_json()))
    assert solve(again) == solve(instance)


def test_long_integers_are_written_as_strings():
    doc = backprop_doc("backprop-bit", bit="-" + "9" * 30)
    instance = Instance.from_json(doc)
    assert instance.query.bit == -(10 ** 30 - 1)
    assert instance.to_json()["query"]["bit"] == "-" + "9" * 30
    assert Instance.from_json(backprop_doc("backprop-bit", bit=12)).to_json()["query"]["bit"] == 12


def broken(change):
    doc = copy.deepcopy(backprop_doc())
    change(doc)
    return doc


def set_path(path, value):
    def change(doc):
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


ERRORS = [
    (set_path(["colour"], 1), "colour", "unknown key 'colour'"),
    (set_path(["format"], "bitprop.network/1"), "format", "expected 'bitprop.instance/1'"),
    (set_path(["problem"], "pos"), "problem", "'pos' is not a problem"),
    (lambda d: d.pop("network"), None, "missing key 'network'"),
    (set_path(["network", "edges", 0, "weight"], "1/0"), "network.edges[0].weight",
     "zero denominator"),
    (set_path(["dataset", "samples", 0, "x"], ["1", "2"]), "dataset.samples[0].x",
     "has 2 entries"),
    (set_path(["dataset", "samples"], [{"x": ["1"]}]), "dataset.samples", "need labels"),
    (set_path(["query"], None), "query", "needs a query"),
    (set_path(["query", "edge"], 2), "query.edge", "edge 2 does not exist"),
    (set_path(["query", "edge"], "1.5"), "query.edge", "not an integer"),
    (set_path(["query", "coordinate"], "slope"), "query.coordinate", "not a coordinate"),
    (set_path(["query", "why"], 1), "query.why", "unknown key"),
    (set_path(["threshold"], 0.5), "threshold", "is a float"),
    (set_path(["gap"], ["1", "0"]), "gap", "a <= b"),
    (set_path(["source", "question"], "neg"), "source.question", "not a question"),
    (set_path(["source", "slp"], {"ops": [["*", 0, 1]]}), "source.slp.ops[0][2]",
     "not computed yet"),
    (set_path(["source", "bit"], -1), "source.bit", "below 0"),
    (set_path(["source", "note"], "x"), "source.note", "unknown key"),
    (set_path(["forcing"], {"outputs": ["t"], "dataset": {"samples": []}}), "forcing",
     "erm instances only"),
]


@pytest.mark.parametrize("change, path, problem", ERRORS,
                         ids=[problem for _, _, problem in ERRORS])
def test_errors_name_the_path(change, path, problem):
    with pytest.raises(BitpropInputError) as info:
        Instance.from_json(broken(change), file="inst.json")
    assert info.value.file == "inst.json" and info.value.path == path
    assert problem in info.value.problem


def test_huge_values_are_shown_short():
    with pytest.raises(BitpropInputError) as info:
        Instance.from_json(broken(set_path(["query", "edge"], 10 ** 5000)))
    assert info.value.path == "query.edge" and "does not exist" in info.value.problem
    assert len(info.value.problem) < 200


def test_floats_only_when_allowed():
    doc = broken(set_path(["threshold"], 0.5))
    assert Instance.from_json(doc, allow_float=True).threshold == Fraction(1, 2)


def test_backprop_bit_needs_its_bit():
    with pytest.raises(BitpropInputError) as info:
        Instance.from_json(backprop_doc("backprop-bit"))
    assert info.value.path == "query.bit"


def test_erm_errors():
    doc = erm_doc()
    doc["query"] = {"edge": 0}
    with pytest.raises(BitpropInputError, match="asks no gradient query"):
        Instance.from_json(doc)
    forcing = compile_erm(factorial(3), 0, "z^2").to_json()
    forcing["forcing"]["outputs"][1] = "nowhere"
    with pytest.raises(BitpropInputError) as info:
        Instance.from_json(forcing)
    assert info.value.path == "forcing.outputs[1]"
    forcing["forcing"]["outputs"][1] = ["x1"]
    with pytest.raises(BitpropInputError, match="a vertex name is a string") as info:
        Instance.from_json(forcing)
    assert info.value.path == "forcing.outputs[1]"
    forcing = compile_erm(factorial(3), 0, "z^2").to_json()
    forcing["forcing"]["dataset"]["samples"][0]["y"].pop()
    with pytest.raises(BitpropInputError) as info:
        Instance.from_json(forcing)
    assert info.value.path == "forcing.dataset.samples[0].y"


def test_load_names_the_file(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(broken(set_path(["problem"], "x"))))
    with pytest.raises(BitpropInputError) as info:
        Instance.load(str(path))
    assert str(info.value).startswith(f"{path}: problem: ")


def test_rational_bit_far_from_the_value_needs_no_huge_shift():
    from fractions import Fraction
    from bitprop.instance import rational_bit
    assert rational_bit(Fraction(5), 10 ** 30) == 0
    assert rational_bit(Fraction(-6), 1) == 1 and rational_bit(Fraction(-6), 0) == 0
    third = Fraction(1, 3)                      # 0.010101... in binary
    assert [rational_bit(third, -m) for m in range(1, 7)] == [0, 1, 0, 1, 0, 1]
    assert rational_bit(third, -(10 ** 30)) == 1     # bit m of 1/3 is 1 exactly for even m
    assert rational_bit(Fraction(3, 8), -(10 ** 30)) == 0
