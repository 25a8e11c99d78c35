"""`bitprop eval`, `bitprop grad`, `bitprop step`: the exact evaluator on files."""

import time

import click

from .. import evaluation
from ..certify_network import certify_forward, certify_grad
from ..dataset import Dataset
from ..jsonfiles import parse_json_text
from ..network import Network
from ..numbers import to_str
from .certified import certify_options, certify_settings, emit_forward, emit_grad
from .common import (
    Progress, dask_client, dask_option, emit_json, evaluation_options, reporter,
    take_time_budget)


def dask_options(command):
    """--dask and --shards: run the samples as shards on a Dask cluster (bitprop.distributed)."""
    command = click.option(
        "--shards", type=click.IntRange(min=1), default=None, metavar="N",
        help="With --dask: cut the samples into N shards (default: the cluster's worker "
             "threads).")(command)
    return dask_option("--threads is per shard (default 1)")(command)


def _evaluate(name, dask, shards, *args, **options):
    """``bitprop.evaluation.<name>``, or with ``--dask`` ``bitprop.distributed.<name>`` on that
    cluster; Dask is imported only then."""
    if dask is None:
        if shards is not None:
            raise click.UsageError("--shards needs --dask")
        return getattr(evaluation, name)(*args, **options)
    from .. import distributed
    with dask_client(dask) as client:
        return getattr(distributed, name)(*args, client=client, shards=shards, **options)


per_vertex_option = click.option(
    "--per-vertex", is_flag=True,
    help="Add bits.per_vertex (max bits of z, f and dL/dz of every vertex) to --json.")


def npz_options(command):
    """--loss and --reduction: the loss of a .npz dataset (a JSON dataset names its own)."""
    command = click.option(
        "--reduction", type=click.Choice(["sum", "mean"]), default=None,
        help="With a .npz DATA: sum (default) or mean over the samples.")(command)
    return click.option(
        "--loss", "loss", default=None, metavar="LOSS",
        help="With a .npz DATA: the loss, a name (square, hinge, ...) or a JSON object "
             "such as '{\"kind\": \"bit\", \"index\": 2}' (default square).")(command)


def _load_dataset(path, allow_float, loss=None, reduction=None):
    """DATA: a dataset file, JSON or .npz; --loss and --reduction apply to .npz only."""
    if not str(path).lower().endswith(".npz"):
        for option, value in (("--loss", loss), ("--reduction", reduction)):
            if value is not None:
                raise click.UsageError(f"{option} applies to a .npz DATA; {path} names its "
                                       "own loss and reduction")
        return Dataset.load(path, allow_float=allow_float)
    if loss is not None and loss.lstrip().startswith("{"):
        loss = parse_json_text(loss, "--loss")
    return Dataset.load(path, loss="square" if loss is None else loss,
                        reduction=reduction or "sum")


def _load_network(path, allow_float):
    return Network.load(path, allow_float=allow_float)


def _load_inputs(spec, allow_float):
    """A dataset file, a file holding a JSON list of input vectors, or that list inline."""
    if spec.lstrip().startswith("["):
        return Dataset.from_json(parse_json_text(spec, "--input"), file="--input",
                                 allow_float=allow_float)
    return Dataset.load(spec, allow_float=allow_float)


