"""What every bitprop command shares: reading JSON files, printing results, `--json`."""

import json
import re
import sys
from contextlib import contextmanager
from fractions import Fraction

import click

from ..errors import BitpropInputError
from ..numbers import integer_from_text, shown, to_str


def _reject_constant(name):
    raise ValueError(f"{name} is not a number in bitprop's formats; write rationals as strings")


class JsonFloat(float):
    """A float read from JSON that keeps its text, so that errors show ``1e400``, not ``inf``."""

    def __new__(cls, text):
        value = super().__new__(cls, text)
        value.text = text
        return value


class _DuplicateKeys(dict):
    """An object in which ``duplicate`` appeared twice (json keeps the last value)."""

    duplicate = None


def _json_object(pairs, seen_duplicates):
    document = dict(pairs)
    if len(document) == len(pairs):
        return document
    flagged = _DuplicateKeys(document)
    keys = set()
    flagged.duplicate = next(key for key, _ in pairs if key in keys or keys.add(key))
    seen_duplicates.append(flagged.duplicate)
    return flagged


#: A \uD800-\uDFFF escape: json decodes a lone one into a str that is not Unicode text.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _lone_surrogate(text):
    return next((c for c in text if "\ud800" <= c <= "\udfff"), None)


def _first_invalid(document):
    """(JSON path, problem) of the first duplicate key or lone surrogate, or None; iterative,
    since documents may nest as deep as the JSON parser allows."""
    stack = [(document, "")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            bad = _lone_surrogate(value)
            if bad is not None:
                return path, f"the string contains {bad!r}, a lone surrogate (not Unicode text)"
        elif isinstance(value, list):
            stack.extend((item, f"{path}[{i}]") for i, item in reversed(list(enumerate(value))))
        elif isinstance(value, dict):
            if isinstance(value, _DuplicateKeys):
                key = value.duplicate
                return _join(path, key), f"duplicate key {shown(key)} (each key may appear once)"
            for key in reversed(list(value)):
                bad = _lone_surrogate(key)
                if bad is not None:
                    return _join(path, key.encode("utf-8", "backslashreplace").decode()), (
                        f"the key contains {bad!r}, a lone surrogate (not Unicode text)")
                stack.append((value[key], _join(path, key)))
    return None


def _join(path, key):
    return f"{path}.{key}" if path else str(key)


def parse_json_text(text, file):
    """A JSON document, or BitpropInputError naming the file, line and column (or the JSON
    path of a duplicate key or of a lone surrogate escape such as ``"\\ud800"``)."""
    from .._json import pairs_in_document, pairs_in_text
    document = _loads(text, file, None)             # dicts built by json's C decoder
    duplicates = []
    if pairs_in_document(document) != pairs_in_text(text):   # a repeated key: find it
        document = _loads(text, file, lambda pairs: _json_object(pairs, duplicates))
    if duplicates or _SURROGATE_ESCAPE.search(text):
        invalid = _first_invalid(document)
        if invalid is not None:
            raise BitpropInputError(invalid[1], file=file, path=invalid[0] or None)
    return document


def _loads(text, file, pairs_hook):
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_int=integer_from_text,
                          parse_float=JsonFloat, object_pairs_hook=pairs_hook)
    except json.JSONDecodeError as err:
        raise BitpropInputError(
            f"not valid JSON: {err.msg} at line {err.lineno} column {err.colno}",
            file=file) from None
    except ValueError as err:
        raise BitpropInputError(str(err), file=file) from None
    except RecursionError:
        raise BitpropInputError("JSON nested too deeply", file=file) from None


def decode(data, name):
    """UTF-8 text of ``data``: no byte-order mark, no invalid bytes."""
    for bom, encoding in ((b"\xef\xbb\xbf", "UTF-8"), (b"\xff\xfe", "UTF-16"),
                          (b"\xfe\xff", "UTF-16")):
        if data.startswith(bom):
            raise BitpropInputError(f"starts with a {encoding} byte-order mark (BOM); bitprop "
                                    "reads UTF-8 text without one", file=name)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BitpropInputError(f"not UTF-8 text ({err.reason} at byte {err.start})",
                                file=name) from None


def read_bytes(path):
    """(the bytes of ``path``, the name errors should show); ``-`` is standard input, whose
    text is given as a str when a text stream stands in for it (tests)."""
    if path == "-":
        stdin = getattr(sys.stdin, "buffer", None)
        return (sys.stdin.read() if stdin is None else stdin.read()), "<stdin>"
    try:
        with open(path, "rb") as handle:
            return handle.read(), path
    except FileNotFoundError:
        raise BitpropInputError("no such file", file=path) from None
    except IsADirectoryError:
        raise BitpropInputError("is a directory, not a file", file=path) from None
    except OSError as err:
        raise BitpropInputError(err.strerror or str(err), file=path) from None


