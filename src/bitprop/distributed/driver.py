"""Exact grad and step on a Dask cluster: the samples in shards, the partial sums added up a tree.

Each shard's task runs the single-process kernels on its samples (``bitprop.evaluation``) with
the global per-sample scales, so its loss and gradient are exact partial sums of the
single-process ones; a balanced tree of exact additions (``tasks.add_partials``) turns them into
exactly the single-process values, bit for bit. A grad's tree runs on the workers down to two
partials, which the driver fetches as each is done and adds itself, then puts the total in
lowest terms once: the last level's transfer overlaps the other side's kernel, and the total is
not packed and sent once more. The network is scattered once to
every worker; a ``step`` is one map-reduce whose root computes the next parameters on a worker,
from where the next step's tasks fetch them (the broadcast). All steps are submitted at once, so
workers never wait for the driver between steps; the driver reads the losses in order.

A lost worker is Dask's business: its tasks are rerun elsewhere (and any task that raises is
retried ``retries`` times). What Dask cannot recover raises DistributedError; the reduction's
root covers every sample or nothing is returned.
"""

import time
import uuid
import weakref

from ..dataset import Dataset
from ..errors import BitpropError, BitpropInputError, TimeBudgetError
from ..evaluation import (BitStats, GradResult, as_dataset, check_step, default_threads,
                          loss_scales)
from . import tasks
from .errors import DistributedError
from .wire import unpack_fractions

#: Reruns of a task that raised (an accident: bitprop's own errors come back as values).
DEFAULT_RETRIES = 2
#: Seconds between looks at the cluster while waiting (Ctrl-C and budgets act this fast).
_POLL_SECONDS = 0.05
#: Seconds to wait for a first worker before giving up.
WORKER_TIMEOUT = 60


def grad(network, dataset, *, client, shards=None, threads=None, max_bits=None,
         time_budget=None, progress=None, output="fraction", kernel="auto",
         retries=DEFAULT_RETRIES):
    """Exact L(theta), dL/dw and dL/db per edge on the Dask cluster of ``client``: the same
    GradResult, bit for bit, as :func:`bitprop.grad`.

    ``shards``: how many pieces the samples are cut into (default: the cluster's worker
    threads); ``threads``: kernel threads inside each shard's task (default 1: the parallelism
    is the shards'); ``progress(done, total)`` counts finished shards."""
    started = time.perf_counter()
    dataset = as_dataset(dataset, network, require_labels=True)
    pieces = _split(dataset, _shard_count(client, shards, len(dataset)))
    options = _options(threads, max_bits, time_budget, kernel)
    with _Run(client, "grad", time_budget, retries, progress) as run:
        shared = run.scatter(tasks.share(network))
        partials = [run.submit(tasks.shard_partial, shared, None, piece, options,
                               label=f"shard-{i}") for i, piece in enumerate(pieces)]
        tops = run.reduce(partials, "sum", down_to=2)
        parts = run.results(tops, counted=partials, then=tasks.opened)
    total = parts[0] if len(parts) == 1 else tasks.add_partials(*parts, encode=False)
    _check_complete(total, len(dataset))
    result = _grad_result(network, dataset, total, time.perf_counter() - started)
    return result if output == "fraction" else result.converted(output)


def step(network, dataset, lr, steps=1, *, client, shards=None, threads=None, max_bits=None,
         time_budget=None, progress=None, on_step=None, kernel="auto",
         retries=DEFAULT_RETRIES):
    """``steps`` exact gradient-descent steps on the Dask cluster of ``client``: the same
    (new network, losses) as :func:`bitprop.step`. ``on_step(i, loss)`` after step i."""
    rate, steps = check_step(lr, steps)
    dataset = as_dataset(dataset, network, require_labels=True)
    pieces = _split(dataset, _shard_count(client, shards, len(dataset)))
    options = _options(threads, max_bits, time_budget, kernel)
    with _Run(client, "step", time_budget, retries, None) as run:
        pending, parameters = _submit_steps(run, network, pieces, options, rate, steps)
        losses = []
        for index in range(steps + 1):
            losses.append(run.result(pending[index]))
            pending[index] = None        # the cluster may forget this step now
            if progress is not None:
                progress(index, steps)
            if index < steps and on_step is not None:
                on_step(index + 1, losses[-1])
        if parameters is None:
            return network.with_parameters(network.weights, network.biases), losses
        final = run.result(parameters)
    return network.with_parameters(unpack_fractions(final.weights),
                                   unpack_fractions(final.biases)), losses


