"""The exact evaluator's Python face: forward, grad and step over the compiled kernels.

Python here only converts, validates and reports; every arithmetic operation runs in
``bitprop._kernels`` (any DAG), ``bitprop._dense`` (stacks of dense layers) or
``bitprop._mixed`` (any DAG with dense blocks inside) with the GIL released, in worker
threads that each take a contiguous slice of the samples
(``bitprop.workers``: Ctrl-C and ``time_budget`` act at once and leave every object valid).
"""

import os
import time
from dataclasses import dataclass, field
from fractions import Fraction

from ._dense import DensePass
from ._kernels import STATUS_STOPPED, Pass
from ._mixed import MixedPass
from ._plan import Plan
from .layers import MIN_BLOCK_EDGES, find_dense_blocks, find_dense_layout
from .dataset import Dataset
from .errors import BitLimitError, BitpropInputError
from .numbers import convert_out, rational
from .workers import run_workers


@dataclass
class BitStats:
    """Bit lengths (bitlen |p| + bitlen q) of everything an evaluation produced."""

    per_vertex: dict            # name -> {"z": int, "f": int, "adjoint": int} (max over samples)
    per_depth: list             # [{"depth": d, "z": int, "f": int, "adjoint": int}, ...]
    max_value: int              # max over every z and f
    max_adjoint: int = 0        # max over every dL/dz
    max_grad: int = 0           # max over every gradient coordinate

    def to_json(self, detail=False):
        out = {"max": self.max_value, "max_value": self.max_value,
               "max_adjoint": self.max_adjoint, "max_grad": self.max_grad,
               "per_depth": self.per_depth}
        if detail:
            out["per_vertex"] = self.per_vertex
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

    @property
    def grad(self):
        return {"weight": self.grad_weight, "bias": self.grad_bias}

    def converted(self, kind):
        """The same result with numbers as ``fraction``, ``fmpq`` or ``str``."""
        conv = lambda q: convert_out(q, kind)  # noqa: E731
        return GradResult(conv(self.loss), self.grad_weight.tolist(kind),
                          self.grad_bias.tolist(kind),
                          [[conv(q) for q in row] for row in self.outputs], self.bits,
                          self.timing)


