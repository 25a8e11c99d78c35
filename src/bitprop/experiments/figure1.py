"""`bitprop figure1`: the paper's Figure 1, log10 ||dL/dW_1||_2 vs depth for random MLPs with
sigma(x) = x^2 and with ReLU, weights scaled by 3 on every layer, computed twice:

* in float64 with numpy, as a practitioner would (the same weights, which are float32 values
  and so exact in float64); where an entry of the gradient becomes inf or nan the float64
  point is marked and left out of the line;
* exactly with bitprop (``net.grad``), and log10 of the exact norm taken from the exact
  rationals: log10 |p/q| from the integers' bit lengths and leading 64 bits, then a log-sum-exp
  of the squares, so nothing overflows and the result has ~12 correct digits;
* past exact reach (where the exact run stopped at max_bits or the time budget), certified:
  ``ball_grad``'s balls of dL/dW_1, their squares summed as balls, and log10 of the sum's
  lower and upper bounds, rounded outward: an interval that provably holds the exact log10
  norm. The working precision doubles until the interval is at most 0.01 wide (else the point
  is "undecided", its interval still sound); all certified points share one time allowance.

Setup (``Figure1Config``; the CSV header repeats it): MLP widths [4] + [8] * depth + [1]
(``depth`` hidden layers with sigma, identity output unit); every weight and bias an exact
float32 draw of 3 * N(0, 1/fan_in) (LeCun-normal scaled by 3 on every layer), biases taken
positive (|draw|) so that ReLU layers cannot all die; 4 samples, inputs and labels y float32
draws of N(0, 1); loss L = sum over samples (f(x) - y)^2; W_1 is the 8 x 4 weight matrix of
the first layer, ||.||_2 its Frobenius norm; seeds 0, 1, 2 (line: median, band: min..max).
"""

import math
import statistics
import time
from dataclasses import dataclass
from fractions import Fraction

import flint
import numpy as np

from ..balls import ball_grad
from ..errors import BitLimitError, TimeBudgetError
from ..network import Network
from .ball_bounds import as_arb
from .random_networks import random_dataset, random_parameters
from .tables import write_results

LOG10_2 = math.log10(2)

#: The command's help: the setup as a user needs it (the CSV header repeats it).
HELP = """The paper's Figure 1: log10 ||dL/dW_1||_2 vs depth for random MLPs with
sigma(x) = x^2 and with ReLU, weights scaled by 3 on every layer, computed in float64 with
numpy (marked where it overflows to inf/nan) and exactly with bitprop (log10 of the exact
norm, from exact rationals: no overflow).

\b
Setup (defaults; the CSV header repeats it):
  widths   [4] + [8] * depth + [1]: depth hidden layers with sigma, identity output
  init     every weight and bias an exact float32 draw of 3 * N(0, 1/fan_in)
           (LeCun-normal scaled by 3 on every layer); biases positive (|draw|) so that
           ReLU layers cannot all die
  data     4 samples; inputs x and labels y float32 draws of N(0, 1)
  loss     L = sum over samples of (f(x) - y)^2
  label    log10 ||dL/dW_1||_2: W_1 the 8 x 4 first-layer weight matrix, Frobenius norm
  seeds    0, 1, 2 (line: median over seeds, band: min..max)
  exact    stops per activation at the first depth over --max-bits or --time-budget
  certified  past that depth: a certified interval for log10 ||dL/dW_1||_2 from ball
           arithmetic (precision doubled until it is <= 0.01 wide), as far as
           --certify-budget seconds in total allow (0: no certified part)

Writes CSV (setup in its '#' header), JSON and PNG (linear and symlog y axes; certified
points drawn with error bars).
"""

COLUMNS = {
    "activation": "sigma: relu or square (x^2)",
    "seed": "seed of weights, biases, inputs and labels",
    "depth": "hidden layers with sigma",
    "log10_norm_exact": "log10 of ||dL/dW_1||_2 from the exact gradient; empty if stopped",
    "log10_norm_float64": "log10 of ||dL/dW_1||_2 computed in float64 numpy; inf/nan when it broke",
    "float64_status": "finite, inf or nan (some gradient entry overflowed), zero (all underflowed)",
    "exact_status": "ok, max_bits or time_budget (the exact run stopped at that limit)",
    "difference": "log10_norm_float64 - log10_norm_exact where both are finite",
    "grad_bits_max": "bits: max bit length of an exact gradient coordinate (BitStats.max_grad)",
    "exact_s": "seconds: exact forward + backward",
    "log10_norm_lower": "certified lower bound of log10 ||dL/dW_1||_2 (decimal, rounded down; "
                        "-inf if the balls allow 0); only where the exact run stopped",
    "log10_norm_upper": "certified upper bound (decimal, rounded up); only where the exact "
                        "run stopped",
    "precision": "bits: working precision of the last ball pass",
    "certified": "true when the interval is at most 0.01 wide, false when undecided",
    "certified_status": "certified, undecided (max precision reached) or out_of_time "
                        "(the certified part's time allowance ran out)",
    "certified_s": "seconds: ball passes of this point, every precision tried",
}

