"""Shared parameters (Network's ``parameters``, bitprop._shared): the file format, its errors,
and grad and step on every kernel and thread count against the Fraction reference, whose
parameter gradient is its own sum over the coordinates bound to the parameter."""

import copy
import json
from fractions import Fraction

import numpy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bitprop
from reference import evaluator as reference
from strategies import SMOOTH_KINDS, network_and_dataset, rationals
from test_dense import mlp_cases

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
KINDS = ("auto", "scalar")               # any DAG; dense stacks also take "dense", "mixed"
DENSE_KINDS = ("dense", "mixed", "auto", "scalar")


@st.composite
def shared(draw, case):
    """(network, dataset) with 1-3 parameters bound to random edge coordinates; a frozen edge
    bound to a trainable parameter is unfrozen, and some parameters are frozen."""
    network, dataset = copy.deepcopy(case)
    edges = network["edges"]
    free = [(e, key) for e in range(len(edges)) for key in ("weight", "bias")]
    parameters = {}
    for p in range(draw(st.integers(1, 3))):
        chosen = draw(st.lists(st.sampled_from(free), min_size=1, max_size=5, unique=True)) \
            if free else []
        if not chosen:
            break
        name, value = f"p{p}", str(draw(rationals()))
        trainable = draw(st.sampled_from((True, True, False)))
        for e, key in chosen:
            free.remove((e, key))
            edges[e][key] = {"param": name}
            if trainable:
                edges[e].pop("trainable", None)
        parameters[name] = value if trainable else {"value": value, "trainable": False}
    if parameters:
        network["parameters"] = parameters
    return network, dataset


def _check_grad(network, dataset, kernel, threads):
    net, data = bitprop.Network.from_json(network), bitprop.Dataset.from_json(dataset)
    loss, grad_weight, grad_bias = reference.loss_and_grad(network, dataset)
    result = net.grad(data, kernel=kernel, threads=threads)
    assert (result.loss, result.grad_weight, result.grad_bias) == (loss, grad_weight, grad_bias)
    assert result.parameters == reference.parameter_gradients(network, dataset)
    trainable = [name for name, spec in network.get("parameters", {}).items()
                 if not (isinstance(spec, dict) and spec.get("trainable", True) is False)]
    assert list(result.parameters) == trainable         # a frozen parameter is a constant


@SETTINGS
@given(network_and_dataset(varied_numbers=True).flatmap(shared), st.sampled_from(KINDS),
       st.sampled_from([1, 2]))
def test_shared_grad_equals_reference_on_random_dags(case, kernel, threads):
    _check_grad(*case, kernel, threads)


@SETTINGS
@given(mlp_cases().flatmap(shared), st.sampled_from(DENSE_KINDS), st.sampled_from([1, 2]))
def test_shared_grad_equals_reference_on_dense_stacks(case, kernel, threads):
    _check_grad(*case, kernel, threads)


def _reference_step(network, dataset, lr):
    """The network dict after one step computed with the reference: a trainable parameter
    moves by lr times its summed gradient, an unbound coordinate of a trainable edge by its
    own, everything else stays."""
    _, grad_weight, grad_bias = reference.loss_and_grad(network, dataset)
    sums = reference.parameter_gradients(network, dataset)
    out = copy.deepcopy(network)
    for name, spec in out.get("parameters", {}).items():
        if not isinstance(spec, dict):
            out["parameters"][name] = str(reference.parse_rational(spec) - lr * sums[name])
    for e, edge in enumerate(out["edges"]):
        for key, grads, default in (("weight", grad_weight, 1), ("bias", grad_bias, 0)):
            value = edge.get(key, default)
            if not isinstance(value, dict) and edge.get("trainable", True):
                edge[key] = str(reference.parse_rational(value) - lr * grads[e])
    return out


@SETTINGS
@given(network_and_dataset(kinds=SMOOTH_KINDS, loss_kinds=("square",)).flatmap(shared),
       st.sampled_from([Fraction(1, 3), Fraction(-2)]), st.sampled_from(KINDS),
       st.sampled_from([1, 2]))
def test_shared_step_equals_reference(case, lr, kernel, threads):
    network, dataset = case
    net, data = bitprop.Network.from_json(network), bitprop.Dataset.from_json(dataset)
    trained, losses = net.step(data, lr, steps=1, kernel=kernel, threads=threads)
    expected = bitprop.Network.from_json(_reference_step(network, dataset, lr))
    assert trained == expected
    assert losses[0] == reference.total_loss(network, dataset)
    assert trained.parameter_edges == net.parameter_edges


@SETTINGS
@given(mlp_cases().flatmap(shared), st.sampled_from([1, 2]))
def test_shared_step_on_dense_stacks_equals_scalar(case, threads):
    net, data = (bitprop.Network.from_json(case[0]), bitprop.Dataset.from_json(case[1]))
    scalar, scalar_losses = net.step(data, "1/8", steps=2, kernel="scalar", threads=1)
    for kernel in ("dense", "mixed"):
        trained, losses = net.step(data, "1/8", steps=2, kernel=kernel, threads=threads)
        assert (trained, losses) == (scalar, scalar_losses)


# --- hand-checked -------------------------------------------------------------------------

def _tied():
    """x -> h = relu(k x) -> o = k h + z, with k = 1/2 shared and z frozen at 0."""
    return {"parameters": {"k": "1/2", "z": {"value": "0", "trainable": False}},
            "vertices": [{"name": "x"}, {"name": "h", "activation": "relu"},
                         {"name": "o", "activation": "identity"}],
            "edges": [{"from": "x", "to": "h", "weight": {"param": "k"}},
                      {"from": "h", "to": "o", "weight": {"param": "k"}, "bias": {"param": "z"}}],
            "inputs": ["x"], "outputs": ["o"]}


