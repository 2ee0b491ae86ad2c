"""Handlers of `proxy_package_read.ps1` and `proxy_package_apply.ps1` (docs/installs.md, "The proxy package").

The read hashes the real bytes of every file under the package folder (SHA-256, upper-case hex, as
Get-FileHash), so a staged file whose content is not the package's shows with its own hash and the action's
verification refuses it, as it does on Windows. The apply expands the zip the controller sent, or copies from
a share's folder.

Staged files are cheap: each file's bytes are kept once for the whole lab, in `<lab>/package-blobs/<sha256>`,
and every host's staged file is a hard link to its blob, so `make demo` and Molecule stage the 36 MB package
on each proxy without copying it. A test that alters a staged file must replace it (unlink, then write), not
write into it, or it alters the blob every host shares.
"""

from __future__ import annotations

import hashlib
import os
import threading
import zipfile
from pathlib import Path
from typing import Any

from lab.handlers import HandlerRegistry, ScriptCall, ScriptFailure
from lab.windows.hostfs import HostPathError
from lab.windows.storage import local_path as estate_local_path

SUMS = "SHA256SUMS"


def _lab_root(call: ScriptCall) -> Path:
    return call.state_dir.parents[2]  # <lab>/hosts/<name>/state


def _mapped(call: ScriptCall, windows_path: str) -> Path | None:
    """The lab file behind a drive or share path as the host sees it; None when nothing maps it."""
    model = call.estate.model
    try:
        if model is not None:
            return estate_local_path(model, _lab_root(call), call.host.name, windows_path)
        return call.files.local_path(windows_path)
    except HostPathError:
        return None


def _sums(folder: Path) -> str | None:
    path = folder / SUMS
    return path.read_text(encoding="utf-8") if path.is_file() else None


def _folder(folder: Path | None) -> dict[str, Any]:
    if folder is None or not folder.is_dir():
        return {"Exists": False, "Sums": None, "Files": []}
    files = [
        {
            "Path": str(path.relative_to(folder)).replace("/", "\\"),
            "Sha256": hashlib.sha256(path.read_bytes()).hexdigest().upper(),
        }
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    ]
    return {"Exists": True, "Sums": _sums(folder), "Files": files}


def proxy_package_read(call: ScriptCall) -> dict[str, Any]:
    # Bound already (lab.handlers.binding): Destination a non-empty string; Source declares no default.
    destination, source = call.params["Destination"], call.params.get("Source")
    source_folder = _mapped(call, source) if source else None
    source_state = None
    if source:
        exists = source_folder is not None and source_folder.is_dir()
        source_state = {"Exists": exists, "Sums": _sums(source_folder) if exists and source_folder else None}
    return {"Destination": _folder(_mapped(call, destination)), "Source": source_state}


_STAGING = threading.Lock()


def _stage(call: ScriptCall, data: bytes, target: Path) -> None:
    """`target` becomes a hard link to the lab's one copy of `data` (replacing what was there)."""
    blobs = _lab_root(call) / "package-blobs"
    blob = blobs / hashlib.sha256(data).hexdigest()
    with _STAGING:  # emulated hosts answer concurrently in one process: two proxies stage the same blobs at once
        blobs.mkdir(exist_ok=True)
        if not blob.exists():
            partial = blob.with_suffix(f".{os.getpid()}.partial")
            partial.write_bytes(data)
            partial.replace(blob)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        os.link(blob, target)


def _target(call: ScriptCall, destination: str, relative: str) -> Path:
    target = _mapped(call, destination.rstrip("\\") + "\\" + relative.replace("/", "\\"))
    if target is None:
        raise ScriptFailure(f"Could not find a part of the path '{destination}'.")
    return target


def _expand_archive(call: ScriptCall, step: dict[str, Any]) -> None:
    archive = _mapped(call, str(step["archive"]))
    if archive is None or not archive.is_file():
        raise ScriptFailure(f"Could not find file '{step['archive']}'.")
    with zipfile.ZipFile(archive) as opened:
        for entry in opened.infolist():
            if not entry.is_dir():
                _stage(call, opened.read(entry), _target(call, str(step["destination"]), entry.filename))


def _copy_files(call: ScriptCall, step: dict[str, Any]) -> None:
    for relative in step.get("files") or []:
        source = _target(call, str(step["source"]), str(relative))
        if not source.is_file():
            raise ScriptFailure(f"Cannot find path '{step['source']}\\{relative}' because it does not exist.")
        _stage(call, source.read_bytes(), _target(call, str(step["destination"]), str(relative)))


def proxy_package_apply(call: ScriptCall) -> dict[str, Any]:
    steps = call.params["Steps"]  # bound already (lab.handlers.binding): a non-empty list, no $null in it
    actions = {"expand_archive": _expand_archive, "copy_files": _copy_files}
    for number, step in enumerate(steps, start=1):
        action = actions.get(str(step.get("action")))
        try:
            if action is None:
                raise ScriptFailure(f"unknown step action '{step.get('action')}'")
            action(call, step)
        except (ScriptFailure, OSError) as exc:
            raise ScriptFailure(f"step {number} ({step.get('action')} {step.get('destination')}): {exc}") from exc
    return {"applied": len(steps), "reboot_required": False}


def register(registry: HandlerRegistry) -> None:
    registry.add("proxy_package_read", proxy_package_read)
    registry.add("proxy_package_apply", proxy_package_apply)
