"""`bitprop growth`: bit lengths of exact forward and backward passes as depth grows.

For every activation, width, seed and depth the harness builds the MLP
``[width] + [width] * depth + [1]`` (``depth`` hidden layers with the activation, then an
identity output unit), a seeded batch of ``samples`` inputs with labels, and runs one exact
``net.grad`` (square loss, summed). Each row is that one run's statistics, all read from the
evaluator itself: no second evaluation path.

Initialisation (documented choice; see ``random_networks``): ``dyadic`` (default) draws every
weight and bias as an exact float32 value of N(0, scale^2 / fan_in) with scale sqrt(2) (He
initialisation), ``rational`` draws n/d with n in [-8, 8], d in [1, 8] (times scale, default
1). Biases are the absolute values of their draws (``bias="positive"``): random ReLU layers
otherwise die (every unit 0), after which bit lengths stop growing and the polynomial law is
invisible; a dead layer still passes z = b > 0 on here.

The sweep runs depth by depth; a (activation, width, seed) series ends at the first depth
whose run exceeds ``max_bits`` or ``time_budget`` (a ``Stop`` records where and why) while the
other series go on. Ctrl-C ends the whole sweep, keeping every finished row. With a Dask
client (``sweep(config, client=...)``, ``bitprop growth --dask``) the runs are tasks on its
cluster, a series' next depth submitted when its previous one finished; the rows are the same.

``family="rnn"`` (``--family rnn``) sweeps the paper's remark on recurrent networks instead:
the depth axis is the number of steps T of an Elman RNN h_t = sigma(W_hh h_(t-1) + W_ih x_t +
b), h_0 = 0, unrolled by ``Builder.rnn`` (W_ih, W_hh, b shared by every step), read out by an
identity unit from h_T. Its parameters are the MLP draw of widths [width, width, width, 1]
(W_ih, W_hh and the head; b the first layer's positive biases), the same for every T, and
each sample's sequence is the first T steps of one seeded sequence: a row at T + 1 runs the
same model as the row at T, one step longer.

``measure="magnitude"`` (``--measure magnitude``) sweeps log2 |value| instead of bit length:
each run is one ball forward pass (``ball_forward``, certified balls, no exact values), the
row the max over non-input vertices and samples of log2 |f_v|, as a certified upper and lower
bound (the precision doubled from MAGNITUDE_PRECISION until they are within a bit), so that a
z^2 sweep goes on far past exact reach (log2 |value| grows like 2^depth there); only
``time_budget`` ends a series. The growth law is then fitted to ``log2_magnitude_max``.
"""

import math
from contextlib import closing
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from typing import NamedTuple

from ..activations import Activation, BUILTINS
from ..balls import ball_forward
from ..errors import BitLimitError, BitpropInputError, TimeBudgetError
from ..builders import Builder
from ..dataset import Dataset
from ..network import Network
from .ball_bounds import log2_abs_bounds
from .fit import fit_growth
from .random_networks import random_dataset, random_parameters
from .tables import write_results

#: Column -> unit and meaning, in CSV order (the JSON file carries this table too).
COLUMNS = {
    "activation": "label of the activation spec (see ACTIVATION_HELP)",
    "width": "units per hidden layer (also the number of inputs)",
    "depth": "hidden layers with the activation (the MLP has depth + 1 weight layers); for "
             "--family rnn the steps T the RNN is unrolled for",
    "seed": "seed of the weights, biases and data",
    "weights": "initialisation: dyadic (exact float32, He scale) or rational (n/d)",
    "samples": "samples in the batch",
    "parameters": "coordinates of theta (a weight and a bias per edge)",
    "value_bits_max": "bits: max over every z and f of every vertex, sample (BitStats.max_value)",
    "value_bits_mean": "bits: mean over non-input vertices v of the max over samples of z_v, f_v",
    "adjoint_bits_max": "bits: max over every dL/dz (BitStats.max_adjoint)",
    "adjoint_bits_mean": "bits: mean over non-input vertices of the max over samples of dL/dz_v",
    "grad_bits_max": "bits: max over the coordinates of dL/dtheta (BitStats.max_grad)",
    "grad_bits_mean": "bits: mean over the coordinates of dL/dtheta (weights and biases)",
    "bits_max": "bits: max of value_bits_max, adjoint_bits_max, grad_bits_max (fitted)",
    "forward_s": "seconds: forward pass (GradResult.timing['forward'])",
    "backward_s": "seconds: backward pass (GradResult.timing['backward'])",
}

