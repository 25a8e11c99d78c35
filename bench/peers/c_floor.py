"""The integer-product floor: only fmpz_mat_mul on the fmpq_mat peer's 3L - 1 products, operands
cleared of denominators (left row-wise, right column-wise); bench/c/mat.c, mode floor. Time only."""

from . import Measurement, _c

LABEL = "integer-product floor"


def available():
    return _c.unavailable_reason()


def measure(instance, repeat):
    header, _ = _c.run_program([_c.build()["bench_mat"], "floor"], instance, repeat)
    return Measurement(float(header["time"]), int(header["reps"]), None, int(header["maxrss_kb"]))
