"""Growth laws of bit length against depth: exponential, polynomial or bounded, decided by a
stated criterion, and "undetermined" only when the data cannot tell.

A series is first reduced to one point per depth, the median over its points (seeds), so that
one seed whose chain was cut (a dead ReLU layer) does not pull the law down.

**Two families with an additive offset**, both ``bits = a + c * e^(theta * t)``:

    exponential family   t = depth       bits = a + c * base^depth     (base = e^theta)
    power family         t = ln depth    bits = a + c * depth^degree   (degree = theta)

theta = 0 is each family's limit ``a + c * t`` (the linear law, the logarithmic law). Which
law a member is depends on how much its changing term e^(theta t) grows over the depths
measured, u = theta * (t_max - t_min): a law is told from a straight line only when that term
at least doubles (u >= ln 2: *exponential* in the exponential family) or at least halves
(u <= -ln 2: *bounded*, the approach to the limit a is visible) over the data. In between it
is *polynomial*: in the exponential family a practically linear rise, in the power family
every degree above -ln 2 / ln(d_max / d_min) (a rise that goes on past the data). A law that
does not increase (c <= 0) is bounded, and so is a series that a constant fits as well as
the best law (bits level within noise).

**Fitting.** Residuals are relative, (bits - law) / bits, so that a 1 % miss costs the same
at every depth. For a fixed theta the law is linear in (a, c), solved exactly; theta is
profiled on a grid of u from -300 to 300 and refined around the minimum (numpy only). Each
parameter comes with a standard error (Jacobian at the optimum), and theta (base or degree)
with the interval of values the data allows.

**Criterion: the likelihood ratio under Gaussian relative noise.** The two families have
three parameters each, so AIC and BIC both reduce to comparing residual sums. With sigma^2 the
residual variance of the better family's fit (at least the variance of rounding to integers,
(1/12) / bits^2 on average: an exact law would otherwise make every other one infinitely
unlikely), a fit is *excluded* when its RSS exceeds the best's by ``EVIDENCE`` * sigma^2, a
likelihood ratio of e^5 ~ 150 ("very strong" on Kass and Raftery's scale). The same rule gives
each family's allowed interval of theta (profile likelihood) and sets aside a family whose
best fit is excluded. The laws *allowed* are those of every allowed member of every family
kept. Held-out depths were the alternative: they spend depths on testing that the fit needs,
and an extrapolation's error mixes the law with parameter noise, so they decide later.

**The offset-free test** beside it: the rises of the series (from one depth to the next depth
where bits are higher, per unit depth) do not see a. For an exponential law they grow
geometrically, ln rise linear in depth (slope ln base); for a polynomial law of degree k
polynomially, ln rise linear in ln depth (slope k - 1); for a bounded law they fall to zero.
The two lines are judged by the same rule (rounding's (1/6) / rise^2 as the floor) and give
their own allowed laws (the slope's allowed interval read with the same thresholds).

**The verdict** is the one law that both tests allow. Two or more allowed, or none (the tests
contradict each other), is *undetermined*, which then names a depth that would decide: the
first depth past the data where the two best remaining laws differ by ``GAP_SIGMAS`` residual
deviations (and at least ``MIN_GAP``). Fewer than ``MIN_DEPTHS`` distinct depths are
undetermined too. Depths and bits must be positive.
"""

import math
from dataclasses import dataclass, field

import numpy as np

EVIDENCE = 10.0         # a fit is excluded when its RSS exceeds the best's by this * sigma^2
MIN_DEPTHS = 5          # three parameters per law and two degrees of freedom to judge them
VISIBLE = math.log(2)   # the changing term must double (halve) over the data to be told apart
GAP_SIGMAS = 10.0       # "would decide": the laws differ by this many residual deviations
MIN_GAP = 0.1           # ... and by at least 10 %
FURTHEST = 10 ** 7      # deciding depths are searched up to this depth
EXPONENTIAL, POLYNOMIAL, BOUNDED, UNDETERMINED = (
    "exponential", "polynomial", "bounded", "undetermined")
