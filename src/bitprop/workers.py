"""Run kernels in worker threads so that Ctrl-C and time budgets act at once, safely.

Kernels release the GIL and poll a stop flag between FLINT operations; they never longjmp out
of FLINT or GMP, so an interrupted computation cannot leave a half-written number or a locked
allocator behind. The calling thread waits in short intervals: a KeyboardInterrupt (or the end
of the time budget) is raised there immediately, the flag is set, and each worker finishes its
current operation and returns on its own, keeping the memory it uses alive until then.

Worker threads are kept for the next job rather than started per job. FLINT keeps a cache of
big integers in every thread: a fresh thread starts it empty, so a pass allocates and
initialises every big integer it holds at once anew, and must free them all when its thread
ends. A kept thread starts its next pass with the integers (and their limbs) of the last one.
A worker idle for IDLE_SECONDS frees its caches (``release``) and ends; so a program that
stops evaluating gives the memory back within seconds.
"""

import itertools
import os
import queue
import sys
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
    """Run every callable of ``targets`` in its own worker thread, each kept from an earlier
    job or new; their jobs (``is_alive()``, ``join(timeout)``)."""
    jobs = [Job(target) for target in targets]
    for job in jobs:
        _take_worker().jobs.put(job)
    return jobs


#: Seconds a worker waits for its next job before it frees its caches and ends.
IDLE_SECONDS = 2.0

#: What an ending worker calls to free its thread's caches (bitprop._pass.release_caches;
#: set on first use, so that this module imports without the compiled kernels).
release = None


class Job:
    """One callable run by a worker; a target's exception is reported as a thread's is
    (threading.excepthook), and the job ends all the same."""

    def __init__(self, target):
        self.target = target
        self.done = threading.Event()

    def run(self):
        try:
            self.target()
        except BaseException:           # reported, as an uncaught one in a thread would be
            threading.excepthook(threading.ExceptHookArgs([*sys.exc_info(),
                                                           threading.current_thread()]))
        finally:
            self.target = None          # what the target holds is freed with the job
            self.done.set()

    def is_alive(self):
        return not self.done.is_set()

    def join(self, timeout=None):
        self.done.wait(timeout)


class _Worker(threading.Thread):
    """A daemon thread that runs jobs one at a time, each taken from its own queue, and
    waits for the next in the idle list."""

    def __init__(self):
        super().__init__(daemon=True, name=f"bitprop-{next(_names)}")
        self.jobs = queue.SimpleQueue()

    def run(self):
        while True:
            try:
                job = self.jobs.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with _lock:
                    if self in _idle:       # nobody took it: end
                        _idle.remove(self)
                        break
                continue                    # taken meanwhile: its job is on the way
            job.run()
            del job
            with _lock:
                _idle.append(self)
        _release_caches()


def _release_caches():
    global release
    if release is None:
        from ._pass import release_caches
        release = release_caches
    release()


def _take_worker():
    """An idle worker (the one idle the shortest time, its caches the warmest), else a new
    one, started."""
    with _lock:
        if _idle:
            return _idle.pop()
    worker = _Worker()
    worker.start()
    return worker


def _forget_workers():
    """In a forked child the parent's threads do not exist: start with none."""
    global _lock
    _lock = threading.Lock()
    _idle.clear()


_lock = threading.Lock()
_idle = []
_names = itertools.count(1)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_workers)


def wait_for(event, stop):
    """Wait until ``event`` is set, in short intervals so that Ctrl-C is raised at once (and
    calls ``stop()`` before it goes on)."""
    try:
        while not event.wait(POLL_SECONDS):
            pass
    except BaseException:
        stop()
        raise
