"""Runaway growth and long computations: max_bits, time budgets, Ctrl-C, concurrent use."""

import functools
import os
import signal
import subprocess
import sys
import threading
import time
from fractions import Fraction

import pytest

import bitprop


def _square_chain(depth):
    return bitprop.Network.chain(depth, "square", weight=1, bias="1/3")


def _first_vertex_over(limit, depth):
    """Reference: the first v_k of the square chain from 3/2 whose z or f exceeds ``limit``."""
    x = Fraction(3, 2)
    for k in range(1, depth + 1):
        z = x + Fraction(1, 3)
        x = z * z
        if max(bitprop.bit_length(z), bitprop.bit_length(x)) > limit:
            return k
    return None


def test_max_bits_names_the_first_vertex_and_its_depth():
    k = _first_vertex_over(1000, 30)
    with pytest.raises(bitprop.BitLimitError) as info:
        _square_chain(30).forward([["3/2"]], max_bits=1000)
    err = info.value
    assert (err.vertex, err.depth, err.limit) == (f"v{k}", k, 1000)
    assert err.bits > 1000 and f"vertex 'v{k}' (depth {k})" in str(err)


def test_max_bits_guards_adjoints_too():
    net = _square_chain(8)
    plain = net.grad(bitprop.Dataset([["3/2"]], [[0]]))
    assert plain.bits.max_adjoint > plain.bits.max_value
    with pytest.raises(bitprop.BitLimitError, match="adjoint"):
        net.grad(bitprop.Dataset([["3/2"]], [[0]]), max_bits=plain.bits.max_value)


@pytest.mark.parametrize("kernel", ["dense", "mixed", "scalar"])
@pytest.mark.parametrize("seed", range(6))
def test_max_bits_fault_is_the_same_for_every_thread_count(kernel, seed):
    """The error names the value a one-thread sweep meets first, however the samples are
    split: later samples of a batch may blow up at shallower depths than earlier ones."""
    from bitprop.experiments.random_networks import random_dataset, random_mlp
    net = random_mlp([3, 3, 3, 3, 3, 3, 1], "square", seed=seed)
    data = random_dataset(3, 1, 7, seed=seed)
    values = net.grad(data, kernel=kernel, threads=1)
    limit = max(values.bits.max_value, values.bits.max_adjoint) * 3 // 4
    faults = set()
    for threads in (1, 2, 3, 4):
        with pytest.raises(bitprop.BitLimitError) as info:
            net.grad(data, kernel=kernel, threads=threads, max_bits=limit)
        faults.add((info.value.vertex, info.value.depth, info.value.bits, str(info.value)))
    assert len(faults) == 1


