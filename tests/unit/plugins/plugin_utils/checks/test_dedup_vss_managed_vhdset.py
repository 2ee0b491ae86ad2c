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


def test_r10_update_level_is_not_a_version_mismatch(host, raw_hosts):
    """Same build, different cumulative update: the dedup binary's revision differs, R6 and R10 both accept it."""
    features = raw_hosts["PX1"]["features"]
    features[1]["version"] = "10.0.20348.2113"  # the proxy's UBR is 2113, the hosts' 2227
    finding = proxy_matches_dedup_hosts(host("PX1", features=features), [host("HV1"), host("HV2")])
    assert finding.status == "pass", finding.message
    versions = finding.evidence["feature_versions"]
    assert versions == {"PX1": "10.0.20348.2113", "HV1": "10.0.20348.2227", "HV2": "10.0.20348.2227"}


def test_r10_other_build_fails_with_the_r6_wording(host, raw_hosts):
    os_info = {**raw_hosts["PX1"]["os"], "version": "10.0.17763", "build": 17763, "ubr": 5830}
    finding = proxy_matches_dedup_hosts(host("PX1", os=os_info), [host("HV1")])
    assert finding.status == "fail"
    assert "PX1 Microsoft Windows Server 2022 Datacenter 10.0 build 17763.5830" in finding.message


def test_r10_path_comparison_ignores_case_and_trailing_separator(host):
    volumes = [{"volume": "c:\\clusterstorage\\VOLUME2\\", "enabled": True}]
    finding = proxy_matches_dedup_hosts(host("PX1"), [host("HV1", dedup_volumes=volumes)])
    assert finding.evidence["dedup_csvs"] == {"HV1": ["C:\\ClusterStorage\\Volume2"]}


def _unproven(raw_hosts, name):
    """The host's providers as host_facts reports them: Windows does not say whether they are transportable."""
    providers = raw_hosts[name]["vss_providers"]
    for provider in providers:
        if provider["type"] == "hardware":
            provider["transportable"] = None
    return providers


def test_r11_unproven_hardware_provider_warns_with_the_reason(host, raw_hosts):
    finding = transportable_hardware_providers(host("PX1"), [host("HV1", vss_providers=_unproven(raw_hosts, "HV1"))])
    assert finding.status == "warn", finding.message
    assert "HV1" in finding.message and "PX1" not in finding.message
    assert "Windows does not report" in finding.message
    assert "set option transportable" in finding.remedy
    assert finding.evidence["hardware_providers"]["HV1"] == {
        "proven": [],
        "unproven": ["Contoso StorageWorks VSS Hardware Provider 5.2.0"],
    }


def test_r11_proven_on_every_host_passes(host):
    finding = transportable_hardware_providers(host("PX1"), [host("HV1"), host("HV2")])
    assert finding.status == "pass", finding.message
    assert {h: v["unproven"] for h, v in finding.evidence["hardware_providers"].items()} == {
        "PX1": [],
        "HV1": [],
        "HV2": [],
    }


def test_r11_missing_provider_fails_over_an_unproven_one(host, raw_hosts):
    software_only = [p for p in raw_hosts["PX1"]["vss_providers"] if p["type"] != "hardware"]
    finding = transportable_hardware_providers(
        host("PX1", vss_providers=software_only), [host("HV1", vss_providers=_unproven(raw_hosts, "HV1"))]
    )
    assert finding.status == "fail" and "PX1" in finding.message


def test_r11_unknown_section_wins_over_an_unproven_provider(host, raw_hosts):
    errored = {"error": {"message": "Access denied"}}
    finding = transportable_hardware_providers(
        host("PX1", vss_providers=_unproven(raw_hosts, "PX1")), [host("HV1", vss_providers=errored)]
    )
    assert finding.status == "unknown" and "HV1" in finding.message


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
