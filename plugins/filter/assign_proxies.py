# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Spread VMs over off-host proxies by disk size and each proxy's task slots.

Words: a proxy's *load* is the bytes of VM disks assigned to it; its *slots* are how many
backup tasks it runs at once, so the time it needs grows with load / slots. The filter
assigns the largest VMs first, each to the eligible proxy whose load per slot is lowest
after taking it (the longest-processing-time rule, within 4/3 of the best makespan).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ansible.errors import AnsibleFilterError


@dataclass
class _Proxy:
    name: str
    slots: int
    load: int = 0
    vms: list[str] = field(default_factory=list)

    def load_per_slot_with(self, size: int) -> float:
        return (self.load + size) / self.slots


def _vm_size(vm: Mapping[str, Any]) -> int:
    if "size" in vm:
        return int(vm["size"])
    return sum(int(disk["size"]) for disk in vm.get("disks", []))


def _proxies(proxies: Sequence[Any]) -> dict[str, _Proxy]:
    parsed: dict[str, _Proxy] = {}
    for proxy in proxies:
        name, slots = (proxy, 1) if isinstance(proxy, str) else (proxy["name"], int(proxy.get("slots", 1)))
        if slots < 1:
            raise AnsibleFilterError(f"assign_proxies: proxy {name} has {slots} task slots; it needs at least 1")
        if name in parsed:
            raise AnsibleFilterError(f"assign_proxies: proxy {name} is listed twice")
        parsed[name] = _Proxy(name, slots)
    if not parsed:
        raise AnsibleFilterError("assign_proxies: no proxies to assign VMs to")
    return parsed


def _eligible(vm: Mapping[str, Any], proxies: dict[str, _Proxy]) -> list[_Proxy]:
    allowed = vm.get("proxies")
    if allowed is None:
        return list(proxies.values())
    unknown = sorted(set(allowed) - set(proxies))
    if unknown:
        raise AnsibleFilterError(f"assign_proxies: VM {vm['name']} names unknown proxies {', '.join(unknown)}")
    eligible = [proxies[name] for name in allowed]
    if not eligible:
        raise AnsibleFilterError(f"assign_proxies: VM {vm['name']} has no eligible proxy")
    return eligible


def assign_proxies(vms: Sequence[Mapping[str, Any]], proxies: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """Return ``{proxy: {vms: [names], bytes: load, slots: n}}`` for every proxy, idle ones included."""
    pool = _proxies(proxies)
    by_size = sorted(vms, key=lambda vm: (-_vm_size(vm), str(vm["name"])))
    for vm in by_size:
        size = _vm_size(vm)
        best = min(_eligible(vm, pool), key=lambda proxy: (proxy.load_per_slot_with(size), proxy.load, proxy.name))
        best.load += size
        best.vms.append(str(vm["name"]))
    return {name: {"vms": proxy.vms, "bytes": proxy.load, "slots": proxy.slots} for name, proxy in pool.items()}


class FilterModule:
    """Proxy assignment filters."""

    def filters(self) -> dict[str, Any]:
        return {"assign_proxies": assign_proxies}
