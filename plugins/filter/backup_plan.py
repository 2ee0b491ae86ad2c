# Copyright: backup.hyperv developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plan a backup job: which VMs share a snapshot (volume groups) and which proxy backs up each group.

Words: a VM's *volumes* are those its disks live on (a cluster shared volume, an SMB3 share, a drive). VMs of
one source host whose volumes overlap are one *component*: a shadow copy set taken for any of them has to
cover all their volumes anyway. A component is cut into *groups* of at most ``max_vms_per_snapshot`` VMs; a
group is backed up from one shadow copy set, created, imported and released once. Groups, not VMs, are
spread over the healthy proxies that serve their host (``assign_proxies``: bytes per task slot). Each proxy
then takes its groups host by host in turn, and the proxies start on different hosts (``_staggered``): a host
creates one shadow copy set at a time (VSS, docs/backup.md "Two proxies, one host"), so proxies that all begin
with the same host's groups queue behind each other there while the other hosts wait.

Everything is one pass over the VMs (dictionaries and a union-find), so planning stays linear in the
number of VMs; the playbook calls this once instead of looping over VMs in Jinja.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Optional

from ansible.errors import AnsibleFilterError

from ansible_collections.backup.hyperv.plugins.filter.assign_proxies import assign_proxies
from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.vhd_set_rule import is_vhd_set_file
from ansible_collections.backup.hyperv.plugins.plugin_utils.passthrough_rule import is_passthrough, passthrough_reason

DEFAULT_MAX_VMS_PER_SNAPSHOT = 16  # backup_max_vms_per_snapshot when unset; docs/backup.md says why
_LONG_PREFIX = "\\\\?\\"
_LONG_UNC = "\\\\?\\UNC\\"
_CSV = re.compile(r"^([a-z]:\\clusterstorage\\[^\\]+)", re.IGNORECASE)
_UNC = re.compile(r"^(\\\\[^\\]+\\[^\\]+)")
_DRIVE = re.compile(r"^([a-z]:)", re.IGNORECASE)


def volume_of(path: str) -> str:
    """The volume a Windows path lives on, lower case: a CSV folder, a share root, or a drive."""
    text = str(path).replace("/", "\\")
    if text[: len(_LONG_UNC)].upper() == _LONG_UNC:  # \\?\UNC\server\share\...: the share \\server\share
        text = "\\\\" + text[len(_LONG_UNC) :]
    elif text.startswith(_LONG_PREFIX):
        text = text[len(_LONG_PREFIX) :]
    for pattern in (_CSV, _UNC, _DRIVE):
        match = pattern.match(text)
        if match:
            return match.group(1).lower()
    return text.lower()


def is_vhd_set(vm: Mapping[str, Any]) -> bool:
    """R15: a VM with a VHD Set disk cannot be backed up off-host (the rule is checks/vhd_set.py's)."""
    return any(is_vhd_set_file(disk.get("format"), disk.get("path", "")) for disk in vm.get("disks") or [])


class _Components:
    """Union-find of VMs joined by the volumes they share."""

    def __init__(self) -> None:
        self._parent: dict[str, str] = {}

    def find(self, key: str) -> str:
        root = self._parent.setdefault(key, key)
        while root != self._parent[root]:
            self._parent[root] = self._parent[self._parent[root]]  # path halving keeps it near O(1)
            root = self._parent[root]
        return root

    def join(self, keys: Sequence[str]) -> None:
        first = self.find(keys[0])
        for key in keys[1:]:
            self._parent[self.find(key)] = first


def _key(vm: Mapping[str, Any]) -> str:
    return f"{vm['host']}/{vm['name']}"


def _vm_volumes(vm: Mapping[str, Any]) -> list[str]:
    return sorted(
        {
            volume_of(disk["path"])
            for disk in vm.get("disks") or []
            if disk.get("path") and not is_passthrough(disk["path"])
        }
    )


def _mixed_storage(vm: Mapping[str, Any]) -> Optional[str]:
    """Why the VM's files cannot be in one shadow copy set (an SMB3 share's set and a volume's set are of two
    kinds: docs/backup.md, "VMs on SMB3 shares"), or None."""
    volumes = _vm_volumes(vm)
    shares = [volume for volume in volumes if volume.startswith("\\\\")]
    if not shares or len(shares) == len(volumes):
        return None
    return (
        f"its disks are on an SMB3 share ({', '.join(shares)}) and on a local or cluster shared volume "
        f"({', '.join(v for v in volumes if v not in shares)}), which one shadow copy set cannot hold both of: "
        "move its disks to one kind of storage (Move-VMStorage)"
    )


