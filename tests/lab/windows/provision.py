"""`lab up`: give each emulated host what its estate entry says it has, on disk.

Runs once per host when the lab starts (the first provisioner of `lab.handlers.builtin`): the state document
(features, services, VSS providers, dedup volumes) unless the host already has one, the
binaries whose versions the probe reads, the CSV links, the shares' folders, and the VMs' disk
files: real VHD/VHDX files made with `qemu-img` (or a link to a file the estate names), and the
differencing layers of disks with a parent or checkpoints, made with the collection's VHDX writer
(`lab.windows.vm_layout` says where each file goes).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from lab.context import HostContext
from lab.estate.hosts import WindowsHost
from lab.estate.model import WindowsEstate
from lab.estate.vms import Vm, VmDisk
from lab.windows import features as feature_state
from lab.windows.hoststate import HostState, empty_state
from lab.windows.hyperv import estate_configuration
from lab.windows.pe_version import write_executable
from lab.windows.services import new_service, service_executable
from lab.windows.storage import link_csvs, local_path
from lab.windows.vm_layout import configuration_files, disk_chain

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.disk.vhdx.writer import VhdxWriter

SYSTEM_PROVIDER = {
    "ID": "{b5946137-7b9f-4925-af80-51abd60b20d5}",
    "Name": "Microsoft Software Shadow Copy provider 1.0",
    "Type": 1,
    "Version": "1.0.0.7",
}
# A VHD Set file (.vhds) is a small VHDX-format file; the lab makes it like a VHDX.
QEMU_FORMATS = {".vhdx": "vhdx", ".avhdx": "vhdx", ".vhds": "vhdx", ".vhd": "vpc", ".avhd": "vpc"}


def initial_features(model: WindowsEstate, host: WindowsHost) -> list[str]:
    """The estate's list, or: Hyper-V on Hyper-V hosts and proxies, clustering on nodes, dedup where used."""
    if host.features is not None:
        return list(host.features)
    cluster = model.cluster_of(host.name)
    features = ["Hyper-V"] if host.role in ("hyperv", "proxy") else []
    if cluster:
        features.append("Failover-Clustering")
    if host.dedup_volumes or (cluster and any(csv.dedup for csv in cluster.csvs)):
        features.append("FS-Data-Deduplication")
    return features


def _dedup_volumes(model: WindowsEstate, host: WindowsHost) -> list[dict[str, Any]]:
    cluster = model.cluster_of(host.name)
    volumes = (
        [{"volume": csv.path, "enabled": True, "usage_type": "HyperV"} for csv in cluster.csvs if csv.dedup]
        if cluster
        else []
    )
    return [*volumes, *(dict(volume) for volume in host.dedup_volumes)]


def seed_state(model: WindowsEstate, host: WindowsHost) -> dict[str, Any]:
    state = empty_state()
    state["providers"] = [
        dict(SYSTEM_PROVIDER),
        *({"ID": p.id, "Name": p.name, "Type": p.type, "Version": p.version} for p in host.vss_providers),
    ]
    state["dedup_volumes"] = _dedup_volumes(model, host)
    for seed in host.services:
        state["services"][seed.name.lower()] = new_service(
            seed.name, seed.display_name, seed.binary_path, seed.start_mode, state=seed.state
        )
    is_node = model.cluster_of(host.name) is not None
    for feature in initial_features(model, host):
        feature_state.install(state, feature, is_node)
    return state


def _make_disk(disk: VmDisk, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() or target.is_symlink():
        return
    if disk.file:
        target.symlink_to(Path(disk.file).resolve())
        return
    qemu_format = QEMU_FORMATS.get(target.suffix.lower())
    if qemu_format is None:  # not a virtual disk format: an empty file (Get-VHD cannot read it)
        target.write_bytes(b"")
        return
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", qemu_format, str(target), str(disk.size)],
        check=True,
        capture_output=True,
        timeout=60,
    )


def _make_chain(model: WindowsEstate, lab_state: Path, host: WindowsHost, vm: Vm, disk: VmDisk) -> None:
    """The disk (or its estate parent) as a base file, then each differencing layer on top, oldest first.

    A layer's parent locator holds the relative path (the same on the host and in a shadow copy of its volume)
    and the parent's Windows path, as Hyper-V writes them (MS-VHDX 2.6.2.6).
    """
    chain = disk_chain(vm, disk)
    base = local_path(model, lab_state, host.name, chain[-1])
    _make_disk(disk, base)
    for child, parent in reversed(list(zip(chain, chain[1:]))):
        target = local_path(model, lab_state, host.name, child)
        if target.exists():
            continue
        make_layer(target, local_path(model, lab_state, host.name, parent), parent, disk.size)


def make_layer(target: Path, parent_file: Path, parent: str, size: int) -> None:
    """An empty differencing VHDX on `parent` (its Windows path in the locator): every block from the parent."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with VhdxWriter(str(target), size, block_size=1 << 20, parent=str(parent_file), parent_windows_path=parent):
        pass  # nothing written since the checkpoint


def _make_configuration(model: WindowsEstate, lab_state: Path, host: WindowsHost, vm: Vm) -> None:
    """The VM's files; its own configuration file (named by its ID) is the lab's document (lab.windows.vm_config)."""
    own = {f"{vm.id.upper()}.{extension}" for extension in ("vmcx", "xml")}
    for file in configuration_files(vm):
        target = local_path(model, lab_state, host.name, file.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            continue
        if file.path.rsplit("\\", 1)[-1] in own:
            target.write_bytes(estate_configuration(vm, host).encode())
        else:
            target.write_bytes(f"lab {file.path.rsplit('.', 1)[-1]} of {vm.name}".encode())


def provision(context: HostContext) -> None:
    """Bring the host's state and files to what the estate says (only what is missing)."""
    model: WindowsEstate | None = context.config.estate.model
    if model is None:
        return
    host = model.host(context.host.name)
    lab_state = context.config.state_dir
    store = HostState(context.state_dir)
    if not store.exists():
        store.write(seed_state(model, host))
    state = store.read()
    files = context.files
    feature_state.write_binaries(state, files, host.os.build, host.os.ubr)
    for seed in host.services:
        executable = service_executable(seed.binary_path)
        if seed.version and executable and not files.local_path(executable).exists():
            write_executable(files.local_path(executable), seed.version)
    link_csvs(model, lab_state, host.name)
    for share in host.shares:
        files.local_path(share.path).mkdir(parents=True, exist_ok=True)
    for vm in host.vms:
        for disk in vm.disks:
            _make_chain(model, lab_state, host, vm, disk)
        _make_configuration(model, lab_state, host, vm)
