"""Property-based fuzzing of every reader and of the kernels (hypothesis).

Readers get random JSON values in every position and mutated valid documents (keys dropped,
renamed or added, values retyped, numbers replaced by random strings); the only exception
they may raise is BitpropInputError, and through the command line every refusal is one line
with exit status 2. The kernels get random valid networks (tests/strategies.py) and random
programs; they may only stop with BitLimitError. Exactness is tests/test_evaluation.py's job.

The default run is quick. ``BITPROP_FUZZ_EXAMPLES=N`` runs N examples per test instead (a long
run); ``BITPROP_FUZZ_REPORT=path`` writes how many examples each test ran, as JSON.
"""

import contextlib
import copy
import io
import json
import os
import re
from collections import Counter
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bitprop import BitLimitError, BitpropInputError, Dataset, Network
from bitprop.activations import from_spec
from bitprop.cli import run
from bitprop.jsonfiles import parse_json_text, read_text
from bitprop.losses import parse_loss
from bitprop.numbers import rational, to_str
from bitprop.slp import Program, evaluate, parse_polynomial
from strategies import network_and_dataset

try:
    from bitprop.instance import Instance
except ImportError:                      # the instance reader is younger than these tests
    Instance = None

GOOD = Path(__file__).resolve().parent / "data" / "good"
LONG = int(os.environ.get("BITPROP_FUZZ_EXAMPLES", "0"))
RAN = Counter()


def fuzz(examples):
    """Hypothesis settings: ``examples`` by default, derandomized so that CI is repeatable;
    BITPROP_FUZZ_EXAMPLES random ones in a long run."""
    return settings(max_examples=LONG or examples, deadline=None, derandomize=not LONG,
                    database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much,
                                           HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    path = os.environ.get("BITPROP_FUZZ_REPORT")
    if path:
        Path(path).write_text(json.dumps({"per_test": dict(RAN), "total": sum(RAN.values())},
                                         indent=1) + "\n")


def _good(name):
    return json.loads((GOOD / name).read_text(encoding="utf-8"))


def _refused_or_read(read, *args, **kwargs):
    """Call a reader: it returns, or raises BitpropInputError with a non-empty message."""
    try:
        return read(*args, **kwargs)
    except BitpropInputError as err:
        assert str(err) and err.problem
        return None


# --- random values -------------------------------------------------------------------------

SPECIAL_STRINGS = ["", " ", "1/0", "--3", "-0", "+1", "0x10", "1e", "e5", ".", "1.", ".5", "1/-2",
                   "nan", "NaN", "inf", "-Infinity", "1e1000001", "1e-1000000", "1_000", "\u0661",
                   "x0", "relu", "z^2", "square", "sum", "mean", "bit", "aux", "\x00", "\ud800",
                   "a\nb", "9" * 5000, "1/" + "0" * 5000, "1e" + "9" * 30, "1e-" + "0" * 50 + "7"]

number_strings = st.one_of(
    st.sampled_from(SPECIAL_STRINGS),
    st.from_regex(r"[+-]{0,2}[0-9]{0,6}(\.[0-9]{0,4})?([eE][+-]?[0-9]{0,8})?(/[+-]?[0-9]{0,5})?",
                  fullmatch=True),
    st.text(alphabet="0123456789+-/.eE x_", max_size=16),
    st.fractions(max_denominator=10 ** 6).map(str),
)


class Huge:
    """Stands for k * 10^5000 + 1 in a drawn value until ``_real`` replaces it: hypothesis
    prints failing examples with repr(), which CPython refuses for ints over 4300 digits."""

    def __init__(self, k):
        self.k = k

    def __repr__(self):
        return f"Huge({self.k})"


def _real(value):
    """``value`` with every Huge replaced by its integer."""
    if isinstance(value, Huge):
        return value.k * 10 ** 5000 + 1
    if isinstance(value, list):
        return [_real(v) for v in value]
    if isinstance(value, dict):
        return {k: _real(v) for k, v in value.items()}
    return value


huge_ints = st.one_of(st.integers(1, 3).flatmap(lambda k: st.integers(-(10 ** (10 ** k)),
                                                                     10 ** (10 ** k))),
                      st.integers(-2, 2).map(Huge))
KEYS = ["format", "vertices", "edges", "inputs", "outputs", "activations", "name", "activation",
        "from", "to", "weight", "bias", "trainable", "kind", "coefficients", "slope", "inner",
        "bits", "mode", "clip", "backward", "breakpoints", "slopes", "intercepts", "samples",
        "x", "y", "loss", "reduction", "index", "shift", "constant", "ops", "problem", "query",
        "edge", "network", "dataset", "source", "slp", "gap", "threshold", "forcing"]


def _json_values(huge=True):
    """Random JSON values (and Huge integers, unless ``huge`` is false)."""
    scalars = st.one_of(st.none(), st.booleans(), st.integers(),
                        huge_ints if huge else st.nothing(),
                        st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                        number_strings)
    return st.recursive(scalars, lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=6)), children,
                        max_size=4)), max_leaves=12)


