"""R9: LUNs behind source CSVs, matched on the proxy by page 83 id then serial number."""

from __future__ import annotations

from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.lun import match_disk, proxy_reads_csv_luns
from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.model import Disk, LunId


def test_unique_id_wins_over_serial():
    disks = [Disk(1, True, serial_number="S1", unique_id="AAA"), Disk(2, True, serial_number="S2", unique_id="BBB")]
    disk, how = match_disk(LunId(serial_number="S1", unique_id="bbb"), disks)
    assert (disk.number, how) == (2, "unique_id")


def test_serial_is_the_fallback_and_ignores_spaces_and_case():
    disk, how = match_disk(LunId(serial_number=" psv7 a1 "), [Disk(4, True, serial_number="PSV7A1")])
    assert (disk.number, how) == (4, "serial_number")


def test_no_identifier_matches_nothing():
    assert match_disk(LunId(), [Disk(1, True)]) == (None, "")


def test_readable_unknown_leaves_r9_undecided(host, raw_hosts):
    disks = raw_hosts["PX1"]["disks"]
    disks[1]["readable"] = None
    finding = proxy_reads_csv_luns(host("PX1", disks=disks), [host("HV1")])
    assert finding.status == "unknown" and "did not test reading disk 1" in finding.message


def test_missing_lun_is_named_with_cluster_and_csv(host, raw_hosts):
    disks = raw_hosts["PX1"]["disks"][:2]
    finding = proxy_reads_csv_luns(host("PX1", disks=disks), [host("HV1"), host("HV2")])
    assert finding.status == "fail"
    assert finding.evidence["missing"] == ["60002AC0000000000000000A00001235 (CL1 C:\\ClusterStorage\\Volume2)"]


def _with_luns(raw_hosts, name, volume_index, luns):
    cluster = raw_hosts[name]["cluster"]
    cluster["shared_volumes"][volume_index]["luns"] = luns
    return cluster


def test_csv_without_identified_luns_is_unknown_not_pass(host, raw_hosts):
    """An empty LUN list is not 'all LUNs readable': the CSV's disk was not identified."""
    hv1 = host("HV1", cluster=_with_luns(raw_hosts, "HV1", 0, []))
    hv2 = host("HV2", cluster=_with_luns(raw_hosts, "HV2", 0, []))
    finding = proxy_reads_csv_luns(host("PX1"), [hv1, hv2])
    assert finding.status == "unknown", finding.message
    assert "could not identify the LUN of CL1 C:\\ClusterStorage\\Volume1" in finding.message
    assert "UniqueId" in finding.remedy and "SerialNumber" in finding.remedy
    assert finding.evidence["unidentified"] == ["CL1 C:\\ClusterStorage\\Volume1"]


def test_lun_without_any_identifier_is_unknown_not_missing(host, raw_hosts):
    hv1 = host("HV1", cluster=_with_luns(raw_hosts, "HV1", 1, [{"serial_number": None, "unique_id": None}]))
    finding = proxy_reads_csv_luns(host("PX1"), [hv1])
    assert finding.status == "unknown" and finding.evidence["missing"] == []
    assert finding.evidence["unidentified"] == ["CL1 C:\\ClusterStorage\\Volume2"]


def test_one_node_identifying_the_lun_is_enough(host, raw_hosts):
    """Node views are pooled: a node that could not identify the disk does not hide the one that did."""
    hv1 = host("HV1", cluster=_with_luns(raw_hosts, "HV1", 0, []))
    finding = proxy_reads_csv_luns(host("PX1"), [hv1, host("HV2")])
    assert finding.status == "pass" and len(finding.evidence["matched"]) == 2


def test_a_missing_lun_fails_even_when_another_csv_is_unidentified(host, raw_hosts):
    disks = raw_hosts["PX1"]["disks"][:2]
    hv1 = host("HV1", cluster=_with_luns(raw_hosts, "HV1", 0, []))
    finding = proxy_reads_csv_luns(host("PX1", disks=disks), [hv1])
    assert finding.status == "fail" and finding.evidence["unknown"]
