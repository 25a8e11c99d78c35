"""numpy arrays (and nested lists) in, exact rationals out: float16/32/64 entries are taken as
their exact binary values, integers as integers, anything else through numbers.rational; NaN
and infinities are refused with the array's name and the entry's index."""

from fractions import Fraction

import numpy

from .errors import BitpropInputError
from .numbers import rational


def exact_array(values, where, shape=None):
    """``values`` as a numpy object array of exact numbers (ints or Fractions); ``shape``,
    when given, is the shape it must have. Errors name ``where`` and the index.

    >>> import numpy
    >>> bitprop.arrays.exact_array(numpy.array([0.1, 2], numpy.float32), "x").tolist()
    [Fraction(13421773, 134217728), 2]
    >>> bitprop.arrays.exact_array([[1, float("nan")]], "x")
    Traceback (most recent call last):
    ...
    bitprop.errors.BitpropInputError: x[0, 1]: nan is not a finite number
    """
    array = numpy.asarray(values) if not isinstance(values, numpy.ndarray) else values
    if shape is not None and array.shape != tuple(shape):
        raise BitpropInputError(f"has shape {array.shape}, expected {tuple(shape)}", path=where)
    kind = array.dtype.kind
    if kind == "f":
        bad = numpy.argwhere(~numpy.isfinite(array))
        if len(bad):
            index = tuple(int(i) for i in bad[0])
            raise BitpropInputError(f"{array[index]} is not a finite number",
                                    path=_at(where, index))
        flat = [Fraction(v) if v != int(v) else int(v) for v in array.ravel().tolist()]
    elif kind in "iu":
        flat = array.ravel().tolist()
    elif kind in "OU":
        flat = [_entry(v, where, index) for index, v in numpy.ndenumerate(array)]
    else:
        raise BitpropInputError(f"an array of {array.dtype} is not an array of numbers "
                                "(floats or integers)", path=where)
    out = numpy.empty(len(flat), dtype=object)
    out[:] = flat
    return out.reshape(array.shape)


def _entry(value, where, index):
    """One entry of an object or string array: any number numbers.rational reads, floats as
    their exact binary values."""
    return rational(value, _at(where, index), allow_float=True)


def _at(where, index):
    return f"{where}[{', '.join(map(str, index))}]"
