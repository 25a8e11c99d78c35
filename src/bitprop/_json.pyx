# cython: language_level=3
"""What Python's json module does not check, counted at C speed: a key repeated in an object.

json.loads keeps the last of two equal keys. Counting the ``:`` outside strings of a valid
document gives its key-value pairs; the dicts json built hold as many entries exactly when no
object repeats a key. So a file is read by json's own C decoder, and only a file that repeats
a key is read again, slowly, to name it (cli/common.py).
"""

from cpython.unicode cimport PyUnicode_AsUTF8AndSize


def pairs_in_text(str text):
    """The key-value pairs of the valid JSON ``text``: its ``:`` outside strings (scanned as
    UTF-8, whose multi-byte sequences never hold a quote, backslash or colon)."""
    cdef const char *s
    cdef Py_ssize_t n, i = 0
    cdef long pairs = 0
    cdef bytes encoded
    if text.isascii():
        s = PyUnicode_AsUTF8AndSize(text, &n)
    else:                                   # may hold lone surrogates (command-line text)
        encoded = text.encode("utf-8", "surrogatepass")
        s, n = encoded, len(encoded)
    with nogil:
        while i < n:
            if s[i] == 34:                  # '"': skip the string, escapes included
                i += 1
                while i < n and s[i] != 34:
                    i += 2 if s[i] == 92 else 1
            elif s[i] == 58:                # ':'
                pairs += 1
            i += 1
    return pairs


def pairs_in_document(document):
    """The entries of every dict in a parsed JSON document (iterative: any depth)."""
    cdef long pairs = 0
    cdef list stack = [document]
    while stack:
        value = stack.pop()
        if type(value) is dict:
            pairs += len(<dict>value)
            for item in (<dict>value).values():
                if type(item) is dict or type(item) is list:
                    stack.append(item)
        elif type(value) is list:
            for item in <list>value:
                if type(item) is dict or type(item) is list:
                    stack.append(item)
    return pairs
