"""Growth laws of bit length against depth: exponential or polynomial, and which fits better.

Two least-squares lines, both in natural-log space so that a factor-2 miss costs the same at
every depth:

    exponential   ln bits = ln c + depth * ln base         (bits ~ c * base^depth)
    polynomial    ln bits = ln c + degree * ln depth       (bits ~ c * depth^degree)

Criterion (stated once, used everywhere): with RSS the residual sum of squares of each line,
a law wins when its RSS is at most ``MARGIN`` (one half) of the other's; an exponential must
also grow (base > 1). Neither winning clearly, or fewer than ``MIN_DEPTHS`` distinct depths,
is "undetermined". A level series (|degree| < ``FLAT_DEGREE``, where base ~1 and degree ~0
say the same) is called polynomial of degree ~0 first: bounded bits. Quality is reported as
R^2 of the chosen line (in log space) and both RSS.

An additive offset (the bits of the inputs and weights themselves, present at depth 0) makes
the log-log slope of a linear law read below 1 at small depths, so each fit also reports the
same law fitted to the upper half of the depths (``tail``): the asymptotic estimate.
Pure Python + numpy; depths must be >= 1 and bits >= 1.
"""

from dataclasses import asdict, dataclass

import numpy as np

MARGIN = 0.5
MIN_DEPTHS = 4
FLAT_DEGREE = 0.05
EXPONENTIAL, POLYNOMIAL, UNDETERMINED = "exponential", "polynomial", "undetermined"


@dataclass(frozen=True)
class Line:
    """ln y = intercept + slope * x, fitted by least squares; rss and r2 in the same space."""

    intercept: float
    slope: float
    rss: float
    r2: float


@dataclass(frozen=True)
class GrowthFit:
    """The verdict for one series of (depth, bits) points and the numbers behind it."""

    law: str                    # exponential, polynomial or undetermined
    reason: str                 # why, in a few words
    points: int
    depths: int                 # distinct depths
    exponential: Line = None    # ln bits against depth
    polynomial: Line = None     # ln bits against ln depth
    tail_base: float = None     # the exponential fitted to the upper half of the depths
    tail_degree: float = None   # the polynomial fitted to the upper half of the depths

    @property
    def base(self):
        return float(np.exp(self.exponential.slope)) if self.exponential else None

    @property
    def degree(self):
        return self.polynomial.slope if self.polynomial else None

    @property
    def coefficient(self):
        """c of the chosen law (of the polynomial one when undetermined)."""
        line = self.exponential if self.law == EXPONENTIAL else self.polynomial
        return float(np.exp(line.intercept)) if line else None

    @property
    def r2(self):
        line = self.exponential if self.law == EXPONENTIAL else self.polynomial
        return line.r2 if line else None

    def to_json(self):
        out = asdict(self)
        out.update(base=self.base, degree=self.degree, coefficient=self.coefficient,
                   r2=self.r2, margin=MARGIN, min_depths=MIN_DEPTHS)
        return out


def fit_line(x, y):
    """Least-squares line through (x, y) with its RSS and R^2 (R^2 = 1 when y is constant)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (intercept + slope * x)
    rss = float(residual @ residual)
    spread = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - rss / spread if spread > 0 else 1.0
    return Line(float(intercept), float(slope), rss, r2)


def _lines(depths, bits):
    log_bits = np.log(bits)
    return fit_line(depths, log_bits), fit_line(np.log(depths), log_bits)


def _tail(depths, bits):
    """(base, degree) fitted to the points whose depth is in the upper half of the distinct
    depths, or (None, None) with fewer than 2 distinct depths there."""
    distinct = np.unique(depths)
    upper = distinct[len(distinct) // 2:]
    if len(upper) < 2:
        return None, None
    keep = np.isin(depths, upper)
    exponential, polynomial = _lines(depths[keep], bits[keep])
    return float(np.exp(exponential.slope)), polynomial.slope


def fit_growth(depths, bits):
    """The growth law of ``bits`` against ``depths`` (equal-length sequences; repeated depths,
    e.g. one point per seed, are fine)."""
    depths, bits = np.asarray(depths, float), np.asarray(bits, float)
    if depths.shape != bits.shape:
        raise ValueError("depths and bits must have the same length")
    if len(depths) and (depths.min() < 1 or bits.min() < 1):
        raise ValueError("depths and bits must be >= 1 to be fitted in log space")
    n_depths = len(np.unique(depths))
    if n_depths < MIN_DEPTHS:
        return GrowthFit(UNDETERMINED, f"too few depths ({n_depths} < {MIN_DEPTHS})",
                         len(depths), n_depths)
    exponential, polynomial = _lines(depths, bits)
    tail_base, tail_degree = _tail(depths, bits)
    if abs(polynomial.slope) < FLAT_DEGREE:
        law, reason = POLYNOMIAL, f"flat: |degree| < {FLAT_DEGREE}, bounded bits"
    elif exponential.rss <= MARGIN * polynomial.rss and exponential.slope > 0:
        law, reason = EXPONENTIAL, "exponential RSS <= 1/2 of polynomial RSS"
    elif polynomial.rss <= MARGIN * exponential.rss:
        law, reason = POLYNOMIAL, "polynomial RSS <= 1/2 of exponential RSS"
    else:
        law, reason = UNDETERMINED, "neither RSS is at most half of the other"
    return GrowthFit(law, reason, len(depths), n_depths, exponential, polynomial,
                     tail_base, tail_degree)


def describe(fit):
    """The law in words: ``bits ~ 3.1 * 2.00^depth`` or ``degree 1.02 (bits ~ 40 * depth^1.02)``."""
    if fit.law == EXPONENTIAL:
        tail = f", upper-half depths: base {fit.tail_base:.2f}" if fit.tail_base else ""
        return f"bits ~ {fit.coefficient:.3g} * {fit.base:.2f}^depth{tail}"
    if fit.law == POLYNOMIAL:
        tail = (f", upper-half depths: degree {fit.tail_degree:.2f}"
                if fit.tail_degree is not None else "")
        law = f"bits ~ {fit.coefficient:.3g} * depth^{fit.degree:.2f}"
        return f"degree {fit.degree:.2f} ({law}{tail})"
    if fit.exponential is None:
        return fit.reason
    return (f"{fit.reason}: base {fit.base:.2f} or degree {fit.degree:.2f}")


def quality(fit):
    """R^2 and both residual sums, for the verdict table."""
    if fit.exponential is None:
        return f"{fit.depths} depths"
    r2 = f"R^2 {fit.r2:.3f}, " if fit.law != UNDETERMINED else ""
    return (f"{r2}RSS exp {fit.exponential.rss:.3g} / poly {fit.polynomial.rss:.3g}, "
            f"{fit.depths} depths, {fit.points} points")


def verdict_table(verdicts):
    """Aligned lines ``label  law  description  [quality]`` for (label, GrowthFit) pairs."""
    if not verdicts:
        return ""
    width = max(len(label) for label, _ in verdicts) + 2
    lines = []
    for label, fit in verdicts:
        lines.append(f"{label:<{width}}{fit.law:<14}{describe(fit)}   [{quality(fit)}]")
    return "\n".join(lines)
