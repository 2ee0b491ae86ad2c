"""R12/R13 and the share helpers: UNC parsing, the proxy's network token, each permission layer."""

from __future__ import annotations

import pytest

from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.smb_access import (
    computer_account_reads_shares,
    proxy_reads_vm_shares,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.smb_shares import (
    depth_below_share,
    network_tokens,
    unc_share,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.checks.trust import server_domain_trusts_proxy
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


def only_token(proxy: Identity, server: Identity) -> frozenset[str]:
    (token,) = network_tokens(proxy, server)
    return token.sids


def test_network_token_defaults_and_local_groups():
    proxy = Identity("PX1", True, account_sid=f"{DOMAIN}-1150", domain_sid=DOMAIN, group_sids=(f"{DOMAIN}-1201",))
    token = only_token(proxy, Identity("FS1", True, domain_sid=DOMAIN))
    assert {f"{DOMAIN}-1150", f"{DOMAIN}-515", f"{DOMAIN}-1201", "S-1-1-0", "S-1-5-11", "S-1-5-2"} <= token
    assert "S-1-5-32-545" in token  # BUILTIN\Users holds Authenticated Users by default
    server = Identity("FS1", True, domain_sid=DOMAIN, local_groups=(LocalGroup("S-1-5-32-545", ("S-1-5-4",)),))
    assert "S-1-5-32-545" not in only_token(proxy, server)  # this server removed Authenticated Users
    server = Identity("FS1", True, domain_sid=DOMAIN, local_groups=(LocalGroup("S-1-5-32-555", (f"{DOMAIN}-1201",)),))
    assert "S-1-5-32-555" in only_token(proxy, server)


PROXY_LOGON_SIDS = (
    "S-1-5-32-545",  # BUILTIN\Users as the proxy defines it
    "S-1-5-32-544",  # BUILTIN\Administrators of the proxy
    "S-1-5-4",  # INTERACTIVE
    "S-1-2-0",  # LOCAL
    "S-1-2-1",  # CONSOLE LOGON
    "S-1-18-2",  # service asserted identity (the S4U logon that listed the groups)
    "S-1-16-8192",  # medium integrity label
    "S-1-5-21-9-8-7-1005",  # a local group of the proxy itself
)


def test_network_token_uses_the_servers_builtin_groups_not_the_proxys():
    """The server builds the token: the proxy's BUILTIN/local groups and logon-type SIDs stay behind."""
    proxy = Identity(
        "PX1",
        True,
        account_sid=f"{DOMAIN}-1150",
        domain_sid=DOMAIN,
        group_sids=(f"{DOMAIN}-515", f"{DOMAIN}-1201", *PROXY_LOGON_SIDS),
        local_groups=(LocalGroup("S-1-5-21-9-8-7-1005", (f"{DOMAIN}-1201",)),),
    )
    server = Identity(
        "FS1",
        True,
        domain_sid=DOMAIN,
        local_groups=(
            LocalGroup("S-1-5-32-545", ("S-1-5-4", f"{DOMAIN}-513")),  # Users: INTERACTIVE, Domain Users
            LocalGroup("S-1-5-32-551", ("S-1-2-0",)),  # Backup Operators: LOCAL
            LocalGroup("S-1-5-32-578", (f"{DOMAIN}-1201",)),  # Hyper-V Administrators: a domain group
        ),
    )
    token = only_token(proxy, server)
    assert not token & set(PROXY_LOGON_SIDS) and "S-1-5-32-551" not in token
    assert {f"{DOMAIN}-1150", f"{DOMAIN}-515", f"{DOMAIN}-1201", "S-1-5-2", "S-1-5-32-578"} <= token


def test_this_organization_within_the_forest_either_organization_sid_across():
    proxy = Identity("PX1", True, forest="corp.example.com")
    assert "S-1-5-15" in only_token(proxy, Identity("FS1", True, forest="corp.example.com"))
    across = network_tokens(proxy, Identity("FS1", True, forest="other.example.org"))
    # "Security Considerations for Trusts": This Organization unless selective authentication
    # put Other Organization in; never both.
    assert sorted(len({"S-1-5-15", "S-1-5-1000"} & token.sids) for token in across) == [1, 1]
    assert {sid for token in across for sid in token.sids} >= {"S-1-5-15", "S-1-5-1000"}


@pytest.mark.parametrize(
    ("path", "depth"),
    [
        ("\\\\fs1\\VMS\\d.vhdx", 0),
        ("\\\\fs1\\VMS\\VM03\\VM03.vhdx", 1),
        ("\\\\?\\UNC\\fs1\\VMS\\sub\\dir\\disk.vhdx", 2),
        ("//fs1/VMS/a//b/./d.vhdx", 2),
        ("\\\\fs1\\VMS", None),
        ("C:\\VMs\\d.vhdx", None),
    ],
)
def test_depth_below_share(path, depth):
    assert depth_below_share(path) == depth


def hosts_with(host, share_sddl=None, path_sddl=None, proxy_identity=None, server_identity=None, disk_path=None):
    fs1 = host("FS1")
    share = fs1.smb.shares[0]
    changed = {"name": share.name, "path": share.path, "share_sddl": share_sddl, "path_sddl": path_sddl}
    changed = {key: value for key, value in changed.items() if value is not None}
    server_sections = {"identity": server_identity} if server_identity else {}
    server = host(
        "FS1",
        smb={"shares": [{**{"share_sddl": share.share_sddl, "path_sddl": share.path_sddl}, **changed}]},
        **server_sections,
    )
    proxy = host("PX1", identity=proxy_identity) if proxy_identity else host("PX1")
    sources = [with_smb_disk(host, "HV1", disk_path), host("HV2")] if disk_path else [host("HV1"), host("HV2")]
    return proxy, sources, [server]


def with_smb_disk(host, name, path):
    """Host ``name`` with its SMB3-resident VM disk moved to ``path``."""
    hv = host(name)
    vms = [
        {
            "name": vm.name,
            "disks": [{"path": path if disk.path.startswith("\\\\") else disk.path} for disk in vm.disks],
        }
        for vm in hv.vms
    ]
    return host(name, vms=vms)


SHARE_ROOT = "\\\\fs1.corp.example.com\\VMS"
OPEN_SHARE = "O:SYG:SYD:(A;;FA;;;WD)"


@pytest.mark.parametrize(
    ("ace_flags", "disk_path", "status"),
    [
        ("OINP", f"{SHARE_ROOT}\\VM03.vhdx", "pass"),  # a file directly in the share root gets it
        ("OINP", f"{SHARE_ROOT}\\VM03\\VM03.vhdx", "fail"),  # not a file in a subfolder
        ("OICINP", f"{SHARE_ROOT}\\VM03\\VM03.vhdx", "fail"),  # the subfolder's copy no longer inherits
        ("OICI", f"{SHARE_ROOT}\\sub\\dir\\VM03.vhdx", "pass"),
        ("OI", f"{SHARE_ROOT}\\sub\\dir\\VM03.vhdx", "pass"),  # through inherit-only copies
        ("CI", f"{SHARE_ROOT}\\VM03.vhdx", "fail"),  # container-inherit only: no file gets it
    ],
)
def test_r12_judges_the_acl_the_vm_file_gets(host, ace_flags, disk_path, status):
    """The folder grants the proxy read for itself; the file's read comes only through inheritance."""
    path_sddl = f"O:BAG:SYD:PAI(A;OICI;FA;;;SY)(A;;FR;;;DC)(A;{ace_flags};FR;;;DC)"
    proxy, sources, servers = hosts_with(host, share_sddl=OPEN_SHARE, path_sddl=path_sddl, disk_path=disk_path)
    finding = proxy_reads_vm_shares(proxy, sources, servers)
    assert finding.status == status
    depth = disk_path.count("\\") - SHARE_ROOT.count("\\") - 1
    layers = finding.evidence["shares"][0]["layers"]
    assert layers["folder_acl"]["readable"] is True
    assert layers[f"files_acl_depth_{depth}"]["readable"] is (status == "pass")


def test_r13_names_the_layer_of_the_files_that_are_denied(host):
    path_sddl = "O:BAG:SYD:PAI(A;OICI;FA;;;SY)(A;OINP;FR;;;DC)"
    proxy, sources, servers = hosts_with(host, share_sddl=OPEN_SHARE, path_sddl=path_sddl)
    finding = computer_account_reads_shares(proxy, sources, servers)
    assert finding.status == "fail"
    assert "ACL inherited by files 1 folder below the share root" in finding.message


def test_r12_share_readable_only_through_the_proxys_own_builtin_users_fails(host, raw_hosts):
    """BUILTIN\\Users in the proxy's S4U token is the proxy's group; FS1's Users holds INTERACTIVE only."""
    proxy_identity = {**raw_hosts["PX1"]["identity"]}
    proxy_identity["group_sids"] = [*proxy_identity["group_sids"], "S-1-5-32-545", "S-1-5-4", "S-1-2-0"]
    server_identity = {**raw_hosts["FS1"]["identity"]}
    server_identity["local_groups"] = [{"sid": "S-1-5-32-545", "name": "Users", "members": ["S-1-5-4"]}]
    path_sddl = "O:BAG:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FR;;;BU)"
    proxy, sources, servers = hosts_with(
        host, share_sddl=OPEN_SHARE, path_sddl=path_sddl, proxy_identity=proxy_identity, server_identity=server_identity
    )
    finding = proxy_reads_vm_shares(proxy, sources, servers)
    assert finding.status == "fail"


def test_r13_says_which_domain_dc_was_resolved_against(host, raw_hosts):
    """A proxy of another domain is not the file server's Domain Computers: the message says whose DC."""
    other = "S-1-5-21-4444444444-5555555555-6666666666"
    proxy_identity = {
        **raw_hosts["PX1"]["identity"],
        "domain": "BRANCH",
        "dns_domain": "branch.corp.example.com",
        "account_name": "BRANCH\\PX1$",
        "account_sid": f"{other}-1150",
        "domain_sid": other,
        "group_sids": [f"{other}-515"],
    }
    path_sddl = "O:BAG:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FR;;;DC)"
    proxy, sources, servers = hosts_with(
        host, share_sddl=OPEN_SHARE, path_sddl=path_sddl, proxy_identity=proxy_identity
    )
    finding = computer_account_reads_shares(proxy, sources, servers)
    assert finding.status == "fail"
    assert f"DC resolved against domain CORP ({DOMAIN})" in finding.message


def test_r12_across_forests_undecided_when_only_this_organization_grants(host, raw_hosts):
    proxy_identity = {**raw_hosts["PX1"]["identity"], "forest": "partner.example.org"}
    proxy_identity["domain_sid"] = "S-1-5-21-4444444444-5555555555-6666666666"
    path_sddl = "O:BAG:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FR;;;S-1-5-15)"
    proxy, sources, servers = hosts_with(
        host, share_sddl=OPEN_SHARE, path_sddl=path_sddl, proxy_identity=proxy_identity
    )
    for check in (proxy_reads_vm_shares, computer_account_reads_shares):
        finding = check(proxy, sources, servers)
        assert finding.status == "unknown" and "selective authentication" in finding.message


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
        assert finding.status == "unknown" and "the proxy's group memberships are not in the facts" in finding.message


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


def test_a_deny_for_domain_computers_with_the_servers_identity_unknown_is_no_pass(host, raw_hosts):
    """FS1's identity section failed: DC cannot be resolved, and the deny for it comes first. The proxy may be
    denied: unknown, not "can read" (it was a pass, naming DC as unresolved in the evidence)."""
    proxy, sources, servers = hosts_with(
        host,
        share_sddl=OPEN_SHARE,
        path_sddl="O:BAG:SYD:(D;OICI;FR;;;DC)(A;OICI;0x1200a9;;;AU)",
        server_identity={"error": {"message": "the identity section failed"}},
    )
    for check in (proxy_reads_vm_shares, computer_account_reads_shares):
        finding = check(proxy, sources, servers)
        assert finding.status == "unknown" and "DC (an alias the server's domain would resolve" in finding.message


def test_a_deny_for_a_domain_group_with_the_proxys_groups_unknown_is_no_pass(host, raw_hosts):
    identity = {**raw_hosts["PX1"]["identity"], "group_sids": None}
    path_sddl = f"O:BAG:SYD:(D;OICI;FR;;;{DOMAIN}-1200)(A;OICI;FR;;;AU)"
    proxy, sources, servers = hosts_with(host, share_sddl=OPEN_SHARE, path_sddl=path_sddl, proxy_identity=identity)
    for check in (proxy_reads_vm_shares, computer_account_reads_shares):
        finding = check(proxy, sources, servers)
        assert finding.status == "unknown" and f"{DOMAIN}-1200 (a domain group" in finding.message


def test_a_scale_out_file_server_share_is_assessed_on_the_node_that_publishes_its_scope(host):
    """VMs on \\\\SOFS1\\VMS, SOFS1 being the cluster's client access point: FS1 publishes VMS with ScopeName SOFS1
    (Get-SmbShare), so R12 and R14 are decided on FS1's facts, not left unknown for want of a host named SOFS1."""
    fs1 = host("FS1")
    share = fs1.smb.shares[0]
    published = {"name": share.name, "path": share.path, "share_sddl": OPEN_SHARE, "path_sddl": share.path_sddl}
    server = host("FS1", smb={"shares": [{**published, "scope_name": "SOFS1"}]})
    sources = [with_smb_disk(host, "HV1", "\\\\SOFS1\\VMS\\VM03\\VM03.vhdx"), host("HV2")]
    assert proxy_reads_vm_shares(host("PX1"), sources, [server]).status == "pass"
    assert server_domain_trusts_proxy(host("PX1"), sources, [server]).status == "pass"
    unscoped = host("FS1", smb={"shares": [published]})
    finding = proxy_reads_vm_shares(host("PX1"), sources, [unscoped])
    assert finding.status == "unknown" and "no facts for SMB3 server SOFS1" in finding.message
