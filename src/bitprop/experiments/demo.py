"""`bitprop demo`: the dichotomy in under a minute: a growth sweep of ReLU, z^2 and z^2
rounded to 8 bits (Remark 1.5), the fitted law per activation, and Figure 1.

Smaller than the commands' defaults so it runs in well under a minute on two cores; every
number still comes from the exact evaluator (``growth.sweep`` and ``figure1.figure1_rows``).
"""

import os
import time
from dataclasses import dataclass, field

from .figure1 import Figure1Config, figure1_rows, summary
from .figure1 import write_outputs as write_figure1
from .growth import GrowthConfig, fit_sweep, parse_activation, parse_depths, sweep
from .growth import write_outputs as write_growth

ACTIVATIONS = ("relu", "square", "rounded-8")
DEPTHS = "1-12,16-96*1.5"


def growth_config(threads=None):
    return GrowthConfig(tuple(parse_activation(a) for a in ACTIVATIONS),
                        tuple(parse_depths(DEPTHS)), widths=(8,), seeds=(0, 1, 2),
                        max_bits=500_000, time_budget=20.0, threads=threads)


def figure1_config(threads=None):
    return Figure1Config(depths=tuple(range(1, 25)), max_bits=400_000, time_budget=20.0,
                         threads=threads)


@dataclass
class DemoResult:
    growth: object = None           # growth.SweepResult
    fits: list = field(default_factory=list)
    figure1_rows: list = field(default_factory=list)
    figure1_summary: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)
    interrupted: bool = False


def run_demo(directory, progress=None, threads=None, plots=True, growth=None, figure=None):
    """Run both parts and write their files under ``directory``; a Ctrl-C during either
    part still writes what finished (``interrupted`` is then True and Figure 1 may be empty).
    ``growth`` / ``figure``: configurations replacing the demo's own (tests use small ones)."""
    out = DemoResult()
    started = time.perf_counter()
    out.growth = sweep(growth or growth_config(threads), progress)
    out.fits = fit_sweep(out.growth)
    out.files["growth"] = write_growth(out.growth, out.fits, directory, plots=plots)
    out.seconds["growth"] = time.perf_counter() - started
    out.interrupted = out.growth.interrupted
    if not out.interrupted:
        config = figure or figure1_config(threads)
        middle = time.perf_counter()
        out.figure1_rows, out.interrupted = figure1_rows(config, progress)
        out.figure1_summary = summary(out.figure1_rows, config)
        out.files["figure1"] = write_figure1(out.figure1_rows, config, directory,
                                             interrupted=out.interrupted, plots=plots)
        out.seconds["figure1"] = time.perf_counter() - middle
    out.seconds["total"] = time.perf_counter() - started
    out.files["directory"] = os.path.abspath(directory)
    return out
