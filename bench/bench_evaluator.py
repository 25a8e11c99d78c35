"""pytest-benchmark: exact forward + backward of a width-64 depth-16 ReLU MLP (batch 8, small
random rationals, bench/instances.py's relu-w64-d16-b8) with bitprop's kernels and with
plain Python Fractions. Run: python3 -m pytest bench/bench_evaluator.py --benchmark-only

Every benchmark checks its result against the Fraction loops' canonical hash first, so a
fast wrong answer cannot win.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from instances import canonical_hash, generate  # noqa: E402
from peers import bitprop_peer, fraction_loops  # noqa: E402

INSTANCE = "relu-w64-d16-b8"


@pytest.fixture(scope="module")
def instance():
    return generate(INSTANCE)


@pytest.fixture(scope="module")
def expected(instance):
    state = fraction_loops.prepare(instance)
    return canonical_hash(*fraction_loops.compute(state))


def _bitprop(benchmark, instance, expected, **options):
    _, network, dataset, _ = bitprop_peer.prepare(instance)
    result = benchmark.pedantic(lambda: network.grad(dataset, **options), rounds=3, iterations=1)
    assert canonical_hash(*bitprop_peer.canonical((instance, result))) == expected


def test_bitprop_dense_all_cores(benchmark, instance, expected):
    _bitprop(benchmark, instance, expected)


def test_bitprop_dense_one_thread(benchmark, instance, expected):
    _bitprop(benchmark, instance, expected, threads=1)


def test_bitprop_scalar_kernel(benchmark, instance, expected):
    _bitprop(benchmark, instance, expected, kernel="scalar", threads=1)


def test_python_fractions(benchmark, instance, expected):
    state = fraction_loops.prepare(instance)
    result = benchmark.pedantic(lambda: fraction_loops.compute(state), rounds=1, iterations=1)
    assert canonical_hash(*result) == expected
