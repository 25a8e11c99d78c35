#!/usr/bin/env python3
"""Issue 10's scaling table: exact grad and step of a ReLU MLP of width 64 and depth 16
(bench/instances.py's relu-w64-d16-bB: 16 dense 64 x 64 layers, 65,536 edges) on a Dask
LocalCluster of 1 and of 2 single-threaded worker processes, with the bytes that move.

    python3 bench/dask_scaling.py                    # batch 64, as in the issue (~3 minutes)
    python3 bench/dask_scaling.py --batches 64,256   # and a bigger batch, for the model below
    python3 bench/dask_scaling.py --repeats 5 --out bench/results
    python3 bench/dask_scaling.py --network relu-w32-d48-q8 --batches 128,256 --repeats 2 \
        --no-step --out bench/results/dask_general    # compute-bound: general rationals, ~13 min

Writes dask_scaling.md (also printed) and dask_scaling.json into --out. Every distributed
result is checked bit for bit against the single process first.

Columns: **grad s** best wall seconds of ``bitprop.distributed.grad`` (scatter of the network,
shards, reduction, conversion on the client); **speed-up** grad s of 1 worker / this row's;
**efficiency** speed-up / workers; **vs 1 thread** the in-process 1-thread grad s / (this row's
grad s * workers), the issue's measure; **kernel s** the slowest shard's forward + backward
inside its task; **bytes/grad** what Dask moved per grad (worker to worker and worker to
driver, Dask's own counters; the network's scatter from the driver is not in them, see
Payloads); **step s** wall seconds of ``step(..., steps=1)``: the grad at theta_0, the update,
and the loss at theta_1 (a forward pass whose values have ~12,000 bits, since theta_1 carries
the gradient's bits: it dominates); **bytes/step** what that step moved beyond a ``steps=0``
call: the shards' partial gradients up the tree, theta_1 to the other workers, and theta_1 to
the driver (once a run, ~5 MB here). In-process rows (``bitprop.grad``/``bitprop.step`` with 1
and 2 threads) are for reference. **Machine ceiling** (under each table): one process's grad of
the whole batch against two processes doing half each at the same moment, without Dask: the
best speed-up any 2-worker split can have on this machine at that moment.

## A model of the cost, and how it grows past one machine

One exact gradient has E weight coordinates (here E = 65,536) and one bias adjoint per vertex;
its size is G ~ E * 2 * b_g / 8 bytes, b_g the mean bit length of numerator plus denominator.
With S samples cut into W shards (one per worker), a grad costs about

    T(W) = c * S / W                       the kernels: exact forward + backward per sample
         + x * G                           each shard reads its gradient out of FLINT and packs
                                           it (parallel, but it does not shrink with W)
         + ceil(log2 W) * (G / beta + a * G)   the tree: move one partial, add two exactly
                                           (its last level on the driver, which fetches the
                                           two tops as each is done)
         + u * G                           the total put in lowest terms on the driver
         + k * W                           Dask's scheduling, a few ms a task

c grows with the bit length of the values (one multiplication of b-bit numbers costs M(b),
between b^1.6 and b log b); G grows linearly in E and in b_g; x, a and u are per-byte costs of
the exact conversions and additions (pickled ints, FLINT above ~3,000 bits), about 1e-7 s/byte
here. A step adds the parameters (~2 G after the first step, for weights and per-edge biases)
sent from the root to the W - 1 other workers, and a with_parameters + plan compile on each
worker (~E * b work).

So the efficiency T(1) / (W T(W)) is high only when the per-shard compute c * S / W dominates
the gradient terms (x + u + log2 W * a) * G: the per-worker batch must exceed about

    S* / W = (x + u + a log2 W) * G / c.

Past one machine the network bandwidth beta (1 - 10 GB/s) adds G / beta per tree level, small
next to the exact conversions a * G unless the link is slow; what grows is log2 W (more tree
levels; the reduction is a tree, so the driver receives two gradients, not W) and G itself,
which doubles whenever the gradient's bit length doubles. Since c * S grows faster with the bit
length (M(b) / b increases with b) than G does, deeper and bit-heavier networks distribute
better than shallow ones; a small-integer network with a few samples per shard does not
distribute at all. Measured here (bench/results/dask_scaling.md, batch 64): c ~ 5.6 ms a sample
(0.36 s of kernels), G ~ 4.7 MB (mean 532 bits a coordinate), x + u ~ 0.1 us a byte plus ~0.5 s
a call for the scatter and the workers' cold compile (1 worker: 1.40 s against 0.38 s in
process), and the one addition of the tree a ~ 0.08 us a byte (0.4 s). So S* / W ~ 1 s / 5.6 ms
~ 180 samples a worker before a second worker can pay off, on a machine where two processes do
run in parallel. This one does not: its two cores give two simultaneous processes (or two
kernel threads) 0.8 to 0.9 of the throughput of one (the machine ceiling line), so every
2-worker row here is below 1. What carries over past one machine is the byte count: per grad,
each shard sends one packed gradient (4.7 MB at 532 bits a coordinate; it grows linearly with
the bits) and the driver receives two; per step, add the parameters (5.1 MB) to each other
worker.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent / "src"))

import instances  # noqa: E402

import bitprop  # noqa: E402
from bitprop import distributed  # noqa: E402

LR = "1/1024"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--network", default="relu-w64-d16",
                        help="a bench/instances.py network id without its batch (e.g. "
                             "relu-w32-d48-q8: general rationals, compute-bound)")
    parser.add_argument("--batches", default="64", help="comma-separated batch sizes")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--repeats", type=int, default=3, help="grad runs per row (best taken)")
    parser.add_argument("--no-step", action="store_true",
                        help="time grad only (a step of a deep general-rational network "
                             "evaluates theta_1, whose bits are the gradient's: minutes)")
    parser.add_argument("--out", default=str(BENCH / "results"))
    return parser.parse_args(argv)


def _sent(dask_worker):
    return dask_worker.transfer_outgoing_bytes_total


def bytes_sent(client):
    return sum(client.run(_sent).values())


def best(function, repeats):
    """(seconds, value) of the fastest of ``repeats`` calls, so that a row's kernel s comes
    from the same call as its grad s."""
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        value = function()
        runs.append((time.perf_counter() - started, value))
    return min(runs, key=lambda run: run[0])


def same(result, expected):
    return (result.loss == expected.loss and result.grad_weight == expected.grad_weight
            and result.grad_bias == expected.grad_bias)


def measure_cluster(workers, net, data, reference, args):
    with distributed.connect(f"local:{workers}") as client:
        client.wait_for_workers(workers, timeout=120)
        warm = distributed.grad(net, data, client=client)       # imports, first compile
        if not same(warm, reference["grad"]):
            raise SystemExit(f"MISMATCH: distributed grad on {workers} workers")
        before = bytes_sent(client)
        seconds, result = best(lambda: distributed.grad(net, data, client=client), args.repeats)
        grad_bytes = (bytes_sent(client) - before) / args.repeats
        row = {"workers": workers, "grad_s": seconds,
               "kernel_s": result.timing["forward"] + result.timing["backward"],
               "grad_bytes": grad_bytes}
        if args.no_step:
            return row
        moved = {}
        for steps in (0, 1):
            before = bytes_sent(client)
            started = time.perf_counter()
            trained, losses = distributed.step(net, data, LR, steps, client=client)
            step_seconds = time.perf_counter() - started
            moved[steps] = bytes_sent(client) - before
        if losses != reference["losses"] or trained.to_json() != reference["trained"]:
            raise SystemExit(f"MISMATCH: distributed step on {workers} workers")
    return row | {"step_s": step_seconds, "step_bytes": moved[1] - moved[0]}


def _half_grads(blob, first, end, rounds, barrier, times):
    """In a separate process: ``rounds`` grads of samples [first, end), each started together
    with the other process's (the barrier); puts the seconds of each."""
    net, data = pickle.loads(blob)
    half = bitprop.Dataset(data.inputs[first:end], data.labels[first:end])
    bitprop.grad(net, half, threads=1)                           # compile, warm caches
    for _ in range(rounds):
        barrier.wait()
        started = time.perf_counter()
        bitprop.grad(net, half, threads=1)
        times.put((first, time.perf_counter() - started))


