"""`bitprop compare` (bitprop.experiments.compare): its JSON keys, the error statistics
against values computed here, sign disagreements (exact 0 against a float counts), the .npz
route with a framework's arrays, the PNG, and the errors."""

import json
import math
from fractions import Fraction

import numpy
import pytest

import bitprop
from bitprop.cli import run
from bitprop.experiments import compare as compare_module

KEYS = {"format", "float", "coordinates", "relative_error", "worst", "sign_disagreements",
        "nonfinite", "loss", "tensors", "timing", "plot"}


def _model():
    b = bitprop.Builder((1, 5, 5), seed=4)
    b.conv2d(2, 3, name="conv1").flatten().dense(2, name="fc")
    return b.network()


def _files(tmp_path, samples=3):
    network = _model()
    rng = numpy.random.default_rng(9)
    x = rng.uniform(-1, 1, (samples, network.num_inputs)).astype(numpy.float32)
    y = rng.uniform(-1, 1, (samples, network.num_outputs)).astype(numpy.float32)
    network.save(tmp_path / "net.json")
    numpy.savez(tmp_path / "data.npz", x=x, y=y)
    return network, bitprop.Dataset.from_numpy(x, y)


def _compare(tmp_path, capsys, *options):
    status = run(["compare", str(tmp_path / "net.json"), str(tmp_path / "data.npz"), "--json",
                  *options])
    out = capsys.readouterr()
    assert status == 0, out.err
    return json.loads(out.out)


def test_float64_and_float32_reports(tmp_path, capsys):
    network, data = _files(tmp_path)
    exact = network.grad(data)
    for flag, median_bound in (("--float64", 1e-12), ("--float32", 1e-3)):
        document = _compare(tmp_path, capsys, flag)
        assert set(document) == KEYS
        assert document["format"] == "bitprop.compare/1"
        assert document["float"] == flag[2:]
        # conv1.weight 2x1x3x3, conv1.bias 2, fc.weight 2x18, fc.bias 2; the zeros left out
        assert document["coordinates"] == 18 + 2 + 36 + 2
        assert [(t["name"], t["shape"], t["count"]) for t in document["tensors"]] == [
            ("conv1.weight", [2, 1, 3, 3], 18), ("conv1.bias", [2], 2),
            ("fc.weight", [2, 18], 36), ("fc.bias", [2], 2)]
        errors = document["relative_error"]
        assert errors["median"] <= errors["p90"] <= errors["max"]
        assert errors["median"] < median_bound
        worst = document["worst"]
        assert len(worst) == 10 and worst[0]["relative_error"] == errors["max"]
        top = worst[0]
        assert Fraction(top["exact"]) == exact.parameters[top["name"]]
        assert top["relative_error"] == pytest.approx(
            float(abs(Fraction(top["float"]) - Fraction(top["exact"])) / abs(Fraction(top["exact"]))))
        assert document["loss"]["exact"] == bitprop.to_str(exact.loss)
        assert document["loss"]["relative_error"] < median_bound * 10
        signs = document["sign_disagreements"]
        assert signs["count"] == len(signs["names"])
    assert _compare(tmp_path, capsys)["float"] == "float64"          # the default


def test_against_an_npz_of_the_models_tensors(tmp_path, capsys):
    """A framework's gradients: the exact ones rounded to float64, one flipped sign and one
    zeroed coordinate, and a loss."""
    network, data = _files(tmp_path)
    exact = network.grad(data)
    arrays = {name: numpy.array(value, dtype=object).astype(numpy.float64)
              for name, value in exact.tensors.items()}
    flipped = next(index for index, q in numpy.ndenumerate(arrays["fc.weight"]) if q)
    zeroed = next(index for index, q in numpy.ndenumerate(arrays["conv1.bias"]) if q)
    arrays["fc.weight"][flipped] *= -1
    arrays["conv1.bias"][zeroed] = 0.0
    arrays["loss"] = numpy.float64(float(exact.loss) * (1 + 2 ** -20))
    numpy.savez(tmp_path / "grads.npz", **arrays)
    document = _compare(tmp_path, capsys, "--against", str(tmp_path / "grads.npz"),
                        "--worst", "3")
    names = [f"fc.weight[{','.join(map(str, flipped))}]",
             f"conv1.bias[{','.join(map(str, zeroed))}]"]
    assert document["float"] == str(tmp_path / "grads.npz")
    assert sorted(document["sign_disagreements"]["names"]) == sorted(names)
    assert [(w["name"], w["relative_error"]) for w in document["worst"][:2]] == [
        (names[0], 2.0), (names[1], 1.0)]
    assert len(document["worst"]) == 3
    assert document["relative_error"]["median"] <= 2 ** -53
    assert document["loss"]["relative_error"] == pytest.approx(2 ** -20, rel=1e-6)


def test_exact_zero_counts_as_a_sign_disagreement_and_uses_the_absolute_error():
    assert compare_module.relative_error(0.25, Fraction(0)) == 0.25
    assert compare_module.relative_error(0.0, Fraction(0)) == 0.0
    assert compare_module.disagree(1e-300, Fraction(0))
    assert compare_module.disagree(0.0, Fraction(1, 3))
    assert not compare_module.disagree(0.0, Fraction(0))
    assert compare_module.disagree(math.nan, Fraction(1))
    assert compare_module.relative_error(math.inf, Fraction(1)) == math.inf
    assert compare_module.relative_error(1.0, Fraction(1, 3)) == pytest.approx(2.0)
    assert compare_module.relative_error(1e300, Fraction(1, 10 ** 400)) == math.inf
    assert compare_module.quantile([1, 2, 3, 4], 0.5) == 2
    assert compare_module.quantile([1, 2, 3, 4], 0.9) == 4


