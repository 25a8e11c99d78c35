"""The exact evaluator's Python face: forward, grad and step in this process.

Python here only converts, validates and reports; every arithmetic operation runs in a
kernel (``bitprop._sweep``: any DAG, dense blocks inside; ``bitprop._stack``: a stack of
dense layers) with the GIL released, in worker threads that each take a contiguous slice of
the samples (``bitprop.workers``: Ctrl-C and ``time_budget`` act at once and leave every
object valid). ``bitprop.api`` adds the same on a Dask cluster (``bitprop.distributed``).
"""

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction

from ._pass import STATUS_STOPPED, Pass
from .compiled import Compiled
from .dataset import Dataset
from .errors import BitLimitError, BitpropInputError, TimeBudgetError
from .numbers import convert_out, rational
from .tensors import TensorValues
from .views import KeyedView
from .workers import run_shares, run_workers


class VertexBits(KeyedView):
    """Per vertex name, {"z": int, "f": int, "adjoint": int}, read from the kernel's arrays
    (a LeNet has 18,000 vertices, and most callers read only the maxima)."""

    def __init__(self, names, z, f, adjoint):
        super().__init__(names)
        self._z, self._f, self._adjoint = z, f, adjoint
        self._index = None

    def __getitem__(self, name):
        if self._index is None:
            self._index = {name: p for p, name in enumerate(self._keys)}
        p = self._index[name]
        return {"z": self._z[p], "f": self._f[p], "adjoint": self._adjoint[p]}


class ParameterGradients(KeyedView):
    """Per trainable shared parameter name, dL/dp as a Fraction, converted from the kernel's
    sums (a RationalVector) when it is read."""

    def __init__(self, positions, sums):
        self._position, self._sums = positions, sums       # positions: read only, shared
        super().__init__(self._position)

    def __getitem__(self, name):
        return self._sums[self._position[name]]


@dataclass
class BitStats:
    """Bit lengths (bitlen |p| + bitlen q) of everything an evaluation produced."""

    per_vertex: Mapping         # name -> {"z": int, "f": int, "adjoint": int} (max over samples)
    per_depth: list             # [{"depth": d, "z": int, "f": int, "adjoint": int}, ...]
    max_value: int              # max over every z and f
    max_adjoint: int = 0        # max over every dL/dz
    max_grad: int = 0           # max over every gradient coordinate

    def to_json(self, detail=False):
        out = {"max": self.max_value, "max_value": self.max_value,
               "max_adjoint": self.max_adjoint, "max_grad": self.max_grad,
               "per_depth": self.per_depth}
        if detail:
            out["per_vertex"] = dict(self.per_vertex)
        return out


@dataclass
class ForwardResult:
    """Outputs of a forward pass (and every z and f with ``keep_all``). ``outputs`` holds
    one vector per sample: a RationalVector (read as Fractions) for the default output
    kind, a list of fmpq or of strings for the others."""

    outputs: list
    bits: BitStats
    timing: dict
    values: list = None         # per sample {"f": {name: q}, "z": {name: q}}
    loss: Fraction = None       # when the inputs came with labels


@dataclass
class GradResult:
    """L(theta) and dL/dtheta for every edge's weight and bias, in edge order.

    ``grad_weight`` and ``grad_bias`` are RationalVectors: exact values kept in FLINT and
    converted to Fractions as they are read (``.tolist()``, indexing, iteration)."""

    loss: Fraction
    grad_weight: list
    grad_bias: list
    outputs: list
    bits: BitStats
    timing: dict = field(default_factory=dict)
    #: dL/dp of every trainable shared parameter p of the network (name -> value): the exact
    #: sum of the gradients of the edge coordinates bound to it; {} for a network without any.
    parameters: dict = field(default_factory=dict)
    #: The gradients of the model's tensors (name -> nested lists of its shape): the shared
    #: parameters ``NAME[i,j,...]`` read back as ``NAME`` (bitprop.tensors), as a model's
    #: ``conv1.weight`` reads in PyTorch; {} for a network without any.
    tensors: dict = field(default_factory=dict)

    @property
    def grad(self):
        return {"weight": self.grad_weight, "bias": self.grad_bias}

    def converted(self, kind):
        """The same result with numbers as ``fraction``, ``fmpq`` or ``str``."""
        conv = lambda q: convert_out(q, kind)  # noqa: E731
        return GradResult(conv(self.loss), self.grad_weight.tolist(kind),
                          self.grad_bias.tolist(kind),
                          [[conv(q) for q in row] for row in self.outputs], self.bits,
                          self.timing, {name: conv(q) for name, q in self.parameters.items()},
                          {name: _convert_nested(value, conv)
                           for name, value in self.tensors.items()})


