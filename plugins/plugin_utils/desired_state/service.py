"""Compare one Windows service and its firewall rule with what the manifest wants.

Windows compares service names and account names without regard to case, so these comparisons
do too; a binary path is compared exactly, because its arguments may be case-sensitive.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.plan import same_text

CONFIG_FIELDS = ("display_name", "description", "binary_path", "start_mode", "account", "dependencies")


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
