"""Polynomials in z with rational coefficients: the POLY syntax of the command line.

``parse_polynomial`` reads ``"z^2"``, ``"3/2*z^3 - z + 1/5"``, a JSON list of coefficients
``'["0", "0", "1"]'`` or a Python list, and returns the coefficients c_0..c_d as Fractions
with trailing zeros stripped (the zero polynomial is ``[]``). The gadget (Lemma 3.1) and the
activation table both read polynomials through it.
"""

import re
from fractions import Fraction

from ..errors import BitpropInputError
from ..jsonfiles import parse_json_text
from ..numbers import rational, rational_list, shown, to_str

#: Highest degree accepted: the gadget solves a (degree + 1)-square system.
MAX_DEGREE = 1000

_TOKENS = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?(?:/[0-9]+)?)
  | (?P<variable>z)
  | (?P<power>\^|\*\*)
  | (?P<times>\*)
  | (?P<sign>[+-])
""", re.VERBOSE)


def parse_polynomial(spec, where="polynomial"):
    """Coefficients c_0..c_d (Fractions, no trailing zeros) of ``spec``; errors name ``where``."""
    if isinstance(spec, str) and spec.lstrip().startswith("["):
        try:
            spec = parse_json_text(spec, None)
        except BitpropInputError as err:
            raise BitpropInputError(f"{shown(spec)}: not a JSON list of coefficients "
                                    f"({err.problem})", path=where) from None
    if isinstance(spec, str):
        coefficients = _Parser(spec, where).polynomial()
    else:
        if isinstance(spec, list) and len(spec) > MAX_DEGREE + 1:
            raise BitpropInputError(f"{len(spec)} coefficients: degree beyond the limit of "
                                    f"{MAX_DEGREE}", path=where)
        coefficients = rational_list(spec, where)
    while coefficients and coefficients[-1] == 0:
        coefficients.pop()
    return coefficients


def polynomial_text(coefficients):
    """``[1/5, -1, 0, 3/2]`` as ``"3/2*z^3 - z + 1/5"`` (``"0"`` for the zero polynomial)."""
    terms = []
    for degree in range(len(coefficients) - 1, -1, -1):
        c = coefficients[degree]
        if c == 0:
            continue
        sign = "-" if c < 0 else "+"
        magnitude = abs(c)
        monomial = "" if degree == 0 else "z" if degree == 1 else f"z^{degree}"
        if not monomial:
            term = to_str(magnitude)
        elif magnitude == 1:
            term = monomial
        else:
            term = f"{to_str(magnitude)}*{monomial}"
        terms.append((sign, term))
    if not terms:
        return "0"
    first_sign, first = terms[0]
    text = ("-" if first_sign == "-" else "") + first
    return text + "".join(f" {sign} {term}" for sign, term in terms[1:])


class _Parser:
    """Recursive descent over ``[sign] term (sign term)*``, term = ``c``, ``c*z^k`` or ``z^k``."""

    def __init__(self, text, where):
        self.text, self.where = text, where
        self.tokens = list(self._tokenize())
        self.position = 0

    def _tokenize(self):
        column = 0
        while column < len(self.text):
            match = _TOKENS.match(self.text, column)
            if match is None:
                found = self.text[column]
                self._fail_at(found, column, " (the variable is z)" if found.isalpha() else "")
            if match.lastgroup != "space":
                yield match.lastgroup, match.group(), column
            column = match.end()

    def _fail_at(self, found, column, hint=""):
        what = "end of input" if found is None else repr(found)
        raise BitpropInputError(f"{shown(self.text)}: unexpected {what} at column "
                                f"{column + 1}{hint}", path=self.where)

    def _peek(self):
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self, kind, hint=""):
        token = self._peek()
        if token is None or token[0] != kind:
            if token is None:
                self._fail_at(None, len(self.text), hint)
            self._fail_at(token[1], token[2], hint)
        self.position += 1
        return token

    def polynomial(self):
        if not self.tokens:
            raise BitpropInputError("empty polynomial (write e.g. 'z^2')", path=self.where)
        coefficients = [Fraction(0)]
        sign = 1
        while True:
            token = self._peek()
            if token is not None and token[0] == "sign":
                self.position += 1
                sign = -1 if token[1] == "-" else 1
            coefficient, degree = self._term()
            coefficients.extend([Fraction(0)] * (degree + 1 - len(coefficients)))
            coefficients[degree] += sign * coefficient
            token = self._peek()
            if token is None:
                return coefficients
            if token[0] != "sign":
                self._fail_at(token[1], token[2])

    def _term(self):
        token = self._peek()
        if token is not None and token[0] == "number":
            self.position += 1
            coefficient = rational(token[1], self.where)
            following = self._peek()
            if following is None or following[0] != "times":
                if following is not None and following[0] == "variable":
                    self._fail_at(following[1], following[2], f" (write {token[1]}*z)")
                return coefficient, 0
            self.position += 1
            return coefficient, self._monomial()
        return Fraction(1), self._monomial()

    def _monomial(self):
        self._take("variable", " (expected a number or the variable z)")
        token = self._peek()
        if token is None or token[0] != "power":
            return 1
        self.position += 1
        exponent = self._peek()
        hint = " (exponents are integers >= 0: Appendix F rules out fractional and negative powers)"
        if exponent is None or exponent[0] != "number" or not exponent[1].isdigit():
            self._fail_at(None if exponent is None else exponent[1],
                          len(self.text) if exponent is None else exponent[2], hint)
        self.position += 1
        digits = exponent[1].lstrip("0") or "0"
        degree = int(digits) if len(digits) <= len(str(MAX_DEGREE)) else MAX_DEGREE + 1
        if degree > MAX_DEGREE:
            written = exponent[1] if len(exponent[1]) <= 20 else \
                f"with {len(exponent[1])} digits"
            raise BitpropInputError(f"{shown(self.text)}: degree {written} is beyond the limit "
                                    f"of {MAX_DEGREE}", path=self.where)
        return degree
