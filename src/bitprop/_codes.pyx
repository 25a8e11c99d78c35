# cython: language_level=3
"""The activation, rounding and loss codes of the kernels, as Python enums (see _codes.pxd,
their one definition)."""
