"""What the lab knows while it answers: its configuration, and per host, where that host lives.

The words: the *state directory* holds everything a running lab writes (pid file, status,
inventory, request log, and `hosts/<name>/` with each host's file system `fs/` and handler
state `state/`); *script directories* hold the `.ps1` files the lab recognises.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lab.checkout import REPO_ROOT
from lab.estate.loader import Estate, Host
from lab.handlers import HandlerRegistry
from lab.windows.hostfs import HostFileSystem

PWSH_SOURCE = REPO_ROOT / "plugins" / "plugin_utils" / "_pwsh.py"
SCRIPTS_DIR = REPO_ROOT / "plugins" / "plugin_utils" / "scripts"


@dataclass(frozen=True)
class LabConfig:
    estate: Estate
    state_dir: Path
    script_dirs: tuple[Path, ...] = (SCRIPTS_DIR,)
    pwsh_source: Path = PWSH_SOURCE
    port: int = 5985  # 0: an ephemeral port per host (tests)
    estate_path: Path | None = None  # recorded in lab.json for the control commands (`lab write`, `lab stats`)


@dataclass(frozen=True)
class HostContext:
    """One emulated host as the request handlers see it."""

    config: LabConfig
    host: Host
    registry: HandlerRegistry

    @property
    def host_dir(self) -> Path:
        return self.config.state_dir / "hosts" / self.host.name

    @property
    def state_dir(self) -> Path:
        return self.host_dir / "state"

    @property
    def files(self) -> HostFileSystem:
        return HostFileSystem(self.host_dir / "fs")

    def prepare(self) -> None:
        """Create the host's directories (idempotent)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.files.create_skeleton(self.host.username)
        for provision in self.registry.provisioners():  # the estate's files and state (lab.windows.provision)
            provision(self)
