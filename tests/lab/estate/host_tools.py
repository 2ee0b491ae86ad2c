"""How a host's tools misbehave, and the language they print in: the estate keys of a host that change what its
tools answer rather than what the host holds (`lab.estate.hosts` reads the rest)."""

from __future__ import annotations

from typing import Any

from lab.estate import display_language
from lab.estate.fields import EstateError, Where, optional_bool, sequence, text

# The DiskShadow commands the lab's handlers run, by the first word of their text (lab.windows.diskshadow).
DISKSHADOW_COMMANDS = ("import", "expose", "unexpose", "delete")
# PowerShell modules a host may lack (`missing_modules`), by the Windows feature that installs each one.
MODULE_FEATURES = {"FailoverClusters": "RSAT-Clustering-PowerShell", "Hyper-V": "Hyper-V-PowerShell"}
# WMI classes a host may fail to answer (`broken_wmi`): Get-CimInstance raises CimException "Invalid class ".
WMI_CLASSES = ("Win32_ShadowProvider",)
TOOL_KEYS = {
    *("diskshadow_no_op", "missing_modules", "rct_drop_ranges", "display_language", "legacy_path_handling"),
    "broken_wmi",
}


def _diskshadow_no_op(value: Any, where: Where) -> tuple[str, ...]:
    commands = tuple(text(command, where).lower() for command in sequence(value, where))
    unknown = sorted(set(commands) - set(DISKSHADOW_COMMANDS))
    if unknown:
        known = ", ".join(DISKSHADOW_COMMANDS)
        raise EstateError(f"{where}: unknown DiskShadow commands {', '.join(unknown)} (known: {known})")
    return commands


def _display_language(value: Any, where: Where) -> str:
    language, known = text(value, where), display_language.LANGUAGES
    if language not in known:
        raise EstateError(f"{where}: the lab has no labels for {language!r} (known: {', '.join(known)})")
    return language


def _known_names(value: Any, where: Where, known: tuple[str, ...], what: str) -> tuple[str, ...]:
    names = tuple(text(name, where) for name in sequence(value, where))
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise EstateError(f"{where}: unknown {what} {', '.join(unknown)} (known: {', '.join(known)})")
    return names


def parse_tools(entry: dict[str, Any], where: Where) -> dict[str, Any]:
    """The WindowsHost fields of TOOL_KEYS, checked."""
    return {
        "diskshadow_no_op": _diskshadow_no_op(entry.get("diskshadow_no_op"), where / "diskshadow_no_op"),
        "missing_modules": _known_names(
            entry.get("missing_modules"), where / "missing_modules", tuple(MODULE_FEATURES), "modules"
        ),
        "rct_drop_ranges": bool(optional_bool(entry.get("rct_drop_ranges"), where / "rct_drop_ranges")),
        "display_language": _display_language(
            entry.get("display_language", display_language.DEFAULT), where / "display_language"
        ),
        "broken_wmi": _known_names(entry.get("broken_wmi"), where / "broken_wmi", WMI_CLASSES, "WMI classes"),
        "legacy_path_handling": bool(optional_bool(entry.get("legacy_path_handling"), where / "legacy_path_handling")),
    }
