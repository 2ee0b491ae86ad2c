"""The accounts an emulated host knows: names to SIDs as NTAccount.Translate maps them, SIDs as SDDL writes them.

NTAccount.Translate (LookupAccountName) takes `DOMAIN\\name` or an isolated name, case-blind, and fails with
IdentityNotMappedException for a name no authority the host asks knows ("NTAccount.Translate",
https://learn.microsoft.com/dotnet/api/system.security.principal.ntaccount.translate). The lab knows:
- the well-known accounts and the local groups of a member server (`NT AUTHORITY\\SYSTEM`, `BUILTIN\\Administrators`,
  `Everyone`, ...; "Well-known SIDs", https://learn.microsoft.com/windows/win32/secauthz/well-known-sids);
- the host's own Administrator and Guest (its machine SID, RID 500 and 501);
- in the host's domain and each domain it trusts: the computer account `NETBIOS\\COMPUTER$` of every estate host
  joined to it (`<domain SID>-<rid>`, as host_facts reports it) and the domain groups below.
Anything else is unmapped. In SDDL, Windows writes a well-known SID and a group of its own domain as the two-letter
alias of "SID Strings"; the alias tables are the collection's (`checks.sddl`), read here, not copied.
"""

from __future__ import annotations

from lab.estate.hosts import WindowsHost
from lab.estate.model import Domain, WindowsEstate

from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.sddl import DOMAIN_RELATIVE_RIDS, WELL_KNOWN_SIDS

LOCAL_GROUPS = (  # Get-LocalGroup on a member server, sorted by name as it lists them
    ("S-1-5-32-544", "Administrators"),
    ("S-1-5-32-551", "Backup Operators"),
    ("S-1-5-32-546", "Guests"),
    ("S-1-5-32-578", "Hyper-V Administrators"),
    ("S-1-5-32-580", "Remote Management Users"),
    ("S-1-5-32-545", "Users"),
)
_AUTHORITIES = {  # name (authority-qualified where it has an authority) -> SID; each answers to its isolated name too
    "NT AUTHORITY\\SYSTEM": "S-1-5-18",
    "NT AUTHORITY\\LOCAL SERVICE": "S-1-5-19",
    "NT AUTHORITY\\NETWORK SERVICE": "S-1-5-20",
    "NT AUTHORITY\\Authenticated Users": "S-1-5-11",
    "Everyone": "S-1-1-0",
    "CREATOR OWNER": "S-1-3-0",
    **{f"BUILTIN\\{name}": sid for sid, name in LOCAL_GROUPS},
}
_DOMAIN_GROUPS = {"Domain Admins": 512, "Domain Users": 513, "Domain Computers": 515, "Domain Controllers": 516}


def _lookup_table(model: WindowsEstate, host: WindowsHost) -> dict[str, str]:
    """Every name the host can translate, case-folded, with its SID."""
    table = {name.casefold(): sid for name, sid in _AUTHORITIES.items()}
    table.update({name.rsplit("\\", 1)[-1].casefold(): sid for name, sid in _AUTHORITIES.items()})
    table[f"{host.computer_name}\\Administrator".casefold()] = f"{host.machine_sid}-500"
    table[f"{host.computer_name}\\Guest".casefold()] = f"{host.machine_sid}-501"
    for domain in _domains_seen_from(model, host):
        for other in model.hosts:
            if other.domain and other.domain.lower() == domain.dns:
                table[f"{domain.netbios}\\{other.computer_name}$".casefold()] = f"{domain.sid}-{other.rid}"
        for group, rid in _DOMAIN_GROUPS.items():
            table[f"{domain.netbios}\\{group}".casefold()] = f"{domain.sid}-{rid}"
    return table


def _domains_seen_from(model: WindowsEstate, host: WindowsHost) -> list[Domain]:
    """The host's domain and the domains it trusts (a trust's `domain` trusts its `partner` when Outbound)."""
    own = model.domain(host.domain)
    if own is None:
        return []
    seen = [own]
    for trust in model.trusts:
        if trust.domain == own.dns and trust.direction in ("Outbound", "Bidirectional"):
            seen.append(model.domain(trust.partner))
        elif trust.partner == own.dns and trust.direction in ("Inbound", "Bidirectional"):
            seen.append(model.domain(trust.domain))
    return [domain for domain in seen if domain is not None]


def translate(model: WindowsEstate, host: WindowsHost, name: str) -> str | None:
    """The SID `name` maps to on `host`, or None where Translate throws IdentityNotMappedException."""
    return _lookup_table(model, host).get(name.strip().casefold())


def domain_sid(model: WindowsEstate, host: WindowsHost) -> str | None:
    """The SID of the host's domain (None for a workgroup host): what SDDL's domain aliases are relative to."""
    domain = model.domain(host.domain)
    return domain.sid if domain else None


def sddl_trustee(sid: str, own_domain_sid: str | None) -> str:
    """`sid` as ConvertSecurityDescriptorToStringSecurityDescriptor writes it: an alias where one exists."""
    for alias, known in WELL_KNOWN_SIDS.items():
        if known == sid:
            return alias
    for alias, rid in DOMAIN_RELATIVE_RIDS.items():
        if own_domain_sid and sid == f"{own_domain_sid}-{rid}":
            return alias
    return sid
