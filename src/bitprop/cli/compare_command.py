"""`bitprop compare NET DATA`: a float gradient (bitprop's own float pass, or an .npz a
framework wrote) against the exact one."""

import click

from .common import Progress, emit_json, evaluation_options
from .network_commands import _load_dataset, _load_network, _short, _table, npz_options


@click.command("compare")
@click.argument("network", metavar="NET")
@click.argument("data", metavar="DATA")
@click.option("--float32", "dtype", flag_value="float32",
              help="Compare bitprop's float32 pass with the exact gradient.")
@click.option("--float64", "dtype", flag_value="float64", default=True,
              help="Compare bitprop's float64 pass (the default).")
@click.option("--against", metavar="GRADS.npz", default=None,
              help="Compare the gradients in this .npz instead (an array per tensor, named "
                   "and shaped like it; optional 'loss').")
@click.option("--plot", "plot", metavar="PNG", default=None,
              help="Draw the histogram of log10 relative errors and a box plot per tensor.")
@click.option("--worst", type=click.IntRange(min=0), default=10, show_default=True,
              help="How many of the worst coordinates to list.")
@npz_options
@evaluation_options
def compare_command(network, data, dtype, against, plot, worst, loss, reduction, max_bits,
                    time_budget, threads, allow_float, progress, as_json):
    """Relative error and signs of a float gradient of NET on DATA against the exact one:
    per coordinate of the model's tensors, the loss too."""
    from ..experiments import compare as compare_module
    if against is not None and dtype == "float32":
        raise click.UsageError("--against reads its floats from the file; drop --float32")
    net = _load_network(network, allow_float)
    dataset = _load_dataset(data, allow_float, loss, reduction)
    with Progress("exact grad", progress) as bar:
        result = compare_module.compare(net, dataset, dtype=dtype, against=against, worst=worst,
                                        max_bits=max_bits, time_budget=time_budget,
                                        threads=threads, progress=bar)
    if plot is not None:
        compare_module.draw(result, plot)
    document = result.to_json()
    if as_json:
        emit_json(document)
        return
    _print(document)


def _number(value):
    return "-" if value is None else value if isinstance(value, str) else f"{value:.3g}"


def _approx(q):
    """An exact value rounded for reading (the JSON keeps it exact)."""
    try:
        return f"{float(q):.9g}"
    except OverflowError:
        return _short(q, 30)


def _text(value):
    """A float in full (repr), or the name of a non-finite one."""
    return value if isinstance(value, str) else repr(value)


def _print(document):
    errors = document["relative_error"]
    click.echo(f"{document['float']} vs exact: {document['coordinates']} coordinates; "
               f"relative error median {_number(errors['median'])}, 90% "
               f"{_number(errors['p90'])}, max {_number(errors['max'])}")
    loss = document["loss"]
    if loss["float"] is not None:
        click.echo(f"loss: exact {_short(loss['exact'])}, float {_text(loss['float'])}, relative "
                   f"error {_number(loss['relative_error'])}")
    signs = document["sign_disagreements"]
    shown = ", ".join(signs["names"][:10]) + (" ..." if signs["count"] > 10 else "")
    click.echo(f"sign disagreements: {signs['count']}" + (f" ({shown})" if shown else ""))
    if document["worst"]:
        click.echo("\n" + _table([[w["name"], _approx(w["exact"]), _text(w["float"]),
                                   _number(w["relative_error"])] for w in document["worst"]],
                                 ["worst coordinate", "exact (rounded)", "float", "rel. error"]))
    click.echo("\n" + _table([[t["name"], "x".join(map(str, t["shape"])) or "()", t["count"],
                               _number(t["median"]), _number(t["p90"]), _number(t["max"]),
                               t["sign_disagreements"]] for t in document["tensors"]],
                             ["tensor", "shape", "compared", "median", "90%", "max", "signs"]))
    if document["plot"]:
        click.echo(f"\nwrote {document['plot']}")


def register(group):
    group.add_command(compare_command)
