"""ONNX models in, exactly: each supported node becomes Builder layers, every float initializer
its exact binary value, and anything else is refused with the op's name and node.

The graph has one input of shape (batch, ...) (the batch axis is dropped: a sample's x is the
rest, flattened row-major) and one output; initializers that are weights and biases become
shared parameters named ``INITIALIZER[i,j,...]``. A Relu or LeakyRelu right after the node
that made its input, and read by nothing else, becomes that layer's activation; otherwise it
is a layer of its own. Needs the optional ``onnx`` package (``pip install 'bitprop[onnx]'``).
"""

import math
import os
from fractions import Fraction

import numpy

from .activations import Activation
from .arrays import exact_array
from .builders import Builder
from .errors import BitpropInputError
from .numbers import shown

#: Ops read, and ops taken as the identity at inference.
SUPPORTED = ("Conv", "Gemm", "MatMul", "Add", "Sub", "Mul", "Div", "Relu", "LeakyRelu", "PRelu",
             "MaxPool", "AveragePool", "GlobalAveragePool", "Flatten", "Reshape",
             "BatchNormalization", "Identity", "Dropout")


def from_onnx(model, *, file=None):
    """A Network from an ONNX model (a path, bytes or an ``onnx.ModelProto``); errors name
    ``file`` (or the path) and the node."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise BitpropInputError("reading ONNX needs the onnx package: pip install "
                                "'bitprop[onnx]'", file=file) from None
    if isinstance(model, bytes):
        model = _parse(onnx.load_from_string, model, file)
    elif isinstance(model, (str, os.PathLike)):
        file = file or str(model)
        if not os.path.isfile(model):
            raise BitpropInputError("no such file", file=file)
        model = _parse(onnx.load, model, file)
    try:
        return _Importer(model.graph, numpy_helper).network()
    except BitpropInputError as err:
        raise err.at(file=file) from None


class _Importer:
    """One pass over a graph's nodes in order (ONNX lists them topologically)."""

    def __init__(self, graph, numpy_helper):
        self.graph = graph
        self.constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
        inputs = [i for i in graph.input if i.name not in self.constants]
        if len(inputs) != 1 or len(graph.output) != 1:
            raise BitpropInputError(f"a model with {len(inputs)} inputs and "
                                    f"{len(graph.output)} outputs: bitprop reads one of each",
                                    path="graph")
        shape = _static_shape(inputs[0])
        self.builder = Builder(shape[1:], name=inputs[0].name)
        self.tensors = {inputs[0].name: self.builder.layer}
        self.readers = {}
        for node in graph.node:
            for name in node.input:
                self.readers[name] = self.readers.get(name, 0) + 1
        self.readers[graph.output[0].name] = self.readers.get(graph.output[0].name, 0) + 1
        self.last = None            # the output of the last node that made new vertices

    def network(self):
        for index, node in enumerate(self.graph.node):
            where = f"node {index} ({node.op_type} {node.name!r})" if node.name else \
                f"node {index} ({node.op_type})"
            try:
                self.read(node)
            except BitpropInputError as err:
                raise err.at(path_prefix=where) from None
        output = self.graph.output[0].name
        if output not in self.tensors:
            raise BitpropInputError(f"the output {output!r} is not computed from the input",
                                    path="graph")
        self.builder.at(self.tensors[output])
        return self.builder.network()

    # --- nodes -----------------------------------------------------------------------------
    def read(self, node):
        op = node.op_type
        if op not in SUPPORTED:
            raise BitpropInputError(f"op {op} is not supported (bitprop reads "
                                    f"{', '.join(SUPPORTED)})")
        attributes = {a.name: _attribute(a) for a in node.attribute}
        if op in ("Identity", "Dropout"):
            self.tensors[node.output[0]] = self.vertices(node.input[0])
            return
        if op in ("Relu", "LeakyRelu"):
            return self.activation(node, attributes)
        self.builder.at(self.vertices(self.tensor_input(node)))
        getattr(self, op.lower())(node, attributes)
        self.tensors[node.output[0]] = self.builder.layer
        # a flatten keeps its input's vertices, which another node may read: no fusing
        self.last = None if op in ("Flatten", "Reshape") else node.output[0]

    def conv(self, node, attributes):
        weight = self.constant(node.input[1], "W")
        kernel = weight.shape[2:]
        _expect(attributes, {"kernel_shape": list(kernel), "dilations": [1, 1], "group": 1,
                             "auto_pad": "NOTSET"})
        strides, pads = attributes.get("strides", [1, 1]), attributes.get("pads", [0] * 4)
        if len(kernel) != 2 or kernel[0] != kernel[1] or len(set(strides)) != 1 \
                or len(set(pads)) != 1:
            raise BitpropInputError(f"a 2-d convolution with a square kernel and equal strides "
                                    f"and pads is read, not kernel {list(kernel)}, strides "
                                    f"{strides}, pads {pads}")
        bias = self.constant(node.input[2], "B") if len(node.input) > 2 else False
        self.builder.conv2d(weight.shape[0], kernel[0], strides[0], pads[0], "identity",
                            weight=weight, bias=bias, name=node.output[0],
                            weight_name=node.input[1],
                            bias_name=node.input[2] if len(node.input) > 2 else None)

    def gemm(self, node, attributes):
        _expect(attributes, {"alpha": 1.0, "beta": 1.0, "transA": 0})
        self.flat(node.input[0])
        weight = self.constant(node.input[1], "B")
        if weight.ndim != 2:
            raise BitpropInputError(f"B has shape {weight.shape}, expected a matrix")
        transposed = not attributes.get("transB", 0)
        bias = False
        if len(node.input) > 2:
            bias = self.constant(node.input[2], "C").reshape(-1)
        self.builder.dense(weight.shape[1 if transposed else 0], "identity", weight=weight,
                           bias=bias, name=node.output[0], weight_name=node.input[1],
                           bias_name=node.input[2] if len(node.input) > 2 else None,
                           transposed=transposed)

    def matmul(self, node, attributes):
        self.flat(node.input[0])
        weight = self.constant(node.input[1], "B")
        if weight.ndim != 2:
            raise BitpropInputError(f"B has shape {weight.shape}, expected a matrix")
        self.builder.dense(weight.shape[1], "identity", weight=weight, bias=False,
                           name=node.output[0], weight_name=node.input[1], transposed=True)

    def add(self, node, attributes):
        """A skip connection (two computed tensors), or a trainable bias (an initializer,
        whose entries become parameters)."""
        if all(name in self.tensors for name in node.input):
            self.builder.add(self.vertices(node.input[1]), name=node.output[0])
            return
        constant = self.other_input(node)
        self.builder.affine(shift=self.constant(constant, "B"), shift_name=constant,
                            name=node.output[0])

    def sub(self, node, attributes):
        """x - c or c - x by a constant c (frozen)."""
        constant = self.other_input(node)
        value = self.constant(constant, "B")
        if node.input[0] == constant:
            self.builder.affine(-1, value, name=node.output[0])
        else:
            self.builder.affine(1, -exact_array(value, constant), name=node.output[0])

    def mul(self, node, attributes):
        """x times a constant (frozen)."""
        self.builder.affine(self.constant(self.other_input(node), "B"), name=node.output[0])

    def div(self, node, attributes):
        """x divided by a constant (frozen, non-zero)."""
        constant = self.other_input(node)
        if node.input[0] == constant:
            raise BitpropInputError(f"division by the computed tensor {node.input[1]!r}")
        divisor = exact_array(self.constant(constant, "B"), constant)
        if any(d == 0 for d in divisor.ravel()):
            raise BitpropInputError(f"division by zero in {constant!r}")
        self.builder.affine(1 / divisor, name=node.output[0])

    def prelu(self, node, attributes):
        """A leaky ReLU with the slope constant per vertex (frozen: a PReLU's slope)."""
        slopes = exact_array(self.constant(node.input[1], "slope"), node.input[1])
        activations = numpy.empty(slopes.shape, dtype=object)
        for index, slope in numpy.ndenumerate(slopes):
            activations[index] = Activation.leaky_relu(slope)
        self.builder.activate(self.builder._broadcast(activations, "slope"), name=node.output[0])

    def batchnormalization(self, node, attributes):
        """Inference: scale (x - mean) / sqrt(var + epsilon) + B per channel, folded into a
        frozen affine layer when every sqrt(var + epsilon) is rational; else refused."""
        _expect(attributes, {"training_mode": 0})
        scale, bias, mean, var = (exact_array(self.constant(name, what), name) for name, what
                                  in zip(node.input[1:5], ("scale", "B", "mean", "var")))
        epsilon = Fraction(float(numpy.float32(attributes.get("epsilon", 1e-5))))
        roots = numpy.empty(var.shape, dtype=object)
        for index, v in numpy.ndenumerate(var):
            roots[index] = _rational_sqrt(v + epsilon)
            if roots[index] is None:
                raise BitpropInputError(
                    f"sqrt(var + epsilon) of channel {index[0]} is irrational, and bitprop "
                    "never approximates: fold the normalization into the weights first")
        factor = scale / roots
        shape = (-1,) + (1,) * (self.builder.layer.ndim - 1)
        self.builder.affine(factor.reshape(shape), (bias - factor * mean).reshape(shape),
                            name=node.output[0])

    def reshape(self, node, attributes):
        """Only to (batch, n): a flatten, or to the shape the tensor has already."""
        target = [int(d) for d in self.constant(node.input[1], "shape").ravel()]
        size = self.builder.layer.size
        keeps_batch = bool(target) and target[0] in (-1, 0, 1)
        if len(target) == 2 and keeps_batch and target[1] in (-1, size) and target != [-1, -1]:
            self.builder.flatten()
        elif not (keeps_batch and target[1:] == list(self.builder.shape)):
            raise BitpropInputError(f"a Reshape to {target} is not read (only to (batch, "
                                    f"{size}), a flatten)")

    def maxpool(self, node, attributes):
        kernel, stride = self.pool_window(attributes)
        _expect(attributes, {"ceil_mode": 0, "storage_order": 0})
        self.builder.max_pool(kernel, stride, name=node.output[0])

    def averagepool(self, node, attributes):
        kernel, stride = self.pool_window(attributes)
        _expect(attributes, {"ceil_mode": 0})
        self.builder.avg_pool(kernel, stride, name=node.output[0])

    def globalaveragepool(self, node, attributes):
        _, height, width = self.builder.shape
        if height != width:
            raise BitpropInputError(f"a global average pool of a {height} x {width} layer: "
                                    "only square layers are read")
        self.builder.avg_pool(height, name=node.output[0])

    def flatten(self, node, attributes):
        _expect(attributes, {"axis": 1})
        self.builder.flatten()

    # --- helpers ---------------------------------------------------------------------------
    def activation(self, node, attributes):
        source = node.input[0]
        activation = "relu" if node.op_type == "Relu" else Activation.leaky_relu(
            Fraction(float(numpy.float32(attributes.get("alpha", 0.01)))))
        self.builder.at(self.vertices(source))
        if not (source == self.last and self.readers.get(source) == 1
                and self.builder._fuse(activation)):
            self.builder.activate(activation, name=node.output[0])
        self.tensors[node.output[0]] = self.builder.layer
        self.last = node.output[0]

    def pool_window(self, attributes):
        kernel = attributes.get("kernel_shape", [])
        strides = attributes.get("strides", kernel)
        _expect(attributes, {"pads": [0, 0, 0, 0], "dilations": [1, 1], "auto_pad": "NOTSET"})
        if len(kernel) != 2 or kernel[0] != kernel[1] or len(set(strides)) != 1:
            raise BitpropInputError(f"a square 2-d pooling window with equal strides is read, "
                                    f"not kernel {kernel}, strides {strides}")
        return kernel[0], strides[0]

    def tensor_input(self, node):
        """The computed tensor a node reads (its first such input)."""
        for name in node.input:
            if name in self.tensors:
                return name
        raise BitpropInputError("no input is computed from the model's input")

    def other_input(self, node):
        """The constant operand of a binary node with one computed operand."""
        if len(node.input) != 2:
            raise BitpropInputError(f"{len(node.input)} inputs, expected 2")
        return node.input[1] if node.input[0] in self.tensors else node.input[0]

    def vertices(self, name):
        if name not in self.tensors:
            raise BitpropInputError(f"input {name!r} is a constant or unknown; bitprop reads "
                                    "ops on the model's input")
        return self.tensors[name]

    def flat(self, name):
        """A Gemm's or MatMul's input: a vector per sample (a (batch, n) tensor)."""
        if self.builder.layer.ndim != 1:
            raise BitpropInputError(f"input {name!r} has shape {self.builder.shape} per "
                                    "sample; flatten it first")

    def constant(self, name, what):
        if name not in self.constants:
            raise BitpropInputError(f"{what} {name!r} must be an initializer")
        array = self.constants[name]
        if array.dtype.kind not in "fiu":
            raise BitpropInputError(f"{what} {name!r} has type {array.dtype}")
        return array


