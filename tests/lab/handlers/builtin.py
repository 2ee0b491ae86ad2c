"""The handlers the lab starts with, and the handler files `lab up --handlers FILE.py` adds."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from lab.handlers import (
    HandlerRegistry,
    change_tracking,
    data_mover,
    data_mover_task,
    host_facts,
    proxy_components,
    proxy_package,
    repository_folder,
    shadow_copy,
    vm_disk_restore,
    vm_restore,
    vm_restore_apply,
    vss_provider,
    windows_feature,
)
from lab.windows import provision

# Handler modules shipped with the lab, each with its `register(registry)`.
BUILTIN_MODULES = (
    host_facts,
    vss_provider,
    proxy_components,
    proxy_package,
    windows_feature,
    repository_folder,
    shadow_copy,
    change_tracking,
    data_mover,
    data_mover_task,
    vm_restore,
    vm_restore_apply,
    vm_disk_restore,
)


def load_handler_file(registry: HandlerRegistry, path: Path) -> None:
    """Import a handler module by file path (not a module of the lab) and let it register its handlers."""
    spec = importlib.util.spec_from_file_location(f"lab_handlers_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load handlers from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.register(registry)


def default_registry(extra_files: tuple[Path, ...] = ()) -> HandlerRegistry:
    """The estate's provisioning, the built-in handlers, then those in `extra_files`."""
    registry = HandlerRegistry()
    registry.add_provisioner(provision.provision)  # the estate's state and files, before any other provisioner
    for module in BUILTIN_MODULES:
        module.register(registry)
    for path in extra_files:
        load_handler_file(registry, path)
    return registry
