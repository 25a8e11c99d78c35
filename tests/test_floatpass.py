"""bitprop.floatpass, the float reference of `bitprop compare`: on dyadic networks and data
whose exact values have few bits every float64 operation is exact, so the float pass must equal
the exact loss and gradient bit for bit (kinks, breakpoints and rounding ties included); on
float32 models it must be close to them in float64 and further off in float32."""

from fractions import Fraction

import numpy
import pytest
from hypothesis import HealthCheck, assume, given, settings

import bitprop
from bitprop.evaluation import loss_scales
from bitprop.floatpass import float_grad
from strategies import network_and_dataset

#: Exact values of at most this many bits: every product and sum of the float pass is then
#: a dyadic of at most ~51 significant bits (see test_dyadic_networks_are_exact_in_float64).
SMALL_BITS = 20


def _dyadic(q):
    q = Fraction(q)
    return q.denominator & (q.denominator - 1) == 0


def _activation_numbers(act):
    """Every rational an activation holds (slopes, coefficients, breakpoints, clips, inner)."""
    if act is None:
        return []
    numbers = [act.slope] if act.slope is not None else []
    for values in (act.coefficients, act.breakpoints, act.slopes, act.intercepts,
                   act.clip or ()):
        numbers += list(values)
    return numbers + _activation_numbers(act.inner)


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(network_and_dataset())
def test_dyadic_networks_are_exact_in_float64(case):
    """Weights of a few bits times values under 2^19 with resolution 2^-19 span < 53 bits, so
    the float pass rounds nothing and must agree exactly, at relu's kink and rounding ties
    too (sigma'(0), piece boundaries, ties to even all as in the kernels)."""
    document, data_document = case
    network = bitprop.Network.from_json(document)
    data = bitprop.Dataset.from_json(data_document)
    numbers = network.weights + network.biases + [q for row in data.inputs for q in row] + \
        [q for row in data.labels for q in row] + loss_scales(data) + \
        [q for name in network.names for q in _activation_numbers(network.activation(name))]
    assume(all(_dyadic(q) for q in numbers))
    exact = network.grad(data)
    assume(max(exact.bits.max_value, exact.bits.max_adjoint, exact.bits.max_grad) <= SMALL_BITS)
    result = float_grad(network, data, "float64")
    assert Fraction(float(result.loss)) == exact.loss
    assert [Fraction(g) for g in result.grad_weight.tolist()] == exact.grad_weight.tolist()
    assert [Fraction(g) for g in result.grad_bias.tolist()] == exact.grad_bias.tolist()
    assert [[Fraction(v) for v in row] for row in result.outputs.tolist()] == \
        [list(row) for row in exact.outputs]


def _lenet_like(seed=0):
    """Conv 3x3 (2 channels) -> max pool -> conv 2x2 -> flatten -> dense 3, float32 weights."""
    b = bitprop.Builder((1, 6, 6), seed=seed)
    b.conv2d(2, 3, padding=1, name="conv1").max_pool(2).conv2d(3, 2, name="conv2")
    return b.flatten().dense(3, name="fc").network()


def _float32_data(network, samples=3, seed=0):
    rng = numpy.random.default_rng(seed)
    x = rng.uniform(-1, 1, (samples, network.num_inputs)).astype(numpy.float32)
    y = rng.uniform(-1, 1, (samples, network.num_outputs)).astype(numpy.float32)
    return bitprop.Dataset.from_numpy(x, y)


def _relative(approx, exact):
    return abs(Fraction(float(approx)) - exact) / abs(exact) if exact else abs(float(approx))


def test_float64_is_close_and_float32_further_on_a_convolutional_model():
    network = _lenet_like()
    data = _float32_data(network)
    exact = network.grad(data)
    in64, in32 = float_grad(network, data, "float64"), float_grad(network, data, "float32")
    assert in64.grad_weight.dtype == numpy.float64 and in32.grad_weight.dtype == numpy.float32
    errors = {}
    for dtype, result in (("float64", in64), ("float32", in32)):
        errors[dtype] = max(_relative(result.parameters[name], q)
                            for name, q in exact.parameters.items() if abs(q) > Fraction(1, 10**4))
        assert _relative(result.loss, exact.loss) < (1e-12 if dtype == "float64" else 1e-4)
    assert errors["float64"] < 1e-9
    assert 1e-12 < errors["float32"] < 1e-2


def test_shared_parameters_sum_their_coordinates():
    network = _lenet_like(1)
    data = _float32_data(network, 2, 1)
    result = float_grad(network, data)
    for name, coordinates in network.parameter_edges.items():
        column = {"weight": result.grad_weight, "bias": result.grad_bias}
        assert result.parameters[name] == pytest.approx(
            sum(float(column[c][e]) for e, c in coordinates), rel=1e-12, abs=1e-300)


def test_rnn_and_inputs_injected_at_inner_vertices():
    """An unrolled RNN (sharing across steps) and a network whose inner vertex takes an
    input coordinate: float64 within 1e-12 of exact."""
    b = bitprop.Builder((4, 2), seed=3).rnn(3, "relu").dense(1)
    network = b.network()
    data = _float32_data(network, 2, 3)
    exact, approx = network.grad(data), float_grad(network, data)
    for name, q in exact.parameters.items():
        assert float(approx.parameters[name]) == pytest.approx(float(q), rel=1e-12, abs=1e-15)
    injected = bitprop.Network(["x", ("h", "square"), ("o", "identity")],
                               [("x", "h", "1/3", "1/5"), ("h", "o", "2/7", 0)], ["x", "h"], ["o"])
    data = bitprop.Dataset([["1/2", "1/3"], ["-1", "2"]], [["1"], ["0"]], loss="hinge",
                           reduction="mean")
    exact, approx = injected.grad(data), float_grad(injected, data)
    assert float(approx.loss) == pytest.approx(float(exact.loss), rel=1e-14)
    assert approx.grad_weight.tolist() == pytest.approx(
        [float(g) for g in exact.grad_weight], rel=1e-14)


def test_float_inputs_are_checked_like_the_exact_ones():
    network = _lenet_like()
    with pytest.raises(bitprop.BitpropInputError, match="inputs"):
        float_grad(network, bitprop.Dataset([[1, 2]], [[0, 0, 0]]))