def _convert_nested(value, conv):
    return [_convert_nested(v, conv) for v in value] if isinstance(value, list) else conv(value)


def default_threads():
    """All cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def as_dataset(data, network, require_labels):
    """``data`` (a Dataset, a list of vectors, a 2-d numpy array, or one vector) as a
    Dataset checked against ``network``."""
    if isinstance(data, Dataset):
        dataset = data
    elif hasattr(data, "ndim") and data.ndim == 1 or (
            isinstance(data, (list, tuple)) and data and not hasattr(data[0], "__len__")):
        dataset = Dataset([data])
    else:
        dataset = Dataset(data)
    dataset.check_against(network)
    if require_labels and dataset.labels is None:
        raise BitpropInputError("the samples have no labels 'y'", file=dataset.file,
                                path="samples")
    if dataset.labels is not None and dataset.loss.kind == "bit":
        for i, y in enumerate(dataset.labels):
            for o, q in enumerate(y):
                if q not in (0, 1):
                    raise BitpropInputError(f"the bit loss needs labels 0 or 1, not {q}",
                                            file=dataset.file, path=f"samples[{i}].y[{o}]")
    return dataset


def loss_scales(dataset):
    """Per-sample factor of the loss: weight_i, divided by the total weight for ``mean``."""
    if dataset.reduction == "mean":
        total = dataset.total_weight
        return [w / total for w in dataset.weights]
    return list(dataset.weights)


def _run(run, plan, *, time_budget=None, progress=None):
    """Run the pass on its worker threads and turn a bit-limit stop into BitLimitError."""

    def stop():
        run.stop = 1

    report = None if progress is None else (lambda: progress(*run.progress()))
    run_shares(run.work, run.threads, stop, time_budget=time_budget, progress=report)
    fault = run.fault()
    if fault is None and STATUS_STOPPED in run.statuses():   # not asked to: no memory
        raise MemoryError("a worker could not allocate its arrays")
    if fault is not None:
        position, what, bits = fault
        raise BitLimitError(
            f"vertex {plan.names[position]!r} (depth {plan.depth[position]}): {what} has "
            f"{bits} bits, more than max_bits={run.max_bits}", vertex=plan.names[position],
            depth=plan.depth[position], bits=bits, limit=run.max_bits)


def _reduce(run):
    """Sum the workers' gradient accumulators, each worker thread its share (a scalar
    vertex's edges hold one partial sum per worker; block rows are whole already)."""
    if run.threads == 1:
        run.reduce_gradients()
    else:
        run_shares(run.reduce_part, run.threads, lambda: None)


def _bit_stats(run, plan, gradient_bits=(0, 0)):
    z, f, adjoint, per_depth, max_value, max_adjoint = run.bit_statistics(plan.depth)
    return BitStats(VertexBits(plan.names, z, f, adjoint), per_depth, max_value, max_adjoint,
                    max(gradient_bits))


#: Bounds the kernels take as C integers.
MAX_THREADS = 1024
MAX_BITS = 1 << 62


