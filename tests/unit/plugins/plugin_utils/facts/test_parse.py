"""From a facts document to HostFacts: typed, frozen, and explicit about errored or missing sections."""

from __future__ import annotations

import dataclasses
import json

import pytest

from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.model import (
    NOT_COLLECTED,
    Cluster,
    Disk,
    HostFacts,
    SectionError,
    SectionUnavailable,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.parse import (
    facts_from_file,
    facts_from_hostvars,
    load_facts_file,
    parse_host_facts,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.schema import FactsSchemaError


def test_sections_become_typed_frozen_values(raw_hosts):
    facts = parse_host_facts("HV1", raw_hosts["HV1"])
    assert isinstance(facts.cluster, Cluster) and facts.cluster.nodes == ("HV1", "HV2")
    assert facts.cluster.shared_volumes[0].luns[0].unique_id == "60002AC0000000000000000A00001234"
    assert isinstance(facts.disks[1], Disk) and facts.disks[1].readable is True
    assert facts.os.major == "10.0" and facts.os.build == 20348
    assert facts.identity.group_sids == ("S-1-5-21-1111111111-2222222222-3333333333-515",)
    assert facts.vms[1].disks[0].path.startswith("\\\\fs1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        facts.cluster.name = "CL2"  # type: ignore[misc]


def test_null_section_means_not_applicable(raw_hosts):
    facts = parse_host_facts("PX1", raw_hosts["PX1"])
    assert facts.section("cluster") is None and facts.cluster_names == frozenset()


def test_errored_section_raises_with_host_section_and_reason(raw_hosts):
    raw = {**raw_hosts["PX1"], "disks": {"error": {"message": "Access denied", "category": "PermissionDenied"}}}
    facts = parse_host_facts("PX1", raw)
    assert facts.disks == SectionError("Access denied", "PermissionDenied")
    with pytest.raises(SectionUnavailable) as caught:
        facts.section("disks")
    assert (caught.value.host, caught.value.section) == ("PX1", "disks")
    assert "probe error (PermissionDenied): Access denied" in str(caught.value)


def test_absent_section_is_not_collected():
    facts = parse_host_facts("PX1", {"schema_version": "1.0"})
    assert facts.vms is NOT_COLLECTED
    with pytest.raises(SectionUnavailable, match="not collected"):
        facts.section("vms")


def test_aliases_cover_inventory_computer_and_dns_names(raw_hosts):
    facts = parse_host_facts("px1.lab", raw_hosts["PX1"])
    assert {"PX1.LAB", "PX1", "PX1.CORP.EXAMPLE.COM"} <= facts.aliases


def test_parse_validates_first(raw_hosts):
    raw = raw_hosts["HV1"]
    raw["cluster"]["nodes"] = ["HV1"]
    with pytest.raises(FactsSchemaError, match=r"\$\.cluster\.nodes\[0\]"):
        parse_host_facts("HV1", raw)


def test_hostvars_reader(raw_hosts):
    hostvars = {"PX1": {"ansible_facts": {"hyperv_offhost": raw_hosts["PX1"]}}, "HV9": {"ansible_facts": {}}}
    assert isinstance(facts_from_hostvars(hostvars, "PX1"), HostFacts)
    with pytest.raises(FactsSchemaError, match=r"run backup\.hyperv\.host_facts"):
        facts_from_hostvars(hostvars, "HV9")
    assert facts_from_hostvars(hostvars, "HV9", missing_ok=True).schema_version == ""
    with pytest.raises(KeyError, match="not in the inventory"):
        facts_from_hostvars(hostvars, "NOPE")


def test_facts_file_reader(tmp_path, raw_hosts):
    path = tmp_path / "facts.json"
    path.write_text(json.dumps({"hosts": {"PX1": raw_hosts["PX1"]}}))
    hosts = load_facts_file(path)
    assert facts_from_file(hosts, "PX1").identity.computer_name == "PX1"
    path.write_text(json.dumps({"PX1": raw_hosts["PX1"]}))
    with pytest.raises(FactsSchemaError, match=r"\$\.hosts"):
        load_facts_file(path)


@pytest.mark.parametrize("asked", ["px1", "Px1", "PX1"])
def test_facts_file_names_match_case_blind_as_windows_names_do(raw_hosts, asked):
    """An inventory says px1 where the facts file (or Windows) says PX1: the same computer."""
    facts = facts_from_file({"PX1": raw_hosts["PX1"], "HV1": raw_hosts["HV1"]}, asked)
    assert facts.name == asked and facts.identity.computer_name == "PX1"


def test_facts_file_names_that_differ_only_by_case_are_refused(raw_hosts):
    hosts = {"PX1": raw_hosts["PX1"], "px1": raw_hosts["PX1"], "HV1": raw_hosts["HV1"]}
    with pytest.raises(
        ValueError, match=r"'PX1' and 'px1' in the facts file: names that differ only by case.*keep one"
    ):
        facts_from_file(hosts, "Px1")
    assert facts_from_file(hosts, "hv1").name == "hv1"  # other hosts of the file still read
    with pytest.raises(KeyError, match="not in the facts file"):
        facts_from_file(hosts, "HV2")
