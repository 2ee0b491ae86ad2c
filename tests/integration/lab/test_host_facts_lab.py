"""`backup.hyperv.host_facts` against the lab's healthy estate through Ansible's winrm and psrp plugins.

The same host answers the same document whichever plugin carries the probe, in one round trip
per host (counted from the lab's request log), and the document passes the facts schema.
"""

from __future__ import annotations

import json

import pytest
from lab_testkit import ESTATES, ansible_adhoc, estate_lab, handled_since

from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.schema import validate_facts

HOSTS = ("hv1", "hv2", "px1", "fs1")
VOLATILE = ("collected_at", "probe_duration_ms")  # the only keys that differ between two probes


@pytest.fixture(scope="module")
def healthy_lab(tmp_path_factory: pytest.TempPathFactory):
    with estate_lab(ESTATES / "healthy.yml", tmp_path_factory.mktemp("healthy-lab")) as lab:
        yield lab


def probe(lab, work_dir, connection: str, *arguments: str) -> dict[str, dict]:
    """host_facts on every host over `connection`; each host's facts, after checking its round trips."""
    before = {host: len(lab.log(host)) for host in HOSTS}
    results = ansible_adhoc(
        lab, work_dir, "all", "-m", "backup.hyperv.host_facts", "-e", f"ansible_connection={connection}", *arguments
    )
    assert sorted(results) == sorted(HOSTS)
    facts = {}
    for host in HOSTS:
        assert not results[host].get("failed"), results[host]
        assert handled_since(lab, host, before[host]) == ["collection:host_facts"]  # one round trip
        facts[host] = results[host]["ansible_facts"]["hyperv_offhost"]
        validate_facts(facts[host], host=host)
    return facts


def stable(document: dict) -> dict:
    return {key: value for key, value in document.items() if key not in VOLATILE}


def test_winrm_and_psrp_return_the_same_document_in_one_round_trip(healthy_lab, tmp_path):
    over_winrm = probe(healthy_lab, tmp_path, "winrm")
    over_psrp = probe(healthy_lab, tmp_path, "psrp")
    assert {h: stable(d) for h, d in over_winrm.items()} == {h: stable(d) for h, d in over_psrp.items()}
    hv1, px1 = over_winrm["hv1"], over_winrm["px1"]
    assert hv1["cluster"]["name"] == "CL1" and px1["cluster"] is None
    assert [vm["name"] for vm in hv1["vms"]] == ["vm1", "vm3"]
    assert hv1["components"][0]["service_name"] == "BackupHyperVInstaller"
    assert over_winrm["fs1"]["smb"]["shares"][0]["name"] == "vms"


def test_probe_options_reach_the_script(healthy_lab, tmp_path):
    components = [{"role": "data_mover", "service": "vmms"}, {"role": "installer", "service": "NoSuchService"}]
    options = json.dumps({"probe_timeout": 7, "components": components})
    facts = probe(healthy_lab, tmp_path, "psrp", "-a", options)
    assert facts["hv1"]["components"] == [
        {
            "role": "data_mover",
            "name": None,  # no component record names vmms
            "service_name": "vmms",
            "display_name": "Hyper-V Virtual Machine Management",
            "version": "10.0.20348.2340",
            "state": "Running",
            "start_mode": "Auto",
        }
    ]
    assert facts["fs1"]["components"] == []  # no Hyper-V there: no vmms service


def test_vhdx_disks_the_facts_name_are_real_files(healthy_lab):
    for vm, disk in (("vm1", "vm1.vhdx"), ("vm2", "data.vhdx")):
        shared = healthy_lab.state_dir / "shared" / "csv" / "CL1" / "Volume1" / vm / disk
        assert shared.read_bytes()[:8] == b"vhdxfile"
        for node in ("hv1", "hv2"):  # both nodes see the CSV's files
            assert (
                healthy_lab.host_file(node, "C", "ClusterStorage", "Volume1", vm, disk).read_bytes()[:8] == b"vhdxfile"
            )
    assert healthy_lab.host_file("fs1", "D", "Shares", "vms", "vm3", "vm3.vhdx").read_bytes()[:8] == b"vhdxfile"