#: The columns of a ``measure="magnitude"`` sweep, in CSV order.
MAGNITUDE_COLUMNS = {
    **{name: COLUMNS[name] for name in ("activation", "width", "depth", "seed", "weights",
                                        "samples", "parameters")},
    "log2_magnitude_max": "certified upper bound of the max over non-input vertices v and "
                          "samples of log2 |f_v| (fitted)",
    "log2_magnitude_lower": "certified lower bound of the same max",
    "precision": "bits: working precision of the ball forward pass reported",
    "magnitude_decided": "True when the bounds are within MAGNITUDE_SLACK (a bit, or 2^-40 "
                         "of the value); False: MAX_MAGNITUDE_PRECISION reached first",
    "forward_s": "seconds: ball forward passes, every precision tried",
}
#: The fitted column of each measure.
FITTED = {"bits": "bits_max", "magnitude": "log2_magnitude_max"}
#: ``bitprop growth``'s depths per measure: magnitudes of z^2 go far past exact reach (depth
#: ~12), to log2 |value| ~ 2^49 at depth 48; fit_growth loses the exponential law past ~50.
DEFAULT_DEPTHS = {"bits": "1-12,16-128*1.5", "magnitude": "1-12,16-48*1.25"}
#: A magnitude run's first and largest working precision (bits).
MAGNITUDE_PRECISION = 64
MAX_MAGNITUDE_PRECISION = 1 << 12

#: piecewise_linear without arguments: a continuous hard-tanh with leaky tails.
DEFAULT_PIECEWISE = Activation.piecewise_linear(
    [-1, 1], [Fraction(1, 8), 1, Fraction(1, 8)], [Fraction(-7, 8), 0, Fraction(7, 8)])
DEFAULT_LEAK = Fraction(1, 8)
ROUNDED_CLIP = (-1, 1)
_INIT = {"dyadic": "exact float32 draws of N(0, scale^2/fan_in)",
         "rational": "n/d, n in [-8, 8], d in [1, 8], times scale"}

ACTIVATION_HELP = (
    "square, cube, relu, identity; leaky_relu[:SLOPE] (default slope 1/8); "
    "pwl (continuous hard-tanh with slopes 1/8, 1, 1/8 and breakpoints -1, 1); "
    "rounded-K[:INNER] = INNER (default square) rounded to the nearest multiple of 2^-K "
    "(ties to even), clipped to [-1, 1], straight-through backward (a K-bit activation, "
    "Remark 1.5); or any polynomial in z such as 'z^2 - z' or '3/2*z^3 - z'.")


def parse_activation(spec):
    """(label, Activation) of one ``--activation`` spec (see ACTIVATION_HELP)."""
    text = spec.strip()
    name, _, argument = text.partition(":")
    try:
        if name in BUILTINS and not argument:
            return text, BUILTINS[name]
        if name in ("leaky_relu", "leaky-relu"):
            return text, Activation.leaky_relu(argument or DEFAULT_LEAK)
        if name in ("pwl", "piecewise_linear") and not argument:
            return text, DEFAULT_PIECEWISE
        if name.startswith("rounded-"):
            bits = name[len("rounded-"):]
            if not bits.isdigit():
                raise BitpropInputError(f"{spec!r}: rounded-K needs a number of bits K")
            inner = parse_activation(argument)[1] if argument else BUILTINS["square"]
            return text, Activation.rounded(inner, int(bits), "nearest", clip=ROUNDED_CLIP)
        if "z" in text:
            return text, Activation.polynomial(text)
    except BitpropInputError as err:
        raise BitpropInputError(f"{spec!r}: {err.problem}", path="--activation") from None
    raise BitpropInputError(f"unknown activation {spec!r} (one of: {ACTIVATION_HELP})",
                            path="--activation")


