"""Windows services as the lab keeps them: Win32_Service's view plus registry values and recovery.

A service entry holds the properties `Win32_Service` reports (Name, DisplayName, Description,
PathName, StartMode, DelayedAutoStart, StartName, State), `DependOnService` and `Parameters` from
its registry key, and `Recovery` (what `sc.exe failure` set). Starting a service fails like
Windows when it is disabled or its executable is missing.
"""

from __future__ import annotations

import re
from typing import Any

from lab.windows.hostfs import HostFileSystem, HostPathError

# The accounts a service may run as, by the names CreateService/ChangeServiceConfig take
# ("CreateServiceW function (winsvc.h)", lpServiceStartName,
# https://learn.microsoft.com/en-us/windows/win32/api/winsvc/nf-winsvc-createservicew): LocalSystem
# (also NT AUTHORITY\SYSTEM, or no name), NT AUTHORITY\LocalService, NT AUTHORITY\NetworkService, or a
# user as DomainName\UserName (.\UserName for a local one); names compare without regard to case. The
# built-in ones are kept in the spelling Win32_Service.StartName reports.
_BUILT_IN_ACCOUNTS = {
    "localsystem": "LocalSystem",
    ".\\localsystem": "LocalSystem",
    "nt authority\\system": "LocalSystem",
    "nt authority\\localservice": "NT AUTHORITY\\LocalService",
    "nt authority\\networkservice": "NT AUTHORITY\\NetworkService",
}
# Characters a user or domain name cannot hold ("User name", Active Directory naming conventions,
# https://learn.microsoft.com/en-us/troubleshoot/windows-server/active-directory/naming-conventions-for-computer-domain-site-ou).
_USER_ACCOUNT = re.compile(r'^([^\\/"\[\]:;|=,+*?<>@\s][^\\/"\[\]:;|=,+*?<>]*)\\([^\\/"\[\]:;|=,+*?<>]+)$')
START_MODES = {"auto": "Auto", "delayed_auto": "Auto", "manual": "Manual", "disabled": "Disabled"}
_ENVIRONMENT = {"systemroot": "C:\\Windows", "windir": "C:\\Windows", "programfiles": "C:\\Program Files"}


# Services every Windows Server has, which the lab does not list but a service may depend on: the RPC endpoint
# mapper, TCP/IP, the SMB server and client, the event log, WMI and WinRM. Others (vmms, ClusSvc) are listed once
# their feature is installed (lab/windows/features.py).
WINDOWS_SERVICES = frozenset(
    {"rpcss", "rpceptmapper", "tcpip", "afd", "lanmanserver", "lanmanworkstation", "eventlog", "winmgmt", "winrm"}
)


class ServiceError(Exception):
    """What Start-Service/Stop-Service/sc.exe would report."""


def service_account(name: str) -> str:
    """The StartName Windows records for `name`, or the refusal Win32_Service.Change returns (22).

    A bare user name, an `NT AUTHORITY` name other than the two service accounts, or a name with a
    character no account holds is refused: "Change method of the Win32_Service class", return value
    22 (The account under which this service runs is either invalid or lacks the permissions),
    https://learn.microsoft.com/en-us/windows/win32/cimwin32prov/change-method-in-class-win32-service.
    """
    text = name.strip()
    built_in = _BUILT_IN_ACCOUNTS.get(text.casefold())
    if built_in is not None:
        return built_in
    if _USER_ACCOUNT.match(text) and not text.casefold().startswith("nt authority\\"):
        return text
    raise ServiceError(f"Win32_Service.Change returned 22 (Status Invalid Service Account) for account {name!r}")


def new_service(
    name: str, display_name: str, binary_path: str, start_mode: str, state: str = "Stopped"
) -> dict[str, Any]:
    return {
        "Name": name,
        "DisplayName": display_name,
        "Description": None,
        "PathName": binary_path,
        "StartMode": start_mode,
        "DelayedAutoStart": False,
        "StartName": "LocalSystem",
        "State": state,
        "DependOnService": [],
        "Parameters": {},
        "Recovery": None,
    }


