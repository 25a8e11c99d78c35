"""Network: the computation DAG of the paper's Section 2, validated once, with JSON in and out.

Every non-source vertex v has an activation sigma_v; every edge (u, v) its own weight w_uv and
bias b_uv; z_v = sum over in-edges of (w_uv f_u + b_uv), plus x_v when v is listed in
``inputs``; f_v = sigma_v(z_v); a source has f_v = x_v. The parameter vector is the edges'
(weight, bias) pairs in edge order. Structure is immutable; ``with_parameters`` gives a copy
with new parameters (sharing the structure and its compiled plan's topology).

Shared parameters: a network may name parameters that several edge coordinates (weights or
biases) are bound to, a convolution's kernel or an RNN's recurrent matrix. Every edge keeps
its own value (all equal within a parameter), so the kernels run as on any network; the
network keeps the map parameter -> coordinates, and bitprop._shared sums their gradients.
"""

import json
from array import array
from dataclasses import dataclass
from fractions import Fraction
from typing import NamedTuple

from . import activations as _act
from .documents import check_keys, check_list, check_object
from .errors import BitpropInputError
from .files import write_atomically
from .numbers import rational, rational_vector, shown, to_str

FORMAT = "bitprop.network/1"
_TOP_KEYS = ("format", "activations", "parameters", "vertices", "edges", "inputs", "outputs")
_VERTEX_KEYS = ("name", "activation")
_EDGE_KEYS = ("from", "to", "weight", "bias", "trainable")
_PARAMETER_KEYS = ("value", "trainable")
_REFERENCE_KEYS = ("param",)
_COORDINATES = ("weight", "bias")       # coordinate 2 e + k of edge e: its _COORDINATES[k]


@dataclass(frozen=True)
class Edge:
    """One edge (u, v) with its own parameters."""

    source: str
    target: str
    weight: Fraction = Fraction(1)
    bias: Fraction = Fraction(0)
    trainable: bool = True


class _EdgeColumns(NamedTuple):
    """Edges read and checked already, as Network keeps them: vertex arrays, weights and
    biases as RationalVectors, trainable flags (what the C reader of a file's plain edges
    fills, _plain_json.EdgesText)."""

    sources: array
    targets: array
    weights: object
    biases: object
    trainable: list


def _parameters(weights, biases, allow_float):
    """(weights, biases) as RationalVectors, parsed into FLINT without a Fraction per edge;
    a bad number raises at its ``edges[e].weight`` or ``.bias``, the first in file order."""
    from ._convert import parse_rationals
    (weight_vector, bad_weight), (bias_vector, bad_bias) = (
        parse_rationals(weights, allow_float), parse_rationals(biases, allow_float))
    if bad_weight < 0 and bad_bias < 0:
        return weight_vector, bias_vector
    if bad_bias < 0 or 0 <= bad_weight <= bad_bias:
        e, key, value = bad_weight, "weight", weights[bad_weight]
    else:
        e, key, value = bad_bias, "bias", biases[bad_bias]
    try:
        rational(value, allow_float=allow_float)
    except BitpropInputError as err:
        raise err.at(path_prefix=f"edges[{e}].{key}") from None
    raise AssertionError(f"edges[{e}].{key}: {value!r} refused, then accepted")


def _dumps(value):
    """JSON text with non-ASCII characters as they are (an escape would send the file to the
    full reader)."""
    return json.dumps(value, ensure_ascii=False)


def _lines(texts):
    """A JSON array of the given item texts, one a line."""
    body = ",\n  ".join(texts)
    return f"[\n  {body}\n ]" if body else "[]"


def _members(mapping):
    """A JSON object of the given members, one a line."""
    body = ",\n  ".join(f"{_dumps(key)}: {_dumps(value)}" for key, value in mapping.items())
    return f"{{\n  {body}\n }}"


