"""Reading the (depth, bits) series that `bitprop fit` decides: a CSV with a header and the
columns ``depth`` and ``bits`` (more columns are ignored; a ``series`` column tells several
series apart; ``#`` lines are comments), or a ``bitprop.growth/1`` JSON that `bitprop growth`
wrote (one series per activation and width, its ``bits_max`` column). Every problem is a
BitpropInputError naming the file, the line or JSON path, and the value."""

import csv
import math
from dataclasses import dataclass, field

from ..errors import BitpropInputError
from ..jsonfiles import parse_json_text, read_text
from .growth import series_label

GROWTH_FORMAT = "bitprop.growth/1"


@dataclass
class Series:
    """One named series of points; depths may repeat (one point per seed)."""

    name: str
    depths: list = field(default_factory=list)
    bits: list = field(default_factory=list)


def read_series(path, column=None, series="series"):
    """[Series] of the file at ``path`` (``-``: standard input), in order of first
    appearance; ``column`` replaces the bits column (default ``bits``, ``bits_max`` for a
    growth JSON), ``series`` the CSV column that names the series."""
    text, name = read_text(path)
    if text.lstrip()[:1] in ("{", "["):
        return _growth_series(parse_json_text(text, name), name, column or "bits_max")
    return _csv_series(text, name, column or "bits", series)


def _number(value, what, file, path):
    """A positive finite number read from a cell or a JSON value."""
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = math.nan
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    else:
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        raise BitpropInputError(f"{what} {value!r} is not a positive number", file=file,
                                path=path)
    return number


def _csv_series(text, file, column, series_column):
    numbered = [(n, line) for n, line in enumerate(text.splitlines(), 1)
                if line.strip() and not line.lstrip().startswith("#")]
    if not numbered:
        raise BitpropInputError("no header line and no rows", file=file)
    reader = csv.reader(line for _, line in numbered)
    header = [name.strip() for name in next(reader)]
    where = f"line {numbered[0][0]}"
    for needed in ("depth", column):
        if needed not in header:
            raise BitpropInputError(f"no column {needed!r} in the header ({', '.join(header)})",
                                    file=file, path=where)
    repeated = next((name for name in header if header.count(name) > 1), None)
    if repeated is not None:
        raise BitpropInputError(f"column {repeated!r} appears twice", file=file, path=where)
    index = {name: header.index(name) for name in ("depth", column) if name in header}
    if series_column in header:
        index["series"] = header.index(series_column)
    found = {}
    for (line, _), cells in zip(numbered[1:], reader):
        where = f"line {line}"
        if len(cells) != len(header):
            raise BitpropInputError(f"{len(cells)} cells, the header has {len(header)}",
                                    file=file, path=where)
        name = cells[index["series"]].strip() if "series" in index else ""
        series = found.setdefault(name, Series(name))
        series.depths.append(_number(cells[index["depth"]], "depth", file, where))
        series.bits.append(_number(cells[index[column]], column, file, where))
    if not found:
        raise BitpropInputError("a header but no rows", file=file)
    return list(found.values())


def _growth_series(document, file, column):
    if not isinstance(document, dict):
        raise BitpropInputError("must be a JSON object (or a CSV)", file=file)
    if document.get("format") != GROWTH_FORMAT:
        raise BitpropInputError(f"{document.get('format')!r}: a JSON file must be a "
                                f"{GROWTH_FORMAT} document", file=file, path="format")
    rows = document.get("rows")
    if not isinstance(rows, list) or not rows:
        raise BitpropInputError("must be a non-empty list of rows", file=file, path="rows")
    widths = {row.get("width") for row in rows if isinstance(row, dict)}
    found = {}
    for i, row in enumerate(rows):
        where = f"rows[{i}]"
        if not isinstance(row, dict):
            raise BitpropInputError("must be an object", file=file, path=where)
        for key in ("activation", "width", "depth", column):
            if key not in row:
                raise BitpropInputError(f"no key {key!r}", file=file, path=where)
        name = series_label(str(row["activation"]), row["width"], widths)
        series = found.setdefault(name, Series(name))
        series.depths.append(_number(row["depth"], "depth", file, f"{where}.depth"))
        series.bits.append(_number(row[column], column, file, f"{where}.{column}"))
    return list(found.values())
