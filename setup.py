"""Builds bitprop's Cython kernels against the system FLINT 2.9 (Debian's libflint-dev)."""

import glob
import os
import sys

from setuptools import Extension, setup

FLINT_HEADER = "flint/fmpq.h"
INCLUDE_DIRS = [d for d in ("/usr/include", "/usr/local/include", os.environ.get("FLINT_INCLUDE"))
                if d]


def require_flint_headers():
    """Stop with one clear line when FLINT's C headers are missing."""
    if not any(os.path.exists(os.path.join(d, FLINT_HEADER)) for d in INCLUDE_DIRS):
        sys.exit("bitprop: FLINT headers not found (flint/fmpq.h): install them with "
                 "'apt-get install libflint-dev' (Debian/Ubuntu), or set FLINT_INCLUDE")


def extensions():
    from Cython.Build import cythonize

    include = INCLUDE_DIRS
    sources = sorted(glob.glob("src/bitprop/**/*.pyx", recursive=True))
    exts = [Extension(os.path.splitext(path[len("src/"):])[0].replace("/", "."), [path],
                      libraries=["flint", "gmp"], include_dirs=include,
                      extra_compile_args=["-O2"])
            for path in sources]
    return cythonize(exts, language_level=3, include_path=["src"])


if {"egg_info", "sdist", "--version", "--name"}.isdisjoint(sys.argv):
    require_flint_headers()
    setup(ext_modules=extensions())
else:
    setup()
