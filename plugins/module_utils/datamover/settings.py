"""The options of one data mover run as one frozen object, whichever way they arrived.

Three small constructors, one per way in: :meth:`DataMoverOptions.from_params` (the module's validated
parameters, under the module's option names), :meth:`DataMoverOptions.from_args` (the command line's parsed
arguments, plus the passphrase, changed ranges and job it read from files) and
:meth:`DataMoverOptions.from_json` (an options document, as the action plugin sends it to a Windows proxy).
All three end in ``from_params``, the one place that checks a value; every default is a dataclass default,
taken from store/constants.py.

The options document is the module's parameters, normalised, plus ``schema`` (its version) and
``check_mode``: ``to_json`` writes it, ``from_json`` reads it back into an equal object. Schema 2 added
``changed_ranges`` as ``{since, ranges, reason}``, ``change_ids``, ``slots``, ``vms`` and the operation
``baselines``: an engine that reads only schema 1 refuses such a document rather than drop what it does not
know (a dropped ``change_ids`` would silently cost the next backup its incremental). The file-level operations
(``ls``, ``find``, ``restore_file``, with ``disk``, ``partition``, ``path`` and ``pattern``) need no new schema:
an older engine refuses their operation by name, so nothing they say can be dropped unnoticed.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Type, TypeVar

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.guest.query import GUEST_OPERATIONS, GuestQuery
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.job_entries import parse_job
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.options import (
    parse_block_size,
    parse_change_ids,
    parse_changed_ranges,
    parse_parents,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.values import (
    AS_CONFIGURED,
    DEFAULT_CHUNKING,
    BackupEntry,
    Chunking,
    DiskChanges,
    NewRepository,
    RepositoryAccess,
    RestoreEntry,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import (
    COMPRESSION_LEVELS,
    DEFAULT_SLOTS,
    ENCRYPTIONS,
    HASH_ALGORITHMS,
    KDFS,
    LATEST,
    MAX_LOCK_TIMEOUT,
    MAX_WORKERS,
)

SCHEMA = 2  # version of the options document this engine writes
READABLE_SCHEMAS = (1, SCHEMA)  # what it reads: schema 1 is schema 2 without its additions; another is refused
OPERATIONS = (
    "backup",
    "restore",
    "verify",
    "list",
    "baselines",
    "prune",
    "unlock",
    "forget",
    "repair",
    *GUEST_OPERATIONS,
)  # the CLI adds init
ALL_OPERATIONS = (*OPERATIONS, "init")
SINGLE_VM_KEYS = (
    "vm",
    "source",
    "destination",
    "changed_ranges",
    "change_ids",
    "parents",
)  # what a job's entries say instead
Value = TypeVar("Value")


def _given(cls: Type[Value], **values: Any) -> Value:
    """``cls`` from the values given; one left out (None) takes the dataclass's default."""
    return cls(**{name: value for name, value in values.items() if value is not None})


def _choice(name: str, value: Any, choices: Sequence[str]) -> Optional[str]:
    if value is not None and value not in choices:
        raise DataMoverError(f"{name} {value!r} is not one of {', '.join(choices)}")
    return value