class Network:
    """A validated computation DAG with exact rational parameters.

    >>> net = bitprop.Network(["x", ("h", "relu"), ("o", "identity")],
    ...                       [("x", "h", 2, -1), ("h", "o", 3, 0)], inputs=["x"], outputs=["o"])
    >>> net
    <Network: 3 vertices, 2 edges, depth 2, 1 inputs, 1 outputs>
    >>> net.edges[0]
    Edge(source='x', target='h', weight=Fraction(2, 1), bias=Fraction(-1, 1), trainable=True)
    """

    def __init__(self, vertices, edges, inputs, outputs, activations=None, *,
                 parameters=None, allow_float=False):
        """``vertices``: names, ``(name, activation)`` pairs or ``{"name", "activation"}``
        dicts (sources have no activation); ``edges``: Edge objects, ``(u, v, w, b)`` tuples
        or dicts; ``inputs``/``outputs``: vertex names; ``activations``: a table of named
        activations; ``parameters``: shared parameters, name -> value or ``{"value": q,
        "trainable": False}``, which an edge's weight or bias names as ``{"param": name}``.
        Numbers may be anything :func:`bitprop.numbers.rational` accepts.

        >>> net = bitprop.Network(["x", ("h", "relu"), ("o", "identity")],
        ...                       [("x", "h", {"param": "k"}), ("h", "o", {"param": "k"})],
        ...                       ["x"], ["o"], parameters={"k": "1/2"})
        >>> net.parameters, net.parameter_edges
        ({'k': Fraction(1, 2)}, {'k': [(0, 'weight'), (1, 'weight')]})
        """
        self._table = dict(activations or {})
        self._names, self._activation_names, self._activations = [], [], []
        self._index = {}
        for i, vertex in enumerate(vertices):
            self._add_vertex(vertex, f"vertices[{i}]")
        self._parameter_names, self._parameter_trainable, values = _read_parameters(
            parameters, allow_float)
        self._sources, self._targets, self._trainable = [], [], []
        self._weights, self._biases = self._add_edges(edges, allow_float, values)
        self._check_bindings()
        self._sharing = None
        self._tensors = None
        self._trainable_positions = None
        self._fractions = None
        self._inputs = self._vertex_list(inputs, "inputs")
        self._outputs = self._vertex_list(outputs, "outputs", allow_repeats=True)
        self._order, self._depths = _topological_order(self)
        self._check_sources_and_activations()
        self._compiled = None

    # --- construction helpers ----------------------------------------------------------
    def _add_vertex(self, vertex, where):
        if isinstance(vertex, str):
            name, activation = vertex, None
        elif isinstance(vertex, dict):
            check_keys(vertex, _VERTEX_KEYS, where)
            if "name" not in vertex:
                raise BitpropInputError("a vertex needs a 'name'", path=where)
            name, activation = vertex["name"], vertex.get("activation")
        elif isinstance(vertex, (tuple, list)) and len(vertex) == 2:
            name, activation = vertex
        else:
            raise BitpropInputError(f"a vertex is a name or {{\"name\", \"activation\"}}, not "
                                    f"{shown(vertex)}", path=where)
        if not isinstance(name, str) or not name:
            raise BitpropInputError(f"a vertex name is a non-empty string, not {shown(name)}",
                                    path=f"{where}.name")
        if name in self._index:
            raise BitpropInputError(f"duplicate vertex name {shown(name)} (first at vertices"
                                    f"[{self._index[name]}])", path=f"{where}.name")
        self._index[name] = len(self._names)
        self._names.append(name)
        if activation is None:
            self._activation_names.append(None)
            self._activations.append(None)
        else:
            resolved = _act.from_spec(activation, f"{where}.activation", self._table) \
                if not isinstance(activation, _act.Activation) else activation
            self._activation_names.append(activation if isinstance(activation, str) else None)
            self._activations.append(resolved)

    def _add_edges(self, edges, allow_float, values):
        """Read every edge; (weights, biases) as RationalVectors. Edges given as columns
        (_EdgeColumns, from load) are taken as they are; otherwise the numbers are parsed
        together once every edge is read, a bad one reported first if no earlier edge is
        bad. A ``{"param": name}`` weight or bias is bound to that parameter and takes its
        value (one of ``values``, in parameter order)."""
        self._param_ptr, self._param_coords = array("q", [0] * (len(values) + 1)), array("q")
        if isinstance(edges, _EdgeColumns):
            self._sources, self._targets, weights, biases, self._trainable = edges
            return weights, biases
        weights, biases = [], []            # as given
        try:
            self._add_edge_values(edges, weights, biases)
        except BitpropInputError:
            _parameters(*(_unbound(column) for column in (weights, biases)), allow_float)
            raise
        self._sources, self._targets = array("l", self._sources), array("l", self._targets)
        self._bind(weights, biases, values)
        return _parameters(weights, biases, allow_float)

    def _bind(self, weights, biases, values):
        """Replace each ``{"param": name}`` of the weight and bias columns by the parameter's
        value, and record the coordinates of each parameter (CSR, in coordinate order)."""
        numbers = {name: p for p, name in enumerate(self._parameter_names)}
        bound = [[] for _ in numbers]
        for kind, column in enumerate((weights, biases)):
            for e in [e for e, value in enumerate(column) if type(value) is dict]:
                p = _reference(column[e], numbers, f"edges[{e}].{_COORDINATES[kind]}")
                column[e] = values[p]
                bound[p].append(2 * e + kind)
        for p, coords in enumerate(bound):
            coords.sort()
            self._param_coords.extend(coords)
            self._param_ptr[p + 1] = len(self._param_coords)

    def _check_bindings(self):
        """Every parameter is used, and no frozen edge is bound to a trainable parameter."""
        for p, name in enumerate(self._parameter_names):
            first, end = self._param_ptr[p], self._param_ptr[p + 1]
            if first == end:
                raise BitpropInputError(f"parameter {shown(name)} is used by no edge",
                                        path=f"parameters.{name}")
            if not self._parameter_trainable[p]:
                continue
            for c in self._param_coords[first:end]:
                if not self._trainable[c >> 1]:
                    raise BitpropInputError(
                        f"the edge is frozen (trainable: false) but parameter {shown(name)} is "
                        "trainable (give the parameter \"trainable\": false, or unfreeze the "
                        "edge)", path=f"edges[{c >> 1}].{_COORDINATES[c & 1]}")

    def _add_edge_values(self, edges, weights, biases):
        """Read every edge, appending its weight and bias as given. A list of plainly valid
        JSON object edges is read into columns in C; anything else goes edge by edge
        through _edge_fields, which knows every form and error."""
        from ._json import edge_columns
        edges = edges if type(edges) is list else list(edges)
        columns = edge_columns(edges, self._index)
        if columns is not None:
            self._sources, self._targets, plain_weights, plain_biases, self._trainable = columns
            weights.extend(plain_weights)
            biases.extend(plain_biases)
            return
        for i, edge in enumerate(edges):
            u, v, weight, bias, flag = self._edge_fields(edge, f"edges[{i}]")
            self._sources.append(u)
            self._targets.append(v)
            weights.append(weight)
            biases.append(bias)
            self._trainable.append(flag)

    def _edge_fields(self, edge, where):
        """(u, v, weight, bias, trainable) of one edge in any accepted form, validated but
        for the numbers."""
        if isinstance(edge, Edge):
            fields = (edge.source, edge.target, edge.weight, edge.bias, edge.trainable)
        elif isinstance(edge, dict):
            check_keys(edge, _EDGE_KEYS, where)
            for key in ("from", "to"):
                if key not in edge:
                    raise BitpropInputError(f"an edge needs {shown(key)}", path=where)
            fields = (edge["from"], edge["to"], edge.get("weight", 1), edge.get("bias", 0),
                      edge.get("trainable", True))
        elif isinstance(edge, (tuple, list)) and 2 <= len(edge) <= 5:
            fields = tuple(edge) + (1, 0, True)[len(edge) - 2:]
        else:
            raise BitpropInputError(f"an edge is an object with 'from' and 'to', not {shown(edge)}",
                                    path=where)
        source, target, weight, bias, trainable = fields
        u = self._vertex(source, where, "from")
        v = self._vertex(target, where, "to")
        if u == v:
            raise BitpropInputError(f"self-loop at vertex {shown(source)} (the graph must be "
                                    "acyclic)", path=where)
        if not isinstance(trainable, bool):
            raise BitpropInputError(f"trainable is true or false, not {shown(trainable)}",
                                    path=f"{where}.trainable")
        return u, v, weight, bias, trainable

    def _vertex(self, name, where, key=None):
        """The index of vertex ``name`` (read at ``where`` or ``where.key``)."""
        index = self._index.get(name) if isinstance(name, str) else None
        if index is not None:
            return index
        where = f"{where}.{key}" if key else where
        if not isinstance(name, str):
            raise BitpropInputError(f"a vertex name is a string, not {shown(name)}", path=where)
        raise BitpropInputError(f"unknown vertex {shown(name)}", path=where)

    def _vertex_list(self, names, where, allow_repeats=False):
        if not isinstance(names, tuple):
            check_list(names, "vertex names", where)
        indices = [self._vertex(name, f"{where}[{i}]") for i, name in enumerate(names)]
        if not allow_repeats:
            seen = set()
            for i, v in enumerate(indices):
                if v in seen:
                    raise BitpropInputError(f"vertex {shown(self._names[v])} is listed twice",
                                            path=f"{where}[{i}]")
                seen.add(v)
        return indices

    def _check_sources_and_activations(self):
        has_in_edge = set(self._targets)
        injected = set(self._inputs)
        for v, name in enumerate(self._names):
            where = f"vertices[{v}]"
            if v in has_in_edge and self._activations[v] is None:
                raise BitpropInputError(
                    f"vertex {shown(name)} has in-edges and needs an activation "
                    "(e.g. \"identity\")",
                    path=f"{where}.activation")
            if v not in has_in_edge:
                if self._activations[v] is not None:
                    raise BitpropInputError(
                        f"vertex {shown(name)} is a source (no in-edges) and takes no activation",
                        path=f"{where}.activation")
                if v not in injected:
                    raise BitpropInputError(
                        f"vertex {shown(name)} is a source (no in-edges) and must be listed in "
                        "'inputs'", path="inputs")

    # --- JSON --------------------------------------------------------------------------
    @classmethod
    def from_json(cls, document, *, file=None, allow_float=False):
        """A Network from a parsed ``bitprop.network/1`` document; errors name ``file``.

        >>> net = bitprop.Network.from_json({
        ...     "vertices": [{"name": "x"}, {"name": "o", "activation": "square"}],
        ...     "edges": [{"from": "x", "to": "o", "weight": "1/2"}],
        ...     "inputs": ["x"], "outputs": ["o"]})
        >>> net.weights, net.biases
        ([Fraction(1, 2)], [Fraction(0, 1)])
        >>> bitprop.Network.from_json({"vertices": [{"name": "x"}], "inputs": ["x"],
        ...                            "outputs": ["y"]}, file="net.json")
        Traceback (most recent call last):
        ...
        bitprop.errors.BitpropInputError: net.json: outputs[0]: unknown vertex 'y'
        """
        try:
            return cls._from_document(document, allow_float)
        except BitpropInputError as err:
            raise err.at(file=file) from None

    @classmethod
    def _from_document(cls, document, allow_float, edges=None):
        """The network of a parsed document; ``edges`` (_EdgeColumns) in place of the
        document's."""
        check_object(document, _TOP_KEYS, format=FORMAT, required=("vertices", "inputs", "outputs"),
                     lists={"vertices": "vertices", "edges": "edges"})
        table = _act.parse_table(document.get("activations", {}))
        return cls(document["vertices"], document.get("edges", []) if edges is None else edges,
                   document["inputs"], document["outputs"], table,
                   parameters=document.get("parameters"), allow_float=allow_float)

    @classmethod
    def load(cls, path, *, allow_float=False):
        """Read a ``bitprop.network/1`` file (``-`` for standard input).

        >>> net = bitprop.Network.chain(2, "square", weight="1/2")
        >>> net.save("chain.json")
        >>> bitprop.Network.load("chain.json") == net
        True
        """
        from .jsonfiles import load
        return load(path, cls._from_plain_text, cls.from_json, allow_float)

    @classmethod
    def _from_plain_text(cls, data, name, allow_float):
        """The network of a file whose edges are in plain form, their columns read in C
        without an object per edge (bitprop._plain_json); None for any other file, and
        for a file with an error, which the full reader then names."""
        from ._plain_json import EdgesText
        from .jsonfiles import read_plain

        def columns(document, span):
            filled = EdgesText(data, *span).columns(_vertex_numbers(document), allow_float)
            return None if filled is None else _EdgeColumns(*filled)
        return read_plain(data, name, b"edges", columns, lambda document, edges:
                          cls._from_document(document, allow_float, edges))

    def to_json(self):
        """The ``bitprop.network/1`` document of this network (numbers as ``"p/q"``).

        >>> bitprop.Network.chain(1, "relu", weight="3/2").to_json()
        {'format': 'bitprop.network/1', 'vertices': [{'name': 'x'}, {'name': 'v1', 'activation':
        'relu'}], 'edges': [{'from': 'x', 'to': 'v1', 'weight': '3/2', 'bias': '0'}], 'inputs':
        ['x'], 'outputs': ['v1']}
        """
        weights, biases = self._coordinate_values(lambda name: {"param": name})
        edges = []
        for e in range(self.num_edges):
            edge = {"from": self._names[self._sources[e]], "to": self._names[self._targets[e]],
                    "weight": weights[e], "bias": biases[e]}
            if not self._trainable[e]:
                edge["trainable"] = False
            edges.append(edge)
        return self._document(edges)

    def _document(self, edges):
        """The document with ``edges`` as its edges, in the format's key order."""
        vertices = []
        for name, act_name, act in zip(self._names, self._activation_names, self._activations):
            vertex = {"name": name}
            if act is not None:
                vertex["activation"] = act_name if act_name is not None else act.to_json()
            vertices.append(vertex)
        document = {"format": FORMAT}
        if self._table:
            document["activations"] = {name: act._spec() for name, act in self._table.items()}
        if self._parameter_names:
            document["parameters"] = self._parameters_json()
        document.update(vertices=vertices, edges=edges,
                        inputs=[self._names[v] for v in self._inputs],
                        outputs=[self._names[v] for v in self._outputs])
        return document

    def save(self, path):
        """Write a ``bitprop.network/1`` file: UTF-8, a vertex or an edge a line, edges in
        the plain form that load reads in C, printed directly rather than through
        json.dump of to_json, whose dicts are made only to be printed.

        >>> net = bitprop.Network(["x", ("o", "relu")], [("x", "o", "1/2", 1)], ["x"], ["o"])
        >>> net.save("net.json")
        >>> print(open("net.json", encoding="utf-8").read(), end="")
        {
         "format": "bitprop.network/1",
         "vertices": [
          {"name": "x"},
          {"name": "o", "activation": "relu"}
         ],
         "edges": [
          {"from": "x", "to": "o", "weight": "1/2", "bias": "1"}
         ],
         "inputs": [
          "x"
         ],
         "outputs": [
          "o"
         ]
        }
        """
        document = self._document(None)
        items = [f" {_dumps(key)}: " + (self._edges_text() if key == "edges" else
                                       _lines(map(_dumps, value)) if type(value) is list else
                                       _members(value) if key == "parameters" else
                                       _dumps(value))
                 for key, value in document.items()]
        text = "{\n" + ",\n".join(items) + "\n}\n"
        write_atomically(path, lambda handle: handle.write(text))

    def _edges_text(self):
        names = [_dumps(name) for name in self._names]
        weights, biases = self._coordinate_values(lambda name: _dumps({"param": name}),
                                                  lambda text: f'"{text}"')
        frozen = ', "trainable": false'
        return _lines(f'{{"from": {names[u]}, "to": {names[v]}, "weight": {w}, "bias": {b}'
                      f'{"" if t else frozen}}}'
                      for u, v, w, b, t in zip(self._sources, self._targets, weights, biases,
                                               self._trainable))

    def _coordinate_values(self, reference, literal=None):
        """(weights, biases) as written: "p/q" strings (``literal`` of them if given), a
        bound coordinate as ``reference(parameter name)``."""
        columns = [self._weights.strings(), self._biases.strings()]
        if literal is not None:
            columns = [[literal(text) for text in column] for column in columns]
        for p, name in enumerate(self._parameter_names):
            written = reference(name)
            for c in self._param_coords[self._param_ptr[p]:self._param_ptr[p + 1]]:
                columns[c & 1][c >> 1] = written
        return columns

    def _parameters_json(self):
        """The document's ``parameters``: name -> "p/q", or an object when frozen."""
        out = {}
        for p, name in enumerate(self._parameter_names):
            value = _coordinate_string(self, self._param_coords[self._param_ptr[p]])
            out[name] = value if self._parameter_trainable[p] else {"value": value,
                                                                    "trainable": False}
        return out

    # --- parameters --------------------------------------------------------------------
    def with_parameters(self, weights=None, biases=None):
        """A copy with new edge weights and/or biases (sequences in edge order; a
        RationalVector, as a step returns, is taken as it is)."""
        copy = object.__new__(Network)
        copy.__dict__.update(self.__dict__)
        if weights is not None:
            copy._weights = self._parameter_vector(weights, "weights")
        if biases is not None:
            copy._biases = self._parameter_vector(biases, "biases")
        copy._compiled = copy._fractions = None     # made from this network's parameters
        if self._parameter_names:
            copy._check_shared_equal()
        return copy

    def _check_shared_equal(self):
        """Every coordinate of a shared parameter holds the same value."""
        k = self.sharing().first_unequal(self._weights, self._biases)
        if k < 0:
            return
        p = next(p for p in range(len(self._parameter_names)) if self._param_ptr[p + 1] > k)
        c, first = self._param_coords[k], self._param_coords[self._param_ptr[p]]
        kind = _COORDINATES[c & 1]
        raise BitpropInputError(
            f"edges[{c >> 1}].{kind} is {_coordinate_string(self, c)} but parameter "
            f"{shown(self._parameter_names[p])} is {_coordinate_string(self, first)} "
            f"(edges[{first >> 1}].{_COORDINATES[first & 1]}): the coordinates of a shared "
            "parameter are equal", path=f"{kind}s")

    def tensors(self):
        """The model's tensors of shared parameters (bitprop.tensors.tensors), found once.

        >>> [t.name for t in bitprop.Builder((2,)).dense(1, name="fc").network().tensors()]
        ['fc.weight', 'fc.bias']
        """
        if self._tensors is None:
            from .tensors import tensors
            self._tensors = tensors(self)
        return self._tensors

    def sharing(self):
        """The sharing map in C (bitprop._shared.Sharing), built once and kept."""
        if self._sharing is None:
            from ._shared import Sharing
            self._sharing = Sharing(self._param_ptr, self._param_coords,
                                    self._parameter_trainable, self._trainable)
        return self._sharing

    def trainable_positions(self):
        """{name: position} of every trainable shared parameter (positions in the sharing
        map's parameter order), built once and kept: each grad's result reads through it."""
        if getattr(self, "_trainable_positions", None) is None:   # (older pickles lack it)
            self._trainable_positions = {
                name: p for p, name in enumerate(self._parameter_names)
                if self._parameter_trainable[p]}
        return self._trainable_positions

    def _parameter_vector(self, values, where):
        values = rational_vector(values, where)   # a RationalVector is shared, not copied
        if len(values) != self.num_edges:
            raise BitpropInputError(f"{len(values)} values for {self.num_edges} edges",
                                    path=where)
        return values

    def _parameter_fractions(self):
        """(weights, biases) as lists of Fractions, converted from FLINT on first use."""
        if self._fractions is None:
            self._fractions = (list(self._weights), list(self._biases))
        return self._fractions

    # --- read-only views ---------------------------------------------------------------
    names = property(lambda self: list(self._names), doc="Vertex names in file order.")
    weights = property(lambda self: list(self._parameter_fractions()[0]),
                       doc="Edge weights in edge order (Fractions).")
    biases = property(lambda self: list(self._parameter_fractions()[1]),
                      doc="Edge biases in edge order (Fractions).")
    trainable = property(lambda self: list(self._trainable))
    inputs = property(lambda self: [self._names[v] for v in self._inputs])
    outputs = property(lambda self: [self._names[v] for v in self._outputs])
    num_vertices = property(lambda self: len(self._names))
    num_edges = property(lambda self: len(self._weights))
    num_inputs = property(lambda self: len(self._inputs))
    num_outputs = property(lambda self: len(self._outputs))
    depth = property(lambda self: max(self._depths, default=0),
                     doc="Length of the longest path from a source.")

    @property
    def parameters(self):
        """Shared parameters: name -> value (a Fraction), in the order they were given.

        >>> bitprop.Network.chain(2, weight="1/2").parameters
        {}
        """
        columns = self._parameter_fractions()
        firsts = (self._param_coords[self._param_ptr[p]]
                  for p in range(len(self._parameter_names)))
        return {name: columns[c & 1][c >> 1] for name, c in zip(self._parameter_names, firsts)}

    @property
    def parameter_edges(self):
        """Shared parameters: name -> [(edge index, "weight" or "bias"), ...]."""
        return {name: [(c >> 1, _COORDINATES[c & 1]) for c in
                       self._param_coords[self._param_ptr[p]:self._param_ptr[p + 1]]]
                for p, name in enumerate(self._parameter_names)}

    @property
    def parameter_trainable(self):
        """Shared parameters: name -> whether step moves it."""
        return dict(zip(self._parameter_names, self._parameter_trainable))

    @property
    def edges(self):
        weights, biases = self._parameter_fractions()
        return [Edge(self._names[u], self._names[v], w, b, t) for u, v, w, b, t in
                zip(self._sources, self._targets, weights, biases, self._trainable)]

    def activation(self, name):
        """The Activation of vertex ``name`` (None for a source)."""
        return self._activations[self._vertex(name, "name")]

    def vertex_depth(self, name):
        return self._depths[self._vertex(name, "name")]

    def __repr__(self):
        return (f"<Network: {self.num_vertices} vertices, {self.num_edges} edges, "
                f"depth {self.depth}, {self.num_inputs} inputs, {self.num_outputs} outputs>")

    def __eq__(self, other):
        return isinstance(other, Network) and self.to_json() == other.to_json()

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_compiled"] = state["_fractions"] = state["_sharing"] = None   # rebuilt on use
        state["_tensors"] = None
        return state

    # --- evaluation (the work is in bitprop.evaluation) --------------------------------
    def compiled(self):
        """What the kernels run on (bitprop.compiled.Compiled), built once and kept."""
        if self._compiled is None:
            from .compiled import Compiled
            self._compiled = Compiled(self)
        return self._compiled

    def plan(self):
        """The compiled plan (flat FLINT arrays), built once and kept."""
        return self.compiled().plan

    def forward(self, inputs, **options):
        """Exact forward pass: see :func:`bitprop.api.forward`.

        >>> net = bitprop.Network.chain(2, "square", weight="1/2")     # ((x/2)^2 / 2)^2
        >>> net.forward([[2], [3]]).outputs
        [RationalVector([1/4], n=1), RationalVector([81/64], n=1)]
        """
        from .api import forward
        return forward(self, inputs, **options)

    def grad(self, dataset, **options):
        """Exact loss and gradient: see :func:`bitprop.api.grad` (``client=``: on
        a Dask cluster).

        >>> net = bitprop.Network(["x", ("h", "relu"), ("o", "identity")],
        ...                       [("x", "h", 2, -1), ("h", "o", 3, 0)], ["x"], ["o"])
        >>> result = net.grad(bitprop.Dataset([["3/2"]], [[1]]))
        >>> print(result.loss, result.grad_weight.strings(), result.grad_bias.strings())
        25 ['45', '20'] ['30', '10']
        """
        from .api import grad
        return grad(self, dataset, **options)

    def step(self, dataset, lr, steps=1, **options):
        """Exact gradient descent: see :func:`bitprop.api.step` (``client=``: on a
        Dask cluster).

        >>> net = bitprop.Network(["x", ("h", "relu"), ("o", "identity")],
        ...                       [("x", "h", 2, -1), ("h", "o", 3, 0)], ["x"], ["o"])
        >>> trained, losses = net.step(bitprop.Dataset([["3/2"]], [[1]]), "1/100", steps=1)
        >>> losses
        [Fraction(25, 1), Fraction(31329, 10000)]
        >>> trained.weights, trained.biases
        ([Fraction(31, 20), Fraction(14, 5)], [Fraction(-13, 10), Fraction(-1, 10)])
        """
        from .api import step
        return step(self, dataset, lr, steps, **options)

    # --- common shapes -----------------------------------------------------------------
    @classmethod
    def mlp(cls, widths, activation="relu", weights=None, biases=None,
            output_activation="identity", *, allow_float=False):
        """A fully connected network with ``widths = [n_0, ..., n_L]``.

        ``weights[l]`` is the n_(l+1) x n_l matrix of layer l+1 (nested lists or numpy
        arrays), ``biases[l]`` its vector (default 0). Inputs are ``x0..``, hidden units
        ``h{l}_{i}``, outputs ``out{i}``. Unit v's bias sits on its edge from unit 0 of the
        previous layer (0 on the others), so every per-edge bias gradient equals dL/dz_v.

        >>> net = bitprop.Network.mlp([2, 2, 1], "relu",
        ...                           weights=[[[1, -1], [2, "1/2"]], [[1, 3]]],
        ...                           biases=[[0, "1/4"], [1]])
        >>> net.names
        ['x0', 'x1', 'h1_0', 'h1_1', 'out0']
        >>> net.biases
        [Fraction(0, 1), Fraction(0, 1), Fraction(1, 4), Fraction(0, 1), Fraction(1, 1),
         Fraction(0, 1)]
        >>> net.forward([[1, 2]]).outputs[0].tolist()
        [Fraction(43, 4)]
        """
        from .shapes import mlp
        return mlp(cls, widths, activation, weights, biases, output_activation, allow_float)

    @classmethod
    def from_onnx(cls, model, *, file=None):
        """A Network from an ONNX model (a path, bytes or an onnx.ModelProto): see
        bitprop.onnx_import for the ops read; float initializers are taken exactly."""
        from .onnx_import import from_onnx
        return from_onnx(model, file=file)

    @classmethod
    def chain(cls, depth, activation="relu", weight=1, bias=0, output_activation=None):
        """x -> v1 -> ... -> v_depth, every edge with the same (or per-edge listed) weight and
        bias; the output is v_depth."""
        from .shapes import chain
        return chain(cls, depth, activation, weight, bias, output_activation)


