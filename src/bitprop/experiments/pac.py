"""`bitprop pac`: Appendix D, Theorem D.4: in the bit model the realizable PAC sample complexity
of rounded multipliers grows linearly with the precision k; in the real model it is 1.

The extraction lost the formulas of Definition D.3; this reconstruction has every property
the proof's prose uses (each is checked by tests/test_pac.py):

* rounding at precision k: r_k(t) = floor(t * 2^k) / 2^k (down to a multiple of 2^-k);
* domain X_k = {x_i = 2^(i-k) : i = 1..k} = {2^(1-k), ..., 1/2, 1}, D uniform on X_k;
* class H_k = {h_a(x) = r_k(a x) : a in [0, 1)}. Writing a = 0.a_1 a_2 ... in binary,
  h_a(x_i) = floor(a 2^i) / 2^k is the integer a_1..a_i over 2^k: it depends on the first i
  bits of a only, so two parameters that agree on bits 1..k-1 and differ at bit k agree on
  X_k minus {1} and differ at x* = 1;
* real model (no rounding): h_a(x) = a x, and one example (x, a x) gives a = y / x: 1 sample.

Theorem D.4 (reconstructed): for eps < 1/k and delta < 1/2 every learner, however it uses its
samples, needs m >= ln(1/(2 delta)) / ln(k/(k-1)) >= (k-1) ln(1/(2 delta)) samples: unless x*
was drawn (probability (1 - 1/k)^m) the sample cannot tell the pair apart, one of the two is
then wrong at x*, and one wrong point already costs 1/k > eps.

The simulation, exact throughout (Fractions, no floats in labels, hypotheses or errors):
a consistent learner (version-space intersection: each example (x, y) says
a in [y/x, (y + 2^-k)/x); it outputs the least consistent a) learns a target a drawn uniformly
among (k + 16)-bit dyadics in [0, 1) from i.i.d. examples of D; each trial records the exact
error after every example. ``samples_simulated`` is the least m whose empirical failure rate
P[error > eps] is <= delta. The same quantity has a closed form, computed exactly as
``samples_exact`` (see :func:`exact_failure`), and so has the learner's worst target (bits
1..k all 1: it then fails exactly when x* = 1 is missing, P = (1 - 1/k)^m for eps < 1/k),
``samples_worst_case``.

What is checked, and only that: the simulation agrees with the closed form, and this one
learner's sample counts lie above the theorem's bound (tests/test_pac.py). That every
learner needs that many is the paper's proof (sketched above), not something a run of one
learner can show; nor does the experiment measure anything about other classes or domains.
"""

import math
import random
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from .tables import write_results

#: Bits of the target parameter beyond the precision k (they never affect a label).
TAIL_BITS = 16

COLUMNS = {
    "k": "precision: labels are multiples of 2^-k; |X_k| = k",
    "eps": "error target (0-1 error under the uniform D)",
    "delta": "allowed failure probability",
    "trials": "simulated learning runs per k (each with its own target and sample)",
    "samples_simulated": "samples: least m with empirical P[error > eps] <= delta (random target)",
    "failure_at_simulated": "empirical P[error > eps] at m = samples_simulated",
    "samples_exact": "samples: exact least m with P[error > eps] <= delta (random target)",
    "failure_exact": "exact P[error > eps] at m = samples_exact (random target)",
    "failure_simulated": "empirical P[error > eps] at m = samples_exact: checks the closed form",
    "samples_worst_case": "samples: exact least m for this learner on its worst target",
    "lower_bound": "samples: Theorem D.4, (k - 1) ln(1/(2 delta)) (empty unless eps < 1/k)",
    "lower_bound_sharp": "samples: ln(1/(2 delta)) / ln(k/(k-1)), the bound before relaxing it",
    "samples_real_model": "samples: exact real model (no rounding), one example gives a = y/x",
}


