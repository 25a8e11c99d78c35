"""Builds bitprop's Cython kernels against the system FLINT 2.9 (Debian's libflint-dev)."""

import glob
import os
import sys

from setuptools import Extension, setup

FLINT_HEADER = "flint/fmpq.h"
ARB_HEADER = "arb.h"
INCLUDE_DIRS = [d for d in ("/usr/include", "/usr/local/include", os.environ.get("FLINT_INCLUDE"))
                if d]


def require_flint_headers():
    """Stop with one clear line when FLINT's or Arb's C headers are missing."""
    if not any(os.path.exists(os.path.join(d, FLINT_HEADER)) for d in INCLUDE_DIRS):
        sys.exit("bitprop: FLINT headers not found (flint/fmpq.h): install them with "
                 "'apt-get install libflint-dev' (Debian/Ubuntu), or set FLINT_INCLUDE")
    if not any(os.path.exists(os.path.join(d, ARB_HEADER)) for d in INCLUDE_DIRS):
        sys.exit("bitprop: Arb headers not found (arb.h): install them with "
                 "'apt-get install libflint-arb-dev' (Debian/Ubuntu), or set FLINT_INCLUDE")


def libraries(path):
    """FLINT and GMP for every kernel; the ball kernels (_ball*.pyx) add Arb (libflint-arb)."""
    if os.path.basename(path).startswith("_ball"):
        return ["flint-arb", "flint", "gmp"]
    return ["flint", "gmp"]


def extensions():
    from Cython.Build import cythonize

    include = INCLUDE_DIRS
    sources = sorted(glob.glob("src/bitprop/**/*.pyx", recursive=True))
    exts = [Extension(os.path.splitext(path[len("src/"):])[0].replace("/", "."), [path],
                      libraries=libraries(path), include_dirs=include,
                      extra_compile_args=["-O2"])
            for path in sources]
    return cythonize(exts, language_level=3, include_path=["src"])


if {"egg_info", "sdist", "--version", "--name"}.isdisjoint(sys.argv):
    require_flint_headers()
    setup(ext_modules=extensions())
else:
    setup()
