"""``--certify`` on eval, grad, solve and slp eval: the shared options, and the printing of
certified answers (bitprop.certify_network, bitprop.certify)."""

import click

from ..certify import DEFAULT_MAX_PRECISION, DEFAULT_PRECISION, MAX_PRECISION, MIN_PRECISION
from .common import emit_json

#: --certify without --max-bits: the exact fallback stops past this many times the maximum
#: precision (an exact pass with N-bit values costs about a ball pass at N bits, so this keeps
#: it a few ball passes long).
EXACT_FALLBACK_FACTOR = 16


def certify_options(command):
    """--certify, --precision P and --max-precision P."""
    options = [
        click.option("--certify", is_flag=True,
                     help="Answer with ball arithmetic instead, past exact reach: double the "
                          "working precision until the answers are certain, or report them "
                          "undecided."),
        click.option("--precision", type=click.IntRange(MIN_PRECISION, MAX_PRECISION),
                     metavar="P", default=None,
                     help=f"With --certify: the first working precision in bits (default "
                          f"{DEFAULT_PRECISION})."),
        click.option("--max-precision", type=click.IntRange(MIN_PRECISION, MAX_PRECISION),
                     metavar="P", default=None,
                     help=f"With --certify: stop doubling at P bits (default "
                          f"{DEFAULT_MAX_PRECISION})."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def certify_settings(certify, precision, max_precision, max_bits):
    """Keyword arguments of the certify functions from the options (None without --certify,
    after refusing --precision / --max-precision given alone)."""
    if not certify:
        for option, given in (("--precision", precision), ("--max-precision", max_precision)):
            if given is not None:
                raise click.UsageError(f"{option} goes with --certify")
        return None
    precision = precision or DEFAULT_PRECISION
    if max_precision is None:
        max_precision = max(DEFAULT_MAX_PRECISION, precision)
    elif precision > max_precision:
        raise click.UsageError(f"--precision {precision} is above --max-precision "
                               f"{max_precision}")
    return {"precision": precision, "max_precision": max_precision,
            "max_bits": EXACT_FALLBACK_FACTOR * max_precision if max_bits is None else max_bits}


def how(result):
    """One line: certified how, or undecided where."""
    if result.decided:
        return ("certified by the exact evaluator" if result.method == "exact"
                else f"certified at {result.precision} bits")
    return f"undecided at {result.precision} bits (stopped: {result.stopped})"


def _answer(answer):
    return "undecided" if answer is None else str(answer)


def emit_forward(result, outputs, as_json):
    """eval --certify: each output's sign and ball (and the loss's)."""
    samples = 1 + max((name[1] for name in result.balls if name[0] == "output"), default=-1)
    rows = [[result.entry(("output", s, i)) for i in range(len(outputs))]
            for s in range(samples)]
    loss = result.entry(("loss",)) if ("loss",) in result.balls else None
    if as_json:
        emit_json(result.summary() | {"outputs": rows, "loss": loss})
        return
    click.echo(how(result))
    for s, row in enumerate(rows):
        for i, (name, entry) in enumerate(zip(outputs, row)):
            click.echo(f"sample {s} {name}: sign {_answer(entry['sign'])}   "
                       f"{result.balls[('output', s, i)].approx()}")
    if loss is not None:
        click.echo(f"loss: sign {_answer(loss['sign'])}   {result.balls[('loss',)].approx()}")


def emit_grad(result, network, as_json):
    """grad --certify: the loss's and every gradient coordinate's sign and ball."""
    grad = {kind: [result.entry((kind, e)) for e in range(network.num_edges)]
            for kind in ("weight", "bias")}
    if as_json:
        emit_json(result.summary() | {"loss": result.entry(("loss",)), "grad": grad})
        return
    click.echo(how(result))
    click.echo(f"loss: sign {_answer(result.answers[('loss',)])}   "
               f"{result.balls[('loss',)].approx()}")
    for e, edge in enumerate(network.edges):
        signs = [_answer(result.answers[(kind, e)]) for kind in ("weight", "bias")]
        click.echo(f"edge {e} {edge.source} -> {edge.target}: sign dL/dweight {signs[0]}, "
                   f"dL/dbias {signs[1]}   {result.balls[('weight', e)].approx()}")


def emit_solve(instance, result, decides, as_json):
    """solve --certify: the answer, and for backprop problems the queried coordinate."""
    doc = result.summary() | {"problem": instance.problem, "answer": result.answers["answer"],
                              "threshold": instance.threshold, "decides": decides,
                              "relation": instance.source.relation}
    if instance.problem == "erm":
        doc["loss"] = result.entry("loss")
    else:
        doc |= {"sign": result.answers["sign"], "bit": result.answers.get("bit"),
                "query": instance.query.to_json(),
                "gradient": result.entry("gradient") | {"sign": result.answers["sign"]}}
    if as_json:
        emit_json(doc)
        return
    click.echo(f"problem: {instance.problem}")
    click.echo(how(result))
    if instance.problem == "erm":
        click.echo(f"L(theta*): {result.balls['loss'].approx()}")
    else:
        click.echo(f"dL/d{instance.query.coordinate} of edge {instance.query.edge}: "
                   f"{result.balls['gradient'].approx()}")
        click.echo(f"sign: {_answer(result.answers['sign'])}")
        if "bit" in result.answers:
            click.echo(f"bit {instance.query.bit}: {_answer(result.answers['bit'])}")
    click.echo(f"answer: {_answer(result.answers['answer'])}")
    click.echo(f"decides: {decides}")
