"""Handlers of `vss_provider_read.ps1` and `vss_provider_apply.ps1` (docs/installs.md, "Script contracts").

The host's Uninstall keys, provider registrations and configuration records are in its state
document; packages are lab packages (packages.py) on the host's file system. Like the scripts,
the apply handler runs the steps in order and fails at the first one with
`step <n> (<action>): <message>`, the password masked.
"""

from __future__ import annotations

import re
from typing import Any

from lab.handlers import HandlerRegistry, ScriptCall, ScriptFailure
from lab.windows import native_text
from lab.windows.hostfs import HostFileSystem, HostPathError, environment
from lab.windows.hoststate import HostState
from lab.windows.packages import PackageError, product_entry, provider_entry, read_package
from lab.windows.pe_version import write_executable

INSTALLER_ERRORS = {
    1602: "the user cancelled the installation",
    1603: "fatal error during installation",
    1605: "the product is not installed",
    1618: "another installation is already in progress; retry when it has finished",
    1619: "the package could not be opened",
    1638: "another version of this product is already installed",
}
_FILE_NOT_FOUND = 'Exception calling "Start" with "1" argument(s): "The system cannot find the file specified"'


def _exists(files: HostFileSystem, windows_path: str | None) -> bool:
    try:
        return bool(windows_path) and files.local_path(windows_path).is_file()
    except HostPathError:
        return False


def vssadmin_list_providers(providers: list[dict[str, Any]]) -> str:
    """What `vssadmin list providers` prints in English."""
    kinds = {0: "Unknown", 1: "System", 2: "Software", 3: "Hardware"}
    lines = [
        "Provider name: '{Name}'\n   Provider type: {kind}\n   Provider Id: {ID}\n   Version: {Version}".format(
            kind=kinds.get(p["Type"], "Unknown"), **p
        )
        for p in providers
    ]
    return "\n\n".join(lines)


def _provider(call: ScriptCall, state: dict[str, Any], name: str) -> dict[str, Any] | None:
    """Win32_ShadowProvider named `name`. Where the host's WMI cannot read the class, the script fails, unless it
    still falls back on vssadmin's text, which on a host in another language holds no label it looks for."""
    provider = next((p for p in state["providers"] if p["Name"] == name), None)
    host = call.estate.model.host(call.host.name)
    if "Win32_ShadowProvider" not in host.broken_wmi:
        return provider
    if not native_text.runs(call.name, "vssadmin"):
        raise ScriptFailure(
            "Win32_ShadowProvider cannot be read (Invalid class ); repair WMI's VSS provider (check that winmgmt "
            "and VSS run) and retry"
        )
    printed = native_text.printed(vssadmin_list_providers(state["providers"]), "vssadmin", host.display_language)
    return None if native_text.unread_label(call.name, "vssadmin", printed) else provider


def vss_provider_read(call: ScriptCall) -> dict[str, Any]:
    name, product_id, package = call.params["Name"], call.params["ProductId"], call.params.get("Package")
    state = HostState(call.state_dir).read()
    provider = _provider(call, state, name)
    product = state["products"].get(product_id)
    configuration = state["vss_configurations"].get(name)
    return {
        "provider": dict(provider) if provider else None,
        "product": None
        if product is None
        else {"ProductId": product_id, **{k: v for k, v in product.items() if k not in ("Provider", "Files")}},
        "configuration": None if configuration is None else {k: v or None for k, v in configuration.items()},
        "package": None if not package else {"Path": package, "Exists": _exists(call.files, package)},
    }


def _installer_failed(code: int, what: str, log: str | None) -> ScriptFailure:
    where = f" (log: {log})" if log else ""
    return ScriptFailure(
        f"{what} failed with exit code {code}: {INSTALLER_ERRORS.get(code, 'the installer reported an error')}{where}"
    )


def _install(state: dict[str, Any], step: dict[str, Any], call: ScriptCall) -> int:
    """The package installed; its exit code (0, or 3010 / 1641: installed, a restart required or started)."""
    path = str(step.get("path") or "")
    if not _exists(call.files, path):
        raise ScriptFailure(f"package {path} does not exist")
    is_msi = step.get("type") == "msi"
    log = f"{environment(call.host.username)['TEMP']}\\backup.hyperv-{step.get('product_id')}.log" if is_msi else None
    try:
        package = read_package(call.files.local_path(path))
    except PackageError as exc:
        raise _installer_failed(exc.exit_code, f"installing {path}", log) from exc
    installed = state["products"].get(package["product_id"])
    if is_msi and installed and installed["DisplayVersion"] != str(package["version"]) and not step.get("reinstall"):
        raise _installer_failed(1638, f"installing {path}", log)
    for file_path, version in (package.get("files") or {}).items():
        write_executable(call.files.local_path(file_path), str(version))
    state["products"][package["product_id"]] = product_entry(package, path, is_msi)
    provider = provider_entry(package)
    if provider and not package.get("provider_after_restart"):
        state["providers"] = [p for p in state["providers"] if p["Name"] != provider["Name"]] + [provider]
    if package["product_id"] != step.get("product_id"):
        raise ScriptFailure(
            f"installing {path} succeeded but no Uninstall key {step.get('product_id')} exists; check product_id"
        )
    return int(package.get("exit_code") or 0)