def _table(rows, headers):
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows)]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(headers, widths))]
    lines += ["  ".join(str(x).ljust(w) for x, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def _short(q, limit=60):
    text = to_str(q)
    return text if len(text) <= limit else f"{text[:limit // 2]}...({len(text)} chars)"


@click.command("eval")
@click.argument("network", metavar="NET")
@click.option("--input", "inputs", required=True, metavar="X",
              help="A dataset file, or a JSON list of input vectors (a file or inline).")
@click.option("--all", "keep_all", is_flag=True, help="Also report every vertex's z and f.")
@per_vertex_option
@certify_options
@evaluation_options
def eval_command(network, inputs, keep_all, per_vertex, certify, precision, max_precision,
                 max_bits, time_budget, threads, allow_float, progress, as_json):
    """Exact forward pass of NET on every input vector of X (with --certify: the sign of every
    output and of the loss, certified with ball arithmetic)."""
    started = time.perf_counter()
    settings = certify_settings(certify, precision, max_precision, max_bits)
    if settings is not None and keep_all:
        raise click.UsageError("--all goes without --certify")
    net = _load_network(network, allow_float)
    data = _load_inputs(inputs, allow_float)
    loaded = time.perf_counter() - started
    if settings is not None:
        emit_forward(certify_forward(net, data, time_budget=take_time_budget(time_budget),
                                     threads=threads, **settings), net.outputs, as_json)
        return
    with Progress("forward", progress) as bar:
        result = evaluation.forward(net, data, keep_all=keep_all, max_bits=max_bits,
                                    time_budget=time_budget, threads=threads, progress=bar)
    timing = {"load": loaded, **result.timing}
    if as_json:
        out = {"outputs": result.outputs, "bits": result.bits.to_json(per_vertex),
               "timing": timing}
        if keep_all:
            out["values"] = result.values
        if result.loss is not None:
            out["loss"] = result.loss
        emit_json(out)
        return
    rows = [[s, *(_short(q) for q in row)] for s, row in enumerate(result.outputs)]
    click.echo(_table(rows, ["sample", *net.outputs]))
    if keep_all:
        for s, values in enumerate(result.values):
            click.echo(f"\nsample {s}")
            click.echo(_table([[name, _short(values["z"].get(name, "")) if name in values["z"]
                                else "-", _short(f)] for name, f in values["f"].items()],
                              ["vertex", "z", "f"]))
    if result.loss is not None:
        click.echo(f"\nloss: {_short(result.loss)}")
    click.echo(f"max bits: {result.bits.max_value}   forward: {result.timing['forward']:.3g} s")


@click.command("grad")
@click.argument("network", metavar="NET")
@click.argument("data", metavar="DATA")
@per_vertex_option
@npz_options
@dask_options
@certify_options
@evaluation_options
def grad_command(network, data, per_vertex, loss, reduction, dask, shards, certify, precision,
                 max_precision, max_bits, time_budget, threads, allow_float, progress, as_json):
    """Exact L(theta) and dL/dtheta for every edge's weight and bias of NET on DATA (with
    --certify: their signs, certified with ball arithmetic)."""
    started = time.perf_counter()
    settings = certify_settings(certify, precision, max_precision, max_bits)
    if settings is not None and dask is not None:
        raise click.UsageError("--certify runs in this process; drop --dask")
    net = _load_network(network, allow_float)
    dataset = _load_dataset(data, allow_float, loss, reduction)
    loaded = time.perf_counter() - started
    if settings is not None:
        emit_grad(certify_grad(net, dataset, time_budget=take_time_budget(time_budget),
                               threads=threads, **settings), net, as_json)
        return
    with Progress("grad", progress) as bar:
        result = _evaluate("grad", dask, shards, net, dataset, max_bits=max_bits,
                           time_budget=time_budget, threads=threads, progress=bar)
    timing = {"load": loaded, **result.timing}
    if as_json:
        bits = result.bits.to_json(per_vertex)
        out = {"loss": result.loss, "grad": result.grad, "bits": bits, "timing": timing}
        if result.parameters:
            out["parameters"] = dict(result.parameters)
        if result.tensors:
            out["tensors"] = dict(result.tensors)
        emit_json(out, threads)
        return
    click.echo(f"loss: {_short(result.loss)}")
    rows = [[e, edge.source, edge.target, _short(gw), _short(gb)] for e, (edge, gw, gb) in
            enumerate(zip(net.edges, result.grad_weight, result.grad_bias))]
    click.echo(_table(rows, ["edge", "from", "to", "dL/dweight", "dL/dbias"]))
    if result.parameters:
        click.echo("\n" + _table([[name, _short(g)] for name, g in result.parameters.items()],
                                 ["parameter", "dL/dparameter"]))
    click.echo(f"max bits: values {result.bits.max_value}, adjoints {result.bits.max_adjoint}, "
               f"gradients {result.bits.max_grad}   forward {timing['forward']:.3g} s, "
               f"backward {timing['backward']:.3g} s")


@click.command("step")
@click.argument("network", metavar="NET")
@click.argument("data", metavar="DATA")
@click.option("--lr", required=True, metavar="ETA", help="Learning rate (a rational, e.g. 1/10).")
@click.option("--steps", default=1, type=click.IntRange(min=0), show_default=True,
              help="Number of gradient-descent steps.")
@click.option("-o", "--output", required=True, metavar="NET2",
              help="Where to write the trained network.")
@npz_options
@dask_options
@evaluation_options
def step_command(network, data, lr, steps, output, loss, reduction, dask, shards, max_bits,
                 time_budget, threads, allow_float, progress, as_json):
    """T exact gradient-descent steps theta := theta - ETA dL/dtheta; writes NET2."""
    echo = reporter(output, as_json)
    net = _load_network(network, allow_float)
    dataset = _load_dataset(data, allow_float, loss, reduction)
    report = None if as_json else (lambda i, loss: click.echo(
        f"step {i}: loss before {_short(loss)}", err=True))
    with Progress("step", progress) as bar:
        trained, losses = _evaluate("step", dask, shards, net, dataset, lr, steps,
                                    max_bits=max_bits, time_budget=time_budget,
                                    threads=threads, progress=bar, on_step=report)
    trained.save(output)
    if as_json:
        emit_json({"losses": losses, "output": output})
        return
    echo(f"loss after {steps} step(s): {_short(losses[-1])}; wrote {output}")


def register(group):
    for command in (eval_command, grad_command, step_command):
        group.add_command(command)
