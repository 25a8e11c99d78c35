#!/usr/bin/env python3
"""Reading network files: Network.load (edges read in C) against json + Network.from_json.

    python3 bench/load.py [--instances ID,ID] [--runs N] [--out DIR]

Per instance (default: ReLU MLPs of 65k, 1M and 4.2M edges), its ``bitprop.network/1``
file is written once as other tools write it (``json.dumps`` of instances.to_bitprop_json).
Then, each in a fresh process, N times (best kept): the wall time and the peak resident
memory above the process's baseline of ``Network.load`` (the C reader) and of the full
reader (``json.loads`` and ``Network.from_json``, which every file took before and which
files outside the plain form still take). Writes load.md and load.json (default
bench/results/) and prints the table.
"""

import argparse
import json
import os
import platform
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

path, reader = sys.argv[1], sys.argv[2]
baseline = peak()
began = time.perf_counter()
if reader == "c":
    network = bitprop.Network.load(path)
else:
    from bitprop.jsonfiles import read_json
    document, name = read_json(path)
    network = bitprop.Network.from_json(document, file=name)
    del document
print(json.dumps([time.perf_counter() - began, peak() - baseline, network.num_edges]))
"""


def write_network(instance_id, folder):
    network, _ = instances.to_bitprop_json(instances.generate(instance_id))
    path = folder / f"{instance_id}.net.json"
    path.write_text(json.dumps(network))
    return path


def read_once(path, reader, env):
    done = subprocess.run([sys.executable, "-c", _CHILD, str(path), reader], env=env,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def measure(instance_id, folder, env, runs):
    path = write_network(instance_id, folder)
    row = {"instance": instance_id, "file_mib": path.stat().st_size / 2 ** 20}
    for reader in ("c", "full"):
        seconds, peak, edges = min(read_once(path, reader, env) for _ in range(runs))
        row.update({f"{reader}_seconds": seconds, f"{reader}_peak_mib": peak / 2 ** 20,
                    "edges": edges})
    path.unlink()
    return row


def render(rows, note):
    lines = ["| instance | edges | file (MiB) | C reader (s) | peak (MiB) | bytes / edge | "
             "json + from_json (s) | peak (MiB) | bytes / edge | speed-up |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        per_edge = {k: r[f"{k}_peak_mib"] * 2 ** 20 / r["edges"] for k in ("c", "full")}
        lines.append(f"| {r['instance']} | {r['edges']:,} | {r['file_mib']:.1f} | "
                     f"{r['c_seconds']:.3f} | {r['c_peak_mib']:.0f} | {per_edge['c']:.0f} | "
                     f"{r['full_seconds']:.3f} | {r['full_peak_mib']:.0f} | "
                     f"{per_edge['full']:.0f} | {r['full_seconds'] / r['c_seconds']:.1f}x |")
    return "\n".join(lines) + "\n\n" + note + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", default=",".join(DEFAULT))
    parser.add_argument("--runs", type=int, default=3, help="readings per reader (best kept)")
    parser.add_argument("--out", default=str(BENCH / "results"))
    args = parser.parse_args(argv)
    env = dict(os.environ, PYTHONPATH=str(BENCH.parent / "src"))
    with tempfile.TemporaryDirectory(prefix="bitprop-load-") as tmp:
        rows = [measure(i, Path(tmp), env, args.runs) for i in args.instances.split(",")]
    note = (f"Best of {args.runs} readings, each in a fresh process (Python "
            f"{platform.python_version()}, {os.cpu_count()} cores); peak: resident memory at "
            "its highest above the process's baseline before reading, the file's own bytes "
            "included. The C reader takes the plain form of edges (see "
            "src/bitprop/_network_text.pyx); both give the same Network.")
    table = render(rows, note)
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
