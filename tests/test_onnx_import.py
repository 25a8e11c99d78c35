"""ONNX import (Network.from_onnx, bitprop import) on models made with onnx.helper: outputs
against onnx's own reference evaluator in float64, on dyadic weights and inputs where every
float64 operation is exact; gradients against the Fraction reference; refusals named."""

import json
from fractions import Fraction

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bitprop
from reference import evaluator as reference

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402


def _dyadic(rng, shape, scale=4):
    """Multiples of 1/scale in [-2, 2]: products and sums of a few stay exact in float64."""
    return (rng.integers(-2 * scale, 2 * scale + 1, size=shape) / scale).astype(numpy.float64)


def _model(nodes, initializers, input_shape, output_name="y", dtype=TensorProto.DOUBLE):
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", dtype, [None, *input_shape])],
        [helper.make_tensor_value_info(output_name, dtype, None)],
        [numpy_helper.from_array(value, name) for name, value in initializers.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _cnn(rng, dtype=numpy.float64):
    """Conv(pad 1) -> Relu -> MaxPool 2 -> Conv -> LeakyRelu -> AveragePool -> Flatten ->
    Gemm -> Relu -> MatMul, with a skip connection Add around the second Relu's input."""
    weights = {"c1.w": _dyadic(rng, (2, 1, 3, 3)), "c1.b": _dyadic(rng, (2,)),
               "c2.w": _dyadic(rng, (3, 2, 2, 2)),
               "fc.w": _dyadic(rng, (4, 3)), "fc.b": _dyadic(rng, (4,)),
               "out.w": _dyadic(rng, (4, 2))}
    weights = {k: v.astype(dtype) for k, v in weights.items()}
    nodes = [
        helper.make_node("Conv", ["x", "c1.w", "c1.b"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "c2.w"], ["c2"]),
        helper.make_node("LeakyRelu", ["c2"], ["r2"], alpha=0.25),
        helper.make_node("AveragePool", ["r2"], ["p2"], kernel_shape=[2, 2]),
        helper.make_node("Flatten", ["p2"], ["f"]),
        helper.make_node("Dropout", ["f"], ["d"]),
        helper.make_node("Gemm", ["d", "fc.w", "fc.b"], ["g"], transB=1),
        helper.make_node("Identity", ["g"], ["i"]),
        helper.make_node("Add", ["i", "g"], ["s"]),
        helper.make_node("Relu", ["s"], ["r3"]),
        helper.make_node("MatMul", ["r3", "out.w"], ["y"]),
    ]
    return _model(nodes, weights, (1, 6, 6))


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10 ** 6))
def test_outputs_equal_onnx_reference_evaluator(seed):
    rng = numpy.random.default_rng(seed)
    model = _cnn(rng)
    net = bitprop.Network.from_onnx(model)
    x = _dyadic(rng, (3, 1, 6, 6), scale=2)
    (expected,) = ReferenceEvaluator(model).run(None, {"x": x})
    got = net.forward(bitprop.Dataset.from_numpy(x)).outputs
    assert [row.tolist() for row in got] == [[Fraction(v) for v in row] for row in expected]


def test_gradients_equal_reference_and_parameters_are_the_initializers():
    rng = numpy.random.default_rng(7)
    net = bitprop.Network.from_onnx(_cnn(rng, numpy.float32))
    data = bitprop.Dataset.from_numpy(_dyadic(rng, (2, 1, 6, 6)), _dyadic(rng, (2, 2)))
    result = net.grad(data, kernel="scalar")
    document, dataset = net.to_json(), data.to_json()
    assert result.parameters == reference.parameter_gradients(document, dataset)
    assert result.loss == reference.total_loss(document, dataset)
    names = {name.split("[")[0] for name in net.parameters if not name.endswith(".zero")}
    assert names == {"c1.w", "c1.b", "c2.w", "fc.w", "fc.b", "out.w"}
    assert net.parameters["c1.w[1,0,2,1]"] == Fraction(float(
        numpy_helper.to_array(_cnn(numpy.random.default_rng(7), numpy.float32).graph
                              .initializer[0])[1, 0, 2, 1]))


def test_float32_initializers_are_exact():
    w = numpy.array([[0.1, -1 / 3]], numpy.float32)
    model = _model([helper.make_node("MatMul", ["x", "w"], ["y"])], {"w": w.T.copy()}, (2,),
                   dtype=TensorProto.FLOAT)
    net = bitprop.Network.from_onnx(model)
    assert net.parameters == {"w[0,0]": Fraction(float(w[0, 0])), "w[1,0]": Fraction(
        float(w[0, 1])), "y.zero": 0}         # the MatMul has no bias: a frozen zero
    assert net.parameters["w[0,0]"] == Fraction(13421773, 134217728)


def test_relu_read_twice_is_a_layer_of_its_own():
    rng = numpy.random.default_rng(1)
    nodes = [helper.make_node("Gemm", ["x", "w"], ["g"]),
             helper.make_node("Relu", ["g"], ["r"]),
             helper.make_node("Add", ["r", "g"], ["y"])]
    model = _model(nodes, {"w": _dyadic(rng, (3, 3))}, (3,))
    net = bitprop.Network.from_onnx(model)
    x = _dyadic(rng, (4, 3))
    (expected,) = ReferenceEvaluator(model).run(None, {"x": x})
    assert [r.tolist() for r in net.forward(bitprop.Dataset.from_numpy(x)).outputs] == \
        [[Fraction(v) for v in row] for row in expected]


