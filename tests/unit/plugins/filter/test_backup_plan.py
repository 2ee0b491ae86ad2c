from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.backup.hyperv.plugins.filter.backup_plan import (
    backup_plan,
    backup_plan_lines,
    backup_proxy_entry,
    backup_source_vms,
    backup_vm_names,
    volume_of,
)


def _vm(name: str, host: str, *paths: str, fmt: str = "VHDX") -> dict:
    return {"name": name, "host": host, "disks": [{"path": p, "format": fmt} for p in paths]}


def _proxy(name: str, *serves: str, slots: int = 1, healthy: bool = True) -> dict:
    return {"name": name, "slots": slots, "serves": list(serves), "healthy": healthy}


@pytest.mark.parametrize(
    ("path", "volume"),
    [
        ("C:\\ClusterStorage\\Volume1\\vm1\\a.vhdx", "c:\\clusterstorage\\volume1"),
        ("c:\\clusterstorage\\VOLUME1\\x.vhdx", "c:\\clusterstorage\\volume1"),
        ("\\\\?\\C:\\ClusterStorage\\Volume2\\x.vhdx", "c:\\clusterstorage\\volume2"),
        ("\\\\fs1\\VMs\\vm1\\a.vhdx", "\\\\fs1\\vms"),
        ("\\\\?\\UNC\\fs1\\VMs\\vm1\\a.vhdx", "\\\\fs1\\vms"),  # the long form names the same share
        ("\\\\?\\unc\\fs1\\VMs\\b.vhdx", "\\\\fs1\\vms"),
        ("D:\\Hyper-V\\a.vhdx", "d:"),
    ],
)
def test_volume_of_names_the_csv_share_or_drive(path, volume):
    assert volume_of(path) == volume


def test_vms_sharing_a_volume_on_one_host_share_a_group_up_to_the_limit():
    csv1, csv2 = "C:\\ClusterStorage\\Volume1", "C:\\ClusterStorage\\Volume2"
    vms = [_vm(f"a{i}", "hv1", f"{csv1}\\a{i}.vhdx") for i in range(5)]
    vms += [_vm(f"b{i}", "hv1", f"{csv2}\\b{i}.vhdx") for i in range(2)]
    vms += [_vm("c0", "hv2", f"{csv1}\\c0.vhdx")]  # same CSV, other host: its own set
    plan = backup_plan(vms, [_proxy("px1", "hv1", "hv2")], max_vms_per_snapshot=3)
    groups = plan["proxies"]["px1"]["groups"]
    assert sorted(g["vms"] for g in groups) == [["a0", "a1", "a2"], ["a3", "a4"], ["b0", "b1"], ["c0"]]
    assert plan["groups"] == 4
    assert {g["host"] for g in groups if g["vms"] == ["c0"]} == {"hv2"}


def test_a_vm_on_two_volumes_joins_their_groups():
    csv1, csv2 = "C:\\ClusterStorage\\Volume1", "C:\\ClusterStorage\\Volume2"
    vms = [
        _vm("x", "hv1", f"{csv1}\\x.vhdx"),
        _vm("y", "hv1", f"{csv2}\\y.vhdx"),
        _vm("xy", "hv1", f"{csv1}\\1.vhdx", f"{csv2}\\2.vhdx"),
    ]
    plan = backup_plan(vms, [_proxy("px1", "hv1")])
    (group,) = plan["proxies"]["px1"]["groups"]
    assert sorted(group["vms"]) == ["x", "xy", "y"]
    assert group["volumes"] == ["c:\\clusterstorage\\volume1", "c:\\clusterstorage\\volume2"]


def test_groups_spread_over_healthy_proxies_serving_their_host():
    vms = [_vm(f"v{i}", f"hv{i % 2 + 1}", f"C:\\ClusterStorage\\Volume{i % 2 + 1}\\v{i}.vhdx") for i in range(8)]
    proxies = [_proxy("px1", "hv1", "hv2"), _proxy("px2", "hv1", "hv2"), _proxy("px3", "hv1", healthy=False)]
    plan = backup_plan(vms, proxies, max_vms_per_snapshot=2)
    counts = {name: len(part["groups"]) for name, part in plan["proxies"].items()}
    assert counts == {"px1": 2, "px2": 2}
    assert sorted(vm for part in plan["proxies"].values() for vm in part["vms"]) == sorted(
        f"{v['host']}/{v['name']}" for v in vms
    )


