"""Benchmark of the data mover against restic and borg on the same VHDX corpus (``make bench``).

Steps: build (or reuse) the corpus (corpus.py); for each tool, a full backup of day 1 and an
incremental one of day 2 (ours also with the day-2 changed ranges, as Hyper-V RCT would supply them),
then a restore of day 2; ours again on a small and a 4x larger single disk (memory must stay flat);
and the machine limit (limit.py), measured right after our full backup so that both see the same load.
Prints one table plus the target checks, and writes JSON.

    .venv/bin/python bench/run.py [--size 4] [--vms 3] [--repeat 5] [--work build/bench] [--no-borg-fixed] [--strict]

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
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Iterator

import corpus
import report

import tools

tools.use_collection()
import limit  # noqa: E402 - needs the collection importable

HERE = Path(__file__).resolve().parent
PER_VM_LABEL = "ours (process per VM)"
STEPS = ("full", "incremental", "incremental+ranges", "restore")
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
    parser.add_argument("--strict", action="store_true", help="exit with status 1 when a target check fails")
    return parser.parse_args()


def link_live(work: Path, disks: list, day: str) -> dict:
    """Point work/live/<vm>/ at day 1 or day 2 (hard links, same paths both days, like a VM folder)."""
    live = {}
    for disk in disks:
        folder = work / "live" / disk["vm"]
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for source in (disk[day], disk[f"config_{day}"]):
            target = folder / Path(source).name
            target.unlink(missing_ok=True)
            os.link(source, target)
            paths.append(target)
        live[disk["vm"]] = paths
    return live


def ranges_files(work: Path, disks: list, live: dict) -> dict:
    files = {}
    for disk in disks:
        path = work / "ranges" / f"{disk['vm']}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({str(live[disk["vm"]][0]): disk["changed_ranges"]}))
        files[disk["vm"]] = path
    return files


def warm_page_cache(live: dict) -> None:
    """Read every source once, untimed, so that each tool starts from the same warm page cache.

    Without it the first tool of a step would pay for reading the corpus from the disk and
    the others would not.
    """
    for paths in live.values():
        for path in paths:
            with open(path, "rb", buffering=0) as source:
                while source.read(8 << 20):
                    pass


def settle() -> None:
    """Leave nothing of the benchmark's own setup (a repository copied or deleted) for the kernel to write back
    during a timed step: that flush would land in the step's fsyncs. Without it, one of five incremental runs
    with ranges (each right after a 2.9 GB repository copy) took 3.3 s against 1.2; with it, the next five
    stayed within 1.03-1.12 s."""
    os.sync()


def backup_all(tool: object, step: str, live: dict, ranges: dict | None = None) -> tools.Run:
    settle()
    warm_page_cache(live)
    run = tools.Run(tool.label, step)
    if getattr(tool, "job_mode", False):
        tool.backup_job(run, live, ranges)
    else:
        for vm, paths in live.items():
            tool.backup(run, vm, paths, ranges[vm] if ranges else None)
    run.stored = tools.repository_size(tool.repo)
    return run


def restore_all(tool: object, work: Path, live: dict) -> tools.Run:
    run = tools.Run(tool.label, "restore")
    targets = {vm: work / "restore" / tool.label / vm for vm in live}
    for target in targets.values():
        shutil.rmtree(target, ignore_errors=True)
    settle()
    if getattr(tool, "job_mode", False):
        tool.restore_job(run, targets)
    else:
        for vm, target in targets.items():
            tool.restore(run, vm, target)
    for vm, target in targets.items():
        if tool.label == "ours":  # correctness, untimed: the restored disk equals the source
            restored = target / live[vm][0].name
            subprocess.run(["qemu-img", "compare", "-q", str(live[vm][0]), str(restored)], check=True)
        shutil.rmtree(target, ignore_errors=True)  # a peer restoring all VMs at once wrote only the first
    return run


def median(runs: list) -> tools.Run:
    """The run with the median wall time, carrying every run's wall time in ``samples``."""
    ordered = sorted(runs, key=lambda r: r.wall)
    middle = ordered[len(ordered) // 2]
    middle.samples = [r.wall for r in runs]
    return middle


def full_next_to_limit(ours: tools.Ours, live: dict, day1: list, times: int) -> tuple:
    """Our full backup and the machine limit, alternately ``times`` times: (median run, median limit, all limits).
    Alternating puts both under the same load of a shared machine; the last backup's repository is kept."""
    fulls, limits = [], []
    for _ in range(times):
        ours.init()
        fulls.append(backup_all(ours, "full", live))
        warm_page_cache(live)
        limits.append(limit.measure(day1))
    ordered = sorted(limits, key=lambda m: m["seconds"])
    return median(fulls), ordered[len(ordered) // 2], limits


def incremental_with_ranges(ranged: tools.Ours, full_repo: Path, live: dict, ranges: dict, times: int) -> tools.Run:
    """Ours with the changed ranges, ``times`` times, each from a fresh copy of the day-1 repository."""
    runs = []
    for _ in range(times):
        ranged.remove()
        shutil.copytree(full_repo, ranged.repo)
        runs.append(backup_all(ranged, "incremental+ranges", live, ranges))
    run = median(runs)
    run.tool = "ours"
    return run


def our_steps(work: Path, disks: list, repeat: int) -> tuple:
    """Ours in job mode: full (next to the machine limit), incremental with and without ranges, restore.
    Returns (runs, median machine limit, all limits); only the day-1 copy and two repositories exist at once."""
    ours, ranged = tools.Ours(work), tools.Ours(work, label="ours-ranges")
    full, machine, limits = full_next_to_limit(ours, link_live(work, disks, "day1"), [d["day1"] for d in disks],
                                               repeat)  # fmt: skip
    full_repo = work / "repo-ours-day1"  # same history for every run with changed ranges
    shutil.rmtree(full_repo, ignore_errors=True)
    shutil.copytree(ours.repo, full_repo)
    live = link_live(work, disks, "day2")
    runs = [full, backup_all(ours, "incremental", live)]
    runs.append(incremental_with_ranges(ranged, full_repo, live, ranges_files(work, disks, live), repeat))
    shutil.rmtree(full_repo)
    ranged.remove()
    runs.append(restore_all(ours, work, live))
    ours.remove()
    return runs, machine, limits


def per_vm_steps(work: Path, disks: list) -> list:
    """Ours with one process per VM: full, then incremental with ranges."""
    per_vm = tools.Ours(work, label=PER_VM_LABEL, job_mode=False)
    per_vm.init()
    runs = [backup_all(per_vm, "full", link_live(work, disks, "day1"))]
    live = link_live(work, disks, "day2")
    runs.append(backup_all(per_vm, "incremental+ranges", live, ranges_files(work, disks, live)))
    per_vm.remove()
    return runs


def peer_steps(peer: object, work: Path, disks: list) -> list:
    """A peer's full backup of day 1, incremental of day 2 and restore; its repository is removed after."""
    peer.init()
    runs = [backup_all(peer, "full", link_live(work, disks, "day1"))]
    live = link_live(work, disks, "day2")
    runs += [backup_all(peer, "incremental", live), restore_all(peer, work, live)]
    peer.remove()
    return runs


def check_free_space(work: Path, size: float, vms: int) -> None:
    """Stop before building anything when the file system cannot hold the run (a full disk midway would
    leave a broken corpus and say nothing useful)."""
    needed = corpus.footprint(vms, size) + round(WORKING_BYTES_PER_VM * vms * size)
    needed -= sum(p.stat().st_blocks * 512 for p in (work / "corpus").rglob("*") if p.is_file())  # reused or rebuilt
    free = shutil.disk_usage(work).free
    if free < needed:
        sys.exit(f"the benchmark at --size {size:g} needs about {needed / 1e9:.1f} GB free under {work}, and "
                 f"{free / 1e9:.1f} GB are: free some space, or pass a smaller --size or another --work")  # fmt: skip


def growth_runs(work: Path, manifest: dict) -> list:
    runs = []
    for key, label in (("small", "ours (small disk)"), ("large", "ours (4x larger disk)")):
        disk = manifest["rss_disks"][key]
        ours = tools.Ours(work, label=f"rss-{key}")
        ours.init()
        run = tools.Run(label, "full", content=limit.allocated_bytes([disk["day1"]]))
        settle()  # the restores before it leave gigabytes to write back
        warm_page_cache({key: [Path(disk["day1"])]})
        ours.backup(run, key, [Path(disk["day1"])])
        run.stored = tools.repository_size(ours.repo)
        runs.append(run)
        ours.remove()
    return runs


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
    peers = [] if args.no_peers else [tools.Restic(work), tools.Restic(work, "restic (process per VM)", False),
                                      tools.Borg(work)]  # fmt: skip
    if args.borg_fixed and not args.no_peers:
        peers.append(tools.Borg(work, label="borg (fixed 1 MiB)", chunker="fixed,1048576"))
    runs, machine, limits = our_steps(work, disks, max(1, args.repeat))
    runs += per_vm_steps(work, disks)
    for peer in peers:
        runs += peer_steps(peer, work, disks)
        print(f"{peer.label}: done", file=sys.stderr)
    runs.sort(key=lambda r: STEPS.index(r.step))  # one table ordered by step, tools in the order they ran
    runs += growth_runs(work, manifest)
    runs.append(tools.Run("machine limit (2 threads)", "hash+compress", machine["seconds"], machine["cpu"],
                          samples=[m["seconds"] for m in limits]))  # fmt: skip
    results = report.checks(
        runs, content, machine["seconds"], [p.label for p in peers if p.label in ("restic", "borg")]
    )
    print(f"\nlogical disk content: {content / report.MB:.0f} MB (allocated disk bytes + VM files), "
          f"{len(disks)} VMs, size {args.size}; machine shared with other work during the run\n")  # fmt: skip
    print(report.table(runs, content))
    print()
    print(report.render_checks(results))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"params": manifest["params"], "versions": tools.versions(peers),
                                     "content_bytes": content, "machine_limit": machine, "machine_limits": limits,
                                     "runs": [asdict(r) for r in runs],
                                     "checks": [{"name": n, "passed": ok, "detail": d} for n, ok, d in results]},
                                    indent=1))  # fmt: skip
    return 1 if args.strict and not all(ok for name, ok, detail in results) else 0


if __name__ == "__main__":
    sys.exit(main())
