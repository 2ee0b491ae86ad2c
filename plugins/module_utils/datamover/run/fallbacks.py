"""Why a disk given changed ranges was read in full: every reason text, in one place.

A backup with changed ranges (Hyper-V RCT) reads only the changed chunks of a disk and carries the others
over from the VM's latest restore point, the *baseline*. When the ranges cannot be trusted against that
baseline, the disk is read in full (still storing only new chunks) and the restore point's
``incremental[disk].fallback_reason`` says why, in one of the texts below (docs/datamover.md,
"Incremental backups with RCT", quotes them). A reason the caller gave (``ranges: null`` with ``reason``)
is recorded as given.
"""

from __future__ import annotations

from typing import Optional

NO_BASELINE = "no previous restore point of this VM"
NO_RANGES = "no changed ranges were given for this disk (ranges null)"
NO_SUCH_DISK = "the previous restore point has no disk of this name"
AUDITED = "audit: read in full to check the changed ranges against the data (rct_audit)"
MISSING_CHUNKS = "the previous restore point references chunks missing from the repository"
NOT_A_DISK = "not a disk the data mover reads by ranges (a legacy .vhd or another file): read whole"


def size_changed(before: int, now: int) -> str:
    return f"the disk size changed ({before} -> {now} bytes)"


def other_disk(recorded: str, now: str) -> str:
    """The file at the disk's name is another virtual disk (MS-VHDX VirtualDiskId) than the baseline's."""
    return f"the virtual disk id changed ({recorded} -> {now}): another disk than the previous restore point's"


def range_past_the_end(offset: int, size: int) -> str:
    """A range starting at or past the disk's end cannot describe this disk (Windows answers within it)."""
    return (
        f"a changed range starts at byte {offset}, past the end of the disk ({size} bytes): the ranges are not "
        "this disk's"
    )


def chunk_size_changed(before: int, now: int) -> str:
    return f"the chunk size changed ({before} -> {now} bytes)"


def other_baseline(point_id: str, vm: str, disk: str, recorded: Optional[str], since: str) -> str:
    """The ranges start at an RCT id the baseline did not record: they may miss what changed in between."""
    what = "no RCT id" if recorded is None else f"RCT id {recorded}"
    return f"the latest restore point {point_id} of {vm} recorded {what} for {disk}, the ranges start at {since}"


def baseline_chunk_failed(error: str) -> str:
    """A partial chunk's baseline chunk did not pass its check: the chunk was read whole from the source."""
    return f"a baseline chunk failed its check, so the whole chunk was read from the source: {error}"
