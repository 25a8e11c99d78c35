"""Certified eval, grad and solve: the network questions past exact reach.

The escalation of ``certify.certify_slp`` over the network ball kernels (``bitprop.balls``):
ball passes at ``precision``, twice that, ... ``max_precision`` bits until every answer asked
is decided, and only when some stay undecided at the maximum precision, one exact pass within
``max_bits`` (its answers are certain too; method "exact"). The answers are signs (each output
and the loss; the loss and every gradient coordinate) and, for an instance, the queried
coordinate's sign and bit and the YES/NO answer. An undecided answer is None, never a guess:
a z^2 network of depth 40, whose exact values have 2^40 bits, gets its signs at 64 bits.
"""

from dataclasses import dataclass

from . import evaluation
from .balls import ball_forward, ball_grad
from .certify import DEFAULT_MAX_PRECISION, DEFAULT_PRECISION, Ball, balls_then_exact
from .instance import rational_bit, solve


@dataclass
class Certified:
    """The balls of one certified run (name -> Ball), the answers decided (name -> answer,
    None when undecided), the precision of the last pass, and how it ended."""

    balls: dict
    answers: dict
    precision: int
    precisions: list
    method: str
    stopped: object
    seconds: float = 0.0

    @property
    def decided(self):
        return all(answer is not None for answer in self.answers.values())

    def entry(self, name):
        """{"sign", "ball", "log2_abs"} of one quantity, as --json prints it: the sign is the
        answer decided for ``name``, else the ball's own (None when it holds 0)."""
        ball = self.balls[name]
        bounds = ball.log2_abs
        return {"sign": self.answers.get(name, ball.sign), "ball": ball.to_json(),
                "log2_abs": None if bounds is None else list(bounds)}

    def summary(self):
        """The keys every certified --json output shares (docs/formats.md)."""
        return {"certified": True, "decided": self.decided, "method": self.method,
                "precision": self.precision, "precisions": list(self.precisions),
                "stopped": self.stopped}


def _sign(q):
    return (q > 0) - (q < 0)


def _certify(evaluate_at, decide, exactly, **settings):
    """Balls first, exact last (certify.balls_then_exact): ``evaluate_at(p, seconds)`` gives
    name -> Ball, ``decide(balls)`` name -> answer, ``exactly(max_bits, seconds)`` name ->
    exact answer (or raises BitLimitError / TimeBudgetError)."""
    def fill(answers, bits, seconds):
        answers.update(exactly(bits, seconds))
        return True

    run, method = balls_then_exact(evaluate_at, decide, fill, **settings)
    return Certified(run.result, run.answers, run.precision, run.precisions, method,
                     None if method == "exact" else run.stopped, run.seconds)


def _signs(balls):
    return {name: ball.sign for name, ball in balls.items()}


def certify_forward(network, inputs, *, precision=DEFAULT_PRECISION,
                    max_precision=DEFAULT_MAX_PRECISION, time_budget=None, max_bits=None,
                    threads=None):
    """The sign of every output (names ("output", s, i)) and of the loss (("loss",), when the
    samples have labels), certified.

    >>> net = bitprop.Network.chain(40, "square", weight=1, bias=0)
    >>> result = certify_forward(net, [["3/2"]])       # (3/2)^(2^40): 2^40 bits exactly
    >>> result.answers[("output", 0, 0)], result.precisions
    (1, [64])
    """
    dataset = evaluation.as_dataset(inputs, network, require_labels=False)

    def evaluate_at(p, seconds):
        result = ball_forward(network, dataset, p, threads=threads, time_budget=seconds)
        balls = {("output", s, i): b for s, row in enumerate(result.outputs)
                 for i, b in enumerate(row)}
        if result.loss is not None:
            balls[("loss",)] = result.loss
        return balls

    def exactly(bits, seconds):
        result = evaluation.forward(network, dataset, max_bits=bits, time_budget=seconds,
                                    threads=threads)
        answers = {("output", s, i): _sign(q) for s, row in enumerate(result.outputs)
                   for i, q in enumerate(row)}
        if result.loss is not None:
            answers[("loss",)] = _sign(result.loss)
        return answers

    return _certify(evaluate_at, _signs, exactly, precision=precision,
                    max_precision=max_precision, time_budget=time_budget, max_bits=max_bits)


