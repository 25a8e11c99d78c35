"""Builder: networks layer by layer, shapes tracked, as a Sequential model is written.

Every layer is made of the paper's vertices and edges, so that the exact evaluator runs it as
any DAG: a convolution's kernel and bias, and an RNN's matrices and bias, are shared
parameters (Network's ``parameters``) bound to every edge that uses them; an output unit's
bias sits on its first in-edge, its other in-edges bound to the layer's frozen parameter
``NAME.zero`` (so a step moves exactly the layer's own parameters); pooling edges are frozen;
a max is built from ReLUs, max(a, b) = b + relu(a - b), a window as a tree of pairwise maxes.
Weights not given are float32 values drawn uniformly from +-1/sqrt(fan_in) (seeded), taken
exactly.
"""

import math
from fractions import Fraction

import numpy

from .arrays import exact_array
from .errors import BitpropInputError

_FROZEN = False


class Builder:
    """A network under construction: its vertices, edges, shared parameters and the current
    layer (an array of vertex names, of the layer's shape).

    >>> b = bitprop.Builder((1, 4, 4), seed=1)
    >>> b.conv2d(2, 3, activation="relu").shape
    (2, 2, 2)
    >>> b.max_pool(2).flatten().dense(3).shape
    (3,)
    >>> net = b.network()
    >>> net.num_inputs, net.num_outputs, len(net.parameters)
    (16, 3, 31)
    """

    def __init__(self, shape, *, name="x", seed=0):
        """``shape``: the input's shape, (channels, height, width) for images, (steps,
        features) for sequences, (n,) for vectors; input vertices are ``name[i,j,...]`` in
        row-major order, which is the order of a sample's flattened x."""
        shape = _shape(shape, "shape")
        self._vertices, self._edges, self._parameters = [], [], {}
        self._position = {}         # layer vertex -> its index in _vertices
        self._layer = self._new_layer(name, shape, None)
        self._inputs = list(self._layer.ravel())
        self._rng = numpy.random.default_rng(seed)
        self._counts = {}

    shape = property(lambda self: self._layer.shape, doc="The current layer's shape.")
    layer = property(lambda self: self._layer.copy(), doc="The current layer's vertex names.")

    def network(self):
        """The Network: the current layer's vertices (row-major) are its outputs."""
        from .network import Network
        return Network(self._vertices, self._edges, self._inputs, list(self._layer.ravel()),
                       parameters=self._parameters)

    # --- layers --------------------------------------------------------------------------
    def conv2d(self, out_channels, kernel, stride=1, padding=0, activation="relu", *,
               weight=None, bias=None, name=None, weight_name=None, bias_name=None):
        """A 2-d convolution (cross-correlation, as in PyTorch) on a (C, H, W) layer:
        ``weight`` of shape (out_channels, C, kernel, kernel), ``bias`` (out_channels,) or
        False for none, zero padding, shared across positions as parameters
        ``NAME.weight[o,c,i,j]`` and ``NAME.bias[o]`` (or ``weight_name[...]``,
        ``bias_name[...]``)."""
        channels, height, width = self._image("conv2d")
        kernel, stride, padding = (_positive(kernel, "kernel"), _positive(stride, "stride"),
                                   _count(padding, "padding"))
        if padding >= kernel:
            raise BitpropInputError(f"padding {padding} must be smaller than the kernel "
                                    f"{kernel}", path="padding")
        out_h, out_w = _out_size(height, kernel, stride, padding), _out_size(
            width, kernel, stride, padding)
        name = self._name(name, "conv")
        weights = self._values(weight, (out_channels, channels, kernel, kernel),
                               channels * kernel * kernel, weight_name or f"{name}.weight")
        zero = {"param": f"{name}.zero"}
        biases = [zero] * out_channels if bias is False else self._values(
            bias, (out_channels,), channels * kernel * kernel, bias_name or f"{name}.bias")
        first_edge = len(self._edges)
        out = self._new_layer(name, (out_channels, out_h, out_w), activation)
        for (o, i, j), target in numpy.ndenumerate(out):
            first = True
            for c in range(channels):
                for di in range(kernel):
                    for dj in range(kernel):
                        row, col = i * stride + di - padding, j * stride + dj - padding
                        if 0 <= row < height and 0 <= col < width:
                            self._edges.append((self._layer[c, row, col], target,
                                                weights[o, c, di, dj],
                                                biases[o] if first else zero))
                            first = False
        self._add_zero(name, first_edge)
        self._layer = out
        return self

    def avg_pool(self, kernel, stride=None, *, name=None):
        """Average pooling of a (C, H, W) layer: frozen edges of weight 1/kernel^2 (no
        padding; ``stride`` defaults to ``kernel``)."""
        weight = Fraction(1, _positive(kernel, "kernel") ** 2)
        return self._pool(kernel, stride, self._name(name, "avgpool"),
                          lambda window, target: self._edges.extend(
                              (source, target, weight, 0, _FROZEN) for source in window),
                          "identity")

    def max_pool(self, kernel, stride=None, *, name=None):
        """Max pooling of a (C, H, W) layer, exactly, from ReLU vertices: max(a, b) =
        b + relu(a - b), a window as a balanced tree of pairwise maxes (every edge frozen)."""
        return self._pool(kernel, stride, self._name(name, "maxpool"), self._max_tree,
                          "identity")

    def at(self, layer):
        """Continue from ``layer``, an array of this builder's vertex names (a ``layer``
        property read earlier): for branches and skip connections."""
        layer = numpy.asarray(layer, dtype=object)
        known = self._known()
        for index, vertex in numpy.ndenumerate(layer):
            if vertex not in known:
                raise BitpropInputError(f"{vertex!r} is not a vertex of this builder",
                                        path=f"layer[{', '.join(map(str, index))}]")
        self._layer = layer
        return self

    def add(self, layer, *, name=None):
        """The elementwise sum of the current layer and ``layer`` (same shape): a skip
        connection, identity vertices with two frozen edges of weight 1."""
        other = numpy.asarray(layer, dtype=object)
        if other.shape != self.shape:
            raise BitpropInputError(f"adds a layer of shape {other.shape} to one of shape "
                                    f"{self.shape}", path="add")
        out = self._new_layer(self._name(name, "add"), self.shape, "identity")
        for index, target in numpy.ndenumerate(out):
            self._edges += [(self._layer[index], target, 1, 0, _FROZEN),
                            (other[index], target, 1, 0, _FROZEN)]
        self._layer = out
        return self

    def activate(self, activation, *, name=None):
        """``activation`` applied to every vertex of the current layer (new vertices, each
        with one frozen edge of weight 1); an array of activations broadcasting to the
        layer's shape gives each vertex its own (a PReLU's slope per channel)."""
        per_vertex = isinstance(activation, numpy.ndarray)
        out = self._new_layer(self._name(name, "act"), self.shape,
                              "identity" if per_vertex else activation)
        if per_vertex:
            chosen = numpy.broadcast_to(activation, self.shape)
            for index, target in numpy.ndenumerate(out):
                self._vertices[self._position[target]] = (target, chosen[index])
        for index, target in numpy.ndenumerate(out):
            self._edges.append((self._layer[index], target, 1, 0, _FROZEN))
        self._layer = out
        return self

    def affine(self, scale=1, shift=0, *, shift_name=None, name=None):
        """Elementwise scale * x + shift, ``scale`` and ``shift`` numbers or arrays that
        broadcast to the layer's shape (per channel: shape (C, 1, 1)); frozen constants,
        or with ``shift_name`` the shift's entries are trainable parameters named
        ``shift_name[...]`` in the shift's own shape (and ``scale`` must be 1)."""
        name = self._name(name, "affine")
        scales = self._broadcast(exact_array(scale, f"{name}.scale"), "scale")
        given = exact_array(shift, f"{name}.shift")
        if shift_name is None:
            shifts = self._broadcast(given, "shift")
            one = None
        else:
            if any(s != 1 for s in scales.ravel()):
                raise BitpropInputError("a trainable shift needs scale 1", path="scale")
            shifts = self._broadcast(self._values(given, given.shape, 1, shift_name), "shift")
            one = {"param": f"{name}.one"}
            self._parameters[f"{name}.one"] = {"value": 1, "trainable": False}
        out = self._new_layer(name, self.shape, "identity")
        for index, target in numpy.ndenumerate(out):
            source = self._layer[index]
            if one is None:
                self._edges.append((source, target, scales[index], shifts[index], _FROZEN))
            else:
                self._edges.append((source, target, one, shifts[index]))
        self._layer = out
        return self

    def flatten(self):
        """The current layer as a vector (row-major)."""
        self._layer = self._layer.ravel()
        return self

    def dense(self, width, activation="identity", *, weight=None, bias=None, name=None,
              weight_name=None, bias_name=None, transposed=False):
        """A fully connected layer on a vector: ``weight`` (width, n), ``bias`` (width,) or
        False for none, as parameters ``NAME.weight[i,j]`` and ``NAME.bias[i]`` (or
        ``weight_name[...]``, ``bias_name[...]``). ``transposed``: ``weight`` is given as
        (n, width), x W as in a MatMul, and its parameters are named in that layout."""
        if self._layer.ndim != 1:
            raise BitpropInputError(f"dense needs a vector, not a layer of shape "
                                    f"{self.shape}: call flatten() first", path="dense")
        n = len(self._layer)
        name = self._name(name, "dense")
        weights = self._values(weight, (n, width) if transposed else (width, n), n,
                               weight_name or f"{name}.weight")
        weights = weights.T if transposed else weights
        zero, first_edge = {"param": f"{name}.zero"}, len(self._edges)
        biases = [zero] * width if bias is False else self._values(
            bias, (width,), n, bias_name or f"{name}.bias")
        out = self._new_layer(name, (_positive(width, "width"),), activation)
        for i, target in enumerate(out):
            for j, source in enumerate(self._layer):
                self._edges.append((source, target, weights[i, j], biases[i] if j == 0 else zero))
        self._add_zero(name, first_edge)
        self._layer = out
        return self

    def rnn(self, hidden, activation="relu", *, weight_ih=None, weight_hh=None, bias=None,
            outputs="last", name=None):
        """An Elman RNN on a (T, F) layer, unrolled: h_t = act(W_hh h_(t-1) + W_ih x_t + b)
        for t = 1..T with h_0 = 0; ``weight_ih`` (hidden, F), ``weight_hh`` (hidden, hidden),
        ``bias`` (hidden,), shared by every step. ``outputs``: "last" (h_T, shape (hidden,))
        or "all" (h_1..h_T, shape (T, hidden))."""
        if self._layer.ndim != 2:
            raise BitpropInputError(f"rnn needs a (steps, features) layer, not {self.shape}",
                                    path="rnn")
        if outputs not in ("last", "all"):
            raise BitpropInputError(f"outputs is 'last' or 'all', not {outputs!r}",
                                    path="outputs")
        steps, features = self.shape
        hidden = _positive(hidden, "hidden")
        name = self._name(name, "rnn")
        w_ih = self._values(weight_ih, (hidden, features), hidden, f"{name}.weight_ih")
        if steps > 1:       # h_0 = 0: one step has no recurrent edges to bind W_hh to
            w_hh = self._values(weight_hh, (hidden, hidden), hidden, f"{name}.weight_hh")
        elif weight_hh is not None:
            exact_array(weight_hh, f"{name}.weight_hh", (hidden, hidden))
        biases = self._values(bias, (hidden,), hidden, f"{name}.bias")
        zero, first_edge = {"param": f"{name}.zero"}, len(self._edges)
        states = []
        for t in range(steps):
            state = self._new_layer(f"{name}.h{t + 1}", (hidden,), activation)
            for i, target in enumerate(state):
                for k, source in enumerate(self._layer[t]):
                    self._edges.append((source, target, w_ih[i, k], biases[i] if k == 0 else zero))
                for j, source in enumerate(states[-1] if states else ()):
                    self._edges.append((source, target, w_hh[i, j], zero))
            states.append(state)
        self._add_zero(name, first_edge)
        self._layer = states[-1] if outputs == "last" else numpy.stack(states)
        return self

    # --- helpers -------------------------------------------------------------------------
    def _new_layer(self, name, shape, activation):
        """New vertices ``name[i,j,...]`` (sources when ``activation`` is None), as an array
        of their names."""
        layer = numpy.empty(shape, dtype=object)
        for index in numpy.ndindex(*shape):
            vertex = f"{name}[{','.join(map(str, index))}]"
            layer[index] = vertex
            self._position[vertex] = len(self._vertices)
            self._vertices.append(vertex if activation is None else (vertex, activation))
        return layer

    def _broadcast(self, array, where):
        """``array`` broadcast to the layer's shape; leading axes of size 1 beyond the
        layer's (an ONNX constant's batch axis) are dropped."""
        while array.ndim > self._layer.ndim and array.shape[0] == 1:
            array = array[0]
        try:
            return numpy.broadcast_to(array, self.shape)
        except ValueError:
            raise BitpropInputError(f"shape {array.shape} does not broadcast to the layer's "
                                    f"{self.shape}", path=where) from None

    def _known(self):
        return {vertex if isinstance(vertex, str) else vertex[0] for vertex in self._vertices}

    def _fuse(self, activation):
        """Give the current layer's vertices ``activation`` in place of their identity (for
        a caller that knows nothing else reads them: an ONNX Conv followed by its Relu);
        False, changing nothing, when a vertex is a source or has another activation."""
        positions = [self._position.get(vertex) for vertex in self._layer.ravel()]
        if any(p is None or self._vertices[p] != (self._vertices[p][0], "identity")
               for p in positions):
            return False
        for p in positions:
            self._vertices[p] = (self._vertices[p][0], activation)
        return True

    def _name(self, name, kind):
        if name is not None:
            return name
        self._counts[kind] = self._counts.get(kind, 0) + 1
        return f"{kind}{self._counts[kind]}"

    def _values(self, given, shape, fan_in, prefix):
        """An array of ``shape`` whose entries are shared parameters named
        ``prefix[i,j,...]``: references ``{"param": name}``, their values given (any numbers,
        floats taken exactly) or drawn as float32 from +-1/sqrt(fan_in)."""
        if given is None:
            bound = 1 / math.sqrt(fan_in)
            given = self._rng.uniform(-bound, bound, size=shape).astype(numpy.float32)
        values = exact_array(given, prefix, shape)
        references = numpy.empty(shape, dtype=object)
        for index, value in numpy.ndenumerate(values):
            parameter = f"{prefix}[{','.join(map(str, index))}]"
            if parameter in self._parameters:
                raise BitpropInputError(f"parameter {parameter!r} exists already: give the "
                                        "layer another name", path="name")
            self._parameters[parameter] = value
            references[index] = {"param": parameter}
        return references

    def _add_zero(self, name, first_edge):
        """The layer's frozen zero, the bias of every in-edge that carries no bias, when one
        of the layer's edges (from ``first_edge`` on) uses it."""
        zero = f"{name}.zero"
        if any(type(edge[3]) is dict and edge[3]["param"] == zero
               for edge in self._edges[first_edge:]):
            self._parameters[zero] = {"value": 0, "trainable": False}

    def _image(self, what):
        if self._layer.ndim != 3:
            raise BitpropInputError(f"{what} needs a (channels, height, width) layer, not "
                                    f"{self.shape}", path=what)
        return self.shape

    def _pool(self, kernel, stride, name, connect, activation):
        """A pooling layer: ``connect(window, target)`` adds a window's edges into the
        output vertex ``target``."""
        channels, height, width = self._image("pooling")
        kernel = _positive(kernel, "kernel")
        stride = kernel if stride is None else _positive(stride, "stride")
        if kernel > min(height, width):
            raise BitpropInputError(f"kernel {kernel} is larger than the layer "
                                    f"{height} x {width}", path="kernel")
        out = self._new_layer(name, (channels, _out_size(height, kernel, stride, 0),
                                     _out_size(width, kernel, stride, 0)), activation)
        for (c, i, j), target in numpy.ndenumerate(out):
            window = self._layer[c, i * stride:i * stride + kernel,
                                 j * stride:j * stride + kernel].ravel().tolist()
            connect(window, target)
        self._layer = out
        return self

    def _max_tree(self, window, target):
        """``target`` = max of ``window``: pairs of the current level are reduced by
        max(a, b) = b + relu(a - b) until one is left, the last pair's max being ``target``
        (an identity vertex)."""
        level, made = list(window), 0
        if len(level) == 1:
            self._edges.append((level[0], target, 1, 0, _FROZEN))
        while len(level) > 1:
            merged = []
            for a, b in zip(level[::2], level[1::2]):
                made += 1
                gap = f"{target}.gap{made}"
                top = target if len(level) == 2 else f"{target}.max{made}"
                self._vertices.append((gap, "relu"))
                if top != target:
                    self._vertices.append((top, "identity"))
                self._edges += [(a, gap, 1, 0, _FROZEN), (b, gap, -1, 0, _FROZEN),
                                (b, top, 1, 0, _FROZEN), (gap, top, 1, 0, _FROZEN)]
                merged.append(top)
            level = merged + level[len(merged) * 2:]


def _shape(shape, where):
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if not shape:
        raise BitpropInputError("a shape needs at least one dimension", path=where)
    return tuple(_positive(n, where) for n in shape)


def _positive(n, where):
    if isinstance(n, bool) or not isinstance(n, (int, numpy.integer)) or n < 1:
        raise BitpropInputError(f"must be a positive integer, not {n!r}", path=where)
    return int(n)


def _count(n, where):
    if isinstance(n, bool) or not isinstance(n, (int, numpy.integer)) or n < 0:
        raise BitpropInputError(f"must be an integer >= 0, not {n!r}", path=where)
    return int(n)


def _out_size(size, kernel, stride, padding):
    out = (size + 2 * padding - kernel) // stride + 1
    if out < 1:
        raise BitpropInputError(f"kernel {kernel} does not fit a side of {size} (padding "
                                f"{padding})", path="kernel")
    return out
