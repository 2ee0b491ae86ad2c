"""host_facts sections about who the host is: `identity` and `trusts`.

The trusts are what DsEnumerateDomainTrustsW answers (flags and numbers, as facts_identity.ps1 reads them); while
the script still runs `nltest /domain_trusts`, the lab prints nltest's text in the host's display language and
parses it the way that script did (lab.windows.native_text), so on a German host such a script finds no trust."""

from __future__ import annotations

import re
from typing import Any

from lab.handlers.host_facts_context import FactsContext
from lab.windows import native_text
from lab.windows.accounts import LOCAL_GROUPS

TOKEN_WELL_KNOWN = ("S-1-1-0", "S-1-5-32-545", "S-1-5-2", "S-1-5-11", "S-1-5-15", "S-1-18-2")


def _members(context: FactsContext, group_sid: str) -> list[str]:
    domain = context.domain
    machine = context.host.machine_sid
    members = {
        "S-1-5-32-544": [f"{machine}-500", *([f"{domain.sid}-512"] if domain else [])],
        "S-1-5-32-546": [f"{machine}-501"],
        "S-1-5-32-545": ["S-1-5-4", "S-1-5-11", *([f"{domain.sid}-513"] if domain else [])],
    }
    return members.get(group_sid, [])


def identity_section(context: FactsContext) -> dict[str, Any]:
    host, domain = context.host, context.domain
    section: dict[str, Any] = {
        "computer_name": host.computer_name,
        "fqdn": f"{host.computer_name.lower()}.{domain.dns}" if domain else host.computer_name.lower(),
        "part_of_domain": domain is not None,
        "domain": None,
        "dns_domain": domain.dns if domain else None,
        "forest": None,
        "account_name": None,
        "account_sid": None,
        "domain_sid": None,
        "group_sids": None,
        "local_groups": [{"sid": s, "name": n, "members": _members(context, s)} for s, n in LOCAL_GROUPS],
    }
    if domain is None:
        return section
    section.update(
        domain=domain.netbios,
        forest=domain.forest,
        account_name=f"{domain.netbios}\\{host.computer_name}$",
        account_sid=f"{domain.sid}-{host.rid}",
        domain_sid=domain.sid,
    )
    if host.groups is not None:  # null: the domain refuses the S4U logon
        section["group_sids"] = [f"{domain.sid}-515", *host.groups, *TOKEN_WELL_KNOWN]
    return section


def _flags(direction: str, kind: str, transitive: bool) -> str:
    words = ["(MIT)" if kind == "realm" else "(NT 5)"]
    if direction in ("Outbound", "Bidirectional"):
        words.append("(Direct Outbound)")
    if direction in ("Inbound", "Bidirectional"):
        words.append("(Direct Inbound)")
    attributes = {"forest": ["foresttrans"], "parent_child": ["withinforest"], "external": ["quarantined"]}.get(
        kind, []
    )
    if not transitive:
        attributes.append("non-trans")
    if attributes:
        words.append(f"( Attr: {' '.join(attributes)} )")
    return " ".join(words)


def nltest_domain_trusts(context: FactsContext) -> str:
    """The text `nltest /domain_trusts` prints on a member of the host's domain."""
    domain = context.domain
    lines = ["List of domain trusts:"]
    reverse = {"Outbound": "Inbound", "Inbound": "Outbound", "Bidirectional": "Bidirectional"}
    for trust in context.model.trusts:
        if domain.dns not in (trust.domain, trust.partner):
            continue
        mine = trust.domain == domain.dns
        partner = context.model.domain(trust.partner if mine else trust.domain)
        direction = trust.direction if mine else reverse[trust.direction]
        names = partner.dns.upper() if trust.kind == "realm" else f"{partner.netbios} {partner.dns}"
        flags = _flags(direction, trust.kind, trust.transitive)
        lines.append(f"    {len(lines) - 1}: {names} {flags}")
    lines.append(
        f"    {len(lines) - 1}: {domain.netbios} {domain.dns} (NT 5) (Forest Tree Root) (Primary Domain) (Native)"
    )
    lines.append("The command completed successfully")
    return "\r\n".join(lines) + "\r\n"


