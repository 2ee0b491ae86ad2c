"""Read a service's recovery actions from the text ``sc.exe qfailure <service>`` prints.

The field names (``RESET_PERIOD``, ``FAILURE_ACTIONS``) are fixed; each failure action is a line
``RESTART -- Delay = 60000 milliseconds.`` (REBOOT, RUN PROCESS likewise). sc.exe prints no line
for an SC_ACTION_NONE entry, and on a non-English Windows the action words are translated: an
action word this parser does not know becomes type ``unknown``, which never equals a manifest
action, so the plan sets the recovery actions again rather than trusting a guess.
See https://learn.microsoft.com/windows-server/administration/windows-commands/sc-qfailure and
SC_ACTION (https://learn.microsoft.com/windows/win32/api/winsvc/ns-winsvc-sc_action).
"""

from __future__ import annotations

import re
from typing import Any

_RESET = re.compile(r"RESET_PERIOD[^:\n]*:\s*(\d+)")
_ACTION = re.compile(r"^\s*(?:FAILURE_ACTIONS\s*:\s*)?([A-Za-z_ ]+?)\s+--\s+\S+\s*=\s*(\d+)", re.MULTILINE)
_TYPES = {"RESTART": "restart", "REBOOT": "reboot", "RUN PROCESS": "run", "RUN_COMMAND": "run"}


def parse_qfailure(text: str | None) -> dict[str, Any] | None:
    """``{"reset_period": s, "actions": [{"type", "delay_ms"}]}``, or None when there is no text."""
    if not text or not text.strip():
        return None
    reset = _RESET.search(text)
    actions = [
        {"type": _TYPES.get(word.strip().upper(), "unknown"), "delay_ms": int(delay)}
        for word, delay in _ACTION.findall(text)
    ]
    return {"reset_period": int(reset.group(1)) if reset else 0, "actions": actions}


def format_qfailure(service: str, recovery: dict[str, Any]) -> str:
    """The text sc.exe qfailure prints for ``recovery`` (tests build replies with it; a lab handler may too)."""
    words = {"restart": "RESTART", "reboot": "REBOOT", "run": "RUN PROCESS"}
    lines = [
        "[SC] QueryServiceConfig2 SUCCESS",
        "",
        f"SERVICE_NAME: {service}",
        f"        RESET_PERIOD (in seconds)    : {recovery['reset_period']}",
        "        REBOOT_MESSAGE               : ",
        "        COMMAND_LINE                 : ",
    ]
    for index, action in enumerate(recovery["actions"]):
        label = "        FAILURE_ACTIONS              : " if index == 0 else " " * 39
        lines.append(f"{label}{words[action['type']]} -- Delay = {action['delay_ms']} milliseconds.")
    return "\r\n".join(lines) + "\r\n"