def _submit_steps(run, network, pieces, options, rate, steps):
    """Every step's map-reduce at once: ([future of L before each step and after the last],
    future of the final Parameters or None). Step k's shards wait for step k-1's descend,
    whose Parameters they fetch: the broadcast of the updated parameters."""
    shared = run.scatter(tasks.share(network))
    held = run.keep([run.submit(tasks.hold, piece, label=f"shard-{i}")
                     for i, piece in enumerate(pieces)])
    parameters, pending = None, []
    for index in range(steps + 1):
        backward = index < steps
        partials = [run.submit(tasks.shard_partial, shared, parameters, piece, options,
                               backward, False, label=f"{index}-shard-{i}")
                    for i, piece in enumerate(held)]
        [total] = run.reduce(partials, f"{index}-sum")
        pending.append(run.submit(tasks.loss_of, total, label=f"{index}-loss"))
        if backward:
            parameters = run.submit(tasks.descend, shared, parameters, total, rate,
                                    label=f"{index}-descend")
    return pending, parameters


def map_configurations(client, function, configurations, *, retries=DEFAULT_RETRIES,
                       time_budget=None, progress=None):
    """``[function(c) for c in configurations]``, each call a Dask task, results in order.

    For sweeps (``bitprop growth``, the benchmarks): ``function`` must be picklable and should
    return plain data. A bitprop error raised by a call is raised here (not retried); any other
    exception is retried ``retries`` times, then raised as DistributedError."""
    configurations = list(configurations)
    with _Run(client, "map", time_budget, retries, progress) as run:
        futures = [run.submit(tasks.call_configuration, function, configuration, label=str(i))
                   for i, configuration in enumerate(configurations)]
        results = []
        for i, future in enumerate(futures):
            results.append(run.result(future, counted=futures))
            futures[i] = None
        return results


def map_series(client, function, series, *, carry_on, retries=DEFAULT_RETRIES):
    """``function`` over each series' configurations in order, each call a Dask task: yields
    (series index, position, result) as calls finish. A series' next configuration is
    submitted only when ``carry_on(result)`` of its previous one is true, so a series ends
    exactly where it would in a loop, while the other series go on without waiting for it.

    For sweeps whose series stop early (``bitprop growth``); errors as in map_configurations.
    Closing the generator (or Ctrl-C while it waits) releases every call still running."""
    series = [list(configurations) for configurations in series]
    with _Run(client, "series", None, retries, None) as run:
        running = {}

        def submit(index, position):
            future = run.submit(tasks.call_configuration, function, series[index][position],
                                label=f"{index}-{position}")
            running[future] = index, position

        for index, configurations in enumerate(series):
            if configurations:
                submit(index, 0)
        while running:
            future = run.first_done(running)
            index, position = running.pop(future)
            value = run.result(future)
            yield index, position, value
            if position + 1 < len(series[index]) and carry_on(value):
                submit(index, position + 1)


# --- shards ------------------------------------------------------------------------------
def _shard_count(client, shards, samples):
    if shards is None:
        _wait_for_workers(client)
        shards = sum(client.nthreads().values())
    if not isinstance(shards, int) or shards < 1:
        raise BitpropInputError(f"shards must be a positive integer, not {shards!r}",
                                path="shards")
    return max(1, min(shards, samples))


def _split(dataset, count):
    """``count`` Shards of consecutive samples, sizes differing by at most one."""
    scales, size = loss_scales(dataset), len(dataset)
    pieces = []
    for i in range(count):
        first, end = size * i // count, size * (i + 1) // count
        pieces.append(tasks.Shard(first, Dataset(
            dataset.inputs[first:end], dataset.labels[first:end], loss=dataset.loss,
            weights=scales[first:end], reduction="sum", kinds=dataset.kinds[first:end],
            file=dataset.file)))
    return pieces


def _options(threads, max_bits, time_budget, kernel):
    """Keyword arguments of each shard's evaluation.grad or forward."""
    return {"threads": 1 if threads is None else threads, "max_bits": max_bits,
            "time_budget": time_budget, "kernel": kernel}


def _check_complete(total, samples):
    if total.first != 0 or total.count != samples:
        raise DistributedError(f"the reduction covered samples [{total.first}, "
                               f"{total.first + total.count}) of {samples}; not reported")


def _grad_result(network, dataset, total, seconds):
    threads, primes = default_threads(), tasks.denominator_primes(network, dataset)
    grad_weight = tasks.canonical(total.weight_gradient, primes, threads)
    grad_bias = tasks.canonical(total.bias_gradient, primes, threads)
    outputs = tasks.output_vectors(total.outputs, total.count, network.num_outputs,
                                   primes, threads)
    per_vertex = total.per_vertex
    bits = BitStats(
        per_vertex, list(total.per_depth),
        max((max(b["z"], b["f"]) for b in per_vertex.values()), default=0),
        max((b["adjoint"] for b in per_vertex.values()), default=0),
        max(max(grad_weight.bit_lengths(), default=0), max(grad_bias.bit_lengths(), default=0)))
    compile_seconds, forward, backward = total.timing
    timing = {"compile": compile_seconds, "forward": forward, "backward": backward,
              "distributed": seconds}
    return GradResult(unpack_fractions(total.loss)[0], grad_weight, grad_bias, outputs, bits,
                      timing)


