"""The activation table: every activation bitprop knows, parsed and validated in one place.

An :class:`Activation` is a frozen description (kind + exact parameters); the compiled plan
turns it into a kernel code. Kinds and their backprop rules follow docs/formats.md ("Activations"):

identity, relu (sigma'(0) = 0), leaky_relu(slope) (sigma'(0) = slope), polynomial(c_0..c_d),
piecewise_linear(breakpoints, slopes, intercepts) (piece i is b_i < z <= b_(i+1)), and
rounded(inner, bits k, mode floor|nearest, clip, backward ste|zero): inner(z) rounded to a
multiple of 2^-k (nearest: ties to even), then clipped; its derivative is inner'(z) rounded
to k bits in the same mode (``ste``; clipping is ignored there, as docs/formats.md states) or 0.
"""

from dataclasses import dataclass, fields
from fractions import Fraction

from .errors import BitpropInputError
from .numbers import rational, rational_list, shown, to_str

KINDS = ("identity", "relu", "leaky_relu", "polynomial", "piecewise_linear", "rounded")
MODES = ("floor", "nearest")
BACKWARD_RULES = ("ste", "zero")
#: Largest rounding precision accepted (bits after the binary point).
MAX_ROUND_BITS = 1 << 20
#: Deepest nesting of ``rounded`` activations: the plan and the kernels follow ``inner`` by
#: recursion, so a file must not choose the depth.
MAX_NESTING = 32