#: The certified part's goal: log10 of the norm known to within this width.
LOG10_WIDTH = Fraction(1, 100)
#: The first working precision of a (activation, seed) curve; later points start where the
#: previous one succeeded.
FIRST_PRECISION = 64
#: Decimal places of the certified bounds written (rounded outward).
PLACES = 4


@dataclass(frozen=True)
class Figure1Config:
    activations: tuple = ("relu", "square")
    depths: tuple = tuple(range(1, 31))
    inputs: int = 4
    width: int = 8
    samples: int = 4
    seeds: tuple = (0, 1, 2)
    scale: float = 3.0
    max_bits: int = 2 * 10 ** 6
    time_budget: float = 30.0
    threads: int = None
    certify_budget: float = 60.0
    max_precision: int = 1 << 14

    def widths(self, depth):
        return [self.inputs] + [self.width] * depth + [1]

    def describe(self):
        return [
            "bitprop figure1: log10 ||dL/dW_1||_2 vs depth, float64 (numpy) and exact (bitprop)",
            f"network: widths [{self.inputs}] + [{self.width}] * depth + [1], sigma on the hidden "
            f"layers ({', '.join(self.activations)}), identity output; depths "
            f"{self.depths[0]}..{self.depths[-1]}",
            f"init: every weight and bias an exact float32 draw of {self.scale:g} * N(0, 1/fan_in) "
            f"(weights scaled by {self.scale:g} on every layer); biases positive (|draw|)",
            f"data: {self.samples} samples, inputs x and labels y float32 draws of N(0, 1); "
            "loss L = sum over samples of (f(x) - y)^2",
            "label: log10 ||dL/dW_1||_2, W_1 = first-layer weight matrix "
            f"({self.width} x {self.inputs}), Frobenius norm",
            f"seeds {list(self.seeds)}; the exact run stops at max_bits {self.max_bits} or "
            f"{self.time_budget:g} s per network",
            f"certified past the exact stop: ball arithmetic, precision from {FIRST_PRECISION} "
            f"doubled up to {self.max_precision} bits until log10 of the norm is within "
            f"{float(LOG10_WIDTH):g}; {self.certify_budget:g} s in total",
        ]

    def to_json(self):
        return {"activations": list(self.activations), "depths": list(self.depths),
                "inputs": self.inputs, "width": self.width, "samples": self.samples,
                "seeds": list(self.seeds), "scale": self.scale,
                "init": "float32 N(0, 1/fan_in) * scale, biases positive",
                "loss": "square, summed over samples", "max_bits": self.max_bits,
                "time_budget_s": self.time_budget, "certify_budget_s": self.certify_budget,
                "max_precision": self.max_precision, "log10_width": float(LOG10_WIDTH)}


# --- exact log10 of norms --------------------------------------------------------------------
def log10_abs_int(n):
    """log10 |n| of a nonzero int of any size (its leading 64 bits and its bit length)."""
    n = abs(n)
    shift = max(n.bit_length() - 64, 0)
    return math.log10(n >> shift) + shift * LOG10_2


def log10_abs(q):
    """log10 |q| of a nonzero Fraction, without converting it to a float."""
    return log10_abs_int(q.numerator) - log10_abs_int(q.denominator)


def log10_norm(values):
    """log10 of the Euclidean norm of exact rationals (-inf when all are zero)."""
    logs = [2 * log10_abs(q) for q in values if q != 0]
    if not logs:
        return -math.inf
    top = max(logs)
    return (top + math.log10(sum(10.0 ** (x - top) for x in logs))) / 2


# --- float64 ---------------------------------------------------------------------------------
_SIGMA = {
    "relu": (lambda z: np.maximum(z, 0.0), lambda z: (z > 0).astype(float)),
    "square": (lambda z: z * z, lambda z: 2.0 * z),
}


