"""What every bitprop command shares: printing results, `--json`, progress, options."""

import json
import signal
import sys
import threading
from contextlib import contextmanager
from fractions import Fraction

import click

from ..errors import TimeBudgetError
from ..files import STANDARD_OUTPUT
from ..jsonfiles import set_max_input_bytes
from ..numbers import to_str


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


def not_nan(ctx, param, value):
    if value is not None and value != value:
        raise click.BadParameter("nan is not a number of seconds")
    return value


def budget_whole_command(ctx, param, value):
    """--time-budget's callback: the budget covers the command from here on."""
    value = not_nan(ctx, param, value)
    if value is not None:
        arm_time_budget(value)
    return value


def arm_time_budget(seconds):
    """From now on the whole command, reading its files included, has ``seconds``: then
    SIGALRM raises TimeBudgetError in the main thread, where the readers run and where the
    kernels' threads are waited for (which then set their stop flag, as on Ctrl-C). The
    kernels' own budget, counted from a later start, is only a second guard."""
    if threading.current_thread() is not threading.main_thread():
        return

    def expired(signum, frame):
        disarm_time_budget()
        raise TimeBudgetError(f"stopped after the time budget of {seconds:g} s")

    signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)


def take_time_budget(seconds):
    """The whole-command budget's seconds left (``seconds`` when none is armed), disarmed:
    for callers that stop on their own and report what they reached (--certify)."""
    if seconds is None or threading.current_thread() is not threading.main_thread():
        return seconds
    left = signal.getitimer(signal.ITIMER_REAL)[0]
    disarm_time_budget()
    return max(left, 1e-3) if left > 0 else seconds


def disarm_time_budget():
    """No time budget any more (run's end, or the budget's own alarm)."""
    if threading.current_thread() is threading.main_thread():
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)


def _max_input_bytes(ctx, param, value):
    set_max_input_bytes(value)
    return value


#: --max-input-bytes, which the command group gives every command that reads files.
max_input_bytes_option = click.Option(
    ["--max-input-bytes"], type=click.IntRange(min=1), default=None, metavar="N",
    callback=_max_input_bytes, expose_value=False, is_eager=True,
    help="Refuse any input file (or standard input) of more than N bytes (default 2^30 = "
         "1 GiB); pipes and devices are read up to N.")


def evaluation_options(command):
    """The options every evaluating command shares."""
    options = [
        click.option("--max-bits", type=click.IntRange(min=1, max=MAX_BITS_OPTION), default=None,
                     help="Stop with an error when any value, adjoint or gradient exceeds "
                          "this many bits."),
        click.option("--time-budget", type=click.FloatRange(min=0, min_open=True), default=None,
                     callback=budget_whole_command,
                     help="Stop with an error after this many seconds (reading the files "
                          "included)."),
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


def reporter(output, as_json):
    """click.echo for the report of a command that writes the file OUTPUT: on standard error
    when OUTPUT is ``-`` (standard output carries the file). --json's object would share
    standard output with the file: refused."""
    to_stdout = output == STANDARD_OUTPUT
    if to_stdout and as_json:
        raise click.UsageError("-o - writes the file to standard output, where --json prints "
                               "its object: give a file name or leave out --json")
    return lambda message: click.echo(message, err=to_stdout)
