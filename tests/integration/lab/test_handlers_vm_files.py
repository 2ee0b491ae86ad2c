"""What Windows does that the simple estate hides (issue 19), on the handlers in-process: VMs with checkpoints
(.avhdx chains), configuration version 5, a differencing chain whose parent is on a drive of the host, a file denied
to the account,
and DiskShadow stopping a script at its first failing command."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest
from lab_testkit import ESTATES, ProvisionedLab

# isort: split
from lab.estate.loader import load_estate
from lab.handlers import ScriptFailure
from lab.windows import diskshadow

from ansible_collections.backup.hyperv.plugins.module_utils.datamover.run.opener import open_disk
from ansible_collections.backup.hyperv.plugins.plugin_utils.shadow_copy import ShadowCopyError, check_vms, plan_volumes

ROOT = "C:\\ProgramData\\backup.hyperv\\shadow"
CSV = "C:\\ClusterStorage\\Volume1\\"


@pytest.fixture
def estate(tmp_path) -> ProvisionedLab:
    return ProvisionedLab(load_estate(ESTATES / "vm-files.yml"), tmp_path)


def read_vms(lab: ProvisionedLab, *names: str) -> dict:
    return lab.call("hv2", "shadow_copy_read", {"Vms": list(names), "MetadataDir": ROOT, "ExposeRoot": ROOT})


def test_a_vm_with_checkpoints_lists_its_newest_layer_the_chain_behind_it_and_the_checkpoint_configurations(estate):
    files = read_vms(estate, "vm2")["vms"][0]["Files"]
    disk = files[0]
    assert disk["Path"].endswith(".avhdx") and disk["Format"] == "VHDX"
    assert [p.rsplit(".", 1)[1] for p in disk["Parents"]] == ["avhdx", "vhdx"]
    assert disk["Parents"][-1] == f"{CSV}vm2\\vm2.vhdx"
    checkpoints = [f["Path"] for f in files if "\\Snapshots\\" in f["Path"]]
    assert len([path for path in checkpoints if path.endswith(".vmcx")]) == 2  # one configuration per checkpoint


def test_the_proxy_reads_a_checkpoint_disk_through_its_chain_inside_the_shadow_copy(estate):
    reply = read_vms(estate, "vm2")
    volumes, vms = plan_volumes(reply)
    assert volumes == [CSV] and len(vms[0]["files"][0]["parents"]) == 2
    made = estate.call(
        "hv2",
        "shadow_copy_create",
        {"Volumes": [{"Path": CSV, "Alias": "Vol1"}], "MetadataDir": ROOT, "InProgressTimeoutSeconds": 600},
    )
    set_id, shadow = made["SnapshotSetId"], made["Shadows"][0]["ShadowId"]
    mount = f"{ROOT}\\{set_id.strip('{}')}\\Vol1"
    expose = [{"ShadowId": shadow, "Path": mount}]
    estate.call("px1", "shadow_copy_import", {"SnapshotSetId": set_id, "Metadata": made["Metadata"], "Expose": expose})
    top = estate.host_file("px1", mount + "\\" + vms[0]["files"][0]["relative"])
    copy = os.path.realpath(estate.state_dir / "shared" / "shadows" / set_id.strip("{}"))
    with open_disk(str(top)) as source:
        assert len(source.chain) == 3  # the parent locator's relative path, inside the exposed copy
        assert all(os.path.realpath(layer).startswith(copy + os.sep) for layer in source.chain)


def test_configuration_version_5_lists_xml_bin_and_vsv_files_of_the_vm_and_its_checkpoint(estate):
    files = read_vms(estate, "vm5")["vms"][0]["Files"]
    extensions = sorted(f["Path"].rsplit(".", 1)[1] for f in files if f["Kind"] == "configuration")
    assert extensions == ["bin", "bin", "vsv", "vsv", "xml", "xml"]


def test_a_chain_leaving_its_volume_plans_both_volumes_and_a_host_drive_is_refused_in_the_set(estate):
    reply = read_vms(estate, "vm6")
    assert reply["vms"][0]["Files"][0]["Parents"] == ["C:\\Golden\\base.vhdx"]
    volumes, vms = plan_volumes(reply)
    assert volumes == [CSV, "C:\\"] and vms[0]["files"][0]["parents"][0]["volume"] == "C:\\"
    asked = [{"Path": volume, "Alias": f"Vol{number}"} for number, volume in enumerate(volumes, 1)]
    with pytest.raises(ScriptFailure, match="VSS_E_VOLUME_NOT_SUPPORTED"):  # C: is a disk of the host, no LUN
        estate.call(
            "hv2", "shadow_copy_create", {"Volumes": asked, "MetadataDir": ROOT, "InProgressTimeoutSeconds": 600}
        )


def test_a_file_denied_to_the_account_fails_the_vm_instead_of_being_dropped(estate):
    vm = read_vms(estate, "vm7")["vms"][0]
    assert [(e["Path"].rsplit(".", 1)[1], "denied" in e["Reason"]) for e in vm["Unreadable"]] == [("vmrs", True)]
    assert not any(f["Path"].endswith(".vmrs") for f in vm["Files"])
    with pytest.raises(ShadowCopyError, match="cannot be read"):
        check_vms([vm], ["vm7"])


def test_diskshadow_stops_a_script_at_the_first_failing_command():
    done = []

    def fail() -> None:
        raise diskshadow.not_found("{0}")

    failure = diskshadow.run([("a", lambda: done.append("a")), ("b", fail), ("c", lambda: done.append("c"))])
    assert done == ["a"] and failure is not None and "was not found" in failure


def test_release_sends_only_what_still_exists_and_is_idempotent(estate):
    made = estate.call(
        "hv2",
        "shadow_copy_create",
        {"Volumes": [{"Path": CSV, "Alias": "Vol1"}], "MetadataDir": ROOT, "InProgressTimeoutSeconds": 600},
    )
    set_id, shadow = made["SnapshotSetId"], made["Shadows"][0]["ShadowId"]
    folder = f"{ROOT}\\{set_id.strip('{}')}"
    expose = [{"ShadowId": shadow, "Path": f"{folder}\\Vol1"}]
    estate.call("px1", "shadow_copy_import", {"SnapshotSetId": set_id, "Metadata": made["Metadata"], "Expose": expose})
    vanished = "{00000000-0000-0000-0000-000000000001}"
    params = {
        "ExposedPaths": [f"{folder}\\Gone", f"{folder}\\Vol1"],
        "ShadowIds": [vanished, shadow.upper()],  # Win32_ShadowCopy's case
        "Directories": [folder],
    }
    first = estate.call("px1", "shadow_copy_release", params)
    assert (first["unexposed"], first["deleted"], first["removed_directories"]) == (1, 1, 1)
    again = estate.call("px1", "shadow_copy_release", params)
    assert (again["unexposed"], again["deleted"], again["removed_directories"]) == (0, 0, 0)
    left = estate.call("px1", "shadow_copy_read", {"SnapshotSetId": set_id, "MetadataDir": ROOT, "ExposeRoot": ROOT})
    assert left["shadows"] == [] and not left["mount_dirs"][0]["Exists"]


def test_a_vm_on_a_share_read_without_delegation_is_refused_naming_the_second_hop(tmp_path):
    # The lab's healthy hv1 can delegate (CredSSP or Kerberos delegation to cifs/fs1); without it, a file on
    # \\fs1\vms read inside the WinRM session is a second hop the file server refuses: every file of vm3 is denied,
    # its disk has no format, and the refusal says why and how to fix it. vm1, on the CSV, is not touched by it.
    document = load_estate(ESTATES / "healthy.yml")
    hosts = tuple(replace(h, delegation=False) if h.name == "hv1" else h for h in document.model.hosts)
    lab = ProvisionedLab(replace(document, model=replace(document.model, hosts=hosts)), tmp_path)
    reply = lab.call("hv1", "shadow_copy_read", {"Vms": ["vm1", "vm3"], "MetadataDir": ROOT, "ExposeRoot": ROOT})
    vm1, vm3 = reply["vms"]
    assert vm1["Unreadable"] == [] and vm1["Files"][0]["Format"] == "VHDX"
    assert vm3["Files"] == [{"Path": "\\\\fs1\\vms\\vm3\\vm3.vhdx", "Kind": "disk", "Format": None, "Parents": []}]
    assert [e["Path"].rsplit(".", 1)[1] for e in vm3["Unreadable"]] == ["vmcx", "vmrs", "vmgs"]
    assert all("is denied" in e["Reason"] for e in vm3["Unreadable"])
    with pytest.raises(ShadowCopyError) as refused:
        check_vms([vm3], ["vm3"])
    assert "Files on \\\\fs1\\vms\\ are read from inside the WinRM session on the Hyper-V host" in str(refused.value)
    assert "Kerberos constrained delegation to cifs/fs1" in str(refused.value)
    check_vms([vm1], ["vm1"])  # a VM on a CSV needs no second hop