def float64_first_layer_gradient(weights, biases, inputs, labels, activation):
    """dL/dW_1 in float64 by the textbook matrix backprop (samples in rows); overflow gives
    inf/nan entries, as it would for a practitioner."""
    sigma, derivative = _SIGMA[activation]
    W = [np.array(w, dtype=float) for w in weights]
    b = [np.array(v, dtype=float) for v in biases]
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        H, Z = [np.array(inputs, dtype=float)], []
        for layer in range(len(W)):
            Z.append(H[-1] @ W[layer].T + b[layer])
            H.append(Z[-1] if layer == len(W) - 1 else sigma(Z[-1]))
        G = 2.0 * (H[-1] - np.array(labels, dtype=float))     # dL/dz of the output layer
        for layer in range(len(W) - 1, 0, -1):
            G = (G @ W[layer]) * derivative(Z[layer - 1])
        return G.T @ H[0]


def float64_log10_norm(gradient):
    """(log10 ||gradient||_2, status): the norm is scaled by its largest entry so that only
    the gradient itself, not the squaring, can overflow."""
    if np.isnan(gradient).any():
        return math.nan, "nan"
    if np.isinf(gradient).any():
        return math.inf, "inf"
    largest = float(np.abs(gradient).max())
    if largest == 0.0:
        return -math.inf, "zero"
    return math.log10(largest) + math.log10(float(np.linalg.norm(gradient / largest))), "finite"


# --- certified log10 of norms (ball arithmetic) --------------------------------------------
def _fraction(bound):
    """An exact arb (an endpoint) as a Fraction."""
    m, e = (int(part) for part in bound.man_exp())
    return Fraction(m * 2 ** e) if e >= 0 else Fraction(m, 2 ** -e)


def _log10_root_bound(total, upper):
    """log10 of the square root of ``total``'s upper (or lower) endpoint, rounded up (down)
    to PLACES decimals; -inf for a lower endpoint <= 0, inf for an infinite upper one."""
    end = total.upper() if upper else total.lower()
    if not end.is_finite():
        return math.inf
    if end <= 0:
        return -math.inf
    log = end.log() / (2 * flint.arb(10).log())
    scaled = _fraction(log.upper() if upper else log.lower()) * 10 ** PLACES
    return Fraction(math.ceil(scaled) if upper else math.floor(scaled), 10 ** PLACES)


def certified_log10_norm(balls):
    """(lower, upper), Fractions with PLACES decimals or -inf / inf, with lower <= log10 ||x||_2
    <= upper for every vector x whose entries lie in ``balls`` (certify.Balls): the sum of the
    squares of the entries' lower (upper) bounds in |x|, then log10 of its lower (upper)
    endpoint, rounded outward; exponents of any size.

    >>> from bitprop.certify import Ball
    >>> certified_log10_norm([Ball((3, 0)), Ball((-1, 2))])          # ||(3, -4)|| = 5
    (Fraction(6989, 10000), Fraction(699, 1000))
    """
    exponents = max(max(abs(b.mid[1]), abs(b.rad[1])) for b in balls)
    # log(m 2^e) = log m + e log 2 needs e's bits on top of the digits wanted
    with flint.ctx.workprec(2 * exponents.bit_length() + 96):
        parts = [as_arb(b) for b in balls]
        low = sum((x.abs_lower() ** 2 for x in parts), flint.arb(0))
        high = sum((x.abs_upper() ** 2 for x in parts), flint.arb(0))
        return _log10_root_bound(low, upper=False), _log10_root_bound(high, upper=True)


def decided(lower, upper):
    """Whether [lower, upper] pins log10 of the norm to LOG10_WIDTH (or the norm to 0)."""
    if lower == upper == -math.inf:
        return True
    return math.isfinite(lower) and math.isfinite(upper) and upper - lower <= LOG10_WIDTH


def decimal_text(value, up=False):
    """A bound as the CSV/JSON cell: its text with PLACES decimals, rounded down (``up``:
    up), or the float -inf / inf.

    >>> decimal_text(Fraction(-1, 3)), decimal_text(Fraction(-1, 3), up=True)
    ('-0.3334', '-0.3333')
    """
    if not isinstance(value, Fraction):
        return value
    scaled = value * 10 ** PLACES
    scaled = math.ceil(scaled) if up else math.floor(scaled)
    sign, digits = ("-" if scaled < 0 else ""), abs(scaled)
    return f"{sign}{digits // 10 ** PLACES}.{digits % 10 ** PLACES:0{PLACES}d}"