@dataclasses.dataclass(frozen=True)
class DataMoverOptions:
    """Everything one run of the engine needs, checked: what to do, to which repository, with which VMs."""

    operation: str
    access: RepositoryAccess
    new: NewRepository = AS_CONFIGURED
    chunking: Chunking = DEFAULT_CHUNKING
    vm: Optional[str] = None  # the VM verify, list and prune are limited to
    restore_point: Optional[str] = None  # the one verify checks; None: every one
    backups: Tuple[BackupEntry, ...] = ()
    restores: Tuple[RestoreEntry, ...] = ()
    job: bool = False  # the entries came as ``jobs``: one result per VM
    keep_last: Optional[int] = None
    force: bool = False  # unlock: remove live locks too
    point_ids: Tuple[str, ...] = ()  # forget: the restore points to remove from the catalog
    check_mode: bool = False
    slots: int = DEFAULT_SLOTS  # a backup job's VMs stored at once
    vms: Optional[Tuple[str, ...]] = None  # the VMs baselines describes; None: every one
    guest: Optional[GuestQuery] = None  # ls, find and restore_file: the volume and path in a restore point

    # --- ways in ---------------------------------------------------------------------------------------------
    @classmethod
    def from_params(cls, params: Mapping[str, Any], check_mode: bool = False) -> DataMoverOptions:
        """From parameters under the module's option names (``repository``, ``source``, ``block_size``...)."""
        p = params
        operation = _choice("operation", p.get("operation"), ALL_OPERATIONS)
        if not p.get("repository"):
            raise DataMoverError("repository is required")
        access = _given(
            RepositoryAccess,
            path=p["repository"],
            passphrase=p.get("passphrase") or None,
            lock_timeout=_lock_timeout(p.get("lock_timeout")),
            workers=_workers(p.get("workers")),
        )
        new = _given(
            NewRepository,
            encryption=_choice("encryption", p.get("encryption"), ENCRYPTIONS),
            hash=_choice("hash", p.get("hash"), HASH_ALGORITHMS),
            kdf=_choice("kdf", p.get("kdf"), KDFS),
        )
        block_size = p.get("block_size")
        chunking = _given(
            Chunking,
            block_size=None if block_size is None else parse_block_size(block_size),
            compression=_choice("compression", p.get("compression"), tuple(COMPRESSION_LEVELS)),
        )
        point = p.get("restore_point")
        return cls(
            operation=str(operation),
            access=access,
            new=new,
            chunking=chunking,
            vm=p.get("vm"),
            restore_point=None if operation != "verify" or point == LATEST else point,
            job=_is_job(str(operation), p),
            keep_last=p.get("keep_last"),
            force=bool(p.get("force")),
            point_ids=_point_ids(p.get("restore_points")),
            guest=GuestQuery.from_params(str(operation), p) if operation in GUEST_OPERATIONS else None,
            check_mode=bool(check_mode),
            **_job_shape(str(operation), p),
            **_entries(str(operation), p),
        )

    @classmethod
    def from_args(
        cls,
        args: Any,
        passphrase: Optional[str],
        changed_ranges: Optional[Any],
        jobs: Optional[Any],
        change_ids: Optional[Any] = None,
    ) -> DataMoverOptions:
        """From the command line's namespace and what it read from files (passphrase, ranges, job, change ids)."""
        params = dict(vars(args), passphrase=passphrase, changed_ranges=changed_ranges, jobs=jobs)
        params["change_ids"] = change_ids
        return cls.from_params(params, check_mode=bool(getattr(args, "dry_run", False)))

    @classmethod
    def from_json(cls, text: str) -> DataMoverOptions:
        """From an options document (``to_json``'s output, or one written by hand)."""
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise DataMoverError(f"the options document is not JSON: {exc}") from exc
        if not isinstance(document, dict) or document.get("schema") not in READABLE_SCHEMAS:
            found = document.get("schema") if isinstance(document, dict) else None
            readable = " and ".join(map(str, READABLE_SCHEMAS))
            raise DataMoverError(
                f"the options document has schema {found!r}; this engine reads schema {readable} "
                "(install the data mover of the collection that sent it)"
            )
        return cls.from_params(document, check_mode=bool(document.get("check_mode")))

    # --- way out ---------------------------------------------------------------------------------------------
    def to_json(self) -> str:
        """The options document: the module's parameters, normalised, with ``schema`` and ``check_mode``.

        It holds the passphrase: send it only where the passphrase may go (a process's stdin)."""
        document: Dict[str, Any] = {"schema": SCHEMA, "operation": self.operation, "check_mode": self.check_mode}
        access = dataclasses.asdict(self.access)
        document.update(repository=access.pop("path"), **access)
        document.update(dataclasses.asdict(self.new), **dataclasses.asdict(self.chunking))
        document.update(vm=self.vm, keep_last=self.keep_last, force=self.force, slots=self.slots)
        if self.point_ids:  # forget's; an older engine refuses the operation by name, so no new schema
            document["restore_points"] = list(self.point_ids)
        document["vms"] = None if self.vms is None else list(self.vms)
        if self.restore_point is not None:  # verify's; a restore's is its entry's
            document["restore_point"] = self.restore_point
        if self.guest is not None:
            document.update(self.guest.to_params())
        entries = [_entry_document(entry) for entry in (*self.backups, *self.restores)]
        if self.job:
            document["jobs"] = entries
        elif entries:
            document.update(_single_params(entries[0]))
        return json.dumps(document, separators=(",", ":"), sort_keys=True)


