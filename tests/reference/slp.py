"""Reference SLP semantics (Definition 2.2) on Python ints and Fractions; stdlib only.

Programs are plain ``(op, j, k)`` triples and a constant, never bitprop objects, so the
tests compare bitprop's FLINT kernel and reductions with arithmetic nobody can doubt.
"""

from fractions import Fraction


def gate_values(ops, constant=1):
    """[x_0, ..., x_n]: every gate value, exactly (ints for an integer constant)."""
    constant = Fraction(constant)
    values = [constant.numerator if constant.denominator == 1 else constant]
    for op, j, k in ops:
        a, b = values[j], values[k]
        values.append(a + b if op == "+" else a - b if op == "-" else a * b)
    return values


def value(ops, constant=1):
    """x_n."""
    return gate_values(ops, constant)[-1]


def random_ops(rng, n, max_bits=2000, constant_bits=2):
    """n random gates (``rng`` a random.Random) whose values stay below about max_bits bits.

    Half of the operands are among the four previous gates so the output depends on many
    gates; a ``*`` whose syntactic bound (bits add under *, grow by one under +-) would pass
    ``max_bits`` becomes a ``+``.
    """
    bound, ops = [constant_bits], []
    for i in range(1, n + 1):
        j, k = (rng.randrange(max(0, i - 4), i) if rng.random() < 0.5 else rng.randrange(i)
                for _ in range(2))
        op = rng.choice("+-*")
        if op == "*" and bound[j] + bound[k] > max_bits:
            op = "+"
        bound.append(bound[j] + bound[k] if op == "*" else max(bound[j], bound[k]) + 1)
        ops.append((op, j, k))
    return ops
