"""Dataset: samples (x, y, weight, kind), a loss and a reduction; ``bitprop.dataset/1`` I/O.

L(theta) = sum_i weight_i * sum over output coordinates of l(f(x_i), y_i); ``mean`` divides by
the total weight. ``kind`` ("aux" or "main") records Lemma 3.2's forcing and main samples.
"""

import json
from fractions import Fraction

from .documents import check_keys, check_object
from .errors import BitpropInputError
from .files import write_atomically
from .losses import parse_loss
from .numbers import rational, rational_vector, shown, to_str

FORMAT = "bitprop.dataset/1"
_TOP_KEYS = ("format", "samples", "loss", "reduction")
_SAMPLE_KEYS = ("x", "y", "weight", "kind")
_NPZ_ARRAYS = ("x", "y", "weight")
REDUCTIONS = ("sum", "mean")
SAMPLE_KINDS = ("aux", "main")


class Dataset:
    """Exact samples with labels, weights, a loss and a reduction.

    >>> data = bitprop.Dataset.from_json({
    ...     "samples": [{"x": ["1", "0"], "y": ["5/2"]},
    ...                 {"x": ["2", "1"], "y": ["-1"], "weight": "3"}],
    ...     "loss": {"kind": "square"}, "reduction": "mean"})
    >>> len(data), data.weights, data.total_weight, data.reduction
    (2, [Fraction(1, 1), Fraction(3, 1)], Fraction(4, 1), 'mean')
    """

    def __init__(self, inputs, labels=None, *, loss="square", weights=None, reduction="sum",
                 kinds=None, allow_float=False, file=None):
        """``inputs``: S input vectors (nested lists or a 2-d numpy array); ``labels``: S label
        vectors (default: none, for forward passes only).

        >>> data = bitprop.Dataset([[1, "1/2"], [0, "0.25"]], [[1], [-1]], weights=[1, 3],
        ...                        loss="hinge")
        >>> data.inputs
        [RationalVector([1, 1/2], n=2), RationalVector([0, 1/4], n=2)]
        >>> data.labels[1].tolist(), data.loss
        ([Fraction(-1, 1)], Loss(kind='hinge', index=0, shift=0))
        """
        self.file = file
        self.inputs = _vectors(inputs, "samples", "x", allow_float)
        self.labels = None if labels is None else _vectors(labels, "samples", "y", allow_float)
        if self.labels is not None and len(self.labels) != len(self.inputs):
            raise BitpropInputError(f"{len(self.labels)} label vectors for "
                                    f"{len(self.inputs)} input vectors", path="samples")
        self.weights = [Fraction(1)] * len(self.inputs) if weights is None else [
            rational(w, f"samples[{i}].weight", allow_float=allow_float)
            for i, w in enumerate(weights)]
        if len(self.weights) != len(self.inputs):
            raise BitpropInputError(f"{len(self.weights)} weights for {len(self.inputs)} samples",
                                    path="samples")
        self.kinds = list(kinds) if kinds is not None else [None] * len(self.inputs)
        self.loss = parse_loss(loss)
        if reduction not in REDUCTIONS:
            raise BitpropInputError(f"{shown(reduction)} is not a reduction (sum or mean)",
                                    path="reduction")
        self.reduction = reduction
        if reduction == "mean" and sum(self.weights) == 0:
            raise BitpropInputError("mean reduction needs a non-zero total weight",
                                    path="reduction")

    def __len__(self):
        return len(self.inputs)

    def check_against(self, network):
        """Every x has the network's input length and every y its output length."""
        try:
            for name, vectors, width in (("x", self.inputs, network.num_inputs),
                                         ("y", self.labels or [], network.num_outputs)):
                for i, vector in enumerate(vectors):
                    if len(vector) != width:
                        raise BitpropInputError(
                            f"has {len(vector)} entries but the network has {width} "
                            f"{'inputs' if name == 'x' else 'outputs'}", path=f"samples[{i}].{name}")
        except BitpropInputError as err:
            raise err.at(file=self.file) from None

    @property
    def total_weight(self):
        return sum(self.weights, Fraction(0))

    # --- JSON --------------------------------------------------------------------------
    @classmethod
    def from_json(cls, document, *, file=None, allow_float=False):
        try:
            return cls._from_document(document, file, allow_float)
        except BitpropInputError as err:
            raise err.at(file=file) from None

    @classmethod
    def _from_document(cls, document, file, allow_float, rows=None):
        """The dataset of a parsed document; ``rows`` (inputs, labels, weights, kinds: its
        samples read already, by the C reader) in place of its samples."""
        if isinstance(document, list):  # a bare list of input vectors (for eval)
            return cls(document, allow_float=allow_float, file=file)
        check_object(document, _TOP_KEYS, format=FORMAT, required=("samples",),
                     lists={"samples": "samples"}, or_else="a list of input vectors")
        inputs, labels, weights, kinds = _samples(document["samples"]) if rows is None else rows
        return cls(inputs, labels, loss=document.get("loss", "square"), weights=weights,
                   reduction=document.get("reduction", "sum"), kinds=kinds,
                   allow_float=allow_float, file=file)

    @classmethod
    def load(cls, path, *, allow_float=False, loss="square", reduction="sum"):
        """Read a ``bitprop.dataset/1`` file (``-`` for standard input), or a numpy ``.npz``
        file of arrays ``x``, ``y`` and optionally ``weight`` (see from_numpy), whose loss
        and reduction are ``loss`` and ``reduction`` (a JSON file names its own).

        >>> bitprop.Dataset([["3/2"]], [[1]]).save("data.json")
        >>> bitprop.Dataset.load("data.json").to_json()
        {'format': 'bitprop.dataset/1', 'samples': [{'x': ['3/2'], 'y': ['1']}], 'loss':
        {'kind': 'square'}, 'reduction': 'sum'}
        >>> import numpy
        >>> numpy.savez("data.npz", x=numpy.array([[0.5, 2]], numpy.float32), y=[[1]])
        >>> bitprop.Dataset.load("data.npz").inputs
        [RationalVector([1/2, 2], n=2)]
        """
        if str(path).lower().endswith(".npz"):
            return cls._from_npz(path, loss, reduction)
        from .jsonfiles import load
        return load(path, cls._from_plain_text, cls.from_json, allow_float)

    @classmethod
    def _from_npz(cls, path, loss, reduction):
        """The dataset of a ``.npz`` file (arrays x, y, weight); errors name the file."""
        import io
        import zipfile

        import numpy
        from .jsonfiles import read_bytes
        data, name = read_bytes(path)
        name = str(name)
        if not data.startswith(b"PK"):
            raise BitpropInputError("not a .npz file (not a zip archive)", file=name)
        try:
            with numpy.load(io.BytesIO(data), allow_pickle=False) as arrays:
                for key in arrays.files:
                    if key not in _NPZ_ARRAYS:
                        raise BitpropInputError(f"unknown array {shown(key)} (expected "
                                                f"{', '.join(_NPZ_ARRAYS)})", path=key)
                if "x" not in arrays.files:
                    raise BitpropInputError("missing array 'x'")
                found = {key: arrays[key] for key in arrays.files}
        except BitpropInputError as err:
            raise err.at(file=name) from None
        except (OSError, ValueError, zipfile.BadZipFile) as err:
            raise BitpropInputError(f"not a readable .npz file ({err})", file=name) from None
        return cls.from_numpy(found["x"], found.get("y"), loss=loss, reduction=reduction,
                              weights=found.get("weight"), file=name)

    @classmethod
    def from_numpy(cls, x, y=None, *, loss="square", reduction="sum", weights=None,
                   file=None):
        """Samples from arrays: ``x`` of shape (S, ...), each sample flattened (row-major)
        in the network's input order; ``y`` of shape (S, ...) or (S,) (one output), or
        None; ``weights`` (S,). Floats are taken as their exact binary values, integers
        as integers; NaN and infinities are refused with the array and the index.

        >>> import numpy
        >>> x = numpy.array([[[0.1, 1]], [[2, -3]]], numpy.float32)     # 2 samples of 1 x 2
        >>> data = bitprop.Dataset.from_numpy(x, numpy.array([1, 0]), reduction="mean")
        >>> data.inputs[0].tolist(), data.labels[1].tolist()
        ([Fraction(13421773, 134217728), Fraction(1, 1)], [Fraction(0, 1)])
        >>> bitprop.Dataset.from_numpy([[1, float("inf")]], file="data.npz")
        Traceback (most recent call last):
        ...
        bitprop.errors.BitpropInputError: data.npz: x[0, 1]: inf is not a finite number
        """
        from .arrays import exact_array
        try:
            inputs = _rows(exact_array(x, "x"), "x")
            labels = None if y is None else _rows(exact_array(y, "y"), "y", vector=True)
            if weights is not None:
                weights = exact_array(weights, "weight", (len(inputs),)).tolist()
            return cls(inputs, labels, loss=loss, reduction=reduction, weights=weights,
                       file=file)
        except BitpropInputError as err:
            raise err.at(file=file) from None

    @classmethod
    def _from_plain_text(cls, data, name, allow_float):
        """The dataset of a file whose samples are in plain form, read in C
        (bitprop._plain_json); None for any other file, and for a file with an error, which
        the full reader then names."""
        from ._plain_json import SamplesText
        from .jsonfiles import read_plain
        return read_plain(data, name, b"samples",
                          lambda document, span: SamplesText(data, *span).rows(allow_float),
                          lambda document, rows: cls._from_document(document, name, allow_float,
                                                                    rows))

    def to_json(self):
        samples = []
        for i, x in enumerate(self.inputs):
            sample = {"x": x.strings()}
            if self.labels is not None:
                sample["y"] = self.labels[i].strings()
            if self.weights[i] != 1:
                sample["weight"] = to_str(self.weights[i])
            if self.kinds[i] is not None:
                sample["kind"] = self.kinds[i]
            samples.append(sample)
        return {"format": FORMAT, "samples": samples, "loss": self.loss.to_json(),
                "reduction": self.reduction}

    def save(self, path):
        text = json.dumps(self.to_json(), indent=1) + "\n"
        write_atomically(path, lambda handle: handle.write(text))


