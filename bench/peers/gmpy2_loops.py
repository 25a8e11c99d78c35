"""The same scalar loops over gmpy2.mpq (GMP rationals)."""

from . import _loops, missing

LABEL = "gmpy2 loops"


def available():
    return missing("gmpy2")


def prepare(instance):
    from gmpy2 import mpq
    return _loops.convert(instance, lambda q: mpq(q.numerator, q.denominator))


compute = _loops.forward_backward
