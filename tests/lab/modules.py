"""Ansible PowerShell modules on an emulated host: `module_wrapper.ps1` in the exec manifest.

The manifest names the module (`Script`: `<name>.ps1`), carries its text (base64) and its
arguments (`Variables`: `complex_args`). The lab answers a module only when a handler is
registered under that name and the text equals the registered source file; the handler's
result is printed as the module's one JSON line. Anything else is refused, naming the module.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from lab.context import HostContext
from lab.handlers import ModuleCall, ScriptFailure
from lab.outcome import Outcome, refused


def _complex_args(params: dict[str, Any]) -> dict[str, Any]:
    for variable in params.get("Variables") or []:
        if isinstance(variable, dict) and variable.get("Name") == "complex_args":
            return dict(variable.get("Value") or {})
    return {}


def _sent_text(manifest: dict[str, Any], script: str) -> bytes | None:
    entry = manifest.get("scripts", {}).get(script)
    try:
        return base64.b64decode(entry["script"], validate=True) if isinstance(entry, dict) else None
    except (binascii.Error, KeyError, ValueError):
        return None


def run_module(context: HostContext, manifest: dict[str, Any], action: dict[str, Any]) -> Outcome:
    params = dict(action.get("params") or {})
    script = str(params.get("Script", "?"))
    name = script.removesuffix(".ps1")
    handled_by = f"ansible-module:{name}"
    entry = context.registry.module(name)
    if entry is None:
        return refused(handled_by, f"module {name} is not emulated")
    if _sent_text(manifest, script) != entry.source.read_bytes():
        return refused(handled_by, f"module {name} differs from the lab's copy ({entry.source})")
    call = ModuleCall(
        host=context.host,
        estate=context.config.estate,
        name=name,
        args=_complex_args(params),
        state_dir=context.state_dir,
        files=context.files,
    )
    try:
        result, exit_code = dict(entry.handler(call)), 0
    except ScriptFailure as exc:
        result, exit_code = {"failed": True, "msg": str(exc)}, 1
    line = json.dumps(result, separators=(",", ":"))
    return Outcome(output=[line], exit_code=exit_code, handled_by=handled_by)
