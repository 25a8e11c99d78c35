#!/usr/bin/env python3
"""The measured rule of bitprop._factored: when Euclid beats remainders by the base's groups.

    python3 bench/gcd_rule.py [--out DIR]

For numbers of 2^k words, k = 0 .. 12, times one gcd of two such numbers (a denominator that
is a product of many primes below 2^16, and a random numerator: the case the kernels meet)
and one remainder of such a number by a word (what a group of the base costs), and prints
their ratio: how many groups a gcd is worth. bitprop._factored.GROUP_PASSES_PER_GCD holds
these ratios, rounded. Python's call overhead is measured on one-word operands and
subtracted; a remainder of a few words takes less than that overhead's noise, so its cost is
the line through the remainders of 256 and 4096 words (a fixed part for the divisor's
inverse, then a pass over the words). Writes gcd_rule.md (default bench/results/).
"""

import argparse
import random
import time
from pathlib import Path

from flint import fmpz

PRIMES = [p for p in range(3, 1 << 16, 2) if all(p % d for d in range(3, int(p ** 0.5) + 1, 2))]


def best(call, reps):
    """Best of 5 of the mean seconds of ``reps`` calls."""
    times = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(reps):
            call()
        times.append((time.perf_counter() - started) / reps)
    return min(times)


def operands(k, rng):
    """A random numerator and a denominator of primes below 2^16, both of 2^k words."""
    bits = 64 << k
    denominator = fmpz(1)
    while denominator.bit_length() < bits:
        denominator *= rng.choice(PRIMES)
    return fmpz(rng.getrandbits(bits)), denominator


def measure(k, rng):
    """(seconds of a gcd, seconds of a remainder by a word, both less call overhead)."""
    numerator, denominator = operands(k, rng)
    word = fmpz((1 << 63) - 25)
    reps = max(20, 200_000 >> k)
    overhead = best(lambda: fmpz(5) % word, reps)
    gcd = best(lambda: numerator.gcd(denominator), max(5, reps // 20)) - overhead
    return gcd, best(lambda: numerator % word, reps) - overhead


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    args = parser.parse_args()
    rng = random.Random("bitprop-bench:gcd-rule")
    measured = [measure(k, rng) for k in range(13)]
    slope = (measured[12][1] - measured[8][1]) / (4096 - 256)
    fixed = max(measured[8][1] - 256 * slope, 0.0)
    rows = ["| words | gcd (us) | remainder by a word (us, fitted) | gcd / remainder |",
            "|---:|---:|---:|---:|"]
    for k, (gcd, _) in enumerate(measured):
        remainder = fixed + slope * (1 << k)
        rows.append(f"| {1 << k} | {gcd * 1e6:.2f} | {remainder * 1e6:.3f} | "
                    f"{gcd / remainder:.1f} |")
        print(rows[-1], flush=True)
    text = ("# The measured rule of bitprop._factored\n\n"
            "`python3 bench/gcd_rule.py`: how many remainders by a group's product one gcd "
            "costs, by size. A base with more groups than that takes Euclid.\n\n"
            + "\n".join(rows) + "\n")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gcd_rule.md").write_text(text, encoding="utf-8")
    print(f"wrote {out / 'gcd_rule.md'}")


if __name__ == "__main__":
    main()
