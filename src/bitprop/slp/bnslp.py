"""Lemma A.5: an SLP with integer values -> a bounded-norm SLP (BN-SLP) computing x_n * 2^-e.

The BN-SLP has constant z_0 = 1/2 and every gate value in [-1, 1]. Reconstruction: for each
original gate x_i keep a gate y_i = x_i * 2^-e_i, with integer exponents e_i fixed by the
program's syntax alone so that |x_i| <= 2^e_i, hence |y_i| <= 1:

- x_0 = c: e_0 = bitlen(|c|) (1 for c = 1, where y_0 = z_0 = 1/2 itself, no gate);
- x_i = x_j * x_k: e_i = e_j + e_k and y_i = y_j * y_k (1 gate, |y_i| <= 1);
- x_i = x_j +- x_k: e_i = max(e_j, e_k) + 1 and y_i = y_j 2^-(e_i - e_j) +- y_k 2^-(e_i - e_k):
  both shifts are >= 1, so each term is at most 1/2 and the sum at most 1 (1 gate + scalings).

Scaling by 2^-s multiplies by the cached powers p_t = 2^-(2^t) of the set bits t of s
(p_0 = z_0, p_(t+1) = p_t * p_t, all in (0, 1/2]); each partial product is y times numbers in
(0, 1/2], so it stays in [-1/2, 1/2]. Since e_i <= 2^i, a shift has at most n + 1 bits, and
the length is at most n + n + 2n(n + 1) gates (plus O(log |c|) for a constant c != 1).
The output is y_n = x_n * 2^-e with e = e_n (z_0 itself for the empty program).
"""

from dataclasses import dataclass
from fractions import Fraction

from ..errors import BitpropInputError
from ..numbers import to_str
from .program import Program

HALF = Fraction(1, 2)


@dataclass(frozen=True)
class BoundedNormSlp:
    """The BN-SLP of a program: ``program`` computes x_n * 2^-e; ``gates[i]`` holds
    y_i = x_i * 2^-exponents[i] for every original gate i."""

    program: Program
    e: int
    exponents: tuple
    gates: tuple

    @property
    def length(self):
        return len(self.program.ops)


def bounded_norm(program):
    """Lemma A.5 applied to ``program`` (whose constant must be an integer)."""
    if program.constant.denominator != 1:
        raise BitpropInputError(
            f"Lemma A.5 takes an SLP with integer values, but the constant is "
            f"{to_str(program.constant)} (write x_0 as an integer, normally 1)", path="constant")
    builder = _Builder()
    exponents, gates = [], []
    e0, y0 = builder.constant(program.constant.numerator)
    exponents.append(e0)
    gates.append(y0)
    for op, j, k in program.ops:
        if op == "*":
            e = exponents[j] + exponents[k]
            y = builder.gate("*", gates[j], gates[k])
        else:
            e = max(exponents[j], exponents[k]) + 1
            left = builder.scaled(gates[j], e - exponents[j])
            right = builder.scaled(gates[k], e - exponents[k])
            y = builder.gate(op, left, right)
        exponents.append(e)
        gates.append(y)
    return BoundedNormSlp(Program(builder.ops, HALF), exponents[-1], tuple(exponents),
                          tuple(gates))


class _Builder:
    """Emits the BN-SLP's gates; gate 0 is z_0 = 1/2 = p_0."""

    def __init__(self):
        self.ops = []
        self.powers = [0]              # powers[t]: the gate holding 2^-(2^t)
        self.cache = {}                # (gate, s): the gate holding value(gate) * 2^-s

    def gate(self, op, j, k):
        self.ops.append((op, j, k))
        return len(self.ops)

    def power(self, t):
        while len(self.powers) <= t:
            p = self.powers[-1]
            self.powers.append(self.gate("*", p, p))
        return self.powers[t]

    def scaled(self, g, s):
        """A gate holding value(g) * 2^-s: one multiplication per set bit of s."""
        if s == 0:
            return g
        key = (g, s)
        if key not in self.cache:
            result = g
            for t, bit in enumerate(reversed(bin(s)[2:])):
                if bit == "1":
                    result = self.gate("*", result, self.power(t))
            self.cache[key] = result
        return self.cache[key]

    def constant(self, c):
        """(e_0, gate of y_0 = c * 2^-e_0): |c| 2^-e_0 = sum over set bits b of |c| of
        2^-(e_0 - b), each term at most 1/2 and every partial sum below 1."""
        e0 = abs(c).bit_length()
        if c == 0:
            return e0, self.gate("-", 0, 0)
        total = None
        for b, bit in enumerate(reversed(bin(abs(c))[2:])):
            if bit == "1":
                term = self.scaled(0, e0 - b - 1)
                total = term if total is None else self.gate("+", total, term)
        if c < 0:
            total = self.gate("-", self.gate("-", 0, 0), total)
        return e0, total
