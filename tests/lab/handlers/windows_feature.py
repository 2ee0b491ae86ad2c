"""Handlers of `windows_feature_read.ps1` and `windows_feature_apply.ps1`.

Get-WindowsFeature knows the features in `features.DISPLAY_NAMES` (none of them has
sub-features); an unknown name returns nothing. Install-WindowsFeature/Uninstall-WindowsFeature
change the host's state: Hyper-V waits for a restart (`InstallPending`, RestartNeeded Yes),
the others take effect at once and bring their binaries and services.
"""

from __future__ import annotations

from typing import Any

from lab.handlers import HandlerRegistry, ScriptCall, ScriptFailure
from lab.windows import features
from lab.windows.hoststate import HostState


def _names(value: Any) -> list[str]:
    return [str(name) for name in (value if isinstance(value, list) else [value]) if name]


def windows_feature_read(call: ScriptCall) -> dict[str, Any]:
    state = HostState(call.state_dir).read()
    found = []
    for name in call.params["Name"]:  # bound already (lab.handlers.binding): non-empty strings, a scalar as a list
        known = next((k for k in features.DISPLAY_NAMES if k.lower() == name.lower()), None)
        if known is None:
            continue
        install_state = features.install_state(state, known)
        found.append(
            {
                "Name": known,
                "DisplayName": features.DISPLAY_NAMES[known],
                "InstallState": install_state,
                "Installed": install_state == "Installed",
                "SubFeatures": [],
            }
        )
    return {"features": found}


def _apply_step(state: dict[str, Any], step: dict[str, Any], cluster_node: bool) -> dict[str, Any]:
    action = step.get("action")
    if action not in ("install_features", "uninstall_features"):
        raise ScriptFailure(f"unknown step action '{action}'")
    results = []
    for name in _names(step.get("names")):
        known = next((k for k in features.DISPLAY_NAMES if k.lower() == name.lower()), None)
        if known is None:
            raise ScriptFailure(f"ArgumentNotValid: The role, role service, or feature name is not valid: '{name}'.")
        restart = known in features.NEEDS_RESTART
        installed = features.is_installed(state, known)
        if action == "install_features" and not installed:
            features.install(state, known, cluster_node, pending=restart)
        elif action == "uninstall_features" and installed:
            features.uninstall(state, known, pending=restart)
        else:
            restart = False  # nothing to do: the cmdlet reports NoChangeNeeded
        results.append({"name": known, "success": True, "restart_needed": restart, "message": ""})
    restart_needed = any(r["restart_needed"] for r in results)
    return {
        "action": action,
        "success": True,
        "exit_code": "SuccessRestartRequired" if restart_needed else "Success" if results else "NoChangeNeeded",
        "restart_needed": "Yes" if restart_needed else "No",
        "features": results,
    }


def windows_feature_apply(call: ScriptCall) -> dict[str, Any]:
    steps = call.params["Steps"]  # bound already (lab.handlers.binding): a non-empty list
    model = call.estate.model
    host = model.host(call.host.name) if model else None
    cluster_node = bool(model and model.cluster_of(call.host.name))
    results = []
    with HostState(call.state_dir).edit() as state:
        for index, step in enumerate(steps, start=1):
            try:
                results.append(_apply_step(state, step, cluster_node))
            except ScriptFailure as exc:
                raise ScriptFailure(
                    f"step {index} ({step.get('action')} {', '.join(_names(step.get('names')))}): {exc}"
                ) from exc
        if host:
            features.write_binaries(state, call.files, host.os.build, host.os.ubr)
    reboot = any(result["restart_needed"] == "Yes" for result in results)
    return {"applied": len(results), "reboot_required": reboot, "results": results}


def register(registry: HandlerRegistry) -> None:
    registry.add("windows_feature_read", windows_feature_read)
    registry.add("windows_feature_apply", windows_feature_apply)
