# cython: language_level=3
"""Running out of memory inside FLINT or GMP ends the command line with its one-line error.

GMP and FLINT abort the process when an allocation fails ("GNU MP: Cannot allocate memory",
exit 134), and a failed allocation cannot be returned to them: they have no way to go on
without the memory. ``install`` gives bitprop's own FLINT and GMP (Debian's, which the
kernels link; python-flint carries its own copies, untouched here) allocation functions
that do what they did, and when the system refuses, print the command line's error line
and end the process with exit status 1. Called by ``bitprop.cli.main`` only: a program that
imports bitprop keeps the libraries' own behaviour.
"""

from libc.stdlib cimport malloc, calloc, realloc, free
from libc.string cimport strlen

from bitprop._flint cimport mp_set_memory_functions, __flint_set_memory_functions

cdef extern from "<unistd.h>" nogil:
    ssize_t write(int fd, const void *buf, size_t count)
    void _exit(int status)


cdef const char *MESSAGE = (
    b"bitprop: error: out of memory inside FLINT/GMP (consider --max-bits to stop runaway "
    b"growth early)\n")


cdef void _out_of_memory() noexcept nogil:
    """The error line, then exit status 1 at once: only async-signal-safe calls, since the
    allocator may have failed anywhere, in any thread."""
    write(2, MESSAGE, strlen(MESSAGE))
    _exit(1)


cdef void *_malloc(size_t size) noexcept nogil:
    cdef void *block = malloc(size)
    if block == NULL and size:
        _out_of_memory()
    return block


cdef void *_calloc(size_t count, size_t size) noexcept nogil:
    cdef void *block = calloc(count, size)
    if block == NULL and count and size:
        _out_of_memory()
    return block


cdef void *_realloc(void *old, size_t size) noexcept nogil:
    cdef void *block = realloc(old, size)
    if block == NULL and size:
        _out_of_memory()
    return block


cdef void *_gmp_realloc(void *old, size_t old_size, size_t size) noexcept nogil:
    return _realloc(old, size)


cdef void _gmp_free(void *block, size_t size) noexcept nogil:
    free(block)


def install():
    """Route bitprop's FLINT and GMP allocations through the functions above. They use the C
    library's allocator, as the defaults do, so blocks allocated before stay valid."""
    mp_set_memory_functions(_malloc, _gmp_realloc, _gmp_free)
    __flint_set_memory_functions(_malloc, _calloc, _realloc, free)