LAWS = (EXPONENTIAL, POLYNOMIAL, BOUNDED, UNDETERMINED)
_ORDER = (EXPONENTIAL, POLYNOMIAL, BOUNDED)
#: The criterion in one line, for printed verdicts.
CRITERION = (f"laws a + c b^depth and a + c depth^k, one excluded when its RSS exceeds the "
             f"best's by {EVIDENCE:g} sigma^2, checked by the rises; >= {MIN_DEPTHS} depths")
_FAMILY_OF = {EXPONENTIAL: "exponential", POLYNOMIAL: "power"}    # whose parameters to report

_GRID = np.geomspace(1e-4, 300.0, 64)          # |u| = |theta| * (t_max - t_min) on the grid


def _zones(family, span):
    """{law: (low, high)}: the thetas of each law in a family whose t spans ``span``."""
    edge = VISIBLE / span if span > 0 else math.inf
    if family == "exponential":
        return {BOUNDED: (-math.inf, -edge), POLYNOMIAL: (-edge, edge),
                EXPONENTIAL: (edge, math.inf)}
    return {BOUNDED: (-math.inf, -edge), POLYNOMIAL: (-edge, math.inf)}


def _allowed_laws(family, span, low, high):
    """The laws whose thetas meet the allowed interval [low, high], in _ORDER."""
    zones = _zones(family, span)
    return [law for law in _ORDER if law in zones
            and zones[law][0] <= high and low <= zones[law][1]]


# --- one family: bits = a + c * e^(theta t), profiled over theta ------------------------------
def _solve(t, bits, thetas):
    """(a, c, relative RSS), arrays over ``thetas``, of the best ``a + c * g_theta(t)`` with
    g_theta = (e^(theta (t - ref)) - 1) / theta (t - ref at theta = 0), ref the end of the data
    where g_theta stays bounded: the same laws as e^(theta t), continuous in theta."""
    thetas = np.atleast_1d(np.asarray(thetas, float))[:, None]
    reference = np.where(thetas > 0, t.max(), t.min())
    step = t - reference
    divisor = np.where(thetas == 0, 1.0, thetas)
    basis = np.where(thetas == 0, step, np.expm1(thetas * step) / divisor)
    u = 1.0 / bits                              # the columns 1 and g_theta, relative
    v = basis * u
    uu = float(u @ u)
    along = (v @ u) / uu                        # Gram-Schmidt: v = along * u + across
    across = v - along[:, None] * u
    norm = np.einsum("ij,ij->i", across, across)
    usable = norm > 1e-24 * np.einsum("ij,ij->i", v, v)
    c = np.where(usable, across.sum(axis=1) / np.where(usable, norm, 1.0), 0.0)
    a = u.sum() / uu - c * along
    residual = 1.0 - a[:, None] * u - c[:, None] * v
    return a, c, np.einsum("ij,ij->i", residual, residual)


def _zoom(f, low, high, rounds=8, points=33):
    """Grids of ``points`` between low and high, each round narrowed to the neighbours of the
    best point of ``f`` (vectorized); returns the best argument."""
    for _ in range(rounds):
        grid = np.linspace(low, high, points)
        best = int(np.argmin(f(grid)))
        low, high = grid[max(best - 1, 0)], grid[min(best + 1, points - 1)]
    return float((low + high) / 2)


