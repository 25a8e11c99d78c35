"""The command line: bitprop slp eval, bitprop slp bnslp, bitprop gadget."""

import io
import json
from fractions import Fraction

import pytest

from bitprop.cli import run
from bitprop.slp import Program, factorial, negated, tower_minus_one
from reference.slp import gate_values


@pytest.fixture
def files(tmp_path):
    """A few programs on disk, JSON and text form."""
    paths = {"fact.json": factorial(10), "neg.slp": negated(tower_minus_one(5)),
             "third.json": Program([("+", 0, 0), ("*", 1, 1)], Fraction(1, 3))}
    for name, program in paths.items():
        program.save(tmp_path / name)
    return {name: str(tmp_path / name) for name in paths} | {"dir": tmp_path}


def run_json(capsys, *args):
    assert run([*args, "--json"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1                 # exactly one JSON object
    return json.loads(out)


def assert_error(capsys, args, status, *fragments):
    assert run(args) == status
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("bitprop: error: ") and captured.err.count("\n") == 1
    for fragment in fragments:
        assert fragment in captured.err


# --- slp eval ------------------------------------------------------------------------------

def test_eval_json_keys(files, capsys):
    doc = run_json(capsys, "slp", "eval", files["fact.json"])
    assert doc["value"] == "3628800" and doc["sign"] == 1 and doc["bit"] is None
    assert doc["bit_length"] == (3628800).bit_length() + 1
    doc = run_json(capsys, "slp", "eval", files["neg.slp"], "--bit", "31", "--sign")
    assert doc["value"] == str(-(2 ** 32 - 1)) and doc["sign"] == -1 and doc["bit"] == 1
    doc = run_json(capsys, "slp", "eval", files["third.json"], "--no-value")
    assert doc["value"] is None and doc["sign"] == 1 and doc["bit_length"] == 3 + 4   # 4/9


def test_eval_text_output(files, capsys):
    assert run(["slp", "eval", files["fact.json"]]) == 0
    assert capsys.readouterr().out == "x18 = 3628800\nsign: 1\nbit_length: 23\n"
    assert run(["slp", "eval", files["neg.slp"], "--sign", "--bit", "40"]) == 0
    assert capsys.readouterr().out == "sign: -1\nbit 40: 0\n"
    assert run(["slp", "eval", files["third.json"], "--no-value"]) == 0
    assert capsys.readouterr().out == "sign: 1\nbit_length: 7\n"


def test_eval_reads_stdin_in_both_forms(monkeypatch, capsys):
    for text in ("x1 = x0 + x0\nx2 = x1 * x1\n", '{"ops": [["+", 0, 0], ["*", 1, 1]]}'):
        monkeypatch.setattr("sys.stdin", io.StringIO(text))
        assert run_json(capsys, "slp", "eval", "-")["value"] == "4"


def test_eval_huge_output_without_its_value(tmp_path, capsys):
    tower_minus_one(20).save(tmp_path / "t.json")
    doc = run_json(capsys, "slp", "eval", str(tmp_path / "t.json"), "--no-value", "--bit",
                   "1048575")
    assert doc == {**doc, "value": None, "sign": 1, "bit": 1, "bit_length": 2 ** 20 + 1}


def test_eval_max_bits_exits_1(files, capsys):
    assert_error(capsys, ["slp", "eval", files["fact.json"], "--max-bits", "10"], 1,
                 "over the limit of 10")


def test_eval_has_a_default_bit_limit_and_a_time_budget(tmp_path, capsys):
    """Repeated squaring doubles the bits at every gate: without a limit, 80 squarings run
    until memory is gone. The default limit stops them (here checked on the option itself
    and, scaled down, on the evaluator); --time-budget stops a long evaluation."""
    from bitprop.cli.slp_commands import DEFAULT_MAX_BITS, eval_command
    option = next(p for p in eval_command.params if p.name == "max_bits")
    assert option.default == DEFAULT_MAX_BITS == 2 ** 30
    huge = tmp_path / "tower80.slp"
    tower_minus_one(80).save(huge)
    assert_error(capsys, ["slp", "eval", str(huge), "--max-bits", str(2 ** 16)], 1,
                 "over the limit of 65536")
    assert_error(capsys, ["slp", "eval", str(huge), "--max-bits", str(2 ** 40),
                          "--time-budget", "0.01"], 1, "time budget of 0.01 s")


def test_eval_bad_files_exit_2_with_one_line(tmp_path, files, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"ops": [["+", 0, 0], ["*", 1, 5]]}')
    assert_error(capsys, ["slp", "eval", str(bad)], 2,
                 f"{bad}: ops[1][2]: gate x2 uses x5, which is not computed yet")
    text = tmp_path / "bad.slp"
    text.write_text("x1 = x0 + x0\n# fine\nx2 = x1 ** x1\n")
    assert_error(capsys, ["slp", "eval", str(text)], 2, f"{text}: line 3: ")
    assert_error(capsys, ["slp", "eval", str(tmp_path / "nope.json")], 2, "no such file")
    assert_error(capsys, ["slp", "eval", files["third.json"], "--bit", "0"], 2,
                 f"{files['third.json']}: bit: ", "not an integer")
    assert_error(capsys, ["slp", "eval", files["fact.json"], "--bit", "-1"], 2, "--bit")


# --- slp bnslp -----------------------------------------------------------------------------

def test_bnslp_writes_a_bounded_norm_program(files, capsys):
    out = files["dir"] / "bn.json"
    doc = run_json(capsys, "slp", "bnslp", files["fact.json"], "-o", str(out))
    bn = Program.load(str(out))
    assert doc["length"] == len(bn) and isinstance(doc["e"], str)
    values = gate_values(bn.ops, bn.constant)
    assert bn.constant == Fraction(1, 2) and all(abs(v) <= 1 for v in values)
    assert values[-1] == Fraction(3628800, 2 ** int(doc["e"]))
    assert run(["slp", "bnslp", files["neg.slp"], "-o", str(files["dir"] / "bn.slp")]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {files['dir'] / 'bn.slp'}: ")
    assert Program.load(str(files["dir"] / "bn.slp")).constant == Fraction(1, 2)


def test_bnslp_rejects_rational_constants(files, capsys):
    assert_error(capsys, ["slp", "bnslp", files["third.json"], "-o", str(files["dir"] / "x")],
                 2, f"{files['third.json']}: constant: Lemma A.5")


# --- gadget --------------------------------------------------------------------------------

def test_gadget(capsys):
    assert run_json(capsys, "gadget", "--sigma", "z^2")["lambdas"] == ["1/2", "0", "0"]
    doc = run_json(capsys, "gadget", "--sigma", '["0", "0", "0", "1"]')
    assert doc["lambdas"] == ["-11/36", "1/2", "-1/4", "1/18"] and doc["degree"] == 3
    assert run(["gadget", "--sigma", "3/2*z^3 - z + 1/5"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("sigma(z) = 3/2*z^3 - z + 1/5\nlambda_0 = ")
    assert out.count("lambda_") == 4


def test_gadget_errors(capsys):
    assert_error(capsys, ["gadget", "--sigma", "z"], 2, "--sigma: ", "linear sigma cannot")
    assert_error(capsys, ["gadget", "--sigma", "z^^2"], 2,
                 "--sigma: 'z^^2': unexpected '^' at column 3")
    assert_error(capsys, ["gadget"], 2, "--sigma")