json_values = _json_values()
_JSON_VALUES = {True: json_values, False: _json_values(huge=False)}


def _paths(document):
    """Every (path, value) in a JSON document, iteratively; a path is a tuple of keys."""
    found, stack = [], [((), document)]
    while stack:
        path, value = stack.pop()
        found.append((path, value))
        if isinstance(value, dict):
            stack.extend((path + (key,), item) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend((path + (i,), item) for i, item in enumerate(value))
    return found


def _container(document, path):
    for key in path[:-1]:
        document = document[key]
    return document


@st.composite
def mutated(draw, document, count=st.integers(1, 3), huge=True):
    """``document`` after 1-3 random edits: drop, rename or add a key, drop or duplicate a list
    entry, put a random value (often a random number string) at any position."""
    json_values = _JSON_VALUES[huge]
    doc = _real(document)
    for _ in range(draw(count)):
        path, value = draw(st.sampled_from(_paths(doc)))
        edit = draw(st.sampled_from(["replace", "number", "drop", "rename", "add", "duplicate"]))
        if not path:                    # the root itself
            if edit in ("replace", "number"):
                doc = draw(json_values if edit == "replace" else number_strings)
            continue
        parent, key = _container(doc, path), path[-1]
        if edit == "replace":
            parent[key] = draw(json_values)
        elif edit == "number":
            parent[key] = draw(number_strings)
        elif edit == "drop":
            del parent[key]
        elif edit == "rename" and isinstance(parent, dict):
            parent[draw(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)))] = parent.pop(key)
        elif edit == "add" and isinstance(value, dict):
            value[draw(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)))] = draw(json_values)
        elif edit == "duplicate" and isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
    return doc


def _json_text(document):
    """JSON text of a drawn document, Huge integers written out (json.dumps cannot)."""
    text = json.dumps(document, default=lambda huge: f"@HUGE{huge.k}@")
    return re.sub(r'"@HUGE(-?[0-9])@"', lambda m: to_str(_real(Huge(int(m.group(1))))), text)


def _counted(name):
    RAN[name] += 1


# --- readers on random JSON values ---------------------------------------------------------

READERS = {
    "network": lambda doc: Network.from_json(doc, file="f.json"),
    "dataset": lambda doc: Dataset.from_json(doc, file="f.json"),
    "slp": lambda doc: Program.from_json(doc, "f.json"),
    "activation": lambda doc: from_spec(doc, "activation", {}),
    "loss": lambda doc: parse_loss(doc),
    "polynomial": lambda doc: parse_polynomial(doc, "--sigma"),
    "rational": lambda doc: rational(doc, "x"),
}
if Instance is not None:
    READERS["instance"] = lambda doc: Instance.from_json(doc, file="f.json")


@pytest.mark.parametrize("reader", sorted(READERS))
@fuzz(60)
@given(value=json_values)
def test_readers_take_any_json_value(reader, value):
    _counted(f"any_value[{reader}]")
    _refused_or_read(READERS[reader], _real(value))


def _network_with_dataset():
    return st.one_of(st.just((_good("network.json"), _good("dataset.json"))),
                     network_and_dataset(max_samples=2))


@fuzz(150)
@given(case=_network_with_dataset(), data=st.data())
def test_mutated_networks_and_datasets(case, data):
    _counted("mutated_network_dataset")
    network_doc, dataset_doc = case
    network_doc = _real(data.draw(mutated(network_doc)))
    dataset_doc = _real(data.draw(mutated(dataset_doc)) if data.draw(st.booleans()) else dataset_doc)
    net = _refused_or_read(Network.from_json, network_doc, file="n.json")
    dataset = _refused_or_read(Dataset.from_json, dataset_doc, file="d.json")
    if net is not None and dataset is not None:
        _refused_or_read(dataset.check_against, net)


@fuzz(100)
@given(document=mutated(_good("slp.json")))
def test_mutated_programs(document):
    _counted("mutated_slp")
    _refused_or_read(Program.from_json, _real(document), "p.json")


@pytest.mark.skipif(Instance is None, reason="no instance reader yet")
@fuzz(60)
@given(document=mutated(_good("instance.json")))
def test_mutated_instances(document):
    _counted("mutated_instance")
    _refused_or_read(Instance.from_json, _real(document), file="i.json")


# --- readers on random text and bytes ------------------------------------------------------

GATE_TOKENS = ["x0", "x1", "x2", "x3", "x12", "x", "=", " = ", "+", "-", "*", "/", " ", "#",
               "\n", "1/2", "--3", "1e5", "x0 = ", "x1 = x0 + x0", "\t", "\u0661", "\r\n", "\x00"]
POLY_TOKENS = ["z", "^", "**", "*", "+", "-", " ", "2", "3/2", "0", "1e3", "1/0", ".5", "z^2",
               "1001", "(", "x", "[", "]", ",", '"1"', "NaN", "\u00b2"]


