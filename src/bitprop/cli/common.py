"""What every bitprop command shares: reading JSON files, printing results, `--json`."""

import json
import sys
from fractions import Fraction

import click

from ..errors import BitpropInputError
from ..numbers import to_str


def _reject_constant(name):
    raise ValueError(f"{name} is not a number in bitprop's formats; write rationals as strings")


def parse_json_text(text, file):
    """A JSON document, or BitpropInputError naming the file, line and column."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as err:
        raise BitpropInputError(
            f"not valid JSON: {err.msg} at line {err.lineno} column {err.colno}",
            file=file) from None
    except ValueError as err:
        raise BitpropInputError(str(err), file=file) from None
    except RecursionError:
        raise BitpropInputError("JSON nested too deeply", file=file) from None


def read_text(path):
    """The text of ``path`` (``-`` is standard input), with the name errors should show."""
    if path == "-":
        return sys.stdin.read(), "<stdin>"
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read(), path
    except FileNotFoundError:
        raise BitpropInputError("no such file", file=path) from None
    except IsADirectoryError:
        raise BitpropInputError("is a directory, not a file", file=path) from None
    except UnicodeDecodeError as err:
        raise BitpropInputError(f"not UTF-8 text ({err.reason} at byte {err.start})",
                                file=path) from None
    except OSError as err:
        raise BitpropInputError(err.strerror or str(err), file=path) from None


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
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        return value.item()
    return value


def emit_json(result):
    """Print exactly one JSON object on stdout."""
    sys.stdout.write(json.dumps(jsonable(result)))
    sys.stdout.write("\n")


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


def evaluation_options(command):
    """The options every evaluating command shares."""
    options = [
        click.option("--max-bits", type=click.IntRange(min=1), default=None,
                     help="Stop with an error when any value, adjoint or gradient exceeds "
                          "this many bits."),
        click.option("--time-budget", type=click.FloatRange(min=0), default=None,
                     help="Stop with an error after this many seconds."),
        click.option("--threads", type=click.IntRange(min=1), default=None,
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