def parse_depths(spec, where="--depths"):
    """Sorted distinct depths from ``1-12,16,24-128*2``: ``N``, ``A-B`` (every integer) or
    ``A-B*R`` (A, then times R rounded up to the next new integer, up to B)."""
    depths = set()
    for item in (part.strip() for part in str(spec).split(",")):
        try:
            span, _, ratio = item.partition("*")
            first, _, last = span.partition("-")
            first, last = int(first), int(last or first)
            ratio = float(ratio) if ratio else None
        except ValueError:
            raise BitpropInputError(f"{item!r} is not N, A-B or A-B*R", path=where) from None
        if first < 1 or last < first or (ratio is not None and not ratio > 1):
            raise BitpropInputError(f"{item!r}: need 1 <= A <= B and R > 1", path=where)
        depth = first
        while depth <= last:
            depths.add(depth)
            depth = depth + 1 if ratio is None else max(depth + 1, math.ceil(depth * ratio))
    return sorted(depths)


@dataclass(frozen=True)
class GrowthConfig:
    """What to sweep; see the module docstring for the network family and initialisation."""

    activations: tuple                  # (label, Activation) pairs
    depths: tuple
    widths: tuple = (8,)
    seeds: tuple = (0, 1, 2)
    samples: int = 4
    weights: str = "dyadic"
    scale: float = None                 # None: sqrt(2) for dyadic, 1 for rational
    max_bits: int = 10 ** 6
    time_budget: float = 60.0           # seconds per network
    threads: int = None
    measure: str = "bits"               # or "magnitude": certified log2 |value|, no exact run
    family: str = "mlp"                 # or "rnn": an Elman RNN unrolled for depth = T steps

    @property
    def columns(self):
        return MAGNITUDE_COLUMNS if self.measure == "magnitude" else COLUMNS

    @property
    def fitted_column(self):
        return FITTED[self.measure]

    @property
    def weight_scale(self):
        if self.scale is not None:
            return self.scale
        return math.sqrt(2) if self.weights == "dyadic" else 1

    def describe(self):
        """The setup in lines, for the CSV header and the JSON file."""
        first = ("bitprop growth: exact forward + backward (net.grad) of random MLPs, one run "
                 "per row" if self.measure == "bits" else
                 "bitprop growth --measure magnitude: certified log2 |value| from one ball "
                 f"forward pass (ball_forward, precision {MAGNITUDE_PRECISION} doubled up to "
                 f"{MAX_MAGNITUDE_PRECISION} bits) of random MLPs, one run per row")
        network = (f"network: widths [width] + [width] * depth + [1], hidden activation per "
                   f"row, identity output; widths {list(self.widths)}, depths "
                   f"{list(self.depths)}")
        if self.family == "rnn":
            first = first.replace("random MLPs", "random Elman RNNs")
            network = (f"network: Elman RNN h_t = act(W_hh h_(t-1) + W_ih x_t + b), h_0 = 0, "
                       f"width features and hidden units, unrolled for depth = T steps, "
                       f"identity readout of h_T; widths {list(self.widths)}, steps "
                       f"{list(self.depths)}")
        return [
            first,
            network,
            f"weights and biases: {self.weights}, scale {self.weight_scale:g} "
            f"({_INIT[self.weights]}); biases positive (|draw|) so that ReLU layers cannot all die",
            f"data: {self.samples} samples, inputs and labels drawn like the weights "
            "(random_dataset), square loss summed over samples",
            f"seeds {list(self.seeds)}; a series stops at the first depth over max_bits "
            f"{self.max_bits} or over {self.time_budget:g} s per network" +
            (" (magnitude: the time only)" if self.measure == "magnitude" else ""),
            "bits of p/q in lowest terms = bitlen(|p|) + bitlen(q); seconds are wall time",
        ]

    def to_json(self):
        return {"activations": [label for label, _ in self.activations],
                "activation_specs": [act.to_json() for _, act in self.activations],
                "depths": list(self.depths), "widths": list(self.widths),
                "seeds": list(self.seeds), "samples": self.samples, "weights": self.weights,
                "scale": self.weight_scale, "bias": "positive", "max_bits": self.max_bits,
                "time_budget_s": self.time_budget, "loss": "square, summed",
                "measure": self.measure, "family": self.family}