@dataclass(frozen=True)
class PacConfig:
    ks: tuple = (2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)
    eps: Fraction = Fraction(1, 100)
    delta: Fraction = Fraction(1, 10)
    trials: int = 2000
    seed: int = 0

    def describe(self):
        return [
            "bitprop pac: Appendix D, Theorem D.4 (rounded multipliers at precision k)",
            "class: h_a(x) = floor(a x 2^k) / 2^k, a in [0, 1); domain X_k = {2^(i-k): i = 1..k}, "
            "D uniform on X_k; realizable, 0-1 error",
            "learner: consistent (version-space intersection), outputs the least consistent a; "
            f"target: uniform (k + {TAIL_BITS})-bit dyadic in [0, 1); exact arithmetic",
            f"eps {self.eps}, delta {self.delta}, {self.trials} trials per k, seed {self.seed}",
            "samples_simulated: least m with empirical P[error > eps] <= delta; lower bound: "
            "the paper's (k - 1) ln(1/(2 delta)) for eps < 1/k, delta < 1/2 (proved there for "
            "every learner; here compared with this one learner only)",
        ]

    def to_json(self):
        return {"ks": list(self.ks), "eps": float(self.eps), "delta": float(self.delta),
                "trials": self.trials, "seed": self.seed, "tail_bits": TAIL_BITS}


# --- the class -------------------------------------------------------------------------------
def round_down(t, k):
    """r_k(t): t rounded down to a multiple of 2^-k, exactly."""
    return Fraction(math.floor(t * 2 ** k), 2 ** k)


@lru_cache(maxsize=None)
def domain(k):
    """X_k = (2^(1-k), ..., 1/2, 1)."""
    return tuple(Fraction(2 ** i, 2 ** k) for i in range(1, k + 1))


def hypothesis(a, k):
    """h_a as a function x -> r_k(a x)."""
    return lambda x: round_down(a * x, k)


