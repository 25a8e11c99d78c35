"""Certified values past exact reach: forward and reverse mode over Arb balls.

``ball_forward`` and ``ball_grad`` run the ball sweep (``bitprop._ball_sweep``) at a working
precision of ``precision`` bits. Every number they return is a :class:`bitprop.certify.Ball`, a
midpoint and a radius held exactly as integers, that provably contains the value the exact
``forward`` and ``grad`` would return, however many bits that value has: a z^2 chain of depth
40 (values of 2^40 bits) takes a fraction of a second. Python here only converts, validates
and reports; the arithmetic runs in worker threads with the GIL released (Ctrl-C and
``time_budget`` stop it at once), and every thread count gives the same balls.
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from ._ball_sweep import STATUS_STOPPED, BallPass
from .certify import Ball
from .errors import BitpropInputError
from .evaluation import MAX_THREADS, as_dataset, default_threads, loss_scales
from .workers import run_shares

#: Working precisions accepted, in bits of the balls' midpoints.
MIN_PRECISION = 2
MAX_PRECISION = 1 << 24


def _ball(parts):
    return Ball.from_parts(parts)


class BallVector(Sequence):
    """A read-only sequence of Balls kept in Arb until read (a BallGradResult's
    gradients): equal to any sequence of the same balls."""

    def __init__(self, array):
        self._array = array

    def __len__(self):
        return len(self._array)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        return _ball(self._array.tuple_at(index))

    def __eq__(self, other):
        return isinstance(other, Sequence) and list(self) == list(other)

    def __repr__(self):
        return f"BallVector({list(self)!r})"


@dataclass
class BallForwardResult:
    """Output balls of a ball forward pass, one list per sample; ``loss`` when the inputs
    came with labels; ``values`` (``keep_all``): per sample {"f": {name: ball}, "z": {...}}."""

    outputs: list
    precision: int
    loss: Ball = None
    values: list = None
    timing: dict = field(default_factory=dict)


@dataclass
class BallGradResult:
    """Balls of L(theta), dL/dw and dL/db per edge (edge order: BallVectors, converted as
    they are read), and the outputs."""

    loss: Ball
    grad_weight: list
    grad_bias: list
    outputs: list
    precision: int
    timing: dict = field(default_factory=dict)

    @property
    def grad(self):
        return {"weight": self.grad_weight, "bias": self.grad_bias}


def check_precision(precision):
    """``precision`` as an int from MIN_PRECISION to MAX_PRECISION."""
    if (isinstance(precision, bool) or not isinstance(precision, int) or
            not MIN_PRECISION <= precision <= MAX_PRECISION):
        raise BitpropInputError(f"precision must be an integer from {MIN_PRECISION} to "
                                f"{MAX_PRECISION} bits, not {precision!r}", path="precision")
    return precision


def _threads(threads):
    threads = default_threads() if threads is None else threads
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= MAX_THREADS:
        raise BitpropInputError(f"threads must be an integer from 1 to {MAX_THREADS}, not "
                                f"{threads!r}", path="threads")
    return threads


def _new_pass(network, dataset, precision, threads, backward):
    plan = network.compiled().plan
    return BallPass(plan, dataset.inputs, dataset.labels, loss_scales(dataset), dataset.loss,
                    prec=check_precision(precision), threads=_threads(threads),
                    backward=backward)


def _run(run, time_budget, progress):
    """Sweep every worker's samples, then (backward) reduce the gradients over positions:
    both on the pass's threads, within one time budget."""
    started = time.monotonic()

    def stop():
        run.stop = 1

    report = None if progress is None else (lambda: progress(*run.progress()))
    run_shares(run.work, run.threads, stop, time_budget=time_budget, progress=report)
    sweep_seconds = time.monotonic() - started
    if run.backward:
        remaining = None if time_budget is None else max(0.0, time_budget - sweep_seconds)
        run_shares(lambda t: run.reduce(t, run.threads), run.threads, stop,
                   time_budget=remaining)
    if STATUS_STOPPED in run.statuses():        # not asked to: nothing else stops a worker
        raise RuntimeError("a ball worker stopped without being asked to")
    return {"sweep": sweep_seconds, "reduce": time.monotonic() - started - sweep_seconds}


def ball_forward(network, inputs, precision, *, keep_all=False, threads=None,
                 time_budget=None, progress=None):
    """Forward pass over balls at ``precision`` bits on every input vector (a Dataset, a list
    of vectors, or one vector): the output balls per sample, the loss ball when the samples
    have labels, and with ``keep_all`` every vertex's z and f.

    >>> net = bitprop.Network.chain(40, "square", weight=1, bias=0)
    >>> result = bitprop.ball_forward(net, [["3/2"]], 64)
    >>> out = result.outputs[0][0]                  # (3/2)^(2^40): 2^40 bits exactly
    >>> out.sign, [round(b) for b in out.log2_abs]
    (1, [643173071356, 643173071356])
    """
    dataset = as_dataset(inputs, network, require_labels=False)
    run = _new_pass(network, dataset, precision, threads, backward=False)
    timing = _run(run, time_budget, progress)
    values = None
    if keep_all:
        names = network.compiled().plan.names
        values = []
        for s in range(len(dataset)):
            z, f = run.vertex_values(s)
            values.append({"f": {names[p]: _ball(b) for p, b in enumerate(f)},
                           "z": {names[p]: _ball(b) for p, b in enumerate(z) if b is not None}})
    loss = _ball(run.total_loss()) if dataset.labels is not None else None
    return BallForwardResult([[_ball(b) for b in row] for row in run.outputs()], precision,
                             loss, values, timing)


def ball_grad(network, dataset, precision, *, threads=None, time_budget=None, progress=None):
    """Balls of L(theta) and dL/dw, dL/db for every edge (edge order) at ``precision`` bits,
    each containing the exact ``grad``'s value.

    >>> net = bitprop.Network(["x", ("h", "relu"), ("o", "identity")],
    ...                       [("x", "h", 2, -1), ("h", "o", 3, 0)], ["x"], ["o"])
    >>> result = bitprop.ball_grad(net, bitprop.Dataset([["3/2"]], [[1]]), 64)
    >>> result.loss.contains(25), [g.contains(45) for g in result.grad_weight[:1]]
    (True, [True])
    >>> [g.approx() for g in result.grad_bias]
    ['30 +/- 0', '10 +/- 0']
    """
    dataset = as_dataset(dataset, network, require_labels=True)
    run = _new_pass(network, dataset, precision, threads, backward=True)
    timing = _run(run, time_budget, progress)
    weights, biases = run.gradients()
    return BallGradResult(_ball(run.total_loss()), BallVector(weights), BallVector(biases),
                          [[_ball(b) for b in row] for row in run.outputs()], precision, timing)