@dataclass(frozen=True)
class Stop:
    """Where a series ended early: the run at ``depth`` hit ``reason``."""

    activation: str
    width: int
    seed: int
    depth: int
    reason: str                 # max_bits, time_budget or memory
    message: str

    def describe(self):
        return (f"{self.activation} width {self.width} seed {self.seed} stopped at depth "
                f"{self.depth}: {self.reason} ({self.message})")


@dataclass
class SweepResult:
    config: GrowthConfig
    rows: list = field(default_factory=list)
    stops: list = field(default_factory=list)
    interrupted: bool = False


FAMILIES = ("mlp", "rnn")


def draw(width, depth, seed, config):
    """(widths, (weights, biases)) of the run's MLP (for an RNN: of the MLP [width, width,
    width, 1] whose layers are W_ih, W_hh and the head, whatever T): one draw serves every
    activation."""
    widths = [width] * 3 + [1] if config.family == "rnn" else [width] + [width] * depth + [1]
    return widths, random_parameters(widths, seed=seed, kind=config.weights,
                                     scale=config.weight_scale, bias="positive")


def build(activation, width, depth, seed, config, parameters=None):
    """The network and data of one run (the same for every call with the same arguments);
    ``parameters``: this run's :func:`draw`, when already drawn."""
    widths, (weights, biases) = parameters or draw(width, depth, seed, config)
    if config.family == "rnn":
        return build_rnn(activation, width, depth, seed, config, weights, biases)
    network = Network.mlp(widths, activation, weights, biases)
    data = random_dataset(width, 1, config.samples, seed=seed, kind=config.weights)
    return network, data


def build_rnn(activation, width, steps, seed, config, weights, biases):
    """The Elman RNN of one run unrolled for ``steps``, and its data: each sample the first
    ``steps`` steps of its sequence of the longest T swept."""
    builder = Builder((steps, width), seed=seed)
    builder.rnn(width, activation, weight_ih=weights[0], weight_hh=weights[1], bias=biases[0],
                name="rnn")
    builder.dense(1, "identity", weight=weights[2], bias=biases[2], name="head")
    longest = random_dataset(max(config.depths) * width, 1, config.samples, seed=seed,
                             kind=config.weights)
    inputs = [list(row)[:steps * width] for row in longest.inputs]
    return builder.network(), Dataset(inputs, [list(y) for y in longest.labels])


def bit_columns(result, network):
    """The row's bit statistics from one GradResult (maxima straight from BitStats)."""
    sources = set(network.inputs)
    inner = [bits for name, bits in result.bits.per_vertex.items() if name not in sources]
    values = [b for bits in inner for b in (bits["z"], bits["f"])]
    adjoints = [bits["adjoint"] for bits in inner]
    grads = result.grad_weight.bit_lengths() + result.grad_bias.bit_lengths()
    stats = result.bits
    return {"value_bits_max": stats.max_value, "value_bits_mean": sum(values) / len(values),
            "adjoint_bits_max": stats.max_adjoint,
            "adjoint_bits_mean": sum(adjoints) / len(adjoints),
            "grad_bits_max": stats.max_grad, "grad_bits_mean": sum(grads) / len(grads),
            "bits_max": max(stats.max_value, stats.max_adjoint, stats.max_grad)}


def run_one(label, activation, width, depth, seed, config, parameters=None):
    """One row: build, evaluate exactly, read the statistics. Raises the evaluator's
    BitLimitError / TimeBudgetError / KeyboardInterrupt."""
    network, data = build(activation, width, depth, seed, config, parameters)
    if config.measure == "magnitude":
        row = {"activation": label, "width": width, "depth": depth, "seed": seed,
               "weights": config.weights, "samples": config.samples,
               "parameters": 2 * network.num_edges}
        row.update(magnitude_columns(network, data, config))
        return row
    result = network.grad(data, max_bits=config.max_bits, time_budget=config.time_budget,
                          threads=config.threads)
    row = {"activation": label, "width": width, "depth": depth, "seed": seed,
           "weights": config.weights, "samples": config.samples,
           "parameters": 2 * network.num_edges}
    row.update(bit_columns(result, network))
    row.update(forward_s=result.timing["forward"], backward_s=result.timing["backward"])
    return row


