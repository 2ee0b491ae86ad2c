"""The record ``proxy_components`` keeps of each installed component: what it is, and where it lives.

``HKLM:\\SOFTWARE\\backup.hyperv\\Components\\<name>`` holds text values: ``Version``, ``Role``,
``Destination``, ``Service`` (the Windows service the manifest declared, absent without one) and, for
the ``data_mover`` role, ``Runtime`` (the file named ``python.exe``) and ``Engine`` (the ``.pyz`` zip
application), both relative to ``Destination``; and ``Files`` (REG_MULTI_SZ), the component's files relative to
``Destination`` as this version installed them, so that the next version removes those it no longer ships.
``data_mover_run.ps1`` and the facts (``facts_software.ps1``) find the data mover on a proxy by this record, so
no plugin reads the role's manifest to know it, and a service a later manifest no longer declares is found by
``Service`` and removed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

DATA_MOVER_ROLE = "data_mover"
DATA_MOVER_FILES = "a data_mover component must list the Python runtime (python.exe) and the engine (a .pyz file)"
# The record's values besides Version; one absent from a component's record is removed from the key.
LOCATION_VALUES = ("Role", "Destination", "Service", "Runtime", "Engine", "Files")


def data_mover_files(paths: Iterable[str]) -> tuple[str | None, str | None]:
    """(runtime, engine) among a component's relative file paths: the file named python.exe, the .pyz."""
    listed = list(paths)
    runtime = next((path for path in listed if path.lower().rsplit("\\", 1)[-1] == "python.exe"), None)
    engine = next((path for path in listed if path.lower().endswith(".pyz")), None)
    return runtime, engine


def component_location(component: Mapping[str, Any]) -> dict[str, Any]:
    """The record's values besides Version for a validated manifest component (None: not recorded)."""
    runtime = engine = None
    if component["role"] == DATA_MOVER_ROLE:
        runtime, engine = data_mover_files(entry["path"] for entry in component["files"])
    service = component["service"]["name"] if component["service"] else None
    return {
        "Role": component["role"],
        "Destination": component["destination"],
        "Service": service,
        "Runtime": runtime,
        "Engine": engine,
        "Files": [entry["path"] for entry in component["files"]],
    }


def stale_files(recorded: Mapping[str, Any] | None, component: Mapping[str, Any]) -> list[str]:
    """The files the recorded version installed that this manifest's component no longer lists (compared
    case-blind, as NTFS names are): an upgrade or downgrade removes them. None recorded (a record an older version
    wrote): none known."""
    wanted = {entry["path"].casefold() for entry in component["files"]}
    return [path for path in (recorded or {}).get("Files") or [] if str(path).casefold() not in wanted]


def recorded_location(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The location values of a record the read script returned (every value of the key), or None: no key."""
    if values is None:
        return None
    location = {name: values.get(name) for name in LOCATION_VALUES}
    if isinstance(location["Files"], str):  # a REG_MULTI_SZ of one string, as Windows PowerShell may unwrap it
        location["Files"] = [location["Files"]]
    return location
