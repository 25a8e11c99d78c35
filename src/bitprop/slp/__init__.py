"""Straight-line programs and the paper's reductions on them (the public API, re-exported)."""

from .._slp import SlpValue, evaluate
from .bnslp import BoundedNormSlp, bounded_norm
from .gadget import gadget_coefficients
from .polynomial import parse_polynomial
from .program import (Program, factorial, fibonacci, integer, near_cancellation, negated,
                      random_program, tower, tower_minus_one, zero_through_huge)

__all__ = ["Program", "SlpValue", "evaluate", "BoundedNormSlp", "bounded_norm",
           "gadget_coefficients", "parse_polynomial", "factorial", "fibonacci", "integer",
           "near_cancellation", "negated", "random_program", "tower", "tower_minus_one",
           "zero_through_huge"]
