"""Where the work runs: ``--dask ADDRESS`` (an existing scheduler) or ``--dask local:N`` (a
LocalCluster of N single-threaded worker processes, started here and shut down on the way out)."""

import logging
import re
from contextlib import contextmanager

from ..errors import BitpropInputError
from ..evaluation import default_threads
from .errors import DistributedError

#: Seconds to wait for an existing scheduler to answer.
CONNECT_TIMEOUT = 30
_LOCAL = re.compile(r"local(?::([0-9]+))?")


def parse_target(spec):
    """("local", N) for ``local:N`` (``local``: one worker per core), else ("address", spec)."""
    text = str(spec).strip()
    match = _LOCAL.fullmatch(text)
    if match:
        count = int(match.group(1)) if match.group(1) else _cores()
        if count < 1:
            raise BitpropInputError(f"{text!r}: a local cluster needs at least one worker",
                                    path="--dask")
        return "local", count
    if not text or text.startswith("local"):
        raise BitpropInputError(f"{text!r} is neither a scheduler address (tcp://host:8786) nor "
                                "local:N", path="--dask")
    return "address", text


def _cores():
    return default_threads()


@contextmanager
def connect(spec, *, timeout=None):
    """A dask.distributed Client for ``spec`` (see parse_target), closed on exit together with
    the local cluster it may have started. ``timeout``: seconds to reach a scheduler."""
    kind, target = parse_target(spec)
    timeout = CONNECT_TIMEOUT if timeout is None else timeout
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError as error:
        raise DistributedError(f"--dask needs Dask ({error}): pip install 'bitprop[dask]'") \
            from None
    if kind == "address":
        try:
            client = Client(target, timeout=timeout)
        except Exception as error:
            raise DistributedError(f"--dask {target}: cannot reach the Dask scheduler "
                                   f"({type(error).__name__}: {error})") from None
        with client:
            yield client
        return
    # Our own scheduler: the broadcast network stays on every worker (the active memory
    # manager would drop the extra replicas between steps), and no dashboard port is taken.
    with dask.config.set({"distributed.scheduler.active-memory-manager.start": False}):
        cluster = LocalCluster(n_workers=target, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)
    with cluster, Client(cluster) as client:
        yield client
