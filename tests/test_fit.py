"""The growth-law fit recovers known laws from synthetic data and refuses to guess on too few
depths (bitprop.experiments.fit)."""

import random

import pytest

from bitprop.experiments import fit


def test_exponential_base_two_is_recovered():
    depths = list(range(1, 11))
    result = fit.fit_growth(depths, [3 * 2 ** d for d in depths])
    assert result.law == fit.EXPONENTIAL
    assert result.base == pytest.approx(2.0, abs=1e-9)
    assert result.coefficient == pytest.approx(3.0, rel=1e-9)
    assert result.r2 == pytest.approx(1.0)
    assert result.exponential.rss <= fit.MARGIN * result.polynomial.rss


@pytest.mark.parametrize("degree, coefficient", [(1, 5), (2, 3)])
def test_polynomial_degree_is_recovered(degree, coefficient):
    depths = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64]
    result = fit.fit_growth(depths, [coefficient * d ** degree for d in depths])
    assert result.law == fit.POLYNOMIAL
    assert result.degree == pytest.approx(degree, abs=1e-9)
    assert result.coefficient == pytest.approx(coefficient, rel=1e-9)
    assert result.tail_degree == pytest.approx(degree, abs=1e-9)


def test_noisy_seeds_still_give_the_law():
    rng = random.Random(1)
    depths, bits = [], []
    for d in range(1, 13):
        for _ in range(3):                    # three "seeds" per depth, 5 % noise
            depths.append(d)
            bits.append(40 * 2 ** d * (1 + rng.uniform(-0.05, 0.05)))
    result = fit.fit_growth(depths, bits)
    assert result.law == fit.EXPONENTIAL and result.base == pytest.approx(2.0, abs=0.02)
    assert result.points == 36 and result.depths == 12
    linear = fit.fit_growth(depths, [100 * d * (1 + rng.uniform(-0.05, 0.05)) for d in depths])
    assert linear.law == fit.POLYNOMIAL and linear.degree == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("depths", [[1, 2, 3], [5, 5, 5, 6, 6, 7, 7, 7], [4], []])
def test_too_few_depths_is_undetermined(depths):
    result = fit.fit_growth(depths, [2 ** d for d in depths])
    assert result.law == fit.UNDETERMINED
    assert "too few depths" in result.reason
    assert result.base is None and result.degree is None
    assert "too few depths" in fit.describe(result)


def test_level_series_is_bounded_polynomial():
    result = fit.fit_growth([1, 2, 4, 8, 16], [120] * 5)
    assert result.law == fit.POLYNOMIAL and abs(result.degree) < fit.FLAT_DEGREE
    assert "flat" in result.reason


def test_no_clear_winner_is_undetermined():
    # a short, noisy span of depths: both lines fit about equally badly
    result = fit.fit_growth([10, 11, 12, 13], [1000, 1250, 1100, 1400])
    assert result.law == fit.UNDETERMINED
    assert result.reason == "neither RSS is at most half of the other"
    assert 0.5 < result.exponential.rss / result.polynomial.rss < 2
    assert "base" in fit.describe(result) and "degree" in fit.describe(result)


def test_fit_rejects_what_log_space_cannot_hold():
    with pytest.raises(ValueError):
        fit.fit_growth([0, 1, 2, 3], [1, 2, 4, 8])
    with pytest.raises(ValueError):
        fit.fit_growth([1, 2, 3], [1, 2])


def test_verdict_table_reads_like_the_issue():
    depths = list(range(1, 11))
    square = fit.fit_growth(depths, [3.1 * 2 ** d for d in depths])
    relu = fit.fit_growth(depths, [40 * d for d in depths])
    few = fit.fit_growth([1, 2], [3, 5])
    lines = fit.verdict_table([("square", square), ("relu", relu), ("cube", few)]).splitlines()
    assert lines[0].startswith("square  exponential   bits ~ 3.1 * 2.00^depth")
    assert lines[1].startswith("relu    polynomial    degree 1.00")
    assert lines[2].startswith("cube    undetermined  too few depths (2 < 4)")
    assert "R^2 1.000" in lines[0] and "10 depths" in lines[0]
    assert fit.verdict_table([]) == ""


def test_fit_to_json_carries_the_criterion():
    document = fit.fit_growth([1, 2, 3, 4, 5], [2, 4, 8, 16, 32]).to_json()
    assert document["law"] == "exponential"
    assert document["base"] == pytest.approx(2.0)
    assert document["margin"] == fit.MARGIN and document["min_depths"] == fit.MIN_DEPTHS
    assert set(document["exponential"]) == {"intercept", "slope", "rss", "r2"}
