"""The C peers' plumbing: build bench/c/ against the system FLINT 2.9, write the instance file,
run a program and read back its timing, peak RSS and canonical values."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

C_DIR = Path(__file__).resolve().parents[1] / "c"
BUILD_DIR = C_DIR / "build"
FLINT_HEADER = Path("/usr/include/flint/fmpq.h")
PROGRAMS = {"bench_scalar": ["scalar.c", "instance_io.c"],
            "bench_mat": ["mat.c", "instance_io.c"],
            "bench_gcd_rule": ["gcd_rule.c"]}
CFLAGS = ["-O2", "-std=c11", "-Wall", "-Wextra"]
LIBS = ["-lflint", "-lgmp"]


def unavailable_reason():
    """None when the C peers can be built here, else why not."""
    if shutil.which("gcc") is None:
        return "gcc not found"
    if not FLINT_HEADER.exists():
        return f"{FLINT_HEADER} not found (apt-get install libflint-dev)"
    return None


def build():
    """Compile the programs that are missing or older than their sources; return their paths."""
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    headers = list(C_DIR.glob("*.h"))
    paths = {}
    for program, sources in PROGRAMS.items():
        target = BUILD_DIR / program
        source_paths = [C_DIR / s for s in sources]
        newest = max(p.stat().st_mtime for p in source_paths + headers)
        if not target.exists() or target.stat().st_mtime < newest:
            # Build beside the target and rename, so a concurrent reader never sees half a file.
            partial = BUILD_DIR / f".{program}.{os.getpid()}"
            command = ["gcc", *CFLAGS, "-o", str(partial), *map(str, source_paths), *LIBS]
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"building {program} failed:\n{' '.join(command)}\n{done.stderr}")
            os.replace(partial, target)
        paths[program] = target
    return paths


def _hex(q) -> str:
    sign = "-" if q < 0 else ""
    return f"{sign}{abs(q.numerator):x}/{q.denominator:x}"


def write_instance(instance, path):
    """The instance file described in bench/c/instance_io.h."""
    with open(path, "w") as out:
        out.write(f"bitprop-bench-instance/1\n{instance.activation}\n{instance.depth}\n")
        out.write(" ".join(map(str, instance.widths)) + f"\n{instance.batch}\n")
        for matrix, vector in zip(instance.weights, instance.biases):
            for row in matrix:
                out.writelines(_hex(v) + "\n" for v in row)
            out.writelines(_hex(v) + "\n" for v in vector)
        for rows in (instance.inputs, instance.labels):
            for row in rows:
                out.writelines(_hex(v) + "\n" for v in row)


def run_program(arguments, instance, repeat):
    """Run one program on the instance; returns (header dict, list of value strings)."""
    with tempfile.TemporaryDirectory(prefix="bitprop-bench-") as tmp:
        path = Path(tmp) / "instance.txt"
        write_instance(instance, path)
        command = [*map(str, arguments), str(path), str(repeat.max_reps), str(repeat.budget)]
        done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited with {done.returncode}: "
                           f"{done.stderr.strip()[-2000:]}")
    lines = done.stdout.split("\n")
    header = {}
    for index, line in enumerate(lines):
        key, _, value = line.partition(" ")
        header[key] = value
        if key == "values":
            count = int(value)
            return header, lines[index + 1: index + 1 + count]
    raise RuntimeError(f"{' '.join(command)}: no 'values' line in its output")


def unflatten(instance, values):
    """The canonical (loss, grads_W, grads_b) of the flat value list the programs print."""
    widths, depth = instance.widths, instance.depth
    position = 1
    grads_W = []
    for l in range(depth):
        rows, cols = widths[l + 1], widths[l]
        grads_W.append([values[position + i * cols: position + (i + 1) * cols] for i in range(rows)])
        position += rows * cols
    grads_b = []
    for l in range(depth):
        grads_b.append(values[position: position + widths[l + 1]])
        position += widths[l + 1]
    if position != len(values):
        raise RuntimeError(f"expected {position} values, got {len(values)}")
    return values[0], grads_W, grads_b
