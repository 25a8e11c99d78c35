"""The benchmark's peers agree bit for bit on tiny instances, and with forward-mode Fractions.

bench/ is not a package of bitprop: its modules are imported from the bench/ directory itself.
"""

import hashlib
import importlib
import json
import shutil
import struct
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import instances  # noqa: E402
import peers  # noqa: E402
from peers import _c, bitprop_peer  # noqa: E402

TINY = ["relu-w3-d3-b2", "sq-w3-d3-b2", "relu-w3-d3-dyadic-b2", "chain-sq-d4"]
COMPUTING_PEERS = [p for p in peers.NAMES if p not in peers.TIME_ONLY and not p.startswith("bitprop")]


# ---------------------------------------------------------------------------------------------
# An independent reference: forward-mode dual numbers, one forward pass per parameter


def _loss_and_tangent(instance, seed):
    """(L, dL/dtheta) for the parameter named by seed: ("W", l, i, j) or ("b", l, i)."""
    depth = instance.depth
    loss = tangent = Fraction(0)
    for x, y in zip(instance.inputs, instance.labels):
        h = [(v, Fraction(0)) for v in x]
        for l in range(depth):
            z = []
            for i, row in enumerate(instance.weights[l]):
                value, dvalue = instance.biases[l][i], Fraction(int(seed == ("b", l, i)))
                for j, w in enumerate(row):
                    dw = int(seed == ("W", l, i, j))
                    value, dvalue = value + w * h[j][0], dvalue + dw * h[j][0] + w * h[j][1]
                z.append((value, dvalue))
            if l == depth - 1:
                h = z
            elif instance.activation == "relu":
                h = [(v, dv) if v > 0 else (Fraction(0), Fraction(0)) for v, dv in z]
            else:
                h = [(v * v, 2 * v * dv) for v, dv in z]
        for (f, df), target in zip(h, y):
            loss += (f - target) ** 2
            tangent += 2 * (f - target) * df
    return loss, tangent


def forward_mode(instance):
    loss = _loss_and_tangent(instance, None)[0]
    grads_W = [[[_loss_and_tangent(instance, ("W", l, i, j))[1] for j in range(len(row))]
                for i, row in enumerate(matrix)] for l, matrix in enumerate(instance.weights)]
    grads_b = [[_loss_and_tangent(instance, ("b", l, i))[1] for i in range(len(vector))]
               for l, vector in enumerate(instance.biases)]
    return loss, grads_W, grads_b


def as_fractions(result):
    loss, grads_W, grads_b = result
    return list(map(Fraction, map(instances.fraction_str, instances.iter_canonical(
        loss, grads_W, grads_b))))


def _reference_evaluator():
    """tests/reference/evaluator.py, imported as test_reference.py does (tests/ on sys.path)."""
    if not (Path(__file__).parent / "reference" / "evaluator.py").exists():
        pytest.skip("tests/reference/evaluator.py is not there")
    if str(Path(__file__).parent) not in sys.path:
        sys.path.insert(0, str(Path(__file__).parent))
    return importlib.import_module("reference.evaluator")


@pytest.fixture(scope="module", params=TINY)
def tiny(request):
    instance = instances.generate(request.param)
    return instance, forward_mode(instance)


# ---------------------------------------------------------------------------------------------
# Peers


def test_fraction_loops_equal_forward_mode(tiny):
    instance, expected = tiny
    got = peers.Peer("fraction_loops").run(instance)
    assert as_fractions(got) == as_fractions(expected)


@pytest.mark.parametrize("name", COMPUTING_PEERS)
def test_every_peer_hashes_like_the_reference(tiny, name):
    instance, expected = tiny
    peer = peers.Peer(name)
    if peer.unavailable():
        pytest.skip(peer.unavailable())
    measurement = peer.measure(instance, peers.Repeat(max_reps=2, budget=0.0))
    assert measurement.reps == 1 and measurement.seconds >= 0 and measurement.peak_rss_kb > 0
    assert instances.canonical_hash(*measurement.result) == instances.canonical_hash(*expected)
    if measurement.max_bits is not None:
        assert measurement.max_bits == instances.max_bit_length(*expected)


