"""Ansible's own PowerShell: `bootstrap_wrapper.ps1` running the exec wrapper's manifest.

ansible-core sends file transfers (and modules) as `bootstrap_wrapper.ps1` with stdin:
a JSON line naming `exec_wrapper.ps1` (its text inline), a `\\0\\0\\0\\0` line, the exec
manifest (JSON: scripts by name as base64, actions to run, params), and, when the action
takes input, another `\\0\\0\\0\\0` line followed by that input. The lab checks the scripts it
emulates (the exec wrapper and the action) against the installed ansible-core's copies, then
emulates the action: the winrm/psrp put_file and fetch_file scripts and the shell plugin's
mkdtemp/expand_user, acting on the host's file tree.
A module (`module_wrapper.ps1`) goes to modules.py.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import re
import shutil
from collections.abc import Callable
from typing import Any

from ansible.executor.powershell.module_manifest import _get_powershell_script

from lab.context import HostContext
from lab.modules import run_module
from lab.outcome import Outcome, refused
from lab.windows.hostfs import HostPathError, environment, expand_variables

_MARKER = "\0\0\0\0"


@functools.cache
def ansible_script(name: str) -> bytes:
    """The script as ansible-core sends it (with its signature block when it has one)."""
    return _get_powershell_script(name)


def _split_input(lines: list[str]) -> tuple[list[str], list[str]]:
    if _MARKER in lines:
        index = lines.index(_MARKER)
        return lines[:index], lines[index + 1 :]
    return lines, []


def script_matches(manifest: dict[str, Any], name: str) -> bool:
    entry = manifest.get("scripts", {}).get(name)
    if not isinstance(entry, dict):
        return False
    try:
        return base64.b64decode(entry.get("script", ""), validate=True) == ansible_script(name)
    except (binascii.Error, ValueError, FileNotFoundError):
        return False


def windows_error(message: str, handled_by: str) -> Outcome:
    """A terminating error in the action: exec_wrapper.ps1 runs it with ErrorActionPreference Stop,
    catches the error, prints it as a JSON result and calls SetShouldExit(1)."""
    result = {"failed": True, "msg": f"failure during exec_wrapper: {message}", "exception": message}
    return Outcome(output=[json.dumps(result, separators=(",", ":"))], exit_code=1, handled_by=handled_by)


def _put_file(context: HostContext, params: dict[str, Any], data: list[str], handled_by: str) -> Outcome:
    """winrm_put_file.ps1 / psrp_put_file.ps1: base64 lines in, `{"sha1": ...}` out."""
    target = context.files.local_path(str(params["Path"]))
    if not target.parent.is_dir():
        reason = f"Could not find a part of the path '{params['Path']}'."
        message = f'Exception calling "Create" with "1" argument(s): "{reason}"'
        return windows_error(message, handled_by)
    sha1 = hashlib.sha1()
    with open(target, "wb") as stream:
        for line in data:
            if line:
                chunk = base64.b64decode(line)
                sha1.update(chunk)
                stream.write(chunk)
    return Outcome(output=[json.dumps({"sha1": sha1.hexdigest()}, separators=(",", ":"))], handled_by=handled_by)


def _winrm_fetch_file(context: HostContext, params: dict[str, Any], data: list[str], handled_by: str) -> Outcome:
    """winrm_fetch_file.ps1: one base64 block at Offset, `[DIR]`, or an error line and exit 1."""
    del data
    source = context.files.local_path(str(params["Path"]))
    if source.is_file():
        with open(source, "rb") as stream:
            stream.seek(int(params["Offset"]))
            block = stream.read(int(params["BufferSize"]))
        return Outcome(output=[base64.b64encode(block).decode()] if block else [], handled_by=handled_by)
    if source.is_dir():
        return Outcome(output=["[DIR]"], handled_by=handled_by)
    return Outcome(console_errors=[f"{params['Path']} does not exist"], exit_code=1, handled_by=handled_by)


def _psrp_fetch_file(context: HostContext, params: dict[str, Any], data: list[str], handled_by: str) -> Outcome:
    """psrp_fetch_file.ps1: `[FILE]` then base64 blocks, `[DIR]`, or a failure."""
    del data
    source = context.files.local_path(str(params["Path"]))
    if source.is_file():
        size = int(params["BufferSize"])
        output = ["[FILE]"]
        with open(source, "rb") as stream:
            output += [base64.b64encode(block).decode() for block in iter(lambda: stream.read(size), b"")]
        return Outcome(output=output, handled_by=handled_by)
    if source.is_dir():
        return Outcome(output=["[DIR]"], handled_by=handled_by)
    return windows_error(f"{params['Path']} does not exist", handled_by)  # Write-Error under Stop


def _mkdtemp(context: HostContext, params: dict[str, Any], data: list[str], handled_by: str) -> Outcome:
    """powershell_mkdtemp.ps1: New-Item a directory under the expanded Directory; print its path."""
    del data
    directory = expand_variables(str(params["Directory"]), context.host.username).rstrip("\\")
    windows_path = f"{directory}\\{params['Name']}"
    target = context.files.local_path(windows_path)
    if not target.parent.is_dir():
        return windows_error(f"Could not find a part of the path '{windows_path}'.", handled_by)
    target.mkdir(exist_ok=False)
    return Outcome(output=[windows_path], handled_by=handled_by)


def _expand_user(context: HostContext, params: dict[str, Any], data: list[str], handled_by: str) -> Outcome:
    """powershell_expand_user.ps1: `~` and `~\\...` against the user's profile."""
    del data
    path, profile = str(params["Path"]), environment(context.host.username)["USERPROFILE"]
    if path == "~":
        path = profile
    elif path.startswith("~\\"):
        path = f"{profile}\\{path[2:]}"
    return Outcome(output=[path], handled_by=handled_by)


