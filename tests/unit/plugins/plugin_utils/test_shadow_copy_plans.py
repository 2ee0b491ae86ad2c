"""Pure logic of shadow copies: which volume holds a file, the volumes a set needs, when a release has work."""

from __future__ import annotations

import pytest

from ansible_collections.backup.hyperv.plugins.plugin_utils.shadow_copy import (
    ShadowCopyError,
    plan_volumes,
    release_plan,
    volume_of,
)


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