class Profile:
    """RSS of one family against theta: its best theta and the thetas the data allows."""

    def __init__(self, family, depths, bits):
        self.family = family
        self.t = depths if family == "exponential" else np.log(depths)
        self.bits = bits
        self.span = float(self.t.max() - self.t.min())
        grid = np.concatenate([-_GRID[::-1], [0.0], _GRID]) / self.span
        rss = self.rss(grid)
        best = int(np.argmin(rss))
        low, high = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
        refined = _zoom(self.rss, low, high)
        self.theta = refined if self.rss(refined)[0] <= rss[best] else float(grid[best])
        self.best = float(self.rss(self.theta)[0])
        self.grid = grid
        self.low = self.high = self.theta

    def rss(self, thetas):
        return _solve(self.t, self.bits, thetas)[2]

    def allow(self, allowed):
        """Set the interval of thetas around the optimum whose RSS is at most ``allowed``
        (an end past the grid is infinite)."""
        self.low, self.high = self._end(allowed, -1), self._end(allowed, +1)

    def _end(self, allowed, direction):
        grid = self.grid[self.grid > self.theta] if direction > 0 else \
            self.grid[self.grid < self.theta][::-1]
        outside = np.nonzero(self.rss(grid) > allowed)[0] if len(grid) else []
        if not len(outside):
            return direction * math.inf
        first = int(outside[0])
        inside = self.theta if first == 0 else float(grid[first - 1])
        excess = lambda thetas: np.abs(self.rss(thetas) - allowed)      # noqa: E731
        return _zoom(excess, inside, float(grid[first]))

    @property
    def growing(self):
        """Whether the best law increases with depth (c > 0 for every theta)."""
        return bool(_solve(self.t, self.bits, self.theta)[1][0] > 0)

    def laws(self):
        """The laws of the allowed thetas (only bounded for a law that does not increase)."""
        if not self.growing:
            return [BOUNDED]
        return _allowed_laws(self.family, self.span, self.low, self.high)

    def law_of(self, law, variance):
        """The best member of ``law``'s zone (the optimum, or the zone's nearest end)."""
        low, high = _zones(self.family, self.span)[law]
        return self.law_at(min(max(self.theta, low), high), variance)

    def law_at(self, theta, variance):
        """The fitted Law at ``theta``, with its natural parameters and standard errors."""
        a, c, rss = (float(x[0]) for x in _solve(self.t, self.bits, theta))
        reference = float(self.t.max() if theta > 0 else self.t.min())
        step = self.t - reference
        with np.errstate(over="ignore", invalid="ignore"):
            if theta == 0:
                offset, scaled, term = a - c * reference, c, self.t
                jacobian = np.column_stack([np.ones_like(step), self.t])
            else:
                offset, scaled, term = a - c / theta, c / theta, np.exp(theta * step)
                jacobian = np.column_stack([np.ones_like(step), term, scaled * step * term])
            covariance = _covariance(jacobian / self.bits[:, None], variance)
            coefficient = float(scaled * np.exp(-theta * reference)) if theta else scaled
            if theta:       # coefficient = scaled * e^(-theta ref): the delta method
                gradient = np.array([0.0, coefficient / scaled if scaled else 0.0,
                                     -reference * coefficient])
                covariance[1, 1] = gradient @ covariance @ gradient
        errors = tuple(float(math.sqrt(abs(v))) if np.isfinite(v) else None
                       for v in np.diag(covariance)) + (None,) * (3 - len(covariance))
        return Law(self.family, theta, offset, coefficient, rss, (a, c, reference),
                   self.low, self.high, errors, self.span)


def _covariance(jacobian, variance):
    """The parameters' covariance from a Jacobian of relative residuals (nan where the
    Jacobian is not finite)."""
    size = jacobian.shape[1]
    if not np.all(np.isfinite(jacobian)):
        return np.full((size, size), np.nan)
    return variance * np.linalg.pinv(jacobian.T @ jacobian)


