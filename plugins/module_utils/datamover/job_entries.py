"""Job entries: the checked VM list of a backup or restore job, from a JSON file or the module's ``jobs``.

A job is a list of entries, from a JSON file (``hyperv-datamover backup REPO --job JOB.json``) or the
module's ``jobs`` option:

- backup: ``{"vm": NAME, "sources": [PATH, ...], "changed_ranges": {PATH: [[offset, length], ...]}}``
  (``changed_ranges`` optional);
- restore: ``{"vm": NAME, "destination": DIR, "restore_point": ID or "latest", "format": "vhdx" | "raw",
  "overwrite": BOOL}`` (all but ``vm`` and ``destination`` optional).

The whole job is checked before the repository is opened: a malformed entry fails the job and nothing is
written. Running it is run/jobs.py's part.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Mapping

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.options import (
    parse_changed_ranges,
    ranges_by_source,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.restore import FORMATS

BACKUP_KEYS = {"vm": True, "sources": True, "changed_ranges": False}  # key -> required
RESTORE_KEYS = {"vm": True, "destination": True, "restore_point": False, "format": False, "overwrite": False}


def load_job_file(path: str) -> List[Any]:
    """The entries of a JSON job file (checked later by ``parse_job``)."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError) as exc:
        raise DataMoverError(f"cannot read job file {path}: {exc}") from exc


def parse_job(operation: str, entries: Any) -> List[Dict[str, Any]]:
    """Check every entry of a backup or restore job; return them normalised. Raises on the first problem."""
    if operation not in ("backup", "restore"):
        raise DataMoverError(f"jobs are for backup and restore, not {operation}")
    if not isinstance(entries, list) or not entries:
        raise DataMoverError("a job must be a non-empty list of VM entries")
    parsed = [_parse_entry(operation, number, entry) for number, entry in enumerate(entries, 1)]
    names = [entry["vm"] for entry in parsed]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise DataMoverError(f"job entries name VM {', '.join(twice)} more than once: one entry per VM")
    return parsed


def _parse_entry(operation: str, number: int, entry: Any) -> Dict[str, Any]:
    where = f"job entry {number}"
    keys = BACKUP_KEYS if operation == "backup" else RESTORE_KEYS
    if not isinstance(entry, Mapping):
        raise DataMoverError(f"{where} is not an object with {', '.join(k for k, needed in keys.items() if needed)}")
    unknown = sorted(set(entry) - set(keys))
    if unknown:
        raise DataMoverError(f"{where} has unknown key(s) {', '.join(map(str, unknown))}; allowed: {', '.join(keys)}")
    missing = [key for key, needed in keys.items() if needed and entry.get(key) in (None, "", [])]
    if missing:
        raise DataMoverError(f"{where} lacks {', '.join(missing)}")
    if not isinstance(entry["vm"], str):
        raise DataMoverError(f"{where}: vm must be a string")
    return _backup_entry(where, entry) if operation == "backup" else _restore_entry(where, entry)


def _backup_entry(where: str, entry: Mapping[str, Any]) -> Dict[str, Any]:
    sources = entry["sources"]
    if not isinstance(sources, list) or not all(isinstance(s, str) and s for s in sources):
        raise DataMoverError(f"{where} (VM {entry['vm']}): sources must be a list of paths")
    try:
        ranges = ranges_by_source(parse_changed_ranges(entry.get("changed_ranges")), sources)
    except DataMoverError as exc:
        raise DataMoverError(f"{where} (VM {entry['vm']}): {exc}") from exc
    return {"vm": entry["vm"], "sources": list(sources), "changed_ranges": ranges}


def _restore_entry(where: str, entry: Mapping[str, Any]) -> Dict[str, Any]:
    fmt = entry.get("format") or "vhdx"
    point = entry.get("restore_point") or "latest"
    overwrite = entry.get("overwrite", False)
    if fmt not in FORMATS:
        raise DataMoverError(f"{where} (VM {entry['vm']}): format must be one of {', '.join(FORMATS)}")
    if not isinstance(entry["destination"], str) or not isinstance(point, str) or not isinstance(overwrite, bool):
        raise DataMoverError(f"{where} (VM {entry['vm']}): destination and restore_point are strings, overwrite a bool")
    return {
        "vm": entry["vm"],
        "destination": entry["destination"],
        "restore_point": point,
        "format": fmt,
        "overwrite": overwrite,
    }
