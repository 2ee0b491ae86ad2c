"""R14: the proxy is in the SMB3 server's domain, or the server's domain trusts the proxy's domain.

Windows grants a user of domain B access to a resource in domain A only when A trusts B. Trust
direction is named from the side that holds it ("Get-ADTrust", "nltest /domain_trusts"): in A's
list, a trust to B is *Outbound* when A trusts B; in B's list the same trust is *Inbound* from A.
So access works when the server's facts show an Outbound or Bidirectional trust to the proxy's
domain, or the proxy's facts show an Inbound or Bidirectional trust from the server's domain.
Domains of one forest trust each other transitively; a forest trust (``forest_transitive``)
covers every domain of the partner forest; an external trust is non-transitive and covers only
its partner domain, so an external trust with a parent (or the forest root) does not reach a
child domain below it ("Understanding Trust Transitivity",
https://learn.microsoft.com/previous-versions/windows/it-pro/windows-server-2008-r2-and-2008/cc754612(v=ws.11);
"How Domain and Forest Trusts Work",
https://learn.microsoft.com/previous-versions/windows/it-pro/windows-server-2003/cc773178(v=ws.10)).
When the facts show such a trust, the finding names it and says why it stops short.
Trusts held by other domains of a forest (e.g. a forest trust on the root when the server is in a
child domain) are not seen in these facts: the finding is then ``fail`` with that caveat.
"""

from __future__ import annotations

from typing import Sequence