# --- one run on the cluster ----------------------------------------------------------------
def _wait_for_workers(client):
    try:
        client.wait_for_workers(1, timeout=WORKER_TIMEOUT)
    except Exception as error:
        raise DistributedError(f"no Dask worker joined the scheduler within {WORKER_TIMEOUT} s "
                               f"({type(error).__name__}: {error})") from None


class _Run:
    """The futures of one computation: submitted under readable unique keys with retries,
    awaited with Ctrl-C, time budget and progress. On any way out but success every future of
    the run is released, so the scheduler forgets the work nobody waits for any more.
    (Releasing, not ``Client.cancel``: cancelling a key whose dependents no client holds trips
    an assertion in the scheduler and drops the client's connection.)"""

    def __init__(self, client, name, time_budget, retries, progress):
        self.client = client
        self.prefix = f"bitprop-{name}-{uuid.uuid4().hex[:12]}"
        self.deadline = None if time_budget is None else time.monotonic() + time_budget
        self.time_budget = time_budget
        self.retries = retries
        self.progress = progress
        self.held = []               # weak: a future the driver dropped is released already
        self.kept = []               # strong: the inputs every step needs, for the whole run

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if kind is not None:
            for reference in self.held:
                future = reference()
                if future is not None:
                    future.release()
        self.held = self.kept = []
        return False

    def keep(self, futures):
        """Hold ``futures`` until the run ends (a lost result is then recomputed from them)."""
        self.kept.extend(futures)
        return futures

    def scatter(self, value):
        """``value`` on every worker, sent once (Dask copies it from worker to worker)."""
        _wait_for_workers(self.client)
        try:
            [future] = self.client.scatter([value], broadcast=True, hash=False)
            self.held.append(weakref.ref(future))
            self.kept.append(future)
        except Exception as error:
            raise DistributedError(f"could not send the network to the workers "
                                   f"({type(error).__name__}: {error})") from None
        return future

    def submit(self, function, *args, label):
        future = self.client.submit(function, *args, key=f"{self.prefix}-{label}",
                                    retries=self.retries)
        self.held.append(weakref.ref(future))
        return future

    def reduce(self, partials, label, down_to=1):
        """The tops of a balanced tree of add_partials over ``partials`` (kept in order, so
        that every node adds adjacent sample ranges): [its root], or its ``down_to`` highest
        nodes (fewer when there are fewer partials), in order."""
        level = 0
        while len(partials) > down_to:
            pairs = [self.submit(tasks.add_partials, left, right, label=f"{label}-{level}-{i}")
                     for i, (left, right) in enumerate(zip(partials[::2], partials[1::2]))]
            partials = pairs + partials[len(pairs) * 2:]
            level += 1
        return partials

    def _wait(self, done, counted=()):
        """Until ``done()``, looking at the cluster every _POLL_SECONDS: Ctrl-C, the time
        budget and the progress of the ``counted`` futures act between looks."""
        while not done():
            if self.deadline is not None and time.monotonic() > self.deadline:
                raise TimeBudgetError(f"stopped after the time budget of {self.time_budget:g} s")
            if self.progress is not None and counted:
                self.progress(sum(f is None or f.done() for f in counted), len(counted))
            time.sleep(_POLL_SECONDS)

    def first_done(self, futures, counted=()):
        """A finished future of ``futures`` (the first in their order), once one finishes;
        ``counted`` as in ``_wait``."""
        finished = []

        def any_done():        # the future found is returned: a done one may be lost again
            finished[:] = [f for f in futures if f.done()][:1]
            return bool(finished)

        self._wait(any_done, counted)
        return finished[0]

    def results(self, futures, counted=(), then=None):
        """[then(value) of each of ``futures``] in order, each fetched and passed to ``then``
        as soon as it is done (so that both overlap the work of the others); raises as
        ``result``."""
        values, waiting = {}, list(futures)
        while waiting:
            future = self.first_done(waiting, counted)
            waiting.remove(future)
            value = self.result(future, counted)
            values[future.key] = value if then is None else then(value)
        return [values[future.key] for future in futures]

    def result(self, future, counted=()):
        """The value of ``future``; raises the worker's bitprop error, TimeBudgetError or
        DistributedError."""
        self._wait(future.done, counted)
        try:
            value = future.result()
        except BitpropError:
            raise
        except Exception as error:
            raise DistributedError(f"the Dask computation failed: {_describe(error)}; "
                                   "no partial result is reported") from error
        if isinstance(value, tasks.Failure):
            raise value.error
        return value


def _describe(error):
    text = str(error) or repr(error)
    return f"{type(error).__name__}: {text}"
