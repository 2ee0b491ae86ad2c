"""Benchmark of the data mover against restic and borg on the same VHDX corpus (``make bench``).

Steps: build (or reuse) the corpus (corpus.py); for each tool, a full backup of day 1 and an
incremental one of day 2 (ours also with the day-2 changed ranges, as Hyper-V RCT would supply them),
then a restore of day 2; ours again on a small and a 4x larger single disk (memory must stay flat);
and the machine limit (limit.py), measured right after our full backup so that both see the same load.
Prints one table plus the target checks, and writes JSON.

    .venv/bin/python bench/run.py [--size 4] [--vms 3] [--repeat 5] [--work build/bench] [--no-borg-fixed]
        [--no-busy] [--strict]

Busy rows (``--busy``, the default): full, incremental (like for like) and restore again for ours, restic's
best mode and borg, each step timed with a CPU hog on one core and an I/O writer fsyncing a file on the
repositories' file system (load.py), started after the step's untimed setup and stopped when it ends.

``--repeat``: our full backup (alternating with the machine limit) and our incremental with ranges run this
many times and the median is reported, with the range: they are compared with a ratio (the machine limit,
restic's incremental) that one slow run on a shared machine would otherwise decide (two full backups at
size 4, back to back: 8.5 and 10.4 s, the difference almost all system time).

``--size`` scales the corpus: 1.0 = 3 VMs x 2 GiB virtual, 600 MiB shared OS content and 300 MiB of
unique data each; the default, 4, makes 8 GiB disks with about 3.8 GB allocated each (11 GB of content in
all), small for a VM but large enough that start-up and key unlock no longer decide the incremental
comparison. It needs about 46 GB of free disk and 15 minutes on 2 cores; ``--size 1`` takes 14 GB and 4
minutes. The steps run tool by tool, each tool's repository deleted after its last step, so at most three
repositories exist at once; the run stops at once when the disk cannot hold it. Every tool runs as a
subprocess under /usr/bin/time -v (ours via bin/hyperv-datamover): every tool takes all VMs of a step in
one process (ours with ``--job``, restic one snapshot, borg one archive), plus rows for ours and restic
with one process per VM, as a script looping over VMs would.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import signal
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Iterator

import corpus
import limit
import report
import steps

import tools

HERE = Path(__file__).resolve().parent
# Repositories and restores at scale 1 (measured: about 0.3 GB per VM per repository, 0.8 GB per restored VM):
# the steps run tool by tool, so at most three repositories (ours, its day-1 copy, the one with ranges) or one
# repository and a restore exist at once.
WORKING_BYTES_PER_VM = 1_200_000_000


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=float, default=4.0, help="corpus scale (1 = 3 x 2 GiB virtual disks)")
    parser.add_argument("--vms", type=int, default=3)
    parser.add_argument("--work", type=Path, default=HERE.parent / "build" / "bench")
    parser.add_argument("--json", type=Path, default=HERE / "results" / "latest.json")
    parser.add_argument(
        "--borg-fixed",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run borg with a fixed 1 MiB chunker, its advised setting for disk images",
    )
    parser.add_argument("--no-peers", action="store_true", help="run only the data mover (quick check)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=5,
        help="runs of our full backup (each next to a machine limit measurement) and of our incremental with "
        "ranges, the steps short enough for a shared machine's noise to matter; the median is reported",
    )
    parser.add_argument(
        "--busy",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time full, incremental and restore of ours, restic's best mode and borg with a CPU hog on one "
        "core and an I/O writer on the repositories' file system running (load.py)",
    )
    parser.add_argument("--strict", action="store_true", help="exit with status 1 when a target check fails")
    return parser.parse_args()


def check_free_space(work: Path, size: float, vms: int) -> None:
    """Stop before building anything when the file system cannot hold the run (a full disk midway would
    leave a broken corpus and say nothing useful)."""
    needed = corpus.footprint(vms, size) + round(WORKING_BYTES_PER_VM * vms * size)
    needed -= sum(p.stat().st_blocks * 512 for p in (work / "corpus").rglob("*") if p.is_file())  # reused or rebuilt
    free = shutil.disk_usage(work).free
    if free < needed:
        needs = f"the benchmark at --size {size:g} needs about {needed / 1e9:.1f} GB free under {work}"
        sys.exit(f"{needs}, and {free / 1e9:.1f} GB are: free some space, or pass a smaller --size or another --work")


@contextlib.contextmanager
def locked_work_dir(work: Path) -> Iterator[Path]:
    """Hold an exclusive lock on the work directory: two runs in one directory relink each other's files."""
    work.mkdir(parents=True, exist_ok=True)
    with (work / ".lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            sys.exit(f"another bench run is using {work}; wait for it or pass --work")
        yield work


def main() -> int:
    args = parse_args()
    # a kill ends the run through its finally blocks, so that no busy step's load outlives it
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    tools.ensure_installed()
    with locked_work_dir(args.work.resolve()) as work:
        return run_bench(args, work)


def run_bench(args: argparse.Namespace, work: Path) -> int:
    started = time.time()
    check_free_space(work, args.size, args.vms)
    manifest = corpus.build(work / "corpus", args.vms, args.size)
    print(f"corpus ready in {time.time() - started:.0f} s under {work / 'corpus'}", file=sys.stderr)
    disks = manifest["disks"]
    content = limit.allocated_bytes([d["day1"] for d in disks]) + sum(os.path.getsize(d["config_day1"]) for d in disks)
    peers = peer_tools(work, args)
    runs, machine, limits = all_runs(work, manifest, peers, args)
    results = report.checks(
        runs, content, machine["seconds"], [p.label for p in peers if p.label in ("restic", "borg")]
    )
    print(
        f"\nlogical disk content: {content / report.MB:.0f} MB (allocated disk bytes + VM files), "
        f"{len(disks)} VMs, size {args.size}; machine shared with other work during the run\n"
    )
    print(report.table(runs, content))
    print(f"\n{report.FOOTNOTES}\nmachine limit: {limit.INCLUDES}\n")
    print(report.render_checks(results))
    record = {"params": manifest["params"], "versions": tools.versions(peers), "content_bytes": content}
    record["machine_limit_includes"] = limit.INCLUDES
    record.update(machine_limit=machine, machine_limits=limits, runs=[asdict(r) for r in runs])
    record["checks"] = [{"name": n, "passed": ok, "detail": d} for n, ok, d in results]
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(record, indent=1))
    return 1 if args.strict and any(ok is False for name, ok, detail in results) else 0


