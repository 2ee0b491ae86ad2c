"""The component manifest of ``backup.hyperv.proxy_components``: its schema and its validation.

A manifest lists the proxy's components (installer, data mover, Hyper-V integration, R2-R4). Each
component has a version, the files it consists of (copied from ``source``, a folder on the host,
into ``destination``), the Windows service that runs it and, optionally, the inbound firewall rule
its port needs. ``validate_manifest`` returns the manifest with every default filled in, or
raises ManifestError whose message starts with the path of the bad field
(``components[1].service.start_mode: ...``), before anything talks to the host.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.plan import PlanError

ROLES = ("installer", "data_mover", "hyperv_integration", "other")
START_MODES = ("auto", "delayed_auto", "manual", "disabled")
SERVICE_STATES = ("running", "stopped")
RECOVERY_TYPES = ("restart", "reboot")
PROTOCOLS = ("TCP", "UDP")
PROFILES = ("any", "domain", "private", "public")
# Built-in accounts only: they need no password, so none travels or lands in a result.
ACCOUNTS = {
    "localsystem": "LocalSystem",
    ".\\localsystem": "LocalSystem",
    "nt authority\\system": "LocalSystem",
    "localservice": "NT AUTHORITY\\LocalService",
    "nt authority\\localservice": "NT AUTHORITY\\LocalService",
    "networkservice": "NT AUTHORITY\\NetworkService",
    "nt authority\\networkservice": "NT AUTHORITY\\NetworkService",
}
DEFAULT_RECOVERY = {"reset_period": 86400, "actions": [{"type": "restart", "delay_ms": 60000}] * 3}

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_SHA256 = re.compile(r"^[0-9A-Fa-f]{64}$")
_ABSOLUTE = re.compile(r"^([A-Za-z]:\\|\\\\)")


class ManifestError(PlanError):
    """The manifest breaks its schema; the message names the field."""


def canonical_account(account: str | None) -> str | None:
    """The spelling Win32_Service.StartName uses for a built-in account, or the input as is."""
    if account is None:
        return None
    return ACCOUNTS.get(account.strip().casefold(), account.strip())


def validate_manifest(manifest: Any) -> dict[str, Any]:
    """The manifest with defaults filled in; raises ManifestError naming the first bad field."""
    root = _mapping(manifest, "manifest", required=("components",), optional=())
    items = root["components"]
    if not isinstance(items, list) or not items:
        raise ManifestError("components: must be a non-empty list")
    components = [_component(item, f"components[{index}]") for index, item in enumerate(items)]
    _unique(components, lambda c: c["name"], "name")
    _unique(components, lambda c: c["service"]["name"], "service.name")
    _unique(components, lambda c: c["firewall"]["name"] if c["firewall"] else None, "firewall.name")
    return {"components": components}


def _component(item: Any, where: str) -> dict[str, Any]:
    required = ("name", "version", "source", "destination", "files", "service")
    raw = _mapping(item, where, required=required, optional=("role", "firewall"))
    files = raw["files"]
    if not isinstance(files, list) or not files:
        raise ManifestError(f"{where}.files: must be a non-empty list")
    component = {
        "name": _matching(raw["name"], f"{where}.name", _NAME, "letters, digits, '_', '.', '-'"),
        "role": _choice(raw.get("role", "other"), f"{where}.role", ROLES),
        "version": _text(raw["version"], f"{where}.version"),
        "source": _absolute_path(raw["source"], f"{where}.source"),
        "destination": _absolute_path(raw["destination"], f"{where}.destination"),
        "files": [_file(entry, f"{where}.files[{index}]") for index, entry in enumerate(files)],
        "service": _service(raw["service"], f"{where}.service"),
        "firewall": None if raw.get("firewall") is None else _firewall(raw["firewall"], f"{where}.firewall"),
    }
    _unique(component["files"], lambda f: f["path"], "path", prefix=f"{where}.files")
    return component


def _file(entry: Any, where: str) -> dict[str, Any]:
    raw = {"path": entry} if isinstance(entry, str) else _mapping(entry, where, ("path",), ("sha256", "version"))
    path = _text(raw["path"], f"{where}.path").replace("/", "\\")
    if _ABSOLUTE.match(path) or ":" in path or any(part in ("", ".", "..") for part in path.split("\\")):
        raise ManifestError(f"{where}.path: must be a plain path relative to source and destination, got {path!r}")
    sha256 = raw.get("sha256")
    if sha256 is not None:
        sha256 = _matching(sha256, f"{where}.sha256", _SHA256, "64 hexadecimal digits").lower()
    version = None if raw.get("version") is None else _text(raw["version"], f"{where}.version")
    return {"path": path, "sha256": sha256, "version": version}


def _service(value: Any, where: str) -> dict[str, Any]:
    raw = _mapping(
        value,
        where,
        required=("name", "binary_path"),
        optional=(
            "display_name",
            "description",
            "start_mode",
            "account",
            "state",
            "dependencies",
            "recovery",
            "parameters",
        ),
    )
    name = _matching(raw["name"], f"{where}.name", _NAME, "letters, digits, '_', '.', '-'")
    account = _text(raw.get("account", "LocalSystem"), f"{where}.account")
    if account.casefold() not in ACCOUNTS:
        raise ManifestError(f"{where}.account: must be LocalSystem, LocalService or NetworkService, got {account!r}")
    service = {
        "name": name,
        "display_name": _text(raw.get("display_name", name), f"{where}.display_name"),
        "description": None if raw.get("description") is None else _text(raw["description"], f"{where}.description"),
        "binary_path": _text(raw["binary_path"], f"{where}.binary_path"),
        "start_mode": _choice(raw.get("start_mode", "auto"), f"{where}.start_mode", START_MODES),
        "account": canonical_account(account),
        "state": _choice(raw.get("state", "running"), f"{where}.state", SERVICE_STATES),
        "dependencies": _names(raw.get("dependencies", []), f"{where}.dependencies"),
        "recovery": _recovery(raw.get("recovery", DEFAULT_RECOVERY), f"{where}.recovery"),
        "parameters": _parameters(raw.get("parameters", {}), f"{where}.parameters"),
    }
    if service["state"] == "running" and service["start_mode"] == "disabled":
        raise ManifestError(f"{where}.state: a disabled service cannot be running; set state: stopped")
    return service


def _recovery(value: Any, where: str) -> dict[str, Any]:
    raw = _mapping(value, where, required=(), optional=("reset_period", "actions"))
    actions = raw.get("actions", [])
    if not isinstance(actions, list) or len(actions) > 3:
        raise ManifestError(f"{where}.actions: must be a list of at most 3 actions (first, second, later failures)")
    return {
        "reset_period": _integer(raw.get("reset_period", 86400), f"{where}.reset_period", 0, 0xFFFFFFFF),
        "actions": [_recovery_action(action, f"{where}.actions[{index}]") for index, action in enumerate(actions)],
    }


def _recovery_action(value: Any, where: str) -> dict[str, Any]:
    raw = _mapping(value, where, required=("type",), optional=("delay_ms",))
    return {
        "type": _choice(raw["type"], f"{where}.type", RECOVERY_TYPES),
        "delay_ms": _integer(raw.get("delay_ms", 60000), f"{where}.delay_ms", 0, 0xFFFFFFFF),
    }


def _parameters(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ManifestError(f"{where}: must be a mapping of registry value names to strings or integers")
    result: dict[str, Any] = {}
    for name, item in value.items():
        if not isinstance(name, str) or not name or "\\" in name:
            raise ManifestError(f"{where}: {name!r} is not a registry value name")
        if isinstance(item, bool):
            item = int(item)  # REG_DWORD 1/0, as Windows services read flags
        if isinstance(item, int):
            item = _integer(item, f"{where}.{name}", 0, 0xFFFFFFFF)
        elif not isinstance(item, str):
            raise ManifestError(f"{where}.{name}: must be a string, an integer or a boolean")
        result[name] = item
    return result


def _firewall(value: Any, where: str) -> dict[str, Any]:
    raw = _mapping(value, where, required=("name", "local_port"), optional=("display_name", "protocol", "profiles"))
    name = _text(raw["name"], f"{where}.name")
    profiles = raw.get("profiles", ["any"])
    if not isinstance(profiles, list) or not profiles:
        raise ManifestError(f"{where}.profiles: must be a non-empty list of {', '.join(PROFILES)}")
    chosen = sorted({_choice(str(p).lower(), f"{where}.profiles", PROFILES) for p in profiles})
    if "any" in chosen and len(chosen) > 1:
        raise ManifestError(f"{where}.profiles: 'any' cannot be combined with other profiles")
    return {
        "name": name,
        "display_name": _text(raw.get("display_name", name), f"{where}.display_name"),
        "protocol": _choice(str(raw.get("protocol", "TCP")).upper(), f"{where}.protocol", PROTOCOLS),
        "local_port": _integer(raw["local_port"], f"{where}.local_port", 1, 65535),
        "profiles": chosen,
    }


def _mapping(value: Any, where: str, required: tuple[str, ...], optional: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ManifestError(f"{where}: must be a mapping")
    unknown = sorted(str(key) for key in value if key not in required + optional)
    if unknown:
        raise ManifestError(f"{where}.{unknown[0]}: unknown field (known: {', '.join(required + optional)})")
    missing = [key for key in required if value.get(key) is None]
    if missing:
        raise ManifestError(f"{where}.{missing[0]}: required field is missing")
    return value


def _text(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or not str(value).strip():
        raise ManifestError(f"{where}: must be a non-empty string")
    return str(value).strip()


def _matching(value: Any, where: str, pattern: re.Pattern[str], what: str) -> str:
    text = _text(value, where)
    if not pattern.match(text):
        raise ManifestError(f"{where}: {text!r} is not valid ({what})")
    return text


def _absolute_path(value: Any, where: str) -> str:
    text = _text(value, where).replace("/", "\\").rstrip("\\")
    if not _ABSOLUTE.match(text + "\\"):
        raise ManifestError(f"{where}: must be an absolute Windows path (C:\\... or \\\\server\\share), got {text!r}")
    return text


def _choice(value: Any, where: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ManifestError(f"{where}: must be one of {', '.join(choices)}, got {value!r}")
    return value


def _integer(value: Any, where: str, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise ManifestError(f"{where}: must be an integer")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ManifestError(f"{where}: must be an integer, got {value!r}") from None
    if not low <= number <= high:
        raise ManifestError(f"{where}: must be between {low} and {high}, got {number}")
    return number


def _names(value: Any, where: str) -> list[str]:
    if not isinstance(value, list):
        raise ManifestError(f"{where}: must be a list of service names")
    return [_matching(item, f"{where}[{index}]", _NAME, "a service name") for index, item in enumerate(value)]


def _unique(
    items: list[dict[str, Any]], key: Callable[[dict[str, Any]], str | None], field: str, prefix: str = "components"
) -> None:
    """Names Windows compares without case must not repeat (None: the item has no such name)."""
    seen: set[str] = set()
    for index, item in enumerate(items):
        name = key(item)
        if name is None:
            continue
        if name.casefold() in seen:
            raise ManifestError(f"{prefix}[{index}].{field}: {name!r} is listed twice")
        seen.add(name.casefold())
