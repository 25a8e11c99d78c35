"""Straight-line programs (Definition 2.2): the program type, its two file forms, builders.

An SLP is a constant x_0 and gates x_i = x_j op x_k (0 <= j, k < i, op in + - *); its output
is x_n. Files are JSON (``bitprop.slp/1``, see docs/formats.md) or the text form, one gate a line::

    x0 = 1/2        # optional, first statement only; the constant is 1 when absent
    x1 = x0 + x0
    x2 = x1 * x1

Both readers reject what does not conform with an error naming the file, the JSON path
(``ops[12][1]``) or line (``line 7``), and the gate. Evaluation is ``bitprop.slp.evaluate``.
"""

import json
import random
import re
from dataclasses import dataclass
from fractions import Fraction

from ..documents import check_object
from ..errors import BitpropInputError
from ..files import write_atomically
from ..jsonfiles import parse_json_text, read_text
from ..numbers import rational, shown, to_str

FORMAT = "bitprop.slp/1"
OPERATIONS = ("+", "-", "*")
_JSON_KEYS = ("format", "constant", "ops")

_COMMENT = re.compile(r"#.*")
_GATE_LINE = re.compile(r"x([0-9]{1,18})\s*=\s*x([0-9]{1,18})\s*([-+*])\s*x([0-9]{1,18})")
_CONSTANT_LINE = re.compile(r"x0\s*=\s*(\S+)")


@dataclass(frozen=True)
class Program:
    """An SLP: ``constant`` = x_0 and ``ops[i-1] = (op, j, k)`` defining x_i = x_j op x_k.

    The constructor validates (operands computed before use, ops in ``+ - *``) and normalizes
    ``ops`` to a tuple of tuples and ``constant`` to a Fraction, so every Program is well formed.
    """

    ops: tuple = ()
    constant: Fraction = Fraction(1)

    def __post_init__(self):
        object.__setattr__(self, "constant", rational(self.constant, "constant"))
        object.__setattr__(self, "ops", tuple(_checked_gate(gate, i + 1, f"ops[{i}]")
                                              for i, gate in enumerate(self.ops)))

    def __len__(self):
        """The length n: the number of gates, so the output is x_n."""
        return len(self.ops)

    def __repr__(self):
        return f"Program(<{len(self.ops)} gates>, constant={to_str(self.constant)})"

    # --- reading -------------------------------------------------------------------------

    @classmethod
    def from_json(cls, doc, file=None):
        """A program from a parsed ``bitprop.slp/1`` document."""
        try:
            check_object(doc, _JSON_KEYS, format=FORMAT, required=("ops",),
                         lists={"ops": "gates [op, j, k]"})
            return cls(doc["ops"], doc.get("constant", 1))
        except BitpropInputError as err:
            raise err.at(file) from None

    @classmethod
    def from_text(cls, text, file=None):
        """A program from the text form (gates numbered consecutively from x1)."""
        ops, constant = [], None
        for number, line in enumerate(text.splitlines(), start=1):
            line = _COMMENT.sub("", line).strip()
            if not line:
                continue
            try:
                gate = _text_gate(line, len(ops) + 1)
                if gate is None:
                    constant = _text_constant(line, after_gates=bool(ops),
                                              again=constant is not None)
                else:
                    ops.append(gate)
            except BitpropInputError as err:
                raise BitpropInputError(err.problem, file=file, path=f"line {number}") from None
        return cls(ops, Fraction(1) if constant is None else constant)

    @classmethod
    def parse(cls, text, file=None):
        """A program from file contents: JSON when it starts with '{' or '[', the text form
        otherwise. An empty file is an error (a failed write, most likely); the program whose
        output is x_0 = 1 is the line ``x0 = 1``, or ``{"ops": []}``."""
        if not text.strip():
            raise BitpropInputError("empty file: an SLP is a JSON object or lines such as "
                                    "'x1 = x0 + x0' (the empty program is 'x0 = 1')", file=file)
        if text.lstrip().startswith(("{", "[")):
            return cls.from_json(parse_json_text(text, file), file)
        return cls.from_text(text, file)

    @classmethod
    def load(cls, path):
        """A program from a ``.json`` or text file (detected by content); ``-`` is stdin."""
        text, name = read_text(path)
        return cls.parse(text, name)

    # --- writing -------------------------------------------------------------------------

    def to_json(self):
        """The ``bitprop.slp/1`` document (a dict ready for ``json.dump``)."""
        return {"format": FORMAT, "constant": to_str(self.constant),
                "ops": [list(gate) for gate in self.ops]}

    def to_text(self):
        """The text form, starting with the constant line ``x0 = c``."""
        lines = [f"x0 = {to_str(self.constant)}"]
        lines += [f"x{i} = x{j} {op} x{k}" for i, (op, j, k) in enumerate(self.ops, start=1)]
        return "\n".join(lines) + "\n"

    def save(self, path):
        """Write the program: the text form for ``.txt``/``.slp`` paths, JSON otherwise."""
        if str(path).endswith((".txt", ".slp")):
            text = self.to_text()
        else:
            text = json.dumps(self.to_json(), separators=(",", ":")) + "\n"
        write_atomically(path, lambda handle: handle.write(text))