def test_left_out_vms_are_named_missing_vhd_set_and_unserved():
    vms = [
        _vm("ok", "hv1", "D:\\ok.vhdx"),
        _vm("shared", "hv1", "D:\\s.vhds", fmt="VHDSet"),
        _vm("far", "hv9", "D:\\f.vhdx"),
    ]
    plan = backup_plan(vms, [_proxy("px1", "hv1")], selected=["ok", "shared", "far", "ghost"])
    assert plan["missing"] == ["ghost"]
    assert plan["vhd_set"] == ["hv1/shared"]
    assert plan["unserved"] == ["hv9/far"]
    assert plan["proxies"]["px1"]["vms"] == ["hv1/ok"]


@pytest.mark.parametrize("bad", [0, -1, "many", ""])
def test_a_bad_limit_per_snapshot_is_refused(bad):
    with pytest.raises(AnsibleFilterError, match="max_vms_per_snapshot"):
        backup_plan([], [_proxy("px1")], max_vms_per_snapshot=bad)


@pytest.mark.parametrize(
    ("sizes", "named"),
    [
        ([1, 2], "must map VM names to sizes in bytes"),
        ({"a": "200G"}, r"\['a'\] must be a whole number"),
        ({"a": -1}, r"\['a'\] must be"),
        ({"a": True}, r"\['a'\] must be"),
    ],
)
def test_vm_sizes_that_are_not_bytes_per_vm_are_refused_naming_them(sizes, named):
    with pytest.raises(AnsibleFilterError, match=named):
        backup_plan([], [_proxy("px1")], sizes=sizes)


def test_vm_sizes_weigh_the_groups():
    vms = [{"host": "hv1", "name": n, "disks": [{"path": f"C:\\ClusterStorage\\V{n}\\{n}.vhdx"}]} for n in "ab"]
    plan = backup_plan(vms, [_proxy("px1", "hv1")], sizes={"a": "300", "b": 5})
    assert sorted(g["size"] for g in plan["proxies"]["px1"]["groups"]) == [5, 300]


def test_proxy_entry_reads_slots_and_health_from_host_vars():
    entry = backup_proxy_entry({"inventory_hostname": "px1", "backup_proxy_slots": 4}, {"px1": ["hv1"]}, ["px2"])
    assert entry == {"name": "px1", "slots": 4, "serves": ["hv1"], "healthy": False}


def test_planning_a_thousand_vms_touches_each_once():
    vms = [_vm(f"v{i}", f"hv{i % 8}", f"C:\\ClusterStorage\\Volume{i % 4}\\v{i}.vhdx") for i in range(1000)]
    proxies = [_proxy(f"px{p}", *[f"hv{h}" for h in range(8)], slots=2) for p in range(4)]
    plan = backup_plan(vms, proxies)
    assert sum(len(part["vms"]) for part in plan["proxies"].values()) == 1000
    assert all(len(g["vms"]) <= 16 for part in plan["proxies"].values() for g in part["groups"])


def test_each_proxy_goes_host_by_host_and_the_proxies_start_on_different_hosts():
    """VSS creates one set at a time per host: two proxies that both began with hv1's groups would queue there."""
    vms = [_vm(f"v{i}", f"hv{i % 3 + 1}", f"C:\\ClusterStorage\\Volume1\\v{i}.vhdx") for i in range(24)]
    proxies = [_proxy("px1", "hv1", "hv2", "hv3"), _proxy("px2", "hv1", "hv2", "hv3")]
    plan = backup_plan(vms, proxies, max_vms_per_snapshot=2)
    hosts = {name: [g["host"] for g in part["groups"]] for name, part in plan["proxies"].items()}
    assert sorted(len(h) for h in hosts.values()) == [6, 6]
    for order in hosts.values():  # host by host in turn: no host twice in a row while others wait
        assert all(a != b for a, b in zip(order, order[1:])), order
    assert all(a != b for a, b in zip(hosts["px1"], hosts["px2"])), hosts  # at each step, different hosts
    for part in plan["proxies"].values():  # each host's groups keep their order, and vms follows groups
        assert part["vms"] == [f"{g['host']}/{vm}" for g in part["groups"] for vm in g["vms"]]


def test_a_proxy_with_one_host_keeps_the_assigned_order_largest_first():
    vms = [_vm(f"v{i}", "hv1", f"C:\\ClusterStorage\\Volume{i % 2 + 1}\\v{i}.vhdx") for i in range(6)]
    plan = backup_plan(vms, [_proxy("px1", "hv1")], max_vms_per_snapshot=2)
    groups = plan["proxies"]["px1"]["groups"]
    assert [(len(g["vms"]), g["id"]) for g in groups] == [(2, "hv1#1"), (2, "hv1#3"), (1, "hv1#2"), (1, "hv1#4")]


