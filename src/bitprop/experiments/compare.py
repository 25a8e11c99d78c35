"""`bitprop compare`: a float gradient held against the exact one, coordinate by coordinate.

The float gradient is bitprop's own float32 or float64 pass over the same DAG
(``bitprop.floatpass``) or one a framework wrote into an ``.npz`` file. The coordinates
compared are the model's (``bitprop.tensors``): every tensor of shared parameters (frozen
constants such as the builder's ``NAME.zero`` left out), each trainable shared parameter in
no tensor (shape (), its own name), then every trainable edge coordinate bound to no
parameter, as the tensors ``edges.weight`` and ``edges.bias`` (one entry per edge, in edge
order; the other entries of those are not compared).

Relative error |float - exact| / |exact| is computed exactly (the float taken as its binary
value) and then rounded to a float; where the exact value is 0 it is the absolute error
|float|. A sign disagreement is sign(float) != sign(exact) with sign(0) = 0, so an exact 0
against a nonzero float counts, as does a float that is inf or nan. Quantiles are nearest
rank.
"""

import math
import time
from dataclasses import dataclass, field
from fractions import Fraction

from ..errors import BitpropInputError
from ..tensors import parse_name

FORMAT = "bitprop.compare/1"
#: The tensors that hold the edges' own (unbound) coordinates.
EDGE_TENSORS = ("edges.weight", "edges.bias")


@dataclass
class Group:
    """One tensor compared: its name, the npz shape, and its compared entries (name, flat
    index into the npz array, exact gradient)."""

    name: str
    shape: tuple
    names: list = field(default_factory=list)
    flat: list = field(default_factory=list)
    exact: list = field(default_factory=list)
    coordinate: str = None      # "weight" or "bias" for edges.weight, edges.bias


def groups(network, exact):
    """The Groups of ``network`` with the exact gradients of ``exact`` (a GradResult)."""
    out = []
    for tensor in network.tensors():
        out.append(Group(tensor.name, tensor.shape, list(tensor.entries),
                         list(range(tensor.size)),
                         [exact.parameters[p] for p in tensor.entries]))
    covered = {p for group in out for p in group.names}
    trainable = network.parameter_trainable
    for name in network.parameters:         # shared parameters in no tensor, trainable ones
        if name not in covered and trainable[name] and parse_name(name)[1] is not None:
            out.append(Group(name, (), [name], [0], [exact.parameters[name]]))
    bound = {(e, c) for coordinates in network.parameter_edges.values()
             for e, c in coordinates}
    columns = {"weight": exact.grad_weight, "bias": exact.grad_bias}
    for tensor, coordinate in zip(EDGE_TENSORS, ("weight", "bias")):
        group = Group(tensor, (network.num_edges,), coordinate=coordinate)
        for e, free in enumerate(network.trainable):
            if free and (e, coordinate) not in bound:
                group.names.append(f"edges[{e}].{coordinate}")
                group.flat.append(e)
                group.exact.append(columns[coordinate][e])
        if group.names:
            out.append(group)
    return out


def float_values(float_result, group_list):
    """Per group, the float gradient of each entry, from a FloatGradResult."""
    columns = {"weight": float_result.grad_weight, "bias": float_result.grad_bias}
    out = []
    for group in group_list:
        if group.coordinate is not None:
            out.append([float(columns[group.coordinate][i]) for i in group.flat])
        else:
            out.append([float(float_result.parameters[p]) for p in group.names])
    return out


def read_against(path, group_list):
    """Per group, the float gradients an ``.npz`` file holds (an array per group, named and
    shaped like it, axes of length 1 aside), and its ``loss`` (None when the file has
    none)."""
    import zipfile

    import numpy
    try:
        archive = numpy.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise BitpropInputError(f"not a readable .npz file ({err})", file=path) from None
    if not hasattr(archive, "files"):
        raise BitpropInputError("an .npy array, not an .npz archive of arrays", file=path)
    with archive:
        out = []
        for group in group_list:
            if group.name not in archive.files:
                known = ", ".join(sorted(archive.files)[:8]) or "none"
                raise BitpropInputError(f"no array for tensor {group.name!r} (arrays: {known})",
                                        file=path, path=group.name)
            array = archive[group.name]
            if array.dtype.kind not in "fiu" or not _same_shape(array.shape, group.shape):
                raise BitpropInputError(f"array of {array.dtype} {tuple(array.shape)}; the "
                                        f"model's tensor is a float array of shape "
                                        f"{tuple(group.shape)}", file=path, path=group.name)
            flat = array.reshape(-1)
            out.append([float(flat[i]) for i in group.flat])
        loss = None
        if "loss" in archive.files:
            if archive["loss"].size != 1 or archive["loss"].dtype.kind not in "fiu":
                raise BitpropInputError("the loss must be one number", file=path, path="loss")
            loss = float(archive["loss"].reshape(-1)[0])
        return out, loss


def _same_shape(shape, expected):
    """Equal shapes, axes of length 1 aside (an ONNX Gemm's bias of shape (1, n) is the
    tensor of shape (n,))."""
    return [n for n in shape if n != 1] == [n for n in expected if n != 1]


