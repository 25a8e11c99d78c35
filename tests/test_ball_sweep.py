"""The ball sweep (bitprop._ball_sweep through bitprop.balls): every ball contains the exact
value of the independent reference evaluator, at every precision, on random DAGs of every
activation and loss aimed at kinks, breakpoints and rounding ties; decided quantities are the
exact ones; every thread count gives the same balls; and values far past exact reach get
finite balls with decided signs."""

import random
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bitprop
from bitprop.balls import ball_forward, ball_grad
from bitprop.certify import Ball
from reference import evaluator as reference
from strategies import network_and_dataset

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PRECISIONS = (16, 64, 256)


def _load(network_doc, dataset_doc):
    return bitprop.Network.from_json(network_doc), bitprop.Dataset.from_json(dataset_doc)


def _assert_inside(ball, exact, what):
    assert ball.contains(exact), f"{what}: {ball} does not contain {exact}"
    if ball.sign is not None:       # a decided sign is the exact one
        assert ball.sign == (exact > 0) - (exact < 0), f"{what}: sign of {ball} vs {exact}"
    if ball.is_exact:
        assert ball.sign is not None


@SETTINGS
@given(network_and_dataset(varied_numbers=True), st.integers(1, 2))
def test_grad_balls_contain_the_reference(case, threads):
    network_doc, dataset_doc = case
    net, data = _load(network_doc, dataset_doc)
    loss, grad_weight, grad_bias = reference.loss_and_grad(network_doc, dataset_doc)
    outputs = [reference.outputs(network_doc, s["x"]) for s in dataset_doc["samples"]]
    for precision in PRECISIONS:
        result = ball_grad(net, data, precision, threads=threads)
        _assert_inside(result.loss, loss, f"loss at {precision}")
        for e, (ball, exact) in enumerate(zip(result.grad_weight, grad_weight)):
            _assert_inside(ball, exact, f"dL/dw[{e}] at {precision}")
        for e, (ball, exact) in enumerate(zip(result.grad_bias, grad_bias)):
            _assert_inside(ball, exact, f"dL/db[{e}] at {precision}")
        for s, row in enumerate(outputs):
            for o, exact in enumerate(row):
                _assert_inside(result.outputs[s][o], exact, f"output {o} of sample {s}")


@SETTINGS
@given(network_and_dataset())
def test_forward_balls_contain_every_reference_value(case):
    network_doc, dataset_doc = case
    net, data = _load(network_doc, dataset_doc)
    for precision in PRECISIONS:
        result = ball_forward(net, data, precision, keep_all=True, threads=1)
        for s, sample in enumerate(dataset_doc["samples"]):
            z, f = reference.forward(network_doc, sample["x"])
            assert result.values[s]["z"].keys() == z.keys()
            for name, exact in z.items():
                _assert_inside(result.values[s]["z"][name], exact, f"z[{name}]")
            for name, exact in f.items():
                _assert_inside(result.values[s]["f"][name], exact, f"f[{name}]")
        _assert_inside(result.loss, reference.total_loss(network_doc, dataset_doc), "loss")


def _relu_mlp(widths, seed):
    """A ReLU MLP with small random weights and biases whose denominators are 3 and 7:
    never dyadic, so its balls are never exact."""
    rng = random.Random(seed)
    pick = lambda: Fraction(rng.randint(-9, 9), rng.choice((3, 7)))  # noqa: E731
    weights = [[[pick() for _ in range(a)] for _ in range(b)] for a, b in zip(widths, widths[1:])]
    biases = [[pick() for _ in range(b)] for b in widths[1:]]
    return bitprop.Network.mlp(widths, "relu", weights, biases), rng


def _relu_data(widths, rng, samples):
    xs = [[Fraction(rng.randint(-9, 9), 7) for _ in range(widths[0])] for _ in range(samples)]
    ys = [[Fraction(rng.randint(-3, 3), 3) for _ in range(widths[-1])] for _ in range(samples)]
    return bitprop.Dataset(xs, ys)


def _log2_radius_over_magnitude(ball):
    """An upper bound of log2(radius / max(1, |mid|)) (-inf for an exact ball)."""
    if ball.is_exact:
        return float("-inf")
    radius = ball.rad[1] + ball.rad[0].bit_length()
    magnitude = ball.mid[1] + ball.mid[0].bit_length() - 1 if ball.mid[0] else 0
    return radius - max(0, magnitude)


