"""The loss table: every loss l(f, y), its backprop rule, in one place. A sample's loss is
the sum of l over its output coordinates, except ``exact_fit``: one per sample vector.

| kind       | l(f, y)                                        | dl/df used by backprop |
| square     | (f - y)^2                                      | 2 (f - y)              |
| hinge      | max(0, 1 - y f)                                | -y if 1 - y f > 0 else 0 |
| zero_one   | [f != y]                                       | 0                      |
| bit        | [bit k of floor(|f| * 2^s) != y], y in {0, 1}  | 0                      |
| exact_fit  | [f != y] for the whole output vector: 0 or 1   | 0                      |

``bit`` is the bit extractor of Lemma 3.2 (index k, shift s; s may be negative);
``exact_fit`` is its auxiliary loss, one indicator per sample vector (the kernel counts the
coordinates that differ, then keeps 0 or 1: ``Pass.sample_loss``).
"""

from dataclasses import dataclass

from ._codes import LossCode
from .errors import BitpropInputError
from .numbers import shown

#: Each kind's kernel code.
CODES = {"square": LossCode.LOSS_SQUARE, "hinge": LossCode.LOSS_HINGE,
         "zero_one": LossCode.LOSS_ZERO_ONE, "bit": LossCode.LOSS_BIT,
         "exact_fit": LossCode.LOSS_EXACT_FIT}
KINDS = tuple(CODES)
#: The bit loss's k and s are integers of any size up to this many bits (BitSLP's k is given
#: in binary; Lemma A.5's shift 2^(n+1) has n + 2 bits): the kernel never builds 2^s, it
#: reads bits by powering modulo the denominator. The bound only refuses absurd input.
MAX_BIT_PARAMETER_BITS = 1 << 20


@dataclass(frozen=True)
class Loss:
    """A per-coordinate loss of the table above; ``index`` and ``shift`` are the bit loss's
    k and s.

    >>> Loss("bit", index=3).to_json()
    {'kind': 'bit', 'index': 3, 'shift': 0}
    >>> Loss("hinge") == parse_loss({"kind": "hinge"}) == parse_loss("hinge")
    True
    """

    kind: str = "square"
    index: int = 0
    shift: int = 0

    @property
    def code(self):
        return CODES[self.kind]

    def to_json(self):
        if self.kind == "bit":
            return {"kind": "bit", "index": self.index, "shift": self.shift}
        return {"kind": self.kind}


def _integer(value, where, low=None):
    """``value`` if it is an integer at least ``low``, of at most MAX_BIT_PARAMETER_BITS
    bits."""
    if (isinstance(value, bool) or not isinstance(value, int) or
            (low is not None and value < low) or value.bit_length() > MAX_BIT_PARAMETER_BITS):
        bound = "" if low is None else f" >= {low}"
        raise BitpropInputError(f"{shown(value)} is not an integer{bound} of at most "
                                f"{MAX_BIT_PARAMETER_BITS} bits", path=where)
    return value


def parse_loss(spec, where="loss"):
    """A Loss from a name or a docs/formats.md loss object."""
    if isinstance(spec, Loss):
        return spec
    if isinstance(spec, str):
        spec = {"kind": spec}
    if not isinstance(spec, dict):
        raise BitpropInputError(f"a loss is an object such as {{\"kind\": \"square\"}}, not "
                                f"{shown(spec)}", path=where)
    kind = spec.get("kind")
    if not isinstance(kind, str) or kind not in CODES:
        raise BitpropInputError(f"unknown loss kind {shown(kind)} (one of {', '.join(KINDS)})",
                                path=f"{where}.kind")
    allowed = {"kind", "index", "shift"} if kind == "bit" else {"kind"}
    for key in spec:
        if key not in allowed:
            raise BitpropInputError(f"unknown key {shown(key)} for a {kind} loss",
                                    path=f"{where}.{key}")
    if kind != "bit":
        return Loss(kind)
    if "index" not in spec:
        raise BitpropInputError("the bit loss needs 'index' (which bit k)", path=where)
    return Loss("bit", index=_integer(spec["index"], f"{where}.index", 0),
                shift=_integer(spec.get("shift", 0), f"{where}.shift"))
