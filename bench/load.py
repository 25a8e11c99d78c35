#!/usr/bin/env python3
"""Reading network and dataset files: Network.load and Dataset.load (their big arrays read
in C) against json + from_json.

    python3 bench/load.py [--instances ID,ID] [--datasets SxN,SxN] [--runs N] [--out DIR]

Per network instance (default: ReLU MLPs of 65k, 1M and 4.2M edges), its
``bitprop.network/1`` file is written once as other tools write it (``json.dumps`` of
instances.to_bitprop_json); per dataset size SxN (default 10000x64 and 60000x784, the shape
of MNIST), a ``bitprop.dataset/1`` file of S samples with N inputs n/d (|n| <= 255,
d <= 8) and 10 labels. Then, each in a fresh process, N times (best kept): the wall time and
the peak resident memory above the process's baseline of ``load`` (the C reader) and of the
full reader (``json.loads`` and ``from_json``, which every file took before and which files
outside the plain form still take). Writes load.md and load.json (default bench/results/)
and prints the tables.
"""

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import instances  # noqa: E402

DEFAULT = ["relu-w64-d16-b8", "relu-w256-d16-b8", "relu-w256-d64-b8"]

#: One reading in a fresh process: prints seconds, peak growth in bytes and the edge count.
_CHILD = r"""
import json, sys, time
import bitprop

def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024

path, reader, kind = sys.argv[1], sys.argv[2], sys.argv[3]
cls = bitprop.Network if kind == "network" else bitprop.Dataset
baseline = peak()
began = time.perf_counter()
if reader == "c":
    loaded = cls.load(path)
else:
    from bitprop.jsonfiles import read_json
    document, name = read_json(path)
    loaded = cls.from_json(document, file=name)
    del document
count = loaded.num_edges if kind == "network" else \
    sum(map(len, loaded.inputs)) + sum(map(len, loaded.labels or []))
print(json.dumps([time.perf_counter() - began, peak() - baseline, count]))
"""


def write_network(instance_id, folder):
    network, _ = instances.to_bitprop_json(instances.generate(instance_id))
    path = folder / f"{instance_id}.net.json"
    path.write_text(json.dumps(network))
    return path


def write_dataset(size, folder):
    """A dataset file of S samples with N small-rational inputs and 10 labels (seeded)."""
    samples, inputs = map(int, size.split("x"))
    rng = random.Random(f"bitprop-bench:load:{size}")
    path = folder / f"data-{size}.json"
    with open(path, "w") as handle:
        handle.write('{"format": "bitprop.dataset/1", "samples": [')
        for s in range(samples):
            x = [f"{rng.randint(-255, 255)}/{rng.randint(1, 8)}" for _ in range(inputs)]
            y = [str(int(rng.randrange(10) == k)) for k in range(10)]
            handle.write((", " if s else "") + json.dumps({"x": x, "y": y}))
        handle.write("]}")
    return path


def read_once(path, reader, kind, env):
    done = subprocess.run([sys.executable, "-c", _CHILD, str(path), reader, kind], env=env,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def measure(name, path, kind, env, runs):
    row = {"instance": name, "kind": kind, "file_mib": path.stat().st_size / 2 ** 20}
    for reader in ("c", "full"):
        seconds, peak, count = min(read_once(path, reader, kind, env) for _ in range(runs))
        row.update({f"{reader}_seconds": seconds, f"{reader}_peak_mib": peak / 2 ** 20,
                    "count": count})
    path.unlink()
    return row


def render(rows, kind, unit):
    lines = [f"| {kind} | {unit}s | file (MiB) | C reader (s) | peak (MiB) | bytes / {unit} | "
             f"json + from_json (s) | peak (MiB) | bytes / {unit} | speed-up |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        per = {k: r[f"{k}_peak_mib"] * 2 ** 20 / r["count"] for k in ("c", "full")}
        lines.append(f"| {r['instance']} | {r['count']:,} | {r['file_mib']:.1f} | "
                     f"{r['c_seconds']:.3f} | {r['c_peak_mib']:.0f} | {per['c']:.0f} | "
                     f"{r['full_seconds']:.3f} | {r['full_peak_mib']:.0f} | "
                     f"{per['full']:.0f} | {r['full_seconds'] / r['c_seconds']:.1f}x |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", default=",".join(DEFAULT))
    parser.add_argument("--datasets", default="10000x64,60000x784", help="SxN sizes")
    parser.add_argument("--runs", type=int, default=3, help="readings per reader (best kept)")
    parser.add_argument("--out", default=str(BENCH / "results"))
    args = parser.parse_args(argv)
    env = dict(os.environ, PYTHONPATH=str(BENCH.parent / "src"))
    with tempfile.TemporaryDirectory(prefix="bitprop-load-") as tmp:
        folder = Path(tmp)
        rows = [measure(i, write_network(i, folder), "network", env, args.runs)
                for i in filter(None, args.instances.split(","))]
        rows += [measure(size, write_dataset(size, folder), "dataset", env, args.runs)
                 for size in filter(None, args.datasets.split(","))]
    note = (f"Best of {args.runs} readings, each in a fresh process (Python "
            f"{platform.python_version()}, {os.cpu_count()} cores); peak: resident memory at "
            "its highest above the process's baseline before reading, the file's own bytes "
            "included. The C readers take the plain form of edges and samples (see "
            "src/bitprop/_plain_json.pyx); both readers give the same Network or Dataset.")
    table = (render([r for r in rows if r["kind"] == "network"], "network", "edge") + "\n"
             + render([r for r in rows if r["kind"] == "dataset"], "dataset", "number")
             + "\n" + note + "\n")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "load.md").write_text("# Reading network files\n\n" + table)
    (out / "load.json").write_text(json.dumps(
        {"rows": rows, "runs": args.runs, "python": sys.executable,
         "command": " ".join(["bench/load.py", *(argv or sys.argv[1:])])}, indent=1) + "\n")
    print(table, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
