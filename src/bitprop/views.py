"""Read-only dicts over what a kernel left in arrays: each value is made when it is read, so
that a result with thousands of entries costs nothing until someone looks."""

from collections.abc import Mapping


class KeyedView(Mapping):
    """A read-only Mapping over ``keys`` (in order); a subclass says how a key's value is
    made (``__getitem__``). Compares equal to a dict of the same items."""

    def __init__(self, keys):
        self._keys = keys

    def __iter__(self):
        return iter(self._keys)

    def __len__(self):
        return len(self._keys)

    def __repr__(self):
        return repr(dict(self))
