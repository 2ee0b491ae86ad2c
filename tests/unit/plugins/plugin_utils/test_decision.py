"""The preflight decision: what blocks a proxy, what it needs, whether it can take backup jobs."""

from __future__ import annotations

import pytest
from preflight_estates import estate, evaluate_estate, parsed

from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.evaluate import evaluate_proxy
from ansible_collections.backup.hyperv.plugins.plugin_utils.decision import FAILING_STATUSES, decide
from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.model import HostFacts

ERRORED = {"error": {"message": "Access is denied", "category": "PermissionDenied"}}


def decision_of(estate_name: str, **policy: object) -> dict:
    """The decision for the estate's proxy, its findings evaluated as the action evaluates them."""
    raw, assessment, _entry = estate(estate_name)
    hosts = parsed(raw)
    proxy, sources = hosts[assessment["proxy"]], [hosts[name] for name in assessment["source_hosts"]]
    findings, _entry = evaluate_estate(estate_name)
    return decide(proxy, sources, findings, **policy)


def decision_for(proxy: HostFacts, sources: list[HostFacts], **policy: object) -> dict:
    return decide(proxy, sources, evaluate_proxy(proxy, sources), **policy)


def test_a_healthy_proxy_is_not_blocked_needs_dedup_and_a_provider_and_takes_jobs():
    assert decision_of("healthy") == {
        "blocked": False,
        "blocking": [],
        "needs": {
            "managed_servers": [],
            "features": ["FS-Data-Deduplication"],
            "vss_provider": True,
            "components": [],
        },
        "can_take_jobs": True,
    }


@pytest.mark.parametrize(
    ("estate_name", "fail_on", "blocking"),
    [
        ("r8_proxy_is_cluster_node", "fail", ["R8"]),
        ("r8_proxy_is_cluster_node", "never", []),
        ("r7_proxy_is_vm", "fail", []),
        ("r7_proxy_is_vm", "warn", ["R7"]),
        ("r9_disks_probe_failed", "fail", []),
        ("r9_disks_probe_failed", "warn", ["R9"]),
        ("r13_share_permissions_lack_proxy", "fail", ["R12", "R13"]),
    ],
)
def test_fail_on_says_which_statuses_block(estate_name, fail_on, blocking):
    decision = decision_of(estate_name, fail_on=fail_on)
    assert decision["blocking"] == blocking and decision["blocked"] is bool(blocking)


def test_fail_on_choices_are_the_mapping_keys():
    assert set(FAILING_STATUSES) == {"fail", "warn", "never"}
    assert FAILING_STATUSES["warn"] == {"fail", "warn", "unknown"}


@pytest.mark.parametrize(
    ("estate_name", "remedied", "blocking"),
    [
        ("r10_no_dedup_on_proxy", [], ["R10"]),
        ("r10_no_dedup_on_proxy", ["R10", "R11"], []),
        ("r11_no_hardware_provider_on_proxy", ["R10", "R11"], []),
        ("r8_proxy_is_cluster_node", ["R10", "R11"], ["R8"]),
    ],
)
def test_remedied_findings_do_not_block(estate_name, remedied, blocking):
    assert decision_of(estate_name, remedied=remedied)["blocking"] == blocking


def test_an_unmanaged_source_host_is_named_as_needing_the_managed_server_role():
    decision = decision_of("r1_host_not_managed", fail_on="never")
    assert decision["needs"]["managed_servers"] == ["HV2"] and decision["blocking"] == []


def test_source_hosts_whose_components_cannot_be_read_are_not_shown_managed(host):
    no_facts = HostFacts("HV3", schema_version="")
    decision = decision_for(host("PX1"), [host("HV1", components=ERRORED), host("HV2"), no_facts])
    assert decision["needs"]["managed_servers"] == ["HV1", "HV3"]


