"""Handlers of `repository_folder_read.ps1` and `repository_folder_apply.ps1`: a folder and its owner and DACL.

The read reports what the script's Test-Path, Get-Item, GetAccessControl and NTAccount.Translate report: whether
the drive and the path exist, whether the path is a folder, its SDDL (`lab.windows.folder_security`), the host's
domain SID, and which names map to SIDs (`lab.windows.accounts`). The apply refuses what Windows refuses:
Directory.CreateDirectory on a drive the host lacks ("Could not find a part of the path") or where a file has the
name; a SID string SecurityIdentifier does not take. A failing step leaves the steps before it done.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from lab.estate.hosts import WindowsHost
from lab.handlers import HandlerRegistry, ScriptCall, ScriptFailure
from lab.windows import accounts, folder_security
from lab.windows.hostfs import HostPathError
from lab.windows.hoststate import HostState

_SID = re.compile(r"^S-1-\d+(-\d+)+$", re.IGNORECASE)


def _host(call: ScriptCall) -> WindowsHost:
    return call.estate.model.host(call.host.name)


def _drive_exists(call: ScriptCall, path: str) -> bool:
    return len(path) > 2 and path[1] == ":" and (call.files.root / path[0].upper()).is_dir()


def _local(call: ScriptCall, path: str) -> Path:
    try:
        return call.files.local_path(path)
    except HostPathError as exc:
        raise ScriptFailure(str(exc)) from exc


def repository_folder_read(call: ScriptCall) -> dict[str, Any]:
    path = call.params["Path"]  # bound already (lab.handlers.binding): [string] and [string[]], defaults filled
    host, model = _host(call), call.estate.model
    mapped, unmapped = [], []
    for name in call.params["Principals"] or []:  # $null when sent as null: foreach runs no time
        sid = accounts.translate(model, host, name)
        if sid is None:
            unmapped.append(name)
        else:
            mapped.append({"name": name, "sid": sid})
    drive = _drive_exists(call, path)
    local = _local(call, path) if drive else None
    exists = local is not None and local.exists()
    state = HostState(call.state_dir).read()
    return {
        "path": path,
        "drive_exists": drive,
        "exists": exists,
        "container": exists and local.is_dir(),
        "sddl": folder_security.folder_sddl(state, path) if exists else None,
        "domain_sid": accounts.domain_sid(model, host),
        "principals": mapped,
        "unmapped": unmapped,
    }


def _create_folder(call: ScriptCall, state: dict[str, Any], path: str) -> None:
    if not _drive_exists(call, path):
        raise ScriptFailure(f"Could not find a part of the path '{path}'.")
    local = _local(call, path)
    if local.is_dir():
        return  # CreateDirectory of a folder that exists does nothing
    try:
        local.mkdir(parents=True)
    except (FileExistsError, NotADirectoryError) as exc:
        message = f'Cannot create "{path}" because a file or directory with the same name already exists.'
        raise ScriptFailure(message) from exc
    folder_security.forget_folder(state, path)


def _set_security(call: ScriptCall, state: dict[str, Any], step: dict[str, Any]) -> None:
    path = str(step["path"])
    if not _drive_exists(call, path) or not _local(call, path).is_dir():
        raise ScriptFailure(f"Could not find a part of the path '{path}'.")
    sids = [str(step["owner"]), *(str(sid) for sid in step.get("principals") or [])]
    bad = next((sid for sid in sids if not _SID.match(sid)), None)
    if bad is not None:
        raise ScriptFailure(f"Value was invalid.\r\nParameter name: sddlForm ({bad!r})")
    own_domain = accounts.domain_sid(call.estate.model, _host(call))
    trustees = [accounts.sddl_trustee(sid.upper(), own_domain) for sid in sids]
    folder_security.protect_folder(state, path, trustees[0], trustees[1:])


def _apply_step(call: ScriptCall, state: dict[str, Any], step: dict[str, Any]) -> dict[str, Any]:
    action = step.get("action")
    if action == "create_folder":
        _create_folder(call, state, str(step["path"]))
    elif action == "set_security":
        _set_security(call, state, step)
    else:
        raise ScriptFailure(f"unknown step action '{action}'")
    return {"action": action, "path": str(step.get("path"))}


def repository_folder_apply(call: ScriptCall) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    failure: ScriptFailure | None = None
    with HostState(call.state_dir).edit() as state:  # the steps done before a failure stay done
        for step in call.params["Steps"]:
            try:
                results.append(_apply_step(call, state, step))
            except ScriptFailure as exc:
                failure = ScriptFailure(f"step {len(results) + 1} ({step.get('action')} {step.get('path')}): {exc}")
                break
    if failure is not None:
        raise failure
    return {"applied": len(results), "reboot_required": False, "results": results}


def register(registry: HandlerRegistry) -> None:
    registry.add("repository_folder_read", repository_folder_read)
    registry.add("repository_folder_apply", repository_folder_apply)