def _expand(text: str) -> str:
    return re.sub(r"%([^%]+)%", lambda m: _ENVIRONMENT.get(m.group(1).lower(), m.group(0)), text)


def service_executable(path_name: str | None) -> str | None:
    """The executable of a service command line: a quoted path, or an unquoted one up to `.exe`."""
    if not path_name:
        return None
    quoted = re.match(r'^\s*"([^"]+)"', path_name)
    if quoted:
        return _expand(quoted.group(1))
    unquoted = re.match(r"^\s*(.+?\.exe)\b", path_name, re.IGNORECASE)
    return _expand(unquoted.group(1) if unquoted else path_name.strip())


def start(services: dict[str, Any], name: str, files: HostFileSystem) -> None:
    service = services.get(name.lower())
    if service is None:
        raise ServiceError(f"Cannot find any service with service name '{name}'.")
    if service["State"] == "Running":
        return
    label = f"Service '{service['DisplayName']} ({service['Name']})'"
    if service["StartMode"] == "Disabled":
        raise ServiceError(
            f"{label} cannot be started due to the following error: Cannot start service {name} on computer '.'."
        )
    for dependency in service["DependOnService"]:
        if dependency.lower() in WINDOWS_SERVICES:
            continue
        if dependency.lower() not in services:  # ERROR_SERVICE_DEPENDENCY_DELETED (1075)
            raise ServiceError(
                f"{label} cannot be started due to the following error: The dependency service does not exist or "
                "has been marked for deletion."
            )
        start(services, dependency, files)
    executable = service_executable(service["PathName"])
    try:
        present = bool(executable) and files.local_path(executable).is_file()
    except HostPathError:
        present = False
    if not present:
        raise ServiceError(
            f"{label} cannot be started due to the following error: Cannot start service {name} on computer '.'."
        )
    service["State"] = "Running"


def dependents(services: dict[str, Any], name: str) -> list[str]:
    return [s["Name"] for s in services.values() if name.lower() in (d.lower() for d in s["DependOnService"])]


def stop(services: dict[str, Any], name: str) -> list[str]:
    """Stop-Service -Force: stops running dependents first; returns the names of those it stopped."""
    service = services.get(name.lower())
    if service is None:
        raise ServiceError(f"Cannot find any service with service name '{name}'.")
    stopped = []
    for dependent in dependents(services, name):
        if services[dependent.lower()]["State"] == "Running":
            stopped += [*stop(services, dependent), dependent]
    service["State"] = "Stopped"
    return stopped


def recovery_of(service: dict[str, Any]) -> dict[str, Any]:
    """The service's recovery actions (SERVICE_FAILURE_ACTIONS as numbers turned into words); none when never set."""
    return {"reset_period": 0, "actions": [], "non_crash_failures": False, **(service.get("Recovery") or {})}


def qfailure_text(service: dict[str, Any]) -> str:
    """What `sc.exe qfailure <name>` prints in English, as PowerShell joins its lines with CRLF."""
    recovery = recovery_of(service)
    lines = [
        "[SC] QueryServiceConfig2 SUCCESS",
        "",
        f"SERVICE_NAME: {service['Name']}",
        f"        RESET_PERIOD (in seconds)    : {recovery['reset_period']}",
        "        REBOOT_MESSAGE               : ",
        "        COMMAND_LINE                 : ",
    ]
    words = {"restart": "RESTART", "reboot": "REBOOT", "run": "RUN PROCESS"}
    for index, action in enumerate(recovery["actions"]):
        label = "        FAILURE_ACTIONS              : " if index == 0 else " " * 39
        lines.append(f"{label}{words[action['type']]} -- Delay = {action['delay_ms']} milliseconds.")
    return "\r\n".join([*lines, ""])
