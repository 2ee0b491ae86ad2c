"""The component manifest of ``backup.hyperv.proxy_components``: its validation.

A manifest lists the proxy's components (installer, data mover, Hyper-V integration, R2-R4). Each
component has a version, the files it consists of (copied from ``source``, a folder on the host,
into ``destination``) and, optionally, the Windows service that runs it (none for a program started
per job, as the data mover is) and the inbound firewall rule its port needs.

``validate_manifest`` applies ``manifest_spec.manifest_argument_spec()`` with ansible-core one level
at a time, so an error names its place with list indexes (``manifest.components[1].service: ...``;
ansible-core's own messages name no index), then the rules a spec cannot express, each a small
function below. It returns the manifest with every default filled in, or raises ManifestError whose
message starts with the path of the bad field, before anything talks to the host.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from typing import Any

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import NoLogError, UnsupportedError

from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.component_record import (
    DATA_MOVER_FILES,
    DATA_MOVER_ROLE,
    data_mover_files,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.manifest_spec import manifest_argument_spec
from ansible_collections.backup.hyperv.plugins.plugin_utils.desired_state.plan import PlanError
from ansible_collections.backup.hyperv.plugins.plugin_utils.windows_path import WindowsPathError, check_windows_path

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
# Reset period and delays are DWORDs, and the Nth failure runs action N, the last one for every later
# failure ("SERVICE_FAILURE_ACTIONS structure", Remarks,
# https://learn.microsoft.com/en-us/windows/win32/api/winsvc/ns-winsvc-service_failure_actionsa).
# Three actions (first, second, later failures, as the Services console shows them) say all the
# collection needs, and are what its recovery reading and the lab were written for.
DWORD_MAX = 0xFFFFFFFF
MAX_RECOVERY_ACTIONS = 3

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
    spec = {"manifest": {"type": "dict", "required": True, "options": manifest_argument_spec()}}
    checked = _checked_by_core(spec, {"manifest": _long_form(manifest)}, "")["manifest"]
    components = checked["components"]
    _not_empty(components, "manifest.components")
    components = [_component(item, f"manifest.components[{index}]") for index, item in enumerate(components)]
    _unique(components, lambda c: c["name"], "name")
    _unique(components, lambda c: c["service"]["name"] if c["service"] else None, "service.name")
    _service_names_apart(components)
    _no_dependency_cycle(components)
    _unique(components, lambda c: c["firewall"]["name"] if c["firewall"] else None, "firewall.name")
    return {"components": components}


def _long_form(manifest: Any) -> Any:
    """``files: [a.exe]`` is short for ``files: [{path: a.exe}]``; the spec describes the long form."""
    if not isinstance(manifest, Mapping) or not isinstance(manifest.get("components"), list):
        return manifest
    return {**manifest, "components": [_files_long_form(item) for item in manifest["components"]]}


def _files_long_form(component: Any) -> Any:
    if not isinstance(component, Mapping) or not isinstance(component.get("files"), list):
        return component
    return {**component, "files": [{"path": f} if isinstance(f, str) else f for f in component["files"]]}


def _checked_by_core(spec: Mapping[str, dict[str, Any]], given: Mapping[str, Any], path: str) -> dict[str, Any]:
    """``given`` validated by ansible-core against ``spec``, one level, then each nested level in turn."""
    _given_as_core_cannot_check(spec, given, path)
    level = {name: {k: v for k, v in option.items() if k != "options"} for name, option in spec.items()}
    result = ArgumentSpecValidator(level).validate(dict(given))
    errors = [_core_message(error) for error in result.errors if not isinstance(error, NoLogError)]
    if errors:
        raise ManifestError(f"{path}: {'; '.join(errors)}" if path else "; ".join(errors))  # path "": the root
    params = copy.deepcopy(result.validated_parameters)  # spec defaults are shared objects
    for name, option in spec.items():
        nested, value, where = option.get("options"), params.get(name), _place(path, name)
        if nested is None or value is None:
            continue
        if option["type"] == "dict":
            params[name] = _checked_by_core(nested, value, where)
        else:
            params[name] = [_checked_by_core(nested, item, f"{where}[{index}]") for index, item in enumerate(value)]
    return params


def _place(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _core_message(error: Exception) -> str:
    """ansible-core's message; its unknown-key message starts with the bare key, so say what it is."""
    return f"unknown field {error}" if isinstance(error, UnsupportedError) else str(error)


def _given_as_core_cannot_check(spec: Mapping[str, dict[str, Any]], given: Mapping[str, Any], path: str) -> None:
    """What ansible-core lets through: a required field set to null, and anything at all for ``type: str``.

    Core turns any value into text for ``type: str`` (a list into "['a']", null into "None"); refuse
    that, and blank text, which names nothing on Windows.
    """
    for name, option in spec.items():
        if name not in given:
            continue
        value, where = given[name], _place(path, name)
        if value is None and option.get("required"):
            raise ManifestError(f"{where}: is required and cannot be null")
        if option["type"] != "str" or value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ManifestError(f"{where}: must be text, got {type(value).__name__} {value!r}")
        if not str(value).strip():
            raise ManifestError(f"{where}: must not be empty")


