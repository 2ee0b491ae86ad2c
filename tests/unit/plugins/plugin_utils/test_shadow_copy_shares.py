"""Pure logic of shadow copies of SMB3 shares: share roots, set kinds, shadow copy share paths, where files are read."""

from __future__ import annotations

import pytest

from ansible_collections.backup.hyperv.plugins.plugin_utils.shadow_copy_shares import (
    MixedStorageError,
    file_bases,
    set_kind,
    share_root,
)


@pytest.mark.parametrize(
    ("path", "root"),
    [
        ("\\\\fs1\\vms\\a\\b.vhdx", "\\\\fs1\\vms\\"),
        ("\\\\fs1.contoso.local\\VMs", "\\\\fs1.contoso.local\\VMs\\"),
        ("C:\\ClusterStorage\\Volume1\\a.vhdx", None),
        ("\\\\fs1", None),
    ],
)
def test_share_root(path, root):
    assert share_root(path) == root


def test_set_kind_by_volumes_and_mixed_refused():
    assert set_kind(["C:\\", "C:\\ClusterStorage\\Volume1\\"]) == "transportable"
    assert set_kind(["\\\\fs1\\vms\\", "\\\\fs2\\b\\"]) == "share"
    with pytest.raises(MixedStorageError, match="separate tasks"):
        set_kind(["\\\\fs1\\vms\\", "C:\\"], ["web", "db"])
    with pytest.raises(
        MixedStorageError, match=r"VM vdi cannot be taken at one point in time: move its files .*Merge-VHD"
    ):
        set_kind(["\\\\fs1\\gold\\", "C:\\ClusterStorage\\Volume1\\"], ["vdi"])


def test_files_are_read_from_the_shadow_copy_share_or_the_exposed_folder():
    bases = file_bases({"\\\\fs1\\vms\\": "Vol1", "C:\\": "Vol2"}, {"\\\\fs1\\vms\\": "S"}, {"Vol2": "E"})
    assert bases == {"\\\\fs1\\vms\\": "S", "C:\\": "E"}