def _checked_gate(gate, i, where):
    """``gate`` as an (op, j, k) tuple for gate x_i, or BitpropInputError at ``where``."""
    if not isinstance(gate, (list, tuple)) or len(gate) != 3:
        raise BitpropInputError(f"gate x{i} must be [op, j, k], got {shown(gate)}", path=where)
    op, j, k = gate
    if op not in OPERATIONS:
        raise BitpropInputError(f"gate x{i} has operation {shown(op)}; expected one of "
                                "'+', '-', '*'", path=f"{where}[0]" if where else None)
    for position, operand in ((1, j), (2, k)):
        at = f"{where}[{position}]" if where else None
        if isinstance(operand, bool) or not isinstance(operand, int):
            raise BitpropInputError(f"gate x{i} has operand {shown(operand)}; expected a gate "
                                    "number (an integer)", path=at)
        if operand < 0:
            raise BitpropInputError(f"gate x{i} uses x{shown(operand)}, a negative gate number",
                                    path=at)
        if operand >= i:
            raise BitpropInputError(f"gate x{i} uses x{shown(operand)}, which is not computed yet "
                                    f"(operands must be < {i})", path=at)
    return (op, j, k)


def _text_gate(line, i):
    """(op, j, k) of a text line ``xI = xJ op xK`` defining gate i; None for another line."""
    match = _GATE_LINE.fullmatch(line)
    if match is None:
        return None
    target, j, op, k = match.groups()
    if int(target) != i:
        raise BitpropInputError(f"gate x{target} found where x{i} was expected (gates are "
                                "numbered consecutively from x1)")
    return _checked_gate([op, int(j), int(k)], i, "")


def _text_constant(line, after_gates, again):
    """The constant of a text line ``x0 = c``."""
    match = _CONSTANT_LINE.fullmatch(line)
    if match is None:
        raise BitpropInputError(f"{shown(line)} is not a gate 'xI = xJ op xK' (op one of + - *) "
                                "or the constant 'x0 = 1/2'")
    if after_gates:
        raise BitpropInputError("the constant x0 must be given before the first gate")
    if again:
        raise BitpropInputError("the constant x0 is given twice")
    return rational(match.group(1))


# --- builders: families with closed forms (tests, benchmarks, demos) --------------------------

class _Builder:
    """Appends gates to a program with constant 1 and returns the new gate's number."""

    def __init__(self):
        self.ops = []

    def gate(self, op, j, k):
        self.ops.append((op, j, k))
        return len(self.ops)

    def integer(self, m):
        """A gate with value m (x_0 = 1 is gate 0): double-and-add on |m|, negated if m < 0."""
        if m == 1:
            return 0
        if m <= 0:
            zero = self.gate("-", 0, 0)
            return zero if m == 0 else self.gate("-", zero, self.integer(-m))
        g = 0
        for bit in bin(m)[3:]:
            g = self.gate("+", g, g)
            if bit == "1":
                g = self.gate("+", g, 0)
        return g

    def tower(self, n):
        """A gate with value 2^(2^n): 2 = 1 + 1, then n squarings."""
        g = self.gate("+", 0, 0)
        for _ in range(n):
            g = self.gate("*", g, g)
        return g

    def program(self):
        return Program(self.ops)


def integer(m):
    """The integer m from the constant 1 (double-and-add: about 2 log2|m| gates)."""
    b = _Builder()
    b.integer(m)                         # its gate is the last one (or x_0 itself for m = 1)
    return b.program()


def tower(n):
    """2^(2^n) in n + 1 gates (repeated squaring of 2 = 1 + 1)."""
    b = _Builder()
    b.tower(n)
    return b.program()


def tower_minus_one(n):
    """2^(2^n) - 1 in n + 2 gates."""
    b = _Builder()
    b.gate("-", b.tower(n), 0)
    return b.program()


