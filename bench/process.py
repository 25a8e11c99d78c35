#!/usr/bin/env python3
"""Whole-process ``bitprop grad NET DATA --json`` against its own kernel time (issue 9).

    python3 bench/process.py [--instances ID,ID] [--runs N] [--src DIR] [--out DIR]

Per instance (default: the four width-64 depth-16 ones), the network and dataset files of
``instances.to_bitprop_json`` are written to a temporary folder, and ``python -m bitprop grad
NET DATA --json > FILE`` runs N times (best run kept; stdout goes to a file, as a user would
redirect it). The kernel time is the best of the same runs' ``timing.forward +
timing.backward``.

The breakdown comes from as many runs of the same command through a wrapper that notes the
clock once the command's modules are imported: start + imports is the wall time until then
(interpreter start, its site hooks, bitprop's and click's imports); load, compile and kernel
are the command's own ``timing``; output + exit is the rest of that run's wall time (the
evaluation's bookkeeping outside the kernels' clocks, bit statistics, printing the JSON, the
interpreter's exit). ``--src`` runs another checkout's ``src`` (to measure before a change).
Writes process.md and process.json (default bench/results/) and prints the table.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import instances  # noqa: E402

DEFAULT = ["relu-w64-d16-b8", "relu-w64-d16-b64", "relu-w64-d16-dyadic-b8",
           "relu-w64-d16-dyadic-b64"]

#: Runs the command as ``python -m bitprop`` does, noting the clock (seconds since the epoch,
#: comparable with the parent's) once the command's modules are imported, on stderr.
_WRAPPER = r"""
import sys, time
from bitprop.cli import cli, leave, run
cli.get_command(None, "grad")
imported = time.time()
status = run(sys.argv[1:])
print(repr(imported), file=sys.stderr)
leave(status)
"""


#: Set in this workplace's shell, not in a user's: without bytecode caching every run would
#: compile bitprop's modules anew, and unbuffered stdout turns each piece into a write call.
_NOT_A_USERS = ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")


def write_instance(instance_id, folder):
    network, dataset = instances.to_bitprop_json(instances.generate(instance_id))
    net, data = folder / f"{instance_id}.net.json", folder / f"{instance_id}.data.json"
    net.write_text(json.dumps(network))
    data.write_text(json.dumps(dataset))
    return net, data


def run_once(argv, env, out_path, wrapped):
    """(wall seconds, the command's JSON, seconds from the start to the end of its imports
    when wrapped)."""
    command = [sys.executable, "-c", _WRAPPER, *argv] if wrapped else \
        [sys.executable, "-m", "bitprop", *argv]
    with open(out_path, "wb") as out:
        began = time.time()
        done = subprocess.run(command, stdout=out, stderr=subprocess.PIPE, env=env, check=True)
        wall = time.time() - began
    imports = float(done.stderr.decode().split()[-1]) - began if wrapped else None
    with open(out_path, "rb") as out:
        return wall, json.load(out), imports


def measure(instance_id, folder, env, runs):
    net, data = write_instance(instance_id, folder)
    argv = ["grad", str(net), str(data), "--json"]
    out_path = folder / f"{instance_id}.out.json"
    run_once(argv, env, out_path, False)        # warm-up: bytecode and file caches
    plain = [run_once(argv, env, out_path, False) for _ in range(runs)]
    wall, document, _ = min(plain, key=lambda r: r[0])
    kernel = min(d["timing"]["forward"] + d["timing"]["backward"] for _, d, _ in plain)
    wrapped_wall, wrapped, imports = min(
        (run_once(argv, env, out_path, True) for _ in range(runs)), key=lambda r: r[0])
    t = wrapped["timing"]
    parts = {"start_imports": imports, "load": t["load"], "compile": t["compile"],
             "kernel": t["forward"] + t["backward"]}
    parts["output"] = wrapped_wall - sum(parts.values())
    return {"instance": instance_id, "process": wall, "kernel": kernel, "ratio": wall / kernel,
            "stdout_mib": out_path.stat().st_size / 2 ** 20, "breakdown_process": wrapped_wall,
            "breakdown": parts, "max_grad_bits": document["bits"]["max_grad"]}


def interpreter_start(env, runs):
    """Best wall seconds of ``python -c pass`` and of ``python -S -c pass`` (no site hooks):
    what any Python command pays before its first import."""
    def best(flags):
        times = []
        for _ in range(max(runs, 10)):
            began = time.time()
            subprocess.run([sys.executable, *flags, "-c", "pass"], env=env, check=True)
            times.append(time.time() - began)
        return min(times)
    return {"python": best([]), "python_no_site": best(["-S"])}


def render(rows, note):
    lines = ["| instance | process (s) | kernel (s) | process / kernel | process - kernel | "
             "start + imports | load | compile | kernel | output + exit | stdout (MiB) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        b = r["breakdown"]
        lines.append(f"| {r['instance']} | {r['process']:.3f} | {r['kernel']:.3f} | "
                     f"{r['ratio']:.1f}x | {r['process'] - r['kernel']:.3f} | "
                     f"{b['start_imports']:.3f} | {b['load']:.3f} | "
                     f"{b['compile']:.3f} | {b['kernel']:.3f} | {b['output']:.3f} | "
                     f"{r['stdout_mib']:.1f} |")
    return "\n".join(lines) + "\n\n" + note + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", default=",".join(DEFAULT))
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement (best kept)")
    parser.add_argument("--src", default=str(BENCH.parent / "src"),
                        help="the bitprop source folder to run (PYTHONPATH)")
    parser.add_argument("--out", default=str(BENCH / "results"))
    args = parser.parse_args(argv)
    env = dict(os.environ, PYTHONPATH=str(Path(args.src).resolve()))
    for name in _NOT_A_USERS:
        env.pop(name, None)
    load_before = os.getloadavg()[0]
    start = interpreter_start(env, args.runs)
    with tempfile.TemporaryDirectory(prefix="bitprop-process-") as tmp:
        rows = [measure(i, Path(tmp), env, args.runs) for i in args.instances.split(",")]
    load = (load_before, os.getloadavg()[0])
    note = (f"Seconds, best of {args.runs} runs of `{Path(sys.executable).name} -m bitprop grad "
            f"NET DATA --json > FILE` after a warm-up run ({os.cpu_count()} cores, load "
            f"average {load[0]:.2f} before and {load[1]:.2f} after, Python "
            f"{platform.python_version()}, bytecode cached, stdout buffered); the breakdown is "
            "from as many runs through a wrapper (see bench/process.py). "
            "Kernel: the best `timing.forward + timing.backward` of the same runs. "
            "Start + imports: the interpreter, its site hooks and the command's imports; "
            "output + exit: the rest (bookkeeping outside the kernels' clocks, bit "
            "statistics, printing the JSON, the interpreter's exit). Process - kernel is what "
            "the kernel's own speed cannot change, and the steadier number on a shared "
            f"machine. For scale: `python3 -c pass` takes {start['python']:.3f} s here, "
            f"{start['python_no_site']:.3f} s without site hooks (`-S`).")
    table = render(rows, note)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "process.md").write_text("# Whole-process `bitprop grad --json` vs its kernel\n\n"
                                    + table)
    (out / "process.json").write_text(json.dumps(
        {"rows": rows, "python": sys.executable, "runs": args.runs, "load_average": load,
         "interpreter_start": start,
         "command": " ".join(["bench/process.py", *(argv or sys.argv[1:])])}, indent=1) + "\n")
    print(table, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
