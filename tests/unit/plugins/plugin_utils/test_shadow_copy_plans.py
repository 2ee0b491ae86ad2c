"""Pure logic of shadow copies: which volume holds a file, the volumes a set needs, when a release has work."""

from __future__ import annotations

import pytest

from ansible_collections.backup.hyperv.plugins.plugin_utils.shadow_copy import (
    ShadowCopyError,
    check_vms,
    map_vm_files,
    plan_volumes,
    release_plan,
    volume_of,
)
from ansible_collections.backup.hyperv.plugins.plugin_utils.shadow_copy_steps import PresentPlan, unsupported_refusals


def test_volume_of_takes_the_longest_mount_point_case_blind():
    mounts = ["C:\\", "C:\\ClusterStorage\\Volume1\\"]
    assert volume_of("c:\\clusterstorage\\volume1\\vm\\a.vhdx", mounts) == "C:\\ClusterStorage\\Volume1\\"
    assert volume_of("C:\\VMs\\a.vhdx", mounts) == "C:\\"
    with pytest.raises(ShadowCopyError):
        volume_of("\\\\fs1\\vms\\a.vhdx", mounts)


def test_volumes_are_shadowed_once_each_in_first_use_order():
    reply = {
        "volumes": [{"MountPoints": ["D:"]}, {"MountPoints": ["E:\\"]}],
        "vms": [
            {"Name": "a", "Files": [{"Path": "E:\\a\\1.vhdx"}, {"Path": "D:\\a\\2.vhdx"}, {"Path": "E:\\a\\3.vmcx"}]}
        ],
    }
    volumes, vms = plan_volumes(reply)
    assert volumes == ["E:\\", "D:\\"] and vms[0]["files"][1]["relative"] == "a\\2.vhdx"


def test_share_files_count_the_share_root_as_their_volume():
    reply = {
        "volumes": [{"MountPoints": ["C:\\"]}],
        "vms": [{"Name": "a", "Files": [{"Path": "\\\\FS1\\VMs\\a\\1.vhdx"}]}],
    }
    volumes, vms = plan_volumes(reply)
    assert volumes == ["\\\\FS1\\VMs\\"] and vms[0]["files"][0]["relative"] == "a\\1.vhdx"


def test_release_plan_is_none_when_nothing_is_left():
    assert release_plan({"shadows": [], "metadata_files": [{"Path": "x", "Exists": False}], "mount_dirs": []}) is None


CHAIN_REPLY = {
    "volumes": [{"MountPoints": ["C:\\"]}, {"MountPoints": ["C:\\ClusterStorage\\Volume1\\"]}],
    "vms": [
        {
            "Name": "a",
            "Files": [
                {
                    "Path": "C:\\ClusterStorage\\Volume1\\a\\a_1.avhdx",
                    "Kind": "disk",
                    "Parents": ["C:\\ClusterStorage\\Volume1\\a\\a.vhdx"],
                },
                {"Path": "C:\\ClusterStorage\\Volume1\\a\\Virtual Machines\\X.vmcx", "Kind": "configuration"},
            ],
        }
    ],
}


def test_a_differencing_disk_maps_its_parents_into_the_same_shadow_copy():
    volumes, vms = plan_volumes(CHAIN_REPLY)
    mapped = map_vm_files(vms, {volumes[0]: "E:\\s\\Vol1"})["a"]
    assert mapped[0]["path"] == "E:\\s\\Vol1\\a\\a_1.avhdx"
    volume = "C:\\ClusterStorage\\Volume1\\"
    assert mapped[0]["volume"] == volume
    assert mapped[0]["parents"] == [
        {"source": "C:\\ClusterStorage\\Volume1\\a\\a.vhdx", "volume": volume, "path": "E:\\s\\Vol1\\a\\a.vhdx"}
    ]
    assert mapped[1]["parents"] == []


