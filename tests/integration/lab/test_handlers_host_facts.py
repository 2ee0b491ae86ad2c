"""The host_facts handler in-process: section shapes host_facts.ps1 writes for states the healthy
estate does not show (workgroup, trusts, failing sections, a LUN read that hangs, VHD formats)."""

from __future__ import annotations

import pytest
from lab_testkit import ProvisionedLab

# isort: split
from lab.estate.loader import parse_estate
from lab.handlers.host_facts_identity import parse_nltest_line

from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.schema import validate_facts

CREDENTIALS = {"username": "Administrator", "password": "x"}
ESTATE = {
    "domains": [
        {"dns": "contoso.local"},
        {"dns": "fabrikam.local"},
        {"dns": "child.contoso.local", "forest": "contoso.local"},
    ],
    "trusts": [
        {"domain": "contoso.local", "partner": "fabrikam.local", "direction": "outbound"},
        {"domain": "contoso.local", "partner": "child.contoso.local", "type": "parent_child"},
    ],
    "luns": [{"id": "l1"}],
    "hosts": [
        {
            "name": "hv1",
            "address": "127.0.0.51",
            "credentials": CREDENTIALS,
            "role": "hyperv",
            "domain": "contoso.local",
            "groups": ["S-1-5-21-1-2-3-1200"],
            "luns": [{"lun": "l1", "readable": "hang"}],
            "section_errors": {"dedup_volumes": "Access denied"},
            "vms": [
                {"name": "g1", "generation": 1, "disks": [{"path": "C:\\VMs\\g1.vhd"}, {"path": "C:\\VMs\\g1.img"}]}
            ],
        },
        {
            "name": "px9",
            "address": "127.0.0.52",
            "credentials": CREDENTIALS,
            "role": "proxy",
            "domain": "fabrikam.local",
        },
        {"name": "wg1", "address": "127.0.0.53", "credentials": CREDENTIALS, "domain": None, "groups": None},
    ],
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> ProvisionedLab:
    return ProvisionedLab(parse_estate(ESTATE), tmp_path_factory.mktemp("facts-handlers"))


def facts(lab: ProvisionedLab, host: str, **params) -> dict:
    document = lab.call(host, "host_facts", {"ProbeTimeout": 60, "Components": [], **params})
    validate_facts(document, host=host)
    return document


def test_keys_come_in_the_order_the_script_writes_them(lab):
    script_order = (
        "schema_version collected_at os hyperv identity cluster disks vss_providers features dedup_volumes smb trusts"
        " vms components probe_duration_ms"
    )
    assert list(facts(lab, "hv1")) == script_order.split()


def test_a_failing_section_is_an_error_object_and_the_rest_is_reported(lab):
    document = facts(lab, "hv1")
    assert document["dedup_volumes"] == {
        "error": {"message": "Access denied", "category": "NotSpecified", "exception": "System.Exception"}
    }
    assert document["os"]["build"] == 20348


def test_a_lun_read_that_never_answers_reports_the_probe_timeout(lab):
    lun = facts(lab, "hv1", ProbeTimeout=9)["disks"][1]
    assert (lun["readable"], lun["read_error"], lun["is_offline"]) == (False, "no data within 9 s", True)


def test_trusts_are_seen_from_each_side_as_nltest_lists_them(lab):
    trusts = {t["target"]: t for t in facts(lab, "hv1")["trusts"]}
    assert trusts["fabrikam.local"]["direction"] == "Outbound"
    assert (trusts["fabrikam.local"]["forest_transitive"], trusts["fabrikam.local"]["transitive"]) == (True, True)
    assert (trusts["child.contoso.local"]["intra_forest"], trusts["child.contoso.local"]["direction"]) == (
        True,
        "Bidirectional",
    )
    assert [(t["target"], t["direction"]) for t in facts(lab, "px9")["trusts"]] == [("contoso.local", "Inbound")]


def test_nltest_parsing_skips_the_primary_domain_and_indirect_trusts():
    assert (
        parse_nltest_line("    2: CONTOSO contoso.local (NT 5) (Forest Tree Root) (Primary Domain) (Native)", "x")
        is None
    )
    assert parse_nltest_line("    3: EAST east.fabrikam.local (NT 5) (Forest: 1)", "x") is None
    realm = parse_nltest_line("    0: EXAMPLE.COM (MIT) (Direct Outbound) ( Attr: non-trans )", "x")
    assert (realm["target"], realm["trust_type"], realm["transitive"]) == ("EXAMPLE.COM", "MIT", False)


def test_a_workgroup_host_has_no_domain_identity(lab):
    identity = facts(lab, "wg1")["identity"]
    assert (identity["part_of_domain"], identity["account_sid"], identity["group_sids"]) == (False, None, None)
    assert facts(lab, "wg1")["trusts"] == []
    assert identity["local_groups"][0]["name"] == "Administrators"


def test_token_groups_hold_domain_computers_and_the_estate_groups(lab):
    identity = facts(lab, "hv1")["identity"]
    assert identity["group_sids"][:2] == [f"{identity['domain_sid']}-515", "S-1-5-21-1-2-3-1200"]
    assert identity["account_name"] == "CONTOSO\\HV1$"


def test_disk_formats_come_from_the_extension_or_the_file(lab):
    disks = facts(lab, "hv1")["vms"][0]["disks"]
    assert [(d["format"], d["controller_type"], d["controller_location"]) for d in disks] == [
        ("VHD", "IDE", 0),
        ("Unknown", "IDE", 1),  # .img: Get-VHD cannot read an empty file
    ]
    assert lab.host_file("hv1", "C:\\VMs\\g1.vhd").read_bytes()[-512:-504] == b"conectix"  # qemu-img made it


def test_a_machine_without_hyper_v_lists_no_vms_and_no_vmms(lab):
    document = facts(lab, "wg1", Components=[{"Role": "other", "Service": "vmms"}])
    assert (document["hyperv"], document["vms"], document["components"]) == (
        {"installed": False, "version": None},
        [],
        [],
    )
