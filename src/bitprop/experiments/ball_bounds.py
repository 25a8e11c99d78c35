"""Reading certified balls for the harnesses: a Ball (bitprop.certify) as python-flint's
``arb`` (built from its four integers: no C struct crosses between our FLINT and
python-flint's), and log2 of its absolute value bounded outward in floats."""

import math

import flint


def as_arb(ball):
    """python-flint's arb holding the same ball as the Ball ``ball``.

    >>> from bitprop.certify import Ball
    >>> as_arb(Ball((3, -1), (1, -3))).contains(flint.arb("1.6"))
    True
    """
    return flint.arb(flint.arf(ball.mid), flint.arf(ball.rad))


def log2_abs_bounds(ball):
    """(lower, upper) floats with lower <= log2 |x| <= upper for every x in ``ball`` (lower
    -inf when the ball holds 0), each one float outward of Arb's bound at enough precision.

    >>> from bitprop.certify import Ball
    >>> log2_abs_bounds(Ball((1, 10 ** 12)))
    (999999999999.9999, 1000000000000.0001)
    """
    bits = max(abs(ball.mid[1]), abs(ball.rad[1])).bit_length()
    with flint.ctx.workprec(bits + 80):
        x = as_arb(ball)
        return (_log2_end(x.abs_lower(), upper=False), _log2_end(x.abs_upper(), upper=True))


def _log2_end(end, upper):
    if not end.is_finite():
        return math.inf
    if end <= 0:
        return -math.inf
    log = end.log() / flint.arb(2).log()
    bound = float(log.upper() if upper else log.lower())        # rounded to nearest
    return math.nextafter(bound, math.inf if upper else -math.inf)
