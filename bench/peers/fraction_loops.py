"""Plain Python loops over fractions.Fraction."""

from fractions import Fraction

from . import _loops

LABEL = "Fraction loops"


def available():
    return None


def prepare(instance):
    return _loops.convert(instance, Fraction)


compute = _loops.forward_backward
