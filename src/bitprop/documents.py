"""The shape of bitprop's JSON documents (network, dataset, instance, SLP) and of the objects
nested in them, checked in one place so that each problem has one wording: not an object,
an unknown key (a typo must not be ignored), another format, a missing key, not a list."""

from .errors import BitpropInputError
from .numbers import shown


def check_object(value, keys, *, path=None, format=None, required=(), lists=None, or_else=None):
    """Raise BitpropInputError unless ``value`` is a JSON object whose keys are among ``keys``
    (listed in that order by the message), whose ``format``, when present, is ``format``,
    which has every key of ``required``, and whose keys of ``lists`` (key -> what the list
    holds) hold lists. ``path``: where the object is (None: a document's top level);
    ``or_else``: what else a reader takes in its place, for the message."""
    if not isinstance(value, dict):
        what = (f" ({format})" if format else "") + (f" or {or_else}" if or_else else "")
        raise BitpropInputError(f"expected a JSON object{what}, got {shown(value)}", path=path)
    check_keys(value, keys, path)
    if format is not None and value.get("format", format) != format:
        raise BitpropInputError(f"format is {shown(value['format'])}, expected {format!r}",
                                path=_join(path, "format"))
    for key in required:
        if key not in value:
            raise BitpropInputError(f"missing key {key!r}", path=path)
    for key, items in (lists or {}).items():
        if key in value:
            check_list(value[key], items, _join(path, key))


def check_keys(value, keys, path=None):
    """Raise BitpropInputError at the first key of the object ``value`` not among ``keys``."""
    for key in value:
        if key not in keys:
            raise BitpropInputError(f"unknown key {shown(key)} (expected one of "
                                    f"{', '.join(keys)})", path=_join(path, key))


def check_list(value, items, path):
    """Raise BitpropInputError unless ``value`` is a list (of ``items``, for the message)."""
    if not isinstance(value, list):
        raise BitpropInputError(f"expected a list of {items}, got {shown(value)}", path=path)


def _join(path, key):
    return f"{path}.{key}" if path else key
