"""`bitprop demo` (README command 1): the growth sweep, the verdict table, Figure 1, the files
and where they went; the real demo runs well under a minute and gets the dichotomy right."""

import json
from dataclasses import replace

import pytest

from bitprop.cli import run
from bitprop.experiments import demo, growth
from bitprop.experiments.figure1 import Figure1Config


@pytest.fixture
def small_demo(monkeypatch):
    """The demo's structure with a tiny sweep, for the tests of its output."""
    real = demo.growth_config

    def small_growth(threads=None):
        config = real(threads)
        return type(config)(config.activations, (1, 2, 3, 4, 5), widths=(3,), seeds=(0,),
                            samples=2, max_bits=20_000)

    monkeypatch.setattr(demo, "growth_config", small_growth)
    monkeypatch.setattr(demo, "figure1_config",
                        lambda threads=None: Figure1Config(depths=(1, 2, 3), seeds=(0,)))


def test_demo_prints_the_table_the_verdicts_and_the_files(small_demo, tmp_path, monkeypatch,
                                                          capsys):
    monkeypatch.chdir(tmp_path)
    assert run(["demo"]) == 0
    out = capsys.readouterr().out
    for text in ("max bits", "relu", "square", "rounded-8", "growth law", "Figure 1",
                 "files:", "all files are in"):
        assert text in out
    assert (tmp_path / "bitprop-out").is_dir()                  # the default directory
    for name in ("growth.csv", "growth.json", "growth-bits.png", "growth-time.png",
                 "figure1.csv", "figure1.json", "figure1.png"):
        path = tmp_path / "bitprop-out" / name
        assert path.stat().st_size > 0, name
        assert f"bitprop-out/{name}" in out


def test_demo_json_is_one_object(small_demo, tmp_path, capsys):
    assert run(["demo", "--json", "-o", str(tmp_path), "--no-plots"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert set(document) == {"growth", "figure1", "files", "seconds", "interrupted"}
    assert set(document["growth"]["fits"]) == {"relu", "square", "rounded-8"}
    assert document["figure1"]["summary"]["relu"]["exact_deepest_depth"] == 3
    assert document["files"]["directory"] == str(tmp_path)


def test_the_real_demo_shows_the_dichotomy(tmp_path):
    """The demo's verdicts (its wall time is measured in bench/, never asserted here)."""
    result = demo.run_demo(str(tmp_path), plots=False)
    laws = {label: fit.law for label, fit in result.fits}
    assert laws == {"relu": "polynomial", "square": "exponential", "rounded-8": "polynomial"}
    fits = dict(result.fits)
    assert fits["square"].base == pytest.approx(2.0, abs=0.1)
    assert 0.6 < fits["relu"].degree < 1.3 and 0.6 < fits["rounded-8"].degree < 1.3
    assert {stop.activation for stop in result.growth.stops} == {"square"}
    assert result.figure1_summary["square"]["float64_overflow_depth"] is not None
    assert result.figure1_summary["relu"]["float64_overflow_depth"] is None


@pytest.mark.slow
@pytest.mark.parametrize("depths", ["1-8", "2-40*1.4", "3-9,12-60*1.25"])
def test_the_demos_verdicts_do_not_depend_on_its_depths(depths):
    """The same three laws whichever depths the demo's sweep is given (z^2 reaches its
    max_bits by depth 10, so every range starts low enough for 5 of its depths)."""
    config = replace(demo.growth_config(), depths=tuple(growth.parse_depths(depths)))
    laws = {label: fit.law for label, fit in growth.fit_sweep(growth.sweep(config))}
    assert laws == {"relu": "polynomial", "square": "exponential", "rounded-8": "polynomial"}