def test_source_vms_carry_their_host_and_hosts_without_a_list_are_named():
    listed = {"inventory_hostname": "hv1", "ansible_facts": {"hyperv_offhost": {"vms": [{"name": "a"}, {"name": "b"}]}}}
    failed_section = {
        "inventory_hostname": "hv2",
        "ansible_facts": {"hyperv_offhost": {"vms": {"error": {"message": "Get-VM: access denied"}}}},
    }
    not_probed = {"inventory_hostname": "hv3", "ansible_facts": {}}
    no_vms = {"inventory_hostname": "hv4", "ansible_facts": {"hyperv_offhost": {"vms": []}}}
    sources = backup_source_vms([listed, failed_section, not_probed, no_vms])
    assert sources["vms"] == [{"name": "a", "host": "hv1"}, {"name": "b", "host": "hv1"}]
    assert sources["unlisted"] == [
        {"host": "hv2", "reason": "Get-VM: access denied"},
        {"host": "hv3", "reason": "no hyperv_offhost facts"},
    ]
    assert sources["unprobed"] == ["hv3"]
    assert "host" not in listed["ansible_facts"]["hyperv_offhost"]["vms"][0]  # the facts are not changed


def test_plan_lines_warn_then_say_r15_under_the_policy_then_each_proxy():
    vms = [_vm("ok", "hv1", "D:\\ok.vhdx"), _vm("shared", "hv1", "D:\\s.vhds", fmt="VHDSet")]
    plan = backup_plan(vms, [_proxy("px1", "hv1"), _proxy("px2", "hv1", healthy=False)])
    unlisted = [{"host": "hv2", "reason": "no hyperv_offhost facts"}]
    assert backup_plan_lines(plan, unlisted, "fail") == [
        "[WARNING] hv2 reported no VM list (no hyperv_offhost facts); its VMs are left out.",
        "[WARNING] R15: hv1/shared have VHD Set disks and are left out; the other VMs are backed up, then the run"
        " fails naming them.",
        "px1: 1 volume group(s), 1 VM(s): hv1/ok",
    ]
    assert backup_plan_lines(plan, [], "skip")[0] == "R15: skipping hv1/shared"
    assert backup_plan_lines(backup_plan([], [_proxy("px1", "hv1")]), [], "fail") == [
        "R15: no VM has a VHD Set disk",
        "px1: 0 volume group(s), 0 VM(s): no VM",
    ]


def test_a_vm_with_a_pass_through_disk_is_refused_before_any_checkpoint_and_an_empty_drive_is_not():
    """Get-VMHardDiskDrive names no file for a physical disk attached to the VM: no checkpoint or shadow copy holds
    it, so the VM is refused with the reason rather than backed up without that disk; a drive with no media (an empty
    Path) holds nothing and refuses nothing."""
    csv = "C:\\ClusterStorage\\Volume1"
    vms = [
        _vm("physical", "hv1", f"{csv}\\physical\\os.vhdx", "Disk 2 40.00 GB Bus 0 Lun 0 Target 2"),
        _vm("empty", "hv1", f"{csv}\\empty\\os.vhdx", ""),
        _vm("plain", "hv1", f"{csv}\\plain\\os.vhdx"),
    ]
    plan = backup_plan(vms, [_proxy("px1", "hv1")])
    assert [entry["vm"] for entry in plan["refused"]] == ["hv1/physical"]
    assert "pass-through disk(s) (Disk 2 40.00 GB Bus 0 Lun 0 Target 2)" in plan["refused"][0]["reason"]
    assert plan["proxies"]["px1"]["vms"] == ["hv1/empty", "hv1/plain"]


def test_a_vm_on_a_share_and_a_volume_is_left_out_alone_and_joins_no_group():
    """One set cannot be both an SMB3 share's and a volume's: the VM is refused with the reason, and the VMs it
    would have joined (one on the share, one on the CSV) keep sets of one kind each."""
    csv, share = "C:\\ClusterStorage\\Volume1", "\\\\fs1\\vms"
    vms = [
        _vm("both", "hv1", f"{share}\\both\\a.vhdx", f"{csv}\\both\\b.vhdx"),
        _vm("oncsv", "hv1", f"{csv}\\oncsv\\a.vhdx"),
        _vm("onshare", "hv1", f"{share}\\onshare\\a.vhdx"),
    ]
    plan = backup_plan(vms, [_proxy("px1", "hv1")], max_vms_per_snapshot=2)
    assert [entry["vm"] for entry in plan["refused"]] == ["hv1/both"]
    assert "SMB3 share (\\\\fs1\\vms) and on a local or cluster shared volume" in plan["refused"][0]["reason"]
    assert sorted(group["volumes"] for group in plan["proxies"]["px1"]["groups"]) == [
        ["\\\\fs1\\vms"],
        ["c:\\clusterstorage\\volume1"],
    ]


