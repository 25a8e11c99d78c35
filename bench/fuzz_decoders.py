"""A longer mutation fuzz of the byte decoders than the suite's (tests/test_decoder_fuzz.py):
RationalVector bytes (unpickling, every Dask transfer) and edges arrays read by the C reader.

    python3 bench/fuzz_decoders.py --seconds 600 [--seed 1]

Each round takes a valid encoding, damages it (truncation, a varint set to 0, 2^k - 1 or
2^64 - 1, random byte changes, random bytes), and checks that the decoder gives exactly what
tests/reference/vector_bytes reads or refuses with DamagedBytesError; the C edge reader gets
damaged network files and must give the full reader's network or decline. Anything else,
and any crash (run it under the sanitizer build, bench/README.md), is a finding. Prints the
rounds and findings; exit status 1 on a finding.
"""

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import bitprop                                            # noqa: E402
from bitprop import _convert                              # noqa: E402
from reference.vector_bytes import decode, varint          # noqa: E402


def _encodings(rng):
    vectors = [[], [0], [bitprop.rational("3/7"), -1, 2 ** 70], [bitprop.rational("1/3")] * 4]
    vectors += [[rng.randint(-2 ** 90, 2 ** 90) for _ in range(rng.randint(1, 9))]
                for _ in range(20)]
    return [_convert.RationalVector.from_values(v).__reduce__()[1][0] for v in vectors]


def _damaged(data, rng):
    data = bytearray(data)
    kind = rng.randrange(4)
    if kind == 0 and data:
        return bytes(data[:rng.randrange(len(data))])
    if kind == 1 and data:
        at = rng.randrange(len(data))
        value = rng.choice([0, 1, 2 ** rng.randrange(1, 64) - 1, 2 ** 64 - 1])
        return bytes(data[:at]) + varint(value) + bytes(data[at + 1:])
    if kind == 2:
        for _ in range(rng.randint(1, 4)):
            if data:
                data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    return bytes(rng.randrange(256) for _ in range(rng.randint(0, 64)))


def _vector_round(encodings, rng):
    data = _damaged(rng.choice(encodings), rng)
    try:
        got = list(_convert._from_bytes(data))
    except bitprop.DamagedBytesError:
        got = None
    return got == decode(data), data


def _edges_round(rng):
    """A network file with damaged edges: the C reader's network is the full reader's."""
    net = bitprop.Network.mlp([2, 3, 1], weights=[[[1, "1/3"]] * 3, [["2/5"] * 3]])
    text = bytearray(json.dumps(net.to_json()).encode())
    for _ in range(rng.randint(1, 3)):
        text[rng.randrange(len(text))] = rng.choice(b'[]{},:"0123456789/-e ')
    data = bytes(text)
    try:
        fast = bitprop.Network._from_plain_text(data, "fuzz", False)
    except bitprop.BitpropInputError:
        fast = None
    if fast is None:
        return True, data
    full = bitprop.Network.from_json(json.loads(data.decode()), file="fuzz")
    return fast.to_json() == full.to_json(), data


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args()
    rng = random.Random(options.seed)
    encodings = _encodings(rng)
    rounds = findings = 0
    end = time.monotonic() + options.seconds
    while time.monotonic() < end:
        for _ in range(200):
            ok, data = _vector_round(encodings, rng) if rounds % 4 else _edges_round(rng)
            rounds += 1
            if not ok:
                findings += 1
                print(f"finding: {data[:200]!r}", file=sys.stderr)
    print(f"{rounds} rounds, {findings} findings")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