def fibonacci(n):
    """The Fibonacci number F_n (F_1 = F_2 = 1) for n >= 1, in n - 1 gates."""
    if n < 1:
        raise ValueError("fibonacci(n) needs n >= 1")
    b = _Builder()
    previous, current = None, 0          # x_0 = 1 = F_1
    for _ in range(n - 1):
        nxt = b.gate("*", 0, 0) if previous is None else b.gate("+", current, previous)
        previous, current = current, nxt
    return b.program()


def factorial(n):
    """n! for n >= 0: the integers 2..n by additions of 1, multiplied together."""
    b = _Builder()
    count, product = 0, 0                # both x_0 = 1
    for _ in range(2, n + 1):
        count = b.gate("+", count, 0)
        product = b.gate("*", product, count)
    return b.program()


def zero_through_huge(n):
    """An exact 0 through values of 2^(n+1) bits: (x + 1)^2 - x^2 - 2x - 1 with x = 2^(2^n)."""
    b = _Builder()
    x = b.tower(n)
    x1 = b.gate("+", x, 0)
    square = b.gate("*", x1, x1)
    rest = b.gate("-", square, b.gate("*", x, x))
    rest = b.gate("-", rest, b.gate("+", x, x))
    b.gate("-", rest, 0)
    return b.program()


def near_cancellation(n, a, b):
    """(x + a)(x + b) - x(x + a + b) = a*b with x = 2^(2^n): a tiny result of huge terms."""
    builder = _Builder()
    x = builder.tower(n)
    ga, gb = builder.integer(a), builder.integer(b)
    left = builder.gate("*", builder.gate("+", x, ga), builder.gate("+", x, gb))
    right = builder.gate("*", x, builder.gate("+", builder.gate("+", x, ga), gb))
    builder.gate("-", left, right)
    return builder.program()


def negated(program):
    """The program with its output negated (two more gates: 0 = x_0 - x_0, then 0 - x_n)."""
    n = len(program.ops)
    ops = list(program.ops) + [("-", 0, 0), ("-", n + 1, n)]
    return Program(ops, program.constant)


def random_program(n, *, seed=0, mul_fraction=0.3, max_bits=4096):
    """n random gates that the output all depends on, with values of about ``max_bits`` bits.

    Gate i reads x_(i-1) and a uniformly random earlier gate (in random order), so every gate
    is needed and old values stay live; it is ``*`` with probability ``mul_fraction`` unless
    the product would pass ``max_bits`` bits (decided on the exact values while generating),
    and ``+`` or ``-`` otherwise (adding at most one bit). A benchmark load: 100,000 gates.
    """
    rng = random.Random(seed)
    ops, values = [], [1]
    for i in range(1, n + 1):
        j, k = i - 1, rng.randrange(i)
        if rng.random() < 0.5:
            j, k = k, j
        a, b = values[j], values[k]
        if rng.random() < mul_fraction and a.bit_length() + b.bit_length() <= max_bits:
            op, value = "*", a * b
        else:
            op = rng.choice("+-")
            value = a + b if op == "+" else a - b
        ops.append((op, j, k))
        values.append(value)
    return Program(ops)


# --- families past exact reach (certified evaluation: bitprop.certify) ------------------------

def tower_sum(n, terms):
    """2^(2^n) + sum of s * 2^(2^m) over (s, m) in ``terms`` (s = 1 or -1, 0 <= m <= n): one
    tower, its smaller gates added or subtracted (PosSLP instances with 2^n-bit values)."""
    b = _Builder()
    gates = [b.gate("+", 0, 0)]
    for _ in range(n):
        gates.append(b.gate("*", gates[-1], gates[-1]))
    out = gates[n]
    for s, m in terms:
        out = b.gate("+" if s > 0 else "-", out, gates[m])
    return b.program()


def odd_tower_difference(n):
    """3^(2^n) - 3^(2^(n-1)) for n >= 1: squarings of 3, whose bits look random, so no bit's
    cell edge lies near the value (BitSLP instances whose top bits balls can settle)."""
    b = _Builder()
    gates = [b.gate("+", b.gate("+", 0, 0), 0)]
    for _ in range(n):
        gates.append(b.gate("*", gates[-1], gates[-1]))
    b.gate("-", gates[n], gates[n - 1])
    return b.program()


def cancelling_towers(n, k):
    """(T - 1)(2^k + 1) - (T - 1) 2^k = T - 1 with T = 2^(2^n): two products that agree in
    their top k bits, so a ball needs more than k bits of precision to find the sign."""
    b = _Builder()
    t = b.gate("-", b.tower(n), 0)
    power = b.integer(2 ** k)
    left = b.gate("*", t, b.gate("+", power, 0))
    b.gate("-", left, b.gate("*", t, power))
    return b.program()
