#!/usr/bin/env python3
"""`bitprop compare` on the LeNet-like model of bench/models.py: how wrong float32 and float64
gradients of one batch are, and what the float pass costs next to the exact grad.

    python3 bench/compare_lenet.py [--side 28] [--batch 8] [--threads N] [--out DIR]

For each float type: the exact grad's seconds (``compare``'s ``timing.exact``; the first
grad also finds the model's dense blocks, so the float32 row's is the larger), the float
pass's seconds (``timing.float``: building the level arrays included), the relative error
distribution over the model's trainable coordinates (its tensors; the frozen zeros left
out), the worst coordinate and the sign disagreements. Writes compare.md and compare.json
(default bench/results/).
"""

import argparse
import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "src"))
sys.path.insert(0, str(BENCH))

from models import data, lenet  # noqa: E402

from bitprop.experiments.compare import compare  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=28)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=str(BENCH / "results"))
    args = parser.parse_args()
    network, dataset = lenet(args.side), data(args.side, args.batch)
    rows = []
    for dtype in ("float32", "float64"):
        document = compare(network, dataset, dtype=dtype, worst=1,
                           threads=args.threads).to_json()
        worst = document["worst"][0]
        rows.append({"float": dtype, "coordinates": document["coordinates"],
                     "exact_s": document["timing"]["exact"],
                     "float_s": document["timing"]["float"],
                     **{f"error_{k}": v for k, v in document["relative_error"].items()},
                     "worst": worst["name"], "loss_error": document["loss"]["relative_error"],
                     "sign_disagreements": document["sign_disagreements"]["count"],
                     "disagreeing": document["sign_disagreements"]["names"][:5]})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.json").write_text(json.dumps({"side": args.side, "batch": args.batch,
                                                  "edges": network.num_edges, "rows": rows},
                                                 indent=1) + "\n")
    lines = ["# bitprop compare on the LeNet-like model (bench/models.py)", "",
             f"Input 1 x {args.side} x {args.side}, batch {args.batch}, "
             f"{network.num_edges:,} edges, float32-valued weights and inputs; the exact grad "
             "against bitprop's own float pass (the float32 row's exact grad is the first, which "
             "also finds the dense blocks).", "",
             "| float | coordinates | exact grad s | float pass s | median rel. error | "
             "p90 | max | worst | loss rel. error | sign disagreements |",
             "|---|---:|---:|---:|---:|---:|---:|---|---:|---|"]
    for row in rows:
        signs = f"{row['sign_disagreements']}" + (
            f" ({', '.join(row['disagreeing'])})" if row["disagreeing"] else "")
        lines.append(f"| {row['float']} | {row['coordinates']:,} | {row['exact_s']:.3g} | "
                     f"{row['float_s']:.3g} | {row['error_median']:.3g} | "
                     f"{row['error_p90']:.3g} | {row['error_max']:.3g} | {row['worst']} | "
                     f"{row['loss_error']:.3g} | {signs} |")
    (out / "compare.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
