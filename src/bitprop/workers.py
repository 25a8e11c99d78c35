"""Run kernels in worker threads so that Ctrl-C and time budgets act at once, safely.

Kernels release the GIL and poll a stop flag between FLINT operations; they never longjmp out
of FLINT or GMP, so an interrupted computation cannot leave a half-written number or a locked
allocator behind. The calling thread waits in short intervals: a KeyboardInterrupt (or the end
of the time budget) is raised there immediately, the flag is set, and each worker finishes its
current operation and exits on its own, keeping the memory it uses alive until then.
"""

import threading
import time

from .errors import TimeBudgetError

POLL_SECONDS = 0.05


def run_workers(targets, stop, *, time_budget=None, progress=None):
    """Run every callable of ``targets`` in its own daemon thread and wait for all of them.

    ``stop()`` is called on Ctrl-C or when ``time_budget`` seconds have passed (then
    TimeBudgetError); ``progress()`` is called after every poll.
    """
    start = time.monotonic()
    workers = start_workers(targets)
    try:
        for worker in workers:
            while worker.is_alive():
                worker.join(POLL_SECONDS)
                if progress is not None:
                    progress()
                if time_budget is not None and time.monotonic() - start > time_budget:
                    raise TimeBudgetError(f"stopped after the time budget of {time_budget:g} s")
    except BaseException:
        stop()
        raise


def run_shares(share, parts, stop, **options):
    """``share(t)`` for t in range(parts), each in its own thread (run_workers)."""
    run_workers([lambda t=t: share(t) for t in range(parts)], stop, **options)


def start_workers(targets):
    """Start every callable of ``targets`` in its own daemon thread; the threads."""
    workers = [threading.Thread(target=target, daemon=True, name=f"bitprop-{i}")
               for i, target in enumerate(targets)]
    for worker in workers:
        worker.start()
    return workers


def wait_for(event, stop):
    """Wait until ``event`` is set, in short intervals so that Ctrl-C is raised at once (and
    calls ``stop()`` before it goes on)."""
    try:
        while not event.wait(POLL_SECONDS):
            pass
    except BaseException:
        stop()
        raise
