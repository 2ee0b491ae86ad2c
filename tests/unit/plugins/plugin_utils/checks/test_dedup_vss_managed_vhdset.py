"""R10 (dedup), R11 (VSS hardware provider), R1 (managed servers), R15 (VHD Set): edge cases beyond the estates."""

from __future__ import annotations

from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.dedup import proxy_matches_dedup_hosts
from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.managed import source_hosts_are_managed
from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.vhd_set import no_vhd_set_disks
from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.vss import transportable_hardware_providers


def test_r10_not_applicable_without_dedup_on_csvs(host):
    finding = proxy_matches_dedup_hosts(host("PX1"), [host("HV1", dedup_volumes=[]), host("HV2", dedup_volumes=[])])
    assert finding.status == "pass" and finding.evidence["applicable"] is False


def test_r10_dedup_seen_by_one_node_counts_for_the_cluster(host):
    finding = proxy_matches_dedup_hosts(host("PX1"), [host("HV1", dedup_volumes=[]), host("HV2")])
    assert finding.status == "pass" and set(finding.evidence["dedup_csvs"]) == {"HV1", "HV2"}


def test_r10_feature_binary_versions_must_match(host, raw_hosts):
    features = raw_hosts["PX1"]["features"]
    features[1]["version"] = "10.0.20348.1"
    finding = proxy_matches_dedup_hosts(host("PX1", features=features), [host("HV1")])
    assert finding.status == "fail" and "Data Deduplication 10.0.20348.2227 on HV1" in finding.message


def test_r10_path_comparison_ignores_case_and_trailing_separator(host):
    volumes = [{"volume": "c:\\clusterstorage\\VOLUME2\\", "enabled": True}]
    finding = proxy_matches_dedup_hosts(host("PX1"), [host("HV1", dedup_volumes=volumes)])
    assert finding.evidence["dedup_csvs"] == {"HV1": ["C:\\ClusterStorage\\Volume2"]}


def test_r11_hardware_provider_counts_when_windows_does_not_report_transport(host, raw_hosts):
    providers = raw_hosts["HV1"]["vss_providers"]
    providers[1]["transportable"] = None
    finding = transportable_hardware_providers(host("PX1"), [host("HV1", vss_providers=providers)])
    assert finding.status == "pass" and finding.evidence["hardware_providers"]["HV1"]


def test_r11_hardware_provider_known_not_transportable_fails(host, raw_hosts):
    providers = raw_hosts["HV1"]["vss_providers"]
    for provider in providers:
        provider["transportable"] = False
    finding = transportable_hardware_providers(host("PX1"), [host("HV1", vss_providers=providers)])
    assert finding.status == "fail" and "HV1" in finding.message


def test_r11_not_applicable_without_csv(host):
    finding = transportable_hardware_providers(host("PX1", vss_providers=[]), [host("HV1", cluster=None)])
    assert finding.status == "pass" and finding.evidence["applicable"] is False


def test_r1_stopped_installer_is_still_managed_but_noted(host, raw_hosts):
    components = raw_hosts["HV1"]["components"]
    components[0]["state"] = "Stopped"
    finding = source_hosts_are_managed([host("HV1", components=components)])
    assert finding.status == "pass" and "not running on HV1" in finding.message


def test_r1_unknown_when_components_errored(host):
    finding = source_hosts_are_managed([host("HV1", components={"error": {"message": "Access denied"}})])
    assert finding.status == "unknown" and finding.evidence["unknown"]


def test_r15_detects_vhds_by_extension_when_format_unknown(host, raw_hosts):
    vms = raw_hosts["HV1"]["vms"]
    vms[0]["disks"].append({"path": "C:\\ClusterStorage\\Volume1\\g\\shared.VHDS", "format": None})
    finding = no_vhd_set_disks([host("HV1", vms=vms)])
    assert finding.status == "warn" and list(finding.evidence["vhd_set_vms"]) == ["HV1/VM01"]