@dataclass(frozen=True)
class Law:
    """One fitted law ``bits = offset + coefficient * e^(theta * t)`` (``offset + coefficient
    * t`` at theta = 0), t = depth (exponential family) or ln depth (power family)."""

    family: str
    theta: float
    offset: float
    coefficient: float
    rss: float                      # relative residual sum of squares
    basis: tuple                    # (a, c, reference) of the fit, for predictions
    theta_low: float                # the family's allowed interval of theta
    theta_high: float
    stderr: tuple = (None, None, None)      # of offset, coefficient (or slope), theta
    span: float = 0.0               # t_max - t_min of the data

    @property
    def law(self):
        """The law of this member (see the module docstring)."""
        if self.basis[1] <= 0:
            return BOUNDED
        zones = _zones(self.family, self.span)
        return next(law for law in _ORDER if law in zones
                    and zones[law][0] <= self.theta <= zones[law][1])

    @property
    def shape(self):
        """("base", e^theta) or ("degree", theta): theta in the family's own terms."""
        if self.family == "exponential":
            return "base", math.exp(self.theta)
        return "degree", self.theta

    def predict(self, depths):
        """Bits the law predicts at ``depths`` (inf where it overflows)."""
        depths = np.asarray(depths, float)
        t = depths if self.family == "exponential" else np.log(depths)
        a, c, reference = self.basis
        if self.theta == 0:
            return a + c * (t - reference)
        with np.errstate(over="ignore", invalid="ignore"):
            return a + c * np.expm1(self.theta * (t - reference)) / self.theta

    def parameters(self):
        """{offset, coefficient (slope when linear), base or degree}, each {value, stderr},
        the base or degree also with its allowed interval {low, high}."""
        name, value = self.shape
        ends = (self.theta_low, self.theta_high)
        low, high = (math.exp(e) for e in ends) if name == "base" else ends
        error = self.stderr[2]
        if error is not None and name == "base":
            error *= value
        out = {"offset": _entry(self.offset, self.stderr[0])}
        if self.theta == 0:
            out["slope"] = _entry(self.coefficient, self.stderr[1])
        else:
            out["coefficient"] = _entry(self.coefficient, self.stderr[1])
        out[name] = dict(_entry(value, error), low=low, high=high)
        return out

    def to_json(self):
        return {"family": self.family, "law": self.law, "theta": self.theta,
                "theta_allowed": [self.theta_low, self.theta_high], "rss": self.rss,
                "parameters": self.parameters()}


def _entry(value, error):
    return {"value": value, "stderr": error}


# --- the offset-free test: how the rises grow -----------------------------------------------
def rises(depths, bits):
    """(midpoint, rise per unit depth, rise) from each depth to the next depth where bits are
    higher: positive by construction, so that a level or falling stretch is bridged."""
    out, start = [], 0
    for end in range(1, len(depths)):
        if bits[end] > bits[start]:
            rise = bits[end] - bits[start]
            out.append(((depths[start] + depths[end]) / 2,
                        rise / (depths[end] - depths[start]), rise))
            start = end
    return out


@dataclass(frozen=True)
class Increments:
    """What the rises allow: ``laws`` (all three when there are too few rises to judge)."""

    laws: tuple
    reason: str
    points: int = 0
    geometric_rate: float = None    # ln rise against depth: slope (ln base)
    power_slope: float = None       # ln rise against ln depth: slope (degree - 1)
    evidence: float = None          # RSS(power line) - RSS(geometric line), over sigma^2

    def to_json(self):
        return {"laws": list(self.laws), "reason": self.reason, "points": self.points,
                "base": None if self.geometric_rate is None else math.exp(self.geometric_rate),
                "degree": None if self.power_slope is None else self.power_slope + 1,
                "evidence": self.evidence}


def _line(x, y):
    """(slope, its variance factor (X'X)^-1, RSS) of the least-squares line."""
    design = np.column_stack([np.ones_like(x), x])
    coefficients, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ coefficients
    factor = float(np.linalg.pinv(design.T @ design)[1, 1])
    return float(coefficients[1]), factor, float(residual @ residual)


