"""`bitprop figure1`: the paper's Figure 1, log10 ||dL/dW_1||_2 vs depth for random MLPs with
sigma(x) = x^2 and with ReLU, weights scaled by 3 on every layer, computed twice:

* in float64 with numpy, as a practitioner would (the same weights, which are float32 values
  and so exact in float64); where an entry of the gradient becomes inf or nan the float64
  point is marked and left out of the line;
* exactly with bitprop (``net.grad``), and log10 of the exact norm taken from the exact
  rationals: log10 |p/q| from the integers' bit lengths and leading 64 bits, then a log-sum-exp
  of the squares, so nothing overflows and the result has ~12 correct digits.

Setup (``Figure1Config``; the CSV header repeats it): MLP widths [4] + [8] * depth + [1]
(``depth`` hidden layers with sigma, identity output unit); every weight and bias an exact
float32 draw of 3 * N(0, 1/fan_in) (LeCun-normal scaled by 3 on every layer), biases taken
positive (|draw|) so that ReLU layers cannot all die; 4 samples, inputs and labels y float32
draws of N(0, 1); loss L = sum over samples (f(x) - y)^2; W_1 is the 8 x 4 weight matrix of
the first layer, ||.||_2 its Frobenius norm; seeds 0, 1, 2 (line: median, band: min..max).
"""

import math
import statistics
from dataclasses import dataclass

import numpy as np

from ..errors import BitLimitError, TimeBudgetError
from ..network import Network
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

Writes CSV (setup in its '#' header), JSON and PNG (linear and symlog y axes).
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
}


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
        ]

    def to_json(self):
        return {"activations": list(self.activations), "depths": list(self.depths),
                "inputs": self.inputs, "width": self.width, "samples": self.samples,
                "seeds": list(self.seeds), "scale": self.scale,
                "init": "float32 N(0, 1/fan_in) * scale, biases positive",
                "loss": "square, summed over samples", "max_bits": self.max_bits,
                "time_budget_s": self.time_budget}


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


# --- one point and the sweep -----------------------------------------------------------------
def point(activation, depth, seed, config):
    """One CSV row: both computations of log10 ||dL/dW_1||_2 for one network."""
    widths = config.widths(depth)
    weights, biases = random_parameters(widths, seed=seed, kind="dyadic", scale=config.scale,
                                        bias="positive")
    data = random_dataset(config.inputs, 1, config.samples, seed=seed, kind="dyadic")
    row = {"activation": activation, "seed": seed, "depth": depth}
    gradient = float64_first_layer_gradient(weights, biases, data.inputs, data.labels, activation)
    row["log10_norm_float64"], row["float64_status"] = float64_log10_norm(gradient)
    network = Network.mlp(widths, activation, weights, biases)
    try:
        result = network.grad(data, max_bits=config.max_bits, time_budget=config.time_budget,
                              threads=config.threads)
    except BitLimitError:
        row["exact_status"] = "max_bits"
        return row
    except TimeBudgetError:
        row["exact_status"] = "time_budget"
        return row
    first_layer = config.inputs * config.width       # edges x_j -> h1_i come first
    row["log10_norm_exact"] = log10_norm(result.grad_weight[e] for e in range(first_layer))
    row["exact_status"] = "ok"
    row["grad_bits_max"] = result.bits.max_grad
    row["exact_s"] = result.timing["forward"] + result.timing["backward"]
    if row["float64_status"] == "finite" and math.isfinite(row["log10_norm_exact"]):
        row["difference"] = row["log10_norm_float64"] - row["log10_norm_exact"]
    return row


def figure1_rows(config, progress=None):
    """(rows, interrupted): every (activation, seed, depth) point; once the exact run of a
    (activation, seed) stops at a limit, deeper points keep only the float64 column."""
    rows, stopped = [], set()
    total = len(config.activations) * len(config.seeds) * len(config.depths)
    try:
        for depth in config.depths:
            for activation in config.activations:
                for seed in config.seeds:
                    if (activation, seed) in stopped:
                        row = _float64_only(activation, depth, seed, config)
                    else:
                        row = point(activation, depth, seed, config)
                        if row["exact_status"] != "ok":
                            stopped.add((activation, seed))
                    rows.append(row)
                    if progress is not None:
                        progress(len(rows), total, f"{activation} s{seed} d{depth}")
    except KeyboardInterrupt:
        return rows, True
    return rows, False


def _float64_only(activation, depth, seed, config):
    widths = config.widths(depth)
    weights, biases = random_parameters(widths, seed=seed, kind="dyadic", scale=config.scale,
                                        bias="positive")
    data = random_dataset(config.inputs, 1, config.samples, seed=seed, kind="dyadic")
    gradient = float64_first_layer_gradient(weights, biases, data.inputs, data.labels, activation)
    value, status = float64_log10_norm(gradient)
    return {"activation": activation, "seed": seed, "depth": depth, "log10_norm_float64": value,
            "float64_status": status, "exact_status": "skipped"}


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


def summary(rows, config):
    """Per activation: float64's first inf/nan depth (any seed), the deepest depth every seed
    evaluated exactly and the median log10 norm there (the plotted statistic)."""
    out = {}
    for activation in config.activations:
        depth, median = deepest_exact(rows, activation)
        out[activation] = {
            "float64_overflow_depth": first_overflow(rows, activation),
            "exact_deepest_depth": depth,
            "exact_log10_norm_at_deepest": median,
            "max_abs_difference_where_float64_finite": max(
                (abs(r["difference"]) for r in rows
                 if r["activation"] == activation and r.get("difference") is not None),
                default=None)}
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
