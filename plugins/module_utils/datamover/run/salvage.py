"""A salvage restore: what it writes of a damaged restore point, and the marker that says what it could not.

By default a damaged or missing chunk stops a restore, naming the disk and the offset, and the unfinished
output is removed. Asked to salvage (``salvage: true``), the restore writes every chunk it can, leaves the
damaged ranges zero, and writes a marker file next to each such output, ``<output>.damaged.json``, naming
the restore point and each damaged range. The reply lists them under ``damaged`` and carries a warning, so a
salvaged disk is never taken for a whole one. A marker left by an earlier restore of the same output is
removed when the output is written again whole.
"""

from __future__ import annotations

import json
from typing import List, Optional

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.fsutil import remove_quietly
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.damage import Range, append_range

MARKER_SUFFIX = ".damaged.json"


def marker_path(output_path: str) -> str:
    return output_path + MARKER_SUFFIX


class Salvage:
    """The damaged ranges of one output of a salvage restore, noted as the restore meets them."""

    def __init__(self) -> None:
        self.ranges: List[Range] = []
        self.reasons: List[str] = []

    def note(self, offset: int, length: int, reason: str) -> None:
        append_range(self.ranges, offset, length)
        self.reasons.append(reason)

    def finish(self, output_path: str, point: dict, name: str) -> Optional[dict]:
        """Write the marker next to ``output_path`` when something was lost (else remove an old one); return
        what the reply says of it, or None for a whole output."""
        marker = marker_path(output_path)
        if not self.ranges:
            remove_quietly(marker)
            return None
        described = {
            "vm": point["vm"],
            "restore_point": point["id"],
            "name": name,
            "path": output_path,
            "marker": marker,
            "ranges": [list(r) for r in self.ranges],
            "bytes_lost": sum(length for _ignored, length in self.ranges),
            "first_reason": self.reasons[0],
        }
        note = "these byte ranges could not be restored (damaged or missing chunks) and read as zeros"
        with open(marker, "w", encoding="utf-8") as handle:
            json.dump(dict(described, note=note), handle, indent=1)
        return described


def salvage_warning(damaged: List[dict]) -> str:
    names = ", ".join(f"{d['name']} ({d['bytes_lost']} bytes in {len(d['ranges'])} range(s))" for d in damaged)
    return (
        f"restore point {damaged[0]['restore_point']} is damaged: salvaged {names}; the lost ranges read as zeros "
        f"and are named in the {MARKER_SUFFIX} file next to each output. Run verify, and do not start these as a "
        "whole VM"
    )