def increment_test(depths, bits):
    """The offset-free test on one point per depth, sorted (see the module docstring)."""
    points = rises(depths, bits)
    if len(points) < MIN_DEPTHS - 1:
        return Increments(_ORDER, f"{len(points)} rises, too few to judge", len(points))
    middle, slope, rise = (np.array(column, float) for column in zip(*points))
    rate, rate_factor, rate_rss = _line(middle, np.log(slope))
    power, power_factor, power_rss = _line(np.log(middle), np.log(slope))
    floor = float(np.mean((1 / 6) / rise ** 2))
    variance = max(min(rate_rss, power_rss) / (len(points) - 2), floor)
    allowed = min(rate_rss, power_rss) + EVIDENCE * variance
    laws, kept = set(), []
    if rate_rss <= allowed:
        width = math.sqrt(EVIDENCE * variance * rate_factor)
        laws.update(_allowed_laws("exponential", float(np.ptp(middle)), rate - width,
                                  rate + width))
        kept.append("ln rise linear in depth")
    if power_rss <= allowed:
        width = math.sqrt(EVIDENCE * variance * power_factor)
        laws.update(_allowed_laws("power", float(np.ptp(np.log(middle))), power + 1 - width,
                                  power + 1 + width))
        kept.append("ln rise linear in ln depth")
    return Increments(tuple(law for law in _ORDER if law in laws), " and ".join(kept),
                      len(points), rate, power, (power_rss - rate_rss) / variance)


# --- the verdict -------------------------------------------------------------------------------
@dataclass(frozen=True)
class GrowthFit:
    """The verdict for one series of (depth, bits) points and the numbers behind it."""

    law: str                    # exponential, polynomial, bounded or undetermined
    reason: str                 # why, in a few words
    points: int
    depths: int                 # distinct depths
    parameters: dict = field(default_factory=dict)
    exponential: Law = None     # the exponential family's best fit
    power: Law = None           # the power family's best fit
    increments: Increments = None
    decisive_depth: int = None  # undetermined: a depth whose measurement would decide
    sigma: float = None         # relative residual deviation used by the criterion
    curves: tuple = ()          # (law, fitted law with .predict): the verdict's, or 2 rivals

    @property
    def base(self):
        """The exponential family's base e^theta (whatever the verdict)."""
        return math.exp(self.exponential.theta) if self.exponential else None

    @property
    def degree(self):
        """The power family's degree (whatever the verdict)."""
        return self.power.theta if self.power else None

    def to_json(self):
        return {"law": self.law, "reason": self.reason, "parameters": self.parameters,
                "points": self.points, "depths": self.depths,
                "decisive_depth": self.decisive_depth, "sigma": self.sigma,
                "exponential_family": self.exponential.to_json() if self.exponential else None,
                "power_family": self.power.to_json() if self.power else None,
                "increments": self.increments.to_json() if self.increments else None,
                "criterion": {"evidence": EVIDENCE, "visible": VISIBLE,
                              "min_depths": MIN_DEPTHS}}


def medians(depths, bits):
    """(distinct depths, median bits at each), sorted by depth."""
    order = np.argsort(depths, kind="stable")
    depths, bits = depths[order], bits[order]
    distinct, starts = np.unique(depths, return_index=True)
    return distinct, np.array([np.median(part) for part in np.split(bits, starts[1:])])


def _check(depths, bits):
    depths, bits = np.asarray(depths, float), np.asarray(bits, float)
    if depths.shape != bits.shape or depths.ndim != 1:
        raise ValueError("depths and bits must be two sequences of the same length")
    if not (np.all(np.isfinite(depths)) and np.all(np.isfinite(bits))):
        raise ValueError("depths and bits must be finite numbers")
    if len(depths) and (depths.min() <= 0 or bits.min() <= 0):
        raise ValueError("depths and bits must be positive")
    return depths, bits


