"""The one entry point behind the module, the command line and a Windows proxy: options in, a reply out.

The Ansible module ``backup.hyperv.data_mover``, the command line (``hyperv-datamover backup ...``) and the
proxy's ``hyperv-datamover run --options -`` each build a :class:`~settings.DataMoverOptions` and hand it to
:func:`run`, which calls the engine and shapes its reply (adding ``changed``). With ``jobs`` (a list of VMs),
a backup or a restore runs as one job against one open repository (run/jobs.py).
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, Optional

from ansible_collections.backup.hyperv.plugins.module_utils.datamover import engine
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.source import DiskOpener
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.guest_files import HANDLERS as GUEST_HANDLERS
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.job_entries import keyed_ranges
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.options import refuse_plaintext_with_passphrase
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.forget import forget
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.jobs import (
    backup_each,
    restore_each,
    run_each,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.outputs import output_name
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.repair import repair
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.restore_rollback import refuse_mismatches
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.session import Session
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.values import RepositoryAccess, RestoreEntry
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.settings import DataMoverOptions
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import LATEST

Progress = Optional[Callable[[int, int], None]]
Reply = Dict[str, Any]


def _refuse_plaintext(o: DataMoverOptions) -> None:
    refuse_plaintext_with_passphrase(o.access.path, o.new.encryption, o.access.passphrase)


def _backup(o: DataMoverOptions, progress: Progress, opener: Optional[DiskOpener]) -> Reply:
    entries = keyed_ranges(o.backups, o.job)  # the whole job checked before the repository opens
    _refuse_plaintext(o)
    with Session(o.access, o.new, check_mode=o.check_mode, disk_opener=opener, operation=o.operation) as session:
        if o.job:
            return backup_each(session, entries, o.chunking, progress, o.slots)
        return session.backup(entries[0], o.chunking, progress)


def find_restore_point(access: RepositoryAccess, vm: Optional[str], wanted: str) -> Reply:
    """The restore point ``wanted`` (an id, or ``latest`` of ``vm``) as ``list`` describes it."""
    listed = engine.list_restore_points(access, vm)["vms"]  # the VM's points, whatever case its name was stored in
    points = sorted((point for found in listed.values() for point in found), key=lambda point: point["id"])
    if wanted != LATEST:
        points = [point for point in points if point["id"] == wanted]
    if not points:
        raise DataMoverError(f"VM {vm!r} has no restore point {wanted!r} in {access.path}")
    return points[-1]


def plan_restore(access: RepositoryAccess, entry: RestoreEntry) -> Reply:
    """What a restore would write (the real one's reply without stats); fails as the real one would."""
    point = find_restore_point(access, entry.vm, entry.restore_point)
    fmt, folder = entry.format, entry.destination
    outputs = [_planned(folder, output_name(d, fmt), fmt, d["virtual_size"]) for d in point["disks"]]
    outputs += [_planned(folder, f["name"], "raw", f["size"]) for f in point["files"]]
    existing = [o["path"] for o in outputs if os.path.exists(o["path"])]
    if existing and not (entry.overwrite or entry.rollback):
        raise DataMoverError(f"destination exists: {', '.join(existing)} (set overwrite to replace)")
    if entry.rollback:
        disks = [(d, os.path.join(folder, output_name(d, fmt)), fmt) for d in point["disks"]]
        full = refuse_mismatches(disks, entry.salvage, entry.overwrite)
        outputs = [{**o, "full_restore": full[o["path"]]} if o["path"] in full else o for o in outputs]
    return {"changed": True, "restore_point": point["id"], "vm": entry.vm, "outputs": outputs}


def _planned(folder: str, name: str, fmt: str, size: int) -> Reply:
    return {"name": name, "path": os.path.join(folder, name), "format": fmt, "size": size}


def _restore(o: DataMoverOptions, progress: Progress, opener: Optional[DiskOpener]) -> Reply:
    if o.check_mode and o.job:
        return run_each(o.restores, lambda entry: plan_restore(o.access, entry))
    if o.check_mode:
        return plan_restore(o.access, o.restores[0])
    with Session(o.access, write=False, operation=o.operation) as session:
        if o.job:
            return restore_each(session, o.restores, progress)
        return session.restore(o.restores[0], progress)


def _verify(o: DataMoverOptions, progress: Progress, opener: Optional[DiskOpener]) -> Reply:
    with Session(o.access, write=False, operation=o.operation) as session:
        result = session.verify(vm=o.vm, restore_point=o.restore_point, progress=progress)
    return dict(result, changed=False)


def _list(o: DataMoverOptions, progress: Progress, opener: Optional[DiskOpener]) -> Reply:
    return dict(engine.list_restore_points(o.access, o.vm), changed=False)


def _baselines(o: DataMoverOptions, progress: Progress, opener: Optional[DiskOpener]) -> Reply:
    return dict(engine.baselines(o.access, o.vms), changed=False)


def _prune(o: DataMoverOptions, progress: Progress, opener: Optional[DiskOpener]) -> Reply:
    if o.keep_last is None:
        raise DataMoverError("prune needs keep_last: the number of newest restore points to keep per VM")
    return engine.prune(o.access, o.keep_last, vm=o.vm, check_mode=o.check_mode)


def _init(o: DataMoverOptions, progress: Progress, opener: Optional[DiskOpener]) -> Reply:
    _refuse_plaintext(o)
    return engine.init_repository(o.access, o.new)


def _unlock(o: DataMoverOptions, progress: Progress, opener: Optional[DiskOpener]) -> Reply:
    return engine.unlock_repository(o.access, force=o.force, check_mode=o.check_mode)


def _forget(o: DataMoverOptions, progress: Progress, opener: Optional[DiskOpener]) -> Reply:
    return forget(o.access, o.point_ids, check_mode=o.check_mode)


def _repair(o: DataMoverOptions, progress: Progress, opener: Optional[DiskOpener]) -> Reply:
    return repair(o.access, check_mode=o.check_mode)


_HANDLERS = {
    "backup": _backup,
    "restore": _restore,
    "verify": _verify,
    "list": _list,
    "baselines": _baselines,
    "prune": _prune,
    "init": _init,
    "unlock": _unlock,
    "forget": _forget,
    "repair": _repair,
    **GUEST_HANDLERS,  # ls, find, restore_file (guest_files.py)
}


def run(options: DataMoverOptions, progress: Progress = None, disk_opener: Optional[DiskOpener] = None) -> Reply:
    """Run one operation as ``options`` say; the engine's reply, always with ``changed``.

    ``disk_opener`` (backup only) is how disks are opened: ``run/opener.open_disk`` unless a caller, such
    as a test, gives another."""
    return _HANDLERS[options.operation](options, progress, disk_opener)
