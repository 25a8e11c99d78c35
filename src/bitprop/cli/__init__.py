"""bitprop's command line: argument parsing and printing only; the work is the Python API's.

Exit status: 0 success, 2 bad input or usage (one line ``bitprop: error: FILE: PATH: PROBLEM``
on stderr), 1 any other failure (a bit-limit or time-budget stop among them), 130 on Ctrl-C.
"""

import importlib
import sys

import click

from ..errors import BitpropError, BitpropInputError

#: Modules that each define ``register(group)`` adding their commands.
COMMAND_MODULES = ("network_commands", "slp_commands", "compile_commands", "experiment_commands")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="bitprop")
def cli():
    """Exact forward and backward passes of neural-network DAGs on FLINT rationals."""


for _name in COMMAND_MODULES:
    try:
        _module = importlib.import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as _err:
        if _err.name != f"{__name__}.{_name}":
            raise
        continue
    _module.register(cli)


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
        cli.main(args=argv, prog_name="bitprop", standalone_mode=False)
        return 0
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


def main():
    sys.exit(run())
