"""C scalar fmpq loops on FLINT 2.9 (bench/c/scalar.c), timed by the program itself."""

from . import Measurement, _c

LABEL = "C scalar fmpq loops"


def available():
    return _c.unavailable_reason()


def measure(instance, repeat):
    header, values = _c.run_program([_c.build()["bench_scalar"]], instance, repeat)
    return Measurement(float(header["time"]), int(header["reps"]), _c.unflatten(instance, values),
                       int(header["maxrss_kb"]), int(header["max_bits"]))
