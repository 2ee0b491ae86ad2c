"""Fault injection (issue 17): a day-2 backup killed (no cleanup, as ``kill -9``) before and after each write
point (pack, index file, chunk list, restore point record, lock refresh), then: the repository verifies, every
restore point listed restores byte for byte, and the next backup succeeds. Prints a table tried / survived /
lost per write point, to compare from one run to the next."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import runs
from datamover_fakes import make_image, open_fake_disk, read_tree, write_at

HERE = Path(__file__).parent
MiB = 1 << 20
CASES = [("pack", nth) for nth in (1, 2, 3)] + [(point, 1) for point in ("index", "chunks", "point", "refresh")]


def killed_backup(repo: Path, disk: Path, point: str, when: str, nth: int) -> bool:
    """Run the backup in a process killed at the write point; True if it was killed there (the case was tried)."""
    command = [sys.executable, str(HERE / "fault_process.py"), "--repo", str(repo), "--disk", str(disk)]
    command += ["--vm", "vm1", "--point", point, "--when", when, "--nth", str(nth)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode in (0, 137), done.stderr
    return done.returncode == 137


def survived(repo: Path, out: Path, disk: Path, days: Dict[str, bytes]) -> Tuple[bool, str]:
    """Verify, restore every listed point byte for byte, then back up again: (all held, what failed)."""
    if not runs.verify(str(repo))["ok"]:
        return False, "verify"
    for number, point in enumerate(runs.points(repo)["vms"]["vm1"]):
        target = out / str(number)
        runs.restore(str(repo), "vm1", str(target), restore_point=point["id"], format="raw")
        if read_tree(str(target))["disk0.raw"] not in days.values():
            return False, f"restore of {point['id']}"
    after = runs.backup(str(repo), "vm1", [str(disk)], disk_opener=open_fake_disk)
    if not runs.verify(str(repo))["ok"] or not after["restore_point"]:
        return False, "the next backup"
    return True, ""


def test_a_backup_killed_at_each_write_point_loses_nothing(tmp_path, fake_disks, capsys):
    base, disk = tmp_path / "base", tmp_path / "disk0.raw"
    day1 = make_image(str(disk), 6 * MiB, seed=11)
    fake_disks.backup(str(base), "vm1", [str(disk)])
    day2 = bytearray(day1)
    for offset in (0, 2 * MiB + 4096, 5 * MiB):
        piece = os.urandom(64 << 10)
        write_at(str(disk), offset, piece)
        day2[offset : offset + len(piece)] = piece
    days = {"day1": day1, "day2": bytes(day2)}
    rows: List[Tuple[str, int, int, int, str]] = []
    for point, nth in CASES:
        tried = kept = 0
        failures = []
        for when in ("before", "after"):
            repo, out = tmp_path / f"{point}-{nth}-{when}", tmp_path / f"out-{point}-{nth}-{when}"
            shutil.copytree(base, repo)
            if not killed_backup(repo, disk, point, when, nth):
                continue
            tried += 1
            ok, what = survived(repo, out, disk, days)
            kept += ok
            failures += [] if ok else [f"{when}: {what}"]
        rows.append((f"{point} #{nth}", tried, kept, tried - kept, "; ".join(failures)))
    with capsys.disabled():
        print("\nfault injection: a backup killed before/after each write point")
        print(f"{'write point':<12} {'tried':>5} {'survived':>8} {'lost':>4}")
        for name, tried, kept, lost, _why in rows:
            print(f"{name:<12} {tried:>5} {kept:>8} {lost:>4}")
        print(f"{'total':<12} {sum(r[1] for r in rows):>5} {sum(r[2] for r in rows):>8} {sum(r[3] for r in rows):>4}")
    assert [r for r in rows if r[3]] == []
    assert all(r[1] == 2 for r in rows), rows  # every write point was reached, before and after
