"""Which VMs a Hyper-V host runs now: the estate's, after the live migrations `lab move` made
(`lab.windows.migration`).

The lab keeps a host's moves in its state document: `moved_out` (VM ids, lower case, the estate places on this host
and that run elsewhere) and `moved_in` (VM id -> the estate host that declares it).
"""

from __future__ import annotations

from typing import Any

from lab.estate.model import WindowsEstate
from lab.estate.vms import Vm

MOVED_OUT, MOVED_IN = "moved_out", "moved_in"


def host_vms(model: WindowsEstate, state: dict[str, Any], host: str) -> tuple[Vm, ...]:
    """Get-VM on `host` now: the estate's VMs of the host that have not moved away, then those moved in."""
    gone = set(state.get(MOVED_OUT) or ())
    own = [vm for vm in model.host(host).vms if vm.id.lower() not in gone]
    arrived = [_estate_vm(model, origin, vm_id) for vm_id, origin in sorted((state.get(MOVED_IN) or {}).items())]
    return (*own, *arrived)


def _estate_vm(model: WindowsEstate, host: str, vm_id: str) -> Vm:
    return next(vm for vm in model.host(host).vms if vm.id.lower() == vm_id)