def _rows(array, where, vector=False):
    """The samples of an array whose first axis is the samples, each flattened; with
    ``vector`` a 1-d array is one coordinate per sample."""
    if array.ndim == 0 or array.ndim == 1 and not vector:
        raise BitpropInputError(f"has shape {array.shape}; the first axis is the samples, "
                                "then each sample's coordinates", path=where)
    return array.reshape(len(array), -1).tolist()


def _samples(samples):
    """(inputs, labels, weights, kinds) of a document's samples (a list), validated but for
    the numbers; labels None when no sample has a 'y'."""
    inputs, labels, weights, kinds = [], [], [], []
    for i, sample in enumerate(samples):
        where = f"samples[{i}]"
        if not isinstance(sample, dict):
            raise BitpropInputError("a sample is an object with 'x' and 'y'", path=where)
        check_keys(sample, _SAMPLE_KEYS, where)
        if "x" not in sample:
            raise BitpropInputError("a sample needs 'x'", path=where)
        kind = sample.get("kind")
        if kind is not None and kind not in SAMPLE_KINDS:
            raise BitpropInputError(f"{shown(kind)} is not a sample kind (aux or main)",
                                    path=f"{where}.kind")
        inputs.append(sample["x"])
        labels.append(sample.get("y"))
        weights.append(sample.get("weight", 1))
        kinds.append(kind)
    has_labels = [y is not None for y in labels]
    if any(has_labels) and not all(has_labels):
        raise BitpropInputError("a sample needs 'y'", path=f"samples[{has_labels.index(False)}]")
    return inputs, labels if all(has_labels) and labels else None, weights, kinds


def _vectors(values, where, field, allow_float):
    """S vectors (lists, tuples, RationalVectors or rows of a 2-d numpy array) as
    RationalVectors: read-only rows of Fractions whose values the kernels copy in C."""
    if getattr(values, "ndim", 2) != 2:
        raise BitpropInputError(f"expected a 2-dimensional array (samples x coordinates), got "
                                f"shape {values.shape}", path=where)
    if isinstance(values, (str, dict)) or not hasattr(values, "__len__"):
        raise BitpropInputError("expected a list of vectors", path=where)
    return [rational_vector(v, f"{where}[{i}].{field}", allow_float=allow_float)
            for i, v in enumerate(values)]
