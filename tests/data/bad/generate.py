"""Writes the bad-input corpus: tests/data/bad/<reader>/<case>.<ext> and MANIFEST.json.

Run ``python3 tests/data/bad/generate.py`` after adding a case; tests/test_bad_inputs.py walks
MANIFEST.json. Every case is one malformed file, the command that reads it and the substrings
its one-line error must contain (the JSON path or line, and the problem). Placeholders in a
command: ``{case}`` the case file, ``{good}`` tests/data/good (valid companions), ``{tmp}`` a
scratch directory, ``{contents}`` the file's text without trailing newlines (``"$(cat f)"``).

A case may carry ``"xfail"``: a known bug of a reader owned elsewhere (the test expects it to
fail until the reader is fixed, and then tells that the marker must go).
"""

import copy
import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
GOOD = HERE.parent / "good"
MILLION = 10 ** 6          # digits of the huge numbers in malformed positions
ARGV_SAFE = 100_000        # digits that still fit one command-line argument (128 KiB)

NETWORK = {
    "format": "bitprop.network/1",
    "activations": {"sigma": {"kind": "polynomial", "coefficients": ["0", "0", "1"]}},
    "vertices": [{"name": "x0"}, {"name": "x1"}, {"name": "h", "activation": "relu"},
                 {"name": "s", "activation": "sigma"}, {"name": "out", "activation": "identity"}],
    "edges": [{"from": "x0", "to": "h", "weight": "3/2", "bias": "-1"},
              {"from": "x1", "to": "h", "weight": "1/2"},
              {"from": "h", "to": "s", "weight": "1", "bias": "0"},
              {"from": "s", "to": "out", "weight": "2", "bias": "0", "trainable": False}],
    "inputs": ["x0", "x1"],
    "outputs": ["out"],
}
DATASET = {"format": "bitprop.dataset/1",
           "samples": [{"x": ["1", "0"], "y": ["5/2"]}, {"x": ["2", "1"], "y": ["-1"], "weight": "3"}],
           "loss": {"kind": "square"}, "reduction": "sum"}
SLP = {"format": "bitprop.slp/1", "constant": "1", "ops": [["+", 0, 0], ["*", 1, 1], ["-", 2, 0]]}
SLP_TEXT = "# (1 + 1)^2 - 1 = 3\nx0 = 1\nx1 = x0 + x0\nx2 = x1 * x1\nx3 = x2 - x0\n"
INSTANCE = {"format": "bitprop.instance/1", "problem": "backprop-sign", "network": NETWORK,
            "dataset": DATASET, "query": {"edge": 0, "coordinate": "weight", "bit": None},
            "threshold": "0", "gap": None,
            "source": {"slp": SLP, "question": "pos", "bit": None,
                       "relation": "sign(dL/dtheta) = sign(x_n)"}}

NET_EVAL = ["eval", "{case}", "--input", "{good}/inputs.json"]
NET_GRAD = ["grad", "{case}", "{good}/dataset.json"]
NET_STEP = ["step", "{case}", "{good}/dataset.json", "--lr", "1/8", "-o", "{tmp}/out.json"]
DATA_GRAD = ["grad", "{good}/network.json", "{case}"]
DATA_STEP = ["step", "{good}/network.json", "{case}", "--lr", "1/8", "-o", "{tmp}/out.json"]
INPUT_EVAL = ["eval", "{good}/network.json", "--input", "{case}"]
SLP_EVAL = ["slp", "eval", "{case}"]
SLP_BNSLP = ["slp", "bnslp", "{case}", "-o", "{tmp}/bn.json"]
GADGET = ["gadget", "--sigma", "{contents}"]
SOLVE = ["solve", "{case}"]

CASES = []


def case(reader, name, content, command, *expect, xfail=None, names_file=True):
    """Register one case; ``content`` is a JSON value (dict/list/...), str or bytes."""
    ext = {"slp_text": "slp", "polynomial": "txt"}.get(reader, "json")
    CASES.append({"reader": reader, "name": name, "file": f"{reader}/{name}.{ext}",
                  "content": content, "command": command, "expect": list(expect),
                  "names_file": names_file, "xfail": xfail})


def edit(document, change):
    """A deep copy of ``document`` after ``change(copy)``."""
    doc = copy.deepcopy(document)
    change(doc)
    return doc


def put(document, path, value):
    """A copy of ``document`` with ``path`` (a tuple of keys/indices) set to ``value``."""
    def change(doc):
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return edit(document, change)


def drop(document, path):
    def change(doc):
        target = doc
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
    return edit(document, change)


def raw(document, old, new):
    """The JSON text of ``document`` with ``old`` (a unique fragment) replaced by ``new``."""
    text = json.dumps(document)
    assert text.count(old) == 1, old
    return text.replace(old, new)


def deep(depth, opener="[", closer="]"):
    return opener * depth + closer * depth


# --- JSON text, encodings: the same file-level problems for every JSON reader ------------

