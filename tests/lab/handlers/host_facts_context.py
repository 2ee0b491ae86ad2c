"""What the host_facts sections read: the estate's model of the host, its state, its files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.estate.host_tools import MODULE_FEATURES
from lab.estate.hosts import WindowsHost
from lab.estate.model import Domain, WindowsEstate
from lab.windows.hostfs import HostFileSystem


class SectionFailure(Exception):
    """A section fails as host_facts.ps1's would: Invoke-Section writes this error object."""

    def __init__(self, message: str, category: str, exception: str) -> None:
        super().__init__(message)
        self.error = {"message": message, "category": category, "exception": exception}


@dataclass(frozen=True)
class FactsContext:
    model: WindowsEstate
    host: WindowsHost
    state: dict[str, Any]
    lab_state: Path  # the lab's state directory (hosts/, shared/)
    files: HostFileSystem
    probe_timeout: int

    @property
    def domain(self) -> Domain | None:
        return self.model.domain(self.host.domain)

    @property
    def is_cluster_node(self) -> bool:
        return self.model.cluster_of(self.host.name) is not None

    def require_module(self, name: str) -> None:
        """Assert-Module of the script: Write-Error -Category NotInstalled when the host lacks module `name`."""
        if name in self.host.missing_modules:
            feature = MODULE_FEATURES[name]
            message = (
                f"PowerShell module {name} is not installed; install it with Install-WindowsFeature -Name {feature}"
            )
            raise SectionFailure(message, "NotInstalled", "Microsoft.PowerShell.Commands.WriteErrorException")
