"""The error of a distributed run that failed for a reason of the cluster, not of the input."""

from ..errors import BitpropError


class DistributedError(BitpropError):
    """The Dask cluster could not finish the computation (unreachable scheduler, workers lost
    more often than Dask retries, cancelled work); no partial result is ever returned."""
