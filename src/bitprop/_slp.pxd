# cython: language_level=3
# The SLP gate schedule, shared by the exact kernel (_slp.pyx) and the ball kernel
# (_ball_slp.pyx): one program's gates as flat arrays with the liveness both loops use.

from bitprop._flint cimport slong

cdef enum:
    ADD = 0
    SUB = 1
    MUL = 2
    STOPPED = -2


cdef struct Gates:
    slong n
    unsigned char *code
    slong *left
    slong *right
    slong *last_use          # the last evaluated gate reading x_i (0: nobody reads it)
    unsigned char *needed    # 1 when the output depends on x_i


cdef class _Schedule:
    cdef Gates g
