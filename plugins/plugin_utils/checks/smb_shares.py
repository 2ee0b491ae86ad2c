"""Which SMB3 shares hold the source VMs' files, which server publishes each, and how the proxy
reaches it (its network logon token). Shared by R12, R13 (smb_access.py) and R14 (trust.py).

Words: a *share reference* is ``\\\\server\\share`` taken from a source VM's disk path, with the
*depths* of the VM files on it (folders between the share root and the file: ``\\\\srv\\share\\a\\b\\d.vhdx``
is at depth 2). The *network token* is the token the SMB3 server builds for the network logon of
the proxy's computer account (LocalSystem on the network). The server builds it, so only what
the domain vouches for travels from the proxy ("Access Tokens", "Well-known SIDs",
https://learn.microsoft.com/windows/win32/secauthz/well-known-sids):

- the computer account SID, <domain SID>-515 Domain Computers, and the domain SIDs among the
  proxy's ``group_sids`` (S-1-5-21-..., the domain groups). The rest of ``group_sids`` was built by
  the proxy for a logon on the proxy: its BUILTIN groups (as the proxy defines their members),
  its own local groups, logon-type SIDs (INTERACTIVE S-1-5-4, LOCAL S-1-2-0 ...), labels. None of
  those is in a token the server builds;
- what the server adds for any network logon: Everyone S-1-1-0, NETWORK S-1-5-2, Authenticated
  Users S-1-5-11;
- This Organization S-1-5-15, or Other Organization S-1-5-1000 when the account authenticates
  across a forest trust with selective authentication ("Security Considerations for Trusts": the
  server adds This Organization unless the trust put Other Organization in; only one is ever
  present). The facts do not say whether a trust is selective, so across forests (or when either
  forest is unknown) there are two candidate tokens, and a verdict holds only if both agree;
- the server's own local (BUILTIN) groups whose members, as the server lists them in its
  ``local_groups`` facts, include any SID above; without them, Windows' default that
  BUILTIN\\Users S-1-5-32-545 contains Authenticated Users.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.common import read_section
from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.model import HostFacts, Identity, SectionUnavailable

EVERYONE = "S-1-1-0"
NETWORK = "S-1-5-2"
AUTHENTICATED_USERS = "S-1-5-11"
THIS_ORGANIZATION = "S-1-5-15"
OTHER_ORGANIZATION = "S-1-5-1000"
BUILTIN_USERS = "S-1-5-32-545"
DOMAIN_COMPUTERS_RID = 515
ACCOUNT_DOMAIN_PREFIX = "S-1-5-21-"  # domain (and machine) account SIDs; every other SID is well-known


@dataclass(frozen=True)
class ShareReference:
    server: str
    share: str
    used_by: tuple[str, ...]  # "host/vm" names whose disks live there
    file_depths: tuple[int, ...]  # distinct depths of those disks below the share root, ascending

    @property
    def unc(self) -> str:
        return f"\\\\{self.server}\\{self.share}"


def _unc_components(path: str) -> list[str] | None:
    """[server, share, folder..., file] of a UNC path (``\\\\srv\\share\\...`` or ``\\\\?\\UNC\\srv\\share\\...``)."""
    path = path.replace("/", "\\")
    if path.upper().startswith("\\\\?\\UNC\\"):
        path = "\\\\" + path[8:]
    if not path.startswith("\\\\") or path.startswith("\\\\?\\") or path.startswith("\\\\.\\"):
        return None
    server, _sep, rest = path[2:].partition("\\")
    share, _sep, below = rest.partition("\\")
    if not server or not share:
        return None
    return [server, share, *(part for part in below.split("\\") if part and part != ".")]


def unc_share(path: str) -> tuple[str, str] | None:
    """(server, share) of a UNC path, else None."""
    components = _unc_components(path)
    return (components[0], components[1]) if components else None


def depth_below_share(path: str) -> int | None:
    """Folders between the share root and the file a UNC path names (0: in the root), else None."""
    components = _unc_components(path)
    if not components or len(components) < 3:
        return None
    return len(components) - 3


def referenced_shares(sources: Sequence[HostFacts]) -> tuple[list[ShareReference], dict[str, str]]:
    """Shares that hold source VM disks, and the hosts whose ``vms`` section is unusable."""
    vms = read_section(sources, "vms")
    users: dict[tuple[str, str], tuple[str, str, list[str], set[int]]] = {}
    for host, host_vms in vms.values.items():
        for vm in host_vms:
            for disk in vm.disks:
                location = unc_share(disk.path)
                depth = depth_below_share(disk.path)
                if location and depth is not None:
                    key = (location[0].upper(), location[1].upper())
                    entry = users.setdefault(key, (location[0], location[1], [], set()))
                    entry[2].append(f"{host}/{vm.name}")
                    entry[3].add(depth)
    references = [
        ShareReference(server, share, tuple(sorted(set(used))), tuple(sorted(depths)))
        for server, share, used, depths in sorted(users.values(), key=lambda entry: entry[:2])
    ]
    return references, vms.gaps


def find_host(name: str, candidates: Iterable[HostFacts], share: str | None = None) -> HostFacts | None:
    """The host among ``candidates`` that answers to ``name`` (short name or FQDN, any case); else the one that
    publishes the share (``share``, or any) under that name as its scope: a Scale-Out File Server's client access
    point, which is the cluster's name, not a node's (Get-SmbShare ScopeName; "Scale-Out File Server for
    application data overview", the layout Microsoft recommends for Hyper-V over SMB3)."""
    wanted = {name.upper(), name.split(".")[0].upper()}
    candidates = list(candidates)
    by_name = next((host for host in candidates if host.aliases & wanted), None)
    return by_name or next((host for host in candidates if _publishes_scope(host, wanted, share)), None)


def _publishes_scope(host: HostFacts, scopes: set[str], share: str | None) -> bool:
    try:
        smb = host.section("smb")
    except SectionUnavailable:
        return False
    return any(
        (published.scope_name or "").upper() in scopes and (share is None or published.name.upper() == share.upper())
        for published in (smb.shares if smb else ())
    )


@dataclass(frozen=True)
class NetworkToken:
    """One candidate token the SMB3 server builds for the proxy, and what it takes for granted."""

    sids: frozenset[str]
    assumption: str
    groups_known: bool = True  # False: the proxy's domain group memberships are not in the facts


def _known_same_forest(proxy: Identity, server: Identity | None) -> bool:
    if not server:
        return False
    if proxy.domain_sid and server.domain_sid and proxy.domain_sid.upper() == server.domain_sid.upper():
        return True
    return bool(proxy.forest and server.forest and proxy.forest.lower() == server.forest.lower())


def _proxy_machine_prefixes(proxy: Identity) -> set[str]:
    """Machine SIDs of the proxy, read off its own non-BUILTIN local groups (S-1-5-21-<machine>-RID)."""
    return {
        group.sid.upper().rsplit("-", 1)[0]
        for group in proxy.local_groups
        if group.sid.upper().startswith(ACCOUNT_DOMAIN_PREFIX)
    }


def domain_issued_sids(proxy: Identity) -> set[str]:
    """The proxy's SIDs that its domain vouches for, hence present in a token another machine builds."""
    sids = set()
    if proxy.account_sid:
        sids.add(proxy.account_sid.upper())
    if proxy.domain_sid:
        sids.add(f"{proxy.domain_sid}-{DOMAIN_COMPUTERS_RID}".upper())
    machine = _proxy_machine_prefixes(proxy)
    for sid in (sid.upper() for sid in proxy.group_sids or ()):
        if sid.startswith(ACCOUNT_DOMAIN_PREFIX) and sid.rsplit("-", 1)[0] not in machine:
            sids.add(sid)
    return sids


def _with_server_groups(sids: set[str], server: Identity | None) -> frozenset[str]:
    """Add the server's local groups that hold any of ``sids`` (membership as the server defines it)."""
    local_groups = server.local_groups if server else ()
    if not local_groups:
        return frozenset({*sids, BUILTIN_USERS})
    held = {group.sid.upper() for group in local_groups if sids & {member.upper() for member in group.members}}
    return frozenset(sids | held)


def network_tokens(proxy: Identity, server: Identity | None) -> tuple[NetworkToken, ...]:
    """Candidate tokens of the proxy's network logon on ``server`` (see module docstring)."""
    base = {EVERYONE, NETWORK, AUTHENTICATED_USERS, *domain_issued_sids(proxy)}
    known = proxy.group_sids is not None
    if _known_same_forest(proxy, server):
        return (NetworkToken(_with_server_groups({*base, THIS_ORGANIZATION}, server), "same forest", known),)
    return (
        NetworkToken(
            _with_server_groups({*base, THIS_ORGANIZATION}, server),
            "This Organization S-1-5-15 (forest-wide authentication or same forest)",
            known,
        ),
        NetworkToken(
            _with_server_groups({*base, OTHER_ORGANIZATION}, server),
            "Other Organization S-1-5-1000 (selective authentication across a forest trust)",
            known,
        ),
    )