def parse_nltest_line(line: str, source: str) -> dict[str, Any] | None:
    """ConvertFrom-NltestLine of facts_identity.ps1 (PowerShell's -match is case-insensitive)."""
    match = re.match(r"^\s*\d+:\s+(\S+)\s+(\S+)?\s*(.*)$", line, re.IGNORECASE)
    if not match:
        return None
    netbios, dns, flags = match.group(1), match.group(2), match.group(3)
    if dns and dns.startswith("("):
        flags, dns = f"{dns} {flags}", None
    if re.search(r"\(Primary Domain\)", flags, re.IGNORECASE):
        return None
    outbound = re.search("Direct Outbound", flags, re.IGNORECASE) is not None
    inbound = re.search("Direct Inbound", flags, re.IGNORECASE) is not None
    if not (outbound or inbound):
        return None
    direction = "Bidirectional" if outbound and inbound else "Outbound" if outbound else "Inbound"
    kinds = ((r"\(NT 5\)", "Uplevel"), (r"\(NT 4\)", "Downlevel"), (r"\(MIT\)", "MIT"), (r"\(DCE\)", "DCE"))
    trust_type = next((name for pattern, name in kinds if re.search(pattern, flags, re.IGNORECASE)), None)
    within = re.search("withinforest", flags, re.IGNORECASE) is not None
    forest = re.search("foresttrans", flags, re.IGNORECASE) is not None
    transitive = False if re.search("non-?trans", flags, re.IGNORECASE) else True if within or forest else None
    return {
        "source": source,
        "target": dns or netbios,
        "target_netbios": netbios,
        "direction": direction,
        "trust_type": trust_type,
        "forest_transitive": forest,
        "intra_forest": within,
        "transitive": transitive,
    }


def _transitive(kind: str, transitive: bool) -> bool | None:
    """TRUST_ATTRIBUTE_NON_TRANSITIVE says false; FOREST_TRANSITIVE or WITHIN_FOREST true; else unknown."""
    if not transitive:
        return False
    return True if kind in ("forest", "parent_child") else None


def _direct_trusts(context: FactsContext) -> list[dict[str, Any]]:
    """ConvertFrom-DomainTrust of each DS_DOMAIN_TRUSTSW entry with a direct flag (the primary domain left out)."""
    reverse = {"Outbound": "Inbound", "Inbound": "Outbound", "Bidirectional": "Bidirectional"}
    found = []
    for trust in context.model.trusts:
        if context.domain.dns not in (trust.domain, trust.partner):
            continue
        mine = trust.domain == context.domain.dns
        partner = context.model.domain(trust.partner if mine else trust.domain)
        realm = trust.kind == "realm"
        found.append(
            {
                "source": context.domain.dns,
                "target": partner.dns.upper() if realm else partner.dns,
                "target_netbios": partner.dns.upper() if realm else partner.netbios,
                "direction": trust.direction if mine else reverse[trust.direction],
                "trust_type": "MIT" if realm else "Uplevel",
                "forest_transitive": trust.kind == "forest",
                "intra_forest": trust.kind == "parent_child",
                "transitive": _transitive(trust.kind, trust.transitive),
            }
        )
    return found


def trusts_section(context: FactsContext) -> list[dict[str, Any]]:
    if context.domain is None:
        return []
    if not native_text.runs("facts_identity", "nltest"):
        return _direct_trusts(context)
    text = native_text.printed(nltest_domain_trusts(context), "nltest", context.host.display_language)
    parsed = (parse_nltest_line(line, context.domain.dns) for line in re.split(r"\r?\n", text))
    return [trust for trust in parsed if trust]
