"""Handlers of `proxy_components_read.ps1` and `proxy_components_apply.ps1` (docs/installs.md).

Files are the host's own (its file system tree); component records (the values of
`HKLM:\\SOFTWARE\\backup.hyperv\\Components\\<name>` by name), services, their registry parameters and
recovery actions, and firewall rules are in its state document. A component without a service is read
with `Service` null; `FormerService` is the service its record names when the manifest declares none or
another, as the script reports it. Start-Service
fails for a disabled service or a missing executable; Stop-Service -Force stops running
dependents, which the script starts again at the end.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from lab.handlers import HandlerRegistry, ScriptCall, ScriptFailure
from lab.windows import native_text
from lab.windows.hostfs import HostFileSystem, HostPathError
from lab.windows.hoststate import HostState, service_entry
from lab.windows.pe_version import file_version
from lab.windows.script_code import code
from lab.windows.services import (
    START_MODES,
    ServiceError,
    new_service,
    qfailure_text,
    recovery_of,
    service_account,
    start,
    stop,
)

# The names a manifest may give a service (desired_state/manifest.py); the read script checks a recorded one so.
SERVICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _join(folder: str, relative: str) -> str:
    return folder.rstrip("\\") + "\\" + relative.replace("/", "\\").lstrip("\\")


def _file_state(files: HostFileSystem, folder: str, relative: str) -> dict[str, Any]:
    try:
        path = files.local_path(_join(folder, relative))
    except HostPathError:
        path = None
    if path is None or not path.is_file():
        return {"Path": relative, "Exists": False, "Sha256": None, "FileVersion": None}
    digest = hashlib.sha256(path.read_bytes()).hexdigest().upper()
    return {"Path": relative, "Exists": True, "Sha256": digest, "FileVersion": file_version(path)}


def _recovery(service: dict[str, Any], language: str) -> dict[str, Any]:
    """The recovery actions as the script reads them: from FailureActions, or while the script still runs
    `sc.exe qfailure`, that tool's text in the host's display language (lab.windows.native_text)."""
    if native_text.runs("proxy_components_read", "qfailure"):
        return {"QFailure": native_text.printed(qfailure_text(service), "qfailure", language)}
    recovery = recovery_of(service)
    if "FailureActionsOnNonCrashFailures" not in code("proxy_components_read"):  # a script that does not read it
        del recovery["non_crash_failures"]
    return {"Recovery": recovery}


def _service_state(
    state: dict[str, Any], name: str | None, parameter_names: list[Any], language: str
) -> dict[str, Any] | None:
    service = service_entry(state, name) if name else None
    if service is None:
        return None
    parameters = {
        str(n): _dword_as_read(service["Parameters"][str(n)])
        for n in parameter_names
        if str(n) in service["Parameters"]
    }
    view = {key: service[key] for key in ("Name", "DisplayName", "Description", "PathName", "StartMode")}
    return {
        **view,
        "DelayedAutoStart": service["DelayedAutoStart"],
        "StartName": service["StartName"],
        "State": service["State"],
        "DependOnService": list(service["DependOnService"]),
        "Parameters": parameters,
        **_recovery(service, language),
    }


def _dword_as_read(value: Any) -> Any:
    """A REG_DWORD as the read script reports it: RegistryKey.GetValue gives an Int32 (2147483648 and up negative),
    which the script turns back into the UInt32 while it calls ConvertFrom-RegistryDword on the value."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 2**31:
        return value
    return value if "ConvertFrom-RegistryDword (" in code("proxy_components_read") else value - 2**32


def _former_service(record: dict[str, Any] | None, declared: str | None) -> str | None:
    """The service the record names, unless it is the declared one (case-blind) or no service name."""
    recorded = str((record or {}).get("Service") or "")
    if not SERVICE_NAME.match(recorded) or recorded.casefold() == str(declared or "").casefold():
        return None
    return recorded


def _programs_under(state: dict[str, Any], folder: str) -> list[dict[str, Any]]:
    """Get-ProgramUnder: the processes started from under `folder`. The lab's only programs besides services are the
    data mover jobs its scheduled tasks run, each the data mover component's python.exe (`executable`); the process
    ids are made up, one per running task."""
    prefix = folder.rstrip("\\").lower() + "\\"
    running = [t for t in state.get("scheduled_tasks", {}).values() if t.get("state") == "Running"]
    executables = [str(t.get("executable") or "") for t in running]
    return [{"Id": 4100 + i, "Path": path} for i, path in enumerate(executables) if path.lower().startswith(prefix)]


