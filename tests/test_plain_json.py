"""Network.load and Dataset.load read plain edges and samples in C (bitprop._plain_json):
on every file they take, the same network or dataset as the full reader (json, then
from_json); every other file, valid or not, they hand over, so that the full reader reads it
or names its problem."""

import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bitprop
from bitprop.jsonfiles import parse_json_text
from bitprop.errors import BitpropInputError
from strategies import network_and_dataset, networks


def full_reader(data, allow_float=False):
    """The network of the file's bytes as json and Network.from_json read it, or the error."""
    try:
        return bitprop.Network.from_json(parse_json_text(data.decode("utf-8"), "f.json"),
                                         file="f.json", allow_float=allow_float)
    except (BitpropInputError, UnicodeDecodeError) as err:
        return err


def c_reader(data, allow_float=False):
    return bitprop.Network._from_plain_text(data, "f.json", allow_float)


def _spelled(draw, document):
    """The document's text in one of the ways writers space and order it."""
    edges = [dict(draw(st.permutations(list(edge.items())))) for edge in document["edges"]]
    document = dict(document, edges=edges)
    if draw(st.booleans()):
        return json.dumps(document, indent=draw(st.sampled_from([None, 0, 1, "\t"])),
                          separators=draw(st.sampled_from([None, (",", ":"), (" ,", " : ")])),
                          ensure_ascii=False)
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def _renamed(document, suffix):
    """The document with every vertex name given a suffix (non-ASCII names, quotes)."""
    def edge(e):
        return dict(e, **{"from": e["from"] + suffix, "to": e["to"] + suffix})
    return dict(document, vertices=[dict(v, name=v["name"] + suffix)
                                    for v in document["vertices"]],
                edges=[edge(e) for e in document["edges"]],
                inputs=[v + suffix for v in document["inputs"]],
                outputs=[v + suffix for v in document["outputs"]])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), networks(varied_numbers=True), st.sampled_from(["", "\u00e9", "\u03bb_1"]))
def test_plain_files_read_in_c_give_the_full_readers_network(data, document, suffix):
    text = _spelled(data.draw, _renamed(document, suffix)).encode("utf-8")
    fast = c_reader(text)
    assert fast is not None                 # every writer's spelling of edges is plain
    assert fast == full_reader(text)
    assert fast.weights == full_reader(text).weights


def _damaged(text, damage):
    """The bytes of ``text`` with each (where, kind, char) of ``damage`` applied: replace,
    insert or delete one character at the fraction ``where`` of its length."""
    for where, kind, char in damage:
        at = int(where * (len(text) - 1))
        text = (text[:at] + char + text[at + 1:], text[:at] + char + text[at:],
                text[:at] + text[at + 1:])[kind]
    return text.encode("utf-8", "surrogatepass")


_ALPHABET = '{}[]",:\\ \n0123456789-+/.eE' + "ftrunlasxvwigbo\u00e9\x01"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks(max_vertices=5), st.lists(st.tuples(st.floats(0, 1), st.integers(0, 2),
                                                    st.sampled_from(_ALPHABET)),
                                          min_size=1, max_size=3))
def test_a_damaged_file_is_read_as_the_full_reader_reads_it_or_handed_over(document, damage):
    data = _damaged(json.dumps(document, separators=(",", ":")), damage)
    fast = c_reader(data)
    if fast is not None:
        assert fast == full_reader(data)


_VERTICES = '"vertices":[{"name":"x"},{"name":"h","activation":"relu"}]'
_TAIL = '"inputs":["x"],"outputs":["h"]'


def _file(edges, head=_VERTICES, tail=_TAIL):
    return ("{" + head + ',"edges":' + edges + "," + tail + "}").encode("utf-8")


@pytest.mark.parametrize("edges, weight, bias, trainable", [
    ('[{"from":"x","to":"h"}]', 1, 0, True),
    (' [ { "to" : "h" ,\n\t"from" :"x", "trainable" : false } ] ', 1, 0, False),
    ('[{"from":"x","to":"h","weight":"-0","bias":"+3"}]', 0, 3, True),
    ('[{"from":"x","to":"h","weight":"007/010","bias":-12}]', "7/10", -12, True),
    ('[{"from":"x","to":"h","weight":' + "9" * 40 + ',"bias":"-' + "1" * 30 + '/3"}]',
     "9" * 40, "-" + "1" * 30 + "/3", True),
    ('[{"from":"x","to":"h","weight":"0.125","bias":"1e-3"}]', "1/8", "1/1000", True),
    ('[{"from":"x","to":"h","weight":-0,"bias":"-7/14"}]', 0, "-1/2", True),
])
def test_plain_edges_in_every_spelling(edges, weight, bias, trainable):
    from fractions import Fraction
    data = _file(edges)
    fast = c_reader(data)
    assert fast is not None and fast == full_reader(data)
    assert fast.weights == [Fraction(weight)] and fast.biases == [Fraction(bias)]
    assert fast.trainable == [trainable]