def test_a_chain_whose_parent_is_on_another_volume_shadows_both_and_maps_the_parent_into_its_own_copy():
    golden = "C:\\ClusterStorage\\Volume2\\gold\\gold.vhdx"
    reply = {
        **CHAIN_REPLY,
        "volumes": [*CHAIN_REPLY["volumes"], {"MountPoints": ["C:\\ClusterStorage\\Volume2\\"]}],
        "vms": [{"Name": "a", "Files": [{**CHAIN_REPLY["vms"][0]["Files"][0], "Parents": [golden]}]}],
    }
    volumes, vms = plan_volumes(reply)
    assert volumes == ["C:\\ClusterStorage\\Volume1\\", "C:\\ClusterStorage\\Volume2\\"]
    mapped = map_vm_files(vms, {volumes[0]: "E:\\s\\Vol1", volumes[1]: "E:\\s\\Vol2"})["a"]
    assert mapped[0]["parents"] == [{"source": golden, "volume": volumes[1], "path": "E:\\s\\Vol2\\gold\\gold.vhdx"}]


def test_a_vm_with_a_file_it_cannot_read_is_refused_naming_the_file_and_why():
    vm = {"Name": "a", "Files": [], "Unreadable": [{"Path": "C:\\a\\x.vmrs", "Reason": "Access is denied."}]}
    with pytest.raises(ShadowCopyError, match=r"a: C:\\a\\x\.vmrs \(Access is denied\.\)"):
        check_vms([vm], ["a"])


def test_a_vm_the_host_lists_no_file_of_is_refused_before_any_set():
    with pytest.raises(ShadowCopyError, match=r"the host lists no file of b .*nothing to back up"):
        check_vms([{"Name": "a", "Files": [{"Path": "C:\\a\\a.vhdx"}]}, {"Name": "b", "Files": []}], ["a", "b"])


UNSUPPORTED_REPLY = {
    "volumes": [{"MountPoints": ["C:\\"]}, {"MountPoints": ["C:\\ClusterStorage\\Volume1\\"]}],
    "vms": [
        {"Name": "a", "Files": [{"Path": "C:\\ClusterStorage\\Volume1\\a\\a.vhdx"}]},
        {  # its configuration in the default VM path, its disk on the CSV
            "Name": "b",
            "Files": [
                {"Path": "C:\\ClusterStorage\\Volume1\\b\\b.vhdx"},
                {"Path": "C:\\ProgramData\\Microsoft\\Windows\\Hyper-V\\Virtual Machines\\B.vmcx"},
            ],
        },
    ],
}


def test_vms_with_a_file_on_a_volume_the_create_left_out_are_refused_and_the_rest_keep_their_aliases():
    plan = PresentPlan(
        ["C:\\ClusterStorage\\Volume1\\", "C:\\"],
        plan_volumes(UNSUPPORTED_REPLY)[1],
        {"C:\\ClusterStorage\\Volume1\\": "Vol1", "C:\\": "Vol2"},
        True,
    )
    created = {"Unsupported": [{"Volume": "c:\\", "Alias": "Vol2", "Message": "no VSS provider ... C:\\"}]}
    kept, refused = unsupported_refusals(plan, created)
    assert refused == {"b": "no VSS provider ... C:\\"}
    assert kept.volumes == ["C:\\ClusterStorage\\Volume1\\"] and kept.volume_aliases == {kept.volumes[0]: "Vol1"}
    assert [vm["name"] for vm in kept.vms] == ["a"] and kept.transportable
    assert unsupported_refusals(plan, {"Unsupported": []}) == (plan, {})


def test_a_parent_on_a_volume_the_create_left_out_refuses_its_vm():
    volumes, vms = (
        ["C:\\ClusterStorage\\Volume1\\", "C:\\"],
        [{"name": "c", "files": [{"volume": "C:\\ClusterStorage\\Volume1\\", "parents": [{"volume": "C:\\"}]}]}],
    )
    plan = PresentPlan(volumes, vms, {volumes[0]: "Vol1", volumes[1]: "Vol2"}, True)
    _kept, refused = unsupported_refusals(plan, {"Unsupported": [{"Volume": "C:\\", "Message": "why"}]})
    assert refused == {"c": "why"}


def test_a_vm_whose_read_lists_a_pass_through_disk_is_refused_before_any_set():
    vm = {"Name": "a", "Files": [{"Path": "Disk 3 10.00 GB Bus 0 Lun 1 Target 0", "Kind": "disk", "Format": None}]}
    with pytest.raises(ShadowCopyError, match=r"a: its pass-through disk\(s\) \(Disk 3 10\.00 GB"):
        check_vms([vm], ["a"])
