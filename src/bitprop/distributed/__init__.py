"""bitprop on a Dask cluster: exact grad and step over sample shards, and sweeps as tasks.

Results are bit for bit those of the single process::

    from distributed import Client
    import bitprop.distributed
    client = Client("tcp://scheduler:8786")          # or Client(LocalCluster(...))
    result = bitprop.distributed.grad(net, data, client=client)    # = bitprop.grad(..., client=)
    trained, losses = bitprop.distributed.step(net, data, "1/10", 5, client=client)
    rows = bitprop.distributed.map_configurations(client, measure, configurations)
    for i, position, row in bitprop.distributed.map_series(client, measure, series,
                                                           carry_on=lambda row: ...):
        ...        # series i goes on to its next configuration while carry_on(row) holds

Needs the ``dask`` extra (``pip install 'bitprop[dask]'``); the rest of bitprop imports it only
when given a client (``client=``, ``--dask``).
"""

from .cluster import connect, parse_target
from .driver import grad, map_configurations, map_series, step
from .errors import DistributedError

__all__ = ["DistributedError", "connect", "grad", "map_configurations", "map_series",
           "parse_target", "step"]
