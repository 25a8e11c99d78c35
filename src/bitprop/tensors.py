"""Shared parameters read back as the model's tensors: ``conv1.weight[0,2,1,1]`` is entry
(0, 2, 1, 1) of the tensor ``conv1.weight``, as Builder and the ONNX importer name them.

A tensor's shape is read from its entries' indices (one more than the largest index on each
axis), so it needs every entry of that box, each named once, all with as many indices; a name
whose entries do not fill their box is not a tensor (its entries stay in the flat
``GradResult.parameters``). A parameter named without an index is a tensor of shape () of its
own, except a frozen one: the builder's ``NAME.zero`` and ``NAME.one`` (constants that make a
layer exact, no weights of the model) are left out of every tensor report.
"""

import re
from dataclasses import dataclass

from .views import KeyedView

_INDEXED = re.compile(r"^(.+)\[(\d+(?:,\d+)*)?\]$")


@dataclass(frozen=True)
class Tensor:
    """One named tensor of a network: its shape and its entries' parameter names, row-major.

    >>> net = (bitprop.Builder((2,), seed=0).dense(3, name="fc")).network()
    >>> [(t.name, t.shape) for t in tensors(net)]
    [('fc.weight', (3, 2)), ('fc.bias', (3,))]
    """

    name: str
    shape: tuple
    entries: tuple

    @property
    def size(self):
        return len(self.entries)

    def nest(self, values):
        """``values`` (row-major, one per entry) as nested lists of this tensor's shape (a
        tensor of shape () is its one value)."""
        return nested(list(values), self.shape)


def parse_name(name):
    """(tensor name, index tuple) of a parameter named ``NAME[i,j,...]``; (name, None)
    otherwise."""
    match = _INDEXED.match(name)
    if match is None:
        return name, None
    digits = match.group(2)
    return match.group(1), tuple(int(i) for i in digits.split(",")) if digits else ()


def tensors(network):
    """The tensors of ``network``'s shared parameters, in the order their first entries were
    given (see the module docstring for which parameters form one)."""
    groups, order = {}, []
    for name, trainable in network.parameter_trainable.items():
        tensor, index = parse_name(name)
        if index is None:
            if trainable:
                groups.setdefault(name, []).append(((), name))
                order.append(name)
            continue
        if tensor not in groups:
            order.append(tensor)
        groups.setdefault(tensor, []).append((index, name))
    out = []
    for tensor in dict.fromkeys(order):
        shaped = _tensor(tensor, groups[tensor])
        if shaped is not None:
            out.append(shaped)
    return out


def _tensor(name, entries):
    """A Tensor from its (index, parameter name) entries, or None when they do not fill their
    box exactly once."""
    ranks = {len(index) for index, _ in entries}
    if len(ranks) != 1:
        return None
    rank = ranks.pop()
    shape = tuple(max(index[axis] for index, _ in entries) + 1 for axis in range(rank))
    size = 1
    for n in shape:
        size *= n
    if size != len(entries) or len({index for index, _ in entries}) != size:
        return None
    return Tensor(name, shape, tuple(parameter for _, parameter in sorted(entries)))


def nested(values, shape):
    """A row-major list as nested lists of ``shape``."""
    if not shape:
        return values[0]
    if len(shape) == 1:
        return list(values)
    step = len(values) // shape[0]
    return [nested(values[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])]


class TensorValues(KeyedView):
    """{tensor name: nested lists} of the values ``parameter_values`` (parameter name ->
    value) gives the entries of each tensor, each tensor nested when it is read."""

    def __init__(self, network_tensors, parameter_values):
        self._tensors = {t.name: t for t in network_tensors}
        self._values = parameter_values
        super().__init__(self._tensors)

    def __getitem__(self, name):
        tensor = self._tensors[name]
        return tensor.nest([self._values[p] for p in tensor.entries])
