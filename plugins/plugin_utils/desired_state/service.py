"""Compare one Windows service and its firewall rule with what the manifest wants, and plan its steps.

``service_plan`` places a component's install and firewall steps around its service's (stopped while
its files change, then set and started); ``retire_service_steps`` stops and deletes a service the
manifest does not (or no longer) declare.

Windows compares service names and account names without regard to case, so these comparisons
do too; a binary path is compared exactly, because its arguments may be case-sensitive.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.plan import same_text
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.recovery import same_recovery

CONFIG_FIELDS = ("display_name", "description", "binary_path", "start_mode", "account", "dependencies")
# Service settings a running process only picks up when it starts again.
RESTART_ON = ("binary_path", "account", "dependencies")


def service_changes(current: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration fields whose wanted value differs from the service's, with the wanted value."""
    changes: dict[str, Any] = {}
    for field in CONFIG_FIELDS:
        if field == "description" and wanted[field] is None:
            continue  # not managed
        if not _same(field, current.get(field), wanted[field]):
            changes[field] = wanted[field]
    return changes


def service_parameters_changes(current: Mapping[str, Any] | None, wanted: Mapping[str, Any]) -> dict[str, Any]:
    """Registry values under ``Services\\<name>\\Parameters`` that are missing or differ."""
    present = (current or {}).get("parameters") or {}
    return {name: value for name, value in wanted["parameters"].items() if present.get(name) != value}


def service_step(action: str, wanted: Mapping[str, Any]) -> dict[str, Any]:
    """A step that carries the whole configuration of one service."""
    return {"action": action, "name": wanted["name"], **{field: wanted[field] for field in CONFIG_FIELDS}}


def service_plan(
    service: Mapping[str, Any] | None,
    wanted: Mapping[str, Any],
    install: list[dict[str, Any]],
    firewall: list[dict[str, Any]],
    files_change: bool,
) -> list[dict[str, Any]]:
    """The install and firewall steps around the service's: stopped while its files change, then set and started."""
    name = wanted["name"]
    changes = service_changes(service, wanted) if service else {}
    parameters = service_parameters_changes(service, wanted)
    # Every state but stopped has the service's process (start or stop pending, paused, running), which keeps its
    # executable and DLLs open: it is stopped before its files change. One paused or stopping is stopped and
    # started again when it should run (Start-Service waits for Running, which a paused service never reaches).
    state = service.get("state") if service else None
    holds = bool(service) and state != "stopped"
    unsettled = wanted["state"] == "running" and state not in ("running", "start_pending")
    restart = holds and (files_change or bool(parameters) or any(key in changes for key in RESTART_ON) or unsettled)
    steps: list[dict[str, Any]] = []
    if restart or (holds and wanted["state"] == "stopped"):
        steps.append({"action": "stop_service", "name": name})
    steps += install
    if not service:
        steps.append(service_step("create_service", wanted))
    elif changes:
        steps.append({"action": "set_service", "name": name, "changes": changes})
    if not service or not same_recovery(service.get("recovery"), wanted["recovery"]):
        steps.append({"action": "set_recovery", "name": name, **wanted["recovery"]})
    if parameters:
        steps.append({"action": "set_service_parameters", "name": name, "values": parameters})
    steps += firewall
    if wanted["state"] == "running" and (restart or not holds):
        steps.append({"action": "start_service", "name": name})
    return steps


def retire_service_steps(service: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Stop (unless stopped) and delete a service the host has: the manifest declares it no more, or absent.

    Stopped first: a running service is only marked for deletion and stays in the SCM database until it
    stops ("DeleteService function", Remarks,
    https://learn.microsoft.com/en-us/windows/win32/api/winsvc/nf-winsvc-deleteservice).
    """
    if not service:
        return []
    stop = [] if service.get("state") == "stopped" else [{"action": "stop_service", "name": service["name"]}]
    return [*stop, {"action": "remove_service", "name": service["name"]}]


def firewall_matches(current: Mapping[str, Any] | None, wanted: Mapping[str, Any]) -> bool:
    """The rule exists, is an enabled inbound allow rule, and opens exactly the wanted port."""
    if not current:
        return False
    return (
        current.get("enabled") is True
        and current.get("direction") == "inbound"
        and current.get("action") == "allow"
        and current.get("display_name") == wanted["display_name"]
        and current.get("protocol") == wanted["protocol"]
        and current.get("local_port") == wanted["local_port"]
        and sorted(current.get("profiles") or []) == wanted["profiles"]
    )


def _same(field: str, current: Any, wanted: Any) -> bool:
    if field == "account":
        return same_text(current, wanted)
    if field == "dependencies":
        return sorted(d.casefold() for d in current or []) == sorted(d.casefold() for d in wanted)
    return current == wanted