def _same_names(vms: Sequence[Mapping[str, Any]]) -> dict[int, str]:
    """VMs of one name (Hyper-V names are case-blind) on several hosts, or on one (Hyper-V allows it), each with why
    it is left out: the repository keeps a VM's restore points by its name, so their histories would mix."""
    hosts: dict[str, list[Mapping[str, Any]]] = {}
    for vm in vms:
        hosts.setdefault(str(vm["name"]).casefold(), []).append(vm)
    reasons = {}
    for alike in (group for group in hosts.values() if len(group) > 1):
        named = ", ".join(_key(vm) for vm in alike)
        where = (
            "on several hosts"
            if len({str(vm["host"]) for vm in alike}) > 1
            else "on one host (Hyper-V tells them apart by ID only)"
        )
        reason = (
            f"VMs of one name are {where} ({named}) and the repository keeps a VM's restore points by its "
            "name: rename all but one (Rename-VM), or back them up into repositories of their own"
        )
        reasons.update({id(vm): reason for vm in alike})
    return reasons


def _passthrough(vm: Mapping[str, Any]) -> Optional[str]:
    """Why the VM cannot be backed up at the host level when it has pass-through disks, or None."""
    paths = [str(disk["path"]) for disk in vm.get("disks") or [] if is_passthrough(disk.get("path"))]
    return passthrough_reason(paths) if paths else None


def _refusals(vms: Sequence[Mapping[str, Any]]) -> dict[int, str]:
    """The VMs no group can hold, each with why (by ``id`` of the VM's mapping)."""
    reasons = _same_names(vms)
    for vm in vms:
        why = _passthrough(vm) or _mixed_storage(vm)
        if why and id(vm) not in reasons:
            reasons[id(vm)] = why
    return reasons