Action = Callable[[HostContext, dict[str, Any], list[str], str], Outcome]
ACTIONS: dict[str, Action] = {
    "winrm_put_file.ps1": _put_file,
    "psrp_put_file.ps1": _put_file,
    "winrm_fetch_file.ps1": _winrm_fetch_file,
    "psrp_fetch_file.ps1": _psrp_fetch_file,
    "powershell_mkdtemp.ps1": _mkdtemp,
    "powershell_expand_user.ps1": _expand_user,
}


def run_ansible_manifest(context: HostContext, lines: list[str]) -> Outcome:
    """Emulate `bootstrap_wrapper.ps1` -> `exec_wrapper.ps1` -> the manifest's first action."""
    bootstrap_lines, rest = _split_input(lines)
    manifest_lines, data = _split_input(rest)
    try:
        bootstrap = json.loads("\n".join(bootstrap_lines))
        manifest = json.loads("\n".join(manifest_lines))
    except ValueError as exc:
        return refused("ansible", f"Ansible bootstrap input is not JSON: {exc}")
    if bootstrap.get("name") != "exec_wrapper" or bootstrap.get("script", "").encode() != ansible_script(
        "exec_wrapper.ps1"
    ):
        return refused("ansible", "the bootstrap did not carry ansible-core's exec_wrapper.ps1")
    actions = manifest.get("actions") or [{}]
    action = actions[0]
    name = str(action.get("name", ""))
    handled_by = f"ansible:{name}"
    if len(actions) != 1 or (name not in ACTIONS and name != "module_wrapper.ps1"):
        names = ", ".join(str(a.get("name")) for a in actions)
        return refused(handled_by, f"Ansible exec actions [{names}] are not emulated (become and async are not)")
    if not script_matches(manifest, name):
        return refused(handled_by, f"{name} differs from ansible-core's copy")
    if name == "module_wrapper.ps1":
        return run_module(context, manifest, action)
    try:
        return ACTIONS[name](context, dict(action.get("params") or {}), data, handled_by)
    except (HostPathError, FileExistsError) as exc:
        return windows_error(str(exc), handled_by)


_REMOVE_ITEM = re.compile(r"^Remove-Item '(?P<path>(?:[^']|'')*)' -Force(?P<recurse> -Recurse)?;$")


def plan_shell_command(context: HostContext, lines: list[str]) -> Callable[[list[str]], Outcome] | None:
    """One-liners of Ansible's powershell shell plugin the lab runs (`remove`: its temp directory)."""
    match = _REMOVE_ITEM.match(lines[0]) if len(lines) == 1 else None
    if match is None:
        return None

    def remove(data: list[str]) -> Outcome:
        del data
        windows_path = match["path"].replace("''", "'")
        try:
            target = context.files.local_path(windows_path)
        except HostPathError as exc:
            return Outcome(errors=[str(exc)], exit_code=1, handled_by="ansible:remove")
        if target.is_dir() and (match["recurse"] or not any(target.iterdir())):
            shutil.rmtree(target)
        elif target.is_file():
            target.unlink()
        elif target.is_dir():
            message = f"The item at {windows_path} has children and the Recurse parameter was not specified."
            return Outcome(errors=[message], exit_code=1, handled_by="ansible:remove")
        else:
            message = f"Cannot find path '{windows_path}' because it does not exist."
            return Outcome(errors=[message], exit_code=1, handled_by="ansible:remove")
        return Outcome(handled_by="ansible:remove")

    return remove
