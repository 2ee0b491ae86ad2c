"""Where the data mover's cores go on a busy machine: two builds side by side under the same load.

Runs our full backup of day 1 (job mode, as ``make bench``) with the load of load.py running, alternating a
"before" build (the collection as committed, ``git archive HEAD``) and an "after" build (the same, with
this checkout's versions of the data mover files named by ``--changed``), ``--rounds`` times each, the order
swapped every round so neither build always runs first. While a backup runs, every thread of its process is
sampled from /proc every ``SAMPLE_SECONDS``: what it was doing (running, or waiting and on what: the kernel
function in ``wchan``), its CPU seconds and its voluntary context switches. Prints one table per build
(medians over rounds) and the after/before ratios.

    .venv/bin/python bench/busy_profile.py [--rounds 3] [--no-busy] [--changed FILE ...]
"""

from __future__ import annotations

import argparse
import collections
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import load
import steps

import tools

SAMPLE_SECONDS = 0.02
CLK_TCK = os.sysconf("SC_CLK_TCK")
DATAMOVER = "plugins/module_utils/datamover"
# the files of the issue-18 change; "after" takes this checkout's versions of them, "before" HEAD's
CHANGED = [f"{DATAMOVER}/{name}" for name in ("store/chunk_store.py", "store/append_queue.py")]
# wchan names (Linux) grouped into what a thread waits for
WAITS = {
    "futex": "lock or queue (futex)",
    "io_schedule": "disk I/O",
    "folio_wait": "disk I/O",
    "wait_on_page": "disk I/O",
    "blk": "disk I/O",
    "jbd2": "fsync (journal)",
    "sync": "fsync (journal)",
    "iomap_dio": "direct I/O write",
    "dio": "direct I/O write",
}


def build_tree(work: Path, name: str, changed: list) -> Path:
    """``work/profile/<name>/ansible_collections/backup/hyperv``: HEAD's plugins and launcher, plus this
    checkout's version of each ``changed`` file; returns its launcher."""
    collection = work / "profile" / name / "ansible_collections" / "backup" / "hyperv"
    shutil.rmtree(collection.parents[2], ignore_errors=True)
    collection.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", "HEAD", "plugins", "bin"], cwd=tools.REPO_ROOT, capture_output=True, check=True
    )
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(collection, filter="data")
    for path in changed:
        shutil.copyfile(tools.REPO_ROOT / path, collection / path)
    return collection / "bin" / "hyperv-datamover"


def _thread_stats(pid: int) -> dict:
    """{tid: (state, wchan, cpu seconds, voluntary switches, seconds runnable but waiting for a core)} of the
    process' threads (gone ones skipped)."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            wchan = (task / "wchan").read_text()
            status = (task / "status").read_text()
            queued = int((task / "schedstat").read_text().split()[1]) / 1e9
        except OSError:
            continue
        switches = int(status.split("voluntary_ctxt_switches:")[1].split()[0])
        cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
        found[int(task.name)] = (fields[0], wchan, cpu, switches, queued)
    return found


def doing(state: str, wchan: str) -> str:
    if state == "R":
        return "runnable"  # on a core or queued for one: schedstat tells the two apart
    for key, label in WAITS.items():
        if key in wchan:
            return label
    return f"other wait ({wchan or state})"


class Sampler(threading.Thread):
    """Samples a process' threads until it ends: per thread, what it was doing and its last counters."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.states, self.last = pid, collections.defaultdict(collections.Counter), {}

    def run(self) -> None:
        while True:
            try:
                sample = _thread_stats(self.pid)
            except OSError:
                return
            if not sample:
                return
            for tid, (state, wchan, *counters) in sample.items():
                self.states[tid][doing(state, wchan)] += 1
                self.last[tid] = counters
            time.sleep(SAMPLE_SECONDS)

    def threads(self) -> list:
        """Threads, busiest first: (tid, cpu s, switches, s waiting for a core, {doing: share of samples})."""
        rows = []
        for tid, counts in self.states.items():
            cpu, switches, queued = self.last[tid]
            total = sum(counts.values())
            rows.append((tid, cpu, switches, queued, {k: v / total for k, v in counts.most_common()}))
        return sorted(rows, key=lambda row: -row[1])


def full_backup(work: Path, launcher: Path, live: dict, busy: bool) -> dict:
    """One full backup of ``live`` by the build of ``launcher`` under the load: wall to durable, CPU, threads."""
    ours = tools.Ours(work, label="profile", launcher=launcher)
    ours.init()
    steps.settle()
    steps.warm_page_cache(live)
    command = ours.backup_job_command(live)
    with load.running(work, busy):
        started = time.perf_counter()
        process = subprocess.Popen(command, env=ours.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        sampler = Sampler(process.pid)
        sampler.start()
        _pid, status, usage = os.wait4(process.pid, 0)
        subprocess.run(["sync", "-f", str(ours.repo)], check=True)
        wall = time.perf_counter() - started
    sampler.join()
    if status != 0:
        raise RuntimeError(f"backup failed: {process.stderr.read().decode()[-2000:]}")
    ours.remove()
    cpu = usage.ru_utime + usage.ru_stime
    return {"wall": wall, "cpu": cpu, "cores": cpu / wall, "switches": usage.ru_nvcsw, "threads": sampler.threads()}


def describe(name: str, runs: list) -> str:
    """A build's medians, and the threads of its median run."""
    middle = sorted(runs, key=lambda r: r["wall"])[len(runs) // 2]
    walls = ", ".join(f"{r['wall']:.2f}" for r in runs)
    lines = [
        f"{name}: wall {statistics.median(r['wall'] for r in runs):.2f} s ({walls}), cores used "
        f"{statistics.median(r['cores'] for r in runs):.2f}, voluntary switches "
        f"{statistics.median(r['switches'] for r in runs):.0f}; threads of the median run:"
    ]
    for tid, cpu, switches, queued, shares in middle["threads"]:
        doing_text = ", ".join(f"{k} {v:.0%}" for k, v in list(shares.items())[:4])
        lines.append(
            f"  tid {tid:>7}: cpu {cpu:6.2f} s, queued for a core {queued:6.2f} s, switches {switches:>6}: {doing_text}"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work", type=Path, default=steps.Path(__file__).resolve().parent.parent / "build" / "bench")
    parser.add_argument("--busy", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--changed", nargs="*", default=CHANGED)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    work = args.work.resolve()
    manifest = json.loads((work / "corpus" / "manifest.json").read_text())
    live = steps.link_live(work, manifest["disks"], "day1")
    builds = {"before": build_tree(work, "before", []), "after": build_tree(work, "after", args.changed)}
    runs: dict = {name: [] for name in builds}
    for round_no in range(args.rounds):
        order = list(builds) if round_no % 2 == 0 else list(reversed(builds))
        for name in order:
            runs[name].append(full_backup(work, builds[name], live, args.busy))
            print(f"round {round_no + 1} {name}: {runs[name][-1]['wall']:.2f} s", file=sys.stderr)
    print(f"full backup of day 1, {'with' if args.busy else 'without'} the load (load.py)\n")
    for name, measured in runs.items():
        print(describe(name, measured) + "\n")
    ratio = [b["wall"] / a["wall"] for b, a in zip(runs["before"], runs["after"])]
    cores = [a["cores"] / b["cores"] for b, a in zip(runs["before"], runs["after"])]
    per_round = ", ".join(f"{r:.2f}x" for r in ratio)
    print(f"speed after/before per round: {per_round} (median {statistics.median(ratio):.2f}x)")
    print(f"cores used after/before per round: {', '.join(f'{r:.2f}x' for r in cores)}")
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
