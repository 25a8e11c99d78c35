"""bitprop's exceptions: what went wrong, where, and (for input) in which file and JSON path."""


class BitpropError(Exception):
    """Base class of every error bitprop raises on purpose."""


class BitpropInputError(BitpropError, ValueError):
    """Input that does not conform: names the file, the JSON path and the problem.

    ``str(err)`` is ``"FILE: PATH: PROBLEM"`` (parts that are unknown are left out), the exact
    line the command line prints after ``bitprop: error:``.
    """

    def __init__(self, problem, *, file=None, path=None):
        self.problem = problem
        self.file = file
        self.path = path
        super().__init__(self._text())

    def _text(self):
        return ": ".join(part for part in (self.file, _short(self.path), self.problem) if part)

    def at(self, file=None, path_prefix=None):
        """The same error, placed in ``file`` and below ``path_prefix`` (used while nesting)."""
        path = self.path
        if path_prefix:
            path = path_prefix + ("" if not path else path if path.startswith("[") else "." + path)
        return BitpropInputError(self.problem, file=file or self.file, path=path)

    def __reduce__(self):
        return (_rebuild_input_error, (self.problem, self.file, self.path))


#: A JSON path longer than this (its keys come from the file) is shown cut in the middle, so
#: that an error stays one readable line.
PATH_SHOWN = 200


def _short(path):
    if path is None or len(path) <= PATH_SHOWN:
        return path
    return f"{path[:PATH_SHOWN // 2]}...({len(path)} characters)...{path[-PATH_SHOWN // 4:]}"


def _rebuild_input_error(problem, file, path):
    return BitpropInputError(problem, file=file, path=path)


class BitLimitError(BitpropError):
    """A value outgrew the ``max_bits`` guard: runaway growth stopped before memory ran out."""

    def __init__(self, message, *, vertex=None, depth=None, bits=None, limit=None):
        self.vertex, self.depth, self.bits, self.limit = vertex, depth, bits, limit
        super().__init__(message)

    def __reduce__(self):
        return (_rebuild_bit_limit, (str(self), self.vertex, self.depth, self.bits, self.limit))


def _rebuild_bit_limit(message, vertex, depth, bits, limit):
    return BitLimitError(message, vertex=vertex, depth=depth, bits=bits, limit=limit)


class DamagedBytesError(BitpropError, ValueError):
    """Bytes that should hold a bitprop value (a pickled RationalVector, a packed vector on
    Dask's wire) do not: truncated, damaged or forged. Says what is wrong and at which byte."""


class TimeBudgetError(BitpropError):
    """A computation ran past its time budget and was stopped cleanly."""


class TerminatedError(KeyboardInterrupt):
    """SIGTERM asked the command line to stop: a KeyboardInterrupt, so that it stops every
    computation as Ctrl-C does (exit status 143)."""