@pytest.mark.parametrize("name", ["c_floor", "c_sound_floor"])
def test_floors_time_without_a_result(tiny, name):
    instance, _ = tiny
    if _c.unavailable_reason():
        pytest.skip(_c.unavailable_reason())
    measurement = peers.Peer(name).measure(instance, peers.Repeat(max_reps=3, budget=10.0))
    assert measurement.result is None and measurement.reps == 3 and measurement.seconds >= 0


def test_bitprop_json_gives_the_same_gradients(tiny):
    """to_bitprop_json's network, evaluated by the project's reference evaluator, and mapped back
    by bitprop_peer's edge -> layer conversion, gives the peers' hash; every edge into a vertex
    has the same bias gradient."""
    evaluator = _reference_evaluator()
    instance, expected = tiny
    network, dataset = instances.to_bitprop_json(instance)
    loss, grad_weight, grad_bias = evaluator.loss_and_grad(network, dataset)
    result = bitprop_peer.canonical_from_edges(instance, loss, grad_weight, grad_bias)
    assert instances.canonical_hash(*result) == instances.canonical_hash(*expected)
    for l in range(1, instance.depth + 1):
        for i in range(instance.widths[l]):
            into = {grad_bias[instances.edge_index(instance, l, i, j)]
                    for j in range(instance.widths[l - 1])}
            assert into == {expected[2][l - 1][i]}


def test_bitprop_when_it_runs(tiny):
    peer = peers.Peer("bitprop")
    if peer.unavailable():
        pytest.skip(peer.unavailable())
    instance, expected = tiny
    try:
        result = peer.run(instance)
    except Exception as error:  # the API in bitprop_peer is a guess until it is final
        pytest.skip(f"bitprop's API differs from bench/peers/bitprop_peer.py: {error!r}")
    assert instances.canonical_hash(*result) == instances.canonical_hash(*expected)


# ---------------------------------------------------------------------------------------------
# Instances and canonical strings


def _instance_digest(instance):
    digest = hashlib.sha256(f"{instance.activation} {instance.widths}".encode())
    for block in (instance.weights, [instance.biases], [instance.inputs], [instance.labels]):
        for matrix in block:
            for row in matrix:
                digest.update((",".join(map(str, row)) + ";").encode())
    return digest.hexdigest()[:16]


def test_instances_are_pinned():
    """Changing the generator changes every published table: these digests must not move."""
    digests = {i: _instance_digest(instances.generate(i)) for i in TINY}
    assert digests == PINNED


PINNED = {
    "relu-w3-d3-b2": "2643c0371fb45ae9",
    "sq-w3-d3-b2": "e371711fd9c2c5e9",
    "relu-w3-d3-dyadic-b2": "8632a0f52d51d9fb",
    "chain-sq-d4": "04cf5ca6de17466c",
}


def test_number_distributions():
    relu = instances.generate("relu-w8-d4-b4")
    square = instances.generate("sq-w8-d4-b4")
    dyadic = instances.generate("relu-w8-d4-dyadic-b4")
    for instance, bound, max_denominator in ((relu, 8, 8), (square, 1, 64)):
        values = [v for m in instance.weights for row in m for v in row] + \
                 [v for b in instance.biases for v in b] + [v for x in instance.inputs for v in x]
        assert all(abs(v) <= bound and v.denominator <= max_denominator for v in values)
    for v in [v for m in dyadic.weights for row in m for v in row] + dyadic.inputs[0]:
        assert v.denominator & (v.denominator - 1) == 0          # a power of two
        assert Fraction(struct.unpack("<f", struct.pack("<f", float(v)))[0]) == v  # float32
    b8, b64 = instances.generate("relu-w4-d2-b8"), instances.generate("relu-w4-d2-b64")
    assert b8.weights == b64.weights and b8.biases == b64.biases and b64.batch == 64


