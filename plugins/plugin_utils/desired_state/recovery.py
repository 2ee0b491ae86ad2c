"""A service's recovery actions as proxy_components_read.ps1 reads them: numbers, in no display language.

The script decodes the service's ``FailureActions`` registry value (a SERVICE_FAILURE_ACTIONS: reset period,
then SC_ACTION entries, each a type number and a delay) into ``{"reset_period": s, "actions": [{"type",
"delay_ms"}]}``, the type a word of its own (restart, reboot, run; ``unknown`` for any other number). It no
longer reads ``sc.exe qfailure``, whose action words are translated on a localised Windows. See
SERVICE_FAILURE_ACTIONSW (https://learn.microsoft.com/windows/win32/api/winsvc/ns-winsvc-service_failure_actionsw)
and SC_ACTION (https://learn.microsoft.com/windows/win32/api/winsvc/ns-winsvc-sc_action).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ACTION_TYPES = ("restart", "reboot", "run")


def recovery_terms(value: Any) -> dict[str, Any] | None:
    """The script's ``Recovery`` object as planner terms, or None when the script reported none."""
    if not isinstance(value, Mapping):
        return None
    actions = [
        {
            "type": str(action.get("type")) if action.get("type") in ACTION_TYPES else "unknown",
            "delay_ms": int(action.get("delay_ms") or 0),
        }
        for action in value.get("actions") or []
        if isinstance(action, Mapping)
    ]
    return {"reset_period": int(value.get("reset_period") or 0), "actions": actions}
