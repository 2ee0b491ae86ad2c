"""R15's one rule, what makes a disk a VHD Set, in a module of its own: the shadow copy steps and the backup plan
need only this, not the facts model the preflight check (``vhd_set.py``) reads, which a task's worker process
would otherwise import for every shadow copy and plan task."""

from __future__ import annotations

from typing import Optional


def is_vhd_set_file(vhd_format: Optional[str], path: str) -> bool:
    """The one R15 rule (preflight, the shadow copy's read, the backup plan): Get-VHD's ``VhdFormat`` is VHDSet,
    or, when it could not tell, the path ends in ``.vhds``."""
    return vhd_format == "VHDSet" or str(path).lower().endswith(".vhds")
