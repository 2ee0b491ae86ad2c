"""Which SMB3 shares hold the source VMs' files, which server publishes each, and how the proxy
reaches it (its network logon token). Shared by R12, R13 (smb_access.py) and R14 (trust.py).

Words: a *share reference* is ``\\\\server\\share`` taken from a source VM's disk path. The
*network token* of the proxy is what its LocalSystem account presents to the SMB3 server: the
computer account SID, its domain groups (from the proxy's facts, plus <domain SID>-515 Domain
Computers), Everyone (S-1-1-0), Authenticated Users (S-1-5-11), NETWORK (S-1-5-2), This
Organization (S-1-5-15, same forest only), and the server's local groups that contain any of
those (from the server's ``local_groups`` facts; without them, Windows' default that BUILTIN\\Users
S-1-5-32-545 contains Authenticated Users).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.common import read_section
from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.model import HostFacts, Identity

EVERYONE = "S-1-1-0"
NETWORK = "S-1-5-2"
AUTHENTICATED_USERS = "S-1-5-11"
THIS_ORGANIZATION = "S-1-5-15"
BUILTIN_USERS = "S-1-5-32-545"
DOMAIN_COMPUTERS_RID = 515


@dataclass(frozen=True)
class ShareReference:
    server: str
    share: str
    used_by: tuple[str, ...]  # "host/vm" names whose disks live there

    @property
    def unc(self) -> str:
        return f"\\\\{self.server}\\{self.share}"


def unc_share(path: str) -> tuple[str, str] | None:
    """(server, share) of a UNC path (``\\\\srv\\share\\...`` or ``\\\\?\\UNC\\srv\\share\\...``), else None."""
    path = path.replace("/", "\\")
    if path.upper().startswith("\\\\?\\UNC\\"):
        path = "\\\\" + path[8:]
    if not path.startswith("\\\\") or path.startswith("\\\\?\\") or path.startswith("\\\\.\\"):
        return None
    parts = path[2:].split("\\")
    if len(parts) < 2 or not parts[0] or not parts[1]:
        return None
    return parts[0], parts[1]


def referenced_shares(sources: Sequence[HostFacts]) -> tuple[list[ShareReference], dict[str, str]]:
    """Shares that hold source VM disks, and the hosts whose ``vms`` section is unusable."""
    vms = read_section(sources, "vms")
    users: dict[tuple[str, str], tuple[str, str, list[str]]] = {}
    for host, host_vms in vms.values.items():
        for vm in host_vms:
            for disk in vm.disks:
                location = unc_share(disk.path)
                if location:
                    key = (location[0].upper(), location[1].upper())
                    users.setdefault(key, (location[0], location[1], []))[2].append(f"{host}/{vm.name}")
    references = [
        ShareReference(server, share, tuple(sorted(set(used)))) for server, share, used in sorted(users.values())
    ]
    return references, vms.gaps


def find_host(name: str, candidates: Iterable[HostFacts]) -> HostFacts | None:
    """The host among ``candidates`` that answers to ``name`` (short name or FQDN, any case)."""
    wanted = {name.upper(), name.split(".")[0].upper()}
    return next((host for host in candidates if host.aliases & wanted), None)


def _same_forest(proxy: Identity, server: Identity | None) -> bool:
    return bool(server and proxy.forest and server.forest and proxy.forest.lower() == server.forest.lower())


def network_token(proxy: Identity, server: Identity | None) -> frozenset[str]:
    """SIDs the proxy's computer account presents to ``server`` at network logon (see module docstring)."""
    sids = {EVERYONE, NETWORK, AUTHENTICATED_USERS}
    if proxy.account_sid:
        sids.add(proxy.account_sid.upper())
    if proxy.domain_sid:
        sids.add(f"{proxy.domain_sid}-{DOMAIN_COMPUTERS_RID}".upper())
    sids.update(sid.upper() for sid in proxy.group_sids or ())
    if _same_forest(proxy, server):
        sids.add(THIS_ORGANIZATION)
    local_groups = server.local_groups if server else ()
    if local_groups:
        sids.update(group.sid.upper() for group in local_groups if sids & {m.upper() for m in group.members})
    else:
        sids.add(BUILTIN_USERS)
    return frozenset(sids)
