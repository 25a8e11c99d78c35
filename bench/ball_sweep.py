#!/usr/bin/env python3
"""Ball passes against exact passes and against peers' ball / float loops on the same work.

    python3 bench/ball_sweep.py [--instances ID,ID] [--repeat N] [--out DIR]

For each benchmark MLP (bench/instances.py), one forward + loss + backward is timed:

    exact        bitprop.grad (auto kernel), whose values have B bits (max over z and f)
    ball p       bitprop.ball_grad at precision p, for p = 64 and p = B (the comparison the
                 issue sets: a ball pass at p bits within 3x of the exact pass of p-bit values)
    flint arb    python-flint's arb in the scalar loops of bench/peers/_loops.py at B bits
    mpmath       mpmath's mpf (floating point, no radius) in the same loops at B bits

All on one thread, best of ``--repeat`` runs (the peers: one run). The ball results are
checked to contain the exact loss. Writes ball_sweep.md and ball_sweep.json (default
bench/results/) and prints the table. A missing peer is skipped.
"""

import argparse
import json
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import instances  # noqa: E402
from peers import _loops  # noqa: E402

import bitprop  # noqa: E402

DEFAULT = ["relu-w16-d16-b8", "relu-w64-d16-b8"]


def best_of(repeat, run):
    """(best seconds, last result) of ``repeat`` calls of ``run``."""
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    return best, result


def flint_arb_loops(instance, precision):
    """Seconds of the scalar loops over python-flint arb at ``precision`` bits, or None."""
    try:
        from flint import arb, ctx, fmpq
    except ImportError:
        return None
    saved = ctx.prec
    ctx.prec = precision
    try:
        state = _loops.convert(instance, lambda q: arb(fmpq(q.numerator, q.denominator)))
        return best_of(1, lambda: _loops.forward_backward(state))[0]
    finally:
        ctx.prec = saved


def mpmath_loops(instance, precision):
    """Seconds of the scalar loops over mpmath mpf at ``precision`` bits, or None."""
    try:
        import mpmath
    except ImportError:
        return None
    with mpmath.workprec(precision):
        state = _loops.convert(instance, lambda q: mpmath.mpf(q.numerator) / q.denominator)
        return best_of(1, lambda: _loops.forward_backward(state))[0]


def measure(instance_id, repeat):
    instance = instances.generate(instance_id)
    network_doc, dataset_doc = instances.to_bitprop_json(instance)
    net = bitprop.Network.from_json(network_doc)
    data = bitprop.Dataset.from_json(dataset_doc)
    net.grad(data, threads=1)                                   # compile once, untimed
    exact_seconds, exact = best_of(repeat, lambda: net.grad(data, threads=1))
    bits = exact.bits.max_value
    row = {"instance": instance_id, "edges": net.num_edges, "samples": len(data),
           "value_bits": bits, "exact": exact_seconds}
    for name, precision in (("ball_64", 64), ("ball_B", bits)):
        seconds, result = best_of(repeat, lambda p=precision: bitprop.ball_grad(
            net, data, p, threads=1))
        assert result.loss.contains(exact.loss), (instance_id, precision)
        row[name] = seconds
    row["flint_arb"] = flint_arb_loops(instance, bits)
    row["mpmath"] = mpmath_loops(instance, bits)
    return row


def _seconds(value):
    return "-" if value is None else f"{value:.4g}"


def table(rows):
    lines = ["| instance | edges | samples | value bits B | exact | ball p=64 | ball p=B | "
             "ball B / exact | python-flint arb | mpmath |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['instance']} | {r['edges']:,} | {r['samples']} | {r['value_bits']} | "
                     f"{_seconds(r['exact'])} | {_seconds(r['ball_64'])} | "
                     f"{_seconds(r['ball_B'])} | {r['ball_B'] / r['exact']:.2f}x | "
                     f"{_seconds(r['flint_arb'])} | {_seconds(r['mpmath'])} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", default=",".join(DEFAULT))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    args = parser.parse_args(argv)
    rows = [measure(i, args.repeat) for i in args.instances.split(",")]
    text = table(rows)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ball_sweep.json").write_text(json.dumps(rows, indent=1) + "\n")
    (args.out / "ball_sweep.md").write_text(
        "# Ball passes against exact passes and peers\n\n"
        "Seconds per forward + loss + backward on one thread (`python3 bench/ball_sweep.py`), "
        "best of repeated runs (peers: one run). *value bits B*: the largest z or f of the "
        "exact pass; *ball p=B*: `ball_grad` at B bits, the issue's comparison (target: "
        "within 3x of *exact*); python-flint's `arb` and mpmath's `mpf` run the scalar loops "
        "of bench/peers/_loops.py at B bits.\n\n" + text + "\n")


if __name__ == "__main__":
    main()
