"""A VM's configuration file as the lab writes it, and the configuration versions a host supports.

Hyper-V's `.vmcx` is a binary format only Hyper-V reads; the lab's is a JSON document with what Import-VM and
Compare-VM need from it: the VM's ID, name, generation, configuration version, the disks' paths and each network
adapter's switch. The data mover backs it up and restores it as bytes like any other VM file, so a restore
point's configuration file restored byte-exact is this document as it was. `lab up` writes it for each VM of
the estate (`lab.windows.provision`); an import writes the imported VM's (`lab.handlers.vm_restore`).

Supported versions ("Upgrade virtual machine version in Hyper-V on Windows or Windows Server", section
"Supported virtual machine configuration versions",
https://learn.microsoft.com/windows-server/virtualization/hyper-v/deploy/upgrade-virtual-machine-version-in-hyper-v-on-windows-or-windows-server):
Windows Server 2016 runs up to 8.0, 2019 up to 9.0, 2022 up to 10.0, 2025 up to 12.0. The lab models the upper
bound (what refuses a restore point from a newer host); every older version of the list is taken.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MARKER = "lab_vmcx"
VERSIONS = ("5.0", "6.2", "7.0", "7.1", "8.0", "8.1", "8.2", "8.3", "9.0", "9.1", "9.2", "9.3", "10.0", "11.0", "12.0")
MAXIMUM_BY_BUILD = {14393: "8.0", 17763: "9.0", 20348: "10.0", 26100: "12.0"}


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def supported_versions(build: int) -> list[str]:
    """Get-VMHostSupportedVersion of a host of this build, newest first."""
    known = [b for b in MAXIMUM_BY_BUILD if b <= build]
    maximum = _key(MAXIMUM_BY_BUILD[max(known)]) if known else _key("5.0")
    return [v for v in reversed(VERSIONS) if _key(v) <= maximum]


@dataclass(frozen=True)
class VmConfiguration:
    id: str  # lower case, as Get-VM prints VMId
    name: str
    generation: int
    version: str
    disks: tuple[str, ...]  # each drive's file, in controller order
    switches: tuple[str | None, ...]  # each network adapter's switch; None: disconnected

    def encode(self) -> bytes:
        document = {MARKER: 1, "id": self.id, "name": self.name, "generation": self.generation}
        document.update(version=self.version, disks=list(self.disks), switches=list(self.switches))
        return json.dumps(document, sort_keys=True).encode("utf-8")


def decode(data: bytes) -> VmConfiguration | None:
    """The configuration in a file's bytes; None when it is not a lab configuration (unreadable to Hyper-V)."""
    try:
        document: Any = json.loads(data.decode("utf-8"))
    except ValueError:
        return None
    if not isinstance(document, dict) or document.get(MARKER) != 1:
        return None
    return VmConfiguration(
        id=str(document["id"]).lower(),
        name=str(document["name"]),
        generation=int(document["generation"]),
        version=str(document["version"]),
        disks=tuple(str(disk) for disk in document["disks"]),
        switches=tuple(None if s is None else str(s) for s in document["switches"]),
    )
