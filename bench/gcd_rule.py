#!/usr/bin/env python3
"""The measured rule of bitprop._factored: when Euclid beats remainders by the base's groups,
and when a batch of gcds over one denominator beats a gcd each.

    python3 bench/gcd_rule.py [--out DIR]

Runs bench/c/gcd_rule.c, built against the FLINT 2.9 the kernels link and making the calls
they make, so that no interpreter overhead hides the small sizes: for numbers of 2^k words,
k = 0 .. 12 (a denominator that is a product of many primes below 2^16, and random numbers of
its size: the case the kernels meet), one fmpz_gcd, one remainder by a word (fmpz_fdiv_ui by a
product of such primes: what a group of the base costs) and one multiplication mod the
denominator (what a member of a batch costs). It prints gcd / remainder, how many groups a gcd
is worth (bitprop._factored.GROUP_PASSES_PER_GCD holds these ratios, rounded: a base with more
groups takes Euclid), and gcd / multiplication (MULMODS_PER_GCD, rounded to a tenth: a batch
of m numbers pays when m multiplications and one gcd cost less than what m gcds cost
otherwise). Writes gcd_rule.md (default bench/results/).

Until this rule was measured in C, remainders were timed through python-flint's ``%``, which
computes the quotient too and pays an interpreter call: 3 to 6 times a remainder's cost, so
that bases of a few hundred groups went to Euclid where remainders were 2 to 4 times cheaper.
"""

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import _c  # noqa: E402


def measure():
    """[(seconds of a gcd, of a remainder by a word, of a multiplication mod den)] for 2^k
    words, k = 0 .. 12, from bench/c/gcd_rule.c."""
    program = _c.build()["bench_gcd_rule"]
    out = subprocess.run([str(program)], capture_output=True, text=True, check=True).stdout
    return [tuple(map(float, line.split()[1:])) for line in out.splitlines()]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    args = parser.parse_args()
    measured = measure()
    rows = ["| words | gcd (us) | remainder by a word (us) | gcd / remainder | "
            "multiplication mod den (us) | gcd / multiplication |",
            "|---:|---:|---:|---:|---:|---:|"]
    for k, (gcd, remainder, mulmod) in enumerate(measured):
        rows.append(f"| {1 << k} | {gcd * 1e6:.2f} | {remainder * 1e6:.3f} | "
                    f"{gcd / remainder:.0f} | {mulmod * 1e6:.3f} | {gcd / mulmod:.1f} |")
        print(rows[-1], flush=True)
    print("GROUP_PASSES_PER_GCD =", [round(g / r) for g, r, _ in measured])
    print("MULMODS_PER_GCD =", [round(g / m, 1) for g, _, m in measured])
    text = ("# The measured rule of bitprop._factored\n\n"
            "`python3 bench/gcd_rule.py` (bench/c/gcd_rule.c on FLINT 2.9): how many "
            "remainders by a group's product one gcd costs, by size (a base with more groups "
            "than that takes Euclid), and how many multiplications mod the denominator (a "
            "batch of m numbers over one denominator, one gcd and m multiplications, replaces "
            "m gcds where that is cheaper).\n\n"
            + "\n".join(rows) + "\n")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gcd_rule.md").write_text(text, encoding="utf-8")
    print(f"wrote {out / 'gcd_rule.md'}")


if __name__ == "__main__":
    main()
