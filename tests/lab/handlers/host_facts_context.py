"""What the host_facts sections read: the estate's model of the host, its state, its files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.estate.hosts import WindowsHost
from lab.estate.model import Domain, WindowsEstate
from lab.windows.hostfs import HostFileSystem


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