def read_text(path):
    """The text of ``path`` (``-`` is standard input), with the name errors should show."""
    data, name = read_bytes(path)
    return (data if type(data) is str else decode(data, name)), name


def read_json(path):
    """(document, display name) of a JSON file or ``-``."""
    text, name = read_text(path)
    return parse_json_text(text, name), name


def jsonable(value):
    """Results with Fractions turned into canonical ``"p/q"`` strings, recursively."""
    if isinstance(value, Fraction):
        return to_str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if hasattr(value, "strings"):       # RationalVector: printed by FLINT
        return value.strings()
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        return value.item()
    return value


def json_pieces(value, threads=1):
    """The text of ``json.dumps(jsonable(value))`` as bytes-like pieces, in order. Gradients
    (RationalVectors, 65k+ entries) are printed by FLINT into buffers and spliced in, each
    given as soon as printed, not made into a Python str per entry."""
    if hasattr(value, "json_text"):
        yield from value.json_text(threads)
    elif isinstance(value, dict):
        yield b"{"
        for i, (key, item) in enumerate(value.items()):
            yield f"{', ' if i else ''}{json.dumps(str(key))}: ".encode()
            yield from json_pieces(item, threads)
        yield b"}"
    else:
        yield json.dumps(jsonable(value)).encode()


def emit_json(result, threads=None):
    """Print exactly one JSON object on stdout, its gradients printed on ``threads`` threads
    (default: all cores) while it is written."""
    from ..evaluation import default_threads
    pieces = json_pieces(result, default_threads() if threads is None else threads)
    stream = getattr(sys.stdout, "buffer", None)
    if stream is None:                  # a text stream put in place of stdout (tests)
        sys.stdout.write(b"".join(pieces).decode("ascii") + "\n")
        return
    sys.stdout.flush()
    for piece in pieces:
        stream.write(piece)
    stream.write(b"\n")
    stream.flush()


json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print exactly one JSON object on stdout (rationals as \"p/q\").")


class Progress:
    """A tqdm bar on stderr for long runs: appears after a second, only on a terminal unless
    forced; usable as the ``progress(done, total)`` callback of the evaluator."""

    def __init__(self, description, enabled=None):
        self.description = description
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.bar = None

    def __call__(self, done, total):
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm
            self.bar = tqdm(total=total, desc=self.description, unit="vertex", delay=1.0,
                            file=sys.stderr, leave=False)
        self.bar.n = int(done)
        self.bar.refresh()

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


#: Bounds of --max-bits and --threads: the kernels take them as C longs.
from ..evaluation import MAX_BITS as MAX_BITS_OPTION, MAX_THREADS  # noqa: E402


def _not_nan(ctx, param, value):
    if value is not None and value != value:
        raise click.BadParameter("nan is not a number of seconds")
    return value


def evaluation_options(command):
    """The options every evaluating command shares."""
    options = [
        click.option("--max-bits", type=click.IntRange(min=1, max=MAX_BITS_OPTION), default=None,
                     help="Stop with an error when any value, adjoint or gradient exceeds "
                          "this many bits."),
        click.option("--time-budget", type=click.FloatRange(min=0), default=None,
                     callback=_not_nan,
                     help="Stop with an error after this many seconds."),
        click.option("--threads", type=click.IntRange(min=1, max=MAX_THREADS), default=None,
                     help="Worker threads (default: all cores); results are identical."),
        click.option("--allow-float", is_flag=True,
                     help="Accept JSON floats as the exact binary value of the double."),
        click.option("--progress/--no-progress", default=None,
                     help="Progress bar on stderr (default: when stderr is a terminal)."),
        json_option,
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _dask_target(ctx, param, value):
    if value is None:
        return None
    from ..distributed.cluster import parse_target       # no Dask import until it runs
    parse_target(value)
    return value


def dask_option(what):
    """--dask ADDRESS|local:N: run on a Dask cluster (bitprop.distributed); ``what`` says what
    becomes the tasks and what --threads then counts."""
    return click.option(
        "--dask", "dask", default=None, metavar="ADDRESS|local:N", callback=_dask_target,
        help="Run on Dask: an existing scheduler (tcp://host:8786) or local:N (start N worker "
             f"processes here). Results are identical; {what}.")


@contextmanager
def dask_client(spec):
    """The Dask client of a ``--dask`` value (closed on exit), or None without one; Dask is
    imported only in the first case."""
    if spec is None:
        yield None
        return
    from ..distributed import connect
    with connect(spec) as client:
        yield client