def test_high_precision_relu_balls_are_tiny():
    widths = [4, 6, 6, 2]
    net, rng = _relu_mlp(widths, 7)
    data = _relu_data(widths, rng, 3)
    exact = net.grad(data, threads=1)
    result = ball_grad(net, data, 256, threads=1)
    balls = [result.loss] + list(result.grad_weight) + list(result.grad_bias)
    for ball, value in zip(balls, [exact.loss] + exact.grad_weight.tolist() +
                           exact.grad_bias.tolist()):
        assert ball.contains(value)
        assert _log2_radius_over_magnitude(ball) <= -240, str(ball)
    assert not all(ball.is_exact for ball in balls)      # 1/3 and 1/7 are not dyadic


def test_threads_give_identical_balls():
    widths = [3, 8, 8, 8, 2]
    net, rng = _relu_mlp(widths, 11)
    data = _relu_data(widths, rng, 7)
    one, two = (ball_grad(net, data, 53, threads=t) for t in (1, 2))
    assert one.loss == two.loss
    assert one.grad_weight == two.grad_weight
    assert one.grad_bias == two.grad_bias
    assert one.outputs == two.outputs
    assert not all(ball.is_exact for ball in one.grad_weight)


def _one_relu(weight, bias, activation="relu"):
    return bitprop.Network(["x", ("h", activation), ("o", "identity")],
                           [("x", "h", weight, bias), ("h", "o", 2, 0)], ["x"], ["o"])


def test_relu_at_an_exact_breakpoint_keeps_the_exact_convention():
    """z_h = 2 * (1/2) - 1 = 0 exactly: an exact ball, ReLU'(0) = 0 as in the exact
    kernels, so the gradient into h is exactly 0."""
    net = _one_relu(2, -1)
    result = ball_grad(net, bitprop.Dataset([["1/2"]], [[1]]), 64)
    assert result.grad_weight[0].is_exact and result.grad_weight[0].sign == 0
    assert result.grad_bias[0].sign == 0
    assert result.loss.is_exact and result.loss.contains(1)


def test_relu_on_a_ball_around_its_kink_covers_both_slopes():
    """z_h = 3 * (1/3) - 1 = 0, but 1/3 is a ball: ReLU' is [0, 1] there, and the gradient
    ball contains the exact 0 and the value with slope 1 (2 * 2 * (0 - 1) * 1/3)."""
    net = _one_relu(3, -1)
    data = bitprop.Dataset([["1/3"]], [[1]])
    result = ball_grad(net, data, 64)
    assert net.grad(data).grad_weight[0] == 0
    assert result.grad_weight[0].contains(0)
    assert result.grad_weight[0].contains(Fraction(-4, 3))
    assert result.grad_weight[0].sign is None
    leaky = ball_grad(_one_relu(3, -1, bitprop.Activation.leaky_relu("1/4")), data, 64)
    assert leaky.grad_weight[0].contains(Fraction(-1, 3))       # slope 1/4 at 0: exact rule
    assert leaky.grad_weight[0].contains(Fraction(-4, 3))


def test_piecewise_linear_on_a_ball_across_a_breakpoint_covers_both_pieces():
    """z = 3 * (1/3) - 1 + 2^-30 lies just above the breakpoint 0, inside a 16-bit ball
    around 0: the value ball holds piece 1's 2^-30 and piece 0's 5, the slope ball 1 and 0."""
    act = bitprop.Activation.piecewise_linear([0], [0, 1], [5, 0])
    net = bitprop.Network(["x", ("o", act)], [("x", "o", 3, Fraction(-1) + Fraction(1, 2**30))],
                          ["x"], ["o"])
    data = bitprop.Dataset([["1/3"]], [[0]])
    result = ball_grad(net, data, 16)
    exact = net.grad(data)
    assert exact.outputs[0][0] == Fraction(1, 2**30)
    assert result.outputs[0][0].contains(exact.outputs[0][0]) and result.outputs[0][0].contains(5)
    assert result.grad_bias[0].contains(exact.grad_bias[0])
    assert result.grad_bias[0].contains(0) and result.grad_bias[0].sign is None


@pytest.mark.parametrize("x, expected", [("1/2", 0), ("3/2", 2), ("5/4", 1), ("-1/2", 0)])
def test_rounding_nearest_on_exact_ties_is_to_even(x, expected):
    act = bitprop.Activation.rounded("identity", 0, mode="nearest")
    net = bitprop.Network(["x", ("o", act)], [("x", "o", 1, 0)], ["x"], ["o"])
    out = ball_forward(net, [[x]], 16).outputs[0][0]
    assert out.is_exact and out.contains(expected)


