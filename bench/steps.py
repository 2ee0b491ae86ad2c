"""The steps the benchmark times: link a day's disks, back them up, restore them, per tool.

Every step starts from the same state: the kernel's write-back settled and the page cache warm with
the sources, so that no tool pays for another's setup; and every step ends the same way, timed until what
it wrote is durable (``tools.make_durable``). run.py decides which steps run and prints them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import corpus
import limit
import load

import tools

PER_VM_LABEL = "ours (process per VM)"
RANGES_STEP = "incr+RCT (feature)"  # exact changed ranges, which the peers cannot take: not like for like
BUSY = "busy "  # the prefix of a step timed with load.py's load running
BUSY_STEPS = tuple(BUSY + step for step in ("full", "incremental", "restore"))
STEPS = ("full", "incremental", RANGES_STEP, "restore", *BUSY_STEPS)


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
    """``step`` of ``tool`` for every VM of ``live``, timed to durability; a busy step with the load running."""
    settle()
    warm_page_cache(live)
    run = tools.Run(tool.label, step)
    with load.running(tool.repo.parent, step.startswith(BUSY)):
        if getattr(tool, "job_mode", False):
            tool.backup_job(run, live, ranges)
        else:
            for vm, paths in live.items():
                tool.backup(run, vm, paths, ranges[vm] if ranges else None)
        tools.make_durable(run, tool.repo)
    run.stored = tools.repository_size(tool.repo)
    return run


def restore_all(tool: object, work: Path, live: dict, step: str = "restore") -> tools.Run:
    run = tools.Run(tool.label, step)
    targets = {vm: work / "restore" / tool.label / vm for vm in live}
    for target in targets.values():
        shutil.rmtree(target, ignore_errors=True)
    settle()
    with load.running(work, step.startswith(BUSY)):
        if getattr(tool, "job_mode", False):
            tool.restore_job(run, targets)
        else:
            for vm, target in targets.items():
                tool.restore(run, vm, target)
        tools.make_durable(run, work / "restore")
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
        runs.append(backup_all(ranged, RANGES_STEP, live, ranges))
    run = median(runs)
    run.tool = "ours"
    return run


def our_steps(work: Path, disks: list, repeat: int) -> tuple:
    """Ours in job mode: full (next to the machine limit), incremental with and without ranges, restore.
    Returns (runs, median machine limit, all limits); only the day-1 copy and two repositories exist at once."""
    ours, ranged = tools.Ours(work), tools.Ours(work, label="ours-ranges")
    day1_live, day1_disks = link_live(work, disks, "day1"), [d["day1"] for d in disks]
    full, machine, limits = full_next_to_limit(ours, day1_live, day1_disks, repeat)
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
    runs.append(backup_all(per_vm, RANGES_STEP, live, ranges_files(work, disks, live)))
    per_vm.remove()
    return runs


def peer_steps(peer: object, work: Path, disks: list, prefix: str = "") -> list:
    """A tool's full backup of day 1, incremental of day 2 (like for like: no ranges) and restore, each step
    named with ``prefix`` (``BUSY``: with the load running); its repository is removed after."""
    peer.init()
    runs = [backup_all(peer, prefix + "full", link_live(work, disks, "day1"))]
    live = link_live(work, disks, "day2")
    runs += [backup_all(peer, prefix + "incremental", live), restore_all(peer, work, live, prefix + "restore")]
    peer.remove()
    return runs


def busy_steps(work: Path, disks: list, tools_to_load: list) -> list:
    """The like-for-like steps again for each of ``tools_to_load`` (ours, restic's best mode, borg), with
    load.py's CPU hog and I/O writer running during each timed step."""
    return [run for tool in tools_to_load for run in peer_steps(tool, work, disks, BUSY)]


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
        tools.make_durable(run, ours.repo)
        run.stored = tools.repository_size(ours.repo)
        runs.append(run)
        ours.remove()
    return runs


HUGE_LABEL = "ours (64 TiB virtual disk)"


def huge_disk_runs(work: Path) -> list:
    """Ours' full backup and restore of a 64 TiB dynamic VHDX holding a few MiB (corpus.build_huge_disk): the
    peak memory of both must not follow the virtual size."""
    disk = corpus.build_huge_disk(work / "rss-huge")
    ours = tools.Ours(work, label="rss-huge")
    ours.init()
    backup = tools.Run(HUGE_LABEL, "full", content=limit.allocated_bytes([disk]))
    settle()
    ours.backup(backup, "huge", [disk])
    tools.make_durable(backup, ours.repo)
    backup.stored = tools.repository_size(ours.repo)
    target = work / "restore" / "rss-huge"
    shutil.rmtree(target, ignore_errors=True)
    restore = tools.Run(HUGE_LABEL, "restore", content=backup.content)
    settle()
    ours.restore(restore, "huge", target)
    tools.make_durable(restore, target)
    shutil.rmtree(target, ignore_errors=True)
    ours.remove()
    return [backup, restore]
