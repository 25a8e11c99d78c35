"""What the commands share: ``emit_json`` prints exactly ``json.dumps(jsonable(result))``,
with the gradients' text spliced in from FLINT."""

import io
import json
import sys
from fractions import Fraction

import pytest

import bitprop
from bitprop import _json
from bitprop.cli.common import emit_json, json_pieces, jsonable


def _grad_document(threads=None):
    net = bitprop.Network.mlp([2, 3, 2], "relu",
                              weights=[[[1, "-1/2"], [2, 3], ["1/3", 0]],
                                       [[1, 1, -1], ["2/9", -4, "5/3"]]],
                              biases=[[0, "1/4", 0], [0, "-1/2"]])
    data = bitprop.Dataset([[1, 2], [3, -1], ["1/5", 7]], [[Fraction(1, 2), 0], [2, 1], [0, 0]])
    result = net.grad(data, threads=threads)
    return {"loss": result.loss, "grad": result.grad, "bits": result.bits.to_json(True),
            "timing": {"load": 0.25, **result.timing}}


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("blocks", [False, True])
def test_pieces_are_json_dumps_of_jsonable(threads, blocks, monkeypatch):
    if blocks:                          # gradients cut into blocks even when small
        monkeypatch.setattr(_json, "THREADED_BYTES", 0)
    document = _grad_document()
    assert b"".join(json_pieces(document, threads)).decode() == json.dumps(jsonable(document))


@pytest.mark.parametrize("value", [
    {}, [], "text", 3, 2.5, None, True, {"a": [Fraction(1, 3), {"b": Fraction(-2)}]},
    {1: "int key", "nested": {"x": [1.0, float("inf")]}}, [bitprop.to_str(Fraction(7, 3))],
])
def test_pieces_of_plain_values(value):
    assert b"".join(json_pieces(value)).decode() == json.dumps(jsonable(value))


def test_emit_json_writes_one_line(capsys):
    document = _grad_document()
    emit_json(document)
    assert capsys.readouterr().out == json.dumps(jsonable(document)) + "\n"


def test_emit_json_to_a_text_stream(monkeypatch):
    document = _grad_document()
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    emit_json(document)
    assert sys.stdout.getvalue() == json.dumps(jsonable(document)) + "\n"