class CertifiedPart:
    """The certified continuation of the curves: the time allowance left (one for the whole
    sweep) and, per (activation, seed), the precision its next point starts at (a deeper
    network needs at least the precision of a shallower one)."""

    def __init__(self, config):
        self.config = config
        self.seconds_left = config.certify_budget
        self.start = {}

    def fill(self, row, network, data):
        """Add the certified columns to ``row``: precision doubled until the interval is
        LOG10_WIDTH wide, the max precision is passed or the allowance runs out."""
        key = (row["activation"], row["seed"])
        precision = self.start.get(key, FIRST_PRECISION)
        started = time.monotonic()
        row["certified"], row["certified_status"] = False, "out_of_time"
        try:
            while True:
                left = self.seconds_left - (time.monotonic() - started)
                if left <= 0:
                    break
                result = ball_grad(network, data, precision, threads=self.config.threads,
                                   time_budget=left)
                lower, upper = _first_layer_bounds(result, self.config)
                row.update(log10_norm_lower=decimal_text(lower),
                           log10_norm_upper=decimal_text(upper, up=True), precision=precision)
                if decided(lower, upper):
                    row["certified"], row["certified_status"] = True, "certified"
                    self.start[key] = precision
                    break
                if 2 * precision > self.config.max_precision:
                    row["certified_status"] = "undecided"
                    break
                precision *= 2
        except TimeBudgetError:
            pass
        finally:
            spent = time.monotonic() - started
            self.seconds_left -= spent
            row["certified_s"] = spent


def _first_layer_bounds(result, config):
    """certified_log10_norm of the W_1 gradient balls; (-inf, inf) when one of them is not
    finite (its ball holds every number: the precision was far too low)."""
    try:
        balls = result.grad_weight[:config.inputs * config.width]
    except TypeError:                       # a non-finite ball has no (m, e, r, f)
        return -math.inf, math.inf
    return certified_log10_norm(balls)


# --- one point and the sweep -----------------------------------------------------------------
def draw(depth, seed, config):
    """(widths, weights, biases, data) of the networks at ``depth``, ``seed``: one draw serves
    both activations and every computation of the point."""
    widths = config.widths(depth)
    weights, biases = random_parameters(widths, seed=seed, kind="dyadic", scale=config.scale,
                                        bias="positive")
    data = random_dataset(config.inputs, 1, config.samples, seed=seed, kind="dyadic")
    return widths, weights, biases, data


def point(activation, depth, seed, config, exact=True, certified=None):
    """One CSV row: log10 ||dL/dW_1||_2 in float64 and (with ``exact``) exactly; where there is
    no exact value, ``certified`` (a CertifiedPart) adds the certified interval."""
    widths, weights, biases, data = draw(depth, seed, config)
    row = {"activation": activation, "seed": seed, "depth": depth}
    gradient = float64_first_layer_gradient(weights, biases, data.inputs, data.labels, activation)
    row["log10_norm_float64"], row["float64_status"] = float64_log10_norm(gradient)
    network = Network.mlp(widths, activation, weights, biases)
    row["exact_status"] = _exact_columns(row, network, data, config) if exact else "skipped"
    if row["exact_status"] != "ok" and certified is not None:
        certified.fill(row, network, data)
    return row


def _exact_columns(row, network, data, config):
    """Add the exact columns to ``row``; the exact status (ok or the limit that stopped it)."""
    try:
        result = network.grad(data, max_bits=config.max_bits, time_budget=config.time_budget,
                              threads=config.threads)
    except BitLimitError:
        return "max_bits"
    except TimeBudgetError:
        return "time_budget"
    first_layer = config.inputs * config.width       # edges x_j -> h1_i come first
    row["log10_norm_exact"] = log10_norm(result.grad_weight[e] for e in range(first_layer))
    row["grad_bits_max"] = result.bits.max_grad
    row["exact_s"] = result.timing["forward"] + result.timing["backward"]
    if row["float64_status"] == "finite" and math.isfinite(row["log10_norm_exact"]):
        row["difference"] = row["log10_norm_float64"] - row["log10_norm_exact"]
    return "ok"