def _component(raw: dict[str, Any], where: str) -> dict[str, Any]:
    _not_empty(raw["files"], f"{where}.files")
    component = {
        **raw,
        "name": _valid_name(raw["name"], f"{where}.name"),
        "source": _absolute_folder(raw["source"], f"{where}.source"),
        "destination": _absolute_folder(raw["destination"], f"{where}.destination"),
        "files": [_file(entry, f"{where}.files[{index}]") for index, entry in enumerate(raw["files"])],
        "service": None if raw["service"] is None else _service(raw["service"], f"{where}.service"),
        "firewall": None if raw["firewall"] is None else _firewall(raw["firewall"], f"{where}.firewall"),
    }
    _unique(component["files"], lambda f: f["path"], "path", prefix=f"{where}.files")
    if component["role"] == DATA_MOVER_ROLE and None in data_mover_files(f["path"] for f in component["files"]):
        raise ManifestError(f"{where}.files: {DATA_MOVER_FILES}")  # the record names them (component_record.py)
    return component


def _file(raw: dict[str, Any], where: str) -> dict[str, Any]:
    return {
        **raw,
        "path": _relative_file(raw["path"], f"{where}.path"),
        "sha256": None if raw["sha256"] is None else _sha256(raw["sha256"], f"{where}.sha256"),
    }


def _service(raw: dict[str, Any], where: str) -> dict[str, Any]:
    service = {
        **raw,
        "name": _valid_name(raw["name"], f"{where}.name"),
        "display_name": raw["display_name"] or raw["name"],
        "binary_path": _quoted_executable(raw["binary_path"], f"{where}.binary_path"),
        "account": _built_in_account(raw["account"], f"{where}.account"),
        "dependencies": [_valid_name(n, f"{where}.dependencies[{i}]") for i, n in enumerate(raw["dependencies"])],
        "recovery": _recovery(raw["recovery"], f"{where}.recovery"),
        "parameters": _registry_values(raw["parameters"], f"{where}.parameters"),
    }
    _disabled_is_not_running(service, where)
    return service


def _quoted_executable(path: str, where: str) -> str:
    """A service's command line whose executable Windows cannot mistake: quoted, or without a space. Unquoted,
    ``C:\\Program Files\\Agent\\agent.exe`` makes the Service Control Manager try ``C:\\Program.exe`` first
    (CreateServiceW, lpBinaryPathName: "If the path contains a space, it must be quoted so that it is correctly
    interpreted", https://learn.microsoft.com/windows/win32/api/winsvc/nf-winsvc-createservicew)."""
    text = path.strip()
    if text.startswith('"'):
        if text.find('"', 1) < 0:
            raise ManifestError(f"{where}: {path!r} opens a quote it does not close")
        return path
    executable = text.split(" ", 1)[0]
    if " " in text and not executable.lower().endswith(".exe"):
        raise ManifestError(
            f"{where}: {path!r} has a space in its executable's path and no quotes: quote the executable "
            f"('\"C:\\Program Files\\...\\agent.exe\" --service'), or Windows tries {executable}.exe first"
        )
    return path


def _service_names_apart(components: list[dict[str, Any]]) -> None:
    """No service's name or display name is another's name or display name: Windows refuses the second with
    ERROR_DUPLICATE_SERVICE_NAME (1078, "The name is already in use as either a service name or a service display
    name", CreateServiceW)."""
    owners: dict[str, int] = {}
    for index, component in enumerate(components):
        service = component["service"]
        if not service:
            continue
        for field in ("name", "display_name"):
            owner = owners.setdefault(service[field].casefold(), index)
            if owner != index:
                raise ManifestError(
                    f"manifest.components[{index}].service.{field}: {service[field]!r} is already the name or "
                    f"display name of manifest.components[{owner}].service (Windows refuses it: error 1078)"
                )


def _no_dependency_cycle(components: list[dict[str, Any]]) -> None:
    """No service depends on itself, directly or through the manifest's other services: Windows refuses it with
    ERROR_CIRCULAR_DEPENDENCY (1059, ChangeServiceConfigW, lpDependencies)."""
    services = {c["service"]["name"].casefold(): c for c in components if c["service"]}

    def path_back(start: str, name: str, seen: tuple[str, ...]) -> tuple[str, ...] | None:
        for dependency in services[name]["service"]["dependencies"]:
            key = dependency.casefold()
            if key == start:
                return (*seen, dependency)
            if key in services and key not in seen:
                found = path_back(start, key, (*seen, dependency))
                if found:
                    return found
        return None

    for index, component in enumerate(components):
        if component["service"]:
            name = component["service"]["name"]
            cycle = path_back(name.casefold(), name.casefold(), (name,))
            if cycle:
                raise ManifestError(
                    f"manifest.components[{index}].service.dependencies: {' -> '.join(cycle)} is a circular "
                    "dependency (Windows refuses it: error 1059)"
                )


