"""`bitprop fit FILE`: the growth law of any (depth, bits) series; parsing and printing only
(reading in ``experiments.series``, the verdict in ``experiments.fit``)."""

import click

from ..experiments import fit as fit_module
from ..experiments.series import read_series
from ..experiments.tables import jsonable
from .common import emit_json, json_option


@click.command("fit")
@click.argument("file", metavar="FILE")
@click.option("--column", default=None,
              help="The bits column (default: bits in a CSV, bits_max in a growth JSON).")
@click.option("--series", "series_column", default="series", show_default=True,
              metavar="COLUMN", help="The CSV column that names the series (e.g. activation "
                                     "in a growth.csv).")
@click.option("--plot", "plot", default=None, type=click.Path(dir_okay=False),
              metavar="PNG", help="Draw bits vs depth with each series' law to this PNG.")
@json_option
def fit_command(file, column, series_column, plot, as_json):
    """Decide how bits grow with depth: exponential (a + c b^depth), polynomial
    (a + c depth^k), bounded, or undetermined (then a depth that would decide).

    FILE is a CSV with a header and the columns depth and bits (more columns are ignored; a
    series column tells several series apart; # lines are comments), or the JSON that
    `bitprop growth` wrote (one series per activation). Repeated depths (seeds) are reduced
    to their median. The criterion is in `bitprop.experiments.fit`'s docstring: both laws
    with an additive offset, a likelihood-ratio rule, and an offset-free test of the rises.
    """
    series = read_series(file, column, series_column)
    verdicts = [(one, fit_module.fit_growth(one.depths, one.bits)) for one in series]
    if plot:
        from ..experiments.plots import fit_series
        fit_series(verdicts, plot, f"bitprop fit {file}")
    if as_json:
        emit_json(jsonable({"series": [dict(name=one.name, **verdict.to_json())
                                       for one, verdict in verdicts],
                            "file": file, "plot": plot}))
        return
    click.echo(f"growth law of bits vs depth ({fit_module.CRITERION}):\n")
    click.echo(fit_module.verdict_table([(one.name or "bits", verdict)
                                         for one, verdict in verdicts]))
    for one, verdict in verdicts:
        if verdict.law == fit_module.UNDETERMINED and verdict.exponential is not None:
            click.echo(f"\n{one.name or 'bits'}: {verdict.reason}")
    if plot:
        click.echo(f"\nplot: {plot}")


def register(group):
    group.add_command(fit_command)
