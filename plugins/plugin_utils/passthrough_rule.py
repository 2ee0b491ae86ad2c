"""What makes a VM's hard disk drive a pass-through disk, and why such a VM cannot be backed up at the host level, in
a module of its own: the backup plan (a filter, imported by every worker that templates one) and the shadow copy's
read need only this.

A pass-through disk is a physical disk of the host attached to the VM: its drive (Msvm_DiskDrive,
https://learn.microsoft.com/windows/win32/hyperv_v2/msvm-diskdrive) is backed by the host's disk, not by virtual hard
disk media, so it has no file. Get-VMHardDiskDrive then reports its DiskNumber, and a Path that describes the host disk
instead of naming a file; a drive with no media has an empty Path and holds nothing to back up. A recovery checkpoint
leaves a pass-through disk out (Msvm_VirtualSystemSnapshotSettingData.IgnoreNonSnapshottableDisks), and no shadow
copy of the host's volumes holds it, so a backup of the VM would silently lack that disk.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_FILE_PATH = re.compile(r"^([A-Za-z]:\\|\\\\)")  # a drive path (C:\...) or a UNC path (\\server\share\...)


def is_passthrough(path: object) -> bool:
    """The drive's Path names no file: a pass-through disk (an empty Path is a drive with no media)."""
    text = str(path or "").strip()
    return bool(text) and not _FILE_PATH.match(text)


def passthrough_reason(paths: Iterable[str]) -> str:
    """Why a VM with these pass-through disks is refused, and what to do."""
    return (
        f"its pass-through disk(s) ({'; '.join(paths)}) are physical disks of the host attached to the VM: no "
        "recovery checkpoint or shadow copy of the host's volumes holds them, so a host-level backup would leave them "
        "out; back their data up from inside the guest, or move it to a virtual hard disk (a VHDX on a CSV or SMB3 "
        "share) and detach the physical disk"
    )
