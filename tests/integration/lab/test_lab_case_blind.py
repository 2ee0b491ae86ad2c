"""Names as Windows compares them (issue 19): NTFS, ReFS and SMB shares are case-insensitive and case-preserving,
and VSS ids are GUIDs, whatever case they are written in. The lab's files, shadow copy shares and shadow copy
handlers, and a whole `backup.hyperv.shadow_copy` run whose VM disk path is written in another case."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lab_testkit import ESTATES, ProvisionedLab, ansible_adhoc, estate_lab
from test_handlers_shadow_copy import create_share_set

# isort: split
from lab.estate.loader import load_estate
from lab.windows.hostfs import HostFileSystem
from lab.windows.storage import local_path

ROOT = "C:\\ProgramData\\backup.hyperv\\shadow"
CSV = "C:\\ClusterStorage\\Volume1\\"


@pytest.fixture
def healthy(tmp_path) -> ProvisionedLab:
    return ProvisionedLab(load_estate(ESTATES / "healthy.yml"), tmp_path)


def test_a_path_in_another_case_opens_the_stored_file_and_a_listing_keeps_the_stored_case(tmp_path):
    files = HostFileSystem(tmp_path)
    stored = files.local_path("C:\\Data\\VM1\\Disk.VHDX")
    stored.parent.mkdir(parents=True)
    stored.write_bytes(b"disk")
    assert files.local_path("c:\\DATA\\vm1\\disk.vhdx") == stored
    assert files.local_path("C:\\data\\Vm1\\DISK.vhdx").read_bytes() == b"disk"
    assert [p.name for p in files.local_path("C:\\DATA").iterdir()] == ["VM1"]  # as stored, not as asked
    assert files.local_path("C:\\DATA\\New Folder") == tmp_path / "C" / "Data" / "New Folder"  # created as given


def test_a_shadow_copy_share_path_in_another_case_reaches_the_copy(healthy):
    made = create_share_set(healthy)
    share = made["Shadows"][0]["ShadowCopyShare"]
    copy = local_path(healthy.estate.model, healthy.state_dir, "px1", f"{share.upper()}\\VM3\\VM3.VHDX")
    source = local_path(healthy.estate.model, healthy.state_dir, "px1", "\\\\fs1\\vms\\vm3\\vm3.vhdx")
    assert copy.read_bytes() == source.read_bytes()


def test_a_set_named_in_upper_case_is_the_set_named_in_lower_case(healthy):
    volumes = [{"Path": CSV, "Alias": "Vol1"}]
    made = healthy.call(
        "hv1", "shadow_copy_create", {"Volumes": volumes, "MetadataDir": ROOT, "InProgressTimeoutSeconds": 600}
    )
    upper, lower = made["SnapshotSetId"].upper(), made["SnapshotSetId"].lower()
    shadow = made["Shadows"][0]["ShadowId"].upper()
    expose = [{"ShadowId": shadow, "Path": f"{ROOT}\\{upper.strip('{}')}\\Vol1"}]
    healthy.call("px1", "shadow_copy_import", {"SnapshotSetId": upper, "Metadata": made["Metadata"], "Expose": expose})
    read = healthy.call("px1", "shadow_copy_read", {"SnapshotSetId": lower, "MetadataDir": ROOT, "ExposeRoot": ROOT})
    assert [s["ID"].lower() for s in read["shadows"]] == [shadow.lower()]
    assert read["mount_dirs"][0]["Exists"] is True  # the folder the import made, named in upper case
    folder = f"{ROOT}\\{lower.strip('{}')}"
    released = healthy.call(
        "px1",
        "shadow_copy_release",
        {"ExposedPaths": [f"{folder}\\vol1"], "ShadowIds": [shadow.lower()], "Directories": [folder]},
    )
    assert released == {"unexposed": 1, "deleted": 1, "removed_files": 0, "removed_directories": 1}
    assert not any(healthy.host_file("px1", ROOT).iterdir())


def test_the_module_backs_up_a_vm_whose_disk_path_is_written_in_another_case(tmp_path):
    """Hyper-V keeps a disk path as it was typed; NTFS finds the file whatever its case. vm8's path names the CSV
    as `c:\\clusterstorage\\VOLUME1`: its disk is on the CSV, so the CSV's shadow copy holds it on the proxy."""
    estate = tmp_path / "estate.yml"
    vm8 = {"name": "vm8", "disks": [{"path": "c:\\clusterstorage\\VOLUME1\\Vm8\\vm8.VHDX"}]}
    vm1 = {"name": "vm1", "disks": [{"path": f"{CSV}vm1\\vm1.vhdx"}]}
    estate.write_text(
        json.dumps({"extends": str(ESTATES / "healthy.yml"), "hosts": [{"name": "hv1", "vms": [vm1, vm8]}]})
    )
    with estate_lab(estate, tmp_path / "lab") as lab:

        def run(host: str, args: dict) -> dict:
            return ansible_adhoc(lab, tmp_path, host, "-m", "backup.hyperv.shadow_copy", "-a", json.dumps(args))[host]

        def files(host: str) -> HostFileSystem:
            return HostFileSystem(lab.state_dir / "hosts" / host / "fs")

        made = run("hv1", {"vms": ["vm8"]})
        assert [c["volume"] for c in made["shadow_copies"]] == [CSV], made
        imported = {"state": "imported", **{k: made[k] for k in ("snapshot_set_id", "metadata", "shadow_copies")}}
        assert run("px1", imported)["changed"] is True
        disk = next(f for f in made["vm_files"]["vm8"] if f["source"].endswith("vm8.VHDX"))
        source = files("hv1").local_path(disk["source"])
        assert Path(source).resolve().is_relative_to((lab.state_dir / "shared" / "csv").resolve())  # on the CSV
        assert files("px1").local_path(disk["path"]).read_bytes() == source.read_bytes()
