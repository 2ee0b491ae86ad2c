"""Lab handlers file (`lab up --handlers`): what an administrator puts on the hosts before the roles run.

The offhost_proxy role stages the proxy package `make proxy-package` built (`offhost_proxy_package_src`) and
verifies it against its SHA256SUMS (docs/installs.md); the managed_server role expects its installer component
to be staged already. This provisioner stages, at `lab up` and only where missing:

- the `managed_server` role's installer component: the files its default manifest lists under `source`,
  copied from the package `make proxy-package` built (its installer/ folder), and that package's SHA256SUMS
  beside them, which the installer service checks the installed components against (docs/installs.md,
  "The installer service");
- the storage vendor's VSS hardware provider package (a lab package, docs/lab.md) at VSS_PROVIDER_PACKAGE,
  for runs that let the `offhost_proxy` role install the provider (R11).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path, PureWindowsPath
from typing import Any

import yaml
from lab.context import HostContext
from lab.handlers import HandlerRegistry

REPO_ROOT = Path(__file__).resolve().parents[2]
INSTALLER_DEFAULTS = REPO_ROOT / "roles" / "managed_server" / "defaults" / "main.yml"
PROXY_PACKAGES = REPO_ROOT / "build" / "proxy-package"  # `make proxy-package`: <version>/package
VSS_PROVIDER_PACKAGE = "C:\\ProgramData\\backup.hyperv\\packages\\vendor\\ContosoVssProvider-5.2.1.msi"
VSS_PROVIDER = {
    "lab_package": 1,
    "product_id": "{6A1C2E0B-7A4F-4F8B-9C1D-2B7E5A9D3C11}",
    "display_name": "Contoso VSS Hardware Provider",
    "version": "5.2.1",
    "provider": {"name": "Contoso Array VSS Hardware Provider", "type": "hardware"},
    "files": {"C:\\Program Files\\Contoso\\VSS\\contoso-vss-config.exe": "5.2.1.0"},
}


def installer_components() -> list[dict[str, Any]]:
    """The components of the managed_server role's default installer manifest."""
    return yaml.safe_load(INSTALLER_DEFAULTS.read_text())["managed_server_installer_manifest"]["components"]


def built_package(version: str) -> Path:
    package = PROXY_PACKAGES / version / "package"
    if not (package / "SHA256SUMS").is_file():
        raise FileNotFoundError(f"no proxy package {version} in {package.parent}: run make proxy-package")
    return package


def stage_file(context: HostContext, built: Path, windows_path: str) -> None:
    target = context.files.local_path(windows_path)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built, target)


def stage_installer(context: HostContext) -> None:
    """Copy the installer component's built files under its `source` folder, and the package's SHA256SUMS."""
    for component in installer_components():
        package = built_package(component["version"])
        source = PureWindowsPath(component["source"])
        stage_file(context, package / "SHA256SUMS", str(source.parent / "SHA256SUMS"))
        for relative in component["files"]:
            built = package / component["role"] / PureWindowsPath(relative).as_posix()
            stage_file(context, built, str(source / relative))


def stage_vss_provider(context: HostContext) -> None:
    """Write the vendor's provider package (what an administrator copies to each host beforehand)."""
    target = context.files.local_path(VSS_PROVIDER_PACKAGE)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(VSS_PROVIDER))


def register(registry: HandlerRegistry) -> None:
    registry.add_provisioner(stage_installer)
    registry.add_provisioner(stage_vss_provider)
