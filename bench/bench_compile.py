"""Compiler benchmarks (issue 4): measured, not asserted.

    PYTHONPATH=src python3 -m pytest bench/bench_compile.py --benchmark-only
    PYTHONPATH=src python3 bench/bench_compile.py          # CLI time + peak memory table

The load: a 2,000-gate program with exactly 500 multiplications whose values reach about
4,096 bits (``program_2000``), compiled by Lemma 3.2 (``compile erm``) and solved at theta*
through the evaluator, plus Theorem 1.3 and ``slp eval --via-network`` on the same program.
"""

import json
import os
import random
import subprocess
import sys
import tempfile

import pytest

from bitprop.instance import Instance, solve
from bitprop.slp import Program, evaluate
from bitprop.slp.circuit import evaluate_via_network
from bitprop.slp.compile_backprop import compile_backprop
from bitprop.slp.compile_erm import compile_erm

SIGMAS = ["z^2", "z^3", "z^4 - 3*z^3 + 1/2*z^2 - 7*z + 5/3"]


def program_2000(n=2000, products=500, seed=0, max_bits=4096):
    """n gates, exactly ``products`` of them '*', values of up to about max_bits bits.

    A product takes the largest of a few random operand pairs that stays within max_bits
    (x_(i-1) * x_0 as the fallback); every other gate is x_(i-1) +- a random earlier gate.
    """
    rng = random.Random(seed)
    at = set(rng.sample(range(1, n + 1), products))
    ops, bits = [], [1]
    values = [1]
    for i in range(1, n + 1):
        if i in at:
            j, k = i - 1, 0
            for _ in range(8):
                a, b = rng.randrange(i), rng.randrange(i)
                size = bits[a] + bits[b]
                if size <= max_bits and size > bits[j] + bits[k]:
                    j, k = a, b
            op, value = "*", values[j] * values[k]
        else:
            j, k, op = i - 1, rng.randrange(i), rng.choice("+-")
            value = values[j] + values[k] if op == "+" else values[j] - values[k]
        ops.append((op, j, k))
        values.append(value)
        bits.append(value.bit_length())
    return Program(ops)


@pytest.fixture(scope="module")
def program():
    return program_2000()


@pytest.mark.parametrize("sigma", SIGMAS)
def test_compile_erm_2000(benchmark, program, sigma):
    instance = benchmark.pedantic(compile_erm, args=(program, 5, sigma), rounds=1)
    benchmark.extra_info.update(vertices=instance.network.num_vertices,
                                edges=instance.network.num_edges,
                                forcing_samples=len(instance.forcing.dataset))


@pytest.mark.parametrize("sigma", SIGMAS)
def test_solve_erm_2000(benchmark, program, sigma):
    instance = compile_erm(program, 5, sigma)
    solution = benchmark.pedantic(solve, args=(instance,), rounds=1)
    assert solution.answer == (evaluate(program).bit(5) == 1)


def test_instance_file_round_trip_2000(benchmark, program):
    """Writing and reading the z^3 instance (JSON, every number a string)."""
    instance = compile_erm(program, 5, "z^3")
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "instance.json")

        def round_trip():
            instance.save(path)
            return Instance.load(path)

        benchmark.pedantic(round_trip, rounds=1)
        benchmark.extra_info["megabytes"] = os.path.getsize(path) / 2 ** 20


@pytest.mark.parametrize("bounded", [False, True], ids=["plain", "bounded"])
def test_backprop_2000(benchmark, program, bounded):
    """Theorem 1.3 compile + gradient; bounded goes through Lemma A.5 (a longer program)."""
    def run():
        return solve(compile_backprop(program, "z^2", bit=5, bounded=bounded))

    solution = benchmark.pedantic(run, rounds=1)
    assert solution.bit == evaluate(program).bit(5)


def test_via_network_2000(benchmark, program):
    value = benchmark.pedantic(evaluate_via_network, args=(program, "z^3"), rounds=1)
    assert value == evaluate(program).value


# --- the CLI, one process per step, with peak memory ---------------------------------------

_CHILD = """
import json, resource, sys, time
from bitprop.cli import run
started = time.perf_counter()
status = run(sys.argv[1:])
print(json.dumps({"status": status, "seconds": time.perf_counter() - started,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _cli(*args):
    """Run ``bitprop ARGS`` in a fresh interpreter: (seconds, peak MiB) of that process."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", _CHILD, *args], env=env, check=True,
                         capture_output=True, text=True).stdout
    report = json.loads(out.strip().splitlines()[-1])
    if report["status"] != 0:
        raise RuntimeError(f"bitprop {' '.join(args)} exited with {report['status']}")
    return report["seconds"], report["peak_mib"]


def main():
    program = program_2000()
    result = evaluate(program)
    print(f"program: {len(program)} gates, {sum(op == '*' for op, _, _ in program.ops)} "
          f"multiplications, largest gate {result.max_gate_bits} bits, x_n {result.bit_length} "
          f"bits, bit 5 = {result.bit(5)}\n")
    print(f"{'sigma':<34}{'vertices':>9}{'edges':>8}{'samples':>8}{'MiB file':>9}"
          f"{'compile s':>10}{'peak MiB':>9}{'solve s':>9}{'peak MiB':>9}  answer")
    with tempfile.TemporaryDirectory() as directory:
        prog = os.path.join(directory, "program.json")
        program.save(prog)
        for sigma in SIGMAS:
            inst = os.path.join(directory, "instance.json")
            compile_s, compile_mib = _cli("compile", "erm", prog, "--bit", "5", "--sigma",
                                          sigma, "-o", inst)
            solve_s, solve_mib = _cli("solve", inst)
            doc = Instance.load(inst)
            answer = solve(doc).answer
            samples = len(doc.dataset) + len(doc.forcing.dataset)
            print(f"{sigma:<34}{doc.network.num_vertices:>9}{doc.network.num_edges:>8}"
                  f"{samples:>8}{os.path.getsize(inst) / 2 ** 20:>9.1f}{compile_s:>10.2f}"
                  f"{compile_mib:>9.0f}{solve_s:>9.2f}{solve_mib:>9.0f}  "
                  f"{'YES' if answer else 'NO'}")


if __name__ == "__main__":
    main()