def _new_pass(compiled, network, dataset, *, backward, keep_all, threads, max_bits, kernel):
    """A Pass of ``dataset`` through ``network`` (compiled as ``compiled``) on its kernel."""
    kernel = compiled.kernel(network, kernel, keep_all)
    threads = default_threads() if threads is None else threads
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= MAX_THREADS:
        raise BitpropInputError(f"threads must be an integer from 1 to {MAX_THREADS}, not "
                                f"{threads!r}", path="threads")
    if max_bits is not None and (isinstance(max_bits, bool) or not isinstance(max_bits, int)
                                 or not 1 <= max_bits <= MAX_BITS):
        raise BitpropInputError(f"max_bits must be an integer from 1 to {MAX_BITS}, not "
                                f"{max_bits!r}", path="max_bits")
    return Pass(compiled.plan, kernel, dataset.inputs, dataset.labels, loss_scales(dataset),
                dataset.loss, threads=threads, backward=backward, keep_all=keep_all,
                max_bits=max_bits)


def check_step(lr, steps):
    """(lr as a Fraction, steps as an int >= 0) of a gradient-descent run."""
    lr = rational(lr, "lr")
    steps = int(steps)
    if steps < 0:
        raise BitpropInputError(f"steps must be >= 0, not {steps}", path="steps")
    return lr, steps


def forward(network, inputs, *, keep_all=False, max_bits=None, time_budget=None,
            threads=None, progress=None, output="fraction", kernel="auto"):
    """Exact forward pass on every input vector (a Dataset, a list of vectors, a 2-d numpy
    array, or one vector). ``keep_all`` also returns every vertex's z and f per sample.
    ``kernel``: "auto" (dense layers as matrix products: the whole network when it is a stack
    of them, else its dense blocks), "dense", "mixed" or "scalar" (see bitprop.compiled.KERNELS); all
    give the same exact values."""
    started = time.perf_counter()
    dataset = as_dataset(inputs, network, require_labels=False)
    compiled = network.compiled()
    plan = compiled.plan
    run = _new_pass(compiled, network, dataset, backward=False, keep_all=keep_all,
                    threads=threads, max_bits=max_bits, kernel=kernel)
    compile_seconds = time.perf_counter() - started
    _run(run, plan, time_budget=time_budget, progress=progress)
    forward_seconds, _ = run.timings()
    outputs = run.take_outputs()
    if output != "fraction":
        outputs = [row.tolist(output) for row in outputs]
    values = None
    if keep_all:
        values = []
        for s in range(len(dataset)):
            z, f = run.vertex_values(s)
            values.append({"f": {plan.names[p]: convert_out(q, output) for p, q in enumerate(f)},
                           "z": {plan.names[p]: convert_out(q, output)
                                 for p, q in enumerate(z) if q is not None}})
    loss = convert_out(run.total_loss(), output) if dataset.labels is not None else None
    timing = {"compile": compile_seconds, "forward": forward_seconds}
    return ForwardResult(outputs, _bit_stats(run, plan), timing, values, loss)


def grad(network, dataset, *, max_bits=None, time_budget=None, threads=None, progress=None,
         output="fraction", kernel="auto", canonical=True):
    """Exact L(theta) and dL/dw, dL/db for every edge (edge order), with bit statistics.

    ``canonical=False`` (for partial sums that are added up before anything reads them, as
    Dask's shards are): the gradients are bitprop._sums.PartialSums, not in lowest terms,
    and the statistics leave out their bit lengths."""
    started = time.perf_counter()
    dataset = as_dataset(dataset, network, require_labels=True)
    compiled = network.compiled()
    run = _new_pass(compiled, network, dataset, backward=True, keep_all=False,
                    threads=threads, max_bits=max_bits, kernel=kernel)
    run.canonical_gradients = canonical
    compile_seconds = time.perf_counter() - started
    _run(run, compiled.plan, time_budget=time_budget, progress=progress)
    result = _grad_result(run, compiled.plan, compile_seconds)
    if not canonical:             # partial sums: parameters are summed once they are whole
        return result
    result = with_parameter_gradients(network, result, run.threads)
    return result if output == "fraction" else result.converted(output)


