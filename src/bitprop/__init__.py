"""bitprop: exact forward and backward passes of neural-network DAGs on FLINT rationals.

The public API, re-exported here. Quick start::

    import bitprop
    net = bitprop.Network.load("net.json")
    data = bitprop.Dataset.load("data.json")
    result = net.grad(data)          # exact loss, dL/dw and dL/db per edge, bit lengths
    result = net.grad(data, client=client)   # the same, bit for bit, on a Dask cluster
"""

from .activations import Activation
from .dataset import Dataset
from .errors import (
    BitLimitError, BitpropError, BitpropInputError, DamagedBytesError, TimeBudgetError)
from .api import forward, grad, step
from .balls import BallForwardResult, BallGradResult, ball_forward, ball_grad
from .certify import Ball, certify_slp, escalate
from .certify_network import certify_forward, certify_grad, certify_solve
from .evaluation import BitStats, ForwardResult, GradResult
from .losses import Loss
from .network import Edge, Network
from .numbers import bit_length, rational, to_str

__version__ = "0.1.0"

__all__ = [
    "Activation", "BitLimitError", "Builder", "BitStats", "BitpropError", "BitpropInputError",
    "DamagedBytesError", "Dataset",
    "Edge", "ForwardResult", "GradResult", "Loss", "Network", "TimeBudgetError", "bit_length",
    "forward", "grad", "rational", "step", "to_str",
    "BallForwardResult", "BallGradResult", "ball_forward", "ball_grad",
    "Ball", "certify_slp", "escalate", "certify_forward", "certify_grad", "certify_solve",
    "float_grad",
]


def __getattr__(name):
    """``Builder`` and ``float_grad`` are imported on first use: they need numpy, which a
    small grad does not."""
    if name == "Builder":
        from .builders import Builder
        return Builder
    if name == "float_grad":
        from .floatpass import float_grad
        return float_grad
    raise AttributeError(f"module 'bitprop' has no attribute {name!r}")
