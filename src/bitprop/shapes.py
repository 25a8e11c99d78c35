"""Constructors for the common network shapes: fully connected MLPs and chains."""

from .errors import BitpropInputError
from .numbers import rational


def _matrix(values, rows, cols, where, allow_float):
    """A rows x cols matrix (nested lists or a 2-d numpy array) as lists of Fractions."""
    shape = getattr(values, "shape", None)
    if shape is not None and tuple(shape) != (rows, cols):
        raise BitpropInputError(f"has shape {tuple(shape)}, expected ({rows}, {cols})", path=where)
    if len(values) != rows:
        raise BitpropInputError(f"has {len(values)} rows, expected {rows}", path=where)
    matrix = []
    for i, row in enumerate(values):
        if len(row) != cols:
            raise BitpropInputError(f"has {len(row)} columns, expected {cols}",
                                    path=f"{where}[{i}]")
        matrix.append([rational(x, f"{where}[{i}][{j}]", allow_float=allow_float)
                       for j, x in enumerate(row)])
    return matrix


def _layer_names(widths):
    last = len(widths) - 1
    names = []
    for layer, width in enumerate(widths):
        prefix = "x" if layer == 0 else "out" if layer == last else f"h{layer}_"
        names.append([f"{prefix}{i}" for i in range(width)])
    return names


def mlp(cls, widths, activation, weights, biases, output_activation, allow_float):
    widths = [int(w) for w in widths]
    if len(widths) < 2 or min(widths) < 1:
        raise BitpropInputError(f"widths {widths} need at least two layers of width >= 1",
                                path="widths")
    layers = len(widths) - 1
    if weights is None or len(weights) != layers:
        raise BitpropInputError(f"need {layers} weight matrices", path="weights")
    if biases is not None and len(biases) != layers:
        raise BitpropInputError(f"need {layers} bias vectors", path="biases")
    names = _layer_names(widths)
    vertices = list(names[0])
    edges = []
    for layer in range(1, layers + 1):
        act = output_activation if layer == layers else activation
        vertices += [(name, act) for name in names[layer]]
        w = _matrix(weights[layer - 1], widths[layer], widths[layer - 1],
                    f"weights[{layer - 1}]", allow_float)
        b = [0] * widths[layer] if biases is None else [
            rational(x, f"biases[{layer - 1}][{i}]", allow_float=allow_float)
            for i, x in enumerate(biases[layer - 1])]
        if len(b) != widths[layer]:
            raise BitpropInputError(f"has {len(b)} entries, expected {widths[layer]}",
                                    path=f"biases[{layer - 1}]")
        for i, target in enumerate(names[layer]):
            for j, source in enumerate(names[layer - 1]):
                edges.append((source, target, w[i][j], b[i] if j == 0 else 0))
    return cls(vertices, edges, names[0], names[-1])


def chain(cls, depth, activation, weight, bias, output_activation):
    """x -> v1 -> ... -> v_depth; ``weight``/``bias`` a number or a list of ``depth`` numbers."""
    if depth < 1:
        raise BitpropInputError(f"depth must be >= 1, not {depth}", path="depth")
    weights = weight if isinstance(weight, (list, tuple)) else [weight] * depth
    biases = bias if isinstance(bias, (list, tuple)) else [bias] * depth
    if len(weights) != depth or len(biases) != depth:
        raise BitpropInputError(f"need {depth} weights and biases", path="weight")
    names = ["x"] + [f"v{i}" for i in range(1, depth + 1)]
    vertices = [names[0]] + [(name, activation) for name in names[1:]]
    if output_activation is not None:
        vertices[-1] = (names[-1], output_activation)
    edges = [(names[i], names[i + 1], weights[i], biases[i]) for i in range(depth)]
    return cls(vertices, edges, [names[0]], [names[-1]])
