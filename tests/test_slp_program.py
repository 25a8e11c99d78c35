"""bitprop.slp.program: the SLP type, its JSON and text forms, and the builder families."""

import dataclasses
import json
import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitprop.errors import BitpropInputError
from bitprop.slp import (Program, factorial, fibonacci, integer, near_cancellation, negated,
                         random_program, tower, tower_minus_one, zero_through_huge)
from reference.slp import gate_values, random_ops, value


def fib(n):
    a, b = 1, 1
    for _ in range(n - 1):
        a, b = b, a + b
    return a


# --- builders have their closed forms (reference arithmetic) ---------------------------------

@pytest.mark.parametrize("n", range(0, 8))
def test_towers(n):
    assert value(tower(n).ops) == 2 ** 2 ** n
    assert value(tower_minus_one(n).ops) == 2 ** 2 ** n - 1
    assert len(tower(n)) == n + 1


@pytest.mark.parametrize("n", range(1, 30))
def test_fibonacci(n):
    assert value(fibonacci(n).ops) == fib(n)


@pytest.mark.parametrize("n", range(0, 15))
def test_factorial(n):
    assert value(factorial(n).ops) == math.factorial(n)


@pytest.mark.parametrize("m", [*range(-20, 21), 2 ** 64 + 1, -(3 ** 40)])
def test_integer(m):
    program = integer(m)
    assert value(program.ops) == m
    assert len(program) <= 2 * abs(m).bit_length() + 2


@pytest.mark.parametrize("n", range(0, 7))
def test_zero_through_huge_values(n):
    values = gate_values(zero_through_huge(n).ops)
    assert values[-1] == 0
    assert max(abs(v) for v in values).bit_length() > 2 ** (n + 1)


@pytest.mark.parametrize("n, a, b", [(0, 1, 1), (3, 2, -7), (5, -3, -4), (6, 0, 9)])
def test_near_cancellation(n, a, b):
    values = gate_values(near_cancellation(n, a, b).ops)
    assert values[-1] == a * b
    assert max(abs(v).bit_length() for v in values) >= 2 ** (n + 1)


def test_negated():
    for program in (factorial(6), tower_minus_one(3), Program([], 7)):
        assert value(negated(program).ops, program.constant) == -value(program.ops,
                                                                        program.constant)


def test_random_program_uses_every_gate_and_respects_its_bound():
    program = random_program(2000, seed=3, max_bits=300)
    values = gate_values(program.ops)
    products = [values[i] for i, (op, _, _) in enumerate(program.ops, start=1) if op == "*"]
    assert products and max(abs(v).bit_length() for v in products) <= 300
    read = {g for _, j, k in program.ops for g in (j, k)}
    assert read | {len(program)} == set(range(len(program) + 1))
    assert random_program(50, seed=1) == random_program(50, seed=1)


# --- the type --------------------------------------------------------------------------------

def test_constructor_normalizes_and_is_frozen():
    program = Program([["+", 0, 0], ["*", 1, 1]], "1/2")
    assert program.ops == (("+", 0, 0), ("*", 1, 1))
    assert program.constant == Fraction(1, 2)
    assert len(program) == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        program.constant = 3
    assert Program() == Program([], 1)


def test_constructor_validates():
    with pytest.raises(BitpropInputError, match=r"ops\[1\]\[2\]: gate x2 uses x2, which is not"):
        Program([("+", 0, 0), ("+", 1, 2)])


# --- JSON ------------------------------------------------------------------------------------

def test_json_round_trip_and_optional_keys():
    program = near_cancellation(3, 2, -5)
    doc = program.to_json()
    assert doc["format"] == "bitprop.slp/1" and doc["constant"] == "1"
    assert Program.from_json(json.loads(json.dumps(doc))) == program
    assert Program.from_json({"ops": [["+", 0, 0]]}) == Program([("+", 0, 0)])
    assert Program.from_json({"constant": "-0.25", "ops": []}).constant == Fraction(-1, 4)
    assert Program.from_json({"constant": 3, "ops": []}).constant == 3


