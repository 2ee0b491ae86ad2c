# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Spread VMs over off-host proxies by disk size and each proxy's task slots.

Words: a proxy's *load* is the bytes of VM disks assigned to it; its *slots* are how many
backup tasks it runs at once, so the time it needs grows with load / slots. An item that can keep
only so many slots busy (``parallel``: a volume group of 2 VMs on a proxy of 4 slots uses 2, and
the proxy takes its groups one after another) costs its bytes over the slots it can use. The filter
assigns the largest items first, each to the eligible proxy whose time is lowest after taking it
(the longest-processing-time rule, within 4/3 of the best makespan).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

from ansible.errors import AnsibleFilterError


@dataclass
class _Proxy:
    name: str
    slots: int
    load: int = 0
    time: float = 0.0  # bytes over the slots each item could use, summed
    vms: list[str] = field(default_factory=list)

    def time_with(self, size: int, parallel: Optional[int]) -> float:
        return self.time + size / min(self.slots, parallel or self.slots)


def _vm_size(vm: Mapping[str, Any]) -> int:
    if "size" in vm:
        return int(vm["size"])
    return sum(int(disk["size"]) for disk in vm.get("disks", []))


def _parallel(vm: Mapping[str, Any]) -> Optional[int]:
    """How many task slots the item can keep busy (None: as many as the proxy has)."""
    if vm.get("parallel") is None:
        return None
    parallel = int(vm["parallel"])
    if parallel < 1:
        raise AnsibleFilterError(f"assign_proxies: {vm['name']} has parallel {parallel}; it needs at least 1")
    return parallel


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
        size, parallel = _vm_size(vm), _parallel(vm)
        best = min(_eligible(vm, pool), key=lambda proxy: (proxy.time_with(size, parallel), proxy.load, proxy.name))
        best.time = best.time_with(size, parallel)
        best.load += size
        best.vms.append(str(vm["name"]))
    return {name: {"vms": proxy.vms, "bytes": proxy.load, "slots": proxy.slots} for name, proxy in pool.items()}


class FilterModule:
    """Proxy assignment filters."""

    def filters(self) -> dict[str, Any]:
        return {"assign_proxies": assign_proxies}