def file_level(reader, command, document):
    text = json.dumps(document, indent=1)
    case(reader, "empty", "", command, "not valid JSON", "line 1 column 1")
    case(reader, "whitespace_only", " \n\t\n", command, "not valid JSON")
    case(reader, "truncated", text[:len(text) // 2], command, "not valid JSON")
    case(reader, "trailing_comma", text[:-2] + ",\n}", command, "not valid JSON",
         "enclosed in double quotes")
    case(reader, "single_quotes", text.replace('"', "'"), command, "not valid JSON")
    case(reader, "comment", "// written by hand\n" + text, command, "not valid JSON", "line 1")
    case(reader, "two_documents", text + "\n" + text, command, "not valid JSON", "Extra data")
    case(reader, "utf8_bom", b"\xef\xbb\xbf" + text.encode(), command, "UTF-8 byte-order mark")
    case(reader, "utf16_bom", text.encode("utf-16"), command, "UTF-16 byte-order mark")
    case(reader, "utf16le_no_bom", text.encode("utf-16-le"), command, "not valid JSON")
    case(reader, "latin1", text.replace('"format"', '"f\u00f6rmat"').encode("latin-1"), command,
         "not UTF-8 text", "invalid start byte")
    noise = random.Random(f"{reader}-garbage")
    garbage = bytes([0xff, 0xfe, 0xfd]) + bytes(noise.randrange(256) for _ in range(509))
    case(reader, "binary_garbage", b"\x89PNG" + garbage, command, "not UTF-8 text")
    case(reader, "nul_bytes", b"\x00" * 64, command, "not valid JSON")
    case(reader, "deep_array_100000", deep(100_000), command, "JSON nested too deeply")
    case(reader, "deep_object_100000", '{"a":' * 100_000 + "1" + "}" * 100_000, command,
         "JSON nested too deeply")
    case(reader, "top_level_string", '"hello"', command, "JSON object")
    case(reader, "top_level_null", "null", command, "JSON object")


# --- network ------------------------------------------------------------------------------

def network_cases():
    N = NETWORK
    file_level("network", NET_EVAL, N)
    case("network", "top_level_list", [N], NET_EVAL,
         "expected a JSON object (bitprop.network/1), got [")
    case("network", "nan_weight", raw(N, '"3/2"', "NaN"), NET_EVAL, "NaN is not a number")
    case("network", "infinity_bias", raw(N, '"-1"', "-Infinity"), NET_EVAL,
         "-Infinity is not a number")
    case("network", "duplicate_top_key", raw(N, '"outputs": ["out"]',
                                             '"outputs": ["out"], "outputs": ["h"]'),
         NET_EVAL, "outputs: duplicate key 'outputs'")
    case("network", "duplicate_edge_key", raw(N, '"weight": "3/2"', '"weight": "3/2", "weight": "2"'),
         NET_EVAL, "edges[0].weight: duplicate key 'weight'")
    case("network", "lone_surrogate_name", raw(N, '"name": "h"', '"name": "h\\ud800"'), NET_EVAL,
         "vertices[2].name: ", "lone surrogate")
    case("network", "unknown_top_key", put(N, ("vertex",), []), NET_EVAL, "vertex: unknown key 'vertex'")
    case("network", "unknown_key_with_line_break", put(N, ("out\nputs",), ["out"]), NET_EVAL,
         "out\\nputs: unknown key 'out\\nputs'")
    case("network", "format_wrong", put(N, ("format",), "bitprop.network/2"), NET_EVAL,
         "format: ", "expected 'bitprop.network/1'")
    case("network", "format_number", put(N, ("format",), 1), NET_GRAD, "format: format is 1")
    case("network", "format_dataset", put(N, ("format",), "bitprop.dataset/1"), NET_STEP,
         "format: format is 'bitprop.dataset/1'")
    for key in ("vertices", "inputs", "outputs"):
        case("network", f"missing_{key}", drop(N, (key,)), NET_EVAL, f"missing key '{key}'")
    case("network", "vertices_object", put(N, ("vertices",), {"x0": {}}), NET_EVAL,
         "vertices: expected a list of vertices, got {")
    case("network", "edges_string", put(N, ("edges",), "x0->h"), NET_EVAL, "edges: expected a list of edges")
    case("network", "vertex_number", put(N, ("vertices", 0), 0), NET_EVAL,
         "vertices[0]: a vertex is a name")
    case("network", "vertex_null", put(N, ("vertices", 1), None), NET_EVAL,
         "vertices[1]: a vertex is a name")
    case("network", "vertex_missing_name", put(N, ("vertices", 2), {"activation": "relu"}),
         NET_EVAL, "vertices[2]: a vertex needs a 'name'")
    case("network", "vertex_name_empty", put(N, ("vertices", 2, "name"), ""), NET_EVAL,
         "vertices[2].name: ", "non-empty string")
    case("network", "vertex_name_number", put(N, ("vertices", 2, "name"), 7), NET_EVAL,
         "vertices[2].name: ", "not 7")
    case("network", "vertex_unknown_key", put(N, ("vertices", 2, "bias"), "1"), NET_EVAL,
         "vertices[2].bias: unknown key 'bias'")
    case("network", "duplicate_vertex_name", put(N, ("vertices", 4, "name"), "h"), NET_EVAL,
         "vertices[4].name: duplicate vertex name 'h' (first at vertices[2])")
    case("network", "duplicate_vertex_name_100000_chars",
         edit(N, lambda d: d["vertices"].extend([{"name": "v" * ARGV_SAFE}] * 2)), NET_EVAL,
         "vertices[6].name: duplicate vertex name 'vvvv", "(100000 characters)")
    case("network", "activation_unknown", put(N, ("vertices", 2, "activation"), "tanh"), NET_EVAL,
         "vertices[2].activation: unknown activation 'tanh'")
    case("network", "activation_number", put(N, ("vertices", 2, "activation"), 3), NET_EVAL,
         "vertices[2].activation: an activation is a name or an object, not 3")
    case("network", "activation_kind_list", put(N, ("vertices", 2, "activation"), {"kind": ["relu"]}),
         NET_EVAL, "vertices[2].activation.kind: unknown activation kind ['relu']")
    case("network", "activation_kind_object", put(N, ("activations", "sigma", "kind"), {}),
         NET_EVAL, "activations.sigma.kind: unknown activation kind {}")
    case("network", "activation_missing_kind", put(N, ("vertices", 2, "activation"), {}), NET_EVAL,
         "vertices[2].activation.kind: unknown activation kind None")
    case("network", "activation_unknown_field",
         put(N, ("vertices", 2, "activation"), {"kind": "relu", "slope": "1/2"}), NET_EVAL,
         "vertices[2].activation.slope: unknown key 'slope' for a relu activation")
    case("network", "leaky_missing_slope",
         put(N, ("vertices", 2, "activation"), {"kind": "leaky_relu"}), NET_EVAL,
         "vertices[2].activation: a leaky_relu activation needs 'slope'")
    case("network", "leaky_slope_zero_denominator",
         put(N, ("vertices", 2, "activation"), {"kind": "leaky_relu", "slope": "1/0"}), NET_GRAD,
         "vertices[2].activation.slope: '1/0' has a zero denominator")
    case("network", "polynomial_no_coefficients", put(N, ("activations", "sigma", "coefficients"), []),
         NET_EVAL, "activations.sigma.coefficients: ", "at least one coefficient")
    case("network", "polynomial_coefficients_text_bad",
         put(N, ("activations", "sigma", "coefficients"), "z^^2"), NET_EVAL,
         "activations.sigma.coefficients: ", "unexpected '^' at column 3")
    case("network", "polynomial_coefficient_float",
         put(N, ("activations", "sigma", "coefficients"), ["0", 0.1, "1"]), NET_EVAL,
         "activations.sigma.coefficients[1]: 0.1 is a float")
    case("network", "polynomial_exponent_million_digits",
         put(N, ("activations", "sigma", "coefficients"), "z^" + "9" * MILLION), NET_EVAL,
         "activations.sigma.coefficients: ", "degree", "beyond the limit of 1000")
    case("network", "piecewise_breakpoints_unsorted",
         put(N, ("activations", "sigma"), {"kind": "piecewise_linear", "breakpoints": ["1", "0"],
                                           "slopes": ["0", "1", "2"], "intercepts": ["0", "0", "0"]}),
         NET_EVAL, "activations.sigma.breakpoints[1]: ", "increase strictly")
    case("network", "piecewise_slopes_count",
         put(N, ("activations", "sigma"), {"kind": "piecewise_linear", "breakpoints": ["0"],
                                           "slopes": ["1"], "intercepts": ["0", "0"]}),
         NET_EVAL, "activations.sigma.slopes: 1 breakpoints need 2 slopes, got 1")
    rounded = {"kind": "rounded", "inner": "relu", "bits": 3}
    case("network", "rounded_bits_string", put(N, ("activations", "sigma"), {**rounded, "bits": "3"}),
         NET_EVAL, "activations.sigma.bits: '3' is not a number of bits")
    case("network", "rounded_bits_negative", put(N, ("activations", "sigma"), {**rounded, "bits": -1}),
         NET_EVAL, "activations.sigma.bits: -1 is not a number of bits")
    case("network", "rounded_bits_million_digits",
         raw(put(N, ("activations", "sigma"), rounded), '"bits": 3', '"bits": ' + "7" * MILLION),
         NET_EVAL, "activations.sigma.bits: 777777777777...77777777 (1000000 digits) is not a "
         "number of bits")
    case("network", "rounded_mode_unknown", put(N, ("activations", "sigma"), {**rounded, "mode": "up"}),
         NET_EVAL, "activations.sigma.mode: 'up' is not a rounding mode")
    case("network", "rounded_backward_unknown",
         put(N, ("activations", "sigma"), {**rounded, "backward": "straight"}), NET_EVAL,
         "activations.sigma.backward: 'straight' is not a backward rule")
    case("network", "rounded_clip_reversed",
         put(N, ("activations", "sigma"), {**rounded, "clip": ["1", "-1"]}), NET_EVAL,
         "activations.sigma.clip: clip must be [lo, hi] with lo <= hi")
    case("network", "rounded_inner_number", put(N, ("activations", "sigma"), {**rounded, "inner": 5}),
         NET_EVAL, "activations.sigma.inner: an activation is a name or an object, not 5")
    nested = "relu"
    for _ in range(40):
        nested = {"kind": "rounded", "inner": nested, "bits": 2}
    case("network", "rounded_nested_40_deep", put(N, ("activations", "sigma"), nested), NET_EVAL,
         "activations.sigma.inner.inner", "rounded activations nested more than 32 deep")
    chain = {"r0": rounded}
    for i in range(1, 40):
        chain[f"r{i}"] = {"kind": "rounded", "inner": f"r{i - 1}", "bits": 2}
    case("network", "rounded_table_chain_40_deep", put(N, ("activations",), chain), NET_EVAL,
         "activations.r32.inner: rounded activations nested 33 deep, beyond the limit of 32")
    case("network", "table_not_object", put(N, ("activations",), [["sigma", "z^2"]]), NET_EVAL,
         "activations: must be an object")
    case("network", "table_redefines_builtin", put(N, ("activations", "relu"), {"kind": "identity"}),
         NET_EVAL, "activations.relu: 'relu' is a built-in activation")
    case("network", "table_self_reference", put(N, ("activations", "sigma"), {**rounded, "inner": "sigma"}),
         NET_EVAL, "activations.sigma.inner: unknown activation 'sigma'")
    case("network", "edge_number", put(N, ("edges", 0), 12), NET_EVAL,
         "edges[0]: an edge is an object with 'from' and 'to', not 12")
    case("network", "edge_missing_to", drop(N, ("edges", 1, "to")), NET_EVAL,
         "edges[1]: an edge needs 'to'")
    case("network", "edge_missing_from", drop(N, ("edges", 2, "from")), NET_EVAL,
         "edges[2]: an edge needs 'from'")
    case("network", "edge_to_unknown_vertex", put(N, ("edges", 2, "to"), "hh"), NET_GRAD,
         "edges[2].to: unknown vertex 'hh'")
    case("network", "edge_from_unknown_vertex", put(N, ("edges", 3, "from"), "S"), NET_EVAL,
         "edges[3].from: unknown vertex 'S'")
    case("network", "edge_from_number", put(N, ("edges", 0, "from"), 0), NET_EVAL,
         "edges[0].from: a vertex name is a string, not 0")
    case("network", "edge_unknown_key", edit(N, lambda d: d["edges"][0].update(wieght="2")),
         NET_EVAL, "edges[0].wieght: unknown key 'wieght'")
    case("network", "self_loop", put(N, ("edges", 2, "to"), "h"), NET_EVAL,
         "edges[2]: self-loop at vertex 'h'")
    case("network", "cycle_two", edit(N, lambda d: d["edges"].append({"from": "s", "to": "h"})),
         NET_EVAL, "edges: the graph has a cycle through vertex")
    case("network", "cycle_three", edit(N, lambda d: d["edges"].append({"from": "out", "to": "h"})),
         NET_GRAD, "edges: the graph has a cycle through vertex")
    case("network", "trainable_string", put(N, ("edges", 3, "trainable"), "no"), NET_EVAL,
         "edges[3].trainable: trainable is true or false, not 'no'")
    for name, value, problem in [
            ("zero_denominator", "1/0", "'1/0' has a zero denominator"),
            ("double_minus", "--3", "'--3' is not a rational"),
            ("float", 0.1, "0.1 is a float"),
            ("float_overflowing_double", "1e400", None),
            ("boolean", True, "True is a boolean, not a number"),
            ("null", None, "None of type NoneType is not a rational number"),
            ("list", ["3/2"], "['3/2'] of type list is not a rational number"),
            ("empty_string", "", "'' is not a rational"),
            ("word_nan", "nan", "'nan' is not a rational"),
            ("word_infinity", "Infinity", "'Infinity' is not a rational"),
            ("unicode_digits", "\u0661\u0662", "is not a rational"),
            ("leading_space", " 1", "' 1' is not a rational"),
            ("negative_denominator", "1/-2", "'1/-2' is not a rational"),
            ("two_slashes", "1/2/3", "'1/2/3' is not a rational"),
            ("decimal_fraction", "1.5/2", "'1.5/2' is not a rational"),
            ("hexadecimal", "0x10", "'0x10' is not a rational"),
            ("exponent_too_large", "1e1000001", "exponent '1000001', beyond the limit of 1000000"),
            ("million_digit_zero_denominator", "7/" + "0" * MILLION,
             "has a zero denominator"),
            ("million_digit_exponent", "1e" + "9" * MILLION, "beyond the limit of 1000000")]:
        if value == "1e400":
            case("network", "weight_float_overflowing_double", raw(N, '"3/2"', "1e400"), NET_EVAL,
                 "edges[0].weight: 1e400 is a float")
            continue
        case("network", f"weight_{name}", put(N, ("edges", 0, "weight"), value),
             NET_EVAL if len(CASES) % 2 else NET_GRAD, "edges[0].weight: ", problem)
    case("network", "bias_zero_denominator", put(N, ("edges", 2, "bias"), "-5/0"), NET_STEP,
         "edges[2].bias: '-5/0' has a zero denominator")
    case("network", "source_with_activation", put(N, ("vertices", 0, "activation"), "relu"),
         NET_EVAL, "vertices[0].activation: vertex 'x0' is a source")
    case("network", "inner_vertex_without_activation", drop(N, ("vertices", 2, "activation")),
         NET_EVAL, "vertices[2].activation: vertex 'h' has in-edges and needs an activation")
    case("network", "source_not_in_inputs", put(N, ("inputs",), ["x0"]), NET_EVAL,
         "inputs: vertex 'x1' is a source (no in-edges) and must be listed in 'inputs'")
    case("network", "inputs_string", put(N, ("inputs",), "x0 x1"), NET_EVAL,
         "inputs: expected a list of vertex names, got 'x0 x1'")
    case("network", "inputs_listed_twice", put(N, ("inputs",), ["x0", "x1", "x0"]), NET_EVAL,
         "inputs[2]: vertex 'x0' is listed twice")
    case("network", "inputs_unknown_vertex", put(N, ("inputs",), ["x0", "x2"]), NET_EVAL,
         "inputs[1]: unknown vertex 'x2'")
    case("network", "outputs_unknown_vertex", put(N, ("outputs",), ["output"]), NET_EVAL,
         "outputs[0]: unknown vertex 'output'")
    case("network", "outputs_number", put(N, ("outputs",), [4]), NET_EVAL,
         "outputs[0]: a vertex name is a string, not 4")


# --- dataset and input vectors -----------------------------------------------------------

def dataset_cases():
    D = DATASET
    file_level("dataset", DATA_GRAD, D)
    case("dataset", "format_network", put(D, ("format",), "bitprop.network/1"), DATA_GRAD,
         "format: format is 'bitprop.network/1', expected 'bitprop.dataset/1'")
    case("dataset", "unknown_top_key", put(D, ("sample",), []), DATA_GRAD,
         "sample: unknown key 'sample'")
    case("dataset", "samples_missing", drop(D, ("samples",)), DATA_GRAD,
         "missing key 'samples'")
    case("dataset", "samples_object", put(D, ("samples",), {"0": D["samples"][0]}), DATA_GRAD,
         "samples: expected a list of samples, got {")
    case("dataset", "sample_number", put(D, ("samples", 0), 1), DATA_GRAD,
         "samples[0]: a sample is an object")
    case("dataset", "sample_missing_x", drop(D, ("samples", 1, "x")), DATA_GRAD,
         "samples[1]: a sample needs 'x'")
    case("dataset", "sample_missing_y", drop(D, ("samples", 1, "y")), DATA_GRAD,
         "samples[1]: a sample needs 'y'")
    case("dataset", "no_labels", edit(D, lambda d: [s.pop("y") for s in d["samples"]]), DATA_GRAD,
         "samples: the samples have no labels 'y'")
    case("dataset", "sample_unknown_key", put(D, ("samples", 0, "label"), ["1"]), DATA_GRAD,
         "samples[0].label: unknown key 'label'")
    case("dataset", "x_string", put(D, ("samples", 0, "x"), "1 0"), DATA_GRAD,
         "samples[0].x: expected a list of numbers")
    case("dataset", "x_too_long", put(D, ("samples", 0, "x"), ["1", "0", "2"]), DATA_GRAD,
         "samples[0].x: has 3 entries but the network has 2 inputs")
    case("dataset", "x_too_short", put(D, ("samples", 1, "x"), ["1"]), DATA_STEP,
         "samples[1].x: has 1 entries but the network has 2 inputs")
    case("dataset", "x_empty", put(D, ("samples", 0, "x"), []), DATA_GRAD,
         "samples[0].x: has 0 entries but the network has 2 inputs")
    case("dataset", "y_too_long", put(D, ("samples", 1, "y"), ["1", "2"]), DATA_GRAD,
         "samples[1].y: has 2 entries but the network has 1 outputs")
    case("dataset", "x_nested", put(D, ("samples", 0, "x"), [["1"], ["0"]]), DATA_GRAD,
         "samples[0].x[0]: ['1'] of type list is not a rational number")
    case("dataset", "x_zero_denominator", put(D, ("samples", 1, "x", 1), "1/0"), DATA_GRAD,
         "samples[1].x[1]: '1/0' has a zero denominator")
    case("dataset", "x_double_minus", put(D, ("samples", 0, "x", 0), "--3"), DATA_GRAD,
         "samples[0].x[0]: '--3' is not a rational")
    case("dataset", "x_float", put(D, ("samples", 0, "x", 0), 0.5), DATA_GRAD,
         "samples[0].x[0]: 0.5 is a float")
    case("dataset", "x_nan", raw(D, '"x": ["1", "0"]', '"x": [NaN, "0"]'), DATA_GRAD,
         "NaN is not a number")
    case("dataset", "y_million_digit_exponent", put(D, ("samples", 0, "y", 0), "5e-" + "7" * MILLION),
         DATA_GRAD, "samples[0].y[0]: ", "beyond the limit of 1000000")
    case("dataset", "y_million_digit_zero_denominator",
         put(D, ("samples", 1, "y", 0), "3" * MILLION + "/0"), DATA_GRAD,
         "samples[1].y[0]: ", "(1000002 characters)' has a zero denominator")
    case("dataset", "weight_list", put(D, ("samples", 1, "weight"), ["3"]), DATA_GRAD,
         "samples[1].weight: ['3'] of type list is not a rational number")
    case("dataset", "weight_zero_denominator", put(D, ("samples", 1, "weight"), "3/0"), DATA_GRAD,
         "samples[1].weight: '3/0' has a zero denominator")
    case("dataset", "kind_unknown", put(D, ("samples", 0, "kind"), "forcing"), DATA_GRAD,
         "samples[0].kind: 'forcing' is not a sample kind")
    case("dataset", "loss_unknown", put(D, ("loss",), {"kind": "cross_entropy"}), DATA_GRAD,
         "loss.kind: unknown loss kind 'cross_entropy'")
    case("dataset", "loss_kind_list", put(D, ("loss",), {"kind": ["square"]}), DATA_GRAD,
         "loss.kind: unknown loss kind ['square']")
    case("dataset", "loss_number", put(D, ("loss",), 2), DATA_GRAD,
         "loss: a loss is an object such as")
    case("dataset", "loss_unknown_key", put(D, ("loss",), {"kind": "square", "index": 0}), DATA_GRAD,
         "loss.index: unknown key 'index' for a square loss")
    case("dataset", "loss_bit_missing_index", put(D, ("loss",), {"kind": "bit"}), DATA_GRAD,
         "loss: the bit loss needs 'index'")
    case("dataset", "loss_bit_index_negative", put(D, ("loss",), {"kind": "bit", "index": -1}),
         DATA_GRAD, "loss.index: -1 is not an integer >= 0")
    case("dataset", "loss_bit_index_million_digits",
         raw(put(D, ("loss",), {"kind": "bit", "index": 1}), '"index": 1', '"index": 1' + "0" * MILLION),
         DATA_GRAD, "loss.index: 100000000000...00000000 (1000001 digits) is not an integer")
    case("dataset", "loss_bit_shift_float", put(D, ("loss",), {"kind": "bit", "index": 1, "shift": 1.0}),
         DATA_GRAD, "loss.shift: 1.0 is not an integer")
    case("dataset", "loss_bit_label_two",
         edit(D, lambda d: (d.update(loss={"kind": "bit", "index": 0}),
                            d["samples"][0].update(y=["2"]))), DATA_GRAD,
         "samples[0].y[0]: the bit loss needs labels 0 or 1, not 2")
    case("dataset", "reduction_unknown", put(D, ("reduction",), "max"), DATA_GRAD,
         "reduction: 'max' is not a reduction")
    case("dataset", "reduction_list", put(D, ("reduction",), ["sum"]), DATA_GRAD,
         "reduction: ['sum'] is not a reduction")
    case("dataset", "mean_of_zero_weights",
         edit(D, lambda d: (d.update(reduction="mean"),
                            [s.update(weight="0") for s in d["samples"]])), DATA_GRAD,
         "reduction: mean reduction needs a non-zero total weight")
    case("dataset", "duplicate_sample_key", raw(D, '"x": ["2", "1"]', '"x": ["2", "1"], "x": ["2"]'),
         DATA_GRAD, "samples[1].x: duplicate key 'x'")
    case("dataset", "top_level_number", "42", DATA_GRAD, "expected a JSON object (bitprop.dataset/1) or a list of input vectors, got 42")

    case("inputs", "vector_too_short", [["1"], ["2"]], INPUT_EVAL,
         "samples[0].x: has 1 entries but the network has 2 inputs")
    case("inputs", "vector_too_long", [["1", "2"], ["1", "2", "3"]], INPUT_EVAL,
         "samples[1].x: has 3 entries but the network has 2 inputs")
    case("inputs", "flat_list_of_numbers", ["1", "2"], INPUT_EVAL,
         "samples[0].x: expected a list of numbers, got '1'")
    case("inputs", "matrix_too_deep", [[["1", "2"]]], INPUT_EVAL,
         "samples[0].x[0]: ['1', '2'] of type list is not a rational number")
    case("inputs", "zero_denominator", [["1", "2/0"]], INPUT_EVAL,
         "samples[0].x[1]: '2/0' has a zero denominator")
    case("inputs", "boolean_entry", [["1", False]], INPUT_EVAL,
         "samples[0].x[1]: False is a boolean")


# --- SLPs: JSON and text form -------------------------------------------------------------

def slp_json_cases():
    P = SLP
    case("slp_json", "empty", "", SLP_EVAL, "empty file")
    case("slp_json", "whitespace_only", "\n \n", SLP_BNSLP, "empty file")
    case("slp_json", "truncated", '{"ops": [["+", 0, 0], ["*", 1', SLP_EVAL, "not valid JSON")
    case("slp_json", "top_level_list", P["ops"], SLP_EVAL,
         "expected a JSON object (bitprop.slp/1), got [")
    case("slp_json", "missing_ops", drop(P, ("ops",)), SLP_EVAL, "missing key 'ops'")
    case("slp_json", "ops_object", put(P, ("ops",), {"1": ["+", 0, 0]}), SLP_EVAL,
         "ops: expected a list of gates")
    case("slp_json", "unknown_key", put(P, ("gates",), []), SLP_EVAL, "gates: unknown key 'gates'")
    case("slp_json", "format_wrong", put(P, ("format",), "bitprop.slp/2"), SLP_EVAL,
         "format: format is 'bitprop.slp/2'")
    case("slp_json", "gate_two_entries", put(P, ("ops", 1), ["*", 1]), SLP_EVAL,
         "ops[1]: gate x2 must be [op, j, k], got ['*', 1]")
    case("slp_json", "gate_four_entries", put(P, ("ops", 0), ["+", 0, 0, 0]), SLP_EVAL,
         "ops[0]: gate x1 must be [op, j, k]")
    case("slp_json", "gate_string", put(P, ("ops", 2), "x2 - x0"), SLP_EVAL,
         "ops[2]: gate x3 must be [op, j, k], got 'x2 - x0'")
    case("slp_json", "operation_division", put(P, ("ops", 1, 0), "/"), SLP_EVAL,
         "ops[1][0]: gate x2 has operation '/'")
    case("slp_json", "operation_list", put(P, ("ops", 1, 0), ["*"]), SLP_EVAL,
         "ops[1][0]: gate x2 has operation ['*']")
    case("slp_json", "operand_not_computed", put(P, ("ops", 1, 2), 2), SLP_EVAL,
         "ops[1][2]: gate x2 uses x2, which is not computed yet")
    case("slp_json", "operand_far_ahead", put(P, ("ops", 0, 1), 7), SLP_BNSLP,
         "ops[0][1]: gate x1 uses x7, which is not computed yet")
    case("slp_json", "operand_negative", put(P, ("ops", 2, 2), -1), SLP_EVAL,
         "ops[2][2]: gate x3 uses x-1, a negative gate number")
    case("slp_json", "operand_float", put(P, ("ops", 0, 1), 0.0), SLP_EVAL,
         "ops[0][1]: gate x1 has operand 0.0; expected a gate number")
    case("slp_json", "operand_string", put(P, ("ops", 0, 2), "x0"), SLP_EVAL,
         "ops[0][2]: gate x1 has operand 'x0'")
    case("slp_json", "operand_boolean", put(P, ("ops", 0, 1), False), SLP_EVAL,
         "ops[0][1]: gate x1 has operand False")
    case("slp_json", "operand_million_digits", raw(P, '["-", 2, 0]', '["-", 2, 1' + "0" * MILLION + "]"),
         SLP_EVAL, "ops[2][2]: gate x3 uses x100000000000...00000000 (1000001 digits), which is "
         "not computed yet")
    case("slp_json", "operand_million_digits_negative",
         raw(P, '["-", 2, 0]', '["-", -9' + "9" * MILLION + ", 0]"), SLP_EVAL,
         "ops[2][1]: gate x3 uses x-99999999999...99999999 (1000001 digits), a negative gate number")
    case("slp_json", "constant_zero_denominator", put(P, ("constant",), "1/0"), SLP_EVAL,
         "constant: '1/0' has a zero denominator")
    case("slp_json", "constant_double_minus", put(P, ("constant",), "--3"), SLP_EVAL,
         "constant: '--3' is not a rational")
    case("slp_json", "constant_float", put(P, ("constant",), 0.5), SLP_EVAL, "constant: 0.5 is a float")
    case("slp_json", "constant_null", put(P, ("constant",), None), SLP_EVAL,
         "constant: None of type NoneType")
    case("slp_json", "constant_nan", raw(P, '"constant": "1"', '"constant": NaN'), SLP_EVAL,
         "NaN is not a number")
    case("slp_json", "constant_million_digit_zero_denominator",
         put(P, ("constant",), "1" * MILLION + "/" + "0" * 10), SLP_EVAL,
         "constant: ", "has a zero denominator")
    case("slp_json", "constant_million_digit_exponent", put(P, ("constant",), "2e+" + "5" * MILLION),
         SLP_EVAL, "constant: ", "beyond the limit of 1000000")
    case("slp_json", "duplicate_ops_key", raw(P, '"ops": [', '"ops": [], "ops": ['), SLP_EVAL,
         "ops: duplicate key 'ops'")
    case("slp_json", "deep_ops_100000", '{"ops": ' + deep(100_000) + "}", SLP_EVAL,
         "JSON nested too deeply")
    case("slp_json", "utf8_bom", b"\xef\xbb\xbf" + json.dumps(P).encode(), SLP_EVAL,
         "UTF-8 byte-order mark")
    case("slp_json", "latin1", json.dumps(put(P, ("format",), "bitprop.slp/1 \u00e9"),
                                          ensure_ascii=False).encode("latin-1"),
         SLP_EVAL, "not UTF-8 text")
    case("slp_json", "bnslp_rational_constant", put(P, ("constant",), "1/2"), SLP_BNSLP,
         "constant: Lemma A.5 takes an SLP with integer values")


def slp_text_cases():
    T = SLP_TEXT
    case("slp_text", "empty", "", SLP_EVAL, "empty file")
    case("slp_text", "blank_lines", "\n\n   \n", SLP_EVAL, "empty file")
    case("slp_text", "division", "x1 = x0 / x0\n", SLP_EVAL, "line 1: ", "is not a gate")
    case("slp_text", "three_operands", T + "x4 = x3 + x2 + x1\n", SLP_EVAL, "line 6: ",
         "is not a gate")
    case("slp_text", "gate_number_skipped", T + "x5 = x3 * x3\n", SLP_EVAL,
         "line 6: gate x5 found where x4 was expected")
    case("slp_text", "operand_not_computed", T + "x4 = x3 * x4\n", SLP_EVAL,
         "line 6: gate x4 uses x4, which is not computed yet")
    case("slp_text", "constant_after_gate", T + "x0 = 2\n", SLP_EVAL,
         "line 6: the constant x0 must be given before the first gate")
    case("slp_text", "constant_twice", "x0 = 2\nx0 = 3\n" + T.split("\n", 2)[2], SLP_EVAL,
         "line 2: the constant x0 is given twice")
    case("slp_text", "constant_zero_denominator", "x0 = 1/0\nx1 = x0 + x0\n", SLP_BNSLP,
         "line 1: '1/0' has a zero denominator")
    case("slp_text", "constant_double_minus", "x0 = --3\n", SLP_EVAL, "line 1: '--3' is not a rational")
    case("slp_text", "constant_million_digit_exponent", "x0 = 1e-" + "8" * MILLION + "\n", SLP_EVAL,
         "line 1: ", "beyond the limit of 1000000")
    case("slp_text", "constant_million_digit_zero_denominator", "x0 = 3/" + "0" * MILLION + "\n",
         SLP_EVAL, "line 1: ", "has a zero denominator")
    case("slp_text", "gate_number_million_digits", "x1 = x0 + x" + "1" * MILLION + "\n", SLP_EVAL,
         "line 1: ", "is not a gate")
    case("slp_text", "unicode_digits", "x\u0661 = x0 + x0\n", SLP_EVAL, "line 1: ", "is not a gate")
    case("slp_text", "nul_byte", "x1 = x0 + x0\x00\n", SLP_EVAL, "line 1: ", "is not a gate")
    case("slp_text", "garbage", "hello world\n", SLP_EVAL, "line 1: 'hello world' is not a gate")
    case("slp_text", "utf8_bom", b"\xef\xbb\xbf" + T.encode(), SLP_EVAL, "UTF-8 byte-order mark")
    case("slp_text", "latin1", ("# caf\u00e9\n" + T).encode("latin-1"), SLP_EVAL, "not UTF-8 text")
    case("slp_text", "binary_garbage", bytes(range(128, 256)), SLP_EVAL, "not UTF-8 text")
    case("slp_text", "starts_like_json_list", "[x1 = x0 + x0]\n", SLP_EVAL, "not valid JSON")


# --- polynomial strings (gadget --sigma "$(cat f)") ---------------------------------------

def polynomial_cases():
    for name, text, expect in [
            ("empty", "", ["--sigma: empty polynomial"]),
            ("double_caret", "z^^2", ["unexpected '^' at column 3"]),
            ("negative_power", "z^-2", ["unexpected '-' at column 3", "exponents are integers"]),
            ("fractional_power", "z^1.5", ["unexpected '1.5' at column 3"]),
            ("implicit_product", "2z^2", ["unexpected 'z' at column 2", "write 2*z"]),
            ("wrong_variable", "x^2 + 1", ["unexpected 'x' at column 1", "the variable is z"]),
            ("trailing_plus", "z^2 +", ["unexpected end of input at column 6"]),
            ("double_minus", "--z^2", ["unexpected '-' at column 2"]),
            ("zero_denominator", "1/0*z^2", ["'1/0' has a zero denominator"]),
            ("degree_1001", "z^1001", ["degree 1001 is beyond the limit of 1000"]),
            ("degree_100000_digits", "z^" + "9" * ARGV_SAFE, ["degree with 100000 digits is beyond the "
                                                              "limit of 1000"]),
            ("coefficient_exponent_too_large", "1e99999999*z^2", ["beyond the limit of 1000000"]),
            ("coefficient_100000_digit_zero_denominator", "2/" + "0" * ARGV_SAFE + "*z^3",
             ["has a zero denominator"]),
            ("linear", "3*z + 1", ["has degree 1: a linear sigma cannot multiply"]),
            ("zero", "z^2 - z^2", ["is the zero polynomial"]),
            ("json_list_broken", "[1, 2,", ["not a JSON list of coefficients", "not valid JSON"]),
            ("json_list_deep", deep(50_000), ["not a JSON list of coefficients",
                                              "JSON nested too deeply"]),
            ("json_list_float", "[0.5, 0, 1]", ["--sigma[0]: 0.5 is a float"]),
            ("json_list_nan", "[NaN, 0, 1]", ["NaN is not a number"]),
            ("json_list_null", '["0", null, "1"]', ["--sigma[1]: None of type NoneType"]),
            ("json_list_nested", '[["1"], "0", "1"]', ["--sigma[0]: ['1'] of type list"]),
            ("json_list_too_long", json.dumps(["1"] * 1002), ["1002 coefficients: degree beyond"]),
            ("json_object", '{"c": [0, 0, 1]}', ["unexpected '{' at column 1"]),
            ("superscript", "z\u00b2", ["unexpected '\u00b2' at column 2"]),
            ("parentheses", "(z + 1)^2", ["unexpected '(' at column 1"])]:
        case("polynomial", name, text + "\n", GADGET, "--sigma", *expect, names_file=False)


# --- problem instances --------------------------------------------------------------------

def instance_cases():
    I = INSTANCE
    erm = edit(I, lambda d: d.update(problem="erm", query=None, gap=["0", "1"]))
    case("instance", "top_level_list", [I], SOLVE,
         "expected a JSON object (bitprop.instance/1), got [")
    case("instance", "broken_json", json.dumps(I)[:-3], SOLVE, "not valid JSON")
    case("instance", "unknown_key", put(I, ("answer",), True), SOLVE, "answer: unknown key 'answer'")
    case("instance", "format_wrong", put(I, ("format",), "bitprop.network/1"), SOLVE,
         "format: format is 'bitprop.network/1'")
    case("instance", "missing_network", drop(I, ("network",)), SOLVE, "missing key 'network'")
    case("instance", "problem_unknown", put(I, ("problem",), "backprop"), SOLVE,
         "problem: 'backprop' is not a problem")
    case("instance", "network_weight_zero_denominator", put(I, ("network", "edges", 1, "weight"), "1/0"),
         SOLVE, "network.edges[1].weight: '1/0' has a zero denominator")
    case("instance", "network_cycle", edit(I, lambda d: d["network"]["edges"].append(
        {"from": "out", "to": "s"})), SOLVE, "network.edges: the graph has a cycle")
    case("instance", "dataset_wrong_input_length", put(I, ("dataset", "samples", 0, "x"), ["1"]),
         SOLVE, "dataset.samples[0].x: has 1 entries but the network has 2 inputs")
    case("instance", "query_missing", put(I, ("query",), None), SOLVE,
         "query: a backprop-sign instance needs a query")
    case("instance", "query_edge_out_of_range", put(I, ("query", "edge"), 4), SOLVE,
         "query.edge: edge 4 does not exist")
    case("instance", "query_edge_negative", put(I, ("query", "edge"), -1), SOLVE,
         "query.edge: -1 is below 0")
    case("instance", "query_edge_float", put(I, ("query", "edge"), 1.0), SOLVE,
         "query.edge: 1.0 is not an integer")
    case("instance", "query_edge_million_digits",
         raw(I, '"edge": 0', '"edge": 1' + "0" * MILLION), SOLVE, "query.edge: ", "does not exist")
    case("instance", "query_edge_null", put(I, ("query", "edge"), None), SOLVE,
         "query.edge: null is not an edge index")
    case("instance", "query_coordinate_unknown", put(I, ("query", "coordinate"), "gradient"), SOLVE,
         "query.coordinate: 'gradient' is not a coordinate")
    case("instance", "erm_with_query", put(erm, ("query",), I["query"]), SOLVE,
         "query: an erm instance asks no gradient query")
    case("instance", "backprop_bit_without_bit", put(I, ("problem",), "backprop-bit"), SOLVE,
         "query.bit: a backprop-bit instance needs the bit")
    case("instance", "gap_reversed", put(erm, ("gap",), ["1", "0"]), SOLVE,
         "gap: the gap is [a, b] with a <= b")
    case("instance", "threshold_zero_denominator", put(I, ("threshold",), "0/0"), SOLVE,
         "threshold: '0/0' has a zero denominator")
    case("instance", "source_slp_operand_out_of_range", put(I, ("source", "slp", "ops", 0, 1), 1),
         SOLVE, "source.slp.ops[0][1]: gate x1 uses x1, which is not computed yet")
    case("instance", "source_question_unknown", put(I, ("source", "question"), "sign"), SOLVE,
         "source.question: 'sign' is not a question")
    case("instance", "forcing_outside_erm", put(I, ("forcing",), {"outputs": ["h"], "dataset": DATASET}),
         SOLVE, "forcing: forcing samples belong to erm instances only")
    case("instance", "forcing_unknown_vertex",
         put(erm, ("forcing",), {"outputs": ["hidden"], "dataset": DATASET}), SOLVE,
         "forcing.outputs[0]: unknown vertex 'hidden'")
    case("instance", "forcing_output_list",
         put(erm, ("forcing",), {"outputs": [["h"]], "dataset": DATASET}), SOLVE,
         "forcing.outputs[0]")
    case("instance", "duplicate_key", raw(I, '"threshold": "0"', '"threshold": "0", "threshold": "1"'),
         SOLVE, "threshold: duplicate key 'threshold'")
    case("instance", "deep_nesting", '{"network": ' + deep(100_000) + "}", SOLVE,
         "JSON nested too deeply")
    case("instance", "utf8_bom", b"\xef\xbb\xbf" + json.dumps(I).encode(), SOLVE,
         "UTF-8 byte-order mark")


def write_good():
    GOOD.mkdir(exist_ok=True)
    for name, document in (("network.json", NETWORK), ("dataset.json", DATASET),
                           ("slp.json", SLP), ("instance.json", INSTANCE),
                           ("inputs.json", [["1", "0"], ["2", "1"]])):
        (GOOD / name).write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    (GOOD / "program.slp").write_text(SLP_TEXT, encoding="utf-8")


def main():
    for make in (network_cases, dataset_cases, slp_json_cases, slp_text_cases, polynomial_cases,
                 instance_cases):
        make()
    names = [c["file"] for c in CASES]
    assert len(names) == len(set(names)), "two cases share a file name"
    write_good()
    for old in HERE.glob("*/*"):
        old.unlink()
    manifest = []
    for c in CASES:
        path = HERE / c["file"]
        path.parent.mkdir(exist_ok=True)
        content = c["content"]
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_bytes(content.encode("utf-8", "surrogatepass"))
        else:
            path.write_text(json.dumps(content, indent=1) + "\n", encoding="utf-8")
        entry = {"file": c["file"], "command": c["command"], "expect": c["expect"]}
        if not c["names_file"]:
            entry["names_file"] = False
        if c["xfail"]:
            entry["xfail"] = c["xfail"]
        manifest.append(entry)
    (HERE / "MANIFEST.json").write_text(
        json.dumps({"about": "Bad inputs: each file, the command that reads it ({case}, {good}, "
                             "{tmp}, {contents} are filled in by tests/test_bad_inputs.py) and "
                             "substrings of its one-line error. Written by generate.py.",
                    "cases": manifest}, indent=1, ensure_ascii=True) + "\n", encoding="utf-8")
    print(f"{len(manifest)} cases")


if __name__ == "__main__":
    main()
