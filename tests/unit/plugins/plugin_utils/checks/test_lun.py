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