def default_threads():
    """All cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _as_dataset(data, network, require_labels):
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


def _scales(dataset):
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
    run_workers([lambda t=t: run.work(t) for t in range(run.threads)], stop,
                time_budget=time_budget, progress=report)
    fault = run.fault()
    if fault is None and STATUS_STOPPED in run.statuses():   # not asked to: no memory
        raise MemoryError("a worker could not allocate its arrays")
    if fault is not None:
        position, what, bits = fault
        raise BitLimitError(
            f"vertex {plan.names[position]!r} (depth {plan.depth[position]}): {what} has "
            f"{bits} bits, more than max_bits={run.max_bits}", vertex=plan.names[position],
            depth=plan.depth[position], bits=bits, limit=run.max_bits)


def _bit_stats(run, plan, gradient_bits=(0, 0)):
    per_vertex, per_depth, max_value, max_adjoint = run.bit_statistics(plan.names, plan.depth)
    return BitStats(per_vertex, per_depth, max_value, max_adjoint, max(gradient_bits))


#: "auto": the dense kernel for a stack of dense layers, else dense blocks of at least
#: MIN_BLOCK_EDGES edges inside the scalar sweep, else the scalar kernel; "dense": the same,
#: but an error when there is nothing dense; "mixed": every dense layer, however small, as a
#: block inside the scalar sweep; "scalar": one vertex at a time. All give the same bits.
KERNELS = ("auto", "dense", "mixed", "scalar")
#: Bounds the kernels take as C integers.
MAX_THREADS = 1024
MAX_BITS = 1 << 62


@dataclass
class _Dense:
    """How a plan's dense layers run (DensePass or MixedPass), their layout and, once a pass
    has built them, their integer weights (kept for the next pass over the same plan)."""

    kind: type
    layout: object
    weights: object = None


def _check_kernel(kernel):
    if kernel not in KERNELS:
        raise BitpropInputError(f"kernel must be one of {', '.join(KERNELS)}, not {kernel!r}",
                                path="kernel")


def _find_dense(network, plan, kernel):
    """A fresh _Dense for ``plan`` under ``kernel``, or None for the scalar kernel."""
    _check_kernel(kernel)
    if kernel == "scalar":
        return None
    if kernel != "mixed":
        layout = find_dense_layout(network, plan)
        if layout is not None:
            return _Dense(DensePass, layout)
    blocks = find_dense_blocks(network, plan, 1 if kernel == "mixed" else MIN_BLOCK_EDGES)
    if blocks is None and kernel != "auto":
        raise BitpropInputError("the network has no dense layers (vertices with one edge from "
                                "each of the same predecessors and one identity, relu, "
                                "leaky_relu or monomial activation)", path="kernel")
    return None if blocks is None else _Dense(MixedPass, blocks)


def _dense_layout(network, plan, kernel, keep_all):
    """The _Dense of ``plan`` to run on (cached on the network), or None for the scalar
    kernel (always with ``keep_all``: only the scalar kernel keeps every z and f). The cache
    holds the plan it was made for: its integer weights belong to that plan's parameters,
    so a cache is only ever used with that very plan object (an id could be reused)."""
    if keep_all:
        _check_kernel(kernel)
        return None
    cached_plan, layouts = network.__dict__.get("_dense_layouts") or (None, None)
    if cached_plan is not plan:
        layouts = {}
        network.__dict__["_dense_layouts"] = (plan, layouts)
    if kernel not in layouts:
        layouts[kernel] = _find_dense(network, plan, kernel)
    return layouts[kernel]


def _new_pass(plan, dataset, *, backward, keep_all, threads, max_bits, dense=None):
    threads = default_threads() if threads is None else threads
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= MAX_THREADS:
        raise BitpropInputError(f"threads must be an integer from 1 to {MAX_THREADS}, not "
                                f"{threads!r}", path="threads")
    if max_bits is not None and (isinstance(max_bits, bool) or not isinstance(max_bits, int)
                                 or not 1 <= max_bits <= MAX_BITS):
        raise BitpropInputError(f"max_bits must be an integer from 1 to {MAX_BITS}, not "
                                f"{max_bits!r}", path="max_bits")
    if dense is not None:
        run = dense.kind(plan, dataset.inputs, dataset.labels, _scales(dataset), dataset.loss,
                         threads=threads, backward=backward, max_bits=max_bits,
                         scalar_values=dense.kind is MixedPass, layout=dense.layout,
                         weights=dense.weights)
        dense.weights = run.weights
        return run
    return Pass(plan, dataset.inputs, dataset.labels, _scales(dataset), dataset.loss,
                threads=threads, backward=backward, keep_all=keep_all, max_bits=max_bits)


def forward(network, inputs, *, keep_all=False, max_bits=None, time_budget=None,
            threads=None, progress=None, output="fraction", kernel="auto"):
    """Exact forward pass on every input vector (a Dataset, a list of vectors, a 2-d numpy
    array, or one vector). ``keep_all`` also returns every vertex's z and f per sample.
    ``kernel``: "auto" (dense layers as matrix products: the whole network when it is a stack
    of them, else its dense blocks), "dense", "mixed" or "scalar" (see KERNELS); all give the
    same exact values.

    >>> net = bitprop.Network(["x", ("h", "relu"), ("o", "identity")],
    ...                       [("x", "h", 2, -1), ("h", "o", 3, 0)], ["x"], ["o"])
    >>> result = bitprop.forward(net, [["3/2"], [-1]], keep_all=True)
    >>> [row.tolist() for row in result.outputs]
    [[Fraction(6, 1)], [Fraction(0, 1)]]
    >>> result.values[1]["z"]
    {'h': Fraction(-3, 1), 'o': Fraction(0, 1)}
    >>> result.bits.max_value
    4
    """
    started = time.perf_counter()
    dataset = _as_dataset(inputs, network, require_labels=False)
    plan = network.plan()
    dense = _dense_layout(network, plan, kernel, keep_all)
    compiled = time.perf_counter()
    run = _new_pass(plan, dataset, backward=False, keep_all=keep_all, threads=threads,
                    max_bits=max_bits, dense=dense)
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
    timing = {"compile": compiled - started, "forward": forward_seconds}
    return ForwardResult(outputs, _bit_stats(run, plan), timing, values, loss)


def grad(network, dataset, *, max_bits=None, time_budget=None, threads=None, progress=None,
         output="fraction", kernel="auto", client=None):
    """Exact L(theta) and dL/dw, dL/db for every edge (edge order), with bit statistics.
    ``client``: a dask.distributed Client; the samples then run as shards on its cluster
    (:func:`bitprop.distributed.grad`), with the same result bit for bit.

    >>> net = bitprop.Network(["x", ("h", "relu"), ("o", "identity")],
    ...                       [("x", "h", 2, -1), ("h", "o", 3, 0)], ["x"], ["o"])
    >>> data = bitprop.Dataset([["3/2"]], [[1]])
    >>> result = bitprop.grad(net, data, output="str")
    >>> result.loss, result.grad_weight, result.grad_bias
    ('25', ['45', '20'], ['30', '10'])
    >>> result.bits.max_value, result.bits.max_adjoint, result.bits.max_grad
    (4, 6, 7)
    >>> bitprop.grad(net, data, kernel="scalar", threads=1).loss
    Fraction(25, 1)
    """
    if client is not None:
        from .distributed import grad as distributed_grad     # Dask only with a client
        return distributed_grad(network, dataset, client=client, max_bits=max_bits,
                                time_budget=time_budget, threads=threads, progress=progress,
                                output=output, kernel=kernel)
    started = time.perf_counter()
    dataset = _as_dataset(dataset, network, require_labels=True)
    plan = network.plan()
    dense = _dense_layout(network, plan, kernel, False)
    compiled = time.perf_counter()
    run = _new_pass(plan, dataset, backward=True, keep_all=False, threads=threads,
                    max_bits=max_bits, dense=dense)
    _run(run, plan, time_budget=time_budget, progress=progress)
    return _grad_result(run, plan, compiled - started).converted(output) \
        if output != "fraction" else _grad_result(run, plan, compiled - started)


def _grad_result(run, plan, compile_seconds):
    forward_seconds, backward_seconds = run.timings()
    run.reduce_gradients()
    bits = _bit_stats(run, plan, run.gradient_bits())
    grad_weight, grad_bias = run.gradients()
    timing = {"compile": compile_seconds, "forward": forward_seconds,
              "backward": backward_seconds}
    return GradResult(run.total_loss(), grad_weight, grad_bias, run.take_outputs(), bits,
                      timing)


def step(network, dataset, lr, steps=1, *, max_bits=None, time_budget=None, threads=None,
         progress=None, on_step=None, kernel="auto", client=None):
    """``steps`` exact gradient-descent steps theta := theta - lr * dL/dtheta on the trainable
    parameters. Returns (new network, losses): L before each step and after the last.
    ``client``: a dask.distributed Client; each step is then a map-reduce over sample shards
    on its cluster (:func:`bitprop.distributed.step`), with the same result bit for bit.

    >>> net = bitprop.Network(["x", ("h", "relu"), ("o", "identity")],
    ...                       [("x", "h", 2, -1), ("h", "o", 3, 0)], ["x"], ["o"])
    >>> trained, losses = bitprop.step(net, bitprop.Dataset([["3/2"]], [[1]]), "1/100", 2)
    >>> [bitprop.to_str(q) for q in losses]
    ['25', '31329/10000', '65141803695590468001/100000000000000000000']
    >>> trained.weights
    [Fraction(35033, 25000), Fraction(552743, 200000)]
    """
    if client is not None:
        from .distributed import step as distributed_step     # Dask only with a client
        return distributed_step(network, dataset, lr, steps, client=client, max_bits=max_bits,
                                time_budget=time_budget, threads=threads, progress=progress,
                                on_step=on_step, kernel=kernel)
    lr = rational(lr, "lr")
    steps = int(steps)
    if steps < 0:
        raise BitpropInputError(f"steps must be >= 0, not {steps}", path="steps")
    dataset = _as_dataset(dataset, network, require_labels=True)
    plan = Plan(network)            # private: the parameters change in place
    dense = _find_dense(network, plan, kernel)
    trainable = network.trainable
    deadline = None if time_budget is None else time.monotonic() + time_budget
    losses = []
    for index in range(steps + 1):
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        run = _new_pass(plan, dataset, backward=index < steps, keep_all=False, threads=threads,
                        max_bits=max_bits,
                        dense=dense and _Dense(dense.kind, dense.layout))   # new weights
        _run(run, plan, time_budget=remaining, progress=progress)
        losses.append(run.total_loss())
        if index < steps:
            run.reduce_gradients()
            run.apply_step(lr, trainable)
            if on_step is not None:
                on_step(index + 1, losses[-1])
    weights, biases = plan.parameters()
    return network.with_parameters(weights, biases), losses
