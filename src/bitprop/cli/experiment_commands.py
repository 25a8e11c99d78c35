"""`bitprop growth`, `bitprop figure1`, `bitprop pac`, `bitprop demo`: the measurement
harnesses of ``bitprop.experiments``; parsing options and printing only.

Each writes CSV + JSON (+ PNG) under ``--out-dir`` (default ./bitprop-out) and prints where.
Ctrl-C ends a sweep cleanly: the finished rows are written, then the command exits 130.
"""

import functools
import sys

import click

from ..balls import MAX_PRECISION
from ..errors import BitpropInputError
from ..experiments import figure1 as figure1_module
from ..experiments import growth as growth_module
from ..experiments import pac as pac_module
from ..experiments.fit import CRITERION, verdict_table
from ..experiments.tables import jsonable
from ..numbers import rational
from .common import (MAX_BITS_OPTION, MAX_THREADS, dask_client, dask_option, emit_json,
                     json_option)

DEFAULT_DIR = "bitprop-out"


class SweepBar:
    """A tqdm bar on stderr for a sweep whose total may shrink (series that stop early);
    shown on a terminal unless told otherwise; a ``progress(done, total, text)`` callback."""

    def __init__(self, description, enabled=None):
        self.description = description
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.bar = None

    def __call__(self, done, total, text=""):
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm
            self.bar = tqdm(total=total, desc=self.description, unit="run", file=sys.stderr,
                            leave=False, dynamic_ncols=True)
        self.bar.total = total
        self.bar.n = done
        self.bar.set_postfix_str(text, refresh=False)
        self.bar.refresh()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _integers(text, where, minimum=0):
    """``0,1,2`` or ``0-4`` (or both) as a list of distinct ints, in order."""
    values = []
    for item in (part.strip() for part in str(text).split(",")):
        first, dash, last = item.partition("-")
        try:
            low, high = int(first), int(last) if dash else int(first)
        except ValueError:
            raise BitpropInputError(f"{item!r} is not N or A-B", path=where) from None
        if low < minimum or high < low:
            raise BitpropInputError(f"{item!r}: need {minimum} <= A <= B", path=where)
        values += [v for v in range(low, high + 1) if v not in values]
    return values


def _activations(specs):
    parsed = []
    for spec in specs:
        for item in (part.strip() for part in spec.split(",")):
            if item and item not in (label for label, _ in parsed):
                parsed.append(growth_module.parse_activation(item))
    if not parsed:
        raise BitpropInputError("no activation given", path="--activation")
    return tuple(parsed)


def _finish(interrupted, files, as_json, document):
    """Print the JSON document or the file list; on Ctrl-C, exit 130 after writing."""
    if as_json:
        emit_json(jsonable(document))
    else:
        width = max(map(len, files), default=0) + 2
        click.echo("\nfiles:")
        for kind, path in files.items():
            click.echo(f"  {kind:<{width}}{path}")
    if interrupted:
        click.echo("bitprop: interrupted: the files hold the runs that finished", err=True)
        raise KeyboardInterrupt


def output_options(prefix, threads=True):
    """The options every harness shares: where the files go, plots, threads (for harnesses
    that evaluate networks), progress, --json."""
    def decorate(command):
        options = (
            click.option("-o", "--out-dir", default=DEFAULT_DIR, show_default=True,
                         type=click.Path(file_okay=False), help="Directory for the files."),
            click.option("--prefix", default=prefix, show_default=True,
                         help="File names: PREFIX.csv, PREFIX.json, PREFIX*.png."),
            click.option("--plots/--no-plots", default=True, show_default=True,
                         help="Draw the PNG figures."),
            click.option("--progress/--no-progress", default=None,
                         help="Progress bar on stderr (default: when stderr is a terminal)."),
            json_option,
        ) + ((click.option("--threads", type=click.IntRange(min=1, max=MAX_THREADS),
                           default=None,
                           help="Worker threads per exact evaluation (default: all cores)."),)
             if threads else ())
        return functools.reduce(lambda decorated, option: option(decorated), reversed(options),
                                command)
    return decorate