@fuzz(150)
@given(text=st.lists(st.sampled_from(GATE_TOKENS), max_size=30).map("".join) | st.text())
def test_program_text(text):
    _counted("slp_text")
    _refused_or_read(Program.parse, text, "p.slp")


@fuzz(150)
@given(text=st.lists(st.sampled_from(POLY_TOKENS), max_size=20).map("".join) | st.text())
def test_polynomial_strings(text):
    _counted("polynomial_text")
    _refused_or_read(parse_polynomial, text, "--sigma")


@fuzz(150)
@given(text=number_strings)
def test_rational_strings(text):
    _counted("rational_text")
    value = _refused_or_read(rational, text, "x")
    assert value is None or isinstance(value, Fraction)


@fuzz(100)
@given(data=st.one_of(st.binary(max_size=64),
                      st.text(max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass")),
                      st.builds(lambda d, k: (k * "[" + d + k * "]").encode(),
                                st.text(max_size=5), st.integers(0, 3000))))
def test_json_files_of_random_bytes(data, tmp_path_factory):
    _counted("json_bytes")
    path = tmp_path_factory.getbasetemp() / "fuzz.json"
    path.write_bytes(data)

    def read():
        text, name = read_text(str(path))
        return parse_json_text(text, name)
    _refused_or_read(read)


# --- the command line: exit status 2 and one line ------------------------------------------

def _cli(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = run(argv)
    return status, err.getvalue()


@fuzz(60)
@given(document=mutated(_good("network.json")), data=st.data())
def test_cli_refuses_bad_networks_in_one_line(document, data, tmp_path_factory):
    _counted("cli_network")
    base = tmp_path_factory.getbasetemp()
    path = base / "net.json"
    path.write_text(_json_text(document), encoding="utf-8")
    command = data.draw(st.sampled_from([
        ["eval", str(path), "--input", str(GOOD / "inputs.json")],
        ["grad", str(path), str(GOOD / "dataset.json")],
        ["step", str(path), str(GOOD / "dataset.json"), "--lr", "1/8", "-o", str(base / "o.json")]]))
    status, err = _cli(command + ["--max-bits", "100000"])
    assert status in (0, 1, 2), (status, err)
    if status:
        assert err.count("\n") == 1 and err.startswith("bitprop: error: "), err


@fuzz(60)
@given(text=st.one_of(mutated(_good("slp.json")).map(lambda d: _json_text(d)),
                      st.lists(st.sampled_from(GATE_TOKENS), max_size=30).map("".join)))
def test_cli_refuses_bad_programs_in_one_line(text, tmp_path_factory):
    _counted("cli_slp")
    path = tmp_path_factory.getbasetemp() / "p.slp"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    status, err = _cli(["slp", "eval", str(path), "--max-bits", "100000"])
    assert status in (0, 1, 2), (status, err)
    if status:
        assert err.count("\n") == 1 and err.startswith("bitprop: error: "), err


# --- the kernels on random valid inputs ----------------------------------------------------

@fuzz(40)
@given(case=network_and_dataset(varied_numbers=True), threads=st.integers(1, 3),
       scale=st.sampled_from([None, Fraction(2) ** 300, Fraction(1, 3) ** 200]))
def test_kernels_on_random_networks(case, threads, scale):
    """Forward (every value kept) and grad run or stop at the bit limit; nothing else."""
    _counted("kernels")
    network_doc, dataset_doc = case
    net, data = Network.from_json(network_doc), Dataset.from_json(dataset_doc)
    if scale is not None:                           # the same DAG with very long parameters
        net = net.with_parameters(weights=[w * scale for w in net.weights])
    try:
        forward = net.forward(data, keep_all=True, threads=threads, max_bits=200_000)
        assert len(forward.outputs) == len(data)
        result = net.grad(data, threads=threads, max_bits=200_000)
        assert len(result.grad_weight) == net.num_edges
    except BitLimitError as err:
        assert err.vertex in net.names and err.bits > err.limit


@st.composite
def programs(draw, max_gates=40):
    """A random valid SLP: each gate reads two earlier gates."""
    n = draw(st.integers(0, max_gates))
    ops = [(draw(st.sampled_from("+-*")), draw(st.integers(0, i)), draw(st.integers(0, i)))
           for i in range(n)]
    constant = draw(st.one_of(st.just(Fraction(1)), st.fractions(max_denominator=100)))
    return Program(ops, constant)


@fuzz(100)
@given(program=programs(), max_bits=st.sampled_from([None, 64, 4096, 100_000]))
def test_slp_kernel_on_random_programs(program, max_bits):
    _counted("slp_kernel")
    limit = 100_000 if max_bits is None else max_bits
    try:
        value = evaluate(program, max_bits=limit)
    except BitLimitError:
        return
    assert value.sign in (-1, 0, 1) and value.bit_length >= 1
    assert Program.parse(program.to_text()) == program
