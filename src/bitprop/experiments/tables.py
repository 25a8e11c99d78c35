"""Writing the harnesses' results: CSV (with a ``#`` setup header), JSON, each file atomically.

Each file is written to a temporary name beside it and renamed into place, so an interrupt
while writing leaves the previous file or the new one, never half of one.
"""

import csv
import io
import json
import math
import os

from ..files import write_atomically


def _atomic_write(path, text):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_atomically(path, lambda handle: handle.write(text))


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("nan" if value != value else
                                                         ("inf" if value > 0 else "-inf"))
    return value


def write_csv(path, columns, rows, comments=()):
    """``rows`` (dicts) under the header ``columns``; each comment line is prefixed ``# ``
    (read back with ``pandas.read_csv(path, comment="#")`` or :func:`read_csv`)."""
    buffer = io.StringIO()
    for line in comments:
        buffer.write(f"# {line}\n")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(name)) for name in columns])
    _atomic_write(path, buffer.getvalue())


def read_csv(path):
    """(comment lines, rows as dicts of strings) of a file written by :func:`write_csv`."""
    with open(path, encoding="utf-8", newline="") as handle:
        lines = handle.read().splitlines()
    comments = [line[2:] for line in lines if line.startswith("#")]
    body = [line for line in lines if not line.startswith("#")]
    return comments, list(csv.DictReader(body))


def _finite(value):
    """JSON has no inf/nan: they are written as the strings "inf", "-inf", "nan"."""
    if isinstance(value, float) and not math.isfinite(value):
        return _cell(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def write_json(path, document):
    _atomic_write(path, json.dumps(_finite(document), indent=1) + "\n")


def jsonable(document):
    """``document`` with non-finite floats as strings (for ``--json`` on stdout)."""
    return _finite(document)


def write_results(directory, prefix, columns, rows, comments, document, figures=(),
                  interrupted=False):
    """The files of one harness run: PREFIX.csv (``comments`` then a line per column with its
    unit), every figure ``(kind, file name, draw(path) -> path)`` when there are rows, and
    PREFIX.json (``document`` plus columns, rows and the file list). Returns {kind: path}."""
    files = {"csv": os.path.join(directory, f"{prefix}.csv"),
             "json": os.path.join(directory, f"{prefix}.json")}
    header = list(comments) + [f"columns: {name} = {unit}" for name, unit in columns.items()]
    if interrupted:
        header.append("interrupted (Ctrl-C): the rows below are the runs that finished")
    write_csv(files["csv"], list(columns), rows, header)
    for kind, name, draw in (figures if rows else ()):
        files[kind] = draw(os.path.join(directory, name))
    write_json(files["json"], dict(document, columns=columns, rows=rows,
                                   interrupted=interrupted, files=files))
    return files