def test_no_edges():
    data = _file("[ ]", head='"vertices":[{"name":"x"}]', tail='"inputs":["x"],"outputs":["x"]')
    fast = c_reader(data)
    assert fast is not None and fast == full_reader(data) and fast.num_edges == 0


@pytest.mark.parametrize("data", [
    _file('[{"from":"\\u0078","to":"h"}]'),                 # an escaped name
    _file('[["x","h","2","0"]]'),                             # an edge as a list
    _file('[{"from":"x","to":"h","weight":0.5}]'),            # a JSON float
    ('{"edg\\u0065s":[{"from":"x","to":"h"}],' + _VERTICES + "," + _TAIL + "}").encode(),
])
def test_other_valid_files_are_handed_to_the_full_reader(tmp_path, data):
    expected = full_reader(data, allow_float=True)
    assert not isinstance(expected, Exception)
    assert c_reader(data, allow_float=True) is None
    path = tmp_path / "f.json"
    path.write_bytes(data)
    assert bitprop.Network.load(str(path), allow_float=True) == expected


@pytest.mark.parametrize("edges", [
    '[{"from":"x","to":"y"}]',                                # an unknown vertex
    '[{"from":"h","to":"h"}]',                                # a self-loop
    '[{"from":"x","to":"h","weight":"1/0"}]',                 # a zero denominator
    '[{"from":"x","to":"h","to":"h"}]',                       # a repeated key
    '[{"from":"x","to":"h","colour":"red"}]',                 # an unknown key
    '[{"from":"x","to":"h"},]',                               # a trailing comma
    '[{"from":"x","to":"h","weight":"1"} {"from":"x","to":"h"}]',
    '[{"from":"x","to":"h","trainable":"yes"}]',
    '[{"from":"x","to":"h","bias":"  2 "}]',                  # spaces around a number
    '[{"from":"x","to":"h","weight":01}]',                    # a leading zero
    '[{"from":"x","to":"h","weight":truex}]',
])
def test_a_bad_file_gets_the_full_readers_error(tmp_path, edges):
    data = _file(edges)
    assert c_reader(data) is None
    expected = full_reader(data)
    assert isinstance(expected, BitpropInputError)
    path = tmp_path / "f.json"
    path.write_bytes(data)
    with pytest.raises(BitpropInputError) as caught:
        bitprop.Network.load(str(path))
    assert str(caught.value) == str(expected).replace("f.json", str(path))


def test_a_raw_control_character_is_refused_where_its_escape_names_a_vertex():
    data = _file('[{"from":"x","to":"h\x01"}]',
                 head='"vertices":[{"name":"x"},{"name":"h\\u0001","activation":"relu"}]',
                 tail='"inputs":["x"],"outputs":["h\\u0001"]')
    assert isinstance(full_reader(data), BitpropInputError)
    assert not isinstance(full_reader(data.replace(b"\x01", b"\\u0001")), BitpropInputError)
    assert c_reader(data) is None


def test_an_error_outside_the_edges_is_the_full_readers(tmp_path):
    data = _file('[{"from":"x","to":"h"}]', tail='"inputs":["x"],"outputs":["nowhere"]')
    path = tmp_path / "f.json"
    path.write_bytes(data)
    with pytest.raises(BitpropInputError, match=r"outputs\[0\]: unknown vertex 'nowhere'"):
        bitprop.Network.load(str(path))


def test_a_large_network_reads_the_same_both_ways():
    rng = random.Random(7)
    widths = [12, 40, 40, 3]
    document = {"vertices": [], "edges": [], "inputs": [], "outputs": []}
    for layer, width in enumerate(widths):
        for i in range(width):
            vertex = {"name": f"L{layer}_{i}"}
            if layer:
                vertex["activation"] = "relu"
            document["vertices"].append(vertex)
    for layer in range(1, len(widths)):
        for i in range(widths[layer]):
            for j in range(widths[layer - 1]):
                document["edges"].append({"from": f"L{layer - 1}_{j}", "to": f"L{layer}_{i}",
                                          "weight": f"{rng.randint(-10**20, 10**20)}/"
                                                    f"{rng.randint(1, 10**20)}",
                                          "bias": str(rng.randint(-5, 5))})
    document["inputs"] = [f"L0_{i}" for i in range(widths[0])]
    document["outputs"] = [f"L3_{i}" for i in range(widths[-1])]
    data = json.dumps(document).encode()
    fast = c_reader(data)
    assert fast is not None and fast == full_reader(data)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(networks(varied_numbers=True), st.sampled_from(["", "\u00e9", "\u03bb_1", '"\\']))
