"""bitprop.workers keeps its threads between jobs (so FLINT's per-thread caches stay warm), ends
them once idle, reports a failing job without losing the others, and starts afresh in a
forked child."""

import os
import threading
import time

import pytest

import bitprop
from bitprop import workers


def _idents(parts):
    seen = [None] * parts

    def share(t):
        seen[t] = threading.get_ident()

    workers.run_shares(share, parts, lambda: None)
    return seen


def test_a_second_job_runs_on_the_threads_of_the_first():
    first = _idents(2)
    assert len(set(first)) == 2                 # each share its own thread
    assert set(_idents(2)) == set(first)
    assert threading.get_ident() not in first


def test_jobs_that_wait_for_each_other_each_get_a_thread():
    """A pass's workers meet at barriers: every share of a job must run at once, however
    many are idle."""
    barrier = threading.Barrier(5, timeout=10)
    workers.run_shares(lambda t: barrier.wait(), 5, lambda: None)


def test_an_idle_worker_frees_its_caches_and_ends(monkeypatch):
    monkeypatch.setattr(workers, "IDLE_SECONDS", 0.05)
    time.sleep(2.5 * workers.IDLE_SECONDS + 2.0)        # the others' idle threads end
    ended = []
    monkeypatch.setattr(workers, "release", lambda: ended.append(threading.get_ident()))
    ident = _idents(1)[0]
    deadline = time.monotonic() + 10
    while ident not in ended and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ident in ended
    assert not any(worker.ident == ident for worker in workers._idle)


def test_a_failing_job_is_reported_and_the_others_finish(monkeypatch):
    reported, finished = [], []
    monkeypatch.setattr(threading, "excepthook", lambda args: reported.append(args))

    def share(t):
        if t == 0:
            raise ValueError("share 0 failed")
        finished.append(t)

    workers.run_shares(share, 3, lambda: None)
    assert sorted(finished) == [1, 2]
    assert [type(args.exc_value) for args in reported] == [ValueError]
    assert str(reported[0].exc_value) == "share 0 failed"
    assert _idents(1)[0] is not None            # the failed job's worker serves again


def test_a_kept_thread_gives_the_same_exact_gradients():
    weights = [[[1, "-1/2", 2], ["3/5", 1, -1], [-2, "1/3", 1], [1, 1, "-7/4"]],
               [[1, -1, "1/2", 2], ["-3/2", 1, 1, "1/9"]]]
    net = bitprop.Network.mlp([3, 4, 2], "relu", weights=weights)
    data = bitprop.Dataset([[1, "1/3", -2], ["5/7", 0, 1]], [[1, 0], [0, 1]])
    first = net.grad(data, threads=2)
    again = net.grad(data, threads=2)           # on the same, warm, threads
    assert (again.loss, again.grad_weight, again.grad_bias) == \
        (first.loss, first.grad_weight, first.grad_bias)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_starts_its_own_workers():
    _idents(2)                                  # the parent has idle workers
    pid = os.fork()
    if pid == 0:                                # the child: its parent's threads are gone
        try:
            done = threading.Event()
            threading.Thread(target=lambda: (_idents(2), done.set()), daemon=True).start()
            os._exit(0 if done.wait(20) else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
