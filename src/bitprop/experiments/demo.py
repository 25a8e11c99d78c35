"""`bitprop demo`: the dichotomy in one table — bit lengths of exact forward and backward
passes of random MLPs as depth grows, for ReLU, z^2 and ReLU rounded to 8 bits."""

import time

from ..activations import Activation
from .random_networks import random_dataset, random_mlp

#: (label, activation, depths): z^2 doubles bit lengths per layer, so it stops early.
SWEEP = (
    ("relu", "relu", (1, 2, 4, 8, 16, 32, 64, 128)),
    ("square", "square", tuple(range(1, 11))),
    ("relu rounded-8", Activation.rounded("relu", 8, "nearest"), (1, 2, 4, 8, 16, 32, 64, 128)),
)


def demo_rows(width=4, samples=4, seed=0, sweep=SWEEP):
    """One row per (activation, depth): max bits of values, adjoints, gradients and times."""
    rows = []
    for label, activation, depths in sweep:
        for depth in depths:
            net = random_mlp([width] * (depth + 1), activation, seed=seed)
            data = random_dataset(width, width, samples, seed=seed)
            started = time.perf_counter()
            result = net.grad(data)
            rows.append({"activation": label, "depth": depth,
                         "max_value_bits": result.bits.max_value,
                         "max_adjoint_bits": result.bits.max_adjoint,
                         "max_grad_bits": result.bits.max_grad,
                         "forward_s": result.timing["forward"],
                         "backward_s": result.timing["backward"],
                         "total_s": time.perf_counter() - started})
    return rows