def proxy_components_read(call: ScriptCall) -> dict[str, Any]:
    components = call.params["Components"]  # bound already (lab.handlers.binding): a non-empty list
    state = HostState(call.state_dir).read()
    language = call.estate.model.host(call.host.name).display_language
    result = []
    for component in components:
        rule, declared = component.get("FirewallRule"), component.get("Service")
        parameters = component.get("Parameters") or []
        files = [str(f) for f in component.get("Files") or []]
        record = state["components"].get(str(component.get("Name")))
        result.append(
            {
                "Name": component.get("Name"),
                "Version": (record or {}).get("Version"),
                "Record": record,
                "Files": [_file_state(call.files, str(component.get("Destination")), f) for f in files],
                "SourceFiles": [_file_state(call.files, str(component.get("Source")), f) for f in files],
                "Service": _service_state(state, declared and str(declared), parameters, language),
                "FormerService": _service_state(state, _former_service(record, declared), [], language),
                "FirewallRule": dict(state["firewall"][rule]) if rule and rule in state["firewall"] else None,
                "Programs": _programs_under(state, str(component.get("Destination"))),
            }
        )
    return {"components": result}


_IN_USE = "The name is already in use as either a service name or a service display name."  # 1078


def _name_in_use(services: dict[str, Any], display_name: str, owner: str) -> bool:
    """ERROR_DUPLICATE_SERVICE_NAME (1078): another service has this as its name or display name."""
    taken = display_name.casefold()
    return any(
        taken in (s["Name"].casefold(), s["DisplayName"].casefold())
        for s in services.values()
        if s["Name"].casefold() != owner.casefold()
    )


def _depends_on(services: dict[str, Any], name: str, target: str, seen: frozenset[str] = frozenset()) -> bool:
    entry = services.get(name.lower())
    for dependency in (entry or {}).get("DependOnService") or []:
        key = dependency.lower()
        if key == target.lower() or (key not in seen and _depends_on(services, key, target, seen | {key})):
            return True
    return False


def _refuse_what_sc_refuses(services: dict[str, Any], name: str, changes: dict[str, Any]) -> None:
    """`sc.exe config <name> depend= ...` of a circular dependency fails with 1059, `Set-Service -DisplayName` of a
    name in use with 1078 (ChangeServiceConfigW), before anything of the change is made."""
    for dependency in changes.get("dependencies") or []:
        if dependency.lower() == name.lower() or _depends_on(services, dependency, name):
            depend = "/".join(changes["dependencies"])
            raise ScriptFailure(
                f"sc.exe config {name} depend= {depend} exited with code 1059: [SC] ChangeServiceConfig FAILED 1059:"
                "  Circular service dependency was specified."
            )
    if "display_name" in changes and _name_in_use(services, str(changes["display_name"]), name):
        raise ScriptFailure(f"Service '{name}' cannot be configured due to the following error: {_IN_USE}")


def _set_service(service: dict[str, Any], changes: dict[str, Any]) -> None:
    if "binary_path" in changes:
        service["PathName"] = str(changes["binary_path"])
    if "account" in changes:
        service["StartName"] = service_account(str(changes["account"]))
    if "start_mode" in changes:
        service["StartMode"] = START_MODES[str(changes["start_mode"])]
        service["DelayedAutoStart"] = changes["start_mode"] == "delayed_auto"
    if "dependencies" in changes:
        service["DependOnService"] = [str(d) for d in changes["dependencies"] or []]
    if "display_name" in changes:
        service["DisplayName"] = str(changes["display_name"])
    if changes.get("description") is not None:
        service["Description"] = str(changes["description"])


def _copy_files(call: ScriptCall, step: dict[str, Any]) -> None:
    for relative in step.get("files") or []:
        source = call.files.local_path(_join(str(step["source"]), str(relative)))
        if not source.is_file():
            raise ScriptFailure(
                f"Cannot find path '{_join(str(step['source']), str(relative))}' because it does not exist."
            )
        target = call.files.local_path(_join(str(step["destination"]), str(relative)))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())


def _remove_files(call: ScriptCall, step: dict[str, Any]) -> None:
    for relative in step.get("files") or []:
        call.files.local_path(_join(str(step["destination"]), str(relative))).unlink(missing_ok=True)
    destination = call.files.local_path(str(step["destination"]))
    if destination.is_dir() and not any(p.is_file() for p in destination.rglob("*")):
        for folder in sorted(destination.rglob("*"), reverse=True):
            folder.rmdir()
        destination.rmdir()