def certify_grad(network, dataset, *, precision=DEFAULT_PRECISION,
                 max_precision=DEFAULT_MAX_PRECISION, time_budget=None, max_bits=None,
                 threads=None):
    """The sign of the loss (("loss",)) and of every gradient coordinate (("weight", e),
    ("bias", e)), certified.

    >>> net = bitprop.Network.chain(40, "square", weight=1, bias=0)
    >>> result = certify_grad(net, bitprop.Dataset([["3/2"]], [[0]]))
    >>> result.answers[("loss",)], result.answers[("weight", 0)]
    (1, 1)
    """
    dataset = evaluation.as_dataset(dataset, network, require_labels=True)

    def evaluate_at(p, seconds):
        result = ball_grad(network, dataset, p, threads=threads, time_budget=seconds)
        balls = {("loss",): result.loss}
        for kind, values in (("weight", result.grad_weight), ("bias", result.grad_bias)):
            balls.update(((kind, e), b) for e, b in enumerate(values))
        return balls

    def exactly(bits, seconds):
        result = evaluation.grad(network, dataset, max_bits=bits, time_budget=seconds,
                                 threads=threads)
        answers = {("loss",): _sign(result.loss)}
        for kind, values in (("weight", result.grad_weight), ("bias", result.grad_bias)):
            answers.update(((kind, e), _sign(q)) for e, q in enumerate(values))
        return answers

    return _certify(evaluate_at, _signs, exactly, precision=precision,
                    max_precision=max_precision, time_budget=time_budget, max_bits=max_bits)


def certify_solve(instance, *, precision=DEFAULT_PRECISION, max_precision=DEFAULT_MAX_PRECISION,
                  time_budget=None, max_bits=None, threads=None):
    """``solve`` certified: for backprop problems the queried coordinate's sign (name
    "sign"), bit ("bit", Backprop-Bit) and "answer"; for erm L(theta*)'s "answer" (L <=
    threshold). Balls: "gradient" or "loss".

    On a Theorem 1.3 instance compiled from an SLP the certified gradient sign is the SLP's
    sign, also where the exact evaluator would need 2^40 bits and more. A bounded-norm
    instance (``--bounded``, Lemma A.5) is another matter: it keeps every value in [-1, 1],
    so dL/dw = 2^(1-e) x_n is tiny while each gadget loses absolute precision; its sign is
    decided only where the values stay exactly dyadic (towers of 2), else reported undecided.

    >>> from bitprop.slp import negated, tower
    >>> from bitprop.slp.compile_backprop import compile_backprop
    >>> instance = compile_backprop(negated(tower(60)), "z^2")     # x_n = -2^(2^60)
    >>> result = certify_solve(instance)
    >>> result.answers, result.precisions
    ({'sign': -1, 'answer': False}, [64])
    """
    if instance.problem == "erm":
        return _certify_erm(instance, precision, max_precision, time_budget, max_bits,
                            threads)
    query = instance.query

    def evaluate_at(p, seconds):
        result = ball_grad(instance.network, instance.dataset, p, threads=threads,
                           time_budget=seconds)
        values = result.grad_weight if query.coordinate == "weight" else result.grad_bias
        return {"gradient": values[query.edge], "loss": result.loss}

    def decide(balls):
        gradient = balls["gradient"]
        answers = {"sign": gradient.sign}
        if instance.problem == "backprop-bit":
            answers["bit"] = gradient.floor_bit(query.bit)
            answers["answer"] = None if answers["bit"] is None else answers["bit"] == 1
        else:
            above = gradient.compare(instance.threshold)
            answers["answer"] = None if above is None else above == 1
        return answers

    def exactly(bits, seconds):
        solution = solve(instance, max_bits=bits, time_budget=seconds, threads=threads)
        answers = {"sign": solution.sign, "answer": solution.answer}
        if instance.problem == "backprop-bit":
            answers["bit"] = rational_bit(solution.gradient, query.bit)
        return answers

    return _certify(evaluate_at, decide, exactly, precision=precision,
                    max_precision=max_precision, time_budget=time_budget, max_bits=max_bits)


def _certify_erm(instance, precision, max_precision, time_budget, max_bits, threads):
    """L(theta*) = main + forcing + regularizer <= threshold, the loss as one ball."""

    def evaluate_at(p, seconds):
        loss = ball_forward(instance.network, instance.dataset, p, threads=threads,
                            time_budget=seconds).loss
        if instance.forcing is not None:
            view = instance.forcing.network(instance.network)
            loss = loss.plus(ball_forward(view, instance.forcing.dataset, p, threads=threads,
                                          time_budget=seconds).loss)
        if instance.regularizer is not None:
            loss = loss.plus(Ball.enclosing(instance.regularizer.value(instance.network), p))
        return {"loss": loss}

    def decide(balls):
        above = balls["loss"].compare(instance.threshold)
        return {"answer": None if above is None else above <= 0}

    def exactly(bits, seconds):
        solution = solve(instance, max_bits=bits, time_budget=seconds, threads=threads)
        return {"answer": solution.answer}

    return _certify(evaluate_at, decide, exactly, precision=precision,
                    max_precision=max_precision, time_budget=time_budget, max_bits=max_bits)