@dataclass(frozen=True)
class Activation:
    """One activation function with exact parameters; build with the constructors below.

    >>> Activation.polynomial("3/2*z^3 - z").coefficients
    (Fraction(0, 1), Fraction(-1, 1), Fraction(0, 1), Fraction(3, 2))
    >>> Activation.leaky_relu("1/8").to_json()
    {'kind': 'leaky_relu', 'slope': '1/8'}
    >>> Activation.rounded("square", 8, mode="nearest", clip=[-1, 1]).to_json()
    {'kind': 'rounded', 'inner': 'square', 'bits': 8, 'mode': 'nearest', 'backward': 'ste',
     'clip': ['-1', '1']}
    >>> Activation.relu().to_json(), Activation.relu().is_piecewise_linear
    ('relu', True)
    """

    kind: str
    slope: Fraction = None
    coefficients: tuple = ()
    breakpoints: tuple = ()
    slopes: tuple = ()
    intercepts: tuple = ()
    inner: "Activation" = None
    bits: int = 0
    mode: str = "floor"
    clip: tuple = None
    backward: str = "ste"

    # --- constructors -------------------------------------------------------------------
    @classmethod
    def identity(cls):
        return cls("identity")

    @classmethod
    def relu(cls):
        return cls("relu")

    @classmethod
    def leaky_relu(cls, slope):
        return cls("leaky_relu", slope=rational(slope, "slope"))

    @classmethod
    def polynomial(cls, coefficients):
        """sum_i c_i z^i from c_0..c_d (a list, or a POLY string such as ``"3/2*z^3 - z"``)."""
        if isinstance(coefficients, str):
            from .slp.polynomial import parse_polynomial
            coeffs = parse_polynomial(coefficients, "coefficients") or [Fraction(0)]
        else:
            coeffs = rational_list(coefficients, "coefficients")
        if not coeffs:
            raise BitpropInputError("a polynomial needs at least one coefficient",
                                    path="coefficients")
        while len(coeffs) > 1 and coeffs[-1] == 0:
            coeffs.pop()
        return cls("polynomial", coefficients=tuple(coeffs))

    @classmethod
    def piecewise_linear(cls, breakpoints, slopes, intercepts):
        b = rational_list(breakpoints, "breakpoints")
        s = rational_list(slopes, "slopes")
        t = rational_list(intercepts, "intercepts")
        for i in range(1, len(b)):
            if not b[i - 1] < b[i]:
                raise BitpropInputError(
                    f"breakpoints must increase strictly; {to_str(b[i - 1])} is followed by "
                    f"{to_str(b[i])}", path=f"breakpoints[{i}]")
        for name, values in (("slopes", s), ("intercepts", t)):
            if len(values) != len(b) + 1:
                raise BitpropInputError(
                    f"{len(b)} breakpoints need {len(b) + 1} {name}, got {len(values)}",
                    path=name)
        return cls("piecewise_linear", breakpoints=tuple(b), slopes=tuple(s),
                   intercepts=tuple(t))

    @classmethod
    def rounded(cls, inner, bits, mode="floor", clip=None, backward="ste"):
        inner = as_activation(inner, "inner")
        depth, innermost = 1, inner
        while innermost.kind == "rounded":
            depth, innermost = depth + 1, innermost.inner
        if depth > MAX_NESTING:
            raise BitpropInputError(f"rounded activations nested {depth} deep, beyond the "
                                    f"limit of {MAX_NESTING}", path="inner")
        if isinstance(bits, bool) or not isinstance(bits, int) or not 0 <= bits <= MAX_ROUND_BITS:
            raise BitpropInputError(
                f"{shown(bits)} is not a number of bits (an integer from 0 to {MAX_ROUND_BITS})",
                path="bits")
        if mode not in MODES:
            raise BitpropInputError(f"{shown(mode)} is not a rounding mode (one of "
                                    f"{', '.join(MODES)})", path="mode")
        if backward not in BACKWARD_RULES:
            raise BitpropInputError(
                f"{shown(backward)} is not a backward rule (one of {', '.join(BACKWARD_RULES)})",
                path="backward")
        if clip is not None:
            bounds = rational_list(clip, "clip")
            if len(bounds) != 2 or bounds[0] > bounds[1]:
                raise BitpropInputError("clip must be [lo, hi] with lo <= hi", path="clip")
            clip = tuple(bounds)
        return cls("rounded", inner=inner, bits=bits, mode=mode, clip=clip, backward=backward)

    # --- properties ------------------------------------------------------------------------
    @property
    def degree(self):
        """Polynomial degree (1 for every piecewise-linear kind)."""
        if self.kind == "polynomial":
            return len(self.coefficients) - 1
        if self.kind == "rounded":
            return self.inner.degree
        return 1

    @property
    def is_piecewise_linear(self):
        """True when bit lengths grow polynomially with depth: a piecewise-linear kind
        (Theorem E.1), or a rounding whose outputs have O(k) bits (Remark 1.5 (ii): clipped to
        a fixed interval) or whose inner activation is itself such (rounding a piecewise-linear
        map keeps its magnitudes at most exponential, so its bits linear, in depth). Rounding
        z^2 without a clip squares ever larger values: exponentially many bits."""
        if self.kind == "rounded":
            return self.clip is not None or self.inner.is_piecewise_linear
        return self.degree <= 1

    def to_json(self):
        """The docs/formats.md form of this activation: a built-in name or a spec dict."""
        for name, builtin in BUILTINS.items():
            if builtin == self:
                return name
        return self._spec()

    def _spec(self):
        if self.kind in ("identity", "relu"):
            return {"kind": self.kind}
        if self.kind == "leaky_relu":
            return {"kind": self.kind, "slope": to_str(self.slope)}
        if self.kind == "polynomial":
            return {"kind": self.kind, "coefficients": [to_str(c) for c in self.coefficients]}
        if self.kind == "piecewise_linear":
            return {"kind": self.kind, "breakpoints": [to_str(c) for c in self.breakpoints],
                    "slopes": [to_str(c) for c in self.slopes],
                    "intercepts": [to_str(c) for c in self.intercepts]}
        spec = {"kind": "rounded", "inner": self.inner.to_json(), "bits": self.bits,
                "mode": self.mode, "backward": self.backward}
        if self.clip is not None:
            spec["clip"] = [to_str(c) for c in self.clip]
        return spec

    def __str__(self):
        if self.kind == "rounded":
            return f"rounded{self.bits}({self.inner})"
        if len(self.coefficients) > _LONGEST_BUILTIN:    # no builtin: skip writing them out
            return self.kind
        name = self.to_json()
        return name if isinstance(name, str) else self.kind

    def __hash__(self):
        """A hash of the fields with long tuples (a polynomial's coefficients, a PWL's
        breakpoints) represented by their length and ends: equal activations still hash
        equal, and a degree-10^6 polynomial does not hash 10^6 Fractions at each lookup.
        Computed once (every vertex of a network looks its activation up by it); a pickle
        leaves it out, since string hashes differ between processes."""
        known = self.__dict__.get("_hash")
        if known is None:
            known = hash(tuple(_ends(getattr(self, f.name)) for f in fields(self)))
            object.__setattr__(self, "_hash", known)
        return known

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_hash", None)
        return state


