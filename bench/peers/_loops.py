"""Scalar loops over any exact number type: the MLP's forward, loss and backward, one sample at a time.

Shared by the Fraction, gmpy2 and python-flint loop peers: each converts the instance into its
own number type (untimed) and times `forward_backward`. Every operation is one scalar + or *
of the type, so each one canonicalises (a gcd) exactly as a user's loop would.
"""

from operator import mul


def convert(instance, number):
    """The instance's numbers as `number(Fraction)`, with every W_l also stored transposed."""
    def matrix(rows):
        return [[number(v) for v in row] for row in rows]

    weights = [matrix(w) for w in instance.weights]
    return {
        "activation": instance.activation,
        "weights": weights,
        "weights_t": [[list(column) for column in zip(*w)] for w in weights],
        "biases": [[number(v) for v in b] for b in instance.biases],
        "inputs": matrix(instance.inputs),
        "labels": matrix(instance.labels),
        "zero": number(0),
    }


def forward_backward(state):
    """(loss, dL/dW_l, dL/db_l) with sums over the batch, in the state's number type."""
    weights, weights_t, biases = state["weights"], state["weights_t"], state["biases"]
    zero, relu = state["zero"], state["activation"] == "relu"
    depth = len(weights)
    grads_W = [[[zero] * len(row) for row in w] for w in weights]
    grads_b = [[zero] * len(b) for b in biases]
    loss = zero
    for x, y in zip(state["inputs"], state["labels"]):
        # Forward: keep every layer's input h_(l-1) and pre-activation z_l for backward.
        h, hs, zs = x, [], []
        for l in range(depth):
            z = [sum(map(mul, row, h), b) for row, b in zip(weights[l], biases[l])]
            hs.append(h)
            zs.append(z)
            if l < depth - 1:
                h = [v if v > 0 else zero for v in z] if relu else [v * v for v in z]
            else:
                h = z
        residual = [f - t for f, t in zip(h, y)]
        for r in residual:
            loss += r * r
        # Backward: d = dL/dz_l, starting from the square loss's 2 (f - y).
        d = [2 * r for r in residual]
        for l in range(depth - 1, -1, -1):
            h_in, gW, gb = hs[l], grads_W[l], grads_b[l]
            for i, di in enumerate(d):
                gb[i] += di
                row = gW[i]
                for j, hj in enumerate(h_in):
                    row[j] += di * hj
            if l > 0:
                g = [sum(map(mul, column, d), zero) for column in weights_t[l]]
                z = zs[l - 1]
                if relu:
                    d = [gj if zj > 0 else zero for gj, zj in zip(g, z)]
                else:
                    d = [2 * zj * gj for gj, zj in zip(g, z)]
    return loss, grads_W, grads_b
