"""The competitors of issue 9's benchmark table, one module each, behind one interface.

A Python peer module defines LABEL, available() (None, or why it cannot run here),
prepare(instance) (conversion into its own number types, untimed), compute(state) (forward,
loss and backward: the timed part) and, unless compute returns it already,
canonical(raw) -> (loss, grads_W, grads_b). A peer that
times itself (the C programs) defines measure(instance, repeat) instead of the last three.
Canonical form: loss; grads_W[l][i][j] = dL/dW_(l+1)[i][j]; grads_b[l][i] = dL/db_(l+1)[i]
(summed over the batch), as Fraction, int, mpq, fmpq or canonical "p/q" strings.
"""

from __future__ import annotations

import gc
import importlib
import resource
import time
from dataclasses import dataclass

#: name -> (module, options), in the results table's column order.
REGISTRY = {
    "bitprop": ("bitprop_peer", {}),
    "bitprop_1t": ("bitprop_peer", {"threads": 1}),
    "fraction_loops": ("fraction_loops", {}),
    "micrograd_style": ("micrograd_style", {}),
    "gmpy2_loops": ("gmpy2_loops", {}),
    "flint_loops": ("flint_loops", {}),
    "c_scalar": ("c_scalar", {}),
    "c_fmpq_mat": ("c_fmpq_mat", {}),
    "flint_mat": ("flint_mat", {}),
    "c_floor": ("c_floor", {}),
    "c_sound_floor": ("c_sound_floor", {}),
}
NAMES = list(REGISTRY)
#: Peers that produce no result (time only), so they take no part in the hash check.
TIME_ONLY = {"c_floor", "c_sound_floor"}


@dataclass
class Repeat:
    """Best of up to max_reps runs: run once, then again while the runs took < budget seconds."""

    max_reps: int = 5
    budget: float = 1.0


@dataclass
class Measurement:
    seconds: float          # best compute time over the runs
    reps: int
    result: tuple | None    # canonical (loss, grads_W, grads_b); None for a time-only peer
    peak_rss_kb: int        # of the process that computed
    max_bits: int | None = None   # when the peer reports it itself


class Peer:
    """One column of the table: a peer module with its options."""

    def __init__(self, name: str):
        module_name, self.options = REGISTRY[name]
        self.name = name
        self.module = importlib.import_module(f"{__name__}.{module_name}")
        self.label = self.module.LABEL + (" (1 thread)" if self.options.get("threads") == 1 else "")

    def unavailable(self) -> str | None:
        return self.module.available()

    def measure(self, instance, repeat: Repeat | None = None) -> Measurement:
        repeat = repeat or Repeat()
        if hasattr(self.module, "measure"):
            return self.module.measure(instance, repeat, **self.options)
        return _measure_python(self.module, instance, repeat, self.options)

    def run(self, instance):
        """(loss, grads_W, grads_b) in the canonical form, computed once."""
        return self.measure(instance, Repeat(max_reps=1, budget=0.0)).result


def missing(package: str) -> str | None:
    """None when `package` imports, else the reason for a peer's n/a."""
    try:
        importlib.import_module(package)
    except ImportError:
        return f"{package} is not installed"
    return None


def _measure_python(module, instance, repeat: Repeat, options: dict) -> Measurement:
    state = module.prepare(instance, **options)
    best, reps, total, raw = float("inf"), 0, 0.0, None
    while reps == 0 or (reps < repeat.max_reps and total < repeat.budget):
        raw = None          # free the previous run's values before the next one
        gc.collect()
        start = time.perf_counter()
        raw = module.compute(state)
        elapsed = time.perf_counter() - start
        best, reps, total = min(best, elapsed), reps + 1, total + elapsed
    canonical = getattr(module, "canonical", None)
    return Measurement(best, reps, canonical(raw) if canonical else raw, peak_rss_kb())


def peak_rss_kb() -> int:
    """This process's peak RSS: VmHWM (its own address space since exec; ru_maxrss would also
    count the parent's pages at the fork), else ru_maxrss."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
