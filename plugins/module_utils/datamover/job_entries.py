"""Job entries: the checked VM list of a backup or restore job, from a JSON file or the module's ``jobs``.

A job is a list of entries, from a JSON file (``hyperv-datamover backup REPO --job JOB.json``) or the
module's ``jobs`` option:

- backup: ``{"vm": NAME, "sources": [PATH, ...], "changed_ranges": {PATH: [[offset, length], ...] or
  {"since": RCT_ID, "ranges": [...] or null, "reason": TEXT}}, "change_ids": {PATH: RCT_ID}, "parents": {PATH:
  [PARENT_PATH, ...]}}`` (``changed_ranges``, ``change_ids`` and ``parents`` optional; a PATH may be the source's file
  name; ``parents``: a differencing disk's parent files, nearest first, read instead of the ones its parent locator
  leads to);
- restore: ``{"vm": NAME, "destination": DIR, "restore_point": ID or "latest", "format": "vhdx" | "raw",
  "overwrite": BOOL, "salvage": BOOL, "rollback": BOOL}`` (all but ``vm`` and ``destination`` optional).

The whole job is checked before the repository is opened: a malformed entry fails the job and nothing is
written. Running it is run/jobs.py's part.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, List, Mapping, Sequence, Union

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.options import (
    parse_change_ids,
    parse_changed_ranges,
    parse_parents,
    ranges_by_source,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.values import BackupEntry, RestoreEntry
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import RESTORE_FORMATS

Entry = Union[BackupEntry, RestoreEntry]

BACKUP_KEYS = {"vm": True, "sources": True, "changed_ranges": False, "change_ids": False, "parents": False}
RESTORE_KEYS = {
    "vm": True,
    "destination": True,
    "restore_point": False,
    "format": False,
    "overwrite": False,
    "salvage": False,
    "rollback": False,
}


def load_job_file(path: str) -> List[Any]:
    """The entries of a JSON job file (checked later by ``parse_job``)."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError) as exc:
        raise DataMoverError(f"cannot read job file {path}: {exc}") from exc


def parse_job(operation: str, entries: Any) -> List[Entry]:
    """Check every entry of a backup or restore job; return them normalised. Raises on the first problem."""
    if operation not in ("backup", "restore"):
        raise DataMoverError(f"jobs are for backup and restore, not {operation}")
    if not isinstance(entries, list) or not entries:
        raise DataMoverError("a job must be a non-empty list of VM entries")
    parsed = [_parse_entry(operation, number, entry) for number, entry in enumerate(entries, 1)]
    names = [entry.vm for entry in parsed]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise DataMoverError(f"job entries name VM {', '.join(twice)} more than once: one entry per VM")
    return parsed


def _parse_entry(operation: str, number: int, entry: Any) -> Entry:
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


def _backup_entry(where: str, entry: Mapping[str, Any]) -> BackupEntry:
    sources = entry["sources"]
    if not isinstance(sources, list) or not all(isinstance(s, str) and s for s in sources):
        raise DataMoverError(f"{where} (VM {entry['vm']}): sources must be a list of paths")
    try:
        ranges = parse_changed_ranges(entry.get("changed_ranges"))
        change_ids = parse_change_ids(entry.get("change_ids"))
        parents = parse_parents(entry.get("parents"))
    except DataMoverError as exc:
        raise DataMoverError(f"{where} (VM {entry['vm']}): {exc}") from exc
    return BackupEntry(entry["vm"], tuple(sources), changed_ranges=ranges, change_ids=change_ids, parents=parents)


def _restore_entry(where: str, entry: Mapping[str, Any]) -> RestoreEntry:
    given = {key: entry[key] for key in RESTORE_KEYS if entry.get(key) not in (None, "")}
    parsed = RestoreEntry(**given)  # what the entry leaves out takes RestoreEntry's default
    if parsed.format not in RESTORE_FORMATS:
        raise DataMoverError(f"{where} (VM {entry['vm']}): format must be one of {', '.join(RESTORE_FORMATS)}")
    fields = (parsed.destination, parsed.restore_point, parsed.overwrite, parsed.salvage, parsed.rollback)
    if not all(isinstance(v, str) for v in fields[:2]) or not all(isinstance(v, bool) for v in fields[2:]):
        raise DataMoverError(
            f"{where} (VM {entry['vm']}): destination and restore_point are strings, "
            "overwrite, salvage and rollback bools"
        )
    return parsed


def keyed_ranges(entries: Sequence[BackupEntry], job: bool) -> List[BackupEntry]:
    """Each entry with its changed ranges, change ids and parents keyed by the source they name.

    Done where the engine runs, before the repository opens: only there are the paths its own (a proxy's
    ``C:\\...`` paths mean nothing to the controller's ``os.path``)."""
    keyed = []
    for number, entry in enumerate(entries, 1):
        try:
            ranges = ranges_by_source(entry.changed_ranges, entry.sources)
            change_ids = ranges_by_source(entry.change_ids, entry.sources, "change_ids")
            parents = ranges_by_source(entry.parents, entry.sources, "parents")
        except DataMoverError as exc:
            if not job:
                raise
            raise DataMoverError(f"job entry {number} (VM {entry.vm}): {exc}") from exc
        keyed.append(dataclasses.replace(entry, changed_ranges=ranges, change_ids=change_ids, parents=parents))
    return keyed
