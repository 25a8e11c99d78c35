#!/usr/bin/env python3
"""Dense blocks inside DAGs that are not dense stacks: the mixed kernel against the scalar one.

    python3 bench/mixed.py [--instances ID,ID] [--threads N] [--budget S] [--out DIR]

Each benchmark MLP (bench/instances.py) is changed into three graphs that the dense-stack
kernel cannot take, and that a user meets in practice:

    skip      a linear edge from input 0 to every output (wide-and-deep style)
    head      a scalar head: one piecewise-linear vertex reading every output, the new output
    rounded   the middle layer's activation rounded to 8 bits (a scalar layer between blocks)
    residual  every unit i of layer l >= 2 also reads unit i of layer l - 2 (ResNet
              style: each layer is a block of its own, with zeros for the missing edges)

and one forward + loss + backward (``net.grad``) is timed on the scalar kernel (one vertex at
a time: how such graphs ran before dense blocks) and on ``auto`` (dense blocks inside the
scalar sweep), next to the untouched MLP on the dense-stack kernel. Every pair's loss and
gradients are checked equal. Best of repeated runs; writes mixed.md and mixed.json (default
bench/results/) and prints the table.
"""

import argparse
import copy
import gc
import json
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import instances  # noqa: E402

import bitprop  # noqa: E402

DEFAULT = ["relu-w16-d16-b8", "relu-w16-d128-b8", "relu-w64-d16-b8", "relu-w64-d16-dyadic-b8",
           "sq-w8-d8-b8"]
HEAD = {"kind": "piecewise_linear", "breakpoints": ["-1", "1"], "slopes": ["1/4", "1", "1/2"],
        "intercepts": ["-3/4", "0", "1/2"]}


def skip(doc):
    for output in doc["outputs"]:
        doc["edges"].append({"from": doc["inputs"][0], "to": output, "weight": "1/3",
                             "bias": "0"})
    return doc


def head(doc):
    doc["vertices"].append({"name": "head", "activation": HEAD})
    doc["edges"] += [{"from": o, "to": "head", "weight": "1/2", "bias": "0"}
                     for o in doc["outputs"]]
    doc["outputs"] = ["head"]
    return doc


def rounded(doc):
    depth = max(int(v["name"].split("_")[0][1:]) for v in doc["vertices"])
    middle = instances.vertex_name(depth // 2, "")
    for v in doc["vertices"]:
        if v["name"].startswith(middle):
            v["activation"] = {"kind": "rounded", "inner": "relu", "bits": 8}
    return doc


def residual(doc):
    names = {v["name"] for v in doc["vertices"]}
    for v in doc["vertices"]:
        layer, _, unit = v["name"][1:].partition("_")
        source = instances.vertex_name(int(layer) - 2, unit)
        if int(layer) >= 2 and source in names:
            doc["edges"].append({"from": source, "to": v["name"], "weight": "1", "bias": "0"})
    return doc


VARIANTS = {"skip": skip, "head": head, "rounded": rounded, "residual": residual}


def best_time(call, budget, max_reps=20):
    best, total, reps = float("inf"), 0.0, 0
    while reps == 0 or (reps < max_reps and total < budget):
        gc.collect()
        start = time.perf_counter()
        call()
        elapsed = time.perf_counter() - start
        best, total, reps = min(best, elapsed), total + elapsed, reps + 1
    return best


def measure(instance_id, variant, threads, budget):
    network, dataset = instances.to_bitprop_json(instances.generate(instance_id))
    if variant == "head":
        dataset = copy.deepcopy(dataset)
        for sample in dataset["samples"]:
            sample["y"] = sample["y"][:1]
    plain = bitprop.Network.from_json(network)
    net = bitprop.Network.from_json(VARIANTS[variant](copy.deepcopy(network)))
    data = bitprop.Dataset.from_json(dataset)
    results = {k: net.grad(data, kernel=k, threads=threads) for k in ("scalar", "auto")}
    same = [(r.loss, r.grad_weight, r.grad_bias) for r in results.values()]
    assert same[0] == same[1], f"{instance_id} {variant}: the kernels disagree"
    row = {"instance": instance_id, "variant": variant, "edges": net.num_edges,
           "max_bits": results["auto"].bits.max_value}
    for kernel in ("scalar", "auto"):
        row[kernel] = best_time(lambda: net.grad(data, kernel=kernel, threads=threads), budget)
    plain_data = bitprop.Dataset.from_json(instances.to_bitprop_json(
        instances.generate(instance_id))[1])
    row["stack"] = best_time(lambda: plain.grad(plain_data, threads=threads), budget)
    return row


def table(rows, threads):
    lines = [f"Seconds per `net.grad` (forward + loss + backward), best of repeated runs, "
             f"{threads or 'all'} threads. *scalar*: one vertex at a time; *blocks*: dense "
             "blocks inside the scalar sweep (`kernel='auto'`); *stack*: the unchanged MLP on "
             "the dense-stack kernel.", "",
             "| instance | variant | edges | max bits | scalar | blocks | speed-up | stack |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['instance']} | {r['variant']} | {r['edges']:,} | {r['max_bits']:,} "
                     f"| {r['scalar']:.4g} | {r['auto']:.4g} | {r['scalar'] / r['auto']:.1f}x "
                     f"| {r['stack']:.4g} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", default=",".join(DEFAULT))
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--budget", type=float, default=1.0,
                        help="repeat a run while the runs so far took less (1.0 s)")
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    args = parser.parse_args(argv)
    rows = []
    for instance_id in args.instances.split(","):
        for variant in args.variants.split(","):
            rows.append(measure(instance_id, variant, args.threads, args.budget))
            print(f"{instance_id} {variant}: scalar {rows[-1]['scalar']:.4g} s, blocks "
                  f"{rows[-1]['auto']:.4g} s", file=sys.stderr, flush=True)
    text = table(rows, args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "mixed.md").write_text("# Dense blocks in mixed graphs\n\n" + text)
    (args.out / "mixed.json").write_text(json.dumps(rows, indent=1) + "\n")
    print(text)


if __name__ == "__main__":
    main()
