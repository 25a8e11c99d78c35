"""bitprop on a Dask cluster: exact grad and step over sample shards, and sweeps as tasks.

Results are bit for bit those of the single process::

    from distributed import Client
    import bitprop.distributed
    client = Client("tcp://scheduler:8786")          # or Client(LocalCluster(...))
    result = bitprop.distributed.grad(net, data, client=client)
    trained, losses = bitprop.distributed.step(net, data, "1/10", 5, client=client)
    rows = bitprop.distributed.map_configurations(client, measure, configurations)

Needs the ``dask`` extra (``pip install 'bitprop[dask]'``); nothing else in bitprop imports it.
"""

from .cluster import connect, parse_target
from .driver import grad, map_configurations, step
from .errors import DistributedError

__all__ = ["DistributedError", "connect", "grad", "map_configurations", "parse_target", "step"]
