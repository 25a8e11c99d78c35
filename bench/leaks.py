"""Memory leaks: resident memory over many evaluations and refusals stays flat.

    python3 bench/leaks.py                 # 10,000 rounds of each workload (about a minute)
    python3 bench/leaks.py --rounds 1000 --json

Each workload runs ``--warmup`` rounds first (caches, allocator arenas and FLINT's integer
pools fill up), then RSS is read from /proc/self/statm before and after ``--rounds`` more.
Workloads: forward + grad of small networks (a fresh Network and plan every round, 1 or 2
worker threads), of a z^2 chain with values of thousands of bits (with max_bits stops), SLP
evaluations (including BitLimitError stops) and reader refusals (BitpropInputError from
every reader, and through the command line). tests/test_leaks.py runs the same workloads with fewer rounds.
"""

import argparse
import contextlib
import gc
import io
import json
import os
import sys
import time
from fractions import Fraction
from pathlib import Path

import bitprop
from bitprop.cli import run
from bitprop.slp import Program, evaluate, factorial, tower

GOOD = Path(__file__).resolve().parents[1] / "tests" / "data" / "good"
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes():
    """Resident set size of this process (the second field of /proc/self/statm, in pages)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def _good(name):
    return json.loads((GOOD / name).read_text(encoding="utf-8"))


def network_workload():
    """Forward + grad of a fresh small network (its own plan) with 1 or 2 worker threads."""
    document, data = _good("network.json"), bitprop.Dataset.from_json(_good("dataset.json"))
    counter = iter(range(1 << 62))

    def one_round():
        i = next(counter)
        net = bitprop.Network.from_json(document)
        net = net.with_parameters(weights=[w + Fraction(i % 7, 5) for w in net.weights])
        net.forward(data, keep_all=True, threads=1 + i % 2)
        net.grad(data, threads=1 + i % 2)
    return one_round


def big_values_workload():
    """Forward + grad of a z^2 chain whose values reach thousands of bits, every other round
    stopped by max_bits (the error path frees what it made)."""
    chain = bitprop.Network.chain(10, "square", weight="3/2", bias="1/3")
    data = bitprop.Dataset([["5/3"], ["-2/7"]], [[0], [1]])
    counter = iter(range(1 << 62))

    def one_round():
        i = next(counter)
        chain.forward(data, threads=1 + i % 2)
        try:
            chain.grad(data, max_bits=None if i % 2 else 2000, threads=1)
        except bitprop.BitLimitError:
            pass
    return one_round


def slp_workload():
    """SLP evaluations: values with thousands of bits, and a tower stopped by max_bits."""
    programs = [factorial(60), tower(10), Program([("*", 0, 0), ("-", 1, 0)], Fraction(-7, 3))]
    counter = iter(range(1 << 62))

    def one_round():
        i = next(counter)
        value = evaluate(programs[i % 3])
        value.bit(3) if value.is_integer else value.sign
        value.to_str()
        try:
            evaluate(tower(14), max_bits=1000)
        except bitprop.BitLimitError:
            pass
    return one_round


def reader_workload():
    """Refusals by every reader, in the API and through the command line."""
    network, dataset = _good("network.json"), _good("dataset.json")
    bad_network = dict(network, edges=[dict(network["edges"][0], weight="1/0")])
    bad_dataset = dict(dataset, loss={"kind": ["square"]})
    corpus = Path(__file__).resolve().parents[1] / "tests" / "data" / "bad"
    argv = [["eval", str(corpus / "network" / "cycle_two.json"), "--input", str(GOOD / "inputs.json")],
            ["slp", "eval", str(corpus / "slp_json" / "operand_negative.json")],
            ["gadget", "--sigma", "z^^2"]]
    counter = iter(range(1 << 62))

    def refused(read, *args):
        try:
            read(*args)
        except bitprop.BitpropInputError:
            return
        raise AssertionError("a bad input was accepted")

    # One sink for every round: click caches a wrapper per stream object (in a weak dict whose
    # values keep their keys alive), so a fresh StringIO per round would itself "leak".
    sink = io.StringIO()

    def one_round():
        i = next(counter)
        refused(bitprop.Network.from_json, bad_network)
        refused(bitprop.Dataset.from_json, bad_dataset)
        refused(Program.parse, "x1 = x0 + x1\n")
        refused(bitprop.rational, "1e" + "9" * 20)
        sink.seek(0)
        sink.truncate()
        with contextlib.redirect_stderr(sink):
            assert run(argv[i % 3]) == 2
    return one_round


WORKLOADS = {"network": network_workload, "big_values": big_values_workload,
             "slp": slp_workload, "reader": reader_workload}


def measure(name, rounds, warmup):
    """(rss before, rss after, seconds) of ``rounds`` rounds after ``warmup`` rounds."""
    one_round = WORKLOADS[name]()
    for _ in range(warmup):
        one_round()
    gc.collect()
    before, started = rss_bytes(), time.perf_counter()
    for _ in range(rounds):
        one_round()
    gc.collect()
    return before, rss_bytes(), time.perf_counter() - started


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10_000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = []
    for name in args.workloads.split(","):
        before, after, seconds = measure(name, args.rounds, args.warmup)
        rows.append({"workload": name, "rounds": args.rounds, "rss_before_mib": before / 2 ** 20,
                     "rss_after_mib": after / 2 ** 20,
                     "growth_bytes_per_round": (after - before) / args.rounds,
                     "seconds": seconds})
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"{'workload':<10}{'rounds':>8}{'RSS before':>13}{'RSS after':>12}{'B/round':>10}"
          f"{'seconds':>9}")
    for r in rows:
        print(f"{r['workload']:<10}{r['rounds']:>8}{r['rss_before_mib']:>10.1f} MiB"
              f"{r['rss_after_mib']:>8.1f} MiB{r['growth_bytes_per_round']:>10.1f}"
              f"{r['seconds']:>9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
