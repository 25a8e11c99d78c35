"""The documentation runs: the README's Python example, the ``>>>`` examples in the public
API's docstrings, and the example documents of docs/formats.md.

A docstring example may use ``bitprop`` and ``Fraction`` without importing them, and writes
its files into the current directory, which is a fresh temporary one here.
"""

import doctest
import json
import re
from fractions import Fraction
from pathlib import Path

import pytest

import bitprop
from bitprop import (activations, api, arrays, balls, builders, certify, certify_network,
                     dataset, floatpass, losses, network, numbers, tensors)

ROOT = Path(__file__).resolve().parent.parent
OPTIONS = doctest.NORMALIZE_WHITESPACE
MODULES = [network, dataset, api, numbers, activations, losses, builders, arrays, balls, certify,
           certify_network, floatpass, tensors]

#: Every public name (bitprop.__all__) and method that must show an example, by the
#: qualified name doctest gives its docstring.
MUST_HAVE_EXAMPLES = [
    "bitprop.network.Network", "bitprop.network.Network.mlp", "bitprop.network.Network.load",
    "bitprop.network.Network.save", "bitprop.network.Network.from_json",
    "bitprop.network.Network.to_json", "bitprop.network.Network.forward",
    "bitprop.network.Network.grad", "bitprop.network.Network.step",
    "bitprop.dataset.Dataset", "bitprop.dataset.Dataset.__init__",
    "bitprop.dataset.Dataset.load",
    "bitprop.api.forward", "bitprop.api.grad", "bitprop.api.step",
    "bitprop.numbers.rational", "bitprop.numbers.bit_length", "bitprop.numbers.to_str",
    "bitprop.activations.Activation", "bitprop.losses.Loss", "bitprop.builders.Builder",
    "bitprop.arrays.exact_array", "bitprop.dataset.Dataset.from_numpy",
    "bitprop.balls.ball_forward", "bitprop.balls.ball_grad",
    "bitprop.certify.Ball", "bitprop.certify.certify_slp", "bitprop.certify.escalate",
    "bitprop.certify_network.certify_forward", "bitprop.certify_network.certify_grad",
    "bitprop.certify_network.certify_solve", "bitprop.floatpass.float_grad",
    "bitprop.tensors.Tensor",
]


def _blocks(path, language):
    """The fenced code blocks of ``language`` in a Markdown file, in order."""
    text = path.read_text(encoding="utf-8")
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def _run_examples(text, name, globs):
    """Run the ``>>>`` examples in ``text``; fail with doctest's report of any failure."""
    test = doctest.DocTestParser().get_doctest(text, dict(globs), name, name, 0)
    assert test.examples, f"{name}: no >>> examples"
    runner = doctest.DocTestRunner(optionflags=OPTIONS)
    report = []
    runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)
    return len(test.examples)


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_readme_python_example(in_tmp):
    """The README's Python blocks are doctests: they fail if the code breaks or a shown
    result is wrong."""
    blocks = _blocks(ROOT / "README.md", "python")
    assert blocks, "README.md has no ```python block"
    for i, block in enumerate(blocks):
        assert ">>>" in block, f"README.md python block {i} is not in >>> form"
        _run_examples(block, f"README.md python block {i}", {})


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_docstring_examples(module, in_tmp):
    results = doctest.testmod(module, optionflags=OPTIONS, report=False,
                              extraglobs={"bitprop": bitprop, "Fraction": Fraction})
    assert results.failed == 0, f"{results.failed} of {results.attempted} examples failed " \
                                f"in {module.__name__} (run it verbosely to see which)"


def test_every_public_name_has_an_example():
    found = {}
    for module in MODULES:
        for test in doctest.DocTestFinder().find(module):
            found[test.name] = len(test.examples)
    missing = [name for name in MUST_HAVE_EXAMPLES if not found.get(name)]
    assert not missing, f"no >>> example in the docstring of {', '.join(missing)}"
    public = {name for name in bitprop.__all__ if not name[0].isupper() or name in
              ("Network", "Dataset", "Activation", "Loss", "Builder")}
    covered = {name.rsplit(".", 1)[-1] for name in MUST_HAVE_EXAMPLES}
    assert public <= covered, f"public names without a required example: {public - covered}"


# --- docs/formats.md -----------------------------------------------------------------------

READERS = {
    "bitprop.network/1": lambda doc: bitprop.Network.from_json(doc),
    "bitprop.dataset/1": lambda doc: bitprop.Dataset.from_json(doc),
    "bitprop.slp/1": lambda doc: __import__("bitprop.slp", fromlist=["Program"]).Program
    .from_json(doc),
    "bitprop.instance/1": lambda doc: __import__("bitprop.instance", fromlist=["Instance"])
    .Instance.from_json(doc),
}


def test_formats_json_examples_are_read():
    """Every JSON example of docs/formats.md that names its format is read by that reader;
    the activation table example is read as a network's table."""
    read = 0
    for block in _blocks(ROOT / "docs" / "formats.md", "json"):
        document = json.loads(block)
        if "format" in document:
            READERS[document["format"]](document)
        else:
            assert set(document) == {"activations"}, block
            activations.parse_table(document["activations"])
        read += 1
    assert read >= 7


def test_formats_slp_text_example_is_the_json_example():
    from bitprop.slp import Program
    texts = _blocks(ROOT / "docs" / "formats.md", "text")
    programs = [json.loads(b) for b in _blocks(ROOT / "docs" / "formats.md", "json")
                if '"bitprop.slp/1"' in b]
    assert len(texts) == 1 and len(programs) == 1
    assert Program.from_text(texts[0]) == Program.from_json(programs[0])


def test_formats_grad_example(in_tmp, capsys):
    """The `bitprop grad` example of docs/formats.md prints what the page shows."""
    from bitprop.cli import run
    documents = [json.loads(b) for b in _blocks(ROOT / "docs" / "formats.md", "json")]
    net = next(d for d in documents if d.get("format") == "bitprop.network/1"
               and d["outputs"] == ["o"])
    data = next(d for d in documents if d.get("format") == "bitprop.dataset/1"
                and d["samples"] == [{"x": ["3/2"], "y": ["1"]}])
    (in_tmp / "net.json").write_text(json.dumps(net))
    (in_tmp / "data.json").write_text(json.dumps(data))
    assert run(["grad", "net.json", "data.json", "--json", "--threads", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["loss"], out["grad"]) == ("25", {"weight": ["45", "20"], "bias": ["30", "10"]})
    assert {k: out["bits"][k] for k in ("max", "max_value", "max_adjoint", "max_grad")} == \
        {"max": 4, "max_value": 4, "max_adjoint": 6, "max_grad": 7}
    assert set(out["timing"]) == {"load", "compile", "forward", "backward"}