# --- growth ----------------------------------------------------------------------------------
@click.command("growth")
@click.option("-a", "--activation", "activation_specs", multiple=True,
              default=("relu", "square", "rounded-8"), show_default=True,
              help="Activations to sweep (repeat the option or separate by commas): "
                   + growth_module.ACTIVATION_HELP)
@click.option("--depths", default=None,
              help="Depths (hidden layers): N, A-B (every integer), A-B*R (times R), "
                   f"comma-separated [default: {growth_module.DEFAULT_DEPTHS['bits']}; with "
                   f"--measure magnitude {growth_module.DEFAULT_DEPTHS['magnitude']}].")
@click.option("--widths", default="8", show_default=True,
              help="Hidden widths to sweep, e.g. 4,8,16 (each is also the input size).")
@click.option("--seeds", default="0,1,2", show_default=True, help="Seeds, e.g. 0,1,2 or 0-4.")
@click.option("--samples", type=click.IntRange(min=1), default=4, show_default=True,
              help="Samples in the batch.")
@click.option("--weights", type=click.Choice(["dyadic", "rational"]), default="dyadic",
              show_default=True,
              help="dyadic: exact float32 draws of N(0, scale^2/fan_in); rational: n/d with "
                   "n in [-8, 8], d in [1, 8], times scale. Biases are |draw|.")
