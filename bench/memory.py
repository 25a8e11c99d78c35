#!/usr/bin/env python3
"""Peak memory of one exact forward + backward (net.grad) against what its values occupy.

    python3 bench/memory.py [--instances ID,ID] [--threads N] [--out DIR]

Per instance, in a fresh process: the resident set after loading the instance and compiling
the network (the baseline), and the peak (VmHWM) during one ``net.grad``; their difference is
what the evaluation itself took. It is compared with the payload of the values a backward
pass keeps: every pre-activation z and value f of every vertex and sample, in lowest terms,
as 64-bit limbs of numerator and denominator, and with the payload of the result itself, the
gradient (one weight per edge, one bias value per vertex): an MLP with fewer samples than
units has more gradient coordinates than values. Both are counted in the parent process (from
``forward(keep_all=True)`` and ``grad``), so that counting never shows in the child's peak. Writes
memory.md and memory.json (default bench/results/) and prints the table.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import instances  # noqa: E402

DEFAULT = ["relu-w64-d16-b64", "relu-w64-d16-dyadic-b64", "relu-w16-d128-b64",
           "relu-w64-d128-dyadic-b8", "sq-w8-d10-b64", "chain-sq-d20"]

_CHILD = r"""
import json, sys
sys.path.insert(0, {bench!r})
import instances, bitprop

def rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024

network, dataset = instances.to_bitprop_json(instances.generate({id!r}))
net, data = bitprop.Network.from_json(network), bitprop.Dataset.from_json(dataset)
net.plan()
baseline = rss("VmRSS:")
result = net.grad(data, threads={threads})
print(json.dumps({{"baseline": baseline, "peak": rss("VmHWM:"),
                   "max_value_bits": result.bits.max_value}}))
"""


def limb_bytes(q):
    """Bytes of the 64-bit limbs of q's numerator and denominator."""
    return 8 * (-(-abs(q.numerator).bit_length() // 64) + -(-q.denominator.bit_length() // 64))


def payload_bytes(instance_id):
    """(bytes of every z and f, bytes of the gradient) in lowest terms."""
    import bitprop
    network, dataset = instances.to_bitprop_json(instances.generate(instance_id))
    net, data = bitprop.Network.from_json(network), bitprop.Dataset.from_json(dataset)
    values = net.forward(data, keep_all=True).values
    kept = sum(limb_bytes(q) for sample in values for kind in ("z", "f")
               for q in sample[kind].values())
    result = net.grad(data)
    heads = {}                          # one bias value per vertex: dL/dz of the edge's head
    for edge, q in zip(net.edges, result.grad_bias):
        heads[edge.target] = q
    gradient = sum(map(limb_bytes, result.grad_weight)) + sum(map(limb_bytes, heads.values()))
    return kept, gradient


def measure(instance_id, threads):
    code = _CHILD.format(bench=str(BENCH), id=instance_id, threads=threads)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    child = json.loads(out.stdout)
    kept, gradient = payload_bytes(instance_id)
    used = child["peak"] - child["baseline"]
    return {"instance": instance_id, "threads": threads, "kept_mib": kept / 2 ** 20,
            "gradient_mib": gradient / 2 ** 20, "evaluation_mib": used / 2 ** 20,
            "ratio": used / (kept + gradient),
            "baseline_mib": child["baseline"] / 2 ** 20, "peak_mib": child["peak"] / 2 ** 20,
            "max_value_bits": child["max_value_bits"]}


def render(rows):
    lines = ["| instance | threads | max value bits | values kept (MiB) | gradient (MiB) | "
             "evaluation peak (MiB) | peak / (values + gradient) | process baseline / peak "
             "(MiB) |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['instance']} | {r['threads']} | {r['max_value_bits']:,} | "
                     f"{r['kept_mib']:.1f} | {r['gradient_mib']:.1f} | "
                     f"{r['evaluation_mib']:.1f} | {r['ratio']:.2f} | "
                     f"{r['baseline_mib']:.0f} / {r['peak_mib']:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", default=",".join(DEFAULT))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=str(BENCH / "results"))
    args = parser.parse_args(argv)
    rows = [measure(i, args.threads) for i in args.instances.split(",")]
    table = render(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "memory.md").write_text("# Peak memory of net.grad vs the values it keeps\n\n"
                                   + table)
    (out / "memory.json").write_text(json.dumps(rows, indent=1) + "\n")
    print(table, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
