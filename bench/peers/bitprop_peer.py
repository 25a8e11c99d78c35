"""bitprop itself, through its Python API.

The API is not final; this module is the only place that knows it. Assumed:
    net = bitprop.Network.from_json(network_dict); data = bitprop.Dataset.from_json(dataset_dict)
    res = net.grad(data)            (or net.grad(data, threads=N))
    res.loss, res.grad_weight, res.grad_bias   (per-edge rationals, file order)
Timed: net.grad only (loading and validating the JSON dicts is prepare, untimed).
"""

import sys
from pathlib import Path

from instances import edge_index, to_bitprop_json

LABEL = "bitprop"
_SRC = Path(__file__).resolve().parents[2] / "src"


def _import_bitprop():
    """This checkout's bitprop where its extensions are built in place (so that a bitprop
    installed earlier is never measured by mistake), else the installed one."""
    if any((_SRC / "bitprop").glob("_pass*.so")) and str(_SRC) not in sys.path:
        sys.path.insert(0, str(_SRC))
    import bitprop
    return bitprop


def available():
    try:
        bitprop = _import_bitprop()
    except Exception as error:  # any failure to import means: no bitprop column here
        return f"bitprop is not importable ({type(error).__name__}: {error})"
    missing = [name for name in ("Network", "Dataset") if not hasattr(bitprop, name)]
    if missing:
        return f"bitprop has no {' or '.join(missing)} yet"
    return None


def prepare(instance, threads=None):
    bitprop = _import_bitprop()
    network, dataset = to_bitprop_json(instance)
    return (instance, bitprop.Network.from_json(network), bitprop.Dataset.from_json(dataset),
            threads)


def compute(state):
    instance, network, dataset, threads = state
    if threads is None:
        return instance, network.grad(dataset)
    return instance, network.grad(dataset, threads=threads)


def canonical(raw):
    instance, res = raw
    return canonical_from_edges(instance, res.loss, list(res.grad_weight), list(res.grad_bias))


def canonical_from_edges(instance, loss, grad_weight, grad_bias):
    """Per-edge gradients (edges in `to_bitprop_json` order) -> (loss, grads_W, grads_b).

    dW_l[i][j] is the weight gradient of edge (l-1, j) -> (l, i); db_l[i] the bias gradient of
    the edge that carries b_l[i], the one from unit 0 (every edge into a vertex has the same
    bias gradient, dL/dz of that vertex).
    """
    widths = instance.widths
    grads_W, grads_b = [], []
    for l in range(1, instance.depth + 1):
        first = edge_index(instance, l, 0, 0)
        cols = widths[l - 1]
        grads_W.append([grad_weight[first + i * cols: first + (i + 1) * cols]
                        for i in range(widths[l])])
        grads_b.append([grad_bias[first + i * cols] for i in range(widths[l])])
    return loss, grads_W, grads_b
