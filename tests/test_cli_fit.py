"""The command line: bitprop fit FILE on a CSV (one series or several), on the JSON that
bitprop growth wrote, its --json keys, --plot, and one-line errors for bad files."""

import io
import json

import pytest

from bitprop.cli import run
from bitprop.experiments import fit
from test_cli_slp import assert_error, run_json

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _rows(name, law, depths):
    return [f"{d},{law(d)},{name},note" for d in depths]


@pytest.fixture
def series_csv(tmp_path):
    """The issue's three series in one CSV, told apart by the series column."""
    lines = (["# made by hand", "depth,bits,series,comment"]
             + _rows("linear", lambda d: 5000 + 20 * d, range(1, 201, 10))
             + _rows("exponential", lambda d: 2000 + 2 ** d, range(1, 9))
             + _rows("quadratic", lambda d: 100 + d * d, range(1, 41)))
    path = tmp_path / "series.csv"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_csv_with_several_series(series_csv, capsys):
    document = run_json(capsys, "fit", series_csv)
    laws = {entry["name"]: entry["law"] for entry in document["series"]}
    assert laws == {"linear": "polynomial", "exponential": "exponential",
                    "quadratic": "polynomial"}
    first = document["series"][0]
    assert list(first)[:4] == ["name", "law", "reason", "parameters"]
    assert first["parameters"]["degree"]["value"] == pytest.approx(1, abs=1e-6)
    assert document["series"][1]["parameters"]["base"]["value"] == pytest.approx(2, abs=1e-6)
    assert first["criterion"]["evidence"] == fit.EVIDENCE
    assert document["file"] == series_csv and document["plot"] is None


def test_text_output_and_plot(series_csv, tmp_path, capsys):
    picture = tmp_path / "out" / "fit.png"
    assert run(["fit", series_csv, "--plot", str(picture)]) == 0
    out = capsys.readouterr().out
    assert "growth law of bits vs depth" in out
    for line in ("linear       polynomial", "exponential  exponential", "quadratic    polynomial"):
        assert line in out
    assert picture.read_bytes()[:8] == PNG_MAGIC and f"plot: {picture}" in out


def test_one_series_without_a_series_column_from_stdin(monkeypatch, capsys):
    text = "bits,depth\n" + "".join(f"{3 ** d},{d}\n" for d in range(1, 9))
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    document = run_json(capsys, "fit", "-")
    assert [entry["name"] for entry in document["series"]] == [""]
    assert document["series"][0]["law"] == "exponential"


def test_undetermined_says_which_depths_decide(tmp_path, capsys):
    bits = [328, 342, 376, 404, 454, 482, 546, 647]         # 200 + 100 * 1.2^d, 3 % noise
    path = tmp_path / "short.csv"
    path.write_text("depth,bits\n" + "".join(f"{d},{b}\n" for d, b in enumerate(bits, 1)))
    entry = run_json(capsys, "fit", str(path))["series"][0]
    assert entry["law"] == "undetermined"
    assert entry["decisive_depth"] > 8 and "would decide" in entry["reason"]
    assert set(entry["parameters"]) == {"exponential", "polynomial"}


def test_growth_json_from_bitprop_growth(tmp_path, capsys):
    assert run(["growth", "-a", "relu,square", "--depths", "1-7", "--widths", "3",
                "--seeds", "0", "--samples", "2", "--no-plots", "-o", str(tmp_path)]) == 0
    capsys.readouterr()
    from_csv = run_json(capsys, "fit", str(tmp_path / "growth.csv"), "--column", "bits_max",
                        "--series", "activation")
    assert [entry["law"] for entry in from_csv["series"]] == ["polynomial", "exponential"]
    growth_file = str(tmp_path / "growth.json")
    document = run_json(capsys, "fit", growth_file)
    assert [entry["name"] for entry in document["series"]] == ["relu", "square"]
    assert document["series"][1]["law"] == "exponential"
    with open(growth_file) as handle:
        fits = json.load(handle)["fits"]
    for entry in document["series"]:            # the same verdict growth wrote
        assert fits[entry["name"]]["law"] == entry["law"]
        assert fits[entry["name"]]["parameters"] == entry["parameters"]


@pytest.mark.parametrize("text, fragments", [
    ("", ("no header line and no rows",)),
    ("depth,bits\n", ("a header but no rows",)),
    ("depth,size\n1,2\n", ("line 1", "no column 'bits'")),
    ("depth,bits,bits\n1,2,3\n", ("line 1", "column 'bits' appears twice")),
    ("# c\ndepth,bits\n1,2\n2,x\n", ("line 4", "bits 'x' is not a positive number")),
    ("depth,bits\n1,2\n0,4\n", ("line 3", "depth '0' is not a positive number")),
    ("depth,bits\n1,2\n2,4,5\n", ("line 3", "3 cells, the header has 2")),
    ("depth,bits\n1,inf\n", ("line 2", "bits 'inf'")),
    ("[1, 2]", ("must be a JSON object",)),
    ('{"format": "bitprop.network/1"}', ("format", "bitprop.growth/1")),
    ('{"format": "bitprop.growth/1", "rows": []}', ("rows", "non-empty list")),
    ('{"format": "bitprop.growth/1", "rows": [{"activation": "relu", "width": 3, '
     '"depth": 1}]}', ("rows[0]", "no key 'bits_max'")),
    ('{"format": "bitprop.growth/1", "rows": [{"activation": "relu", "width": 3, '
     '"depth": true, "bits_max": 4}]}', ("rows[0].depth", "not a positive number")),
])
def test_bad_files_are_one_line_errors(tmp_path, capsys, text, fragments):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    assert_error(capsys, ["fit", str(path)], 2, str(path), *fragments)


def test_missing_file_and_column_option(tmp_path, capsys):
    assert_error(capsys, ["fit", str(tmp_path / "none.csv")], 2, "no such file")
    path = tmp_path / "sizes.csv"
    path.write_text("depth,size\n" + "".join(f"{d},{7 * d + 3}\n" for d in range(1, 9)))
    document = run_json(capsys, "fit", str(path), "--column", "size")
    assert document["series"][0]["law"] == "polynomial"
