"""bitprop's command line: argument parsing and printing only; the work is the Python API's.

Exit status: 0 success, 2 bad input or usage (one line ``bitprop: error: FILE: PATH: PROBLEM``
on stderr), 1 any other failure (a bit-limit or time-budget stop among them), 130 on Ctrl-C,
143 on SIGTERM (handled as Ctrl-C is: the kernels stop at their next poll, Dask clusters close).
"""

import importlib
import signal
import sys

import click

from ..errors import BitpropError, BitpropInputError, TerminatedError

#: The module of each command; it defines ``register(group)`` adding its commands. A module
#: is imported when one of its commands runs (or for --help): ``bitprop grad`` does not load
#: the experiments' numpy and matplotlib.
COMMAND_MODULES = {
    "eval": "network_commands", "grad": "network_commands", "step": "network_commands",
    "slp": "slp_commands", "gadget": "slp_commands",
    "compile": "compile_commands", "solve": "compile_commands", "verify": "compile_commands",
    "growth": "experiment_commands", "figure1": "experiment_commands",
    "pac": "experiment_commands", "demo": "experiment_commands", "fit": "fit_command",
    "import": "import_command", "compare": "compare_command",
}


class _Commands(click.Group):
    """The command group, importing each command's module on first use."""

    def list_commands(self, ctx):
        return list(COMMAND_MODULES)

    def get_command(self, ctx, name):
        if name in COMMAND_MODULES and name not in self.commands:
            importlib.import_module(f"{__name__}.{COMMAND_MODULES[name]}").register(self)
            for command in list(self.commands.values()):
                _give_input_limit(command)
        return self.commands.get(name)


def _give_input_limit(command):
    """--max-input-bytes on every command that reads files: those with arguments (every
    argument of bitprop's commands is a file), in groups too; given here, once, so that no
    command can miss it."""
    from .common import max_input_bytes_option
    for sub in getattr(command, "commands", {}).values():
        _give_input_limit(sub)
    params = command.params
    if (any(isinstance(p, click.Argument) for p in params)
            and max_input_bytes_option not in params):
        params.append(max_input_bytes_option)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="bitprop")
def cli():
    """Exact forward and backward passes of neural-network DAGs on FLINT rationals."""


#: Line breaks and other control characters, as they are shown in an error line.
_CONTROLS = {c: repr(chr(c))[1:-1] for c in [*range(32), 127, 0x85, 0x2028, 0x2029]}


def _fail(message, status):
    """Print the error as exactly one line: a key or value quoted from a file may hold line
    breaks (in a JSON path, unquoted), which would split it."""
    click.echo(f"bitprop: error: {message.translate(_CONTROLS)}", err=True)
    return status


def run(argv=None):
    """Run the command line and return its exit status (the testable core of ``main``)."""
    try:
        _invoke(sys.argv[1:] if argv is None else list(argv))
        return 0
    except TerminatedError:
        return _fail("terminated", 143)
    except BitpropInputError as err:
        return _fail(str(err), 2)
    except click.exceptions.Exit as err:
        return err.exit_code
    except click.Abort:
        return _fail("interrupted", 130)
    except click.ClickException as err:
        return _fail(err.format_message(), err.exit_code)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except BitpropError as err:
        return _fail(str(err), 1)
    except MemoryError:
        return _fail("out of memory (consider --max-bits to stop runaway growth early)", 1)
    except BrokenPipeError:
        return 1
    except OSError as err:          # an output file that cannot be written
        where = f"{err.filename}: " if err.filename else ""
        return _fail(f"{where}cannot write: {err.strerror or err}", 1)
    finally:
        from .common import disarm_time_budget
        from ..jsonfiles import set_max_input_bytes
        disarm_time_budget()
        set_max_input_bytes(None)


def _invoke(args):
    """Parse and run one command. Not click's ``main``, which answers Ctrl-C by printing a
    blank line before ours."""
    with cli.make_context("bitprop", args) as ctx:
        cli.invoke(ctx)


def main():
    """The ``bitprop`` command."""
    from .._memory import install
    install()                       # out of memory inside FLINT/GMP: one line, exit 1
    signal.signal(signal.SIGTERM, _terminate)
    leave(run() if _standard_streams() else 1)


def _terminate(signum, frame):
    """SIGTERM: raised in the main thread as TerminatedError, a KeyboardInterrupt, so that
    everything Ctrl-C stops cleanly stops the same way."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)      # a second SIGTERM ends it at once
    raise TerminatedError()


def _standard_streams():
    """Whether there is a standard output to print to. Python leaves a stream that was
    closed (``>&-``) as None: a closed input reads as empty (a file ``-`` then says so), a
    closed error output discards the error lines (the exit status still tells), and with no
    standard output the command stops at once, saying so."""
    import os
    if sys.stdin is None:
        sys.stdin = open(os.devnull, encoding="utf-8")
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w", encoding="utf-8")
    if sys.stdout is None:
        _fail("standard output is closed", 1)
        return False
    return True


def leave(status):
    """Exit with ``status`` once exit handlers have run and the output is flushed, skipping
    the interpreter's teardown, which frees every object one by one (every fmpq of a large
    gradient, memory the system takes back at once). A command that used Dask
    exits the usual way, since its cluster and threads shut down in that teardown."""
    if "distributed" in sys.modules:
        sys.exit(status)
    import atexit
    import os
    atexit._run_exitfuncs()
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except OSError:                 # a closed pipe or a full disk: the output is incomplete
        status = status or 1
    os._exit(status)