def machine_ceiling(net, data, rounds):
    """(seconds of one process's grad on the whole batch, seconds until two processes have
    each done half of it at once): their ratio bounds any 2-worker speed-up on this machine
    at this moment, whatever the distribution engine."""
    import multiprocessing
    bitprop.grad(net, data, threads=1)
    alone, _ = best(lambda: bitprop.grad(net, data, threads=1), rounds)
    context = multiprocessing.get_context("spawn")
    barrier, times = context.Barrier(2), context.Queue()
    blob = pickle.dumps((net, data), protocol=pickle.HIGHEST_PROTOCOL)
    middle = len(data) // 2
    workers = [context.Process(target=_half_grads, args=(blob, a, b, rounds, barrier, times))
               for a, b in ((0, middle), (middle, len(data)))]
    for worker in workers:
        worker.start()
    reports = {0: [], middle: []}
    for _ in range(2 * rounds):          # round r of a process: the r-th time it reports
        first, seconds = times.get(timeout=600)
        reports[first].append(seconds)
    for worker in workers:
        worker.join()
    return alone, min(map(max, reports[0], reports[middle]))


def payload_sizes(net, data, result, trained):
    """Bytes of what travels: the network (scattered to every worker), one shard's partial
    gradient (weights + biases, PartialSums bytes), and the parameters after one step."""
    from bitprop import evaluation
    from bitprop.distributed import tasks
    from bitprop.distributed.wire import pack_fractions
    sums = evaluation.grad(net, data, canonical=False, threads=2)
    gradient = len(sums.grad_weight.to_bytes()) + len(sums.grad_bias.to_bytes())
    parameters = None if trained is None else (
        len(pack_fractions(trained.weights)) + len(pack_fractions(trained.biases, repeats=True)))
    shared = tasks.share(net)
    return {"network": len(pickle.dumps(shared, protocol=pickle.HIGHEST_PROTOCOL)),
            "gradient": gradient, "parameters_after_1_step": parameters,
            "shard_data": len(pickle.dumps(data, protocol=pickle.HIGHEST_PROTOCOL)),
            "gradient_max_bits": result.bits.max_grad,
            "gradient_mean_bits": sum(result.grad_weight.bit_lengths()) / len(result.grad_weight)}