def relative_error(approx, exact):
    """|approx - exact| / |exact| computed exactly, as a float (|approx| when exact is 0;
    inf for a float that is inf or nan)."""
    if not math.isfinite(approx):
        return math.inf
    gap = abs(Fraction(approx) - exact)
    error = gap / abs(exact) if exact else gap
    try:
        return float(error)
    except OverflowError:
        return math.inf


def _sign(q):
    return (q > 0) - (q < 0)


def disagree(approx, exact):
    """True when the float's sign is not the exact value's (nan disagrees with everything)."""
    return math.isnan(approx) or _sign(approx) != _sign(exact)


def quantile(sorted_values, q):
    """Nearest-rank q-quantile of a sorted list (None when empty)."""
    if not sorted_values:
        return None
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


def distribution(errors):
    ordered = sorted(errors)
    return {"median": quantile(ordered, 0.5), "p90": quantile(ordered, 0.9),
            "max": ordered[-1] if ordered else None}


@dataclass
class Comparison:
    """What `bitprop compare` reports; ``to_json`` is its --json object."""

    source: str                 # float32, float64 or the .npz path
    loss_exact: Fraction
    loss_float: float
    entries: list               # (name, tensor, exact, float, relative error, disagrees)
    tensors: list               # per tensor: name, shape, count, distribution, disagreements
    timing: dict
    worst: int = 10
    plot: str = None

    @property
    def errors(self):
        return [entry[4] for entry in self.entries]

    def to_json(self):
        """The --json object (docs/formats.md); inf and nan floats as the strings "inf",
        "-inf", "nan" (JSON has no such numbers)."""
        return _strict(self._document())

    def _document(self):
        disagreeing = [entry[0] for entry in self.entries if entry[5]]
        ranked = sorted(self.entries, key=lambda entry: -entry[4])[:self.worst]
        loss_error = (None if self.loss_float is None
                      else relative_error(self.loss_float, self.loss_exact))
        return {"format": FORMAT, "float": self.source, "coordinates": len(self.entries),
                "relative_error": distribution(self.errors),
                "worst": [{"name": name, "tensor": tensor, "exact": exact, "float": approx,
                           "relative_error": error}
                          for name, tensor, exact, approx, error, _ in ranked],
                "sign_disagreements": {"count": len(disagreeing), "names": disagreeing},
                "nonfinite": sum(1 for entry in self.entries if not math.isfinite(entry[3])),
                "loss": {"exact": self.loss_exact, "float": self.loss_float,
                         "relative_error": loss_error},
                "tensors": self.tensors, "timing": self.timing, "plot": self.plot}


def _strict(value):
    """``value`` with every non-finite float replaced by its name, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if value != value else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {key: _strict(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_strict(item) for item in value]
    return value


def compare(network, dataset, *, dtype="float64", against=None, worst=10, **exact_options):
    """The exact gradient of ``network`` on ``dataset`` against a float one: bitprop's own
    float pass in ``dtype``, or the ``.npz`` file ``against``. ``exact_options`` go to
    ``bitprop.grad`` (max_bits, time_budget, threads, progress)."""
    from ..evaluation import grad
    started = time.perf_counter()
    exact = grad(network, dataset, **exact_options)
    exact_seconds = time.perf_counter() - started
    group_list = groups(network, exact)
    started = time.perf_counter()
    if against is None:
        from ..floatpass import float_grad
        result = float_grad(network, dataset, dtype)
        approx, loss_float, source = (float_values(result, group_list),
                                      float(result.loss), dtype)
    else:
        approx, loss_float = read_against(against, group_list)
        source = str(against)
    float_seconds = time.perf_counter() - started
    entries, per_tensor = [], []
    for group, values in zip(group_list, approx):
        rows = [(name, group.name, q, a, relative_error(a, q), disagree(a, q))
                for name, q, a in zip(group.names, group.exact, values)]
        entries.extend(rows)
        per_tensor.append({"name": group.name, "shape": list(group.shape),
                           "count": len(rows), **distribution([row[4] for row in rows]),
                           "sign_disagreements": sum(row[5] for row in rows)})
    return Comparison(source, exact.loss, loss_float, entries, per_tensor,
                      {"exact": exact_seconds, "float": float_seconds}, worst)


def draw(comparison, path):
    """A PNG: the histogram of log10 relative errors (left) and a box plot per tensor
    (right); exact zeros of the error sit at the floor 1e-20."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from ..files import write_atomically

    floor = 1e-20
    logs = lambda errors: [math.log10(max(e, floor)) if math.isfinite(e) else 20.0  # noqa: E731
                           for e in errors]
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    left.hist(logs(comparison.errors), bins=40, color="tab:blue")
    left.set_xlabel("log10 relative error (0 drawn at -20, inf at 20; exact 0: absolute error)")
    left.set_ylabel("coordinates")
    left.set_title(f"{comparison.source} vs exact: {len(comparison.entries)} coordinates")
    names = [t["name"] for t in comparison.tensors]
    per = [logs([e[4] for e in comparison.entries if e[1] == name]) for name in names]
    right.boxplot(per, showfliers=True)
    right.set_xticks(range(1, len(names) + 1), names, fontsize=7, rotation=45, ha="right")
    right.set_ylabel("log10 relative error")
    right.set_title("per tensor")
    figure.tight_layout()
    try:
        write_atomically(path, lambda handle: figure.savefig(handle, format="png", dpi=110),
                         binary=True)
    finally:
        plt.close(figure)
    comparison.plot = str(path)
    return path