def fit_growth(depths, bits):
    """The growth law of ``bits`` against ``depths`` (equal-length sequences; repeated depths,
    e.g. one point per seed, are fine: their median is fitted)."""
    depths, bits = _check(depths, bits)
    depth, level = medians(depths, bits) if len(depths) else (depths, bits)
    if len(depth) < MIN_DEPTHS:
        return GrowthFit(UNDETERMINED, f"too few depths ({len(depth)} < {MIN_DEPTHS}): "
                         f"measure at least {MIN_DEPTHS} distinct depths", len(depths),
                         len(depth))
    return _Verdict(depth, level).fit(len(depths))


class _Verdict:
    """fit_growth's decision for one point per depth (see the module docstring)."""

    def __init__(self, depth, level):
        self.depth, self.level = depth, level
        self.profiles = [Profile("exponential", depth, level), Profile("power", depth, level)]
        best = min(profile.best for profile in self.profiles)
        floor = float(np.mean((1 / 12) / level ** 2))
        self.variance = max(best / (len(depth) - 3), floor)
        self.allowed = best + EVIDENCE * self.variance
        for profile in self.profiles:
            profile.allow(self.allowed)
        self.kept = [profile for profile in self.profiles if profile.best <= self.allowed]
        self.level_fits = float(np.sum((1 - level / np.mean(level)) ** 2)) <= self.allowed

    def fit(self, points):
        exponential, power = (p.law_at(p.theta, self.variance) for p in self.profiles)
        increments = increment_test(self.depth, self.level)
        laws, reason = self.decide(increments)
        law = laws[0] if len(laws) == 1 else UNDETERMINED
        decisive = None
        if law == UNDETERMINED:
            curves = self.rivals(laws or list(_ORDER))
            decisive = self.decisive_depth(curves)
            parameters = {rival.law: rival.parameters() for rival in curves}
            reason += (f"; the two best laws differ by {self.gap():.0%} from depth {decisive} "
                       "on: measurements there would decide" if decisive else
                       f"; no depth up to {FURTHEST} separates them by {self.gap():.0%}")
        else:
            curves = [self.representative(law)]
            parameters = curves[0].parameters()
        return GrowthFit(law, reason, points, len(self.depth), parameters, exponential, power,
                         increments, decisive, math.sqrt(self.variance),
                         tuple((curve.law, curve) for curve in curves))

    def decide(self, increments):
        """(the laws both tests allow, why)."""
        if self.level_fits:
            return [BOUNDED], "level: a constant fits as well as any growth law"
        allowed = {law for profile in self.kept for law in profile.laws()}
        families = ", ".join(f"{p.family} family {'/'.join(p.laws())}" for p in self.kept)
        dropped = [p.family for p in self.profiles if p not in self.kept]
        level = f"fits allow {families}" + (f" ({dropped[0]} family excluded)"
                                            if dropped else "")
        both = [law for law in _ORDER if law in allowed and law in increments.laws]
        if len(increments.laws) == len(_ORDER):
            return both, f"{level}; rises: {increments.reason}"
        rises = f"rises allow {'/'.join(increments.laws)} ({increments.reason})"
        if not both:
            return both, f"{level}, but {rises}: they contradict each other"
        return both, f"{level}; {rises}"

    def representative(self, law):
        """The best-fitting Law of ``law`` among the kept families (the constant's median
        for a level series)."""
        fits = [p.law_of(law, self.variance) for p in self.kept
                if law in _zones(p.family, p.span)]
        fits = [fit for fit in fits if fit.law == law] or fits
        if law == BOUNDED and (self.level_fits or not fits):
            return _Level(float(np.median(self.level[len(self.level) // 2:])))
        preferred = [fit for fit in fits if fit.family == _FAMILY_OF.get(law)]
        return min(preferred or fits, key=lambda fit: fit.rss, default=None)

    def rivals(self, laws):
        """The two best-fitting laws among ``laws`` (one when only one fits; a law no kept
        family can take is left out)."""
        fits = [fit for fit in map(self.representative, laws) if fit is not None]
        return sorted(fits, key=lambda fit: fit.rss)[:2]

    def gap(self):
        return max(MIN_GAP, GAP_SIGMAS * math.sqrt(self.variance))

    def decisive_depth(self, rivals):
        """The first depth past the data where the two rival laws differ by more than
        ``gap()`` (relative), or None up to FURTHEST."""
        if len(rivals) < 2:
            return None
        last = float(self.depth.max())
        candidates = np.unique(np.ceil(np.geomspace(last + 1, FURTHEST, 400)))
        first, second = (rival.predict(candidates) for rival in rivals)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            apart = np.abs(first - second) / np.minimum(np.abs(first), np.abs(second))
        hits = np.nonzero(~(apart <= self.gap()))[0]
        return int(candidates[hits[0]]) if len(hits) else None


@dataclass(frozen=True)
class _Level:
    """A bounded law read off a level series: bits -> limit."""

    limit: float
    law: str = BOUNDED
    rss: float = math.inf

    def predict(self, depths):
        return np.full(np.shape(depths), self.limit)

    def parameters(self):
        return {"limit": _entry(self.limit, None)}


# --- words and tables ---------------------------------------------------------------------------
def _pm(entry, digits=3):
    value, error = entry["value"], entry.get("stderr")
    text = f"{value:.{digits}g}"
    return f"{text} ± {error:.2g}" if error is not None and math.isfinite(error) else text


def describe(fit):
    """The law in words: ``bits ~ 12 + 3.1 * 2.00^depth (base 2 ± 0.003, ...)``."""
    p = fit.parameters
    if fit.law == UNDETERMINED:
        if not fit.curves:
            return fit.reason
        rivals = " or ".join(f"{law} ({_shape(p[law])})" for law, _ in fit.curves)
        return rivals + (f"; measure from depth {fit.decisive_depth} on to decide"
                         if fit.decisive_depth else "; no depth would decide")
    if "limit" in p:
        return f"bits -> {_pm(p['limit'], 4)} (level)"
    offset = f"{p['offset']['value']:.4g}"
    if "slope" in p:
        return f"linear (bits ~ {offset} + {_pm(p['slope'])} * depth)"
    coefficient = f"{p['coefficient']['value']:.3g}"
    if "base" in p:
        base = p["base"]
        law = f"bits ~ {offset} + {coefficient} * {base['value']:.3f}^depth"
        shape = f"base {_pm(base, 4)}, allowed {base['low']:.3f}..{base['high']:.3f}"
    else:
        degree = p["degree"]
        law = f"bits ~ {offset} + {coefficient} * depth^{degree['value']:.2f}"
        shape = f"degree {_pm(degree)}, allowed {degree['low']:.2f}..{degree['high']:.2f}"
    if fit.law == BOUNDED:
        return f"bits -> {offset} ({law}; {shape})"
    return f"{law} ({shape})"


def _shape(parameters):
    """``base 1.21`` / ``degree 2.3`` / ``limit 840`` of one law's parameters."""
    for name in ("base", "degree", "limit", "slope"):
        if name in parameters:
            return f"{name} {parameters[name]['value']:.3g}"
    return ""


def quality(fit):
    """The numbers behind the verdict, for the verdict table."""
    if fit.exponential is None:
        return f"{fit.depths} depths"
    return (f"relative RSS exp {fit.exponential.rss:.2g} / power {fit.power.rss:.2g}, "
            f"sigma {fit.sigma:.2g}, rises allow {'/'.join(fit.increments.laws)}, "
            f"{fit.depths} depths, {fit.points} points")


def verdict_table(verdicts):
    """Aligned lines ``label  law  description  [quality]`` for (label, GrowthFit) pairs."""
    if not verdicts:
        return ""
    width = max(len(label) for label, _ in verdicts) + 2
    return "\n".join(f"{label:<{width}}{fit.law:<14}{describe(fit)}   [{quality(fit)}]"
                     for label, fit in verdicts)