def run_batch(batch, args):
    instance_id = f"{args.network}-b{batch}"
    network_doc, dataset_doc = instances.to_bitprop_json(instances.generate(instance_id))
    net = bitprop.Network.from_json(network_doc)
    data = bitprop.Dataset.from_json(dataset_doc)
    rows = []
    trained = losses = None
    for threads in (1, 2):
        seconds, result = best(lambda: bitprop.grad(net, data, threads=threads), args.repeats)
        rows.append({"workers": f"in-process, {threads} thread(s)", "grad_s": seconds,
                     "kernel_s": result.timing["forward"] + result.timing["backward"]})
        if not args.no_step:
            started = time.perf_counter()
            trained, losses = bitprop.step(net, data, LR, 1, threads=threads)
            rows[-1]["step_s"] = time.perf_counter() - started
    reference = {"grad": result, "losses": losses,
                 "trained": None if trained is None else trained.to_json()}
    sizes = payload_sizes(net, data, result, trained)
    alone, together = machine_ceiling(net, data, args.repeats)
    for workers in [int(w) for w in args.workers.split(",")]:
        rows.append(measure_cluster(workers, net, data, reference, args))
    single = next((r for r in rows if r["workers"] == 1), None)
    thread = rows[0]                                    # in-process, 1 thread
    for row in rows:
        if isinstance(row["workers"], int) and single is not None:
            row["speed_up"] = single["grad_s"] / row["grad_s"]
            row["efficiency"] = row["speed_up"] / row["workers"]
            if "step_s" in row:
                row["step_speed_up"] = single["step_s"] / row["step_s"]
        if isinstance(row["workers"], int):
            row["thread_efficiency"] = thread["grad_s"] / row["grad_s"] / row["workers"]
    return {"instance": instance_id, "edges": net.num_edges, "sizes": sizes, "rows": rows,
            "ceiling": {"alone_s": alone, "two_halves_s": together,
                        "speed_up": alone / together}}


