#!/usr/bin/env python3
"""Time and bit length of exact forward + backward against depth, from the growth harness.

    python3 bench/scaling.py [--widths 16] [--depths 4-128*2] [--samples 8] [--out DIR]

Runs ``bitprop.experiments.growth.sweep`` (the same runs, rows and bit statistics as
``bitprop growth``; nothing is recomputed here) for ReLU with small rational and with
float32-exact weights and for z^2, and writes one table per activation and width: depth, the
largest bit length of any value, adjoint or gradient coordinate, and the seconds of forward
and backward. Writes scaling.md (default bench/results/) and prints it.
"""

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from bitprop.experiments import growth

BENCH = Path(__file__).resolve().parent
SERIES = (("relu", "rational"), ("relu", "dyadic"), ("square", "rational"))


def table(result, title):
    lines = [f"### {title}", "", "| depth | max bits | forward s | backward s |",
             "|---:|---:|---:|---:|"]
    for row in result.rows:
        lines.append(f"| {row['depth']} | {row['bits_max']:,} | {row['forward_s']:.3g} | "
                     f"{row['backward_s']:.3g} |")
    for stop in result.stops:
        lines.append(f"| {stop.depth} | stopped: {stop.reason} | | |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default="16")
    parser.add_argument("--depths", default="4-128*2")
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--max-bits", type=int, default=2 * 10 ** 5)
    parser.add_argument("--out", default=str(BENCH / "results"))
    args = parser.parse_args(argv)
    depths = tuple(growth.parse_depths(args.depths))
    sections = []
    for activation, weights in SERIES:
        for width in (int(w) for w in args.widths.split(",")):
            config = growth.GrowthConfig(
                (growth.parse_activation(activation),), depths, widths=(width,), seeds=(0,),
                samples=args.samples, weights=weights, max_bits=args.max_bits)
            if weights == "rational":
                config = replace(config, scale=1)
            result = growth.sweep(config)
            sections.append(table(result, f"{activation}, {weights} weights, width {width}, "
                                          f"{args.samples} samples"))
    text = ("# Exact forward + backward vs depth (rows of bitprop growth, seed 0)\n\n"
            + "\n".join(sections))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "scaling.md").write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
