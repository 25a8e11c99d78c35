"""The same scalar loops over python-flint's fmpq (FLINT 3, bundled with python-flint)."""

from . import _loops, missing

LABEL = "python-flint fmpq loops"


def available():
    return missing("flint")


def prepare(instance):
    from flint import fmpq
    return _loops.convert(instance, lambda q: fmpq(q.numerator, q.denominator))


compute = _loops.forward_backward
