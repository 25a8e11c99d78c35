"""C on FLINT 2.9's fmpq_mat, samples as columns (bench/c/mat.c, mode mat)."""

from . import Measurement, _c

LABEL = "C FLINT 2.9 fmpq_mat"


def available():
    return _c.unavailable_reason()


def measure(instance, repeat):
    header, values = _c.run_program([_c.build()["bench_mat"], "mat"], instance, repeat)
    return Measurement(float(header["time"]), int(header["reps"]), _c.unflatten(instance, values),
                       int(header["maxrss_kb"]), int(header["max_bits"]))