def _components(vms: Sequence[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    """VMs of one host sharing a volume end up in one component, in the order they were given."""
    union = _Components()
    for vm in vms:
        union.join([_key(vm)] + [f"{vm['host']}|{volume}" for volume in _vm_volumes(vm)])
    members: dict[str, list[Mapping[str, Any]]] = {}
    for vm in vms:
        members.setdefault(union.find(_key(vm)), []).append(vm)
    return list(members.values())


def _groups(vms: Sequence[Mapping[str, Any]], max_vms: int, sizes: Mapping[str, int]) -> list[dict[str, Any]]:
    groups = []
    for component in _components(vms):
        for start in range(0, len(component), max_vms):
            members = component[start : start + max_vms]
            host = str(members[0]["host"])
            groups.append(
                {
                    "id": f"{host}#{len(groups) + 1}",
                    "host": host,
                    "vms": [str(vm["name"]) for vm in members],
                    "volumes": sorted({volume for vm in members for volume in _vm_volumes(vm)}),
                    "size": sum(int(sizes.get(str(vm["name"]), 1)) for vm in members),
                }
            )
    return groups


def _staggered(groups: Sequence[Mapping[str, Any]], turn: int) -> list[Mapping[str, Any]]:
    """``groups`` (one proxy's, in the order assigned) taken host by host in turn, starting ``turn`` hosts along
    the sorted host names; each host's groups keep their order."""
    by_host: dict[str, deque] = {}
    for group in groups:
        by_host.setdefault(str(group["host"]), deque()).append(group)
    hosts = sorted(by_host)
    start = turn % len(hosts) if hosts else 0
    order = hosts[start:] + hosts[:start]
    taken: list[Mapping[str, Any]] = []
    while len(taken) < len(groups):
        taken += [by_host[host].popleft() for host in order if by_host[host]]
    return taken


def _proxies_of_hosts(proxies: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    serving: dict[str, list[str]] = {}
    for proxy in proxies:
        if proxy.get("healthy", True):
            for host in proxy.get("serves") or []:
                serving.setdefault(str(host), []).append(str(proxy["name"]))
    return serving


def backup_vm_names(value: Any) -> Optional[list[str]]:
    """``backup_vms`` as a list of names, or None (unset: every VM). A list as given; text, as ``-e backup_vms=web01``
    and an AWX text survey give it, is one name or several separated by commas, and ``[]`` or ``[a, b]`` a list
    written as text (a key=value extra var is never parsed as YAML): iterating the text itself asked for one VM per
    character."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text:  # a blank survey answer: not given
            return None
        if text.startswith("[") and text.endswith("]"):
            text = text[1:-1]
        return [name.strip().strip("'\"") for name in text.split(",") if name.strip().strip("'\"")]
    if isinstance(value, (list, tuple)) and all(isinstance(name, str) for name in value):
        return list(value)
    raise AnsibleFilterError(
        f"backup_vms must be a list of VM names, or names separated by commas (got {type(value).__name__} {value!r})"
    )


def _selected(vms: Sequence[Mapping[str, Any]], names: Optional[Iterable[str]]) -> tuple[list, list[str]]:
    """The VMs asked for and the names no host reports, compared case-blind as Hyper-V compares VM names."""
    if names is None:
        return list(vms), []
    wanted: dict[str, str] = {}  # each name once, as first spelt, in the order asked
    for name in map(str, names):
        wanted.setdefault(name.casefold(), name)
    found = {str(vm["name"]).casefold() for vm in vms}
    chosen = [vm for vm in vms if str(vm["name"]).casefold() in wanted]
    return chosen, [name for folded, name in wanted.items() if folded not in found]


def _max_vms(value: Any) -> int:
    if value is None:  # the variable unset: the playbook passes none, the default lives here
        return DEFAULT_MAX_VMS_PER_SNAPSHOT
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number < 1:
        raise AnsibleFilterError(
            f"backup_plan: max_vms_per_snapshot must be a whole number of at least 1 (got {value!r})"
        )
    return number


def _sizes(value: Any) -> dict[str, int]:
    """``backup_vm_sizes`` as ``{VM name: bytes}``; anything else fails naming what was given."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise AnsibleFilterError(
            f"backup_plan: backup_vm_sizes must map VM names to sizes in bytes, as {{web01: 214748364800}} "
            f"(got {type(value).__name__} {value!r})"
        )
    sizes = {}
    for name, size in value.items():
        try:
            number = int(size)
        except (TypeError, ValueError):
            number = -1
        if number < 0 or isinstance(size, bool):
            raise AnsibleFilterError(
                f"backup_plan: backup_vm_sizes[{name!r}] must be a whole number of bytes (got {size!r})"
            )
        sizes[str(name)] = number
    return sizes


def backup_proxy_entry(
    proxy_vars: Mapping[str, Any], served_hosts: Mapping[str, Sequence[str]], healthy: Sequence[str]
) -> dict[str, Any]:
    """A proxy as ``backup_plan`` takes it, from its host variables: its slots, the hosts it serves, its health."""
    name = str(proxy_vars["inventory_hostname"])
    return {
        "name": name,
        "slots": proxy_vars.get("backup_proxy_slots", 1),
        "serves": list(served_hosts.get(name) or []),
        "healthy": name in healthy,
    }


def backup_source_vms(source_vars: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The VMs of the source hosts, each with its ``host``, from their host variables (one pass).

    ``unlisted``: the hosts whose probe ran but reported no VM list (``{host, reason}``, the section's error);
    ``unprobed``: the hosts without ``hyperv_offhost`` facts at all (their probe failed). Both are left out of
    the VMs; the playbook names them.
    """
    vms: list[dict[str, Any]] = []
    unlisted: list[dict[str, str]] = []
    unprobed: list[str] = []
    for host_vars in source_vars:
        host = str(host_vars["inventory_hostname"])
        facts = (host_vars.get("ansible_facts") or {}).get("hyperv_offhost")
        if not isinstance(facts, Mapping):
            unprobed.append(host)
            unlisted.append({"host": host, "reason": "no hyperv_offhost facts"})
            continue
        listed = facts.get("vms") or []
        if isinstance(listed, Mapping):  # the probe's section failed: {error: {message, ...}}
            reason = (listed.get("error") or {}).get("message") or "no VM list"
            unlisted.append({"host": host, "reason": str(reason)})
            continue
        vms.extend({**vm, "host": host} for vm in listed)
    return {"vms": vms, "unlisted": unlisted, "unprobed": unprobed}


def backup_plan(
    vms: Sequence[Mapping[str, Any]],
    proxies: Sequence[Mapping[str, Any]],
    selected: Optional[Iterable[str]] = None,
    max_vms_per_snapshot: Any = None,
    sizes: Optional[Mapping[str, Any]] = None,
) -> dict[str, Any]:
    """Groups of VMs per proxy, and what the plan leaves out (asked but missing, VHD Set, no healthy proxy, no
    group can hold: ``refused`` with the reason)."""
    max_vms = _max_vms(max_vms_per_snapshot)
    chosen, missing = _selected(vms, selected)
    vhd_set = [vm for vm in chosen if is_vhd_set(vm)]
    refused_for_vhd_set = {id(vm) for vm in vhd_set}
    reasons = _refusals([vm for vm in chosen if id(vm) not in refused_for_vhd_set])
    left_out = refused_for_vhd_set | set(reasons)
    serving = _proxies_of_hosts(proxies)
    eligible = [vm for vm in chosen if id(vm) not in left_out]
    plannable = [vm for vm in eligible if serving.get(str(vm["host"]))]
    unserved = [_key(vm) for vm in eligible if not serving.get(str(vm["host"]))]
    groups = _groups(plannable, max_vms, _sizes(sizes))
    pool = [{"name": p["name"], "slots": int(p.get("slots", 1))} for p in proxies if p.get("healthy", True)]
    by_id = {group["id"]: group for group in groups}
    # a group keeps at most as many task slots busy as it has VMs: its parallelism
    work = [
        {"name": g["id"], "size": g["size"], "proxies": serving[g["host"]], "parallel": len(g["vms"])} for g in groups
    ]
    assigned = assign_proxies(work, pool) if pool else {}
    ordered = {
        name: _staggered([by_id[group_id] for group_id in assigned[name]["vms"]], turn)
        for turn, name in enumerate(sorted(assigned))
    }
    return {
        "proxies": {
            name: {
                "groups": ordered[name],
                "vms": [f"{group['host']}/{vm}" for group in ordered[name] for vm in group["vms"]],
                "slots": part["slots"],
            }
            for name, part in assigned.items()
        },
        "groups": len(groups),
        "missing": missing,
        "vhd_set": [_key(vm) for vm in vhd_set],
        "unserved": unserved,
        "refused": [{"vm": _key(vm), "reason": reasons[id(vm)]} for vm in chosen if id(vm) in reasons],
    }


def backup_plan_lines(plan: Mapping[str, Any], unlisted: Sequence[Mapping[str, Any]], vhd_set_policy: str) -> list[str]:
    """The plan in an admin's words, a line each: hosts without a VM list, the VHD Set VMs (R15), each proxy's part."""
    lines = [
        f"[WARNING] {entry['host']} reported no VM list ({entry['reason']}); its VMs are left out."
        for entry in unlisted
    ]
    refused = ", ".join(plan.get("vhd_set") or [])
    if not refused:
        lines.append("R15: no VM has a VHD Set disk")
    elif vhd_set_policy == "skip":
        lines.append(f"R15: skipping {refused}")
    else:
        lines.append(
            f"[WARNING] R15: {refused} have VHD Set disks and are left out;"
            " the other VMs are backed up, then the run fails naming them."
        )
    lines += [
        f"[WARNING] {entry['vm']} is left out: {entry['reason']}; the run fails at the end naming it."
        for entry in plan.get("refused") or []
    ]
    if plan.get("unserved"):
        lines.append(
            f"[WARNING] No healthy proxy of the run serves the host of {', '.join(plan['unserved'])}: left out;"
            " the other VMs are backed up, then the run fails naming them."
        )
    for name, part in (plan.get("proxies") or {}).items():
        vms = ", ".join(part["vms"]) or "no VM"
        lines.append(f"{name}: {len(part['groups'])} volume group(s), {len(part['vms'])} VM(s): {vms}")
    return lines


class FilterModule:
    """Backup job planning filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "backup_plan": backup_plan,
            "backup_plan_lines": backup_plan_lines,
            "backup_proxy_entry": backup_proxy_entry,
            "backup_source_vms": backup_source_vms,
            "backup_vm_names": backup_vm_names,
        }