def test_rounding_on_a_ball_across_a_boundary_covers_both_sides():
    """3 * (1/3) = 1 is a ball around the floor boundary 1: floor gives 0 or 1."""
    act = bitprop.Activation.rounded("identity", 0)
    net = bitprop.Network(["x", ("o", act)], [("x", "o", 3, 0)], ["x"], ["o"])
    out = ball_forward(net, [["1/3"]], 64).outputs[0][0]
    assert out.contains(0) and out.contains(1) and not out.contains(2)


@pytest.mark.parametrize("kind, label, decided", [
    ("zero_one", "1", None), ("zero_one", "2", 1), ("exact_fit", "1", None),
    ("bit", "1", None), ("hinge", "1", None)])
def test_discontinuous_losses_cover_both_sides(kind, label, decided):
    """f = 3 * (1/3) is a ball around 1: [f != 1], bit 0 of floor(f) and the hinge's kink
    1 - f = 0 are not decided (the loss ball holds both sides), [f != 2] is."""
    net = bitprop.Network(["x", ("o", "identity")], [("x", "o", 3, 0)], ["x"], ["o"])
    loss = {"kind": kind, "index": 0} if kind == "bit" else {"kind": kind}
    data = bitprop.Dataset.from_json({"format": "bitprop.dataset/1", "loss": loss,
                                      "samples": [{"x": ["1/3"], "y": [label]}]})
    exact = net.grad(data)
    result = ball_grad(net, data, 64)
    assert result.loss.contains(exact.loss)
    assert result.grad_weight[0].contains(exact.grad_weight[0])
    if decided is None:
        assert result.loss.contains(0) and result.loss.contains(1 if kind != "hinge" else 0)
        assert not result.loss.is_exact
    else:
        assert result.loss.is_exact and result.loss.contains(decided)


def test_a_square_chain_of_depth_40_is_past_exact_reach_but_not_balls():
    """(3/2)^(2^40) has about 2^40 bits: the exact evaluator stops at max_bits, the balls
    give its sign, its magnitude and the signs of the gradient."""
    net = bitprop.Network.chain(40, "square", weight=1, bias=0)
    with pytest.raises(bitprop.BitLimitError):
        bitprop.forward(net, [["3/2"]], max_bits=100_000)
    out = ball_forward(net, [["3/2"]], 64).outputs[0][0]
    assert out.sign == 1
    lower, upper = out.log2_abs
    low_log2, high_log2 = Fraction(58496250072115, 10**14), Fraction(58496250072116, 10**14)
    assert lower <= 2**40 * high_log2 and upper >= 2**40 * low_log2
    assert upper - lower < 1e-2          # a few float ulps at 6.4e11, outward
    result = ball_grad(net, bitprop.Dataset([["3/2"]], [[0]]), 64)
    assert result.loss.sign == 1
    assert all(g.sign == 1 for g in result.grad_weight)      # every factor is positive
    assert all(g.sign == 1 for g in result.grad_bias)


def test_kernel_balls_are_certify_balls():
    """The kernels' balls are the Balls of bitprop.certify (one type for SLPs and networks):
    their integers read exactly."""
    ball = ball_forward(_one_relu(1, 0), [["-5/4"]], 64).outputs[0][0]
    assert isinstance(ball, Ball) and ball.is_exact and ball.contains(0)
    ball = Ball((-5, -2), (1, -4))                  # -5/4 +/- 1/16
    assert ball.contains(Fraction(-21, 16)) and ball.contains(Fraction(-19, 16))
    assert not ball.contains(Fraction(-22, 16))
    assert ball.sign == -1 and not ball.is_exact
    lower, upper = ball.log2_abs
    assert 2 ** lower <= 19 / 16 and 2 ** upper >= 21 / 16
    assert Ball((0, 0)).sign == 0 and Ball((0, 0)).log2_abs is None
    assert Ball((1, 0), (1, 0)).sign is None


@pytest.mark.parametrize("precision", [1, 0, True, 2.5, "64", 1 << 30])
def test_a_bad_precision_is_one_clear_error(precision):
    net = _one_relu(1, 0)
    with pytest.raises(bitprop.BitpropInputError, match="precision"):
        ball_forward(net, [[1]], precision)


def test_a_time_budget_stops_the_workers():
    net = bitprop.Network.chain(400, "cube", weight=1, bias=0)
    with pytest.raises(bitprop.TimeBudgetError):
        ball_forward(net, [["1/3"], ["1/7"]], 1 << 22, threads=2, time_budget=0.05)