def all_runs(work: Path, manifest: dict, peers: list, args: argparse.Namespace) -> tuple:
    """Every timed step, ours first, the busy ones after the quiet ones: (runs in table order, median machine
    limit, all limits)."""
    disks = manifest["disks"]
    runs, machine, limits = steps.our_steps(work, disks, max(1, args.repeat))
    runs += steps.per_vm_steps(work, disks)
    for peer in peers:
        runs += steps.peer_steps(peer, work, disks)
        print(f"{peer.label}: done", file=sys.stderr)
    if args.busy:
        runs += steps.busy_steps(work, disks, busy_tools(work, runs, peers))
        print("busy steps: done", file=sys.stderr)
    runs.sort(key=lambda r: steps.STEPS.index(r.step))  # one table ordered by step, tools in the order they ran
    runs += steps.growth_runs(work, manifest)
    runs += steps.huge_disk_runs(work)
    samples = [m["seconds"] for m in limits]
    runs.append(tools.Run("machine limit (2 threads)", limit.STEP, machine["seconds"], machine["cpu"], samples=samples))
    return runs, machine, limits


def busy_tools(work: Path, runs: list, peers: list) -> list:
    """Ours (job mode), restic's best mode of the quiet full backup, and borg (its default chunker)."""
    chosen = [tools.Ours(work)]
    if any(p.label.startswith("restic") for p in peers):
        best = report.best_mode(runs, "restic", "full").tool
        chosen += [p for p in peers if p.label == best]
    return chosen + [p for p in peers if p.label == "borg"]


def peer_tools(work: Path, args: argparse.Namespace) -> list:
    """The peers to compare with, in the order they run; none with ``--no-peers``."""
    if args.no_peers:
        return []
    peers = [tools.Restic(work), tools.Restic(work, "restic (process per VM)", False), tools.Borg(work)]
    if args.borg_fixed:
        peers.append(tools.Borg(work, label="borg (fixed 1 MiB)", chunker="fixed,1048576"))
    return peers


if __name__ == "__main__":
    sys.exit(main())