def test_tied_weight_by_hand():
    # o = k relu(k x): at x = 3, k = 1/2: o = 3/4, L = (o - 1)^2 = 1/16, dL/do = -1/2,
    # dL/dk = dL/do * (h + k x) = -1/2 * 3 = -3/2; dL/dz = dL/do = -1/2.
    net = bitprop.Network.from_json(_tied())
    result = net.grad(bitprop.Dataset([[3]], [[1]]), output="str")
    assert result.loss == "1/16"
    assert result.parameters == {"k": "-3/2"}          # z is frozen: not reported
    trained, _ = net.step(bitprop.Dataset([[3]], [[1]]), "1/10")
    assert trained.parameters == {"k": Fraction(13, 20), "z": 0}
    assert trained.weights == [Fraction(13, 20)] * 2


def test_save_and_load_keep_the_sharing(tmp_path):
    net = bitprop.Network.from_json(_tied())
    path = tmp_path / "net.json"
    net.save(path)
    text = path.read_text()
    assert '"weight": {"param": "k"}' in text
    assert '"z": {"value": "0", "trainable": false}' in text
    again = bitprop.Network.load(path)
    assert again == net and again.parameter_edges == net.parameter_edges
    assert json.loads(text) == net.to_json()


def test_cli_grad_reports_each_parameter_once(tmp_path, capsys):
    from bitprop.cli import run
    bitprop.Network.from_json(_tied()).save(tmp_path / "net.json")
    bitprop.Dataset([[3]], [[1]]).save(tmp_path / "data.json")
    assert run(["grad", str(tmp_path / "net.json"), str(tmp_path / "data.json"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["parameters"] == {"k": "-3/2"}
    assert out["grad"]["weight"] == ["-3/4", "-3/4"]


@pytest.mark.parametrize("change, message", [
    (lambda d: d["parameters"].update(q="1"), "parameters.q: parameter 'q' is used by no edge"),
    (lambda d: d["edges"][0].update(weight={"param": "w"}),
     "edges[0].weight.param: unknown parameter 'w'"),
    (lambda d: d["edges"][0].update(weight={"name": "k"}),
     "edges[0].weight.name: unknown key 'name' (expected one of param)"),
    (lambda d: d["edges"][0].update(trainable=False),
     "edges[0].weight: the edge is frozen (trainable: false) but parameter 'k' is trainable"),
    (lambda d: d.update(parameters=["k"]), "parameters: expected an object of named parameters"),
    (lambda d: d["parameters"].update(k={"value": "1", "trainable": 1}),
     "parameters.k.trainable: trainable is true or false, not 1"),
    (lambda d: d["parameters"].update(k="1/0"), "parameters.k: '1/0' has a zero denominator"),
    (lambda d: d.pop("parameters"), "edges[0].weight.param: unknown parameter 'k'"),
])
def test_bad_sharing_is_named(change, message):
    document = _tied()
    change(document)
    with pytest.raises(bitprop.BitpropInputError) as error:
        bitprop.Network.from_json(document, file="net.json")
    assert str(error.value).startswith("net.json: " + message)


def test_frozen_edge_may_use_a_frozen_parameter():
    document = _tied()
    document["edges"][1]["trainable"] = False
    document["edges"][1]["weight"] = "2"
    net = bitprop.Network.from_json(document)
    assert net.parameter_trainable == {"k": True, "z": False}


def test_with_parameters_keeps_shared_coordinates_equal():
    net = bitprop.Network.from_json(_tied())
    assert net.with_parameters(weights=[2, 2]).parameters["k"] == 2
    with pytest.raises(bitprop.BitpropInputError, match=r"edges\[1\].weight is 3 but parameter "
                                                       r"'k' is 2 \(edges\[0\].weight\)"):
        net.with_parameters(weights=[2, 3])


def test_network_without_parameters_is_written_as_before():
    net = bitprop.Network.chain(2, "relu", weight="1/2")
    assert "parameters" not in net.to_json()
    assert net.parameters == {} and net.grad(bitprop.Dataset([[1]], [[0]])).parameters == {}


@pytest.mark.parametrize("den", [4, 3])       # gradients over powers of 2 (shifts), or not
def test_sums_shared_out_over_threads_equal_one_sum(den):
    """Parameter sums dealt over several threads (coordinates sliced for accumulate,
    parameters dealt for combine) equal one thread's, and the reference's, on a model with
    more parameters than one share's block."""
    b = bitprop.Builder((2, 6, 6), seed=3)
    net = b.conv2d(4, 3, activation="relu").flatten().dense(3).network()
    rng = numpy.random.default_rng(3)
    x = [[Fraction(int(v), den) for v in row] for row in rng.integers(-3, 4, size=(3, 72))]
    data = bitprop.Dataset(x, rng.integers(-1, 2, size=(3, 3)).tolist())
    result = net.grad(data)
    sharing = net.sharing()
    whole = sharing.sums(result.grad_weight, result.grad_bias).tolist()
    for parts in (2, 3, 5):
        partial, out = sharing.partial_sums(parts), sharing.new_sums()
        for part in range(parts):
            sharing.accumulate(partial, result.grad_weight, result.grad_bias, part)
        for part in range(parts):
            sharing.combine(partial, out, part)
        assert out.tolist() == whole
    expected = reference.parameter_gradients(net.to_json(), data.to_json())
    trainable = [p for p, name in enumerate(net._parameter_names) if name in expected]
    assert len(whole) > 64 and [whole[p] for p in trainable] == list(expected.values())
