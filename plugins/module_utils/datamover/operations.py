"""The operations behind the module and the command line: module-style parameters in, the engine's reply out.

The Ansible module ``backup.hyperv.data_mover`` and the command line take the same options under the same
names (``repository``, ``vm``, ``source``, ``block_size``...); both hand them to :func:`run_operation`, which
calls the engine and shapes its reply (adding ``changed``). With ``jobs`` (a list of VMs), a backup or a
restore runs as one job against one open repository (run/jobs.py).
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Mapping, Optional

from ansible_collections.backup.hyperv.plugins.module_utils.datamover import engine
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.base.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.job_entries import parse_job
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.options import (
    engine_encryption,
    parse_block_size,
    parse_changed_ranges,
    ranges_by_source,
    refuse_plaintext_with_passphrase,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.jobs import (
    backup_each,
    restore_each,
    run_each,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.outputs import output_name
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.store.constants import DEFAULT_CHUNK_SIZE

Progress = Callable[[int, int], None]
Params = Mapping[str, Any]


def job_entries(operation: str, p: Params) -> Optional[List[Dict[str, Any]]]:
    """The checked VM entries of a job, or None when ``p`` describes a single VM."""
    if p.get("jobs") is None:
        return None
    single = [name for name in ("vm", "source", "destination", "changed_ranges") if p.get(name)]
    if single:
        raise DataMoverError(f"jobs names the VMs and their files: do not also give {', '.join(single)}")
    return parse_job(operation, p["jobs"])


def _opening(p: Params) -> Dict[str, Any]:
    """How a session opens the repository (every operation that locks it)."""
    return {"passphrase": p.get("passphrase"), "lock_timeout": p.get("lock_timeout") or 0, "workers": p.get("workers")}


def _creating(p: Params) -> Dict[str, Any]:
    """How a backup (or init) creates a missing repository."""
    encryption = engine_encryption(p.get("encryption"))
    return {"encryption": encryption, "hash_algorithm": p.get("hash") or "blake3", "kdf": p.get("kdf") or "scrypt"}


def _chunking(p: Params) -> Dict[str, Any]:
    """How a backup cuts and compresses its sources."""
    block_size = parse_block_size(p.get("block_size") or DEFAULT_CHUNK_SIZE)
    return {"block_size": block_size, "compression": p.get("compression") or "default"}


def _backup(p: Params, check_mode: bool, progress: Optional[Progress]) -> Dict[str, Any]:
    entries = job_entries("backup", p)
    refuse_plaintext_with_passphrase(p)
    chunking = _chunking(p)
    if entries is not None:
        with engine.open_session(p["repository"], check_mode=check_mode, **_opening(p), **_creating(p)) as session:
            return backup_each(session, entries, progress=progress, **chunking)
    ranges = ranges_by_source(parse_changed_ranges(p.get("changed_ranges")), p["source"])
    run = {"check_mode": check_mode, "progress": progress, "changed_ranges": ranges}
    return engine.backup(p["repository"], p["vm"], p["source"], **run, **chunking, **_opening(p), **_creating(p))


def find_restore_point(repository: str, vm: str, wanted: str, passphrase: Optional[str]) -> Dict[str, Any]:
    """The restore point ``wanted`` (an id, or ``latest`` of ``vm``) as ``list`` describes it."""
    points = engine.list_restore_points(repository, vm=vm, passphrase=passphrase)["vms"].get(vm, [])
    if wanted != "latest":
        points = [point for point in points if point["id"] == wanted]
    if not points:
        raise DataMoverError(f"VM {vm!r} has no restore point {wanted!r} in {repository}")
    return points[-1]


def plan_restore(p: Params) -> Dict[str, Any]:
    """What a restore would write (the real one's reply without stats); fails as the real one would."""
    point = find_restore_point(p["repository"], p["vm"], p.get("restore_point") or "latest", p.get("passphrase"))
    fmt, folder = p.get("format") or "vhdx", p["destination"]
    outputs = [_planned(folder, output_name(d, fmt), fmt, d["virtual_size"]) for d in point["disks"]]
    outputs += [_planned(folder, f["name"], "raw", f["size"]) for f in point["files"]]
    existing = [o["path"] for o in outputs if os.path.exists(o["path"])]
    if existing and not p.get("overwrite"):
        raise DataMoverError(f"destination exists: {', '.join(existing)} (set overwrite to replace)")
    return {"changed": True, "restore_point": point["id"], "vm": p["vm"], "outputs": outputs}


def _planned(folder: str, name: str, fmt: str, size: int) -> Dict[str, Any]:
    return {"name": name, "path": os.path.join(folder, name), "format": fmt, "size": size}


def _restore(p: Params, check_mode: bool, progress: Optional[Progress]) -> Dict[str, Any]:
    entries = job_entries("restore", p)
    if entries is not None and check_mode:
        return run_each(entries, lambda entry: plan_restore(dict(p, **entry)))
    if entries is not None:
        with engine.open_session(p["repository"], write=False, **_opening(p)) as session:
            return restore_each(session, entries, progress)
    if check_mode:
        return plan_restore(p)
    point, fmt = p.get("restore_point") or "latest", p.get("format") or "vhdx"
    choice = {"restore_point": point, "format": fmt, "overwrite": bool(p.get("overwrite"))}
    return engine.restore(p["repository"], p["vm"], p["destination"], progress=progress, **choice, **_opening(p))


def _verify(p: Params, check_mode: bool, progress: Optional[Progress]) -> Dict[str, Any]:
    point = p.get("restore_point")
    selection = {"vm": p.get("vm"), "restore_point": None if point == "latest" else point}
    result = engine.verify(p["repository"], progress=progress, **selection, **_opening(p))
    return dict(result, changed=False)


def _list(p: Params, check_mode: bool, progress: Optional[Progress]) -> Dict[str, Any]:
    listing = engine.list_restore_points(p["repository"], vm=p.get("vm"), passphrase=p.get("passphrase"))
    return dict(listing, changed=False)


def _prune(p: Params, check_mode: bool, progress: Optional[Progress]) -> Dict[str, Any]:
    opening = _opening(p)
    del opening["workers"]  # prune reads only pack tables and index files: one thread is enough
    return engine.prune(p["repository"], p["keep_last"], vm=p.get("vm"), check_mode=check_mode, **opening)


def _init(p: Params, check_mode: bool, progress: Optional[Progress]) -> Dict[str, Any]:
    refuse_plaintext_with_passphrase(p)
    return engine.init_repository(p["repository"], passphrase=p.get("passphrase"), **_creating(p))


_HANDLERS = {"backup": _backup, "restore": _restore, "verify": _verify, "list": _list, "prune": _prune, "init": _init}


def run_operation(
    operation: str, params: Params, check_mode: bool = False, progress: Optional[Progress] = None
) -> Dict[str, Any]:
    """Run one operation with module-style ``params``; the engine's reply, always with ``changed``."""
    return _HANDLERS[operation](params, check_mode, progress)
