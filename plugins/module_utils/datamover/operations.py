"""The operations behind the module and the command line: module-style parameters in, the engine's reply out.

The Ansible module ``backup.hyperv.data_mover`` and the command line take the same options under the same
names (``repository``, ``vm``, ``source``, ``block_size``...); both hand them to :func:`run_operation`, which
calls the engine and shapes its reply (adding ``changed``). With ``jobs`` (a list of VMs), a backup or a
restore runs as one job against one open repository (jobs.py).
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Mapping, Optional

from ansible_collections.backup.hyperv.plugins.module_utils.datamover import engine
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.constants import DEFAULT_CHUNK_SIZE
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.errors import DataMoverError
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.jobs import (
    parse_job,
    run_backup_job,
    run_restore_job,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.options import (
    engine_encryption,
    parse_block_size,
    parse_changed_ranges,
    ranges_by_source,
    refuse_plaintext_with_passphrase,
)
from ansible_collections.backup.hyperv.plugins.module_utils.datamover.outputs import output_name

Progress = Callable[[int, int], None]


def job_entries(operation: str, p: Mapping[str, Any]) -> Optional[List[Dict[str, Any]]]:
    """The checked VM entries of a job, or None when ``p`` describes a single VM."""
    if p.get("jobs") is None:
        return None
    single = [name for name in ("vm", "source", "destination", "changed_ranges") if p.get(name)]
    if single:
        raise DataMoverError(f"jobs names the VMs and their files: do not also give {', '.join(single)}")
    return parse_job(operation, p["jobs"])


def _backup(p: Mapping[str, Any], check_mode: bool, progress: Optional[Progress]) -> Dict[str, Any]:
    entries = job_entries("backup", p)
    if entries is not None:
        return run_backup_job(p, entries, check_mode, progress)
    refuse_plaintext_with_passphrase(p)
    return engine.backup(
        p["repository"], p["vm"], p["source"], passphrase=p.get("passphrase"),
        block_size=parse_block_size(p.get("block_size") or DEFAULT_CHUNK_SIZE),
        compression=p.get("compression") or "default", hash_algorithm=p.get("hash") or "blake3",
        changed_ranges=ranges_by_source(parse_changed_ranges(p.get("changed_ranges")), p["source"]),
        check_mode=check_mode,
        lock_timeout=p.get("lock_timeout") or 0, progress=progress, workers=p.get("workers"),
        encryption=engine_encryption(p.get("encryption")), kdf=p.get("kdf") or "scrypt",
    )  # fmt: skip


def find_restore_point(repository: str, vm: str, wanted: str, passphrase: Optional[str]) -> Dict[str, Any]:
    """The restore point ``wanted`` (an id, or ``latest`` of ``vm``) as ``list`` describes it."""
    points = engine.list_restore_points(repository, vm=vm, passphrase=passphrase)["vms"].get(vm, [])
    if wanted != "latest":
        points = [point for point in points if point["id"] == wanted]
    if not points:
        raise DataMoverError(f"VM {vm!r} has no restore point {wanted!r} in {repository}")
    return points[-1]


def plan_restore(p: Mapping[str, Any]) -> Dict[str, Any]:
    """What a restore would write (the real one's reply without stats); fails as the real one would."""
    point = find_restore_point(p["repository"], p["vm"], p.get("restore_point") or "latest", p.get("passphrase"))
    fmt, folder = p.get("format") or "vhdx", p["destination"]
    outputs = [{"name": d["name"], "path": os.path.join(folder, output_name(d, fmt)), "format": fmt,
                "size": d["virtual_size"]} for d in point["disks"]]  # fmt: skip
    outputs += [{"name": f["name"], "path": os.path.join(folder, f["name"]), "format": "raw", "size": f["size"]}
                for f in point["files"]]  # fmt: skip
    existing = [o["path"] for o in outputs if os.path.exists(o["path"])]
    if existing and not p.get("overwrite"):
        raise DataMoverError(f"destination exists: {', '.join(existing)} (set overwrite to replace)")
    return {"changed": True, "restore_point": point["id"], "vm": p["vm"], "outputs": outputs}


def _restore(p: Mapping[str, Any], check_mode: bool, progress: Optional[Progress]) -> Dict[str, Any]:
    entries = job_entries("restore", p)
    if entries is not None:
        return run_restore_job(p, entries, plan_restore if check_mode else None, progress)
    if check_mode:
        return plan_restore(p)
    return engine.restore(
        p["repository"], p["vm"], p["destination"], restore_point=p.get("restore_point") or "latest",
        format=p.get("format") or "vhdx", passphrase=p.get("passphrase"), overwrite=bool(p.get("overwrite")),
        progress=progress, lock_timeout=p.get("lock_timeout") or 0, workers=p.get("workers"),
    )  # fmt: skip


def _verify(p: Mapping[str, Any], check_mode: bool, progress: Optional[Progress]) -> Dict[str, Any]:
    point = p.get("restore_point")
    result = engine.verify(
        p["repository"], vm=p.get("vm"), restore_point=None if point == "latest" else point,
        passphrase=p.get("passphrase"), progress=progress, lock_timeout=p.get("lock_timeout") or 0,
        workers=p.get("workers"),
    )  # fmt: skip
    return dict(result, changed=False)


def _list(p: Mapping[str, Any], check_mode: bool, progress: Optional[Progress]) -> Dict[str, Any]:
    return dict(engine.list_restore_points(p["repository"], vm=p.get("vm"), passphrase=p.get("passphrase")),
                changed=False)  # fmt: skip


def _prune(p: Mapping[str, Any], check_mode: bool, progress: Optional[Progress]) -> Dict[str, Any]:
    return engine.prune(p["repository"], p["keep_last"], vm=p.get("vm"), passphrase=p.get("passphrase"),
                        check_mode=check_mode, lock_timeout=p.get("lock_timeout") or 0)  # fmt: skip


def _init(p: Mapping[str, Any], check_mode: bool, progress: Optional[Progress]) -> Dict[str, Any]:
    refuse_plaintext_with_passphrase(p)
    return engine.init_repository(p["repository"], passphrase=p.get("passphrase"),
                                  encryption=engine_encryption(p.get("encryption")),
                                  hash_algorithm=p.get("hash") or "blake3", kdf=p.get("kdf") or "scrypt")  # fmt: skip


_HANDLERS = {"backup": _backup, "restore": _restore, "verify": _verify, "list": _list, "prune": _prune, "init": _init}


def run_operation(
    operation: str, params: Mapping[str, Any], check_mode: bool = False, progress: Optional[Progress] = None
) -> Dict[str, Any]:
    """Run one operation with module-style ``params``; the engine's reply, always with ``changed``."""
    return _HANDLERS[operation](params, check_mode, progress)
