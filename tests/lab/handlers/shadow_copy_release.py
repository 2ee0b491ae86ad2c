"""Handler of `shadow_copy_release.ps1`, a part of `shadow_copy.py` (which registers it).

Release unexposes, deletes the proxy's shadow copies (and the copy once no host holds it), then removes files
and folders. Like the script it sends DiskShadow only what Win32_ShadowCopy still lists, deletes each share copy
in a DiskShadow run of its own, and afterwards checks that Win32_ShadowCopy no longer lists what it deleted nor
shows anything exposed at the folders (DiskShadow can exit 0 having done nothing, `diskshadow_no_op`). A set's
share record (`<set>.shares.json` among -Files) names the share copies still to delete: each id leaves it as its
copy is deleted, so a release sent again deletes only what is left (DiskShadow fails on a copy already gone).
"""

from __future__ import annotations

import json
import shutil
from functools import partial
from pathlib import Path
from typing import Any

from lab.handlers import ScriptCall, ScriptFailure
from lab.handlers.shadow_copy_volumes import same_folder, shadow_root
from lab.windows import diskshadow
from lab.windows.hoststate import HostState

_PARAMS = ("ExposedPaths", "ShadowIds", "ShareShadowIds", "Files", "Directories")


def _unexpose(call: ScriptCall, state: dict[str, Any], path: str) -> None:
    """`unexpose <folder>`: the folder stays, empty; fails when no shadow copy is exposed there."""
    shadows = [s for s in state["shadow_copies"].values() if same_folder(s["ExposedName"], path)]
    if not shadows:
        raise diskshadow.not_exposed(path)
    mount = call.files.local_path(path)
    if mount.is_symlink():
        mount.unlink()
        mount.mkdir()
    for shadow in shadows:
        shadow["ExposedName"] = None


def _delete(call: ScriptCall, state: dict[str, Any], shadow_id: str) -> None:
    """`delete shadows id {id}`: the copy goes (a share's shadow copy share with it); fails for an unknown id."""
    removed = state["shadow_copies"].pop(shadow_id.lower(), None)
    if removed is None:
        raise diskshadow.not_found(shadow_id)
    if removed.get("Exposure"):  # the file server's shadow copy share goes with the copy
        Path(removed["Exposure"]).unlink(missing_ok=True)
    copy = shadow_root(call) / removed["SetID"].strip("{}").lower() / removed["Alias"]
    for path in [copy, *copy.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)
    shutil.rmtree(copy, ignore_errors=True)
    if copy.parent.is_dir() and not any(copy.parent.iterdir()):
        copy.parent.rmdir()  # the set's last copy


def _listed(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """This host's Win32_ShadowCopy by lower-case id: copies of SMB3 shares live on the file server, not here."""
    return {key: s for key, s in state["shadow_copies"].items() if not s.get("ShadowCopyShare")}


def _share_records(call: ScriptCall, files: list[str]) -> dict[str, Path] | None:
    """Get-ShareRecord: the share copies the set's records among `files` still list, by lower-case id (None when
    `files` names no record: every id asked is deleted)."""
    records = [call.files.local_path(f) for f in files if f.lower().endswith(".shares.json")]
    if not records:
        return None
    return {str(e["ID"]).lower(): r for r in records if r.is_file() for e in json.loads(r.read_text(encoding="utf-8"))}


def _unrecord(record: Path, shadow_id: str) -> None:
    """Remove-RecordedShareCopy: the record without the copy just deleted."""
    left = [e for e in json.loads(record.read_text(encoding="utf-8")) if str(e["ID"]).lower() != shadow_id.lower()]
    record.write_text(json.dumps(left), encoding="utf-8")


def _release_copies(call: ScriptCall, state: dict[str, Any], params: dict[str, list[str]]) -> tuple[int, int, int, str]:
    """The script's DiskShadow runs: what still exists now (as Win32_ShadowCopy lists it) in one script, then
    each share copy its record still lists in a script of its own. Returns (unexposed, deleted of this host's copies,
    share copies deleted, failure messages)."""
    local, no_op = _listed(state), call.estate.model.host(call.host.name).diskshadow_no_op
    unexpose = [p for p in params["ExposedPaths"] if any(same_folder(s["ExposedName"], p) for s in local.values())]
    delete = [i for i in params["ShadowIds"] if i.lower() in local]
    commands = [(f'unexpose "{p}"', partial(_unexpose, call, state, p)) for p in unexpose]
    commands += [(f"delete shadows id {i}", partial(_delete, call, state, i)) for i in delete]
    failures = [diskshadow.run(commands, no_op)] if commands else []
    records = _share_records(call, params["Files"])
    shares = [i for i in params["ShareShadowIds"] if records is None or i.lower() in records]
    for shadow_id in shares:
        failure = diskshadow.run([(f"delete shadows id {shadow_id}", partial(_delete, call, state, shadow_id))], no_op)
        failures.append(failure)
        if records is not None and not failure:
            _unrecord(records[shadow_id.lower()], shadow_id)
    messages = "; ".join(f"diskshadow exited with 1 while releasing: {f}" for f in failures if f)
    return len(unexpose), len(delete), len(shares), messages


def _check_released(call: ScriptCall, params: dict[str, list[str]]) -> None:
    """The script's check after DiskShadow (its second `Get-ShadowState`): none of -ShadowIds is still listed and
    nothing is exposed at -ExposedPaths, ids and folders compared case-blind."""
    if not diskshadow.script_checks_after(call.name, "Get-ShadowState"):
        return
    after = _listed(HostState(call.state_dir).read())
    left = [i for i in params["ShadowIds"] if i.lower() in after]
    left += [p for p in params["ExposedPaths"] if any(same_folder(s["ExposedName"], p) for s in after.values())]
    if left:
        raise ScriptFailure(f"diskshadow reported success but Win32_ShadowCopy still lists {', '.join(left)}")


def _remove_directory(call: ScriptCall, directory: str) -> bool:
    """`[IO.Directory]::Delete(path, $false)` of the folder's subfolders, then of the folder; False when it is gone."""
    folder = call.files.local_path(directory)
    if not folder.exists():
        return False
    try:
        for child in folder.iterdir():
            if child.is_dir() and not child.is_symlink():
                child.rmdir()
        folder.rmdir()
    except OSError as exc:  # Directory.Delete(path, false) of a folder that is not empty
        raise ScriptFailure(
            f'Exception calling "Delete" with "2" argument(s): "The directory is not empty. : \'{directory}\'"'
        ) from exc
    return True


def shadow_copy_release(call: ScriptCall) -> dict[str, Any]:
    params = {key: [str(value) for value in call.params.get(key) or []] for key in _PARAMS}
    with HostState(call.state_dir).edit() as state:
        unexposed, deleted, shares, failure = _release_copies(call, state, params)
    if failure:  # after the state is saved: what ran before the failing command stays done
        raise ScriptFailure(failure)
    if unexposed or deleted:  # the script checks only when it sent this host's copies to DiskShadow
        _check_released(call, params)
    removed_files = 0
    for file in params["Files"]:  # Test-Path, then Remove-Item: only a file that was there counts
        local = call.files.local_path(file)
        removed_files += local.is_file()
        local.unlink(missing_ok=True)
    removed = sum(_remove_directory(call, directory) for directory in params["Directories"])
    return {
        "unexposed": unexposed,
        "deleted": deleted + shares,
        "removed_files": removed_files,
        "removed_directories": removed,
    }