BAD_JSON = [
    ([1, 2], None, "expected a JSON object"),
    ({"ops": [], "const": "1"}, "const", "unknown key 'const'"),
    ({"format": "bitprop.slp/2", "ops": []}, "format", "expected 'bitprop.slp/1'"),
    ({"constant": "1"}, None, "missing key 'ops'"),
    ({"ops": {"0": 1}}, "ops", "expected a list of gates"),
    ({"ops": [["+", 0]]}, "ops[0]", "gate x1 must be [op, j, k]"),
    ({"ops": ["+00"]}, "ops[0]", "gate x1 must be [op, j, k]"),
    ({"ops": [["/", 0, 0]]}, "ops[0][0]", "operation '/'"),
    ({"ops": [["+", 0, 0], ["+", 1, "0"]]}, "ops[1][2]", "gate x2 has operand '0'"),
    ({"ops": [["+", 0, True]]}, "ops[0][2]", "gate x1 has operand True"),
    ({"ops": [["+", 0, 1.0]]}, "ops[0][2]", "gate x1 has operand 1.0"),
    ({"ops": [["*", -1, 0]]}, "ops[0][1]", "gate x1 uses x-1, a negative gate number"),
    ({"constant": "1/0", "ops": []}, "constant", "zero denominator"),
    ({"constant": 0.5, "ops": []}, "constant", "is a float"),
]


@pytest.mark.parametrize("doc, path, problem", BAD_JSON)
def test_json_errors_name_file_path_and_gate(doc, path, problem):
    with pytest.raises(BitpropInputError) as info:
        Program.from_json(doc, "p.json")
    assert info.value.file == "p.json"
    assert info.value.path == path
    assert problem in info.value.problem


def test_operand_not_computed_yet_message():
    ops = [["+", 0, 0]] * 12 + [["*", 3, 15]]
    with pytest.raises(BitpropInputError) as info:
        Program.from_json({"ops": ops}, "p.json")
    assert str(info.value) == ("p.json: ops[12][2]: gate x13 uses x15, which is not computed "
                               "yet (operands must be < 13)")


# --- text form -------------------------------------------------------------------------------

def test_text_form_round_trip_comments_and_constant():
    text = """
    # a comment line
    x0 = 1/2        # the constant
    x1 = x0 + x0

    x2=x1*x1
    x3 = x2 - x0
    """
    program = Program.from_text(text)
    assert program == Program([("+", 0, 0), ("*", 1, 1), ("-", 2, 0)], Fraction(1, 2))
    assert Program.from_text(program.to_text()) == program
    assert Program.from_text("x1 = x0 + x0\n").constant == 1
    assert Program.from_text("") == Program()


BAD_TEXT = [
    ("x1 = x0 + x0\nx3 = x1 * x1\n", "line 2", "gate x3 found where x2 was expected"),
    ("x1 = x0 + x0\nx2 = x1 * x2\n", "line 2", "gate x2 uses x2, which is not computed yet"),
    ("x1 = x0 / x0\n", "line 1", "is not a gate"),
    ("\n\nx1 = x0 + x0 + x0\n", "line 3", "is not a gate"),
    ("x1 = x0 + x0\nx0 = 2\n", "line 2", "before the first gate"),
    ("x0 = 1/0\n", "line 1", "zero denominator"),
    ("y1 = x0 + x0\n", "line 1", "is not a gate"),
    ("x1 = x0 + x" + "9" * 5000 + "\n", "line 1", "is not a gate"),
]


@pytest.mark.parametrize("text, path, problem", BAD_TEXT)
def test_text_errors_name_the_line(text, path, problem):
    with pytest.raises(BitpropInputError) as info:
        Program.from_text(text, "p.slp")
    assert (info.value.file, info.value.path) == ("p.slp", path)
    assert problem in info.value.problem


# --- files -----------------------------------------------------------------------------------

def test_save_load_both_forms_detected_by_content(tmp_path):
    program = Program([("+", 0, 0), ("*", 1, 1), ("-", 2, 0)], Fraction(-3, 7))
    for name in ("p.json", "p.slp", "p.txt", "p.any"):
        program.save(tmp_path / name)
        assert Program.load(str(tmp_path / name)) == program
    assert (tmp_path / "p.slp").read_text().startswith("x0 = -3/7\n")
    assert json.loads((tmp_path / "p.any").read_text())["constant"] == "-3/7"


def test_load_errors(tmp_path):
    with pytest.raises(BitpropInputError, match="no such file"):
        Program.load(str(tmp_path / "missing.json"))
    (tmp_path / "bad.json").write_text('{"ops": [')
    with pytest.raises(BitpropInputError, match=r"bad.json: not valid JSON"):
        Program.load(str(tmp_path / "bad.json"))


@settings(max_examples=40, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(0, 40),
       st.builds(Fraction, st.integers(-10 ** 9, 10 ** 9), st.integers(1, 10 ** 6)))
def test_random_programs_round_trip(rng, n, constant):
    program = Program(random_ops(rng, n), constant)
    assert Program.from_json(json.loads(json.dumps(program.to_json()))) == program
    assert Program.parse(program.to_text()) == program