def test_a_plain_network_compares_its_edges_and_inf_is_a_string(tmp_path, capsys):
    net = bitprop.Network(["x", ("h", "square"), ("o", "square")],
                          [("x", "h", 2 ** 300, 0), ("h", "o", 2 ** 300, 0, False)],
                          ["x"], ["o"])
    net.save(tmp_path / "net.json")
    bitprop.Dataset([["1"]], [["0"]]).save(tmp_path / "data.json")
    status = run(["compare", str(tmp_path / "net.json"), str(tmp_path / "data.json"), "--json"])
    document = json.loads(capsys.readouterr().out)
    assert status == 0
    assert [t["name"] for t in document["tensors"]] == ["edges.weight", "edges.bias"]
    assert document["coordinates"] == 2                 # the frozen edge is left out
    assert document["nonfinite"] == 2 and document["relative_error"]["max"] == "inf"
    assert document["loss"]["float"] == "inf"


def test_plot_and_text_report(tmp_path, capsys):
    _files(tmp_path)
    status = run(["compare", str(tmp_path / "net.json"), str(tmp_path / "data.npz"),
                  "--float32", "--plot", str(tmp_path / "errors.png")])
    out = capsys.readouterr().out
    assert status == 0
    assert (tmp_path / "errors.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for text in ("float32 vs exact", "sign disagreements", "worst coordinate", "conv1.weight",
                 "errors.png"):
        assert text in out


@pytest.mark.parametrize("arrays, message", [
    ({}, "grads.npz: conv1.weight: no array for tensor 'conv1.weight'"),
    ({"conv1.weight": numpy.zeros((2, 1, 3)), "conv1.bias": numpy.zeros(2)},
     "grads.npz: conv1.weight: array of float64 (2, 1, 3); the model's tensor is a float "
     "array of shape (2, 1, 3, 3)"),
])
def test_bad_npz_files_exit_2_naming_the_array(tmp_path, capsys, arrays, message):
    _files(tmp_path)
    numpy.savez(tmp_path / "grads.npz", **arrays)
    status = run(["compare", str(tmp_path / "net.json"), str(tmp_path / "data.npz"),
                  "--against", str(tmp_path / "grads.npz")])
    assert status == 2
    assert message in capsys.readouterr().err


def test_against_and_float32_exclude_each_other(tmp_path, capsys):
    _files(tmp_path)
    assert run(["compare", str(tmp_path / "net.json"), str(tmp_path / "data.npz"),
                "--against", "g.npz", "--float32"]) == 2


def test_against_an_onnx_models_initializers(tmp_path, capsys):
    """An imported model's tensors are its initializers: a framework's arrays under the same
    names are read, a Gemm bias of shape (1, n) included."""
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    rng = numpy.random.default_rng(2)
    weights = {"fc.weight": rng.standard_normal((3, 4)).astype(numpy.float32),
               "fc.bias": rng.standard_normal((1, 3)).astype(numpy.float32)}
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "fc.weight", "fc.bias"], ["g"], transB=1),
         helper.make_node("Relu", ["g"], ["y"])],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(value, name) for name, value in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    (tmp_path / "m.onnx").write_bytes(model.SerializeToString())
    assert run(["import", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "net.json")]) == 0
    network = bitprop.Network.load(tmp_path / "net.json")
    x = rng.standard_normal((4, 4)).astype(numpy.float32)
    y = rng.standard_normal((4, 3)).astype(numpy.float32)
    numpy.savez(tmp_path / "data.npz", x=x, y=y)
    exact = network.grad(bitprop.Dataset.from_numpy(x, y))
    framework = {name: numpy.array(value, dtype=object).astype(numpy.float32)
                 for name, value in exact.tensors.items()}
    framework["fc.bias"] = framework["fc.bias"].reshape(1, 3)
    numpy.savez(tmp_path / "grads.npz", **framework)
    capsys.readouterr()
    document = _compare(tmp_path, capsys, "--against", str(tmp_path / "grads.npz"))
    assert [(t["name"], t["shape"]) for t in document["tensors"]] == [
        ("fc.weight", [3, 4]), ("fc.bias", [3])]
    assert document["loss"]["float"] is None and document["loss"]["relative_error"] is None
    assert 0 < document["relative_error"]["max"] <= 2 ** -24     # float32 rounding only


def test_parameters_outside_tensors_are_compared_on_their_own():
    """a[0], a[2] form no tensor (a[1] is missing): each is compared under its own name; the
    frozen zero is not; the float64 pass is exact on these small integers."""
    parameters = {"a[0]": 1, "a[2]": 2, "m[0]": 3, "m[1]": -1,
                  "zero": {"value": 0, "trainable": False}}
    edges = [("x", "o", {"param": name}, {"param": "zero"}) for name in parameters
             if name != "zero"] + [("x", "o", 5, 1)]
    network = bitprop.Network(["x", ("o", "square")], edges, ["x"], ["o"], parameters=parameters)
    result = compare_module.compare(network, bitprop.Dataset([[1], [2]], [[3], [-1]]))
    document = result.to_json()
    assert [(t["name"], t["shape"]) for t in document["tensors"]] == [
        ("m", [2]), ("a[0]", []), ("a[2]", []), ("edges.weight", [5]), ("edges.bias", [5])]
    assert [name for name, *_ in result.entries] == [
        "m[0]", "m[1]", "a[0]", "a[2]", "edges[4].weight", "edges[4].bias"]
    assert document["relative_error"]["max"] == 0.0