@pytest.mark.parametrize(
    ("hv1_volumes", "dedup_feature", "features"),
    [
        ([{"volume": "D:", "enabled": True}], "auto", ["FS-Data-Deduplication"]),  # any volume, not only a CSV
        ([{"volume": "D:", "enabled": False}], "auto", []),
        (ERRORED, "auto", []),
        ([], "auto", []),
        ([], "always", ["FS-Data-Deduplication"]),
        ([{"volume": "D:", "enabled": True}], "never", []),
    ],
)
def test_the_dedup_feature_is_needed_per_the_policy_and_the_source_volumes(host, hv1_volumes, dedup_feature, features):
    sources = [host("HV1", dedup_volumes=hv1_volumes, cluster=None), host("HV2", dedup_volumes=[], cluster=None)]
    decision = decision_for(host("PX1"), sources, dedup_feature=dedup_feature)
    assert decision["needs"]["features"] == features


def test_a_vss_provider_is_needed_only_where_source_clusters_have_csvs(host):
    standalone = [host("HV1", cluster=None), host("HV2", cluster=None)]
    assert decision_for(host("PX1"), standalone)["needs"]["vss_provider"] is False
    assert decision_for(host("PX1"), [host("HV1"), host("HV2")])["needs"]["vss_provider"] is True


@pytest.mark.parametrize(
    ("components", "missing"),
    [
        ([], ["installer", "data_mover", "hyperv_integration"]),
        (ERRORED, ["installer", "data_mover", "hyperv_integration"]),
        ([{"role": "installer", "service_name": "BackupHvInstaller"}], ["data_mover", "hyperv_integration"]),
    ],
)
def test_components_the_proxy_lacks_are_needed(host, components, missing):
    decision = decision_for(host("PX1", components=components), [host("HV1"), host("HV2")])
    assert decision["needs"]["components"] == missing


@pytest.mark.parametrize(
    ("estate_name", "can_take_jobs"),
    [
        ("healthy", True),
        ("r7_proxy_is_vm", True),  # a warning does not stop jobs
        ("r9_disks_probe_failed", True),  # nor does an unknown
        ("r8_proxy_is_cluster_node", False),
        ("r10_no_dedup_on_proxy", False),
    ],
)
def test_a_proxy_takes_jobs_when_no_finding_fails(estate_name, can_take_jobs):
    assert decision_of(estate_name, fail_on="never", remedied=["R10"])["can_take_jobs"] is can_take_jobs


def test_a_proxy_without_a_data_mover_takes_no_jobs(host):
    installer_only = [{"role": "installer", "service_name": "BackupHvInstaller"}]
    decision = decision_for(host("PX1", components=installer_only), [host("HV1"), host("HV2")])
    assert decision["blocking"] == [] and decision["can_take_jobs"] is False


# What host_facts reports for the data mover proxy_components installed: its record, no service (it runs per job).
DATA_MOVER_BY_RECORD = {
    "role": "data_mover",
    "name": "data_mover",
    "service_name": None,
    "display_name": None,
    "version": "0.1.0",
    "state": None,
    "start_mode": None,
}


def test_a_data_mover_found_by_its_record_without_a_service_takes_jobs(host):
    components = [
        {"role": "installer", "service_name": "BackupHvInstaller"},
        DATA_MOVER_BY_RECORD,
        {"role": "hyperv_integration", "service_name": "BackupHvIntegration"},
    ]
    decision = decision_for(host("PX1", components=components), [host("HV1"), host("HV2")])
    assert decision["needs"]["components"] == [] and decision["can_take_jobs"] is True


def test_an_installer_record_without_its_service_is_not_a_managed_server(host):
    installer_record = {**DATA_MOVER_BY_RECORD, "role": "installer", "name": "installer"}
    sources = [host("HV1", components=[installer_record]), host("HV2")]
    assert decision_for(host("PX1"), sources)["needs"]["managed_servers"] == ["HV1"]


def test_an_unknown_policy_value_is_refused(host):
    with pytest.raises(ValueError, match="fail_on"):
        decision_for(host("PX1"), [host("HV1")], fail_on="sometimes")
    with pytest.raises(ValueError, match="dedup_feature"):
        decision_for(host("PX1"), [host("HV1")], dedup_feature="maybe")
