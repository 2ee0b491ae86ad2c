"""Installer packages in the lab: what `msiexec /i` or a vendor EXE would install.

The lab runs no installer. A package file on the emulated host (copied there first, e.g. with
`put_file`) is a *lab package*: a JSON document naming what the real package installs:

    {"lab_package": 1, "product_id": "{6A1C...}", "display_name": "Contoso VSS Provider",
     "version": "5.2.1", "provider": {"name": "Contoso Array VSS Hardware Provider", "type": "hardware"},
     "files": {"C:\\\\Program Files\\\\Contoso\\\\VSS\\\\contoso-vss-config.exe": "5.2.1.0"}}

Any other content is not a Windows Installer package (msiexec exit code 1620). Optional: `"exit_code"` 3010
(installed, a restart required: ERROR_SUCCESS_REBOOT_REQUIRED) or 1641 (installed, the installer started the
restart: ERROR_SUCCESS_REBOOT_INITIATED), and `"provider_after_restart": true` (the provider registers only once
the host restarted, which the lab does not do: Win32_ShadowProvider does not list it yet).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lab.estate.hosts import PROVIDER_TYPES, provider_id


class PackageError(Exception):
    """The installer's exit code for a package it cannot use."""

    def __init__(self, exit_code: int) -> None:
        super().__init__(exit_code)
        self.exit_code = exit_code


def read_package(path: Path) -> dict[str, Any]:
    """The package's description; PackageError(1619) when missing, (1620) when not a lab package."""
    if not path.is_file():
        raise PackageError(1619)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise PackageError(1620) from exc
    required = {"lab_package", "product_id", "display_name", "version"}
    if not isinstance(document, dict) or not required <= set(document):
        raise PackageError(1620)
    return document


def product_entry(package: dict[str, Any], package_path: str, is_msi: bool) -> dict[str, Any]:
    """The Uninstall key the package writes (WindowsInstaller 1 for an MSI)."""
    product_id = package["product_id"]
    uninstall = f"MsiExec.exe /X{product_id}" if is_msi else f'"{package_path}" /uninstall'
    return {
        "DisplayName": package["display_name"],
        "DisplayVersion": str(package["version"]),
        "UninstallString": uninstall,
        "QuietUninstallString": None if is_msi else f"{uninstall} /quiet",
        "WindowsInstaller": 1 if is_msi else 0,
        "Provider": (package.get("provider") or {}).get("name"),
        "Files": sorted(package.get("files") or {}),
    }


def provider_entry(package: dict[str, Any]) -> dict[str, Any] | None:
    """The Win32_ShadowProvider registration the package makes, if it carries a provider."""
    provider = package.get("provider")
    if not provider:
        return None
    return {
        "ID": provider.get("id", provider_id(provider["name"])),
        "Name": provider["name"],
        "Type": PROVIDER_TYPES[provider.get("type", "hardware")],
        "Version": str(package["version"]),
    }
