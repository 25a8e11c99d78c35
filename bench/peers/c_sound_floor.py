"""The sound floor: the integer-product floor (c_floor) plus what any exact method pays on top
of it to give its output, every weight-gradient entry in lowest terms (one fmpz_gcd with its
denominator and two exact divisions each); bench/c/mat.c, mode sound. Time only."""

from . import Measurement, _c

LABEL = "sound floor (products + lowest terms)"


def available():
    return _c.unavailable_reason()


def measure(instance, repeat):
    header, _ = _c.run_program([_c.build()["bench_mat"], "sound"], instance, repeat)
    return Measurement(float(header["time"]), int(header["reps"]), None, int(header["maxrss_kb"]))
