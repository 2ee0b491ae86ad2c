"""Lab handlers file (`lab up --handlers`): the backup.hyperv packages, staged on every emulated host.

The roles install components from packages that must already be on the host (each manifest
component's `source` folder, docs/installs.md); in production an administrator or a software
distribution tool puts them there. This provisioner does that at `lab up`: for every component of
the default manifests of the `offhost_proxy` role (the data mover `make proxy-package` builds) and of
the `managed_server` role (the installer service), it writes the files the manifest names under
`source`, executables with the component's file version, so that Molecule, the end-to-end tests and
`make demo` converge the default roles without a staging step of their own.
It also stages the storage vendor's VSS hardware provider package (a lab package, docs/lab.md) at
VSS_PROVIDER_PACKAGE, for runs that let the `offhost_proxy` role install the provider (R11).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from lab.context import HostContext
from lab.handlers import HandlerRegistry
from lab.windows.pe_version import write_executable

REPO_ROOT = Path(__file__).resolve().parents[2]
# Each role's defaults file and the variable holding its default manifest.
MANIFEST_SOURCES = {
    REPO_ROOT / "roles" / "offhost_proxy" / "defaults" / "main.yml": "offhost_proxy_manifest",
    REPO_ROOT / "roles" / "managed_server" / "defaults" / "main.yml": "managed_server_installer_manifest",
}
VSS_PROVIDER_PACKAGE = "C:\\ProgramData\\backup.hyperv\\packages\\vendor\\ContosoVssProvider-5.2.1.msi"
VSS_PROVIDER = {
    "lab_package": 1,
    "product_id": "{6A1C2E0B-7A4F-4F8B-9C1D-2B7E5A9D3C11}",
    "display_name": "Contoso VSS Hardware Provider",
    "version": "5.2.1",
    "provider": {"name": "Contoso Array VSS Hardware Provider", "type": "hardware"},
    "files": {"C:\\Program Files\\Contoso\\VSS\\contoso-vss-config.exe": "5.2.1.0"},
}


def default_components() -> list[dict[str, Any]]:
    """The components of the roles' default manifests."""
    components = []
    for path, variable in MANIFEST_SOURCES.items():
        components.extend(yaml.safe_load(path.read_text())[variable]["components"])
    return components


def stage_packages(context: HostContext) -> None:
    """Write each component's package files under its `source` folder (only what is missing)."""
    for component in default_components():
        for relative in component["files"]:
            target = context.files.local_path(f"{component['source']}\\{relative}")
            if target.exists():
                continue
            if relative.lower().endswith(".exe"):
                write_executable(target, component["version"], f"{component['name']}/{relative}".encode())
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(f"lab package file {component['name']}/{relative}".encode())


def stage_vss_provider(context: HostContext) -> None:
    """Write the vendor's provider package (what an administrator copies to each host beforehand)."""
    target = context.files.local_path(VSS_PROVIDER_PACKAGE)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(VSS_PROVIDER))


def register(registry: HandlerRegistry) -> None:
    registry.add_provisioner(stage_packages)
    registry.add_provisioner(stage_vss_provider)