def _recovery(raw: dict[str, Any], where: str) -> dict[str, Any]:
    if len(raw["actions"]) > MAX_RECOVERY_ACTIONS:
        count = len(raw["actions"])
        raise ManifestError(
            f"{where}.actions: at most {MAX_RECOVERY_ACTIONS} actions (first, second, later), got {count}"
        )
    for index, action in enumerate(raw["actions"]):
        _within(action["delay_ms"], f"{where}.actions[{index}].delay_ms", 0, DWORD_MAX)
    _within(raw["reset_period"], f"{where}.reset_period", 0, DWORD_MAX)
    return raw


def _firewall(raw: dict[str, Any], where: str) -> dict[str, Any]:
    return {
        **raw,
        "display_name": raw["display_name"] or raw["name"],
        "local_port": _within(raw["local_port"], f"{where}.local_port", 1, 65535),
        "profiles": _profiles(raw["profiles"], f"{where}.profiles"),
    }


def _not_empty(items: list[Any], where: str) -> None:
    if not items:
        raise ManifestError(f"{where}: must list at least one entry")


def _valid_name(name: str, where: str) -> str:
    """Component and service names: they name registry keys and services, so plain characters only."""
    if not _NAME.match(name):
        raise ManifestError(f"{where}: {name!r} is not valid (letters, digits, '_', '.', '-'; a letter or digit first)")
    return name


def _windows_path(path: str, where: str, absolute: bool = False) -> str:
    """``path`` with '/' as '\\' when Windows takes it as written (windows_path.py: Microsoft's naming rules)."""
    try:
        check_windows_path(where, path, absolute=absolute)
    except WindowsPathError as exc:
        raise ManifestError(str(exc)) from None
    return path.replace("/", "\\")


def _absolute_folder(path: str, where: str) -> str:
    """An absolute folder, without a trailing separator (the scripts join names to it)."""
    return _windows_path(path, where, absolute=True).rstrip("\\")


def _relative_file(path: str, where: str) -> str:
    text = _windows_path(path, where)
    if _ABSOLUTE.match(text) or ":" in text or any(part in ("", ".", "..") for part in text.split("\\")):
        raise ManifestError(f"{where}: must be a plain path relative to source and destination, got {text!r}")
    return text


def _sha256(digest: str, where: str) -> str:
    if not _SHA256.match(digest):
        raise ManifestError(f"{where}: {digest!r} is not a SHA-256 digest (64 hexadecimal digits)")
    return digest.lower()


def _built_in_account(account: str, where: str) -> str:
    if account.strip().casefold() not in ACCOUNTS:
        raise ManifestError(f"{where}: must be LocalSystem, LocalService or NetworkService, got {account!r}")
    return str(canonical_account(account))


def _disabled_is_not_running(service: Mapping[str, Any], where: str) -> None:
    if service["state"] == "running" and service["start_mode"] == "disabled":
        raise ManifestError(f"{where}.state: a disabled service cannot be running; set state: stopped")


def _registry_values(values: Mapping[Any, Any], where: str) -> dict[str, Any]:
    """Values under the service's Parameters key: text is REG_SZ, an integer or boolean REG_DWORD."""
    result: dict[str, Any] = {}
    for name, value in values.items():
        if not isinstance(name, str) or not name or "\\" in name:
            raise ManifestError(f"{where}: {name!r} is not a registry value name")
        if isinstance(value, bool):
            value = int(value)  # REG_DWORD 1/0, as Windows services read flags
        if isinstance(value, int):
            value = _within(value, f"{where}.{name}", 0, DWORD_MAX)
        elif not isinstance(value, str):
            raise ManifestError(f"{where}.{name}: must be a string, an integer or a boolean")
        result[name] = value
    return result


def _profiles(profiles: list[str], where: str) -> list[str]:
    chosen = sorted(set(profiles))
    if not chosen:
        raise ManifestError(f"{where}: must list any, or some of domain, private, public")
    if "any" in chosen and len(chosen) > 1:
        raise ManifestError(f"{where}: 'any' cannot be combined with other profiles")
    return chosen


def _within(number: int, where: str, low: int, high: int) -> int:
    if isinstance(number, bool) or not low <= number <= high:
        raise ManifestError(f"{where}: must be between {low} and {high}, got {number!r}")
    return number


def _unique(
    items: list[dict[str, Any]],
    key: Callable[[dict[str, Any]], str | None],
    field: str,
    prefix: str = "manifest.components",
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