def _firewall_rule(step: dict[str, Any]) -> dict[str, Any]:
    profiles = [str(p).title() for p in step.get("profiles") or ["any"]]
    return {
        "Name": step["name"],
        "DisplayName": step.get("display_name") or step["name"],
        "Enabled": "True",
        "Direction": "Inbound",
        "Action": "Allow",
        "Profile": ", ".join(profiles),
        "Protocol": str(step.get("protocol", "TCP")).upper(),
        "LocalPort": [str(step["local_port"])],
    }


def _service(state: dict[str, Any], name: str) -> dict[str, Any]:
    service = service_entry(state, name)
    if service is None:
        raise ScriptFailure(f"Cannot find any service with service name '{name}'.")
    return service


def _set_record(record: dict[str, Any], step: dict[str, Any]) -> None:
    """Version, then each value of the step's record: text is set (a list as a REG_MULTI_SZ), null removes it."""
    record["Version"] = str(step["version"])
    for name, value in (step.get("record") or {}).items():
        if value is None:
            record.pop(str(name), None)
        else:
            record[str(name)] = [str(v) for v in value] if isinstance(value, list) else str(value)


def _run_step(call: ScriptCall, state: dict[str, Any], step: dict[str, Any], collateral: list[str]) -> None:
    action, name = step.get("action"), str(step.get("name"))
    services = state["services"]
    if action == "stop_service":
        collateral += stop(services, name)
    elif action == "copy_files":
        _copy_files(call, step)
    elif action == "set_component_version":
        _set_record(state["components"].setdefault(str(step["component"]), {}), step)
    elif action == "create_service":
        if service_entry(state, name):
            raise ScriptFailure(
                f"Service '{name}' cannot be created because a service with the same name already exists."
            )
        display_name = str(step.get("display_name") or name)
        if _name_in_use(services, display_name, name):
            raise ScriptFailure(
                f"Service '{display_name} ({name})' cannot be created due to the following error: {_IN_USE}"
            )
        services[name.lower()] = new_service(name, display_name, str(step["binary_path"]), "Manual")
        _set_service(services[name.lower()], step)
    elif action == "set_service":
        changes = step.get("changes") or {}
        _refuse_what_sc_refuses(services, name, changes)
        _set_service(_service(state, name), changes)
    elif action == "set_recovery":
        actions = [{"type": a["type"], "delay_ms": int(a["delay_ms"])} for a in step.get("actions") or []]
        # no actions deletes the reset period too (SERVICE_FAILURE_ACTIONSW: cActions 0, lpsaActions not NULL)
        period = int(step["reset_period"]) if actions else 0
        flag = bool(actions) and "failureflag" in code("proxy_components_apply")  # sc.exe failureflag <name> 1
        recovery = {"reset_period": period, "actions": actions, "non_crash_failures": flag}
        _service(state, name)["Recovery"] = recovery
    elif action == "set_service_parameters":
        _service(state, name)["Parameters"].update({str(k): v for k, v in (step.get("values") or {}).items()})
    elif action == "set_firewall_rule":
        state["firewall"][name] = _firewall_rule(step)
    elif action == "start_service":
        start(services, name, call.files)
    elif action == "remove_service":
        if service_entry(state, name) is None:
            raise ScriptFailure(f"sc.exe delete {name} exited with code 1060: [SC] OpenService FAILED 1060")
        del services[name.lower()]
    elif action == "remove_firewall_rule":
        if state["firewall"].pop(name, None) is None:
            raise ScriptFailure(f"No MSFT_NetFirewallRule objects found with property 'Name' equal to '{name}'.")
    elif action == "remove_files":
        _remove_files(call, step)
    elif action == "remove_component_version":
        state["components"].pop(str(step["component"]), None)
    else:
        raise ScriptFailure(f"unknown step action '{action}'")


def proxy_components_apply(call: ScriptCall) -> dict[str, Any]:
    steps = call.params["Steps"]  # bound already (lab.handlers.binding): a non-empty list
    store = HostState(call.state_dir)
    collateral: list[str] = []
    applied = 0
    with store.edit() as state:
        for step in steps:
            try:
                _run_step(call, state, step, collateral)
            except (ScriptFailure, ServiceError) as exc:
                store.write(state)
                label = f"{step.get('action')} {step.get('name') or ''}{step.get('component') or ''}"
                raise ScriptFailure(f"step {applied + 1} ({label}): {exc}") from exc
            applied += 1
        for name in collateral:  # dependents stopped on the way are started again
            service = service_entry(state, name)
            if service and service["State"] == "Stopped":
                start(state["services"], name, call.files)
    return {"applied": applied, "reboot_required": False}


def register(registry: HandlerRegistry) -> None:
    registry.add("proxy_components_read", proxy_components_read)
    registry.add("proxy_components_apply", proxy_components_apply)
