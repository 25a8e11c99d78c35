"""Seeded random networks and data for experiments: exact, platform-independent.

Weights are drawn with :class:`random.Random` (never numpy's generator) so the same seed gives
the same exact network on every machine. ``rational`` draws n/d with n in [-8, 8], d in
[1, 8]; ``dyadic`` draws float32 values ~ N(0, 1/width) converted exactly (what a float32
practitioner's initialisation holds, bit for bit).
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


def random_mlp(widths, activation="relu", *, seed=0, kind="rational", scale=1,
               output_activation="identity"):
    """An MLP with seeded random weights and biases (``kind``: rational or dyadic)."""
    rng = random.Random(f"bitprop-mlp-{seed}")
    scale = Fraction(scale)

    def draw(fan_in):
        return _rational(rng, scale) if kind == "rational" else _dyadic(rng, scale, fan_in)

    weights = [[[draw(widths[l]) for _ in range(widths[l])] for _ in range(widths[l + 1])]
               for l in range(len(widths) - 1)]
    biases = [[draw(widths[l]) for _ in range(widths[l + 1])] for l in range(len(widths) - 1)]
    return Network.mlp(widths, activation, weights, biases, output_activation)


def random_dataset(num_inputs, num_outputs, samples, *, seed=0, kind="rational"):
    """Seeded random inputs and labels for a square loss."""
    rng = random.Random(f"bitprop-data-{seed}")
    draw = (lambda: _rational(rng, 1)) if kind == "rational" else (lambda: _dyadic(rng, 1, 1))
    inputs = [[draw() for _ in range(num_inputs)] for _ in range(samples)]
    labels = [[draw() for _ in range(num_outputs)] for _ in range(samples)]
    return Dataset(inputs, labels)
