"""Gradients shaped like the model (bitprop.tensors, GradResult.tensors, grad --json's
``tensors``): every entry equals the flat per-parameter gradient, shapes are the layers',
frozen constants are left out."""

import json
from fractions import Fraction

import numpy
import pytest

import bitprop
from bitprop.cli import run
from bitprop.tensors import nested, parse_name, tensors


def _model():
    b = bitprop.Builder((1, 5, 5), seed=2)
    b.conv2d(2, 3, padding=1, name="conv1").max_pool(2).flatten().dense(3, name="fc")
    return b.network()


def _data(network, samples=2):
    rng = numpy.random.default_rng(5)
    return bitprop.Dataset.from_numpy(
        rng.uniform(-1, 1, (samples, network.num_inputs)).astype(numpy.float32),
        rng.uniform(-1, 1, (samples, network.num_outputs)).astype(numpy.float32))


def _entries(value, index=()):
    """(index, entry) of nested lists, row-major."""
    if not isinstance(value, list):
        yield index, value
        return
    for i, item in enumerate(value):
        yield from _entries(item, index + (i,))


def test_builder_model_tensors_equal_the_flat_parameters():
    network = _model()
    result = network.grad(_data(network))
    assert list(result.tensors) == ["conv1.weight", "conv1.bias", "fc.weight", "fc.bias"]
    assert numpy.array(result.tensors["conv1.weight"], dtype=object).shape == (2, 1, 3, 3)
    assert numpy.array(result.tensors["fc.weight"], dtype=object).shape == (3, 8)
    seen = set()
    for name, value in result.tensors.items():
        for index, q in _entries(value):
            parameter = f"{name}[{','.join(map(str, index))}]"
            assert q == result.parameters[parameter]
            seen.add(parameter)
    assert set(result.parameters) == seen       # frozen zeros are constants: not reported
    as_text = result.converted("str")
    assert as_text.tensors["fc.bias"] == [bitprop.to_str(q) for q in result.tensors["fc.bias"]]


def test_layout_rules():
    assert parse_name("conv1.weight[0,2,1,1]") == ("conv1.weight", (0, 2, 1, 1))
    assert parse_name("b[]") == ("b", ())
    assert parse_name("k") == ("k", None) and parse_name("a[x]") == ("a[x]", None)
    assert nested([1, 2, 3, 4, 5, 6], (2, 3)) == [[1, 2, 3], [4, 5, 6]]
    assert nested([7], ()) == 7
    parameters = {"k": 1, "zero": {"value": 0, "trainable": False}, "a[0]": 1, "a[2]": 1,
                  "m[0,0]": 1, "m[0,1]": 1, "m[1,0]": 1, "m[1,1]": 1, "s[]": 1}
    edges = [("x", "o", {"param": name}) for name in parameters if name != "zero"]
    edges.append(("x", "o", 1, {"param": "zero"}))
    network = bitprop.Network(["x", ("o", "identity")], edges, ["x"], ["o"],
                              parameters=parameters)
    layout = {t.name: (t.shape, t.entries) for t in tensors(network)}
    # a[1] is missing: a is no tensor; the frozen, unindexed zero is left out
    assert layout == {"k": ((), ("k",)),
                      "m": ((2, 2), ("m[0,0]", "m[0,1]", "m[1,0]", "m[1,1]")),
                      "s": ((), ("s[]",))}
    result = network.grad(bitprop.Dataset([[2]], [[0]]))
    assert result.tensors["m"] == [[result.parameters["m[0,0]"]] * 2] * 2
    assert result.tensors["k"] == result.parameters["k"] == Fraction(72)   # 2 * (9 * 2 - 0) * x


def test_a_network_without_shared_parameters_has_no_tensors(tmp_path, capsys):
    net = bitprop.Network(["x", ("h", "relu"), ("o", "identity")],
                          [("x", "h", 2, -1), ("h", "o", 3, 0)], ["x"], ["o"])
    assert net.grad(bitprop.Dataset([["3/2"]], [[1]])).tensors == {}
    net.save(tmp_path / "net.json")
    bitprop.Dataset([["3/2"]], [[1]]).save(tmp_path / "data.json")
    assert run(["grad", str(tmp_path / "net.json"), str(tmp_path / "data.json"), "--json"]) == 0
    assert "tensors" not in json.loads(capsys.readouterr().out)


def test_grad_json_carries_the_tensors(tmp_path, capsys):
    network = _model()
    data = _data(network)
    network.save(tmp_path / "net.json")
    numpy.savez(tmp_path / "data.npz", x=numpy.array([[float(q) for q in row] for row in
                                                      data.inputs], numpy.float32),
                y=numpy.array([[float(q) for q in row] for row in data.labels], numpy.float32))
    assert run(["grad", str(tmp_path / "net.json"), str(tmp_path / "data.npz"), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    expected = network.grad(data).converted("str")
    assert document["tensors"] == expected.tensors
    assert document["tensors"]["conv1.bias"] == [document["parameters"]["conv1.bias[0]"],
                                                 document["parameters"]["conv1.bias[1]"]]


def test_onnx_initializers_come_back_in_their_shape():
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    rng = numpy.random.default_rng(0)
    weights = {"w1": rng.standard_normal((3, 4)).astype(numpy.float32),
               "b1": rng.standard_normal((3,)).astype(numpy.float32),
               "w2": rng.standard_normal((3, 2)).astype(numpy.float32)}
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w1", "b1"], ["g"], transB=1),
         helper.make_node("Relu", ["g"], ["r"]), helper.make_node("MatMul", ["r", "w2"], ["y"])],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(value, name) for name, value in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    network = bitprop.Network.from_onnx(model.SerializeToString())
    result = network.grad(bitprop.Dataset.from_numpy(
        rng.standard_normal((2, 4)).astype(numpy.float32),
        rng.standard_normal((2, 2)).astype(numpy.float32)))
    assert {name: numpy.array(value, dtype=object).shape
            for name, value in result.tensors.items()} == {"w1": (3, 4), "b1": (3,), "w2": (3, 2)}
    assert result.tensors["w2"][2][1] == result.parameters["w2[2,1]"]
