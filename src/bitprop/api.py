"""The public entry points: forward, grad and step in this process (bitprop.evaluation) or,
given a dask.distributed ``client``, on its cluster (bitprop.distributed), with the same
result bit for bit. Dask is imported only when a client is given."""

from . import evaluation
from .errors import BitpropInputError


def forward(network, inputs, **options):
    """Exact forward pass: see :func:`bitprop.evaluation.forward`.

    >>> net = bitprop.Network(["x", ("h", "relu"), ("o", "identity")],
    ...                       [("x", "h", 2, -1), ("h", "o", 3, 0)], ["x"], ["o"])
    >>> result = bitprop.forward(net, [["3/2"], [-1]], keep_all=True)
    >>> [row.tolist() for row in result.outputs]
    [[Fraction(6, 1)], [Fraction(0, 1)]]
    >>> result.values[1]["z"]
    {'h': Fraction(-3, 1), 'o': Fraction(0, 1)}
    >>> result.bits.max_value
    4
    """
    return evaluation.forward(network, inputs, **options)


def grad(network, dataset, *, client=None, **options):
    """Exact L(theta) and dL/dw, dL/db for every edge (:func:`bitprop.evaluation.grad`).
    ``client``: a dask.distributed Client; the samples then run as shards on its cluster
    (:func:`bitprop.distributed.grad`).

    >>> net = bitprop.Network(["x", ("h", "relu"), ("o", "identity")],
    ...                       [("x", "h", 2, -1), ("h", "o", 3, 0)], ["x"], ["o"])
    >>> data = bitprop.Dataset([["3/2"]], [[1]])
    >>> result = bitprop.grad(net, data, output="str")
    >>> result.loss, result.grad_weight, result.grad_bias
    ('25', ['45', '20'], ['30', '10'])
    >>> result.bits.max_value, result.bits.max_adjoint, result.bits.max_grad
    (4, 6, 7)
    >>> bitprop.grad(net, data, kernel="scalar", threads=1).loss
    Fraction(25, 1)
    """
    if client is None:
        return evaluation.grad(network, dataset, **options)
    from .distributed import grad as on_cluster
    output = options.pop("output", "fraction")
    result = evaluation.with_parameter_gradients(
        network, on_cluster(network, dataset, client=client, **options))
    return result if output == "fraction" else result.converted(output)


def step(network, dataset, lr, steps=1, *, client=None, **options):
    """``steps`` exact gradient-descent steps; (new network, losses)
    (:func:`bitprop.evaluation.step`). ``client``: a dask.distributed Client; each step is
    then a map-reduce over sample shards on its cluster (:func:`bitprop.distributed.step`).

    >>> net = bitprop.Network(["x", ("h", "relu"), ("o", "identity")],
    ...                       [("x", "h", 2, -1), ("h", "o", 3, 0)], ["x"], ["o"])
    >>> trained, losses = bitprop.step(net, bitprop.Dataset([["3/2"]], [[1]]), "1/100", 2)
    >>> [bitprop.to_str(q) for q in losses]
    ['25', '31329/10000', '65141803695590468001/100000000000000000000']
    >>> trained.weights
    [Fraction(35033, 25000), Fraction(552743, 200000)]
    """
    if client is None:
        return evaluation.step(network, dataset, lr, steps, **options)
    if network._parameter_names:
        raise BitpropInputError("a step of a network with shared parameters on a Dask "
                                "cluster is not supported yet: run it without client= "
                                "(--dask)", path="client")
    from .distributed import step as on_cluster
    return on_cluster(network, dataset, lr, steps, client=client, **options)
