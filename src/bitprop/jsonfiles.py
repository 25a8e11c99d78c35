"""Reading bitprop's JSON files: bytes or standard input, UTF-8 without a byte-order mark,
json's C decoder, and errors naming the file with a line and column, a repeated key or a
lone surrogate escape by its JSON path. The library's readers (Network, Dataset, instances,
SLPs) and the command line share it."""

import json
import os
import re
import sys

from .errors import BitpropInputError
from .numbers import integer_from_text, shown


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
    from ._json import pairs_in_document, pairs_in_text
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


#: The most bytes a reader takes from one file or standard input (bitprop's --max-input-bytes;
#: set this to change it in a program). 1 GiB: the largest networks and datasets bitprop is
#: measured on are a few hundred MB, and the full JSON reader needs about ten times a file's
#: size in Python objects, so a larger input is more likely /dev/zero or a wrong file than
#: a network, and would exhaust memory before any message.
MAX_INPUT_BYTES = 1 << 30
_DEFAULT_MAX_INPUT_BYTES = MAX_INPUT_BYTES

#: Non-regular files (pipes, /dev/zero, standard input) are read in chunks of this size.
_CHUNK = 1 << 20


def read_bytes(path):
    """(the bytes of ``path``, the name errors should show); ``-`` is standard input, whose
    text is given as a str when a text stream stands in for it (tests). More than
    MAX_INPUT_BYTES is refused, naming the file, before it is all read."""
    if path == "-":
        stdin = getattr(sys.stdin, "buffer", None)
        return _bounded(sys.stdin if stdin is None else stdin, "<stdin>"), "<stdin>"
    try:
        with open(path, "rb") as handle:
            return _bounded(handle, path), path
    except FileNotFoundError:
        raise BitpropInputError("no such file", file=path) from None
    except IsADirectoryError:
        raise BitpropInputError("is a directory, not a file", file=path) from None
    except OSError as err:
        raise BitpropInputError(err.strerror or str(err), file=path) from None


def _bounded(handle, name):
    """All of ``handle``, read in chunks so that an endless one (/dev/zero, a pipe) stops at
    the limit; a regular file larger than the limit is refused before it is read."""
    limit = MAX_INPUT_BYTES
    try:
        size = os.fstat(handle.fileno()).st_size if _regular(handle) else -1
    except (OSError, ValueError, AttributeError):
        size = -1
    if size > limit:
        _too_large(name, limit, size)
    chunks, total = [], 0
    while True:
        chunk = handle.read(min(_CHUNK, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            _too_large(name, limit)
    if len(chunks) == 1:
        return chunks[0]
    return (handle.read(0) if not chunks else chunks[0][:0]).join(chunks)


def _regular(handle):
    import stat
    return stat.S_ISREG(os.fstat(handle.fileno()).st_mode)


def _too_large(name, limit, size=None):
    has = "has more" if size is None else f"has {size} bytes, more"
    raise BitpropInputError(f"{has} than the input limit of {limit} bytes "
                            "(--max-input-bytes)", file=name)


def set_max_input_bytes(limit=None):
    """Set the input limit (None: back to the default); the command line's --max-input-bytes."""
    global MAX_INPUT_BYTES
    MAX_INPUT_BYTES = _DEFAULT_MAX_INPUT_BYTES if limit is None else limit


def read_text(path):
    """The text of ``path`` (``-`` is standard input), with the name errors should show."""
    data, name = read_bytes(path)
    return _text(data, name), name


def _text(data, name):
    """What read_bytes gave, as text."""
    return data if type(data) is str else decode(data, name)


def read_json(path):
    """(document, display name) of a JSON file or ``-``."""
    text, name = read_text(path)
    return parse_json_text(text, name), name


def load(path, plain, full, allow_float):
    """What a file describes, read by its format's C reader, ``plain(data, name,
    allow_float)`` of its bytes, or when that gives None by its full reader, ``full(document,
    file=name, allow_float=allow_float)`` of the file parsed whole: Network.load and
    Dataset.load."""
    data, name = read_bytes(path)
    loaded = plain(data, name, allow_float) if type(data) is bytes else None
    if loaded is None:
        loaded = full(parse_json_text(_text(data, name), name), file=name,
                      allow_float=allow_float)
    return loaded


def read_plain(data, name, key, columns, build):
    """``build(document, columns(document, span))`` for a file whose top-level array ``key``
    lies at data[start:end], span = (start, end, items) (see _plain_json.find_array; items:
    a bound on how many it holds), ``document`` being the rest of the file with that array
    read as []. None is how this fast path declines a file, which the full reader then reads
    and, if it has a problem, names (so that each problem has one wording): when there is no
    such array, the rest is not valid JSON, ``columns`` gives None (an item the C reader does
    not read, valid or not), or ``build`` finds an error."""
    from ._plain_json import find_array
    span = find_array(data, key)
    if span is None:
        return None
    start, end, _ = span
    try:
        document = parse_json_text(decode(data[:start] + b"[]" + data[end:], name), name)
        filled = columns(document, span)
        return None if filled is None else build(document, filled)
    except BitpropInputError:
        return None
