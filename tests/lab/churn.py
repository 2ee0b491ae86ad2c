"""`lab write`, `lab churn` and `lab disk`: change a running lab's VM disks between backups, as the VMs and
their administrators would, and keep the host's change tracking (`lab.windows.rct`) in step.

- write: random bytes at given ranges, or over a share of the disk at random places: 64 KiB pieces (so the RCT
  answer, rounded out to the tracking block, is larger than what was written), or with `--blocks` whole tracking
  blocks (the estate's `rct_block`, aligned: that share of the disk's blocks changed, as a VM that rewrites whole
  blocks would);
- churn: `write --percent` on every disk of every VM of the estate (the estate's `churn_percent`);
- disk: Resize-VHD (`--resize`), another disk in its place (`--replace`) or a storage migration away and back
  (`--migrate`): each makes the host forget the disk's RCT ids.
While a VM has a recovery checkpoint, the lab refuses all of them (it does not model writes into the
checkpoint's layer), and it resizes or replaces only a disk that has no checkpoint layers or parent (Windows
refuses to resize a disk in a checkpoint chain).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from lab.estate.loader import Estate
from lab.estate.vms import Vm, VmDisk
from lab.windows import rct, vmdisk
from lab.windows.hoststate import HostState
from lab.windows.placement import host_vms
from lab.windows.storage import local_path

PIECE = 64 << 10


class ChurnError(RuntimeError):
    """The lab cannot make this change (unknown VM or disk, a recovery checkpoint, a size out of range)."""


def _running(estate: Estate, state_dir: Path, host: str) -> tuple[Vm, ...]:
    """The VMs `host` runs now (after `lab move`)."""
    return host_vms(estate.model, HostState(state_dir / "hosts" / host / "state").read(), host)


def _vm_and_disk(estate: Estate, state_dir: Path, host: str, vm_name: str, index: int) -> tuple[Vm, VmDisk]:
    names = [h.name for h in estate.model.hosts]
    if host not in names:
        raise ChurnError(f"no host {host!r} in the estate (hosts: {', '.join(names)})")
    vm = next((v for v in _running(estate, state_dir, host) if v.name.lower() == vm_name.lower()), None)
    if vm is None or not 0 <= index < len(vm.disks):
        raise ChurnError(f"{host} has no VM {vm_name!r} with a disk number {index}")
    return vm, vm.disks[index]


def random_ranges(size: int, percent: float, seed: Any, piece: int = PIECE) -> list[tuple[int, int]]:
    """`percent` of the disk's `piece`-sized, aligned pieces at random places (adjacent pieces joined), ascending."""
    pieces = max(size // piece, 1)
    chosen = sorted(random.Random(seed).sample(range(pieces), max(1, round(pieces * percent / 100))))
    ranges: list[tuple[int, int]] = []
    for index in chosen:
        if ranges and ranges[-1][0] + ranges[-1][1] == index * piece:
            ranges[-1] = (ranges[-1][0], ranges[-1][1] + piece)
        else:
            ranges.append((index * piece, min(piece, size - index * piece)))
    return ranges


class DiskChange:
    """One VM disk of a lab in its state directory, with the host's state held while it changes."""

    def __init__(self, estate: Estate, state_dir: Path, host: str, vm_name: str, index: int) -> None:
        self.estate, self.state_dir, self.host = estate, state_dir, host
        self.vm, self.disk = _vm_and_disk(estate, state_dir, host, vm_name, index)

    def _file(self, state: dict[str, Any]) -> tuple[str, Path]:
        if rct.vm_record(state, self.vm)["checkpoint"]:
            raise ChurnError(
                f"{self.vm.name} has a recovery checkpoint: the lab does not write into its layer "
                "(convert or release it first)"
            )
        path = rct.live_disk(state, self.vm, self.disk)
        return path, local_path(self.estate.model, self.state_dir, self.host, path)

    def write(
        self, ranges: list[tuple[int, int]] | None, percent: float | None, seed: Any, blocks: bool = False
    ) -> dict[str, Any]:
        """`ranges`, or `percent` of the disk at random places: 64 KiB pieces, or whole tracking blocks."""
        with HostState(self.state_dir / "hosts" / self.host / "state").edit() as state:
            path, file = self._file(state)
            size = vmdisk.virtual_size(file)
            piece = self.estate.model.rct_block if blocks else PIECE
            ranges = ranges if ranges is not None else random_ranges(size, percent or 0, seed, piece)
            beyond = [r for r in ranges if r[0] < 0 or r[1] <= 0 or r[0] + r[1] > size]
            if beyond:
                raise ChurnError(f"{path}: ranges {beyond} are not within the disk ({size} bytes)")
            vmdisk.write_random(file, ranges, seed)
            sequence = rct.record_write(state, self.disk, ranges)
        written = sum(length for _offset, length in ranges)
        return {
            "host": self.host,
            "vm": self.vm.name,
            "disk": path,
            "file": str(file),  # where the lab keeps it, for a test or the demo to compare a restore with
            "ranges": ranges,
            "bytes": written,
            "sequence": sequence,
        }

    def change(self, resize: int | None = None, replace: bool = False, migrate: bool = False) -> dict[str, Any]:
        with HostState(self.state_dir / "hosts" / self.host / "state").edit() as state:
            path, file = self._file(state)
            if (resize or replace) and (path != self.disk.path or self.disk.parent):
                raise ChurnError(f"{path} is in a differencing chain: the lab resizes or replaces only a base disk")
            if resize:
                vmdisk.resize(file, resize)
            elif replace:
                vmdisk.replace_disk(file, vmdisk.virtual_size(file))
            elif migrate:
                vmdisk.migrate(file)
            rct.invalidate(state, self.disk)
        return {"host": self.host, "vm": self.vm.name, "disk": path, "size": vmdisk.virtual_size(file)}


def churn(
    estate: Estate, state_dir: Path, percent: float | None = None, seed: Any = None, blocks: bool = False
) -> list[dict[str, Any]]:
    """Write `percent` (the estate's `churn_percent`) of every disk of every VM (of its tracking blocks with
    `blocks`); a disk the lab cannot write (a recovery checkpoint, a differencing disk) is reported with `skipped`
    and its reason."""
    share = percent if percent is not None else estate.model.churn_percent
    results = []
    for host in estate.model.hosts:
        for vm in _running(estate, state_dir, host.name):
            for index, disk in enumerate(vm.disks):
                change = DiskChange(estate, state_dir, host.name, vm.name, index)
                try:
                    results.append(change.write(None, share, f"{seed}/{host.name}/{vm.name}/{index}", blocks))
                except (ChurnError, vmdisk.DiskWriteError) as exc:
                    results.append({"host": host.name, "vm": vm.name, "disk": disk.path, "skipped": str(exc)})
    return results
