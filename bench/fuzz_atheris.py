"""Coverage-guided fuzzing of bitprop's readers with atheris (libFuzzer for Python).

    pip install atheris
    python3 bench/fuzz_atheris.py -max_total_time=300            # seeds: tests/data/good
    python3 bench/fuzz_atheris.py -runs=100000 CORPUS_DIR        # libFuzzer's options

The first byte picks a reader (network, dataset, SLP, polynomial, instance, rational), the
rest is the file's bytes, decoded and parsed exactly as the command line does. A reader may
accept the input or raise BitpropInputError; any other exception, a crash or a hang is a
finding (libFuzzer writes the input to crash-*/timeout-*). Readers only, never the kernels:
a valid random network may legitimately run for ever (z^2 chains), which is max_bits' job.
"""

import signal
import sys
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from bitprop import BitpropInputError, Dataset, Network
    from bitprop.jsonfiles import decode, parse_json_text
    from bitprop.numbers import rational
    from bitprop.slp import Program, parse_polynomial
    try:
        from bitprop.instance import Instance
    except ImportError:
        Instance = None


def _json(text):
    return parse_json_text(text, "fuzz.json")


READERS = [
    lambda text: Network.from_json(_json(text), file="fuzz.json"),
    lambda text: Dataset.from_json(_json(text), file="fuzz.json"),
    lambda text: Program.parse(text, "fuzz.slp"),
    lambda text: parse_polynomial(text, "--sigma"),
    lambda text: rational(text, "x"),
]
if Instance is not None:
    READERS.append(lambda text: Instance.from_json(_json(text), file="fuzz.json"))


def one_input(data):
    if not data:
        return
    reader = READERS[data[0] % len(READERS)]
    try:
        reader(decode(bytes(data[1:]), "fuzz"))
    except BitpropInputError:
        pass


def seeds():
    """The valid companion files of the bad-input corpus, one per reader, as seed inputs."""
    good = Path(__file__).resolve().parents[1] / "tests" / "data" / "good"
    pairs = [(0, "network.json"), (1, "dataset.json"), (2, "slp.json"), (2, "program.slp"),
             (5, "instance.json")]
    found = [bytes([k]) + (good / name).read_bytes() for k, name in pairs if (good / name).exists()]
    return found + [bytes([3]) + b"3/2*z^3 - z + 1/5", bytes([4]) + b"-7/12"]


def main():
    argv = list(sys.argv)
    if not any(not a.startswith("-") for a in argv[1:]):      # no corpus directory given
        corpus = Path(__file__).resolve().parent / "results" / "atheris-corpus"
        corpus.mkdir(parents=True, exist_ok=True)
        for i, seed in enumerate(seeds()):
            (corpus / f"seed-{i}").write_bytes(seed)
        argv.append(str(corpus))
    # cysignals (imported by bitprop's kernels) turns SIGALRM into AlarmInterrupt in Python,
    # but libFuzzer ticks SIGALRM once a second for -timeout: hand the signal back to it.
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