def _shared_work(network, method, *args):
    """``network.sharing().<method>(*args)`` in a worker thread with the GIL released, so
    that Ctrl-C stops it (bitprop.workers); the sharing's stop flag is reset first."""
    sharing = network.sharing()
    sharing.stop = 0
    out = []
    run_workers([lambda: out.append(getattr(sharing, method)(*args))], sharing.halt)
    return out[0]


def with_parameter_gradients(network, result, threads=1):
    """``result`` with the gradient of every trainable shared parameter of ``network``: the
    exact sum, in C, of its coordinates' gradients (bitprop._shared), shared out over
    ``threads`` worker threads. Frozen parameters (a builder's ``.zero``: constants of the
    model, which step never moves) are left out."""
    names = network._parameter_names
    if names:
        sharing = network.sharing()
        sharing.stop = 0
        parts = max(1, threads)
        partial, sums = sharing.partial_sums(parts), sharing.new_sums()
        run_shares(lambda t: sharing.accumulate(partial, result.grad_weight,
                                                result.grad_bias, t), parts, sharing.halt)
        run_shares(lambda t: sharing.combine(partial, sums, t), parts, sharing.halt)
        result.parameters = ParameterGradients(network.trainable_positions(), sums)
        result.tensors = TensorValues(network.tensors(), result.parameters)
    return result


def _grad_result(run, plan, compile_seconds):
    forward_seconds, backward_seconds = run.timings()
    _reduce(run)
    if run.canonical_gradients:
        bits = _bit_stats(run, plan, run.gradient_bits())
        grad_weight, grad_bias = run.gradients()
    else:
        bits = _bit_stats(run, plan)
        grad_weight, grad_bias = run.gradient_sums()
    timing = {"compile": compile_seconds, "forward": forward_seconds,
              "backward": backward_seconds}
    return GradResult(run.total_loss(), grad_weight, grad_bias, run.take_outputs(), bits,
                      timing)


def _shared_step(network, plan, run, lr):
    """One step of a network with shared parameters: each moves once, by lr times its summed
    gradient, on every coordinate bound to it (bitprop._shared); the rest as run.apply_step."""
    grad_weight, grad_bias = run.gradients()
    weights, biases = plan.parameters()
    weights, biases = _shared_work(network, "descend", weights, biases, grad_weight, grad_bias,
                                   lr)
    plan.set_parameters(weights, biases)


def step(network, dataset, lr, steps=1, *, max_bits=None, time_budget=None, threads=None,
         progress=None, on_step=None, kernel="auto"):
    """``steps`` exact gradient-descent steps theta := theta - lr * dL/dtheta on the trainable
    parameters. Returns (new network, losses): L before each step and after the last."""
    lr, steps = check_step(lr, steps)
    dataset = as_dataset(dataset, network, require_labels=True)
    compiled = Compiled(network)    # private: its plan's parameters change in place
    trainable = network.trainable
    deadline = None if time_budget is None else time.monotonic() + time_budget
    losses = []
    for index in range(steps + 1):
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        run = _new_pass(compiled, network, dataset, backward=index < steps, keep_all=False,
                        threads=threads, max_bits=max_bits, kernel=kernel)
        try:
            _run(run, compiled.plan, time_budget=remaining, progress=progress)
        except TimeBudgetError:     # report the budget the caller gave, not what was left
            raise TimeBudgetError(f"stopped after the time budget of {time_budget:g} s") \
                from None
        losses.append(run.total_loss())
        if index < steps:
            _reduce(run)
            if network._parameter_names:
                _shared_step(network, compiled.plan, run, lr)
            else:
                run.apply_step(lr, trainable)
            compiled.parameters_changed()
            if on_step is not None:
                on_step(index + 1, losses[-1])
    weights, biases = compiled.plan.parameters()
    return network.with_parameters(weights, biases), losses