def _read_parameters(parameters, allow_float):
    """(names, trainable flags, values) of a network's shared parameters: an object name ->
    a rational or ``{"value": q, "trainable": false}``."""
    if parameters is None:
        return [], [], []
    if not isinstance(parameters, dict):
        raise BitpropInputError(f"expected an object of named parameters, got "
                                f"{shown(parameters)}", path="parameters")
    names, trainable, values = [], [], []
    for name, spec in parameters.items():
        where = f"parameters.{name}"
        if not isinstance(name, str) or not name:
            raise BitpropInputError(f"a parameter name is a non-empty string, not {shown(name)}",
                                    path="parameters")
        flag = True
        if isinstance(spec, dict):
            check_object(spec, _PARAMETER_KEYS, path=where, required=("value",))
            flag = spec.get("trainable", True)
            if not isinstance(flag, bool):
                raise BitpropInputError(f"trainable is true or false, not {shown(flag)}",
                                        path=f"{where}.trainable")
            spec, where = spec["value"], f"{where}.value"
        names.append(name)
        trainable.append(flag)
        values.append(rational(spec, where, allow_float=allow_float))
    return names, trainable, values


def _reference(value, numbers, where):
    """The parameter number of a coordinate written ``{"param": name}``."""
    check_object(value, _REFERENCE_KEYS, path=where, required=("param",))
    name = value["param"]
    if not isinstance(name, str):
        raise BitpropInputError(f"a parameter name is a string, not {shown(name)}",
                                path=f"{where}.param")
    if name not in numbers:
        raise BitpropInputError(f"unknown parameter {shown(name)}", path=f"{where}.param")
    return numbers[name]


