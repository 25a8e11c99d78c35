"""python-flint fmpq_mat with the samples as matrix columns: a user's five lines of python-flint.

Forward Z_l = W_l H_(l-1) + b_l 1^T; backward dW_l = D_l H_(l-1)^T, db_l = D_l 1,
G = W_l^T D_l and D_(l-1) = G * sigma'(Z_(l-1)) entrywise (the entrywise steps are Python loops
over fmpq, since fmpq_mat has no entrywise operations).
"""

from . import missing

LABEL = "python-flint fmpq_mat"


def available():
    return missing("flint")


def _matrix(rows):
    import flint
    return flint.fmpq_mat([[flint.fmpq(v.numerator, v.denominator) for v in row] for row in rows])


def prepare(instance):
    """Parameters and data as fmpq_mat: W_l, W_l^T, b_l broadcast to B columns, X^T, Y^T."""
    import flint
    batch = instance.batch
    weights = [_matrix(w) for w in instance.weights]
    return {
        "activation": instance.activation,
        "weights": weights,
        "weights_t": [w.transpose() for w in weights],
        "biases": [_matrix([[b] * batch for b in vector]) for vector in instance.biases],
        "inputs": _matrix(list(zip(*instance.inputs))),
        "labels": _matrix(list(zip(*instance.labels))),
        "ones": flint.fmpq_mat([[1]] * batch),
    }


def compute(state):
    import flint
    fmpq_mat, zero = flint.fmpq_mat, flint.fmpq(0)
    weights, biases, relu = state["weights"], state["biases"], state["activation"] == "relu"
    depth = len(weights)
    hs, zs = [state["inputs"]], []
    for l in range(depth):
        z = weights[l] * hs[-1] + biases[l]
        zs.append(z)
        if l < depth - 1:
            entries = z.entries()
            h = [v if v > 0 else zero for v in entries] if relu else [v * v for v in entries]
            hs.append(fmpq_mat(z.nrows(), z.ncols(), h))
    residual = zs[-1] - state["labels"]
    loss = sum((r * r for r in residual.entries()), zero)
    d = residual * 2
    grads_W, grads_b = [None] * depth, [None] * depth
    for l in range(depth - 1, -1, -1):
        grads_W[l] = d * hs[l].transpose()
        grads_b[l] = d * state["ones"]
        if l > 0:
            g = state["weights_t"][l] * d
            z = zs[l - 1]
            if relu:
                entries = [gj if zj > 0 else zero for gj, zj in zip(g.entries(), z.entries())]
            else:
                entries = [2 * zj * gj for gj, zj in zip(g.entries(), z.entries())]
            d = fmpq_mat(g.nrows(), g.ncols(), entries)
    return loss, grads_W, grads_b


def canonical(raw):
    loss, grads_W, grads_b = raw
    return (loss, [m.tolist() for m in grads_W],
            [[row[0] for row in m.tolist()] for m in grads_b])
