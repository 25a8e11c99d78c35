"""Datasets from numpy (Dataset.from_numpy, .npz files on the command line): exact binary
values of floats, integers as integers, shapes flattened per sample, and named errors."""

import json
from fractions import Fraction

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import bitprop
from bitprop.cli import run


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(st.sampled_from([numpy.float16, numpy.float32, numpy.float64]),
                  hnp.array_shapes(min_dims=2, max_dims=4, max_side=3),
                  elements={"allow_nan": False, "allow_infinity": False}))
def test_floats_are_their_exact_binary_values(x):
    data = bitprop.Dataset.from_numpy(x)
    assert len(data) == x.shape[0]
    for row, sample in zip(data.inputs, x):
        # float.as_integer_ratio is the double's exact value; a float16/32 widens exactly
        assert row.tolist() == [Fraction(*float(v).as_integer_ratio()) for v in sample.ravel()]


def test_integers_and_labels():
    x = numpy.array([[2 ** 70, -3]], dtype=object)
    data = bitprop.Dataset.from_numpy(numpy.array([[1, -3], [4, 5]], numpy.int64),
                                      numpy.array([7, 8], numpy.uint8), weights=[1, 3],
                                      loss="hinge", reduction="mean")
    assert [r.tolist() for r in data.labels] == [[7], [8]]
    assert data.weights == [1, 3] and data.reduction == "mean" and data.loss.kind == "hinge"
    assert bitprop.Dataset.from_numpy(x).inputs[0].tolist() == [2 ** 70, -3]


@pytest.mark.parametrize("arrays, message", [
    ({"x": numpy.array([[1.0, numpy.nan]])}, "d.npz: x[0, 1]: nan is not a finite number"),
    ({"x": numpy.ones((2, 2)), "y": numpy.array([[0], [-numpy.inf]], numpy.float32)},
     "d.npz: y[1, 0]: -inf is not a finite number"),
    ({"x": numpy.ones(3)}, "d.npz: x: has shape (3,); the first axis is the samples"),
    ({"y": numpy.ones(3)}, "d.npz: missing array 'x'"),
    ({"x": numpy.ones((1, 1)), "labels": numpy.ones(1)},
     "d.npz: labels: unknown array 'labels' (expected x, y, weight)"),
    ({"x": numpy.ones((2, 1)), "weight": numpy.ones(3)},
     "d.npz: weight: has shape (3,), expected (2,)"),
    ({"x": numpy.array([[1 + 2j]])}, "d.npz: x: an array of complex128 is not an array of"),
])
def test_bad_arrays_are_named(tmp_path, monkeypatch, arrays, message):
    monkeypatch.chdir(tmp_path)
    numpy.savez("d.npz", **arrays)
    with pytest.raises(bitprop.BitpropInputError) as error:
        bitprop.Dataset.load("d.npz")
    assert str(error.value).startswith(message)


def test_not_an_archive(tmp_path):
    (tmp_path / "d.npz").write_text("{}")
    with pytest.raises(bitprop.BitpropInputError, match="not a .npz file"):
        bitprop.Dataset.load(tmp_path / "d.npz")


def test_cli_grad_on_npz_equals_json(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    net = bitprop.Builder((1, 2, 2), seed=2).max_pool(2).flatten().dense(2, "relu").network()
    net.save("net.json")
    x = numpy.array([[[[0.5, -1.25], [3.0, 0.1]]]], numpy.float32)
    y = numpy.array([[1, 0]])
    numpy.savez("data.npz", x=x, y=y)
    bitprop.Dataset.from_numpy(x, y, loss="hinge", reduction="mean").save("data.json")
    outputs = []
    for argv in (["data.npz", "--loss", "hinge", "--reduction", "mean"], ["data.json"]):
        assert run(["grad", "net.json", *argv, "--json", "--threads", "1"]) == 0
        out = json.loads(capsys.readouterr().out)
        outputs.append((out["loss"], out["grad"], out["parameters"]))
    assert outputs[0] == outputs[1]
    assert run(["grad", "net.json", "data.json", "--loss", "hinge"]) == 2
    assert "--loss applies to a .npz DATA" in capsys.readouterr().err