from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.common import conclude, no_sources, not_applicable
from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.smb_shares import find_host, referenced_shares
from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.model import (
    HostFacts,
    Identity,
    SectionUnavailable,
    Trust,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.findings import Finding, requirement_check

GRANTS_WHEN_HELD_BY_SERVER = frozenset({"outbound", "bidirectional"})
GRANTS_WHEN_HELD_BY_PROXY = frozenset({"inbound", "bidirectional"})


def _names(identity: Identity) -> set[str]:
    return {name.lower() for name in (identity.dns_domain, identity.domain) if name}


def _targets(trust: Trust) -> set[str]:
    return {name.lower() for name in (trust.target, trust.target_netbios) if name}


def _partner_matches(trust: Trust, partner: Identity) -> bool:
    """Does ``trust`` reach ``partner``'s domain: directly, or through a forest trust to its forest?"""
    targets = _targets(trust)
    if targets & _names(partner):
        return True
    return bool(trust.forest_transitive and partner.forest and partner.forest.lower() in targets)


def _kind(trust: Trust) -> str:
    return "forest" if trust.forest_transitive else ("intra-forest" if trust.intra_forest else "external")


def _describe(trust: Trust, holder: str) -> str:
    return f"{holder} has a {trust.direction} {_kind(trust)} trust with {trust.target}"


def _stops_short(trust: Trust, holder: str, partner: Identity) -> str | None:
    """Why an external trust with the partner's parent domain or forest root does not reach the partner, else None.

    Call only for a trust that does not match the partner's own domain.
    """
    if _kind(trust) != "external" or not partner.dns_domain:
        return None
    domain = partner.dns_domain.lower()
    if any(domain.endswith("." + target) for target in _targets(trust)):
        where = f"a child domain of {trust.target}"
    elif partner.forest and partner.forest.lower() in _targets(trust):
        where = f"another domain of forest {trust.target}"
    else:
        return None
    return (
        f"{_describe(trust, holder)}, but an external trust is not transitive: it covers {trust.target} only "
        f"and does not reach {partner.dns_domain}, {where}"
    )


def trust_verdict(
    proxy: Identity, proxy_trusts: Sequence[Trust], server: Identity, server_trusts: Sequence[Trust]
) -> tuple[bool, str, list[str]]:
    """(granted, explanation, trusts seen) for access from the proxy's domain to the server's."""
    if proxy.dns_domain and server.dns_domain and proxy.dns_domain.lower() == server.dns_domain.lower():
        return True, f"both are in domain {server.dns_domain}", []
    if proxy.forest and server.forest and proxy.forest.lower() == server.forest.lower():
        return True, f"both domains are in forest {server.forest}, whose trusts are two-way and transitive", []
    seen, short_of = [], []
    for holder, trusts, partner, granting in (
        (server.dns_domain, server_trusts, proxy, GRANTS_WHEN_HELD_BY_SERVER),
        (proxy.dns_domain, proxy_trusts, server, GRANTS_WHEN_HELD_BY_PROXY),
    ):
        for trust in trusts:
            if not _partner_matches(trust, partner):
                why_short = _stops_short(trust, holder or "?", partner)
                if why_short:
                    short_of.append((_describe(trust, holder or "?"), why_short))
                continue
            seen.append(_describe(trust, holder or "?"))
            if trust.direction.lower() in granting:
                return True, f"{seen[-1]}, so {server.dns_domain} trusts {proxy.dns_domain}", seen
    reasons = [why for _described, why in short_of]
    if seen:
        reasons.insert(
            0, f"{'; '.join(seen)}: that direction does not let {server.dns_domain} trust {proxy.dns_domain}"
        )
    if reasons:
        return False, "; ".join(reasons), [*seen, *(described for described, _why in short_of)]
    return False, f"no trust between {server.dns_domain} and {proxy.dns_domain} is visible from either host", seen


def _trusts(host: HostFacts) -> tuple[Sequence[Trust], str]:
    """The host's trusts, or none and the reason they are unusable."""
    try:
        return host.section("trusts"), ""
    except SectionUnavailable as missing:
        return (), str(missing)


def _check_server(proxy: HostFacts, proxy_identity: Identity, server: HostFacts) -> tuple[str, str, list[str]]:
    """('ok' | 'problem' | 'gap', explanation, trusts seen) for one SMB3 server."""
    server_identity = server.section("identity")
    if not server_identity.part_of_domain:
        return "problem", f"{server.name} is not in a domain", []
    server_trusts, server_gap = _trusts(server)
    proxy_trusts, proxy_gap = _trusts(proxy)
    granted, why, seen = trust_verdict(proxy_identity, proxy_trusts, server_identity, server_trusts)
    if granted:
        return "ok", f"{server.name}: {why}", seen
    if server_gap or proxy_gap:
        return "gap", f"{server.name}: {why}; and {server_gap or proxy_gap}", seen
    return "problem", f"{server.name}: {why}", seen


@requirement_check("R14")
def server_domain_trusts_proxy(
    proxy: HostFacts, sources: Sequence[HostFacts], smb_servers: Sequence[HostFacts]
) -> Finding:
    """R14: for every SMB3 server holding source VM files, its domain trusts the proxy's domain."""
    if not sources:
        return no_sources("R14")
    references, gaps = referenced_shares(sources)
    if not references and not gaps:
        return not_applicable("R14", "no source VM has disks on an SMB3 share")
    proxy_identity = proxy.section("identity")
    results: dict[str, tuple[str, str, list[str]]] = {}
    gap_list = list(gaps.values())
    for name in sorted({reference.server for reference in references}):
        server = find_host(name, [*smb_servers, *sources])
        if server is None:
            gap_list.append(f"no facts for SMB3 server {name} (add it to smb_servers)")
        elif not proxy_identity.part_of_domain:
            results[server.name] = ("problem", f"{proxy.name} is not in a domain", [])
        else:
            results[server.name] = _check_server(proxy, proxy_identity, server)
    gap_list += [why for state, why, _ignored in results.values() if state == "gap"]
    return conclude(
        "R14",
        problems=[why for state, why, _ignored in results.values() if state == "problem"],
        gaps=gap_list,
        passed="; ".join(why for _ignored, why, _ignored in results.values()),
        evidence={
            "proxy_domain": proxy_identity.dns_domain,
            "servers": {name: {"verdict": s, "why": why, "trusts": seen} for name, (s, why, seen) in results.items()},
        },
        remedy="Put the proxy in the SMB3 server's domain, or create a trust in which the server's domain trusts "
        "the proxy's domain (Outbound from the server's domain, or two-way); an external trust covers only the "
        "domain it names, a forest trust every domain of the partner forest.",
    )