def _unbound(column):
    """A column of weights or biases with parameter references as 0: what the check for an
    earlier bad number reads when a later edge is bad."""
    return [0 if type(value) is dict else value for value in column]


def _coordinate_string(network, c):
    """Coordinate c's value as "p/q"."""
    return to_str((network._biases if c & 1 else network._weights)[c >> 1])


def _vertex_numbers(document):
    """name -> vertex of a document's vertices as written (a name, ``{"name": ...}`` or
    ``[name, activation]``), the first kept: where the C reader looks up the names of
    edges. They are the Network's own numbers once its vertices pass their checks, which
    come before any edge is taken."""
    vertices = document.get("vertices") if type(document) is dict else None
    numbers = {}
    for v, vertex in enumerate(vertices if type(vertices) is list else ()):
        name = vertex.get("name") if type(vertex) is dict else \
            vertex[0] if type(vertex) is list and len(vertex) == 2 else vertex
        if type(name) is str:
            numbers.setdefault(name, v)
    return numbers


def _topological_order(network):
    """(order, depths) of the DAG (Kahn's algorithm, in C); a cycle names a vertex on it."""
    from ._plan import topological_order
    order, depths = topological_order(len(network._names), network._sources, network._targets)
    if order is None:
        raise BitpropInputError(f"the graph has a cycle through vertex "
                                f"{shown(network._names[_vertex_on_cycle(network, depths)])}",
                                path="edges")
    return order, depths


def _vertex_on_cycle(network, indegree):
    """Walk back along unfinished predecessors until a vertex repeats: it lies on a cycle."""
    preds = {}
    for u, v in zip(network._sources, network._targets):
        if indegree[u] > 0 and indegree[v] > 0:
            preds.setdefault(v, u)
    v = next(v for v in range(len(indegree)) if indegree[v] > 0 and v in preds)
    seen = set()
    while v not in seen:
        seen.add(v)
        v = preds[v]
    return v
