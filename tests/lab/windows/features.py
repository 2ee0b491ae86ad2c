"""Windows features the lab knows: install state, the binaries and services each one brings.

`InstallState` follows Get-WindowsFeature: `Installed`, `Available`, `InstallPending` (installed
but waiting for a restart: `Installed` is false), `UninstallPending`. Hyper-V needs a restart
either way (the lab never restarts, a documented limit); the others take effect at once. An
installed feature has its binary (version `10.0.<build>.<UBR>`, what the probe reads) and its
service (`vmms`; `ClusSvc`, disabled on a machine that is not a cluster node).
"""

from __future__ import annotations

from typing import Any

from lab.windows.hostfs import HostFileSystem
from lab.windows.pe_version import write_executable
from lab.windows.services import new_service

DISPLAY_NAMES = {
    "Hyper-V": "Hyper-V",
    "Failover-Clustering": "Failover Clustering",
    "FS-Data-Deduplication": "Data Deduplication",
    "RSAT-Hyper-V-Tools": "Hyper-V Management Tools",
    "RSAT-Clustering": "Failover Clustering Tools",
}
BINARIES = {
    "Hyper-V": "C:\\Windows\\System32\\vmms.exe",
    "Failover-Clustering": "C:\\Windows\\Cluster\\clussvc.exe",
    "FS-Data-Deduplication": "C:\\Windows\\System32\\ddpsvc.dll",
}
SERVICES = {
    "Hyper-V": ("vmms", "Hyper-V Virtual Machine Management", BINARIES["Hyper-V"]),
    "Failover-Clustering": ("ClusSvc", "Cluster Service", BINARIES["Failover-Clustering"]),
}
NEEDS_RESTART = {"Hyper-V"}


def install_state(state: dict[str, Any], name: str) -> str:
    return state["features"].get(name, "Available")


def is_installed(state: dict[str, Any], name: str) -> bool:
    return install_state(state, name) in ("Installed", "UninstallPending")


def install(state: dict[str, Any], name: str, cluster_node: bool, pending: bool = False) -> None:
    """Record `name` installed (or waiting for a restart) and create its service once it is."""
    state["features"][name] = "InstallPending" if pending else "Installed"
    if pending or name not in SERVICES:
        return
    service, display_name, binary = SERVICES[name]
    disabled = name == "Failover-Clustering" and not cluster_node
    state["services"][service.lower()] = new_service(
        service, display_name, binary, "Disabled" if disabled else "Auto", state="Stopped" if disabled else "Running"
    )


def uninstall(state: dict[str, Any], name: str, pending: bool = False) -> None:
    state["features"][name] = "UninstallPending" if pending else "Available"
    if not pending and name in SERVICES:
        state["services"].pop(SERVICES[name][0].lower(), None)


def write_binaries(state: dict[str, Any], files: HostFileSystem, build: int, ubr: int | None) -> None:
    """The binaries of installed features, at the OS build's version (what Get-FileVersion reads)."""
    for feature, windows_path in BINARIES.items():
        path = files.local_path(windows_path)
        if is_installed(state, feature) and not path.exists():
            write_executable(path, f"10.0.{build}.{ubr or 0}")
        elif not is_installed(state, feature) and path.exists():
            path.unlink()
