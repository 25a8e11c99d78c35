"""A long growth sweep: every activation family, both weight kinds, three widths.

    python3 bench/growth_sweep.py [--out DIR] [--quick] [--dask ADDRESS|local:N]

Runs ``bitprop growth`` once per (weights, width) with the full list of activations, writing
DIR/growth-<weights>-w<width>.{csv,json,-bits.png,-time.png} and printing each verdict
table. Polynomial activations stop themselves at --max-bits (default 10^6); Ctrl-C keeps
what finished. Hours at the defaults on two cores; --quick takes a few minutes. With --dask
the runs are tasks on that Dask cluster (``local:N`` is started once for every sweep).
"""

import argparse
import sys

from bitprop.cli import run
from bitprop.cli.common import dask_client

ACTIVATIONS = ("square", "cube", "z^2 - z", "3/2*z^3 - z", "relu", "leaky_relu",
               "leaky_relu:1/3", "pwl", "rounded-4", "rounded-8", "rounded-16",
               "rounded-8:relu", "rounded-8:cube")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bitprop-out/growth-sweep")
    parser.add_argument("--quick", action="store_true", help="width 8, dyadic, to depth 64")
    parser.add_argument("--max-bits", default="1000000")
    parser.add_argument("--dask", metavar="ADDRESS|local:N", default=None,
                        help="run on Dask: a scheduler address, or local:N worker processes")
    args = parser.parse_args(argv)
    with dask_client(args.dask) as client:         # local:N: one cluster for every sweep
        return _sweeps(args, [] if client is None else ["--dask", client.scheduler.address])


def _sweeps(args, dask):
    kinds = ("dyadic",) if args.quick else ("dyadic", "rational")
    widths = ("8",) if args.quick else ("4", "8", "16")
    depths = "1-12,16-64*1.5" if args.quick else "1-16,20-256*1.4"
    for weights in kinds:
        for width in widths:
            status = run(["growth", "--weights", weights, "--widths", width,
                          "--depths", depths, "--seeds", "0,1,2", "--max-bits", args.max_bits,
                          "--time-budget", "300", "-o", args.out,
                          "--prefix", f"growth-{weights}-w{width}"]
                         + [f"--activation={a}" for a in ACTIVATIONS] + dask)
            if status:
                return status
    return 0


if __name__ == "__main__":
    sys.exit(main())