def test_max_bits_in_the_cli_exits_1(tmp_path, capsys):
    from bitprop.cli import run
    path = tmp_path / "chain.json"
    _square_chain(30).save(path)
    assert run(["eval", str(path), "--input", '[["3/2"]]', "--max-bits", "5000"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("bitprop: error: vertex 'v") and "max_bits=5000" in err


def test_time_budget_stops_a_runaway_sweep():
    started = time.monotonic()
    with pytest.raises(bitprop.TimeBudgetError):
        _square_chain(40).forward([["3/2"]], time_budget=0.3)
    assert time.monotonic() - started < 10


def test_a_step_reports_the_budget_it_was_given():
    """step runs one pass per step on what is left of its budget; the error names the
    budget the caller gave (it used to name the remainder, 0.00115 s of a budget of 3)."""
    data = bitprop.Dataset([["3/2"]], [[0]])
    with pytest.raises(bitprop.TimeBudgetError, match=r"time budget of 0\.3 s"):
        _square_chain(40).step(data, "1/2", steps=3, time_budget=0.3)


@pytest.mark.parametrize("budget", ["0", "-0", "-1"])
def test_a_time_budget_is_positive(tmp_path, capsys, budget):
    from bitprop.cli import run
    path = tmp_path / "chain.json"
    _square_chain(3).save(path)
    assert run(["eval", str(path), "--input", '[["3/2"]]', "--time-budget", budget]) == 2
    assert "--time-budget" in capsys.readouterr().err


def test_keyboard_interrupt_leaves_the_network_usable():
    net = _square_chain(40)
    before = net.to_json()
    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        net.forward([["3/2"]])
    timer.join()
    assert net.to_json() == before
    # the same object (and its compiled plan) evaluates again, exactly
    k = _first_vertex_over(600, 40)
    with pytest.raises(bitprop.BitLimitError) as info:
        net.grad(bitprop.Dataset([["3/2"]], [[0]]), max_bits=600)
    assert info.value.vertex == f"v{k}"


@pytest.mark.parametrize("kernel", ["dense", "mixed"])
def test_a_stop_in_the_middle_of_two_dense_workers_leaves_nothing_behind(kernel):
    """A time budget that ends while two workers wait at each other's layer barriers: both
    leave, and the next evaluation of the same network is exact and complete."""
    from bitprop.experiments.random_networks import random_mlp
    net = random_mlp([24] * 30 + [2], "relu", seed=3)
    grad = functools.partial(net.grad, kernel=kernel)
    # the second worker's samples are far longer numbers: the first waits at every barrier
    light = [[Fraction(i % 5 - 2)] * 24 for i in range(4)]
    heavy = [[Fraction(2 * i + 1, 3 ** 80 + j) for j in range(24)] for i in range(4)]
    data = bitprop.Dataset(light + heavy, [[1, -1]] * 8)
    expected = grad(data, threads=1)
    elapsed = grad(data, threads=2).timing
    whole = elapsed["forward"] + elapsed["backward"]
    for share in (0.01, 0.2, 0.4, 0.6, 0.8, 0.95):
        try:
            grad(data, threads=2, time_budget=share * whole)
        except bitprop.TimeBudgetError:
            pass
    deadline = time.monotonic() + 10       # stopped workers finish on their own, none hangs
    while any(w.name.startswith("bitprop-") for w in threading.enumerate()):
        assert time.monotonic() < deadline, "a stopped worker is still running"
        time.sleep(0.01)
    again = grad(data, threads=2)
    assert (again.loss, again.grad_weight, again.grad_bias) == \
        (expected.loss, expected.grad_weight, expected.grad_bias)


def test_ctrl_c_exits_130_within_a_second(tmp_path):
    path = tmp_path / "chain.json"
    _square_chain(40).save(path)
    data = tmp_path / "data.json"
    bitprop.Dataset([["3/2"]], [[0]]).save(data)
    process = subprocess.Popen([sys.executable, "-m", "bitprop", "grad", str(path), str(data)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2.5)            # well into the exponential part of the chain
    assert process.poll() is None, process.communicate()
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert time.monotonic() - sent < 1.0
    assert process.returncode == 130
    assert err.strip().splitlines()[-1] == "bitprop: error: interrupted"


def test_two_threads_share_one_compiled_network():
    net = bitprop.Network.chain(10, "cube", weight="1/2", bias="1/3")
    data = bitprop.Dataset([[f"{k}/5"] for k in range(6)], [[k] for k in range(6)])
    expected = net.grad(data)
    results = [None, None]

    def work(i):
        results[i] = net.grad(data, threads=1)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    for r in results:
        assert (r.loss, r.grad_weight, r.grad_bias) == \
               (expected.loss, expected.grad_weight, expected.grad_bias)


def test_network_and_results_pickle():
    import pickle
    net = bitprop.Network.chain(3, "relu", weight="3/2", bias="-1/7")
    data = bitprop.Dataset([["5/3"]], [[1]])
    again = pickle.loads(pickle.dumps(net))
    assert again == net
    result = net.grad(data)
    assert pickle.loads(pickle.dumps(result)).grad_weight == result.grad_weight
    assert again.grad(data).grad_weight == result.grad_weight


# --- guards that speak first (issue 21) ------------------------------------------------------

_HUGE_POWER = """
import json, sys
import bitprop

def peak():     # KB; not ru_maxrss, which carries over the parent's peak across exec
    return int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])

doc = {"activations": {"big": {"kind": "polynomial", "coefficients": ["0"] * DEGREE + ["1"]}},
       "vertices": [{"name": "x"}, {"name": "v", "activation": "big"}],
       "edges": [{"from": "x", "to": "v"}], "inputs": ["x"], "outputs": ["v"]}
net = bitprop.Network.from_json(doc)
net.forward([["1"]], kernel="scalar")          # the plan, built once (its own memory)
net.forward([["1"]], kernel="dense")
before = peak()
for kernel in ("scalar", "dense"):
    try:
        net.forward([[str(3 ** 700)]], max_bits=2000, kernel=kernel)
    except bitprop.BitLimitError as err:
        print(json.dumps([err.vertex, err.bits, str(err)]))
print(peak() - before)
"""


def test_a_degree_million_power_is_stopped_before_it_is_built():
    """f = z^(10^6) of a 1110-bit z has 1.1e9 bits (140 MB): predicted, never computed."""
    env = dict(os.environ,         # the bitprop under test, built in place or installed
               PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(bitprop.__file__))))
    out = subprocess.run([sys.executable, "-c", _HUGE_POWER.replace("DEGREE", "10 ** 6")],
                         env=env, capture_output=True, text=True, check=True).stdout.splitlines()
    z_bits = (3 ** 700).bit_length() + 1
    for line in out[:2]:
        vertex, bits, message = __import__("json").loads(line)
        assert vertex == "v" and 10 ** 6 * (z_bits - 2) <= bits <= 10 ** 6 * z_bits
        assert message == (f"vertex 'v' (depth 1): value f (a lower bound, predicted before "
                           f"computing it) has {bits} bits, more than max_bits=2000")
    assert len(out) == 3 and int(out[2]) < 50_000   # KB of peak growth: the value is 140 MB


@pytest.mark.parametrize("kernel", ["scalar", "dense"])
def test_a_predicted_power_never_stops_a_value_within_the_limit(kernel):
    """c z^d with c cancelling most of z^d: the prediction is a lower bound, so a limit the
    true value meets passes, and one it exceeds stops at the same vertex as before."""
    net = bitprop.Network(["x", ("v", bitprop.Activation.polynomial([0] * 12 + [3 ** 24]))],
                          [("x", "v")], ["x"], ["v"])
    z = Fraction(1, 9)                                     # f = 3^24 / 9^12 = 1
    assert net.forward([[str(z)]], max_bits=5, kernel=kernel).outputs[0][0] == 1   # z: 5 bits
    with pytest.raises(bitprop.BitLimitError) as info:
        net.forward([["1/5"]], max_bits=40, kernel=kernel)
    assert info.value.vertex == "v" and 40 < info.value.bits <= bitprop.bit_length(
        Fraction(3 ** 24, 5 ** 12))


def test_horner_stops_at_a_partial_sum_over_the_limit():
    coefficients = [1] * 400                               # 1 + z + ... + z^399
    net = bitprop.Network(["x", ("v", bitprop.Activation.polynomial(coefficients))],
                          [("x", "v")], ["x"], ["v"])
    with pytest.raises(bitprop.BitLimitError, match="a partial sum of value f's polynomial"):
        net.forward([["3"]], max_bits=100, kernel="scalar")
    assert net.forward([["3"]], max_bits=700, kernel="scalar").outputs[0][0] == \
        sum(3 ** k for k in range(400))


def test_twenty_squarings_past_the_limit_stop_at_the_first_predicted_square():
    from bitprop.slp import Program
    from bitprop._slp import evaluate
    program = Program([("*", i, i) for i in range(30)], 3)      # x_k = 3^(2^k)
    with pytest.raises(bitprop.BitLimitError) as info:
        evaluate(program, max_bits=1000)
    first = next(k for k in range(31) if (3 ** 2 ** k).bit_length() + 1 > 1000)
    assert info.value.vertex == f"x{first}"
    assert 1000 < info.value.bits <= (3 ** 2 ** first).bit_length() + 1
    assert "would have at least" in str(info.value)


def test_printing_a_huge_slp_value_is_interruptible(monkeypatch):
    """Ctrl-C returns while FLINT still converts (the worker is left to finish alone)."""
    import _thread
    from bitprop import workers
    from bitprop.slp import Program
    from bitprop._slp import evaluate
    value = evaluate(Program([("*", i, i) for i in range(24)], 3))   # 26.6 Mbit
    assert value.bit_length > 2 ** 24
    start, seen = workers.start_workers, []

    def then_interrupt(targets):
        seen.extend(start(targets))
        _thread.interrupt_main()
        return seen

    monkeypatch.setattr(workers, "start_workers", then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        value.to_str()
    assert seen[0].is_alive()                   # still converting: nobody waited for it
    seen[0].join()
    monkeypatch.undo()
    small = evaluate(Program([("*", i, i) for i in range(12)], Fraction(-3, 2)))
    assert small.to_str() == f"{3 ** 4096}/{2 ** 4096}"       # (-3/2)^(2^12)