@click.option("--scale", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Weight scale (default: sqrt(2), He, for dyadic; 1 for rational).")
@click.option("--max-bits", type=click.IntRange(min=1, max=MAX_BITS_OPTION), default=10 ** 6,
              show_default=True,
              help="End a series at the first depth where a value, adjoint or gradient "
                   "exceeds this many bits (z^2 sweeps stop themselves here).")
@click.option("--time-budget", type=click.FloatRange(min=0, min_open=True), default=60.0,
              show_default=True,
              help="End a series at the first depth whose exact evaluation takes longer "
                   "than this many seconds.")
@click.option("--measure", type=click.Choice(["bits", "magnitude"]), default="bits",
              show_default=True,
              help="bits: exact bit lengths (net.grad); magnitude: certified log2 |value|, the "
                   "max over vertices of log2 |f| from one ball forward pass (no exact run, "
                   "no --max-bits: z^2 goes on past exact reach).")
@click.option("--family", type=click.Choice(growth_module.FAMILIES), default="mlp",
              show_default=True,
              help="mlp: depth hidden layers; rnn: an Elman RNN (width features and hidden "
                   "units, shared weights) unrolled for T = depth steps, the paper's remark "
                   "on recurrent networks.")
@dask_option("each run is a task, a series' next depth sent when its last one is done; "
             "--threads is per run (default 1)")
@output_options("growth")
def growth_command(activation_specs, depths, widths, seeds, samples, weights, scale, max_bits,
                   time_budget, measure, family, dask, out_dir, prefix, plots, progress, as_json,
                   threads):
    """Bit lengths of exact forward and backward passes of random MLPs as depth grows.

    Each run is the MLP [width] + [width]*depth + [1] (depth hidden layers with the
    activation, identity output), a batch of seeded samples and a square loss, evaluated by
    one exact net.grad. Rows: max and mean bits of values, adjoints and gradients and the
    forward/backward seconds. Per activation, the growth law of bits_max (median over seeds)
    vs depth is decided as `bitprop fit` does: exponential (a + c b^depth), polynomial
    (a + c depth^k) or bounded, by a likelihood-ratio criterion and an offset-free test of
    the rises; "undetermined" when the depths measured cannot tell, with a depth that would.
    Writes CSV, JSON and PNGs (bits and time vs depth).

    Initialisation: weights and biases are seeded exact draws (--weights); biases are
    taken positive because random ReLU layers otherwise die (every unit 0), after which
    bits stop growing and ReLU's polynomial law is hidden. A series ends cleanly at the
    first depth over --max-bits or --time-budget; Ctrl-C writes the finished rows and
    exits 130. With --dask the runs go to a Dask cluster; the rows are the same.

    With --measure magnitude each run is a ball forward pass instead, and the rows are
    certified bounds of max log2 |f| over vertices (fitted the same way).

    With --family rnn the depth axis is the number of steps T of an unrolled Elman RNN
    (the same seeded model and sequences for every T), with the same verdicts.
    """
    config = growth_module.GrowthConfig(
        _activations(activation_specs),
        tuple(growth_module.parse_depths(depths or growth_module.DEFAULT_DEPTHS[measure])),
        widths=tuple(_integers(widths, "--widths", 1)), seeds=tuple(_integers(seeds, "--seeds")),
        samples=samples, weights=weights, scale=scale, max_bits=max_bits,
        time_budget=time_budget, threads=threads, measure=measure, family=family)
    with dask_client(dask) as client, SweepBar("growth", progress) as bar:
        result = growth_module.sweep(config, bar, client=client)
    fits = growth_module.fit_sweep(result)
    files = growth_module.write_outputs(result, fits, out_dir, prefix, plots)
    if not as_json:
        _print_growth(result, fits)
    _finish(result.interrupted, files, as_json, growth_module.to_json(result, fits, files))


def _print_growth(result, fits):
    config = result.config
    runs = "exact" if config.measure == "bits" else "ball (magnitude)"
    axis = "RNN steps T" if config.family == "rnn" else "depths"
    click.echo(f"bitprop growth: {len(result.rows)} {runs} runs ({config.weights} weights, "
               f"widths {', '.join(map(str, config.widths))}, seeds "
               f"{', '.join(map(str, config.seeds))}, {axis} {config.depths[0]}.."
               f"{config.depths[-1]})")
    for stop in result.stops:
        click.echo(f"  stopped: {stop.describe()}")
    what = ("bits_max (max bits of values, adjoints, gradients)" if config.measure == "bits"
            else "log2_magnitude_max (certified max log2 |f| over vertices)")
    click.echo(f"\ngrowth law of {what} vs {'T' if config.family == 'rnn' else 'depth'}, "
               f"median over seeds; {CRITERION}:\n")
    click.echo(verdict_table(fits))


# --- figure1 ---------------------------------------------------------------------------------
@click.command("figure1", help=figure1_module.HELP)
@click.option("--depths", default="1-40,44-128*1.1", show_default=True,
              help="Depths (hidden layers): N, A-B, A-B*R, comma-separated.")
@click.option("--seeds", default="0,1,2", show_default=True, help="Seeds, e.g. 0,1,2.")
@click.option("--width", type=click.IntRange(min=1), default=8, show_default=True,
              help="Units per hidden layer.")
@click.option("--inputs", type=click.IntRange(min=1), default=4, show_default=True,
              help="Input size.")
@click.option("--samples", type=click.IntRange(min=1), default=4, show_default=True,
              help="Samples in the batch.")
@click.option("--scale", type=click.FloatRange(min=0, min_open=True), default=3.0,
              show_default=True, help="Weights are scale * N(0, 1/fan_in) as float32.")
@click.option("--max-bits", type=click.IntRange(min=1, max=MAX_BITS_OPTION),
              default=2 * 10 ** 6, show_default=True,
              help="Stop the exact line of an activation at the first depth over this many bits.")
@click.option("--time-budget", type=click.FloatRange(min=0, min_open=True), default=30.0,
              show_default=True, help="... or over this many seconds per network.")
@click.option("--certify-budget", type=click.FloatRange(min=0), default=60.0,
              show_default=True,
              help="Seconds in total for the certified points past exact reach (ball "
                   "arithmetic); 0: no certified part.")
@click.option("--max-precision", type=click.IntRange(min=figure1_module.FIRST_PRECISION,
                                                     max=MAX_PRECISION),
              default=1 << 14, show_default=True,
              help="Bits: a certified point not 0.01 wide at this precision is undecided.")
@output_options("figure1")
def figure1_command(depths, seeds, width, inputs, samples, scale, max_bits, time_budget,
                    certify_budget, max_precision, out_dir, prefix, plots, progress, as_json,
                    threads):
    config = figure1_module.Figure1Config(
        depths=tuple(growth_module.parse_depths(depths)), inputs=inputs, width=width,
        samples=samples, seeds=tuple(_integers(seeds, "--seeds")), scale=scale,
        max_bits=max_bits, time_budget=time_budget, threads=threads,
        certify_budget=certify_budget, max_precision=max_precision)
    with SweepBar("figure1", progress) as bar:
        rows, interrupted = figure1_module.figure1_rows(config, bar)
    files = figure1_module.write_outputs(rows, config, out_dir, prefix, interrupted, plots)
    summary = figure1_module.summary(rows, config)
    if not as_json:
        click.echo("\n".join(config.describe()) + "\n")
        _print_figure1_summary(summary)
    _finish(interrupted, files, as_json,
            {"format": "bitprop.figure1/1", "setup": config.to_json(), "rows": rows,
             "summary": summary, "interrupted": interrupted, "files": files})


def _print_figure1_summary(summary):
    for activation, facts in summary.items():
        overflow = facts["float64_overflow_depth"]
        deepest = facts["exact_deepest_depth"]
        difference = facts["max_abs_difference_where_float64_finite"]
        parts = [f"float64 inf/nan from depth {overflow}" if overflow
                 else "float64 finite throughout"]
        if deepest is not None:
            parts.append(f"exact to depth {deepest} (median log10 norm over seeds "
                         f"{facts['exact_log10_norm_at_deepest']:.6g})")
        if difference is not None:
            parts.append(f"max |float64 - exact| where finite {difference:.1e}")
        parts.append(_certified_summary(facts))
        click.echo(f"  {activation:<8}" + "; ".join(part for part in parts if part))


def _certified_summary(facts):
    """How far the certified part went, or '' when it had nothing to do."""
    tried = facts.get("certified_points", 0) + facts.get("undecided_points", 0)
    missed = facts.get("out_of_time_points", 0)
    if not tried and not missed:
        return ""
    text = "certified to depth "
    if facts["certified_deepest_depth"] is None:
        text = "certified: no depth with every seed"
    else:
        lower, upper = facts["certified_log10_norm_at_deepest"]
        text += (f"{facts['certified_deepest_depth']} (median log10 norm in [{lower}, "
                 f"{upper}])")
    text += (f" ({facts['certified_points']} points certified, {facts['undecided_points']} "
             f"undecided, {missed} out of time; up to {facts['max_precision_used']} bits, "
             f"{facts['certified_s']:.1f} s)")
    return text


# --- pac -------------------------------------------------------------------------------------
@click.command("pac")
@click.option("--k", "ks", default="2,3,4,6,8,12,16,24,32,48,64", show_default=True,
              help="Precisions k: N, A-B, A-B*R, comma-separated.")
@click.option("--eps", default="1/100", show_default=True,
              help="Error target (the lower bound needs eps < 1/k).")
@click.option("--delta", default="1/10", show_default=True,
              help="Failure probability (the lower bound needs delta < 1/2).")
@click.option("--trials", type=click.IntRange(min=1), default=2000, show_default=True,
              help="Simulated learning runs per k.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@output_options("pac", threads=False)
def pac_command(ks, eps, delta, trials, seed, out_dir, prefix, plots, progress, as_json):
    """Appendix D, Theorem D.4: samples a consistent learner needs for the rounded
    multipliers h_a(x) = floor(a x 2^k) / 2^k (a in [0, 1), x uniform on {2^(i-k): i = 1..k})
    to reach error <= eps with probability >= 1 - delta, as the precision k grows, against the
    paper's lower bound (k - 1) ln(1/(2 delta)); in the real model one sample suffices.
    Simulated exactly (rational arithmetic) and computed in closed form; writes CSV, JSON, PNG.
    """
    eps, delta = rational(eps, "--eps"), rational(delta, "--delta")
    if not 0 < eps < 1 or not 0 < delta < 1:
        raise BitpropInputError("eps and delta must lie strictly between 0 and 1", path="--eps")
    config = pac_module.PacConfig(ks=tuple(growth_module.parse_depths(ks, "--k")), eps=eps,
                                  delta=delta, trials=trials, seed=seed)
    with SweepBar("pac", progress) as bar:
        rows, interrupted = pac_module.pac_rows(config, bar)
    files = pac_module.write_outputs(rows, config, out_dir, prefix, interrupted, plots)
    if not as_json:
        click.echo("\n".join(config.describe()) + "\n")
        click.echo(_pac_table(rows))
    _finish(interrupted, files, as_json,
            {"format": "bitprop.pac/1", "setup": config.to_json(), "rows": rows,
             "interrupted": interrupted, "files": files})


def _pac_table(rows):
    header = (f"{'k':>4} {'simulated':>10} {'exact':>7} {'worst case':>11} "
              f"{'lower bound':>12}  real model")
    lines = [header, "-" * len(header)]
    for r in rows:
        bound = "n/a" if r["lower_bound"] is None else f"{r['lower_bound']:.1f}"
        lines.append(f"{r['k']:>4} {r['samples_simulated']:>10} {r['samples_exact']:>7} "
                     f"{r['samples_worst_case']:>11} {bound:>12}  {r['samples_real_model']}")
    return "\n".join(lines)


# --- demo ------------------------------------------------------------------------------------
@click.command("demo")
@click.option("-o", "--out-dir", default=DEFAULT_DIR, show_default=True,
              type=click.Path(file_okay=False), help="Directory for the files.")
@click.option("--plots/--no-plots", default=True, show_default=True, help="Draw the PNGs.")
@click.option("--threads", type=click.IntRange(min=1, max=MAX_THREADS), default=None,
              help="Worker threads per exact evaluation (default: all cores).")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on stderr (default: when stderr is a terminal).")
@json_option
def demo_command(out_dir, plots, threads, progress, as_json):
    """The dichotomy of 'Why ReLU?' in under a minute: exact bit lengths of random MLPs for
    ReLU, z^2 and z^2 rounded to 8 bits as depth grows, the fitted growth law of each
    (z^2 exponential, the others polynomial), and Figure 1 (float64 vs exact gradient
    norms). Writes CSV, JSON and PNG files under --out-dir and says where."""
    from ..experiments.demo import run_demo
    with SweepBar("demo", progress) as bar:
        result = run_demo(out_dir, bar, threads, plots)
    files = {f"{part} {kind}": path for part, kinds in result.files.items()
             if isinstance(kinds, dict) for kind, path in kinds.items()}
    if not as_json:
        _print_demo(result)
    document = {"growth": growth_module.to_json(result.growth, result.fits),
                "figure1": {"rows": result.figure1_rows, "summary": result.figure1_summary},
                "files": result.files, "seconds": result.seconds,
                "interrupted": result.interrupted}
    _finish(result.interrupted, files, as_json, document)
    if not as_json:
        click.echo(f"\nall files are in {result.files['directory']} "
                   f"({result.seconds['total']:.1f} s)")


def _print_demo(result):
    growth = result.growth
    config = growth.config
    click.echo(f"Exact bits of random width-{', '.join(map(str, config.widths))} MLPs "
               f"({config.weights} weights, {config.samples} samples, square loss, seeds "
               f"{', '.join(map(str, config.seeds))}); bits of p/q = bitlen(|p|) + bitlen(q), "
               "median over seeds of the max over values, adjoints and gradients\n")
    by_key = {}
    for row in growth.rows:
        by_key.setdefault((row["activation"], row["depth"]), []).append(row["bits_max"])
    step = max(1, -(-len(config.depths) // 8))
    shown = list(config.depths[::step])
    click.echo(f"{'max bits':<12}" + "".join(f"{'d=' + str(d):>10}" for d in shown))
    for label, _ in config.activations:
        cells = []
        for depth in shown:
            values = sorted(by_key.get((label, depth), []))
            cells.append(f"{values[len(values) // 2]:>10,}" if values else f"{'-':>10}")
        click.echo(f"{label:<12}" + "".join(cells))
    for stop in growth.stops:
        click.echo(f"  ({stop.describe()})")
    click.echo(f"\ngrowth law of bits vs depth ({CRITERION}):\n")
    click.echo(verdict_table(result.fits))
    if result.figure1_summary:
        click.echo("\nFigure 1, log10 ||dL/dW_1||_2 with weights scaled by 3 "
                   "(float64 numpy vs exact bitprop):")
        _print_figure1_summary(result.figure1_summary)


def register(group):
    for command in (growth_command, figure1_command, pac_command, demo_command):
        group.add_command(command)

