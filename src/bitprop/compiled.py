"""A network compiled for the kernels: its Plan, and how its dense layers run.

A ``Compiled`` is built once per network and kept by it (``Network.compiled``); a network
with new parameters is a new network with a new Compiled, so nothing compiled is ever used
with parameters it was not made from. ``step`` keeps a private Compiled whose plan's
parameters change in place, and says so (``parameters_changed``).
"""

from dataclasses import dataclass

from ._plan import Plan
from ._sparse import SparseBlocks
from ._stack import StackKernel
from ._sweep import SweepKernel
from .errors import BitpropInputError
from .layers import (MIN_BLOCK_EDGES, MIN_SPARSE_EDGES, find_dense_blocks, find_dense_layout,
                     find_sparse_blocks)

#: "auto": the dense kernel for a stack of dense layers, else dense blocks of at least
#: MIN_BLOCK_EDGES edges and sparse blocks of at least MIN_SPARSE_EDGES inside the scalar
#: sweep, else the scalar kernel; "dense": the same, but an error when there is nothing
#: dense; "mixed": every dense layer and sparse run, however small, as a block inside the
#: scalar sweep; "scalar": one vertex at a time. All give the same bits.
KERNELS = ("auto", "dense", "mixed", "scalar")


def check_kernel(kernel):
    """Refuse a kernel choice that is not one of KERNELS."""
    if kernel not in KERNELS:
        raise BitpropInputError(f"kernel must be one of {', '.join(KERNELS)}, not {kernel!r}",
                                path="kernel")


@dataclass
class _DenseLayers:
    """How a plan's blocks run: the kernel class (StackKernel or SweepKernel), the dense
    layout (or None) and, once a pass has built them, its integer weights (DenseWeights);
    the sparse layout (or None) and, once built, its SparseBlocks."""

    kernel: type
    layout: object
    weights: object = None
    sparse_layout: object = None
    sparse: object = None

    def make(self, plan):
        """A new kernel; what it built of the weights is kept for the next pass."""
        if self.kernel is StackKernel:
            made = StackKernel(plan, self.layout, self.weights)
        else:
            if self.sparse is None and self.sparse_layout is not None:
                self.sparse = SparseBlocks(plan, self.sparse_layout)
            made = SweepKernel(plan, self.layout, self.weights, self.sparse)
        self.weights = made.weights
        return made


class Compiled:
    """What the kernels need of one network: ``plan`` and, per kernel choice, the dense
    layers found in it with their integer weights."""

    def __init__(self, network):
        self.plan = Plan(network)
        self._dense = {}            # kernel choice -> _DenseLayers or None

    def kernel(self, network, choice="auto", keep_all=False):
        """A new Kernel for one pass of ``network`` (whose plan this is) under ``choice``.
        ``keep_all`` (every z and f kept) runs one vertex at a time."""
        check_kernel(choice)
        dense = None if keep_all else self._dense_layers(network, choice)
        return SweepKernel(self.plan) if dense is None else dense.make(self.plan)

    def parameters_changed(self):
        """The plan's parameters were changed in place: integer weights are rebuilt."""
        for dense in self._dense.values():
            if dense is not None:
                dense.weights = dense.sparse = None

    def _dense_layers(self, network, choice):
        if choice not in self._dense:
            self._dense[choice] = _find_dense_layers(network, self.plan, choice)
        return self._dense[choice]


def _find_dense_layers(network, plan, choice):
    """The _DenseLayers of ``plan`` under ``choice``, or None for one vertex at a time."""
    if choice == "scalar":
        return None
    if choice != "mixed":
        layout = find_dense_layout(network, plan)
        if layout is not None:
            return _DenseLayers(StackKernel, layout)
    blocks = find_dense_blocks(network, plan, 1 if choice == "mixed" else MIN_BLOCK_EDGES)
    taken = () if blocks is None else [p for l, layer in enumerate(blocks.layers)
                                       if l not in blocks.starts for p in layer]
    sparse = find_sparse_blocks(network, plan, taken,
                                *((1, 1) if choice == "mixed" else (MIN_SPARSE_EDGES,)))
    if blocks is None and (choice == "dense" or choice == "mixed" and sparse is None):
        raise BitpropInputError("the network has no dense layers (vertices with one edge from "
                                "each of the same predecessors and one identity, relu, "
                                "leaky_relu or monomial activation)", path="kernel")
    if blocks is None and sparse is None:
        return None
    return _DenseLayers(SweepKernel, blocks, sparse_layout=sparse)