def test_chain_is_the_sequence():
    x = Fraction(3, 2)
    for _ in range(4):
        x = x * x + Fraction(1, 3)
    loss, _, grads_b = forward_mode(instances.generate("chain-sq-d4"))
    assert loss == x * x and grads_b[-1] == [2 * x]


def test_canonical_strings_agree_across_types():
    import flint
    import gmpy2
    big = Fraction(-(7 ** 6000) - 1, 3 ** 5000)   # over CPython's 4300-digit int -> str limit
    for q in (Fraction(-7, 12), Fraction(5), Fraction(0), big):
        text = instances.fraction_str(q)
        assert text == instances.fraction_str(flint.fmpq(q.numerator, q.denominator))
        assert text == instances.fraction_str(gmpy2.mpq(q.numerator, q.denominator))
    assert instances.fraction_str(Fraction(-7, 12)) == "-7/12"
    assert instances.fraction_str(Fraction(5)) == "5" and instances.bit_length(Fraction(0)) == 1


# ---------------------------------------------------------------------------------------------
# The script, end to end on one tiny instance


def test_run_script_writes_an_agreeing_table(tmp_path):
    names = "fraction_loops,flint_mat" + (",c_scalar,c_floor,c_sound_floor" if not _c.unavailable_reason()
                                         else "")
    done = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "--instances", "relu-w3-d3-b2", "--peers", names,
         "--out", str(tmp_path), "--timeout", "60"],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "results.json").read_text())
    assert report["instances"]["relu-w3-d3-b2"]["hashes"] == "agree"
    assert {c["status"] for c in report["cells"]} == {"ok"}
    assert "| relu-w3-d3-b2 |" in (tmp_path / "results.md").read_text()
    assert "agree" in done.stdout


def test_c_programs_build_with_the_system_flint():
    if _c.unavailable_reason():
        pytest.skip(_c.unavailable_reason())
    assert shutil.which("gcc")
    paths = _c.build()
    assert all(path.exists() for path in paths.values())


def test_table_flags_mismatches_and_skips_what_a_smaller_instance_timed_out_on():
    import run
    cells = [
        {"instance": "sq-w3-d3-b2", "peer": "fraction_loops", "status": "ok", "seconds": 0.5,
         "reps": 1, "peak_rss_kb": 1024, "hash": "a", "max_bits": 10},
        {"instance": "sq-w3-d3-b2", "peer": "gmpy2_loops", "status": "ok", "seconds": 0.25,
         "reps": 1, "peak_rss_kb": 1024, "hash": "b", "max_bits": 12},
        {"instance": "sq-w3-d3-b2", "peer": "micrograd_style", "status": "timeout",
         "reason": "> 120 s"},
    ]
    assert run._dominated_timeout("sq-w3-d4-b8", "micrograd_style", cells) is cells[2]
    assert run._dominated_timeout("sq-w3-d2-b8", "micrograd_style", cells) is None
    assert run._dominated_timeout("relu-w3-d4-b8", "micrograd_style", cells) is None
    summary = run.summarize(["sq-w3-d3-b2"], ["fraction_loops", "gmpy2_loops"], cells)
    assert summary["sq-w3-d3-b2"]["hashes"] == "mismatch" and cells[1]["mismatch"]
    report = {"settings": {"timeout_seconds": 120, "memory_limit_gib": 8, "max_reps": 5,
                           "repeat_budget_seconds": 1},
              "machine": run.machine_info(), "command": "run.py", "date": "today",
              "peers": {p: peers.Peer(p).label for p in
                        ("fraction_loops", "gmpy2_loops", "micrograd_style")},
              "instances": summary, "cells": cells}
    table = run.render_markdown(report, ["sq-w3-d3-b2"],
                                ["fraction_loops", "gmpy2_loops", "micrograd_style"])
    assert "**MISMATCH**" in table and "0.25 ≠" in table and "> 120" in table