def test_vms_of_one_name_on_two_hosts_are_left_out_naming_both():
    """The repository keeps restore points by VM name: two web01 would share one history (and one's RCT ids)."""
    vms = [_vm("web01", "hv1", "D:\\a.vhdx"), _vm("WEB01", "hv2", "D:\\b.vhdx"), _vm("db", "hv2", "D:\\c.vhdx")]
    plan = backup_plan(vms, [_proxy("px1", "hv1", "hv2")])
    assert [entry["vm"] for entry in plan["refused"]] == ["hv1/web01", "hv2/WEB01"]
    assert "several hosts (hv1/web01, hv2/WEB01)" in plan["refused"][0]["reason"]
    assert plan["proxies"]["px1"]["vms"] == ["hv2/db"]
    lines = backup_plan_lines(plan, [], "fail")
    assert any(line.startswith("[WARNING] hv1/web01 is left out: VMs of one name") for line in lines)


def test_two_vms_of_one_name_on_one_host_are_left_out_saying_so():
    """Hyper-V lets one host register two VMs of one name (told apart by ID): their histories would mix too."""
    vms = [_vm("web01", "hv1", "D:\\a.vhdx"), _vm("Web01", "hv1", "D:\\b.vhdx")]
    plan = backup_plan(vms, [_proxy("px1", "hv1")])
    assert [entry["vm"] for entry in plan["refused"]] == ["hv1/web01", "hv1/Web01"]
    assert (
        "VMs of one name are on one host (Hyper-V tells them apart by ID only) (hv1/web01, hv1/Web01)"
        in (plan["refused"][0]["reason"])
    )


def test_vms_asked_for_are_found_whatever_their_case():
    vms = [_vm("Web01", "hv1", "D:\\a.vhdx"), _vm("db", "hv1", "D:\\b.vhdx")]
    plan = backup_plan(vms, [_proxy("px1", "hv1")], selected=["web01", "zed", "WEB01", "ghost", "Ghost"])
    assert plan["missing"] == ["zed", "ghost"] and plan["proxies"]["px1"]["vms"] == ["hv1/Web01"]


def test_small_groups_go_by_the_slots_they_can_use_not_the_proxys():
    """Groups of one VM keep one slot busy whatever the proxy has, and a proxy takes its groups one after
    another: 40 such groups split 20/20 over proxies of 1 and 4 slots, not 8/32 (bytes per slot)."""
    vms = [_vm(f"vm{n}", "hv1", f"D:\\vm{n}\\a.vhdx") for n in range(40)]
    plan = backup_plan(vms, [_proxy("px1", "hv1", slots=1), _proxy("px2", "hv1", slots=4)], max_vms_per_snapshot=1)
    assert [len(plan["proxies"][p]["groups"]) for p in ("px1", "px2")] == [20, 20]
    big = backup_plan(vms, [_proxy("px1", "hv1", slots=1), _proxy("px2", "hv1", slots=4)], max_vms_per_snapshot=4)
    assert [len(big["proxies"][p]["vms"]) for p in ("px1", "px2")] == [8, 32]  # groups of 4 use all 4 slots


@pytest.mark.parametrize(
    ("given", "names"),
    [
        (None, None),  # unset: every VM
        (["web01", "SQL01"], ["web01", "SQL01"]),
        ("web01", ["web01"]),  # -e backup_vms=web01, an AWX text survey: not w, e, b, 0, 1
        ("web01, sql01", ["web01", "sql01"]),
        ("[]", []),  # -e backup_vms=[] (key=value is never YAML): a deployment-only run
        ("['web01', \"sql01\"]", ["web01", "sql01"]),
        ("  ", None),  # a survey left blank
    ],
)
def test_backup_vms_given_as_a_list_or_as_text(given, names):
    assert backup_vm_names(given) == names


@pytest.mark.parametrize("given", [7, {"web01": 1}, ["web01", 2]])
def test_backup_vms_of_another_kind_is_refused_naming_it(given):
    with pytest.raises(AnsibleFilterError, match="backup_vms must be a list of VM names, or names separated by commas"):
        backup_vm_names(given)
