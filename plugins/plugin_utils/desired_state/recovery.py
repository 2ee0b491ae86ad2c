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
    return {
        "reset_period": int(value.get("reset_period") or 0),
        "actions": actions,
        "non_crash_failures": value.get("non_crash_failures") is True,
    }


def same_recovery(current: Mapping[str, Any] | None, wanted: Mapping[str, Any]) -> bool:
    """Whether the service's recovery is the manifest's. Without actions the reset period does not count: setting
    none (``sc.exe failure <name> actions= ""``: cActions 0 with lpsaActions not NULL) deletes "the reset period
    and array of failure actions" (SERVICE_FAILURE_ACTIONSW, Members), so the service then reads back a period of 0
    whatever the manifest named, and comparing it would set the recovery again on every run."""
    if current is None:
        return False
    if not wanted["actions"]:
        return not current.get("actions")
    # With actions, they also run when the service stops reporting a failure (FailureActionsOnNonCrashFailures,
    # SERVICE_FAILURE_ACTIONS_FLAG): the installer service stops that way when its work fails (proxy/installer/scm.py).
    return (
        current.get("reset_period") == wanted["reset_period"]
        and current.get("actions") == wanted["actions"]
        and current.get("non_crash_failures") is True
    )


def applied_recovery(wanted: Mapping[str, Any]) -> dict[str, Any]:
    """The recovery a service has once ``set_recovery`` ran, as the read reports it: without actions no reset
    period; with actions, also on a stop that reports a failure (``sc.exe failureflag <name> 1``)."""
    actions = list(wanted["actions"])
    return {
        "reset_period": wanted["reset_period"] if actions else 0,
        "actions": actions,
        "non_crash_failures": bool(actions),
    }
