"""`lab move`: a live migration of a VM to another node of its failover cluster.

A live migration moves a running VM to another node without moving its files, which are on storage both nodes
reach (a CSV, an SMB3 share): "Live Migration Overview",
https://learn.microsoft.com/windows-server/virtualization/hyper-v/manage/live-migration-overview. What travels with
it is the VM itself: its configuration, its checkpoints and reference points (`Msvm_VirtualSystemReferencePoint`
belongs to the VM), and the resilient change tracking of its disks, which Hyper-V keeps in files beside each VHDX
(`.rct`, `.mrt`), so an RCT id a backup recorded on the old node is still known on the new one. The VM's records in
the lab (`change_tracking`: its checkpoint and reference points, its disks' tracking; `hyperv_vms`: Get-VM's entry)
move to the new node's state document, and `lab.windows.placement` says where it runs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lab.estate.model import WindowsEstate
from lab.estate.vms import Vm
from lab.windows import hyperv, rct
from lab.windows.hostfs import HostPathError
from lab.windows.hoststate import HostState
from lab.windows.placement import MOVED_IN, MOVED_OUT, host_vms
from lab.windows.storage import local_path
from lab.windows.vm_layout import configuration_files, disk_chain


class MoveError(RuntimeError):
    """Windows would refuse this live migration (or the lab does not model it); nothing was moved."""


def _state(lab_state: Path, host: str) -> HostState:
    return HostState(lab_state / "hosts" / host / "state")


def move_vm(model: WindowsEstate, lab_state: Path, host: str, vm_name: str, to: str) -> dict[str, Any]:
    """Live-migrate `vm_name` from `host` to `to`, a node of the same cluster; raises MoveError and moves nothing
    when Windows would refuse (another cluster, a file only the old node reaches). A recovery checkpoint the VM
    holds goes with it, as its other checkpoints do: a migration during a backup."""
    _check_nodes(model, host, to)
    first, second = sorted((host, to))
    with _state(lab_state, first).edit() as one, _state(lab_state, second).edit() as other:
        source, target = (one, other) if first == host else (other, one)
        vm = next((v for v in host_vms(model, source, host) if v.name.lower() == vm_name.lower()), None)
        if vm is None:
            raise MoveError(f"{host} runs no VM named {vm_name!r}")
        _check_shared_files(model, lab_state, vm, host, to)
        _hand_over(model, source, target, vm, host, to)
    return {"vm": vm.name, "id": vm.id.lower(), "from": host, "to": to}


def _check_nodes(model: WindowsEstate, host: str, to: str) -> None:
    names = [h.name for h in model.hosts]
    for name in (host, to):
        if name not in names:
            raise MoveError(f"no host {name!r} in the estate (hosts: {', '.join(names)})")
    cluster = model.cluster_of(host)
    if host == to or cluster is None or to not in cluster.nodes:
        raise MoveError(
            f"{host} and {to} are not two nodes of one failover cluster: the lab moves a VM only as a live migration "
            "within a cluster, whose nodes reach the same storage"
        )


def _check_shared_files(model: WindowsEstate, lab_state: Path, vm: Vm, host: str, to: str) -> None:
    """Every file of the VM must be the same file from both nodes (a CSV or an SMB3 share), not a disk of `host`."""
    paths = [path for disk in vm.disks for path in disk_chain(vm, disk)] + [f.path for f in configuration_files(vm)]
    for path in paths:
        try:
            same = os.path.realpath(local_path(model, lab_state, host, path)) == os.path.realpath(
                local_path(model, lab_state, to, path)
            )
        except HostPathError:
            same = False
        if not same:
            raise MoveError(
                f"{vm.name}'s file {path} is on storage of {host} that {to} does not reach: a live migration moves no "
                "files (Move-VMStorage or a shared-nothing migration does, which the lab does not model)"
            )


def _hand_over(model: WindowsEstate, source: dict, target: dict, vm: Vm, host: str, to: str) -> None:
    """The VM's lab records from `source`'s document to `target`'s, and where it runs now."""
    vm_id = vm.id.lower()
    home = next(h.name for h in model.hosts if any(v.id.lower() == vm_id for v in h.vms))
    source.setdefault(MOVED_IN, {}).pop(vm_id, None)
    if home == host:
        source[MOVED_OUT] = sorted({*(source.get(MOVED_OUT) or ()), vm_id})
    if home == to:
        target[MOVED_OUT] = [gone for gone in target.get(MOVED_OUT) or () if gone != vm_id]
    else:
        target.setdefault(MOVED_IN, {})[vm_id] = home
    old, new = rct.tracking(source), rct.tracking(target)
    if vm_id in old["vms"]:
        new["vms"][vm_id] = old["vms"].pop(vm_id)
    for disk in vm.disks:
        if disk.path.lower() in old["disks"]:
            new["disks"][disk.path.lower()] = old["disks"].pop(disk.path.lower())
    if vm_id in source.get(hyperv.KEY, {}):  # Get-VM's entry, as the VM is now (its state, a restored drive)
        entry = source[hyperv.KEY].pop(vm_id)
        hyperv.registered(target, model, to)[vm_id] = entry  # the new node's list made first if it has none yet