def figure1_rows(config, progress=None):
    """(rows, interrupted): every (activation, seed, depth) point; once the exact run of a
    (activation, seed) stops at a limit, deeper points have float64 and certified columns."""
    rows, stopped = [], set()
    certified = CertifiedPart(config) if config.certify_budget > 0 else None
    total = len(config.activations) * len(config.seeds) * len(config.depths)
    try:
        for depth in config.depths:
            for activation in config.activations:
                for seed in config.seeds:
                    row = point(activation, depth, seed, config,
                                exact=(activation, seed) not in stopped, certified=certified)
                    if row["exact_status"] != "ok":
                        stopped.add((activation, seed))
                    rows.append(row)
                    if progress is not None:
                        progress(len(rows), total, f"{activation} s{seed} d{depth}")
    except KeyboardInterrupt:
        return rows, True
    return rows, False


def first_overflow(rows, activation):
    """The smallest depth at which float64 gave inf/nan for ``activation`` (any seed), or None."""
    depths = [r["depth"] for r in rows
              if r["activation"] == activation and r["float64_status"] in ("inf", "nan")]
    return min(depths) if depths else None


def deepest_exact(rows, activation):
    """(depth, median over seeds of log10_norm_exact) at the deepest depth where every seed's
    exact evaluation finished: where the plot's exact line ends; (None, None) without one."""
    by_depth = {}
    for r in rows:
        if r["activation"] == activation:
            by_depth.setdefault(r["depth"], []).append(r)
    finished = [d for d, group in by_depth.items()
                if all(r["exact_status"] == "ok" for r in group)]
    if not finished:
        return None, None
    depth = max(finished)
    return depth, statistics.median(r["log10_norm_exact"] for r in by_depth[depth])


def deepest_certified(rows, activation):
    """(depth, [lower, upper]) at the deepest depth past exact reach where every seed's log10
    norm is exact or certified: the medians over seeds of the lower and of the upper bounds
    (the plotted error bar; it holds the median of the exact values); (None, None) without."""
    by_depth = {}
    for r in rows:
        if r["activation"] == activation:
            by_depth.setdefault(r["depth"], []).append(r)
    for depth in sorted(by_depth, reverse=True):
        group = by_depth[depth]
        if all(r["exact_status"] == "ok" for r in group):
            return None, None
        if all(r["exact_status"] == "ok" or r.get("certified") for r in group):
            lower = statistics.median(_bound(r, "log10_norm_lower") for r in group)
            upper = statistics.median(_bound(r, "log10_norm_upper") for r in group)
            return depth, [decimal_text(lower), decimal_text(upper, up=True)]
    return None, None


def _bound(row, column):
    """A row's certified bound as a Fraction (its exact value when it has one)."""
    if row["exact_status"] == "ok":
        return Fraction(row["log10_norm_exact"])
    value = row[column]
    return Fraction(value) if isinstance(value, str) else value


def summary(rows, config):
    """Per activation: float64's first inf/nan depth (any seed), the deepest depth every seed
    evaluated exactly and the median log10 norm there (the plotted statistic), and how far
    the certified part went."""
    out = {}
    for activation in config.activations:
        depth, median = deepest_exact(rows, activation)
        certified_depth, interval = deepest_certified(rows, activation)
        mine = [r for r in rows if r["activation"] == activation]
        statuses = [r["certified_status"] for r in mine if "certified_status" in r]
        out[activation] = {
            "float64_overflow_depth": first_overflow(rows, activation),
            "exact_deepest_depth": depth,
            "exact_log10_norm_at_deepest": median,
            "max_abs_difference_where_float64_finite": max(
                (abs(r["difference"]) for r in mine if r.get("difference") is not None),
                default=None),
            "certified_deepest_depth": certified_depth,
            "certified_log10_norm_at_deepest": interval,
            "certified_points": statuses.count("certified"),
            "undecided_points": statuses.count("undecided"),
            "out_of_time_points": statuses.count("out_of_time"),
            "max_precision_used": max((r["precision"] for r in mine if "precision" in r),
                                      default=None),
            "certified_s": sum(r.get("certified_s", 0.0) for r in mine)}
    return out


def write_outputs(rows, config, directory, prefix="figure1", interrupted=False, plots=True):
    """CSV (setup in its ``#`` header), JSON and PNG; returns {kind: path}."""
    from . import plots as figures
    title = (f"Figure 1: gradient norm of the first layer vs depth, weights scaled by "
             f"{config.scale:g} (width {config.width}, seeds {', '.join(map(str, config.seeds))})")
    pictures = [("png", f"{prefix}.png", lambda path: figures.figure1(rows, path, title))]
    document = {"format": "bitprop.figure1/1", "setup": config.to_json(),
                "description": config.describe(), "summary": summary(rows, config)}
    return write_results(directory, prefix, COLUMNS, rows, config.describe(), document,
                         pictures if plots else [], interrupted)
