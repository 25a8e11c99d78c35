"""The public entry points: forward, grad and step in this process (bitprop.evaluation) or,
given a dask.distributed ``client``, on its cluster (bitprop.distributed), with the same
result bit for bit. Dask is imported only when a client is given."""

from . import evaluation


def forward(network, inputs, **options):
    """Exact forward pass: see :func:`bitprop.evaluation.forward`."""
    return evaluation.forward(network, inputs, **options)


def grad(network, dataset, *, client=None, **options):
    """Exact L(theta) and dL/dw, dL/db for every edge (:func:`bitprop.evaluation.grad`).
    ``client``: a dask.distributed Client; the samples then run as shards on its cluster
    (:func:`bitprop.distributed.grad`)."""
    if client is None:
        return evaluation.grad(network, dataset, **options)
    from .distributed import grad as on_cluster
    return on_cluster(network, dataset, client=client, **options)


def step(network, dataset, lr, steps=1, *, client=None, **options):
    """``steps`` exact gradient-descent steps; (new network, losses)
    (:func:`bitprop.evaluation.step`). ``client``: a dask.distributed Client; each step is
    then a map-reduce over sample shards on its cluster (:func:`bitprop.distributed.step`)."""
    if client is None:
        return evaluation.step(network, dataset, lr, steps, **options)
    from .distributed import step as on_cluster
    return on_cluster(network, dataset, lr, steps, client=client, **options)