def test_elementwise_ops_prelu_reshape_and_batch_norm():
    """Sub, Mul, Div and Add by constants, PRelu, Reshape and a BatchNormalization whose
    sqrt(var + epsilon) is rational, against onnx's evaluator."""
    rng = numpy.random.default_rng(5)
    constants = {"c": _dyadic(rng, (1, 2, 1, 1)), "m": _dyadic(rng, (2, 1, 1)),
                 "d": numpy.array([2.0, -4.0]).reshape(2, 1, 1), "a": _dyadic(rng, (2, 3, 3)),
                 "slope": numpy.array([0.25, -0.5]).reshape(2, 1, 1),
                 "scale": _dyadic(rng, (2,)), "bias": _dyadic(rng, (2,)),
                 "mean": _dyadic(rng, (2,)), "var": numpy.array([0.25, 4.0]),
                 "shape": numpy.array([-1, 18], numpy.int64), "w": _dyadic(rng, (18, 2))}
    nodes = [helper.make_node("Sub", ["x", "c"], ["s1"]),
             helper.make_node("Sub", ["c", "s1"], ["s2"]),
             helper.make_node("Mul", ["m", "s2"], ["m1"]),
             helper.make_node("Div", ["m1", "d"], ["d1"]),
             helper.make_node("Add", ["d1", "a"], ["a1"]),
             helper.make_node("PRelu", ["a1", "slope"], ["p1"]),
             helper.make_node("BatchNormalization", ["p1", "scale", "bias", "mean", "var"],
                              ["b1"], epsilon=0.0),
             helper.make_node("Reshape", ["b1", "shape"], ["r"]),
             helper.make_node("MatMul", ["r", "w"], ["y"])]
    model = _model(nodes, constants, (2, 3, 3))
    net = bitprop.Network.from_onnx(model)
    x = _dyadic(rng, (3, 2, 3, 3))
    (expected,) = ReferenceEvaluator(model).run(None, {"x": x})
    assert [r.tolist() for r in net.forward(bitprop.Dataset.from_numpy(x)).outputs] == \
        [[Fraction(v) for v in row] for row in expected]
    assert "a[1,2,0]" in net.parameters and net.parameter_trainable["a[1,2,0]"]
    assert not any(name.startswith(("c[", "m[", "d[")) for name in net.parameters)


@pytest.mark.parametrize("node, initializers, message", [
    (helper.make_node("Softmax", ["x"], ["y"]), {},
     "node 0 (Softmax 'bad'): op Softmax is not supported"),
    (helper.make_node("Gemm", ["x", "w"], ["y"], alpha=0.5), {"w": numpy.ones((2, 2))},
     "node 0 (Gemm 'bad'): attribute alpha = 0.5 is not supported (only 1.0)"),
    (helper.make_node("Gemm", ["x", "x"], ["y"]), {},
     "node 0 (Gemm 'bad'): B 'x' must be an initializer"),
    (helper.make_node("Div", ["x", "c"], ["y"]), {"c": numpy.array([1.0, 0.0])},
     "node 0 (Div 'bad'): division by zero in 'c'"),
    (helper.make_node("Reshape", ["x", "s"], ["y"]), {"s": numpy.array([-1, 1, 2])},
     "node 0 (Reshape 'bad'): a Reshape to [-1, 1, 2] is not read"),
    (helper.make_node("BatchNormalization", ["x", "o", "o", "o", "o"], ["y"]),
     {"o": numpy.ones(2)}, "node 0 (BatchNormalization 'bad'): sqrt(var + epsilon) of channel "
                           "0 is irrational"),
])
def test_unsupported_nodes_are_named(node, initializers, message):
    node.name = "bad"
    with pytest.raises(bitprop.BitpropInputError) as error:
        bitprop.Network.from_onnx(_model([node], initializers, (2,)), file="m.onnx")
    assert str(error.value).startswith("m.onnx: " + message)


def test_cli_import_then_grad(tmp_path, capsys):
    from bitprop.cli import run
    rng = numpy.random.default_rng(3)
    onnx.save(_cnn(rng), str(tmp_path / "m.onnx"))
    assert run(["import", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "net.json"),
                "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["inputs"] == 36 and summary["outputs"] == 2
    numpy.savez(tmp_path / "d.npz", x=_dyadic(rng, (2, 1, 6, 6)), y=_dyadic(rng, (2, 2)))
    assert run(["grad", str(tmp_path / "net.json"), str(tmp_path / "d.npz"), "--json"]) == 0
    assert "c2.w[2,1,1,0]" in json.loads(capsys.readouterr().out)["parameters"]
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    assert run(["import", str(tmp_path / "bad.onnx"), "-o", str(tmp_path / "n.json")]) == 2
    assert "bad.onnx: not an ONNX model" in capsys.readouterr().err
