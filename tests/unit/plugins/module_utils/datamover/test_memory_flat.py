"""Peak memory of backup and restore does not grow with a disk's virtual size (issues 17 and 18).

A 64 TiB dynamic VHDX from qemu-img holding a few MiB (written by qemu-io, near its start, in the middle and at
its very end) is backed up and restored as VHDX, each in its own process; the peak RSS of each (``ru_maxrss``
of the finished child, see memory_process.py) stays under 150 MB, and the restored disk reads back what qemu-io
wrote and zeros around it (checked by qemu-io, an independent reader). With qemu's default block size (64 MiB at
this size) and with 1 MiB blocks, whose BAT alone is 512 MiB.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import List, Optional, Tuple

import pytest

HERE = Path(__file__).resolve().parent
TiB, MiB, MB = 1 << 40, 1 << 20, 1000 * 1000
VIRTUAL_SIZE = 64 * TiB
PEAK_LIMIT = 150 * MB
# (offset, length, pattern byte): the first block, one 3 TiB in (not block-aligned), the disk's last 2 MiB.
WRITTEN: List[Tuple[int, int, int]] = [
    (0, 1 * MiB, 0xA1),
    (3 * TiB + 5 * MiB + 4096, 2 * MiB, 0xB2),
    (VIRTUAL_SIZE - 2 * MiB, 2 * MiB, 0xC3),
]
# Ranges around them that nobody wrote: they must read as zeros.
UNWRITTEN: List[Tuple[int, int]] = [(1 * MiB, 1 * MiB), (3 * TiB + 4 * MiB, 1 * MiB), (VIRTUAL_SIZE - 4 * MiB, 2 * MiB)]


def qemu_io(path: Path, *commands: str) -> str:
    args = [arg for command in commands for arg in ("-c", command)]
    done = subprocess.run(["qemu-io", "-f", "vhdx", *args, str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "Pattern verification failed" not in done.stdout, done.stdout + done.stderr
    return done.stdout


def peak_of(*args: str) -> int:
    """Peak RSS in bytes of memory_process.py running ``args``, measured by that script (see there why)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    command = [sys.executable, str(HERE / "memory_process.py"), "measure", *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"{args[0]} failed: {done.stdout[-2000:]}{done.stderr[-3000:]}"
    return int(done.stdout.splitlines()[-1])


@pytest.mark.parametrize("block_size", [None, "1M"])
def test_backup_and_restore_of_64_tib_disk_stay_small(tmp_path: Path, block_size: Optional[str]) -> None:
    disk, repository, restored = tmp_path / "big.vhdx", tmp_path / "repo", tmp_path / "restored"
    options = "subformat=dynamic" + (f",block_size={block_size}" if block_size else "")
    subprocess.run(["qemu-img", "create", "-q", "-f", "vhdx", "-o", options, str(disk), "64T"], check=True)
    qemu_io(disk, *(f"write -P {byte:#x} {offset} {length}" for offset, length, byte in WRITTEN))

    backup_peak = peak_of("backup", str(repository), str(disk))
    restore_peak = peak_of("restore", str(repository), str(restored))

    output = restored / "big.vhdx"
    assert output.stat().st_blocks * 512 < 64 * MiB  # sparse: the written blocks, not 64 TiB
    qemu_io(output, *(f"read -P {byte:#x} {offset} {length}" for offset, length, byte in WRITTEN))
    qemu_io(output, *(f"read -P 0 {offset} {length}" for offset, length in UNWRITTEN))
    assert max(backup_peak, restore_peak) < PEAK_LIMIT, (
        f"peak RSS: backup {backup_peak / MB:.0f} MB, restore {restore_peak / MB:.0f} MB (limit {PEAK_LIMIT / MB:.0f})"
    )
