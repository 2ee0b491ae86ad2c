"""Script handlers: what the lab answers for each of the collection's PowerShell scripts.

A handler is a function `(ScriptCall) -> reply` registered under a script name (the file
`plugins/plugin_utils/scripts/<name>.ps1`). Its reply is what the script's JSON document
would hold on Windows; raising `ScriptFailure` is the script failing (`{"failed": true,
"msg": ...}`, exit code 1). A module of handlers defines `register(registry)`; built-in modules
are listed in `builtin.BUILTIN_MODULES`, and `lab up --handlers FILE.py` loads more (tests use it).
This package holds the handler API (here) and the handlers; the Windows parts they act on are in
`lab.windows`, the estate's model in `lab.estate`.

Ansible PowerShell modules (the few `ansible.windows` ones the roles use) are registered
the same way with `add_module(name, handler, source)`: `name` as Ansible resolves it
(`ansible.windows.win_service`), `source` the module's `.ps1` file, which the module text
Ansible sends must equal. The handler gets a `ModuleCall` and returns the module's result.

    def register(registry: HandlerRegistry) -> None:
        registry.add("host_facts", lambda call: {"name": call.host.name, **call.host.facts})
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.estate.loader import Estate, Host
from lab.windows.hostfs import HostFileSystem

# Handler modules shipped with the lab.
BUILTIN_MODULES: tuple[str, ...] = (
    "lab.windows.provision",
    "lab.handlers.host_facts",
    "lab.handlers.vss_provider",
    "lab.handlers.proxy_components",
    "lab.handlers.proxy_package",
    "lab.handlers.windows_feature",
    "lab.handlers.repository_folder",
    "lab.handlers.shadow_copy",
    "lab.handlers.change_tracking",
    "lab.handlers.data_mover",
    "lab.handlers.data_mover_task",
    "lab.handlers.vm_restore",
    "lab.handlers.vm_restore_apply",
    "lab.handlers.vm_disk_restore",
)


class ScriptFailure(Exception):
    """The emulated script fails with this message (as `throw` would on Windows)."""


@dataclass(frozen=True)
class ScriptCall:
    """One request to run a collection script on an emulated host."""

    host: Host
    estate: Estate
    name: str
    params: Mapping[str, Any]
    state_dir: Path  # per-host state that survives between calls
    files: HostFileSystem


@dataclass(frozen=True)
class ModuleCall:
    """One run of an Ansible PowerShell module on an emulated host."""

    host: Host
    estate: Estate
    name: str
    args: Mapping[str, Any]  # the module's complex_args, `_ansible_*` keys included
    state_dir: Path
    files: HostFileSystem

    @property
    def check_mode(self) -> bool:
        return bool(self.args.get("_ansible_check_mode"))


Handler = Callable[[ScriptCall], Any]
Provisioner = Callable[[Any], None]  # (lab.context.HostContext) -> None, run by `lab up` per host
ModuleHandler = Callable[[ModuleCall], Mapping[str, Any]]


@dataclass(frozen=True)
class ModuleEntry:
    handler: ModuleHandler
    source: Path


class HandlerRegistry:
    """Script name -> handler; module name -> handler and source."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self._modules: dict[str, ModuleEntry] = {}
        self._provisioners: list[Provisioner] = []

    def add_provisioner(self, provisioner: Provisioner) -> None:
        """Run `provisioner(host_context)` for every host when the lab starts (after its directories exist)."""
        self._provisioners.append(provisioner)

    def provisioners(self) -> tuple[Provisioner, ...]:
        return tuple(self._provisioners)

    def add_module(self, name: str, handler: ModuleHandler, source: Path) -> None:
        if name in self._modules:
            raise ValueError(f"a handler for module {name!r} is already registered")
        self._modules[name] = ModuleEntry(handler, source)

    def module(self, name: str) -> ModuleEntry | None:
        return self._modules.get(name)

    def add(self, name: str, handler: Handler) -> None:
        if name in self._handlers:
            raise ValueError(f"a handler for script {name!r} is already registered")
        self._handlers[name] = handler

    def get(self, name: str) -> Handler | None:
        return self._handlers.get(name)

    def names(self) -> list[str]:
        return sorted(self._handlers)