def magnitude_columns(network, data, config):
    """Certified bounds of max over non-input vertices and samples of log2 |f_v|: ball
    forward passes, the precision doubled until the bounds are within MAGNITUDE_SLACK."""
    sources = set(network.inputs)
    precision, seconds = MAGNITUDE_PRECISION, 0.0
    while True:
        result = ball_forward(network, data.inputs, precision, keep_all=True,
                              threads=config.threads,
                              time_budget=max(config.time_budget - seconds, 1e-9))
        seconds += result.timing["sweep"] + result.timing["reduce"]
        bounds = [log2_abs_bounds(ball) for sample in result.values
                  for name, ball in sample["f"].items() if name not in sources]
        lower = max(low for low, _ in bounds)           # max_v |f_v| >= each |f_v|
        upper = max(high for _, high in bounds)
        decided = upper - lower <= magnitude_slack(upper)
        if decided or 2 * precision > MAX_MAGNITUDE_PRECISION:
            return {"log2_magnitude_max": upper, "log2_magnitude_lower": lower,
                    "precision": precision, "magnitude_decided": decided,
                    "forward_s": seconds}
        precision *= 2


def magnitude_slack(log2_value):
    """How far apart the bounds of a log2 magnitude may be: a bit, or 2^-40 of it (the
    floats holding log2 of 2^(2^60) are 2^8 apart)."""
    return max(1.0, abs(log2_value) * 2.0 ** -40)


_STOPS = ((BitLimitError, "max_bits"), (TimeBudgetError, "time_budget"), (MemoryError, "memory"))


class Run(NamedTuple):
    """One run of a sweep, as :func:`measure` takes it (and a Dask worker receives it)."""

    label: str
    activation: Activation
    width: int
    depth: int
    seed: int
    config: GrowthConfig


def measure(run, parameters=None):
    """The row of ``run``, or the Stop where its series ends (over max_bits, over the time
    budget, out of memory): plain data from a module-level function, so that a run can be a
    Dask task. ``parameters``: the run's :func:`draw`, when already drawn."""
    try:
        return run_one(run.label, run.activation, run.width, run.depth, run.seed, run.config,
                       parameters)
    except (BitLimitError, TimeBudgetError, MemoryError) as err:
        reason = next(name for kind, name in _STOPS if isinstance(err, kind))
        return Stop(run.label, run.width, run.seed, run.depth, reason,
                    str(err) or type(err).__name__)


def sweep(config, progress=None, *, client=None):
    """Every run of ``config``, depth by depth; ``progress(done, total, text)`` after each.
    With ``client`` (a dask.distributed Client) each run is a task on its cluster, with the
    same rows (timing columns aside) and stops: a series still ends at its first stop.
    Returns a SweepResult (``interrupted`` when Ctrl-C ended it; rows so far are kept)."""
    series = [(label, act, width, seed) for label, act in config.activations
              for width in config.widths for seed in config.seeds]
    result = SweepResult(config)
    total, done = len(series) * len(config.depths), 0
    finished = []                      # (depth index, series index, row or Stop)
    outcomes = (_in_process(config, series) if client is None
                else _on_dask(client, config, series))
    try:
        with closing(outcomes):
            for index, position, outcome in outcomes:
                finished.append((position, index, outcome))
                if isinstance(outcome, Stop):
                    total -= len(config.depths) - position - 1
                done += 1
                if progress is not None:
                    label, _, width, seed = series[index]
                    progress(done, total, f"{label} w{width} s{seed} d{config.depths[position]}")
    except KeyboardInterrupt:
        result.interrupted = True
    # Dask finishes runs in any order; the loop's order is depth by depth, then series.
    finished.sort(key=lambda entry: entry[:2])
    for _, _, outcome in finished:
        (result.stops if isinstance(outcome, Stop) else result.rows).append(outcome)
    return result


