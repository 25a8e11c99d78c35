#!/usr/bin/env python3
"""Forward and backward against their own integer-product floors.

"Backward within 2x of forward" is the wrong yardstick for exact MLP gradients: the forward
multiplies small weights by growing activations, while the backward's gradient rows
dL/dW_l = D_l H_(l-1)^T multiply two growing matrices, so even the floor (FLINT's
fmpz_mat_mul alone on the same products, operands cleared of denominators; bench/c/mat.c,
mode floor) pays far more for its backward products. This script puts each of bitprop's two
halves (one thread) beside its own floor:

    python3 bench/backward_floor.py                           # the general-rational set
    python3 bench/backward_floor.py --instances relu-w16-d16-q8-b8 --repeats 3

Writes backward_floor.md and backward_floor.json into --out (default bench/results).
"""

import argparse
import json
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent / "src"))

import instances  # noqa: E402
from peers import Repeat, _c  # noqa: E402

import bitprop  # noqa: E402

DEFAULT = ["relu-w16-d16-q8-b8", "relu-w64-d16-q8-b8", "relu-w16-d16-q16-b8",
           "sq-w8-d6-q8-b8", "sq-w8-d8-q8-b8", "relu-w64-d16-dyadic-b8"]


def bitprop_halves(instance_id, repeats):
    """Best (forward, backward) seconds of bitprop's grad on one thread."""
    network_doc, dataset_doc = instances.to_bitprop_json(instances.generate(instance_id))
    net = bitprop.Network.from_json(network_doc)
    data = bitprop.Dataset.from_json(dataset_doc)
    best = None
    for _ in range(repeats):
        timing = bitprop.grad(net, data, threads=1).timing
        if best is None or timing["forward"] + timing["backward"] < sum(best):
            best = (timing["forward"], timing["backward"])
    return best


def floor_halves(instance_id, repeats):
    """(forward, backward) seconds of the floor's products: its first L products and the
    rest (the total's best minus the forward's best)."""
    header, _ = _c.run_program([_c.build()["bench_mat"], "floor"],
                               instances.generate(instance_id), Repeat(repeats, 60.0))
    forward, total = float(header["forward_time"]), float(header["time"])
    return forward, max(total - forward, 0.0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", default=",".join(DEFAULT))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(BENCH / "results"))
    args = parser.parse_args(argv)
    rows = []
    for instance_id in args.instances.split(","):
        started = time.perf_counter()
        bf, bb = bitprop_halves(instance_id, args.repeats)
        ff, fb = floor_halves(instance_id, args.repeats)
        rows.append({"instance": instance_id, "bitprop_forward_s": bf, "bitprop_backward_s": bb,
                     "floor_forward_s": ff, "floor_backward_s": fb,
                     "seconds": time.perf_counter() - started})
        print(instance_id, rows[-1], flush=True)
    lines = ["# Forward and backward against their own product floors (bench/backward_floor.py)",
             "", "Seconds, one thread, best of the repeats; floor = fmpz_mat_mul alone on the "
             "same products (forward: W_l H_(l-1); backward: D_l H_(l-1)^T and W_l^T D_l).",
             "", "| instance | bitprop fwd | bitprop bwd | bwd / fwd | floor fwd | floor bwd | "
             "floor bwd / fwd | bitprop / floor, fwd | bitprop / floor, bwd |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        ratio = (lambda a, b: f"{a / b:.1f}" if b > 0 else "-")
        lines.append(
            f"| {r['instance']} | {r['bitprop_forward_s']:.3g} | {r['bitprop_backward_s']:.3g} "
            f"| {ratio(r['bitprop_backward_s'], r['bitprop_forward_s'])} "
            f"| {r['floor_forward_s']:.3g} | {r['floor_backward_s']:.3g} "
            f"| {ratio(r['floor_backward_s'], r['floor_forward_s'])} "
            f"| {ratio(r['bitprop_forward_s'], r['floor_forward_s'])} "
            f"| {ratio(r['bitprop_backward_s'], r['floor_backward_s'])} |")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "backward_floor.md").write_text("\n".join(lines) + "\n")
    (out / "backward_floor.json").write_text(json.dumps(rows, indent=1) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