def test_a_saved_network_loads_back_equal_and_plain(tmp_path, document, suffix):
    network = bitprop.Network.from_json(_renamed(document, suffix))
    path = tmp_path / "saved.json"
    network.save(path)
    assert bitprop.Network.load(str(path)) == network
    plain = c_reader(path.read_bytes())         # an edge naming an escaped name: full reader
    assert (plain is None) == (suffix == '"\\' and bool(document["edges"]))
    assert plain is None or plain == network


# --- datasets -----------------------------------------------------------------------------

def full_dataset(data, allow_float=False):
    """The dataset of the file's bytes as json and Dataset.from_json read it, or the error."""
    try:
        return bitprop.Dataset.from_json(parse_json_text(data.decode("utf-8"), "d.json"),
                                         file="d.json", allow_float=allow_float).to_json()
    except (BitpropInputError, UnicodeDecodeError) as err:
        return err


def c_dataset(data, allow_float=False):
    dataset = bitprop.Dataset._from_plain_text(data, "d.json", allow_float)
    return None if dataset is None else dataset.to_json()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), network_and_dataset(varied_numbers=True))
def test_plain_samples_read_in_c_give_the_full_readers_dataset(data, case):
    _, document = case
    samples = [dict(data.draw(st.permutations(list(sample.items()))))
               for sample in document["samples"]]
    text = json.dumps(dict(document, samples=samples),
                      indent=data.draw(st.sampled_from([None, 0, 2])),
                      separators=data.draw(st.sampled_from([None, (",", ":"), (" ,", " : ")])))
    fast = c_dataset(text.encode())
    assert fast is not None
    assert fast == full_dataset(text.encode())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(network_and_dataset(max_vertices=4, max_samples=3),
       st.lists(st.tuples(st.floats(0, 1), st.integers(0, 2), st.sampled_from(_ALPHABET + "ym")),
                min_size=1, max_size=3))
def test_a_damaged_dataset_is_read_as_the_full_reader_reads_it_or_handed_over(case, damage):
    data = _damaged(json.dumps(case[1], separators=(",", ":")), damage)
    fast = c_dataset(data)
    if fast is not None:
        assert fast == full_dataset(data)


@pytest.mark.parametrize("samples", [
    '[{"x":["1"],"y":["2"]},{"x":["3"]}]',                   # one sample without 'y'
    '[{"x":["1"],"kind":"\\u0061ux"}]',                       # an escaped kind
    '[{"x":["1"],"weight":0.5}]',                             # a JSON float
    '[{"x":["1"],"kind":"other"}]',                           # not a kind
    '[{"x":["1"],"x":["2"]}]',                                # a repeated key
    '[{"y":["1"]}]',                                          # no 'x'
    '[{"x":["1"],"colour":"red"}]',                           # an unknown key
    '[{"x":[1,]}]',
])
def test_other_sample_files_go_to_the_full_reader(tmp_path, samples):
    data = ('{"samples":' + samples + ',"loss":{"kind":"square"}}').encode()
    assert c_dataset(data, allow_float=True) is None
    expected = full_dataset(data, allow_float=True)
    path = tmp_path / "d.json"
    path.write_bytes(data)
    if isinstance(expected, Exception):
        with pytest.raises(BitpropInputError) as caught:
            bitprop.Dataset.load(str(path), allow_float=True)
        assert str(caught.value) == str(expected).replace("d.json", str(path))
    else:
        assert bitprop.Dataset.load(str(path), allow_float=True).to_json() == expected


def test_plain_samples_with_weights_kinds_and_no_labels():
    data = (b'{"format": "bitprop.dataset/1", "samples": [{"x": ["1/2", 3], "weight": "2", '
            b'"kind": "aux"}, {"kind": "main", "x": [-4, "0.25"]}], "reduction": "mean"}')
    fast = c_dataset(data)
    assert fast is not None and fast == full_dataset(data)
    assert fast["samples"][0]["weight"] == "2" and "weight" not in fast["samples"][1]