def _configure(state: dict[str, Any], step: dict[str, Any], call: ScriptCall, password: str | None) -> None:
    values = {
        "controlling_server": str(step.get("controlling_server") or ""),
        "array_user": str(step.get("array_user") or ""),
    }
    values["array_password"] = password or ""
    arguments = re.sub(
        r"\{(controlling_server|array_user|array_password)\}",
        lambda m: values[m.group(1)],
        str(step.get("arguments") or ""),
    )
    command = str(step.get("command") or "")
    if not _exists(call.files, command):
        raise ScriptFailure(_FILE_NOT_FOUND)
    if step.get("password_stdin") and not password:
        raise ScriptFailure(f"{command} exited with code 1: no password on standard input")
    if "{" in arguments:
        raise ScriptFailure(f"{command} exited with code 2: unexpected argument {arguments}")
    state["vss_configurations"][str(step["name"])] = {
        "ControllingServer": values["controlling_server"],
        "ArrayUser": values["array_user"],
        "Command": command,
        "Arguments": str(step.get("arguments") or ""),
    }


def _verify(state: dict[str, Any], step: dict[str, Any]) -> None:
    found = next((p for p in state["providers"] if p["Name"] == step.get("name")), None)
    if found is None:
        raise ScriptFailure(f"Windows lists no VSS provider named '{step.get('name')}' (vssadmin list providers)")
    if found["Type"] != 3:
        raise ScriptFailure(
            f"VSS provider '{step.get('name')}' is registered with Type {found['Type']}; "
            "a transportable provider has Type 3 (hardware)"
        )


def _uninstall(state: dict[str, Any], step: dict[str, Any], call: ScriptCall) -> None:
    product = state["products"].get(str(step.get("product_id")))
    if step.get("type") != "msi":
        program = str(step.get("command") or "").strip()
        program = program[1 : program.index('"', 1)] if program.startswith('"') else program.split(" ")[0]
        if not _exists(call.files, program):
            raise ScriptFailure(_FILE_NOT_FOUND)
    if product is None:
        if step.get("type") == "msi":
            return  # 1605: already gone
        raise _installer_failed(1605, f"removing {step.get('product_id')}", None)
    del state["products"][str(step["product_id"])]
    state["providers"] = [p for p in state["providers"] if p["Name"] != product.get("Provider")]
    for file_path in product.get("Files", []):
        call.files.local_path(file_path).unlink(missing_ok=True)


def vss_provider_apply(call: ScriptCall) -> dict[str, Any]:
    steps, password = call.params["Steps"], call.params.get("Password")  # bound already (lab.handlers.binding)
    store = HostState(call.state_dir)
    applied, restart = 0, 0  # restart: the exit code of an installer that asked for a restart (3010, 1641)
    with store.edit() as state:
        for step in steps:
            action = step.get("action")
            try:
                if action == "install_package":
                    restart = max(restart, _install(state, step, call))
                elif action == "configure_provider":
                    _configure(state, step, call, password)
                elif action == "verify_provider":
                    _verify(state, step)
                elif action == "uninstall_package":
                    _uninstall(state, step, call)
                elif action == "remove_configuration":
                    state["vss_configurations"].pop(str(step.get("name")), None)
                else:
                    raise ScriptFailure(f"unknown step action '{action}'")
            except ScriptFailure as exc:
                store.write(state)  # what ran before the failure stays done, as on Windows
                message = str(exc).replace(password, "********") if password else str(exc)
                if restart:
                    message += (
                        f". An installer step before it asked for a restart (exit code 3010): restart "
                        f"{call.host.name.upper()} and run this again"
                    )
                raise ScriptFailure(f"step {applied + 1} ({action}): {message}") from exc
            applied += 1
            if restart == 1641:  # the host is going down: no step runs after it
                break
    return {"applied": applied, "reboot_required": bool(restart), "restart_started": restart == 1641}


def register(registry: HandlerRegistry) -> None:
    registry.add("vss_provider_read", vss_provider_read)
    registry.add("vss_provider_apply", vss_provider_apply)
