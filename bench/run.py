#!/usr/bin/env python3
"""Run every peer on every instance, each cell in its own process with a timeout, check that all
results hash alike, and write the table (results.md + results.json) and print it.

    python3 bench/run.py [--quick | --instances ID,ID] [--peers NAME,NAME] [--timeout SECONDS]
                         [--memory-gib GIB] [--out DIR]

See bench/README.md for the instances, the peers and what each column means.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pickle
import platform
import re
import signal
import subprocess
import sys
import tempfile
import traceback
from collections import Counter
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import instances  # noqa: E402
import peers  # noqa: E402
from peers import _c  # noqa: E402

#: The peers that are not competitors: bitprop itself, and the floors (time only).
NOT_COMPETING = {"bitprop", "bitprop_1t", "c_floor", "c_sound_floor"}
#: The peer whose hash is the reference when peers disagree (the most obviously correct one).
REFERENCE_PEER = "fraction_loops"
_SIZE = re.compile(r"(.*)-d([0-9]+)(.*?)(?:-b([0-9]+))?")


def main(argv=None):
    args = parse_args(argv)
    if args.cell:
        return run_cell(*args.cell, memory_gib=args.memory_gib,
                        repeat=peers.Repeat(args.max_reps, args.budget))
    if args.list:
        print("instances (issue 9's table):", " ".join(instances.TABLE))
        print("peers:", " ".join(peers.NAMES))
        return 0
    instance_ids = (instances.QUICK if args.quick else
                    args.instances.split(",") if args.instances else instances.TABLE)
    peer_names = args.peers.split(",") if args.peers else peers.NAMES
    unknown = [p for p in peer_names if p not in peers.REGISTRY]
    if unknown:
        sys.exit(f"run.py: unknown peer(s) {', '.join(unknown)}; known: {', '.join(peers.NAMES)}")
    bad = [i for i in instance_ids if not instances.is_valid_id(i)]
    if bad:
        sys.exit(f"run.py: unknown instance id(s) {', '.join(bad)} (see --list)")
    build_error = build_c(peer_names)
    cells, interrupted = [], False
    try:
        with tempfile.TemporaryDirectory(prefix="bitprop-bench-") as tmp:
            for instance_id in instance_ids:
                run_instance(instance_id, peer_names, Path(tmp), args, cells, build_error)
    except KeyboardInterrupt:
        print("run.py: interrupted; writing the cells measured so far", file=sys.stderr)
        interrupted = True
    summary = summarize(instance_ids, peer_names, cells)
    report = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "settings": {"timeout_seconds": args.timeout, "memory_limit_gib": args.memory_gib,
                     "max_reps": args.max_reps, "repeat_budget_seconds": args.budget},
        "peers": {name: peers.Peer(name).label for name in peer_names},
        "instances": summary,
        "cells": cells,
    }
    markdown = render_markdown(report, instance_ids, peer_names)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "results.md").write_text(markdown)
    print(markdown)
    print(f"wrote {out / 'results.md'} and {out / 'results.json'}", file=sys.stderr)
    mismatched = [i for i, s in summary.items() if s["hashes"] == "mismatch"]
    if mismatched:
        print(f"run.py: HASH MISMATCH on {', '.join(mismatched)}", file=sys.stderr)
        return 1
    return 130 if interrupted else 0


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", help="comma-separated ids (default: issue 9's table)")
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(instances.QUICK)}")
    parser.add_argument("--peers", help=f"comma-separated (default: all of {', '.join(peers.NAMES)})")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per cell (120)")
    parser.add_argument("--memory-gib", type=float, default=8.0,
                        help="address-space limit per cell in GiB, 0 for none (8)")
    parser.add_argument("--max-reps", type=int, default=5, help="best of at most this many runs (5)")
    parser.add_argument("--budget", type=float, default=1.0,
                        help="repeat a run only while the runs so far took less (1.0 s)")
    parser.add_argument("--out", default=str(BENCH / "results"), help="output directory")
    parser.add_argument("--list", action="store_true", help="list instance ids and peers")
    parser.add_argument("--cell", nargs=3, metavar=("PEER", "INSTANCE_PICKLE", "RESULT_JSON"),
                        help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# ---------------------------------------------------------------------------------------------
# The parent: one process per cell


def build_c(peer_names):
    """Build bench/c/ once before any cell runs; None, or the error every C cell reports."""
    if not any(name.startswith("c_") for name in peer_names) or _c.unavailable_reason():
        return None
    try:
        _c.build()
    except RuntimeError as error:
        return str(error)
    return None


def run_instance(instance_id, peer_names, tmp: Path, args, cells: list, build_error):
    """Measure every peer on one instance, appending one cell each to `cells` as it finishes."""
    instance = instances.generate(instance_id)
    path = tmp / f"{instance_id}.pickle"
    path.write_bytes(pickle.dumps(instance, protocol=pickle.HIGHEST_PROTOCOL))
    del instance   # the parent keeps no big values: children fork from a small process
    for name in peer_names:
        cell = {"instance": instance_id, "peer": name}
        skipped_by = _dominated_timeout(instance_id, name, cells)
        if skipped_by:
            cell.update(status="skipped", skipped_as=skipped_by["status"],
                        reason=f"{skipped_by['status']} on the smaller {skipped_by['instance']}")
        elif build_error and name.startswith("c_"):
            cell.update(status="error", reason=build_error)
        else:
            cell.update(run_cell_process(name, path, tmp, args))
        cells.append(cell)
        print(f"{instance_id:28s} {name:16s} {_cell_text(cell, args.timeout):>10s}  "
              f"{cell.get('reason', '')[:100]}", file=sys.stderr, flush=True)
    path.unlink()


def run_cell_process(name, instance_path, tmp: Path, args) -> dict:
    result_path = tmp / f"cell-{name}.json"
    result_path.unlink(missing_ok=True)
    command = [sys.executable, str(Path(__file__).resolve()), "--cell", name, str(instance_path),
               str(result_path), "--memory-gib", str(args.memory_gib),
               "--max-reps", str(args.max_reps), "--budget", str(args.budget)]
    # A session of its own, so that a timeout kills the cell and any C program it started.
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        _, stderr = process.communicate(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        return {"status": "timeout", "reason": f"> {args.timeout:g} s"}
    except KeyboardInterrupt:
        _kill_group(process)
        raise
    if result_path.exists():
        return json.loads(result_path.read_text())
    reason = f"cell process exited with {process.returncode}"
    if process.returncode < 0:
        reason += f" ({signal.Signals(-process.returncode).name})"
    return {"status": "error", "reason": f"{reason}: {stderr.strip()[-500:]}"}


def _kill_group(process):
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def _parse_size(instance_id):
    """(family, depth, batch) of an id, e.g. ("relu-w16|", 16, 8); ValueError if unknown."""
    match = _SIZE.fullmatch(instance_id)
    if not match:
        raise ValueError(f"unknown instance id {instance_id!r}")
    return f"{match[1]}|{match[3]}", int(match[2]), int(match[4] or 1)


def _dominated_timeout(instance_id, peer, cells):
    """An earlier cell of this peer that timed out (or ran out of memory) on an instance of the
    same family with no greater depth and batch: this one would too, so it is skipped."""
    family, depth, batch = _parse_size(instance_id)
    for cell in cells:
        if cell["peer"] != peer or cell["status"] not in ("timeout", "oom"):
            continue
        other_family, other_depth, other_batch = _parse_size(cell["instance"])
        if other_family == family and other_depth <= depth and other_batch <= batch:
            return cell
    return None


# ---------------------------------------------------------------------------------------------
# The child: one peer on one instance


def run_cell(name, instance_path, result_path, memory_gib, repeat) -> int:
    if memory_gib > 0:
        import resource
        limit = int(memory_gib * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        out = measure_cell(name, instance_path, repeat)
    except MemoryError:
        out = {"status": "oom", "reason": f"over the {memory_gib:g} GiB limit"}
    except Exception as error:  # reported in the table, never fatal for the run
        detail = traceback.format_exc(limit=-3)
        out = {"status": "error", "reason": f"{type(error).__name__}: {error}"[:1000],
               "traceback": detail[-3000:]}
    Path(result_path).write_text(json.dumps(out))
    return 0


def measure_cell(name, instance_path, repeat) -> dict:
    peer = peers.Peer(name)
    why_not = peer.unavailable()
    if why_not:
        return {"status": "n/a", "reason": why_not}
    with open(instance_path, "rb") as source:
        instance = pickle.load(source)
    m = peer.measure(instance, repeat)
    out = {"status": "ok", "seconds": m.seconds, "reps": m.reps, "peak_rss_kb": m.peak_rss_kb}
    if m.result is not None:
        out["hash"] = instances.canonical_hash(*m.result)
        out["max_bits"] = m.max_bits if m.max_bits is not None else (
            instances.max_bit_length(*m.result))
    return out


# ---------------------------------------------------------------------------------------------
# Summary and the Markdown table


def summarize(instance_ids, peer_names, cells) -> dict:
    """Per instance: max bits, the reference hash, and whether all peers that finished agree;
    cells whose hash differs from the reference get "mismatch": True."""
    summary = {}
    for instance_id in instance_ids:
        mine = [c for c in cells if c["instance"] == instance_id and c.get("hash")]
        if not mine:
            summary[instance_id] = {"hashes": "none", "max_bits": None, "reference_hash": None}
            continue
        by_peer = {c["peer"]: c["hash"] for c in mine}
        reference = by_peer.get(REFERENCE_PEER) or Counter(by_peer.values()).most_common(1)[0][0]
        for cell in mine:
            cell["mismatch"] = cell["hash"] != reference
        agree = all(not c["mismatch"] for c in mine)
        summary[instance_id] = {
            "hashes": "agree" if agree else "mismatch",
            "peers_compared": len(mine),
            "reference_hash": reference,
            "max_bits": max(c["max_bits"] for c in mine if not c["mismatch"]),
        }
    return summary


def _seconds(x: float) -> str:
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    if x >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}" if x >= 1e-4 else f"{x:.1e}"


def _cell_text(cell, timeout) -> str:
    status = cell["status"]
    if status == "ok":
        return _seconds(cell["seconds"]) + (" ≠" if cell.get("mismatch") else "")
    if status == "skipped":
        status = cell["skipped_as"]
    return f"> {timeout:g}" if status == "timeout" else status


def render_markdown(report, instance_ids, peer_names) -> str:
    timeout = report["settings"]["timeout_seconds"]
    cells = {(c["instance"], c["peer"]): c for c in report["cells"]}
    labels = report["peers"]
    m = report["machine"]
    lines = [
        "# bitprop benchmark: exact forward + loss + backward",
        "",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; {m['os']}",
        f"- Versions: Python {m['python']}; FLINT {m['flint_c']} (C peers, gcc {m['gcc']}); "
        f"python-flint {m['python_flint']} (FLINT {m['python_flint_flint']}); "
        f"gmpy2 {m['gmpy2']} ({m['gmp']}); bitprop {m['bitprop']}",
        f"- Command: `{report['command']}` ({report['date']}); repository {m['git']}",
        f"- Each cell: its own process, {timeout:g} s timeout, "
        f"{report['settings']['memory_limit_gib']:g} GiB address-space limit; best of up to "
        f"{report['settings']['max_reps']} runs while they total under "
        f"{report['settings']['repeat_budget_seconds']:g} s.",
        "",
        "## Seconds (compute only)",
        "",
    ]
    have_bitprop = any(c["status"] == "ok" and c["peer"] in ("bitprop", "bitprop_1t")
                       for c in report["cells"])
    have_sound = have_bitprop and any(c["peer"] == "c_sound_floor" for c in report["cells"])
    extra = ["fastest peer", "hashes"]
    if have_bitprop:
        extra[1:1] = ["bitprop speed-up", "bitprop / floor"]
    if have_sound:
        extra[3:3] = ["bitprop / sound floor"]
    header = ["instance", "max bits"] + [labels[p] for p in peer_names] + extra
    lines += ["| " + " | ".join(header) + " |",
              "|" + "|".join(["---"] + ["---:"] * (len(header) - 2) + ["---"]) + "|"]
    for instance_id in instance_ids:
        s = report["instances"].get(instance_id, {})
        row = [instance_id, f"{s['max_bits']:,}" if s.get("max_bits") else "—"]
        row += [_cell_text(cells[(instance_id, p)], timeout) if (instance_id, p) in cells else ""
                for p in peer_names]
        times = {p: cells[(instance_id, p)]["seconds"] for p in peer_names
                 if cells.get((instance_id, p), {}).get("status") == "ok"}
        competing = {p: t for p, t in times.items() if p not in NOT_COMPETING}
        fastest = min(competing, key=competing.get) if competing else None
        extras = [f"{labels[fastest]} {_seconds(competing[fastest])}" if fastest else "—"]
        if have_bitprop:
            mine = times.get("bitprop", times.get("bitprop_1t"))
            extras.append(f"{competing[fastest] / mine:.2f}x" if mine and fastest else "—")
            extras.append(f"{mine / times['c_floor']:.1f}" if mine and "c_floor" in times else "—")
            if have_sound:
                extras.append(f"{mine / times['c_sound_floor']:.1f}"
                              if mine and "c_sound_floor" in times else "—")
        hashes = s.get("hashes", "none")
        extras.append(f"agree ({s['peers_compared']})" if hashes == "agree"
                      else "**MISMATCH**" if hashes == "mismatch" else "—")
        lines.append("| " + " | ".join(row + extras) + " |")
    lines += ["", "## Peak RSS (MiB) of the computing process", "",
              "| instance | " + " | ".join(labels[p] for p in peer_names) + " |",
              "|---|" + "---:|" * len(peer_names)]
    for instance_id in instance_ids:
        row = [instance_id]
        for p in peer_names:
            cell = cells.get((instance_id, p), {})
            row.append(f"{cell['peak_rss_kb'] / 1024:.0f}" if cell.get("status") == "ok" else "")
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "Cells: best seconds of forward + loss + backward (conversions and I/O excluded); "
              f"`> {timeout:g}` timed out (or was skipped because a smaller instance of its family "
              "already timed out); `oom` over the memory limit; `n/a` peer not available here; "
              "`error` see results.json; `≠` its loss/gradient hash differs from the reference "
              f"({REFERENCE_PEER}, else the majority). Max bits: largest bitlen(|p|) + bitlen(q) "
              "over the loss and all gradients. Speed-up: fastest competing peer's time / "
              "bitprop's (all cores).", ""]
    notes = sorted({(labels[p], c["status"], c.get("reason", "")[:300])
                    for (_, p), c in cells.items() if c["status"] in ("n/a", "error")})
    if notes:
        lines += ["Not measured:", ""]
        lines += [f"- {label}: {status}: {reason}" for label, status, reason in notes]
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Machine and versions


def machine_info() -> dict:
    info = {"cpu": "unknown", "cores": os.cpu_count(), "os": platform.platform(),
            "python": platform.python_version(), "memory_gib": "?"}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["memory_gib"] = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    header = Path("/usr/include/flint/flint.h")
    found = re.search(r'#define FLINT_VERSION "([^"]+)"', header.read_text()) if header.exists() else None
    info["flint_c"] = found[1] if found else "not installed"
    info["gcc"] = _output(["gcc", "-dumpfullversion"])
    try:
        import flint
        info["python_flint"], info["python_flint_flint"] = flint.__version__, flint.__FLINT_VERSION__
    except ImportError:
        info["python_flint"] = info["python_flint_flint"] = "not installed"
    try:
        import gmpy2
        info["gmpy2"], info["gmp"] = gmpy2.version(), gmpy2.mp_version()
    except ImportError:
        info["gmpy2"] = info["gmp"] = "not installed"
    # In a child: importing bitprop here would tie the parent to its extension modules.
    info["bitprop"] = _output([sys.executable, "-c",
                               "import sys; sys.path.insert(0, sys.argv[1]); "
                               "from peers.bitprop_peer import _import_bitprop as i; "
                               "b = i(); print(getattr(b, '__version__', '?'), b.__file__)",
                               str(BENCH)]) or "not importable"
    commit = _output(["git", "-C", str(BENCH), "rev-parse", "--short", "HEAD"]) or "no commit"
    dirty = _output(["git", "-C", str(BENCH), "status", "--porcelain"])
    info["git"] = commit + (" (with uncommitted changes)" if dirty else "")
    return info


def _output(command) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


if __name__ == "__main__":
    sys.exit(main())
