"""No leak: resident memory stays flat over repeated evaluations and refusals.

bench/leaks.py is the long version (10,000 rounds of each workload, with a table); here each
workload runs up to 1,000 rounds after a warm-up and may grow RSS by at most 2 MiB (2 KiB a
round at 1,000), far below what a leaked value, plan, thread or exception per round would add.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import leaks  # noqa: E402

BOUND = 2 * 2 ** 20


@pytest.mark.parametrize("workload, rounds", [
    ("network", 1000), ("reader", 1000), ("slp", 300), ("big_values", 100)])
def test_rss_stays_flat(workload, rounds):
    before, after, _ = leaks.measure(workload, rounds, warmup=min(200, rounds // 5))
    assert after - before < BOUND, (
        f"{workload}: RSS grew {(after - before) / 2 ** 20:.1f} MiB over {rounds} rounds "
        f"({(after - before) / rounds:.0f} bytes a round)")


def test_rss_is_read_from_proc():
    grown = bytearray(b"\x01" * 64 * 2 ** 20)      # written, so resident
    assert leaks.rss_bytes() > len(grown)