def _rational_sqrt(q):
    """The square root of a rational q >= 0 when it is rational, else None."""
    q = Fraction(q)
    if q < 0:
        return None
    p, r = math.isqrt(q.numerator), math.isqrt(q.denominator)
    return Fraction(p, r) if p * p == q.numerator and r * r == q.denominator else None


def _parse(load, source, file):
    """An onnx.ModelProto from a file or bytes; anything unreadable is one named error."""
    try:
        return load(source)
    except Exception as err:    # protobuf's DecodeError, OSError, ...
        raise BitpropInputError(f"not an ONNX model ({type(err).__name__}: {err})",
                                file=file) from None


def _expect(attributes, defaults):
    """Refuse an attribute that differs from the only value bitprop reads."""
    for key, value in defaults.items():
        if key in attributes and attributes[key] != value:
            raise BitpropInputError(f"attribute {key} = {shown(attributes[key])} is not "
                                    f"supported (only {shown(value)})")


def _attribute(attribute):
    from onnx import helper
    value = helper.get_attribute_value(attribute)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return list(value) if isinstance(value, (list, tuple)) or type(value).__name__ in (
        "RepeatedScalarContainer",) else value


def _static_shape(value_info):
    dims = value_info.type.tensor_type.shape.dim
    shape = []
    for axis, dim in enumerate(dims):
        if dim.HasField("dim_value"):
            shape.append(dim.dim_value)
        elif axis == 0:
            shape.append(1)         # the batch axis may be symbolic
        else:
            raise BitpropInputError(f"input {value_info.name!r} has a symbolic axis {axis} "
                                    f"({dim.dim_param!r}): bitprop needs a fixed shape",
                                    path="graph")
    if len(shape) < 2:
        raise BitpropInputError(f"input {value_info.name!r} has shape {shape}: expected "
                                "(batch, ...)", path="graph")
    return shape
