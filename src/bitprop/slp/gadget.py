"""Lemma 3.1 (Claim B.4): the multiplication gadget of a polynomial activation.

For sigma of degree mu >= 2 the shifts sigma(t + j), j = 0..mu, are a basis of the polynomials
of degree <= mu (Claim B.4), so t^2 = sum_j c_j sigma(t + j) for unique rationals c_j, found
by solving the (mu+1) x (mu+1) system exactly in FLINT. Since t^2 has no constant term,
substituting t = x + y, x, y gives sum_j c_j (sigma(x+y+j) - sigma(x+j) - sigma(y+j)) =
(x+y)^2 - x^2 - y^2 = 2xy, hence lambda_j = c_j / 2.
"""

from fractions import Fraction
from math import comb

import flint

from ..errors import BitpropInputError
from .polynomial import parse_polynomial


def gadget_coefficients(sigma, where="sigma"):
    """lambda_0..lambda_mu (Fractions) with sum_j lambda_j (s(x+y+j) - s(x+j) - s(y+j)) = x*y.

    ``sigma``: anything ``parse_polynomial`` reads (text, a list of coefficients c_0..c_d).
    """
    c = parse_polynomial(sigma, where)
    mu = len(c) - 1
    if mu < 2:
        described = "is the zero polynomial" if mu < 0 else f"has degree {mu}"
        raise BitpropInputError(
            f"sigma {described}: a linear sigma cannot multiply (then sigma(x+y+j) - "
            "sigma(x+j) - sigma(y+j) does not depend on x and y), so Lemma 3.1 needs degree "
            ">= 2; Appendix F rules out fractional and negative powers as well", path=where)
    # Column j holds the coefficients of sigma(t + j) = sum_d c_d (t + j)^d, row i that of t^i.
    shifts = [[sum(c[d] * comb(d, i) * j ** (d - i) for d in range(i, mu + 1))
               for j in range(mu + 1)] for i in range(mu + 1)]
    matrix = flint.fmpq_mat([[_fmpq(entry) for entry in row] for row in shifts])
    square = flint.fmpq_mat([[1 if i == 2 else 0] for i in range(mu + 1)])
    solution = matrix.solve(square)          # invertible by Claim B.4
    return [Fraction(int(q.p), int(q.q)) / 2 for q in (solution[j, 0] for j in range(mu + 1))]


def _fmpq(q):
    return flint.fmpq(q.numerator, q.denominator)
