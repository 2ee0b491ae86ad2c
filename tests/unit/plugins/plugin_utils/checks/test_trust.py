"""R14: trust direction as Windows applies it (the resource's domain must trust the account's domain)."""

from __future__ import annotations

import pytest
from preflight_estates import estate, parsed

from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.trust import (
    server_domain_trusts_proxy,
    trust_verdict,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.model import Identity, Trust

SERVER = Identity("FS1", True, domain="CORP", dns_domain="corp.example.com", forest="corp.example.com")
PROXY = Identity("PX1", True, domain="BRANCH", dns_domain="branch.example.net", forest="branch.example.net")
CHILD_PROXY = Identity("PX1", True, domain="EU", dns_domain="eu.branch.example.net", forest="branch.example.net")


def trust(target: str, direction: str, forest: bool = False, netbios: str | None = None) -> Trust:
    return Trust(target=target, direction=direction, forest_transitive=forest, target_netbios=netbios)


@pytest.mark.parametrize(
    ("server_trusts", "proxy_trusts", "granted"),
    [
        ([trust("branch.example.net", "Outbound")], [], True),
        ([trust("branch.example.net", "Bidirectional")], [], True),
        ([trust("branch.example.net", "Inbound")], [], False),
        ([trust("branch.example.net", "Disabled")], [], False),
        ([], [trust("corp.example.com", "Inbound")], True),
        ([], [trust("corp.example.com", "Bidirectional")], True),
        ([], [trust("corp.example.com", "Outbound")], False),
        ([trust("BRANCH", "Outbound")], [], True),  # nltest may name the partner by its NetBIOS name
        ([trust("other.example.org", "Bidirectional")], [], False),
        ([], [], False),
    ],
)
def test_direction_matrix(server_trusts, proxy_trusts, granted):
    assert trust_verdict(PROXY, proxy_trusts, SERVER, server_trusts)[0] is granted


def test_netbios_name_of_the_partner_matches():
    assert trust_verdict(PROXY, [], SERVER, [trust("branch", "Outbound", netbios="BRANCH")])[0]


def test_forest_trust_covers_child_domains_external_trust_does_not():
    forest = [trust("branch.example.net", "Bidirectional", forest=True)]
    external = [trust("branch.example.net", "Bidirectional", forest=False)]
    assert trust_verdict(CHILD_PROXY, [], SERVER, forest)[0]
    assert not trust_verdict(CHILD_PROXY, [], SERVER, external)[0]


def test_same_domain_and_same_forest_need_no_trust_entry():
    assert trust_verdict(SERVER, [], SERVER, [])[0]
    sibling = Identity("PX1", True, domain="US", dns_domain="us.corp.example.com", forest="corp.example.com")
    granted, why, _ignored = trust_verdict(sibling, [], SERVER, [])
    assert granted and "forest corp.example.com" in why


def test_explanation_names_the_trust_and_the_reason():
    granted, why, seen = trust_verdict(PROXY, [], SERVER, [trust("branch.example.net", "Inbound", forest=True)])
    assert not granted
    assert seen == ["corp.example.com has a Inbound forest trust with branch.example.net"]
    assert "does not let corp.example.com trust branch.example.net" in why


def test_r14_unknown_when_trusts_section_errored():
    raw, _ignored, _ignored = estate("r14_no_trust")
    raw["FS1"]["trusts"] = {"error": {"message": "The server is not operational", "category": "ResourceUnavailable"}}
    hosts = parsed(raw)
    finding = server_domain_trusts_proxy(hosts["PX1"], [hosts["HV1"], hosts["HV2"]], [hosts["FS1"]])
    assert finding.status == "unknown" and "FS1" in finding.message and "trusts" in finding.message


def test_external_trust_to_the_parent_is_named_and_said_not_to_reach_the_child_domain():
    external = [trust("branch.example.net", "Bidirectional", forest=False)]
    granted, why, seen = trust_verdict(CHILD_PROXY, [], SERVER, external)
    assert not granted
    assert "no trust" not in why
    assert "corp.example.com has a Bidirectional external trust with branch.example.net" in why
    assert "not transitive" in why and "eu.branch.example.net" in why
    assert seen == ["corp.example.com has a Bidirectional external trust with branch.example.net"]


def test_external_trust_from_the_forest_root_does_not_reach_a_server_in_a_child_domain():
    child_server = Identity("FS1", True, domain="US", dns_domain="us.corp.example.com", forest="corp.example.com")
    inbound = [trust("corp.example.com", "Inbound", netbios="CORP")]
    granted, why, _ignored = trust_verdict(PROXY, inbound, child_server, [])
    assert not granted
    assert "branch.example.net has a Inbound external trust with corp.example.com" in why
    assert "us.corp.example.com" in why and "not transitive" in why


def test_r14_message_names_the_external_trust_that_stops_at_the_parent():
    raw, _ignored, _ignored = estate("healthy_trust_seen_from_proxy")
    raw["FS1"]["identity"].update(domain="US", dns_domain="us.corp.example.com", fqdn="fs1.us.corp.example.com")
    hosts = parsed(raw)
    finding = server_domain_trusts_proxy(hosts["PX1"], [hosts["HV1"], hosts["HV2"]], [hosts["FS1"]])
    assert finding.status == "fail"
    assert "Inbound external trust with corp.example.com" in finding.message
    assert "does not reach us.corp.example.com" in finding.message