def _cell(row, key, form):
    return "-" if row.get(key) is None else form.format(row[key])


def markdown(results, machine):
    lines = ["# Dask scaling: exact grad and step on a LocalCluster", "",
             f"Machine: {machine['cores']} cores, {machine['platform']}, Python "
             f"{machine['python']}, dask {machine['dask']}; load average before/after "
             f"{machine['load_before']} / {machine['load_after']} (the machine is shared). "
             f"Command: `{machine['command']}`.", ""]
    for result in results:
        sizes = result["sizes"]
        lines += [f"## {result['instance']} ({result['edges']} edges)", "",
                  "| workers | grad s | speed-up | efficiency | vs 1 thread | kernel s | "
                  "bytes/grad | step s | step speed-up | bytes/step |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for row in result["rows"]:
            lines.append(
                f"| {row['workers']} | {row['grad_s']:.2f} | {_cell(row, 'speed_up', '{:.2f}')} "
                f"| {_cell(row, 'efficiency', '{:.2f}')} "
                f"| {_cell(row, 'thread_efficiency', '{:.2f}')} | {row['kernel_s']:.2f} "
                f"| {_cell(row, 'grad_bytes', '{:,.0f}')} | {_cell(row, 'step_s', '{:.2f}')} "
                f"| {_cell(row, 'step_speed_up', '{:.2f}')} "
                f"| {_cell(row, 'step_bytes', '{:,.0f}')} |")
        lines += ["", f"Payloads: network {sizes['network']:,} bytes (scattered once to every "
                  f"worker); one shard's packed gradient {sizes['gradient']:,} bytes (mean "
                  f"{sizes['gradient_mean_bits']:.0f}, max {sizes['gradient_max_bits']} bits a "
                  f"coordinate); parameters after one step "
                  f"{_cell(sizes, 'parameters_after_1_step', '{:,}')} "
                  f"bytes; the samples {sizes['shard_data']:,} bytes.", "",
                  f"Machine ceiling: one process's grad of the whole batch "
                  f"{result['ceiling']['alone_s']:.2f} s; two processes each on half of it at "
                  f"once {result['ceiling']['two_halves_s']:.2f} s: no 2-worker split can beat "
                  f"a speed-up of {result['ceiling']['speed_up']:.2f} here now.", ""]
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    import dask
    machine = {"cores": os.cpu_count(), "platform": platform.platform(),
               "python": platform.python_version(), "dask": dask.__version__,
               "load_before": [round(x, 2) for x in os.getloadavg()],
               "command": " ".join(["python3", "bench/dask_scaling.py", *(argv or sys.argv[1:])])}
    results = [run_batch(int(b), args) for b in args.batches.split(",")]
    machine["load_after"] = [round(x, 2) for x in os.getloadavg()]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    text = markdown(results, machine)
    (out / "dask_scaling.md").write_text(text + "\n")
    (out / "dask_scaling.json").write_text(json.dumps({"machine": machine, "results": results},
                                                      indent=1) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
