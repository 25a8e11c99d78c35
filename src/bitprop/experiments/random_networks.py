"""Seeded random networks and data for experiments: exact, platform-independent.

Weights are drawn with :class:`random.Random` (never numpy's generator) so the same seed gives
the same exact network on every machine. ``rational`` draws n/d with n in [-8, 8], d in
[1, 8]; ``dyadic`` draws float32 values ~ N(0, 1/width) converted exactly (what a float32
practitioner's initialisation holds, bit for bit).

``bias="positive"`` draws every bias from the same law and takes its absolute value: a ReLU
layer whose units all die (every f = 0) then still passes z = b > 0 on, so random deep ReLU
networks keep computing instead of collapsing to constants (the growth harness's default).
"""

import random
import struct
from fractions import Fraction

from ..dataset import Dataset
from ..network import Network


def _rational(rng, scale):
    return Fraction(rng.randint(-8, 8), rng.randint(1, 8)) * scale


def _dyadic(rng, scale, width):
    value = rng.gauss(0.0, 1.0 / width ** 0.5) * float(scale)
    return Fraction(struct.unpack("f", struct.pack("f", value))[0])


BIAS_SIGNS = ("signed", "positive")


def random_parameters(widths, *, seed=0, kind="rational", scale=1, bias="signed"):
    """(weights, biases) of :func:`random_mlp`, without building the network (so a sweep can
    reuse one draw for several activations)."""
    if bias not in BIAS_SIGNS:
        raise ValueError(f"bias must be one of {', '.join(BIAS_SIGNS)}, not {bias!r}")
    rng = random.Random(f"bitprop-mlp-{seed}")
    scale = Fraction(scale)

    def draw(fan_in):
        return _rational(rng, scale) if kind == "rational" else _dyadic(rng, scale, fan_in)

    weights = [[[draw(widths[l]) for _ in range(widths[l])] for _ in range(widths[l + 1])]
               for l in range(len(widths) - 1)]
    biases = [[draw(widths[l]) for _ in range(widths[l + 1])] for l in range(len(widths) - 1)]
    if bias == "positive":
        biases = [[abs(b) for b in layer] for layer in biases]
    return weights, biases


def random_mlp(widths, activation="relu", *, seed=0, kind="rational", scale=1,
               output_activation="identity", bias="signed"):
    """An MLP with seeded random weights and biases (``kind``: rational or dyadic; ``bias``:
    signed, or positive = the absolute value of the same draw)."""
    weights, biases = random_parameters(widths, seed=seed, kind=kind, scale=scale, bias=bias)
    return Network.mlp(widths, activation, weights, biases, output_activation)


def random_dataset(num_inputs, num_outputs, samples, *, seed=0, kind="rational"):
    """Seeded random inputs and labels for a square loss."""
    rng = random.Random(f"bitprop-data-{seed}")
    draw = (lambda: _rational(rng, 1)) if kind == "rational" else (lambda: _dyadic(rng, 1, 1))
    inputs = [[draw() for _ in range(num_inputs)] for _ in range(samples)]
    labels = [[draw() for _ in range(num_outputs)] for _ in range(samples)]
    return Dataset(inputs, labels)
