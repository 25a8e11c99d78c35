"""SLP scale benchmarks (issue 4): measured, not asserted. Run with

    PYTHONPATH=src python3 -m pytest bench/bench_slp.py --benchmark-only

The towers and the 100,000-gate program are built once per session, outside the timings.
"""

import pytest

from bitprop.slp import bounded_norm, evaluate, gadget_coefficients, random_program, tower_minus_one


@pytest.fixture(scope="module")
def random_100k():
    return random_program(100_000, seed=1)


def test_eval_tower_minus_one_24(benchmark):
    """2^(2^24) - 1: 26 gates, 16,777,216 bits; sign, a bit and the bit length from FLINT."""
    program = tower_minus_one(24)

    def run():
        result = evaluate(program)
        return result.sign, result.bit(2 ** 24 - 1), result.bit_length

    assert benchmark(run) == (1, 1, 2 ** 24 + 1)


def test_eval_random_100k(benchmark, random_100k):
    """100,000 gates, every one needed, values of a few thousand bits, many live at once."""
    result = benchmark(evaluate, random_100k)
    assert result.gates_evaluated == 100_000


def test_value_conversion_tower_minus_one_22(benchmark):
    """FLINT -> Python int of a 4,194,304-bit output (through limb arrays)."""
    result = evaluate(tower_minus_one(22))
    assert benchmark(lambda: evaluate(tower_minus_one(22)).value) == 2 ** 2 ** 22 - 1
    assert result.bit_length == 2 ** 22 + 1


def test_bnslp_random_2000(benchmark):
    """Lemma A.5 on a 2,000-gate program, then the BN-SLP evaluated."""
    program = random_program(2000, seed=2, max_bits=256)

    def run():
        bn = bounded_norm(program)
        return bn.length, evaluate(bn.program).sign

    benchmark(run)


def test_gadget_degree_30(benchmark):
    """Lemma 3.1's 31 x 31 system for sigma = z^30 + ... + z + 1."""
    benchmark(gadget_coefficients, [1] * 31)
