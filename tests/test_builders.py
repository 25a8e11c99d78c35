"""bitprop.Builder's layers against closed forms written here with Fractions (a convolution by
its sums, a max, a mean, an RNN's recurrence) and whole built networks against the reference
evaluator, every kernel and thread count."""

from fractions import Fraction

import numpy
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bitprop
from reference import evaluator as reference
from strategies import SPECIAL

SETTINGS = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
NUMBERS = st.sampled_from(SPECIAL + (Fraction(-5, 3), Fraction(7, 2)))


def _array(draw, shape):
    return numpy.array([draw(NUMBERS) for _ in range(int(numpy.prod(shape)))],
                       dtype=object).reshape(shape)


def _conv_by_hand(x, kernel, bias, stride, padding):
    """out[o, i, j] = bias[o] + sum over c, di, dj of kernel[o, c, di, dj] * x[c, i s + di - p,
    j s + dj - p], zero outside x."""
    channels, height, width = x.shape
    out_c, _, k, _ = kernel.shape
    out_h, out_w = (height + 2 * padding - k) // stride + 1, (width + 2 * padding - k) // stride + 1
    out = numpy.empty((out_c, out_h, out_w), dtype=object)
    for o in range(out_c):
        for i in range(out_h):
            for j in range(out_w):
                total = Fraction(bias[o])
                for c in range(channels):
                    for di in range(k):
                        for dj in range(k):
                            row, col = i * stride + di - padding, j * stride + dj - padding
                            if 0 <= row < height and 0 <= col < width:
                                total += kernel[o, c, di, dj] * x[c, row, col]
                out[o, i, j] = total
    return out


def test_one_channel_convolution_by_hand():
    # x = [[1, 2, 3], [4, 5, 6], [7, 8, 9]], kernel [[1, 0], [0, -1]], bias 1/2:
    # out[i][j] = x[i][j] - x[i+1][j+1] + 1/2 = -4 + 1/2 everywhere
    b = bitprop.Builder((1, 3, 3))
    b.conv2d(1, 2, activation="identity", weight=[[[[1, 0], [0, -1]]]], bias=["1/2"])
    net = b.network()
    assert net.forward([list(range(1, 10))]).outputs[0].tolist() == [Fraction(-7, 2)] * 4
    assert net.outputs == ["conv1[0,0,0]", "conv1[0,0,1]", "conv1[0,1,0]", "conv1[0,1,1]"]


@SETTINGS
@given(st.data(), st.integers(1, 2), st.integers(1, 2), st.integers(1, 3), st.integers(1, 2),
       st.integers(0, 1))
def test_convolution_equals_its_sums(data, channels, out_channels, kernel, stride, padding):
    padding = min(padding, kernel - 1)
    x = _array(data.draw, (channels, 4, 3))
    weight = _array(data.draw, (out_channels, channels, kernel, kernel))
    bias = _array(data.draw, (out_channels,))
    b = bitprop.Builder(x.shape)
    b.conv2d(out_channels, kernel, stride, padding, "identity", weight=weight, bias=bias)
    expected = _conv_by_hand(x, weight, bias, stride, padding)
    assert b.shape == expected.shape
    assert b.network().forward([x.ravel().tolist()]).outputs[0] == expected.ravel().tolist()


@SETTINGS
@given(st.lists(NUMBERS, min_size=4, max_size=4))
def test_max_pool_of_four_numbers(values):
    b = bitprop.Builder((1, 2, 2))
    b.max_pool(2)
    net = b.network()
    assert net.forward([values]).outputs[0].tolist() == [max(values)]
    # every vertex is in the paper's model: relu and identity only, every edge frozen
    assert {net.activation(v).kind for v in net.names if net.activation(v)} == {"relu",
                                                                                 "identity"}
    assert not any(net.trainable)


def test_pools_by_hand():
    x = numpy.arange(1, 17).reshape(1, 4, 4)
    b = bitprop.Builder(x.shape)
    b.avg_pool(2)
    assert b.network().forward([x.ravel().tolist()]).outputs[0].tolist() == [
        Fraction(7, 2), Fraction(11, 2), Fraction(23, 2), Fraction(27, 2)]
    b = bitprop.Builder(x.shape)
    b.max_pool(3, stride=1)
    assert b.network().forward([(-x).ravel().tolist()]).outputs[0].tolist() == [-1, -2, -5, -6]


@SETTINGS
@given(st.data(), st.integers(1, 3), st.integers(1, 2), st.integers(1, 3),
       st.sampled_from(["relu", "identity", "square"]))
