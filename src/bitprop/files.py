"""Writing user files: every writer of bitprop (networks, datasets, SLPs, instances, tables,
plots) goes through ``write_atomically``, so an interrupt, a full disk or an error midway
leaves the previous file or the new one, never half of one, and no temporary behind.
"""

import contextlib
import os
import secrets
import stat
import sys

#: The path that means standard output, as ``-`` means standard input to the readers.
STANDARD_OUTPUT = "-"


def write_atomically(path, write, binary=False):
    """Call ``write(handle)`` on a new temporary file in ``path``'s folder, then rename it
    over ``path`` (``os.replace``: all or nothing). On any error or interrupt the temporary
    is removed and ``path`` is left as it was. ``-`` writes to standard output; a target
    that exists and is not a regular file (``/dev/null``, a pipe) is written in place. An
    ``OSError`` names ``path``."""
    path = os.fspath(path)
    if path == STANDARD_OUTPUT:
        with naming(path):
            _write_standard_output(write, binary)
        return
    target = os.path.realpath(path)           # replace a symlink's file, not the link
    with naming(path):
        if os.path.exists(target) and not os.path.isfile(target):
            with open(target, "wb" if binary else "w", **_text(binary)) as handle:
                write(handle)
            return
        temporary, handle = _create_beside(target, binary)
    try:
        with naming(path):
            with handle:
                write(handle)
            _keep_mode(target, temporary)
            os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


@contextlib.contextmanager
def naming(path):
    """Re-raise an ``OSError`` (a failed write, or one naming the temporary) as one naming
    ``path``, the file the user asked for."""
    try:
        yield
    except BrokenPipeError:
        raise
    except OSError as err:
        raise OSError(err.errno, err.strerror or str(err), os.fspath(path)) from None


def _text(binary):
    return {} if binary else {"encoding": "utf-8", "newline": ""}


def _create_beside(target, binary):
    """A new file of a fresh name in target's folder (created with the umask's mode, as
    open would create target) and its open handle."""
    folder, name = os.path.split(target)
    temporary = os.path.join(folder, f".{name}.{secrets.token_hex(6)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        return temporary, os.fdopen(descriptor, "wb" if binary else "w", **_text(binary))
    except BaseException:
        os.close(descriptor)
        os.unlink(temporary)
        raise


def _keep_mode(target, temporary):
    """The replaced file's permissions carry over to its replacement."""
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        return
    os.chmod(temporary, mode)


def _write_standard_output(write, binary):
    stream = sys.stdout
    if stream is None:
        raise OSError(9, "standard output is closed")
    if binary:
        stream.flush()
        stream = stream.buffer
    write(stream)
    stream.flush()