def _in_process(config, series):
    """(series index, depth index, row or Stop) of each run here, depth by depth, skipping
    the series that stopped; one draw per (width, seed) serves every activation."""
    stopped = set()
    for position, depth in enumerate(config.depths):
        draws = {}
        for index, (label, activation, width, seed) in enumerate(series):
            if index in stopped:
                continue
            if (width, seed) not in draws:
                draws[width, seed] = draw(width, depth, seed, config)
            outcome = measure(Run(label, activation, width, depth, seed, config),
                              draws[width, seed])
            if isinstance(outcome, Stop):
                stopped.add(index)
            yield index, position, outcome


def _on_dask(client, config, series):
    """The same, each run a Dask task as it finishes: a series' next depth is submitted once
    its previous one finished without a Stop. Kernel threads per run default to 1 (the
    parallelism is the runs')."""
    from ..distributed import map_series          # Dask is imported only with a client
    if config.threads is None:
        config = replace(config, threads=1)
    chains = [[Run(label, activation, width, depth, seed, config) for depth in config.depths]
              for label, activation, width, seed in series]
    return map_series(client, measure, chains,
                      carry_on=lambda outcome: not isinstance(outcome, Stop))


def series_label(activation, width, widths):
    return activation if len(widths) == 1 else f"{activation} w{width}"


def fit_sweep(result, column=None):
    """(label, GrowthFit) per activation (and width): the growth law of every finished row's
    ``column`` (default: the measure's, bits_max or log2_magnitude_max) against depth, all
    seeds together (fit_growth takes their median per depth); magnitudes of at most 1 (log2
    <= 0) are left out, the fit taking positive values only."""
    column = column or result.config.fitted_column
    fits = []
    widths = result.config.widths
    for label, _ in result.config.activations:
        for width in widths:
            rows = [r for r in result.rows if r["activation"] == label and r["width"] == width
                    and r[column] > 0]
            fits.append((series_label(label, width, widths),
                         fit_growth([r["depth"] for r in rows], [r[column] for r in rows])))
    return fits


def _summary(result, fits):
    """What the JSON holds besides the rows: setup, stops and fitted laws."""
    return {"format": "bitprop.growth/1", "setup": result.config.to_json(),
            "description": result.config.describe(),
            "stops": [asdict(stop) for stop in result.stops],
            "fits": {label: fit.to_json() for label, fit in fits},
            "fitted_column": result.config.fitted_column}


def to_json(result, fits, files=None):
    """The JSON document of a sweep (the file's content, and what ``--json`` prints)."""
    return dict(_summary(result, fits), columns=result.config.columns, rows=result.rows,
                interrupted=result.interrupted, files=files or {})


def write_outputs(result, fits, directory, prefix="growth", plots=True):
    """CSV, JSON and (with ``plots``) the bits and time PNGs; returns {kind: path}."""
    from . import plots as figures
    config = result.config
    labels = list(dict.fromkeys(series_label(label, width, config.widths)
                                for label, _ in config.activations for width in config.widths))
    key = lambda row: series_label(row["activation"], row["width"], config.widths)  # noqa: E731
    title = (f"Exact bit lengths vs depth ({config.weights} weights, "
             f"seeds {', '.join(map(str, config.seeds))})")
    pictures = [("bits_png", f"{prefix}-bits.png", lambda path: figures.growth_bits(
                    result.rows, result.stops, labels, key, path, title, config.max_bits)),
                ("time_png", f"{prefix}-time.png", lambda path: figures.growth_time(
                    result.rows, labels, key, path, "Exact forward / backward time vs depth"))]
    if config.measure == "magnitude":
        title = (f"Certified log2 |value| vs depth ({config.weights} weights, "
                 f"seeds {', '.join(map(str, config.seeds))})")
        pictures = [("magnitude_png", f"{prefix}-magnitude.png",
                     lambda path: figures.growth_magnitude(result.rows, labels, key, path,
                                                           title))]
    comments = config.describe() + [f"stopped: {stop.describe()}" for stop in result.stops]
    return write_results(directory, prefix, config.columns, result.rows, comments,
                         _summary(result, fits), pictures if plots else [], result.interrupted)