def _ends(value):
    """A long tuple's length and first and last 8 items; anything else itself."""
    if isinstance(value, tuple) and len(value) > 16:
        return len(value), value[:8], value[-8:]
    return value


#: The most coefficients a builtin activation has (cube: 4).
_LONGEST_BUILTIN = 4

BUILTINS = {
    "identity": Activation.identity(),
    "relu": Activation.relu(),
    "square": Activation("polynomial", coefficients=(Fraction(0), Fraction(0), Fraction(1))),
    "cube": Activation("polynomial",
                       coefficients=(Fraction(0), Fraction(0), Fraction(0), Fraction(1))),
}

_FIELDS = {
    "identity": set(), "relu": set(), "leaky_relu": {"slope"}, "polynomial": {"coefficients"},
    "piecewise_linear": {"breakpoints", "slopes", "intercepts"},
    "rounded": {"inner", "bits", "mode", "clip", "backward"},
}
_REQUIRED = {"leaky_relu": {"slope"}, "polynomial": {"coefficients"},
             "piecewise_linear": {"breakpoints", "slopes", "intercepts"},
             "rounded": {"inner", "bits"}}


def from_spec(spec, where="", table=None, depth=0):
    """An Activation from a docs/formats.md spec: a name (built-in or in ``table``) or a dict
    (``depth``: how many ``inner`` specs enclose this one)."""
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, str):
        if table and spec in table:
            return table[spec]
        if spec in BUILTINS:
            return BUILTINS[spec]
        known = sorted(set(BUILTINS) | set(table or ()))
        raise BitpropInputError(f"unknown activation {shown(spec)} (known: {', '.join(known)})",
                                path=where)
    if not isinstance(spec, dict):
        raise BitpropInputError(f"an activation is a name or an object, not {shown(spec)}",
                                path=where)
    kind = spec.get("kind")
    if not isinstance(kind, str) or kind not in _FIELDS:
        raise BitpropInputError(f"unknown activation kind {shown(kind)} (one of "
                                f"{', '.join(KINDS)})", path=f"{where}.kind" if where else "kind")
    unknown = set(spec) - _FIELDS[kind] - {"kind"}
    if unknown:
        raise BitpropInputError(f"unknown key {shown(sorted(unknown)[0])} for a {kind} activation",
                                path=f"{where}.{sorted(unknown)[0]}" if where else sorted(unknown)[0])
    missing = _REQUIRED.get(kind, set()) - set(spec)
    if missing:
        raise BitpropInputError(f"a {kind} activation needs {shown(sorted(missing)[0])}",
                                path=where)
    if kind == "rounded" and depth >= MAX_NESTING:
        raise BitpropInputError(f"rounded activations nested more than {MAX_NESTING} deep",
                                path=where)
    try:
        return _build(kind, spec, where, table, depth)
    except BitpropInputError as err:
        raise err.at(path_prefix=where) if where else err


def _build(kind, spec, where, table, depth):
    if kind == "identity":
        return Activation.identity()
    if kind == "relu":
        return Activation.relu()
    if kind == "leaky_relu":
        return Activation.leaky_relu(spec["slope"])
    if kind == "polynomial":
        return Activation.polynomial(spec["coefficients"])
    if kind == "piecewise_linear":
        return Activation.piecewise_linear(spec["breakpoints"], spec["slopes"],
                                           spec["intercepts"])
    inner = from_spec(spec["inner"], "inner", table, depth + 1)
    return Activation.rounded(inner, spec["bits"], spec.get("mode", "floor"), spec.get("clip"),
                              spec.get("backward", "ste"))


def as_activation(value, where=""):
    """Accept an Activation, a built-in name, a POLY string (``"z^2"``) or a spec dict."""
    if isinstance(value, str) and value not in BUILTINS and ("z" in value or "^" in value):
        return Activation.polynomial(value)
    return from_spec(value, where)


def parse_table(table, where="activations"):
    """The network file's ``activations`` table: names -> Activation (entries may refer to
    earlier or built-in names through ``inner``)."""
    if not isinstance(table, dict):
        raise BitpropInputError("must be an object mapping names to activations", path=where)
    parsed = {}
    for name, spec in table.items():
        if name in BUILTINS:
            raise BitpropInputError(f"{shown(name)} is a built-in activation and cannot be "
                                    "redefined", path=f"{where}.{name}")
        parsed[name] = from_spec(spec, f"{where}.{name}", parsed)
    return parsed
