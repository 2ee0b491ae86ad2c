"""The components installed on this server, as backup.hyperv.proxy_components recorded them in the registry.

Each component has a key `HKLM\\SOFTWARE\\backup.hyperv\\Components\\<name>` with the values `Version`, `Role`
and `Destination` (plugins/plugin_utils/scripts/records_common.ps1, docs/installs.md "proxy_components_read").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

RECORD_ROOT = r"SOFTWARE\backup.hyperv\Components"


@dataclass(frozen=True)
class Component:
    name: str
    version: str
    role: str
    destination: str


def record_values(key: Any) -> dict[str, Any]:
    import winreg  # Windows only: the rest of the service is testable anywhere

    values, index = {}, 0
    while True:
        try:
            name, value, _ = winreg.EnumValue(key, index)
        except OSError:  # ERROR_NO_MORE_ITEMS
            return values
        values[name] = value
        index += 1


def recorded_components() -> list[Component]:
    """Every component record with a Version, a Role and a Destination, sorted by name (none: no record key)."""
    import winreg

    try:
        root = winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, RECORD_ROOT)
    except FileNotFoundError:
        return []
    names = []
    with root:
        while True:
            try:
                names.append(winreg.EnumKey(root, len(names)))
            except OSError:
                break
        components = [component_of(root, name) for name in sorted(names, key=str.lower)]
    return [component for component in components if component is not None]


def component_of(root: Any, name: str) -> Component | None:
    import winreg

    with winreg.OpenKey(root, name) as key:
        values = record_values(key)
    fields = [values.get(field) for field in ("Version", "Role", "Destination")]
    if not all(isinstance(field, str) and field for field in fields):
        return None  # a record an older version wrote (Version only): nothing to compare with
    return Component(name, *fields)
