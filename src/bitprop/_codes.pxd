# cython: language_level=3
# The codes that Python and the kernels share, defined once. Python reads them from
# bitprop._codes (ActivationCode, RoundFlag, LossCode); Cython cimports them from here.

cpdef enum ActivationCode:
    ACT_NONE = -1           # no activation: a source, or a dense block's input layer
    ACT_IDENTITY = 0
    ACT_RELU = 1
    ACT_LEAKY = 2
    ACT_POLY = 3
    ACT_MONO = 4            # c z^d, d >= 2: powers instead of Horner
    ACT_PWL = 5
    ACT_ROUNDED = 6

cpdef enum RoundFlag:
    ROUND_NEAREST = 1
    ROUND_CLIP = 2
    ROUND_BACKWARD_ZERO = 4

cpdef enum LossCode:
    LOSS_SQUARE = 0
    LOSS_HINGE = 1
    LOSS_ZERO_ONE = 2
    LOSS_BIT = 3
    LOSS_EXACT_FIT = 4