def test_rnn_equals_its_recurrence(data, steps, features, hidden, activation):
    x = _array(data.draw, (steps, features))
    w_ih, w_hh = _array(data.draw, (hidden, features)), _array(data.draw, (hidden, hidden))
    bias = _array(data.draw, (hidden,))
    b = bitprop.Builder(x.shape)
    b.rnn(hidden, activation, weight_ih=w_ih, weight_hh=w_hh, bias=bias, outputs="all")
    act = {"relu": lambda z: max(z, 0), "identity": lambda z: z, "square": lambda z: z * z}
    h, expected = [Fraction(0)] * hidden, []
    for t in range(steps):
        h = [act[activation](sum((w_hh[i][j] * h[j] for j in range(hidden)), Fraction(0))
                             + sum(w_ih[i][k] * x[t][k] for k in range(features)) + bias[i])
             for i in range(hidden)]
        expected += h
    assert b.network().forward([x.ravel().tolist()]).outputs[0].tolist() == expected


def _small_cnn(seed):
    b = bitprop.Builder((2, 5, 5), seed=seed)
    b.conv2d(2, 2, padding=1, activation="relu").max_pool(2).conv2d(2, 2, activation="square")
    b.avg_pool(2).flatten().dense(3, "relu").dense(2)
    return b.network()


def _small_rnn(seed):
    b = bitprop.Builder((3, 2), seed=seed)
    b.rnn(3, "relu").dense(2)
    return b.network()


@settings(max_examples=12, deadline=None)
@given(st.sampled_from([_small_cnn, _small_rnn]), st.integers(0, 1000),
       st.sampled_from(["auto", "mixed", "scalar"]), st.sampled_from([1, 2]))
def test_built_networks_equal_reference(build, seed, kernel, threads):
    net = build(seed)
    rng = numpy.random.default_rng(seed)
    x = rng.integers(-3, 4, size=(2, net.num_inputs))
    y = rng.integers(-1, 2, size=(2, net.num_outputs))
    data = bitprop.Dataset.from_numpy(x, y)
    document, dataset = net.to_json(), data.to_json()
    result = net.grad(data, kernel=kernel, threads=threads)
    loss, grad_weight, grad_bias = reference.loss_and_grad(document, dataset)
    assert (result.loss, result.grad_weight, result.grad_bias) == (loss, grad_weight, grad_bias)
    assert result.parameters == reference.parameter_gradients(document, dataset)


def test_step_moves_a_built_layer_as_one():
    net = _small_cnn(3)
    data = bitprop.Dataset.from_numpy(numpy.ones((1, 50), numpy.int64), numpy.zeros((1, 2)))
    gradients = net.grad(data).parameters
    trained, _ = net.step(data, "1/4")
    moved = trained.parameters
    for name, value in net.parameters.items():
        frozen = name.endswith(".zero")
        assert moved[name] == (value if frozen else value - Fraction(1, 4) * gradients[name])
    assert trained.parameter_edges == net.parameter_edges


def test_default_weights_are_float32_values():
    net = bitprop.Builder(4, seed=5).dense(3).network()
    values = [v for name, v in net.parameters.items() if not name.endswith(".zero")]
    assert values and all(Fraction(float(numpy.float32(float(v)))) == v for v in values)
    assert all(abs(v) <= Fraction(1, 2) for v in values)


@pytest.mark.parametrize("build, message", [
    (lambda b: b.dense(2), "dense: dense needs a vector, not a layer of shape (1, 3, 3): "
                           "call flatten() first"),
    (lambda b: b.conv2d(1, 2, padding=2), "padding: padding 2 must be smaller than the kernel 2"),
    (lambda b: b.conv2d(1, 4), "kernel: kernel 4 does not fit a side of 3 (padding 0)"),
    (lambda b: b.conv2d(1, 2, weight=[[1]]), "conv1.weight: has shape (1, 1), expected "
                                             "(1, 1, 2, 2)"),
    (lambda b: b.conv2d(1, 1, weight=[[[[float("inf")]]]]),
     "conv1.weight[0, 0, 0, 0]: inf is not a finite number"),
    (lambda b: b.rnn(2), "rnn: rnn needs a (steps, features) layer, not (1, 3, 3)"),
    (lambda b: b.conv2d(1, 1, name="c").conv2d(1, 1, name="c"),
     "name: parameter 'c.weight[0,0,0,0]' exists already"),
])
def test_bad_layers_are_named(build, message):
    with pytest.raises(bitprop.BitpropInputError) as error:
        build(bitprop.Builder((1, 3, 3)))
    assert str(error.value).startswith(message)
