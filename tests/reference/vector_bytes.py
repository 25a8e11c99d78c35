"""An independent reader of RationalVector's bytes (``_convert._bytes``), written from the
format alone, for the decoder fuzzer: the values, or None where the bytes are not a vector.

Format: varints n, m, indexed (0 or 1); with an index, n varints each < m; then m values, each
a numerator and a denominator (denominator > 0, lowest terms). An integer is a varint u: even,
u // 2 zigzag-encodes it; odd, u // 2 = k >= 1 words of little-endian two's complement follow.
"""

from fractions import Fraction
from math import gcd


class Bad(Exception):
    pass


def varint(u):
    """u as the varint _put_varint writes."""
    out = bytearray()
    while u >= 128:
        out.append(u & 127 | 128)
        u >>= 7
    out.append(u)
    return bytes(out)


def read_varint(data, at):
    u = shift = 0
    while True:
        if at >= len(data):
            raise Bad("truncated")
        u |= (data[at] & 127) << shift
        shift += 7
        at += 1
        if u >= 1 << 64:
            raise Bad("above 64 bits")
        if data[at - 1] < 128:
            return u, at


def read_integer(data, at):
    u, at = read_varint(data, at)
    if u % 2 == 0:
        u //= 2
        return (u >> 1) ^ -(u & 1), at
    k = u // 2
    if k == 0 or at + 8 * k > len(data):
        raise Bad("big integer")
    return int.from_bytes(data[at:at + 8 * k], "little", signed=True), at + 8 * k


def fields(data):
    """(start, end) of every varint of a valid encoding: the header, the index, and the
    leading varint of each numerator and denominator."""
    spans, at = [], 0
    header = []
    for _ in range(3):
        u, end = read_varint(data, at)
        spans.append((at, end))
        header.append(u)
        at = end
    n, m, indexed = header
    for _ in range(n if indexed else 0):
        _, end = read_varint(data, at)
        spans.append((at, end))
        at = end
    for _ in range(2 * m):
        _, end = read_varint(data, at)
        spans.append((at, end))
        _, at = read_integer(data, at)
    return spans


def decode(data):
    """The vector's values as Fractions, or None for bytes that are not a valid vector."""
    try:
        return _decode(data)
    except Bad:
        return None


def _decode(data):
    n, at = read_varint(data, 0)
    m, at = read_varint(data, at)
    indexed, at = read_varint(data, at)
    if indexed > 1 or (not indexed and n != m) or (indexed and n > len(data)):
        raise Bad("header")
    index = []
    for _ in range(n if indexed else 0):
        i, at = read_varint(data, at)
        if i >= m:
            raise Bad("index")
        index.append(i)
    stored = []
    for _ in range(m):
        p, at = read_integer(data, at)
        q, at = read_integer(data, at)
        if q <= 0 or gcd(p, q) != 1:
            raise Bad("not canonical")
        stored.append(Fraction(p, q))
    if at != len(data):
        raise Bad("trailing bytes")
    return [stored[i] for i in index] if indexed else stored
