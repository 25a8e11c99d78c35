"""A micrograd-style scalar autograd over Fraction: build the whole batch's graph, then backward.

Each Value records its operands and the operation; backward visits the graph in reverse
topological order (found iteratively, so depth is not limited by the recursion limit) and
applies each operation's local rule, accumulating into `grad`.
"""

from fractions import Fraction

LABEL = "micrograd-style Fraction"


class Value:
    __slots__ = ("data", "grad", "operands", "op")

    def __init__(self, data, operands=(), op=""):
        self.data = data
        self.grad = 0
        self.operands = operands
        self.op = op

    def __add__(self, other):
        return Value(self.data + other.data, (self, other), "+")

    def __sub__(self, other):
        return Value(self.data - other.data, (self, other), "-")

    def __mul__(self, other):
        return Value(self.data * other.data, (self, other), "*")

    def square(self):
        return Value(self.data * self.data, (self,), "square")

    def relu(self):
        return Value(self.data if self.data > 0 else Fraction(0), (self,), "relu")

    def local_backward(self):
        """Add this node's grad times each local derivative to its operands' grads."""
        op, grad = self.op, self.grad
        if op == "+":
            a, b = self.operands
            a.grad += grad
            b.grad += grad
        elif op == "-":
            a, b = self.operands
            a.grad += grad
            b.grad -= grad
        elif op == "*":
            a, b = self.operands
            a.grad += b.data * grad
            b.grad += a.data * grad
        elif op == "square":
            (a,) = self.operands
            a.grad += 2 * a.data * grad
        elif op == "relu":
            (a,) = self.operands
            if self.data > 0:
                a.grad += grad

    def backward(self):
        """Reverse mode from this node: dself/dself = 1, then every node after its users."""
        self.grad = Fraction(1)
        for node in reversed(topological_order(self)):
            node.local_backward()


def topological_order(root):
    """Every node reachable from root, operands before users (iterative depth-first post-order)."""
    order, seen = [], {id(root)}
    stack = [(root, iter(root.operands))]
    while stack:
        node, operands = stack[-1]
        for operand in operands:
            if id(operand) not in seen:
                seen.add(id(operand))
                stack.append((operand, iter(operand.operands)))
                break
        else:
            stack.pop()
            order.append(node)
    return order


def available():
    return None


def prepare(instance):
    return instance


def compute(instance):
    weights = [[[Value(w) for w in row] for row in matrix] for matrix in instance.weights]
    biases = [[Value(b) for b in vector] for vector in instance.biases]
    depth = len(weights)
    loss = None
    for x, y in zip(instance.inputs, instance.labels):
        h = [Value(v) for v in x]
        for l in range(depth):
            z = []
            for row, b in zip(weights[l], biases[l]):
                acc = b
                for w, v in zip(row, h):
                    acc = acc + w * v
                z.append(acc)
            if l < depth - 1:
                h = [v.relu() for v in z] if instance.activation == "relu" else [v.square() for v in z]
            else:
                h = z
        for f, t in zip(h, y):
            term = (f - Value(t)).square()
            loss = term if loss is None else loss + term
    loss.backward()
    return loss.data, weights, biases


def canonical(raw):
    loss, weights, biases = raw
    grads_W = [[[w.grad for w in row] for row in matrix] for matrix in weights]
    grads_b = [[b.grad for b in vector] for vector in biases]
    return loss, grads_W, grads_b