def _lock_timeout(value: Any) -> Optional[float]:
    """Seconds from 0 to MAX_LOCK_TIMEOUT (None: the default), checked before anything opens."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if isinstance(value, bool) or not 0 <= seconds <= MAX_LOCK_TIMEOUT:  # NaN fails every comparison
        raise DataMoverError(
            f"lock_timeout must be a number of seconds from 0 to {MAX_LOCK_TIMEOUT:g} (got {value!r}); 0 fails at "
            "once when another run holds the lock"
        )
    return seconds


def _workers(value: Any) -> Optional[int]:
    """A whole number of threads from 1 to MAX_WORKERS (None: one per core), checked before anything opens."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_WORKERS):
        raise DataMoverError(
            f"workers must be a whole number from 1 to {MAX_WORKERS} (got {value!r}); leave it out for one per core"
        )
    return value


def _job_shape(operation: str, p: Mapping[str, Any]) -> Dict[str, Any]:
    """``slots`` (a whole number from 1) and ``vms`` (baselines' VM names), checked."""
    slots, vms = p.get("slots"), p.get("vms")
    if slots is not None and (not isinstance(slots, int) or isinstance(slots, bool) or slots < 1):
        raise DataMoverError(f"slots must be a whole number from 1 (got {slots!r})")
    if vms is not None and operation != "baselines":
        raise DataMoverError("vms names the VMs of operation baselines; other operations take vm or jobs")
    if vms is not None and not (isinstance(vms, (list, tuple)) and all(isinstance(v, str) and v for v in vms)):
        raise DataMoverError("vms must be a list of VM names")
    shape: Dict[str, Any] = {} if slots is None else {"slots": slots}
    return shape if vms is None else dict(shape, vms=tuple(vms))


def _point_ids(value: Any) -> Tuple[str, ...]:
    """``restore_points`` (forget's restore point ids), checked."""
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        raise DataMoverError("restore_points must be a list of restore point ids")
    return tuple(value)


def _is_job(operation: str, p: Mapping[str, Any]) -> bool:
    return operation in ("backup", "restore") and p.get("jobs") is not None


def _entries(operation: str, p: Mapping[str, Any]) -> Dict[str, tuple]:
    """The VM entries of a backup or restore: the job's, or the one the single-VM options describe."""
    if _is_job(operation, p):
        single = [name for name in SINGLE_VM_KEYS if p.get(name)]
        if single:
            raise DataMoverError(f"jobs names the VMs and their files: do not also give {', '.join(single)}")
        entries = tuple(parse_job(operation, p["jobs"]))
        return {"backups": entries} if operation == "backup" else {"restores": entries}
    if operation == "backup":
        ranges, change_ids = parse_changed_ranges(p.get("changed_ranges")), parse_change_ids(p.get("change_ids"))
        parents = parse_parents(p.get("parents"))
        return {"backups": (BackupEntry(p.get("vm") or "", tuple(p.get("source") or ()), ranges, change_ids, parents),)}
    if operation == "restore":
        keys = ("restore_point", "format", "overwrite", "salvage", "rollback")
        chosen = {key: p[key] for key in keys if p.get(key) is not None}
        return {"restores": (RestoreEntry(p.get("vm"), p.get("destination") or "", **chosen),)}
    return {}


def _entry_document(entry: Any) -> Dict[str, Any]:
    """An entry as the document holds it (a disk's changes in the shortest form that says them all)."""
    document = dataclasses.asdict(entry)
    if "parents" in document and document["parents"] is None:
        del document["parents"]  # an engine before parents refuses the key; one that knows it reads none the same
    changes = getattr(entry, "changed_ranges", None)
    if changes is not None:
        document["changed_ranges"] = {path: _changes_document(change) for path, change in changes.items()}
    return document


def _changes_document(change: DiskChanges) -> Any:
    """The plain list of ranges when that is all ``change`` says (the form schema 1 knew), else the mapping."""
    if change.since is None and change.reason is None and change.ranges is not None and not change.audit:
        return [list(pair) for pair in change.ranges]
    document = dataclasses.asdict(change)
    if not change.audit:  # only an audit says so: a document without the key means what it did before
        del document["audit"]
    return document


def _single_params(entry: Mapping[str, Any]) -> Dict[str, Any]:
    """A single VM's entry under the module's option names (``sources`` is the module's ``source``)."""
    params = dict(entry)
    if "sources" in params:
        params["source"] = params.pop("sources")
    return params
