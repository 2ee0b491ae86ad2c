"""R12/R13 and the share helpers: UNC parsing, the proxy's network token, each permission layer."""

from __future__ import annotations

import pytest

from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.smb_access import (
    computer_account_reads_shares,
    proxy_reads_vm_shares,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.smb_shares import network_token, unc_share
from ansible_collections.backup.hyperv.plugins.plugin_utils.facts.model import Identity, LocalGroup

DOMAIN = "S-1-5-21-1111111111-2222222222-3333333333"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("\\\\fs1\\VMS\\vm\\disk.vhdx", ("fs1", "VMS")),
        ("\\\\?\\UNC\\fs1.corp.example.com\\VMS\\d.vhdx", ("fs1.corp.example.com", "VMS")),
        ("//fs1/VMS/d.vhdx", ("fs1", "VMS")),
        ("C:\\ClusterStorage\\Volume1\\d.vhdx", None),
        ("\\\\?\\C:\\d.vhdx", None),
        ("\\\\fs1", None),
    ],
)
def test_unc_share(path, expected):
    assert unc_share(path) == expected


def test_network_token_defaults_and_local_groups():
    proxy = Identity("PX1", True, account_sid=f"{DOMAIN}-1150", domain_sid=DOMAIN, group_sids=(f"{DOMAIN}-1201",))
    token = network_token(proxy, None)
    assert {f"{DOMAIN}-1150", f"{DOMAIN}-515", f"{DOMAIN}-1201", "S-1-1-0", "S-1-5-11", "S-1-5-2"} <= token
    assert "S-1-5-32-545" in token  # BUILTIN\Users holds Authenticated Users by default
    server = Identity("FS1", True, local_groups=(LocalGroup("S-1-5-32-545", ("S-1-5-4",)),))
    assert "S-1-5-32-545" not in network_token(proxy, server)  # this server removed Authenticated Users
    server = Identity("FS1", True, local_groups=(LocalGroup("S-1-5-32-555", (f"{DOMAIN}-1201",)),))
    assert "S-1-5-32-555" in network_token(proxy, server)


def test_this_organization_only_within_the_forest():
    proxy = Identity("PX1", True, forest="corp.example.com")
    assert "S-1-5-15" in network_token(proxy, Identity("FS1", True, forest="corp.example.com"))
    assert "S-1-5-15" not in network_token(proxy, Identity("FS1", True, forest="other.example.org"))


def hosts_with(host, share_sddl=None, path_sddl=None, proxy_identity=None):
    fs1 = host("FS1")
    share = fs1.smb.shares[0]
    changed = {"name": share.name, "path": share.path, "share_sddl": share_sddl, "path_sddl": path_sddl}
    changed = {key: value for key, value in changed.items() if value is not None}
    server = host(
        "FS1", smb={"shares": [{**{"share_sddl": share.share_sddl, "path_sddl": share.path_sddl}, **changed}]}
    )
    proxy = host("PX1", identity=proxy_identity) if proxy_identity else host("PX1")
    return proxy, [host("HV1"), host("HV2")], [server]


def test_r13_evidence_shows_each_layer(host):
    proxy, sources, servers = hosts_with(host, share_sddl="O:SYG:SYD:(A;;FA;;;BA)")
    finding = computer_account_reads_shares(proxy, sources, servers)
    assert finding.status == "fail"
    assert (
        "share permissions of \\\\fs1.corp.example.com\\VMS: no read for CORP\\PX1$ (no ACE grants read)"
        in finding.message
    )
    layers = finding.evidence["shares"][0]["layers"]
    assert layers["share_permissions"]["readable"] is False and layers["folder_acl"]["readable"] is True


def test_missing_sddl_is_unknown_not_fail(host, raw_hosts):
    raw_share = raw_hosts["FS1"]["smb"]["shares"][0]
    raw_share["path_sddl"] = None
    fs1 = host("FS1", smb=raw_hosts["FS1"]["smb"])
    finding = computer_account_reads_shares(host("PX1"), [host("HV1")], [fs1])
    assert finding.status == "unknown" and "folder ACL not reported" in finding.message


def test_unknown_group_memberships_make_a_denial_undecided(host, raw_hosts):
    identity = {**raw_hosts["PX1"]["identity"], "group_sids": None}
    proxy, sources, servers = hosts_with(host, proxy_identity=identity)
    for check in (proxy_reads_vm_shares, computer_account_reads_shares):
        finding = check(proxy, sources, servers)
        assert finding.status == "unknown" and "group memberships of PX1 unknown" in finding.message


def test_workgroup_proxy_fails_both(host, raw_hosts):
    identity = {"computer_name": "PX1", "part_of_domain": False}
    proxy, sources, servers = hosts_with(host, proxy_identity=identity)
    assert proxy_reads_vm_shares(proxy, sources, servers).status == "fail"
    assert computer_account_reads_shares(proxy, sources, servers).status == "fail"


def test_no_vm_on_smb_is_not_applicable(host, raw_hosts):
    vms = [vm for vm in raw_hosts["HV1"]["vms"] if vm["name"] != "VM03"]
    finding = proxy_reads_vm_shares(host("PX1"), [host("HV1", vms=vms)], [])
    assert finding.status == "pass" and finding.evidence["applicable"] is False


def test_bad_sddl_is_unknown_with_offset(host):
    proxy, sources, servers = hosts_with(host, share_sddl="O:SYD:(A;;FA;;SY)")
    finding = proxy_reads_vm_shares(proxy, sources, servers)
    assert finding.status == "unknown" and "share permissions SDDL unreadable (offset" in finding.message
