"""`bitprop pac` (Appendix D, Theorem D.4): the reconstructed class has the properties the
proof uses, the learner is consistent, the closed forms agree with the simulation and lie
above the paper's bound."""

import json
import math
import random
from fractions import Fraction

import pytest

from bitprop.cli import run
from bitprop.experiments import pac
from bitprop.experiments.tables import read_csv


def _bits(a, k):
    return [math.floor(a * 2 ** i) % 2 for i in range(1, k + 1)]


def test_labels_depend_on_the_first_i_bits_only():
    rng = random.Random(0)
    for k in (1, 2, 5, 9):
        for _ in range(20):
            a = Fraction(rng.getrandbits(k + 10), 2 ** (k + 10))
            labels = [pac.hypothesis(a, k)(x) for x in pac.domain(k)]
            assert [y * 2 ** k for y in labels] == pac.label_numerators(a, k)
            for i, y in enumerate(labels, start=1):
                assert y.denominator <= 2 ** k                     # a k-bit dyadic
                prefix = sum(bit << (i - j) for j, bit in enumerate(_bits(a, i), start=1))
                assert y == Fraction(prefix, 2 ** k)


def test_the_proofs_pair_agrees_off_one_point():
    k = 6
    rng = random.Random(1)
    first = Fraction(rng.getrandbits(k - 1), 2 ** (k - 1))           # bits 1..k-1
    a, a_prime = first, first + Fraction(1, 2 ** k)                   # bit k = 0 / 1
    h, h_prime = pac.hypothesis(a, k), pac.hypothesis(a_prime, k)
    points = pac.domain(k)
    assert points[-1] == 1 and len(points) == k
    assert [h(x) for x in points[:-1]] == [h_prime(x) for x in points[:-1]]
    assert h(1) != h_prime(1)
    assert pac.error(a, pac.label_numerators(a_prime, k), k) == Fraction(1, k)


def test_real_model_needs_one_sample():
    a = Fraction(12345, 2 ** 20)
    for x in pac.domain(8):
        assert (a * x) / x == a                                     # label / x recovers a


def test_the_learner_is_consistent_and_settles_on_the_target():
    k = 7
    rng = random.Random(2)
    a = Fraction(rng.getrandbits(k + 5), 2 ** (k + 5))
    labels = pac.label_numerators(a, k)
    learner = pac.ConsistentLearner(k)
    seen = []
    while not learner.settled:
        i = rng.randrange(k)
        x, y = pac.domain(k)[i], Fraction(labels[i], 2 ** k)
        learner.restrict(*pac.consistent_interval(x, y, k))
        seen.append((x, y))
        assert all(pac.hypothesis(learner.output, k)(x) == y for x, y in seen)
    assert (1, Fraction(labels[-1], 2 ** k)) in seen                 # settling needs x* = 1
    assert pac.error(learner.output, labels, k) == 0


def test_exact_failure_closed_forms():
    eps, delta = Fraction(1, 100), Fraction(1, 10)
    for k in (2, 5, 10):
        for m in (0, 1, 7, 30):
            worst = pac.exact_failure(k, eps, m, "worst")
            assert worst == Fraction(k - 1, k) ** m                   # missing x* = 1
            assert pac.exact_failure(k, eps, m) <= worst
            assert pac.exact_failure(k, eps, m) >= worst / 2          # the proof's 1/2
        m = pac.exact_samples(k, eps, delta, "worst")
        assert Fraction(k - 1, k) ** m <= delta < Fraction(k - 1, k) ** (m - 1)
    # with eps >= 1/k some wrong points are allowed and fewer samples suffice
    assert pac.exact_samples(10, Fraction(1, 5), delta) < pac.exact_samples(10, eps, delta)


def test_every_learner_count_lies_above_the_lower_bound():
    eps, delta = Fraction(1, 1000), Fraction(1, 10)
    for k in (2, 3, 8, 40, 200):
        bound, sharp = pac.lower_bounds(k, eps, delta)
        assert sharp >= bound == pytest.approx((k - 1) * math.log(5))
        assert pac.exact_samples(k, eps, delta) >= sharp
        assert pac.exact_samples(k, eps, delta, "worst") >= sharp
    assert pac.lower_bounds(200, Fraction(1, 100), delta) == (None, None)   # eps >= 1/k
    assert pac.lower_bounds(8, eps, Fraction(1, 2)) == (None, None)


def test_simulation_agrees_with_the_closed_form():
    config = pac.PacConfig(ks=(3, 8), trials=3000, seed=5)
    for k in config.ks:
        rng = random.Random(f"test-{k}")
        curve = pac.failure_curve([pac.trial(k, rng) for _ in range(config.trials)], config.eps)
        for m in range(0, len(curve), 3):
            exact = float(pac.exact_failure(k, config.eps, m))
            sigma = math.sqrt(max(exact * (1 - exact), 1e-4) / config.trials)
            assert abs(float(curve[m]) - exact) < 5 * sigma, (k, m)


def test_command_writes_rows_and_figure(tmp_path, capsys):
    status = run(["pac", "--k", "2-10*2", "--trials", "300", "-o", str(tmp_path)])
    assert status == 0
    out = capsys.readouterr().out
    assert "lower bound" in out and str(tmp_path / "pac.png") in out
    comments, rows = read_csv(tmp_path / "pac.csv")
    assert [int(r["k"]) for r in rows] == [2, 4, 8]
    assert list(rows[0]) == list(pac.COLUMNS)
    assert any("floor(a x 2^k) / 2^k" in line for line in comments)
    for r in rows:
        assert int(r["samples_worst_case"]) >= int(r["samples_exact"]) >= float(r["lower_bound"])
        assert r["samples_real_model"] == "1"
    assert (tmp_path / "pac.png").stat().st_size > 10_000
    assert run(["pac", "--k", "4", "--trials", "50", "--json", "-o", str(tmp_path)]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["rows"][0]["k"] == 4 and document["setup"]["eps"] == 0.01
    assert run(["pac", "--eps", "2", "-o", str(tmp_path)]) == 2