def label_numerators(b, k):
    """2^k h_b(x) for x in domain(k), as integers: 2^k r_k(b 2^(i-k)) = floor(b 2^i)."""
    return [(b.numerator << i) // b.denominator for i in range(1, k + 1)]


def error(b, target_numerators, k):
    """0-1 error of h_b under the uniform D, against the target's label_numerators."""
    return Fraction(sum(p != q for p, q in zip(label_numerators(b, k), target_numerators)), k)


def consistent_interval(x, y, k):
    """The parameters a consistent with the example (x, y): y <= a x < y + 2^-k."""
    return y / x, (y + Fraction(1, 2 ** k)) / x


class ConsistentLearner:
    """Version-space intersection; the hypothesis is the least consistent parameter."""

    def __init__(self, k):
        self.k, self.low, self.high = k, Fraction(0), Fraction(1)

    def restrict(self, low, high):
        """Intersect with [low, high); True when the output changed."""
        before = self.low
        self.low, self.high = max(self.low, low), min(self.high, high)
        return self.low != before

    @property
    def output(self):
        return self.low

    @property
    def settled(self):
        """Every consistent a now gives the same hypothesis on X_k (nothing left to learn)."""
        return self.high - self.low <= Fraction(1, 2 ** self.k)


# --- the simulation --------------------------------------------------------------------------
def trial(k, rng):
    """One run against a fresh random target: [(m, error after m examples)] at m = 0 and at
    every change of the learner's output, until the version space is settled."""
    a = Fraction(rng.getrandbits(k + TAIL_BITS), 2 ** (k + TAIL_BITS))
    labels = label_numerators(a, k)
    examples = [consistent_interval(x, Fraction(y, 2 ** k), k) for x, y in zip(domain(k), labels)]
    learner = ConsistentLearner(k)
    changes = [(0, error(learner.output, labels, k))]
    m = 0
    while not learner.settled:
        m += 1
        if learner.restrict(*examples[rng.randrange(k)]):        # x drawn from uniform D
            changes.append((m, error(learner.output, labels, k)))
    return changes


def failure_curve(runs, eps):
    """Empirical P[error > eps] after m examples, for m = 0 .. the last change of any run."""
    last = max(changes[-1][0] for changes in runs)
    failing = [0] * (last + 1)
    for changes in runs:
        for (m, err), nxt in zip(changes, changes[1:] + [(last + 1, None)]):
            if err > eps:
                for n in range(m, nxt[0]):
                    failing[n] += 1
    return [Fraction(f, len(runs)) for f in failing]


# --- exact values ----------------------------------------------------------------------------
def _allowed_errors(k, eps):
    """How many wrong points of X_k an error <= eps allows."""
    return math.floor(eps * k)


def exact_failure(k, eps, m, target="random"):
    """P[error > eps] of this learner after m examples, exactly. Having seen at most index j,
    it outputs a's bits 1..j followed by zeros and errs at x_i (i > j) unless bits j+1..i of
    the target are 0: with e allowed errors it fails unless bits j+1..k-e are 0, which has
    probability 2^-(k-j-e) for a uniform target and 0 for the worst one (all bits 1)."""
    e = _allowed_errors(k, eps)
    total = Fraction(0)
    for j in range(k + 1):
        seen_max_j = Fraction(j, k) ** m - (Fraction(j - 1, k) ** m if j else 0)  # j = 0: none
        missing = k - j - e
        if missing > 0:
            total += seen_max_j * (1 - Fraction(1, 2 ** missing) if target == "random" else 1)
    return total


def exact_samples(k, eps, delta, target="random"):
    """Least m with exact_failure <= delta (the failure never grows with m: bisection)."""
    fails = lambda m: exact_failure(k, eps, m, target) > delta  # noqa: E731
    if not fails(0):
        return 0
    low, high = 0, 1
    while fails(high):
        low, high = high, 2 * high
    while high - low > 1:                    # fails(low) and not fails(high)
        middle = (low + high) // 2
        low, high = (middle, high) if fails(middle) else (low, middle)
    return high


def lower_bounds(k, eps, delta):
    """(Theorem D.4's (k-1) ln(1/(2 delta)), the sharper ln(1/(2 delta))/ln(k/(k-1))), or
    (None, None) where the theorem does not apply (eps >= 1/k, delta >= 1/2, k < 2)."""
    if k < 2 or not eps < Fraction(1, k) or not delta < Fraction(1, 2):
        return None, None
    log_term = math.log(1 / (2 * float(delta)))
    return (k - 1) * log_term, log_term / math.log(k / (k - 1))


def pac_row(k, config):
    rng = random.Random(f"bitprop-pac-{config.seed}-{k}")
    curve = failure_curve([trial(k, rng) for _ in range(config.trials)], config.eps)
    m = next(n for n, failure in enumerate(curve) if failure <= config.delta)
    exact = exact_samples(k, config.eps, config.delta)
    bound, sharp = lower_bounds(k, config.eps, config.delta)
    return {"k": k, "eps": float(config.eps), "delta": float(config.delta),
            "trials": config.trials, "samples_simulated": m,
            "failure_at_simulated": float(curve[m]), "samples_exact": exact,
            "failure_exact": float(exact_failure(k, config.eps, exact)),
            "failure_simulated": float(curve[min(exact, len(curve) - 1)]),
            "samples_worst_case": exact_samples(k, config.eps, config.delta, "worst"),
            "lower_bound": bound, "lower_bound_sharp": sharp, "samples_real_model": 1}


def pac_rows(config, progress=None):
    """(rows, interrupted): one row per k."""
    rows = []
    try:
        for k in config.ks:
            rows.append(pac_row(k, config))
            if progress is not None:
                progress(len(rows), len(config.ks), f"k={k}")
    except KeyboardInterrupt:
        return rows, True
    return rows, False


def write_outputs(rows, config, directory, prefix="pac", interrupted=False, plots=True):
    """CSV (setup in its ``#`` header), JSON and PNG; returns {kind: path}."""
    from . import plots as figures
    title = (f"Theorem D.4: samples to learn rounded multipliers, eps = {float(config.eps):g}, "
             f"delta = {float(config.delta):g}")
    pictures = [("png", f"{prefix}.png", lambda path: figures.pac(rows, path, title))]
    document = {"format": "bitprop.pac/1", "setup": config.to_json(),
                "description": config.describe()}
    return write_results(directory, prefix, COLUMNS, rows, config.describe(), document,
                         pictures if plots else [], interrupted)
